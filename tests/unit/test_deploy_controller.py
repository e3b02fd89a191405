"""The canary controller's pure state machine: scenarios, rollback from every state, crash resume, and
hypothesis properties over generated event sequences."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.deploy import controller as c

SHA = "a" * 40
OLD = "b" * 40
PLAN = c.Plan(steps=(c.Step(10, 3.0), c.Step(0, 0.0, manual=True), c.Step(50, 3.0)),
              rules={"window_seconds": 300, "alert_failures": 2, "rollback_failures": 3, "max_consecutive_errors": 3},
              probes=("health",), verify_seconds=2.0, rollback_verify_seconds=1.0, pause_timeout=30.0)


def m(outcome: str, at: float, target: str = "canary", probe: str = "health", latency: float = 5.0) -> dict:
    return {"probe": probe, "target": target, "at": at, "outcome": outcome,
            "latency_ms": None if outcome == "error" else latency, "detail": outcome}


class Sim:
    """Drives the pure step like the shell does: executes every returned action at once (ok unless told)."""

    def __init__(self, plan: c.Plan = PLAN, now: float = 1000.0) -> None:
        self.now = now
        self.rec = c.new_record("acme/shop", SHA, plan, now=now)
        self.executed: list[c.Action] = []
        self.fail_kinds: set[str] = set()
        self.deployer_state: dict = {}

    def tick(self, dt: float = 0.0, measurements: tuple = (), **obs) -> c.Record:
        self.now += dt
        rec, actions = c.step(self.rec, c.Observation(self.now, measurements=measurements,
                                                      production_sha=OLD, **obs))
        for _ in range(10):
            results = tuple(self.execute(a) for a in actions)
            if not results:
                break
            rec, actions = c.step(rec, c.Observation(self.now, results=results, production_sha=OLD))
        self.rec = rec
        return rec

    def execute(self, action: c.Action) -> c.Result:
        self.executed.append(action)
        if action.kind in self.fail_kinds:
            return c.Result(action.id, False, error=f"{action.kind} broke")
        if action.kind == c.CREATE_DEPLOYMENT:
            return c.Result(action.id, True, {"id": 100 + action.id})
        if action.kind == c.CONFIRM:
            return c.Result(action.id, True, {"confirmed": self.deployer_state.get("confirm", False)})
        return c.Result(action.id, True)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.executed]

    def probe(self, outcome: str, n: int = 1, target: str = "canary", dt: float = 0.5) -> c.Record:
        for _ in range(n):
            self.tick(dt, (m(outcome, self.now + dt, target), m("ok", self.now + dt, "stable")))
        return self.rec


def test_a_good_canary_walks_the_steps_stops_at_the_gate_and_promotes() -> None:
    sim = Sim()
    assert sim.tick().state == c.ANALYSING
    assert sim.rec.rollback_sha == OLD and sim.rec.weight == 10
    assert sim.kinds()[:3] == [c.CREATE_DEPLOYMENT, c.DEPLOYMENT_STATUS, c.DEPLOY_CANARY]
    sim.probe("ok", 7)
    assert sim.rec.state == c.PAUSED and sim.rec.paused == "manual"
    sim.probe("ok", 3)
    assert sim.rec.state == c.PAUSED  # the gate holds
    sim.rec = c.with_request(sim.rec, "promote", by="ops")
    sim.tick()
    assert sim.rec.state == c.ANALYSING and sim.rec.weight == 50 and sim.kinds()[-1] != c.PROMOTE
    sim.probe("ok", 7)
    assert sim.rec.state == c.VERIFYING
    assert c.PROMOTE in sim.kinds()
    sim.tick(0.5, (m("ok", sim.now + 0.5, "stable"),))
    sim.tick(2.0, (m("ok", sim.now + 2.0, "stable"),))
    assert sim.rec.state == c.SUCCEEDED and sim.rec.done
    assert sim.kinds()[-1] == c.TAG
    statuses = [(a.args["environment"], a.args["state"]) for a in sim.executed if a.kind == c.DEPLOYMENT_STATUS]
    assert statuses[-2:] == [("canary", "inactive"), ("production", "success")]
    assert set(sim.rec.deployments) == {"canary", "production"}


def test_three_failures_roll_back_and_the_rollback_is_verified() -> None:
    sim = Sim()
    sim.tick()
    sim.probe("fail", 2)
    assert sim.rec.state == c.ANALYSING and sim.rec.counters.get("alerts") == 1
    sim.probe("fail", 1)
    assert sim.rec.state == c.ROLLING_BACK and sim.rec.phase == "verify"
    rollback = [a for a in sim.executed if a.kind == c.ROLLBACK]
    assert rollback and rollback[0].args["sha"] == OLD
    assert c.REPORT_ROLLBACK in sim.kinds() and c.PROMOTE not in sim.kinds()
    # the window starts over for the verification; what decided the rollback is kept for the run's page
    assert sim.rec.window == () and [m["outcome"] for m in sim.rec.evidence if m["target"] == "canary"] == ["fail"] * 3
    sim.tick(0.5, (m("ok", sim.now + 0.5, "stable"),))
    sim.tick(1.0, (m("ok", sim.now + 1.0, "stable"),))
    assert sim.rec.state == c.ROLLED_BACK


def test_an_unreachable_canary_pauses_instead_of_rolling_back() -> None:
    sim = Sim()
    sim.tick()
    sim.probe("error", 3)
    assert sim.rec.state == c.PAUSED and sim.rec.paused == "inconclusive"
    assert c.ROLLBACK not in sim.kinds()
    sim.probe("ok", 1)
    assert sim.rec.state == c.ANALYSING  # data again: the step starts over
    sim.probe("error", 3)
    sim.tick(31.0)
    assert sim.rec.state == c.ROLLING_BACK  # inconclusive too long: fail safe
    assert "inconclusive" in sim.rec.reason


def test_a_step_without_any_canary_data_never_passes() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(5.0)
    assert sim.rec.state == c.PAUSED and "no canary measurement" in sim.rec.reason


def test_a_failed_canary_deploy_rolls_back_and_a_failing_rollback_ends_in_error() -> None:
    sim = Sim()
    sim.fail_kinds = {c.DEPLOY_CANARY}
    sim.tick()
    assert sim.rec.state == c.ROLLING_BACK
    sim2 = Sim()
    sim2.tick()
    sim2.fail_kinds = {c.ROLLBACK}
    sim2.rec = c.with_request(sim2.rec, "rollback", by="ops")
    sim2.tick()
    assert sim2.rec.state == c.ERROR and sim2.kinds().count(c.ROLLBACK) == c.ROLLBACK_ATTEMPTS


def test_a_newer_merge_supersedes_a_canary_but_not_a_promotion() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(0.1, newer_sha="c" * 40)
    assert sim.rec.state == c.SUPERSEDED
    promoting = replace(Sim().tick(), state=c.PROMOTING)
    rec, _ = c.step(promoting, c.Observation(2000.0, newer_sha="c" * 40))
    assert rec.state == c.PROMOTING


def test_a_queued_run_waits_for_the_older_one() -> None:
    sim = Sim()
    assert sim.tick(older_active=True).state == c.QUEUED
    assert sim.tick().state == c.ANALYSING


def test_after_a_crash_a_pending_deploy_is_confirmed_not_redone() -> None:
    sim = Sim()
    rec, actions = c.step(sim.rec, c.Observation(1000.0, production_sha=OLD))
    assert any(a.kind == c.DEPLOY_CANARY for a in actions)
    # the worker dies after persisting rec (the deploy may or may not have happened)
    sim.rec = rec
    sim.deployer_state["confirm"] = True
    sim.tick(5.0, resumed=True)
    assert sim.kinds().count(c.DEPLOY_CANARY) == 0 and c.CONFIRM in sim.kinds()
    assert sim.rec.state == c.ANALYSING
    # unconfirmable: fail safe toward rollback
    other = Sim()
    rec, _ = c.step(other.rec, c.Observation(1000.0, production_sha=OLD))
    other.rec = rec
    other.tick(5.0, resumed=True)
    assert other.rec.state == c.ROLLING_BACK and c.DEPLOY_CANARY not in other.kinds()


def test_after_a_crash_during_rollback_the_rollback_is_repeated() -> None:
    sim = Sim()
    sim.tick()
    sim.rec = c.start_rollback(sim.rec, sim.now, "test")
    sim.tick(1.0, resumed=True)
    assert sim.kinds().count(c.ROLLBACK) == 1 and sim.rec.phase == "verify"


def _reach(state: str) -> c.Record:
    """A record in ``state`` reached through real steps."""
    sim = Sim()
    if state == c.QUEUED:
        return sim.rec
    if state == c.DEPLOYING_CANARY:
        rec, _ = c.step(sim.rec, c.Observation(1000.0, production_sha=OLD))
        return rec
    sim.tick()
    if state == c.ANALYSING:
        return sim.rec
    if state == c.PAUSED:
        sim.probe("ok", 7)
        return sim.rec
    sim.probe("ok", 7)
    sim.rec = c.with_request(sim.rec, "promote")
    sim.tick()
    if state == c.PROMOTING:
        rec, _ = c.step(replace(sim.rec, state=c.ANALYSING, step=2, step_started_at=0.0),
                        c.Observation(sim.now, measurements=(m("ok", sim.now),)))
        assert rec.state == c.PROMOTING
        return rec
    sim.probe("ok", 7)
    if state == c.VERIFYING:
        return sim.rec
    assert state == c.ROLLING_BACK
    return c.start_rollback(sim.rec, sim.now, "test")


@pytest.mark.parametrize("state", c.ACTIVE)
def test_rollback_is_reachable_from_every_non_terminal_state(state: str) -> None:
    rec = _reach(state)
    assert rec.state == state
    rec = c.with_request(rec, "rollback", by="ops")
    rec, actions = c.step(rec, c.Observation(rec.updated_at + 0.1))
    assert rec.state == c.ROLLING_BACK
    assert any(a.kind == c.ROLLBACK for a in actions)
    assert not any(a.kind in (c.PROMOTE, c.DEPLOY_CANARY, c.SET_WEIGHT) for a in actions)


@pytest.mark.parametrize("state", c.ACTIVE)
def test_abort_from_every_non_terminal_state_ends_aborted(state: str) -> None:
    sim = Sim()
    sim.rec = c.with_request(_reach(state), "abort", by="ops")
    sim.now = sim.rec.updated_at
    sim.tick(0.1)
    if sim.rec.state == c.ROLLING_BACK:
        sim.tick(0.5, (m("ok", sim.now + 0.5, "stable"),))
        sim.tick(1.0, (m("ok", sim.now + 1.0, "stable"),))
    assert sim.rec.state == c.ABORTED
    if state != c.ROLLING_BACK:  # a rollback already under way has reported itself
        assert c.REPORT_ROLLBACK not in sim.kinds()


def test_explicit_rollback_sha_and_round_trip() -> None:
    sim = Sim()
    sim.tick()
    sim.rec = c.with_request(sim.rec, "rollback", by="ops", sha="d" * 40)
    sim.tick()
    assert [a.args["sha"] for a in sim.executed if a.kind == c.ROLLBACK] == ["d" * 40]
    assert c.from_dict(c.to_dict(sim.rec)) == sim.rec


def _statuses(sim: Sim, key: str) -> list[str]:
    return [a.args["state"] for a in sim.executed if a.kind == c.DEPLOYMENT_STATUS and a.args.get("key") == key]


@pytest.mark.parametrize("verified", [True, False])
def test_a_rollback_to_another_sha_records_a_production_deployment_of_it(verified: bool) -> None:
    sim = Sim()
    sim.tick()
    sim.rec = c.with_request(sim.rec, "rollback", by="ops", sha="d" * 40)
    sim.tick()
    key = c.rollback_key(PLAN)
    made = [a for a in sim.executed if a.kind == c.CREATE_DEPLOYMENT and a.args.get("key") == key]
    assert [(a.args["sha"], a.args["environment"], a.args["production"]) for a in made] == [("d" * 40, "production",
                                                                                              True)]
    assert key in sim.rec.deployments and _statuses(sim, key) == ["in_progress"]
    outcome = "ok" if verified else "fail"
    for dt in (0.4, 0.4, 0.4):
        sim.tick(dt, (m(outcome, sim.now + dt, "stable"),))
    assert sim.rec.state == (c.ROLLED_BACK if verified else c.ERROR)
    assert _statuses(sim, key) == ["in_progress", "success" if verified else "failure"]


def test_a_rollback_to_the_pinned_sha_makes_no_new_deployment() -> None:
    sim = Sim()
    sim.tick()
    sim.probe("fail", 3)
    sim.tick(1.0, (m("ok", sim.now + 1.0, "stable"),))
    assert sim.rec.state == c.ROLLED_BACK
    assert c.rollback_key(PLAN) not in sim.rec.deployments and not _statuses(sim, c.rollback_key(PLAN))


def test_a_queued_rollback_run_rolls_back_from_the_pinned_production_at_once() -> None:
    """``/rollback <sha>`` with no deploy running: a run pinned to production's SHA, asking to roll back."""
    rec = replace(c.new_record("acme/shop", SHA, PLAN, now=1.0, trigger="rollback:7"), rollback_sha=SHA)
    sim = Sim()
    sim.rec = c.with_request(rec, "rollback", by="ops", sha=OLD)
    sim.tick()
    assert sim.rec.state == c.ROLLING_BACK and c.DEPLOY_CANARY not in sim.kinds()
    assert [a.args["sha"] for a in sim.executed if a.kind in (c.ROLLBACK, c.CREATE_DEPLOYMENT)] == [OLD, OLD]


