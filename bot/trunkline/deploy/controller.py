"""The canary controller: a pure reconcile state machine over one record per deploy run.

``step(record, observation) -> (record', actions)`` is the whole decision. The record holds *all* the
run's state (what is deployed where, the step, the probe window, GitHub deployment ids, the pinned
rollback SHA, pending actions); the observation is what the shell saw since the last step (the clock,
probe measurements, the results of the actions it executed, whether it just took the run over from a
dead worker, whether an older run still runs or a newer merge arrived). Actions are plain data the
shell executes (:mod:`trunkline.deploy.service`).

States::

    queued → deploying_canary → analysing(step i) → … → promoting → verifying → succeeded
                  ↘ paused (inconclusive data, or a manual gate waiting for /promote)
    any non-terminal → rolling_back → rolled_back   (or aborted, for /abort; error if it fails)
    queued / deploying_canary / analysing / paused → superseded (a newer merge takes over)

Crash safety: every action is first recorded in ``record.outbox`` (the shell persists the record
*before* executing anything) and leaves it only when its result is applied. A worker that takes a run
over from a dead one says so (``observation.resumed``): pending deployer actions are then *not*
executed again — each becomes a ``confirm`` (the shell asks the deployer for its state); a confirmed
action counts as done, an unconfirmable one rolls back (fail safe). Rollback actions are idempotent
and are simply repeated. GitHub side effects (statuses, tags, the issue) are retried up to three times.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

QUEUED = "queued"
DEPLOYING_CANARY = "deploying_canary"
ANALYSING = "analysing"
PAUSED = "paused"
PROMOTING = "promoting"
VERIFYING = "verifying"
SUCCEEDED = "succeeded"
ROLLING_BACK = "rolling_back"
ROLLED_BACK = "rolled_back"
ABORTED = "aborted"
SUPERSEDED = "superseded"
ERROR = "error"

STATES = (QUEUED, DEPLOYING_CANARY, ANALYSING, PAUSED, PROMOTING, VERIFYING, SUCCEEDED, ROLLING_BACK,
          ROLLED_BACK, ABORTED, SUPERSEDED, ERROR)
TERMINAL = frozenset({SUCCEEDED, ROLLED_BACK, ABORTED, SUPERSEDED, ERROR})
ACTIVE = tuple(s for s in STATES if s not in TERMINAL)
#: States a newer merge may interrupt (nothing of ours is in production yet).
SUPERSEDABLE = frozenset({QUEUED, DEPLOYING_CANARY, ANALYSING, PAUSED})

# Actions. Deployer actions change what serves traffic; at most one is pending at a time.
DEPLOY_CANARY = "deploy_canary"
SET_WEIGHT = "set_weight"
PROMOTE = "promote"
ROLLBACK = "rollback"
CONFIRM = "confirm"
DEPLOYER_ACTIONS = frozenset({DEPLOY_CANARY, SET_WEIGHT, PROMOTE, ROLLBACK, CONFIRM})
# GitHub side effects (and the event stream): retried, never block the run.
CREATE_DEPLOYMENT = "create_deployment"
DEPLOYMENT_STATUS = "deployment_status"
TAG = "tag"
REPORT_ROLLBACK = "report_rollback"
EFFECT_ATTEMPTS = 3
ROLLBACK_ATTEMPTS = 3

#: Requests people make with commands (stored on the record until the next step consumes them).
REQUESTS = ("promote", "rollback", "abort")

MAX_WINDOW = 2000
MAX_EVIDENCE = 300
MAX_HISTORY = 60


# ============================================================================================ data

@dataclass(frozen=True)
class Step:
    weight: int = 0
    duration: float = 0.0
    manual: bool = False


@dataclass(frozen=True)
class Plan:
    """What the run follows, fixed at its start (from the ``deploy:`` section)."""

    steps: tuple[Step, ...] = ()
    rules: Mapping[str, Any] = field(default_factory=dict)  # RulesSpec as a dict
    probes: tuple[str, ...] = ()  # probe names
    verify_seconds: float = 30.0
    rollback_verify_seconds: float = 10.0
    pause_timeout: float = 3600.0
    canary_env: str = "canary"
    production_env: str = "production"

    @property
    def window_seconds(self) -> float:
        return float(self.rules.get("window_seconds", 300) or 300)

    @property
    def rollback_failures(self) -> int:
        return int(self.rules.get("rollback_failures", 3) or 3)


@dataclass(frozen=True)
class Action:
    id: int
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 0

    @property
    def deployer(self) -> bool:
        return self.kind in DEPLOYER_ACTIONS


@dataclass(frozen=True)
class Result:
    action_id: int
    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Observation:
    now: float
    results: tuple[Result, ...] = ()
    measurements: tuple[Mapping[str, Any], ...] = ()  # Measurement.to_dict() items
    resumed: bool = False  # this worker just took the run over from another (dead) one
    older_active: bool = False  # an earlier run of the same repository is not finished
    newer_sha: str | None = None  # a newer run of the same repository exists
    production_sha: str | None = None  # the last successful production deployment (pinned at start)


@dataclass(frozen=True)
class Record:
    repo: str
    sha: str
    plan: Plan
    config_hash: str = ""
    trigger: str = "merge"
    created_at: float = 0.0
    state: str = QUEUED
    step: int = 0
    weight: int = 0
    rollback_sha: str | None = None
    rollback_target: str | None = None
    deployments: Mapping[str, int] = field(default_factory=dict)  # environment -> GitHub deployment id
    counters: Mapping[str, int] = field(default_factory=dict)
    window: tuple[Mapping[str, Any], ...] = ()
    evidence: tuple[Mapping[str, Any], ...] = ()  # the window as it was when the last switch emptied it
    verdict: Mapping[str, Any] | None = None
    outbox: tuple[Action, ...] = ()
    next_action: int = 1
    request: Mapping[str, Any] | None = None
    paused: str | None = None  # "manual" | "inconclusive"
    phase: str = ""  # rolling_back: "act" then "verify"
    final: str = ROLLED_BACK  # where a rollback ends (aborted for /abort)
    report: bool = True  # open the rollback issue and comment the PR
    reason: str = ""
    state_since: float = 0.0
    step_started_at: float = 0.0
    verify_started_at: float | None = None
    updated_at: float = 0.0
    history: tuple[str, ...] = ()
    pr_number: int | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def done(self) -> bool:
        """Terminal and nothing left to tell GitHub: the shell stops ticking it."""
        return self.terminal and not self.outbox

    def pending_deployer(self) -> Action | None:
        return next((a for a in self.outbox if a.deployer), None)


# ============================================================================================ helpers

def config_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _short(sha: str | None) -> str:
    return (sha or "")[:7] or "-"


def _log(rec: Record, now: float, text: str) -> Record:
    return replace(rec, history=(*rec.history, f"{now:.3f} {text}")[-MAX_HISTORY:])


def _add(rec: Record, kind: str, **args: Any) -> Record:
    action = Action(rec.next_action, kind, dict(args))
    return replace(rec, outbox=(*rec.outbox, action), next_action=rec.next_action + 1)


def _drop_deployer(rec: Record) -> Record:
    return replace(rec, outbox=tuple(a for a in rec.outbox if not a.deployer))


def _enter(rec: Record, state: str, now: float, reason: str = "") -> Record:
    rec = replace(rec, state=state, state_since=now, reason=reason or rec.reason)
    return _log(rec, now, f"{state}" + (f": {reason}" if reason else ""))


def rollback_key(plan: Plan) -> str:
    """``record.deployments`` key of the production deployment a rollback to a new target makes."""
    return f"{plan.production_env}@rollback"


def _status(rec: Record, env_key: str, state: str, description: str) -> Record:
    if env_key == "rollback":  # the production deployment of the rollback target
        return _add(rec, DEPLOYMENT_STATUS, environment=rec.plan.production_env, key=rollback_key(rec.plan),
                    sha=rec.rollback_target, state=state, description=description[:140], weight=100)
    env = rec.plan.canary_env if env_key == "canary" else rec.plan.production_env
    return _add(rec, DEPLOYMENT_STATUS, environment=env, state=state, description=description[:140],
                weight=rec.weight if env_key == "canary" else 100)


def _has_deployment(rec: Record, key: str) -> bool:
    """A GitHub deployment under ``key`` exists or is being created (its id arrives with the result)."""
    return key in rec.deployments or any(a.kind == CREATE_DEPLOYMENT and (a.args.get("key") or a.args.get(
        "environment")) == key for a in rec.outbox)


def target_weight(plan: Plan, index: int) -> int:
    """The canary weight in force at step ``index`` (a manual gate keeps the previous weight)."""
    for step in reversed(plan.steps[: index + 1]):
        if not step.manual:
            return step.weight
    return 0


def probe_targets(rec: Record) -> tuple[str, ...]:
    """Which targets the shell probes now: canary and stable during analysis, stable when verifying."""
    if rec.state in (ANALYSING, PAUSED):
        return ("canary", "stable")
    if rec.state == VERIFYING or (rec.state == ROLLING_BACK and rec.phase == "verify"):
        return ("stable",)
    return ()


def _trim(window: Iterable[Mapping[str, Any]], now: float, keep_seconds: float) -> tuple[Mapping[str, Any], ...]:
    kept = [m for m in window if float(m.get("at", 0.0)) >= now - keep_seconds]
    return tuple(kept[-MAX_WINDOW:])


@functools.lru_cache(maxsize=64)
def _rules(text: str) -> Any:
    from trunkline.deploy.rules import RulesSpec

    return RulesSpec.model_validate(json.loads(text))


def analysis_verdict(rec: Record, now: float) -> Mapping[str, Any]:
    """The rules' verdict over the record's window (``trunkline.deploy.rules.evaluate``), as a dict."""
    from trunkline.deploy.probes.measurement import Measurement
    from trunkline.deploy.rules import evaluate

    rules = _rules(json.dumps(dict(rec.plan.rules), sort_keys=True))
    return evaluate([Measurement.from_dict(m) for m in rec.window], rules, now).to_dict()


def burst_verdict(measurements: Sequence[Mapping[str, Any]], probes: Sequence[str], *, failures_allowed: int,
                  complete: bool) -> str:
    """A verification burst (against production): ``fail`` once failures reach ``failures_allowed``;
    when ``complete`` (its time is up) ``pass`` only if every probe answered ok at least once and its
    latest answer is ok — no data (an unreachable target) is not a pass. ``running`` otherwise."""
    stable = [m for m in measurements if m.get("target", "stable") == "stable"]
    fails = sum(1 for m in stable if m.get("outcome") == "fail")
    if fails >= max(1, failures_allowed):
        return "fail"
    if not complete:
        return "running"
    latest: dict[str, str] = {}
    seen_ok: set[str] = set()
    for m in sorted(stable, key=lambda x: float(x.get("at", 0.0))):
        latest[str(m.get("probe"))] = str(m.get("outcome"))
        if m.get("outcome") == "ok":
            seen_ok.add(str(m.get("probe")))
    return "pass" if all(p in seen_ok and latest.get(p) == "ok" for p in probes) else "fail"


# ============================================================================================ entering states

def new_record(repo: str, sha: str, plan: Plan, *, now: float, trigger: str = "merge", config_hash: str = "",
               pr_number: int | None = None) -> Record:
    return Record(repo=repo, sha=sha, plan=plan, config_hash=config_hash, trigger=trigger, created_at=now,
                  state_since=now, updated_at=now, pr_number=pr_number,
                  history=(f"{now:.3f} queued ({trigger})",))


def start_rollback(rec: Record, now: float, reason: str, *, target: str | None = None, final: str = ROLLED_BACK,
                   report: bool = True) -> Record:
    """Leave whatever state ``rec`` is in for ``rolling_back`` (the analysis stops; nothing is promoted)."""
    if rec.terminal or rec.state == ROLLING_BACK:
        return rec
    target = target or rec.rollback_sha
    rec = _drop_deployer(rec)
    rec = replace(rec, rollback_target=target, phase="act", final=final, report=report, paused=None,
                  verify_started_at=None, counters={**rec.counters, "rollback_attempts": 1})
    rec = _enter(rec, ROLLING_BACK, now, reason)
    rec = _add(rec, ROLLBACK, sha=target, environment=rec.plan.production_env)
    if rec.plan.canary_env in rec.deployments:
        rec = _status(rec, "canary", "failure" if report else "inactive", f"rolled back: {reason}")
    if rec.plan.production_env in rec.deployments:
        rec = _status(rec, "production", "failure", f"rolled back: {reason}")
    if target and target != rec.rollback_sha:
        # production goes to a commit GitHub does not know as production (``/rollback <sha>``, or a
        # rollback with nothing running): record it, so the next run pins what really runs
        rec = _add(rec, CREATE_DEPLOYMENT, environment=rec.plan.production_env, production=True, sha=target,
                   key=rollback_key(rec.plan), description=f"roll back to {_short(target)}")
        rec = _status(rec, "rollback", "in_progress", f"rolling back to {_short(target)}: {reason}")
    if report:
        rec = _add(rec, REPORT_ROLLBACK, reason=reason, target=target)
    return rec


def _start(rec: Record, obs: Observation) -> Record:
    now = obs.now
    rec = replace(rec, rollback_sha=obs.production_sha, step_started_at=now)
    if not rec.plan.steps:
        return _promote(rec, now, "no canary steps")
    weight = target_weight(rec.plan, 0)
    rec = replace(rec, step=0, weight=weight)
    rec = _add(rec, CREATE_DEPLOYMENT, environment=rec.plan.canary_env, production=False,
               description=f"canary of {_short(rec.sha)}")
    rec = _status(rec, "canary", "queued", f"canary at {weight}%")
    rec = _enter(rec, DEPLOYING_CANARY, now, f"step 1: canary at {weight}% (rollback pinned to "
                                             f"{_short(rec.rollback_sha)})")
    return _add(rec, DEPLOY_CANARY, sha=rec.sha, weight=weight, step=0, environment=rec.plan.canary_env)


def _promote(rec: Record, now: float, why: str) -> Record:
    rec = replace(rec, paused=None)
    rec = _enter(rec, PROMOTING, now, why)
    rec = _add(rec, CREATE_DEPLOYMENT, environment=rec.plan.production_env, production=True,
               description=f"promote {_short(rec.sha)}")
    rec = _status(rec, "production", "in_progress", f"promoting {_short(rec.sha)}")
    return _add(rec, PROMOTE, sha=rec.sha, environment=rec.plan.production_env)


def _advance(rec: Record, now: float, why: str) -> Record:
    """Past step ``rec.step``: the next step, a manual gate, or promotion."""
    nxt = rec.step + 1
    if nxt >= len(rec.plan.steps):
        return _promote(rec, now, why)
    step = rec.plan.steps[nxt]
    if step.manual:
        rec = replace(rec, step=nxt, paused="manual")
        rec = _status(rec, "canary", "in_progress", f"step {nxt + 1}: waiting for /promote at {rec.weight}%")
        return _enter(rec, PAUSED, now, f"step {nxt + 1}: manual gate, waiting for /promote")
    rec = replace(rec, step=nxt, paused=None)
    rec = _enter(rec, DEPLOYING_CANARY, now, f"step {nxt + 1}: canary to {step.weight}% ({why})")
    return _add(rec, SET_WEIGHT, sha=rec.sha, weight=step.weight, step=nxt, environment=rec.plan.canary_env)


def _succeed(rec: Record, now: float) -> Record:
    rec = _enter(rec, SUCCEEDED, now, f"{_short(rec.sha)} promoted and verified")
    if _has_deployment(rec, rec.plan.canary_env):
        rec = _status(rec, "canary", "inactive", "promoted to production")
    rec = replace(rec, weight=100)
    rec = _status(rec, "production", "success", f"{_short(rec.sha)} verified by probes")
    return _add(rec, TAG, sha=rec.sha)


# ============================================================================================ the step

def _apply_results(rec: Record, results: Sequence[Result]) -> tuple[Record, list[tuple[Action, Result]]]:
    """Remove finished actions from the outbox; returns the deployer outcomes to act on."""
    by_id = {r.action_id: r for r in results}
    outcomes: list[tuple[Action, Result]] = []
    kept: list[Action] = []
    deployments = dict(rec.deployments)
    for action in rec.outbox:
        result = by_id.get(action.id)
        if result is None:
            kept.append(action)
            continue
        if action.deployer:
            outcomes.append((action, result))
        elif result.ok:
            if action.kind == CREATE_DEPLOYMENT and result.data.get("id") is not None:
                key = action.args.get("key") or action.args.get("environment")
                deployments[str(key)] = int(result.data["id"])
        elif action.attempts + 1 < EFFECT_ATTEMPTS:
            kept.append(replace(action, attempts=action.attempts + 1))
        else:
            rec = _log(rec, rec.updated_at, f"gave up on {action.kind}: {result.error[:200]}")
    return replace(rec, outbox=tuple(kept), deployments=deployments), outcomes


def _resume(rec: Record, now: float) -> Record:
    """After a takeover: a deployer action that may or may not have happened is confirmed, not redone."""
    out = []
    for action in rec.outbox:
        if action.deployer and action.kind not in (ROLLBACK, CONFIRM):
            out.append(Action(action.id, CONFIRM, {"of": action.kind, **action.args}))
        else:
            out.append(action)
    rec = replace(rec, outbox=tuple(out))
    return _log(rec, now, "resumed by another worker")


def _notes(rec: Record, result: Result, now: float) -> Record:
    """The deployer's notes (e.g. a workflow without a ``key`` input) go into the history, each once."""
    notes = result.data.get("notes") if isinstance(result.data, Mapping) else None
    for note in notes if isinstance(notes, (list, tuple)) else ():
        text = f"note: {str(note)[:300]}"
        if not any(line.endswith(text) for line in rec.history):
            rec = _log(rec, now, text)
    return rec


