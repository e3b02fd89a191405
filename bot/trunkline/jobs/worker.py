"""Workers: take delivery ids off the queue and run them through the processor, at least once with
exactly one visible effect (given an idempotent processor).

:class:`DeliveryRunner` is the per-delivery state machine (peek → lock the serial key → claim →
process → done / retry / failed → drain the key → unlock); :class:`WorkerPool` runs it on N threads
and keeps the system healthy: lease heartbeats, moving due scheduled tasks into the queue, recovery
sweeps and the missed-delivery poller. Nothing a processor does (exceptions, malformed payloads,
unknown events) stops a worker.

Serialization per repository and branch: deliveries with the same ``serial_key`` run one at a time
under a lease lock. Whoever holds a key processes every claimable delivery of that key, oldest
first, before releasing it, and looks once more after releasing; so a worker that finds the key
taken only re-schedules its task for when the holder's lease would expire (a safety net for a
holder that crashed) — no busy spin, no deadlock: leases expire.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from trunkline import metrics
from trunkline.jobs.keys import serial_key
from trunkline.jobs.missed import MissedDeliveryPoller
from trunkline.jobs.queue import JobQueue
from trunkline.jobs.runtime import PermanentError, Processor
from trunkline.settings import Settings
from trunkline.store.base import Store
from trunkline.store.deliveries import DONE, FAILED, RUNNING

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 4000
# Pause between deliveries for in-process workers while the webhook receiver is busy.
INGEST_YIELD_S = 0.05


def retry_delay(attempt: int, base: float, cap: float = 600.0) -> float:
    """Exponential back-off: ``base * 2**(attempt-1)`` seconds, at most ``cap``."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