@pytest.mark.parametrize(("current", "tags", "pinned", "expected"), [
    # production runs the newest checkpoint: the one before it
    ("x2", [("checkpoint-20250101-000000", "x1"), ("checkpoint-20250102-000000", "x2")], "x1", "x1"),
    # several tags the same second: -10 is newer than -9
    ("x3", [("checkpoint-20250101-000000-9", "x2"), ("checkpoint-20250101-000000-10", "x3"),
            ("checkpoint-20250101-000000", "x1")], None, "x2"),
    # production on a commit without a checkpoint (rolled back by hand): the last checkpoint
    ("old", [("checkpoint-20250101-000000", "x1"), ("checkpoint-20250102-000000", "x2")], None, "x2"),
    # the only checkpoint is production's: the deployment before it
    ("x1", [("checkpoint-20250101-000000", "x1")], "old", "old"),
    # the same commit tagged twice is skipped
    ("x1", [("checkpoint-20250101-000000", "x0"), ("checkpoint-20250102-000000", "x1"),
            ("checkpoint-20250103-000000", "x1")], None, "x0"),
    # nothing known
    (None, [], None, None),
    ("x1", [], "x1", None),
])
def test_previous_good_for_rollback_without_a_sha(current, tags, pinned, expected) -> None:
    sha, why = c.previous_good(current, tags, pinned)
    assert sha == expected and why


