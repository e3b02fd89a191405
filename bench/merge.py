"""Auto-merge benchmark: 100 pull requests merged by a real ``trunkline serve`` through the sandbox GitHub.

    .venv/bin/python bench/merge.py [--prs 100] [--workers 2] [--keep]

Setup: sandbox GitHub in this process, the bot as a subprocess (``BotHarness``), repository
``acme/bench`` whose ``main`` is protected (required check ``ci``, up to date) with the default
Trunkline config (squash, delete the branch). Each pull request follows the happy path, one after
the other: a developer pushes a branch and opens the pull request (→ ``trunkline/config``), adds the
``auto-merge`` label (→ ``trunkline/merge`` waiting for ``ci``), then the sandbox's CI App completes
``ci`` with success → the bot merges.

Measured by the sandbox:

* **latency** — from the moment the sandbox emits the ``check_run.completed`` webhook of ``ci`` (the
  webhook that completes the last required check; stamped at emission, before it is sent) to the
  moment the bot's ``PUT /pulls/{n}/merge`` reaches the sandbox's edge (stamped on arrival, before it
  is handled). p50 and p99 over the pull requests. Each step of a pull request waits for the bot to
  finish the previous one, so the numbers are the pipeline's latency, not queueing behind other PRs.
* **REST calls per pull request** — every request made with the bot's installation token from the
  first push to the last pull request's settled state (``world.requests_by_installation``), divided
  by the number of pull requests: the ``trunkline/config`` check, the merge evaluations, the merge,
  the check-run updates and the head-branch clean-up all count, and so do cache refreshes during the
  run. One warm-up pull request goes first and is not measured: it fills the bot's per-process caches
  (the resolved config and branch protection); what that costs is printed (``cold_start_calls``).
  The calls of each measured pull request are also counted on their own (min/max per PR).

Prints a table of the calls per route and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bot"))

from trunkline.demo.harness import BotHarness  # noqa: E402
from trunkline.sandbox import git  # noqa: E402

REPO = "acme/bench"
MERGE_ROUTE = "/repos/{owner}/{repo}/pulls/{pull_number}/merge"
GOALS = {"p50_ms": "<250", "rest_calls_per_pr": "<=12"}


class Stamps:
    """Arrival times of merge requests and emission times of the completing CI webhooks."""

    def __init__(self, world) -> None:  # noqa: ANN001 - sandbox World
        self.world = world
        self.lock = threading.Lock()
        self.ci_completed: dict[str, float] = {}  # head sha -> emission time
        self.merge_arrivals: list[float] = []
        sink = world.webhook_sink
        take_fault = world.take_fault

        def stamped_sink(event: str, payload: dict, repo) -> None:  # noqa: ANN001
            if event == "check_run" and payload.get("action") == "completed":
                run = payload.get("check_run") or {}
                if run.get("name") == "ci":
                    with self.lock:
                        self.ci_completed.setdefault(run.get("head_sha"), time.perf_counter())
            sink(event, payload, repo)

        def stamped_take_fault(method: str, route: str | None):  # noqa: ANN202
            if method == "PUT" and route == MERGE_ROUTE:
                with self.lock:
                    self.merge_arrivals.append(time.perf_counter())
            return take_fault(method, route)

        world.webhook_sink = stamped_sink
        world.take_fault = stamped_take_fault


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def one_pr(h: BotHarness, stamps: Stamps, i: int) -> float:
    """Push, open, label, CI green -> merged; returns the CI-webhook -> merge-request latency in ms."""
    sb = h.sandbox
    repo = sb.repo(REPO)
    branch = f"change-{i}"
    sha = sb.push(REPO, branch, {f"changes/{i}.txt": f"change {i}\n"}, f"Change {i}", as_user="dev")
    number = sb.open_pr(REPO, head=branch, title=f"Change {i}", as_user="dev")
    h.wait_for_check(REPO, sha, "trunkline/config")
    sb.label(REPO, number, "auto-merge", as_user="dev")
    h.wait_for(lambda: h.check_runs(REPO, sha, "trunkline/merge"), what="merge check")
    arrivals_before = len(stamps.merge_arrivals)
    sb.ci(REPO, sha, "ci", "success")
    h.wait_for(lambda: repo.pulls[number].merged, what=f"#{number} merged")
    with stamps.lock:
        completed = stamps.ci_completed[sha]
        arrival = stamps.merge_arrivals[arrivals_before]
    # let the bot finish this pull request (check run, branch clean-up) before the next one
    h.wait_for(lambda: git.branch_sha(repo, branch) is None, what="head branch deleted")
    sb.wait_for_webhooks()
    return (arrival - completed) * 1000


def run(prs: int, workers: int, root: Path, warmup: int = 1) -> dict:
    with BotHarness(root, workers=workers) as h:
        sb = h.sandbox
        owner, name = REPO.split("/")
        sb.create_repo(owner, name, files={"README.md": "# bench\n", ".github/trunkline.yml": "version: 1\n"})
        installation = h.install("acme")
        sb.grant(REPO, "dev", "write")
        sb.protect(REPO, required_checks=["ci"], strict=True)
        repo = sb.repo(REPO)
        stamps = Stamps(sb.world)
        sb.world.reset_accounting()

        def calls_so_far() -> int:
            with sb.world.lock:
                return sb.world.requests_by_installation.get(installation.id, 0)

        for i in range(warmup):
            one_pr(h, stamps, -1 - i)
        time.sleep(0.3)
        cold = calls_so_far() - 12 * warmup  # what the warm-up cost beyond a warm pull request
        sb.world.reset_accounting()
        latencies: list[float] = []
        per_pr: list[int] = []
        started = time.perf_counter()
        for i in range(prs):
            before = calls_so_far()
            latencies.append(one_pr(h, stamps, i))
            per_pr.append(calls_so_far() - before)
        time.sleep(1.0)
        elapsed = time.perf_counter() - started
        with sb.world.lock:
            calls = sb.world.requests_by_installation.get(installation.id, 0)
            routes = Counter(f"{e.method} {e.route}" for e in sb.world.request_log
                             if e.installation_id == installation.id)
            merged = sum(1 for p in repo.pulls.values() if p.merged)
            merge_puts = sum(1 for e in sb.world.request_log if e.installation_id == installation.id
                             and e.method == "PUT" and e.route == MERGE_ROUTE)
    return {"latencies": latencies, "calls": calls, "routes": routes, "merged": merged - warmup,
            "merge_puts": merge_puts, "elapsed": elapsed, "per_pr": per_pr, "cold": cold}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="worker threads of trunkline serve")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured pull requests first (fill caches)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (bot log, databases, git)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="trunkline-bench-merge-"))
    try:
        result = run(args.prs, args.workers, tmp, args.warmup)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)
    latencies = result["latencies"]
    per_pr = result["calls"] / args.prs
    p50, p99 = statistics.median(latencies), percentile(latencies, 99)
    print(f"{args.prs} pull requests merged in {result['elapsed']:.1f}s "
          f"({result['merged']} merged, {result['merge_puts']} merge requests)")
    print(f"check_run.completed(ci) -> PUT merge: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms")
    print(f"REST calls by the bot's installation: {result['calls']} = {per_pr:.2f} per pull request "
          f"(each PR: min {min(result['per_pr'])}, max {max(result['per_pr'])}; "
          f"cold caches cost the warm-up PR {result['cold']} more)")
    for route, count in result["routes"].most_common():
        print(f"  {count / args.prs:6.2f}  {route}")
    ok = (p50 < 250 and per_pr <= 12 and result["merged"] == args.prs and result["merge_puts"] == args.prs)
    print(json.dumps({"bench": "merge", "prs": args.prs, "p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                      "rest_calls_per_pr": round(per_pr, 2), "rest_calls_max_pr": max(result["per_pr"]),
                      "cold_start_calls": result["cold"], "goals": GOALS, "pass": ok}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
