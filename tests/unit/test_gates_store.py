"""``gate_runs``: once-only transitions and lookups, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from trunkline.store.base import Store
from trunkline.store.gate_runs import DISPATCHED, DONE, QUEUED, RUNNING, GateRunRepo, repo_key


@pytest.fixture(params=["sqlite", "postgresql"])
def runs(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    else:
        s = Store(request.getfixturevalue("pg_schema_url"))
    s.create_all()
    repo = GateRunRepo(s)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    yield repo, prefix
    with s.begin() as conn:
        conn.execute(repo.table.delete().where(repo.table.c.repo.like(f"{prefix}%")))
    s.dispose()


def new(repo: GateRunRepo, key: str, **kw):  # noqa: ANN003, ANN201
    values = dict(repo=key, installation_id=1, number=7, head_sha="a" * 40, tier="tier-0", executor="local",
                  trigger="d1", required=True, budget=60.0, created_at=100.0, owner="h:1:x", marker="m")
    values.update(kw)
    return repo.create(**values)


def test_trigger_is_unique_per_head_and_tier(runs) -> None:  # noqa: ANN001
    repo, p = runs
    key = repo_key(f"{p}-Acme", "W")
    assert key == f"{p}-acme/w"
    first = new(repo, key)
    assert first is not None and first.state == QUEUED and first.active
    assert new(repo, key) is None, "redelivered webhook"
    assert new(repo, key, tier="tier-1") is not None
    assert new(repo, key, head_sha="b" * 40) is not None
    assert [r.tier for r in repo.active(key, number=7, head_sha="a" * 40)] == ["tier-0", "tier-1"]


def test_finish_and_cancel_happen_once(runs) -> None:  # noqa: ANN001
    repo, p = runs
    run = new(repo, f"{p}/w")
    assert repo.transition(run.id, (QUEUED,), state=RUNNING, pgid=42)
    assert not repo.transition(run.id, (QUEUED,), state=RUNNING)
    assert repo.request_cancel(run.id, "superseded by b")
    assert not repo.request_cancel(run.id, "again")
    assert [r.id for r in repo.cancel_requests("h:1:x")] == [run.id]
    assert repo.finish(run.id, verdict="cancelled", conclusion="cancelled", title="t", now=200.0)
    assert not repo.finish(run.id, verdict="passed", conclusion="success", title="t", now=201.0)
    done = repo.get(run.id)
    assert (done.state, done.verdict, done.cancel_reason, done.pgid) == (DONE, "cancelled", "superseded by b", None)
    assert repo.cancel_requests("h:1:x") == []
    assert not repo.request_cancel(run.id, "late")


def test_heartbeat_adopt_and_workflow_lookups(runs) -> None:  # noqa: ANN001
    repo, p = runs
    key = f"{p}/w"
    run = new(repo, key, executor="actions", state=DISPATCHED, workflow="v.yml")
    assert repo.heartbeat("h:1:x", 150.0) == 1
    assert repo.get(run.id).heartbeat_at == 150.0
    assert [r.id for r in repo.awaiting_run(key)] == [run.id]
    repo.update(run.id, workflow_run_id=99)
    assert repo.awaiting_run(key) == []
    assert [r.id for r in repo.by_workflow_run(key, 99)] == [run.id]
    assert repo.adopt(run.id, "h:1:x", "h:2:y", "h", 300.0)
    assert not repo.adopt(run.id, "h:1:x", "h:3:z", "h", 301.0), "compare-and-set on the old owner"
    assert repo.get(run.id).owner == "h:2:y"
    latest = repo.latest_per_tier(key, "a" * 40)
    assert latest["tier-0"].id == run.id
