"""Canary deploys end to end: sandbox GitHub + a real ``trunkline serve`` + the real local deployer.

Each test gets its own repository holding the example service (``examples/service``) and its own local
deployer state (stable and canary as real processes behind the weighted proxy). The bot deploys what is
merged through ``trunkline local-deploy`` (``command`` deployer) and probes the real processes over HTTP.
A small wrapper logs every deployer call (so tests can count them) and can slow the rollback down (so
the worker can be killed in the middle of it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from trunkline.demo.harness import BotHarness
from trunkline.deploy.demo import (
    DEPLOY_WORKFLOW,
    bootstrap,
    changed_files,
    local_deploy,
    local_deploy_config,
    merge_change,
    service_files,
    wait_run,
)
from trunkline.deploy.local.example import service_dir
from trunkline.store.base import Store
from trunkline.store.deploy_runs import DeployRunRepo

pytestmark = pytest.mark.slow

WRAPPER = """\
import os, subprocess, sys, time
log, rest = sys.argv[1], sys.argv[2:]
with open(log, "a") as f:
    f.write(" ".join(rest[:2]) + "\\n")
if rest[1] == "rollback" and os.path.exists(log + ".slow"):
    time.sleep(float(open(log + ".slow").read() or 4))
sys.exit(subprocess.call([sys.executable, "-m", "trunkline.cli", *rest]))
"""


def config(name: str, root: Path, *, extra_rules: str = "", steps: str = "", targets: str = "",
           probe: str = "interval_seconds: 0.3, timeout_seconds: 0.3") -> str:
    return local_deploy_config(root / f"state-{name}", wrapper=f"{sys.executable} {root / 'wrap.py'} "
                                                              f"{root / f'calls-{name}.log'}",
                               steps=steps or "[{weight: 30, duration: 3}, {weight: 60, duration: 2}]",
                               probe=probe, rules=extra_rules, targets=targets)


class Env:
    def __init__(self, h: BotHarness, root: Path) -> None:
        self.h = h
        self.sb = h.sandbox
        self.root = root
        self.store = Store(f"sqlite:///{h.root}/bot/trunkline.db")
        self.states: list[Path] = []

    def runs(self, repo: str) -> list[Any]:
        self.store.create_all()
        return DeployRunRepo(self.store).for_repo(repo)

    def wait_state(self, repo: str, states: set[str], timeout: float = 90.0) -> Any:
        try:
            return wait_run(self.h, repo, None, states, timeout)
        except TimeoutError:
            runs = self.runs(repo)
            history = runs[-1].data["run"]["history"] if runs else []
            raise AssertionError(f"{repo}: {[r.state for r in runs]}\n" + "\n".join(history) + "\n"
                                 + self.h.bot_log()[-4000:]) from None

    def local(self, name: str, *args: str) -> dict[str, Any]:
        return local_deploy(self.root / f"state-{name}", *args)

    def make(self, name: str, **kw: Any) -> tuple[str, str]:
        """A repository with the example service in production (stable) and a GitHub production deployment."""
        repo = f"acme/{name}"
        files = {**service_files(), ".github/trunkline.yml": config(name, self.root, **kw)}
        self.sb.create_repo("acme", name, files=files)
        if not self.sb.world.installations:
            self.h.install("acme")
        self.sb.grant(repo, "dev", "maintain")
        self.states.append(self.root / f"state-{name}")
        return repo, bootstrap(self.sb, repo, self.root / f"state-{name}")

    def merge_change(self, repo: str, branch: str, files: dict[str, str]) -> str:
        return merge_change(self.sb, repo, branch, files, f"change {branch}", "dev")[1]

    def calls(self, name: str) -> list[str]:
        path = self.root / f"calls-{name}.log"
        return path.read_text().splitlines() if path.exists() else []

    def stop_all(self) -> None:
        for state in self.states:
            subprocess.run([sys.executable, "-m", "trunkline.cli", "local-deploy", "stop", "--state", str(state)],
                           capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("deploy")
    (root / "wrap.py").write_text(WRAPPER)
    service_dir()  # the example service must be in this checkout
    h = BotHarness(root / "h", env={"TRUNKLINE_DEPLOY_TICK": "0.1", "TRUNKLINE_DEPLOY_LEASE_SECONDS": "5"})
    h.start()
    h.sandbox.world.user("dev")
    e = Env(h, root)
    try:
        yield e
    finally:
        h.stop()
        e.stop_all()
        e.store.dispose()
        shutil.rmtree(root / "h" / "bot" / "deploy", ignore_errors=True)


def deployments(sb: Any, repo: str) -> dict[str, list[str]]:
    r = sb.repo(repo)
    with sb.world.lock:
        return {f"{d.environment}:{d.sha[:7]}": [s.state for s in sorted(d.statuses, key=lambda s: s.id)]
                for d in r.deployments.values()}


def test_a_good_canary_is_promoted_with_deployments_and_a_checkpoint_tag(env: Env) -> None:
    repo, old = env.make("good")
    sha = env.merge_change(repo, "good2", changed_files("good2"))
    run = env.wait_state(repo, {"succeeded", "rolled_back", "error", "paused"})
    assert run.state == "succeeded", run.data["run"]["history"]
    assert run.sha == sha
    record = run.data["run"]
    assert record["rollback_sha"] == old  # pinned at start: the last successful production deployment
    status = env.local("good", "status")
    assert status["stable"]["sha"] == sha and (status["canary"] is None or status["weight"] == 0)
    assert [c.split()[1] for c in env.calls("good")] == ["canary", "weight", "promote"]
    found = deployments(env.sb, repo)
    assert found[f"canary:{sha[:7]}"][-1] == "inactive" and "in_progress" in found[f"canary:{sha[:7]}"]
    assert found[f"production:{sha[:7]}"][-1] == "success"
    assert found[f"production:{old[:7]}"][-1] == "inactive"  # GitHub retires the previous production
    r = env.sb.repo(repo)
    out = subprocess.run(["git", "--git-dir", str(r.path), "tag", "--list", "checkpoint-*", "--points-at", sha],
                         capture_output=True, text=True)
    tags = out.stdout.split()
    assert tags, "no checkpoint tag on the promoted commit"
    with env.sb.world.lock:
        statuses = [s for d in r.deployments.values() for s in d.statuses
                    if s.creator.endswith("[bot]") and s.description]  # not GitHub's auto_inactive ones
    assert statuses and all(s.log_url.startswith(f"{env.h.bot_url}/logs/deploy/{run.id}?expires=") for s in statuses)
    # the log URL is the run's page on the bot (a signed link)
    page = httpx.get(max(statuses, key=lambda s: s.id).log_url, timeout=10)
    assert page.status_code == 200 and f"Deploy run {run.id}: {repo} {sha[:7]} (succeeded)" in page.text
    assert old in page.text and "canary: " in page.text and "production: " in page.text
    assert httpx.get(f"{env.h.bot_url}/logs/deploy/{run.id}", timeout=10).status_code == 403  # unsigned
    # every status change is on the pipeline event stream as DeployStateChanged
    import sqlalchemy as sa

    from trunkline.api.events import DeployStateChanged

    with env.store.connect() as conn:
        bodies = [row[0] for row in conn.execute(sa.text(
            "SELECT body FROM stream_events WHERE type = 'deploy.state_changed' AND repo = :repo ORDER BY seq"),
            {"repo": repo})]
    events = [DeployStateChanged.model_validate_json(b) for b in bodies]
    assert [(e.environment, e.state) for e in events][-2:] == [("canary", "inactive"), ("production", "success")]
    assert any(e.canary_percent == 30 for e in events) and all(e.sha == sha for e in events)


def test_a_canary_whose_health_turns_500_rolls_back_opens_an_issue_and_comments_the_pr(env: Env) -> None:
    repo, old = env.make("broken")
    sha = env.merge_change(repo, "bad-health", changed_files("bad_health"))
    run = env.wait_state(repo, {"succeeded", "rolled_back", "error"})
    assert run.state == "rolled_back", run.data["run"]["history"]
    assert "failure(s)" in run.data["run"]["reason"] or "health" in json.dumps(run.data["run"]["history"])
    status = env.local("broken", "status")
    assert status["stable"]["sha"] == old and (status["canary"] is None or status["weight"] == 0)
    assert "promote" not in [c.split()[1] for c in env.calls("broken")]
    r = env.sb.repo(repo)
    with env.sb.world.lock:
        issues = [i for i in r.issues.values() if "trunkline-rollback" in i.labels]
        comments = [c.body for c in r.comments.values() if c.issue_number == 1 and c.user.endswith("[bot]")]
    assert len(issues) == 1 and sha[:7] in issues[0].title
    assert "health" in issues[0].body and old in issues[0].body and "| fail |" in issues[0].body
    assert any("rolled this change back" in body and f"#{issues[0].number}" in body for body in comments), comments
    assert deployments(env.sb, repo)[f"canary:{sha[:7]}"][-1] == "failure"
    # the issue links the run's page: the failing measurements are there
    link = re.search(r"\[deploy run (\d+)\]\((http://[^)\s]+)\)", issues[0].body)
    assert link is not None and int(link.group(1)) == run.id, issues[0].body
    page = httpx.get(link.group(2), timeout=10)
    assert page.status_code == 200 and "(rolled back)" in page.text and '<tr class="fail">' in page.text


def test_a_canary_that_only_got_slower_rolls_back_on_the_latency_rule(env: Env) -> None:
    # generous figures: on a loaded test machine /health itself takes a few hundred milliseconds
    latency = "    latency: {probe: health, alpha: 0.05, min_effect: 1.5, min_delta_ms: 100, min_samples: 8}\n"
    repo, old = env.make("sluggish", extra_rules=latency, steps="[{weight: 30, duration: 9}]",
                         probe="interval_seconds: 1, timeout_seconds: 1")
    env.merge_change(repo, "slow", changed_files("slow", slow_ms=400))
    run = env.wait_state(repo, {"succeeded", "rolled_back", "error"})
    assert run.state == "rolled_back", run.data["run"]["history"]
    record = run.data["run"]
    assert record["verdict"]["latency"] == "fail", record["verdict"]
    assert env.local("sluggish", "status")["stable"]["sha"] == old


def test_an_unreachable_canary_is_an_error_and_pauses_instead_of_rolling_back(env: Env) -> None:
    targets = "  targets: {canary: 'http://127.0.0.1:9', stable: 'http://127.0.0.1:9'}\n"
    repo, _old = env.make("dark", targets=targets)
    env.merge_change(repo, "good2", changed_files("good2"))
    run = env.wait_state(repo, {"paused", "rolled_back", "succeeded", "error"})
    assert run.state == "paused", run.data["run"]["history"]
    record = run.data["run"]
    assert record["paused"] == "inconclusive" and record["verdict"]["failures"] == 0
    assert record["verdict"]["errors"] >= 4
    assert "rollback" not in [c.split()[1] for c in env.calls("dark")]
    # a maintainer rolls it back by hand (the command goes through the registry)
    env.sb.comment(repo, 1, "/rollback", as_user="dev")
    run = env.wait_state(repo, {"rolled_back", "error"})
    # the stable target is unreachable too, so the rollback cannot be verified: it says so (error)
    assert "/rollback by @dev" in json.dumps(run.data["run"]["history"])


def test_sigkill_during_analysis_resumes_without_a_second_canary_deploy(env: Env) -> None:
    repo, _old = env.make("phoenix", steps="[{weight: 30, duration: 6}]")
    sha = env.merge_change(repo, "good2", changed_files("good2"))
    env.wait_state(repo, {"analysing"})
    env.h.stop_bot(kill=True)
    env.h.start_bot()
    run = env.wait_state(repo, {"succeeded", "rolled_back", "error"})
    assert run.state == "succeeded", run.data["run"]["history"]
    assert [c.split()[1] for c in env.calls("phoenix")] == ["canary", "promote"]
    assert any("resumed by another worker" in line for line in run.data["run"]["history"])
    assert env.local("phoenix", "status")["stable"]["sha"] == sha


def test_sigkill_during_rollback_resumes_and_finishes_it(env: Env) -> None:
    repo, old = env.make("lazarus")
    (env.root / "calls-lazarus.log.slow").write_text("4")
    env.merge_change(repo, "bad-health", changed_files("bad_health"))
    env.wait_state(repo, {"rolling_back"})
    time.sleep(1.0)  # the rollback command is running (it takes 4 s)
    env.h.stop_bot(kill=True)
    (env.root / "calls-lazarus.log.slow").unlink()
    env.h.start_bot()
    run = env.wait_state(repo, {"rolled_back", "error", "succeeded"})
    assert run.state == "rolled_back", run.data["run"]["history"]
    assert [c.split()[1] for c in env.calls("lazarus")].count("rollback") == 2  # repeated: rollback is idempotent
    status = env.local("lazarus", "status")
    assert status["stable"]["sha"] == old and (status["canary"] is None or status["weight"] == 0)
    proxy = httpx.get(f"{status['proxy_url']}/health", timeout=5)
    assert proxy.status_code == 200


def workflow_config(url: str) -> str:
    return f"""\
