"""The merge decision: a pure function from a fresh snapshot and the policy to merge/update/wait/block.

:func:`decide` lists every condition (each one becomes a row of the ``trunkline/merge`` check run)
and derives the action from the unmet ones, in this precedence:

1. **block** — something a person must change: the pull request is closed or merged, a draft, has a
   hold label, a required gate failed, conflicts with its base, someone requested changes, or it is
   behind a strict base but cannot be updated (a fork that does not allow maintainer edits);
2. **wait** — not requested, or approvals missing (people, not machines, must act next);
3. **update** — behind the base while up-to-date branches are required: update the branch (the
   gates then run again on the new head), even if gates are still running on the old head;
4. **wait** — required gates missing or still running on the head SHA;
5. **merge** — everything holds; merge with ``sha`` = :attr:`Decision.sha` (the snapshot's head).

Required gates are ``merge.required_checks`` ∪ the branch protection's required checks, minus our
own ``trunkline/merge`` (it reports this decision; requiring it would deadlock). A gate's state comes
from the newest check run with that name **on the head SHA** and the newest commit status with that
context; when both exist both must pass (GitHub's rule for required checks). Missing or running →
wait; failed (any conclusion other than success/neutral/skipped, status failure/error) → block.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import (
    MERGE_CHECK_NAME,
    CheckRunInfo,
    Condition,
    Decision,
    GateState,
    Policy,
    ReviewInfo,
    Snapshot,
    StatusInfo,
)

# mergeable_state values GitHub reports only after it has checked "behind" (strict protection):
# GitHub's precedence is draft > dirty > behind > blocked > unstable > clean, so these imply "not behind".
UP_TO_DATE_STATES = frozenset({"clean", "unstable", "blocked", "has_hooks"})


def required_gates(snapshot: Snapshot, policy: Policy) -> tuple[str, ...]:
    """Branch protection's required checks, then the config's, without duplicates or our own check."""
    names = [*snapshot.protection.required_checks, *policy.required_checks]
    return tuple(n for n in dict.fromkeys(names) if n != MERGE_CHECK_NAME)


def latest_runs(runs: Iterable[CheckRunInfo]) -> dict[str, CheckRunInfo]:
    latest: dict[str, CheckRunInfo] = {}
    for run in runs:
        seen = latest.get(run.name)
        if seen is None or run.order > seen.order:
            latest[run.name] = run
    return latest


def gate_state(name: str, runs: dict[str, CheckRunInfo], statuses: dict[str, StatusInfo]) -> GateState:
    """State of one required gate from the newest check run and commit status with that name."""
    states = []
    if name in runs:
        states.append(runs[name].state)
    if name in statuses:
        states.append(statuses[name].gate_state)
    if not states:
        return "missing"
    for worst in ("failure", "pending"):
        if worst in states:
            return worst  # type: ignore[return-value]
    return "success"


def gate_states(snapshot: Snapshot, policy: Policy) -> dict[str, GateState]:
    runs = latest_runs(snapshot.check_runs)
    statuses = {s.context: s for s in snapshot.statuses}
    return {name: gate_state(name, runs, statuses) for name in required_gates(snapshot, policy)}


def needed_approvals(snapshot: Snapshot, policy: Policy) -> int:
    # Both requirements count the same reviews, so meeting the larger one meets both.
    return max(policy.required_approvals, snapshot.protection.required_approvals)


def count_on_head_only(snapshot: Snapshot, policy: Policy) -> bool:
    return policy.approvals_on_head or snapshot.protection.dismiss_stale_reviews


def review_tally(reviews: Iterable[ReviewInfo], head_sha: str, *, on_head_only: bool) -> tuple[list[str], list[str]]:
    """(approvers, reviewers requesting changes) from each counted reviewer's latest decisive review."""
    decisive: dict[str, ReviewInfo] = {}
    for review in sorted(reviews, key=lambda r: r.order):
        if review.counts and review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            decisive[review.user.lower()] = review
    approvers = sorted(r.user for r in decisive.values()
                       if r.state == "APPROVED" and (not on_head_only or r.commit_id == head_sha))
    changes = sorted(r.user for r in decisive.values() if r.state == "CHANGES_REQUESTED")
    return approvers, changes


def strict(snapshot: Snapshot, policy: Policy) -> bool:
    return policy.require_up_to_date or snapshot.protection.strict


def behind(snapshot: Snapshot) -> bool | None:
    """Whether the head lacks commits of the base: True/False, or None when not known."""
    if snapshot.mergeable_state == "behind" or (snapshot.behind_by or 0) > 0:
        return True
    if snapshot.behind_by == 0:
        return False
    if snapshot.protection.strict and snapshot.mergeable_state in UP_TO_DATE_STATES:
        return False
    return None


def _short(sha: str | None) -> str:
    return (sha or "?")[:7]


