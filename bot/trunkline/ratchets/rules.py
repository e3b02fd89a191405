"""Ratchet semantics, pure: verdicts in ``check`` and how far ``update`` moves a limit.

A metric has a direction. For higher-is-better metrics the limit is a **floor**, for lower-is-better
ones a **ceiling**; everything below is written for floors and mirrored for ceilings (the code works
in "goodness" space, ``g(v) = v`` or ``-v``).

``check`` (:func:`evaluate`)
    head ≥ floor passes; head ≥ floor − ``tolerance`` passes "within tolerance" (tolerance absorbs
    measurement noise, it is never used to move a floor); below that the metric fails. A metric that
    could not be measured on the head is **no data** — a failure when the metric is ``required``
    (the default), never a silent pass. A metric without a floor yet passes as "new". A metric whose
    measurement does not apply (a diff without coverable lines for patch coverage) passes as "n/a".
    A failing metric that is not required is reported but does not fail the check (advisory).

``update`` (:func:`next_limit`)
    A floor never moves backwards. When the achieved value beats the floor, the floor moves to the
    achieved value — rounded *down* to ``precision`` decimals (up, for ceilings), so the commit that
    raised a floor always passes it — but

    - never more than ``step`` in one ``period`` (``pr``: each update; ``day``: once per UTC calendar
      day; ``week``: once per ISO week, counted from the ``updated`` date the last raise recorded),
    - never past ``target`` (the floor stops there: the goal is reached),
    - never past the achieved value (``step`` only limits speed, it does not invent progress).

    With no floor yet, the floor starts at the achieved value (capped at ``target``; ``step`` does not
    apply — there is nothing to step from). ``ratchet: false`` keeps a fixed threshold: it is checked
    but never moved (patch coverage defaults to that — each PR's own lines are a different population).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Literal

from .metrics import Reading

Direction = Literal["higher", "lower"]
Period = Literal["pr", "day", "week"]
PERIODS: tuple[str, ...] = ("pr", "day", "week")


@dataclass(frozen=True)
class Rule:
    """One metric's limit and how it moves (plain data from the baseline file)."""

    direction: Direction = "higher"
    limit: float | None = None  # the floor (higher is better) or ceiling (lower is better)
    target: float | None = None
    step: float | None = None
    period: Period = "pr"
    tolerance: float = 0.0
    required: bool = True
    ratchet: bool = True
    precision: int = 2
    updated: date | None = None  # UTC day of the last raise

    @property
    def limit_name(self) -> str:
        return "floor" if self.direction == "higher" else "ceiling"


class Verdict(StrEnum):
    PASS = "pass"
    IMPROVED = "improved"
    TOLERATED = "within tolerance"
    FAIL = "fail"
    NO_DATA = "no data"
    NEW = "new"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    blocking: bool  # fails the check
    message: str


@dataclass(frozen=True)
class Raise:
    """What ``update`` does to one limit."""

    limit: float | None
    changed: bool
    reason: str


def goodness(direction: Direction, value: float) -> float:
    return value if direction == "higher" else -value


def round_toward_worse(direction: Direction, value: float, precision: int) -> float:
    """``value`` rounded to ``precision`` decimals in the direction that makes it easier to meet
    (down for floors, up for ceilings): the result never beats ``value``."""
    quantum = Decimal(1).scaleb(-precision)
    mode = ROUND_FLOOR if direction == "higher" else ROUND_CEILING
    rounded = float(Decimal(repr(float(value))).quantize(quantum, rounding=mode))
    return 0.0 if rounded == 0 else rounded  # no "-0.0" in the file


def same_period(period: Period, last: date | None, today: date) -> bool:
    """True when a raise already happened in ``today``'s period (so ``step`` allows no more)."""
    if last is None or period == "pr":
        return False
    if period == "day":
        return last >= today
    return last.isocalendar()[:2] >= today.isocalendar()[:2]


