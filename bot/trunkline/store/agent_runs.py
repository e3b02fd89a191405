"""Agent runs: one row per run started by an issue label or ``/agent`` (``trunkline.agents``).

The durable memory of a run, so that a restarted worker picks it up again from its last checkpoint
(or marks it failed with a visible reason) and a cancel reaches whichever process runs it:

* ``id``: the run id ``YYYYMMDD-HHMMSS-<8 hex>``; ``branch``: ``trunkline/<issue>-<run id>``;
* ``state``: ``queued`` (waiting for a slot: ``agents.concurrency``), ``running`` (``owner`` runs it and
  refreshes ``heartbeat_at``), ``done`` (``outcome`` succeeded / failed / cancelled, ``reason`` why);
* ``step_index``, ``failures``, ``checkpoint_sha``: where the run is — a resumed run starts again at
  ``step_index`` from a fresh checkout of ``checkpoint_sha``; ``steps`` is the checklist shown (JSON);
* ``cancel_reason``: set by whoever cancels (label removed, ``/cancel``, a newer trigger); the owner
  stops the run within a monitor tick;
* ``trigger``: the delivery that started it — unique per repository, so a redelivered webhook never
  starts a second run.

Every write is one short transaction; finishing is compare-and-set on ``state``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata
from trunkline.store.runs_common import RunRepo, SupervisedRow, supervision_columns

if TYPE_CHECKING:
    pass

QUEUED, RUNNING, DONE = "queued", "running", "done"
ACTIVE = (QUEUED, RUNNING)
SLOT_LOCK_CLASS = 0x74724147  # PostgreSQL advisory locks (class, hashtext(repo)): agent-run slots per repository

agent_runs = sa.Table(
    "agent_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("repo", sa.String(300), nullable=False),
    sa.Column("installation_id", sa.BigInteger),
    sa.Column("issue", sa.Integer, nullable=False),
    sa.Column("pr_number", sa.Integer),  # a follow-up run (/agent) works on this pull request's branch
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("trigger_text", sa.String(300)),  # how it was started, for people ("label `agent:implement`")
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("instruction", sa.Text),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("backend", sa.String(16), nullable=False),
    sa.Column("executor", sa.String(16), nullable=False, default="local"),  # "local" for orphan checks
    sa.Column("branch", sa.String(300), nullable=False),
    sa.Column("base_ref", sa.String(300)),
    sa.Column("base_sha", sa.String(64)),
    sa.Column("checkpoint_sha", sa.String(64)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16)),
    sa.Column("reason", sa.Text),
    sa.Column("step_index", sa.Integer, nullable=False, default=0),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("concurrency", sa.Integer, nullable=False, default=1),  # agents.concurrency when triggered
    sa.Column("resumes", sa.Integer, nullable=False, default=0),
    sa.Column("steps", sa.Text),
    sa.Column("comment_id", sa.BigInteger),
    sa.Column("pr_url", sa.Text),
    sa.Column("opened_pr", sa.Integer),
    sa.Column("workflow_run_id", sa.BigInteger),
    sa.Column("run_url", sa.Text),
    *supervision_columns(),  # owner, host, pgid, marker, heartbeat_at, created/started/finished_at, cancel_reason
    sa.UniqueConstraint("repo", "trigger", name="uq_agent_runs_trigger"),
    sa.Index("ix_agent_runs_repo_issue", "repo", "issue"),
    sa.Index("ix_agent_runs_state", "state"),
)


@dataclass(frozen=True)
class AgentRun(SupervisedRow):
    active_states = ACTIVE

    id: str
    repo: str
    installation_id: int | None
    issue: int
    pr_number: int | None
    label: str
    trigger_text: str | None
    actor: str
    instruction: str | None
    trigger: str
    backend: str
    executor: str
    branch: str
    base_ref: str | None
    base_sha: str | None
    checkpoint_sha: str | None
    outcome: str | None
    reason: str | None
    step_index: int
    failures: int
    concurrency: int
    resumes: int
    steps: str | None
    comment_id: int | None
    pr_url: str | None
    opened_pr: int | None
    workflow_run_id: int | None
    run_url: str | None

    @property
    def step_list(self) -> list[dict[str, Any]]:
        return json.loads(self.steps) if self.steps else []


class AgentRunRepo(RunRepo[AgentRun]):
    table = agent_runs
    row_type = AgentRun
    active_states = ACTIVE
    live_states = (RUNNING,)

    def order(self) -> tuple[Any, ...]:
        return (agent_runs.c.created_at, agent_runs.c.id)

    def encode(self, values: dict[str, Any]) -> dict[str, Any]:
        if isinstance(values.get("steps"), list):
            values["steps"] = json.dumps(values["steps"])
        return values

    def for_issue(self, repo: str, issue: int) -> list[AgentRun]:
        t = agent_runs
        return self._select(t.c.repo == repo, t.c.issue == issue)

    def active(self, repo: str | None = None, *, issue: int | None = None) -> list[AgentRun]:
        t = agent_runs
        where = [t.c.state.in_(ACTIVE)]
        if repo is not None:
            where.append(t.c.repo == repo)
        if issue is not None:
            where.append(t.c.issue == issue)
        return self._select(*where)

    def with_ids(self, ids: Iterable[str]) -> list[AgentRun]:
        """The runs among ``ids`` (ids with no row are left out)."""
        wanted = sorted(set(ids))
        found: list[AgentRun] = []
        for start in range(0, len(wanted), 500):
            found.extend(self._select(agent_runs.c.id.in_(wanted[start:start + 500])))
        return found

    def running_count(self, repo: str) -> int:
        t = agent_runs
        with self.store.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t)
                                    .where(t.c.repo == repo, t.c.state == RUNNING)).scalar() or 0)

    # -- writes -----------------------------------------------------------------------------------
    def create(self, **values: Any) -> AgentRun | None:
        """Insert a run; None when the same trigger already started one (a redelivered webhook)."""
        values.setdefault("state", QUEUED)
        try:
            with self.store.begin() as conn:
                conn.execute(sa.insert(agent_runs).values(**self.encode(values)))
        except IntegrityError:
            return None
        return self.get(str(values["id"]))

    def claim_slot(self, run_id: str, owner: str, host: str, now: float, limit: int) -> bool:
        """queued -> running for ``owner``, only while fewer than ``limit`` runs of the repository run.

        The check (count the repository's running rows) and the write (this row) must not be split by
        another claim. SQLite runs a write transaction under its database lock (``BEGIN IMMEDIATE``), so
        one UPDATE whose WHERE counts is exact there. PostgreSQL under READ COMMITTED is not: two claims
        can each count the other's row as still queued. There the transaction first takes an advisory
        lock on the repository (:data:`SLOT_LOCK_CLASS`, ``hashtext(repo)``; released at commit), so
        claims of one repository run one after the other and each counts what the previous committed.
        Other databases take the store's lease lock on ``agent-slots:<repo>`` around the claim."""
        if self.store.dialect == "sqlite":
            return self._claim(run_id, owner, host, now, limit)
        repo = self._queued_repo(run_id)
        if repo is None:
            return False
        if self.store.dialect == "postgresql":
            return self._claim(run_id, owner, host, now, limit, advisory=repo)
        from trunkline.store.locks import LockRepo

        locks, key, me = LockRepo(self.store), f"agent-slots:{repo}", f"claim:{owner}:{run_id}"
        deadline = time.monotonic() + 5.0
        while not locks.acquire(key, me, 30.0, time.time()):
            if time.monotonic() > deadline:
                return False  # the monitor tries again on its next tick
            time.sleep(0.01)
        try:
            return self._claim(run_id, owner, host, now, limit)
        finally:
            locks.release(key, me)

    def _queued_repo(self, run_id: str) -> str | None:
        t = agent_runs
        with self.store.connect() as conn:
            return conn.execute(sa.select(t.c.repo).where(t.c.id == run_id, t.c.state == QUEUED)).scalar()

    def _claim(self, run_id: str, owner: str, host: str, now: float, limit: int, advisory: str | None = None) -> bool:
        t = agent_runs
        other = t.alias("other")
        running = (sa.select(sa.func.count()).select_from(other)
                   .where(other.c.repo == t.c.repo, other.c.state == RUNNING).scalar_subquery())
        with self.store.begin() as conn:
            if advisory is not None:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SLOT_LOCK_CLASS, sa.func.hashtext(advisory))))
            result = conn.execute(sa.update(t).where(t.c.id == run_id, t.c.state == QUEUED, running < limit).values(
                state=RUNNING, owner=owner, host=host, heartbeat_at=now, started_at=now))
            return result.rowcount == 1

    def finish(self, run_id: str, *, outcome: str, reason: str, now: float, **values: Any) -> bool:
        """Mark the run done, once: False when someone else already finished it."""
        return self.transition(run_id, ACTIVE, state=DONE, outcome=outcome, reason=reason[:4000], finished_at=now,
                               pgid=None, **values)

    def adopt(self, run_id: Any, old_owner: str | None, new_owner: str, host: str, now: float,
              **values: Any) -> bool:
        """Take over a running row from a process that is gone; counts the resume."""
        return super().adopt(run_id, old_owner, new_owner, host, now, resumes=agent_runs.c.resumes + 1, **values)