def _on_deployer(rec: Record, action: Action, result: Result, now: float) -> Record:
    rec = _notes(rec, result, now)
    kind = action.kind
    ok = result.ok
    if kind == CONFIRM:
        kind = str(action.args.get("of"))
        confirmed = ok and bool(result.data.get("confirmed"))
        if not confirmed:
            return start_rollback(rec, now, f"could not confirm `{kind}` after a worker restart "
                                            f"({result.error or 'the deployer state does not match'}); rolling "
                                            "back to be safe")
        ok = True
    if kind in (DEPLOY_CANARY, SET_WEIGHT):
        if rec.state != DEPLOYING_CANARY:
            return rec
        if not ok:
            return start_rollback(rec, now, f"the canary deploy failed: {result.error[:300]}")
        weight = int(action.args.get("weight", rec.weight))
        rec = replace(rec, weight=weight, step_started_at=now, paused=None)
        step = rec.plan.steps[rec.step]
        rec = _status(rec, "canary", "in_progress", f"step {rec.step + 1}/{len(rec.plan.steps)}: {weight}% for "
                                                    f"{step.duration:g}s")
        return _enter(rec, ANALYSING, now, f"step {rec.step + 1}: canary serving {weight}%")
    if kind == PROMOTE:
        if rec.state != PROMOTING:
            return rec
        if not ok:
            return start_rollback(rec, now, f"the promotion failed: {result.error[:300]}")
        rec = replace(rec, verify_started_at=now, window=(), evidence=rec.window[-MAX_EVIDENCE:], weight=100)
        return _enter(rec, VERIFYING, now, f"{_short(rec.sha)} in production; verifying")
    if kind == ROLLBACK:
        if rec.state != ROLLING_BACK:
            return rec
        if ok:
            rec = replace(rec, phase="verify", verify_started_at=now, window=(), weight=0,
                          evidence=rec.window[-MAX_EVIDENCE:] if rec.window else rec.evidence)
            return _log(rec, now, f"rollback to {_short(rec.rollback_target)} done; verifying")
        attempts = int(rec.counters.get("rollback_attempts", 1))
        if attempts < ROLLBACK_ATTEMPTS:
            rec = replace(rec, counters={**rec.counters, "rollback_attempts": attempts + 1})
            rec = _log(rec, now, f"rollback attempt {attempts} failed: {result.error[:200]}")
            return _add(rec, ROLLBACK, sha=rec.rollback_target, environment=rec.plan.production_env)
        rec = _rollback_status(rec, "failure", f"rollback failed {attempts} times")
        return _enter(rec, ERROR, now, f"rollback failed {attempts} times: {result.error[:300]}")
    return rec


