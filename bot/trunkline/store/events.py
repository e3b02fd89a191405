"""The pipeline event log behind ``GET /events`` and ``GET /events/stream`` (``trunkline.stream``).

Append-only: one row per published event, ``seq`` in commit order (an autoincrement key, never
reused), the event's own ``id`` (unique), its ``type``, the repository it is about (the stream's
``?repo=`` filter) and the JSON message exactly as subscribers receive it. Every process that
publishes (``trunkline serve`` with any ``--processes``, ``trunkline worker``) writes here, and every
process serving the stream reads from here, so a subscriber sees the events of all of them.

Rows leave only by :meth:`EventRepo.prune` (by age and by count; ``trunkline.stream`` runs it now and
then). Each write is one short transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

stream_events = sa.Table(
    "stream_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("repo", sa.String(300)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("event_id", name="uq_stream_events_event_id"),
    sa.Index("ix_stream_events_repo_seq", "repo", "seq"),
    # no index on created_at: only the pruning (once a minute) reads by age, and every index costs the
    # ingest writer on each batch
    # SQLite: AUTOINCREMENT, so a pruned tail never hands its sequence numbers out again
    sqlite_autoincrement=True,
)

_COLUMNS = ("event_id", "type", "repo", "created_at", "body")


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event_id: str
    type: str
    repo: str | None
    created_at: float
    body: str  # the JSON message


class EventRepo:
    table = stream_events

    def __init__(self, store: Store) -> None:
        self.store = store
        t = stream_events
        self._columns = (t.c.seq, t.c.event_id, t.c.type, t.c.repo, t.c.created_at, t.c.body)

    def append(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Store events (dicts with ``event_id``, ``type``, ``repo``, ``created_at``, ``body``) in one
        transaction, in the given order. An ``event_id`` stored before is left out (a re-run publish);
        returns the ids left out that way."""
        if not rows:
            return set()
        if self.store.dialect == "sqlite":
            return self._append_sqlite(rows)
        ids = [r["event_id"] for r in rows]
        with self.store.begin() as conn:
            known = {r[0] for r in conn.execute(sa.select(stream_events.c.event_id)
                                                .where(stream_events.c.event_id.in_(ids)))}
            fresh = [{c: r.get(c) for c in _COLUMNS} for r in rows if r["event_id"] not in known]
            if fresh:
                conn.execute(stream_events.insert(), fresh)
        return known

    def _append_sqlite(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        # Driver-level multi-row INSERT OR IGNORE: this runs on the ingest writer thread, once per batch
        # of deliveries, and statement construction would cost more than the insert. RETURNING names the
        # rows inserted (an ignored one is not returned), so the ids left out cost no extra query.
        marks = f"({', '.join('?' * len(_COLUMNS))})"
        stored: set[str] = set()
        with self.store.begin() as conn:
            for i in range(0, len(rows), 150):
                chunk = rows[i:i + 150]
                params: list[Any] = []
                for r in chunk:
                    params += (r["event_id"], r["type"], r.get("repo"), r["created_at"], r["body"])
                stored.update(row[0] for row in conn.exec_driver_sql(
                    f"INSERT OR IGNORE INTO {stream_events.name} ({', '.join(_COLUMNS)}) "
                    f"VALUES {', '.join([marks] * len(chunk))} RETURNING event_id", tuple(params)))
        return {r["event_id"] for r in rows} - stored

    def after(self, seq: int, *, repo: str | None = None, limit: int = 500) -> list[StoredEvent]:
        """Events with ``seq`` greater than ``seq`` (of ``repo`` only, when given), oldest first."""
        t = stream_events
        query = sa.select(*self._columns).where(t.c.seq > seq)
        if repo is not None:
            query = query.where(t.c.repo == repo)
        with self.store.connect() as conn:
            return [StoredEvent(*row) for row in conn.execute(query.order_by(t.c.seq).limit(limit))]

    def last_seq(self) -> int:
        """The newest ``seq`` (0 when empty): where a subscriber that wants only new events starts."""
        with self.store.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(stream_events.c.seq))).scalar() or 0)

    def seq_of(self, event_id: str) -> int | None:
        """The ``seq`` of event ``event_id`` (None when unknown or pruned)."""
        with self.store.connect() as conn:
            value = conn.execute(sa.select(stream_events.c.seq)
                                 .where(stream_events.c.event_id == event_id)).scalar()
        return int(value) if value is not None else None

    def prune(self, *, older_than: float | None = None, keep: int | None = None) -> int:
        """Delete events created before ``older_than`` and all but the newest ``keep``; returns how many."""
        t = stream_events
        deleted = 0
        with self.store.begin() as conn:
            if older_than is not None:
                deleted += conn.execute(sa.delete(t).where(t.c.created_at < older_than)).rowcount or 0
            if keep is not None:
                newest = conn.execute(sa.select(sa.func.max(t.c.seq))).scalar()
                if newest is not None:
                    deleted += conn.execute(sa.delete(t).where(t.c.seq <= int(newest) - max(0, keep))).rowcount or 0
        return deleted
