"""The merge decision: properties over generated snapshots, and the cases people rely on."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.merge.decide import decide, gate_state, gate_states, latest_runs, required_gates, review_tally
from trunkline.merge.model import (
    MERGE_CHECK_NAME,
    CheckRunInfo,
    Policy,
    ProtectionInfo,
    ReviewInfo,
    Snapshot,
    StatusInfo,
)

HEAD = "a" * 40
OLD = "b" * 40
NAMES = ["ci", "lint", "e2e", "trunkline/config", MERGE_CHECK_NAME]
CONCLUSIONS = ["success", "failure", "neutral", "skipped", "cancelled", "timed_out", "action_required", None]


def snap(**kw) -> Snapshot:
    base = dict(number=7, state="open", merged=False, draft=False, head_sha=HEAD, head_ref="feature",
                base_ref="main", base_sha="c" * 40, author="dev", labels=("auto-merge",), requested="label",
                mergeable=True, mergeable_state="clean",
                protection=ProtectionInfo(exists=True, required_checks=("ci",), strict=True),
                check_runs=(CheckRunInfo("ci", "completed", "success", 10),))
    base.update(kw)
    return Snapshot(**base)


runs = st.builds(CheckRunInfo, name=st.sampled_from(NAMES),
                 status=st.sampled_from(["completed", "completed", "in_progress", "queued"]),
                 conclusion=st.sampled_from(CONCLUSIONS), order=st.integers(1, 1000))
statuses = st.builds(StatusInfo, context=st.sampled_from(NAMES),
                     state=st.sampled_from(["success", "pending", "failure", "error"]))
reviews = st.builds(ReviewInfo, user=st.sampled_from(["rev", "rev2", "Rev", "dev"]),
                    state=st.sampled_from(["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]),
                    commit_id=st.sampled_from([HEAD, OLD, None]), order=st.integers(1, 100), counts=st.booleans())
protections = st.one_of(
    st.just(ProtectionInfo.none()), st.just(ProtectionInfo.unreadable()),
    st.builds(ProtectionInfo, exists=st.just(True),
              required_checks=st.lists(st.sampled_from(NAMES), max_size=3).map(tuple),
              strict=st.booleans(), required_approvals=st.integers(0, 2), dismiss_stale_reviews=st.booleans()))
policies = st.builds(Policy, required_checks=st.lists(st.sampled_from(NAMES), max_size=3).map(tuple),
                     required_approvals=st.integers(0, 2), require_up_to_date=st.booleans(),
                     approvals_on_head=st.booleans())
random_snapshots = st.builds(
    Snapshot, number=st.just(7), state=st.sampled_from(["open", "open", "closed"]), merged=st.booleans(),
    draft=st.booleans(), head_sha=st.sampled_from([HEAD, "d" * 40]), head_ref=st.sampled_from(["feature", "agent/x"]),
    base_ref=st.just("main"), base_sha=st.just("c" * 40), author=st.just("dev"),
    labels=st.lists(st.sampled_from(["auto-merge", "hold", "do-not-merge", "merge-priority", "bug"]),
                    max_size=3, unique=True).map(tuple),
    fork=st.booleans(), maintainer_can_modify=st.booleans(), mergeable=st.sampled_from([True, False, None]),
    mergeable_state=st.sampled_from(["clean", "behind", "blocked", "dirty", "unstable", "unknown", "draft", None]),
    behind_by=st.sampled_from([None, 0, 0, 3]), check_runs=st.lists(runs, max_size=6).map(tuple),
    statuses=st.lists(statuses, max_size=3, unique_by=lambda s: s.context).map(tuple),
    reviews=st.lists(reviews, max_size=4).map(tuple), protection=protections,
    requested=st.sampled_from(["label", "command", "rule", None]))

# Mostly-green snapshots (every name has a passing run, approvals on the head, nothing held), perturbed
# by a few random runs/statuses/labels: so that merges, updates and near-misses are common too.
green_runs = st.tuples(*[st.builds(CheckRunInfo, name=st.just(n), status=st.just("completed"),
                                   conclusion=st.sampled_from(["success", "neutral", "skipped"]),
                                   order=st.integers(1, 500)) for n in NAMES])
green_snapshots = st.builds(
    Snapshot, number=st.just(7), state=st.just("open"), merged=st.just(False), draft=st.just(False),
    head_sha=st.just(HEAD), head_ref=st.just("feature"), base_ref=st.just("main"), base_sha=st.just("c" * 40),
    author=st.just("dev"), labels=st.lists(st.sampled_from(["auto-merge", "merge-priority", "bug", "hold"]),
                                           max_size=2, unique=True).map(tuple),
    fork=st.booleans(), maintainer_can_modify=st.booleans(), mergeable=st.sampled_from([True, True, None]),
    mergeable_state=st.sampled_from(["clean", "behind", "blocked", "unstable", "unknown"]),
    behind_by=st.sampled_from([None, 0, 0, 2]),
    check_runs=st.tuples(green_runs, st.lists(runs, max_size=2)).map(lambda t: (*t[0], *t[1])),
    statuses=st.lists(statuses, max_size=1).map(tuple),
    reviews=st.lists(st.builds(ReviewInfo, user=st.sampled_from(["rev", "rev2"]), state=st.just("APPROVED"),
                               commit_id=st.just(HEAD), order=st.integers(1, 50)), max_size=2).map(tuple),
    protection=protections, requested=st.sampled_from(["label", "command", "rule"]))
snapshots = st.one_of(random_snapshots, green_snapshots)


@settings(max_examples=150)
@given(snapshots, policies)
def test_merge_only_when_every_required_gate_passed_on_the_head(s: Snapshot, p: Policy) -> None:
    d = decide(s, p)
    assert d.sha == s.head_sha
    if d.action == "merge":
        states = gate_states(s, p)
        assert all(state == "success" for state in states.values())
        assert s.state == "open" and not s.merged and not s.draft and s.requested
        assert not set(s.labels) & set(p.hold_labels)
        assert s.mergeable is not False and s.mergeable_state != "dirty"
        assert d.reasons == ()
        assert all(c.met for c in d.conditions)


@settings(max_examples=150)
@given(snapshots, policies)
def test_every_unmet_condition_explains_a_non_merge(s: Snapshot, p: Policy) -> None:
    d = decide(s, p)
    unmet = [c for c in d.conditions if not c.met]
    assert (d.action == "merge") == (not unmet)
    assert set(d.reasons) <= set(unmet)
    if d.action == "block":
        assert d.reasons and all(c.effect == "block" for c in d.reasons)
    if d.action == "update":
        assert any(c.effect == "update" for c in d.reasons)
        assert not (s.fork and not s.maintainer_can_modify), "a fork that forbids edits is never updated"
    names = [c.name for c in d.conditions]
    assert f"check `{MERGE_CHECK_NAME}`" not in names, "trunkline/merge never gates its own decision"


@settings(max_examples=150)
@given(snapshots, policies, st.sampled_from(NAMES[:-1]), st.sampled_from(["failure", "cancelled", "timed_out"]),
       st.integers(1001, 2000))
def test_adding_a_failing_required_check_never_allows_a_merge(s: Snapshot, p: Policy, name: str, conclusion: str,
                                                              order: int) -> None:
    p = replace(p, required_checks=(*p.required_checks, name))
    before = decide(s, p)
    after = decide(replace(s, check_runs=(*s.check_runs, CheckRunInfo(name, "completed", conclusion, order))), p)
    assert after.action == "block"
    if before.action in ("block", "wait"):
        assert after.action != "merge"


@settings(max_examples=200)
@given(snapshots, policies)
def test_a_draft_or_a_hold_label_always_blocks(s: Snapshot, p: Policy) -> None:
    assert decide(replace(s, draft=True), p).action == "block"
    assert decide(replace(s, labels=(*s.labels, "hold")), p).action == "block"


def test_happy_path_merges_with_the_head_sha() -> None:
    d = decide(snap(), Policy())
    assert d.action == "merge" and d.sha == HEAD


def test_missing_and_running_gates_wait_failing_blocks() -> None:
    assert decide(snap(check_runs=()), Policy()).action == "wait"
    assert decide(snap(check_runs=(CheckRunInfo("ci", "in_progress", None, 3),)), Policy()).action == "wait"
    blocked = decide(snap(check_runs=(CheckRunInfo("ci", "completed", "failure", 3),)), Policy())
    assert blocked.action == "block" and blocked.reasons[0].name == "check `ci`"
    # the newest run of a name counts: a re-run that passed replaces the failure
    rerun = (CheckRunInfo("ci", "completed", "failure", 3), CheckRunInfo("ci", "completed", "success", 9))
    assert decide(snap(check_runs=rerun), Policy()).action == "merge"


def test_config_and_protection_gates_are_united_and_trunkline_merge_is_excluded() -> None:
    s = snap(protection=ProtectionInfo(exists=True, required_checks=("ci", MERGE_CHECK_NAME), strict=True))
    p = Policy(required_checks=("lint", "ci"))
    assert required_gates(s, p) == ("ci", "lint")
    d = decide(s, p)
    assert d.action == "wait" and [c.name for c in d.reasons] == ["check `lint`"]


def test_check_run_and_status_with_one_name_must_both_pass() -> None:
    run = {"ci": CheckRunInfo("ci", "completed", "success", 1)}
    assert gate_state("ci", run, {"ci": StatusInfo("ci", "failure")}) == "failure"
    assert gate_state("ci", run, {"ci": StatusInfo("ci", "pending")}) == "pending"
    assert gate_state("ci", {}, {"ci": StatusInfo("ci", "success")}) == "success"
    assert gate_state("ci", {}, {}) == "missing"
    assert latest_runs([CheckRunInfo("ci", "completed", "failure", 5), CheckRunInfo("ci", "queued", None, 2)])[
        "ci"].conclusion == "failure"


def test_behind_with_strict_updates_unless_a_fork_forbids_it() -> None:
    behind = snap(mergeable_state="behind")
    assert decide(behind, Policy()).action == "update"
    # even while gates still run on the old head: they must run again on the updated one anyway
    running = replace(behind, check_runs=(CheckRunInfo("ci", "in_progress", None, 3),))
    assert decide(running, Policy()).action == "update"
    fork = replace(behind, fork=True, maintainer_can_modify=False)
    d = decide(fork, Policy())
    assert d.action == "block" and "does not allow edits by maintainers" in d.reasons[0].detail
    assert decide(replace(fork, maintainer_can_modify=True), Policy()).action == "update"
    # not strict anywhere: behind does not matter
    loose = replace(behind, protection=ProtectionInfo(exists=True, required_checks=("ci",), strict=False))
    assert decide(loose, Policy(require_up_to_date=False)).action == "merge"


def test_up_to_date_unknown_waits_for_a_compare() -> None:
    s = snap(protection=ProtectionInfo(exists=True, required_checks=("ci",), strict=False), behind_by=None)
    d = decide(s, Policy(require_up_to_date=True))
    assert d.action == "wait" and d.reasons[0].name == "up to date with base"
    assert decide(replace(s, behind_by=0), Policy()).action == "merge"
    assert decide(replace(s, behind_by=2), Policy()).action == "update"


def test_approvals_count_on_the_current_head_and_only_writers() -> None:
    p = Policy(required_approvals=1)
    stale = (ReviewInfo("rev", "APPROVED", OLD, 1),)
    assert decide(snap(reviews=stale), p).action == "wait"
    assert decide(snap(reviews=stale), replace(p, approvals_on_head=False)).action == "merge"
    assert decide(snap(reviews=(ReviewInfo("rev", "APPROVED", HEAD, 1),)), p).action == "merge"
    assert decide(snap(reviews=(ReviewInfo("drive-by", "APPROVED", HEAD, 1, counts=False),)), p).action == "wait"
    # a later change request by the same reviewer replaces the approval and blocks
    changed = (ReviewInfo("rev", "APPROVED", HEAD, 1), ReviewInfo("rev", "CHANGES_REQUESTED", HEAD, 2))
    assert decide(snap(reviews=changed), p).action == "block"
    assert review_tally(changed, HEAD, on_head_only=True) == ([], ["rev"])


def test_not_requested_never_acts_and_closed_or_merged_blocks() -> None:
    assert decide(snap(requested=None), Policy()).action == "wait"
    assert decide(snap(requested=None, mergeable_state="behind"), Policy()).action == "wait"
    assert decide(snap(state="closed"), Policy()).action == "block"
    assert decide(snap(merged=True), Policy()).reasons[0].detail == "already merged"


def test_unknown_mergeability_does_not_wait_forever_but_conflicts_block() -> None:
    assert decide(snap(mergeable=None, mergeable_state="unknown", behind_by=0), Policy()).action == "merge"
    assert decide(snap(mergeable=False, mergeable_state="dirty"), Policy()).action == "block"


def test_protection_not_readable_is_said() -> None:
    d = decide(snap(protection=ProtectionInfo.unreadable(), behind_by=0), Policy(required_checks=("ci",)))
    assert d.action == "merge"
    row = next(c for c in d.conditions if c.name == "branch protection")
    assert "403" in row.detail


def test_generated_snapshots_reach_every_action() -> None:
    """The properties above are only worth something if the generator reaches every outcome."""
    from hypothesis import Phase, find

    for action in ("merge", "update", "wait", "block"):
        s, p = find(st.tuples(snapshots, policies), lambda sp, a=action: decide(*sp).action == a,
                    settings=settings(max_examples=3000, database=None, phases=[Phase.generate]))
        assert decide(s, p).action == action