def process_owner() -> str:
    """A lease-owner prefix unique to this process (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}/"


@dataclass(frozen=True)
class WorkerOptions:
    lease_seconds: float = 60.0
    max_attempts: int = 5
    retry_base_delay: float = 5.0
    recovery_interval: float = 30.0
    # Deliveries a lock holder processes for its key before handing the key back to the queue
    drain_limit: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        return cls(lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts,
                   retry_base_delay=settings.retry_base_delay, recovery_interval=settings.recovery_interval)

    @property
    def recovery_stale_after(self) -> float:
        # A queued delivery is presumed lost from the queue once it has waited this long.
        return max(2 * self.lease_seconds, 30.0)


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    return text if len(text) <= MAX_ERROR_CHARS else text[:1000] + "\n...\n" + text[-(MAX_ERROR_CHARS - 1005):]


class DeliveryRunner:
    """Runs one delivery by guid for one lease owner. Never raises."""

    def __init__(self, store: Store, queue: JobQueue, processor: Processor, options: WorkerOptions,
                 clock: Callable[[], float] = time.time, pause: Callable[[], None] | None = None) -> None:
        self.store = store
        self.queue = queue
        self.processor = processor
        self.options = options
        self.clock = clock
        # Called between the deliveries a lock holder drains (the pool's ingest-priority yield).
        self.pause = pause
        # True once the pool is shutting down: a draining holder stops and hands the key on.
        self.stopping: Callable[[], bool] = lambda: False

    def run(self, guid: str, owner: str) -> str:
        """Returns the outcome: done, retry, failed, deferred, or skipped-<why>."""
        try:
            return self._run(guid, owner)
        except Exception:  # noqa: BLE001 - e.g. the database is down; recovery will retry later
            log.exception("delivery %s: worker error (will be recovered)", guid)
            return "error"

    def _run(self, guid: str, owner: str) -> str:
        now = self.clock()
        peek = self.store.deliveries.peek(guid)
        if peek is None:
            log.warning("delivery %s: not in the store, task dropped", guid)
            return "skipped-missing"
        if peek.status in (DONE, FAILED):
            return "skipped-finished"
        if not peek.claimable(now):
            # Running elsewhere (its worker finishes it, or dies and recovery re-enqueues it), or a
            # retry that is not due yet (its scheduled task brings it back).
            return "skipped-running" if peek.status == RUNNING else "skipped-early"
        key = peek.serial_key
        if key is None:
            key = self._derive_key(guid)
        if key is None:
            return self._claim_and_process(guid, owner)
        if not self.store.locks.acquire(key, owner, self.options.lease_seconds, self.clock()):
            # Someone holds the key. The holder processes every claimable delivery of the key before
            # it lets go, and looks once more after letting go, so nothing needs to happen now.
            # One safety net: look again when the holder's lease would run out (if the holder
            # died, its lock has expired by then; if it lives, this delivery is done by then and
            # the look is a cheap skip). No spinning, and no deadlock on a crash.
            held = self.store.locks.holder(key)
            expires = held[1] if held is not None else self.clock()
            delay = min(max(expires - self.clock(), 0.0) + random.uniform(0.1, 1.0),
                        self.options.lease_seconds + 1.0)
            self.queue.schedule(guid, delay)
            metrics.observe_delivery(peek.event, "deferred")
            return "deferred"
        try:
            outcome = self._claim_and_process(guid, owner)
            for _ in range(self.options.drain_limit):
                if self.stopping():
                    break
                if self.pause is not None:
                    self.pause()
                following = self.store.deliveries.next_for_key(key, self.clock())
                if following is None:
                    break
                self._claim_and_process(following, owner)
        finally:
            self.store.locks.release(key, owner)
        following = self.store.deliveries.next_for_key(key, self.clock())
        if following is not None:  # arrived after our last look, or the drain limit was reached
            self.queue.enqueue(following)
        return outcome

    def _derive_key(self, guid: str) -> str | None:
        """Serial key for a row stored without one; persisted so the key's holder can see the row."""
        record = self.store.deliveries.get(guid)
        if record is None:
            return None
        try:
            key = serial_key(record.event, record.payload)
        except ValueError:
            return None  # malformed: no lock; _claim_and_process marks it failed
        if key is not None:
            self.store.deliveries.set_serial_key(guid, key)
        return key

    def _claim_and_process(self, guid: str, owner: str) -> str:
        claimed = self.store.deliveries.claim(guid, owner, self.options.lease_seconds, self.clock())
        if claimed is None:
            return "skipped-claimed"
        try:
            claimed.payload  # noqa: B018 - parse once (cached for the processor), refuse malformed
        except ValueError as exc:
            error = f"malformed JSON payload: {exc}"
            self.store.deliveries.mark_failed(guid, owner, error, self.clock())
            log.error("delivery %s (%s): %s; marked failed", guid, claimed.event, error)
            metrics.observe_delivery(claimed.event, "failed")
            return "failed"
        return self._process(claimed, owner)

    def _process(self, record, owner: str) -> str:  # noqa: ANN001 - DeliveryRecord
        opts = self.options
        started = time.perf_counter()
        try:
            self.processor(record)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any handler failure is data, not a crash
            metrics.observe_handler(record.event, time.perf_counter() - started)
            error = _error_text(exc)
            now = self.clock()
            if isinstance(exc, PermanentError) or record.attempts >= opts.max_attempts:
                self.store.deliveries.mark_failed(record.guid, owner, error, now)
                log.error("delivery %s (%s) failed after %d attempt(s): %s", record.guid, record.event,
                          record.attempts, exc)
                metrics.observe_delivery(record.event, "failed")
                return "failed"
            delay = retry_delay(record.attempts, opts.retry_base_delay)
            if self.store.deliveries.mark_retry(record.guid, owner, error, now + delay, now):
                self.queue.schedule(record.guid, delay)
            log.warning("delivery %s (%s) attempt %d failed, retry in %.1fs: %s", record.guid,
                        record.event, record.attempts, delay, exc)
            metrics.observe_delivery(record.event, "retry")
            return "retry"
        metrics.observe_handler(record.event, time.perf_counter() - started)
        if not self.store.deliveries.mark_done(record.guid, owner, self.clock()):
            # Our lease ran out and another worker took the delivery over; it will finish it.
            log.warning("delivery %s: lease lost before completion", record.guid)
        metrics.observe_delivery(record.event, "done")
        return "done"


def recover(store: Store, queue: JobQueue, now: float, stale_after: float, batch: int = 1000) -> int:
    """Re-enqueue deliveries that are not done and not in flight: running with an expired lease, or
    queued and due but not enqueued for ``stale_after`` seconds. Returns how many."""
    total = 0
    while True:
        guids = store.deliveries.recoverable(now, now - stale_after, limit=batch)
        if not guids:
            return total
        store.deliveries.touch_enqueued(guids, now)
        queue.enqueue_many(guids)
        total += len(guids)
        if len(guids) < batch:
            return total


