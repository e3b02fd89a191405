"""The canary-deploy chapter of ``trunkline demo``, and helpers the tests and the benchmark share.

``acme/storefront`` holds the example service (``examples/service``); production runs on this machine
through the local deployer (stable and canary processes behind a weighted proxy). A good change merged
to ``main`` goes out as a canary, passes its probes and is promoted: GitHub Deployments for both
environments and a checkpoint tag. A change whose ``/health`` turns 500 fails its probes and is rolled
back on its own: a rollback issue is opened and the merged PR is commented.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = "acme/storefront"


def service_files(change: str | None = None, slow_ms: int = 150) -> dict[str, str]:
    """The example service as repository files, optionally with one of its changes applied."""
    from trunkline.deploy.local.example import apply_change, copy_service

    with tempfile.TemporaryDirectory() as tmp:
        copy_service(Path(tmp))
        if change is not None:
            apply_change(Path(tmp), change, slow_ms=slow_ms)
        return {p.relative_to(tmp).as_posix(): p.read_text() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}


def changed_files(change: str, slow_ms: int = 150) -> dict[str, str]:
    """Only the files ``change`` edits (what a pull request for it pushes)."""
    base, new = service_files(), service_files(change, slow_ms=slow_ms)
    return {k: v for k, v in new.items() if base.get(k) != v}


#: A deploy workflow for the ``workflow`` deployer: the default inputs, and the dispatch key in its run-name
#: (a restarted worker finds the run by it). Tests dispatch it in the sandbox and play its runner.
DEPLOY_WORKFLOW = """name: deploy
run-name: deploy ${{ inputs.action }} ${{ inputs.sha }} [${{ inputs.key }}]
on:
  workflow_dispatch:
    inputs:
      action: {required: true, type: string}
      sha: {required: true, type: string}
      environment: {required: false, type: string}
      weight: {required: false, type: string}
      key: {required: false, type: string}
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps: [{run: ./deploy.sh}]
"""


def local_deploy_config(state: Path, *, wrapper: str = "", steps: str = "[{weight: 30, duration: 3}]",
                        probe: str = "interval_seconds: 0.5, timeout_seconds: 0.5", rules: str = "",
                        targets: str = "", verify: str = "1.5", rollback_verify: str = "1") -> str:
    """A ``.github/trunkline.yml`` deploying through ``trunkline local-deploy`` with state in ``state``.

    ``wrapper``: a program put in front of ``local-deploy`` (the tests count and slow down calls)."""
    base = wrapper or f"{sys.executable} -m trunkline.cli"
    common = f"--state {state}"
    return f"""\
version: 1
deploy:
  command:
    canary: {base} local-deploy canary {common} --sha {{sha}} --weight {{weight}}
    weight: {base} local-deploy weight {common} --weight {{weight}}
    promote: {base} local-deploy promote {common} --sha {{sha}}
    rollback: {base} local-deploy rollback {common} --sha {{sha}}
    status: {sys.executable} -m trunkline.cli local-deploy status {common}
    timeout_seconds: 90
{targets}  steps: {steps}
  probes:
    - {{name: health, path: /health, {probe}}}
  rules:
    window_seconds: 60
    alert_failures: 2
    rollback_failures: 3
    max_consecutive_errors: 4
{rules}  verify_seconds: {verify}
  rollback_verify_seconds: {rollback_verify}
  pause_timeout: 120
