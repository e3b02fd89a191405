"""``GET /logs/...``: run logs over HTTP from ``trunkline serve``, through signed, expiring links.

* ``GET /logs/agents/{run_id}`` — an HTML page listing the agent run's stage logs (each a signed link
  valid as long as the page's own link);
* ``GET /logs/agents/{run_id}/{name}`` — one stage log (``plan-1.log``, ``tier-tier-0-2.log``), text;
* ``GET /logs/gates/{run_id}`` — a verify tier run's log (the check run's *Details* link), text;
* ``GET /logs/deploy/{run_id}`` — a deploy run's page (:mod:`trunkline.deploy.page`), HTML.

Every request needs ``expires`` and ``sig`` (see :mod:`trunkline.logs.links`); anything else is refused
with 403 and a message saying why, before the store or the disk is looked at — a 404 (no such run, no
such log) only answers a correctly signed link. Only regular files inside the run's own log folder are
served (:func:`trunkline.logs.files.inside`). A log still being written is served as far as it is
written when the request arrives. A finished run whose logs were pruned (kept
``TRUNKLINE_LOGS_RETENTION_DAYS`` days) answers 404 saying so; its record stays.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from trunkline.api.ingest import Error

from . import files, links

CHUNK = 64 * 1024
HEADERS = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff"}
INDEX_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(Error(message=message).model_dump(mode="json"), status_code=status, headers=HEADERS)


def _read_upto(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        left = size
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _text_file(path: Path, filename: str) -> Response:
    size = path.stat().st_size  # a log being written: what is there now
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:200] or "log.txt"
    headers = {**HEADERS, "Content-Disposition": f'inline; filename="{safe}"'}
    return StreamingResponse(_read_upto(path, size), media_type="text/plain; charset=utf-8", headers=headers)


def index_page(title: str, entries: list[tuple[str, str, int]]) -> str:
    """The HTML of a run's log index (pure): ``entries`` are (name, link, size in bytes)."""
    rows = "\n".join(f'<li><a href="{html.escape(url)}">{html.escape(name)}</a> ({size} bytes)</li>'
                     for name, url, size in entries) or "<li>No logs yet.</li>"
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>\n<ul>\n{rows}\n</ul></body></html>\n")


def mount(app: FastAPI, settings: Any, store: Any) -> None:
    """Add the routes to ``app`` and make this process's links point at ``settings.public_url``."""
    from trunkline.agents.core import RUN_ID_RE
    from trunkline.agents.retention import missing_logs_message
    from trunkline.store.agent_runs import AgentRunRepo
    from trunkline.store.gate_runs import GateRunRepo

    key = links.derive_key(settings.webhook_secret, getattr(settings, "logs_key", ""))
    links.configure(links.signer_from_settings(settings))
    agents, gates = AgentRunRepo(store), GateRunRepo(store)

    def refused(path: str, expires: str | None, sig: str | None) -> JSONResponse | None:
        why = links.refusal(key, path, expires, sig, time.time())
        return _error(403, why) if why else None

    def agent_run(run_id: str) -> Any:
        return agents.get(run_id) if RUN_ID_RE.fullmatch(run_id) else None

    def agent_logs_gone(row: Any) -> JSONResponse:
        return _error(404, missing_logs_message(row.id, state=row.state, finished_at=row.finished_at,
                                                now=time.time(), keep=files.keep_seconds()))

    @app.get("/logs/agents/{run_id}", include_in_schema=False)
    def agent_index(run_id: str, expires: str | None = None, sig: str | None = None) -> Response:
        path = links.agent_index_path(run_id)
        denied = refused(path, expires, sig)
        if denied is not None:
            return denied
        row = agent_run(run_id)
        if row is None:
            return _error(404, f"no agent run {run_id!r} on this server")
        folder = files.agents_root() / row.owner_name / row.repo_name / row.id / "logs"
        if not row.active and not folder.is_dir():  # finished, and its folder pruned (or on another host)
            return agent_logs_gone(row)
        query = f"expires={expires}&sig="
        assert key is not None and expires is not None
        entries = []
        for log_file in files.list_logs(folder):
            file_path = links.agent_log_path(row.id, log_file.name)
            try:
                size = log_file.stat().st_size
            except OSError:  # removed meanwhile (pruned)
                continue
            entries.append((log_file.name, f"{row.id}/{log_file.name}?{query}"
                            f"{links.signature(key, file_path, int(expires))}", size))
        page = index_page(f"Agent run {row.id} ({row.repo} #{row.issue}): logs", entries)
        return HTMLResponse(page, headers={**HEADERS, "Content-Security-Policy": INDEX_CSP})

    @app.get("/logs/agents/{run_id}/{name}", include_in_schema=False)
    def agent_log(run_id: str, name: str, expires: str | None = None, sig: str | None = None) -> Response:
        denied = refused(links.agent_log_path(run_id, name), expires, sig)
        if denied is not None:
            return denied
        row = agent_run(run_id)
        if row is None:
            return _error(404, f"no agent run {run_id!r} on this server")
        folder = files.agents_root() / row.owner_name / row.repo_name / row.id / "logs"
        found = files.inside(files.agents_root(), row.owner_name, row.repo_name, row.id, "logs", name)
        if found is None and not row.active and not folder.is_dir():  # finished, and its folder pruned
            return agent_logs_gone(row)
        if found is None:
            return _error(404, f"agent run {row.id} has no log {name!r} on this server")
        try:
            return _text_file(found, name)
        except OSError:  # removed since it was found (pruned)
            return agent_logs_gone(row)

    @app.get("/logs/gates/{run_id}", include_in_schema=False)
    def gate_log(run_id: str, expires: str | None = None, sig: str | None = None) -> Response:
        if not run_id.isascii() or not run_id.isdigit() or len(run_id) > 18:
            return _error(403, "this log link is malformed: open the check run's Details link again")
        denied = refused(links.gate_log_path(int(run_id)), expires, sig)
        if denied is not None:
            return denied
        row = gates.get(int(run_id))
        if row is None:
            return _error(404, f"no tier run {run_id} on this server")
        found = files.inside(files.gates_root(), *files.gate_log_parts(row.repo, row.id), files.GATE_LOG)
        if found is None:
            return _error(404, f"tier run {run_id} ({row.tier} on {row.head_sha[:7]}) has no log on this server "
                               "(it ran elsewhere, through GitHub Actions, or its log was pruned)")
        return _text_file(found, f"{row.tier}-{row.head_sha[:7]}.log")

    from trunkline.deploy.page import mount as mount_deploy_page

    mount_deploy_page(app, store, refused, _error, HEADERS, INDEX_CSP)  # GET /logs/deploy/{run_id}

    @app.get("/logs/{rest:path}", include_in_schema=False)
    def no_such_route(rest: str) -> Response:
        return _error(404, "no such log: links to logs look like /logs/agents/<run id>[/<file>], "
                           "/logs/gates/<run id> or /logs/deploy/<run id>, with expires and sig")
