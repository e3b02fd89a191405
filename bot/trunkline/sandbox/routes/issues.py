"""Issues, labels, issue comments and reactions — GitHub's REST routes and their webhooks.

Pull requests are issues too (shared number space): the issue routes list and edit them, and a
state or label change on a pull request announces ``pull_request.*`` rather than ``issues.*``,
as GitHub does. The world-level functions (``open_issue``, ``set_issue_state``, ``add_labels``,
``add_comment`` ...) hold the behaviour; routes parse, authorise and call them. Actors that do not
go through HTTP (tests, the demo) may call them directly, under no lock of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from ..http import (
    GitHubError,
    actor_login,
    get_repo,
    not_found,
    paginate,
    principal_of,
    require_write,
    validation_failed,
    world_of,
)
from ..shapes import issues as shapes
from ..world import PERMISSION_LEVELS, Comment, Issue, Label, Reaction, Repo, World, now

router = APIRouter()

ISSUE_ACTIONS_FOR_PULLS = frozenset({"closed", "reopened", "labeled", "unlabeled", "edited"})
_HEX_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


# ============================================================================ world-level behaviour

def emit_issue_event(world: World, repo: Repo, iss: Issue, action: str, sender: str, **extra: Any) -> None:
    """``issues.<action>``, or ``pull_request.<action>`` when the issue is a pull request."""
    if iss.is_pull and action in ISSUE_ACTIONS_FOR_PULLS and iss.number in repo.pulls:
        from ..shapes.pulls import pull_request  # written by the pulls area; imported late on purpose

        pr = pull_request(world, repo, repo.pulls[iss.number], flavour="webhook")
        world.emit("pull_request", shapes.envelope(world, repo, sender, action, number=iss.number,
                                                   pull_request=pr, **extra), repo=repo)
        return
    world.emit("issues", shapes.envelope(world, repo, sender, action,
                                         issue=shapes.issue(world, repo, iss, flavour="webhook"), **extra),
               repo=repo)


def find_label(repo: Repo, name: str) -> Label | None:
    """Label lookup is case-insensitive on GitHub."""
    found = repo.labels.get(name)
    if found is not None:
        return found
    for lab in repo.labels.values():
        if lab.name.lower() == name.lower():
            return lab
    return None


def create_label(world: World, repo: Repo, name: str, sender: str, color: str = "ededed",
                 description: str | None = None) -> Label:
    with world.lock:
        lab = Label(id=world.next_id(), name=name, color=color.lower(), description=description)
        repo.labels[name] = lab
        world.emit("label", shapes.envelope(world, repo, sender, "created",
                                            label=shapes.label(world, repo, lab)), repo=repo)
        return lab


def ensure_labels(world: World, repo: Repo, names: Iterable[str], sender: str) -> list[str]:
    """Canonical names of ``names``, creating missing repository labels (GitHub does that too)."""
    out: list[str] = []
    for name in names:
        lab = find_label(repo, name) or create_label(world, repo, name, sender)
        if lab.name not in out:
            out.append(lab.name)
    return out


def set_labels(world: World, repo: Repo, iss: Issue, names: Iterable[str], sender: str) -> None:
    """Replace the issue's labels; one ``labeled``/``unlabeled`` event per label that changed."""
    with world.lock:
        wanted = ensure_labels(world, repo, names, sender)
        removed = [n for n in iss.labels if n not in wanted]
        added = [n for n in wanted if n not in iss.labels]
        iss.labels = list(wanted)
        if removed or added:
            iss.updated_at = now()
        for name in removed:
            lab = find_label(repo, name)
            if lab is not None:
                emit_issue_event(world, repo, iss, "unlabeled", sender, label=shapes.label(world, repo, lab))
        for name in added:
            emit_issue_event(world, repo, iss, "labeled", sender,
                             label=shapes.label(world, repo, repo.labels[name]))


def add_labels(world: World, repo: Repo, iss: Issue, names: Iterable[str], sender: str) -> None:
    with world.lock:
        wanted = list(iss.labels)
        for name in ensure_labels(world, repo, names, sender):
            if name not in wanted:
                wanted.append(name)
        set_labels(world, repo, iss, wanted, sender)


