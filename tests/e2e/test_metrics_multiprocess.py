"""``/metrics`` of a real ``trunkline serve --processes 2`` shows the whole installation: the receiver
and worker counts of both processes summed, whichever process answers the scrape; and a separate
``trunkline worker`` sharing ``PROMETHEUS_MULTIPROC_DIR`` is counted in serve's scrape too."""

from __future__ import annotations

import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _processors import (  # noqa: E402
    JOB_FLAGS,
    Proc,
    _healthy,
    base_env,
    free_port,
    payload,
    query,
    signed_headers,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.slow


def samples(url: str) -> dict[tuple[str, tuple], float]:
    """One scrape on a fresh connection (so the kernel may hand it to either process)."""
    text = httpx.get(f"{url}/metrics", timeout=30, headers={"Connection": "close"}).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def deliveries(scrape: dict, outcome: str, event: str = "pull_request") -> float:
    return scrape.get(("trunkline_deliveries_total", (("event", event), ("outcome", outcome))), 0.0)


def handled(scrape: dict, event: str = "pull_request") -> float:
    return scrape.get(("trunkline_handler_seconds_count", (("event", event),)), 0.0)


def send(url: str, n: int) -> None:
    def one(_: int) -> None:
        guid = str(uuid.uuid4())
        body = payload(repo=f"octo/r{guid[:6]}")
        r = httpx.post(f"{url}/webhooks/github", content=body, timeout=30,
                       headers={**signed_headers(body, "pull_request", guid), "Connection": "close"})
        assert r.status_code == 202, r.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def counting_pids(folder: Path) -> set[str]:
    """Processes that wrote counter samples (prometheus-client names the files counter_<pid>.db)."""
    return {p.stem.split("_", 1)[1] for p in folder.glob("**/counter_*.db")}


def test_serve_processes_2_metrics_sum_over_processes(tmp_path: Path) -> None:
    env = base_env(tmp_path, TMPDIR=str(tmp_path))  # the private metrics folder lands in tmp_path
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = Proc(["serve", "--port", str(port), "--processes", "2", "--workers", "1", *JOB_FLAGS], env,
                 tmp_path / "serve.log")
    try:
        wait_until(lambda: _healthy(url) or not serve.alive(), 60, "serve health")
        assert serve.alive(), serve.output()
        folders = list(tmp_path.glob(f"trunkline-metrics-{serve.pid}-*"))
        assert len(folders) == 1, folders

        sent = 0
        for _ in range(10):  # until both processes have accepted some (the kernel picks the acceptor)
            send(url, 20)
            sent += 20
            if len(counting_pids(folders[0])) >= 2:
                break
        assert len(counting_pids(folders[0])) >= 2, "only one process ever accepted a request"

        effects = tmp_path / "effects.db"
        wait_until(lambda: query(effects, "SELECT count(*) FROM effects")[0][0] == sent, 60, "all processed")
        # every scrape, whichever process answers it, shows the installation's totals
        wait_until(lambda: deliveries(samples(url), "done") == sent, 30, "done counted")
        for _ in range(8):
            scrape = samples(url)
            assert deliveries(scrape, "queued") == sent
            assert deliveries(scrape, "done") == sent
            assert handled(scrape) == sent
            assert ("trunkline_queue_depth", ()) in scrape  # read from the shared queue, once
    finally:
        code = serve.stop()
    assert code == 0, serve.output()
    assert not list(tmp_path.glob("trunkline-metrics-*")), "the private metrics folder is removed at exit"
    assert "Traceback" not in serve.output()


def test_worker_sharing_the_folder_is_counted_in_serves_scrape(tmp_path: Path) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    env = base_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(folder))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = Proc(["serve", "--port", str(port), "--workers", "0", *JOB_FLAGS], env, tmp_path / "serve.log")
    worker = None
    try:
        wait_until(lambda: _healthy(url) or not serve.alive(), 60, "serve health")
        worker = start_worker(tmp_path, env, workers=2)
        send(url, 12)
        wait_until(lambda: query(tmp_path / "effects.db", "SELECT count(*) FROM effects")[0][0] == 12, 60,
                   "the worker processed all")
        assert {pid for (pid,) in query(tmp_path / "effects.db", "SELECT DISTINCT pid FROM runs")} == {worker.pid}
        scrape = samples(url)  # serve did no processing itself: 'done' comes from the worker's files
        assert deliveries(scrape, "queued") == 12 and deliveries(scrape, "done") == 12 and handled(scrape) == 12
    finally:
        if worker is not None:
            worker.stop()
        serve.stop()
    assert folder.is_dir(), "an operator's folder is left alone"