def _on_request(rec: Record, now: float) -> tuple[Record, Mapping[str, Any] | None]:
    req = rec.request
    if req is None:
        return rec, None
    rec = replace(rec, request=None)
    who = f" by @{req.get('by')}" if req.get("by") else ""
    kind = req.get("kind")
    if rec.terminal:
        return rec, None
    if kind == "rollback":
        if rec.state == ROLLING_BACK:
            return rec, None
        return start_rollback(rec, now, f"/rollback{who}", target=req.get("sha") or None), None
    if kind == "abort":
        if rec.state == ROLLING_BACK:
            return replace(rec, final=ABORTED), None
        if rec.state == QUEUED:
            return _enter(rec, ABORTED, now, f"/abort{who} before it started"), None
        return start_rollback(rec, now, f"/abort{who}", final=ABORTED, report=False), None
    return rec, req  # promote: decided by the state logic (after the verdict)


def step(rec: Record, obs: Observation) -> tuple[Record, tuple[Action, ...]]:
    """One reconcile step (pure). Returns the new record and every action still to execute."""
    now = obs.now
    rec, outcomes = _apply_results(rec, obs.results)
    if obs.resumed:
        rec = _resume(rec, now)
    for action, result in outcomes:
        rec = _on_deployer(rec, action, result, now)
    if rec.terminal:
        return _finish(rec, now)

    if obs.measurements and probe_targets(rec):
        keep = rec.plan.window_seconds if rec.state in (ANALYSING, PAUSED) else 3600.0
        rec = replace(rec, window=_trim((*rec.window, *obs.measurements), now, keep))

    rec, promote_request = _on_request(rec, now)
    if rec.terminal:
        return _finish(rec, now)
    if rec.pending_deployer() is not None:
        return _finish(rec, now)  # waiting for an action's result (or its confirmation)

    if obs.newer_sha and rec.state in SUPERSEDABLE:
        if rec.plan.canary_env in rec.deployments:
            rec = _status(rec, "canary", "inactive", f"superseded by {_short(obs.newer_sha)}")
        return _finish(_enter(_drop_deployer(rec), SUPERSEDED, now, f"superseded by {_short(obs.newer_sha)}"), now)

    state = rec.state
    if state == QUEUED:
        if not obs.older_active:
            rec = _start(rec, obs)
    elif state in (ANALYSING, PAUSED):
        rec = _analyse(rec, now, promote_request)
    elif state == VERIFYING:
        rec = _verify(rec, now)
    elif state == ROLLING_BACK and rec.phase == "verify":
        rec = _verify_rollback(rec, now)
    elif state == ROLLING_BACK and rec.pending_deployer() is None:
        rec = _add(rec, ROLLBACK, sha=rec.rollback_target, environment=rec.plan.production_env)
    return _finish(rec, now)