def remove_label(world: World, repo: Repo, iss: Issue, name: str, sender: str) -> bool:
    """False when the issue does not carry that label."""
    with world.lock:
        lab = find_label(repo, name)
        if lab is None or lab.name not in iss.labels:
            return False
        set_labels(world, repo, iss, [n for n in iss.labels if n != lab.name], sender)
        return True


def open_issue(world: World, repo: Repo, user: str, title: str, body: str | None = None,
               labels: Iterable[str] = (), assignees: Iterable[str] = ()) -> Issue:
    """Open an issue as ``user``: ``issues.opened`` then ``issues.labeled`` per label."""
    with world.lock:
        world.user(user)
        iss = Issue(id=world.next_id(), number=repo.take_number(), title=title, body=body, user=user,
                    assignees=[world.user(a).login for a in assignees])
        repo.issues[iss.number] = iss
        names = ensure_labels(world, repo, labels, user)
        emit_issue_event(world, repo, iss, "opened", user)
        set_labels(world, repo, iss, names, user)
        return iss


def set_issue_state(world: World, repo: Repo, iss: Issue, state: str, sender: str,
                    reason: str | None = None) -> bool:
    """Close or reopen; False when it already was in that state (GitHub then announces nothing)."""
    with world.lock:
        if iss.state == state:
            if state == "closed" and reason and reason != iss.state_reason:
                iss.state_reason = reason
            return False
        if iss.is_pull and state == "open" and repo.pulls.get(iss.number) and repo.pulls[iss.number].merged:
            raise validation_failed("Validation Failed", resource="Issue", code="custom", field="state",
                                    message="state cannot be changed. The pull request has been merged.")
        stamp = now()
        iss.state = state
        iss.updated_at = stamp
        if state == "closed":
            iss.closed_at = stamp
            iss.closed_by = sender
            iss.state_reason = None if iss.is_pull else (reason or "completed")
        else:
            iss.closed_at = None
            iss.closed_by = None
            iss.state_reason = None if iss.is_pull else "reopened"
        emit_issue_event(world, repo, iss, "closed" if state == "closed" else "reopened", sender)
        return True


def edit_issue(world: World, repo: Repo, iss: Issue, sender: str, title: str | None = None,
               body: str | None = None, body_given: bool = False) -> None:
    """Change title/body; ``issues.edited`` (``pull_request.edited``) with ``changes``."""
    with world.lock:
        changes: dict[str, Any] = {}
        if title is not None and title != iss.title:
            changes["title"] = {"from": iss.title}
            iss.title = title
        if body_given and body != iss.body:
            changes["body"] = {"from": iss.body or ""}
            iss.body = body
        if changes:
            iss.updated_at = now()
            emit_issue_event(world, repo, iss, "edited", sender, changes=changes)


def add_comment(world: World, repo: Repo, number: int, user: str, body: str,
                via_app_id: int | None = None) -> Comment:
    """Comment on an issue or pull request: ``issue_comment.created``."""
    with world.lock:
        iss = repo.issues[number]
        c = Comment(id=world.next_id(), issue_number=number, user=world.user(user).login, body=body,
                    performed_via_app_id=via_app_id)
        repo.comments[c.id] = c
        iss.updated_at = now()
        _emit_comment(world, repo, c, "created", user)
        return c


def edit_comment(world: World, repo: Repo, c: Comment, body: str, sender: str) -> None:
    with world.lock:
        if body == c.body:
            return
        old = c.body
        c.body = body
        c.updated_at = now()
        _emit_comment(world, repo, c, "edited", sender, changes={"body": {"from": old}})


def delete_comment(world: World, repo: Repo, c: Comment, sender: str) -> None:
    with world.lock:
        repo.comments.pop(c.id, None)
        _emit_comment(world, repo, c, "deleted", sender)


