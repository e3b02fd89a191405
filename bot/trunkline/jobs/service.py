"""The two long-running processes: ``trunkline serve`` (ingest + workers) and ``trunkline worker``."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from trunkline.jobs.missed import MissedDeliveryPoller
from trunkline.jobs.queue import JobQueue
from trunkline.jobs.runtime import load_processor
from trunkline.jobs.worker import WorkerOptions, WorkerPool
from trunkline.settings import Settings
from trunkline.store.base import Store

log = logging.getLogger(__name__)


def make_hook_adapter(settings: Settings) -> Any | None:
    """``trunkline.github.client.AppClient`` for the missed-delivery poller, if the App is configured
    and the client exists (it provides ``list_hook_deliveries()`` and ``redeliver(id)``)."""
    if settings.missed_delivery_interval <= 0 or not (settings.app_id and settings.private_key_pem):
        return None
    try:
        from trunkline.github.client import AppClient  # type: ignore[import-not-found]
    except ImportError:
        log.warning("trunkline.github.client.AppClient is not available: missed-delivery poller off")
        return None
    factory = getattr(AppClient, "from_settings", None)
    return factory(settings) if callable(factory) else AppClient(settings)


def build_pool(settings: Settings, threads: int, store: Store | None = None,
               queue: JobQueue | None = None) -> WorkerPool:
    store = store or Store.from_settings(settings)
    store.create_all()
    queue = queue or JobQueue.from_url(settings.queue_url)
    adapter = make_hook_adapter(settings)
    poller = MissedDeliveryPoller(adapter, store.deliveries.known_guids) if adapter is not None else None
    return WorkerPool(store, queue, load_processor(settings), WorkerOptions.from_settings(settings),
                      threads=threads, poller=poller, poll_interval=settings.missed_delivery_interval)


def run_serve(settings: Settings, host: str, port: int, threads: int, log_level: str = "info") -> int:
    import uvicorn

    from trunkline.ingest.app import create_ingest_app

    pool = build_pool(settings, threads)
    app = create_ingest_app(settings, pool.store, pool.queue)
    pool.start()
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level=log_level,
                            lifespan="on", timeout_graceful_shutdown=10,
                            proxy_headers=False, server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run()  # returns on SIGINT/SIGTERM after draining requests
    finally:
        pool.stop()
        pool.queue.close()
        pool.store.dispose()
    return 0 if server.started else 1


def run_worker(settings: Settings, threads: int, metrics_port: int = 0) -> int:
    pool = build_pool(settings, threads)
    if metrics_port:
        from prometheus_client import start_http_server

        from trunkline import metrics

        metrics.set_queue_depth_source(pool.queue.depth)
        start_http_server(metrics_port, addr="127.0.0.1")
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after running deliveries finish", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    pool.start()
    log.info("trunkline worker ready (%d threads, queue %r)", threads, pool.queue.name)
    while not stop.wait(1.0):
        pass
    pool.stop()
    pool.queue.close()
    pool.store.dispose()
    return 0
