"""A deploy run's page: ``GET /logs/deploy/{run_id}`` on ``trunkline serve``, through a signed, expiring
link (:mod:`trunkline.logs.links`, the same signing and the same refusals as the other ``/logs/`` routes).

The deployment statuses' ``log_url`` and the rollback issue link here. :func:`render_page` (pure) makes the
HTML from the run's row and record: state and reason, steps and weight, the verdict, the window of
measurements, the SHAs, the GitHub deployment ids, the history and the pending actions, with UTC times.
Without links (no public URL or key in this process) :func:`page_link` is None and callers fall back to
the commit page.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

MAX_MEASUREMENTS = 300
CSS = ("body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;max-width:80em}table{border-collapse:collapse;"
       "margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}"
       "th{background:#f4f4f4}.fail,.failure,.rolled_back,.error{color:#b00}.ok,.succeeded,.success{color:#070}"
       ".error-outcome{color:#a60}code{font-size:13px}")


def page_path(run_id: int) -> str:
    return f"/logs/deploy/{int(run_id)}"


def page_link(run_id: int, now: float | None = None) -> str | None:
    """A signed link to the run's page, or None when this process makes no links."""
    from trunkline.logs import links

    return links.link(page_path(run_id), now)


# ============================================================================================ pure

def when(at: Any) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS.mmm UTC`` (``-`` when unknown)."""
    try:
        return dt.datetime.fromtimestamp(float(at), dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{_e(classes[i])}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><tr>{head}</tr>\n" + "\n".join(body) + "</table>"


def _sha(sha: Any, repo_url: str) -> str:
    if not sha:
        return "-"
    text = f"<code>{_e(sha)}</code>"
    return f'<a href="{_e(repo_url)}/commit/{_e(sha)}">{text}</a>' if repo_url.startswith("https://") or \
        repo_url.startswith("http://") else text


def _history_line(line: str) -> tuple[str, str]:
    at, _, text = str(line).partition(" ")
    try:
        return when(float(at)), text
    except ValueError:
        return "-", str(line)


def steps_rows(record: Mapping[str, Any]) -> list[list[str]]:
    """One row per step of the plan: weight, duration, gate, and where the run is."""
    plan = record.get("plan") or {}
    current = int(record.get("step") or 0)
    state = str(record.get("state") or "")
    before_canary = state == "queued"
    past = state in ("promoting", "verifying", "succeeded")
    rows = []
    for i, step in enumerate(plan.get("steps") or ()):
        if step.get("manual"):
            what, duration = "manual gate (/promote)", "-"
        else:
            what, duration = f"{int(step.get('weight') or 0)}%", f"{float(step.get('duration') or 0):g} s"
        if before_canary:
            where = "pending"
        elif past or i < current:
            where = "passed"
        elif i == current:
            where = "current" if state not in ("rolled_back", "rolling_back", "aborted", "superseded",
                                                "error") else f"stopped ({state.replace('_', ' ')})"
        else:
            where = "pending" if state not in ("rolled_back", "aborted", "superseded", "error") else "skipped"
        rows.append([str(i + 1), _e(what), _e(duration), _e(where)])
    return rows


def measurements_table(window: Sequence[Mapping[str, Any]]) -> str:
    """The latest :data:`MAX_MEASUREMENTS` measurements, oldest first; rows classed by outcome."""
    rows, classes = [], []
    for m in sorted(window, key=lambda m: float(m.get("at") or 0.0))[-MAX_MEASUREMENTS:]:
        latency = m.get("latency_ms")
        outcome = str(m.get("outcome") or "")
        rows.append([_e(when(m.get("at"))), _e(m.get("probe")), _e(m.get("target")), _e(outcome),
                     "" if latency is None else f"{float(latency):.1f} ms", _e(m.get("detail"))])
        classes.append("error-outcome" if outcome == "error" else outcome)
    return _table(("time", "probe", "target", "outcome", "latency", "detail"), rows, classes)


def render_page(run: Mapping[str, Any], record: Mapping[str, Any], *, repo_url: str = "") -> str:
    """The HTML page of one deploy run (pure). ``run``: the row's columns (``id``, ``repo``, ``sha``,
    ``trigger``, ``state``, ``done``, ``created_at``, ``updated_at``, ``lease_owner``); ``record``: the
    controller's record as stored (``trunkline.deploy.controller.to_dict``)."""
    plan = record.get("plan") or {}
    state = str(record.get("state") or run.get("state") or "")
    title = f"Deploy run {run.get('id')}: {run.get('repo')} {str(run.get('sha') or '')[:7]} ({state.replace('_', ' ')})"
    steps = plan.get("steps") or ()
    verdict = record.get("verdict") or {}
    deployments = record.get("deployments") or {}
    summary = [
        ("State", f'<strong class="{_e(state)}">{_e(state.replace("_", " "))}</strong>'
                  + (f" — {_e(record.get('reason'))}" if record.get("reason") else "")
                  + (f" (paused: {_e(record.get('paused'))})" if record.get("paused") else "")),
        ("Repository", _e(run.get("repo"))),
        ("Commit", _sha(record.get("sha") or run.get("sha"), repo_url)
         + (f" (PR #{_e(record.get('pr_number'))})" if record.get("pr_number") else "")),
        ("Trigger", _e(record.get("trigger") or run.get("trigger"))),
        ("Step", f"{int(record.get('step') or 0) + 1} of {len(steps)}" if steps else "no canary steps"),
        ("Canary weight", f"{int(record.get('weight') or 0)}%"),
        ("Rollback SHA (pinned at start)", _sha(record.get("rollback_sha"), repo_url)),
        ("Rolled back to", _sha(record.get("rollback_target"), repo_url)),
        ("GitHub deployments", ", ".join(f"{_e(k)}: {_e(v)}" for k, v in sorted(deployments.items())) or "-"),
        ("Environments", f"canary <code>{_e(plan.get('canary_env'))}</code>, production "
                         f"<code>{_e(plan.get('production_env'))}</code>"),
        ("Created", when(record.get("created_at") or run.get("created_at"))),
        ("Updated", when(record.get("updated_at") or run.get("updated_at"))),
        ("In this state since", when(record.get("state_since"))),
        ("Lease", _e(run.get("lease_owner") or "-") + ("" if not run.get("done") else " (done)")),
        ("Config hash", f"<code>{_e(record.get('config_hash') or '-')}</code>"),
    ]
    counters = record.get("counters") or {}
    rules = plan.get("rules") or {}
    verdict_rows = [[_e(k), _e(", ".join(map(str, v)) if isinstance(v, list) else v)]
                    for k, v in verdict.items()] if verdict else []
    window = list(record.get("window") or ())
    evidence = list(record.get("evidence") or ())
    history = [list(map(_e, _history_line(line))) for line in record.get("history") or ()]
    outbox = [[_e(a.get("id")), _e(a.get("kind")), _e(", ".join(f"{k}={v}" for k, v in (a.get("args") or {}).items())),
               _e(a.get("attempts", 0))] for a in record.get("outbox") or ()]
    request = record.get("request")
    parts = [
        "<!doctype html>",
        f'<html><head><meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style></head><body>',
        f"<h1>{_e(title)}</h1>",
        _table(("", ""), [[_e(k), v] for k, v in summary]),
        "<h2>Steps</h2>",
        _table(("#", "canary", "for", "status"), steps_rows(record)),
        "<h2>Verdict</h2>",
        _table(("", ""), verdict_rows),
        f"<p>Rules: {_e(', '.join(f'{k}={v}' for k, v in sorted(rules.items()) if v is not None) or '-')}; "
        f"probes: {_e(', '.join(plan.get('probes') or ()) or '-')}; counters: "
        f"{_e(', '.join(f'{k}={v}' for k, v in sorted(counters.items())) or '-')}</p>",
        *([f"<p>Pending request: <code>{_e(request)}</code></p>"] if request else []),
        f"<h2>Measurements ({len(window)} in the window)</h2>",
        measurements_table(window),
        *([f"<h2>Measurements before the last switch ({len(evidence)}: what the analysis or verification saw "
           "before traffic moved)</h2>", measurements_table(evidence)] if evidence else []),
        "<h2>History</h2>",
        _table(("time", "event"), history),
        "<h2>Pending actions</h2>",
        _table(("id", "action", "arguments", "attempts"), outbox),
        "</body></html>",
        "",
    ]
    return "\n".join(parts)


