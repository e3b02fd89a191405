"""Measuring a directory and planning/applying a floor update (shared by the CLI and the bot)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .baseline import Baseline, apply_raises, parse_baseline
from .metrics import Reading, read_metric
from .rules import fmt, next_limit


def measure_dir(baseline: Baseline, root: Path, overrides: Mapping[str, Path] | None = None) -> dict[str, Reading]:
    """Every metric of ``baseline`` read from its file under ``root`` (``overrides``: name -> file)."""
    overrides = overrides or {}
    readings = {}
    for spec in baseline.metrics:
        path = overrides.get(spec.name) or root / spec.file
        readings[spec.name] = read_metric(spec.kind, Path(path), pointer=spec.pointer, benchmark=spec.benchmark)
    return readings


@dataclass(frozen=True)
class Change:
    name: str
    key: str  # floor | ceiling
    old: float | None
    new: float
    reason: str

    def describe(self, precision: int = 2) -> str:
        old = "unset" if self.old is None else fmt(self.old, precision)
        return f"{self.name}: {self.key} {old} → {fmt(self.new, precision)} ({self.reason})"


def plan_update(baseline: Baseline, achieved: Mapping[str, Reading], today: date) -> list[Change]:
    """The limits ``update`` moves, given the values achieved on the default branch (pure)."""
    changes = []
    for spec in baseline.metrics:
        reading = achieved.get(spec.name)
        value = reading.value if reading is not None and reading.ok else None
        raised = next_limit(spec.rule, value, today)
        if raised.changed and raised.limit is not None:
            changes.append(Change(spec.name, spec.limit_key, spec.rule.limit, raised.limit, raised.reason))
    return changes


def needs_date(baseline: Baseline, name: str) -> bool:
    """Whether a raise of ``name`` records its day in ``updated``: only a ``step`` per day/week needs it
    (or the file already has it), so the usual update changes nothing but the numbers."""
    spec = baseline.get(name)
    if spec is None:
        return False
    rule = spec.rule
    return rule.updated is not None or (rule.step is not None and rule.period != "pr")


def apply_changes(text: str, changes: Sequence[Change], today: date) -> str:
    """The baseline ``text`` with ``changes`` applied (comments and layout kept)."""
    baseline = parse_baseline(text)
    return apply_raises(text, {c.name: (c.new, today if needs_date(baseline, c.name) else None) for c in changes})
