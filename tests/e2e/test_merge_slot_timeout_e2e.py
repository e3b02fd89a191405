"""The merge queue's slot timeout against the sandbox GitHub (``merge.slot_timeout_minutes``).

A pull request whose branch Trunkline updated holds its queue's slot until its required checks finish
on the new head. When they never finish, it must not block the queue forever: after the timeout it
leaves the queue with the reason on its ``trunkline/merge`` check and one comment, and the next pull
request goes. In-process like ``test_automerge_api.py`` (real App client over HTTP, real SQLite
store), with the engine's clock injected — no test waits an hour.
"""

from __future__ import annotations

import itertools

import pytest

from trunkline.github.client import AppClient
from trunkline.merge import cache, timeouts
from trunkline.merge.service import MergeEngine
from trunkline.sandbox.actors import Sandbox
from trunkline.store.base import Store
from trunkline.store.merge_queue import MergeQueueRepo

pytestmark = pytest.mark.slow

T0 = 1_900_000_000.0
MIN = 60.0
_names = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("slot-timeout")
    with Sandbox(root / "sandbox") as sb:
        reg = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="s")
        installation = sb.install(reg, "acme")
        app = AppClient(reg.id, reg.private_key_pem or "", sb.url)
        store = Store(f"sqlite:///{root / 'bot.db'}")
        store.create_all()
        yield sb, app, app.installation(installation.id), store
        store.dispose()


@pytest.fixture(autouse=True)
def _fresh_caches():
    cache.clear_all()
    yield
    cache.clear_all()


def _repo(sb: Sandbox, timeout_minutes: int | None = 30) -> str:
    name = f"acme/slot{next(_names)}"
    owner, repo = name.split("/")
    config = "version: 1\n" + (f"merge:\n  slot_timeout_minutes: {timeout_minutes}\n" if timeout_minutes is not None else "")
    sb.create_repo(owner, repo, files={"README.md": "# r\n", ".github/trunkline.yml": config})
    sb.grant(name, "dev", "write")
    sb.protect(name, required_checks=["ci"], strict=True)
    return name


def _queued_pr(sb: Sandbox, name: str, branch: str) -> tuple[int, str]:
    sha = sb.push(name, branch, {f"{branch}.txt": "x\n"}, branch, as_user="dev")
    number = sb.open_pr(name, head=branch, title=branch, as_user="dev")
    sb.ci(name, sha, "ci", "success")
    sb.label(name, number, "auto-merge", as_user="dev")
    return number, sha


def _engine(client, store, name: str, now: float) -> MergeEngine:
    owner, repo = name.split("/")
    return MergeEngine(client, store, owner, repo, clock=lambda: now)


def _merge_run(sb: Sandbox, name: str, sha: str):
    with sb.world.lock:
        runs = [r for r in sb.repo(name).check_runs.values() if r.head_sha == sha and r.name == "trunkline/merge"]
    return max(runs, key=lambda r: r.id) if runs else None


def _comments(sb: Sandbox, name: str, number: int) -> list[str]:
    with sb.world.lock:
        return [c.body for c in sb.repo(name).comments.values() if c.issue_number == number]


def _head(sb: Sandbox, name: str, number: int) -> str:
    with sb.world.lock:
        return sb.repo(name).pulls[number].head_sha


def _slot_taken(sb, client, store, name: str) -> tuple[int, int, str]:
    """Two green, labelled pull requests behind ``main``: the first gets updated and takes the slot,
    and its checks never report on the new head. Returns (holder, next, holder's new head)."""
    first, _ = _queued_pr(sb, name, "first")
    second, _ = _queued_pr(sb, name, "second")
    sb.push(name, "main", {"main.txt": "moved\n"}, "main moves", as_user="dev")
    taken = _engine(client, store, name, T0).evaluate(first)
    assert taken.outcome == "updating", taken.message
    row = MergeQueueRepo(store).get(name, first)
    assert row.state == "updating" and row.slot_since == T0
    new_head = _head(sb, name, first)
    behind = _engine(client, store, name, T0 + 5 * MIN).evaluate(second)
    assert behind.outcome == "waiting" and f"Queued behind #{first}" in behind.message
    return first, second, new_head


