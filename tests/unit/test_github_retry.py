"""The pure retry decision of trunkline.github.retry (GitHub's documented rate-limit rules)."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.github.retry import (
    ALL_METHODS,
    IDEMPOTENT_METHODS,
    RetryOptions,
    needs_body,
    parse_retry_after,
    plan_retry,
)

NOW = 1_800_000_000.0
OPTS = RetryOptions(total=4, backoff_factor=0.5, backoff_max=8.0, max_wait=60.0, secondary_rate_wait=60.0)
methods = st.sampled_from(sorted(ALL_METHODS))
attempts = st.integers(min_value=1, max_value=OPTS.total)


@given(method=methods, status=st.integers(500, 599), attempt=attempts)
def test_5xx_retried_only_for_idempotent_methods(method: str, status: int, attempt: int) -> None:
    plan = plan_retry(method, status, {}, None, attempt, now=NOW, options=OPTS)
    assert plan.retry is (method in IDEMPOTENT_METHODS)
    if plan.retry:
        assert 0 < plan.wait <= OPTS.backoff_max


def test_5xx_backoff_grows_and_is_capped() -> None:
    waits = [plan_retry("GET", 502, {}, None, a, now=NOW, options=RetryOptions(total=10)).wait for a in range(1, 8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@given(method=methods, seconds=st.integers(0, 60), attempt=attempts)
def test_retry_after_is_obeyed_for_every_method(method: str, seconds: int, attempt: int) -> None:
    for status in (403, 429):
        plan = plan_retry(method, status, {"retry-after": str(seconds)}, None, attempt, now=NOW, options=OPTS)
        assert plan.retry and plan.wait == seconds and plan.reason == "retry-after"


@given(seconds=st.integers(61, 100_000))
def test_waits_beyond_the_cap_are_not_slept(seconds: int) -> None:
    plan = plan_retry("GET", 429, {"retry-after": str(seconds)}, None, 1, now=NOW, options=OPTS)
    assert not plan.retry and plan.exceeds_max_wait and plan.wait == seconds


def test_retry_after_as_http_date() -> None:
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(date, NOW) == pytest.approx(30)
    assert parse_retry_after("garbage", NOW) is None
    plan = plan_retry("GET", 429, {"retry-after": date}, None, 1, now=NOW, options=OPTS)
    assert plan.retry and plan.wait == pytest.approx(30)


@given(delta=st.integers(0, 58))
def test_primary_rate_limit_waits_for_reset(delta: int) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + delta)}
    plan = plan_retry("POST", 403, headers, None, 1, now=NOW, options=OPTS)
    assert plan.retry and plan.wait == delta + 1 and plan.reason == "primary rate limit"
    assert not needs_body(403, headers)


def test_primary_rate_limit_reset_an_hour_away_fails_fast() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 3000)}
    plan = plan_retry("GET", 403, headers, None, 1, now=NOW, options=OPTS)
    assert not plan.retry and plan.exceeds_max_wait and plan.wait == 3001


def test_403_needs_its_message() -> None:
    headers = {"x-ratelimit-remaining": "4999"}
    assert needs_body(403, headers) and not needs_body(429, headers) and not needs_body(502, headers)
    secondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    plan = plan_retry("POST", 403, headers, secondary, 1, now=NOW, options=OPTS)
    assert plan.retry and plan.wait == OPTS.secondary_rate_wait
    plain = plan_retry("GET", 403, headers, "Resource not accessible by integration", 1, now=NOW, options=OPTS)
    assert not plain.retry and not plain.exceeds_max_wait


def test_429_without_hints_is_a_secondary_limit() -> None:
    plan = plan_retry("PATCH", 429, {"x-ratelimit-remaining": "10"}, None, 1, now=NOW, options=OPTS)
    assert plan.retry and plan.wait == OPTS.secondary_rate_wait


@given(method=methods, status=st.integers(100, 499).filter(lambda s: s not in (403, 429)), attempt=attempts)
def test_other_statuses_are_never_retried(method: str, status: int, attempt: int) -> None:
    assert not plan_retry(method, status, {"retry-after": "1"}, None, attempt, now=NOW, options=OPTS).retry


@given(method=methods, status=st.sampled_from([403, 429, 500, 502, 503]))
def test_out_of_retries(method: str, status: int) -> None:
    plan = plan_retry(method, status, {"retry-after": "1"}, None, OPTS.total + 1, now=NOW, options=OPTS)
    assert not plan.retry


def test_custom_idempotent_set_allows_safe_posts() -> None:
    assert plan_retry("POST", 502, {}, None, 1, now=NOW, options=OPTS, idempotent_methods=ALL_METHODS).retry
