"""Commit statuses — GitHub's older CI API: create (``status`` webhook), list, combined status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from .. import git
from ..http import GitHubError, get_repo, paginate, require_write, validation_failed, world_of
from ..shapes import checks as shapes
from ..shapes.common import repository
from ..world import Repo, Status, World

router = APIRouter()

STATES = ("error", "failure", "pending", "success")
MAX_DESCRIPTION = 140


# ============================================================================ pure decisions

def latest_per_context(statuses: Iterable[Status]) -> list[Status]:
    """The newest status of each context, newest first (what the combined status reports)."""
    best: dict[str, Status] = {}
    for st in statuses:
        if st.context not in best or st.id > best[st.context].id:
            best[st.context] = st
    return sorted(best.values(), key=lambda s: s.id, reverse=True)


def combined_state(latest: Iterable[Status]) -> str:
    """failure if any context errored or failed; pending if any is pending or there are none."""
    states = [s.state for s in latest]
    if any(s in ("error", "failure") for s in states):
        return "failure"
    if not states or any(s == "pending" for s in states):
        return "pending"
    return "success"


# ============================================================================ world-level behaviour

def create_status(world: World, repo: Repo, sha: str, creator: str, state: str, context: str = "default",
                  description: str | None = None, target_url: str | None = None) -> Status:
    """Record a commit status and announce it (``status`` webhook)."""
    if state not in STATES:
        raise validation_failed(resource="Status", code="custom", field="state",
                                message=f"state is not included in the list ({', '.join(STATES)})")
    with world.lock:
        resolved = git.resolve(repo, sha)
        if resolved is None:
            raise validation_failed(f"No commit found for SHA: {sha}", resource="Status", field="sha",
                                    code="invalid")
        st = Status(id=world.next_id(), sha=resolved, state=state, context=context or "default",
                    description=description, target_url=target_url, creator=creator)
        repo.statuses.append(st)
        world.emit("status", shapes.status_event(world, repo, st), repo=repo)
        return st


def statuses_for(repo: Repo, sha: str) -> list[Status]:
    return sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: s.id, reverse=True)


def _resolve_ref(repo: Repo, ref: str) -> str:
    sha = git.resolve(repo, ref)
    if sha is None:
        raise GitHubError(404, f"No commit found for SHA: {ref}")
    return sha


# ============================================================================ routes

@router.post("/repos/{owner}/{repo}/statuses/{sha}", status_code=201)
def post_status(request: Request, owner: str, repo: str, sha: str, payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "write")
    if not isinstance(payload, dict):
        raise GitHubError(400, "Problems parsing JSON")
    description = payload.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        raise validation_failed(resource="Status", code="custom", field="description",
                                message=f"description is too long (maximum is {MAX_DESCRIPTION} characters)")
    with world.lock:
        st = create_status(world, r, sha, login, payload.get("state", ""), payload.get("context") or "default",
                           description, payload.get("target_url"))
        return JSONResponse(shapes.commit_status(world, r, st), status_code=201,
                            headers={"location": world.api(f"/repos/{r.full_name}/statuses/{st.sha}")})


@router.get("/repos/{owner}/{repo}/commits/{ref:path}/statuses")
def list_statuses(request: Request, owner: str, repo: str, ref: str) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        sha = _resolve_ref(r, ref)
        return paginate(request, [shapes.commit_status(world, r, s) for s in statuses_for(r, sha)])


@router.get("/repos/{owner}/{repo}/commits/{ref:path}/status")
def combined_status(request: Request, owner: str, repo: str, ref: str) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        sha = _resolve_ref(r, ref)
        latest = latest_per_context(statuses_for(r, sha))
        try:
            per_page = max(1, min(100, int(request.query_params.get("per_page", 100))))
            page = max(1, int(request.query_params.get("page", 1)))
        except ValueError as exc:
            raise GitHubError(422, "Invalid pagination parameters") from exc
        chunk = latest[(page - 1) * per_page: page * per_page]
        body = {
            "state": combined_state(latest),
            "statuses": [shapes.commit_status(world, r, s, simple=True) for s in chunk],
            "sha": sha,
            "total_count": len(latest),
            "repository": repository(world, r, flavour="minimal"),
            "commit_url": world.api(f"/repos/{r.full_name}/commits/{sha}"),
            "url": world.api(f"/repos/{r.full_name}/commits/{sha}/status"),
        }
        return JSONResponse(body)
