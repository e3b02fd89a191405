"""GitHub App routes: the app, its installations, installation tokens and webhook deliveries.

Authentication mirrors GitHub: ``/app/...`` and ``/repos/{owner}/{repo}/installation`` accept only
an App JWT (``Authorization: Bearer <jwt>``; its signature/iat/exp are checked by
``trunkline.sandbox.auth`` before a route runs), ``/installation/repositories`` only an
installation token.

Also home of the world-building helpers :func:`register_app` and :func:`install_app` used by
tests, actors and the demo.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from ..auth import Principal
from ..http import GitHubError, get_repo, not_found, paginate, principal_of, validation_failed, world_of
from ..shapes import apps as shapes
from ..world import AppReg, HookDelivery, Installation, Token, World, iso

router = APIRouter()

TOKEN_LIFETIME = 3600  # GitHub installation tokens expire after one hour
DEFAULT_PERMISSIONS = {
    "actions": "write",
    "checks": "write",
    "contents": "write",
    "deployments": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
    "workflows": "write",
}
DEFAULT_EVENTS = [
    "check_run", "check_suite", "deployment", "deployment_status", "issue_comment", "issues",
    "pull_request", "pull_request_review", "push", "status", "workflow_run",
]
_LEVELS = {"read": 1, "write": 2, "admin": 3}
JWT_REQUIRED = "A JSON web token could not be decoded"


# ---- world helpers -------------------------------------------------------------------------------

def register_app(world: World, slug: str, owner: str, webhook_url: str | None = None,
                 webhook_secret: str = "", permissions: dict[str, str] | None = None,
                 events: list[str] | None = None, *, name: str | None = None) -> AppReg:
    """Register a GitHub App with a fresh RSA key pair (``AppReg.private_key_pem`` signs its JWTs)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with world.lock:
        if any(a.slug.lower() == slug.lower() for a in world.apps.values()):
            raise ValueError(f"an app with slug {slug!r} exists")
        world.user(owner)
        app = AppReg(id=world.next_id(), slug=slug, name=name or slug, owner=owner, public_key_pem=public_pem,
                     private_key_pem=private_pem, webhook_url=webhook_url, webhook_secret=webhook_secret,
                     permissions=dict(DEFAULT_PERMISSIONS if permissions is None else permissions),
                     events=list(DEFAULT_EVENTS if events is None else events))
        world.apps[app.id] = app
        world.user(app.bot_login, type="Bot")
        return app


def install_app(world: World, app: AppReg, account: str, repository_ids: set[int] | list[int] | None = None,
                *, sender: str | None = None, emit: bool = True) -> Installation:
    """Install ``app`` on ``account`` (all its repositories, or only ``repository_ids``).

    Like GitHub, announces it with an ``installation`` ``created`` webhook (full installation
    object, sent by ``sender``, default the account) unless ``emit`` is False.
    """
    with world.lock:
        world.user(account)
        inst = Installation(id=world.next_id(), app_id=app.id, account=account,
                            repository_ids=None if repository_ids is None else set(repository_ids))
        world.installations[inst.id] = inst
        payload = shapes.installation_created_payload(world, inst, sender or account) if emit else None
    if payload is not None:
        world.emit("installation", payload, repo=None)
    return inst


# ---- auth helpers --------------------------------------------------------------------------------

def _require_app(request: Request) -> AppReg:
    principal = principal_of(request)
    if principal.kind != "app" or principal.app_id is None:
        raise GitHubError(401, JWT_REQUIRED)
    app = world_of(request).apps.get(principal.app_id)
    if app is None:
        raise GitHubError(401, JWT_REQUIRED)
    return app


def _require_installation(request: Request) -> Principal:
    principal = principal_of(request)
    if principal.kind == "anonymous":
        raise GitHubError(401, "Requires authentication")
    if principal.kind != "installation":
        raise GitHubError(403, "You must authenticate with an installation access token in order to list "
                               "repositories for an installation.")
    return principal


def _own_installation(world: World, app: AppReg, installation_id: int) -> Installation:
    inst = world.installations.get(installation_id)
    if inst is None or inst.app_id != app.id:
        raise not_found()
    return inst


