"""The slot-timeout sweep: queues whose slot holder ran out of time move on even when nothing happens.

The slot timeout is decided whenever the holder or a pull request behind it is evaluated (see
``service``), but a quiet repository sends no event at all while a check that will never finish
"runs". So every bot process sweeps now and then: for each slot held longer than the shortest
timeout there can be, it takes an installation client for the repository and runs that queue
(:meth:`~trunkline.merge.service.MergeEngine.run_queue`), whose evaluation of the holder applies the
repository's own ``merge.slot_timeout_minutes``. A lease in the store lets one process sweep per
interval; the queue lock and the compare-and-set on the row make a double sweep harmless anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 60.0
MIN_SLOT_AGE = 60.0  # merge.slot_timeout_minutes is whole minutes: younger slots cannot have timed out
SWEEP_LOCK = "merge-slot-sweep"


@dataclass(frozen=True)
class HeldSlot:
    repo: str  # owner/name, lower-case
    base: str
    number: int
    slot_since: float


def held_slots(store: Any, older_than: float) -> list[HeldSlot]:
    """Slots taken before ``older_than`` (UNIX seconds), oldest first."""
    from trunkline.store.merge_queue import UPDATING, merge_queue

    t = merge_queue
    query = (sa.select(t.c.repo, t.c.base, t.c.number, t.c.slot_since)
             .where(t.c.state == UPDATING, t.c.slot_since.is_not(None), t.c.slot_since <= older_than)
             .order_by(t.c.slot_since))
    with store.connect() as conn:
        return [HeldSlot(*row) for row in conn.execute(query)]


def sweep(app: Any, store: Any, *, clock: Callable[[], float] = time.time,
          client_for: Callable[[str, str], Any] | None = None) -> list[Any]:
    """Run each queue whose slot holder is past its repository's slot timeout; returns the evaluations
    made. Slots younger than :data:`MIN_SLOT_AGE` are not even looked at.

    ``client_for(owner, repo)`` gives an installation client (default: the App's installation for the
    repository, or None when the App is not installed there any more)."""
    from .queue import QueueEntry, slot_timed_out
    from .service import MergeEngine

    def default_client(owner: str, repo: str) -> Any:
        found = app.installation_for_repo(owner, repo)
        return app.installation(found.id) if found is not None else None

    client_for = client_for or default_client
    results: list[Any] = []
    for slot in held_slots(store, clock() - MIN_SLOT_AGE):
        owner, repo = slot.repo.split("/", 1)
        try:
            client = client_for(owner, repo)
            if client is None:
                log.warning("merge queue %s@%s: the App is not installed there; slot of #%d left as is",
                            slot.repo, slot.base, slot.number)
                continue
            engine = MergeEngine(client, store, owner, repo, clock=clock)
            held = QueueEntry(slot.number, False, 0.0, "updating", slot_since=slot.slot_since)
            if slot_timed_out(held, clock(), engine.policy.slot_timeout):  # the repository's own limit
                results.extend(engine.run_queue(slot.base))
        except Exception:  # noqa: BLE001 - one repository's trouble must not stop the sweep of the others
            log.exception("merge queue %s@%s: slot sweep failed", slot.repo, slot.base)
    return results


class SlotSweeper:
    """A daemon thread calling :func:`sweep` every ``interval`` seconds (one process per interval)."""

    def __init__(self, app: Any, store: Any, interval: float = SWEEP_INTERVAL) -> None:
        self.app, self.store, self.interval = app, store, interval
        self.owner = f"{socket.gethostname()}:{os.getpid()}:slot-sweep"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trunkline-merge-slot-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                # not released: the lease itself spaces the sweeps of all processes by ``interval``
                if self.store.locks.acquire(SWEEP_LOCK, self.owner, self.interval * 0.9, time.time()):
                    sweep(self.app, self.store)
            except Exception:  # noqa: BLE001 - e.g. the database is down: try again next time
                log.exception("merge slot sweep failed")


_sweeper: SlotSweeper | None = None
_sweeper_lock = threading.Lock()


def start_sweeper(app: Any, store: Any) -> SlotSweeper | None:
    """This process's sweeper (started once; none without an App to act with)."""
    global _sweeper
    if app is None:
        return None
    with _sweeper_lock:
        if _sweeper is None:
            _sweeper = SlotSweeper(app, store)
            _sweeper.start()
        return _sweeper
