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

        wait_until(lambda: query(effects, "SELECT count(*) FROM effects") == [(1,)], 60, "the effect")
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


def test_several_serve_processes_share_the_port_and_dedupe_between_them(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    effects = tmp_path / "effects.db"
    port_args = ["--processes", "2"]
    from _processors import JOB_FLAGS, Proc, free_port

    port = free_port()
    proc = Proc(["serve", "--port", str(port), "--workers", "2", *port_args, *JOB_FLAGS], env,
                tmp_path / "serve-multi.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url) or not proc.alive(), 60, "serve health")
        dup = payload()
        dup_headers = signed_headers(dup, "pull_request", "same-everywhere")
        others = [(f"multi-{i}", payload(repo=f"octo/r{i % 4}")) for i in range(60)]

        close = {"Connection": "close"}  # a new connection per request: spread over both processes

        def send(i: int) -> int:
            if i % 2:
                return client.post(f"{url}/webhooks/github", content=dup, headers={**dup_headers, **close}).status_code
            guid, body = others[i // 2]
            return client.post(f"{url}/webhooks/github", content=body,
                               headers={**signed_headers(body, "pull_request", guid), **close}).status_code

        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(send, range(120)))
        dup_codes = sorted(codes[1::2])
        assert dup_codes == [200] * 59 + [202]
        assert codes[0::2] == [202] * 60
        wait_until(lambda: query(effects, "SELECT count(*) FROM effects") == [(61,)], 120, "all effects")
        time.sleep(0.5)
        assert query(effects, "SELECT count(*), count(DISTINCT guid) FROM runs") == [(61, 61)]
        served_by = set(query(effects, "SELECT DISTINCT pid FROM runs"))
        assert len(served_by) == 2, served_by  # both processes ran workers
    finally:
        assert proc.stop() == 0
    wait_until(lambda: not _healthy(url), 30, "the port to close (children stopped too)")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
