"""Flaky-test verdicts from recorded attempts (pure).

A test is **flaky** when it both passed and failed (or errored) on the same tree SHA — across all the
attempts and runs recorded for that tree, so re-runs inside one session and separate sessions (CI
re-runs, nightly runs) both count. A test that failed every attempt is **failing** (a real failure,
not flakiness). The flaky rate is the share of the tests that ran on the tree (passed, failed or
errored at least once) that are flaky, in percent.

The JSON the ratchets read (``flaky.json``; a ``json`` metric with ``pointer: /flaky_rate`` and
``direction: lower``)::

    {"flaky_rate": 1.25, "flaky": ["tests/test_x.py::test_y", ...], "runs": 3,
     "tree_sha": "...", "tests": 80, "attempts": 95, "failing": [...],
     "details": [{"nodeid", "passed", "failed", "quarantined", "last_message"}],
     "quarantined": [{"nodeid", "reason", "outcomes": {"passed": 2, "failed": 1}}]}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PASS = frozenset({"passed"})
FAIL = frozenset({"failed", "error"})
RAN = PASS | FAIL


@dataclass(frozen=True)
class Attempt:
    """One execution of one test."""

    nodeid: str
    attempt: int
    outcome: str  # passed | failed | error | skipped | xfailed | xpassed
    duration: float = 0.0
    quarantined: bool = False
    message: str | None = None
    run_id: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any], run_id: str = "") -> Attempt:
        return cls(nodeid=str(data["nodeid"]), attempt=int(data.get("attempt", 1)), outcome=str(data["outcome"]),
                   duration=float(data.get("duration") or 0.0), quarantined=bool(data.get("quarantined")),
                   message=data.get("message"), run_id=str(data.get("run_id", run_id)))


@dataclass(frozen=True)
class History:
    nodeid: str
    outcomes: Counter
    quarantined: bool
    last_message: str | None

    @property
    def flaky(self) -> bool:
        return any(self.outcomes[o] for o in PASS) and any(self.outcomes[o] for o in FAIL)

    @property
    def failing(self) -> bool:
        return not any(self.outcomes[o] for o in PASS) and any(self.outcomes[o] for o in FAIL)

    @property
    def ran(self) -> bool:
        return any(self.outcomes[o] for o in RAN)


def histories(attempts: Iterable[Attempt]) -> dict[str, History]:
    outcomes: dict[str, Counter] = {}
    quarantined: dict[str, bool] = {}
    messages: dict[str, tuple[str, int, str | None]] = {}
    for a in attempts:
        outcomes.setdefault(a.nodeid, Counter())[a.outcome] += 1
        quarantined[a.nodeid] = quarantined.get(a.nodeid, False) or a.quarantined
        if a.outcome in FAIL and a.message:
            key = (a.run_id, a.attempt, a.message)
            if a.nodeid not in messages or key[:2] >= messages[a.nodeid][:2]:
                messages[a.nodeid] = key
    return {n: History(n, outcomes[n], quarantined[n], messages.get(n, (None, None, None))[2])
            for n in sorted(outcomes)}


@dataclass
class FlakyReport:
    tree_sha: str
    runs: int
    tests: dict[str, History]
    attempts: int
    reasons: dict[str, str] = field(default_factory=dict)  # quarantined node id -> reason
    this_run: dict[str, Any] = field(default_factory=dict)

    @property
    def ran(self) -> list[History]:
        return [t for t in self.tests.values() if t.ran]

    @property
    def flaky(self) -> list[History]:
        return [t for t in self.tests.values() if t.flaky]

    @property
    def failing(self) -> list[History]:
        return [t for t in self.tests.values() if t.failing]

    @property
    def quarantined(self) -> list[History]:
        return [t for t in self.tests.values() if t.quarantined]

    @property
    def rate(self) -> float:
        ran = len(self.ran)
        return 0.0 if ran == 0 else 100.0 * len(self.flaky) / ran

    def to_json(self) -> dict[str, Any]:
        return {
            "flaky_rate": round(self.rate, 4),
            "flaky": [t.nodeid for t in self.flaky],
            "runs": self.runs,
            "tree_sha": self.tree_sha,
            "tests": len(self.ran),
            "attempts": self.attempts,
            "failing": [t.nodeid for t in self.failing if not t.quarantined],
            "details": [{"nodeid": t.nodeid, "passed": t.outcomes["passed"],
                         "failed": t.outcomes["failed"] + t.outcomes["error"], "quarantined": t.quarantined,
                         "last_message": t.last_message} for t in self.flaky],
            "quarantined": [{"nodeid": t.nodeid, "reason": self.reasons.get(t.nodeid, ""),
                             "outcomes": dict(sorted(t.outcomes.items()))} for t in self.quarantined],
            "this_run": self.this_run,
        }


def analyse(tree_sha: str, attempts: Sequence[Attempt], runs: int, reasons: Mapping[str, str] | None = None,
            this_run: Mapping[str, Any] | None = None) -> FlakyReport:
    return FlakyReport(tree_sha, runs, histories(attempts), len(attempts), dict(reasons or {}),
                       dict(this_run or {}))


def _cell(text: str | None, limit: int = 120) -> str:
    if not text:
        return ""
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_markdown(report: FlakyReport) -> str:
    """The nightly report's "Flaky tests" section."""
    lines = ["## Flaky tests", ""]
    lines.append(f"Flaky rate **{report.rate:.2f}%**: {len(report.flaky)} of {len(report.ran)} tests both passed "
                 f"and failed on tree `{report.tree_sha[:12]}` ({report.runs} run{'s' if report.runs != 1 else ''}, "
                 f"{report.attempts} attempts).")
    lines.append("")
    if report.flaky:
        lines += ["| Test | Passed | Failed | Quarantined | Last failure |", "|---|---:|---:|:---:|---|"]
        for t in report.flaky:
            lines.append(f"| `{t.nodeid}` | {t.outcomes['passed']} | {t.outcomes['failed'] + t.outcomes['error']} | "
                         f"{'yes' if t.quarantined else ''} | {_cell(t.last_message)} |")
        lines.append("")
    failing = [t for t in report.failing if not t.quarantined]
    if failing:
        lines.append("Failing on every attempt (not flaky — broken): "
                     + ", ".join(f"`{t.nodeid}`" for t in failing[:20])
                     + (f" and {len(failing) - 20} more" if len(failing) > 20 else "") + ".")
        lines.append("")
    if report.quarantined:
        lines += ["Quarantined (they ran; their failures do not fail the run):", ""]
        for t in report.quarantined:
            counts = ", ".join(f"{n} {o}" for o, n in sorted(t.outcomes.items()))
            reason = report.reasons.get(t.nodeid)
            lines.append(f"- `{t.nodeid}`: {counts}" + (f" — {reason}" if reason else ""))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["Attempt", "FlakyReport", "History", "analyse", "histories", "to_markdown"]
