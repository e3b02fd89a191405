"""``/_sandbox/...``: drive and inspect the sandbox over HTTP (not GitHub's API).

For the CLI (``trunkline sandbox actor ...``), for ``trunkline demo`` and for end-to-end tests that
run the sandbox as a subprocess (``actors.RemoteSandbox``). No GitHub auth; loopback clients only.

    POST   /_sandbox/actions/{name}   run an actor action, JSON body = its keyword arguments
                                       -> {"action": name, "result": ...}
    GET    /_sandbox/actions          the actions and their parameters
    GET    /_sandbox/state            apps, installations, repos (branches, PRs, check runs, ...)
    GET    /_sandbox/                 the same state as a small HTML page
    GET    /_sandbox/deliveries       webhook deliveries (?event=&action=), payloads included
    GET    /_sandbox/requests         request log + per-installation request counters
    DELETE /_sandbox/requests         reset the request log and counters
    GET    /_sandbox/faults           active fault rules
    POST   /_sandbox/faults           add one {"method", "path", "status", "times", "latency", ...}
                                       or {"drop_webhooks": N}
    DELETE /_sandbox/faults           clear every fault rule (and pending webhook drops)
"""

from __future__ import annotations

import html
import inspect
import ipaddress
import json
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ..actors import CONTROL_ACTIONS, ActorError, actors_for, call_action
from ..http import GitHubError, world_of
from ..world import NotFound, Repo, World, iso


def loopback_only(request: Request) -> None:
    """Control routes answer local clients only, whatever address the server was bound to."""
    host = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host in ("localhost", "testclient")
    if not local:
        raise GitHubError(403, "sandbox control routes are only available from loopback clients")


router = APIRouter(prefix="/_sandbox", dependencies=[Depends(loopback_only)])


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": message, "status": str(status), **extra}, status_code=status)


@router.get("/actions")
def list_actions(request: Request) -> dict[str, Any]:
    actors = actors_for(world_of(request))
    out = {}
    for name in CONTROL_ACTIONS:
        sig = inspect.signature(getattr(actors, name))
        out[name] = [p.name for p in sig.parameters.values()]
    return {"actions": out}


@router.post("/actions/{name}")
def run_action(name: str, request: Request, body: dict[str, Any] | None = None) -> JSONResponse:
    actors = actors_for(world_of(request))
    try:
        result = call_action(actors, name, body or {})
    except ActorError as exc:
        return _error(exc.status, str(exc), github=exc.body)
    except (LookupError, NotFound) as exc:
        return _error(404, str(exc.args[0]) if exc.args else str(exc))
    except (TypeError, ValueError) as exc:
        return _error(422, f"{name}: {exc}")
    return JSONResponse({"action": name, "result": result})


# ---- inspection ---------------------------------------------------------------------------------
def _branches(repo: Repo) -> dict[str, str]:
    try:
        from .. import git

        return dict(git.branches(repo))
    except Exception:  # noqa: BLE001 — a repo mid-creation must not break the state view
        return {}


def _mergeable_state(world: World, repo: Repo, number: int) -> str | None:
    try:
        from ..shapes.pulls import verdict

        return verdict(world, repo, repo.pulls[number]).mergeable_state
    except Exception:  # noqa: BLE001 — the state view is best effort
        return None


def repo_state(world: World, repo: Repo) -> dict[str, Any]:
    apps = world.apps
    pulls = []
    for number, pull in sorted(repo.pulls.items()):
        issue = repo.issues.get(number)
        pulls.append({
            "number": number, "title": issue.title if issue else "", "state": issue.state if issue else "",
            "draft": pull.draft, "user": issue.user if issue else None, "labels": issue.labels if issue else [],
            "head": pull.head_ref, "head_sha": pull.head_sha, "base": pull.base_ref, "base_sha": pull.base_sha,
            "merged": pull.merged, "merge_commit_sha": pull.merge_commit_sha,
            "mergeable_state": _mergeable_state(world, repo, number),
            "reviews": [{"user": r.user, "state": r.state, "commit_id": r.commit_id}
                        for r in repo.reviews.values() if r.pull_number == number],
        })
    return {
        "id": repo.id, "full_name": repo.full_name, "default_branch": repo.default_branch,
        "private": repo.private, "branches": _branches(repo), "collaborators": dict(repo.collaborators),
        "protections": {name: asdict(p) for name, p in repo.protections.items()},
        "pulls": pulls,
        "issues": [{"number": i.number, "title": i.title, "state": i.state, "labels": i.labels, "user": i.user}
                   for i in sorted(repo.issues.values(), key=lambda i: i.number) if not i.is_pull],
        "comments": len(repo.comments),
        "check_runs": [{"id": c.id, "name": c.name, "head_sha": c.head_sha, "status": c.status,
                        "conclusion": c.conclusion,
                        "app": apps[c.app_id].slug if c.app_id in apps else None}
                       for c in sorted(repo.check_runs.values(), key=lambda c: c.id)],
        "statuses": [{"sha": s.sha, "context": s.context, "state": s.state, "creator": s.creator}
                     for s in repo.statuses],
        "deployments": [{"id": d.id, "environment": d.environment, "ref": d.ref, "sha": d.sha,
                         "statuses": [s.state for s in d.statuses]}
                        for d in sorted(repo.deployments.values(), key=lambda d: d.id)],
        "workflow_runs": [{"id": r.id, "name": r.name, "status": r.status, "conclusion": r.conclusion,
                           "event": r.event, "head_sha": r.head_sha}
                          for r in sorted(repo.workflow_runs.values(), key=lambda r: r.id)],
    }


