"""Following the event log for the subscribers of one serving process.

One :class:`Hub` per process polls ``stream_events`` (every :data:`POLL_S` while anyone is subscribed,
at once when this process published) and keeps the newest rows in memory; each subscriber has its own
cursor and reads from that buffer, or from the database while it catches up on older events. So a
hundred dashboards cost one query per poll, and a slow one never holds the others back.

Sequence numbers are handed out in commit order on SQLite. On PostgreSQL a transaction can commit
after a later one, leaving a momentary gap; :func:`safe_prefix` holds delivery at a gap for
:data:`GAP_WAIT_S` so the late row is not skipped, then treats the gap as a rolled-back insert.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from trunkline.store.events import EventRepo, StoredEvent

log = logging.getLogger(__name__)

POLL_S = 0.2
GAP_WAIT_S = 2.0
BUFFER = 2000
BATCH = 500


def safe_prefix(cursor: int, seqs: Sequence[int], now: float, gap_seen: float | None,
                wait: float = GAP_WAIT_S) -> tuple[int, float | None]:
    """How many of ``seqs`` (ascending, all > ``cursor``) may be delivered now, and since when the
    first gap has been waited on (None: no gap pending). A gap is waited on for ``wait`` seconds."""
    expected = cursor + 1
    for index, seq in enumerate(seqs):
        if seq != expected:
            if gap_seen is None:
                return index, now
            if now - gap_seen < wait:
                return index, gap_seen
            return len(seqs), None  # waited long enough: the gap is a rolled-back insert
        expected = seq + 1
    return len(seqs), None


class Hub:
    def __init__(self, events: EventRepo, *, poll: float = POLL_S, buffer: int = BUFFER) -> None:
        self.events = events
        self.poll = poll
        self.cursor: int | None = None  # everything up to here is safe to deliver
        self.rows: collections.deque[StoredEvent] = collections.deque(maxlen=buffer)
        self.subscribers = 0
        self.closed = False
        self._gap_seen: float | None = None
        self._changed: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the poller ----------------------------------------------------------------------------
    async def _ensure(self) -> None:
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            if self._changed is None or self._wake is None:
                self._changed, self._wake = asyncio.Event(), asyncio.Event()
            if self.cursor is None:
                self.cursor = await asyncio.to_thread(self.events.last_seq)
            self._task = asyncio.create_task(self._run(), name="trunkline-events-tail")

    def close(self) -> None:
        """The server is stopping (any thread): every subscription ends, so open streams do not hold the
        graceful shutdown."""
        self.closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for event in (self._changed, self._wake):
            if event is not None:
                event.set()

    def poke(self) -> None:
        """Something was published (any thread): look now instead of at the next poll."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while self.subscribers > 0 and not self.closed:
            try:
                await self._poll_once()
            except Exception as exc:  # noqa: BLE001 - database hiccup: keep following
                log.warning("following the event log failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            self._wake.clear()

    async def _poll_once(self) -> None:
        assert self.cursor is not None and self._changed is not None
        while True:
            rows = await asyncio.to_thread(self.events.after, self.cursor, limit=BATCH)
            count, self._gap_seen = safe_prefix(self.cursor, [r.seq for r in rows], time.monotonic(),
                                                self._gap_seen)
            if count:
                self.rows.extend(rows[:count])
                self.cursor = rows[count - 1].seq
                self._changed.set()
                self._changed = asyncio.Event()
            if count < BATCH:
                return

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- subscribers ---------------------------------------------------------------------------
    async def start_position(self, since: str | None) -> int:
        """The cursor of a new subscriber: the current end, or right after event ``since`` (an event
        that is no longer kept, or never was: from the oldest event kept)."""
        await self._ensure()
        assert self.cursor is not None
        if not since:
            return self.cursor
        seq = await asyncio.to_thread(self.events.seq_of, since)
        return seq if seq is not None else 0

    async def follow(self, cursor: int, repo: str | None = None) -> AsyncIterator[StoredEvent]:
        """Every event after ``cursor`` (of ``repo``), in order, until :meth:`close`."""
        self.subscribers += 1
        try:
            await self._ensure()
            while not self.closed:
                assert self.cursor is not None and self._changed is not None
                changed, limit = self._changed, self.cursor
                batch = await self._read(cursor, limit, repo)
                if batch:
                    for row in batch:
                        yield row
                        cursor = row.seq
                    continue
                cursor = max(cursor, limit)  # nothing (of this repo) up to the safe end
                await changed.wait()
        finally:
            self.subscribers -= 1

    async def _read(self, cursor: int, limit: int, repo: str | None) -> list[StoredEvent]:
        if cursor >= limit:
            return []
        if self.rows and self.rows[0].seq <= cursor + 1:  # the buffer holds everything after cursor
            return [r for r in self.rows if cursor < r.seq <= limit and (repo is None or r.repo == repo)]
        # behind the buffer: catch up from the database, never past what the poller found safe
        rows = await asyncio.to_thread(self.events.after, cursor, repo=repo, limit=BATCH)
        return [r for r in rows if r.seq <= limit]