def _analyse(rec: Record, now: float, promote_request: Mapping[str, Any] | None) -> Record:
    verdict = dict(analysis_verdict(rec, now))
    rec = replace(rec, verdict=verdict)
    action = verdict.get("action")
    reasons = "; ".join(verdict.get("reasons") or ()) or str(action)
    if action == "rollback":
        return start_rollback(rec, now, reasons)
    if action == "alert" and not rec.counters.get("alerting"):
        rec = replace(rec, counters={**rec.counters, "alerts": rec.counters.get("alerts", 0) + 1, "alerting": 1})
        rec = _log(rec, now, f"alert: {reasons}")
    elif action != "alert" and rec.counters.get("alerting"):
        rec = replace(rec, counters={**rec.counters, "alerting": 0})
    who = f" by @{promote_request.get('by')}" if promote_request and promote_request.get("by") else ""
    if rec.state == PAUSED and rec.paused == "manual":
        if promote_request is not None:
            return _advance(rec, now, f"/promote{who} at the manual gate")
        return rec
    if promote_request is not None:
        return _promote(rec, now, f"/promote{who}: remaining steps skipped")
    fresh = any(m.get("target") != "stable" and m.get("outcome") in ("ok", "fail")
                and float(m.get("at", 0.0)) >= rec.state_since for m in rec.window)
    if action == "inconclusive" or (rec.state == PAUSED and not fresh):
        if rec.state == ANALYSING:
            rec = replace(rec, paused="inconclusive")
            return _enter(rec, PAUSED, now, f"inconclusive: {reasons}")
        if now - rec.state_since >= rec.plan.pause_timeout:
            return start_rollback(rec, now, f"inconclusive for {rec.plan.pause_timeout:g}s ({reasons}); "
                                            "rolling back to be safe")
        return rec
    if rec.state == PAUSED:  # inconclusive before, data again now: the step starts over
        rec = replace(rec, paused=None, step_started_at=now)
        return _enter(rec, ANALYSING, now, f"step {rec.step + 1}: data again, analysis resumes")
    if now - rec.step_started_at >= rec.plan.steps[rec.step].duration:
        judged = [m for m in rec.window if m.get("target") != "stable" and m.get("outcome") in ("ok", "fail")
                  and float(m.get("at", 0.0)) >= rec.step_started_at]
        if not judged:  # no data is never a silent pass
            rec = replace(rec, paused="inconclusive")
            return _enter(rec, PAUSED, now, f"step {rec.step + 1}: no canary measurement during the step")
        last = rec.step + 1 >= len(rec.plan.steps)
        if last and verdict.get("latency") == "nodata":
            rec = replace(rec, paused="inconclusive")
            return _enter(rec, PAUSED, now, f"latency: no data yet ({verdict.get('latency_detail') or 'too few samples'})")
        return _advance(rec, now, f"step {rec.step + 1} passed")
    return rec