def next_limit(rule: Rule, achieved: float | None, today: date) -> Raise:
    """The limit after an update with ``achieved`` measured on the default branch (pure)."""
    if not rule.ratchet:
        return Raise(rule.limit, False, "fixed threshold (ratchet: false)")
    if achieved is None or not math.isfinite(achieved):
        return Raise(rule.limit, False, "no measurement")
    d = rule.direction
    g_achieved = goodness(d, achieved)
    if rule.limit is None:
        bound = g_achieved if rule.target is None else min(g_achieved, goodness(d, rule.target))
        start = round_toward_worse(d, goodness(d, bound), rule.precision)
        return Raise(start, True, f"first {rule.limit_name}")
    g_limit = goodness(d, rule.limit)
    if g_achieved <= g_limit:
        return Raise(rule.limit, False, f"not better than the {rule.limit_name}")
    if rule.target is not None and g_limit >= goodness(d, rule.target):
        return Raise(rule.limit, False, "target reached")
    candidate = g_achieved
    reason = "achieved value"
    if rule.step is not None:
        if same_period(rule.period, rule.updated, today):
            return Raise(rule.limit, False, f"already raised this {rule.period}")
        if g_limit + rule.step < candidate:
            candidate, reason = g_limit + rule.step, f"step {rule.step:g} per {rule.period}"
    if rule.target is not None and goodness(d, rule.target) < candidate:
        candidate, reason = goodness(d, rule.target), "target"
    new = round_toward_worse(d, goodness(d, candidate), rule.precision)
    if goodness(d, new) <= g_limit:
        return Raise(rule.limit, False, f"gain below the precision ({rule.precision} decimals)")
    return Raise(new, True, reason)


def fmt(value: float, precision: int = 2) -> str:
    """A value as the table shows it: ``precision`` decimals, trailing zeros dropped."""
    if not math.isfinite(value) or abs(value) >= 1e15:
        return f"{value:g}"
    text = f"{value:.{max(precision, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def evaluate(rule: Rule, head: Reading, today: date | None = None) -> Outcome:
    """The verdict for one metric on a pull request's head (pure)."""
    if head.status == "not_applicable":
        return Outcome(Verdict.NOT_APPLICABLE, False, head.detail or "does not apply")
    if not head.ok:
        why = head.detail or "not measured"
        if rule.required:
            return Outcome(Verdict.NO_DATA, True, f"no data: {why}")
        return Outcome(Verdict.NO_DATA, False, f"no data (advisory): {why}")
    value = float(head.value)  # type: ignore[arg-type]
    if rule.limit is None:
        if rule.ratchet:
            first = next_limit(rule, value, today or date.today()).limit
            return Outcome(Verdict.NEW, False, f"no {rule.limit_name} yet; {fmt(first if first is not None else value, rule.precision)} after merge")
        return Outcome(Verdict.NEW, False, f"no {rule.limit_name} set")
    d = rule.direction
    g_head, g_limit = goodness(d, value), goodness(d, rule.limit)
    if g_head >= g_limit:
        raised = next_limit(rule, value, today or date.today())
        if raised.changed and raised.limit is not None:
            return Outcome(Verdict.IMPROVED, False, f"{rule.limit_name} rises to {fmt(raised.limit, rule.precision)} after merge")
        return Outcome(Verdict.PASS, False, "holds")
    if g_head >= g_limit - rule.tolerance:
        return Outcome(Verdict.TOLERATED, False, f"within tolerance {fmt(rule.tolerance, max(rule.precision, 3))}")
    word = "below floor" if d == "higher" else "above ceiling"
    gap = abs(value - rule.limit)
    if rule.required:
        return Outcome(Verdict.FAIL, True, f"{word} by {fmt(gap, rule.precision)}")
    return Outcome(Verdict.FAIL, False, f"{word} by {fmt(gap, rule.precision)} (advisory)")


def passes(rule: Rule, head: Reading) -> bool:
    return not evaluate(rule, head).blocking
