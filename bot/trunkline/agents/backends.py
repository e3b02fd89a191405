"""The ``actions`` backend: a stage is a ``workflow_dispatch`` of the pipeline's workflow on the run's
branch, followed until its workflow run completes (the workflow pushes its own commits to the branch).

The workflow never gets the issue's text as an input (inputs end up interpolated into ``run:`` lines):
it gets the run id, the stage, the iteration and a ref, ``refs/trunkline/agent-inputs/<run id>``, whose
commit holds the frozen input files (and ``failure.md`` on a retry) — ``git fetch origin <ref>`` reads
them. The run's conclusion decides the stage; a cancelled run is cancelled on GitHub too.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException
from github.InputGitTreeElement import InputGitTreeElement

from trunkline.gates.executors import actions as actions_exec

from .core import Step


def write_inputs_ref(client: Any, owner: str, repo: str, ref: str, files: dict[str, str], message: str) -> str:
    """Point ``ref`` at a new parentless commit holding ``files``; returns the commit sha."""
    repository = client.repo(owner, repo)
    elements = [InputGitTreeElement(path, "100644", "blob", content=text) for path, text in sorted(files.items())]
    tree = repository.create_git_tree(elements)
    commit = repository.create_git_commit(message, tree, [])
    base = f"/repos/{quote(owner)}/{quote(repo)}/git"
    name = ref[len("refs/"):]
    try:
        client.request_json("GET", f"{base}/ref/{quote(name, safe='/')}")
    except GithubException as exc:
        if exc.status != 404:
            raise
        client.request_json("POST", f"{base}/refs", input={"ref": ref, "sha": commit.sha})
    else:
        client.request_json("PATCH", f"{base}/refs/{quote(name, safe='/')}", input={"sha": commit.sha, "force": True})
    return str(commit.sha)


def run_actions_stage(run: Any, step: Step, iteration: int) -> Any:
    """Dispatch (or, after a restart, keep following) the stage's workflow run; a ``StageResult``."""
    from .service import INPUTS_REF, SHUTDOWN, StageResult

    s, row, client = run.s, run.row, run.client
    owner, repo = run.owner, run.repo
    if row.workflow_run_id is None:
        files = {f"input/{p.name}": p.read_text(encoding="utf-8") for p in sorted((run.folder / "input").iterdir())}
        failure = run.folder / "failure.md"
        if failure.exists():
            files["failure.md"] = failure.read_text(encoding="utf-8")
        ref = INPUTS_REF.format(run_id=row.id)
        write_inputs_ref(client, owner, repo, ref, files, f"agent run {row.id}: input for {step.name}")
        url = f"/repos/{quote(owner)}/{quote(repo)}/actions/workflows/{quote(run.spec.workflow)}/dispatches"
        body = {"ref": row.branch, "return_run_details": True,
                "inputs": {"run_id": row.id, "stage": step.name, "iteration": str(iteration), "inputs_ref": ref}}
        try:
            _, data = client.request_json("POST", url, input=body)
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else str(exc)
            return StageResult(False, f"GitHub refused to dispatch `.github/workflows/{run.spec.workflow}` on "
                                      f"`{row.branch}` ({exc.status}: {message})")
        if not isinstance(data, dict) or not data.get("workflow_run_id"):
            return StageResult(False, "GitHub did not return the dispatched workflow run's id")
        s.runs.update(row.id, workflow_run_id=int(data["workflow_run_id"]), run_url=data.get("html_url"))
        row = run.refresh()
    run_id = int(row.workflow_run_id)
    deadline = time.monotonic() + step.budget + 900  # the stage's budget plus time to find a runner
    keep = False
    try:
        while True:
            if run.token.wait(s.poll):
                if run.token.reason == SHUTDOWN:  # the next process follows the same workflow run
                    keep = True
                    return StageResult(False, cancelled=True)
                actions_exec.cancel_run(client, owner, repo, run_id)
                return StageResult(False, cancelled=True)
            data = actions_exec.get_run(client, owner, repo, run_id)
            if data.get("status") == "completed":
                conclusion = data.get("conclusion")
                if conclusion == "success":
                    return StageResult(True)
                if conclusion == "cancelled" and run.stopped() is not None:
                    return StageResult(False, cancelled=True)
                return StageResult(False, f"`{step.name}`: the workflow run {data.get('html_url') or run_id} "
                                          f"concluded **{conclusion}**")
            if time.monotonic() > deadline:
                actions_exec.cancel_run(client, owner, repo, run_id)
                return StageResult(False, f"`{step.name}`: the workflow run did not finish within the budget")
    finally:
        if not keep:
            s.runs.update(row.id, workflow_run_id=None)
