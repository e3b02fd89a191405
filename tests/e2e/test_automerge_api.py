"""The auto-merge service API (what ``/merge``, ``/merge cancel``, ``/hold`` call) against the sandbox.

No bot process here: the test calls ``trunkline.merge.service`` in-process with a real App client
(JWT, installation token) talking HTTP to the sandbox, and a real SQLite store. Webhooks go nowhere,
so every evaluation is the direct consequence of the call under test.
"""

from __future__ import annotations

import itertools

import pytest

from trunkline.github.client import AppClient
from trunkline.merge import cache, service
from trunkline.sandbox import git
from trunkline.sandbox.actors import Sandbox
from trunkline.store.base import Store
from trunkline.store.merge_queue import MergeQueueRepo

pytestmark = pytest.mark.slow

MERGE_ROUTE = "/repos/{owner}/{repo}/pulls/{pull_number}/merge"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("merge-api")
    with Sandbox(root / "sandbox") as sb:
        app = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="s")
        installation = sb.install(app, "acme")
        client = AppClient(app.id, app.private_key_pem or "", sb.url).installation(installation.id)
        store = Store(f"sqlite:///{root / 'bot.db'}")
        store.create_all()
        yield sb, client, store
        store.dispose()


@pytest.fixture(autouse=True)
def _fresh_caches():
    cache.clear_all()
    yield
    cache.clear_all()


def _repo(sb: Sandbox, config: str = "version: 1\n") -> str:
    name = f"acme/api{next(_names)}"
    owner, repo = name.split("/")
    sb.create_repo(owner, repo, files={"README.md": "# r\n", ".github/trunkline.yml": config})
    sb.grant(name, "dev", "write")
    sb.protect(name, required_checks=["ci"], strict=True)
    return name


def _pr(sb: Sandbox, name: str, branch: str, *, green: bool = True) -> tuple[int, str]:
    sha = sb.push(name, branch, {f"{branch}.txt": "x\n"}, branch, as_user="dev")
    number = sb.open_pr(name, head=branch, title=branch, as_user="dev")
    if green:
        sb.ci(name, sha, "ci", "success")
    return number, sha


def _merge_run(sb: Sandbox, name: str, sha: str):
    repo = sb.repo(name)
    with sb.world.lock:
        runs = [r for r in repo.check_runs.values() if r.head_sha == sha and r.name == "trunkline/merge"]
    return max(runs, key=lambda r: r.id) if runs else None


def test_request_merge_merges_a_green_pull_request(world) -> None:
    sb, client, store = world
    name = _repo(sb)
    number, sha = _pr(sb, name, "green")
    owner, repo = name.split("/")
    result = service.request_merge(client, store, owner, repo, number, "dev")
    assert result.outcome == "merged" and result.merge_sha
    assert result.decision is not None and result.decision.sha == sha
    assert sb.repo(name).pulls[number].merged
    assert _merge_run(sb, name, sha).conclusion == "success"
    row = MergeQueueRepo(store).get(name, number)
    assert row.state == "merged" and row.source == "command" and row.requested_by == "dev"
    again = service.request_merge(client, store, owner, repo, number, "dev")
    assert again.outcome == "closed" and "already merged" in again.message


