"""First behaviour end to end: PR webhook -> real ``trunkline serve`` -> ``trunkline/config`` check run.

Everything is real: the sandbox GitHub over HTTP with bare git repos, a signed webhook, the bot
process authenticating with an App JWT, and the check run created through the sandbox's REST API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.demo.harness import BotHarness

pytestmark = pytest.mark.slow

GOOD = "version: 1\nmerge:\n  method: squash\n"
BROKEN = "version: 1\nmerge:\n  # a typo a person would make\n  method: squosh\n"


@pytest.fixture
def harness(tmp_path: Path):
    with BotHarness(tmp_path) as h:
        h.sandbox.create_repo("acme", "widgets", files={"README.md": "# widgets\n",
                                                         ".github/trunkline.yml": GOOD})
        h.install("acme")
        h.sandbox.grant("acme/widgets", "dev", "write")
        yield h


def test_valid_config_gives_success_check(harness: BotHarness) -> None:
    sb = harness.sandbox
    sha = sb.push("acme/widgets", "feature", {"app.py": "print('hi')\n"}, "add app", as_user="dev")
    sb.open_pr("acme/widgets", head="feature", title="Add app", as_user="dev")
    run = harness.wait_for_check("acme/widgets", sha, "trunkline/config")
    assert run.conclusion == "success"
    assert run.app_id == harness.app.id
    assert "squash" in run.output["summary"]
    # one visible effect per head SHA even though opened + the bot's own check events arrive
    sb.wait_for_webhooks()
    assert len(harness.check_runs("acme/widgets", sha, "trunkline/config")) == 1


def test_broken_default_branch_config_fails_with_annotation(harness: BotHarness) -> None:
    sb = harness.sandbox
    sb.push("acme/widgets", "main", {".github/trunkline.yml": BROKEN}, "break config", as_user="acme")
    sha = sb.push("acme/widgets", "feature", {"app.py": "x = 1\n"}, "add app", as_user="dev")
    sb.open_pr("acme/widgets", head="feature", title="Add app", as_user="dev")
    run = harness.wait_for_check("acme/widgets", sha, "trunkline/config")
    assert run.conclusion == "failure"
    [annotation] = run.annotations
    assert annotation["path"] == ".github/trunkline.yml"
    assert annotation["start_line"] == 4
    assert annotation["annotation_level"] == "failure"
    assert "'squosh' is not one of merge, squash, rebase" in annotation["message"]


def test_pr_cannot_change_its_own_gates_but_broken_proposal_is_reported(harness: BotHarness) -> None:
    sb = harness.sandbox
    sha = sb.push("acme/widgets", "bad-config", {".github/trunkline.yml": BROKEN}, "try config", as_user="dev")
    sb.open_pr("acme/widgets", head="bad-config", title="Change config", as_user="dev")
    run = harness.wait_for_check("acme/widgets", sha, "trunkline/config")
    assert run.conclusion == "failure"
    assert "changed by this pull request" in run.output["title"]
    assert run.annotations and run.annotations[0]["start_line"] == 4


def test_synchronize_rechecks_new_head(harness: BotHarness) -> None:
    sb = harness.sandbox
    first = sb.push("acme/widgets", "feature", {"a.txt": "1\n"}, "one", as_user="dev")
    sb.open_pr("acme/widgets", head="feature", title="A", as_user="dev")
    harness.wait_for_check("acme/widgets", first, "trunkline/config")
    second = sb.push("acme/widgets", "feature", {"a.txt": "2\n"}, "two", as_user="dev")
    run = harness.wait_for_check("acme/widgets", second, "trunkline/config")
    assert run.conclusion == "success"