def _burst(rec: Record, now: float, seconds: float) -> tuple[str, str]:
    """The verdict of the probe burst that started with this verification (``running`` / ``pass`` /
    ``fail``) and the probes that did not answer ok in it (``no data`` when none did)."""
    started = rec.verify_started_at or rec.state_since
    window = [m for m in rec.window if float(m.get("at", 0.0)) >= started]
    verdict = burst_verdict(window, rec.plan.probes, failures_allowed=rec.plan.rollback_failures,
                            complete=now - started >= seconds)
    failing = sorted({str(m.get("probe")) for m in window if m.get("outcome") != "ok"})
    return verdict, ", ".join(failing) or "no data"


def _verify(rec: Record, now: float) -> Record:
    verdict, failing = _burst(rec, now, rec.plan.verify_seconds)
    if verdict == "pass":
        return _succeed(rec, now)
    if verdict == "fail":
        return start_rollback(rec, now, f"production verification failed ({failing})")
    return rec


def _verify_rollback(rec: Record, now: float) -> Record:
    verdict, failing = _burst(rec, now, rec.plan.rollback_verify_seconds)
    if verdict == "running":
        return rec
    if verdict == "pass":
        rec = replace(rec, phase="")
        rec = _rollback_status(rec, "success", f"{_short(rec.rollback_target)} back in production, verified")
        return _enter(rec, rec.final, now, f"production back on {_short(rec.rollback_target)} and verified")
    rec = _rollback_status(rec, "failure", f"does not verify ({failing})")
    return _enter(rec, ERROR, now, f"production does not verify after the rollback ({failing}); a person must look")


