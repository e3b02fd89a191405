"""GitHub Actions: workflows (discovered from ``.github/workflows/*.yml`` via git), dispatches, runs,
artifacts.

Nothing executes: a dispatch records a queued ``WorkflowRun`` and announces
``workflow_run.requested``. Tests and the demo play the runner with the world-level
``start_run`` / ``complete_run`` (``workflow_run.in_progress`` / ``completed``), which have no
REST route on GitHub either. ``POST .../cancel`` completes a run as ``cancelled``.

Artifacts: the runner's ``actions/upload-artifact`` talks to an internal service, not the REST API, so
the world-level :func:`upload_artifact` plays it (a zip of the given files). The REST side is GitHub's:
list (per run or per repository, ``?name=``), get, and ``GET .../artifacts/{id}/zip``, which answers
``302`` with a short-lived signed ``Location`` outside the API (GitHub: blob storage; here
``/_sandbox/blobs/artifacts/{id}?expires=&sig=``, served without authentication, like a signed URL).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import time
import weakref
import zipfile
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .. import git
from ..http import GitHubError, get_repo, not_found, paginate, require_write, validation_failed, world_of
from ..shapes import actions as shapes
from ..shapes.issues import envelope
from ..world import Artifact, Repo, Workflow, WorkflowRun, World, now

router = APIRouter()

WORKFLOWS_DIR = ".github/workflows"
RUN_STATUSES = ("queued", "in_progress", "completed", "requested", "waiting", "pending")
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "skipped", "stale", "success", "timed_out")
MAX_INPUTS = 25
ARTIFACT_RETENTION_DAYS = 90
BLOB_URL_SECONDS = 60  # GitHub's artifact download URLs expire after a minute
BLOB_PREFIX = "/_sandbox/blobs/artifacts"
_blob_keys: weakref.WeakKeyDictionary[World, bytes] = weakref.WeakKeyDictionary()


# ============================================================================ pure decisions

def parse_workflow(text: str) -> dict[str, Any]:
    """A workflow file's YAML (YAML 1.2: ``on`` stays a string key); {} when unreadable."""
    try:
        data = YAML(typ="safe", pure=True).load(io.StringIO(text))
    except YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    """``on:`` as a dict event -> config, whether written as a string, a list or a mapping."""
    on = doc.get("on", doc.get(True))  # a YAML 1.1 loader would have turned "on" into True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {str(e): None for e in on}
    if isinstance(on, dict):
        return {str(k): v for k, v in on.items()}
    return {}


def _as_sent(value: Any) -> str:
    """An input value as the workflow sees it: a string (JSON booleans as ``true`` / ``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def input_value_error(name: str, spec: Mapping[str, Any], value: Any) -> str | None:
    """GitHub's 422 message when ``value`` does not fit input ``name``'s declared ``type`` (None when it does).

    ``choice`` and ``boolean`` answer with GitHub's words (seen in gh's and users' reports, e.g. cli/cli#5246:
    ``Provided value '' for input 'debug' not in the list of allowed values``; a boolean's allowed values are
    ``true`` and ``false``). For ``number`` no report of GitHub's exact words was found: the sandbox answers in
    the same pattern, plainly (``... is not a number``). ``string`` and ``environment`` are not checked."""
    kind = spec.get("type")
    text = _as_sent(value)
    if kind == "choice":
        options = spec.get("options")
        allowed = [_as_sent(o) for o in options] if isinstance(options, list) else []
        if text not in allowed:
            return f"Provided value '{text}' for input '{name}' not in the list of allowed values"
    elif kind == "boolean":
        if text not in ("true", "false"):
            return f"Provided value '{text}' for input '{name}' not in the list of allowed values"
    elif kind == "number" and not _NUMBER.fullmatch(text):
        return f"Provided value '{text}' for input '{name}' is not a number"  # plain words: see above
    return None


def dispatch_inputs(doc: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Inputs of a ``workflow_dispatch`` run: defaults filled, unknown or missing required ones -> 422
    (``{"message": "Unexpected inputs provided: [\"key\"]", "documentation_url": ...}``, like GitHub), and so
    is a value (given, or the default GitHub substitutes) that does not fit its ``choice`` / ``boolean`` /
    ``number`` type (:func:`input_value_error`)."""
    config = triggers(doc).get("workflow_dispatch")
    declared = (config or {}).get("inputs") if isinstance(config, dict) else None
    declared = declared if isinstance(declared, dict) else {}
    unexpected = sorted(k for k in given if k not in declared)
    if unexpected:  # GitHub's words and shape: a bare 422 message, the names as a JSON array
        raise GitHubError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
    out: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in given:
            out[name] = given[name]
        elif "default" in spec:
            out[name] = spec["default"]
        elif spec.get("required"):
            raise GitHubError(422, f"Required input '{name}' not provided")
        else:
            continue
        error = input_value_error(str(name), spec, out[name])
        if error:
            raise GitHubError(422, error)
    return out


