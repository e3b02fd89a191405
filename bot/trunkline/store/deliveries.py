"""Webhook deliveries: the durable inbox between ``POST /webhooks/github`` and the workers.

Life of a row (``status``)::

    queued --claim--> running --ok--> done
       ^                 |  \\--error, attempts left--> queued (not_before = now + backoff)
       |                 |   \\-error, no attempts left / malformed--> failed (kept, visible)
       +--lease expired--+   (the worker died: another worker may claim it again)

A claim is a single conditional UPDATE, so two workers can never both run a delivery while its
lease is valid; the running worker heartbeats the lease. Times are UNIX seconds (floats).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

try:  # headers are stored as JSON text; orjson is only faster, the text is the same JSON
    import orjson

    def _dump_json(value: Any) -> str:
        return orjson.dumps(value).decode()

    def _load_json(body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:  # stricter than json (NaN, huge ints): json decides
            return json.loads(body)
except ImportError:  # pragma: no cover
    def _dump_json(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    _load_json = json.loads

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("guid", sa.String(100), primary_key=True),
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("action", sa.String(100)),
    sa.Column("installation_id", sa.BigInteger),
    sa.Column("repo", sa.String(300)),
    # trunkline.jobs.keys.serial_key(event, payload): deliveries sharing it never run concurrently
    sa.Column("serial_key", sa.String(500)),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default=QUEUED),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires", sa.Double),
    sa.Column("not_before", sa.Double, nullable=False, default=0.0),
    sa.Column("enqueued_at", sa.Double),
    sa.Column("updated_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Index("ix_deliveries_status_not_before", "status", "not_before"),
    sa.Index("ix_deliveries_serial_key_status", "serial_key", "status", "received_at"),
)

_INSERT_COLUMNS = ("guid", "event", "action", "installation_id", "repo", "serial_key", "headers", "body",
                   "received_at")


@dataclass(frozen=True)
class DeliveryRecord:
    """One stored delivery, as the worker hands it to the processor."""

    guid: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: str = QUEUED
    attempts: int = 0
    last_error: str | None = None
    lease_owner: str | None = None
    lease_expires: float | None = None
    not_before: float = 0.0
    finished_at: float | None = None
    serial_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The parsed JSON body; raises ``ValueError`` if it is not a JSON object."""
        value = _load_json(self.body)
        if not isinstance(value, dict):
            raise ValueError(f"payload is a JSON {type(value).__name__}, not an object")
        return value

    @property
    def received(self) -> datetime:
        return datetime.fromtimestamp(self.received_at, tz=UTC)

    @classmethod
    def from_row(cls, row: sa.Row) -> DeliveryRecord:
        m = row._mapping
        return cls(
            guid=m["guid"], event=m["event"], action=m["action"], installation_id=m["installation_id"],
            repo=m["repo"], headers=dict(m["headers"] or {}), body=bytes(m["body"]),
            received_at=m["received_at"], status=m["status"], attempts=m["attempts"],
            last_error=m["last_error"], lease_owner=m["lease_owner"], lease_expires=m["lease_expires"],
            not_before=m["not_before"] or 0.0, finished_at=m["finished_at"], serial_key=m["serial_key"],
        )


def _claimable(now: float) -> sa.ColumnElement[bool]:
    t = deliveries
    return sa.or_(
        sa.and_(t.c.status == QUEUED, t.c.not_before <= now),
        sa.and_(t.c.status == RUNNING, t.c.lease_expires < now),
    )


@dataclass(frozen=True)
class Peek:
    status: str
    not_before: float
    lease_expires: float | None
    serial_key: str | None
    event: str

    def claimable(self, now: float) -> bool:
        return ((self.status == QUEUED and (self.not_before or 0.0) <= now)
                or (self.status == RUNNING and (self.lease_expires or 0.0) < now))


def new_row(
    guid: str, event: str, *, body: bytes, headers: dict[str, str], received_at: float,
    action: str | None = None, installation_id: int | None = None, repo: str | None = None,
    serial_key: str | None = None,
) -> dict[str, Any]:
    """The insert parameters for a freshly received delivery."""
    return {
        "guid": guid, "event": event, "action": action, "installation_id": installation_id,
        "repo": repo, "serial_key": serial_key, "headers": headers, "body": body, "received_at": received_at,
    }