def _rollback_status(rec: Record, state: str, description: str) -> Record:
    """The outcome on the rollback target's production deployment, when the rollback made one."""
    if not _has_deployment(rec, rollback_key(rec.plan)):
        return rec
    return _status(rec, "rollback", state, description)


def _finish(rec: Record, now: float) -> tuple[Record, tuple[Action, ...]]:
    rec = replace(rec, updated_at=now)
    return rec, rec.outbox


# ============================================================================================ commands

def with_request(rec: Record, kind: str, by: str = "", sha: str | None = None) -> Record:
    """A person's request (``/promote``, ``/rollback [sha]``, ``/abort``), consumed by the next step."""
    if kind not in REQUESTS:
        raise ValueError(f"unknown request {kind!r}")
    req: dict[str, Any] = {"kind": kind, "by": by}
    if sha:
        req["sha"] = sha
    if rec.request is not None and rec.request.get("kind") in ("rollback", "abort") and kind == "promote":
        return rec  # a pending rollback/abort is never replaced by a promote
    return replace(rec, request=req)


def _checkpoint_order(name: str) -> tuple[str, int]:
    """``checkpoint-YYYYMMDD-HHMMSS[-n]`` in time order (``-10`` after ``-9``)."""
    parts = name.split("-")
    if len(parts) == 4 and parts[3].isdigit():
        return "-".join(parts[:3]), int(parts[3])
    return name, 1


