"""What the stores of supervised runs share (``gate_runs``, ``agent_runs``): reads of rows as frozen
dataclasses, and the short compare-and-set writes their services' monitors make — cancel requests,
heartbeats, adopting a run whose owner is gone (see :mod:`trunkline.jobs.supervise`).

A subclass names its ``table``, its row dataclass ``row_type`` (fields = the columns it reads), the
``order`` of listings, the states its runs are ``active`` in, and the states a heartbeat / an adoption
applies to (``live_states``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa

if TYPE_CHECKING:
    from trunkline.store.base import Store

R = TypeVar("R")


def supervision_columns() -> list[sa.Column[Any]]:
    """The columns a supervised run's table has (new objects for each table): who runs it (``owner``
    ``host:pid:token``, ``host``, its process group ``pgid`` and the ``marker`` variable its processes
    carry), its heartbeat, its times and the cancel request."""
    return [
        sa.Column("owner", sa.String(200)),
        sa.Column("host", sa.String(200)),
        sa.Column("pgid", sa.Integer),
        sa.Column("marker", sa.String(64)),
        sa.Column("heartbeat_at", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("cancel_reason", sa.Text),
    ]


class RunRow:
    """Base of the row dataclasses: the parts of ``repo`` (``owner/name``, lower case)."""

    repo: str

    @property
    def owner_name(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def repo_name(self) -> str:
        return self.repo.split("/", 1)[1]


@dataclass(frozen=True)
class SupervisedRow(RunRow):
    """Base of a supervised run's row: the fields of :func:`supervision_columns` (a subclass adds its
    table's other columns; rows are made by keyword) and whether the run is in one of ``active_states``."""

    active_states: ClassVar[tuple[str, ...]] = ()
    state: str
    owner: str | None
    host: str | None
    pgid: int | None
    marker: str | None
    heartbeat_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    cancel_reason: str | None

    @property
    def active(self) -> bool:
        return self.state in self.active_states


class RunRepo(Generic[R]):
    table: ClassVar[sa.Table]
    row_type: ClassVar[type]
    active_states: ClassVar[tuple[str, ...]]
    live_states: ClassVar[tuple[str, ...]]  # heartbeats and adoptions apply to rows in these states

    def __init__(self, store: Store) -> None:
        self.store = store

    def order(self) -> tuple[Any, ...]:
        return (self.table.c.id,)

    def encode(self, values: dict[str, Any]) -> dict[str, Any]:
        """Column values as stored (a subclass turns its structured fields into JSON)."""
        return values

    def _row(self, data: Any) -> R:
        return self.row_type(**{f.name: data._mapping[f.name] for f in fields(self.row_type)})  # type: ignore[no-any-return]

    # -- reads ------------------------------------------------------------------------------------
    def _select(self, *where: Any, order: Any = None) -> list[R]:
        stmt = sa.select(self.table).where(*where).order_by(*((order,) if order is not None else self.order()))
        with self.store.connect() as conn:
            return [self._row(r) for r in conn.execute(stmt)]

    def get(self, run_id: Any) -> R | None:
        found = self._select(self.table.c.id == run_id)
        return found[0] if found else None

    def in_state(self, *states: str) -> list[R]:
        return self._select(self.table.c.state.in_(states))

    def cancel_requests(self, owner: str) -> list[R]:
        t = self.table
        return self._select(t.c.owner == owner, t.c.state.in_(self.active_states), t.c.cancel_reason.is_not(None))

    # -- writes -----------------------------------------------------------------------------------
    def update(self, run_id: Any, **values: Any) -> None:
        with self.store.begin() as conn:
            conn.execute(sa.update(self.table).where(self.table.c.id == run_id).values(**self.encode(values)))

    def transition(self, run_id: Any, from_states: Iterable[str], **values: Any) -> bool:
        """Compare-and-set: apply ``values`` only while the row is in one of ``from_states``."""
        t = self.table
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.state.in_(tuple(from_states)))
                                  .values(**self.encode(values)))
            return result.rowcount == 1

    def request_cancel(self, run_id: Any, reason: str) -> bool:
        """Record why the run must stop (the first reason wins); its owner's monitor stops it."""
        t = self.table
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.state.in_(self.active_states),
                                                     t.c.cancel_reason.is_(None)).values(cancel_reason=reason))
            return result.rowcount == 1

    def heartbeat(self, owner: str, now: float) -> int:
        t = self.table
        with self.store.begin() as conn:
            return conn.execute(sa.update(t).where(t.c.owner == owner, t.c.state.in_(self.live_states))
                                .values(heartbeat_at=now)).rowcount

    def adopt(self, run_id: Any, old_owner: str | None, new_owner: str, host: str, now: float,
              **values: Any) -> bool:
        """Take over a row from a process that is gone (compare-and-set on the owner)."""
        t = self.table
        owner_is = t.c.owner.is_(None) if old_owner is None else t.c.owner == old_owner
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.state.in_(self.live_states), owner_is)
                                  .values(owner=new_owner, host=host, heartbeat_at=now, **values))
            return result.rowcount == 1
