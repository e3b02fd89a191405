"""The ratchet table and check-run text (pure).

One row per metric of the baseline, in the file's order::

    | Metric | Base | Head | Floor | Verdict |
    | --- | --- | --- | --- | --- |
    | coverage | 82.5 % | 79.1 % (−3.4) | ≥ 81.23 % | ❌ below floor by 2.13 |

"Base" is the value measured on the pull request's base (— when not measured or not meaningful,
as for patch coverage), "Floor" the limit read from the default branch (``≤`` for ceilings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from trunkline.checks.publish import CheckRunSpec

from .baseline import Baseline, MetricSpec
from .metrics import Reading, no_data
from .rules import Outcome, Verdict, evaluate, fmt

CHECK_NAME = "trunkline/ratchets"
MAX_SUMMARY_CHARS = 60_000

ICONS = {Verdict.PASS: "✅", Verdict.IMPROVED: "⬆️", Verdict.TOLERATED: "🟡", Verdict.NEW: "🆕",
         Verdict.NOT_APPLICABLE: "➖"}


@dataclass(frozen=True)
class Row:
    spec: MetricSpec
    head: Reading
    base: Reading | None
    outcome: Outcome

    @property
    def name(self) -> str:
        return self.spec.name


def build_rows(baseline: Baseline, head: Mapping[str, Reading], base: Mapping[str, Reading] | None = None,
               today: date | None = None) -> list[Row]:
    """Evaluate every metric of ``baseline`` against the head readings (a missing reading is no data)."""
    rows = []
    for spec in baseline.metrics:
        reading = head.get(spec.name) or no_data("not measured")
        base_reading = None if base is None or spec.kind == "patch_coverage" else base.get(spec.name)
        rows.append(Row(spec, reading, base_reading, evaluate(spec.rule, reading, today)))
    return rows


def failed(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.outcome.blocking]


def conclusion(rows: Sequence[Row]) -> str:
    return "failure" if failed(rows) else "success"


def _cell(value: float | None, spec: MetricSpec) -> str:
    if value is None:
        return "—"
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{fmt(value, spec.rule.precision)}{unit}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _head_cell(row: Row) -> str:
    if row.head.status == "not_applicable":
        return "n/a"
    if not row.head.ok:
        return "no data"
    cell = _cell(row.head.value, row.spec)
    if row.base is not None and row.base.ok and row.head.value is not None and row.base.value is not None:
        delta = row.head.value - row.base.value
        if round(delta, row.spec.rule.precision) != 0:
            sign = "+" if delta > 0 else "−"
            cell += f" ({sign}{fmt(abs(delta), row.spec.rule.precision)})"
    return cell


def _limit_cell(row: Row) -> str:
    rule = row.spec.rule
    if rule.limit is None:
        return "—"
    cell = ("≥ " if rule.direction == "higher" else "≤ ") + _cell(rule.limit, row.spec)
    if rule.tolerance:
        cell += f" (±{fmt(rule.tolerance, max(rule.precision, 3))})"
    if not rule.ratchet:
        cell += " fixed"
    return cell


def _verdict_cell(row: Row) -> str:
    outcome = row.outcome
    if outcome.verdict in (Verdict.FAIL, Verdict.NO_DATA):
        icon = "❌" if outcome.blocking else "⚠️"
    else:
        icon = ICONS.get(outcome.verdict, "")
    return _md(f"{icon} {outcome.message}".strip())


def table(rows: Sequence[Row]) -> str:
    """The Markdown table metric | base | head | floor | verdict."""
    lines = ["| Metric | Base | Head | Floor | Verdict |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        base = "—" if row.base is None or not row.base.ok else _cell(row.base.value, row.spec)
        lines.append(f"| `{row.name}` | {base} | {_head_cell(row)} | {_limit_cell(row)} | {_verdict_cell(row)} |")
    return "\n".join(lines) + "\n"


def title(rows: Sequence[Row]) -> str:
    broken = failed(rows)
    if broken:
        parts = []
        for row in broken[:4]:
            if row.outcome.verdict == Verdict.NO_DATA:
                parts.append(f"{row.name} has no data")
            else:
                word = "<" if row.spec.direction == "higher" else ">"
                parts.append(f"{row.name} {fmt(row.head.value or 0, row.spec.rule.precision)} {word} "
                             f"{fmt(row.spec.rule.limit or 0, row.spec.rule.precision)}")
        more = f" and {len(broken) - 4} more" if len(broken) > 4 else ""
        return f"Ratchets broken: {', '.join(parts)}{more}"[:250]
    if not rows:
        return "Ratchets: no metrics in the baseline"
    improved = [r.name for r in rows if r.outcome.verdict == Verdict.IMPROVED]
    text = f"Ratchets hold ({len(rows)} metric{'s' if len(rows) != 1 else ''})"
    if improved:
        text += f"; improves {', '.join(improved)}"
    return text[:250]


def details(rows: Sequence[Row]) -> list[str]:
    out = []
    for row in rows:
        what = row.head.detail if row.head.ok else ""
        if what:
            out.append(f"- `{row.name}` ({row.spec.kind}, `{row.spec.file}`): {_md(what)}")
        elif row.head.status != "ok":
            out.append(f"- `{row.name}` ({row.spec.kind}, `{row.spec.file}`): {_md(row.head.detail or 'no data')}")
    return out


def summary(rows: Sequence[Row], *, base_sha: str | None = None, head_sha: str | None = None,
            baseline_path: str | None = None, notes: Sequence[str] = ()) -> str:
    lines = []
    if head_sha:
        where = f"base `{base_sha[:7]}` → head `{head_sha[:7]}`" if base_sha else f"head `{head_sha[:7]}`"
        source = f" · limits from `{baseline_path}` on the default branch" if baseline_path else ""
        lines += [where + source, ""]
    lines.append(table(rows))
    extra = details(rows)
    if extra:
        lines += ["<details><summary>Measurements</summary>", "", *extra, "", "</details>", ""]
    lines += [f"> {_md(note)}" for note in notes]
    text = "\n".join(lines).rstrip() + "\n"
    if len(text) > MAX_SUMMARY_CHARS:
        text = text[:MAX_SUMMARY_CHARS] + "\n\n…(truncated)\n"
    return text


def check_spec(rows: Sequence[Row], head_sha: str, *, base_sha: str | None = None,
               baseline_path: str | None = None, notes: Sequence[str] = ()) -> CheckRunSpec:
    return CheckRunSpec(name=CHECK_NAME, head_sha=head_sha, conclusion=conclusion(rows), title=title(rows),
                        summary=summary(rows, base_sha=base_sha, head_sha=head_sha, baseline_path=baseline_path,
                                        notes=notes))


def to_json(rows: Sequence[Row]) -> dict[str, Any]:
    """Machine-readable result (``trunkline ratchet check --json``)."""
    return {
        "conclusion": conclusion(rows),
        "metrics": [{
            "name": r.name, "kind": r.spec.kind, "direction": r.spec.direction,
            "base": r.base.value if r.base is not None and r.base.ok else None,
            "head": r.head.value if r.head.ok else None, "status": r.head.status, "detail": r.head.detail,
            r.spec.limit_key: r.spec.rule.limit, "verdict": r.outcome.verdict.value,
            "blocking": r.outcome.blocking, "message": r.outcome.message,
        } for r in rows],
    }
