"""Analysis rules: a window of probe measurements -> continue / alert / rollback / inconclusive (pure).

Example (the seed values are the defaults)::

    deploy:
      rules:
        window_seconds: 300          # sliding window: measurements older than this are forgotten
        alert_failures: 2            # failures in the window -> alert
        rollback_failures: 3         # failures in the window -> roll back
        max_consecutive_errors: 5    # a probe that could not reach its target this many times in a row
                                     #   -> inconclusive (pause / fail safe), never "failing canary"
        latency:                     # Kayenta-style judge, canary vs stable (off when absent)
          probe: health              # a probe name, or "*" for every probe's latencies
          alpha: 0.05
          min_effect: 1.2            # canary median >= 1.2 x stable median ...
          min_delta_ms: 5            # ... and >= 5 ms above it
          min_samples: 8             # per side, else "nodata"

Which measurements count: those with ``at`` in ``(now - window_seconds, now]``. Measurements labelled
``stable`` are the baseline (latency only); every other target label is the version under analysis.
``error`` outcomes (the probe could not reach its target) never count as failures.

Action, most severe first: ``rollback`` (failures >= rollback_failures, or the latency judge says
``fail``) > ``inconclusive`` (some probe's errors since its last ``ok`` >= max_consecutive_errors) >
``alert`` (failures >= alert_failures) > ``continue``. Adding failures never lowers the action.
Latency ``nodata`` is its own outcome: it does not change the action, but :attr:`Verdict.may_promote`
is false until the judge has data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from trunkline.config.model import Section
from trunkline.deploy.judge import judge_latency
from trunkline.deploy.probes.measurement import STABLE, Measurement

Action = Literal["continue", "alert", "rollback", "inconclusive"]
LatencyOutcome = Literal["pass", "fail", "nodata", "off"]
#: Actions from least to most severe.
SEVERITY: tuple[str, ...] = ("continue", "alert", "inconclusive", "rollback")
ALL_PROBES = "*"


class LatencyRuleSpec(Section):
    """Roll back when the canary is significantly and materially slower than stable (Mann-Whitney U)."""

    key_hints: ClassVar[dict[str, str]] = {"p": "alpha", "p_value": "alpha", "effect": "min_effect",
                                           "ratio": "min_effect", "samples": "min_samples",
                                           "min_delta": "min_delta_ms"}

    probe: Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_.-]*)$", max_length=64)] = Field(
        ALL_PROBES, description="Probe whose latencies are compared, or '*' for all probes' latencies.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the two-sided Mann-Whitney U test.")
    min_effect: float = Field(
        1.2, ge=1, le=100, description="Effect-size floor: the canary's median latency must be at least this "
                                       "many times stable's median to count as slower.")
    min_delta_ms: float = Field(
        5.0, ge=0, description="...and at least this many milliseconds above it (sub-millisecond noise on a "
                               "shared host is not a regression).")
    min_samples: int = Field(8, ge=3, le=100_000,
                             description="Latencies needed on each side; fewer = 'nodata' (never a pass).")


class RulesSpec(Section):
    """When probe results alert, roll back, or make the analysis inconclusive."""

    key_hints: ClassVar[dict[str, str]] = {"window": "window_seconds", "alert": "alert_failures",
                                           "rollback": "rollback_failures", "max_errors": "max_consecutive_errors",
                                           "consecutive_errors": "max_consecutive_errors"}

    window_seconds: float = Field(300, gt=0, le=86_400, description="Length of the sliding window, in seconds.")
    alert_failures: int = Field(2, ge=1, le=10_000, description="Failures within the window that raise an alert.")
    rollback_failures: int = Field(3, ge=1, le=10_000,
                                   description="Failures within the window that roll the canary back.")
    max_consecutive_errors: int = Field(
        5, ge=1, le=10_000, description="Errors in a row (since its last ok) of one probe that make the analysis "
                                        "inconclusive: the target could not be probed, which is not a failure.")
    latency: LatencyRuleSpec | None = Field(
        None, description="Latency comparison of canary against stable; off when absent.")

    @model_validator(mode="after")
    def _ordered(self) -> RulesSpec:
        if self.alert_failures > self.rollback_failures:
            raise PydanticCustomError(
                "rules_order", "alert_failures ({alert}) must not exceed rollback_failures ({rollback})",
                {"alert": self.alert_failures, "rollback": self.rollback_failures})
        return self


@dataclass(frozen=True)
class Verdict:
    action: Action
    reasons: tuple[str, ...]
    failures: int  # failures of the analysed version within the window
    errors: int  # errors of the analysed version within the window
    latency: LatencyOutcome
    consecutive_errors: int = 0  # the longest run of errors since a probe's last ok
    failing_probes: tuple[str, ...] = field(default=())  # probes with a failure in the window
    latency_detail: str = ""

    @property
    def may_promote(self) -> bool:
        """True when nothing stands against promotion: no failures beyond an alert and a latency verdict."""
        return self.action == "continue" and self.latency in ("pass", "off")

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reasons": list(self.reasons), "failures": self.failures,
                "errors": self.errors, "latency": self.latency, "consecutive_errors": self.consecutive_errors,
                "failing_probes": list(self.failing_probes), "latency_detail": self.latency_detail,
                "may_promote": self.may_promote}


def in_window(window: Sequence[Measurement], rules: RulesSpec, now: float) -> list[Measurement]:
    """Measurements inside ``(now - window_seconds, now]``, oldest first."""
    start = now - rules.window_seconds
    return sorted((m for m in window if start < m.at <= now), key=lambda m: m.at)


def consecutive_errors(measurements: Sequence[Measurement]) -> dict[str, int]:
    """Per probe: errors since its last ``ok`` (failures neither reset nor extend the run)."""
    runs: dict[str, int] = {}
    for m in sorted(measurements, key=lambda m: m.at):
        if m.outcome == "ok":
            runs[m.probe] = 0
        elif m.outcome == "error":
            runs[m.probe] = runs.get(m.probe, 0) + 1
        else:
            runs.setdefault(m.probe, 0)
    return runs


def evaluate(window: Sequence[Measurement], rules: RulesSpec, now: float) -> Verdict:
    """The verdict on the version under analysis from the measurements in ``window``."""
    recent = in_window(window, rules, now)
    analysed = [m for m in recent if m.target != STABLE]
    baseline = [m for m in recent if m.target == STABLE]
    failed = [m for m in analysed if m.outcome == "fail"]
    failures = len(failed)
    errors = sum(1 for m in analysed if m.outcome == "error")
    # the error run may have started before the window: count it over everything given up to now
    runs = consecutive_errors([m for m in window if m.target != STABLE and m.at <= now])
    worst_probe, worst_run = max(runs.items(), key=lambda kv: kv[1], default=("", 0))
    failing_probes = tuple(sorted({m.probe for m in failed}))
    span = f"{rules.window_seconds:g} s"

    latency: LatencyOutcome = "off"
    latency_detail = ""
    if rules.latency is not None:
        latency, latency_detail = _judge(analysed, baseline, rules.latency)

    if failures >= rules.rollback_failures or latency == "fail":
        action: Action = "rollback"
    elif worst_run >= rules.max_consecutive_errors:
        action = "inconclusive"
    elif failures >= rules.alert_failures:
        action = "alert"
    else:
        action = "continue"

    reasons: list[str] = []
    if failures:
        limit = rules.rollback_failures if failures >= rules.rollback_failures else rules.alert_failures
        comparison = ">=" if failures >= rules.alert_failures else "<"
        reasons.append(f"{failures} failure(s) in the last {span} ({comparison} {limit}) from "
                       f"{', '.join(failing_probes)}; last: {failed[-1].probe}: {failed[-1].detail}")
    if worst_run >= rules.max_consecutive_errors:
        reasons.append(f"probe {worst_probe} could not reach its target {worst_run} times in a row "
                       f"(limit {rules.max_consecutive_errors}): inconclusive, not a failure")
    if rules.latency is not None:
        reasons.append(f"latency {latency}: {latency_detail}")
    if not reasons:
        reasons.append(f"no failures in the last {span} ({len(analysed)} measurement(s))")
    return Verdict(action, tuple(reasons), failures, errors, latency, worst_run, failing_probes, latency_detail)


def _judge(analysed: Sequence[Measurement], baseline: Sequence[Measurement],
           spec: LatencyRuleSpec) -> tuple[LatencyOutcome, str]:
    def samples(ms: Sequence[Measurement]) -> list[float]:
        return [m.latency_ms for m in ms if m.outcome != "error" and m.latency_ms is not None
                and (spec.probe == ALL_PROBES or m.probe == spec.probe)]

    result, detail = judge_latency(samples(analysed), samples(baseline), spec)
    return result, detail


def more_severe(a: Action, b: Action) -> Action:
    """The more severe of two actions."""
    return a if SEVERITY.index(a) >= SEVERITY.index(b) else b


__all__ = ["ALL_PROBES", "Action", "LatencyOutcome", "LatencyRuleSpec", "RulesSpec", "SEVERITY", "Verdict",
           "consecutive_errors", "evaluate", "in_window", "more_severe"]