def previous_good(current: str | None, checkpoints: Sequence[tuple[str, str]],
                  pinned: str | None) -> tuple[str | None, str]:
    """Where ``/rollback`` without a SHA sends production when no deploy runs (pure): ``(sha, why)``.

    ``current``: what production runs (the newest successful production deployment); ``checkpoints``:
    ``(tag name, sha)`` of the ``checkpoint-*`` tags; ``pinned``: the rollback SHA pinned by the run that
    put ``current`` in production (the deployment before it). The last checkpoint that is not
    ``current`` — older than ``current``'s own checkpoint when it has one, so rolling back never moves
    forward past it — else ``pinned``; ``(None, why)`` when neither is known."""
    ordered = sorted(checkpoints, key=lambda item: _checkpoint_order(item[0]), reverse=True)
    own = next((i for i, (_, sha) in enumerate(ordered) if current and sha == current), None)
    for name, sha in ordered[own + 1 if own is not None else 0:]:
        if sha != current:
            where = "the last checkpoint" if own is None else "the checkpoint before production's"
            return sha, f"{where} (`{name}`)"
    if pinned and pinned != current:
        return pinned, "the production deployment before the current one"
    return None, "no earlier checkpoint tag or production deployment is known"


# ============================================================================================ (de)serialising

def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return dataclasses.asdict(plan)


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    steps = tuple(Step(**s) for s in data.get("steps") or ())
    rest = {k: v for k, v in data.items() if k != "steps"}
    rest["probes"] = tuple(rest.get("probes") or ())
    return Plan(steps=steps, **rest)