_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def run_name(doc: dict[str, Any], *, inputs: Mapping[str, Any], actor: str, ref_name: str) -> str:
    """The run's ``display_title``: the workflow's ``run-name:`` with its ``${{ }}`` expressions evaluated
    (the ``inputs`` / ``github.event.inputs`` / ``github.actor`` / ``github.ref_name`` contexts the sandbox
    knows; anything else evaluates to an empty string), or "" when it has none (the workflow's name then)."""
    template = doc.get("run-name")
    if not isinstance(template, str):
        return ""
    values = {"github.actor": actor, "github.triggering_actor": actor, "github.ref_name": ref_name}

    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        for prefix in ("inputs.", "github.event.inputs."):
            if name.startswith(prefix):
                found = inputs.get(name[len(prefix):])
                return "" if found is None else str(found).lower() if isinstance(found, bool) else str(found)
        return values.get(name, "")

    return _EXPRESSION.sub(value, template).strip()


def run_matches(run: WorkflowRun, *, branch: str | None, event: str | None, status: str | None,
                head_sha: str | None, actor: str | None, check_suite_id: int | None) -> bool:
    if branch and run.head_branch != branch:
        return False
    if event and run.event != event:
        return False
    if status and status not in (run.status, run.conclusion):
        return False
    if head_sha and run.head_sha != head_sha:
        return False
    if actor and run.actor.lower() != actor.lower():
        return False
    return not (check_suite_id is not None and shapes.check_suite_id(run) != check_suite_id)


# ============================================================================ world-level behaviour

def workflow_files(repo: Repo, ref: str) -> dict[str, str]:
    """path -> YAML text of ``.github/workflows/*.yml|yaml`` at ``ref`` ({} when none)."""
    try:
        entries = git.ls_tree(repo, ref, path=WORKFLOWS_DIR)
    except git.GitError:
        return {}
    out = {}
    for entry in entries:
        if entry.type == "blob" and entry.path.endswith((".yml", ".yaml")):
            out[f"{WORKFLOWS_DIR}/{entry.path}"] = git.read_blob(repo, entry.sha).decode("utf-8", errors="replace")
    return out


def sync_workflows(world: World, repo: Repo, ref: str | None = None) -> dict[str, str]:
    """Register the workflows found at ``ref`` (default branch) and mark vanished ones deleted.

    Returns the files found (path -> text). Workflow ids stay stable per path.
    """
    ref = ref or repo.default_branch
    files = workflow_files(repo, ref)
    with world.lock:
        by_path = {wf.path: wf for wf in repo.workflows.values()}
        for path, text in sorted(files.items()):
            name = parse_workflow(text).get("name")
            name = str(name) if name else path
            wf = by_path.get(path)
            if wf is None:
                wf = Workflow(id=world.next_id(), name=name, path=path)
                repo.workflows[wf.id] = wf
            elif wf.name != name or wf.state != "active":
                wf.name, wf.state, wf.updated_at = name, "active", now()
        if ref == repo.default_branch:
            for wf in repo.workflows.values():
                if wf.path not in files and wf.state == "active":
                    wf.state, wf.updated_at = "deleted", now()
    return files


def find_workflow(repo: Repo, workflow_id: str) -> Workflow | None:
    """By numeric id or by file name (``ci.yml``) / path, like GitHub."""
    for wf in repo.workflows.values():
        if workflow_id == str(wf.id) or workflow_id in (wf.path, wf.path.rsplit("/", 1)[-1]):
            return wf
    return None


