"""The mutation-score JSON and the Markdown summary (pure).

JSON (``mutation.json``; the format :mod:`trunkline.ratchets.metrics` reads as the ``mutation`` kind,
extra keys allowed)::

    {
      "killed": 40, "timeout": 2, "survived": 5, "no_tests": 3,
      "total": 50,                 # killed + timeout + survived + no_tests (Stryker's valid mutants)
      "score": 84.0,               # 100 * (killed + timeout) / total, 2 decimals; null when total is 0
      "status": "ok",              # ok | not_applicable (nothing to mutate in scope) | incomplete
      "scope": "pr",               # pr | sample | full
      "base": "origin/main", "base_sha": "...", "seed": null, "sample": null,
      "errors": 0, "invalid": 0, "ignored": 0, "pending": 0,   # left out of the score, see results.py
      "functions": [{"module", "function", "path", "killed", "timeout", "survived", "no_tests",
                     "total", "score", "survivors": [names]}],
      "survivors": [{"name", "path", "function", "diff"}],
      "unmutated_functions": [...],  # changed functions mutmut made no mutant of
      "notes": [...]
    }
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .results import Counts, FunctionResult, rounded_score
from .scope import readable

MAX_SURVIVORS_SHOWN = 50


@dataclass(frozen=True)
class Survivor:
    name: str
    path: str  # repository path
    function: str  # readable, e.g. Class.method
    diff: str | None


@dataclass
class MutationReport:
    scope: str  # pr | sample | full
    counts: Counts
    functions: list[FunctionResult]
    survivors: list[Survivor]
    base: str | None = None
    base_sha: str | None = None
    seed: int | None = None
    sample: int | None = None
    unmutated: list[str] = field(default_factory=list)  # changed functions without mutants (readable)
    notes: list[str] = field(default_factory=list)
    duration_seconds: float | None = None

    @property
    def status(self) -> str:
        if not self.counts.complete:
            return "incomplete"
        if self.counts.total == 0 and self.scope == "pr":
            return "not_applicable"
        return "ok"

    def to_json(self) -> dict[str, Any]:
        c = self.counts
        return {
            "killed": c.killed, "timeout": c.timeout, "survived": c.survived, "no_tests": c.no_tests,
            "total": c.total, "score": rounded_score(c), "status": self.status, "scope": self.scope,
            "base": self.base, "base_sha": self.base_sha, "seed": self.seed, "sample": self.sample,
            "errors": c.error, "invalid": c.invalid, "ignored": c.ignored, "pending": c.pending,
            "duration_seconds": None if self.duration_seconds is None else round(self.duration_seconds, 1),
            "functions": [_function_json(f) for f in self.functions],
            "survivors": [{"name": s.name, "path": s.path, "function": s.function, "diff": s.diff}
                          for s in self.survivors],
            "unmutated_functions": list(self.unmutated),
            "notes": list(self.notes),
        }


def _function_json(result: FunctionResult) -> dict[str, Any]:
    c = result.counts
    return {"module": result.module, "function": readable(result.key), "path": result.path,
            "killed": c.killed, "timeout": c.timeout, "survived": c.survived, "no_tests": c.no_tests,
            "total": c.total, "score": rounded_score(c), "survivors": list(result.survivors)}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}%"


def _scope_title(report: MutationReport) -> str:
    if report.scope == "pr":
        base = report.base or "?"
        sha = f" ({report.base_sha[:10]})" if report.base_sha else ""
        return f"changed functions since `{base}`{sha}"
    if report.scope == "sample":
        return f"random sample of {report.sample} mutants (seed {report.seed})"
    return "every mutant"


def headline(report: MutationReport) -> str:
    c = report.counts
    if report.status == "not_applicable":
        return "Mutation testing: no mutable function changed — nothing to test."
    line = (f"Mutation score {_pct(rounded_score(c))}: {c.detected} of {c.total} mutants detected "
            f"({c.killed} killed, {c.timeout} timeout), {c.survived} survived, {c.no_tests} without tests")
    extra = [f"{n} {label}" for n, label in ((c.error, "crashed/suspicious"), (c.invalid, "caught by type check"),
                                            (c.ignored, "skipped"), (c.pending, "NOT RUN")) if n]
    return line + (f"; not scored: {', '.join(extra)}" if extra else "") + "."


def _table(functions: Sequence[FunctionResult]) -> list[str]:
    rows = ["| Function | File | Mutants | Killed | Timeout | Survived | No tests | Score |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for f in functions:
        c = f.counts
        rows.append(f"| `{f.module}.{readable(f.key)}` | `{f.path}` | {c.total} | {c.killed} | {c.timeout} | "
                    f"{c.survived} | {c.no_tests} | {_pct(rounded_score(c))} |")
    return rows


def to_markdown(report: MutationReport, max_functions: int = 60) -> str:
    lines = [f"## Mutation testing — {_scope_title(report)}", "", headline(report), ""]
    if report.status == "incomplete":
        lines += [f"**The run did not finish: {report.counts.pending} mutants were not tested.**", ""]
    if report.functions:
        shown = sorted(report.functions, key=lambda f: (-f.counts.survived - f.counts.no_tests, f.mangled))
        lines += _table(shown[:max_functions])
        if len(shown) > max_functions:
            lines.append(f"\n… and {len(shown) - max_functions} more functions (see the JSON).")
        lines.append("")
    if report.unmutated:
        lines += ["Changed functions mutmut makes no mutants of (decorated, trivial, or excluded): "
                  + ", ".join(f"`{name}`" for name in report.unmutated), ""]
    if report.survivors:
        lines += [f"### Surviving mutants ({len(report.survivors)})", ""]
        for survivor in report.survivors[:MAX_SURVIVORS_SHOWN]:
            lines.append(f"<details><summary><code>{survivor.path}</code> · <code>{survivor.function}</code> · "
                         f"<code>{survivor.name}</code></summary>")
            lines += ["", "```diff", (survivor.diff or "(diff not available)\n").rstrip("\n"), "```", "",
                      "</details>", ""]
        if len(report.survivors) > MAX_SURVIVORS_SHOWN:
            lines += [f"… and {len(report.survivors) - MAX_SURVIVORS_SHOWN} more surviving mutants.", ""]
        lines += ["A surviving mutant is a change to the code that no test noticed: add a test that fails "
                  "on it (`mutmut show NAME` in the mutation workspace shows it too).", ""]
    for note in report.notes:
        lines.append(f"> {note}")
    return "\n".join(lines).rstrip() + "\n"


def survivors_of(functions: Iterable[FunctionResult], diffs: Mapping[str, str | None]) -> list[Survivor]:
    out = []
    for f in functions:
        for name in f.survivors:
            out.append(Survivor(name, f.path, readable(f.key), diffs.get(name)))
    return out


__all__ = ["MAX_SURVIVORS_SHOWN", "MutationReport", "Survivor", "headline", "survivors_of", "to_markdown"]
