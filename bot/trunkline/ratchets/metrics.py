"""Metric readers: one number (a :class:`Reading`) per metric, from the JSON file a tool wrote.

Every reader is a pure function over the parsed JSON; :func:`read_metric` is the only one touching
the disk. A file that is missing, unreadable or lacks the number gives ``status="no_data"`` with the
reason — never a made-up value — and the rules decide what "no data" means (a failure for a required
metric).

Kinds and the files they read
-----------------------------

``coverage`` (higher is better, %)
    coverage.py's JSON report (``coverage json``, format 3): ``totals.percent_covered``. With branch
    coverage on (``coverage run --branch`` / ``[run] branch = true``) coverage.py counts branches in
    that figure — (covered lines + covered branches) / (statements + branches) — so the metric is
    branch-aware exactly when the measurement is; the table says which (``meta.branch_coverage``).

``patch_coverage`` (higher is better, %)
    diff-cover's JSON report (``diff-cover coverage.xml --compare-branch=BASE --format json:FILE``):
    the share of changed lines that are covered, recomputed from ``total_num_lines`` and
    ``total_num_violations`` (diff-cover rounds ``total_percent_covered`` to an integer unless
    ``--total-percent-float``). A diff without measurable lines is *not applicable* (nothing to cover),
    which passes: a README-only change has no patch coverage to enforce.

``mutation`` (higher is better, %)
    The mutation-score file Trunkline's mutation runner writes (and any other tool may)::

        {"killed": 40, "timeout": 2, "survived": 5, "no_tests": 3, "score": 84.0}

    All four counts are required non-negative integers. ``score`` is a percentage, Stryker's
    definition: ``100 * (killed + timeout) / (killed + timeout + survived + no_tests)``, rounded to two
    decimals, or ``null`` when no mutant was tested (total 0 → no data). The reader recomputes the score
    from the counts and refuses a file whose ``score`` disagrees by more than 0.01. Optional ``status``:
    ``ok`` (the default), ``not_applicable`` (nothing to mutate in scope, e.g. a pull request that
    changes no function: passes as n/a) or ``incomplete`` (the run did not finish: no data). Other keys
    are allowed and ignored (``"scope": "pr" | "sample" | "full"``, ``"total"``, per-function details).
    :data:`MUTATION_SCHEMA` is the JSON Schema of this format; ``trunkline mutation`` writes it.

``latency`` (lower is better, ms)
    The 95th percentile in milliseconds, from either

    - a probe file: ``{"p95_ms": 12.5}`` or ``{"samples_ms": [10.1, 11.0, ...]}``, or
    - pytest-benchmark's JSON (``--benchmark-json``) saved with ``--benchmark-save-data``: the raw
      timings in ``benchmarks[].stats.data`` (seconds). pytest-benchmark's summary statistics have
      no p95, so without the raw data there is no data. ``benchmark:`` picks one benchmark by
      ``name`` or ``fullname`` (required when the file holds several).

    Percentiles are linear interpolation between closest ranks (``statistics.quantiles`` with
    ``method="inclusive"``; numpy's default).

``json`` (custom; ``direction: higher | lower``)
    Any number in any JSON file, addressed by an RFC 6901 JSON pointer (``pointer: /totals/p99``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "no_data", "not_applicable"]
Kind = Literal["coverage", "patch_coverage", "mutation", "latency", "json"]

KINDS: tuple[str, ...] = ("coverage", "patch_coverage", "mutation", "latency", "json")
#: Direction of each built-in kind (``json`` metrics say theirs).
DIRECTIONS: dict[str, str] = {"coverage": "higher", "patch_coverage": "higher", "mutation": "higher",
                              "latency": "lower"}
UNITS: dict[str, str] = {"coverage": "%", "patch_coverage": "%", "mutation": "%", "latency": "ms", "json": ""}
#: Files the metrics read by default, relative to the directory the measurement ran in.
DEFAULT_FILES: dict[str, str] = {"coverage": "coverage.json", "patch_coverage": "diff-cover.json",
                                 "mutation": "mutation.json", "latency": "latency.json"}

MUTATION_COUNTS = ("killed", "timeout", "survived", "no_tests")
MUTATION_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Trunkline mutation score",
    "type": "object",
    "required": list(MUTATION_COUNTS),
    "properties": {
        **{name: {"type": "integer", "minimum": 0} for name in MUTATION_COUNTS},
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100,
                  "description": "100 * (killed + timeout) / (killed + timeout + survived + no_tests)"},
        "status": {"enum": ["ok", "not_applicable", "incomplete"]},
    },
}


@dataclass(frozen=True)
class Reading:
    """One measured value, or why there is none."""

    value: float | None
    status: Status = "ok"
    detail: str = ""  # how it was measured ("lines + branches", "41 of 50 changed lines") or why not

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.value is not None


def no_data(why: str) -> Reading:
    return Reading(None, "no_data", why)


def _number(value: Any) -> float | None:
    """A finite JSON number (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# --- readers (pure) ----------------------------------------------------------------------------------

def read_coverage(data: Any) -> Reading:
    totals = data.get("totals") if isinstance(data, Mapping) else None
    if not isinstance(totals, Mapping):
        return no_data("not a coverage.py JSON report (no `totals`; write it with `coverage json`)")
    value = _number(totals.get("percent_covered"))
    if value is None:
        return no_data("coverage.py JSON has no numeric `totals.percent_covered`")
    meta = data.get("meta") if isinstance(data.get("meta"), Mapping) else {}
    branches = bool(meta.get("branch_coverage")) or "num_branches" in totals
    if branches:
        detail = (f"lines + branches ({totals.get('covered_lines', '?')}/{totals.get('num_statements', '?')} lines, "
                  f"{totals.get('covered_branches', '?')}/{totals.get('num_branches', '?')} branches)")
    else:
        detail = f"lines only ({totals.get('covered_lines', '?')}/{totals.get('num_statements', '?')})"
    return Reading(value, "ok", detail)


def read_patch_coverage(data: Any) -> Reading:
    if not isinstance(data, Mapping) or "total_num_lines" not in data:
        return no_data("not a diff-cover JSON report (no `total_num_lines`; use `--format json:FILE`)")
    lines = _number(data.get("total_num_lines"))
    violations = _number(data.get("total_num_violations"))
    if lines is None or lines < 0:
        return no_data("diff-cover JSON has no valid `total_num_lines`")
    if lines == 0:
        return Reading(None, "not_applicable", "no changed lines with coverage data")
    if violations is None or not 0 <= violations <= lines:
        percent = _number(data.get("total_percent_covered"))
        if percent is None:
            return no_data("diff-cover JSON has no valid `total_num_violations`")
        return Reading(percent, "ok", f"{int(lines)} changed lines")
    covered = lines - violations
    return Reading(100.0 * covered / lines, "ok", f"{int(covered)} of {int(lines)} changed lines covered")


def mutation_score(killed: int, timeout: int, survived: int, no_tests: int) -> float | None:
    """Stryker's mutation score in percent (None when nothing was tested)."""
    total = killed + timeout + survived + no_tests
    return None if total == 0 else 100.0 * (killed + timeout) / total


def read_mutation(data: Any) -> Reading:
    if not isinstance(data, Mapping):
        return no_data("mutation file is not a JSON object")
    status = data.get("status", "ok")
    if status == "not_applicable":
        return Reading(None, "not_applicable", "nothing to mutate in scope")
    if status == "incomplete":
        return no_data("the mutation run did not finish (status: incomplete)")
    if status != "ok":
        return no_data(f"mutation file: unknown status {status!r}")
    counts: dict[str, int] = {}
    for name in MUTATION_COUNTS:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return no_data(f"mutation file: `{name}` must be a non-negative integer (got {value!r})")
        counts[name] = value
    score = mutation_score(**counts)
    claimed = data.get("score")
    if claimed is not None and (_number(claimed) is None or score is None or abs(float(claimed) - score) > 0.01):
        return no_data(f"mutation file: `score` {claimed!r} does not match the counts "
                       f"({'no mutants' if score is None else f'{score:.2f}'})")
    if score is None:
        return no_data("mutation file: no mutant was tested (all counts are 0)")
    tested = sum(counts.values())
    return Reading(score, "ok", f"{counts['killed'] + counts['timeout']} of {tested} mutants killed")


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0 < q < 100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    if len(samples) == 1:
        return samples[0]
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _p95_of(samples: Any, scale: float, where: str) -> Reading:
    if not isinstance(samples, list) or not samples:
        return no_data(f"{where}: no samples")
    values = [_number(s) for s in samples]
    if any(v is None for v in values):
        return no_data(f"{where}: samples must all be numbers")
    scaled = [float(v) * scale for v in values]  # type: ignore[arg-type]
    return Reading(percentile(scaled, 95), "ok", f"p95 of {len(scaled)} samples")


def read_latency(data: Any, benchmark: str | None = None) -> Reading:
    if not isinstance(data, Mapping):
        return no_data("latency file is not a JSON object")
    if "benchmarks" in data:
        benches = [b for b in data.get("benchmarks") or [] if isinstance(b, Mapping)]
        if benchmark is not None:
            benches = [b for b in benches if benchmark in (b.get("name"), b.get("fullname"))]
            if not benches:
                return no_data(f"pytest-benchmark JSON has no benchmark named {benchmark!r}")
        if len(benches) != 1:
            names = ", ".join(str(b.get("name")) for b in benches[:5])
            return no_data(f"pytest-benchmark JSON holds {len(benches)} benchmarks ({names}): "
                           "name one with `benchmark:`")
        stats = benches[0].get("stats") if isinstance(benches[0].get("stats"), Mapping) else {}
        if "data" not in stats:
            return no_data("pytest-benchmark JSON has no raw timings (run with --benchmark-save-data): "
                           "its summary statistics have no p95")
        reading = _p95_of(stats.get("data"), 1000.0, f"benchmark {benches[0].get('name')}")
        return reading
    if "p95_ms" in data:
        value = _number(data.get("p95_ms"))
        return Reading(value, "ok", "p95 from probe") if value is not None and value >= 0 \
            else no_data("`p95_ms` must be a non-negative number")
    if "samples_ms" in data:
        return _p95_of(data.get("samples_ms"), 1.0, "probe")
    return no_data("latency file has neither `p95_ms`, `samples_ms` nor pytest-benchmark `benchmarks`")


class PointerError(ValueError):
    pass


def resolve_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901: ``""`` is the whole document, ``/a/0/b~1c`` walks keys/indexes (``~1`` = ``/``, ``~0`` = ``~``)."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise PointerError(f"JSON pointer {pointer!r} must start with '/'")
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if token not in current:
                raise PointerError(f"{pointer}: no key {token!r}")
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or (len(token) > 1 and token.startswith("0")) or int(token) >= len(current):
                raise PointerError(f"{pointer}: no index {token!r} in a list of {len(current)}")
            current = current[int(token)]
        else:
            raise PointerError(f"{pointer}: cannot look up {token!r} in a {type(current).__name__}")
    return current


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def read_json_pointer(data: Any, pointer: str) -> Reading:
    try:
        value = resolve_pointer(data, pointer)
    except PointerError as exc:
        return no_data(str(exc))
    number = _number(value)
    if number is None:
        return no_data(f"{pointer or '(document)'} is {type(value).__name__} {str(value)[:40]!r}, not a number")
    return Reading(number, "ok", f"at {pointer or '(document)'}")


# --- the IO shell -------------------------------------------------------------------------------------

def parse(kind: str, data: Any, *, pointer: str | None = None, benchmark: str | None = None) -> Reading:
    """The reading of a parsed JSON document for a metric of ``kind`` (pure)."""
    if kind == "coverage":
        return read_coverage(data)
    if kind == "patch_coverage":
        return read_patch_coverage(data)
    if kind == "mutation":
        return read_mutation(data)
    if kind == "latency":
        return read_latency(data, benchmark)
    if kind == "json":
        return read_json_pointer(data, pointer or "")
    raise ValueError(f"unknown metric kind {kind!r}")


def read_metric(kind: str, path: Path, *, pointer: str | None = None, benchmark: str | None = None) -> Reading:
    """Read ``path`` (a JSON file) as a metric of ``kind``; a missing or broken file is no data."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return no_data(f"{path.name} was not written (file not found)")
    except OSError as exc:
        return no_data(f"{path.name}: {exc.strerror or exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return no_data(f"{path.name} is not JSON: {exc}")
    return parse(kind, data, pointer=pointer, benchmark=benchmark)


def p95_ms(samples_ms: list[float]) -> float:
    """Convenience for probes writing ``{"p95_ms": ...}``."""
    return percentile(list(samples_ms), 95)


__all__ = [
    "DEFAULT_FILES", "DIRECTIONS", "KINDS", "MUTATION_SCHEMA", "Reading", "UNITS", "escape_token", "mutation_score",
    "no_data", "p95_ms", "parse", "percentile", "read_coverage", "read_json_pointer", "read_latency",
    "read_metric", "read_mutation", "read_patch_coverage", "resolve_pointer",
]
