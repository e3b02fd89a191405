"""Deploy runs: one row per canary run (``trunkline.deploy``), the controller's whole record in ``record``.

* ``record``: the JSON of :class:`trunkline.deploy.controller.Record` (state, step, window, outbox, ...);
  ``state`` / ``sha`` / ``repo`` are copies for queries;
* ``version``: bumped by every write; writes are compare-and-set on it, so a command (``/rollback``)
  and the reconcile loop never overwrite each other;
* ``lease_owner`` / ``lease_expires``: the worker reconciling the run (``host:pid:token``); a lease
  that ran out, or whose process is dead on this host, is taken over (the new owner *resumes*);
* ``trigger``: what created it (``merge``, ``command:<comment id>``); (repo, sha, trigger) is unique, so
  a redelivered push never starts a second run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

TERMINAL_STATES = ("succeeded", "rolled_back", "aborted", "superseded", "error")

deploy_runs = sa.Table(
    "deploy_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("repo", sa.String(300), nullable=False),
    sa.Column("installation_id", sa.BigInteger),
    sa.Column("sha", sa.String(64), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires", sa.Double),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.UniqueConstraint("repo", "sha", "trigger", name="uq_deploy_runs_trigger"),
    sa.Index("ix_deploy_runs_repo_done", "repo", "done"),
    sa.Index("ix_deploy_runs_done", "done"),
)


@dataclass(frozen=True)
class DeployRunRow:
    id: int
    repo: str
    installation_id: int | None
    sha: str
    trigger: str
    state: str
    done: bool
    version: int
    record: str
    lease_owner: str | None
    lease_expires: float | None
    created_at: float
    updated_at: float

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.record)


def _row(data: Any) -> DeployRunRow:
    return DeployRunRow(**{k: data._mapping[k] for k in DeployRunRow.__dataclass_fields__})


class DeployRunRepo:
    table = deploy_runs

    def __init__(self, store: Store) -> None:
        self.store = store

    def _select(self, *where: Any, order: Any = None) -> list[DeployRunRow]:
        t = deploy_runs
        stmt = sa.select(t).where(*where).order_by(order if order is not None else t.c.id)
        with self.store.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def get(self, run_id: int) -> DeployRunRow | None:
        found = self._select(deploy_runs.c.id == run_id)
        return found[0] if found else None

    def unfinished(self) -> list[DeployRunRow]:
        """Runs the reconcile loop still has to tick (not terminal, or effects left), oldest first."""
        return self._select(deploy_runs.c.done.is_(False))

    def for_repo(self, repo: str, *, unfinished_only: bool = False) -> list[DeployRunRow]:
        t = deploy_runs
        where = [t.c.repo == repo]
        if unfinished_only:
            where.append(t.c.done.is_(False))
        return self._select(*where)

    def latest(self, repo: str) -> DeployRunRow | None:
        t = deploy_runs
        found = self._select(t.c.repo == repo, order=t.c.id.desc())
        return found[0] if found else None

    def create(self, *, repo: str, installation_id: int | None, sha: str, trigger: str, state: str,
               record: dict[str, Any], now: float) -> DeployRunRow | None:
        """Insert a run; None when this trigger already created one for this commit."""
        try:
            with self.store.begin() as conn:
                new_id = conn.execute(sa.insert(deploy_runs).values(
                    repo=repo, installation_id=installation_id, sha=sha, trigger=trigger[:200], state=state,
                    done=False, version=1, record=json.dumps(record), created_at=now, updated_at=now,
                )).inserted_primary_key[0]
        except IntegrityError:
            return None
        return self.get(int(new_id))

    def save(self, run_id: int, version: int, *, record: dict[str, Any], state: str, done: bool, now: float,
             owner: str | None = None) -> bool:
        """Compare-and-set the record: only while the row is still at ``version`` (and, given an owner,
        still leased to it). The row's version becomes ``version + 1``."""
        t = deploy_runs
        where = [t.c.id == run_id, t.c.version == version]
        if owner is not None:
            where.append(t.c.lease_owner == owner)
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(*where).values(
                record=json.dumps(record), state=state, done=done, version=version + 1, updated_at=now))
            return result.rowcount == 1

    def acquire(self, run_id: int, owner: str, ttl: float, now: float, *, take_from: str | None = None) -> bool:
        """Lease the run to ``owner``: free, expired, already ours, or explicitly ``take_from`` (a dead owner)."""
        t = deploy_runs
        free = sa.or_(t.c.lease_owner.is_(None), t.c.lease_owner == owner, t.c.lease_expires < now)
        if take_from is not None:
            free = sa.or_(free, t.c.lease_owner == take_from)
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.done.is_(False), free)
                                  .values(lease_owner=owner, lease_expires=now + ttl))
            return result.rowcount == 1

    def extend(self, owner: str, ttl: float, now: float) -> int:
        t = deploy_runs
        with self.store.begin() as conn:
            return conn.execute(sa.update(t).where(t.c.lease_owner == owner, t.c.done.is_(False))
                                .values(lease_expires=now + ttl)).rowcount

    def release(self, run_id: int, owner: str) -> bool:
        t = deploy_runs
        with self.store.begin() as conn:
            return conn.execute(sa.update(t).where(t.c.id == run_id, t.c.lease_owner == owner)
                                .values(lease_owner=None, lease_expires=None)).rowcount == 1
