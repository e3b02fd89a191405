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

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata
from trunkline.store.runs_common import RunRepo, SupervisedRow, supervision_columns

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
    *supervision_columns(),  # owner, host, pgid, marker, heartbeat_at, created/started/finished_at, cancel_reason
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
class GateRun(SupervisedRow):
    active_states = ACTIVE

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
    required: bool
    budget: float
    check_run_id: int | None
    verdict: str | None
    conclusion: str | None
    title: str | None
    workflow: str | None
    dispatch_ref: str | None
    dispatched_at: float | None
    workflow_run_id: int | None
    run_url: str | None


def repo_key(owner: str, repo: str) -> str:
    return f"{owner}/{repo}".lower()


class GateRunRepo(RunRepo[GateRun]):
    table = gate_runs
    row_type = GateRun
    active_states = ACTIVE
    live_states = ACTIVE

    # -- reads ------------------------------------------------------------------------------------
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

    def finish(self, run_id: int, *, verdict: str, conclusion: str, title: str, now: float) -> bool:
        """Mark the run done, once: False when someone else already finished it."""
        return self.transition(run_id, ACTIVE, state=DONE, verdict=verdict, conclusion=conclusion,
                               title=title[:2000], finished_at=now, pgid=None)