def _prebuilt() -> dict[str, Any]:
    """The worker's hot statements, built once with bind parameters: constructing and cache-keying
    a statement per call costs more than running it."""
    t = deliveries
    bp = sa.bindparam
    claimable = sa.or_(
        sa.and_(t.c.status == QUEUED, t.c.not_before <= bp("now")),
        sa.and_(t.c.status == RUNNING, t.c.lease_expires < bp("now")),
    )
    # next_for_key: two index range scans on (serial_key, status, received_at) rather than one OR
    # that would walk every finished delivery of the key. "+ 0" keeps the planner off the
    # (status, not_before) index, which holds the due rows of every key.
    parts = [
        sa.select(t.c.guid, t.c.received_at)
        .where(t.c.serial_key == bp("key"), t.c.status == status, cond)
        .order_by(t.c.received_at)
        .limit(1)
        .subquery()
        for status, cond in ((QUEUED, t.c.not_before + 0 <= bp("now")), (RUNNING, t.c.lease_expires < bp("now")))
    ]
    both = sa.union_all(*(sa.select(p.c.guid, p.c.received_at) for p in parts)).subquery()
    return {
        "get": sa.select(t).where(t.c.guid == bp("guid")),
        "peek": sa.select(t.c.status, t.c.not_before, t.c.lease_expires, t.c.serial_key, t.c.event)
        .where(t.c.guid == bp("guid")),
        "next_for_key": sa.select(both.c.guid).order_by(both.c.received_at).limit(1),
        "claim": sa.update(t)
        .where(t.c.guid == bp("b_guid"), claimable)
        .values(status=RUNNING, lease_owner=bp("owner"), lease_expires=bp("expires"),
                attempts=t.c.attempts + 1, updated_at=bp("now"))
        .returning(*t.c),
        "done": sa.update(t)
        .where(t.c.guid == bp("b_guid"), t.c.status == RUNNING, t.c.lease_owner == bp("owner"))
        .values(status=DONE, lease_owner=None, lease_expires=None, updated_at=bp("now"), finished_at=bp("now")),
    }


