"""Lease-based named locks (one row per held key).

Used to serialize state-changing work per repository and base branch across threads, processes and
hosts that share the database. A lock is a lease: the holder extends it with heartbeats; if the
holder dies the lease runs out and anyone may take the key, so a crash never deadlocks a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

    def acquire(self, key: str, owner: str, ttl: float, now: float) -> bool:
        """Take ``key`` for ``owner`` unless someone else holds an unexpired lease on it.

        Re-acquiring a key one already holds succeeds (and extends it).
        """
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
            return conn.execute(sa.delete(locks).where(locks.c.key == key, locks.c.owner == owner)).rowcount == 1

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
            row = conn.execute(sa.select(locks.c.owner, locks.c.expires_at).where(locks.c.key == key)).first()
        return (row[0], row[1]) if row is not None else None
