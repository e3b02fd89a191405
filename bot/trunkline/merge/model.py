"""Plain data the merge decision works on: the snapshot of a pull request, the policy, the decision.

Everything here is a frozen dataclass of plain values (no PyGithub objects), so the decision
(:mod:`trunkline.merge.decide`) is a pure function that hypothesis can drive directly, and a
snapshot can be logged or stored as it was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["merge", "update", "wait", "block"]
GateState = Literal["success", "pending", "failure", "missing"]
#: What an unmet condition does to the decision.
Effect = Literal["block", "wait", "update"]

#: Our own merge check is never a gate of the merge decision (it reports the decision).
MERGE_CHECK_NAME = "trunkline/merge"

# Check-run conclusions GitHub's branch protection accepts as passing.
PASSING_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})


@dataclass(frozen=True)
class CheckRunInfo:
    """One check run on the head SHA (``order``: larger = newer, e.g. the run id)."""

    name: str
    status: str  # queued | in_progress | completed | waiting | requested | pending
    conclusion: str | None
    order: int
    app_id: int | None = None

    @property
    def state(self) -> GateState:
        if self.status != "completed":
            return "pending"
        return "success" if self.conclusion in PASSING_CONCLUSIONS else "failure"


@dataclass(frozen=True)
class StatusInfo:
    """The latest commit status for one context on the head SHA."""

    context: str
    state: str  # success | pending | failure | error

    @property
    def gate_state(self) -> GateState:
        if self.state == "success":
            return "success"
        return "pending" if self.state == "pending" else "failure"


@dataclass(frozen=True)
class ReviewInfo:
    """One submitted review (``order``: larger = newer)."""

    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    commit_id: str | None
    order: int
    # Only reviews by people with write access count (GitHub's rule); the REST review carries the
    # author's association, which is the one signal available without another request per reviewer.
    counts: bool = True


@dataclass(frozen=True)
class ProtectionInfo:
    """The parts of the base branch's protection that gate merging.

    ``readable`` is False when GitHub refused to show it (403: the App lacks administration:read);
    ``exists`` False when the branch is not protected (404)."""

    exists: bool = False
    readable: bool = True
    required_checks: tuple[str, ...] = ()
    strict: bool = False
    required_approvals: int = 0
    dismiss_stale_reviews: bool = False

    @classmethod
    def none(cls) -> ProtectionInfo:
        return cls(exists=False)

    @classmethod
    def unreadable(cls) -> ProtectionInfo:
        return cls(exists=False, readable=False)


@dataclass(frozen=True)
class Snapshot:
    """A pull request as freshly fetched from GitHub, plus the gates reported on its head SHA."""

    number: int
    state: str  # open | closed
    merged: bool
    draft: bool
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str | None
    author: str
    labels: tuple[str, ...] = ()
    fork: bool = False
    maintainer_can_modify: bool = False
    mergeable: bool | None = None
    mergeable_state: str | None = None
    # Commits on the base the head lacks; None when unknown (not asked: see fetch.needs_compare).
    behind_by: int | None = None
    check_runs: tuple[CheckRunInfo, ...] = ()
    statuses: tuple[StatusInfo, ...] = ()
    reviews: tuple[ReviewInfo, ...] = ()
    protection: ProtectionInfo = field(default_factory=ProtectionInfo.none)
    # True when commit statuses were not fetched because GitHub reported the freshly fetched pull
    # request ``clean`` (no commit status pending or failing) and check runs already satisfy every gate.
    statuses_skipped: bool = False
    # Why the merge was requested: "label", "command", "rule"; None = not requested.
    requested: str | None = None


@dataclass(frozen=True)
class Policy:
    """The repository's merge configuration (``merge`` section), as plain values."""

    label: str = "auto-merge"
    hold_labels: tuple[str, ...] = ("do-not-merge", "hold")
    priority_label: str = "merge-priority"
    required_checks: tuple[str, ...] = ()
    required_approvals: int = 0
    require_up_to_date: bool = True
    approvals_on_head: bool = True
    method: str = "squash"
    delete_branch: bool = True
    slot_timeout: float = 3600.0  # seconds the queue's slot may be held waiting for gates (0 = forever)

    @classmethod
    def from_config(cls, merge: object) -> Policy:
        """From ``TrunklineConfig.merge`` (a ``MergeSection``)."""
        return cls(label=merge.label, hold_labels=tuple(merge.hold_labels),  # type: ignore[attr-defined]
                   priority_label=merge.priority_label,  # type: ignore[attr-defined]
                   required_checks=tuple(merge.required_checks),  # type: ignore[attr-defined]
                   required_approvals=merge.required_approvals,  # type: ignore[attr-defined]
                   require_up_to_date=merge.require_up_to_date,  # type: ignore[attr-defined]
                   approvals_on_head=getattr(merge, "approvals_on_head", True),
                   method=merge.method, delete_branch=merge.delete_branch,  # type: ignore[attr-defined]
                   slot_timeout=60.0 * getattr(merge, "slot_timeout_minutes", 60))


@dataclass(frozen=True)
class Condition:
    """One row of the merge check's table: what must hold, whether it does, and why."""

    name: str
    met: bool
    detail: str = ""
    effect: Effect = "wait"  # what it does to the decision while unmet


@dataclass(frozen=True)
class Decision:
    """What to do with the pull request now, and why.

    ``sha`` is the head SHA the decision was taken on: a merge must be made with exactly this
    ``sha`` guard, an update with it as ``expected_head_sha``."""

    action: Action
    sha: str
    conditions: tuple[Condition, ...]
    reasons: tuple[Condition, ...]  # the unmet conditions behind a wait/block/update

    @property
    def summary(self) -> str:
        if not self.reasons:
            return "every condition is met"
        return "; ".join(f"{c.name}: {c.detail}" if c.detail else c.name for c in self.reasons)

    @property
    def waiting_on_gates_only(self) -> bool:
        """A wait caused only by required gates that are still missing or running."""
        return self.action == "wait" and all(c.name.startswith("check ") for c in self.reasons)
