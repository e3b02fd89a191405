"""Dedupe on X-GitHub-Delivery through a real ``trunkline serve``: the same delivery sent 100 times
(concurrently) is stored and handled once, and stays a duplicate after a restart."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _processors import base_env, payload, query, signed_headers, start_serve, wait_until  # noqa: E402

pytestmark = pytest.mark.slow


def test_same_delivery_100_times_is_handled_once_and_survives_restart(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    effects = tmp_path / "effects.db"
    serve, url = start_serve(tmp_path, env, workers=2)
    guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    body = payload()
    headers = signed_headers(body, "pull_request", guid)
    try:
        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(
                lambda _: client.post(f"{url}/webhooks/github", content=body, headers=headers), range(100)))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] * 99 + [202]
        assert all(r.json()["status"] == "duplicate" for r in responses if r.status_code == 200)

        wait_until(lambda: query(effects, "SELECT count(*) FROM effects") == [(1,)], 30, "the effect")
        time.sleep(1.0)  # time for any (wrong) second processing to show up
        assert query(effects, "SELECT count(*) FROM runs WHERE guid = ?", guid) == [(1,)]
        assert query(tmp_path / "data" / "trunkline.db", "SELECT count(*), max(status) FROM deliveries") == [
            (1, "done")]
        serve.stop()

        serve, url = start_serve(tmp_path, env, workers=2, name="serve2")
        r = httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=30)
        assert r.status_code == 200 and r.json() == {"status": "duplicate", "delivery": guid}
        time.sleep(1.0)
        assert query(effects, "SELECT count(*) FROM runs WHERE guid = ?", guid) == [(1,)]
    finally:
        serve.stop()
