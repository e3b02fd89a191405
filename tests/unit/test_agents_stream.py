"""Agent runs on the pipeline event stream: every ``agent_run.state_changed`` the agents service builds
is a valid message of contracts/asyncapi.yaml (checked with the contract's own JSON Schema, not only the
generated model), each transition has one id (a resumed run does not publish it twice), and publishing
never fails a run. The service's finishing path runs for real against SQLite (no GitHub: its progress
comment fails and is logged, which must not stop the event)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline import stream
from trunkline.agents import announce as ev
from trunkline.agents.core import CANCELLED, FAILED, SUCCEEDED
from trunkline.agents.service import AgentService
from trunkline.api.events import AgentRunStateChanged
from trunkline.store.agent_runs import AgentRunRepo
from trunkline.store.base import Store
from trunkline.stream.demo import contract_validators
from trunkline.stream.publish import Publisher

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "20250101-120000-0a1b2c3d"
STATES = sorted(ev.FINAL | {ev.QUEUED, ev.RUNNING, ev.RESUMED, ev.STAGE_STARTED, ev.STAGE_PASSED, ev.RETRYING})


@functools.cache
def contract_validator() -> jsonschema.Draft7Validator:
    return contract_validators(ROOT / "contracts/asyncapi.yaml")["agent_run.state_changed"]


@pytest.fixture
def validator() -> jsonschema.Draft7Validator:
    return contract_validator()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'a.db'}")
    s.create_all()
    yield s
    s.dispose()


@pytest.fixture
def publisher(store: Store) -> Iterator[Publisher]:
    p = Publisher(store)
    previous = stream.install(p)
    yield p
    stream.uninstall(p, previous)


def new(runs: AgentRunRepo, run_id: str = RUN_ID, **kw: object):  # noqa: ANN201
    values = dict(id=run_id, repo="acme/calc", installation_id=1, issue=7, label="agent:implement", actor="dev",
                  trigger=f"label:{run_id}", backend="local", executor="local", branch=f"trunkline/7-{run_id}",
                  concurrency=1, created_at=100.0, marker="m",
                  steps=[{"name": "plan", "status": "pending"}, {"name": "tier:tier-0", "status": "pending"}])
    values.update(kw)
    row = runs.create(**values)
    assert row is not None
    return row


def published(p: Publisher) -> list[dict]:
    return [json.loads(r.body) for r in p.events.after(0)]


def message(fields: dict) -> dict:
    return json.loads(stream.to_json(stream.make(AgentRunStateChanged, **fields)))


def test_a_runs_life_gives_valid_messages_with_one_id_per_transition(store: Store, publisher: Publisher,
                                                                      validator) -> None:
    runs = AgentRunRepo(store)
    row = new(runs)
    ev.announce(row, ev.QUEUED)
    ev.announce(row, ev.RUNNING)
    for state, stage, index in [(ev.STAGE_STARTED, "plan", 0), (ev.STAGE_PASSED, "plan", 0),
                                (ev.STAGE_STARTED, "tier:tier-0", 1)]:
        ev.announce(row, state, stage=stage, iteration=1, key=(index, 1))
    ev.announce(row, ev.RETRYING, stage="tier:tier-0", iteration=1, reason="`tier-0` failed: 1 test\nmore",
                key=(1,))
    # the worker dies; the next one resumes from the checkpoint and goes through the same transitions:
    # they are not published again, only what is new
    runs.update(row.id, resumes=1, failures=1)
    resumed = runs.get(row.id)
    ev.announce(resumed, ev.RESUMED, key=(resumed.resumes,))
    ev.announce(resumed, ev.STAGE_STARTED, stage="plan", iteration=1, key=(0, 1))  # a repeat
    ev.announce(resumed, ev.STAGE_STARTED, stage="plan", iteration=2, key=(0, 2))
    runs.finish(row.id, outcome=SUCCEEDED, reason="opened #12", now=200.0, opened_pr=12,
                pr_url="https://github.example/acme/calc/pull/12")
    done = runs.get(row.id)
    ev.announce(done, ev.final_state(done.outcome, done.reason, pr_number=done.pr_number), reason=done.reason)
    ev.announce(done, ev.PR_OPENED, reason=done.reason)  # a finish seen twice (two processes): once

    messages = published(publisher)
    for m in messages:
        validator.validate(m)
        AgentRunStateChanged.model_validate(m)
    assert [(m["state"], m.get("stage"), m.get("iteration")) for m in messages] == [
        ("queued", None, None), ("running", None, None), ("stage_started", "plan", 1), ("stage_passed", "plan", 1),
        ("stage_started", "tier:tier-0", 1), ("retrying", "tier:tier-0", 1), ("resumed", None, None),
        ("stage_started", "plan", 2), ("pr_opened", None, None)]
    assert len({m["id"] for m in messages}) == len(messages)
    assert all(m["run_id"] == RUN_ID and m["repository"] == "acme/calc" and m["issue"] == 7 for m in messages)
    last = messages[-1]
    assert last["pull_request"] == 12 and last["pr_url"].endswith("/pull/12") and last["reason"] == "opened #12"
    assert "pull_request" not in messages[0] and "pr_url" not in messages[0]


def test_final_states() -> None:
    assert ev.final_state(SUCCEEDED, "opened #3", pr_number=None) == "pr_opened"
    assert ev.final_state(SUCCEEDED, "pushed to `x`", pr_number=3) == "pr_updated"
    assert ev.final_state(CANCELLED, ev.superseded_reason(RUN_ID), pr_number=None) == "superseded"
    assert ev.final_state(CANCELLED, "the `agent:implement` label was removed", pr_number=None) == "cancelled"
    assert ev.final_state(FAILED, "stopped after 3 failed iterations", pr_number=None) == "failed"


def test_position_says_where_a_finished_run_stopped(store: Store) -> None:
    runs = AgentRunRepo(store)
    row = new(runs)
    assert ev.position(row) == (None, None)  # no stage started yet
    runs.update(row.id, step_index=1, failures=2, steps=[{"name": "plan", "status": "passed"},
                                                         {"name": "tier:tier-0", "status": "failed"}])
    assert ev.position(runs.get(row.id)) == ("tier:tier-0", 2)  # failed: the iteration that failed
    runs.update(row.id, steps=[{"name": "plan", "status": "passed"}, {"name": "tier:tier-0", "status": "running"}])
    assert ev.position(runs.get(row.id)) == ("tier:tier-0", 3)  # cancelled mid-stage: the one running
    runs.update(row.id, step_index=2)
    assert ev.position(runs.get(row.id)) == (None, None)  # after the last step


@given(state=st.sampled_from(STATES), stage=st.none() | st.text(max_size=40),
       iteration=st.none() | st.integers(-3, 50), reason=st.none() | st.text(max_size=3000),
       opened=st.none() | st.integers(-1, 10**6), pr_number=st.none() | st.integers(-1, 10**6),
       pr_url=st.none() | st.sampled_from(["https://github.com/a/b/pull/1", "not a url", ""]),
       key=st.tuples(st.integers(0, 9), st.text(max_size=200)))
def test_fields_always_make_a_valid_message(state, stage, iteration, reason, opened, pr_number, pr_url, key) -> None:
    from types import SimpleNamespace

    run = SimpleNamespace(id=RUN_ID, repo="acme/calc", issue=7, label="agent:implement",
                          branch=f"trunkline/7-{RUN_ID}", opened_pr=opened, pr_number=pr_number, pr_url=pr_url)
    data = message(ev.state_fields(run, state, stage=stage, iteration=iteration, reason=reason, key=key))
    contract_validator().validate(data)
    assert data["state"] == state and len(data["id"]) <= 100
    assert data["id"] == ev.state_fields(run, state, key=key)["id"]  # the id depends on the transition only


def test_the_service_announces_a_superseded_queued_run_once_and_a_broken_stream_fails_nothing(
        store: Store, publisher: Publisher, tmp_path: Path, validator) -> None:
    service = AgentService(store, work_root=tmp_path / "agents", slots=1)
    try:
        row = new(service.runs)
        service.cancel(row, ev.superseded_reason("20250101-120001-0a1b2c3e"))  # no GitHub: the comment fails
        service.cancel(service.runs.get(row.id), "cancelled again")  # already done: nothing more
        [m] = published(publisher)
        validator.validate(m)
        assert m["state"] == "superseded" and m["reason"].startswith("superseded by run")
        assert service.runs.get(row.id).outcome == CANCELLED
        # the event log cannot be written: the run still finishes
        other = new(service.runs, "20250101-120002-0a1b2c3f", trigger="label:2")
        publisher.events.store = None  # type: ignore[assignment]
        service.cancel(other, "the `agent:implement` label was removed")
        assert service.runs.get(other.id).state == "done" and publisher.dropped == 1
    finally:
        service.pool.shutdown(wait=False)
