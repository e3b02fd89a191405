"""The sticky "Nightly report" issue: its state, its Markdown, and what to do with it (all pure).

One issue per repository, found by its label (:data:`LABEL`) and the marker in its body
(:data:`MARKER`), is kept up to date from the nightly and weekly runs:

* every run updates the sections it measured (:func:`merge`); sections it did not measure keep the
  value of the run that did (the weekly dependency audit stays while nightlies come and go). The state
  lives in the issue body itself (a hidden comment, :func:`parse_state`), so the bot needs no table;
* red (a section with a problem, or a run that failed) -> the issue is opened, or reopened;
* all green -> the open issue is updated and closed; no issue is created for a green run.

:func:`plan` turns (issues found, previous state, new results, run) into one :class:`Plan`; the
handler only carries it out.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .results import INFO, OK, PROBLEM, SECTIONS, Results, Section

MARKER = "<!-- trunkline:nightly-report -->"
LABEL = "trunkline-report"
TITLE = "Nightly report"
ARTIFACT = "trunkline-report"
DATA_RE = re.compile(r"<!-- trunkline:report-data:([A-Za-z0-9+/=]+) -->")
RED_CONCLUSIONS = ("failure", "timed_out", "startup_failure")
ICON = {OK: "✅", PROBLEM: "🔴", INFO: "ℹ️"}


@dataclass(frozen=True)
class RunInfo:
    """The workflow run a result came from."""

    workflow: str  # the workflow's name, e.g. "Trunkline nightly"
    conclusion: str
    url: str = ""
    sha: str = ""
    number: int | None = None
    at: str = ""  # ISO time the run was last updated

    @property
    def label(self) -> str:
        return f"{self.workflow} #{self.number}" if self.number else self.workflow

    def link(self) -> str:
        return f"[{self.label}]({self.url})" if self.url else self.label

    def to_json(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "conclusion": self.conclusion, "url": self.url, "sha": self.sha,
                "number": self.number, "at": self.at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        number = data.get("number")
        return cls(str(data.get("workflow") or "?"), str(data.get("conclusion") or "?"), str(data.get("url") or ""),
                   str(data.get("sha") or ""), int(number) if isinstance(number, int) else None,
                   str(data.get("at") or ""))


@dataclass(frozen=True)
class Entry:
    section: Section
    run: RunInfo


@dataclass(frozen=True)
class ReportState:
    sections: dict[str, Entry] = field(default_factory=dict)
    runs: dict[str, RunInfo] = field(default_factory=dict)  # workflow name -> its latest run

    def problems(self) -> list[str]:
        """What keeps the report red, one line each (empty = all green)."""
        out = [f"{SECTIONS.get(k, k)}: {e.section.headline}" for k, e in self._ordered()
               if e.section.status == PROBLEM]
        out += [f"{r.label} {r.conclusion}" for r in self.runs.values() if r.conclusion in RED_CONCLUSIONS]
        return out

    @property
    def red(self) -> bool:
        return bool(self.problems())

    def _ordered(self) -> list[tuple[str, Entry]]:
        order = list(SECTIONS)
        return sorted(self.sections.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0]))

    def to_json(self) -> dict[str, Any]:
        return {"version": 1,
                "sections": {k: {"section": e.section.to_json(), "run": e.run.to_json()}
                             for k, e in self.sections.items()},
                "runs": {k: r.to_json() for k, r in self.runs.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportState:
        sections = {str(k): Entry(Section.from_json(v["section"]), RunInfo.from_json(v["run"]))
                    for k, v in (data.get("sections") or {}).items()}
        runs = {str(k): RunInfo.from_json(v) for k, v in (data.get("runs") or {}).items()}
        return cls(sections, runs)


def merge(state: ReportState | None, results: Results, run: RunInfo) -> ReportState:
    """The state after ``run``: its sections replace the old ones; the others stay (pure)."""
    state = state or ReportState()
    sections = dict(state.sections)
    for key, section in results.sections.items():
        sections[key] = Entry(section, run)
    return replace(state, sections=sections, runs={**state.runs, run.workflow: run})


# ---------------------------------------------------------------------------------------- Markdown

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(sha: str) -> str:
    return f"`{sha[:7]}`" if sha else "?"


def encode_state(state: ReportState) -> str:
    raw = json.dumps(state.to_json(), separators=(",", ":"), sort_keys=True).encode("utf-8")
    return f"<!-- trunkline:report-data:{base64.b64encode(raw).decode('ascii')} -->"


def parse_state(body: str | None) -> ReportState | None:
    """The state stored in a report issue's body; None when there is none or it is unreadable."""
    match = DATA_RE.search(body or "")
    if match is None:
        return None
    try:
        data = json.loads(base64.b64decode(match.group(1), validate=True))
        return ReportState.from_json(data) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def render(state: ReportState, latest: RunInfo | None = None) -> str:
    """The issue body (pure)."""
    problems = state.problems()
    if problems:
        head = f"## 🔴 {len(problems)} problem{'s' if len(problems) != 1 else ''} in the nightly and weekly runs"
    else:
        head = "## ✅ All green"
    lines = [MARKER, head, ""]
    if latest is not None:
        lines += [f"_Updated from {latest.link()} on {_short(latest.sha)}"
                  + (f" ({latest.at})" if latest.at else "") + "._", ""]
    lines += ["| | Check | Result | Measured by |", "|---|---|---|---|"]
    seen = set()
    for key, entry in state._ordered():
        seen.add(key)
        sec = entry.section
        lines.append(f"| {ICON.get(sec.status, '')} | {SECTIONS.get(key, key)} | {_cell(sec.headline)} | "
                     f"{_cell(entry.run.link())} on {_short(entry.run.sha)} |")
    for key, title in SECTIONS.items():
        if key not in seen:
            lines.append(f"| ⚪ | {title} | not measured yet | |")
    details = [(k, e) for k, e in state._ordered() if e.section.items]
    for key, entry in details:
        lines += ["", f"### {SECTIONS.get(key, key)}", ""]
        lines += [f"- {item}" for item in entry.section.items]
    if state.runs:
        lines += ["", "### Runs", "", "| Workflow | Conclusion | Commit | Updated |", "|---|---|---|---|"]
        for run in sorted(state.runs.values(), key=lambda r: r.workflow):
            icon = "🔴 " if run.conclusion in RED_CONCLUSIONS else ""
            lines.append(f"| {_cell(run.link())} | {icon}{run.conclusion} | {_short(run.sha)} | {run.at or '?'} |")
    lines += ["", "Trunkline keeps this issue up to date after every nightly and weekly run: it is reopened when "
              "something is red and closed when all is green. Run it now with `/verify nightly` on a pull "
              "request, or `trunkline report nightly --results DIR` locally.", "", encode_state(state), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- the issue

@dataclass(frozen=True)
class IssueInfo:
    number: int
    state: str  # open | closed
    body: str
    labels: tuple[str, ...] = ()
    user: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssueInfo:
        labels = tuple(str(lb.get("name") if isinstance(lb, Mapping) else lb) for lb in data.get("labels") or [])
        user = (data.get("user") or {}).get("login") or ""
        return cls(int(data["number"]), str(data.get("state") or "open"), str(data.get("body") or ""), labels,
                   str(user))


def is_report(issue: IssueInfo, bot_login: str | None = None) -> bool:
    if MARKER not in issue.body:
        return False
    return bot_login is None or not issue.user or issue.user.lower() == bot_login.lower()


def pick(issues: Sequence[IssueInfo], bot_login: str | None = None) -> tuple[IssueInfo | None, list[IssueInfo]]:
    """(the report issue, duplicates to close): the oldest open one, else the newest closed one."""
    ours = [i for i in issues if is_report(i, bot_login)]
    open_ = sorted((i for i in ours if i.state == "open"), key=lambda i: i.number)
    if open_:
        return open_[0], open_[1:]
    closed = sorted((i for i in ours if i.state != "open"), key=lambda i: i.number)
    return (closed[-1] if closed else None), []


@dataclass(frozen=True)
class Plan:
    action: str  # create | update | reopen | close | none
    number: int | None
    title: str
    body: str
    state: ReportState
    comment: str = ""  # posted on the issue (reopen / close), so watchers get notified
    duplicates: tuple[int, ...] = ()  # other open report issues (a race): closed as duplicates

    @property
    def red(self) -> bool:
        return self.state.red


def plan(issues: Sequence[IssueInfo], results: Results, run: RunInfo, bot_login: str | None = None) -> Plan:
    """What to do with the report issue after ``run`` (pure)."""
    issue, dups = pick(issues, bot_login)
    previous = parse_state(issue.body) if issue is not None else None
    state = merge(previous, results, run)
    body = render(state, run)
    problems = state.problems()
    dup_numbers = tuple(i.number for i in dups)
    if issue is None:
        if problems:
            return Plan("create", None, TITLE, body, state)
        return Plan("none", None, TITLE, body, state)
    if issue.state == "open":
        if problems:
            return Plan("update", issue.number, TITLE, body, state, duplicates=dup_numbers)
        return Plan("close", issue.number, TITLE, body, state,
                    comment=f"All green after {run.link()} on {_short(run.sha)}: closing. Trunkline reopens this "
                            "issue when a nightly or weekly run finds something.", duplicates=dup_numbers)
    if problems:
        listed = "\n".join(f"- {p}" for p in problems[:10])
        return Plan("reopen", issue.number, TITLE, body, state,
                    comment=f"Red again after {run.link()} on {_short(run.sha)}:\n\n{listed}")
    return Plan("update", issue.number, TITLE, body, state)
