"""Retention of agent run folders (``trunkline.agents.retention``): the pure decision (only finished runs,
only once old enough, never a folder a worker holds), the retention setting, and the agents service
pruning through a real store, with the pruned run's log link answering why."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.agents import retention
from trunkline.agents.retention import WORKSPACE_DIRS, Folder, Record, missing_logs_message, plan
from trunkline.logs import files, links

DAY = 86400.0
KEEP = 14 * DAY
NOW = 2_000_000_000.0


def _id(n: int) -> str:
    return f"20260101-000000-{n:08x}"


# ---------------------------------------------------------------------------------------------- the decision

STATES = st.sampled_from(["queued", "running", "done"])
AGES = st.floats(min_value=-DAY, max_value=40 * DAY, allow_nan=False)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Folder], dict[tuple[str, str, str], Record], set[str], float, float]:
    n = draw(st.integers(0, 12))
    folders, records, live = [], {}, set()
    for i in range(n):
        repo = draw(st.sampled_from(["calc", "web"]))
        entries = frozenset(draw(st.sets(st.sampled_from([*WORKSPACE_DIRS, "logs", "output", "run.json"]))))
        folder = Folder("acme", repo, _id(i), NOW - draw(AGES), entries)
        folders.append(folder)
        if draw(st.booleans()):  # a folder may have no record (a store that was reset)
            state = draw(STATES)
            finished = NOW - draw(AGES) if state == "done" and draw(st.booleans()) else None
            records[folder.key] = Record(state, finished)
        if draw(st.integers(0, 4)) == 0:
            live.add(folder.run_id)
    keep = draw(st.one_of(st.just(math.inf), st.floats(min_value=60, max_value=30 * DAY)))
    keep_workspace = draw(st.floats(min_value=0, max_value=2 * DAY))
    return folders, records, live, keep, keep_workspace


@given(world=worlds())
def test_only_finished_runs_not_held_and_older_than_the_age_are_ever_selected(world: tuple) -> None:
    folders, records, live, keep, keep_workspace = world
    by_key = {f.key: f for f in folders}
    removals = plan(folders, records, live=live, now=NOW, keep=keep, keep_workspace=keep_workspace)
    for removal in removals:
        folder = by_key[removal.parts[:3]]
        record = records.get(folder.key)
        assert folder.run_id not in live
        assert record is None or record.state == "done"  # never a queued or running run's folder
        newest = max(folder.mtime, record.finished_at or folder.mtime) if record else folder.mtime
        if len(removal.parts) == 3:  # the whole folder: only past the retention age
            assert NOW - newest > keep
        else:  # the workspace of a finished run: only past its own (shorter) age
            assert record is not None and removal.parts[3] in WORKSPACE_DIRS
            assert removal.parts[3] in folder.entries and NOW - newest > min(keep_workspace, keep)
    assert len({r.parts for r in removals}) == len(removals)
    # and retention does happen: every finished, unheld run past the age goes whole
    whole = {r.parts for r in removals if len(r.parts) == 3}
    for folder in folders:
        record = records.get(folder.key)
        if record is not None and record.state == "done" and folder.run_id not in live:
            if NOW - max(folder.mtime, record.finished_at or folder.mtime) > keep:
                assert folder.key in whole


def test_a_recently_finished_run_loses_its_checkout_first_then_everything() -> None:
    folder = Folder("acme", "calc", _id(1), NOW - 2 * 3600, frozenset({"checkout", "home", "logs", "output"}))
    records = {folder.key: Record("done", NOW - 2 * 3600)}
    first = plan([folder], records, live=(), now=NOW, keep=KEEP)
    assert sorted(r.parts[-1] for r in first) == ["checkout", "home"]
    assert plan([folder], records, live=(), now=NOW + 13 * DAY, keep=KEEP) == first  # logs kept
    later = plan([folder], records, live=(), now=NOW + 15 * DAY, keep=KEEP)
    assert [r.parts for r in later] == [folder.key]
    assert plan([folder], records, live={folder.run_id}, now=NOW + 15 * DAY, keep=KEEP) == []  # held here
    assert plan([folder], records, live=(), now=NOW + 400 * DAY, keep=math.inf) == first  # 0: logs forever
    running = {folder.key: Record("running")}
    assert plan([folder], running, live=(), now=NOW + 400 * DAY, keep=KEEP) == []


def test_the_retention_age_is_one_setting_with_a_safe_default(caplog: pytest.LogCaptureFixture) -> None:
    assert files.keep_seconds({}) == KEEP == files.KEEP_SECONDS
    assert files.keep_seconds({"TRUNKLINE_LOGS_RETENTION_DAYS": "30"}) == 30 * DAY
    assert files.keep_seconds({"TRUNKLINE_LOGS_RETENTION_DAYS": "0.5"}) == DAY / 2
    assert files.keep_seconds({"TRUNKLINE_LOGS_RETENTION_DAYS": "0"}) == math.inf  # keep forever
    for bad in ("-3", "two weeks", "nan"):
        assert files.keep_seconds({"TRUNKLINE_LOGS_RETENTION_DAYS": bad}) == KEEP
    assert "TRUNKLINE_LOGS_RETENTION_DAYS" in caplog.text


def test_the_message_says_the_logs_were_pruned_and_how_long_they_are_kept() -> None:
    gone = missing_logs_message(_id(1), state="done", finished_at=NOW - 20 * DAY, now=NOW, keep=KEEP)
    assert gone.startswith(f"the logs of agent run {_id(1)} were removed") and "kept 14 days" in gone
    assert "TRUNKLINE_LOGS_RETENTION_DAYS" in gone and "UTC" in gone
    elsewhere = missing_logs_message(_id(1), state="done", finished_at=NOW - DAY, now=NOW, keep=KEEP)
    assert "another host" in elsewhere and "were removed" not in elsewhere


def test_scan_reads_only_run_folders(tmp_path: Path) -> None:
    root = tmp_path / "agents"
    (root / "acme" / "calc" / _id(1) / "logs").mkdir(parents=True)
    (root / "acme" / "calc" / "notes").mkdir()  # not a run id
    (root / "acme" / "calc" / _id(2)).symlink_to(tmp_path)  # a link is never followed
    (root / "README").write_text("x")
    found = retention.scan(root)
    assert [(f.owner, f.repo, f.run_id, f.entries) for f in found] == [("acme", "calc", _id(1), frozenset({"logs"}))]
    assert retention.scan(tmp_path / "missing") == []


# ---------------------------------------------------------------------------------------------- the service

SECRET = "retention-secret"
OLD, RECENT, RUNNING, HELD = _id(0xA), _id(0xB), _id(0xC), _id(0xD)


def _age(path: Path, at: float) -> None:
    for p in [path, *path.rglob("*")]:
        os.utime(p, (at, at), follow_symlinks=False)


@pytest.fixture
def agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    from trunkline.agents.service import AgentService
    from trunkline.store.agent_runs import AgentRunRepo
    from trunkline.store.base import Store

    monkeypatch.setenv("TRUNKLINE_AGENTS_DIR", str(tmp_path / "agents"))
    monkeypatch.delenv("TRUNKLINE_LOGS_RETENTION_DAYS", raising=False)
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.create_all()
    service = AgentService(store, work_root=files.agents_root(), slots=1, progress_every=0)
    try:
        yield service, AgentRunRepo(store), store
    finally:
        links.reset()
        service.pool.shutdown(wait=False)
        store.dispose()


def _run(service: Any, runs: Any, run_id: str, *, created: float) -> Path:
    runs.create(id=run_id, repo="acme/calc", installation_id=1, issue=7, label="agent:implement", actor="dev",
                trigger=f"label:{run_id}", backend="local", executor="local", branch=f"trunkline/7-{run_id}",
                created_at=created, marker="m", steps=[])
    folder = service.work_root / "acme" / "calc" / run_id
    for sub in ("logs", "output", "checkout", "home"):
        (folder / sub).mkdir(parents=True)
    (folder / "logs" / "plan-1.log").write_text("$ agent plan\nplanned\n")
    (folder / "output" / "plan.md").write_text("the plan\n")
    (folder / "checkout" / "big.bin").write_bytes(b"x" * 1000)
    return folder


def test_the_service_prunes_old_finished_runs_keeps_live_ones_and_the_link_says_why(agents: tuple) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from trunkline.gates.runner import CancelToken
    from trunkline.logs.http import mount
    from trunkline.settings import Settings

    service, runs, store = agents
    now = time.time()
    old = _run(service, runs, OLD, created=now - 21 * DAY)
    assert runs.finish(OLD, outcome="succeeded", reason="opened #8", now=now - 20 * DAY)
    _age(old, now - 20 * DAY)
    recent = _run(service, runs, RECENT, created=now - 3 * 3600)
    assert runs.finish(RECENT, outcome="failed", reason="tests failed", now=now - 2 * 3600)
    _age(recent, now - 2 * 3600)
    running = _run(service, runs, RUNNING, created=now - 21 * DAY)  # a long-running run elsewhere, alive
    assert runs.claim_slot(RUNNING, "elsewhere:1:abcd", "elsewhere", now - 21 * DAY, limit=5)
    runs.update(RUNNING, heartbeat_at=now)
    _age(running, now - 20 * DAY)
    held = _run(service, runs, HELD, created=now - 21 * DAY)  # finished, but a worker here still holds it
    assert runs.finish(HELD, outcome="cancelled", reason="x", now=now - 20 * DAY)
    _age(held, now - 20 * DAY)
    service.tokens[HELD] = CancelToken()
    (service.work_root / "acme" / "calc" / "notes").mkdir()

    service.tick(now)  # the monitor's first tick (start-up) prunes

    assert not old.exists() and runs.get(OLD) is not None and runs.get(OLD).outcome == "succeeded"
    assert (recent / "logs" / "plan-1.log").exists() and (recent / "output" / "plan.md").exists()
    assert not (recent / "checkout").exists() and not (recent / "home").exists()
    assert (running / "checkout" / "big.bin").exists() and (running / "logs" / "plan-1.log").exists()
    assert (held / "checkout").exists() and (service.work_root / "acme" / "calc" / "notes").is_dir()

    # then hourly, not on every tick
    service.tokens.clear()
    service.tick(now + 60)
    assert held.exists()
    runs.update(RUNNING, heartbeat_at=now + 3601)  # its worker is alive elsewhere
    service.tick(now + 3601)
    assert not held.exists() and running.exists() and (recent / "logs").exists()

    # the pruned run's signed links answer 404 saying why; a kept run's log is served
    app = FastAPI()
    mount(app, Settings(webhook_secret=SECRET, public_url="http://logs.example"), store)
    signer = links.current()
    assert signer is not None
    client = TestClient(app)

    def get(path: str):  # noqa: ANN202
        url = urlsplit(signer.link(path))
        return client.get(f"{url.path}?{url.query}")

    for path in (links.agent_log_path(OLD, "plan-1.log"), links.agent_index_path(OLD)):
        response = get(path)
        assert response.status_code == 404, path
        message = response.json()["message"]
        assert f"the logs of agent run {OLD} were removed" in message and "kept 14 days" in message
    assert get(links.agent_log_path(RUNNING, "plan-1.log")).text == "$ agent plan\nplanned\n"
    assert get(links.agent_log_path(RECENT, "plan-1.log")).status_code == 200
    missing = get(links.agent_log_path(RECENT, "plan-9.log"))
    assert missing.status_code == 404 and "has no log 'plan-9.log'" in missing.json()["message"]