# ---- app and installations -------------------------------------------------------------------------

@router.get("/app")
def get_authenticated_app(request: Request) -> dict[str, Any]:
    app = _require_app(request)
    world = world_of(request)
    with world.lock:
        return shapes.integration(world, app)


@router.get("/app/installations")
def list_installations(request: Request, since: str | None = None) -> JSONResponse:
    app = _require_app(request)
    world = world_of(request)
    with world.lock:
        insts = sorted((i for i in world.installations.values() if i.app_id == app.id), key=lambda i: i.id)
        if since:
            insts = [i for i in insts if iso(i.created_at) >= since]  # ISO-8601 Z strings sort as time
        items = [shapes.installation_list_item(world, i) for i in insts]
    return paginate(request, items)


@router.get("/app/installations/{installation_id}")
def get_installation(request: Request, installation_id: int) -> dict[str, Any]:
    app = _require_app(request)
    world = world_of(request)
    with world.lock:
        return shapes.installation(world, _own_installation(world, app, installation_id))


def _token_scope(world: World, inst: Installation, app: AppReg, body: dict[str, Any]) -> tuple[
        dict[str, str], list | None]:
    """(permissions, repositories or None for all) requested for a token, validated like GitHub."""
    permissions = dict(app.permissions)
    asked = body.get("permissions")
    if asked is not None:
        if not isinstance(asked, dict):
            raise validation_failed("Invalid request.", resource="Token", field="permissions", code="invalid")
        for name, level in asked.items():
            have = app.permissions.get(name)
            if have is None or _LEVELS.get(str(level), 99) > _LEVELS.get(have, 0):
                raise validation_failed("The permissions requested are not granted to this installation.")
        permissions = {str(k): str(v) for k, v in asked.items()}
    accessible = shapes.repos_of(world, inst)
    names, ids = body.get("repositories"), body.get("repository_ids")
    if names is None and ids is None:
        return permissions, (None if inst.repository_ids is None else accessible)
    by_name = {r.name.lower(): r for r in accessible}
    by_id = {r.id: r for r in accessible}
    chosen: dict[int, Any] = {}
    try:
        for name in names or []:
            chosen[by_name[str(name).lower()].id] = by_name[str(name).lower()]
        for rid in ids or []:
            chosen[int(rid)] = by_id[int(rid)]
    except (KeyError, ValueError, TypeError) as exc:
        raise validation_failed("There is at least one repository that does not exist or is not accessible "
                                "to the parent installation.") from exc
    return permissions, sorted(chosen.values(), key=lambda r: r.id)


@router.post("/app/installations/{installation_id}/access_tokens", status_code=201)
def create_installation_token(request: Request, installation_id: int,
                              body: dict[str, Any] | None = Body(default=None)) -> JSONResponse:
    app = _require_app(request)
    world = world_of(request)
    with world.lock:
        inst = _own_installation(world, app, installation_id)
        permissions, repos = _token_scope(world, inst, app, body or {})
        value = "ghs_" + secrets.token_hex(18)
        expires = time.time() + TOKEN_LIFETIME
        world.tokens[value] = Token(token=value, kind="installation", expires_at=expires,
                                    installation_id=inst.id, user=app.bot_login)
        data = shapes.installation_token(world, inst, value, _iso_epoch(expires), permissions, repos)
    return JSONResponse(data, status_code=201)


