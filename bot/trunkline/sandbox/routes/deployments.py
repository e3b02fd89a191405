"""Deployments and deployment statuses (``deployment`` / ``deployment_status`` webhooks).

GitHub's gates are honoured: ``auto_merge`` (default true) merges the default branch into a
branch ref that is behind it and answers 202 instead of deploying (409 on conflict);
``required_contexts`` (default: every context on the commit, statuses and check runs) must all
be successful or the answer is 409. ``auto_inactive`` (default true) marks earlier successful
deployments of the same environment inactive when a new one succeeds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from .. import git
from ..http import GitHubError, get_repo, not_found, paginate, require_write, validation_failed, world_of
from ..shapes import deployments as shapes
from ..shapes.issues import envelope
from ..world import CheckRun, Deployment, DeploymentStatus, Repo, Status, World, now

router = APIRouter()

STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
WEBHOOK_STATES = frozenset(STATES) - {"inactive"}  # octokit's deployment_status has no "inactive"
CHECK_OK = frozenset({"success", "neutral", "skipped"})


# ============================================================================ pure decisions

def context_states(statuses: list[Status], runs: list[CheckRun]) -> dict[str, str]:
    """Latest state per context on a commit: commit statuses by context, check runs by name
    (a check run counts as ``success`` when it concluded success/neutral/skipped)."""
    states: dict[str, str] = {}
    for st in sorted(statuses, key=lambda s: s.id):
        states[st.context] = st.state
    for run in sorted(runs, key=lambda r: r.id):
        if run.status != "completed":
            states[run.name] = "pending"
        else:
            states[run.name] = "success" if run.conclusion in CHECK_OK else (run.conclusion or "failure")
    return states


def failing_contexts(states: dict[str, str], required: list[str] | None) -> list[dict[str, str]]:
    """Contexts that block a deployment: every non-success one (or missing, when named)."""
    names = sorted(states) if required is None else list(required)
    return [{"context": name, "state": states.get(name, "missing")} for name in names
            if states.get(name) != "success"]


def can_delete(target: Deployment, others_in_env: list[Deployment]) -> bool:
    """GitHub deletes an inactive deployment, or the only one of its environment."""
    latest = max(target.statuses, key=lambda s: s.id).state if target.statuses else None
    return latest == "inactive" or not others_in_env


# ============================================================================ world-level behaviour

def _auto_merge(world: World, repo: Repo, ref: str, sender: str) -> str | None:
    """Merge the default branch into ``ref`` if it is a branch behind it; the message, or None."""
    default = repo.default_branch
    tip = git.branch_sha(repo, ref)
    base = git.branch_sha(repo, default)
    if ref == default or tip is None or base is None or git.is_ancestor(repo, base, tip):
        return None
    from ..pushes import move_branch  # the push layer announces the new commit

    who = git.Ident(sender, git.noreply_email(sender))
    try:
        merged = git.merge_commit(repo, tip, base, f"Merge {default} into {ref}", who, who)
    except git.MergeConflict as exc:
        raise GitHubError(409, f"Conflict merging {default} into {ref}.") from exc
    move_branch(world, repo, ref, merged, sender)
    return f"Auto-merged {default} into {ref} on deployment."


def create_deployment(world: World, repo: Repo, creator: str, ref: str, *, task: str = "deploy",
                      environment: str = "production", payload: Any = None, description: str | None = None,
                      auto_merge: bool = True, required_contexts: list[str] | None = None,
                      transient_environment: bool = False,
                      production_environment: bool | None = None) -> Deployment | str:
    """A Deployment, or the auto-merge message (GitHub's 202) when it merged instead."""
    with world.lock:
        if git.resolve(repo, ref) is None:
            raise validation_failed(f"No ref found for: {ref}", resource="Deployment", field="ref", code="invalid")
        if auto_merge:
            merged = _auto_merge(world, repo, ref, creator)
            if merged:
                return merged
        sha = git.resolve(repo, ref) or ""
        states = context_states([s for s in repo.statuses if s.sha == sha],
                                [r for r in repo.check_runs.values() if r.head_sha == sha])
        failing = failing_contexts(states, required_contexts)
        if failing:
            raise GitHubError(409, f"Conflict: Commit status checks failed for {ref}.",
                              errors=[{"contexts": failing, "resource": "Deployment",
                                       "field": "required_contexts", "code": "invalid"}])
        d = Deployment(id=world.next_id(), sha=sha, ref=ref, task=task, environment=environment,
                       payload={} if payload is None else payload, description=description, creator=creator,
                       original_environment=environment, transient_environment=transient_environment,
                       production_environment=(environment == "production") if production_environment is None
                       else production_environment)
        repo.deployments[d.id] = d
        world.emit("deployment", envelope(world, repo, creator, "created",
                                          deployment=shapes.deployment(world, repo, d, flavour="webhook"),
                                          workflow=None, workflow_run=None), repo=repo)
        return d


def add_deployment_status(world: World, repo: Repo, d: Deployment, creator: str, state: str, *,
                          description: str = "", environment: str | None = None, log_url: str = "",
                          environment_url: str = "", auto_inactive: bool = True) -> DeploymentStatus:
    """Record a status; ``deployment_status.created`` (not for ``inactive``, which octokit lacks)."""
    if state not in STATES:
        raise validation_failed(resource="DeploymentStatus", field="state", code="invalid")
    with world.lock:
        if environment:
            d.environment = environment
        stamp = now()
        st = DeploymentStatus(id=world.next_id(), deployment_id=d.id, state=state, creator=creator,
                              description=description, environment=d.environment, log_url=log_url,
                              environment_url=environment_url, created_at=stamp, updated_at=stamp)
        d.statuses.append(st)
        d.updated_at = stamp
        if state == "success" and auto_inactive:
            _retire_previous(world, repo, d, creator)
        if state in WEBHOOK_STATES:
            world.emit("deployment_status", envelope(
                world, repo, creator, "created",
                deployment_status=shapes.deployment_status(world, repo, d, st, flavour="webhook"),
                deployment=shapes.deployment(world, repo, d, flavour="webhook")), repo=repo)
        return st


def _retire_previous(world: World, repo: Repo, current: Deployment, creator: str) -> None:
    for other in repo.deployments.values():
        if other.id == current.id or other.environment != current.environment or other.transient_environment:
            continue
        if other.statuses and max(other.statuses, key=lambda s: s.id).state == "success":
            stamp = now()
            other.statuses.append(DeploymentStatus(
                id=world.next_id(), deployment_id=other.id, state="inactive", creator=creator,
                environment=other.environment, created_at=stamp, updated_at=stamp))
            other.updated_at = stamp


# ============================================================================ routes

def _deployment(r: Repo, deployment_id: int) -> Deployment:
    d = r.deployments.get(deployment_id)
    if d is None:
        raise not_found()
    return d


def _obj(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return payload


def _str(body: dict[str, Any], key: str, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise validation_failed(resource="Deployment", field=key, code="invalid")
    return value


@router.get("/repos/{owner}/{repo}/deployments")
def list_deployments(request: Request, owner: str, repo: str, sha: str | None = None, ref: str | None = None,
                     task: str | None = None, environment: str | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        found = [d for d in r.deployments.values()
                 if (sha in (None, "none") or d.sha == sha) and (ref in (None, "none") or d.ref == ref)
                 and (task in (None, "none") or d.task == task)
                 and (environment in (None, "none") or d.environment == environment)]
        found.sort(key=lambda d: d.id, reverse=True)
        return paginate(request, [shapes.deployment(world, r, d) for d in found])


@router.post("/repos/{owner}/{repo}/deployments")
def post_deployment(request: Request, owner: str, repo: str, payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "write")
    body = _obj(payload)
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation_failed(resource="Deployment", field="ref", code="missing_field")
    contexts = body.get("required_contexts")
    if contexts is not None and (not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts)):
        raise validation_failed(resource="Deployment", field="required_contexts", code="invalid")
    data = body.get("payload")
    if data is not None and not isinstance(data, dict | str):
        raise validation_failed(resource="Deployment", field="payload", code="invalid")
    production = body.get("production_environment")
    with world.lock:
        made = create_deployment(
            world, r, login, ref, task=_str(body, "task", "deploy") or "deploy",
            environment=_str(body, "environment", "production") or "production", payload=data,
            description=body.get("description") if isinstance(body.get("description"), str) else None,
            auto_merge=body.get("auto_merge", True) is not False, required_contexts=contexts,
            transient_environment=bool(body.get("transient_environment", False)),
            production_environment=bool(production) if production is not None else None)
        if isinstance(made, str):
            return JSONResponse({"message": made}, status_code=202)
        return JSONResponse(shapes.deployment(world, r, made), status_code=201)


@router.get("/repos/{owner}/{repo}/deployments/{deployment_id}")
def get_deployment(request: Request, owner: str, repo: str, deployment_id: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return shapes.deployment(world, r, _deployment(r, deployment_id))


@router.delete("/repos/{owner}/{repo}/deployments/{deployment_id}", status_code=204)
def delete_deployment(request: Request, owner: str, repo: str, deployment_id: int) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    require_write(request, r, "write")
    with world.lock:
        d = _deployment(r, deployment_id)
        others = [x for x in r.deployments.values() if x.id != d.id and x.environment == d.environment]
        if not can_delete(d, others):
            # This route declares ``validation-error-simple``: errors are plain strings.
            message = "We cannot delete an active deployment unless it is the only deployment in a given environment."
            raise GitHubError(422, "Validation Failed", errors=[message])
        del r.deployments[d.id]
    return Response(status_code=204)


@router.get("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
def list_deployment_statuses(request: Request, owner: str, repo: str, deployment_id: int) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        d = _deployment(r, deployment_id)
        items = sorted(d.statuses, key=lambda s: s.id, reverse=True)
        return paginate(request, [shapes.deployment_status(world, r, d, s) for s in items])


@router.post("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", status_code=201)
def post_deployment_status(request: Request, owner: str, repo: str, deployment_id: int,
                           payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "write")
    body = _obj(payload)
    description = _str(body, "description")
    if len(description) > 140:
        raise validation_failed(resource="DeploymentStatus", field="description", code="invalid")
    with world.lock:
        d = _deployment(r, deployment_id)
        st = add_deployment_status(
            world, r, d, login, body.get("state") or "", description=description,
            environment=_str(body, "environment") or None,
            log_url=_str(body, "log_url") or _str(body, "target_url"),
            environment_url=_str(body, "environment_url"), auto_inactive=body.get("auto_inactive", True) is not False)
        return JSONResponse(shapes.deployment_status(world, r, d, st), status_code=201)


@router.get("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}")
def get_deployment_status(request: Request, owner: str, repo: str, deployment_id: int,
                          status_id: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        d = _deployment(r, deployment_id)
        for st in d.statuses:
            if st.id == status_id:
                return shapes.deployment_status(world, r, d, st)
        raise not_found()
