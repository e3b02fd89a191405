"""The loop guard end to end: GitHub sends ``workflow_run`` for a run our bot dispatched with our bot as the
sender; the bot still handles it, so a tier on the GitHub Actions executor completes from the webhook —
here with polling set to once an hour, and no request for the run's state after the dispatch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_gates_e2e import WORKFLOW  # the tier workflow the Actions executor dispatches

from trunkline.demo.harness import BotHarness
from trunkline.stream.demo import Subscriber

pytestmark = pytest.mark.slow

CONFIG = "version: 1\ntiers:\n  tier-1:\n    commands: [make verify-pr]\n    executor: actions\n"


@pytest.fixture
def harness(tmp_path: Path):
    with BotHarness(tmp_path, env={"TRUNKLINE_GATES_POLL_SECONDS": "3600"}) as h:
        h.sandbox.world.user("dev")
        yield h


def test_a_dispatched_tier_completes_from_the_workflow_run_webhook_without_polling(harness: BotHarness) -> None:
    h, sb = harness, harness.sandbox
    repo = "acme/actions"
    sb.create_repo("acme", "actions", files={"README.md": "# a\n", ".github/trunkline.yml": CONFIG,
                                             ".github/workflows/trunkline-verify.yml": WORKFLOW})
    h.install("acme")
    sb.grant(repo, "dev", "write")
    r = sb.repo(repo)
    events = Subscriber(h.bot_url, "ws", repo=repo,
                        until=lambda m: m["type"] == "check_run.published" and m["name"] == "trunkline/tier-1"
                        and m["status"] == "completed").start()
    try:
        sha = sb.push(repo, "feature", {"a.txt": "1\n"}, "one", as_user="dev")
        sb.open_pr(repo, head="feature", title="CI", as_user="dev")

        def dispatched():
            with sb.world.lock:
                return [run for run in r.workflow_runs.values() if run.head_sha == sha]

        [run] = h.wait_for(dispatched, timeout=30, what="a workflow dispatch")
        assert run.actor == h.app.bot_login  # so GitHub's workflow_run events come from our bot
        sb.finish_workflow_run(repo, run.id, "success")
        check = h.wait_for_check(repo, sha, "trunkline/tier-1", timeout=30)
        messages = events.wait(30)
    finally:
        events.stop()
    assert check.conclusion == "success" and check.details_url.endswith(f"/actions/runs/{run.id}")
    with sb.world.lock:
        polls = [e for e in sb.request_log if e.method == "GET" and "/actions/runs" in e.path
                 and e.principal and e.principal.startswith("installation:")]
        sent = [json.loads(d.payload) for d in sb.deliveries("workflow_run")]
    sent = [d for d in sent if d["sender"]["login"] == h.app.bot_login]
    assert polls == [], [e.path for e in polls]
    assert {d["action"] for d in sent} >= {"requested", "in_progress", "completed"}
    handled = [m for m in messages if m["type"] == "delivery.processed" and m["event"] == "workflow_run"]
    assert handled and {m["outcome"] for m in handled} == {"handled"}
