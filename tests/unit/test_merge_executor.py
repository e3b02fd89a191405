"""The merge executor's failure handling, against an in-memory GitHub that can fail *after* merging.

The sandbox's fault injection answers before its handler runs, so it cannot play "GitHub merged, then
the answer was lost". This fake can: it is a tiny stateful model of the few REST routes the engine
uses, behind the same two client surfaces (``request_json`` for reads and check runs, a PyGithub-like
``github.requester.requestJsonAndCheck`` for the guarded writes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from github.GithubException import GithubException

from trunkline.config.model import TrunklineConfig
from trunkline.merge import cache
from trunkline.merge.service import MergeEngine, MergeError
from trunkline.store.base import Store

HEAD = "a" * 40
OWNER, REPO = "acme", "w"


class FakeGitHub:
    """One open pull request #1 (head HEAD, required check ``ci`` passed), protection: ``ci``, strict."""

    def __init__(self, merge_script: list[str]) -> None:
        self.merge_script = list(merge_script)  # per PUT merge: "ok", "502", "merge-then-502"
        self.merged = False
        self.merges_applied = 0
        self.calls: list[tuple[str, str]] = []
        self.check_runs: list[dict[str, Any]] = [
            {"id": 10, "name": "ci", "head_sha": HEAD, "status": "completed", "conclusion": "success", "app": {"id": 7}}]
        self.github = self  # PyGithub-like: .github.requester.requestJsonAndCheck
        self.requester = self
        self.app = None

    def pull(self) -> dict[str, Any]:
        return {"number": 1, "state": "closed" if self.merged else "open", "merged": self.merged, "draft": False,
                "merge_commit_sha": "m" * 40 if self.merged else None, "user": {"login": "dev"},
                "labels": [{"name": "auto-merge"}], "mergeable": True, "mergeable_state": "clean",
                "maintainer_can_modify": False,
                "head": {"sha": HEAD, "ref": "feature", "repo": {"id": 1}},
                "base": {"sha": "b" * 40, "ref": "main", "repo": {"id": 1, "default_branch": "main"}}}

    # reads (InstallationClient.request_json)
    def request_json(self, verb: str, url: str, *, parameters: Any = None, input: Any = None,
                     headers: Any = None) -> tuple[dict[str, str], Any]:
        self.calls.append((verb, url))
        if verb == "GET" and url.endswith("/pulls/1"):
            return {}, self.pull()
        if verb == "GET" and url.endswith("/check-runs"):
            return {}, {"total_count": len(self.check_runs), "check_runs": self.check_runs}
        if verb == "GET" and url.endswith("/status"):
            return {}, {"state": "success", "statuses": []}
        if verb == "GET" and url.endswith("/protection"):
            return {}, {"required_status_checks": {"strict": True, "contexts": ["ci"]}}
        if verb == "GET" and url.endswith("/pulls"):
            return {}, []
        if verb in ("POST", "PATCH") and "/check-runs" in url:
            return {}, {"id": 99}
        raise AssertionError(f"unexpected {verb} {url}")

    # guarded writes (PyGithub requester)
    def requestJsonAndCheck(self, verb: str, url: str, input: Any = None, **_: Any) -> tuple[dict, Any]:  # noqa: N802
        self.calls.append((verb, url))
        if verb == "PUT" and url.endswith("/merge"):
            assert input["sha"] == HEAD
            step = self.merge_script.pop(0)
            if self.merged:
                raise GithubException(405, {"message": "Pull Request is not mergeable"}, {})
            if step in ("ok", "merge-then-502"):
                self.merged, self.merges_applied = True, self.merges_applied + 1
            if step == "ok":
                return {}, {"sha": "m" * 40, "merged": True}
            raise GithubException(502, {"message": "Server Error"}, {})
        if verb == "DELETE":
            return {}, None
        raise AssertionError(f"unexpected {verb} {url}")


@pytest.fixture
def store(tmp_path: Path):
    s = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    s.create_all()
    cache.clear_all()
    yield s
    cache.clear_all()
    s.dispose()


def _engine(gh: FakeGitHub, store: Store) -> MergeEngine:
    return MergeEngine(gh, store, OWNER, REPO, config=TrunklineConfig(), sleep=lambda _s: None)


def test_merged_but_answer_lost_is_recognised_without_a_second_merge(store: Store) -> None:
    gh = FakeGitHub(["merge-then-502"])
    result = _engine(gh, store).evaluate(1)
    assert result.outcome == "merged" and result.merge_sha == "m" * 40
    assert gh.merges_applied == 1
    puts = [c for c in gh.calls if c[0] == "PUT"]
    assert len(puts) == 1, "GitHub had merged: no second merge request"
    after_put = gh.calls[gh.calls.index(puts[0]) + 1]
    assert after_put == ("GET", f"/repos/{OWNER}/{REPO}/pulls/1"), "looked before doing anything else"


def test_5xx_without_a_merge_is_retried_after_looking(store: Store) -> None:
    gh = FakeGitHub(["502", "502", "ok"])
    result = _engine(gh, store).evaluate(1)
    assert result.outcome == "merged" and gh.merges_applied == 1
    verbs = [c for c in gh.calls if c[0] == "PUT" or c == ("GET", f"/repos/{OWNER}/{REPO}/pulls/1")]
    # fresh GET, then PUT → 502 → GET (not merged) → PUT → 502 → GET → PUT ok
    assert [v for v, _ in verbs] == ["GET", "PUT", "GET", "PUT", "GET", "PUT"]


def test_persistent_5xx_gives_up_for_a_later_retry_and_never_claims_a_merge(store: Store) -> None:
    gh = FakeGitHub(["502", "502", "502"])
    with pytest.raises(MergeError, match="502"):
        _engine(gh, store).evaluate(1)
    assert not gh.merged
    # the queue lock was released: a retry of the delivery can run
    assert _engine(FakeGitHub(["ok"]), store).evaluate(1).outcome == "merged"
