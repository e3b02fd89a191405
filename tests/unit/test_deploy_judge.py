"""The latency judge: Mann-Whitney U (checked against independent computations) + an effect floor."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.deploy.judge import judge_latency
from trunkline.deploy.rules import LatencyRuleSpec
from trunkline.perf.stats import mann_whitney, median

SPEC = LatencyRuleSpec()  # alpha 0.05, 1.2x and +5 ms, 8 samples


def brute_force_p(x, y):
    """Exact two-sided permutation p-value of U: every way to split the pooled values."""
    pooled = list(x) + list(y)

    def u(first, second):
        return sum((a > b) + 0.5 * (a == b) for a in first for b in second)

    mean = len(x) * len(y) / 2
    observed = abs(u(x, y) - mean)
    total = extreme = 0
    for chosen in itertools.combinations(range(len(pooled)), len(x)):
        picked = set(chosen)
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in range(len(pooled)) if i not in picked]
        total += 1
        extreme += abs(u(first, second) - mean) >= observed - 1e-9
    return min(1.0, extreme / total)


def textbook_normal_p(x, y):
    """Normal approximation with the tie-corrected variance and continuity correction, from pair counts."""
    m, n = len(x), len(y)
    u = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    pooled = list(x) + list(y)
    ties = [pooled.count(v) for v in set(pooled)]
    big_n = m + n
    variance = m * n / 12 * ((big_n + 1) - sum(t ** 3 - t for t in ties) / (big_n * (big_n - 1)))
    if variance == 0:
        return 1.0
    z = max(abs(u - m * n / 2) - 0.5, 0) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2)))


distinct_samples = st.lists(st.integers(0, 10_000), min_size=2, max_size=12, unique=True)


@given(distinct_samples, st.integers(1, 11))
@settings(max_examples=80, deadline=None)
def test_exact_p_value_matches_a_brute_force_permutation_test(values, cut):
    cut = min(cut, len(values) - 1)
    x, y = values[:cut], values[cut:]
    assert mann_whitney(x, y).method == "exact"
    assert mann_whitney(x, y).p_value == pytest.approx(brute_force_p(x, y), abs=1e-9)


@given(st.lists(st.integers(0, 6), min_size=3, max_size=40), st.lists(st.integers(0, 6), min_size=3, max_size=40))
@settings(max_examples=100)
def test_tied_samples_match_the_textbook_normal_approximation(x, y):
    test = mann_whitney(x, y)
    if test.method == "asymptotic":
        assert test.p_value == pytest.approx(textbook_normal_p(x, y), abs=1e-9)


def test_scipy_agrees_when_installed():
    scipy_stats = pytest.importorskip("scipy.stats")
    rnd = random.Random(1)
    x = [rnd.gauss(10, 2) for _ in range(30)]
    y = [rnd.gauss(11, 2) for _ in range(25)]
    expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided").pvalue
    assert mann_whitney(x, y).p_value == pytest.approx(expected, rel=1e-6)


def samples(rnd, centre, spread, n=20):
    return [max(0.1, rnd.gauss(centre, spread)) for _ in range(n)]


def test_clearly_slower_canary_fails():
    rnd = random.Random(11)
    result, detail = judge_latency(samples(rnd, 90, 5), samples(rnd, 10, 2), SPEC)
    assert result == "fail"
    assert "canary is slower" in detail and "p = " in detail and "Cliff's delta +1.00" in detail


@pytest.mark.parametrize("seed", range(5))
def test_same_distribution_passes(seed):
    rnd = random.Random(seed)
    result, detail = judge_latency(samples(rnd, 10, 2), samples(rnd, 10, 2), SPEC)
    assert result == "pass", detail


def test_too_few_samples_is_nodata():
    result, detail = judge_latency([100.0] * 7, [1.0] * 30, SPEC)
    assert result == "nodata"
    assert "7 canary, 30 stable" in detail


def test_significant_but_tiny_difference_passes():
    rnd = random.Random(5)
    stable = [rnd.uniform(1.0, 1.2) for _ in range(200)]
    canary = [v + 0.5 for v in stable]  # surely slower, but half a millisecond
    result, detail = judge_latency(canary, stable, SPEC)
    assert result == "pass"
    assert "effect floor" in detail


def test_faster_canary_passes():
    rnd = random.Random(9)
    assert judge_latency(samples(rnd, 5, 1), samples(rnd, 50, 3), SPEC)[0] == "pass"


def test_identical_latencies_pass():
    assert judge_latency([3.0] * 10, [3.0] * 10, SPEC)[0] == "pass"


def test_zero_stable_latency_does_not_divide_by_zero():
    assert judge_latency([20.0] * 10, [0.0] * 10, SPEC)[0] == "fail"


@given(st.lists(st.floats(0, 1000), min_size=8, max_size=30), st.lists(st.floats(0, 1000), min_size=8, max_size=30))
@settings(max_examples=100)
def test_never_fails_a_canary_that_is_not_slower(canary, stable):
    if median(canary) <= median(stable):
        assert judge_latency(canary, stable, SPEC)[0] == "pass"
