"""Mann-Whitney U, Cliff's delta and the per-benchmark verdict: known values and properties."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trunkline.perf.compare import judge
from trunkline.perf.stats import (
    cliffs_delta,
    exact_distribution,
    mann_whitney,
    median,
    ranks,
    relative_change,
    u_statistic,
)

# scipy.stats.mannwhitneyu's documented example (males vs females ages): U1 = 17,
# p = 0.1111111111111111 (method="exact"), p = 0.11134688653314041 (method="asymptotic")
MALES, FEMALES = [19, 22, 16, 29, 24], [20, 11, 17, 12]


def test_known_values_from_scipys_documentation() -> None:
    exact = mann_whitney(MALES, FEMALES)
    assert exact.method == "exact" and exact.u == 17
    assert exact.p_value == pytest.approx(0.1111111111111111, abs=1e-12)
    normal = mann_whitney(MALES, FEMALES, exact_limit=0)
    assert normal.method == "asymptotic"
    assert normal.p_value == pytest.approx(0.11134688653314041, abs=1e-12)


def test_known_small_cases() -> None:
    # completely separated samples of 3: only 2 of the C(6,3) = 20 orderings are as extreme
    assert mann_whitney([1, 2, 3], [4, 5, 6]).p_value == pytest.approx(2 / 20)
    assert mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p_value == pytest.approx(2 / 252)
    # ties force the normal approximation with the tie correction
    tied = mann_whitney([1, 2, 2, 3], [2, 3, 3, 4])
    assert tied.method == "asymptotic" and 0 < tied.p_value < 1
    # pairs won by x, ties half: 1 → 0, 2 → 0.5, 2 → 0.5, 3 → 1 + 0.5 + 0.5
    assert u_statistic([1, 2, 2, 3], [2, 3, 3, 4]) == 3.0
    assert ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert cliffs_delta([4, 5, 6], [1, 2, 3]) == 1.0 and cliffs_delta([1, 2, 3], [4, 5, 6]) == -1.0
    assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    assert relative_change([1.0, 1.0, 1.0], [1.1, 1.1, 1.1]) == pytest.approx(0.1)
    assert relative_change([0.0], [1.0]) is None


def test_all_values_equal_is_no_evidence() -> None:
    result = mann_whitney([2.0] * 6, [2.0] * 9)
    assert result.p_value == 1.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=12), st.lists(st.integers(0, 6), min_size=1, max_size=12))
def test_u_counts_the_pairs_each_sample_wins(x: list[int], y: list[int]) -> None:
    pairs = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)
    assert u_statistic(x, y) == pairs
    assert cliffs_delta(x, y) == pytest.approx(2 * pairs / (len(x) * len(y)) - 1)


@pytest.mark.parametrize(("m", "n"), [(1, 1), (2, 3), (3, 3), (4, 2), (5, 4)])
def test_exact_distribution_matches_brute_force(m: int, n: int) -> None:
    counts = [0] * (m * n + 1)
    for xs in itertools.combinations(range(m + n), m):  # positions of the x's in the ordering
        ys = [i for i in range(m + n) if i not in xs]
        counts[sum(1 for x in xs for y in ys if x > y)] += 1
    assert exact_distribution(m, n) == counts


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 25), st.integers(1, 25))
def test_exact_distribution_is_a_symmetric_distribution_over_all_orderings(m: int, n: int) -> None:
    counts = exact_distribution(m, n)
    assert sum(counts) == math.comb(m + n, m)
    assert counts == counts[::-1]
    assert exact_distribution(n, m) == counts


timing = st.floats(min_value=1e-6, max_value=1.0, allow_nan=False, allow_infinity=False)
samples = st.lists(timing, min_size=5, max_size=40)


@settings(max_examples=150, deadline=None)
@given(samples)
def test_identical_samples_are_unchanged(base: list[float]) -> None:
    result = judge("b", base, list(base))
    assert result.verdict == "unchanged"
    assert result.p_value == 1.0 and result.cliffs_delta == 0.0 and result.change == 0.0


@settings(max_examples=150, deadline=None)
@given(samples, st.floats(min_value=1.0, max_value=50.0))
def test_head_shifted_far_above_every_base_sample_is_slower(base: list[float], factor: float) -> None:
    shift = factor * max(base)  # every head sample is above every base sample, by a large factor
    head = [x + shift + 1e-9 for x in base]
    result = judge("b", base, head)
    assert result.verdict == "slower", result
    assert result.cliffs_delta == 1.0 and result.change >= 1.0
    assert judge("b", head, base).verdict == "faster"


@settings(max_examples=150, deadline=None)
@given(samples, samples)
def test_comparing_the_other_way_round_mirrors_the_verdict(base: list[float], head: list[float]) -> None:
    forward, backward = judge("b", base, head), judge("b", head, base)
    assert forward.p_value == pytest.approx(backward.p_value, abs=1e-12)
    assert forward.cliffs_delta == pytest.approx(-backward.cliffs_delta, abs=1e-12)
    mirror = {"slower": "faster", "faster": "slower", "unchanged": "unchanged"}
    if forward.verdict == "unchanged" or backward.verdict == "unchanged":
        # the effect floor is relative to each side's own base median, so only agreement on the test
        # (not on the floor) is symmetric; a verdict never flips to the same direction
        assert {forward.verdict, backward.verdict} != {"slower"} and {forward.verdict, backward.verdict} != {"faster"}
    else:
        assert backward.verdict == mirror[forward.verdict]
    assert 0 < forward.p_value <= 1
    assert u_statistic(base, head) + u_statistic(head, base) == pytest.approx(len(base) * len(head))


@settings(max_examples=60, deadline=None)
@given(st.lists(timing, min_size=15, max_size=25, unique=True), st.lists(timing, min_size=15, max_size=25, unique=True))
def test_exact_and_normal_approximation_agree_on_mid_sized_samples(x: list[float], y: list[float]) -> None:
    assume(not set(x) & set(y))
    exact = mann_whitney(x, y)
    normal = mann_whitney(x, y, exact_limit=0)
    assert exact.method == "exact" and normal.method == "asymptotic"
    assert exact.p_value == pytest.approx(normal.p_value, abs=0.02)


def test_too_few_rounds_is_no_data_not_a_pass() -> None:
    result = judge("b", [1.0, 2.0, 3.0], [10.0, 20.0, 30.0])
    assert result.verdict == "no data" and "too few rounds" in result.reason


def test_a_significant_but_tiny_change_is_below_the_effect_floor() -> None:
    base = [1.0 + i * 1e-4 for i in range(30)]
    head = [x * 1.01 for x in base]  # +1 %: consistent but under the 5 % floor
    result = judge("b", base, head)
    assert result.p_value < 0.05 and result.verdict == "unchanged" and "moved only" in result.reason
    assert judge("b", base, head, min_change=0.005).verdict == "slower"