"""


def local_deploy(state: Path, *args: str) -> dict[str, Any]:
    """Run ``trunkline local-deploy ARGS --state STATE``; its JSON answer."""
    import json

    out = subprocess.run([sys.executable, "-m", "trunkline.cli", "local-deploy", *args, "--state", str(state)],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"local-deploy {' '.join(args)}: {out.stdout}{out.stderr}")
    return json.loads(out.stdout)


def bootstrap(sb: Any, repo: str, state: Path) -> str:
    """Production before Trunkline: the current ``main`` runs as stable, recorded as a successful
    GitHub production deployment (so the first run pins it as its rollback target). Returns its SHA."""
    from trunkline.sandbox import git

    r = sb.repo(repo)
    sha = git.branch_sha(r, r.default_branch) or ""
    local_deploy(state, "promote", "--repo", str(r.path), "--sha", sha)
    deployment = sb.deploy(repo, sha, environment="production", as_user=r.owner)
    sb.deploy_target(repo, deployment, "success", as_user=r.owner)
    return sha


def merge_change(sb: Any, repo: str, branch: str, files: dict[str, str], title: str, as_user: str) -> tuple[int, str]:
    """Push ``files`` on ``branch``, open a PR and merge it; (PR number, new main SHA)."""
    from trunkline.sandbox import git

    sb.push(repo, branch, files, title, as_user=as_user)
    number = sb.open_pr(repo, head=branch, title=title, as_user=as_user)
    sb.merge(repo, number, as_user=as_user)
    r = sb.repo(repo)
    return number, git.branch_sha(r, r.default_branch) or ""


def runs_of(db_url: str, repo: str) -> list[Any]:
    from trunkline.store.base import Store
    from trunkline.store.deploy_runs import DeployRunRepo

    store = Store(db_url)
    try:
        store.create_all()
        return DeployRunRepo(store).for_repo(repo)
    finally:
        store.dispose()


TERMINAL = frozenset({"succeeded", "rolled_back", "aborted", "superseded", "error"})


def wait_run(h: Any, repo: str, sha: str | None, states: set[str], timeout: float = 60.0) -> Any:
    """The bot's (latest) deploy run of ``sha`` (None: of any commit) once it is in one of ``states``; a
    terminal state counts once the run is done (its GitHub side effects — tag, issue — are made)."""
    url = f"sqlite:///{h.root}/bot/trunkline.db"

    def done() -> Any:
        found = [r for r in runs_of(url, repo) if sha is None or r.sha == sha]
        last = found[-1] if found else None
        if last is None or last.state not in states or (last.state in TERMINAL and not last.done):
            return None
        return last

    return h.wait_for(done, timeout, what=f"deploy run of {(sha or repo)[:12]} in {sorted(states)}")


def chapter_deploy(run: Any) -> None:
    sb, h = run.sandbox, run.harness
    state = Path(h.root) / "storefront-deploy"
    started = time.monotonic()
    run.step("acme/storefront (the example service) declares `deploy:` through the local deployer: canary at "
             "30% for 3 s, a /health probe every 0.5 s, roll back at 3 failures")
    sb.create_repo("acme", "storefront", files={**service_files(), ".github/trunkline.yml": local_deploy_config(state)})
    sb.grant(REPO, "dev", "write")
    try:
        old = bootstrap(sb, REPO, state)
        run.record(f"production runs {old[:7]} (stable process behind the proxy)", True)

        run.step("dev merges a harmless change (widgets 1.0.1)")
        number, good = merge_change(sb, REPO, "release-1.0.1", changed_files("good2"), "widgets 1.0.1", "dev")
        done = wait_run(h, REPO, good, {"succeeded", "rolled_back", "error", "paused"})
        r = sb.repo(REPO)
        with sb.world.lock:
            envs = {f"{d.environment}": max(d.statuses, key=lambda s: s.id).state
                    for d in r.deployments.values() if d.sha == good and d.statuses}
        tags = subprocess.run(["git", "--git-dir", str(r.path), "tag", "--list", "checkpoint-*", "--points-at", good],
                              capture_output=True, text=True).stdout.split()
        stable = local_deploy(state, "status")["stable"]["sha"]
        run.record(f"PR #{number} → canary 30% → promoted: deployments {envs}, tag {', '.join(tags) or 'none'}",
                   done.state == "succeeded" and envs.get("production") == "success" and bool(tags)
                   and stable == good, f"stable now {stable[:7]}")

        run.step("dev merges a change whose /health answers 500 (a missing migration)")
        number, bad = merge_change(sb, REPO, "schema-3", changed_files("bad_health"), "health: require schema 3",
                                   "dev")
        done = wait_run(h, REPO, bad, {"succeeded", "rolled_back", "error"})
        with sb.world.lock:
            issue = next((i for i in r.issues.values() if "trunkline-rollback" in i.labels), None)
            commented = any("rolled this change back" in c.body for c in r.comments.values()
                            if c.issue_number == number)
        stable = local_deploy(state, "status")["stable"]["sha"]
        run.record(f"probes failed → rolled back automatically ({done.state}); issue "
                   f"#{issue.number if issue else '-'} opened, PR #{number} commented",
                   done.state == "rolled_back" and issue is not None and commented and stable == good,
                   done.data["run"]["reason"][:100])
        run.record("deploy chapter time", True, f"{time.monotonic() - started:.1f} s")
    finally:
        try:
            local_deploy(state, "stop")
        except Exception:  # noqa: BLE001 - nothing was started
            pass
