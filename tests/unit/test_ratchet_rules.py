"""Ratchet semantics: floors/ceilings never move backwards, step/target/tolerance, no data is never a pass."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.ratchets.metrics import Reading, no_data
from trunkline.ratchets.rules import (
    Rule,
    Verdict,
    evaluate,
    goodness,
    next_limit,
    round_toward_worse,
    same_period,
)

TODAY = date(2026, 11, 18)  # a Wednesday
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0.001, max_value=1e4, allow_nan=False, allow_infinity=False)
directions = st.sampled_from(["higher", "lower"])
periods = st.sampled_from(["pr", "day", "week"])
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def rules(draw) -> Rule:
    return Rule(direction=draw(directions), limit=draw(st.none() | values), target=draw(st.none() | values),
                step=draw(st.none() | positive), period=draw(periods), tolerance=draw(st.just(0.0) | positive),
                required=draw(st.booleans()), ratchet=draw(st.booleans()), precision=draw(st.integers(0, 4)),
                updated=draw(st.none() | dates))


@settings(max_examples=300, deadline=None)
@given(rules(), st.none() | values, dates)
def test_a_limit_never_moves_backwards(rule: Rule, achieved: float | None, today: date) -> None:
    raised = next_limit(rule, achieved, today)
    if rule.limit is not None:
        assert raised.limit is not None
        assert goodness(rule.direction, raised.limit) >= goodness(rule.direction, rule.limit)
    if not raised.changed:
        assert raised.limit == rule.limit


@settings(max_examples=300, deadline=None)
@given(rules(), values, dates)
def test_a_raise_never_passes_the_achieved_value_the_step_or_the_target(rule: Rule, achieved: float,
                                                                        today: date) -> None:
    raised = next_limit(rule, achieved, today)
    if not raised.changed:
        return
    d = rule.direction
    assert rule.ratchet
    new = goodness(d, raised.limit)
    assert new <= goodness(d, achieved)  # never past what was achieved
    if rule.target is not None:
        assert new <= goodness(d, rule.target) + 1e-9 * max(1.0, abs(rule.target))
    if rule.limit is not None and rule.step is not None:
        assert new - goodness(d, rule.limit) <= rule.step + 1e-6 * max(1.0, abs(rule.limit))
        assert not same_period(rule.period, rule.updated, today)


@settings(max_examples=300, deadline=None)
@given(rules(), values, dates)
def test_the_commit_that_raised_a_floor_passes_it(rule: Rule, achieved: float, today: date) -> None:
    raised = next_limit(rule, achieved, today)
    after = Rule(**{**rule.__dict__, "limit": raised.limit, "updated": today if raised.changed else rule.updated})
    outcome = evaluate(after, Reading(achieved), today)
    if raised.changed:
        assert not outcome.blocking
        assert outcome.verdict in (Verdict.PASS, Verdict.IMPROVED)


@settings(max_examples=300, deadline=None)
@given(rules(), values)
def test_tolerance_absorbs_noise_and_nothing_more(rule: Rule, head: float) -> None:
    if rule.limit is None:
        return
    outcome = evaluate(rule, Reading(head), TODAY)
    g_head, g_limit = goodness(rule.direction, head), goodness(rule.direction, rule.limit)
    fails = g_head < g_limit - rule.tolerance
    assert (outcome.verdict == Verdict.FAIL) == fails
    assert outcome.blocking == (fails and rule.required)
    if g_limit - rule.tolerance <= g_head < g_limit:
        assert outcome.verdict == Verdict.TOLERATED


@settings(max_examples=150, deadline=None)
@given(rules(), st.sampled_from(["file not found", "no totals", ""]))
def test_missing_data_is_never_a_silent_pass(rule: Rule, why: str) -> None:
    outcome = evaluate(rule, no_data(why), TODAY)
    assert outcome.verdict == Verdict.NO_DATA
    assert outcome.blocking == rule.required
    assert "no data" in outcome.message


@settings(max_examples=200, deadline=None)
@given(directions, values, st.integers(0, 6))
def test_rounding_never_beats_the_value(direction: str, value: float, precision: int) -> None:
    rounded = round_toward_worse(direction, value, precision)
    assert goodness(direction, rounded) <= goodness(direction, value)
    assert abs(rounded - value) <= 10 ** -precision + 1e-9 * max(1.0, abs(value))


@settings(max_examples=200, deadline=None)
@given(rules(), values, dates)
def test_update_is_idempotent_on_the_same_measurement(rule: Rule, achieved: float, today: date) -> None:
    first = next_limit(rule, achieved, today)
    again = next_limit(Rule(**{**rule.__dict__, "limit": first.limit,
                               "updated": today if first.changed else rule.updated}), achieved, today)
    assert again.limit == first.limit or (rule.step is not None and rule.period == "pr")


# --- examples: the semantics in words -------------------------------------------------------------------

def test_floor_moves_to_the_achieved_value_rounded_down() -> None:
    raised = next_limit(Rule(limit=80.0), 82.3456, TODAY)
    assert (raised.limit, raised.changed) == (82.34, True)


def test_ceiling_moves_down_rounded_up() -> None:
    raised = next_limit(Rule(direction="lower", limit=250.0), 181.111, TODAY)
    assert (raised.limit, raised.changed) == (181.12, True)


def test_worse_value_keeps_the_floor() -> None:
    assert next_limit(Rule(limit=80.0), 75.0, TODAY) == next_limit(Rule(limit=80.0), 75.0, TODAY)
    assert next_limit(Rule(limit=80.0), 75.0, TODAY).limit == 80.0
    assert not next_limit(Rule(limit=80.0), 75.0, TODAY).changed


def test_step_per_pr_limits_the_move() -> None:
    raised = next_limit(Rule(limit=80.0, step=0.5), 90.0, TODAY)
    assert raised.limit == 80.5 and "step" in raised.reason


def test_step_per_day_allows_one_raise_per_utc_day() -> None:
    rule = Rule(limit=80.0, step=1.0, period="day", updated=TODAY)
    assert not next_limit(rule, 90.0, TODAY).changed
    assert next_limit(rule, 90.0, TODAY + timedelta(days=1)).limit == 81.0


def test_step_per_week_uses_iso_weeks() -> None:
    rule = Rule(limit=80.0, step=1.0, period="week", updated=TODAY)  # Wednesday
    assert not next_limit(rule, 90.0, TODAY + timedelta(days=4)).changed  # Sunday, same ISO week
    assert next_limit(rule, 90.0, TODAY + timedelta(days=5)).changed  # Monday


def test_target_caps_the_floor_and_stops_it() -> None:
    assert next_limit(Rule(limit=90.0, target=95.0), 99.0, TODAY).limit == 95.0
    assert not next_limit(Rule(limit=95.0, target=95.0), 99.0, TODAY).changed


def test_first_floor_is_the_achieved_value_capped_at_target() -> None:
    assert next_limit(Rule(), 71.239, TODAY).limit == 71.23
    assert next_limit(Rule(target=70.0, step=0.1), 71.239, TODAY).limit == 70.0


def test_fixed_threshold_never_moves() -> None:
    assert not next_limit(Rule(limit=80.0, ratchet=False), 99.0, TODAY).changed


def test_verdicts() -> None:
    rule = Rule(limit=80.0, tolerance=0.5)
    assert evaluate(rule, Reading(81.0), TODAY).verdict == Verdict.IMPROVED
    assert evaluate(rule, Reading(80.0), TODAY).verdict == Verdict.PASS
    assert evaluate(rule, Reading(79.6), TODAY).verdict == Verdict.TOLERATED
    failing = evaluate(rule, Reading(70.0), TODAY)
    assert failing.verdict == Verdict.FAIL and failing.blocking and failing.message == "below floor by 10"
    advisory = evaluate(Rule(limit=80.0, required=False), Reading(70.0), TODAY)
    assert advisory.verdict == Verdict.FAIL and not advisory.blocking
    assert evaluate(Rule(), Reading(50.0), TODAY).verdict == Verdict.NEW
    assert evaluate(rule, Reading(None, "not_applicable", "no lines"), TODAY).verdict == Verdict.NOT_APPLICABLE
    ceiling = evaluate(Rule(direction="lower", limit=100.0), Reading(120.0), TODAY)
    assert ceiling.blocking and ceiling.message == "above ceiling by 20"


@pytest.mark.parametrize(("period", "last", "today", "same"), [
    ("pr", TODAY, TODAY, False),
    ("day", TODAY, TODAY, True),
    ("day", TODAY - timedelta(days=1), TODAY, False),
    ("week", date(2026, 12, 28), date(2027, 1, 3), True),  # ISO week 53 of 2026 spans the new year
    ("week", date(2026, 12, 27), date(2026, 12, 28), False),
])
def test_periods(period: str, last: date, today: date, same: bool) -> None:
    assert same_period(period, last, today) == same
