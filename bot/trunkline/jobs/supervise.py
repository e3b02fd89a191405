"""Supervising long runs recorded in the store — verify tiers (``trunkline.gates``) and agent runs
(``trunkline.agents``) — from every bot process.

A row names the process running it, ``owner`` = ``host:pid:token``, which refreshes the row's
``heartbeat_at`` while it lives. A row whose owner is gone (a dead pid on this host, or a heartbeat older
than :data:`STALE_AFTER`) is *orphaned*: another process's monitor takes it over. Each service runs one
:class:`Monitor` thread that forwards cancel requests to the runs it owns, heartbeats, and sweeps orphans.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Protocol

log = logging.getLogger(__name__)

STALE_AFTER = 60.0  # a heartbeat older than this means the owning process is gone


class Cancellable(Protocol):
    def cancel(self, reason: str) -> None: ...


def identity() -> tuple[str, str]:
    """(this host, ``host:pid:token``: a name for this process's service that no other process has)."""
    host = socket.gethostname()
    return host, f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_pid(owner: str | None) -> tuple[str | None, int | None]:
    """``host:pid:token`` → (host, pid)."""
    if not owner:
        return None, None
    parts = owner.split(":")
    try:
        return parts[0], int(parts[1])
    except (IndexError, ValueError):
        return parts[0], None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphaned(run: Any, *, now: float, me: str, host: str, pid_alive: Callable[[int], bool],
                stale_after: float = STALE_AFTER) -> bool:
    """A local run (``state`` queued or running, ``executor`` local) nobody runs any more (pure over the
    row and the liveness probe)."""
    if run.state not in ("queued", "running") or run.executor != "local" or run.owner == me:
        return False
    if run.owner is None:  # recorded, never picked up: the recording process died before its pool did
        return now - run.created_at > stale_after
    run_host, pid = owner_pid(run.owner)
    if run_host == host and pid is not None and not pid_alive(pid):
        return True
    return now - (run.heartbeat_at or run.created_at) > stale_after


def forward_cancels(rows: Iterable[Any], token_of: Callable[[Any], Cancellable | None]) -> None:
    """Cancel requests recorded on rows this process owns (``cancel_reason``) reach their runs' tokens."""
    for row in rows:
        token = token_of(row.id)
        if token is not None:
            token.cancel(row.cancel_reason or "cancelled")


class Monitor:
    """A daemon thread calling ``tick()`` every ``interval`` seconds until :meth:`stop`; a failing tick
    (a database hiccup) is logged and the loop goes on."""

    def __init__(self, name: str, tick: Callable[[], None], interval: float, stop: threading.Event) -> None:
        self.name, self.tick, self.interval, self.stopping = name, tick, interval, stop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Start the thread unless it runs."""
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                    self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the monitor must survive a database hiccup
                log.warning("%s tick failed", self.name, exc_info=True)
            self.stopping.wait(self.interval)


class Supervisor:
    """What a service supervising recorded runs shares (the gates' and the agents'): this process's name
    (``host``, ``me``), the ``lock`` over what it runs, the App client (learned on the first
    ``attach``), the :class:`Monitor` thread calling :meth:`tick`, and stopping. A subclass sets
    ``runs`` (its :class:`~trunkline.store.runs_common.RunRepo`), ``pool`` and ``shutdown_reason``, and
    says which tokens its running runs have (:meth:`running_tokens`, :meth:`_token_of`)."""

    shutdown_reason: ClassVar[str] = "the Trunkline worker is stopping"
    runs: Any
    pool: ThreadPoolExecutor

    def __init__(self, monitor_name: str, interval: float) -> None:
        self.host, self.me = identity()
        self.lock = threading.Lock()
        self.app: Any = None  # the AppClient, learned from the first attach (for adopted runs)
        self._stop = threading.Event()
        self._monitor = Monitor(monitor_name, self.tick, interval, self._stop)
        self._last_heartbeat = 0.0
        self._last_sweep = 0.0

    def tick(self, now: float | None = None) -> None:
        raise NotImplementedError

    def running_tokens(self) -> Sequence[Cancellable]:
        """The tokens of the runs this process runs (called under ``lock``)."""
        raise NotImplementedError

    def _token_of(self, run_id: Any) -> Cancellable | None:
        raise NotImplementedError

    def attach(self, app: Any) -> None:
        """Remember the App client and make sure the monitor runs (its first tick sweeps orphans)."""
        if app is not None and self.app is None:
            self.app = app
        self._monitor.ensure()

    def stop_running(self) -> None:
        """The process is exiting: stop every run it runs (with ``shutdown_reason``)."""
        self._stop.set()
        with self.lock:
            tokens = self.running_tokens()
        for token in tokens:
            token.cancel(self.shutdown_reason)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the runs, the pool and the monitor."""
        self.stop_running()
        self.pool.shutdown(wait=wait, cancel_futures=True)
        self._monitor.join(5)

    def supervise(self, now: float, heartbeat_every: float) -> bool:
        """A tick's start: cancel requests reach the runs this process owns; every ``heartbeat_every``
        seconds its rows' heartbeat is refreshed (True when it was)."""
        forward_cancels(self.runs.cancel_requests(self.me), self._token_of)
        if now - self._last_heartbeat < heartbeat_every:
            return False
        self._last_heartbeat = now
        self.runs.heartbeat(self.me, now)
        return True


def env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def at_interpreter_exit(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the process exits, *before* Python joins non-daemon threads — pool threads
    wait for their runs, so without this a 30-minute run would hold the worker's exit."""
    register = getattr(threading, "_register_atexit", None)  # what concurrent.futures itself uses
    if register is not None:
        try:
            register(callback)
            return
        except RuntimeError:  # already shutting down
            pass
    import atexit

    atexit.register(callback)
