"""The worker pool in-process on real SQLite store + queue: per-repository/branch serialization,
heartbeats that keep long handlers from being retaken, PermanentError/SystemExit handling, and
start-up recovery."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from trunkline.jobs.keys import serial_key
from trunkline.jobs.queue import JobQueue
from trunkline.jobs.runtime import PermanentError
from trunkline.jobs.worker import DeliveryRunner, WorkerOptions, WorkerPool, recover, retry_delay
from trunkline.store import Store, new_row

FAST = WorkerOptions(lease_seconds=0.6, max_attempts=3, retry_base_delay=0.05, recovery_interval=0.3)


@pytest.fixture
def parts(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.create_all()
    queue = JobQueue.from_url(f"sqlite:///{tmp_path}/q.db")
    yield store, queue
    store.dispose()


def pr(repo: str, base: str, n: int = 0) -> bytes:
    import json

    return json.dumps({"action": "synchronize", "number": n, "repository": {"full_name": repo},
                       "pull_request": {"base": {"ref": base}}}).encode()


def add(store: Store, queue: JobQueue, guid: str, body: bytes, event: str = "pull_request") -> None:
    store.deliveries.insert_new([new_row(guid, event, body=body, headers={}, received_at=time.time())], time.time())
    queue.enqueue(guid)


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 5) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay(30, 5) == 600


def test_same_key_never_overlaps_other_keys_run_in_parallel(parts) -> None:
    store, queue = parts
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    lock = threading.Lock()

    def processor(record) -> None:
        start = time.monotonic()
        time.sleep(0.03)
        with lock:
            intervals[serial_key(record.event, record.payload)].append((start, time.monotonic()))

    pool = WorkerPool(store, queue, processor, FAST, threads=4)
    pool.start()
    try:
        for i in range(36):
            repo, base = [("o/a", "main"), ("o/a", "dev"), ("o/b", "main")][i % 3]
            add(store, queue, f"d{i}", pr(repo, base, i))
        wait_for(lambda: store.deliveries.count("done") == 36)
    finally:
        pool.stop()
    assert sorted(intervals) == ["o/a@dev", "o/a@main", "o/b@main"]
    for key, spans in intervals.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"{key}: overlapping runs"
    everything = sorted(s for spans in intervals.values() for s in spans)
    overlaps = sum(1 for (_, end), (start, _) in zip(everything, everything[1:], strict=False) if start < end)
    assert overlaps > 0  # different keys did run concurrently
    assert store.locks.holder("o/a@main") is None  # released


def test_heartbeat_keeps_a_long_handler_from_being_retaken(parts) -> None:
    store, queue = parts
    calls: list[str] = []

    def slow(record) -> None:
        calls.append(record.guid)
        time.sleep(3.0)  # 3 leases

    options = WorkerOptions(lease_seconds=1.0, max_attempts=3, retry_base_delay=0.05, recovery_interval=0.3)
    pools = [WorkerPool(store, queue, slow, options, threads=2) for _ in range(2)]
    for p in pools:
        p.start()
    try:
        add(store, queue, "long", pr("o/a", "main"))
        wait_for(lambda: store.deliveries.get("long").status == "done")
        time.sleep(0.5)
    finally:
        for p in pools:
            p.stop()
    assert calls == ["long"]
    assert store.deliveries.get("long").attempts == 1


def test_permanent_error_and_system_exit_are_failures_not_crashes(parts) -> None:
    store, queue = parts

    def processor(record) -> None:
        if record.guid == "perm":
            raise PermanentError("cannot ever work")
        if record.guid == "exit":
            raise SystemExit(3)

    runner = DeliveryRunner(store, queue, processor, FAST)
    add(store, queue, "perm", pr("o/a", "main"))
    add(store, queue, "exit", pr("o/a", "dev"))
    assert runner.run("perm", "me/0") == "failed"  # at once, no retry
    assert runner.run("exit", "me/0") == "retry"
    perm = store.deliveries.get("perm")
    assert (perm.status, perm.attempts) == ("failed", 1) and "PermanentError: cannot ever work" in perm.last_error
    assert "SystemExit" in store.deliveries.get("exit").last_error
    assert runner.run("nope", "me/0") == "skipped-missing"
    assert runner.run("perm", "me/0") == "skipped-finished"


def test_a_busy_key_hands_the_delivery_to_the_lock_holder(parts) -> None:
    store, queue = parts
    gate = threading.Event()
    seen: list[str] = []

    def processor(record) -> None:
        seen.append(record.guid)
        if record.guid == "first":
            assert gate.wait(10)

    runner = DeliveryRunner(store, queue, processor, FAST)
    add(store, queue, "first", pr("o/a", "main"))
    holder = threading.Thread(target=runner.run, args=("first", "holder/0"))
    holder.start()
    wait_for(lambda: seen == ["first"])
    add(store, queue, "second", pr("o/a", "main"))
    add(store, queue, "other", pr("o/a", "dev"))
    scheduled = queue.scheduled_count()
    assert runner.run("second", "me/0") == "deferred"  # left to the holder ...
    assert queue.scheduled_count() == scheduled + 1  # ... with one look when its lease would expire
    assert runner.run("other", "me/0") == "done"  # another branch is not blocked
    gate.set()
    holder.join(10)
    assert seen == ["first", "other", "second"]  # the holder drained "second"
    assert store.deliveries.get("second").status == "done"
    assert store.locks.holder("o/a@main") is None


def test_a_crashed_holder_is_overtaken_when_its_lease_expires(parts) -> None:
    store, queue = parts
    seen: list[str] = []
    add(store, queue, "orphan", pr("o/a", "main"))
    queue.flush()
    assert store.locks.acquire("o/a@main", "dead-host:1:x/0", FAST.lease_seconds, time.time())  # never released
    pool = WorkerPool(store, queue, lambda r: seen.append(r.guid), FAST, threads=2)
    runner = DeliveryRunner(store, queue, lambda r: seen.append(r.guid), FAST)
    assert runner.run("orphan", "me/0") == "deferred"
    pool.start()
    try:  # the scheduled look comes back after the dead holder's lease (0.6 s) ran out
        wait_for(lambda: store.deliveries.get("orphan").status == "done", 10)
    finally:
        pool.stop()
    assert seen == ["orphan"]


def test_rows_stored_without_a_key_get_one(parts) -> None:
    store, queue = parts
    runner = DeliveryRunner(store, queue, lambda r: None, FAST)
    store.deliveries.insert_new([new_row("nokey", "push", body=b'{"repository": {"full_name": "O/R"}, '
                                         b'"ref": "refs/heads/x"}', headers={}, received_at=time.time())], time.time())
    assert runner.run("nokey", "me/0") == "done"
    assert store.deliveries.get("nokey").serial_key == "o/r@x"


def test_startup_recovery_requeues_unfinished_work(parts) -> None:
    store, queue = parts
    now = time.time()
    add(store, queue, "q1", pr("o/a", "main"))
    add(store, queue, "r1", pr("o/b", "main"))
    store.deliveries.claim("r1", "dead-host:1:x/0", 0.1, now - 10)  # its worker died long ago
    queue.flush()  # the queue lost everything (e.g. a fresh Redis)
    assert recover(store, queue, time.time(), stale_after=0.0) == 2
    assert queue.depth() == 2
    seen: list[str] = []
    pool = WorkerPool(store, queue, lambda r: seen.append(r.guid), FAST, threads=2)
    pool.start()
    try:
        wait_for(lambda: store.deliveries.count("done") == 2)
    finally:
        pool.stop()
    assert sorted(seen) == ["q1", "r1"]


def test_pool_stop_is_prompt_when_idle(parts) -> None:
    store, queue = parts
    pool = WorkerPool(store, queue, lambda r: None, FAST, threads=4)
    pool.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    pool.stop()
    assert time.monotonic() - t0 < 2.0


def test_latency_gc_runs_full_collections_only_when_idle() -> None:
    import gc

    from trunkline.jobs.service import LatencyGC

    busy = {"now": True}
    full: list[float] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(time.monotonic())

    saved = gc.get_threshold()
    collector = LatencyGC(lambda window=1.0: busy["now"], idle_interval=0.0, max_interval=60.0)
    collector.start()
    gc.callbacks.append(watch)
    try:
        assert gc.get_threshold()[2] >= 10**9 and gc.get_freeze_count() > 0
        full.clear()
        time.sleep(2.5)
        assert full == []  # busy: no full collection
        busy["now"] = False
        wait_for(lambda: len(full) >= 1, 5)  # idle: it runs one
    finally:
        gc.callbacks.remove(watch)
        collector.stop()
        gc.unfreeze()
    assert gc.get_threshold() == saved
