"""Group commit: concurrent requests share transactions, each learns exactly whether it was new,
and nobody is answered before the commit (or is told when the commit failed)."""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from trunkline.ingest.server import IngestServer
from trunkline.ingest.signature import sign
from trunkline.ingest.writer import GroupCommitWriter
from trunkline.jobs.queue import JobQueue
from trunkline.settings import Settings
from trunkline.store import Store, new_row


def row(guid: str) -> dict:
    return new_row(guid, "push", body=b"{}", headers={}, received_at=time.time())


@pytest.fixture
def parts(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.create_all()
    queue = JobQueue.from_url(f"sqlite:///{tmp_path}/q.db")
    yield store, queue
    store.dispose()


def test_concurrent_async_submits_are_grouped_and_exact(parts) -> None:
    store, queue = parts
    writer = GroupCommitWriter(store, queue)
    guids = [f"g{i % 200}" for i in range(300)]  # 100 duplicates
    random.Random(1).shuffle(guids)

    async def main() -> list[bool]:
        return await asyncio.gather(*(writer.submit(row(g)) for g in guids))

    results = asyncio.run(main())
    writer.stop()
    new = [g for g, r in zip(guids, results, strict=True) if r]
    assert sorted(new) == sorted(set(guids))  # every guid is "new" exactly once
    assert store.deliveries.count() == 200
    assert queue.depth() == 200  # enqueued once each
    assert writer.batches < len(guids)  # requests shared commits


def test_acknowledged_means_readable_by_another_connection(parts) -> None:
    store, queue = parts
    writer = GroupCommitWriter(store, queue)
    other = Store(store.url)

    def one(i: int) -> None:
        assert writer.submit_sync(row(f"t{i}"), timeout=30)
        assert other.deliveries.get(f"t{i}") is not None  # committed before the answer

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(200)))
    writer.stop()
    other.dispose()


def test_storage_failure_reaches_every_waiting_request(tmp_path) -> None:
    broken = Store(f"sqlite:///{tmp_path}/empty.db")  # no tables: every insert fails
    writer = GroupCommitWriter(broken, JobQueue.from_url(f"sqlite:///{tmp_path}/q.db"))

    async def main() -> list[object]:
        return await asyncio.gather(*(writer.submit(row(f"x{i}")) for i in range(20)), return_exceptions=True)

    results = asyncio.run(main())
    writer.stop()
    assert all(isinstance(r, Exception) for r in results)


def test_storage_failure_is_503_over_http(tmp_path) -> None:
    cfg = Settings(webhook_secret="s", database_url=f"sqlite:///{tmp_path}/empty.db",
                   queue_url=f"sqlite:///{tmp_path}/q.db")
    with IngestServer(cfg, Store(cfg.database_url), JobQueue.from_url(cfg.queue_url)) as srv:
        r = httpx.post(srv.webhook_url, content=b"{}", headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d",
            "X-Hub-Signature-256": sign("s", b"{}")}, timeout=30)
    assert r.status_code == 503 and "not accepted" in r.json()["message"]


def test_queue_failure_does_not_lose_the_delivery(parts) -> None:
    store, queue = parts

    class DownQueue:
        def enqueue_many(self, guids):
            raise ConnectionError("queue down")

    writer = GroupCommitWriter(store, DownQueue())  # type: ignore[arg-type]
    assert writer.submit_sync(row("kept"), timeout=30) is True
    writer.stop()
    rec = store.deliveries.get("kept")
    assert rec is not None and rec.status == "queued"  # recovery will enqueue it
    assert "kept" in store.deliveries.recoverable(time.time(), time.time() + 1)


def test_busy_means_a_burst_not_a_trickle(parts) -> None:
    store, queue = parts
    writer = GroupCommitWriter(store, queue)
    assert not writer.busy()
    for i in range(5):  # a trickle: 5 deliveries, 50 ms apart (20/s)
        writer.submit_sync(row(f"trickle{i}"), timeout=30)
        time.sleep(0.05)
    assert not writer.busy()

    async def burst() -> None:
        await asyncio.gather(*(writer.submit(row(f"burst{i}")) for i in range(200)))

    asyncio.run(burst())
    assert writer.busy()
    time.sleep(0.3)
    assert not writer.busy()  # quiet again
    writer.stop()
