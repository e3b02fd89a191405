"""Handler exceptions, malformed stored JSON and unknown events never crash a real worker; failures
are retried with back-off and then marked failed, with the error kept and visible."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _processors import base_env, payload, query, signed_headers, start_serve, wait_until  # noqa: E402

from trunkline.jobs.queue import JobQueue
from trunkline.store import Store, new_row

pytestmark = pytest.mark.slow


def test_failures_retries_and_bad_input_do_not_stop_the_worker(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    db = tmp_path / "data" / "trunkline.db"
    effects = tmp_path / "effects.db"
    serve, url = start_serve(tmp_path, env, workers=2)  # --max-attempts 3 --retry-delay 0.1

    def send(guid: str, body: bytes, event: str = "pull_request") -> None:
        r = httpx.post(f"{url}/webhooks/github", content=body, headers=signed_headers(body, event, guid), timeout=30)
        assert r.status_code == 202, r.text

    def state(guid: str) -> tuple:
        rows = query(db, "SELECT status, attempts, last_error FROM deliveries WHERE guid = ?", guid)
        return rows[0] if rows else (None, None, None)

    try:
        send("flaky", payload(fail=2))
        send("broken", payload(repo="octo/other", fail=-1))
        send("novel", b'{"repository": {"full_name": "octo/app"}, "something": [1, 2]}', event="totally_new_event")
        # Bodies that never pass ingest's JSON check, stored "somehow" (an older version, a manual
        # import): the worker must mark them failed without calling the processor.
        store = Store(env["TRUNKLINE_DATABASE_URL"])
        rows = [new_row("garbled", "push", body=b'{"repository": {"full_', headers={}, received_at=time.time()),
                new_row("listy", "push", body=b"[1, 2, 3]", headers={}, received_at=time.time())]
        assert store.deliveries.insert_new(rows, time.time()) == {"garbled", "listy"}
        JobQueue.from_url(env["TRUNKLINE_QUEUE_URL"]).enqueue_many(["garbled", "listy"])

        wait_until(lambda: state("flaky")[0] == "done", 60, "flaky to succeed on attempt 3")
        wait_until(lambda: state("broken")[0] == "failed", 60, "broken to fail")
        wait_until(lambda: state("novel")[0] == "done", 60, "unknown event handled")
        wait_until(lambda: state("garbled")[0] == "failed" and state("listy")[0] == "failed", 60, "malformed")

        assert state("flaky")[:2] == ("done", 3)
        assert "handler failure #2" in state("flaky")[2]  # the last error is kept for inspection
        status, attempts, error = state("broken")
        assert (status, attempts) == ("failed", 3) and "RuntimeError: handler failure #3" in error
        assert "malformed JSON payload" in state("garbled")[2]
        assert "not an object" in state("listy")[2]
        assert query(effects, "SELECT count(*) FROM runs WHERE guid IN ('garbled', 'listy')") == [(0,)]
        assert query(effects, "SELECT count(*) FROM runs WHERE guid = 'broken'") == [(3,)]
        assert query(effects, "SELECT guid FROM effects ORDER BY guid") == [("flaky",), ("novel",)]

        # Back-off: attempt n+1 starts at least 0.1 * 2**(n-1) s after attempt n.
        starts = [s for (s,) in query(effects, "SELECT started FROM runs WHERE guid = 'broken' ORDER BY started")]
        assert starts[1] - starts[0] >= 0.1 and starts[2] - starts[1] >= 0.2

        time.sleep(1.0)  # a failed delivery stays failed (recovery does not pick it up)
        assert query(effects, "SELECT count(*) FROM runs WHERE guid = 'broken'") == [(3,)]

        assert serve.alive()
        send("after", payload())
        wait_until(lambda: state("after")[0] == "done", 60, "a normal delivery after all that")
        text = httpx.get(f"{url}/metrics", timeout=30).text
        assert 'trunkline_deliveries_total{event="pull_request",outcome="retry"}' in text
        assert 'trunkline_deliveries_total{event="push",outcome="failed"} 2.0' in text
        store.dispose()
    finally:
        serve.stop()
    assert "Traceback" not in serve.output()  # nothing escaped the runner
