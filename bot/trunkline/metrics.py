"""Prometheus metrics for the bot (served at ``/metrics`` by the ingest app).

Everything is registered at import on prometheus-client's default registry. ``trunkline serve
--processes N`` (and ``trunkline worker`` with ``PROMETHEUS_MULTIPROC_DIR`` set) switch to
prometheus-client's multiprocess mode (:func:`enable_multiprocess`), so that one scrape of any process
shows the counts of all of them. Other parts of
the bot record through the small functions below rather than touching the metric objects, e.g. the
GitHub client calls :func:`observe_github_request` after every request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

DELIVERIES: Counter
HANDLER_LATENCY: Histogram
GITHUB_REQUESTS: Counter
GITHUB_RATE_REMAINING: Gauge


def _define() -> None:
    """(Re)create the metric objects on the default registry, with the value class in force."""
    global DELIVERIES, HANDLER_LATENCY, GITHUB_REQUESTS, GITHUB_RATE_REMAINING
    for name in ("DELIVERIES", "HANDLER_LATENCY", "GITHUB_REQUESTS", "GITHUB_RATE_REMAINING"):
        if name in globals():
            REGISTRY.unregister(globals()[name])
    DELIVERIES = Counter(
        "trunkline_deliveries",
        "Webhook deliveries by event and outcome (ingest: queued/duplicate/rejected_*; "
        "worker: done/retry/failed/deferred)",
        ["event", "outcome"],
    )
    HANDLER_LATENCY = Histogram(
        "trunkline_handler_seconds",
        "Time the processor took for one delivery",
        ["event"],
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    )
    GITHUB_REQUESTS = Counter(
        "trunkline_github_requests", "Requests made to GitHub", ["installation_id", "method", "status"],
    )
    # several processes: the value any of them saw last
    GITHUB_RATE_REMAINING = Gauge(
        "trunkline_github_rate_limit_remaining", "Last seen X-RateLimit-Remaining", ["installation_id"],
        multiprocess_mode="mostrecent",
    )


_define()

_queue_depth_source: Callable[[], int] | None = None


def _read_queue_depth() -> float:
    source = _queue_depth_source
    if source is None:
        return 0.0
    try:
        return float(source())
    except Exception:  # noqa: BLE001 - a scrape must not fail because the queue is down
        return float("nan")


class _QueueDepth(Collector):
    """``trunkline_queue_depth``, read from the (shared) queue by the process answering the scrape:
    one value for the installation, never a sum over processes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("trunkline_queue_depth", "Tasks waiting in the job queue",
                                value=_read_queue_depth())


_QUEUE_DEPTH = _QueueDepth()
REGISTRY.register(_QUEUE_DEPTH)

# ---- several processes: prometheus-client's multiprocess mode ----------------------------------
# Each process writes its samples to memory-mapped files in one directory; a scrape of any of them
# merges every process's files (counters and histograms summed), so it shows the whole installation.
_multiprocess_registry: CollectorRegistry | None = None


def multiprocess_dir() -> str | None:
    """The directory in use when this process is in multiprocess mode, else ``None``."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") if _multiprocess_registry is not None else None


def enable_multiprocess(path: str | Path) -> None:
    """Record into ``path`` (shared by every process of the installation on this host) from now on.

    Call it before forking and before anything is counted: prometheus-client picks its value class
    from ``PROMETHEUS_MULTIPROC_DIR``, normally at import; it is set here and the metrics are made
    again so the choice holds whatever was imported first. Forked children write their own files
    (the value class notices the new pid)."""
    global _multiprocess_registry
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values.ValueClass = values.get_value_class()
    _define()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    registry.register(_QUEUE_DEPTH)
    _multiprocess_registry = registry


def mark_process_dead(pid: int) -> None:
    """A process of the installation ended: drop its live-gauge files (its counters stay counted)."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)


def exposition_registry() -> CollectorRegistry:
    """What ``/metrics`` shows: this process's registry, or every process's files in multiprocess mode."""
    return _multiprocess_registry or REGISTRY


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
    return generate_latest(exposition_registry()), CONTENT_TYPE_LATEST