def test_stuck_slot_holder_leaves_after_the_timeout_and_the_next_goes(world) -> None:
    sb, _app, client, store = world
    name = _repo(sb, timeout_minutes=30)
    first, second, stuck_head = _slot_taken(sb, client, store, name)

    # 29 minutes: still within the limit, the holder keeps the slot
    early = _engine(client, store, name, T0 + 29 * MIN).evaluate(second)
    assert early.outcome == "waiting" and f"Queued behind #{first}" in early.message
    assert MergeQueueRepo(store).get(name, first).state == "updating"

    # 31 minutes: evaluating the one waiting behind frees the queue and lets it go (it gets updated)
    moved = _engine(client, store, name, T0 + 31 * MIN).evaluate(second)
    assert moved.outcome == "updating", moved.message
    queue = MergeQueueRepo(store)
    assert queue.get(name, first).state == "timed_out" and queue.get(name, second).state == "updating"
    run = _merge_run(sb, name, stuck_head)
    assert run.conclusion == "failure"
    assert run.output["title"] == "Left the merge queue: required checks did not finish within 30 min"
    assert "held the merge queue for 31 min (limit 30 min" in run.output["summary"]
    assert "check `ci` not reported yet" in run.output["summary"]
    comments = _comments(sb, name, first)
    assert len(comments) == 1 and "took this pull request out of the merge queue" in comments[0]

    # the label is still on, the head is the same: it stays out, and says so only once
    again = _engine(client, store, name, T0 + 32 * MIN).evaluate(first)
    assert again.outcome == "blocked" and "left the merge queue" in again.message
    assert queue.get(name, first).state == "timed_out" and len(_comments(sb, name, first)) == 1

    # a new commit queues it again (its checks run on the new head)
    sb.push(name, "first", {"fix.txt": "fix\n"}, "fix", as_user="dev")
    back = _engine(client, store, name, T0 + 33 * MIN).evaluate(first)
    assert queue.get(name, first).state == "queued"
    assert back.outcome == "waiting" and "check `ci`" in back.message


def test_the_sweep_frees_a_quiet_queue_and_the_next_merges(world) -> None:
    sb, app, client, store = world
    name = _repo(sb, timeout_minutes=30)
    first, second, stuck_head = _slot_taken(sb, client, store, name)

    assert timeouts.sweep(app, store, clock=lambda: T0 + 20 * MIN) == []  # within the limit: the slot stays
    assert MergeQueueRepo(store).get(name, first).state == "updating"
    results = timeouts.sweep(app, store, clock=lambda: T0 + 40 * MIN)  # the App finds the installation itself
    outcomes = {r.number: r.outcome for r in results}
    assert outcomes[first] == "blocked" and outcomes[second] == "updating"
    assert _merge_run(sb, name, stuck_head).conclusion == "failure"

    # the next one's checks do finish on its updated head: it merges
    new_head = _head(sb, name, second)
    sb.ci(name, new_head, "ci", "success")
    done = _engine(client, store, name, T0 + 45 * MIN).evaluate(second)
    assert done.outcome == "merged", done.message
    assert sb.repo(name).pulls[second].merged and not sb.repo(name).pulls[first].merged


def test_holder_whose_checks_finish_merges_instead_of_timing_out(world) -> None:
    sb, _app, client, store = world
    name = _repo(sb, timeout_minutes=30)
    first, second, new_head = _slot_taken(sb, client, store, name)
    sb.ci(name, new_head, "ci", "success")  # finished, but no event reached the bot
    moved = _engine(client, store, name, T0 + 31 * MIN).evaluate(second)
    assert sb.repo(name).pulls[first].merged, "a holder that is green merges, it is not timed out"
    assert _comments(sb, name, first) == []
    assert moved.outcome == "updating"  # the next one, updated onto the merge


def test_timeout_zero_waits_forever(world) -> None:
    sb, app, client, store = world
    name = _repo(sb, timeout_minutes=0)
    first, second, _ = _slot_taken(sb, client, store, name)
    late = _engine(client, store, name, T0 + 1000 * 60 * MIN).evaluate(second)
    assert late.outcome == "waiting" and f"Queued behind #{first}" in late.message
    timeouts.sweep(app, store, clock=lambda: T0 + 1000 * 60 * MIN)
    assert MergeQueueRepo(store).get(name, first).state == "updating"
