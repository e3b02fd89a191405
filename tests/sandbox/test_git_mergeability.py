"""The pure mergeability rules: precedence of mergeable_state, check/review folding, 405 messages."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.sandbox.mergeability import (
    BEHIND_MESSAGE,
    CHANGES_MESSAGE,
    DIRTY_MESSAGE,
    DRAFT_MESSAGE,
    CheckReport,
    GitFacts,
    ReviewFact,
    Rules,
    approvals,
    check_run_state,
    evaluate,
    latest_per_context,
    status_state,
)

CONTEXTS = ["ci", "lint", "deploy"]
HEAD = "h" * 40

reports_st = st.lists(
    st.builds(CheckReport, context=st.sampled_from(CONTEXTS), state=st.sampled_from(["success", "failure", "pending"]),
              order=st.integers(0, 10_000)),
    max_size=8, unique_by=lambda r: r.order)
reviews_st = st.lists(
    st.builds(ReviewFact, user=st.sampled_from(["ann", "bob", "cy"]),
              state=st.sampled_from(["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]),
              commit_id=st.sampled_from([HEAD, "o" * 40]), order=st.integers(0, 10_000), can_write=st.booleans()),
    max_size=6, unique_by=lambda r: r.order)
rules_st = st.one_of(st.none(), st.builds(
    Rules, required_contexts=st.lists(st.sampled_from(CONTEXTS), max_size=2, unique=True).map(tuple),
    strict=st.booleans(), required_approvals=st.integers(0, 2), dismiss_stale_reviews=st.booleans()))
git_st = st.builds(GitFacts, conflicts=st.one_of(st.none(), st.booleans()), ahead_by=st.integers(0, 3),
                   behind_by=st.integers(0, 3))


@settings(max_examples=300)
@given(git=git_st, draft=st.booleans(), rules=rules_st, checks=reports_st, reviews=reviews_st)
def test_state_follows_documented_precedence(git, draft, rules, checks, reviews) -> None:
    v = evaluate(git, draft=draft, rules=rules, checks=checks, reviews=reviews, head_sha=HEAD)
    r = rules or Rules()
    states = latest_per_context(checks)
    required_ok = all(states.get(c) == "success" for c in r.required_contexts)
    approved, changes = approvals(reviews, HEAD, dismiss_stale=r.dismiss_stale_reviews)
    blocked = (not required_ok or approved < r.required_approvals
               or (r.required_approvals > 0 and bool(changes)))
    if git.conflicts is None:
        assert (v.mergeable, v.mergeable_state) == (None, "unknown")
    elif draft:
        assert v.mergeable_state == "draft"
    elif git.conflicts:
        assert v.mergeable_state == "dirty"
    elif r.strict and git.behind_by > 0:
        assert v.mergeable_state == "behind"
    elif blocked:
        assert v.mergeable_state == "blocked"
    elif any(s != "success" for c, s in states.items() if c not in r.required_contexts):
        assert v.mergeable_state == "unstable"
    else:
        assert v.mergeable_state == "clean"
    if git.conflicts is not None:
        assert v.mergeable is (not git.conflicts)  # mergeable is about conflicts only
    # A merge is allowed exactly in the clean and unstable states.
    assert (v.refusal() is None) == (v.mergeable_state in ("clean", "unstable"))
    # Protection never blocks an admin bypass on its own; conflicts and drafts still do.
    if git.conflicts is False and not draft:
        assert v.refusal(bypass_protection=True) is None


@given(checks=reports_st)
def test_latest_report_per_context_wins_regardless_of_order(checks) -> None:
    shuffled = list(checks)
    random.Random(len(checks)).shuffle(shuffled)
    folded = latest_per_context(shuffled)
    for ctx, state in folded.items():
        newest = max((c for c in checks if c.context == ctx), key=lambda c: c.order)
        assert newest.state == state
    assert set(folded) == {c.context for c in checks}


def test_check_run_and_status_states() -> None:
    assert check_run_state("in_progress", None) == "pending"
    assert check_run_state("queued", None) == "pending"
    for ok in ("success", "neutral", "skipped"):
        assert check_run_state("completed", ok) == "success"
    for bad in ("failure", "cancelled", "timed_out", "action_required", "stale", "startup_failure"):
        assert check_run_state("completed", bad) == "failure"
    assert status_state("success") == "success"
    assert status_state("pending") == "pending"
    assert status_state("error") == "failure" and status_state("failure") == "failure"


def test_a_rerun_that_passes_replaces_the_failure() -> None:
    checks = [CheckReport("ci", "failure", 1), CheckReport("ci", "success", 2)]
    v = evaluate(GitFacts(False), draft=False, rules=Rules(required_contexts=("ci",)), checks=checks, reviews=[],
                 head_sha=HEAD)
    assert v.mergeable_state == "clean"


def test_required_check_messages() -> None:
    rules = Rules(required_contexts=("ci",))
    missing = evaluate(GitFacts(False), draft=False, rules=rules, checks=[], reviews=[], head_sha=HEAD)
    assert missing.refusal() == 'Required status check "ci" is expected.'
    failing = evaluate(GitFacts(False), draft=False, rules=rules, checks=[CheckReport("ci", "failure", 1)],
                       reviews=[], head_sha=HEAD)
    assert failing.refusal() == 'Required status check "ci" is failing.'
    pending = evaluate(GitFacts(False), draft=False, rules=rules, checks=[CheckReport("ci", "pending", 1)],
                       reviews=[], head_sha=HEAD)
    assert pending.refusal() == 'Required status check "ci" is in progress.'
    two = evaluate(GitFacts(False), draft=False, rules=Rules(required_contexts=("ci", "lint")), checks=[],
                   reviews=[], head_sha=HEAD)
    assert two.refusal() == "2 of 2 required status checks are expected."
    assert two.mergeable_state == "blocked" and two.mergeable is True


def test_review_rules_and_messages() -> None:
    rules = Rules(required_approvals=1, dismiss_stale_reviews=True)
    none = evaluate(GitFacts(False), draft=False, rules=rules, checks=[], reviews=[], head_sha=HEAD)
    assert none.refusal() == "At least 1 approving review is required by reviewers with write access."
    stale = [ReviewFact("ann", "APPROVED", "o" * 40, 1)]
    assert evaluate(GitFacts(False), draft=False, rules=rules, checks=[], reviews=stale,
                    head_sha=HEAD).mergeable_state == "blocked"
    fresh = [ReviewFact("ann", "APPROVED", HEAD, 1)]
    assert evaluate(GitFacts(False), draft=False, rules=rules, checks=[], reviews=fresh,
                    head_sha=HEAD).mergeable_state == "clean"
    reader = [ReviewFact("ann", "APPROVED", HEAD, 1, can_write=False)]
    assert evaluate(GitFacts(False), draft=False, rules=rules, checks=[], reviews=reader,
                    head_sha=HEAD).mergeable_state == "blocked"
    blocked = [ReviewFact("ann", "APPROVED", HEAD, 1), ReviewFact("bob", "CHANGES_REQUESTED", HEAD, 2)]
    v = evaluate(GitFacts(False), draft=False, rules=rules, checks=[], reviews=blocked, head_sha=HEAD)
    assert v.refusal() == CHANGES_MESSAGE
    # Without required reviews a change request does not block (GitHub only enforces it with reviews required).
    assert evaluate(GitFacts(False), draft=False, rules=None, checks=[], reviews=blocked,
                    head_sha=HEAD).mergeable_state == "clean"
    two = evaluate(GitFacts(False), draft=False, rules=Rules(required_approvals=2), checks=[], reviews=fresh,
                   head_sha=HEAD)
    assert two.refusal() == "At least 2 approving reviews are required by reviewers with write access."
    # A later comment does not undo an approval; a later change request does.
    assert approvals([ReviewFact("ann", "APPROVED", HEAD, 1), ReviewFact("ann", "COMMENTED", HEAD, 2)], HEAD,
                     dismiss_stale=False) == (1, [])
    assert approvals([ReviewFact("ann", "APPROVED", HEAD, 1), ReviewFact("ann", "CHANGES_REQUESTED", HEAD, 2)],
                     HEAD, dismiss_stale=False) == (0, ["ann"])


def test_precedence_messages_order() -> None:
    rules = Rules(required_contexts=("ci",), strict=True, required_approvals=1)
    v = evaluate(GitFacts(True, 1, 1), draft=True, rules=rules, checks=[], reviews=[], head_sha=HEAD)
    assert v.mergeable_state == "draft" and v.mergeable is False
    assert v.blockers[:3] == (DRAFT_MESSAGE, DIRTY_MESSAGE, BEHIND_MESSAGE)
    behind = evaluate(GitFacts(False, 1, 2), draft=False, rules=rules, checks=[], reviews=[], head_sha=HEAD)
    assert behind.mergeable_state == "behind" and behind.refusal() == BEHIND_MESSAGE
    not_strict = evaluate(GitFacts(False, 1, 2), draft=False, rules=Rules(), checks=[], reviews=[], head_sha=HEAD)
    assert not_strict.mergeable_state == "clean"
    unstable = evaluate(GitFacts(False, 1, 0), draft=False, rules=None, checks=[CheckReport("lint", "failure", 3)],
                        reviews=[], head_sha=HEAD)
    assert unstable.mergeable_state == "unstable" and unstable.refusal() is None