def conditions(snapshot: Snapshot, policy: Policy) -> list[Condition]:
    """Every condition for merging this pull request, met or not (the check run's table rows)."""
    s = snapshot
    out: list[Condition] = []
    if s.merged:
        out.append(Condition("pull request open", False, "already merged", "block"))
    elif s.state != "open":
        out.append(Condition("pull request open", False, "closed", "block"))
    else:
        out.append(Condition("pull request open", True, "open"))
    how = {"label": f"label `{policy.label}`", "command": "`/merge`", "rule": "a `merge.rules` entry"}
    if s.requested:
        out.append(Condition("merge requested", True, f"by {how.get(s.requested, s.requested)}"))
    else:
        out.append(Condition("merge requested", False,
                             f"add the `{policy.label}` label or comment `/merge`", "wait"))
    out.append(Condition("not a draft", not s.draft, "draft: mark it ready for review" if s.draft else "ready",
                         "block"))
    holds = [label for label in s.labels if label in policy.hold_labels]
    out.append(Condition("no hold label", not holds,
                         ", ".join(f"`{h}`" for h in holds) if holds else "none", "block"))

    states = gate_states(s, policy)
    if not states:
        out.append(Condition("required checks", True, "none required (config or branch protection)"))
    if s.statuses_skipped:
        out.append(Condition("commit statuses", True, "none pending or failing (GitHub reports the pull "
                                                      "request `clean`)"))
    for name, state in states.items():
        detail = {"success": "passed", "pending": "running", "missing": "not reported yet",
                  "failure": "failed"}[state]
        out.append(Condition(f"check `{name}`", state == "success", f"{detail} on {_short(s.head_sha)}",
                             "block" if state == "failure" else "wait"))

    approvers, changes = review_tally(s.reviews, s.head_sha, on_head_only=count_on_head_only(s, policy))
    needed = needed_approvals(s, policy)
    if needed:
        where = f" on {_short(s.head_sha)}" if count_on_head_only(s, policy) else ""
        who = f" ({', '.join('@' + a for a in approvers)})" if approvers else ""
        out.append(Condition("approvals", len(approvers) >= needed,
                             f"{len(approvers)} of {needed}{where}{who}", "wait"))
    out.append(Condition("no changes requested", not changes,
                         ", ".join(f"@{c}" for c in changes) + " requested changes" if changes else "none",
                         "block"))

    if s.mergeable is False or s.mergeable_state == "dirty":
        out.append(Condition("no conflicts", False, "conflicts with the base branch: resolve them", "block"))
    elif s.mergeable is None:
        out.append(Condition("no conflicts", True, "not computed yet (GitHub checks at merge time)"))
    else:
        out.append(Condition("no conflicts", True, "mergeable"))

    if strict(s, policy):
        is_behind = behind(s)
        if is_behind and s.fork and not s.maintainer_can_modify:
            out.append(Condition("up to date with base", False,
                                 f"behind `{s.base_ref}`, and this fork does not allow edits by maintainers: "
                                 "Trunkline cannot update it; merge or rebase the base branch yourself", "block"))
        elif is_behind:
            count = f"{s.behind_by} commit(s) " if s.behind_by else ""
            out.append(Condition("up to date with base", False,
                                 f"{count}behind `{s.base_ref}`: the branch gets updated", "update"))
        elif is_behind is None:
            out.append(Condition("up to date with base", False, f"not known yet against `{s.base_ref}`", "wait"))
        else:
            out.append(Condition("up to date with base", True, f"contains `{s.base_ref}`"))

    protection = s.protection
    if not protection.readable:
        out.append(Condition("branch protection", True, "not readable by the App (403): only the config's "
                             "gates are known; GitHub still enforces protection when merging"))
    elif not protection.exists:
        out.append(Condition("branch protection", True, f"`{s.base_ref}` is not protected (404)"))
    return out


def decide(snapshot: Snapshot, policy: Policy) -> Decision:
    """The action for ``snapshot`` under ``policy`` (see the module docstring for the precedence)."""
    rows = tuple(conditions(snapshot, policy))
    unmet = [c for c in rows if not c.met]
    blockers = [c for c in unmet if c.effect == "block"]
    gate_waits = [c for c in unmet if c.effect == "wait" and c.name.startswith("check ")]
    people_waits = [c for c in unmet if c.effect == "wait" and not c.name.startswith("check ")]
    updates = [c for c in unmet if c.effect == "update"]
    if blockers:
        action, reasons = "block", blockers
    elif people_waits:
        action, reasons = "wait", people_waits + gate_waits
    elif updates:
        action, reasons = "update", updates + gate_waits
    elif gate_waits:
        action, reasons = "wait", gate_waits
    else:
        action, reasons = "merge", []
    return Decision(action=action, sha=snapshot.head_sha, conditions=rows, reasons=tuple(reasons))  # type: ignore[arg-type]
