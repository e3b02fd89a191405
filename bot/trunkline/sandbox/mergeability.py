"""Whether a pull request can be merged: pure functions over plain data.

Inputs are facts gathered elsewhere (git: conflicts and ahead/behind counts; the base
branch's protection; check runs and commit statuses on the head sha; reviews; draft).
The output mirrors GitHub's ``mergeable`` / ``mergeable_state`` fields and, for a merge
attempt, the reason GitHub gives in its 405 answer.

``mergeable`` only says whether a merge commit can be created cleanly (no conflicts); it is
``None`` while that is unknown. ``mergeable_state`` (GitHub's MergeStateStatus, lower-case)
is decided by the first rule that applies, in this order:

1. ``unknown``  — the git facts are not known (e.g. the head branch is gone);
2. ``draft``    — the pull request is a draft (overrides everything below);
3. ``dirty``    — merging would conflict;
4. ``behind``   — the head is behind the base and protection requires up-to-date branches;
5. ``blocked``  — a required check is missing, pending or failing, fewer approving reviews
                  than required, or (when reviews are required) someone requested changes;
6. ``unstable`` — mergeable, but a check that is not required is failing or still pending
                  (GitHub: "mergeable with non-passing commit status");
7. ``clean``    — everything passes.

A check context's state is taken from its newest report (highest id) across check runs and
commit statuses with that name on the head sha.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

SUCCESS, FAILURE, PENDING = "success", "failure", "pending"
_PASSING_CONCLUSIONS = {"success", "neutral", "skipped"}


@dataclass(frozen=True)
class GitFacts:
    conflicts: bool | None  # None = unknown
    ahead_by: int = 0
    behind_by: int = 0


@dataclass(frozen=True)
class Rules:
    """The parts of branch protection that gate merging."""

    required_contexts: tuple[str, ...] = ()
    strict: bool = False
    required_approvals: int = 0
    dismiss_stale_reviews: bool = False
    enforce_admins: bool = False


@dataclass(frozen=True)
class CheckReport:
    """One check run or commit status on the head sha (``order``: newer reports are larger)."""

    context: str
    state: str  # success | failure | pending
    order: int


@dataclass(frozen=True)
class ReviewFact:
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    commit_id: str | None
    order: int
    can_write: bool = True


@dataclass(frozen=True)
class Verdict:
    mergeable: bool | None
    mergeable_state: str
    # Why a merge is refused (GitHub's 405 messages), in precedence order; empty = can merge.
    blockers: tuple[str, ...] = field(default_factory=tuple)
    # The subset of blockers an admin may bypass when protection does not enforce admins.
    protection_blockers: tuple[str, ...] = field(default_factory=tuple)

    def refusal(self, *, bypass_protection: bool = False) -> str | None:
        """The 405 message for a merge attempt, or None when the merge may proceed."""
        for reason in self.blockers:
            if bypass_protection and reason in self.protection_blockers:
                continue
            return reason
        return None


def check_run_state(status: str, conclusion: str | None) -> str:
    if status != "completed":
        return PENDING
    return SUCCESS if conclusion in _PASSING_CONCLUSIONS else FAILURE


def status_state(state: str) -> str:
    return {"success": SUCCESS, "pending": PENDING}.get(state, FAILURE)


def latest_per_context(reports: Iterable[CheckReport]) -> dict[str, str]:
    latest: dict[str, CheckReport] = {}
    for report in reports:
        seen = latest.get(report.context)
        if seen is None or report.order > seen.order:
            latest[report.context] = report
    return {ctx: r.state for ctx, r in latest.items()}


def approvals(reviews: Iterable[ReviewFact], head_sha: str, *, dismiss_stale: bool) -> tuple[int, list[str]]:
    """(approving reviewers, reviewers requesting changes) from each writer's latest decisive review."""
    decisive: dict[str, ReviewFact] = {}
    for review in sorted(reviews, key=lambda r: r.order):
        if not review.can_write or review.state not in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            continue
        decisive[review.user] = review
    approved = sum(1 for r in decisive.values() if r.state == "APPROVED"
                   and (not dismiss_stale or r.commit_id == head_sha))
    changes = sorted(u for u, r in decisive.items() if r.state == "CHANGES_REQUESTED")
    return approved, changes


def _required_check_message(problems: dict[str, str], total: int) -> str:
    if len(problems) == 1:
        ctx, state = next(iter(problems.items()))
        verb = {"missing": "is expected", PENDING: "is in progress", FAILURE: "is failing"}[state]
        return f'Required status check "{ctx}" {verb}.'
    if all(s == "missing" for s in problems.values()):
        return f"{len(problems)} of {total} required status checks are expected."
    return f"{len(problems)} of {total} required status checks have not succeeded."


def _approval_message(required: int) -> str:
    if required == 1:
        return "At least 1 approving review is required by reviewers with write access."
    return f"At least {required} approving reviews are required by reviewers with write access."


DRAFT_MESSAGE = "Pull Request is still a draft"
DIRTY_MESSAGE = "Pull Request is not mergeable"
BEHIND_MESSAGE = "Head branch is not up to date with the base branch"
CHANGES_MESSAGE = "Changes have been requested on this pull request."


def evaluate(git: GitFacts, *, draft: bool, rules: Rules | None, checks: Iterable[CheckReport],
             reviews: Iterable[ReviewFact], head_sha: str) -> Verdict:
    """GitHub's mergeable / mergeable_state for an open pull request (see module docstring)."""
    rules = rules or Rules()
    states = latest_per_context(checks)
    required = tuple(dict.fromkeys(rules.required_contexts))
    problems = {ctx: states.get(ctx, "missing") for ctx in required if states.get(ctx) != SUCCESS}
    non_required_bad = any(state != SUCCESS for ctx, state in states.items() if ctx not in required)
    approved, changes = approvals(reviews, head_sha, dismiss_stale=rules.dismiss_stale_reviews)

    protection: list[str] = []
    if rules.strict and git.behind_by > 0:
        protection.append(BEHIND_MESSAGE)
    if problems:
        protection.append(_required_check_message(problems, len(required)))
    if rules.required_approvals > 0 and changes:
        protection.append(CHANGES_MESSAGE)
    if approved < rules.required_approvals:
        protection.append(_approval_message(rules.required_approvals))

    blockers: list[str] = []
    if draft:
        blockers.append(DRAFT_MESSAGE)
    if git.conflicts or git.conflicts is None:
        blockers.append(DIRTY_MESSAGE)
    blockers.extend(protection)

    if git.conflicts is None:
        return Verdict(None, "unknown", tuple(blockers), tuple(protection))
    mergeable = not git.conflicts
    if draft:
        state = "draft"
    elif git.conflicts:
        state = "dirty"
    elif rules.strict and git.behind_by > 0:
        state = "behind"
    elif protection:
        state = "blocked"
    elif non_required_bad:
        state = "unstable"
    else:
        state = "clean"
    return Verdict(mergeable, state, tuple(blockers), tuple(protection))
