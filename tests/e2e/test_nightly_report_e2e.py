"""The sticky "Nightly report" issue end to end: sandbox GitHub + a real ``trunkline serve``.

The test plays GitHub's scheduler and runner: the nightly workflow's ``schedule`` fires on the default
branch, the run uploads its ``trunkline-report`` artifact (what ``actions/upload-artifact`` does in
``.github/workflows/nightly.yml``) and completes. The bot, on ``workflow_run`` completed, downloads the
artifact (302 to a signed URL) and creates, updates, closes and reopens one issue. ``/verify nightly`` on a
pull request dispatches the nightly workflow with the tier and the head SHA; on an issue it dispatches it on
the default branch's head, and that run's report updates the sticky issue (``tier-0`` is refused there).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trunkline.demo.harness import BotHarness
from trunkline.reports.demo import CONFIG, play_nightly
from trunkline.reports.report import LABEL, MARKER, parse_state

pytestmark = pytest.mark.slow

REPO = "acme/nightly-app"
NIGHTLY = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly.yml"
FLAKY_RED = {"flaky_rate": 2.5, "flaky": ["tests/test_io.py::test_retry"], "runs": 1, "tests": 40, "failing": []}
FLAKY_GREEN = {"flaky_rate": 0.0, "flaky": [], "runs": 1, "tests": 40, "failing": []}
PERF_RED = {"verdict": "fail", "summary": {"slower": 1, "unchanged": 2},
            "benchmarks": [{"name": "test_parse", "verdict": "slower", "reason": "median +15.0%, p = 0.002"}]}
PERF_GREEN = {"verdict": "pass", "summary": {"slower": 0, "unchanged": 3}, "benchmarks": []}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory):
    with BotHarness(tmp_path_factory.mktemp("nightly")) as h:
        h.sandbox.world.user("dev")
        h.sandbox.create_repo("acme", "nightly-app", files={
            "README.md": "# app\n", ".github/trunkline.yml": CONFIG,
            ".github/workflows/nightly.yml": NIGHTLY.read_text()})
        h.install("acme")
        h.sandbox.grant(REPO, "dev", "write")
        yield h


def report_issues(h: BotHarness) -> list:
    repo = h.sandbox.repo(REPO)
    return [i for i in repo.issues.values() if LABEL in i.labels and not i.is_pull]


def nightly(h: BotHarness, files: dict[str, object], conclusion: str = "success") -> int:
    return play_nightly(h.sandbox, REPO, files, conclusion)


def wait_body(h: BotHarness, text: str, timeout: float = 30.0):
    return h.wait_for(lambda: next((i for i in report_issues(h) if text in (i.body or "")), None), timeout=timeout,
                      what=f"a report issue saying {text!r}")


def test_results_reach_one_sticky_issue_that_is_updated_closed_and_reopened(harness: BotHarness) -> None:
    h = harness
    first = nightly(h, {"flaky.json": FLAKY_RED, "mutation.json": {"score": 81.5, "status": "ok", "scope": "sample",
                                                                    "sample": 50, "killed": 40, "survived": 9,
                                                                    "timeout": 0, "no_tests": 1}})
    issue = wait_body(h, "#1](")
    assert issue.title == "Nightly report" and issue.state == "open" and issue.user == h.app.bot_login
    assert issue.body.startswith(MARKER) and "tests/test_io.py::test_retry" in issue.body
    assert "**81.50%**" in issue.body and f"/actions/runs/{first}" in issue.body

    # a second run: the same issue is updated, not duplicated; sections not measured keep their value
    nightly(h, {"perf.json": PERF_RED})
    issue = wait_body(h, "1 regression")
    assert len(report_issues(h)) == 1 and issue.state == "open"
    state = parse_state(issue.body)
    assert set(state.sections) == {"flaky", "mutation", "perf"} and len(state.problems()) == 2
    assert state.sections["flaky"].run.number == 1 and state.sections["perf"].run.number == 2

    # all green: the issue is updated, told why, and closed
    nightly(h, {"flaky.json": FLAKY_GREEN, "perf.json": PERF_GREEN})
    issue = h.wait_for(lambda: next((i for i in report_issues(h) if i.state == "closed"), None), timeout=30,
                       what="the report issue closed")
    assert "## ✅ All green" in issue.body and len(report_issues(h)) == 1
    comments = [c.body for c in h.sandbox.repo(REPO).comments.values() if c.issue_number == issue.number]
    assert any("All green after" in c for c in comments)

    # red again (the run itself failed): the same issue is reopened with the reason
    nightly(h, {}, conclusion="failure")
    issue = h.wait_for(lambda: next((i for i in report_issues(h) if i.state == "open"), None), timeout=30,
                       what="the report issue reopened")
    assert len(report_issues(h)) == 1 and parse_state(issue.body).problems() == ["Trunkline nightly #4 failure"]
    assert "| 🔴 failure |" in issue.body
    comments = [c.body for c in h.sandbox.repo(REPO).comments.values() if c.issue_number == issue.number]
    assert any(c.startswith("Red again after") for c in comments)


def test_runs_off_the_default_branch_leave_the_report_alone_and_verify_nightly_dispatches(harness) -> None:
    h, sb = harness, harness.sandbox
    before = [(i.number, i.body, i.state) for i in report_issues(h)]
    head = sb.push(REPO, "feature", {"app.py": "X = 1\n"}, "feature", as_user="dev")
    number = sb.open_pr(REPO, head="feature", title="Feature", as_user="dev")
    sb.comment(REPO, number, "/verify nightly", as_user="dev")
    run = h.wait_for(lambda: next((r for r in sb.repo(REPO).workflow_runs.values()
                                   if r.event == "workflow_dispatch"), None), timeout=30,
                     what="the nightly workflow dispatched by /verify nightly")
    assert run.inputs == {"tier": "nightly", "sha": head} and run.head_branch == "feature"
    check = h.wait_for(lambda: next(iter(h.check_runs(REPO, head, "trunkline/nightly")), None), timeout=30,
                       what="trunkline/nightly in progress")
    assert check.status in ("in_progress", "queued")
    sb.upload_artifact(REPO, run.id, "trunkline-report", {"flaky.json": json.dumps(FLAKY_RED)})
    sb.finish_workflow_run(REPO, run.id, "success")
    done = h.wait_for_check(REPO, head, "trunkline/nightly", timeout=30)
    assert done.conclusion == "success"
    sb.wait_for_webhooks()
    assert [(i.number, i.body, i.state) for i in report_issues(h)] == before  # a PR head is not trunk


def bot_replies(h: BotHarness, number: int) -> list[str]:
    return [c.body for c in h.sandbox.repo(REPO).comments.values()
            if c.issue_number == number and c.user == h.app.bot_login]


def test_verify_nightly_on_an_issue_dispatches_on_the_default_branch_and_updates_the_report(harness) -> None:
    h, sb = harness, harness.sandbox
    sticky = next(iter(report_issues(h)), None)
    number = sticky.number if sticky is not None else sb.open_issue(REPO, "Nightly please", as_user="dev")
    main = sb.repo(REPO).default_branch
    head = sb.github_as("dev").get_repo(REPO).get_branch(main).commit.sha
    known = set(sb.repo(REPO).workflow_runs)
    sb.comment(REPO, number, "/verify nightly", as_user="dev")
    run = h.wait_for(lambda: next((r for i, r in sb.repo(REPO).workflow_runs.items()
                                   if i not in known and r.event == "workflow_dispatch"), None), timeout=30,
                     what="the nightly workflow dispatched by /verify nightly on an issue")
    assert run.inputs == {"tier": "nightly", "sha": head} and run.head_branch == main and run.head_sha == head
    reply = h.wait_for(lambda: next((b for b in bot_replies(h, number) if "/verify nightly" in b), None),
                       timeout=30, what="the reply to /verify nightly")
    assert "🚀" in reply and f"`{main}` at `{head[:7]}`" in reply and f"/actions/runs/{run.id})" in reply
    check = h.wait_for(lambda: next(iter(h.check_runs(REPO, head, "trunkline/nightly")), None), timeout=30,
                       what="trunkline/nightly in progress on the default branch's head")
    assert check.status in ("in_progress", "queued")

    sb.start_workflow_run(REPO, run.id)
    sb.upload_artifact(REPO, run.id, "trunkline-report", {"perf.json": json.dumps(PERF_RED),
                                                          "flaky.json": json.dumps(FLAKY_GREEN)})
    sb.finish_workflow_run(REPO, run.id, "success")
    issue = wait_body(h, f"/actions/runs/{run.id}")
    assert len(report_issues(h)) == 1 and issue.state == "open" and "test_parse" in issue.body
    assert h.wait_for_check(REPO, head, "trunkline/nightly", timeout=30).conclusion == "success"


def test_verify_tier_0_on_an_issue_is_refused_naming_the_tiers_that_can_run_there(harness) -> None:
    h, sb = harness, harness.sandbox
    number = sb.open_issue(REPO, "Run tier 0 please", as_user="dev")
    known = set(sb.repo(REPO).workflow_runs)
    sb.comment(REPO, number, "/verify tier-0\n/verify", as_user="dev")
    reply = h.wait_for(lambda: next(iter(bot_replies(h, number)), None), timeout=30, what="the refusal")
    assert "😕" in reply and "`tier-0` cannot run from an issue" in reply and "`nightly`" in reply
    assert "name the tier to run on the default branch: `nightly`" in reply
    sb.wait_for_webhooks()
    assert set(sb.repo(REPO).workflow_runs) == known  # nothing dispatched
