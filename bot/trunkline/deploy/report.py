"""What people read about a deploy run (pure): the rollback issue, the PR comment, the tag name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from .controller import Record

ROLLBACK_LABEL = "trunkline-rollback"
MARKER = "<!-- trunkline:deploy-rollback -->"
MAX_ROWS = 30
CHECKPOINT_PREFIX = "checkpoint-"


def checkpoint_tag(now: float, taken: Sequence[str] = ()) -> str:
    """``checkpoint-YYYYMMDD-HHMMSS`` (UTC); ``-2``, ``-3``... when that second is taken already."""
    base = CHECKPOINT_PREFIX + dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%d-%H%M%S")
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")[:160]


def measurement_table(window: Sequence[Mapping[str, Any]], limit: int = MAX_ROWS) -> str:
    """The latest measurements, failures and errors first, as a Markdown table."""
    bad = [m for m in window if m.get("outcome") != "ok"]
    good = [m for m in window if m.get("outcome") == "ok"]
    rows = sorted(bad, key=lambda m: float(m.get("at", 0.0)))[-limit:]
    rows += sorted(good, key=lambda m: float(m.get("at", 0.0)))[-max(0, limit - len(rows)):] if len(rows) < limit else []
    rows.sort(key=lambda m: float(m.get("at", 0.0)))
    if not rows:
        return "_no measurements_"
    lines = ["| time (UTC) | probe | target | outcome | latency | detail |", "|---|---|---|---|---|---|"]
    for m in rows:
        latency = m.get("latency_ms")
        lines.append(f"| {_when(float(m.get('at', 0.0)))} | {_cell(m.get('probe'))} | {_cell(m.get('target'))} | "
                     f"{_cell(m.get('outcome'))} | {'' if latency is None else f'{float(latency):.1f} ms'} | "
                     f"{_cell(m.get('detail'))} |")
    return "\n".join(lines)


def failing_probes(window: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({str(m.get("probe")) for m in window if m.get("outcome") == "fail"})


def rollback_issue(rec: Record, reason: str, target: str | None, *, run_id: int, repo_url: str = "",
                   log_url: str = "") -> tuple[str, str]:
    """(title, body) of the rollback issue."""
    title = f"Deploy rolled back: {rec.sha[:7]} ({rec.plan.production_env})"
    probes = ", ".join(f"`{p}`" for p in failing_probes(rec.window)) or "none (see the reason)"
    verdict = rec.verdict or {}

    def commit(sha: str | None) -> str:
        if not sha:
            return "_none known_"
        return f"[`{sha[:7]}`]({repo_url}/commit/{sha})" if repo_url else f"`{sha}`"

    body = "\n".join([
        MARKER,
        f"Trunkline rolled back **{rec.sha[:7]}** (" + (f"[deploy run {run_id}]({log_url})" if log_url
                                                        else f"deploy run {run_id}") + ").",
        "",
        f"- **Reason:** {reason}",
        f"- **Failing probes:** {probes}",
        f"- **Deployed commit:** {commit(rec.sha)}" + (f" (PR #{rec.pr_number})" if rec.pr_number else ""),
        f"- **Rolled back to:** {commit(target)} " + (
            f"(the last successful {rec.plan.production_env} deployment, pinned when the run started)"
            if not target or target == rec.rollback_sha else "(chosen by `/rollback`)"),
        f"- **Stage:** step {rec.step + 1} of {len(rec.plan.steps)}, canary weight {rec.weight}%",
        f"- **Verdict:** {verdict.get('action', '-')}; failures {verdict.get('failures', '-')}, errors "
        f"{verdict.get('errors', '-')}, latency {verdict.get('latency', '-')}",
        "",
        "<details><summary>Measurements</summary>",
        "",
        measurement_table(rec.window),
        "",
        "</details>",
        "",
        "Fix forward with a new pull request; `/deploy canary` deploys a commit by hand, `/rollback <sha>` "
        "rolls back to another commit.",
    ])
    return title, body


def pr_comment(rec: Record, reason: str, target: str | None, issue_number: int | None) -> str:
    where = f" Details: #{issue_number}." if issue_number else ""
    return (f"Trunkline rolled this change back in {rec.plan.production_env}: {reason}. Traffic is back on "
            f"`{(target or 'the stable version')[:7]}`.{where}")
