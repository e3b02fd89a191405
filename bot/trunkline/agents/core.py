"""The pure core of agent runs: run ids, branch names, who may trigger, the step plan and what to do
after each step (go on, checkpoint, retry from the last checkpoint, stop).

A pipeline's *steps* are its stages in order with the verify tier inserted after the stage named
``verify_after``: ``plan, test, implement, tier:tier-0, verify``. The run keeps the index of the next
step. After a step passes, the work so far becomes a *checkpoint* (a commit on the run's branch) —
except right before a tier step: ``implement`` is only kept once the tier passed on it. After a step
fails, the work is reset to the last checkpoint and the run goes back to the first step after it (for a
tier: the stage it verifies), with the failure output given to the agent, until ``max_iterations``
attempts failed; then the run stops and says why.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from trunkline.config.model import permission_allows

P = TypeVar("P")

RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")
BRANCH_PREFIX = "trunkline/"
BRANCH_RE = re.compile(r"^trunkline/(\d+)-(\d{8}-\d{6}-[0-9a-f]{8})$")
TIER_PREFIX = "tier:"

# Run states (store) and outcomes.
QUEUED, RUNNING, DONE = "queued", "running", "done"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"

# Step statuses shown in the progress comment.
PENDING, ACTIVE, PASSED, FAILED_STEP, SKIPPED = "pending", "running", "passed", "failed", "skipped"


def new_run_id(now: dt.datetime, token: str) -> str:
    """``YYYYMMDD-HHMMSS-<8 hex>`` (UTC time of the trigger + 8 random hex digits)."""
    if not re.fullmatch(r"[0-9a-f]{8}", token):
        raise ValueError("token must be 8 lower-case hex digits")
    t = now.astimezone(dt.UTC)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}-{t.hour:02d}{t.minute:02d}{t.second:02d}-{token}"


def branch_name(issue: int, run_id: str) -> str:
    return f"{BRANCH_PREFIX}{int(issue)}-{run_id}"


def is_agent_branch(ref: str | None) -> bool:
    return bool(ref) and BRANCH_RE.match(ref or "") is not None


def issue_of_branch(ref: str | None) -> int | None:
    match = BRANCH_RE.match(ref or "")
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------------- who

def is_bot(login: str | None, user_type: str | None) -> bool:
    return (user_type or "").lower() == "bot" or (login or "").lower().endswith("[bot]")


@dataclass(frozen=True)
class Gate:
    allowed: bool
    reason: str = ""
    needs_level: bool = False  # the caller must ask GitHub for the sender's level, then call level_gate


def trigger_gate(login: str, user_type: str | None, *, bots: Sequence[str]) -> Gate:
    """First check on whoever triggered a run: bots only when listed (listed bots need no role: GitHub
    Apps' bot users are not collaborators); people go on to :func:`level_gate`."""
    if is_bot(login, user_type):
        if login.lower() in {b.lower() for b in bots}:
            return Gate(True, f"@{login} is listed in `agents.bots`")
        return Gate(False, f"@{login} is a bot, and bots start agent runs only when listed in `agents.bots`")
    return Gate(True, needs_level=True)


def level_gate(login: str, level: str, required: str) -> Gate:
    if permission_allows(level, required):
        return Gate(True)
    return Gate(False, f"agent runs need **{required}** permission on this repository; @{login} has **{level}**")


# ---------------------------------------------------------------------------------------------- steps

@dataclass(frozen=True)
class Step:
    name: str  # stage name, or "tier:<tier>"
    command: str = ""
    budget: int = 600

    @property
    def is_tier(self) -> bool:
        return self.name.startswith(TIER_PREFIX)

    @property
    def tier(self) -> str | None:
        return self.name[len(TIER_PREFIX):] if self.is_tier else None

    @property
    def label(self) -> str:
        return f"{self.tier} (run by Trunkline)" if self.is_tier else self.name


def plan_steps(stages: Sequence[tuple[str, str, int]], verify_after: str | None, verify_tier: str | None
               ) -> tuple[Step, ...]:
    """Steps from ``(name, command, budget)`` stages, the tier inserted after ``verify_after``."""
    out: list[Step] = []
    for name, command, budget in stages:
        out.append(Step(name, command, budget))
        if verify_tier and name == verify_after:
            out.append(Step(f"{TIER_PREFIX}{verify_tier}"))
    return tuple(out)


@dataclass(frozen=True)
class Next:
    """What to do after a step: ``action`` is ``continue`` (go to ``index``), ``finish`` (all passed),
    ``retry`` (reset to the checkpoint, go to ``index``) or ``stop`` (give up: ``reason``)."""

    action: str
    index: int | None = None
    checkpoint: bool = False  # keep the work so far as a checkpoint before going on
    reason: str = ""


def after_success(steps: Sequence[Step], index: int) -> Next:
    nxt = index + 1
    checkpoint = not (nxt < len(steps) and steps[nxt].is_tier)
    if nxt >= len(steps):
        return Next("finish", None, checkpoint=True)
    return Next("continue", nxt, checkpoint=checkpoint)


def restart_index(steps: Sequence[Step], index: int) -> int:
    """Where a retry starts after step ``index`` failed: the step itself, or for a tier the stage it
    verifies (its work was never kept)."""
    return index - 1 if steps[index].is_tier and index > 0 else index


def after_failure(steps: Sequence[Step], index: int, failures: int, max_iterations: int) -> Next:
    """``failures`` counts this one. Retry while fewer than ``max_iterations`` attempts failed."""
    step = steps[index]
    if failures >= max_iterations:
        return Next("stop", None, reason=f"stopped after {failures} failed iteration{'s' if failures != 1 else ''} "
                                          f"(agents.max_iterations is {max_iterations}): `{step.label}` failed")
    return Next("retry", restart_index(steps, index))


# ---------------------------------------------------------------------------------------------- progress

@dataclass(frozen=True)
class StepState:
    name: str
    status: str = PENDING
    attempts: int = 0
    note: str = ""


def initial_states(steps: Sequence[Step]) -> tuple[StepState, ...]:
    return tuple(StepState(s.name) for s in steps)


def with_status(states: Sequence[StepState], name: str, status: str, *, note: str | None = None,
                attempt: bool = False) -> tuple[StepState, ...]:
    out = []
    for s in states:
        if s.name == name:
            s = StepState(s.name, status, s.attempts + (1 if attempt else 0), s.note if note is None else note)
        out.append(s)
    return tuple(out)


def reset_from(states: Sequence[StepState], names: Sequence[str], index: int) -> tuple[StepState, ...]:
    """Steps from ``index`` on are pending again (a retry), keeping their attempt counts and notes."""
    later = set(names[index:])
    return tuple(StepState(s.name, PENDING, s.attempts, s.note) if s.name in later else s for s in states)


def states_to_json(states: Sequence[StepState]) -> list[dict[str, object]]:
    return [{"name": s.name, "status": s.status, "attempts": s.attempts, "note": s.note} for s in states]


def states_from_json(data: Sequence[Mapping[str, object]] | None) -> tuple[StepState, ...]:
    return tuple(StepState(str(d.get("name")), str(d.get("status") or PENDING), int(d.get("attempts") or 0),  # type: ignore[arg-type]
                           str(d.get("note") or "")) for d in (data or ()))


def log_name(step_name: str, iteration: int) -> str:
    """The file name of a step's log in the run's ``logs/`` folder (``tier:tier-0`` -> ``tier-tier-0-2.log``)."""
    return f"{step_name.replace(':', '-')}-{int(iteration)}.log"


_LOG_RE = re.compile(r"^(.+)-([0-9]+)\.log$")


def latest_logs(step_names: Sequence[str], file_names: Sequence[str]) -> dict[str, str]:
    """Step name -> the file name of its latest log (highest iteration) among ``file_names``."""
    by_stem = {name.replace(":", "-"): name for name in step_names}
    best: dict[str, tuple[int, str]] = {}
    for file_name in file_names:
        match = _LOG_RE.fullmatch(file_name)
        if match is None or match.group(1) not in by_stem:
            continue
        step, n = by_stem[match.group(1)], int(match.group(2))
        if step not in best or n > best[step][0]:
            best[step] = (n, file_name)
    return {step: name for step, (_, name) in best.items()}


def elapsed_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# ---------------------------------------------------------------------------------------------- merging

def agent_policy(policy: P, config: object, head_ref: str | None) -> P:
    """The merge policy for a pull request: an agent's pull request (head ``trunkline/<issue>-<run id>``)
    needs at least ``agents.required_approvals`` approving reviews (pure; ``policy`` a merge ``Policy``)."""
    import dataclasses

    agents = getattr(config, "agents", None)
    if agents is None or not is_agent_branch(head_ref):
        return policy
    needed = max(int(getattr(policy, "required_approvals", 0)), int(agents.required_approvals))
    return dataclasses.replace(policy, required_approvals=needed)  # type: ignore[type-var,misc]
