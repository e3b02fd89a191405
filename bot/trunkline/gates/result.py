"""A tier's result as plain data, its verdict, and its JSON form (pure).

Verdicts and what a check run shows for them:

================  =========================  ===================================
verdict           required tier              advisory tier (``required: false``)
================  =========================  ===================================
passed            success                    success
failed            failure                    neutral
budget exceeded   failure                    neutral
error             failure                    neutral
cancelled         cancelled                  cancelled
================  =========================  ===================================

"failed" means a command exited non-zero **or** the JUnit reports list failing tests (a suite run as
``pytest || true`` still fails its tier). "error" means the tier could not run at all (no checkout,
no workflow). "cancelled" carries its reason, e.g. "superseded by 1a2b3c4".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .junit import JUnitReport, TestCase
from .runner import BUDGET, CANCELLED, ERROR, FAILED, PASSED, CommandResult, RunOutcome

VERDICTS = (PASSED, FAILED, BUDGET, ERROR, CANCELLED)
RESULT_VERSION = 1


@dataclass(frozen=True)
class TierResult:
    tier: str
    verdict: str
    required: bool = True
    budget: float = 0.0
    duration: float = 0.0
    commands: tuple[CommandResult, ...] = ()
    junit: JUnitReport | None = None
    sha: str | None = None
    reason: str = ""  # why it was cancelled / could not run
    notes: tuple[str, ...] = ()
    executor: str = "local"
    details_url: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def conclusion(self) -> str:
        return conclusion_for(self.verdict, self.required)

    @property
    def ok(self) -> bool:
        return self.verdict == PASSED

    def to_json(self) -> dict[str, Any]:
        junit = self.junit
        return {
            "version": RESULT_VERSION,
            "tier": self.tier,
            "verdict": self.verdict,
            "conclusion": self.conclusion,
            "required": self.required,
            "budget": self.budget,
            "duration": self.duration,
            "sha": self.sha,
            "executor": self.executor,
            "reason": self.reason,
            "notes": list(self.notes),
            "commands": [asdict(c) for c in self.commands],
            "tests": None if junit is None else {
                "total": junit.tests, "passed": junit.passed, "failures": junit.failures,
                "errors": junit.errors, "skipped": junit.skipped, "time": junit.time,
                "files": list(junit.files), "problems": list(junit.problems),
                "failing": [asdict(c) for c in junit.failing],
            },
            "artifacts": dict(self.artifacts),
            "details_url": self.details_url,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"


def from_json(data: dict[str, Any]) -> TierResult:
    """The inverse of :meth:`TierResult.to_json` (e.g. a result written by ``trunkline verify``)."""
    tests = data.get("tests")
    junit = None
    if isinstance(tests, dict):
        junit = JUnitReport(int(tests.get("total", 0)), int(tests.get("failures", 0)), int(tests.get("errors", 0)),
                            int(tests.get("skipped", 0)), float(tests.get("time", 0.0)),
                            tuple(TestCase(**c) for c in tests.get("failing", [])),
                            tuple(tests.get("files", [])), tuple(tests.get("problems", [])))
    verdict = str(data.get("verdict"))
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    return TierResult(
        tier=str(data["tier"]), verdict=verdict, required=bool(data.get("required", True)),
        budget=float(data.get("budget") or 0), duration=float(data.get("duration") or 0),
        commands=tuple(CommandResult(**c) for c in data.get("commands", [])), junit=junit, sha=data.get("sha"),
        reason=str(data.get("reason") or ""), notes=tuple(data.get("notes") or ()),
        executor=str(data.get("executor") or "local"), details_url=data.get("details_url"),
        artifacts=dict(data.get("artifacts") or {}))


def conclusion_for(verdict: str, required: bool) -> str:
    """The check-run conclusion of a verdict (see the module docstring)."""
    if verdict == PASSED:
        return "success"
    if verdict == CANCELLED:
        return "cancelled"
    return "failure" if required else "neutral"


def verdict_of(outcome: RunOutcome, junit: JUnitReport | None) -> str:
    """The verdict of a finished run: stops first (budget, cancel), then commands, then tests."""
    if outcome.stopped == "budget":
        return BUDGET
    if outcome.stopped == "cancelled":
        return CANCELLED
    if not outcome.commands:
        return ERROR
    statuses = [c.status for c in outcome.commands]
    if ERROR in statuses:
        return ERROR
    if FAILED in statuses:
        return FAILED
    if junit is not None and not junit.ok:
        return FAILED
    return PASSED


def result_from_run(tier: Any, outcome: RunOutcome, junit: JUnitReport | None, *, sha: str | None = None,
                    notes: Sequence[str] = (), executor: str = "local",
                    artifacts: dict[str, str] | None = None) -> TierResult:
    """``tier`` is a :class:`~trunkline.gates.config.Tier`."""
    verdict = verdict_of(outcome, junit)
    reason = ""
    if verdict == BUDGET:
        reason = f"stopped at the budget of {fmt_seconds(tier.budget)}"
    elif verdict == CANCELLED:
        reason = outcome.cancel_reason or "cancelled"
    elif verdict == ERROR:
        failed = [c for c in outcome.commands if c.status == ERROR]
        reason = failed[0].message if failed else "no command ran"
    return TierResult(tier.name, verdict, tier.required, tier.budget, outcome.duration, outcome.commands, junit,
                      sha, reason, tuple(notes), executor, artifacts=dict(artifacts or {}))


def error_result(tier: Any, reason: str, *, sha: str | None = None, executor: str = "local",
                 duration: float = 0.0) -> TierResult:
    """The tier could not run at all (checkout failed, workflow missing...)."""
    return TierResult(tier.name, ERROR, tier.required, tier.budget, duration, sha=sha, reason=reason,
                      executor=executor)


def fmt_seconds(seconds: float) -> str:
    """``75`` → ``1m 15s``; ``3600`` → ``1h``; ``4.2`` → ``4.2s``."""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds != int(seconds) else f"{int(seconds)}s"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return " ".join(p for p in parts if p)