def _emit_comment(world: World, repo: Repo, c: Comment, action: str, sender: str, **extra: Any) -> None:
    iss = repo.issues[c.issue_number]
    world.emit("issue_comment", shapes.envelope(
        world, repo, sender, action, **extra, issue=shapes.issue(world, repo, iss, flavour="webhook"),
        comment=shapes.comment(world, repo, c, flavour="webhook")), repo=repo)


def react(world: World, reactions: list[Reaction], user: str, content: str) -> tuple[Reaction, bool]:
    """Add a reaction; (reaction, created?) — a user reacts at most once per content."""
    with world.lock:
        for r in reactions:
            if r.user == user and r.content == content:
                return r, False
        r = Reaction(id=world.next_id(), user=user, content=content)
        reactions.append(r)
        return r, True


# ============================================================================ pure request parsing

def parse_label_names(payload: Any) -> list[str]:
    """Label names from ``["a", ...]``, ``{"labels": [...]}``, items as strings or {"name": ...}."""
    items: Any = payload
    if isinstance(payload, dict):
        items = payload.get("labels", [])
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list):
        raise validation_failed("Invalid request.\n\nFor 'links/0/schema', nil is not an array.")
    names: list[str] = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str | int) or not str(name).strip():
            raise validation_failed(resource="Label", code="invalid", field="name")
        names.append(str(name).strip())
    return names


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise validation_failed(resource="Issue", code="invalid", field="since") from exc


def issue_matches(iss: Issue, *, state: str, labels: list[str], creator: str | None, assignee: str | None,
                  since: datetime | None) -> bool:
    if state != "all" and iss.state != state:
        return False
    lower = {n.lower() for n in iss.labels}
    if any(name.lower() not in lower for name in labels):
        return False
    if creator and iss.user.lower() != creator.lower():
        return False
    if assignee == "none" and iss.assignees:
        return False
    if assignee == "*" and not iss.assignees:
        return False
    if assignee not in (None, "none", "*") and assignee.lower() not in {a.lower() for a in iss.assignees}:
        return False
    return not (since and iss.updated_at < since)


# ============================================================================ routes: issues

def _issue(repo: Repo, number: int) -> Issue:
    iss = repo.issues.get(number)
    if iss is None:
        raise not_found()
    return iss


def _level(request: Request, repo: Repo) -> str:
    principal = principal_of(request)
    if principal.kind == "installation":
        return "admin"
    if principal.kind != "user":
        return "none"
    return world_of(request).permission(repo, principal.login or "")


def _at_least(level: str, wanted: str) -> bool:
    return PERMISSION_LEVELS.index(level) >= PERMISSION_LEVELS.index(wanted)


