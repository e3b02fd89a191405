"""Verify-tier runs: one row per tier run on one commit (``trunkline.gates``).

The durable memory of what is running where, so that a restarted worker knows: a local run whose
process is gone is *orphaned* (its check run is completed with a visible reason), a dispatched GitHub
Actions run is still followed, a re-push cancels the right runs whichever process started them.

* ``state``: ``queued`` (recorded, waiting for a slot), ``running`` (local: a process of ``owner``
  runs it; ``pgid`` is its current process group), ``dispatched`` (actions: waiting for the workflow
  run), ``done`` (the check run shows the outcome);
* ``owner``: ``host:pid:token`` of the process running it; it refreshes ``heartbeat_at`` while it lives;
* ``cancel_reason``: set by whoever cancels (e.g. "superseded by 1a2b3c4"); the owner stops the run;
* ``trigger``: what started it (a delivery id, a command) — (repo, head_sha, tier, trigger) is unique,
  so a redelivered webhook never starts a tier twice.

Every write is one short transaction; state changes that must happen once (finishing a run) are
compare-and-set on ``state``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

QUEUED, RUNNING, DISPATCHED, DONE = "queued", "running", "dispatched", "done"
ACTIVE = (QUEUED, RUNNING, DISPATCHED)

gate_runs = sa.Table(
    "gate_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("repo", sa.String(300), nullable=False),
    sa.Column("installation_id", sa.BigInteger),
    sa.Column("number", sa.Integer),
    sa.Column("head_sha", sa.String(64), nullable=False),
    sa.Column("head_ref", sa.String(300)),
    sa.Column("tier", sa.String(64), nullable=False),
    sa.Column("executor", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("required", sa.Boolean, nullable=False, default=True),
    sa.Column("budget", sa.Double, nullable=False, default=0.0),
    sa.Column("check_run_id", sa.BigInteger),
    sa.Column("owner", sa.String(200)),
    sa.Column("host", sa.String(200)),
    sa.Column("pgid", sa.Integer),
    sa.Column("marker", sa.String(64)),
    sa.Column("heartbeat_at", sa.Double),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Column("cancel_reason", sa.Text),
    sa.Column("verdict", sa.String(32)),
    sa.Column("conclusion", sa.String(32)),
    sa.Column("title", sa.Text),
    sa.Column("workflow", sa.String(200)),
    sa.Column("dispatch_ref", sa.String(300)),
    sa.Column("dispatched_at", sa.Double),
    sa.Column("workflow_run_id", sa.BigInteger),
    sa.Column("run_url", sa.Text),
    sa.UniqueConstraint("repo", "head_sha", "tier", "trigger", name="uq_gate_runs_trigger"),
    sa.Index("ix_gate_runs_repo_number_state", "repo", "number", "state"),
    sa.Index("ix_gate_runs_repo_head", "repo", "head_sha"),
    sa.Index("ix_gate_runs_state", "state"),
    sa.Index("ix_gate_runs_workflow_run", "workflow_run_id"),
)


@dataclass(frozen=True)
class GateRun:
    id: int
    repo: str
    installation_id: int | None
    number: int | None
    head_sha: str
    head_ref: str | None
    tier: str
    executor: str
    trigger: str
    reason: str | None
    state: str
    required: bool
    budget: float
    check_run_id: int | None
    owner: str | None
    host: str | None
    pgid: int | None
    marker: str | None
    heartbeat_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    cancel_reason: str | None
    verdict: str | None
    conclusion: str | None
    title: str | None
    workflow: str | None
    dispatch_ref: str | None
    dispatched_at: float | None
    workflow_run_id: int | None
    run_url: str | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def owner_name(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def repo_name(self) -> str:
        return self.repo.split("/", 1)[1]


def repo_key(owner: str, repo: str) -> str:
    return f"{owner}/{repo}".lower()


def _row(data: Any) -> GateRun:
    return GateRun(**{k: data._mapping[k] for k in GateRun.__dataclass_fields__})


class GateRunRepo:
    table = gate_runs

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reads ------------------------------------------------------------------------------------
    def _select(self, *where: Any, order: Any = None) -> list[GateRun]:
        t = gate_runs
        stmt = sa.select(t).where(*where).order_by(order if order is not None else t.c.id)
        with self.store.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def get(self, run_id: int) -> GateRun | None:
        found = self._select(gate_runs.c.id == run_id)
        return found[0] if found else None

    def active(self, repo: str, *, number: int | None = None, head_sha: str | None = None,
               tier: str | None = None) -> list[GateRun]:
        t = gate_runs
        where = [t.c.repo == repo, t.c.state.in_(ACTIVE)]
        if number is not None:
            where.append(t.c.number == number)
        if head_sha is not None:
            where.append(t.c.head_sha == head_sha)
        if tier is not None:
            where.append(t.c.tier == tier)
        return self._select(*where)

    def for_head(self, repo: str, head_sha: str) -> list[GateRun]:
        t = gate_runs
        return self._select(t.c.repo == repo, t.c.head_sha == head_sha)

    def latest_per_tier(self, repo: str, head_sha: str) -> dict[str, GateRun]:
        out: dict[str, GateRun] = {}
        for run in self.for_head(repo, head_sha):  # ordered by id: later rows win
            out[run.tier] = run
        return out

    def by_workflow_run(self, repo: str, workflow_run_id: int) -> list[GateRun]:
        t = gate_runs
        return self._select(t.c.repo == repo, t.c.workflow_run_id == workflow_run_id)

    def awaiting_run(self, repo: str) -> list[GateRun]:
        """Dispatched rows of ``repo`` whose workflow run is not known yet (oldest first)."""
        t = gate_runs
        return self._select(t.c.repo == repo, t.c.state == DISPATCHED, t.c.workflow_run_id.is_(None))

    def in_state(self, *states: str) -> list[GateRun]:
        return self._select(gate_runs.c.state.in_(states))

    def cancel_requests(self, owner: str) -> list[GateRun]:
        t = gate_runs
        return self._select(t.c.owner == owner, t.c.state.in_(ACTIVE), t.c.cancel_reason.is_not(None))

    # -- writes -----------------------------------------------------------------------------------
    def create(self, **values: Any) -> GateRun | None:
        """Insert a run (state ``queued`` unless given); None when the same trigger already started
        this tier on this commit (a redelivered webhook)."""
        values.setdefault("state", QUEUED)
        try:
            with self.store.begin() as conn:
                new_id = conn.execute(sa.insert(gate_runs).values(**values)).inserted_primary_key[0]
        except IntegrityError:
            return None
        return self.get(int(new_id))

    def delete(self, run_id: int) -> None:
        with self.store.begin() as conn:
            conn.execute(sa.delete(gate_runs).where(gate_runs.c.id == run_id))

    def update(self, run_id: int, **values: Any) -> None:
        with self.store.begin() as conn:
            conn.execute(sa.update(gate_runs).where(gate_runs.c.id == run_id).values(**values))

    def transition(self, run_id: int, from_states: Iterable[str], **values: Any) -> bool:
        """Compare-and-set: apply ``values`` only while the row is in one of ``from_states``."""
        t = gate_runs
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.state.in_(tuple(from_states)))
                                  .values(**values))
            return result.rowcount == 1

    def finish(self, run_id: int, *, verdict: str, conclusion: str, title: str, now: float) -> bool:
        """Mark the run done, once: False when someone else already finished it."""
        return self.transition(run_id, ACTIVE, state=DONE, verdict=verdict, conclusion=conclusion,
                               title=title[:2000], finished_at=now, pgid=None)

    def request_cancel(self, run_id: int, reason: str) -> bool:
        t = gate_runs
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.state.in_(ACTIVE),
                                                     t.c.cancel_reason.is_(None)).values(cancel_reason=reason))
            return result.rowcount == 1

    def heartbeat(self, owner: str, now: float) -> int:
        t = gate_runs
        with self.store.begin() as conn:
            return conn.execute(sa.update(t).where(t.c.owner == owner, t.c.state.in_(ACTIVE))
                                .values(heartbeat_at=now)).rowcount

    def adopt(self, run_id: int, old_owner: str | None, new_owner: str, host: str, now: float) -> bool:
        """Take over an active row from a process that is gone (compare-and-set on the owner)."""
        t = gate_runs
        owner_is = t.c.owner.is_(None) if old_owner is None else t.c.owner == old_owner
        with self.store.begin() as conn:
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.state.in_(ACTIVE), owner_is)
                                  .values(owner=new_owner, host=host, heartbeat_at=now))
            return result.rowcount == 1