class WorkerPool:
    """N worker threads + housekeeping threads sharing one store and queue.

    ``threads=0`` still runs housekeeping (recovery, scheduled-task mover, poller): that is what
    ``trunkline serve --workers 0`` needs when separate ``trunkline worker`` processes do the work.
    """

    def __init__(self, store: Store, queue: JobQueue, processor: Processor, options: WorkerOptions,
                 threads: int = 2, poller: MissedDeliveryPoller | None = None,
                 poll_interval: float = 300.0, yield_to: Callable[[], bool] | None = None) -> None:
        self.store = store
        self.queue = queue
        self.options = options
        self.threads = threads
        self.poller = poller
        self.poll_interval = poll_interval
        self.owner = process_owner()
        # In ``trunkline serve`` the workers share the interpreter (and its GIL) with the webhook
        # receiver. Acknowledging GitHub quickly matters more than processing at once (deliveries
        # are durable, and GitHub gives up after 10 s), so while ``yield_to()`` says the receiver
        # is busy, each worker thread pauses between deliveries: processing slows down but never
        # stops. Separate ``trunkline worker`` processes have no such brake.
        self.yield_to = yield_to
        self.runner = DeliveryRunner(store, queue, processor, options, pause=self._yield)
        self.runner.stopping = lambda: self._stop.is_set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        n = recover(self.store, self.queue, time.time(), stale_after=0.0)
        if n:
            log.info("start-up recovery: re-enqueued %d unfinished deliveries", n)
        specs: list[tuple[str, Callable[..., None], tuple]] = [
            (f"trunkline-worker-{i}", self._work, (f"{self.owner}{i}",)) for i in range(self.threads)
        ]
        specs += [("trunkline-heartbeat", self._heartbeat, ()), ("trunkline-scheduler", self._schedule, ())]
        if self.poller is not None and self.poll_interval > 0:
            specs.append(("trunkline-missed-poller", self._poll, ()))
        for name, target, args in specs:
            thread = threading.Thread(target=target, args=args, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker pool %s: %d worker thread(s) on queue %r", self.owner, self.threads, self.queue.name)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop taking tasks, let running ones finish (up to ``timeout``), then return."""
        self._stop.set()
        self.queue._notify()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            log.warning("worker threads still running at shutdown: %s", [t.name for t in self._threads])

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- threads ----------------------------------------------------------------------------
    def _yield(self) -> None:
        if self.yield_to is not None and self.yield_to():
            self._stop.wait(INGEST_YIELD_S)

    def _work(self, owner: str) -> None:
        seen = self.queue.generation
        idle = 0.005
        while not self._stop.is_set():
            self._yield()
            try:
                task = self.queue.dequeue()
            except Exception:  # noqa: BLE001 - queue backend down: back off, keep the thread
                log.exception("dequeue failed")
                self._stop.wait(1.0)
                continue
            if task is None:
                # SQLite has no blocking pop: wait for an in-process enqueue or back off to 0.25 s.
                seen = self.queue.wait(idle, seen)
                idle = min(idle * 2, 0.25)
                continue
            idle = 0.005
            # Our own loop over huey's dequeue: the task only names a delivery; the runner does the
            # rest (and never raises), so huey's execute machinery (results, retries) is not needed.
            guid = self.queue.delivery_of(task)
            if guid is None:
                log.warning("ignoring unexpected task %r", task)
                continue
            self.runner.run(guid, owner)

    def _heartbeat(self) -> None:
        interval = max(0.05, self.options.lease_seconds / 3)
        while not self._stop.wait(interval):
            now = time.time()
            try:
                self.store.deliveries.heartbeat(self.owner, self.options.lease_seconds, now)
                self.store.locks.extend(self.owner, self.options.lease_seconds, now)
            except Exception:  # noqa: BLE001
                log.exception("heartbeat failed")

    def _schedule(self) -> None:
        next_recovery = time.monotonic() + self.options.recovery_interval
        while not self._stop.wait(0.05):
            try:
                self.queue.move_due()
            except Exception:  # noqa: BLE001
                log.exception("moving scheduled tasks failed")
                self._stop.wait(1.0)
            if self.options.recovery_interval > 0 and time.monotonic() >= next_recovery:
                next_recovery = time.monotonic() + self.options.recovery_interval
                try:
                    n = recover(self.store, self.queue, time.time(), self.options.recovery_stale_after)
                    if n:
                        log.info("recovery: re-enqueued %d deliveries", n)
                except Exception:  # noqa: BLE001
                    log.exception("recovery sweep failed")

    def _poll(self) -> None:
        assert self.poller is not None
        while not self._stop.is_set():
            try:
                ids = self.poller.poll_once()
                if ids:
                    log.info("missed deliveries: asked GitHub to redeliver %s", ids)
            except Exception:  # noqa: BLE001 - GitHub unreachable etc.: try again next round
                log.exception("missed-delivery poll failed")
            self._stop.wait(self.poll_interval)
