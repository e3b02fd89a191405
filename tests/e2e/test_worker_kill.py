"""A worker SIGKILLed in the middle of a handler: after restart the delivery runs again (at least
once) and its effect is visible exactly once (the processor's effect is keyed by delivery guid)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _processors import (  # noqa: E402
    base_env,
    payload,
    query,
    signed_headers,
    start_serve,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.slow


def _status(tmp: Path, guid: str) -> tuple | None:
    rows = query(tmp / "data" / "trunkline.db", "SELECT status, attempts FROM deliveries WHERE guid = ?", guid)
    return rows[0] if rows else None


@pytest.mark.parametrize("victim", ["serve", "worker"])
def test_sigkill_mid_handler_reruns_with_one_effect(tmp_path: Path, victim: str) -> None:
    env = base_env(tmp_path)
    effects = tmp_path / "effects.db"
    guid = f"kill-{victim}"
    procs = []
    try:
        if victim == "serve":
            serve, url = start_serve(tmp_path, env, workers=2)
            procs.append(serve)
            doomed = serve
        else:
            serve, url = start_serve(tmp_path, env, workers=0)  # ingest only
            procs.append(serve)
            doomed = start_worker(tmp_path, env, workers=2)
            procs.append(doomed)
        body = payload(block=True)
        r = httpx.post(f"{url}/webhooks/github", content=body, headers=signed_headers(body, "pull_request", guid))
        assert r.status_code == 202, r.text

        wait_until(lambda: (tmp_path / f"{guid}.started").exists(), 60, "handler start")
        assert _status(tmp_path, guid) == ("running", 1)
        doomed.kill()
        assert query(effects, "SELECT count(*) FROM effects")[0][0] == 0  # killed before its effect

        (tmp_path / f"{guid}.release").write_text("")  # the re-run does not block
        if victim == "serve":
            serve2, url = start_serve(tmp_path, env, workers=2, name="serve2")
        else:
            serve2 = start_worker(tmp_path, env, workers=2, name="worker2")
        procs.append(serve2)
        # The lease (2 s) of the killed owner has to run out before anyone may retake it.
        wait_until(lambda: _status(tmp_path, guid) == ("done", 2), 60, "re-run after restart")

        runs = query(effects, "SELECT pid, attempt FROM runs WHERE guid = ? ORDER BY attempt", guid)
        assert [a for _, a in runs] == [1, 2]
        assert runs[0][0] == doomed.pid and runs[1][0] == serve2.pid
        assert query(effects, "SELECT guid FROM effects") == [(guid,)]
    finally:
        for p in procs:
            p.stop()