def _emit_run(world: World, repo: Repo, run: WorkflowRun, action: str, sender: str) -> None:
    wf = repo.workflows[run.workflow_id]
    world.emit("workflow_run", envelope(world, repo, sender, action,
                                        workflow=shapes.workflow(world, repo, wf),
                                        workflow_run=shapes.workflow_run(world, repo, run, flavour="webhook")),
               repo=repo)


def dispatch(world: World, repo: Repo, workflow_id: str, ref: str, actor: str,
             inputs: dict[str, Any] | None = None) -> WorkflowRun:
    """``workflow_dispatch``: a queued run of the workflow as it is on ``ref``."""
    with world.lock:
        sync_workflows(world, repo)
        branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        sha = git.branch_sha(repo, branch) or git.ref_sha(repo, ref) or git.ref_sha(repo, f"refs/tags/{ref}")
        if sha is None:
            raise validation_failed(f"No ref found for: {ref}", resource="WorkflowDispatch", field="ref",
                                    code="invalid")
        files = sync_workflows(world, repo, branch)
        wf = find_workflow(repo, workflow_id)
        if wf is None:
            raise not_found()
        text = files.get(wf.path)
        if text is None:
            raise validation_failed(f"No workflow file found at ref {ref}: {wf.path}",
                                    resource="WorkflowDispatch", field="ref", code="invalid")
        doc = parse_workflow(text)
        if "workflow_dispatch" not in triggers(doc):
            raise validation_failed("Workflow does not have 'workflow_dispatch' trigger",
                                    resource="WorkflowDispatch", field="workflow_id", code="invalid")
        values = dispatch_inputs(doc, dict(inputs or {}))
        number = 1 + sum(1 for r in repo.workflow_runs.values() if r.workflow_id == wf.id)
        run = WorkflowRun(id=world.next_id(), workflow_id=wf.id, name=wf.name, head_branch=branch, head_sha=sha,
                          event="workflow_dispatch", actor=actor, inputs=values, run_number=number,
                          display_title=run_name(doc, inputs=values, actor=actor, ref_name=branch))
        repo.workflow_runs[run.id] = run
        _emit_run(world, repo, run, "requested", actor)
        return run


def schedule(world: World, repo: Repo, workflow_id: str) -> WorkflowRun:
    """GitHub's scheduler firing a workflow's ``schedule:`` cron: a queued run on the default branch's head,
    sent by the workflow file's last committer (the sandbox says: the repository owner)."""
    with world.lock:
        branch = repo.default_branch
        sha = git.branch_sha(repo, branch)
        files = sync_workflows(world, repo, branch)
        wf = find_workflow(repo, workflow_id)
        if wf is None or sha is None or wf.path not in files:
            raise LookupError(f"no workflow {workflow_id!r} on {repo.full_name}@{branch}")
        if "schedule" not in triggers(parse_workflow(files[wf.path])):
            raise ValueError(f"{wf.path} has no schedule: trigger")
        number = 1 + sum(1 for r in repo.workflow_runs.values() if r.workflow_id == wf.id)
        run = WorkflowRun(id=world.next_id(), workflow_id=wf.id, name=wf.name, head_branch=branch, head_sha=sha,
                          event="schedule", actor=repo.owner, run_number=number)
        repo.workflow_runs[run.id] = run
        _emit_run(world, repo, run, "requested", repo.owner)
        return run


def start_run(world: World, repo: Repo, run_id: int) -> WorkflowRun:
    """Runner picked the run up: ``workflow_run.in_progress``."""
    with world.lock:
        run = repo.workflow_runs[run_id]
        if run.status != "queued":
            raise ValueError(f"run {run_id} is {run.status}, not queued")
        run.status = "in_progress"
        run.run_started_at = run.updated_at = now()
        _emit_run(world, repo, run, "in_progress", run.actor)
        return run


def complete_run(world: World, repo: Repo, run_id: int, conclusion: str = "success") -> WorkflowRun:
    """Runner finished the run: ``workflow_run.completed`` with ``conclusion``."""
    if conclusion not in CONCLUSIONS:
        raise ValueError(f"unknown conclusion {conclusion!r}")
    with world.lock:
        run = repo.workflow_runs[run_id]
        if run.status == "completed":
            raise ValueError(f"run {run_id} already completed")
        run.status, run.conclusion, run.updated_at = "completed", conclusion, now()
        _emit_run(world, repo, run, "completed", run.actor)
        return run


