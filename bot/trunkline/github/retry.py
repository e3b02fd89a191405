"""When to retry a GitHub request, and the urllib3 ``Retry`` that does it (and observes every attempt).

The decision is the pure function :func:`plan_retry`, following GitHub's documented rules
("Best practices for using the REST API" / "Rate limits for the REST API"):

* a rate-limited request (429, or 403 that says so) was not processed, so it is retried whatever its
  method, after ``Retry-After`` seconds if given, else until ``X-RateLimit-Reset`` when
  ``X-RateLimit-Remaining`` is 0, else after ``secondary_rate_wait`` (GitHub: "at least one minute");
* a 5xx is retried with exponential backoff only for idempotent methods: a POST that timed out on
  GitHub's side may have been applied, and we must never create a comment or check run twice;
* a wait longer than ``max_wait`` is not slept through: the request fails with PyGithub's
  ``RateLimitExceededExceedsMaxWait`` (carrying ``.wait``) so the job layer can reschedule.

:class:`GitHubRetry` plugs the decision into urllib3 (it subclasses PyGithub's ``GithubRetry`` for its
body-reading helper). It is also the per-attempt *observer*: PyGithub carries the ``retry`` object into
every ``Requester`` it derives (``withLazy``, ``withAuth``...), and urllib3 consults it after every
response, so it is the one place that sees each HTTP attempt, retried or not, with its status and
headers. To get there for successful responses too, :meth:`GitHubRetry.is_retry` answers yes to
everything and :meth:`GitHubRetry.increment` declines non-retryable responses by raising
``MaxRetryError`` — with ``raise_on_status=False`` urllib3 then hands the untouched response back.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from github.GithubException import RateLimitExceededExceedsMaxWait
from github.GithubRetry import GithubRetry
from github.Requester import Requester
from urllib3 import Retry
from urllib3.exceptions import MaxRetryError

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
ALL_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"})

# observer(method, status, lower-cased headers); status 0 = no response (connection/read error)
Observer = Callable[[str, int, Mapping[str, str]], None]


@dataclass(frozen=True)
class RetryOptions:
    total: int = 4  # retries after the first attempt
    backoff_factor: float = 0.5  # 5xx: 0.5, 1, 2, 4 s ...
    backoff_max: float = 8.0
    max_wait: float = 60.0  # never sleep longer than this for one retry
    secondary_rate_wait: float = 60.0


@dataclass(frozen=True)
class RetryPlan:
    retry: bool
    wait: float = 0.0
    reason: str = ""
    exceeds_max_wait: bool = False


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if unparsable."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - now)


def needs_body(status: int, headers: Mapping[str, str]) -> bool:
    """Whether the decision needs the response message (a 403 that may or may not be a rate limit)."""
    return status == 403 and "retry-after" not in headers and headers.get("x-ratelimit-remaining") != "0"


def plan_retry(method: str, status: int, headers: Mapping[str, str], message: str | None, attempt: int, *,
               now: float, options: RetryOptions = RetryOptions(),
               idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS) -> RetryPlan:
    """Retry decision for one response. ``headers`` lower-cased; ``attempt`` counts from 1 (the
    attempt that produced this response); ``message`` is the body's ``message`` (only needed when
    :func:`needs_body`)."""
    if attempt > options.total:
        return RetryPlan(False, reason="out of retries")
    if status in (403, 429):
        retry_after = headers.get("retry-after")
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if retry_after is not None and parse_retry_after(retry_after, now) is not None:
            wait, reason = parse_retry_after(retry_after, now) or 0.0, "retry-after"
        elif remaining == "0" and reset is not None and reset.strip().isdigit():
            # +1: the reset second itself may still be limited
            wait, reason = max(0.0, int(reset) - now) + 1.0, "primary rate limit"
        elif status == 429 or (message is not None and Requester.isRateLimitError(message)):
            wait, reason = options.secondary_rate_wait, "secondary rate limit"
        else:
            return RetryPlan(False, reason="forbidden")
        if wait > options.max_wait:
            return RetryPlan(False, wait=wait, reason=reason, exceeds_max_wait=True)
        return RetryPlan(True, wait=wait, reason=reason)
    if 500 <= status <= 599:
        if method.upper() not in idempotent_methods:
            return RetryPlan(False, reason="server error on a non-idempotent method")
        wait = min(options.backoff_max, options.backoff_factor * (2 ** (attempt - 1)))
        return RetryPlan(True, wait=wait, reason="server error")
    return RetryPlan(False)


def _message(content: bytes) -> str | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data.get("message") if isinstance(data, dict) else None


def _data(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


class GitHubRetry(GithubRetry):
    """urllib3 retry policy implementing :func:`plan_retry`, reporting every attempt to ``observer``."""

    def __init__(self, *, observer: Observer | None = None, options: RetryOptions = RetryOptions(),
                 idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS, **kw: Any) -> None:
        self.observer = observer
        self.options = options
        self.idempotent_methods = frozenset(m.upper() for m in idempotent_methods)
        self._planned_wait: float | None = None
        kw.setdefault("total", options.total)
        kw.setdefault("backoff_factor", options.backoff_factor)
        kw.setdefault("backoff_max", options.backoff_max)
        kw["raise_on_status"] = False  # hand non-retried responses back (PyGithub raises its own errors)
        kw["allowed_methods"] = self.idempotent_methods  # read errors: retried for idempotent methods only
        kw.pop("secondary_rate_wait", None)
        kw.pop("max_rate_limit_wait", None)
        super().__init__(secondary_rate_wait=options.secondary_rate_wait, max_rate_limit_wait=options.max_wait,
                         **kw)

    def new(self, **kw: Any) -> GitHubRetry:
        kw.update(observer=self.observer, options=self.options, idempotent_methods=self.idempotent_methods)
        return Retry.new(self, **kw)  # type: ignore[return-value]

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return True  # every response goes through increment(), which decides and observes

    def _observe(self, method: str | None, status: int, headers: Mapping[str, str]) -> None:
        if self.observer is None:
            return
        try:
            self.observer((method or "").upper(), status, headers)
        except Exception:  # noqa: BLE001 - metrics must never break a request
            log.exception("GitHub request observer failed")

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Retry:
        if response is None:  # no response: urllib3's rules (connect errors always, read errors if idempotent)
            self._observe(method, 0, {})
            return Retry.increment(self, method, url, response, error, _pool, _stacktrace)
        status = int(response.status)
        headers = {k.lower(): v for k, v in response.headers.items()}
        self._observe(method, status, headers)
        content: bytes | None = None
        if needs_body(status, headers):
            content = GithubRetry.get_content(response, url or "")  # consumes the body
        plan = plan_retry(method or "GET", status, headers, _message(content) if content is not None else None,
                          len(self.history) + 1, now=time.time(), options=self.options,
                          idempotent_methods=self.idempotent_methods)
        if plan.exceeds_max_wait:
            if content is None:
                content = GithubRetry.get_content(response, url or "")
            log.info("%s %s: %s needs a %.0fs wait (> %.0fs): giving up", method, url, plan.reason, plan.wait,
                     self.options.max_wait)
            raise RateLimitExceededExceedsMaxWait(status, _data(content), headers, wait=plan.wait)
        if not plan.retry:
            if content is not None:  # we read the body, so raise what PyGithub would have raised from it
                raise Requester.createException(status, headers, _data(content))
            raise MaxRetryError(_pool, url or "", None)  # not retried: urllib3 returns the response as is
        log.info("%s %s answered %s (%s): retrying in %.2fs", method, url, status, plan.reason, plan.wait)
        try:
            new = Retry.increment(self, method, url, response, None, _pool, _stacktrace)
        except MaxRetryError:
            if content is not None:
                raise Requester.createException(status, headers, _data(content)) from None
            raise
        assert isinstance(new, GitHubRetry)
        new._planned_wait = plan.wait
        return new

    def sleep(self, response: Any = None) -> None:
        if self._planned_wait is None:
            super().sleep(response)
        elif self._planned_wait > 0:
            time.sleep(self._planned_wait)
