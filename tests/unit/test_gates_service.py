"""The gates service: pure decisions, and the engine against an in-process sandbox GitHub + SQLite.

The sandbox part uses the real adapters (``AppClient`` over HTTP, PyGithub), a real store and real
processes: checkouts through the Git Data API, a cancel raised by a second service instance (another
worker process) and seen through the store, an orphaned run whose process tree outlived its worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.gates.config import Tier
from trunkline.gates.executors import actions as actions_exec
from trunkline.gates.executors.local import git_blob_sha, materialise, safe_relpath
from trunkline.gates.runner import MARKER_VAR
from trunkline.gates.service import (
    ORPHANED,
    GateService,
    Target,
    failed_tiers,
    is_orphaned,
    needs_adoption,
    superseded_reason,
)
from trunkline.store.gate_runs import DISPATCHED, DONE, RUNNING, GateRun, GateRunRepo

# ---- pure ---------------------------------------------------------------------------------------


def row(**kw) -> GateRun:  # noqa: ANN003
    base = dict(id=1, repo="acme/w", installation_id=1, number=1, head_sha="a" * 40, head_ref="f", tier="tier-0",
                executor="local", trigger="t", reason="", state=RUNNING, required=True, budget=60.0,
                check_run_id=5, owner="h1:100:x", host="h1", pgid=None, marker="m", heartbeat_at=1000.0,
                created_at=990.0, started_at=None, finished_at=None, cancel_reason=None, verdict=None,
                conclusion=None, title=None, workflow=None, dispatch_ref=None, dispatched_at=None,
                workflow_run_id=None, run_url=None)
    base.update(kw)
    return GateRun(**base)


def test_orphan_rules() -> None:
    alive, dead = (lambda pid: True), (lambda pid: False)
    kw = dict(me="h1:1:me", host="h1")
    assert is_orphaned(row(), now=1010, pid_alive=dead, **kw), "dead pid on this host"
    assert not is_orphaned(row(), now=1010, pid_alive=alive, **kw), "live owner with a fresh heartbeat"
    assert is_orphaned(row(), now=1000 + 61, pid_alive=alive, **kw), "heartbeat too old"
    assert not is_orphaned(row(owner="h2:100:x", host="h2"), now=1010, pid_alive=dead, **kw), "other host: heartbeat"
    assert is_orphaned(row(owner="h2:100:x", host="h2"), now=1100, pid_alive=alive, **kw)
    assert not is_orphaned(row(owner="h1:1:me"), now=99999, pid_alive=dead, **kw), "never our own"
    assert not is_orphaned(row(state=DONE), now=99999, pid_alive=dead, **kw)
    assert not is_orphaned(row(state=DISPATCHED, executor="actions"), now=99999, pid_alive=dead, **kw)
    assert needs_adoption(row(state=DISPATCHED, executor="actions"), now=1010, pid_alive=dead, **kw)
    assert not needs_adoption(row(state=DISPATCHED, executor="actions"), now=1010, pid_alive=alive, **kw)


def test_failed_tiers_takes_the_newest_run_of_our_app() -> None:
    runs = [
        {"id": 1, "name": "trunkline/tier-0", "status": "completed", "conclusion": "failure", "app": {"id": 7}},
        {"id": 2, "name": "trunkline/tier-0", "status": "completed", "conclusion": "success", "app": {"id": 7}},
        {"id": 3, "name": "trunkline/tier-1", "status": "completed", "conclusion": "timed_out", "app": {"id": 7}},
        {"id": 4, "name": "trunkline/lint", "status": "completed", "conclusion": "failure", "app": {"id": 9}},
        {"id": 5, "name": "trunkline/slow", "status": "in_progress", "conclusion": None, "app": {"id": 7}},
        {"id": 6, "name": "trunkline/gone", "status": "completed", "conclusion": "failure", "app": {"id": 7}},
        {"id": 7, "name": "trunkline/adv", "status": "completed", "conclusion": "neutral", "app": {"id": 7}},
    ]
    assert failed_tiers(runs, ["tier-0", "tier-1", "lint", "slow", "adv"], 7) == ["tier-1", "adv"]


def test_match_run_picks_the_oldest_fitting_dispatch() -> None:
    pending = [actions_exec.PendingDispatch(1, "v.yml", "a" * 40, 1000.0),
               actions_exec.PendingDispatch(2, "v.yml", "a" * 40, 1005.0),
               actions_exec.PendingDispatch(3, "other.yml", None, 990.0)]
    run = {"event": "workflow_dispatch", "path": ".github/workflows/v.yml", "head_sha": "a" * 40,
           "created_at": "1970-01-01T00:16:50Z"}  # 1010
    assert actions_exec.match_run(pending, run) == 1
    assert actions_exec.match_run(pending, run, taken={1}) == 2
    assert actions_exec.match_run(pending, {**run, "head_sha": "b" * 40}) is None
    assert actions_exec.match_run(pending, {**run, "event": "push"}) is None
    assert actions_exec.match_run(pending, {**run, "created_at": "1970-01-01T00:10:00Z"}) is None  # before
    assert actions_exec.match_run(pending, {**run, "path": ".github/workflows/other.yml", "head_sha": "c"}) == 3


@given(st.sampled_from(["success", "failure", "timed_out", "cancelled", "neutral", "skipped", "stale",
                        "action_required", None]))
def test_every_workflow_conclusion_has_a_verdict(conclusion: str | None) -> None:
    verdict, reason = actions_exec.verdict_from_run(conclusion)
    assert verdict in ("passed", "failed", "budget exceeded", "cancelled", "error")
    assert (verdict == "passed") == (conclusion == "success")
    assert verdict == "passed" or reason


@pytest.mark.parametrize(("path", "ok"), [("a/b.py", True), ("../x", False), ("/etc/passwd", False),
                                          (".git/config", False), ("a/.GIT/x", False), ("a\\b", False),
                                          ("a/./b", True), ("", False)])
def test_safe_relpath(path: str, ok: bool) -> None:
    assert (safe_relpath(path) is not None) == ok


def test_superseded_reason() -> None:
    assert superseded_reason("1a2b3c4d5e") == "superseded by 1a2b3c4"


# ---- against an in-process sandbox ----------------------------------------------------------------
# (marked slow: a sandbox server, real checkouts and processes; `make verify-fast` leaves them to tier 1)

@pytest.fixture
def world(tmp_path: Path):
    from trunkline.github.client import AppClient
    from trunkline.sandbox.actors import Sandbox
    from trunkline.store.base import Store

    folder = tmp_path / "seed"
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "run.sh").write_text("#!/bin/sh\necho ran from $(basename $(pwd))\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "deep" / "er" / "data.txt").write_text("payload\n")
    os.symlink("deep/er/data.txt", folder / "link.txt")
    with Sandbox(tmp_path / "sb") as sb:
        app = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="s")
        sb.create_repo("acme", "w", folder=folder)
        inst = sb.install(app, "acme")
        client = AppClient(app.id, app.private_key_pem or "", sb.url).installation(inst.id)
        store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
        store.create_all()
        services: list[GateService] = []

        def service(**kw) -> GateService:  # noqa: ANN003
            s = GateService(store, work_root=tmp_path / "gates", grace=0.5, poll_interval=0.2, **kw)
            services.append(s)
            return s

        yield sb, client, store, service
        for s in services:
            s.shutdown(wait=True)
        store.dispose()


def head(sb, name: str = "acme/w") -> str:  # noqa: ANN001
    from trunkline.sandbox import git

    return git.branch_sha(sb.repo(name), "main")


def wait_check(sb, check_id: int, timeout: float = 20.0):  # noqa: ANN001, ANN201
    repo = sb.repo("acme/w")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sb.world.lock:
            run = repo.check_runs.get(check_id)
            if run is not None and run.status == "completed":
                return run
        time.sleep(0.05)
    raise AssertionError(f"check run {check_id} did not complete")


def tier(name: str, *commands: str, budget: int = 60) -> Tier:
    return Tier(name, commands, budget, ("pull_request",), True)


@pytest.mark.slow
def test_local_run_checks_the_commit_out_and_completes_its_check(world) -> None:  # noqa: ANN001
    sb, client, store, service = world
    svc = service()
    sha = head(sb)
    result = svc.start(client, "acme", "w", tier("tier-0", "./run.sh", "cat link.txt", "test ! -e .git"),
                       Target(sha), trigger="t1", reason="test")
    assert result.status == "started"
    row = GateRunRepo(store).get(result.run_id)
    check = wait_check(sb, row.check_run_id)
    assert check.conclusion == "success", check.output
    assert check.name == "trunkline/tier-0" and check.head_sha == sha
    assert check.output["title"].startswith("tier-0 passed in ")  # ./run.sh ran (mode kept), link.txt read
    done = GateRunRepo(store).get(result.run_id)
    assert done.state == DONE and done.verdict == "passed"
    # the same trigger never starts the tier twice (a redelivered webhook)
    again = svc.start(client, "acme", "w", tier("tier-0", "true"), Target(sha), trigger="t1", reason="test")
    assert again.status == "duplicate"
    assert not any(Path(svc.work_root / "runs").iterdir()), "checkouts are removed"


@pytest.mark.slow
def test_materialise_keeps_modes_and_symlinks(world, tmp_path: Path) -> None:  # noqa: ANN001
    sb, client, _, _ = world
    dest = tmp_path / "co"
    notes = materialise(client, "acme", "w", head(sb), dest)
    assert notes == []
    assert os.access(dest / "run.sh", os.X_OK)
    assert (dest / "link.txt").is_symlink() and (dest / "link.txt").read_text() == "payload\n"
    assert (dest / "deep" / "er" / "data.txt").read_bytes() == b"payload\n"
    assert git_blob_sha(b"payload\n") == subprocess.run(["git", "hash-object", "--stdin"], input=b"payload\n",
                                                        capture_output=True, check=True).stdout.decode().strip()


@pytest.mark.slow
def test_cancel_from_another_worker_process_reaches_the_runner(world) -> None:  # noqa: ANN001
    sb, client, store, service = world
    owner_svc, other_svc = service(), service()  # two processes sharing the database
    sha = head(sb)
    result = owner_svc.start(client, "acme", "w", tier("slow", "sleep 30"), Target(sha, number=1),
                             trigger="t", reason="test")
    repo = GateRunRepo(store)
    deadline = time.monotonic() + 20
    while (repo.get(result.run_id).pgid is None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert repo.get(result.run_id).state == RUNNING
    started = time.monotonic()
    assert other_svc.cancel_stale("acme", "w", 1, "b" * 40, superseded_reason("b" * 40)) == 1
    check = wait_check(sb, repo.get(result.run_id).check_run_id, timeout=10)
    assert time.monotonic() - started < 5
    assert check.conclusion == "cancelled"
    assert check.output["title"] == "slow cancelled: superseded by bbbbbbb"


@pytest.mark.slow
def test_sweep_completes_an_orphaned_run_and_kills_its_leftovers(world) -> None:  # noqa: ANN001
    sb, client, store, service = world
    svc = service()
    sha = head(sb)
    _, check = client.request_json("POST", "/repos/acme/w/check-runs",
                                   input={"name": "trunkline/tier-1", "head_sha": sha, "status": "in_progress"})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a worker process that no longer exists
    leftover = subprocess.Popen(["sleep", "300"], env={"PATH": os.environ["PATH"], MARKER_VAR: "orphan-1"},
                                start_new_session=True)
    now = time.time()
    repo = GateRunRepo(store)
    orphan = repo.create(repo="acme/w", installation_id=client.installation_id, number=3, head_sha=sha,
                         tier="tier-1", executor="local", trigger="x", state=RUNNING, required=True, budget=300,
                         check_run_id=check["id"], owner=f"{svc.host}:{gone.pid}:dead", host=svc.host,
                         marker="orphan-1", heartbeat_at=now, created_at=now)
    svc.app = client.app  # what attach() learns from a delivery (without starting the monitor here)
    assert svc.sweep() == 1
    assert leftover.wait(10) is not None, "the orphan's processes were stopped"
    done = wait_check(sb, check["id"])
    assert done.conclusion == "failure"
    assert ORPHANED.split(";")[0] in done.output["summary"]
    assert repo.get(orphan.id).state == DONE
    assert svc.sweep() == 0, "once"


@pytest.mark.slow
def test_a_failed_check_creation_leaves_nothing_behind_so_the_retry_starts_the_tier(world) -> None:  # noqa: ANN001
    from github.GithubException import GithubException

    sb, client, store, service = world
    svc = service()
    sha = head(sb)
    sb.inject("POST", "/repos/{owner}/{repo}/check-runs", 502, times=1)
    with pytest.raises(GithubException):
        svc.start(client, "acme", "w", tier("tier-0", "true"), Target(sha), trigger="d7", reason="test")
    assert GateRunRepo(store).for_head("acme/w", sha) == []
    again = svc.start(client, "acme", "w", tier("tier-0", "true"), Target(sha), trigger="d7", reason="retry")
    assert again.status == "started"
    assert wait_check(sb, GateRunRepo(store).get(again.run_id).check_run_id).conclusion == "success"


def test_prune_drops_old_checkouts_and_unused_blobs(tmp_path: Path) -> None:
    from trunkline.gates.executors.local import BlobCache, prune_checkouts

    runs = tmp_path / "runs"
    (runs / "old").mkdir(parents=True)
    (runs / "new").mkdir()
    os.utime(runs / "old", (1000, 1000))
    assert prune_checkouts(runs, max_age=3600, now=1000 + 3601) == 1
    assert [p.name for p in runs.iterdir()] == ["new"]
    cache = BlobCache(tmp_path / "blobs")
    data = b"payload\n"
    cache.put(git_blob_sha(data), data)
    assert cache.get(git_blob_sha(data)) == data
    assert cache.prune(max_age=60, now=time.time()) == 0, "just used"
    assert cache.prune(max_age=60, now=time.time() + 120) == 1
    assert cache.get(git_blob_sha(data)) is None
