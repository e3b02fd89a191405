"""The window rule: failures in a sliding window alert / roll back, errors make it inconclusive."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from trunkline.deploy.probes import Measurement
from trunkline.deploy.rules import SEVERITY, LatencyRuleSpec, RulesSpec, consecutive_errors, evaluate

SEED = RulesSpec()  # window 300 s, alert 2, rollback 3, 5 consecutive errors

outcomes = st.sampled_from(["ok", "fail", "error"])


@st.composite
def timelines(draw, probes=("health",), max_size=40):
    """Measurements at increasing times (gaps up to 120 s), and a `now` at or after the last one."""
    size = draw(st.integers(0, max_size))
    at = 1_000.0
    result = []
    for _ in range(size):
        at += draw(st.floats(0.5, 120.0))
        result.append(Measurement(draw(st.sampled_from(probes)), "canary", at, draw(outcomes),
                                  draw(st.one_of(st.none(), st.floats(0, 500))), ""))
    now = at + draw(st.floats(0, 400))
    return result, now


def severity(verdict) -> int:
    return SEVERITY.index(verdict.action)


def fails_in_window(window, now, seconds=300):
    return sum(1 for m in window if m.outcome == "fail" and now - seconds < m.at <= now)


@given(timelines(probes=("health", "metrics", "ws")))
@settings(max_examples=150)
def test_verdict_follows_the_counts(case):
    window, now = case
    verdict = evaluate(window, SEED, now)
    failures = fails_in_window(window, now)
    runs = consecutive_errors(window)
    assert verdict.failures == failures
    assert verdict.errors == sum(1 for m in window if m.outcome == "error" and now - 300 < m.at <= now)
    if failures >= 3:
        assert verdict.action == "rollback"
    elif max(runs.values(), default=0) >= 5:
        assert verdict.action == "inconclusive"
    elif failures == 2:
        assert verdict.action == "alert"
    else:
        assert verdict.action == "continue"
    assert verdict.latency == "off"
    assert verdict.reasons


@given(st.integers(0, 6), st.lists(st.sampled_from(["ok", "error"]), max_size=12), st.randoms())
def test_two_failures_alert_three_roll_back(k, noise, rnd):
    """k failures spread in the window among oks and (not yet 5 consecutive) errors."""
    outcomes_ = ["fail"] * k + noise
    rnd.shuffle(outcomes_)
    # keep the error runs below the limit: an ok after every 4th error in a row
    window, run, at = [], 0, 10_000.0
    for outcome in outcomes_:
        if outcome == "error" and run == 4:
            window.append(Measurement("health", "canary", at, "ok", 1.0, ""))
            at += 1
            run = 0
        run = run + 1 if outcome == "error" else (0 if outcome == "ok" else run)
        window.append(Measurement("health", "canary", at, outcome, None, ""))
        at += 1
    verdict = evaluate(window, SEED, at)
    expected = "rollback" if k >= 3 else "alert" if k == 2 else "continue"
    assert verdict.action == expected, verdict.reasons
    assert verdict.failures == k


@given(timelines(), st.lists(st.floats(300.0, 10_000.0), max_size=10))
def test_failures_outside_the_window_do_not_count(case, ages):
    window, now = case
    old = [Measurement("health", "canary", now - age, "fail", 1.0, "old") for age in ages]
    before, after = evaluate(window, SEED, now), evaluate(window + old, SEED, now)
    assert after.failures == before.failures
    assert after.action == before.action


@given(timelines())
def test_future_measurements_do_not_count(case):
    window, now = case
    later = [Measurement("health", "canary", now + 1 + i, "fail", 1.0, "") for i in range(5)]
    assert evaluate(window + later, SEED, now) == evaluate(window, SEED, now)


@given(timelines(), st.data())
def test_errors_never_count_as_failures(case, data):
    window, now = case
    if not window:
        return
    index = data.draw(st.integers(0, len(window) - 1))
    m = window[index]
    as_error = window[:index] + [Measurement(m.probe, m.target, m.at, "error", None, "refused")] + window[index + 1:]
    before, after = evaluate(window, SEED, now), evaluate(as_error, SEED, now)
    assert after.failures == before.failures - (1 if m.outcome == "fail" and now - 300 < m.at <= now else 0)
    assert after.failures <= before.failures


@given(st.lists(outcomes, max_size=20), st.integers(5, 12))
def test_consecutive_errors_are_inconclusive(prefix, errors):
    window = [Measurement("health", "canary", 100.0 + i, o, None, "") for i, o in enumerate(prefix)]
    start = 100.0 + len(prefix)
    window += [Measurement("health", "canary", start + i, "error", None, "refused") for i in range(errors)]
    verdict = evaluate(window, SEED, start + errors)
    if sum(1 for o in prefix if o == "fail") >= 3:
        assert verdict.action == "rollback"  # enough evidence against the canary already
    else:
        assert verdict.action == "inconclusive"
        assert verdict.consecutive_errors >= 5
        assert any("could not reach" in r for r in verdict.reasons)


def test_four_errors_then_ok_is_not_inconclusive():
    window = [Measurement("health", "canary", float(i), "error", None, "") for i in range(4)]
    window.append(Measurement("health", "canary", 4.0, "ok", 1.0, ""))
    window += [Measurement("health", "canary", 5.0 + i, "error", None, "") for i in range(4)]
    assert evaluate(window, SEED, 10.0).action == "continue"


def test_errors_of_another_probe_do_not_join_a_run():
    window = []
    for i in range(8):  # health keeps answering, metrics alternates
        window.append(Measurement("health", "canary", 2.0 * i, "ok", 1.0, ""))
        window.append(Measurement("metrics", "canary", 2.0 * i + 1, "error" if i % 2 else "ok", None, ""))
    assert evaluate(window, SEED, 20.0).action == "continue"


@given(timelines(probes=("a", "b")), st.lists(st.floats(0.0, 299.0), min_size=1, max_size=5))
@settings(max_examples=200)
def test_verdict_is_monotonic_in_added_failures(case, ages):
    window, now = case
    added = [Measurement("a", "canary", now - age, "fail", 1.0, "") for age in ages]
    before, after = evaluate(window, SEED, now), evaluate(window + added, SEED, now)
    assert severity(after) >= severity(before)
    assert after.failures == before.failures + len(added)


@given(timelines(probes=("a", "b")), st.randoms())
def test_order_of_the_window_does_not_matter(case, rnd):
    window, now = case
    shuffled = list(window)
    rnd.shuffle(shuffled)
    assert evaluate(shuffled, SEED, now) == evaluate(window, SEED, now)


@given(timelines())
def test_stable_measurements_never_count_against_the_canary(case):
    window, now = case
    stable = [Measurement(m.probe, "stable", m.at, "fail", m.latency_ms, "") for m in window]
    assert evaluate(window + stable, SEED, now).action == evaluate(window, SEED, now).action


@given(timelines())
def test_measurements_round_trip_as_json(case):
    import json

    window, _ = case
    assert [Measurement.from_dict(json.loads(json.dumps(m.to_dict()))) for m in window] == window


def test_latency_rule_nodata_is_its_own_outcome():
    rules = RulesSpec(latency=LatencyRuleSpec())
    window = [Measurement("health", "canary", float(i), "ok", 5.0, "") for i in range(20)]
    verdict = evaluate(window, rules, 30.0)
    assert verdict.latency == "nodata"
    assert verdict.action == "continue"
    assert not verdict.may_promote
    assert any("too few latency samples" in r for r in verdict.reasons)


def test_latency_rule_slower_canary_rolls_back():
    rnd = random.Random(7)
    rules = RulesSpec(latency=LatencyRuleSpec(probe="health"))
    window = [Measurement("health", "stable", float(i), "ok", rnd.uniform(4, 6), "") for i in range(20)]
    window += [Measurement("health", "canary", float(i), "ok", rnd.uniform(80, 90), "") for i in range(20)]
    window += [Measurement("other", "canary", float(i), "ok", 1.0, "") for i in range(20)]  # not the rule's probe
    verdict = evaluate(window, rules, 30.0)
    assert verdict.latency == "fail" and verdict.action == "rollback"
    assert verdict.failures == 0
    assert not verdict.may_promote


def test_latency_rule_same_speed_passes_and_may_promote():
    rnd = random.Random(3)
    rules = RulesSpec(latency=LatencyRuleSpec())
    window = [Measurement("health", target, float(i), "ok", rnd.uniform(4, 6), "")
              for i in range(20) for target in ("stable", "canary")]
    verdict = evaluate(window, rules, 30.0)
    assert verdict.latency == "pass" and verdict.action == "continue" and verdict.may_promote
    assert verdict.to_dict()["may_promote"] is True


def test_alert_may_not_promote():
    window = [Measurement("health", "canary", float(i), "fail", 1.0, "500") for i in range(2)]
    verdict = evaluate(window, SEED, 5.0)
    assert verdict.action == "alert" and not verdict.may_promote
    assert verdict.failing_probes == ("health",)
    assert "500" in verdict.reasons[0]


@pytest.mark.parametrize("data,message", [
    ({"alert_failures": 4, "rollback_failures": 3}, "must not exceed"),
    ({"window_seconds": 0}, "greater than 0"),
    ({"max_consecutive_errors": 0}, "greater than or equal to 1"),
    ({"window": 60}, "Extra inputs"),
    ({"latency": {"alpha": 1.5}}, "less than 1"),
    ({"latency": {"min_effect": 0.5}}, "greater than or equal to 1"),
])
def test_bad_rules_are_refused(data, message):
    with pytest.raises(ValidationError, match=message):
        RulesSpec.model_validate(data)