def _obj(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return payload


@router.get("/repos/{owner}/{repo}/issues")
def list_issues(request: Request, owner: str, repo: str, state: str = "open", labels: str | None = None,
                creator: str | None = None, assignee: str | None = None, since: str | None = None,
                sort: str = "created", direction: str = "desc") -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    if state not in ("open", "closed", "all"):
        raise validation_failed(resource="Issue", code="invalid", field="state")
    wanted = [n.strip() for n in (labels or "").split(",") if n.strip()]
    with world.lock:
        found = [i for i in r.issues.values()
                 if issue_matches(i, state=state, labels=wanted, creator=creator, assignee=assignee,
                                  since=parse_since(since))]
        key = {"created": lambda i: (i.created_at, i.number), "updated": lambda i: (i.updated_at, i.number),
               "comments": lambda i: (sum(1 for c in r.comments.values() if c.issue_number == i.number),
                                      i.number)}.get(sort)
        if key is None:
            raise validation_failed(resource="Issue", code="invalid", field="sort")
        found.sort(key=key, reverse=direction != "asc")
        return paginate(request, [shapes.issue(world, r, i) for i in found])


@router.post("/repos/{owner}/{repo}/issues", status_code=201)
def create_issue(request: Request, owner: str, repo: str, payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "read")
    body = _obj(payload)
    title = body.get("title")
    if title is None or not str(title).strip():
        raise validation_failed(resource="Issue", code="missing_field", field="title")
    # Without triage access GitHub silently drops labels and assignees.
    can_triage = _at_least(_level(request, r), "triage")
    labels = parse_label_names(body.get("labels") or []) if can_triage else []
    assignees = list(body.get("assignees") or [])
    if body.get("assignee"):
        assignees.insert(0, body["assignee"])
    if not can_triage:
        assignees = []
    with world.lock:
        iss = open_issue(world, r, login, str(title), body.get("body"), labels=labels, assignees=assignees)
        return JSONResponse(shapes.issue(world, r, iss), status_code=201,
                            headers={"location": world.api(f"/repos/{r.full_name}/issues/{iss.number}")})


@router.get("/repos/{owner}/{repo}/issues/comments")
def list_repo_comments(request: Request, owner: str, repo: str, sort: str = "created",
                       direction: str = "asc", since: str | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    when = parse_since(since)
    with world.lock:
        found = [c for c in r.comments.values() if not when or c.updated_at >= when]
        attr = "updated_at" if sort == "updated" else "created_at"
        found.sort(key=lambda c: (getattr(c, attr), c.id), reverse=direction == "desc")
        return paginate(request, [shapes.comment(world, r, c) for c in found])


@router.get("/repos/{owner}/{repo}/issues/{issue_number}")
def get_issue(request: Request, owner: str, repo: str, issue_number: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return shapes.issue(world, r, _issue(r, issue_number))


@router.patch("/repos/{owner}/{repo}/issues/{issue_number}")
def update_issue(request: Request, owner: str, repo: str, issue_number: int,
                 payload: Any = Body(None)) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = actor_login(request)
    body = _obj(payload)
    with world.lock:
        iss = _issue(r, issue_number)
        level = _level(request, r)
        author = iss.user == login
        if not (author or _at_least(level, "triage")):
            raise GitHubError(403, "Must have admin rights to Repository.")
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise validation_failed(resource="Issue", code="invalid", field="state")
        reason = body.get("state_reason")
        if reason is not None and reason not in ("completed", "not_planned", "duplicate", "reopened"):
            raise validation_failed(resource="Issue", code="invalid", field="state_reason")
        title = body.get("title")
        if "title" in body and (title is None or not str(title).strip()):
            raise validation_failed(resource="Issue", code="missing_field", field="title")
        edit_issue(world, r, iss, login, title=str(title) if title is not None else None,
                   body=body.get("body"), body_given="body" in body)
        if _at_least(level, "triage"):
            if "labels" in body:
                set_labels(world, r, iss, parse_label_names(body.get("labels") or []), login)
            if "assignees" in body or "assignee" in body:
                wanted = body.get("assignees")
                if wanted is None:
                    wanted = [body["assignee"]] if body.get("assignee") else []
                iss.assignees = [world.user(str(a.get("login") if isinstance(a, dict) else a)).login
                                 for a in wanted]
                iss.updated_at = now()
        if state is not None:
            set_issue_state(world, r, iss, state, login, reason)
        return shapes.issue(world, r, iss)


# ============================================================================ routes: labels

@router.get("/repos/{owner}/{repo}/labels")
def list_labels(request: Request, owner: str, repo: str) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        labs = sorted(r.labels.values(), key=lambda lab: lab.name.lower())
        return paginate(request, [shapes.label(world, r, lab) for lab in labs])


@router.post("/repos/{owner}/{repo}/labels", status_code=201)
def create_repo_label(request: Request, owner: str, repo: str, payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "write")
    body = _obj(payload)
    name = str(body.get("name") or "").strip()
    if not name:
        raise validation_failed(resource="Label", code="missing_field", field="name")
    color = str(body.get("color") or "ededed").lstrip("#")
    if not _HEX_COLOR.match(color):
        raise validation_failed(resource="Label", code="invalid", field="color")
    with world.lock:
        if find_label(r, name) is not None:
            raise validation_failed(resource="Label", code="already_exists", field="name")
        lab = create_label(world, r, name, login, color, body.get("description"))
        return JSONResponse(shapes.label(world, r, lab), status_code=201)


@router.get("/repos/{owner}/{repo}/labels/{name:path}")
def get_label(request: Request, owner: str, repo: str, name: str) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        lab = find_label(r, name)
        if lab is None:
            raise not_found()
        return shapes.label(world, r, lab)


def _issue_labels(world: World, r: Repo, iss: Issue) -> list[dict[str, Any]]:
    return [shapes.label(world, r, r.labels[n]) for n in iss.labels if n in r.labels]


@router.get("/repos/{owner}/{repo}/issues/{issue_number}/labels")
def list_issue_labels(request: Request, owner: str, repo: str, issue_number: int) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return paginate(request, _issue_labels(world, r, _issue(r, issue_number)))


@router.post("/repos/{owner}/{repo}/issues/{issue_number}/labels")
def add_issue_labels(request: Request, owner: str, repo: str, issue_number: int,
                     payload: Any = Body(None)) -> list[dict[str, Any]]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "triage")
    names = parse_label_names(payload)
    if not names:
        raise validation_failed(resource="Label", code="missing_field", field="labels")
    with world.lock:
        iss = _issue(r, issue_number)
        add_labels(world, r, iss, names, login)
        return _issue_labels(world, r, iss)


@router.put("/repos/{owner}/{repo}/issues/{issue_number}/labels")
def set_issue_labels(request: Request, owner: str, repo: str, issue_number: int,
                     payload: Any = Body(None)) -> list[dict[str, Any]]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "triage")
    names = parse_label_names(payload if payload is not None else [])
    with world.lock:
        iss = _issue(r, issue_number)
        set_labels(world, r, iss, names, login)
        return _issue_labels(world, r, iss)


@router.delete("/repos/{owner}/{repo}/issues/{issue_number}/labels", status_code=204)
def clear_issue_labels(request: Request, owner: str, repo: str, issue_number: int) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "triage")
    with world.lock:
        set_labels(world, r, _issue(r, issue_number), [], login)
    return Response(status_code=204)


