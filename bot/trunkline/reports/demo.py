"""The nightly-report chapter of ``trunkline demo``: scheduled runs keep one sticky issue up to date.

The sandbox plays GitHub's scheduler and runner: ``.github/workflows/nightly.yml`` (Trunkline's own)
fires on ``main``, its run uploads the ``trunkline-report`` artifact and completes. The bot downloads the
artifact and creates the "Nightly report" issue (a flaky test), updates that same issue after the next
run (a perf regression too), and closes it when a run is all green.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .report import LABEL, parse_state

REPO = "acme/ledger"
WORKFLOW = Path(__file__).resolve().parents[3] / ".github" / "workflows" / "nightly.yml"
CONFIG = """\
version: 1
tiers:
  nightly:
    commands: [make verify-nightly]
    executor: actions
    workflow: nightly.yml
"""
FLAKY = {"flaky_rate": 2.5, "flaky": ["tests/test_sync.py::test_retry_after_timeout"], "runs": 2, "tests": 40,
         "failing": []}
CLEAN = {"flaky_rate": 0.0, "flaky": [], "runs": 1, "tests": 40, "failing": []}
SLOWER = {"verdict": "fail", "summary": {"slower": 1, "unchanged": 4}, "benchmarks": [
    {"name": "test_parse_ledger", "verdict": "slower", "reason": "median +18.0%, p = 0.001"}]}
FAST = {"verdict": "pass", "summary": {"slower": 0, "unchanged": 5}, "benchmarks": []}
MUTATION = {"score": 82.0, "status": "ok", "scope": "sample", "sample": 50, "killed": 41, "timeout": 0,
            "survived": 8, "no_tests": 1}


def play_nightly(sb: Any, repo: str, files: dict[str, Any], conclusion: str = "success") -> int:
    """GitHub's scheduler and runner: nightly.yml's schedule fires on the default branch, the run uploads
    ``files`` (name -> JSON document) as the ``trunkline-report`` artifact and completes."""
    run_id = sb.schedule_workflow(repo, "nightly.yml")
    sb.start_workflow_run(repo, run_id)
    sb.upload_artifact(repo, run_id, "trunkline-report", {k: json.dumps(v) for k, v in files.items()})
    sb.finish_workflow_run(repo, run_id, conclusion)
    return run_id


def _nightly(run: Any, files: dict[str, Any]) -> int:
    return play_nightly(run.sandbox, REPO, files)


def _issues(run: Any) -> list[Any]:
    return [i for i in run.sandbox.repo(REPO).issues.values() if LABEL in i.labels and not i.is_pull]


def chapter_nightly_report(run: Any) -> None:
    sb, h = run.sandbox, run.harness
    run.step("acme/ledger runs Trunkline's nightly workflow on a schedule; its results go up as an artifact")
    workflow = WORKFLOW.read_text() if WORKFLOW.exists() else "name: Trunkline nightly\non:\n  schedule:\n" \
                                                             "    - cron: '0 3 * * *'\n"
    sb.create_repo("acme", "ledger", files={"README.md": "# ledger\n", ".github/trunkline.yml": CONFIG,
                                            ".github/workflows/nightly.yml": workflow})
    if not any(i.account == "acme" for i in sb.world.installations.values()):
        h.install("acme")

    first = _nightly(run, {"flaky.json": FLAKY, "mutation.json": MUTATION})
    issue = h.wait_for(lambda: next(iter(_issues(run)), None), timeout=30, what="the Nightly report issue")
    state = parse_state(issue.body)
    run.record(f"nightly run {first}: issue #{issue.number} '{issue.title}' opened — "
               f"{'; '.join(state.problems()) if state else '?'}",
               issue.state == "open" and "test_retry_after_timeout" in issue.body)

    _nightly(run, {"perf.json": SLOWER})
    issue = h.wait_for(lambda: next((i for i in _issues(run) if "test_parse_ledger" in (i.body or "")), None),
                       timeout=30, what="the report updated")
    problems = parse_state(issue.body).problems()
    run.record(f"next night: the same issue #{issue.number} updated, not duplicated ({len(_issues(run))} issue, "
               f"{len(problems)} problems: flaky test + perf regression)",
               len(_issues(run)) == 1 and len(problems) == 2)

    _nightly(run, {"flaky.json": CLEAN, "perf.json": FAST})
    issue = h.wait_for(lambda: next((i for i in _issues(run) if i.state == "closed"), None), timeout=30,
                       what="the report closed")
    run.record(f"all green the night after: issue #{issue.number} closed with a comment "
               "(it reopens when a run is red again)", "All green" in (issue.body or ""))
