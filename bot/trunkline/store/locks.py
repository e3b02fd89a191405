"""Lease-based named locks (one row per held key).

Used to serialize state-changing work per repository and base branch across threads, processes and
hosts that share the database. A lock is a lease: the holder extends it with heartbeats; if the
holder dies the lease runs out and anyone may take the key, so a crash never deadlocks a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)


class LockRepo:
    table = locks

    def __init__(self, store: Store) -> None:
        self.store = store
        bp = sa.bindparam
        # Built once: statement construction costs more than execution on this hot path.
        self._holder = sa.select(locks.c.owner, locks.c.expires_at).where(locks.c.key == bp("key"))
        self._release = sa.delete(locks).where(locks.c.key == bp("key"), locks.c.owner == bp("owner"))
        # INSERT .. ON CONFLICT DO UPDATE .. WHERE: take a free or expired key in one statement;
        # a row comes back iff it was inserted or taken over (rowcount is unreliable here).
        self._upsert: Any = None
        if store.dialect in ("sqlite", "postgresql"):
            if store.dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(locks).values(key=bp("b_key"), owner=bp("b_owner"), expires_at=bp("expires"))
            self._upsert = stmt.on_conflict_do_update(
                index_elements=[locks.c.key],
                set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
                where=sa.or_(locks.c.owner == stmt.excluded.owner, locks.c.expires_at < bp("now")),
            ).returning(locks.c.key)

    def acquire(self, key: str, owner: str, ttl: float, now: float) -> bool:
        """Take ``key`` for ``owner`` unless someone else holds an unexpired lease on it.

        Re-acquiring a key one already holds succeeds (and extends it). A key that is visibly held
        is refused with a plain read, without taking the database's write lock.
        """
        held = self.holder(key)
        if held is not None and held[0] != owner and held[1] >= now:
            return False
        if self._upsert is not None:
            with self.store.begin() as conn:
                params = {"b_key": key, "b_owner": owner, "expires": now + ttl, "now": now}
                return conn.execute(self._upsert, params).first() is not None
        return self._acquire_generic(key, owner, ttl, now)

    def _acquire_generic(self, key: str, owner: str, ttl: float, now: float) -> bool:
        t = locks
        take_over = (
            sa.update(t)
            .where(t.c.key == key, sa.or_(t.c.owner == owner, t.c.expires_at < now))
            .values(owner=owner, expires_at=now + ttl)
        )
        with self.store.begin() as conn:
            if conn.execute(take_over).rowcount == 1:
                return True
        try:
            with self.store.begin() as conn:
                conn.execute(sa.insert(t).values(key=key, owner=owner, expires_at=now + ttl))
            return True
        except IntegrityError:
            return False  # someone else inserted it between our UPDATE and INSERT, or holds it

    def release(self, key: str, owner: str) -> bool:
        with self.store.begin() as conn:
            return conn.execute(self._release, {"key": key, "owner": owner}).rowcount == 1

    def extend(self, owner_prefix: str, ttl: float, now: float) -> int:
        """Extend every lock whose owner starts with ``owner_prefix`` (a process's heartbeat)."""
        stmt = (
            sa.update(locks)
            .where(locks.c.owner.startswith(owner_prefix, autoescape=True))
            .values(expires_at=now + ttl)
        )
        with self.store.begin() as conn:
            return conn.execute(stmt).rowcount

    def holder(self, key: str) -> tuple[str, float] | None:
        with self.store.connect() as conn:
            row = conn.execute(self._holder, {"key": key}).first()
        return (row[0], row[1]) if row is not None else None