@router.delete("/repos/{owner}/{repo}/issues/{issue_number}/labels/{name:path}")
def remove_issue_label(request: Request, owner: str, repo: str, issue_number: int,
                       name: str) -> list[dict[str, Any]]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "triage")
    with world.lock:
        iss = _issue(r, issue_number)
        if not remove_label(world, r, iss, name, login):
            raise GitHubError(404, "Label does not exist")
        return _issue_labels(world, r, iss)


# ============================================================================ routes: comments

def _comment(r: Repo, comment_id: int) -> Comment:
    c = r.comments.get(comment_id)
    if c is None:
        raise not_found()
    return c


@router.get("/repos/{owner}/{repo}/issues/{issue_number}/comments")
def list_issue_comments(request: Request, owner: str, repo: str, issue_number: int,
                        since: str | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    when = parse_since(since)
    with world.lock:
        _issue(r, issue_number)
        found = sorted((c for c in r.comments.values()
                        if c.issue_number == issue_number and (not when or c.updated_at >= when)),
                       key=lambda c: (c.created_at, c.id))
        return paginate(request, [shapes.comment(world, r, c) for c in found])


@router.post("/repos/{owner}/{repo}/issues/{issue_number}/comments", status_code=201)
def create_issue_comment(request: Request, owner: str, repo: str, issue_number: int,
                         payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "read")
    body = _obj(payload).get("body")
    if not isinstance(body, str) or not body.strip():
        raise validation_failed(resource="IssueComment", code="missing_field", field="body")
    principal = principal_of(request)
    with world.lock:
        iss = _issue(r, issue_number)
        if iss.locked and not _at_least(_level(request, r), "write"):
            raise GitHubError(403, "Unable to create comment because issue is locked.")
        c = add_comment(world, r, issue_number, login, body,
                        via_app_id=principal.app_id if principal.kind == "installation" else None)
        return JSONResponse(shapes.comment(world, r, c), status_code=201,
                            headers={"location": world.api(f"/repos/{r.full_name}/issues/comments/{c.id}")})


@router.get("/repos/{owner}/{repo}/issues/comments/{comment_id}")
def get_issue_comment(request: Request, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return shapes.comment(world, r, _comment(r, comment_id))


def _may_change_comment(request: Request, r: Repo, c: Comment) -> str:
    login = actor_login(request)
    if c.user != login and not _at_least(_level(request, r), "write"):
        raise GitHubError(403, "Resource not accessible by personal access token")
    return login


@router.patch("/repos/{owner}/{repo}/issues/comments/{comment_id}")
def update_issue_comment(request: Request, owner: str, repo: str, comment_id: int,
                         payload: Any = Body(None)) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    body = _obj(payload).get("body")
    if not isinstance(body, str) or not body.strip():
        raise validation_failed(resource="IssueComment", code="missing_field", field="body")
    with world.lock:
        c = _comment(r, comment_id)
        login = _may_change_comment(request, r, c)
        edit_comment(world, r, c, body, login)
        return shapes.comment(world, r, c)


@router.delete("/repos/{owner}/{repo}/issues/comments/{comment_id}", status_code=204)
def delete_issue_comment(request: Request, owner: str, repo: str, comment_id: int) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        c = _comment(r, comment_id)
        login = _may_change_comment(request, r, c)
        delete_comment(world, r, c, login)
    return Response(status_code=204)


# ============================================================================ routes: reactions

def _content(payload: Any) -> str:
    content = _obj(payload).get("content")
    if content not in shapes.REACTION_CONTENTS:
        raise validation_failed(resource="Reaction", code="invalid", field="content")
    return str(content)


def _reaction_answer(world: World, r: Reaction, created: bool) -> JSONResponse:
    return JSONResponse(shapes.reaction(world, r), status_code=201 if created else 200)


def _list_reactions(request: Request, world: World, reactions: list[Reaction], content: str | None) -> JSONResponse:
    return paginate(request, [shapes.reaction(world, x) for x in reactions if content in (None, x.content)])


def _delete_reaction(request: Request, reactions: list[Reaction], reaction_id: int) -> Response:
    login = actor_login(request)
    for x in list(reactions):
        if x.id == reaction_id:
            if x.user != login:
                raise GitHubError(403, "Must have admin rights to Repository.")
            reactions.remove(x)
            return Response(status_code=204)
    raise not_found()


@router.get("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def list_comment_reactions(request: Request, owner: str, repo: str, comment_id: int,
                           content: str | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return _list_reactions(request, world, _comment(r, comment_id).reactions, content)


@router.post("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def create_comment_reaction(request: Request, owner: str, repo: str, comment_id: int,
                            payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "read")
    content = _content(payload)
    with world.lock:
        return _reaction_answer(world, *react(world, _comment(r, comment_id).reactions, login, content))


@router.delete("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}", status_code=204)
def delete_comment_reaction(request: Request, owner: str, repo: str, comment_id: int,
                            reaction_id: int) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return _delete_reaction(request, _comment(r, comment_id).reactions, reaction_id)


@router.get("/repos/{owner}/{repo}/issues/{issue_number}/reactions")
def list_issue_reactions(request: Request, owner: str, repo: str, issue_number: int,
                         content: str | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return _list_reactions(request, world, _issue(r, issue_number).reactions, content)


@router.post("/repos/{owner}/{repo}/issues/{issue_number}/reactions")
def create_issue_reaction(request: Request, owner: str, repo: str, issue_number: int,
                          payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    login = require_write(request, r, "read")
    content = _content(payload)
    with world.lock:
        return _reaction_answer(world, *react(world, _issue(r, issue_number).reactions, login, content))


@router.delete("/repos/{owner}/{repo}/issues/{issue_number}/reactions/{reaction_id}", status_code=204)
def delete_issue_reaction(request: Request, owner: str, repo: str, issue_number: int,
                          reaction_id: int) -> Response:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return _delete_reaction(request, _issue(r, issue_number).reactions, reaction_id)
