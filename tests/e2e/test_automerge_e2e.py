"""Auto-merge end to end: sandbox GitHub + a real ``trunkline serve`` process.

The sandbox plays every person and system (developers push and label, a CI App reports check runs);
the bot merges through the sandbox's REST API. Assertions look at what GitHub would show: the
base branch's git history, the pull request, the ``trunkline/merge`` check run, and the request log.
One bot process serves the whole module; each test works in its own repository.
"""

from __future__ import annotations

import itertools
import time

import pytest

from trunkline.demo.harness import BotHarness
from trunkline.sandbox import git

pytestmark = pytest.mark.slow

MERGE_ROUTE = "/repos/{owner}/{repo}/pulls/{pull_number}/merge"
CONFIG = "version: 1\nmerge:\n  method: squash\n"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory):
    with BotHarness(tmp_path_factory.mktemp("automerge"), workers=2) as h:
        h.install("acme")  # every repository of acme, including the ones each test creates
        yield h


class Repo:
    """One test repository: protected ``main`` requiring check ``ci`` (strict), a developer, helpers."""

    def __init__(self, h: BotHarness, *, config: str = CONFIG, required: tuple[str, ...] = ("ci",),
                 strict: bool = True, approvals: int = 0) -> None:
        self.h = h
        self.sb = h.sandbox
        self.name = f"acme/w{next(_names)}"
        owner, repo = self.name.split("/")
        self.sb.create_repo(owner, repo, files={"README.md": "# w\n", ".github/trunkline.yml": config})
        for user in ("dev", "rev", "rev2"):
            self.sb.grant(self.name, user, "write")
        if required or approvals:
            self.sb.protect(self.name, required_checks=list(required), strict=strict, approvals=approvals)
        self.repo = self.sb.repo(self.name)

    def pr(self, branch: str, files: dict[str, str] | None = None, *, labels: tuple[str, ...] = ("auto-merge",),
           draft: bool = False) -> tuple[int, str]:
        sha = self.sb.push(self.name, branch, files or {f"{branch}.txt": f"{branch}\n"}, f"work on {branch}",
                           as_user="dev")
        number = self.sb.open_pr(self.name, head=branch, title=f"Change {branch}", as_user="dev", draft=draft)
        self.h.wait_for_check(self.name, sha, "trunkline/config")
        if labels:
            self.sb.label(self.name, number, *labels, as_user="dev")
        return number, sha

    def head(self, number: int) -> str:
        with self.sb.world.lock:
            return self.repo.pulls[number].head_sha

    def merged(self, number: int) -> bool:
        with self.sb.world.lock:
            return self.repo.pulls[number].merged

    def main(self) -> str:
        return git.branch_sha(self.repo, "main") or ""

    def main_contains(self, sha: str) -> bool:
        return git.merge_base(self.repo, sha, self.main()) == sha

    def main_files(self) -> set[str]:
        out = git.run(self.repo, "ls-tree", "-r", "--name-only", "main").stdout
        return set((out.decode() if isinstance(out, bytes) else out).split())

    def merge_check(self, sha: str, *, completed: bool | None = None, timeout: float = 20.0):
        def latest():
            runs = [r for r in self.h.check_runs(self.name, sha, "trunkline/merge")
                    if completed is None or (r.status == "completed") == completed]
            return max(runs, key=lambda r: r.id) if runs else None

        return self.h.wait_for(latest, timeout, what=f"trunkline/merge on {sha[:7]}")

    def wait_merge_title(self, sha: str, fragment: str, timeout: float = 20.0):
        def match():
            runs = sorted(self.h.check_runs(self.name, sha, "trunkline/merge"), key=lambda r: r.id)
            return runs[-1] if runs and fragment in runs[-1].output.get("title", "") else None

        return self.h.wait_for(match, timeout, what=f"trunkline/merge title containing {fragment!r}")

    def merge_requests(self, number: int) -> list:
        """PUT merge requests for ``number`` in the sandbox's log, once the successful one is logged
        (the log entry is written after the response, a moment after the merge itself)."""
        path = f"/repos/{self.name}/pulls/{number}/merge"

        def logged() -> list:
            with self.sb.world.lock:
                puts = [e for e in self.sb.request_log if e.method == "PUT" and e.path == path]
            return puts if not self.merged(number) or any(p.status == 200 for p in puts) else []

        return self.h.wait_for(logged, 5.0, what="merge request logged") if self.merged(number) else logged()

    def settle(self) -> None:
        self.sb.wait_for_webhooks()
        time.sleep(0.8)


def test_label_then_green_ci_merges_the_tested_head(harness: BotHarness) -> None:
    r = Repo(harness)
    number, sha = r.pr("feature")
    waiting = r.merge_check(sha)
    assert waiting.conclusion == "neutral" and "check `ci`" in waiting.output["title"]
    assert "| ⏳ | check `ci` | not reported yet" in waiting.output["summary"]

    r.sb.ci(r.name, sha, "ci", "success")
    harness.wait_for(lambda: r.merged(number), what="merged")
    done = r.wait_merge_title(sha, "Merged")
    assert done.conclusion == "success"
    assert len(harness.check_runs(r.name, sha, "trunkline/merge")) == 1, "edited in place, not piled up"
    [put] = r.merge_requests(number)
    assert put.request_body == {"sha": sha, "merge_method": "squash"} and put.status == 200
    assert "feature.txt" in r.main_files()
    harness.wait_for(lambda: git.branch_sha(r.repo, "feature") is None, what="head branch deleted")