version: 1
deploy:
  deployer: workflow
  workflow: {{workflow: deploy.yml, timeout_seconds: 60}}
  targets: {{canary: '{url}', stable: '{url}'}}
  steps: [{{weight: 30, duration: 1}}]
  probes:
    - {{name: health, path: /health, interval_seconds: 0.3, timeout_seconds: 0.3}}
  rules: {{window_seconds: 60, alert_failures: 2, rollback_failures: 3, max_consecutive_errors: 4}}
  verify_seconds: 1
  rollback_verify_seconds: 1
  pause_timeout: 120
"""


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_sigkill_with_a_workflow_action_in_flight_confirms_it_through_the_workflow_run(env: Env) -> None:
    """The workflow deployer has no status to ask: after the restart the dispatched run is found by the key
    in its run-name; it finished successfully meanwhile, so the canary counts as deployed (not redone, not
    rolled back) and the run goes on to production."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    repo = "acme/actions-deploy"
    stop = threading.Event()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        env.sb.create_repo("acme", "actions-deploy", files={
            "README.md": "x\n", ".github/workflows/deploy.yml": DEPLOY_WORKFLOW,
            ".github/trunkline.yml": workflow_config(url)})
        if not env.sb.world.installations:
            env.h.install("acme")
        env.sb.grant(repo, "dev", "maintain")
        r = env.sb.repo(repo)

        def dispatched(action: str, *, open_only: bool = False) -> list[Any]:
            with env.sb.world.lock:
                return [x for x in r.workflow_runs.values() if x.display_title.startswith(f"deploy {action}".strip())
                        and not (open_only and x.status == "completed")]

        sha = env.sb.push(repo, "main", {"app.txt": "v2\n"}, "v2", as_user="dev")
        first = env.h.wait_for(lambda: dispatched("canary "), 60, what="the canary workflow dispatched")[0]
        run = env.wait_state(repo, {"deploying_canary"})
        assert run.sha == sha and f"[trunkline-{run.id}-" in first.display_title
        env.h.stop_bot(kill=True)  # the worker dies while it follows the workflow run
        env.sb.finish_workflow_run(repo, first.id, "success")  # the deploy finished without it

        def runner() -> None:  # plays GitHub's runner for whatever is dispatched after the restart
            while not stop.is_set():
                for x in dispatched("", open_only=True):
                    env.sb.finish_workflow_run(repo, x.id, "success")
                stop.wait(0.1)

        threading.Thread(target=runner, daemon=True).start()
        env.h.start_bot()
        run = env.wait_state(repo, {"succeeded", "rolled_back", "error"})
        history = "\n".join(run.data["run"]["history"])
        assert run.state == "succeeded", history
        assert "resumed by another worker" in history
        assert len(dispatched("canary ")) == 1 and len(dispatched("promote ")) == 1
        assert not dispatched("rollback ")
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
