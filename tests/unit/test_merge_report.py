"""The trunkline/merge check run's content, and the small pure helpers around the merge service."""

from __future__ import annotations

from types import SimpleNamespace

from trunkline.config.model import MergeRule
from trunkline.merge.decide import decide
from trunkline.merge.execute import branch_in_use
from trunkline.merge.fetch import is_fork, protection_from_json, pull_facts, reviews_from_json
from trunkline.merge.model import CheckRunInfo, Policy, ProtectionInfo, Snapshot
from trunkline.merge.report import merge_check_spec, standing_for
from trunkline.merge.service import requested_source, rule_matches

HEAD = "f" * 40


def _snap(**kw) -> Snapshot:
    base = dict(number=3, state="open", merged=False, draft=False, head_sha=HEAD, head_ref="agent/fix", base_ref="main",
                base_sha="e" * 40, author="bot[bot]", labels=("auto-merge",), requested="label", mergeable=True,
                mergeable_state="clean", protection=ProtectionInfo(exists=True, required_checks=("ci",), strict=True))
    base.update(kw)
    return Snapshot(**base)


def test_check_run_shows_every_condition_and_maps_standings_to_conclusions() -> None:
    waiting = decide(_snap(), Policy())
    spec = merge_check_spec(waiting, standing_for(waiting))
    assert spec.name == "trunkline/merge" and spec.head_sha == HEAD
    assert spec.conclusion == "neutral" and spec.status == "completed"
    assert spec.title == "Waiting: check `ci`"
    assert "| ⏳ | check `ci` | not reported yet on fffffff |" in spec.summary
    assert "| ✅ | not a draft | ready |" in spec.summary

    blocked = decide(_snap(draft=True, labels=("auto-merge", "hold")), Policy())
    spec = merge_check_spec(blocked, standing_for(blocked))
    assert spec.conclusion == "failure" and spec.title == "Blocked: not a draft"
    assert "| ❌ | no hold label | `hold` |" in spec.summary

    ready = decide(_snap(check_runs=(CheckRunInfo("ci", "completed", "success", 1),)), Policy())
    queued = standing_for(ready, turn_blocker=12, position=2)
    assert queued.kind == "waiting" and queued.title == "Queued behind #12 (position 2)"
    behind = decide(_snap(mergeable_state="behind"), Policy())
    assert standing_for(behind).kind == "updating"
    assert merge_check_spec(behind, standing_for(behind)).summary.count("| 🔄 | up to date with base |") == 1
    # a pipe in a detail cannot break the table
    assert "\\|" in merge_check_spec(decide(_snap(labels=("auto-merge", "a|b")), Policy(hold_labels=("a|b",))),
                                     standing_for(decide(_snap(), Policy()))).summary


def test_rules_match_on_all_given_criteria() -> None:
    rules = [MergeRule(authors=["bot[bot]"], head_prefix="agent/"), MergeRule(head_prefix="deps/")]
    assert rule_matches(rules, "bot[bot]", "agent/fix")
    assert rule_matches(rules, "BOT[bot]", "agent/fix"), "logins are case-insensitive"
    assert not rule_matches(rules, "bot[bot]", "feature")
    assert not rule_matches(rules, "dev", "agent/fix")
    assert rule_matches(rules, "anyone", "deps/bump")
    assert not rule_matches([SimpleNamespace(authors=[], head_prefix=None)], "dev", "x"), "an empty rule never matches"


def test_requested_source_label_command_rule_and_cancel() -> None:
    policy = Policy()
    rules = [MergeRule(head_prefix="agent/")]
    row = lambda state, source: SimpleNamespace(state=state, source=source)  # noqa: E731
    assert requested_source(_snap(), None, policy, ()) == "label"
    assert requested_source(_snap(labels=()), row("queued", "command"), policy, ()) == "command"
    assert requested_source(_snap(labels=()), row("queued", "label"), policy, ()) is None, "label removed"
    assert requested_source(_snap(labels=()), None, policy, rules) == "rule"
    assert requested_source(_snap(labels=()), row("cancelled", "rule"), policy, rules) is None
    assert requested_source(_snap(), row("cancelled", "command"), policy, rules) == "label"


def test_branch_in_use_as_head_or_base_of_another_open_pull_request() -> None:
    pulls = [{"number": 1, "head": {"ref": "feat", "repo": {"id": 5}}, "base": {"ref": "main"}},
             {"number": 2, "head": {"ref": "feat", "repo": {"id": 99}}, "base": {"ref": "main"}},
             {"number": 3, "head": {"ref": "stack", "repo": {"id": 5}}, "base": {"ref": "feat"}}]
    assert branch_in_use(pulls[:2], repo_id=5, branch="feat", number=1) is None, "a fork's same-named branch"
    assert branch_in_use(pulls, repo_id=5, branch="feat", number=1) == 3
    assert branch_in_use(pulls + [{"number": 4, "head": {"ref": "feat", "repo": {"id": 5}}, "base": {"ref": "x"}}],
                         repo_id=5, branch="feat", number=1) == 3


def test_json_to_plain_facts() -> None:
    pr = {"number": 9, "state": "open", "draft": True, "merged": False, "user": {"login": "dev"},
          "labels": [{"name": "auto-merge"}], "mergeable": None, "mergeable_state": "unknown",
          "maintainer_can_modify": True,
          "head": {"sha": HEAD, "ref": "f", "repo": {"id": 2}}, "base": {"sha": "e" * 40, "ref": "main", "repo": {"id": 1}}}
    facts = pull_facts(pr, "label")
    assert facts.fork and facts.draft and facts.labels == ("auto-merge",) and facts.mergeable is None
    assert is_fork({"head": {"repo": None}, "base": {"repo": {"id": 1}}}), "a deleted fork is a fork"
    prot = protection_from_json({"required_status_checks": {"strict": True, "contexts": ["ci"],
                                                            "checks": [{"context": "lint", "app_id": None}]},
                                 "required_pull_request_reviews": {"required_approving_review_count": 2}})
    assert prot.required_checks == ("ci", "lint") and prot.strict and prot.required_approvals == 2
    [review] = reviews_from_json([{"id": 4, "user": {"login": "x"}, "state": "approved", "commit_id": HEAD,
                                   "author_association": "NONE"}])
    assert review.state == "APPROVED" and not review.counts