def zip_files(files: Mapping[str, bytes | str]) -> bytes:
    """A zip archive of ``files`` (path inside the archive -> content), like upload-artifact makes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, content in sorted(files.items()):
            zf.writestr(path.lstrip("/"), content.encode("utf-8") if isinstance(content, str) else content)
    return buf.getvalue()


def upload_artifact(world: World, repo: Repo, run_id: int, name: str, files: Mapping[str, bytes | str]) -> Artifact:
    """The runner's ``actions/upload-artifact``: a named zip attached to a run (one name per run, like v4)."""
    with world.lock:
        run = repo.workflow_runs.get(run_id)
        if run is None:
            raise LookupError(f"no workflow run {run_id} in {repo.full_name}")
        if not name or any(c in name for c in '"<>:|*?\\/\r\n'):
            raise ValueError(f"invalid artifact name {name!r}")
        if any(a.run_id == run_id and a.name == name for a in repo.artifacts.values()):
            raise ValueError(f"an artifact named {name!r} already exists on run {run_id}")
        data = zip_files(files)
        art = Artifact(id=world.next_id(), run_id=run_id, name=name, data=data,
                       digest="sha256:" + hashlib.sha256(data).hexdigest())
        art.expires_at = art.created_at + timedelta(days=ARTIFACT_RETENTION_DAYS)
        repo.artifacts[art.id] = art
        return art


def _blob_key(world: World) -> bytes:
    key = _blob_keys.get(world)
    if key is None:
        key = _blob_keys.setdefault(world, secrets.token_bytes(32))
    return key


def blob_signature(world: World, artifact_id: int, expires: int) -> str:
    return hmac.new(_blob_key(world), f"{artifact_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def blob_url(world: World, artifact_id: int, *, now_s: float | None = None) -> str:
    expires = int((now_s if now_s is not None else time.time()) + BLOB_URL_SECONDS)
    return (f"{world.base_url}{BLOB_PREFIX}/{artifact_id}?expires={expires}"
            f"&sig={blob_signature(world, artifact_id, expires)}")


# ============================================================================ routes

def _workflow(r: Repo, workflow_id: str) -> Workflow:
    wf = find_workflow(r, workflow_id)
    if wf is None:
        raise not_found()
    return wf


@router.get("/repos/{owner}/{repo}/actions/workflows")
def list_workflows(request: Request, owner: str, repo: str) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        sync_workflows(world, r)
        items = sorted(r.workflows.values(), key=lambda w: w.id)
        return paginate(request, [shapes.workflow(world, r, w) for w in items], wrap="workflows")


@router.get("/repos/{owner}/{repo}/actions/workflows/{workflow_id}")
def get_workflow(request: Request, owner: str, repo: str, workflow_id: str) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        sync_workflows(world, r)
        return shapes.workflow(world, r, _workflow(r, workflow_id))


@router.post("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches")
def create_dispatch(request: Request, owner: str, repo: str, workflow_id: str,
                    payload: Any = Body(None)) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "write")
    body = payload if isinstance(payload, dict) else {}
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation_failed(resource="WorkflowDispatch", field="ref", code="missing_field")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict) or len(inputs) > MAX_INPUTS:
        raise validation_failed(f"inputs must be an object with at most {MAX_INPUTS} properties",
                                resource="WorkflowDispatch", field="inputs", code="invalid")
    with world.lock:
        run = dispatch(world, r, workflow_id, ref, login, inputs)
        if body.get("return_run_details"):
            api = world.api(f"/repos/{r.full_name}/actions/runs/{run.id}")
            return JSONResponse({"workflow_run_id": run.id, "run_url": api,
                                 "html_url": f"{world.web_url}/{r.full_name}/actions/runs/{run.id}"})
    return Response(status_code=204)


def _list_runs(request: Request, world: World, r: Repo, runs: list[WorkflowRun]) -> JSONResponse:
    q = request.query_params
    status = q.get("status")
    if status and status not in RUN_STATUSES + CONCLUSIONS:
        raise validation_failed(resource="WorkflowRun", field="status", code="invalid")
    try:
        suite = int(q["check_suite_id"]) if q.get("check_suite_id") else None
    except ValueError as exc:
        raise validation_failed(resource="WorkflowRun", field="check_suite_id", code="invalid") from exc
    found = [x for x in runs if run_matches(x, branch=q.get("branch"), event=q.get("event"), status=status,
                                            head_sha=q.get("head_sha"), actor=q.get("actor"), check_suite_id=suite)]
    found.sort(key=lambda x: x.id, reverse=True)
    return paginate(request, [shapes.workflow_run(world, r, x) for x in found], wrap="workflow_runs")


