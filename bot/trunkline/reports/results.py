"""Nightly / weekly results -> report sections (pure).

The nightly and weekly tiers (``make verify-nightly`` / ``make verify-weekly``, or the reusable
``nightly.yml`` / ``weekly.yml`` workflows) leave JSON files in their results folder; the workflow
uploads them as the ``trunkline-report`` artifact. :func:`collect` reads whichever are there — a file
that is missing means "not measured by this run", and the report keeps that section's previous value:

=====================  ==========================================  =========================================
file                   written by                                  red when
=====================  ==========================================  =========================================
``flaky.json``         ``trunkline flaky run``                     a test was flaky, or failed every attempt
``mutation.json``      ``trunkline mutation run --sample/--all``   the run is incomplete (the score is shown)
``perf.json``          ``trunkline perf compare --json``           a benchmark got slower (verdict fail)
``pip-audit.json``     ``pip-audit -f json``                       a dependency has a known vulnerability
``zizmor.json``        ``zizmor --format json``                    a finding of medium severity or more
=====================  ==========================================  =========================================

Files are found by name anywhere in the folder (an artifact keeps the paths it was given). A file that
cannot be read is reported as a red section saying why — never a traceback, never a silent pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"  # green
PROBLEM = "problem"  # red: keeps the report issue open
INFO = "info"  # shown, never red on its own

#: Report sections in the order they are shown: key -> title.
SECTIONS = {
    "flaky": "Flaky tests",
    "mutation": "Mutation score",
    "perf": "Performance",
    "dependencies": "Dependency audit",
    "workflows": "Workflow audit",
}
MAX_ITEMS = 20
SEVERITIES = ("unknown", "informational", "low", "medium", "high")
RED_SEVERITY = "medium"


@dataclass(frozen=True)
class Section:
    key: str
    status: str  # ok | problem | info
    headline: str  # one line, Markdown
    items: tuple[str, ...] = ()  # bullet lines, Markdown
    source: str = ""  # file it came from

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "headline": self.headline, "items": list(self.items),
                "source": self.source}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Section:
        return cls(str(data["key"]), str(data.get("status") or INFO), str(data.get("headline") or ""),
                   tuple(str(i) for i in data.get("items") or ()), str(data.get("source") or ""))


@dataclass(frozen=True)
class Results:
    sections: dict[str, Section] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.sections


def _code(text: Any) -> str:
    return "`" + str(text).replace("`", "'") + "`"


def _more(items: list[str], total: int) -> list[str]:
    if total > len(items):
        items.append(f"… and {total - len(items)} more")
    return items


# ---------------------------------------------------------------------------------------- parsers

def flaky_section(data: Mapping[str, Any]) -> Section:
    flaky = [str(n) for n in data.get("flaky") or []]
    failing = [str(n) for n in data.get("failing") or []]
    tests = data.get("tests")
    rate = data.get("flaky_rate")
    items = [f"flaky: {_code(n)}" for n in flaky[:MAX_ITEMS]]
    items += [f"failing on every attempt: {_code(n)}" for n in failing[:MAX_ITEMS]]
    quarantined = data.get("quarantined") or []
    if quarantined:
        items.append(f"{len(quarantined)} quarantined test(s) still run and are reported separately")
    if flaky or failing:
        parts = []
        if flaky:
            parts.append(f"{len(flaky)} flaky test{'s' if len(flaky) != 1 else ''} (rate {float(rate or 0):.2f}%)")
        if failing:
            parts.append(f"{len(failing)} failing")
        return Section("flaky", PROBLEM, ", ".join(parts) + (f" out of {tests}" if tests is not None else ""),
                       tuple(_more(items, len(flaky) + len(failing) + (1 if quarantined else 0))), "flaky.json")
    return Section("flaky", OK, f"no flaky test in {tests if tests is not None else '?'} tests "
                                f"({data.get('runs', '?')} run(s) on this tree)", tuple(items), "flaky.json")


def mutation_section(data: Mapping[str, Any]) -> Section:
    score = data.get("score")
    scope = data.get("scope") or "?"
    what = {"sample": f"sample of {data.get('sample') or '?'} mutants", "full": "every mutant",
            "pr": "changed functions"}.get(str(scope), str(scope))
    counts = (f"{data.get('killed', 0)} killed, {data.get('timeout', 0)} timeout, {data.get('survived', 0)} "
              f"survived, {data.get('no_tests', 0)} without tests")
    survivors = data.get("survivors") or []
    items = [f"survived: {_code(s.get('name'))} in {_code(s.get('function'))} ({s.get('path')})"
             for s in survivors[:MAX_ITEMS] if isinstance(s, Mapping)]
    items = _more(items, len(survivors))
    shown = "n/a" if score is None else f"{float(score):.2f}%"
    if data.get("status") == "incomplete":
        return Section("mutation", PROBLEM, f"incomplete run ({what}): score {shown}; {counts}", tuple(items),
                       "mutation.json")
    return Section("mutation", INFO, f"score **{shown}** on a {what}; {counts}", tuple(items), "mutation.json")


def perf_section(data: Mapping[str, Any]) -> Section:
    benchmarks = [b for b in data.get("benchmarks") or [] if isinstance(b, Mapping)]
    slower = [b for b in benchmarks if b.get("verdict") == "slower"]
    summary = data.get("summary") or {}
    items = [f"slower: {_code(b.get('name'))} — {b.get('reason', '')}" for b in slower[:MAX_ITEMS]]
    items = _more(items, len(slower))
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary.items() if v)
    if data.get("verdict") == "fail":
        head = f"{len(slower)} regression{'s' if len(slower) != 1 else ''}" if slower else "no usable data"
        return Section("perf", PROBLEM, f"{head} ({counts or 'no benchmarks'})", tuple(items), "perf.json")
    return Section("perf", OK, f"no regression ({counts or 'no benchmarks'})", tuple(items), "perf.json")


def audit_section(data: Any) -> Section:
    deps = data.get("dependencies") if isinstance(data, Mapping) else data
    deps = [d for d in deps or [] if isinstance(d, Mapping)]
    vulnerable = [d for d in deps if d.get("vulns")]
    items = []
    for d in vulnerable[:MAX_ITEMS]:
        ids = ", ".join(str(v.get("id")) for v in d["vulns"] if isinstance(v, Mapping))
        fixes = sorted({str(f) for v in d["vulns"] if isinstance(v, Mapping) for f in v.get("fix_versions") or []})
        items.append(f"{_code(str(d.get('name')) + ' ' + str(d.get('version')))}: {ids}"
                     + (f" (fixed in {', '.join(fixes)})" if fixes else ""))
    items = _more(items, len(vulnerable))
    if vulnerable:
        count = sum(len(d["vulns"]) for d in vulnerable)
        return Section("dependencies", PROBLEM, f"{count} known vulnerabilit{'ies' if count != 1 else 'y'} in "
                                                f"{len(vulnerable)} of {len(deps)} dependencies", tuple(items),
                       "pip-audit.json")
    return Section("dependencies", OK, f"no known vulnerability in {len(deps)} dependencies", (), "pip-audit.json")


def _severity(finding: Mapping[str, Any]) -> str:
    det = finding.get("determinations") or {}
    value = str(det.get("severity") or "unknown").lower()
    return value if value in SEVERITIES else "unknown"


def _where(finding: Mapping[str, Any]) -> str:
    for loc in finding.get("locations") or []:
        try:
            path = loc["symbolic"]["key"]["Local"]["verbatim_path"]
            row = loc["concrete"]["location"]["start_point"]["row"] + 1
        except (KeyError, TypeError):
            continue
        return f"{path}:{row}"
    return "?"


def zizmor_section(data: Any) -> Section:
    findings = [f for f in (data if isinstance(data, list) else []) if isinstance(f, Mapping)]
    red = [f for f in findings if SEVERITIES.index(_severity(f)) >= SEVERITIES.index(RED_SEVERITY)]
    ordered = sorted(findings, key=lambda f: -SEVERITIES.index(_severity(f)))
    items = [f"{_severity(f)}: {_code(f.get('ident'))} at {_code(_where(f))} — {f.get('desc', '')}"
             for f in ordered[:MAX_ITEMS]]
    items = _more(items, len(findings))
    if red:
        return Section("workflows", PROBLEM, f"zizmor: {len(red)} finding(s) of {RED_SEVERITY} severity or more "
                                             f"({len(findings)} in all)", tuple(items), "zizmor.json")
    return Section("workflows", OK, f"zizmor: nothing of {RED_SEVERITY} severity or more"
                                    + (f" ({len(findings)} low/informational)" if findings else ""),
                   tuple(items), "zizmor.json")


PARSERS: dict[str, tuple[str, Callable[[Any], Section]]] = {
    "flaky.json": ("flaky", flaky_section),
    "mutation.json": ("mutation", mutation_section),
    "perf.json": ("perf", perf_section),
    "pip-audit.json": ("dependencies", audit_section),
    "zizmor.json": ("workflows", zizmor_section),
}


def collect(files: Mapping[str, bytes]) -> Results:
    """Sections from the result files (path -> content); unknown files are ignored."""
    sections: dict[str, Section] = {}
    for path in sorted(files, key=lambda p: (p.count("/"), p)):
        name = path.rsplit("/", 1)[-1]
        if name not in PARSERS:
            continue
        key, parse = PARSERS[name]
        if key in sections:
            continue
        try:
            data = json.loads(files[path].decode("utf-8"))
            if not isinstance(data, dict | list):
                raise ValueError("not a JSON object")
            sections[key] = parse(data)
        except (ValueError, UnicodeDecodeError, TypeError, AttributeError, KeyError) as exc:
            sections[key] = Section(key, PROBLEM, f"{_code(path)} could not be read: {exc}", (), name)
    return Results(sections)


def read_folder(folder: Path) -> dict[str, bytes]:
    """The result files under ``folder`` (only the names :func:`collect` knows; small files)."""
    out: dict[str, bytes] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.rglob("*.json")):
        if path.name in PARSERS and path.is_file() and ".venv" not in path.parts and "node_modules" not in path.parts:
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out
