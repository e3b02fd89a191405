"""``agent_runs``: redeliveries never start two runs, the per-repository concurrency limit (exact under
racing claims on SQLite and on a real PostgreSQL: ``pg_schema_url`` in tests/unit/conftest.py, skipped
with the reason when it is not there), once-only finishing, cancel requests and adopting a dead worker's run
(compare-and-set), and the orphan test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from trunkline.jobs.supervise import is_orphaned
from trunkline.store.agent_runs import DONE, QUEUED, RUNNING, AgentRunRepo
from trunkline.store.base import Store


@pytest.fixture
def runs(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.create_all()
    yield AgentRunRepo(store)
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_runs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentRunRepo]:
    url = f"sqlite:///{tmp_path / 'a.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")
    store = Store(url)
    store.create_all()
    yield AgentRunRepo(store)
    store.dispose()


def new(runs: AgentRunRepo, run_id: str, **kw: object):  # noqa: ANN201
    values = dict(id=run_id, repo="acme/calc", installation_id=1, issue=7, label="agent:implement", actor="dev",
                  trigger=f"label:{run_id}", backend="local", executor="local", branch=f"trunkline/7-{run_id}",
                  concurrency=2, created_at=100.0, marker="m", steps=[{"name": "plan", "status": "pending"}])
    values.update(kw)
    return runs.create(**values)


def test_a_redelivered_trigger_does_not_create_a_second_run(runs: AgentRunRepo) -> None:
    assert new(runs, "20250101-000000-00000001") is not None
    assert new(runs, "20250101-000000-00000002", trigger="label:20250101-000000-00000001") is None
    row = runs.get("20250101-000000-00000001")
    assert row is not None and row.state == QUEUED and row.step_list == [{"name": "plan", "status": "pending"}]


def race(runs: AgentRunRepo, ids: list[str], limit: int) -> list[str]:
    """Every run in ``ids`` claimed by its own thread, all released at the same instant; the winners."""
    won: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(ids))

    def claim(run_id: str) -> None:
        try:
            barrier.wait()
            if runs.claim_slot(run_id, f"owner-{run_id}", "h", 1.0, limit=limit):
                won.append(run_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return won


@pytest.mark.parametrize("limit", [1, 3])
def test_many_threads_claiming_at_once_never_exceed_the_limit(any_runs: AgentRunRepo, limit: int) -> None:
    """Rounds of 24 threads claiming 24 queued runs of one repository at the same instant (and a few of
    another repository's): exactly ``limit`` per repository win, every round, on both databases."""
    runs = any_runs
    threads_n, rounds = 24, 3
    for r in range(rounds):
        repo, other = f"acme/r{limit}-{r}", f"acme/o{limit}-{r}"
        ids = [f"2025010{limit}-0000{r:02d}-{i:08x}" for i in range(threads_n)]
        others = [f"2025010{limit}-0000{r:02d}-{0xff000000 + i:08x}" for i in range(4)]
        for run_id in ids:
            new(runs, run_id, repo=repo, concurrency=limit)
        for run_id in others:
            new(runs, run_id, repo=other, concurrency=limit)
        won = race(runs, ids + others, limit)
        assert runs.running_count(repo) == limit and len([w for w in won if w in ids]) == limit, (r, won)
        assert runs.running_count(other) == min(limit, len(others))
    # a finished run frees its slot for exactly one more
    repo = f"acme/r{limit}-0"
    running = [r for r in runs.in_state(RUNNING) if r.repo == repo]
    queued = [r for r in runs.in_state(QUEUED) if r.repo == repo]
    assert runs.finish(running[0].id, outcome="succeeded", reason="ok", now=2.0)
    results = [runs.claim_slot(q.id, "o", "h", 3.0, limit=limit) for q in queued[:2]]
    assert results == [True, False]


def test_finishing_cancelling_and_adopting_happen_once(runs: AgentRunRepo) -> None:
    run_id = "20250101-000000-0000000a"
    new(runs, run_id)
    assert runs.claim_slot(run_id, "host:1:x", "host", 10.0, limit=1)
    assert runs.request_cancel(run_id, "`/cancel` by @dev")
    assert not runs.request_cancel(run_id, "again")  # the first reason is kept
    assert [r.id for r in runs.cancel_requests("host:1:x")] == [run_id]
    assert runs.adopt(run_id, "host:1:x", "host:2:y", "host", 20.0)
    assert not runs.adopt(run_id, "host:1:x", "host:3:z", "host", 20.0)  # someone else adopted it first
    row = runs.get(run_id)
    assert row is not None and row.owner == "host:2:y" and row.resumes == 1
    assert runs.finish(run_id, outcome="cancelled", reason=row.cancel_reason or "", now=30.0)
    assert not runs.finish(run_id, outcome="failed", reason="late", now=31.0)
    done = runs.get(run_id)
    assert done is not None and done.state == DONE and done.outcome == "cancelled"


def test_a_running_run_whose_worker_died_is_an_orphan(runs: AgentRunRepo) -> None:
    run_id = "20250101-000000-0000000b"
    new(runs, run_id)
    runs.claim_slot(run_id, "host:4242:x", "host", 100.0, limit=1)
    row = runs.get(run_id)
    assert row is not None and row.state == RUNNING
    assert is_orphaned(row, now=101.0, me="host:1:me", host="host", pid_alive=lambda pid: False)
    assert not is_orphaned(row, now=101.0, me="host:1:me", host="host", pid_alive=lambda pid: True)
    assert is_orphaned(row, now=1000.0, me="host:1:me", host="host", pid_alive=lambda pid: True)  # no heartbeat
    runs.heartbeat("host:4242:x", 999.0)
    assert not is_orphaned(runs.get(run_id), now=1000.0, me="host:1:me", host="other", pid_alive=lambda pid: True)