def row_columns(row: Any) -> dict[str, Any]:
    """The columns of a ``DeployRunRow`` :func:`render_page` shows."""
    return {k: getattr(row, k) for k in ("id", "repo", "sha", "trigger", "state", "done", "created_at",
                                         "updated_at", "lease_owner")}


# ============================================================================================ the route

def mount(app: Any, store: Any, refused: Any, error: Any, headers: Mapping[str, str], csp: str) -> None:
    """Add ``GET /logs/deploy/{run_id}`` to ``app`` (called by :func:`trunkline.logs.http.mount`, before its
    catch-all): ``refused(path, expires, sig)`` checks the link, ``error(status, message)`` answers."""
    from fastapi.responses import HTMLResponse, Response

    from trunkline.store.deploy_runs import DeployRunRepo

    runs = DeployRunRepo(store)

    @app.get("/logs/deploy/{run_id}", include_in_schema=False)
    def deploy_page(run_id: str, expires: str | None = None, sig: str | None = None) -> Response:
        if not run_id.isascii() or not run_id.isdigit() or len(run_id) > 18:
            return error(403, "this link is malformed: open the deployment's log link again")
        denied = refused(page_path(int(run_id)), expires, sig)
        if denied is not None:
            return denied
        row = runs.get(int(run_id))
        if row is None:
            return error(404, f"no deploy run {int(run_id)} on this server")
        data = row.data
        page = render_page(row_columns(row), data.get("run") or {}, repo_url=str(data.get("html_url") or ""))
        return HTMLResponse(page, headers={**headers, "Content-Security-Policy": csp})
