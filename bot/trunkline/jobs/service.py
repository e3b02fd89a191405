"""The two long-running processes: ``trunkline serve`` (ingest + workers) and ``trunkline worker``."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from trunkline import metrics
from trunkline.jobs.missed import MissedDeliveryPoller
from trunkline.jobs.queue import JobQueue
from trunkline.jobs.runtime import load_processor
from trunkline.jobs.worker import WorkerOptions, WorkerPool
from trunkline.settings import Settings
from trunkline.store.base import Store, set_process_store

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
               queue: JobQueue | None = None, yield_to: Callable[[], bool] | None = None) -> WorkerPool:
    store = store or Store.from_settings(settings)
    store.create_all()
    set_process_store(store, replace=False)  # the handlers of this process use it too (ctx.store)
    queue = queue or JobQueue.from_url(settings.queue_url)
    adapter = make_hook_adapter(settings)
    poller = MissedDeliveryPoller(adapter, store.deliveries.known_guids) if adapter is not None else None
    return WorkerPool(store, queue, load_processor(settings), WorkerOptions.from_settings(settings),
                      threads=threads, poller=poller, poll_interval=settings.missed_delivery_interval,
                      yield_to=yield_to)


class LatencyGC:
    """Keep full garbage collections out of busy periods of the webhook receiver.

    A full (generation 2) collection walks every tracked object and stops all threads meanwhile:
    in a process holding FastAPI, pydantic and SQLAlchemy that is 50-150 ms, during which every
    request in flight waits. So: freeze what start-up loaded (never scanned again), turn off
    automatic full collections, and run them from this thread when the receiver has been idle for
    a moment — or every ``max_interval`` s regardless, so cyclic garbage cannot pile up under
    sustained load. Young-generation collections (cheap) run as usual.
    """

    def __init__(self, busy: Callable[[], bool], idle_interval: float = 30.0, max_interval: float = 300.0) -> None:
        self.busy = busy
        self.idle_interval = idle_interval
        self.max_interval = max_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trunkline-gc", daemon=True)
        self._saved = gc.get_threshold()

    def start(self) -> None:
        gc.collect()
        gc.freeze()
        _, gen1, _ = self._saved
        # Young collections every 10k allocations instead of 700: a request allocates a few hundred
        # container objects, and each collection has a fixed cost.
        gc.set_threshold(10_000, gen1, 1_000_000_000)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        gc.set_threshold(*self._saved)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(1.0):
            waited = time.monotonic() - last
            if (waited >= self.idle_interval and not self.busy(1.0)) or waited >= self.max_interval:
                gc.collect()
                last = time.monotonic()


def run_serve(settings: Settings, host: str, port: int, threads: int, log_level: str = "info",
              processes: int = 1) -> int:
    """``trunkline serve``: the webhook receiver + ``threads`` worker threads, in ``processes``
    identical processes sharing one listening socket (default 1).

    One Python process is bound by its GIL to about one core; on a multi-core host more processes
    acknowledge more deliveries per second. They share the store and the queue like separate
    ``trunkline worker`` processes do (dedupe, claims and locks are all in the database). Metrics
    use prometheus-client's multiprocess mode then (:func:`shared_metrics`): a scrape of ``/metrics``
    on any process shows the counts of all of them.
    """
    try:
        sock = _bind(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        return 1
    # Tables first, once, so that forked processes do not race to create them.
    if not open_schema(settings):
        sock.close()
        return 2
    with shared_metrics(processes):
        return _serve_processes(settings, sock, threads, log_level, processes)


@contextlib.contextmanager
def shared_metrics(processes: int) -> Iterator[str | None]:
    """Multiprocess metrics for ``processes`` > 1 serve processes, or whenever the operator set
    ``PROMETHEUS_MULTIPROC_DIR`` (shared with ``trunkline worker`` processes on the host; emptying it
    between runs is then the operator's job, as prometheus-client says). Otherwise a private
    directory, made fresh here and removed at the end. Yields the directory (None: single process)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if processes <= 1 and not given:
        yield None
        return
    own = None if given else tempfile.mkdtemp(prefix=f"trunkline-metrics-{os.getpid()}-")
    path = given or own
    metrics.enable_multiprocess(path)
    try:
        yield path
    finally:
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


def _serve_processes(settings: Settings, sock: socket.socket, threads: int, log_level: str,
                     processes: int) -> int:
    children: list[int] = []
    # Fork before any thread, connection or event loop exists in this process.
    for _ in range(max(1, processes) - 1):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            code = 1
            try:
                code = _serve_one(settings, sock, threads, log_level)
            finally:
                os._exit(code)
        children.append(pid)
    try:
        return _serve_one(settings, sock, threads, log_level)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            metrics.mark_process_dead(pid)  # also when it was killed and could not say so itself


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:
    """Linux: a forked serve process gets SIGTERM when its parent dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _make_server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its own signal handling: uvicorn re-raises a captured SIGTERM after
        shutdown, which would kill the process before the worker pool and any forked serve
        processes are stopped. ``_serve_one`` handles the signals instead."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


def _serve_one(settings: Settings, sock: socket.socket, threads: int, log_level: str) -> int:
    import uvicorn

    from trunkline.ingest.app import create_ingest_app

    pool = build_pool(settings, threads)
    app = create_ingest_app(settings, pool.store, pool.queue)
    pool.yield_to = app.state.writer.busy  # the receiver has priority over in-process workers
    pool.start()
    gc_thread = LatencyGC(app.state.writer.busy)
    gc_thread.start()
    config = uvicorn.Config(app, access_log=False, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=10, proxy_headers=False, server_header=False)
    server = _make_server_class()(config)

    def _on_signal(signum: int, _frame: Any) -> None:
        # A second Ctrl-C stops waiting for open connections (as uvicorn does). SIGTERM never
        # forces: a forked serve process can get it twice when its parent dies.
        if server.should_exit and signum == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True
        app.state.hub.close()  # end the /events streams: open ones would hold the graceful shutdown

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])  # returns on SIGINT/SIGTERM after draining requests
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        gc_thread.stop()
        pool.stop()
        pool.queue.close()
        pool.store.dispose()
        metrics.mark_process_dead(os.getpid())
    return 0 if server.started else 1


def open_schema(settings: Settings) -> bool:
    """Migrate the database to this version (``trunkline.store.migrations``); False, with the reason
    logged, when it cannot be used (a start-up error instead of SQL errors mid-delivery)."""
    from trunkline.store.migrations import SchemaError

    schema = Store.from_settings(settings)
    try:
        schema.create_all()
    except SchemaError as exc:
        log.error("cannot start: %s", exc)
        return False
    finally:
        schema.dispose()
    return True


def run_worker(settings: Settings, threads: int, metrics_port: int = 0) -> int:
    if not open_schema(settings):
        return 2
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # counted with the host's other processes
        metrics.enable_multiprocess(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    pool = build_pool(settings, threads)
    if metrics_port:
        from prometheus_client import start_http_server

        metrics.set_queue_depth_source(pool.queue.depth)
        start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.exposition_registry())
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
    metrics.mark_process_dead(os.getpid())
    return 0
