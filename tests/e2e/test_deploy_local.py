"""The local deployer with real git worktrees, real processes and the real weighted proxy.

One seeded repository and one state directory per module; the tests run in order and each leaves the
deployment in the state the next one starts from (stable = good at the end of each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from trunkline.deploy.local import DeployError, LocalDeployer
from trunkline.deploy.local.deployer import process_alive
from trunkline.deploy.local.example import apply_change, seed_repo
from trunkline.deploy.probes import ProbeSpec, run_probes
from trunkline.deploy.rules import LatencyRuleSpec, RulesSpec, evaluate

pytestmark = pytest.mark.slow

HEALTH = ProbeSpec(name="health", path="/health", expect_json=[{"path": "$.status", "equals": "ok"}])


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("service-repo")
    return path, seed_repo(path, slow_ms=60)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("local-deploy")


@pytest.fixture(scope="module")
def deployer(repo, state_dir):
    deployer = LocalDeployer(state_dir, str(repo[0]))
    try:
        yield deployer
    finally:
        record = json.loads((state_dir / "state.json").read_text()) if (state_dir / "state.json").exists() else {}
        LocalDeployer(state_dir).stop_all()
        for entry in (record.get("stable"), record.get("canary"), record.get("proxy")):
            if entry and entry.get("pid") and process_alive(entry["pid"], entry.get("start_time")):
                os.killpg(entry["pid"], signal.SIGKILL)


def served_shas(url: str, n: int) -> list[str]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        return [client.get(url + "/version").json()["sha"] for _ in range(n)]


def test_promote_good_as_first_stable(deployer, repo):
    _, shas = repo
    state = deployer.promote(shas["good"])
    assert state.stable.sha == shas["good"] and state.stable.alive
    assert state.canary is None and state.weight == 0 and state.proxy_alive
    assert set(served_shas(state.proxy_url, 10)) == {shas["good"]}
    assert httpx.get(state.stable.url + "/health", trust_env=False).json()["status"] == "ok"
    assert deployer.proxy_url == state.proxy_url and deployer.stable_url == state.stable.url
    assert deployer.promote(shas["good"]) == state  # idempotent


def test_canary_weights_split_traffic(deployer, repo):
    _, shas = repo
    state = deployer.deploy_canary(shas["good2"], 10)
    assert state.canary.sha == shas["good2"] and state.canary.alive and state.weight == 10
    served = served_shas(state.proxy_url, 100)
    assert served.count(shas["good2"]) == 10 and served.count(shas["good"]) == 90
    stats = deployer.proxy_stats()
    assert stats["counts"] == {"stable": 90, "canary": 10, "none": 0} and stats["weight"] == 10

    again = deployer.deploy_canary(shas["good2"], 10)  # same SHA and weight: nothing happens
    assert again == state
    half = deployer.deploy_canary(shas["good2"], 50)  # same SHA, new weight: no restart
    assert half.canary.pid == state.canary.pid and half.weight == 50
    served = served_shas(state.proxy_url, 40)
    assert served.count(shas["good2"]) == 20
    assert deployer.set_weight(50) == half
    assert deployer.canary_url == state.canary.url


def test_websocket_through_the_proxy(deployer):
    from websockets.sync.client import connect

    url = deployer.proxy_url.replace("http", "ws") + "/ws"
    for _ in range(4):  # weight 50: both backends answer
        with connect(url, proxy=None) as ws:
            ws.send("round trip")
            assert ws.recv(timeout=5) == "round trip"


def test_rollback_flips_to_stable_at_once(deployer, repo):
    _, shas = repo
    canary_pid = deployer.status().canary.pid
    started = time.monotonic()
    state = deployer.rollback()
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed  # generous; bench/canary.py measures it
    assert state.canary is None and state.weight == 0 and state.stable.sha == shas["good"]
    assert set(served_shas(state.proxy_url, 20)) == {shas["good"]}
    assert deployer.proxy_stats()["counts"]["canary"] == 0
    assert not process_alive(canary_pid, None)
    assert deployer.rollback() == state  # idempotent


def test_failing_health_canary_is_judged_for_rollback(deployer, repo):
    _, shas = repo
    state = deployer.deploy_canary(shas["bad_health"], 50)  # it starts (answers 500) — probes judge it
    statuses = [httpx.get(state.proxy_url + "/health", trust_env=False).status_code for _ in range(10)]
    assert statuses.count(500) == 5 and statuses.count(200) == 5
    window = []
    for _ in range(3):
        window += run_probes([HEALTH], state.canary.url, target="canary")
        window += run_probes([HEALTH], state.stable.url, target="stable")
    assert [m.outcome for m in window if m.target == "canary"] == ["fail"] * 3
    verdict = evaluate(window, RulesSpec(), time.time())
    assert verdict.action == "rollback" and "schema" in verdict.reasons[0]
    state = deployer.rollback()
    assert state.canary is None


def test_slower_canary_is_judged_by_the_latency_rule(deployer, repo):
    _, shas = repo
    state = deployer.deploy_canary(shas["slow"], 10)
    window = []
    for _ in range(10):
        window += run_probes([HEALTH], state.canary.url, target="canary")
        window += run_probes([HEALTH], state.stable.url, target="stable")
    assert {m.outcome for m in window} == {"ok"}  # it only got slower
    verdict = evaluate(window, RulesSpec(latency=LatencyRuleSpec(probe="health")), time.time())
    assert verdict.latency == "fail" and verdict.action == "rollback", verdict.reasons
    deployer.rollback()


def test_restarted_deployer_reattaches(deployer, repo, state_dir):
    _, shas = repo
    before = deployer.status()
    again = LocalDeployer(state_dir)  # a new worker: no repo given, everything from the record
    assert again.status() == before and before.stable.alive and before.proxy_alive
    state = again.deploy_canary(shas["good2"], 20)
    assert state.stable.pid == before.stable.pid and state.proxy_pid == before.proxy_pid
    promoted = again.promote(shas["good2"])
    assert promoted.stable.pid == state.canary.pid  # the canary process became stable: no restart
    assert promoted.canary is None and promoted.weight == 0
    assert not process_alive(before.stable.pid, None)
    assert set(served_shas(promoted.proxy_url, 10)) == {shas["good2"]}


def test_rollback_to_a_sha_redeploys_it_as_stable(deployer, repo):
    _, shas = repo
    old = deployer.status().stable
    state = deployer.rollback(shas["good"])
    assert state.stable.sha == shas["good"] and state.stable.pid != old.pid
    assert not process_alive(old.pid, None)
    assert set(served_shas(state.proxy_url, 10)) == {shas["good"]}


def test_dead_processes_are_restarted_on_the_next_operation(deployer, repo):
    _, shas = repo
    before = deployer.status()
    os.killpg(before.proxy_pid, signal.SIGKILL)
    os.killpg(before.stable.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while (process_alive(before.stable.pid, None) or process_alive(before.proxy_pid, None)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    down = deployer.status()
    assert not down.stable.alive and not down.proxy_alive
    state = deployer.deploy_canary(shas["good2"], 10)
    assert state.stable.alive and state.proxy_alive and state.proxy_url == before.proxy_url  # same port
    assert state.stable.sha == shas["good"] and state.stable.pid != before.stable.pid
    assert served_shas(state.proxy_url, 10).count(shas["good2"]) == 1
    deployer.rollback()


def test_bad_input_and_failed_starts(deployer, repo, tmp_path):
    _, shas = repo
    with pytest.raises(DeployError, match="weight must be an integer from 0 to 100"):
        deployer.deploy_canary(shas["good2"], 101)
    with pytest.raises(DeployError, match="is not in"):
        deployer.deploy_canary("0" * 40, 10)
    with pytest.raises(DeployError, match="no canary is deployed"):
        deployer.set_weight(30)
    broken = LocalDeployer(tmp_path / "broken", str(repo[0]), app_command="{python} -c 'raise SystemExit(3)'")
    try:
        with pytest.raises(DeployError, match="exited with status 3"):
            broken.deploy_canary(shas["good"], 10)
        state = broken.status()
        assert state.canary is None and state.proxy_alive
    finally:
        broken.stop_all()
    assert deployer.status().stable.alive


def local_deploy(*args):
    return subprocess.run([sys.executable, "-m", "trunkline.cli", "local-deploy", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli(deployer, repo, state_dir):
    _, shas = repo
    canary = local_deploy("canary", "--state", str(state_dir), "--sha", shas["good2"], "--weight", "25")
    assert canary.returncode == 0, canary.stderr
    document = json.loads(canary.stdout)
    assert document["canary"]["sha"] == shas["good2"] and document["weight"] == 25
    assert document["stable"]["url"].startswith("http://127.0.0.1:")  # the command deployer's targets
    status = json.loads(local_deploy("status", "--state", str(state_dir)).stdout)
    assert status == document
    weight = json.loads(local_deploy("weight", "--state", str(state_dir), "--weight", "0").stdout)
    assert weight["weight"] == 0
    rolled = json.loads(local_deploy("rollback", "--state", str(state_dir)).stdout)
    assert rolled["canary"] is None and rolled["stable"]["sha"] == shas["good"]
    relative = subprocess.run([sys.executable, "-m", "trunkline.cli", "local-deploy", "canary", "--state",
                               str(state_dir), "--repo", ".", "--sha", "good2", "--weight", "5"],
                              cwd=repo[0], capture_output=True, text=True, timeout=120)  # a branch name, repo "."
    assert relative.returncode == 0, relative.stderr
    assert json.loads(relative.stdout)["canary"]["sha"] == shas["good2"]
    assert json.loads((state_dir / "state.json").read_text())["repo"] == str(repo[0].resolve())
    local_deploy("rollback", "--state", str(state_dir))
    missing = local_deploy("canary", "--state", str(state_dir), "--weight", "5")
    assert missing.returncode == 2 and "needs --sha" in missing.stderr
    failed = local_deploy("promote", "--state", str(state_dir), "--sha", "f" * 40)
    assert failed.returncode == 1 and "is not in" in json.loads(failed.stdout)["error"]
    assert "Traceback" not in failed.stderr


def test_apply_change_edits_a_checkout(tmp_path):
    from trunkline.deploy.local.example import copy_service

    copy_service(tmp_path)
    assert apply_change(tmp_path, "bad_health") == "health: require storage schema 3"
    assert "EXPECTED_SCHEMA = 3" in (tmp_path / "examples/service/health.py").read_text()
    with pytest.raises(ValueError, match="does not contain"):
        apply_change(tmp_path, "bad_health")  # already applied
    with pytest.raises(KeyError):
        apply_change(tmp_path, "nope")


def test_stop_all_leaves_no_process(deployer, state_dir):
    state = deployer.status()
    pids = [state.stable.pid, state.proxy_pid]
    deployer.stop_all()
    assert not any(process_alive(pid, None) for pid in pids)
    stopped = deployer.status()
    assert stopped.stable is None and stopped.canary is None and not stopped.proxy_alive
    # nothing at all still runs from the state directory's worktrees
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            assert not cwd.startswith(str(state_dir)), f"process {proc.name} still runs in {cwd}"
    assert not list((state_dir / "worktrees").iterdir())