def test_draft_hold_label_and_failing_check_block(harness: BotHarness) -> None:
    r = Repo(harness)
    draft, draft_sha = r.pr("drafty", draft=True)
    r.sb.ci(r.name, draft_sha, "ci", "success")
    check = r.wait_merge_title(draft_sha, "Blocked")
    assert check.conclusion == "failure" and "not a draft" in check.output["title"]

    held, held_sha = r.pr("held", labels=("auto-merge", "hold"))
    r.sb.ci(r.name, held_sha, "ci", "success")
    check = r.wait_merge_title(held_sha, "Blocked: no hold label")
    assert "`hold`" in check.output["summary"]

    failing, failing_sha = r.pr("failing")
    r.sb.ci(r.name, failing_sha, "ci", "failure")
    check = r.wait_merge_title(failing_sha, "Blocked: check `ci`")
    assert check.conclusion == "failure" and "| ❌ | check `ci` | failed" in check.output["summary"]
    r.settle()
    assert not any(r.merged(n) for n in (draft, held, failing))
    assert not any(r.merge_requests(n) for n in (draft, held, failing))

    # Removing the hold lets it go (the unlabeled event re-evaluates).
    r.sb.unlabel(r.name, held, "hold", as_user="dev")
    harness.wait_for(lambda: r.merged(held), what="held PR merged once released")


def test_missing_required_check_waits_and_approvals_count_on_current_head(harness: BotHarness) -> None:
    r = Repo(harness, config="version: 1\nmerge:\n  required_approvals: 1\n  required_checks: [lint]\n")
    number, sha = r.pr("reviewed")
    r.sb.ci(r.name, sha, "ci", "success")
    check = r.wait_merge_title(sha, "Waiting")
    assert "| ⏳ | check `lint` | not reported yet" in check.output["summary"]
    assert "| ⏳ | approvals | 0 of 1" in check.output["summary"]

    r.sb.review(r.name, number, "rev", "APPROVE")  # lint still missing: nothing can merge yet
    # A new push makes that approval stale: it must not count for the new head.
    new = r.sb.push(r.name, "reviewed", {"more.txt": "x\n"}, "more", as_user="dev")
    r.sb.ci(r.name, new, "ci", "success")
    r.sb.ci(r.name, new, "lint", "success")
    check = r.wait_merge_title(new, "Waiting: approvals")
    assert "0 of 1 on" in check.output["summary"]
    r.settle()
    assert not r.merged(number)

    r.sb.review(r.name, number, "rev2", "APPROVE")
    harness.wait_for(lambda: r.merged(number), what="merged after an approval on the current head")
    [put] = r.merge_requests(number)
    assert put.request_body["sha"] == new and put.status == 200


def test_push_between_green_gates_and_merge_never_merges_the_untested_sha(harness: BotHarness) -> None:
    r = Repo(harness)
    number, sha = r.pr("racy")
    r.merge_check(sha)
    # The merge request will sit at GitHub's edge for a second: long enough for a push to land.
    rule = r.sb.inject("PUT", MERGE_ROUTE, None, times=1, latency=1.5)
    r.sb.ci(r.name, sha, "ci", "success")
    harness.wait_for(lambda: rule.times == 0, what="merge request in flight")
    untested = r.sb.push(r.name, "racy", {"sneaky.txt": "untested\n"}, "sneak in", as_user="dev")

    first = harness.wait_for(lambda: r.merge_requests(number), what="merge answered")[0]
    assert first.status == 409 and first.request_body["sha"] == sha
    check = r.wait_merge_title(untested, "Waiting: check `ci`")
    assert check.head_sha == untested
    r.settle()
    assert not r.merged(number) and "sneaky.txt" not in r.main_files()
    assert not r.main_contains(untested)

    r.sb.ci(r.name, untested, "ci", "success")  # now it is tested
    harness.wait_for(lambda: r.merged(number), what="merged after CI on the new head")
    puts = r.merge_requests(number)
    assert [p.request_body["sha"] for p in puts] == [sha, untested]
    assert "sneaky.txt" in r.main_files()


