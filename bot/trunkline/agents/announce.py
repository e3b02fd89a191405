"""Agent runs on the pipeline event stream: ``agent_run.state_changed`` (``contracts/asyncapi.yaml``).

:func:`state_fields` is pure (a run record in, the message's fields out); :func:`announce` builds and
publishes one message (``trunkline.stream.emit``: never raises, does nothing without a stream). The
service (:mod:`.service`) calls :func:`announce` once per transition, after the store recorded it:

* ``queued`` — the run was recorded (:meth:`~.service.AgentService.start_run`);
* ``running`` / ``resumed`` — a worker starts it, or takes it over from a worker that is gone;
* ``stage_started`` / ``stage_passed`` — one stage (or the verify tier, ``tier:<tier>``) at one iteration;
* ``retrying`` — a stage failed and the run goes back to its last checkpoint;
* one final state: ``pr_opened``, ``pr_updated`` (a follow-up run pushed to its pull request's branch),
  ``failed``, ``cancelled`` or ``superseded`` (:func:`final_state`).

Each message's id is derived from the run and the transition (:func:`event_id`), so a run resumed after
a crash that goes through a transition again does not publish it twice (the event log keeps the first).
"""

from __future__ import annotations

from typing import Any

from trunkline.stream.publish import stable_id

from .core import CANCELLED, SUCCEEDED

QUEUED, RUNNING, RESUMED = "queued", "running", "resumed"
STAGE_STARTED, STAGE_PASSED, RETRYING = "stage_started", "stage_passed", "retrying"
PR_OPENED, PR_UPDATED, FAILED, CANCELLED_STATE, SUPERSEDED = "pr_opened", "pr_updated", "failed", "cancelled", \
    "superseded"
FINAL = frozenset({PR_OPENED, PR_UPDATED, FAILED, CANCELLED_STATE, SUPERSEDED})
#: how a run cancelled by a newer trigger on the same issue is told (``AgentService.start_run``)
SUPERSEDED_PREFIX = "superseded by run"
MAX_REASON = 2000


def superseded_reason(run_id: str) -> str:
    return f"{SUPERSEDED_PREFIX} `{run_id}`"


def final_state(outcome: str, reason: str | None, *, pr_number: int | None) -> str:
    """The message's state for a finished run (``outcome`` succeeded / failed / cancelled)."""
    if outcome == SUCCEEDED:
        return PR_UPDATED if pr_number is not None else PR_OPENED
    if outcome == CANCELLED:
        return SUPERSEDED if (reason or "").startswith(SUPERSEDED_PREFIX) else CANCELLED_STATE
    return FAILED


def event_id(run_id: str, state: str, *key: object) -> str:
    """One id per (run, transition): a stage event is keyed by its step index and iteration, a resume
    by its count; the other states happen once per run."""
    return stable_id("agent_run", run_id, state, *key)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def state_fields(run: Any, state: str, *, stage: str | None = None, iteration: int | None = None,
                 reason: str | None = None, key: tuple[object, ...] = ()) -> dict[str, Any]:
    """The fields of ``agent_run.state_changed`` for ``run`` (an ``AgentRun`` or anything with its
    attributes) entering ``state``. ``key`` tells apart repeats of one state (see :func:`event_id`)."""
    fields: dict[str, Any] = {"id": event_id(run.id, state, *key), "repository": run.repo, "run_id": run.id,
                              "issue": run.issue, "label": run.label, "branch": run.branch, "state": state}
    if stage:
        fields["stage"] = stage
    if _positive(iteration):
        fields["iteration"] = iteration
    pull = _positive(run.opened_pr) or _positive(run.pr_number)
    if pull:
        fields["pull_request"] = pull
    pr_url = run.pr_url
    if state == PR_OPENED and isinstance(pr_url, str) and pr_url.startswith(("http://", "https://")):
        fields["pr_url"] = pr_url
    if reason:
        reason = reason.strip()
        fields["reason"] = reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 3] + "..."
    return fields


def announce(run: Any, state: str, **kwargs: Any) -> None:
    """Publish ``run`` entering ``state`` (see :func:`state_fields`); never raises, never blocks for long."""
    try:
        from trunkline import stream
        from trunkline.api.events import AgentRunStateChanged

        if stream.current() is None:
            return
        fields = state_fields(run, state, **kwargs)
    except Exception:  # noqa: BLE001 - the stream is for watching: it must never fail a run
        import logging

        logging.getLogger(__name__).warning("agent run %s: %s not published", getattr(run, "id", "?"), state,
                                            exc_info=True)
        return
    stream.emit(AgentRunStateChanged, **fields)


def position(run: Any) -> tuple[str | None, int | None]:
    """The stage a run is at and its iteration, from its record (None, None before its first stage and
    after its last): a finished run's final message says where it stopped."""
    from .core import FAILED_STEP, PENDING

    try:
        steps = run.step_list
    except ValueError:
        return None, None
    index, failures = run.step_index, int(run.failures or 0)
    if not isinstance(index, int) or not 0 <= index < len(steps) or steps[index].get("status", PENDING) == PENDING:
        return None, None
    status = steps[index].get("status")
    return str(steps[index].get("name") or "") or None, max(1, failures if status == FAILED_STEP else failures + 1)
