"""Per-benchmark verdicts between two pytest-benchmark result files (pure).

Input: pytest-benchmark JSON (``--benchmark-json FILE``, which always holds every round's time in
``benchmarks[].stats.data``; files saved with ``--benchmark-save`` hold them only with
``--benchmark-save-data``). Benchmarks are matched by ``fullname`` (``tests/bench/x.py::test_y[p]``).

Verdict per benchmark:

``slower`` / ``faster``
    the Mann-Whitney U test finds the head's timings differ from the base's (p < ``alpha``) **and** the
    median moved by at least ``min_change`` (the effect-size floor: a significant 0.3 % change is noise
    on a shared CI machine, not a regression);
``unchanged``
    enough samples on both sides, but not both conditions;
``no data``
    it cannot be judged — missing on one side, no raw timings, or fewer than ``min_samples`` rounds on a
    side. Never counted as a pass: the run fails unless ``allow_no_data``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .stats import cliffs_delta, mann_whitney, median, relative_change

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_CHANGE = 0.05  # 5 % of the base median
DEFAULT_MIN_SAMPLES = 5
VERDICTS = ("slower", "faster", "unchanged", "no data")


class BenchmarkFileError(ValueError):
    """Not a pytest-benchmark JSON file (message for people)."""


@dataclass(frozen=True)
class Samples:
    name: str
    data: tuple[float, ...] | None  # seconds per round; None when the file has no raw timings
    rounds: int = 0


def load_benchmarks(document: Any, source: str = "file") -> dict[str, Samples]:
    """``fullname`` → samples, from a parsed pytest-benchmark JSON document."""
    if not isinstance(document, Mapping) or not isinstance(document.get("benchmarks"), list):
        raise BenchmarkFileError(f"{source}: not a pytest-benchmark JSON file (no `benchmarks` list; write it "
                                 "with pytest --benchmark-json FILE)")
    found: dict[str, Samples] = {}
    for index, bench in enumerate(document["benchmarks"]):
        if not isinstance(bench, Mapping):
            raise BenchmarkFileError(f"{source}: benchmarks[{index}] is not an object")
        key = bench.get("fullname") or bench.get("name")
        if not isinstance(key, str) or not key:
            raise BenchmarkFileError(f"{source}: benchmarks[{index}] has no name")
        stats = bench.get("stats") if isinstance(bench.get("stats"), Mapping) else {}
        raw = stats.get("data")
        rounds = stats.get("rounds") if isinstance(stats.get("rounds"), int) else 0
        data = None
        if isinstance(raw, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
            data = tuple(float(v) for v in raw)
        found[key] = Samples(key, data, rounds or (len(data) if data else 0))
    return found


@dataclass(frozen=True)
class Comparison:
    name: str
    verdict: str
    reason: str
    base_n: int = 0
    head_n: int = 0
    base_median: float | None = None
    head_median: float | None = None
    change: float | None = None  # relative change of the median
    p_value: float | None = None
    cliffs_delta: float | None = None
    method: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "reason": self.reason,
                "base": {"n": self.base_n, "median": self.base_median},
                "head": {"n": self.head_n, "median": self.head_median},
                "change": self.change, "p_value": self.p_value, "cliffs_delta": self.cliffs_delta,
                "method": self.method}


def judge(name: str, base: Sequence[float], head: Sequence[float], alpha: float = DEFAULT_ALPHA,
          min_change: float = DEFAULT_MIN_CHANGE, min_samples: int = DEFAULT_MIN_SAMPLES) -> Comparison:
    """The verdict for one benchmark from its two samples (lower times are better)."""
    if len(base) < min_samples or len(head) < min_samples:
        return Comparison(name, "no data", f"too few rounds ({len(base)} base, {len(head)} head; need "
                                           f"{min_samples} each)", len(base), len(head))
    test = mann_whitney(head, base)
    delta = cliffs_delta(head, base)
    change = relative_change(base, head)
    common = dict(base_n=len(base), head_n=len(head), base_median=median(base), head_median=median(head),
                  change=change, p_value=test.p_value, cliffs_delta=delta, method=test.method)
    significant = test.p_value < alpha
    big = change is not None and abs(change) >= min_change
    if significant and big:
        verdict = "slower" if change > 0 else "faster"
        reason = f"median {change:+.1%}, p = {test.p_value:.3g}"
    elif not significant:
        reason = f"no significant difference (p = {test.p_value:.3g} ≥ {alpha:g})"
        verdict = "unchanged"
    else:
        shown = "?" if change is None else f"{change:+.1%}"
        reason = f"significant (p = {test.p_value:.3g}) but the median moved only {shown} (< {min_change:.0%})"
        verdict = "unchanged"
    return Comparison(name, verdict, reason, **common)


@dataclass
class PerfReport:
    comparisons: list[Comparison]
    alpha: float
    min_change: float
    min_samples: int
    allow_no_data: bool = False
    sources: dict[str, str] = field(default_factory=dict)

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.comparisons if c.verdict == verdict)

    @property
    def passed(self) -> bool:
        if self.count("slower"):
            return False
        return self.allow_no_data or not self.count("no data")

    def to_json(self) -> dict[str, Any]:
        return {"verdict": "pass" if self.passed else "fail",
                "summary": {v.replace(" ", "_"): self.count(v) for v in VERDICTS},
                "alpha": self.alpha, "min_change": self.min_change, "min_samples": self.min_samples,
                "allow_no_data": self.allow_no_data, "sources": self.sources,
                "benchmarks": [c.to_json() for c in self.comparisons]}


def compare(base: Mapping[str, Samples], head: Mapping[str, Samples], alpha: float = DEFAULT_ALPHA,
            min_change: float = DEFAULT_MIN_CHANGE, min_samples: int = DEFAULT_MIN_SAMPLES,
            allow_no_data: bool = False) -> PerfReport:
    comparisons = []
    for name in sorted(set(base) | set(head)):
        before, after = base.get(name), head.get(name)
        if before is None:
            comparisons.append(Comparison(name, "no data", "new benchmark: not in the base file",
                                          head_n=len(after.data or ()) if after else 0))
        elif after is None:
            comparisons.append(Comparison(name, "no data", "missing from the head file (removed or not run?)",
                                          base_n=len(before.data or ())))
        elif before.data is None or after.data is None:
            side = "base" if before.data is None else "head"
            comparisons.append(Comparison(name, "no data", f"the {side} file has no raw timings (stats.data): "
                                          "write it with --benchmark-json, or save with --benchmark-save-data"))
        else:
            comparisons.append(judge(name, before.data, after.data, alpha, min_change, min_samples))
    return PerfReport(comparisons, alpha, min_change, min_samples, allow_no_data)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


ICONS = {"slower": "🔴 slower", "faster": "🟢 faster", "unchanged": "unchanged", "no data": "⚪ no data"}


def to_markdown(report: PerfReport) -> str:
    lines = ["## Performance: base vs head", ""]
    summary = ", ".join(f"{report.count(v)} {v}" for v in VERDICTS if report.count(v))
    lines.append(f"**{'PASS' if report.passed else 'FAIL'}** — {summary or 'no benchmarks'} "
                 f"(Mann-Whitney U, α = {report.alpha:g}, effect floor {report.min_change:.0%} of the median, "
                 f"at least {report.min_samples} rounds a side).")
    lines += ["", "| Benchmark | Verdict | Base median | Head median | Change | p | Cliff's δ | Why |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for c in report.comparisons:
        change = "–" if c.change is None else f"{c.change:+.1%}"
        p = "–" if c.p_value is None else f"{c.p_value:.3g}"
        delta = "–" if c.cliffs_delta is None else f"{c.cliffs_delta:+.2f}"
        reason = c.reason.replace("|", "\\|")
        lines.append(f"| `{c.name}` | {ICONS[c.verdict]} | {_time(c.base_median)} | {_time(c.head_median)} | "
                     f"{change} | {p} | {delta} | {reason} |")
    return "\n".join(lines) + "\n"


__all__ = ["BenchmarkFileError", "Comparison", "PerfReport", "Samples", "compare", "judge", "load_benchmarks",
           "to_markdown"]
