"""Scale-out: two ``trunkline worker`` processes sharing Redis (queue) and PostgreSQL (store) handle
each delivery of a burst exactly once, and never run two deliveries of one repository+branch at the
same time. Skipped, with the reason, when Redis or PostgreSQL is not reachable."""

from __future__ import annotations

import json
import socket
import sys
import threading
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _processors import base_env, payload, signed_headers, start_serve, start_worker, wait_until  # noqa: E402

from trunkline.jobs.queue import JobQueue
from trunkline.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.scaleout]

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
BURST = 200


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def shared_backends():
    if not _reachable(6379):
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    if not _reachable(5432):
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    run = uuid.uuid4().hex[:10]
    schema = f"tl_scaleout_{run}"
    try:
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL database 'test' not usable: {exc}")
    db_url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    queue_url = f"{REDIS_URL}?name=tl_scaleout_{run}"
    try:
        yield db_url, queue_url
    finally:
        JobQueue.from_url(queue_url).flush()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Counting:
    """An HTTP server on 127.0.0.1 counting the processor's calls."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        lock = threading.Lock()
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    calls.append(data)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/count"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_two_workers_share_redis_and_postgres_and_handle_each_delivery_once(tmp_path, shared_backends) -> None:
    db_url, queue_url = shared_backends
    counter = Counting()
    env = base_env(tmp_path, TRUNKLINE_DATABASE_URL=db_url, TRUNKLINE_QUEUE_URL=queue_url,
                   TRUNKLINE_PROCESSOR="_processors:build_http_counter", TRUNKLINE_TEST_COUNTER_URL=counter.url,
                   TRUNKLINE_LEASE_SECONDS="10")
    procs = []
    try:
        serve, url = start_serve(tmp_path, env, workers=0)  # ingest only
        procs.append(serve)
        workers = [start_worker(tmp_path, env, workers=2, name=f"worker{i}") for i in range(2)]
        procs += workers

        keys = [(f"octo/r{i % 5}", "main" if i % 2 else "dev") for i in range(10)]
        deliveries = []
        for i in range(BURST):
            repo, base = keys[i % len(keys)]
            deliveries.append((f"burst-{i:04d}-{uuid.uuid4().hex[:6]}", payload(repo, base, sleep=0.01)))

        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda d: client.post(
                f"{url}/webhooks/github", content=d[1], headers=signed_headers(d[1], "pull_request", d[0])
            ).status_code, deliveries))
        assert codes == [202] * BURST

        store = Store(db_url)
        wait_until(lambda: store.deliveries.count("done") == BURST, 120, "the burst to be processed", 0.2)
        wait_until(lambda: len(counter.calls) >= BURST, 10, "the effects")
        import time

        time.sleep(1.0)  # let any duplicate execution surface
        store.dispose()

        per_guid = Counter(c["guid"] for c in counter.calls)
        assert set(per_guid) == {g for g, _ in deliveries}
        assert [g for g, n in per_guid.items() if n != 1] == []  # exactly once each
        pids = Counter(c["pid"] for c in counter.calls)
        assert set(pids) == {w.pid for w in workers}, pids  # both workers took part, serve did none

        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for c in counter.calls:
            spans[c["key"]].append((c["started"], c["ended"]))
        assert len(spans) == len(keys)
        for key, items in spans.items():
            items.sort()
            for (_, end), (start, _) in zip(items, items[1:], strict=False):
                assert start >= end, f"{key}: two deliveries ran at once"
    finally:
        for p in procs:
            p.stop()
        counter.close()
