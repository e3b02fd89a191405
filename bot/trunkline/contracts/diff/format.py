"""Output formats for findings: text (terminal), json, markdown (check-run summary), github (annotations)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .model import Finding, Level

FORMATS = ("text", "json", "markdown", "github")
ANNOTATION_LEVEL = {Level.ERR: "failure", Level.WARN: "warning", Level.INFO: "notice"}


def described(f: Finding) -> str:
    """The message, prefixed with the operation when the message does not name it already."""
    if f.operation and f.operation not in f.message:
        return f"{f.operation}: {f.message}"
    return f.message


def breaking(findings: Iterable[Finding]) -> bool:
    """Is the change breaking? True when any finding (after policy) is ERR."""
    return any(f.level is Level.ERR for f in findings)


def summary_line(findings: list[Finding]) -> str:
    counts = Counter(f.level for f in findings)
    verdict = "breaking" if breaking(findings) else "not breaking"
    return (f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {counts[Level.ERR]} ERR, "
            f"{counts[Level.WARN]} WARN, {counts[Level.INFO]} INFO ({verdict})")


def to_json(findings: list[Finding]) -> dict[str, Any]:
    return {"breaking": breaking(findings), "findings": [f.to_json() for f in findings]}


def to_text(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        where = f"{f.source.file}:{f.source.line}" if f.source.line else f.source.file
        lines.append(f"{f.level.value:<4} {f.id}  {where}\n     {described(f)}")
    lines.append(summary_line(findings))
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(findings: list[Finding], *, limit: int = 200) -> str:
    """A check-run summary: verdict line plus a table (truncated past ``limit`` rows, with a count)."""
    out = [f"**{summary_line(findings)}**", ""]
    if not findings:
        out.append("No changes between the contracts.")
        return "\n".join(out)
    out.append("| Level | Rule | Where | Change |")
    out.append("| --- | --- | --- | --- |")
    for f in findings[:limit]:
        where = f"`{f.source.file}:{f.source.line}`" if f.source.line else f"`{f.source.file}`"
        out.append(f"| {f.level.value} | `{f.id}` | {where} | {_md(described(f))} |")
    if len(findings) > limit:
        out.append("")
        out.append(f"…and {len(findings) - limit} more (see the annotations or `--format json`).")
    return "\n".join(out)


def to_annotations(findings: list[Finding]) -> list[dict[str, Any]]:
    """GitHub check-run annotations (``output.annotations`` items)."""
    return [{
        "path": f.source.file,
        "start_line": f.source.line or 1,
        "end_line": f.source.line or 1,
        "annotation_level": ANNOTATION_LEVEL[f.level],
        "title": f.id,
        "message": described(f),
    } for f in findings]


def format_findings(findings: list[Finding], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(to_json(findings), indent=2)
    if fmt == "text":
        return to_text(findings)
    if fmt == "markdown":
        return to_markdown(findings)
    if fmt == "github":
        return json.dumps(to_annotations(findings), indent=2)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
