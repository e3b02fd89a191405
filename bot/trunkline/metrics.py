"""Prometheus metrics for the bot (served at ``/metrics`` by the ingest app).

Everything is registered once, at import, on prometheus-client's default registry. Other parts of
the bot record through the small functions below rather than touching the metric objects, e.g. the
GitHub client calls :func:`observe_github_request` after every request.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

DELIVERIES = Counter(
    "trunkline_deliveries",
    "Webhook deliveries by event and outcome (ingest: queued/duplicate/rejected_*; "
    "worker: done/retry/failed/deferred)",
    ["event", "outcome"],
)
QUEUE_DEPTH = Gauge("trunkline_queue_depth", "Tasks waiting in the job queue")
HANDLER_LATENCY = Histogram(
    "trunkline_handler_seconds",
    "Time the processor took for one delivery",
    ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
GITHUB_REQUESTS = Counter(
    "trunkline_github_requests", "Requests made to GitHub", ["installation_id", "method", "status"],
)
GITHUB_RATE_REMAINING = Gauge(
    "trunkline_github_rate_limit_remaining", "Last seen X-RateLimit-Remaining", ["installation_id"],
)

_queue_depth_source: Callable[[], int] | None = None


def _read_queue_depth() -> float:
    source = _queue_depth_source
    if source is None:
        return 0.0
    try:
        return float(source())
    except Exception:  # noqa: BLE001 - a scrape must not fail because the queue is down
        return float("nan")


QUEUE_DEPTH.set_function(_read_queue_depth)


def set_queue_depth_source(source: Callable[[], int] | None) -> None:
    """Report ``source()`` as the queue depth at every scrape."""
    global _queue_depth_source
    _queue_depth_source = source


def observe_delivery(event: str | None, outcome: str) -> None:
    DELIVERIES.labels(event or "", outcome).inc()


def observe_handler(event: str, seconds: float) -> None:
    HANDLER_LATENCY.labels(event).observe(seconds)


def observe_github_request(installation_id: int | str | None, method: str, status: int | str,
                           remaining: int | str | None) -> None:
    """Count one GitHub request; ``remaining`` is the X-RateLimit-Remaining header (if any)."""
    inst = "" if installation_id is None else str(installation_id)
    GITHUB_REQUESTS.labels(inst, method.upper(), str(status)).inc()
    if remaining is not None and str(remaining) != "":
        try:
            GITHUB_RATE_REMAINING.labels(inst).set(float(remaining))
        except ValueError:
            pass


def render() -> tuple[bytes, str]:
    """The text exposition of every metric and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
