"""HTTP helpers shared by the sandbox routes: GitHub-shaped errors, pagination, principals."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from fastapi.responses import JSONResponse

from .auth import Principal
from .world import Repo, World

DOCS = "https://docs.github.com/rest"


class GitHubError(Exception):
    """Raise from a route to answer like GitHub: {"message", "documentation_url", "status"}."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS, "status": str(self.status)}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found() -> GitHubError:
    return GitHubError(404, "Not Found")


def validation_failed(message: str = "Validation Failed", **error: Any) -> GitHubError:
    return GitHubError(422, message, errors=[error] if error else [])


def world_of(request: Request) -> World:
    return request.app.state.world


def principal_of(request: Request) -> Principal:
    return request.state.principal


def actor_login(request: Request) -> str:
    """The login that performs a write: the user, or the App's bot user for installation tokens."""
    principal = principal_of(request)
    if principal.kind == "installation" and principal.login:
        return principal.login
    if principal.kind == "user" and principal.login:
        return principal.login
    raise GitHubError(401, "Requires authentication")


def require_auth(request: Request) -> Principal:
    principal = principal_of(request)
    if principal.kind == "anonymous":
        raise GitHubError(401, "Requires authentication")
    return principal


def get_repo(request: Request, owner: str, repo: str) -> Repo:
    """Look up a repo the caller may see (404, like GitHub, when it may not)."""
    world = world_of(request)
    with world.lock:
        key = f"{owner}/{repo}".lower()
        found = world.repos.get(key)
        if found is None:
            raise not_found()
        principal = principal_of(request)
        if principal.kind == "installation":
            inst = world.installations.get(principal.installation_id or -1)
            if inst is None or inst.account.lower() != found.owner.lower() or (
                    inst.repository_ids is not None and found.id not in inst.repository_ids):
                raise not_found()
        elif found.private and (principal.kind != "user" or
                                world.permission(found, principal.login or "") == "none"):
            raise not_found()
        return found


def require_write(request: Request, repo: Repo, level: str = "write") -> str:
    """The acting login, after checking it has at least ``level`` on the repo (403 otherwise)."""
    from .world import PERMISSION_LEVELS

    login = actor_login(request)
    principal = principal_of(request)
    if principal.kind == "installation":
        return login  # installation permissions are granted at install time
    have = world_of(request).permission(repo, login)
    if PERMISSION_LEVELS.index(have) < PERMISSION_LEVELS.index(level):
        raise GitHubError(403, "Resource not accessible by personal access token")
    return login


def paginate(request: Request, items: list[Any], *, wrap: str | None = None,
             extra: dict[str, Any] | None = None, status_code: int = 200) -> JSONResponse:
    """A page of ``items`` with GitHub's ``link`` header; ``wrap`` gives {"total_count", wrap: [...]}."""
    try:
        per_page = max(1, min(100, int(request.query_params.get("per_page", 30))))
        page = max(1, int(request.query_params.get("page", 1)))
    except ValueError as exc:
        raise GitHubError(422, "Invalid pagination parameters") from exc
    total = len(items)
    last = max(1, (total + per_page - 1) // per_page)
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []

    def url_for(p: int) -> str:
        query = dict(parse_qsl(str(request.url.query)))
        query["page"] = str(p)
        query["per_page"] = str(per_page)
        world = world_of(request)
        return f"{world.base_url}{request.url.path}?{urlencode(query)}"

    if page < last:
        links.append(f'<{url_for(page + 1)}>; rel="next"')
        links.append(f'<{url_for(last)}>; rel="last"')
    if page > 1:
        links.append(f'<{url_for(1)}>; rel="first"')
        links.append(f'<{url_for(page - 1)}>; rel="prev"')
    headers = {"link": ", ".join(links)} if links else {}
    body: Any = chunk
    if wrap:
        body = {"total_count": total, wrap: chunk, **(extra or {})}
    return JSONResponse(body, status_code=status_code, headers=headers)