@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from("abcde")), max_size=8),
       st.sampled_from([None, *"abcde"]), st.sampled_from([None, *"abcde"]))
def test_previous_good_never_returns_production_itself(tags: list, current: str | None, pinned: str | None) -> None:
    named = [(f"checkpoint-20250101-{n:06d}", sha) for n, sha in tags]
    sha, _ = c.previous_good(current, named, pinned)
    assert sha is None or sha != current
    assert sha is None or sha == pinned or sha in {t for _, t in named}


def test_no_steps_deploys_straight_to_production() -> None:
    sim = Sim(c.Plan(steps=(), probes=("health",), verify_seconds=1.0))
    sim.tick()
    assert sim.rec.state == c.VERIFYING and c.DEPLOY_CANARY not in sim.kinds()


# ---------------------------------------------------------------------------------------------- properties

event = st.one_of(
    st.tuples(st.just("probe"), st.sampled_from(["ok", "fail", "error"]), st.sampled_from(["canary", "stable"])),
    st.tuples(st.just("request"), st.sampled_from(list(c.REQUESTS)), st.none()),
    st.tuples(st.just("fail"), st.sampled_from(sorted(c.DEPLOYER_ACTIONS)), st.none()),
    st.tuples(st.just("resume"), st.none(), st.none()),
    st.tuples(st.just("crash"), st.none(), st.none()),
    st.tuples(st.just("newer"), st.none(), st.none()),
    st.tuples(st.just("wait"), st.floats(0.1, 40.0), st.none()),
)


