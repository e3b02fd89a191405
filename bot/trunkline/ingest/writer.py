"""Group commit: one writer thread stores deliveries for many concurrent requests per transaction.

A request hands its row to :meth:`GroupCommitWriter.submit` and awaits the answer. The writer thread
takes everything that is waiting (up to ``max_batch``), inserts it in one transaction (duplicates
skipped), commits, enqueues the new ids in one round trip, and only then resolves the requests'
futures — so no request is acknowledged before its delivery is durably stored, while a busy server
pays for one commit per batch instead of one per request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue as queue_mod
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trunkline.api.events import DeliveryReceived
from trunkline.jobs.queue import JobQueue
from trunkline.store.base import Store
from trunkline.stream.publish import new_id, stable_id, type_of

if TYPE_CHECKING:
    from trunkline.stream.publish import Publisher

log = logging.getLogger(__name__)

_STOP = object()
# busy(): more than BUSY_RATE deliveries a second, measured over BUSY_WINDOW_S windows.
BUSY_RATE = 100.0
BUSY_WINDOW_S = 0.25


# RepositoryName in contracts/asyncapi.yaml (the inbox keeps any full_name a payload carries)
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")


RECEIVED = type_of(DeliveryReceived)
NOT_STORED = "not_stored"


def received_messages(rows: Sequence[dict[str, Any]], outcomes: Sequence[Any], now: float, *,
                      fresh_ids: bool = False) -> list[dict[str, Any]]:
    """The ``delivery.received`` message (a :class:`~trunkline.api.events.DeliveryReceived`, as JSON-ready
    data) of each stored (``True``) or duplicate (``False``) row of a batch (pure). A stored row's event id
    is stable per guid (:func:`queued_id`) unless ``fresh_ids`` (a delivery received again after a failed
    insert: its first "queued" is in the log already).

    Plain dicts rather than model instances: this runs on the ingest writer's thread, where building
    and serialising a pydantic model per delivery would cost several times the rest of the work (tests
    validate these messages against the model and the contract). Every value is checked here — the
    guid and event passed the header check, ``action``/``installation_id`` the inbox's, and a repository
    name that is not ``owner/name`` is left out."""
    at = datetime.fromtimestamp(now, UTC).isoformat()
    out = []
    for row, outcome in zip(rows, outcomes, strict=True):
        if outcome is not True and outcome is not False:
            continue  # not stored: nothing happened
        event_id = queued_id(row["guid"]) if outcome and not fresh_ids else new_id()
        out.append(_received(row, "queued" if outcome else "duplicate", event_id, at))
    return out


def not_stored_messages(rows: Sequence[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """The ``delivery.received`` message with status ``not_stored`` of each row whose "queued" event went out
    but whose insert failed (pure). Each has a new id: distinct from the guid's stable "queued" id, and
    from the compensation of any earlier failed attempt."""
    at = datetime.fromtimestamp(now, UTC).isoformat()
    return [_received(row, NOT_STORED, new_id(), at) for row in rows]


def queued_id(guid: str) -> str:
    """The id of a delivery's first "queued" event: a redelivery of a stored guid publishes it again and the
    event log leaves it out (the "duplicate" event follows the insert)."""
    return stable_id(guid, "received")


def _received(row: dict[str, Any], status: str, event_id: str, at: str) -> dict[str, Any]:
    message = {"type": RECEIVED, "id": event_id, "occurred_at": at, "delivery": row["guid"], "event": row["event"],
               "status": status}
    if row.get("action") is not None:
        message["action"] = row["action"]
    repo = row.get("repo")
    if repo is not None and _REPO_NAME.match(repo):
        message["repository"] = repo
    if row.get("installation_id") is not None:
        message["installation_id"] = row["installation_id"]
    return message


def _resolve(items: list[tuple[Any, Any]]) -> None:
    """Runs on the event loop: settle every future of one batch."""
    for fut, outcome in items:
        if fut.done():  # the request was cancelled (client went away)
            continue
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


class GroupCommitWriter:
    def __init__(self, store: Store, queue: JobQueue, max_batch: int = 500,
                 clock: Callable[[], float] = time.time, publisher: Publisher | None = None) -> None:
        self.store = store
        self.queue = queue
        # delivery.received events go here, after the answers and before the enqueue (so a worker can
        # never publish delivery.processed ahead of them)
        self.publisher = publisher
        self.max_batch = max_batch
        self.clock = clock
        self._inbox: queue_mod.SimpleQueue = queue_mod.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        self.rows = 0
        # Arrival-rate bookkeeping for busy(): rows in the current and the previous window.
        self._last_write = float("-inf")  # time.monotonic() of the last batch
        self._window_start = time.monotonic()
        self._window_rows = 0
        self._previous_rate = 0.0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="trunkline-ingest-writer",
                                                daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what was submitted, then end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._inbox.put(_STOP)
        thread.join(timeout)
        self._thread = None

    def busy(self, window: float = BUSY_WINDOW_S, rate: float = BUSY_RATE) -> bool:
        """True while deliveries arrive faster than ``rate`` per second (measured over windows of
        ``BUSY_WINDOW_S``) and the last one came less than ``window`` s ago. A trickle of webhooks
        is not "busy"; a burst is."""
        now = time.monotonic()
        if now - self._last_write > window:
            return False
        current = self._window_rows / max(now - self._window_start, BUSY_WINDOW_S)
        return max(self._previous_rate, current) >= rate

    def _count(self, rows: int) -> None:
        now = time.monotonic()
        elapsed = now - self._window_start
        if elapsed >= BUSY_WINDOW_S:
            self._previous_rate = self._window_rows / elapsed
            self._window_start, self._window_rows = now, 0
        self._window_rows += rows
        self._last_write = now

    # -- submit -----------------------------------------------------------------------------
    async def submit(self, row: dict[str, Any]) -> bool:
        """Store ``row``; True if it is new, False if its guid was already stored."""
        if self._thread is None:
            self.start()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._inbox.put((row, fut, loop))
        return await fut

    def submit_sync(self, row: dict[str, Any], timeout: float | None = None) -> bool:
        if self._thread is None:
            self.start()
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._inbox.put((row, fut, None))
        return fut.result(timeout)

    # -- writer thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._inbox.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._inbox.get_nowait()
                except queue_mod.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[tuple[dict[str, Any], Any, Any]]) -> None:
        self._count(len(batch))
        announced: list[dict[str, Any]] = []
        if self.publisher is not None:
            # delivery.received goes out BEFORE the rows are committed: a worker that holds a serial key
            # drains that key's queued rows straight from the store, so once the insert commits a
            # delivery may be processed (and delivery.processed published) before this thread goes on.
            first = list({row["guid"]: row for row, _, _ in reversed(batch)}.values())[::-1]
            announced = self._announce_queued(self.publisher, first)
        try:
            new = self.store.deliveries.insert_new([row for row, _, _ in batch], self.clock())
        except Exception as exc:  # noqa: BLE001 - reported to every waiting request
            log.exception("storing %d deliveries failed", len(batch))
            if announced and self.publisher is not None:
                # Their "queued" is in the stream, but nothing was stored: each request gets an error (5xx),
                # so GitHub may deliver them again. Say so, so no subscriber waits for their processing.
                self.publisher.publish_messages(not_stored_messages(announced, self.clock()))
            self._settle(batch, [exc] * len(batch))
            return
        self.batches += 1
        self.rows += len(new)
        outcomes: list[Any] = []
        pending = set(new)
        for row, _, _ in batch:
            guid = row["guid"]
            outcomes.append(guid in pending)
            pending.discard(guid)  # a second copy in the same batch is a duplicate
        # Committed. The duplicates' delivery.received events go out before the answers too.
        if self.publisher is not None and not all(outcomes):
            dups = [row for (row, _, _), stored in zip(batch, outcomes, strict=True) if not stored]
            self.publisher.publish_messages(received_messages(dups, [False] * len(dups), self.clock()))
        # Answer now. The enqueue below is not what makes a delivery safe (the stored row is; recovery
        # enqueues queued rows after a crash), so requests need not wait for it.
        self._settle(batch, outcomes)
        if new:
            try:
                # in arrival order, so workers see events roughly as GitHub sent them
                self.queue.enqueue_many(dict.fromkeys(r["guid"] for r, _, _ in batch if r["guid"] in new))
            except Exception:  # noqa: BLE001 - stored as queued: recovery enqueues them later
                log.exception("enqueueing %d stored deliveries failed; recovery will retry", len(new))

    def _announce_queued(self, publisher: Publisher, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Publish "queued" for each row (one per guid) ahead of the insert; return the rows whose "queued"
        event this attempt put in the log (those a failed insert must take back).

        Each guid's first "queued" event has a stable id (:func:`queued_id`): for a guid stored before (a
        redelivery) the event log leaves it out, and the "duplicate" event follows the insert. A guid whose
        "queued" is in the log but which is not stored — an earlier attempt's insert failed (its
        ``not_stored`` followed), or it is still in flight in another process — is received again: a
        "queued" with a fresh id goes out for it (only redeliveries pay for that lookup)."""
        now = self.clock()
        repeated = publisher.append_messages(received_messages(rows, [True] * len(rows), now))
        if repeated is None:  # the log is unavailable: nothing went out, nothing to take back
            return []
        announced = [row for row in rows if queued_id(row["guid"]) not in repeated]
        again = [row for row in rows if queued_id(row["guid"]) in repeated]
        if again:
            try:
                stored = self.store.deliveries.known_guids(row["guid"] for row in again)
            except Exception as exc:  # noqa: BLE001 - the insert below will most likely fail too
                log.warning("looking up %d redelivered guids failed: %s: %s", len(again), type(exc).__name__, exc)
                return announced
            retry = [row for row in again if row["guid"] not in stored]
            if retry and publisher.append_messages(
                    received_messages(retry, [True] * len(retry), now, fresh_ids=True)) is not None:
                announced += retry
        return announced

    @staticmethod
    def _settle(batch: list[tuple[dict[str, Any], Any, Any]], outcomes: list[Any]) -> None:
        per_loop: dict[Any, list[tuple[Any, Any]]] = {}
        for (_, fut, loop), outcome in zip(batch, outcomes, strict=True):
            if loop is None:
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)
            else:
                per_loop.setdefault(loop, []).append((fut, outcome))
        for loop, items in per_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, items)
            except RuntimeError:  # loop closed during shutdown
                pass
