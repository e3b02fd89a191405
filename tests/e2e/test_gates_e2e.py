"""Verify tiers end to end: sandbox GitHub + a real ``trunkline serve`` running tiers as check runs.

The local executor really checks the commit out (Git Data API), really runs ``python -m pytest`` on a
tiny package in the repository and really kills process trees at the budget or when a push supersedes
the run. The Actions executor's runner is played by the test (``finish_workflow_run``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from trunkline.demo.harness import BotHarness

pytestmark = pytest.mark.slow

CALC = "def add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n"
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests"
WORKFLOW = """name: Trunkline verify
on:
  workflow_dispatch:
    inputs:
      tier: {required: true, type: string}
      sha: {required: true, type: string}
jobs:
  verify:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {ref: "${{ inputs.sha }}"}
      - uses: trunkline/actions/verify@v1
        with: {tier: "${{ inputs.tier }}"}
"""


def config(tiers: str) -> str:
    return f"version: 1\ntiers:\n{tiers}"


@pytest.fixture
def harness(tmp_path: Path):
    env = {"TRUNKLINE_GATES_POLL_SECONDS": "0.3", "TRUNKLINE_GATES_KILL_GRACE": "1"}
    with BotHarness(tmp_path, env=env) as h:
        h.sandbox.world.user("dev")
        yield h


def make_repo(h: BotHarness, name: str, tiers: str, extra: dict[str, str] | None = None) -> str:
    files = {"README.md": f"# {name}\n", "calc/__init__.py": CALC, "tests/test_calc.py": TESTS,
             ".github/trunkline.yml": config(tiers), **(extra or {})}
    h.sandbox.create_repo("acme", name, files=files)
    if not h.sandbox.world.installations:  # one installation on the account covers every repository
        h.install("acme")
    h.sandbox.grant(f"acme/{name}", "dev", "write")
    return f"acme/{name}"


def newest(h: BotHarness, repo: str, sha: str, name: str):
    runs = h.check_runs(repo, sha, name)
    return max(runs, key=lambda r: r.id) if runs else None


def test_tier0_passes_on_a_good_pr_and_fails_with_an_annotation_on_a_failing_test(harness: BotHarness) -> None:
    h, sb = harness, harness.sandbox
    repo = make_repo(h, "calc", "  tier-0:\n    commands:\n      - " + PYTEST + "\n"
                                "    artifacts: {junit: reports/*.xml}\n"
                                "    env: {PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1'}\n")
    good = sb.push(repo, "good", {"calc/extra.py": "X = 1\n"}, "harmless", as_user="dev")
    sb.open_pr(repo, head="good", title="Good", as_user="dev")
    run = h.wait_for_check(repo, good, "trunkline/tier-0", timeout=60)
    assert run.conclusion == "success", run.output
    assert "2 tests passed" in run.output["title"]
    assert run.app_id == h.app.id

    # /verify runs it again on demand and says so in its reply
    sb.comment(repo, 1, "/verify tier-0", as_user="dev")
    h.wait_for(lambda: len([r for r in h.check_runs(repo, good, "trunkline/tier-0") if r.status == "completed"]) == 2,
               timeout=60, what="the /verify run of tier-0")
    r = sb.repo(repo)
    with sb.world.lock:
        replies = [c.body for c in r.comments.values() if c.user == h.app.bot_login and c.issue_number == 1]
    assert any(f"Started `tier-0` on `{good[:7]}`" in body for body in replies), replies
    sb.comment(repo, 1, "/verify tier-9", as_user="dev")
    h.wait_for(lambda: any("no tier `tier-9`; configured tiers: `tier-0`" in c.body for c in list(r.comments.values())
                           if c.user == h.app.bot_login), timeout=30, what="the refusal of an unknown tier")

    bad = sb.push(repo, "bad", {"calc/__init__.py": "def add(a, b):\n    return a - b\n"}, "break add",
                  as_user="dev")
    sb.open_pr(repo, head="bad", title="Bad", as_user="dev")
    run = h.wait_for_check(repo, bad, "trunkline/tier-0", timeout=60)
    assert run.conclusion == "failure"
    assert run.output["title"] == "tier-0 failed: 1 of 2 tests failed"
    [annotation] = run.annotations
    assert annotation["path"] == "tests/test_calc.py"
    assert annotation["start_line"] == 5  # the failing assert
    assert annotation["annotation_level"] == "failure"
    assert "test_add" in annotation["title"]
    assert "assert -1 == 5" in annotation["message"]
    assert "| `tests.test_calc::test_add` | tests/test_calc.py:5 |" in run.output["summary"]

    # /retest re-runs the tier that failed on the head (through the commands module and the service)
    sb.comment(repo, 2, "/retest", as_user="dev")
    h.wait_for(lambda: len([r for r in h.check_runs(repo, bad, "trunkline/tier-0") if r.status == "completed"]) == 2,
               timeout=60, what="the re-run of tier-0")
    assert newest(h, repo, bad, "trunkline/tier-0").conclusion == "failure"

    # auto-merge behind a strict base requiring trunkline/tier-0: the bot updates the branch (its own
    # synchronize event is dropped), the tier runs on the new head anyway, and the PR merges
    sb.protect(repo, required_checks=["trunkline/tier-0"], strict=True)
    sb.push(repo, "main", {"NOTES.md": "moving main\n"}, "main moves", as_user="acme")
    sb.comment(repo, 1, "/merge", as_user="dev")
    h.wait_for(lambda: r.pulls[1].merged, timeout=90, what="PR #1 merged after the update")
    updated = r.pulls[1].head_sha
    assert updated != good
    assert newest(h, repo, updated, "trunkline/tier-0").conclusion == "success"
    # ...started by auto-merge through the gates' producer, the bot's run record says so
    from trunkline.store.base import Store
    from trunkline.store.gate_runs import GateRunRepo

    store = Store(f"sqlite:///{h.root / 'bot' / 'trunkline.db'}")
    try:
        [record] = GateRunRepo(store).for_head("acme/calc", updated)
    finally:
        store.dispose()
    assert record.reason == "new head after a branch update" and record.verdict == "passed"


def test_slow_tiers_stop_at_the_budget_and_a_repush_supersedes_them(harness: BotHarness) -> None:
    h, sb = harness, harness.sandbox
    # 1. over budget: the command leaves a child that would sleep forever; the whole tree goes at 2 s
    slowpoke = make_repo(h, "slowpoke", "  slow:\n    commands: ['sleep 300 & sleep 300']\n    budget: 2\n")
    sha = sb.push(slowpoke, "feature", {"a.txt": "1\n"}, "one", as_user="dev")
    started = time.monotonic()
    sb.open_pr(slowpoke, head="feature", title="Slow", as_user="dev")
    run = h.wait_for_check(slowpoke, sha, "trunkline/slow", timeout=40)
    assert run.conclusion == "failure"
    assert run.output["title"] == "slow: budget exceeded (2s)"
    assert "stopped at the budget of 2s" in run.output["summary"]
    assert time.monotonic() - started < 30

    # 2. a re-push cancels the stale run within seconds and the new head gets its own run
    repo = make_repo(h, "busy", "  slow:\n    commands: ['sleep 30']\n    budget: 60\n")
    first = sb.push(repo, "feature", {"a.txt": "1\n"}, "one", as_user="dev")
    sb.open_pr(repo, head="feature", title="Busy", as_user="dev")
    h.wait_for(lambda: (r := newest(h, repo, first, "trunkline/slow")) and r.status == "in_progress",
               timeout=30, what="the first run to start")
    time.sleep(1.0)  # let the checkout finish and `sleep 30` start
    second = sb.push(repo, "feature", {"a.txt": "2\n"}, "two", as_user="dev")
    pushed = time.monotonic()
    stale = h.wait_for_check(repo, first, "trunkline/slow", timeout=20)
    assert time.monotonic() - pushed < 10
    assert stale.conclusion == "cancelled"
    assert stale.output["title"] == f"slow cancelled: superseded by {second[:7]}"
    fresh = h.wait_for(lambda: newest(h, repo, second, "trunkline/slow"), timeout=20, what="the new head's run")
    assert fresh.status == "in_progress"
    assert fresh.id != stale.id


def test_actions_executor_dispatches_and_reports_the_runs_conclusion(harness: BotHarness) -> None:
    h, sb = harness, harness.sandbox
    repo = make_repo(h, "ci", "  tier-1:\n    commands: [make verify-pr]\n    executor: actions\n"
                              "    inputs: {python: '3.11'}\n",
                     extra={".github/workflows/trunkline-verify.yml": WORKFLOW.replace(
                         "      sha: {required: true, type: string}\n",
                         "      sha: {required: true, type: string}\n      python: {type: string}\n")})
    r = sb.repo(repo)
    sha = sb.push(repo, "feature", {"a.txt": "1\n"}, "one", as_user="dev")
    sb.open_pr(repo, head="feature", title="CI", as_user="dev")

    def dispatched(head: str):
        with sb.world.lock:
            return [run for run in r.workflow_runs.values() if run.head_sha == head]

    [run] = h.wait_for(lambda: dispatched(sha), timeout=20, what="a workflow dispatch")
    assert run.event == "workflow_dispatch"
    assert run.inputs == {"tier": "tier-1", "sha": sha, "python": "3.11"}
    assert run.actor == h.app.bot_login
    check = newest(h, repo, sha, "trunkline/tier-1")
    assert check is not None and check.status == "in_progress"

    sb.finish_workflow_run(repo, run.id, "failure")
    check = h.wait_for_check(repo, sha, "trunkline/tier-1", timeout=20)
    assert check.conclusion == "failure"
    assert check.details_url.endswith(f"/actions/runs/{run.id}")
    assert "concluded **failure**" in check.output["summary"]

    # a re-push cancels the new head's dispatched run on GitHub and marks its check superseded
    second = sb.push(repo, "feature", {"a.txt": "2\n"}, "two", as_user="dev")
    [run2] = h.wait_for(lambda: dispatched(second), timeout=20, what="the second dispatch")
    third = sb.push(repo, "feature", {"a.txt": "3\n"}, "three", as_user="dev")
    check2 = h.wait_for_check(repo, second, "trunkline/tier-1", timeout=20)
    assert check2.conclusion == "cancelled"
    assert check2.output["title"] == f"tier-1 cancelled: superseded by {third[:7]}"
    h.wait_for(lambda: r.workflow_runs[run2.id].status == "completed", timeout=10, what="run cancelled")
    assert r.workflow_runs[run2.id].conclusion == "cancelled"


def test_a_restarted_worker_completes_the_orphaned_run_and_kills_its_processes(harness: BotHarness,
                                                                              tmp_path: Path) -> None:
    h, sb = harness, harness.sandbox
    pidfile = tmp_path / "tier.pid"
    repo = make_repo(h, "crashy", "  slow:\n    commands: ['sleep 300 & echo $! > \"$PIDFILE\"; wait']\n"
                                  f"    budget: 600\n    env: {{PIDFILE: '{pidfile}'}}\n")
    sha = sb.push(repo, "feature", {"a.txt": "1\n"}, "one", as_user="dev")
    sb.open_pr(repo, head="feature", title="Crashy", as_user="dev")
    h.wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30, what="the tier to start")
    child = int(pidfile.read_text())
    h.stop_bot(kill=True)  # SIGKILL: nothing gets to clean up; the tier's processes live on
    assert Path(f"/proc/{child}").exists()
    h.start_bot()
    # any delivery wakes the gates service up in the new process; it sweeps what was left
    other = sb.push(repo, "other", {"b.txt": "1\n"}, "other", as_user="dev")
    sb.open_pr(repo, head="other", title="Other", as_user="dev")
    run = h.wait_for_check(repo, sha, "trunkline/slow", timeout=40)
    assert run.conclusion == "failure"
    assert run.output["title"].startswith("slow could not run: the Trunkline worker running this tier stopped")
    h.wait_for(lambda: not Path(f"/proc/{child}").exists(), timeout=15, what="the orphaned process to be killed")
    assert newest(h, repo, other, "trunkline/slow") is not None