@settings(max_examples=300)
@given(st.lists(event, max_size=60), st.booleans())
def test_properties_over_generated_runs(events: list, confirm: bool) -> None:
    sim = Sim()
    sim.deployer_state["confirm"] = confirm
    seen: list[str] = [sim.rec.state]
    rolled = False
    for kind, a, b in events:
        before = sim.rec
        if kind == "probe":
            sim.tick(0.5, (m(a, sim.now + 0.5, b),))
        elif kind == "request":
            sim.rec = c.with_request(sim.rec, a, by="x")
            sim.tick(0.1)
        elif kind == "fail":
            sim.fail_kinds = {a}
            sim.tick(0.1)
            sim.fail_kinds = set()
        elif kind == "resume":
            sim.tick(0.1, resumed=True)
        elif kind == "crash":  # step, persist, die before executing anything; another worker resumes
            rec, _ = c.step(sim.rec, c.Observation(sim.now + 0.1, production_sha=OLD))
            sim.rec = rec
            sim.tick(0.2, resumed=True)
        elif kind == "newer":
            sim.tick(0.1, newer_sha="c" * 40)
        else:
            sim.tick(a)
        # no transition out of a terminal state
        if before.terminal:
            assert sim.rec.state == before.state
        # never promote after a rollback was decided
        if before.state == c.ROLLING_BACK or rolled:
            rolled = True
            assert sim.rec.state not in (c.PROMOTING, c.VERIFYING, c.SUCCEEDED, c.ANALYSING, c.PAUSED)
        # at most one deployer action at a time
        assert sum(1 for x in sim.rec.outbox if x.deployer) <= 1
        assert sim.rec.state in c.STATES
        seen.append(sim.rec.state)
        # rollback is always reachable from a non-terminal state
        if not sim.rec.terminal:
            probe_rec, actions = c.step(c.with_request(sim.rec, "rollback"), c.Observation(sim.now + 0.01))
            assert probe_rec.state == c.ROLLING_BACK or sim.rec.state == c.ROLLING_BACK
    # every action executed after the run started rolling back is no promotion / canary step
    if c.ROLLING_BACK in seen:
        first = sim.executed.index(next(x for x in sim.executed if x.kind == c.ROLLBACK)) if c.ROLLBACK in sim.kinds() \
            else len(sim.executed)
        assert not any(x.kind == c.PROMOTE for x in sim.executed[first:])
    assert c.from_dict(c.to_dict(sim.rec)) == sim.rec


def test_deployer_notes_go_into_the_history_once() -> None:
    """A deployer's notes (a workflow without a `key` input) are visible in the run, not repeated per action."""
    note = "workflow has no `key` input: after a worker crash an in-flight action cannot be confirmed"

    class Noting(Sim):
        def execute(self, action: c.Action) -> c.Result:
            result = super().execute(action)
            if action.deployer:
                return replace(result, data={**result.data, "notes": [note]})
            return result

    sim = Noting()
    assert sim.tick().state == c.ANALYSING
    sim.probe("ok", 7)
    sim.rec = c.with_request(sim.rec, "promote", by="ops")
    sim.tick()
    sim.probe("ok", 7)
    assert sim.kinds().count(c.DEPLOY_CANARY) + sim.kinds().count(c.SET_WEIGHT) >= 2
    assert [line.split(" ", 1)[1] for line in sim.rec.history].count(f"note: {note}") == 1