def to_dict(rec: Record) -> dict[str, Any]:
    data = dataclasses.asdict(rec)
    data["window"] = [dict(m) for m in rec.window]
    data["evidence"] = [dict(m) for m in rec.evidence]
    return data


def from_dict(data: Mapping[str, Any]) -> Record:
    values = dict(data)
    values["plan"] = plan_from_dict(values.get("plan") or {})
    values["outbox"] = tuple(Action(a["id"], a["kind"], dict(a.get("args") or {}), int(a.get("attempts", 0)))
                             for a in values.get("outbox") or ())
    values["window"] = tuple(values.get("window") or ())
    values["evidence"] = tuple(values.get("evidence") or ())
    values["history"] = tuple(values.get("history") or ())
    values["deployments"] = {str(k): int(v) for k, v in (values.get("deployments") or {}).items()}
    known = {f.name for f in dataclasses.fields(Record)}
    return Record(**{k: v for k, v in values.items() if k in known})


def plan_of(section: Any) -> Plan:
    """The :class:`Plan` of a ``deploy:`` section (``trunkline.config.sections_deploy.DeploySection``)."""
    from trunkline.config.sections_deploy import parse_duration

    steps = tuple(Step(weight=s.weight or 0, duration=s.seconds, manual=s.pause is not None) for s in section.steps)
    return Plan(steps=steps, rules=section.rules.model_dump(mode="json"),
                probes=tuple(p.name for p in section.probes),
                verify_seconds=parse_duration(section.verify_seconds),
                rollback_verify_seconds=parse_duration(section.rollback_verify_seconds),
                pause_timeout=parse_duration(section.pause_timeout),
                canary_env=section.environments.canary, production_env=section.environments.production)