def test_502_on_merge_then_success_merges_exactly_once(harness: BotHarness) -> None:
    r = Repo(harness)
    number, sha = r.pr("flaky")
    r.merge_check(sha)
    before = r.main()
    r.sb.inject("PUT", MERGE_ROUTE, 502, times=1)
    r.sb.ci(r.name, sha, "ci", "success")
    harness.wait_for(lambda: r.merged(number), what="merged after a 502")
    r.settle()
    puts = r.merge_requests(number)
    assert [p.status for p in puts] == [502, 200]
    # Between the two attempts the bot looked whether the first one had merged after all.
    gets = [e for e in r.sb.request_log if e.method == "GET" and e.path == f"/repos/{r.name}/pulls/{number}"
            and puts[0].at <= e.at <= puts[1].at]
    assert gets, "the bot must check the pull request before retrying a merge that answered 5xx"
    # Exactly one new commit on main (squash), whose parent is the old tip.
    log = git.run(r.repo, "rev-list", f"{before}..main").stdout.split()
    assert len(log) == 1


def test_secondary_rate_limit_on_merge_is_waited_out(harness: BotHarness) -> None:
    r = Repo(harness)
    number, sha = r.pr("limited")
    r.merge_check(sha)
    r.sb.inject("PUT", MERGE_ROUTE, 403, times=1, headers={"retry-after": "1"},
                body={"message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
                                 "you try again.", "documentation_url": "https://docs.github.com"})
    r.sb.ci(r.name, sha, "ci", "success")
    harness.wait_for(lambda: r.merged(number), what="merged after the rate limit")
    puts = r.merge_requests(number)
    assert [p.status for p in puts] == [403, 200]
    assert puts[1].at - puts[0].at >= 1.0


def test_two_green_prs_merge_one_after_the_other_each_tested_on_its_final_base(harness: BotHarness) -> None:
    r = Repo(harness)
    first, first_sha = r.pr("one")
    second, second_sha = r.pr("two")
    r.merge_check(first_sha)
    r.merge_check(second_sha)
    r.sb.ci(r.name, first_sha, "ci", "success")
    r.sb.ci(r.name, second_sha, "ci", "success")

    harness.wait_for(lambda: r.merged(first) or r.merged(second), what="one merged")
    winner, loser, loser_sha = (first, second, second_sha) if r.merged(first) else (second, first, first_sha)
    # The other one is behind the moved base: Trunkline updates it (never merges it untested).
    updated = harness.wait_for(lambda: r.head(loser) if r.head(loser) != loser_sha else None,
                               what="loser's branch updated")
    assert git.merge_base(r.repo, r.main(), updated) == r.main(), "the update contains the new base"
    r.wait_merge_title(updated, "Waiting: check `ci`")
    superseded = r.wait_merge_title(loser_sha, "Branch updated")
    assert superseded.conclusion == "neutral"
    r.settle()
    assert not r.merged(loser)

    r.sb.ci(r.name, updated, "ci", "success")
    harness.wait_for(lambda: r.merged(loser), what="second merged")
    puts = r.merge_requests(loser)
    assert [p.request_body["sha"] for p in puts if p.status == 200] == [updated]
    assert {"one.txt", "two.txt"} <= r.main_files()


def test_base_push_updates_only_the_head_of_the_queue(harness: BotHarness) -> None:
    r = Repo(harness)
    first, first_sha = r.pr("q1")
    second, second_sha = r.pr("q2")
    r.merge_check(first_sha)
    r.merge_check(second_sha)
    r.sb.push(r.name, "main", {"other.txt": "someone else\n"}, "direct push", as_user="acme")
    harness.wait_for(lambda: r.head(first) != first_sha, what="head of the queue updated")
    r.settle()
    assert r.head(second) == second_sha, "only the head of the queue is updated after a base push"
    puts = [e for e in r.sb.request_log if e.method == "PUT" and e.path.endswith("/update-branch")
            and e.path.startswith(f"/repos/{r.name}/")]
    assert len(puts) == 1


def test_failing_head_of_queue_does_not_stall_the_rest(harness: BotHarness) -> None:
    r = Repo(harness)
    first, first_sha = r.pr("s1")
    second, second_sha = r.pr("s2")
    r.merge_check(second_sha)
    r.sb.push(r.name, "main", {"other.txt": "moved\n"}, "direct push", as_user="acme")
    updated = harness.wait_for(lambda: r.head(first) if r.head(first) != first_sha else None,
                               what="first updated")
    r.sb.ci(r.name, updated, "ci", "failure")  # the head of the queue fails on its new base
    r.wait_merge_title(updated, "Blocked")
    # The slot is free: the next one is updated and merges once green.
    updated2 = harness.wait_for(lambda: r.head(second) if r.head(second) != second_sha else None,
                                what="second updated")
    r.sb.ci(r.name, updated2, "ci", "success")
    harness.wait_for(lambda: r.merged(second), what="second merged")
    assert not r.merged(first)


def test_priority_label_goes_first(harness: BotHarness) -> None:
    r = Repo(harness)
    normal, normal_sha = r.pr("p-normal")
    urgent, urgent_sha = r.pr("p-urgent", labels=("auto-merge", "merge-priority"))
    r.merge_check(urgent_sha)
    r.sb.push(r.name, "main", {"other.txt": "moved\n"}, "direct push", as_user="acme")
    harness.wait_for(lambda: r.head(urgent) != urgent_sha, what="priority PR updated first")
    r.settle()
    assert r.head(normal) == normal_sha
