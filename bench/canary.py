"""Canary benchmark: how fast a failing canary is rolled back, and how fast a merge reaches the canary.

A real ``trunkline serve`` against the sandbox GitHub deploys ``acme/shop`` (the example service) through
the local deployer. Each run merges a change whose ``/health`` answers 500 (the first run brings the bad
migration; later ones add a file on top of it, so the canary fails again). Probes run every 1 s; the
rules roll back at 3 failures. A client sends ``GET /health`` through the weighted proxy every 50 ms and
reads which backend answered (the proxy's ``x-trunkline-backend`` header).

* ``detect_to_rollback_s`` — from the first request the failing canary answers to the first answer after
  its last one (from then on stable serves 100%): median over the runs, goal < 10 s;
* ``merged_to_canary_s`` — from the merge to that first canary answer: median, seed goal < 120 s.

Usage: ``python bench/canary.py [--runs 10] [--keep]``; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from trunkline.demo.harness import BotHarness
from trunkline.deploy.demo import (
    bootstrap,
    changed_files,
    local_deploy,
    local_deploy_config,
    merge_change,
    service_files,
    wait_run,
)
from trunkline.deploy.local.proxy import BACKEND_HEADER

REPO = "acme/shop"
GOALS = {"detect_to_rollback_s": 10.0, "merged_to_canary_s": 120.0}


class Traffic:
    """GET /health through the proxy every ``interval`` s; remembers (time, backend, status)."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.url = url
        self.interval = interval
        self.log: list[tuple[float, str, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self.stop.is_set():
                try:
                    response = client.get(f"{self.url}/health")
                    self.log.append((time.time(), response.headers.get(BACKEND_HEADER, "?"), response.status_code))
                except httpx.HTTPError:
                    self.log.append((time.time(), "error", 0))
                self.stop.wait(self.interval)

    def window(self, since: float) -> list[tuple[float, str, int]]:
        return [entry for entry in list(self.log) if entry[0] >= since]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trunkline-bench-canary-"))
    state = root / "deploy-state"
    config = local_deploy_config(state, steps="[{weight: 30, duration: 120}]",
                                 probe="interval_seconds: 1, timeout_seconds: 1", verify="2", rollback_verify="1")
    detect: list[float] = []
    merged: list[float] = []
    outcomes: list[str] = []
    traffic: Traffic | None = None
    try:
        with BotHarness(root / "h") as h:
            sb = h.sandbox
            sb.world.user("dev")
            sb.create_repo("acme", "shop", files={**service_files(), ".github/trunkline.yml": config})
            h.install("acme")
            sb.grant(REPO, "dev", "write")
            bootstrap(sb, REPO, state)
            traffic = Traffic(local_deploy(state, "status")["proxy_url"])
            traffic.thread.start()
            for i in range(args.runs):
                files = changed_files("bad_health") if i == 0 else {f"notes/run-{i}.md": f"run {i}\n"}
                started = time.time()
                _, sha = merge_change(sb, REPO, f"change-{i}", files, f"change {i}", "dev")
                run = wait_run(h, REPO, sha, {"rolled_back", "succeeded", "error", "aborted"}, timeout=180)
                time.sleep(0.5)
                seen = traffic.window(started)
                canary = [t for t, backend, _ in seen if backend == "canary"]
                outcomes.append(run.state)
                if not canary:
                    print(f"run {i}: {run.state}, the canary never answered", file=sys.stderr)
                    continue
                after = [t for t, backend, _ in seen if t > canary[-1] and backend == "stable"]
                done = after[0] if after else canary[-1]
                detect.append(done - canary[0])
                merged.append(canary[0] - started)
                statuses = sorted({status for _, backend, status in seen if backend == "canary"})
                print(f"run {i}: {run.state}; merge -> canary {canary[0] - started:.2f} s, canary answers "
                      f"{statuses} -> stable 100% after {done - canary[0]:.2f} s ({len(canary)} canary answers)")
    finally:
        if traffic is not None:
            traffic.stop.set()
        try:
            local_deploy(state, "stop")
        except Exception:  # noqa: BLE001
            pass
        if args.keep:
            print(f"bench: kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    result = {
        "bench": "canary", "runs": args.runs, "probe_interval_s": 1.0,
        "detect_to_rollback_s": round(statistics.median(detect), 2) if detect else None,
        "detect_to_rollback_max_s": round(max(detect), 2) if detect else None,
        "merged_to_canary_s": round(statistics.median(merged), 2) if merged else None,
        "merged_to_canary_max_s": round(max(merged), 2) if merged else None,
        "rolled_back": outcomes.count("rolled_back"),
        "goals": {"detect_to_rollback_s": f"<{GOALS['detect_to_rollback_s']:g}",
                  "merged_to_canary_s": f"<{GOALS['merged_to_canary_s']:g}", "rolled_back": args.runs},
    }
    result["pass"] = (bool(detect) and len(detect) == args.runs and outcomes.count("rolled_back") == args.runs
                      and result["detect_to_rollback_s"] < GOALS["detect_to_rollback_s"]
                      and result["merged_to_canary_s"] < GOALS["merged_to_canary_s"])
    print(json.dumps(result))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
