"""JSON shapes for GitHub Apps: the app itself, installations, installation tokens, hook deliveries.

Each function names the schema it satisfies in GitHub's REST description (``components/schemas``)
or in octokit's webhook schemas (``common/installation.schema.json``, which forbids extra
properties — hence the ``webhook`` flavour of :func:`installation`).
"""

from __future__ import annotations

import json
from typing import Any

from ..world import AppReg, HookDelivery, Installation, Repo, World, iso
from .common import node_id, repository, user

# octokit's common/installation.schema.json only knows these permission names (additionalProperties:
# false) and only "read"/"write" levels; REST's app-permissions is a superset.
_WEBHOOK_PERMISSION_LEVELS = ("read", "write")


def webhook_user(world: World, login: str) -> dict[str, Any]:
    """octokit ``common/user`` (additionalProperties: false): ``simple-user`` minus REST-only fields."""
    data = user(world, login) or {}
    data.pop("user_view_type", None)
    return data


def client_id(app: AppReg) -> str:
    return f"Iv1.{app.id:016x}"


def integration(world: World, app: AppReg) -> dict[str, Any]:
    """``integration`` (GET /app)."""
    count = sum(1 for inst in world.installations.values() if inst.app_id == app.id)
    return {
        "id": app.id,
        "slug": app.slug,
        "node_id": node_id("Integration", app.id),
        "client_id": client_id(app),
        "owner": user(world, app.owner),
        "name": app.name,
        "description": None,
        "external_url": f"{world.web_url}/apps/{app.slug}",
        "html_url": f"{world.web_url}/apps/{app.slug}",
        "created_at": iso(app.created_at),
        "updated_at": iso(app.created_at),
        "permissions": dict(app.permissions),
        "events": list(app.events),
        "installations_count": count,
    }


def installation(world: World, inst: Installation, *, flavour: str = "rest") -> dict[str, Any]:
    """``installation`` (REST) or octokit ``common/installation`` (flavour="webhook")."""
    app = world.apps[inst.app_id]
    account = world.user(inst.account)
    data: dict[str, Any] = {
        "id": inst.id,
        "account": user(world, account.login),
        "repository_selection": "all" if inst.repository_ids is None else "selected",
        "access_tokens_url": world.api(f"/app/installations/{inst.id}/access_tokens"),
        "repositories_url": world.api("/installation/repositories"),
        "html_url": f"{world.web_url}/settings/installations/{inst.id}",
        "app_id": app.id,
        "app_slug": app.slug,
        "target_id": account.id,
        "target_type": "Organization" if account.type == "Organization" else "User",
        "permissions": dict(app.permissions),
        "events": list(app.events),
        "created_at": iso(inst.created_at),
        "updated_at": iso(inst.created_at),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }
    if flavour == "webhook":
        data["account"] = webhook_user(world, account.login)
        data["permissions"] = {k: v for k, v in app.permissions.items() if v in _WEBHOOK_PERMISSION_LEVELS}
        return data
    data["client_id"] = client_id(app)
    return data


def installation_list_item(world: World, inst: Installation) -> dict[str, Any]:
    """An item of GET /app/installations.

    The description declares this item's ``account`` as ``allOf: [simple-user, enterprise]`` (its own
    example does not satisfy that), so the account also carries the enterprise-required keys
    (``name``, ``slug``, ``created_at``, ``updated_at``); clients ignore keys they do not know.
    """
    data = installation(world, inst)
    account = world.user(inst.account)
    data["account"].update({"name": account.name or account.login, "slug": account.login,
                            "created_at": None, "updated_at": None})
    return data


def installation_token(world: World, inst: Installation, token: str, expires_at: str,
                       permissions: dict[str, str], repos: list[Repo] | None) -> dict[str, Any]:
    """``installation-token`` (POST /app/installations/{installation_id}/access_tokens).

    ``repos`` is the explicit repository list of a token narrowed (by request or by a "selected"
    installation) to some repositories; None for an "all repositories" token, which GitHub answers
    without a ``repositories`` key.
    """
    data: dict[str, Any] = {
        "token": token,
        "expires_at": expires_at,
        "permissions": dict(permissions),
        "repository_selection": "all" if repos is None else "selected",
    }
    if repos is not None:
        data["repositories"] = [repository(world, r, flavour="minimal") for r in repos]
    return data


def installation_repositories(world: World, repos: list[Repo]) -> list[dict[str, Any]]:
    """Items of GET /installation/repositories (``repository`` + custom_properties)."""
    out = []
    for repo in repos:
        data = repository(world, repo, flavour="minimal")
        data["custom_properties"] = {}
        out.append(data)
    return out


def hook_delivery_item(delivery: HookDelivery) -> dict[str, Any]:
    """``hook-delivery-item`` (GET /app/hook/deliveries)."""
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": iso(delivery.delivered_at),
        "redelivery": delivery.redelivery,
        "duration": round(float(delivery.duration), 3),
        "status": delivery.status,
        "status_code": delivery.status_code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "throttled_at": iso(delivery.throttled_at),
    }


def hook_delivery(delivery: HookDelivery, url: str | None) -> dict[str, Any]:
    """``hook-delivery`` (GET /app/hook/deliveries/{delivery_id}): the item plus request/response."""
    try:
        payload: Any = json.loads(delivery.payload) if delivery.payload else None
    except ValueError:
        payload = None
    data = hook_delivery_item(delivery)
    if url:
        data["url"] = url
    data["request"] = {"headers": dict(delivery.headers), "payload": payload if isinstance(payload, dict) else None}
    data["response"] = {
        "headers": {"Content-Type": "application/json"} if delivery.status_code else None,
        "payload": delivery.response_body if delivery.status_code else None,
    }
    return data


def installation_created_payload(world: World, inst: Installation, sender: str) -> dict[str, Any]:
    """octokit ``installation$created`` webhook payload."""
    repos = repos_of(world, inst)
    return {
        "action": "created",
        "installation": installation(world, inst, flavour="webhook"),
        "repositories": [{"id": r.id, "node_id": node_id("Repository", r.id), "name": r.name,
                          "full_name": r.full_name, "private": r.private} for r in repos],
        "sender": webhook_user(world, sender),
    }


def repos_of(world: World, inst: Installation) -> list[Repo]:
    """Repositories an installation can access, in id order."""
    repos = [r for r in world.repos.values() if r.owner.lower() == inst.account.lower()
             and (inst.repository_ids is None or r.id in inst.repository_ids)]
    return sorted(repos, key=lambda r: r.id)