def world_state(world: World) -> dict[str, Any]:
    with world.lock:
        return {
            "url": world.base_url,
            "apps": [{"id": a.id, "slug": a.slug, "owner": a.owner, "webhook_url": a.webhook_url,
                      "events": a.events} for a in world.apps.values()],
            "installations": [{"id": i.id, "app_id": i.app_id, "account": i.account,
                               "repository_ids": sorted(i.repository_ids) if i.repository_ids is not None
                               else None} for i in world.installations.values()],
            "users": sorted(u.login for u in world.users.values()),
            "repos": [repo_state(world, r) for r in world.repos.values()],
            "deliveries": len(world.deliveries),
            "requests": len(world.request_log),
            "faults": len(world.faults),
        }


@router.get("/state")
def state(request: Request) -> dict[str, Any]:
    return world_state(world_of(request))


def delivery_json(d: Any) -> dict[str, Any]:
    try:
        payload = json.loads(d.payload)
    except ValueError:
        payload = None
    return {"id": d.id, "guid": d.guid, "event": d.event, "action": d.action,
            "installation_id": d.installation_id, "repository_id": d.repository_id,
            "delivered_at": iso(d.delivered_at), "redelivery": d.redelivery, "status_code": d.status_code,
            "status": d.status, "duration": d.duration, "payload": payload}


@router.get("/deliveries")
def deliveries(request: Request, event: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
    world = world_of(request)
    with world.lock:
        found = [d for d in world.deliveries
                 if (event is None or d.event == event) and (action is None or d.action == action)]
        return [delivery_json(d) for d in found]


@router.get("/requests")
def requests(request: Request) -> dict[str, Any]:
    world = world_of(request)
    with world.lock:
        log = [{"at": e.at, "method": e.method, "path": e.path, "route": e.route, "status": e.status,
                "principal": e.principal, "installation_id": e.installation_id, "fault": e.fault}
               for e in world.request_log]
        return {"total": len(log), "by_installation": {str(k): v for k, v in world.requests_by_installation.items()},
                "log": log}


@router.delete("/requests", status_code=204)
def reset_requests(request: Request) -> None:
    world_of(request).reset_accounting()


@router.get("/faults")
def faults(request: Request) -> dict[str, Any]:
    world = world_of(request)
    with world.lock:
        return {"faults": [asdict(f) for f in world.faults], "dropped_webhooks": world.dropped_webhooks}


@router.post("/faults", status_code=201)
def add_fault(request: Request, body: dict[str, Any]) -> Any:
    world = world_of(request)
    if "drop_webhooks" in body:
        count = body["drop_webhooks"]
        if not isinstance(count, int) or count < 0:
            return _error(422, "drop_webhooks must be a non-negative integer")
        with world.lock:
            world.dropped_webhooks += count
        return {"dropped_webhooks": world.dropped_webhooks}
    allowed = {"method", "path", "status", "times", "latency", "headers", "body"}
    unknown = set(body) - allowed
    if unknown or "method" not in body or "path" not in body:
        return _error(422, f"a fault needs method and path (optional: status, times, latency, headers, body);"
                           f" unexpected: {', '.join(sorted(unknown)) or 'none'}")
    rule = world.inject(str(body["method"]), str(body["path"]), body.get("status"),
                        times=body.get("times", 1), latency=float(body.get("latency", 0.0)),
                        headers=body.get("headers"), body=body.get("body"))
    return asdict(rule)


@router.delete("/faults", status_code=204)
def clear_faults(request: Request) -> None:
    world_of(request).clear_faults()


# ---- a quick look for humans ------------------------------------------------------------------------
def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(state: dict[str, Any]) -> str:
    parts = [f"<h1>Sandbox GitHub at {html.escape(state['url'])}</h1>",
             f"<p>{state['requests']} REST requests, {state['deliveries']} webhook deliveries, "
             f"{state['faults']} fault rules. JSON: <a href='/_sandbox/state'>/_sandbox/state</a></p>",
             "<h2>Apps</h2>", _table(state["apps"], ["id", "slug", "owner", "webhook_url"]),
             "<h2>Installations</h2>", _table(state["installations"], ["id", "app_id", "account"])]
    for repo in state["repos"]:
        parts.append(f"<h2>{html.escape(repo['full_name'])}</h2>")
        branches = [{"branch": b, "sha": s} for b, s in sorted(repo["branches"].items())]
        parts += ["<h3>Branches</h3>", _table(branches, ["branch", "sha"]),
                  "<h3>Pull requests</h3>",
                  _table(repo["pulls"], ["number", "title", "state", "draft", "head", "head_sha", "base",
                                         "mergeable_state", "merged", "labels"]),
                  "<h3>Issues</h3>", _table(repo["issues"], ["number", "title", "state", "labels"]),
                  "<h3>Check runs</h3>",
                  _table(repo["check_runs"], ["id", "name", "head_sha", "status", "conclusion", "app"]),
                  "<h3>Statuses</h3>", _table(repo["statuses"], ["sha", "context", "state", "creator"]),
                  "<h3>Deployments</h3>", _table(repo["deployments"], ["id", "environment", "ref", "statuses"])]
    style = ("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style>")
    return f"<!doctype html><html><head><title>Sandbox GitHub</title>{style}</head><body>{''.join(parts)}</body></html>"


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return HTMLResponse(render_html(world_state(world_of(request))))