def _iso_epoch(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


@router.get("/repos/{owner}/{repo}/installation")
def get_repo_installation(request: Request, owner: str, repo: str) -> dict[str, Any]:
    app = _require_app(request)
    world = world_of(request)
    with world.lock:
        found = get_repo(request, owner, repo)
        inst = world.installation_for_repo(found, app.id)
        if inst is None:
            raise not_found()
        return shapes.installation(world, inst)


@router.get("/installation/repositories")
def list_installation_repositories(request: Request) -> JSONResponse:
    principal = _require_installation(request)
    world = world_of(request)
    with world.lock:
        inst = world.installations.get(principal.installation_id or -1)
        if inst is None:
            raise GitHubError(401, "Bad credentials")
        repos = shapes.installation_repositories(world, shapes.repos_of(world, inst))
        selection = "all" if inst.repository_ids is None else "selected"
    return paginate(request, repos, wrap="repositories", extra={"repository_selection": selection})


# ---- webhook deliveries ----------------------------------------------------------------------------

def delivery_app_id(world: World, delivery: HookDelivery) -> int | None:
    """Which App a delivery belongs to: an explicit ``app_id`` attribute if the sender set one, else
    GitHub's ``X-GitHub-Hook-Installation-Target-ID`` header (type ``integration``), else the app of
    the delivery's installation."""
    explicit = getattr(delivery, "app_id", None)
    if explicit is not None:
        return int(explicit)
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    if headers.get("x-github-hook-installation-target-type", "").lower() == "integration":
        try:
            return int(headers["x-github-hook-installation-target-id"])
        except (KeyError, ValueError):
            pass
    inst = world.installations.get(delivery.installation_id or -1)
    return inst.app_id if inst else None


def _deliveries_of(world: World, app: AppReg) -> list[HookDelivery]:
    """The app's deliveries, newest first (GitHub's order)."""
    mine = [d for d in world.deliveries if delivery_app_id(world, d) == app.id]
    return sorted(mine, key=lambda d: d.id, reverse=True)


def _parse_cursor(cursor: str) -> int:
    prefix, _, number = cursor.partition("_")
    if prefix != "v1" or not number.isdigit():
        raise GitHubError(400, "Invalid cursor")
    return int(number)


def _status_matches(delivery: HookDelivery, status: str | None) -> bool:
    if status is None:
        return True
    ok = 200 <= delivery.status_code <= 399
    # A delivery that never got an answer (status_code 0: connection refused, timeout) is a failure too.
    return ok if status == "success" else not ok


@router.get("/app/hook/deliveries")
def list_webhook_deliveries(request: Request, per_page: int = 30, cursor: str | None = None,
                            status: str | None = None) -> JSONResponse:
    app = _require_app(request)
    if status not in (None, "success", "failure"):
        raise validation_failed(resource="HookDelivery", field="status", code="invalid")
    per_page = max(1, min(100, per_page))
    world = world_of(request)
    with world.lock:
        items = [d for d in _deliveries_of(world, app) if _status_matches(d, status)]
    if cursor is not None:
        start = _parse_cursor(cursor)
        items = [d for d in items if d.id <= start]
    page, rest = items[:per_page], items[per_page:]
    headers = {}
    if rest:
        query: dict[str, Any] = {"per_page": per_page, "cursor": f"v1_{rest[0].id}"}
        if status:
            query["status"] = status
        headers["link"] = f'<{world.base_url}{request.url.path}?{urlencode(query)}>; rel="next"'
    return JSONResponse([shapes.hook_delivery_item(d) for d in page], headers=headers)


def _find_delivery(world: World, app: AppReg, delivery_id: int) -> HookDelivery:
    for d in world.deliveries:
        if d.id == delivery_id and delivery_app_id(world, d) == app.id:
            return d
    raise not_found()


@router.get("/app/hook/deliveries/{delivery_id}")
def get_webhook_delivery(request: Request, delivery_id: int) -> dict[str, Any]:
    app = _require_app(request)
    world = world_of(request)
    with world.lock:
        return shapes.hook_delivery(_find_delivery(world, app, delivery_id), app.webhook_url)


@router.post("/app/hook/deliveries/{delivery_id}/attempts", status_code=202)
def redeliver_webhook_delivery(request: Request, delivery_id: int) -> JSONResponse:
    app = _require_app(request)
    world = world_of(request)
    with world.lock:
        delivery = _find_delivery(world, app, delivery_id)
    sink = world.redeliver_sink
    if sink is None:
        # No webhook sender is running in this world: GitHub would accept and deliver; we cannot.
        raise GitHubError(503, "Webhook delivery is not available in this sandbox")
    sink(delivery)  # outside the lock: it performs an HTTP POST to the app's webhook URL
    return JSONResponse({}, status_code=202)


__all__ = ["DEFAULT_EVENTS", "DEFAULT_PERMISSIONS", "delivery_app_id", "install_app", "register_app", "router"]