@router.get("/repos/{owner}/{repo}/actions/runs")
def list_runs(request: Request, owner: str, repo: str) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return _list_runs(request, world, r, list(r.workflow_runs.values()))


@router.get("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs")
def list_workflow_runs(request: Request, owner: str, repo: str, workflow_id: str) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        sync_workflows(world, r)
        wf = _workflow(r, workflow_id)
        return _list_runs(request, world, r, [x for x in r.workflow_runs.values() if x.workflow_id == wf.id])


@router.get("/repos/{owner}/{repo}/actions/runs/{run_id}")
def get_run(request: Request, owner: str, repo: str, run_id: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        run = r.workflow_runs.get(run_id)
        if run is None:
            raise not_found()
        return shapes.workflow_run(world, r, run)


@router.post("/repos/{owner}/{repo}/actions/runs/{run_id}/cancel", status_code=202)
def cancel_run(request: Request, owner: str, repo: str, run_id: int) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "write")
    with world.lock:
        run = r.workflow_runs.get(run_id)
        if run is None:
            raise not_found()
        if run.status == "completed":
            raise GitHubError(409, "Cannot cancel a workflow run that is completed.")
        run.status, run.conclusion, run.updated_at = "completed", "cancelled", now()
        _emit_run(world, r, run, "completed", login)
    return JSONResponse({}, status_code=202)


# ---- artifacts ---------------------------------------------------------------------------------

def _artifacts(request: Request, world: World, r: Repo, items: list[Artifact]) -> JSONResponse:
    name = request.query_params.get("name")
    found = [a for a in items if not name or a.name == name]
    found.sort(key=lambda a: a.id, reverse=True)
    return paginate(request, [shapes.artifact(world, r, a) for a in found], wrap="artifacts")


@router.get("/repos/{owner}/{repo}/actions/artifacts")
def list_artifacts(request: Request, owner: str, repo: str) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return _artifacts(request, world, r, list(r.artifacts.values()))


@router.get("/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts")
def list_run_artifacts(request: Request, owner: str, repo: str, run_id: int) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        if run_id not in r.workflow_runs:
            raise not_found()
        return _artifacts(request, world, r, [a for a in r.artifacts.values() if a.run_id == run_id])


def _artifact(r: Repo, artifact_id: int) -> Artifact:
    art = r.artifacts.get(artifact_id)
    if art is None:
        raise not_found()
    return art


@router.get("/repos/{owner}/{repo}/actions/artifacts/{artifact_id}")
def get_artifact(request: Request, owner: str, repo: str, artifact_id: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return shapes.artifact(world, r, _artifact(r, artifact_id))


@router.get("/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}")
def download_artifact(request: Request, owner: str, repo: str, artifact_id: int, archive_format: str) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        art = _artifact(r, artifact_id)
        if archive_format != "zip":
            raise not_found()
        if art.expired:
            raise GitHubError(410, "Artifact has expired")
        return Response(status_code=302, headers={"location": blob_url(world, art.id)})


@router.get(BLOB_PREFIX + "/{artifact_id}")
def artifact_blob(request: Request, artifact_id: int, expires: int = 0, sig: str = "") -> Response:
    """The signed download URL (not GitHub's API: its blob storage). No auth; the signature is the key."""
    world = world_of(request)
    if expires < time.time() or not hmac.compare_digest(sig, blob_signature(world, artifact_id, expires)):
        return Response("<Error><Code>AuthenticationFailed</Code></Error>", status_code=403,
                        media_type="application/xml")
    with world.lock:
        for r in world.repos.values():
            art = r.artifacts.get(artifact_id)
            if art is not None:
                return Response(art.data, media_type="application/zip",
                                headers={"content-disposition": f'attachment; filename="{art.name}.zip"'})
    return Response("<Error><Code>BlobNotFound</Code></Error>", status_code=404, media_type="application/xml")
