"""JSON shapes for deployments and deployment statuses.

REST: ``deployment``, ``deployment-status``. Webhooks: octokit ``common/deployment`` and the
``deployment_status`` object of ``deployment_status.created`` (which has no ``inactive`` state and
wants ``payload`` to be an object).
"""

from __future__ import annotations

import json
from typing import Any

from ..world import Deployment, DeploymentStatus, Repo, World, iso
from .common import node_id, user
from .issues import app_by_bot_login, github_app, webhook_clean


def _payload_object(value: Any) -> dict[str, Any]:
    """octokit wants an object; GitHub decodes a JSON string payload, anything else is {}."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def deployment(world: World, repo: Repo, d: Deployment, *, flavour: str = "rest") -> dict[str, Any]:
    """``deployment`` (REST) or octokit ``common/deployment`` (flavour="webhook")."""
    api = world.api(f"/repos/{repo.full_name}/deployments/{d.id}")
    data: dict[str, Any] = {
        "url": api,
        "id": d.id,
        "node_id": node_id("Deployment", d.id),
        "sha": d.sha,
        "ref": d.ref,
        "task": d.task,
        "payload": _payload_object(d.payload) if flavour == "webhook" else d.payload,
        "original_environment": d.original_environment or d.environment,
        "environment": d.environment,
        "description": d.description,
        "creator": user(world, d.creator),
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "statuses_url": f"{api}/statuses",
        "repository_url": world.api(f"/repos/{repo.full_name}"),
        "transient_environment": d.transient_environment,
        "production_environment": d.production_environment,
        "performed_via_github_app": github_app(world, app_by_bot_login(world, d.creator), flavour=flavour),
    }
    return webhook_clean(data) if flavour == "webhook" else data


def deployment_status(world: World, repo: Repo, d: Deployment, st: DeploymentStatus, *,
                      flavour: str = "rest") -> dict[str, Any]:
    """``deployment-status`` (REST) or the ``deployment_status`` object of the webhook."""
    dep_api = world.api(f"/repos/{repo.full_name}/deployments/{d.id}")
    data: dict[str, Any] = {
        "url": f"{dep_api}/statuses/{st.id}",
        "id": st.id,
        "node_id": node_id("DeploymentStatus", st.id),
        "state": st.state,
        "creator": user(world, st.creator),
        "description": st.description,
        "environment": st.environment,
        "target_url": st.log_url,
        "created_at": iso(st.created_at),
        "updated_at": iso(st.updated_at),
        "deployment_url": dep_api,
        "repository_url": world.api(f"/repos/{repo.full_name}"),
        "environment_url": st.environment_url,
        "log_url": st.log_url,
        "performed_via_github_app": github_app(world, app_by_bot_login(world, st.creator), flavour=flavour),
    }
    if flavour == "webhook":
        if not data["log_url"]:
            data.pop("log_url")  # octokit: a uri when present
        return webhook_clean(data)
    return data