class DeliveryRepo:
    """All SQL about deliveries. Every method is one short transaction."""

    table = deliveries

    def __init__(self, store: Store) -> None:
        self.store = store
        self._insert_new = self._build_insert_new()
        self._stmts = _prebuilt()

    def _build_insert_new(self) -> Any:
        t = deliveries
        dialect = self.store.dialect
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            return None
        return (
            insert(t)
            .values({c: sa.bindparam(c) for c in (*_INSERT_COLUMNS, "enqueued_at", "updated_at")}
                    | {"status": QUEUED, "attempts": 0, "not_before": 0.0})
            .on_conflict_do_nothing(index_elements=["guid"])
            .returning(t.c.guid)
        )

    # -- ingest -----------------------------------------------------------------------------
    def insert_new(self, rows: Sequence[dict[str, Any]], now: float) -> set[str]:
        """Insert the rows whose guid is not stored yet, in one transaction; return those guids.

        Rows repeating a guid already stored (or earlier in ``rows``) are left out, so the caller
        can answer "duplicate" for them.
        """
        unique: dict[str, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row["guid"], row)
        if not unique:
            return set()
        if self.store.dialect == "sqlite":
            return self._insert_new_sqlite(list(unique.values()), now)
        params = [dict(r, enqueued_at=now, updated_at=now) for r in unique.values()]
        if self._insert_new is not None:
            with self.store.begin() as conn:
                return {r[0] for r in conn.execute(self._insert_new, params)}
        return self._insert_new_generic(params)

    def _insert_new_sqlite(self, rows: list[dict[str, Any]], now: float) -> set[str]:
        """The ingest hot path on SQLite: driver-level SQL, one write transaction.

        ``BEGIN IMMEDIATE`` takes the write lock first, so the existence check and the insert see
        the same state even with other writer processes; no RETURNING needed.
        """
        table = deliveries.name
        columns = (*_INSERT_COLUMNS, "status", "attempts", "not_before", "enqueued_at", "updated_at")
        row_marks = f"({', '.join('?' * len(columns))})"
        with self.store.begin() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            existing: set[str] = set()
            for i in range(0, len(rows), 500):
                chunk = tuple(r["guid"] for r in rows[i:i + 500])
                existing.update(r[0] for r in conn.exec_driver_sql(
                    f"SELECT guid FROM {table} WHERE guid IN ({', '.join('?' * len(chunk))})", chunk))
            fresh = [r for r in rows if r["guid"] not in existing]
            # One multi-row INSERT rather than executemany: the driver releases and re-takes the GIL
            # around every statement step, and each re-take can wait behind the busy event loop.
            for i in range(0, len(fresh), 200):
                chunk = fresh[i:i + 200]
                params: list[Any] = []
                for r in chunk:
                    params += (r["guid"], r["event"], r["action"], r["installation_id"], r["repo"],
                               r.get("serial_key"), _dump_json(r["headers"]), r["body"], r["received_at"],
                               QUEUED, 0, 0.0, now, now)
                conn.exec_driver_sql(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row_marks] * len(chunk))}",
                    tuple(params))
        return {r["guid"] for r in fresh}

    def _insert_new_generic(self, params: list[dict[str, Any]]) -> set[str]:
        inserted: set[str] = set()
        for p in params:
            try:
                with self.store.begin() as conn:
                    conn.execute(deliveries.insert().values(status=QUEUED, attempts=0, not_before=0.0), p)
                inserted.add(p["guid"])
            except IntegrityError:
                pass
        return inserted

    # -- reads ------------------------------------------------------------------------------
    def get(self, guid: str) -> DeliveryRecord | None:
        with self.store.connect() as conn:
            row = conn.execute(self._stmts["get"], {"guid": guid}).first()
        return DeliveryRecord.from_row(row) if row is not None else None

    def peek(self, guid: str) -> Peek | None:
        """The scheduling-relevant columns of one delivery (no body): cheap to check and skip."""
        with self.store.connect() as conn:
            row = conn.execute(self._stmts["peek"], {"guid": guid}).first()
        return Peek(*row) if row is not None else None

    def set_serial_key(self, guid: str, key: str) -> None:
        with self.store.begin() as conn:
            conn.execute(sa.update(deliveries).where(deliveries.c.guid == guid).values(serial_key=key))

    def next_for_key(self, key: str, now: float) -> str | None:
        """The oldest claimable delivery with this serialization key (for the key's lock holder)."""
        with self.store.connect() as conn:
            return conn.execute(self._stmts["next_for_key"], {"key": key, "now": now}).scalar()

    def known_guids(self, guids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(guids))
        found: set[str] = set()
        with self.store.connect() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                found.update(r[0] for r in conn.execute(
                    sa.select(deliveries.c.guid).where(deliveries.c.guid.in_(chunk))))
        return found

    def count(self, status: str | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(deliveries)
        if status is not None:
            stmt = stmt.where(deliveries.c.status == status)
        with self.store.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def counts_by_status(self) -> dict[str, int]:
        stmt = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
        with self.store.connect() as conn:
            return {status: int(n) for status, n in conn.execute(stmt)}

    # -- worker state machine ---------------------------------------------------------------
    def claim(self, guid: str, owner: str, lease_seconds: float, now: float) -> DeliveryRecord | None:
        """Atomically take ``guid`` for ``owner``: it must be queued and due, or running with an
        expired lease (its worker died). Counts an attempt. ``None`` if someone else has it or it
        is finished."""
        params = {"b_guid": guid, "owner": owner, "expires": now + lease_seconds, "now": now}
        with self.store.begin() as conn:
            row = conn.execute(self._stmts["claim"], params).first()
        return DeliveryRecord.from_row(row) if row is not None else None

    def heartbeat(self, owner_prefix: str, lease_seconds: float, now: float) -> int:
        """Extend the leases of every running delivery whose owner starts with ``owner_prefix``."""
        t = deliveries
        stmt = (
            sa.update(t)
            .where(t.c.status == RUNNING, t.c.lease_owner.startswith(owner_prefix, autoescape=True))
            .values(lease_expires=now + lease_seconds)
        )
        with self.store.begin() as conn:
            return conn.execute(stmt).rowcount

    def _finish(self, guid: str, owner: str, now: float, **values: Any) -> bool:
        t = deliveries
        stmt = (
            sa.update(t)
            .where(t.c.guid == guid, t.c.status == RUNNING, t.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires=None, updated_at=now, **values)
        )
        with self.store.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def mark_done(self, guid: str, owner: str, now: float) -> bool:
        with self.store.begin() as conn:
            return conn.execute(self._stmts["done"], {"b_guid": guid, "owner": owner, "now": now}).rowcount == 1

    def mark_retry(self, guid: str, owner: str, error: str, not_before: float, now: float) -> bool:
        # enqueued_at = when its scheduled task is due, so recovery does not count the wait as loss
        return self._finish(guid, owner, now, status=QUEUED, last_error=error, not_before=not_before,
                            enqueued_at=not_before)

    def mark_failed(self, guid: str, owner: str, error: str, now: float) -> bool:
        return self._finish(guid, owner, now, status=FAILED, last_error=error, finished_at=now)

    def release(self, guid: str, owner: str, now: float, not_before: float) -> bool:
        """Hand a claimed delivery back untouched (the attempt does not count)."""
        return self._finish(guid, owner, now, status=QUEUED, not_before=not_before,
                            attempts=deliveries.c.attempts - 1, enqueued_at=not_before)

    # -- recovery ---------------------------------------------------------------------------
    def recoverable(self, now: float, enqueued_before: float, limit: int = 1000) -> list[str]:
        """Deliveries that should be (re-)enqueued: running with an expired lease, or queued and
        due but not enqueued since ``enqueued_before`` (their task may have been lost)."""
        t = deliveries
        stmt = (
            sa.select(t.c.guid)
            .where(sa.or_(
                sa.and_(t.c.status == RUNNING, t.c.lease_expires < now),
                sa.and_(t.c.status == QUEUED, t.c.not_before <= now,
                        sa.or_(t.c.enqueued_at.is_(None), t.c.enqueued_at < enqueued_before)),
            ))
            .order_by(t.c.received_at)
            .limit(limit)
        )
        with self.store.connect() as conn:
            return [r[0] for r in conn.execute(stmt)]

    def touch_enqueued(self, guids: Sequence[str], now: float) -> None:
        t = deliveries
        with self.store.begin() as conn:
            for i in range(0, len(guids), 500):
                conn.execute(sa.update(t).where(t.c.guid.in_(guids[i:i + 500])).values(enqueued_at=now))