def test_request_then_cancel_and_a_rule_does_not_requeue(world) -> None:
    sb, client, store = world
    name = _repo(sb, "version: 1\nmerge:\n  rules:\n    - head_prefix: agent/\n")
    owner, repo = name.split("/")
    number, sha = _pr(sb, name, "agent/fix", green=False)
    sb.label(name, number, "auto-merge", as_user="dev")
    waiting = service.request_merge(client, store, owner, repo, number, "dev")
    assert waiting.outcome == "waiting" and "check `ci`" in waiting.message
    assert _merge_run(sb, name, sha).conclusion == "neutral"

    cancelled = service.cancel_merge(client, store, owner, repo, number, "maintainer")
    assert cancelled.outcome == "cancelled"
    assert MergeQueueRepo(store).get(name, number).state == "cancelled"
    with sb.world.lock:
        assert "auto-merge" not in sb.repo(name).issues[number].labels, "the trigger label is removed"
    assert _merge_run(sb, name, sha).output["title"] == "Merge cancelled by @maintainer"

    sb.ci(name, sha, "ci", "success")
    later = service.evaluate_pr(client, store, owner, repo, number, reason="ci finished")
    assert later.outcome == "not-queued", "the agent/ rule must not undo /merge cancel"
    assert not sb.repo(name).pulls[number].merged

    back = service.request_merge(client, store, owner, repo, number, "maintainer")
    assert back.outcome == "merged"


def test_rule_requests_the_merge_and_hold_label_blocks(world) -> None:
    sb, client, store = world
    name = _repo(sb, "version: 1\nmerge:\n  rules:\n    - authors: [dev]\n")
    owner, repo = name.split("/")
    number, sha = _pr(sb, name, "by-dev")
    sb.label(name, number, "hold", as_user="dev")
    held = service.evaluate_pr(client, store, owner, repo, number)
    assert held.outcome == "blocked" and "hold" in held.message
    run = _merge_run(sb, name, sha)
    assert run.conclusion == "failure" and "| ✅ | merge requested | by a `merge.rules` entry |" in run.output["summary"]
    sb.unlabel(name, number, "hold", as_user="dev")
    assert service.evaluate_pr(client, store, owner, repo, number).outcome == "merged"


def test_405_is_explained_once_and_stale_protection_is_refreshed(world) -> None:
    sb, client, store = world
    name = _repo(sb)
    owner, repo = name.split("/")
    number, sha = _pr(sb, name, "refused")
    sb.label(name, number, "hold", as_user="dev")
    service.request_merge(client, store, owner, repo, number, "dev")  # caches protection: only "ci"
    sb.protect(name, required_checks=["ci", "security"], strict=True)  # changed behind the cache's back
    sb.unlabel(name, number, "hold", as_user="dev")
    result = service.evaluate_pr(client, store, owner, repo, number)
    # GitHub refused (405, "security" expected); the bot looked again with fresh protection and waits
    assert result.outcome == "waiting" and "security" in result.message
    puts = [e for e in sb.request_log if e.route == MERGE_ROUTE and e.path.startswith(f"/repos/{name}/")]
    assert [p.status for p in puts] == [405]
    assert not sb.repo(name).pulls[number].merged

    # A refusal that persists is reported on the check and in one comment, however often it recurs.
    sb.ci(name, sha, "security", "success")
    sb.inject("PUT", MERGE_ROUTE, 405, times=4, body={"message": "Merge commits are not allowed", "status": "405"})
    for _ in range(2):
        blocked = service.evaluate_pr(client, store, owner, repo, number)
        assert blocked.outcome == "blocked" and "405" in blocked.message
    sb.clear_faults()
    with sb.world.lock:
        comments = [c.body for c in sb.repo(name).comments.values() if c.issue_number == number]
    assert len(comments) == 1 and "Merge commits are not allowed" in comments[0]
    assert _merge_run(sb, name, sha).conclusion == "failure"
    assert service.evaluate_pr(client, store, owner, repo, number).outcome == "merged"


def test_head_branch_kept_while_another_open_pull_request_uses_it(world) -> None:
    sb, client, store = world
    name = _repo(sb)
    owner, repo = name.split("/")
    number, _ = _pr(sb, name, "shared")
    sb.push(name, "stacked", {"s.txt": "s\n"}, "stacked", as_user="dev")
    sb.open_pr(name, head="stacked", base="shared", title="stacked on shared", as_user="dev")
    assert service.request_merge(client, store, owner, repo, number, "dev").outcome == "merged"
    assert git.branch_sha(sb.repo(name), "shared") is not None, "#2 targets it: it must stay"
