"""Repository collaborators and permission levels (``member`` webhooks).

The sandbox grants access directly where GitHub would send an invitation: ``PUT`` answers 201
with an invitation-shaped body (as GitHub does for a new collaborator) but the permission is
effective at once, and ``member.added`` is announced immediately.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from ..http import (
    GitHubError,
    get_repo,
    not_found,
    paginate,
    require_auth,
    require_write,
    validation_failed,
    world_of,
)
from ..shapes.common import node_id, repository, user
from ..shapes.issues import envelope
from ..world import PERMISSION_LEVELS, Repo, World, iso, now

router = APIRouter()

# REST's legacy names (pull/push) and role names -> the world's levels.
GRANTS = {"pull": "read", "read": "read", "triage": "triage", "push": "write", "write": "write",
          "maintain": "maintain", "admin": "admin"}
# Query filter ``permission=`` names -> minimum level.
FILTERS = {"pull": "read", "triage": "triage", "push": "write", "maintain": "maintain", "admin": "admin"}


# ============================================================================ pure decisions

def legacy_permission(level: str) -> str:
    """GitHub's ``permission`` field knows only admin/write/read/none: maintain reads as write,
    triage as read (``role_name`` keeps the real level)."""
    return {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}.get(level,
                                                                                                      "none")


def permission_flags(level: str) -> dict[str, bool]:
    rank = PERMISSION_LEVELS.index(level)
    return {name: rank >= PERMISSION_LEVELS.index(need) for name, need in
            (("pull", "read"), ("triage", "triage"), ("push", "write"), ("maintain", "maintain"),
             ("admin", "admin"))}


def collaborator(world: World, repo: Repo, login: str) -> dict[str, Any]:
    """``collaborator``: a user plus its permission flags and role name."""
    level = world.permission(repo, login)
    data = user(world, login) or {}
    data.update({"permissions": permission_flags(level), "role_name": level})
    return data


# ============================================================================ world-level behaviour

def grant(world: World, repo: Repo, login: str, level: str, sender: str) -> bool:
    """Give ``login`` ``level`` on ``repo``; True when newly added (``member.added``), else
    ``member.edited`` if the level changed."""
    with world.lock:
        who = world.user(login).login
        old = repo.collaborators.get(who)
        repo.collaborators[who] = level
        member = user(world, who)
        if old is None:
            extra = {"changes": {"permission": {"to": level}}} if level in ("write", "admin") else {}
            world.emit("member", envelope(world, repo, sender, "added", member=member, **extra), repo=repo)
            return True
        if old != level:
            world.emit("member", envelope(world, repo, sender, "edited", member=member,
                                          changes={"old_permission": {"from": old}}), repo=repo)
        return False


def revoke(world: World, repo: Repo, login: str, sender: str) -> bool:
    with world.lock:
        key = next((k for k in repo.collaborators if k.lower() == login.lower()), None)
        if key is None:
            return False
        del repo.collaborators[key]
        world.emit("member", envelope(world, repo, sender, "removed", member=user(world, key)), repo=repo)
        return True


# ============================================================================ routes

@router.get("/repos/{owner}/{repo}/collaborators")
def list_collaborators(request: Request, owner: str, repo: str, affiliation: str = "all",
                       permission: str | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    require_auth(request)
    world = world_of(request)
    if affiliation not in ("outside", "direct", "all"):
        raise validation_failed(resource="Repository", field="affiliation", code="invalid")
    if permission is not None and permission not in FILTERS:
        raise validation_failed(resource="Repository", field="permission", code="invalid")
    with world.lock:
        logins = sorted(r.collaborators, key=str.lower)
        if affiliation == "outside":
            logins = [x for x in logins if x.lower() != r.owner.lower()]
        if permission:
            need = PERMISSION_LEVELS.index(FILTERS[permission])
            logins = [x for x in logins if PERMISSION_LEVELS.index(world.permission(r, x)) >= need]
        return paginate(request, [collaborator(world, r, x) for x in logins])


@router.get("/repos/{owner}/{repo}/collaborators/{username}", status_code=204)
def check_collaborator(request: Request, owner: str, repo: str, username: str) -> Response:
    r = get_repo(request, owner, repo)
    require_auth(request)
    if not any(k.lower() == username.lower() for k in r.collaborators):
        raise not_found()
    return Response(status_code=204)


@router.get("/repos/{owner}/{repo}/collaborators/{username}/permission")
def get_permission(request: Request, owner: str, repo: str, username: str) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    require_auth(request)
    world = world_of(request)
    with world.lock:
        known = next((k for k in r.collaborators if k.lower() == username.lower()), None)
        if known is None and username.lower() not in world.users:
            raise not_found()  # GitHub: no such user
        login = known or world.users[username.lower()].login
        level = world.permission(r, login)
        return {"permission": legacy_permission(level), "role_name": level, "user": collaborator(world, r, login)}


@router.put("/repos/{owner}/{repo}/collaborators/{username}")
def add_collaborator(request: Request, owner: str, repo: str, username: str,
                     payload: Any = Body(None)) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    sender = require_write(request, r, "admin")
    body = payload if isinstance(payload, dict) else {}
    wanted = body.get("permission") or "push"
    level = GRANTS.get(wanted)
    if level is None:
        raise validation_failed(resource="Repository", field="permission", code="invalid",
                                message=f"permission must be one of {', '.join(GRANTS)}")
    with world.lock:
        if username.lower() == r.owner.lower():
            raise validation_failed("Repository owner cannot be a collaborator", resource="Repository",
                                    field="collaborator", code="custom")
        if not grant(world, r, username, level, sender):
            return Response(status_code=204)
        invitation_id = world.next_id()
        return JSONResponse({
            "id": invitation_id,
            "node_id": node_id("RepositoryInvitation", invitation_id),
            "repository": repository(world, r, flavour="minimal"),
            "invitee": user(world, username),
            "inviter": user(world, sender),
            "permissions": {"read": "read", "write": "write"}.get(level, level),
            "created_at": iso(now()),
            "expired": False,
            "url": world.api(f"/user/repository_invitations/{invitation_id}"),
            "html_url": f"{world.web_url}/{r.full_name}/invitations",
        }, status_code=201)


@router.delete("/repos/{owner}/{repo}/collaborators/{username}", status_code=204)
def remove_collaborator(request: Request, owner: str, repo: str, username: str) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    sender = require_write(request, r, "admin")
    if username.lower() == r.owner.lower():
        raise GitHubError(422, "Repository owner cannot be removed")
    revoke(world, r, username, sender)
    return Response(status_code=204)
