"""Merge queue state: one row per pull request whose merge was requested.

A row is the durable memory of the queue (``trunkline.merge.queue`` holds the ordering rules):

* ``state``: ``queued`` (requested, waiting for its gates or its turn), ``updating`` (Trunkline
  updated its branch and it holds the queue's slot until its gates finish on the new head),
  ``merged``, ``cancelled`` (``/merge cancel``: a rule must not re-queue it; the label or ``/merge``
  may), ``timed_out`` (held the slot past ``merge.slot_timeout_minutes``: out of the queue until its
  head changes or the merge is asked for again);
* ``source``: why it was requested (``label``, ``command``, ``rule``);
* ``head_sha``: the head SHA last evaluated (events that only carry a SHA find the row by it);
* ``updated_from``: the head SHA Trunkline asked GitHub to update (so a retry never updates twice);
* ``slot_since``: when it last took the queue's slot (``updating``), for the slot timeout;
* ``notified``: ``<reason>@<sha>`` of the last comment posted, so a refusal is commented once.

Rows are keyed by (repository, number); repository names are stored lower-case (GitHub names are
case-insensitive). Every write is one short transaction, so concurrent workers never see half an update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

QUEUED, UPDATING, MERGED, CANCELLED, TIMED_OUT = "queued", "updating", "merged", "cancelled", "timed_out"
ACTIVE = (QUEUED, UPDATING)

merge_queue = sa.Table(
    "merge_queue",
    metadata,
    sa.Column("repo", sa.String(300), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("base", sa.String(300), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("requested_by", sa.String(200)),
    sa.Column("priority", sa.Boolean, nullable=False, default=False),
    sa.Column("enqueued_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("head_sha", sa.String(64)),
    sa.Column("updated_from", sa.String(64)),
    sa.Column("last_action", sa.String(16)),
    sa.Column("last_detail", sa.Text),
    sa.Column("notified", sa.String(200)),
    sa.Column("slot_since", sa.Double),  # added by migration 2
    sa.Index("ix_merge_queue_repo_base_state", "repo", "base", "state"),
    sa.Index("ix_merge_queue_repo_head", "repo", "head_sha"),
)


@dataclass(frozen=True)
class QueueRow:
    repo: str
    number: int
    base: str
    state: str
    source: str
    requested_by: str | None
    priority: bool
    enqueued_at: float
    updated_at: float
    head_sha: str | None = None
    updated_from: str | None = None
    last_action: str | None = None
    last_detail: str | None = None
    notified: str | None = None
    slot_since: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def _row(data: Any) -> QueueRow:
    return QueueRow(**{k: data._mapping[k] for k in QueueRow.__dataclass_fields__})


def repo_key(owner: str, name: str) -> str:
    return f"{owner}/{name}".lower()


class MergeQueueRepo:
    table = merge_queue

    def __init__(self, store: Store) -> None:
        self.store = store
        self._insert_new: Any = None
        if store.dialect in ("sqlite", "postgresql"):
            if store.dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            bp = sa.bindparam
            cols = ("repo", "number", "base", "state", "source", "requested_by", "priority", "enqueued_at",
                    "updated_at", "head_sha")
            self._insert_new = (insert(merge_queue).values({c: bp(c) for c in cols})
                                .on_conflict_do_nothing(index_elements=["repo", "number"])
                                .returning(merge_queue.c.number))

    def _locked(self, repo: str, number: int) -> Any:
        query = sa.select(merge_queue).where(self._where(repo, number))
        return query.with_for_update() if self.store.dialect == "postgresql" else query

    def _where(self, repo: str, number: int) -> Any:
        t = merge_queue
        return sa.and_(t.c.repo == repo.lower(), t.c.number == number)

    def get(self, repo: str, number: int) -> QueueRow | None:
        with self.store.connect() as conn:
            found = conn.execute(sa.select(merge_queue).where(self._where(repo, number))).first()
        return _row(found) if found is not None else None

    def request(self, repo: str, number: int, *, base: str, source: str, requested_by: str | None,
                priority: bool, now: float, head_sha: str | None = None, revive: bool = True) -> QueueRow:
        """Put ``number`` in the queue (idempotent). An active row keeps its place in line (only
        priority, base and head are refreshed); a merged or cancelled row is queued again at the back
        when ``revive`` (an explicit request), else left as it is (a rule must not undo a cancel)."""
        t = merge_queue
        values = dict(repo=repo.lower(), number=number, base=base, state=QUEUED, source=source,
                      requested_by=requested_by, priority=bool(priority), enqueued_at=now, updated_at=now,
                      head_sha=head_sha)
        with self.store.begin() as conn:
            # Insert-if-absent first: it also takes the write lock (SQLite: BEGIN IMMEDIATE), so the
            # read-modify-write below cannot interleave with another worker's.
            if self._insert_new is not None:
                if conn.execute(self._insert_new, values).first() is not None:
                    return QueueRow(**values)  # type: ignore[arg-type]
            else:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(t).values(**values))
                    return QueueRow(**values)  # type: ignore[arg-type]
                except IntegrityError:
                    pass
            found = conn.execute(self._locked(repo, number)).first()
            assert found is not None
            row = _row(found)
            if row.active:
                changes: dict[str, Any] = {"priority": bool(priority), "base": base, "updated_at": now}
                if revive:  # an explicit request (label added, /merge) says why it is queued from now on
                    changes["source"] = source
                if head_sha:
                    changes["head_sha"] = head_sha
                if base != row.base:  # a new base is a new line: join it at the back, without a slot
                    changes.update(state=QUEUED, enqueued_at=now, updated_from=None)
                conn.execute(sa.update(t).where(self._where(repo, number)).values(**changes))
            elif revive:
                conn.execute(sa.update(t).where(self._where(repo, number)).values(
                    **{k: v for k, v in values.items() if k not in ("repo", "number")},
                    updated_from=None, last_action=None, last_detail=None, notified=None))
            else:
                return row
            again = conn.execute(sa.select(merge_queue).where(self._where(repo, number))).first()
        return _row(again)

    def update(self, repo: str, number: int, now: float, **changes: Any) -> bool:
        """Set columns of an existing row; False when there is none."""
        unknown = set(changes) - set(merge_queue.c.keys())
        if unknown:
            raise ValueError(f"unknown merge_queue columns: {sorted(unknown)}")
        with self.store.begin() as conn:
            result = conn.execute(sa.update(merge_queue).where(self._where(repo, number))
                                  .values(updated_at=now, **changes))
        return result.rowcount == 1

    def set_state(self, repo: str, number: int, state: str, now: float, *, expect: str | None = None,
                  **changes: Any) -> bool:
        """Move a row to ``state``; with ``expect``, only if it is in that state now (compare-and-set)."""
        where = self._where(repo, number)
        if expect is not None:
            where = sa.and_(where, merge_queue.c.state == expect)
        with self.store.begin() as conn:
            result = conn.execute(sa.update(merge_queue).where(where).values(state=state, updated_at=now, **changes))
        return result.rowcount == 1

    def remove(self, repo: str, number: int) -> bool:
        with self.store.begin() as conn:
            return conn.execute(sa.delete(merge_queue).where(self._where(repo, number))).rowcount == 1

    def active(self, repo: str, base: str | None = None) -> list[QueueRow]:
        """Active rows of a repository (one base, or all), unordered (see ``merge.queue.ordered``)."""
        t = merge_queue
        query = sa.select(t).where(t.c.repo == repo.lower(), t.c.state.in_(ACTIVE))
        if base is not None:
            query = query.where(t.c.base == base)
        with self.store.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def by_head(self, repo: str, sha: str) -> list[QueueRow]:
        """Active rows whose last evaluated (or pre-update) head is ``sha``."""
        t = merge_queue
        query = sa.select(t).where(t.c.repo == repo.lower(), t.c.state.in_(ACTIVE),
                                   sa.or_(t.c.head_sha == sha, t.c.updated_from == sha))
        with self.store.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def bases(self, repo: str) -> set[str]:
        """Base branches with an active queue in ``repo``."""
        t = merge_queue
        query = sa.select(t.c.base).where(t.c.repo == repo.lower(), t.c.state.in_(ACTIVE)).distinct()
        with self.store.connect() as conn:
            return {r[0] for r in conn.execute(query)}
