"""Recorded test attempts per tree SHA, for flaky-test detection (``trunkline flaky``).

``flaky_runs``: one row per ``trunkline flaky`` session (repository, tree SHA, commit, pytest exit
status). ``flaky_attempts``: one row per execution of one test in a session — a re-run is another row.
A test is flaky when, across every run stored for its tree SHA, it both passed and failed; the tree
(not the commit) is the key because a re-committed or rebased identical tree is the same code.

A session is written in one transaction, so a reader never sees half of a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.flaky.analysis import Attempt
    from trunkline.store.base import Store

flaky_runs = sa.Table(
    "flaky_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("repo", sa.String(300), nullable=False),
    sa.Column("tree_sha", sa.String(64), nullable=False),
    sa.Column("commit_sha", sa.String(64)),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double, nullable=False),
    sa.Column("exit_code", sa.Integer, nullable=False),
    sa.Column("reruns", sa.Integer, nullable=False),
    sa.Index("ix_flaky_runs_repo_tree", "repo", "tree_sha"),
)

flaky_attempts = sa.Table(
    "flaky_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("flaky_runs.run_id", ondelete="CASCADE"), nullable=False),
    sa.Column("repo", sa.String(300), nullable=False),
    sa.Column("tree_sha", sa.String(64), nullable=False),
    sa.Column("nodeid", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("duration", sa.Double, nullable=False),
    sa.Column("quarantined", sa.Boolean, nullable=False),
    sa.Column("message", sa.Text),
    sa.Index("ix_flaky_attempts_repo_tree", "repo", "tree_sha"),
)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    repo: str
    tree_sha: str
    commit_sha: str | None
    started_at: float
    finished_at: float
    exit_code: int
    reruns: int


class FlakyRunRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, run: RunRecord, attempts: Iterable[Attempt]) -> None:
        """Store one session and all its attempts (one transaction)."""
        repo = run.repo.lower()
        rows = [{"run_id": run.run_id, "repo": repo, "tree_sha": run.tree_sha, "nodeid": a.nodeid,
                 "attempt": a.attempt, "outcome": a.outcome, "duration": a.duration, "quarantined": a.quarantined,
                 "message": a.message} for a in attempts]
        with self.store.begin() as conn:
            conn.execute(sa.insert(flaky_runs).values(
                run_id=run.run_id, repo=repo, tree_sha=run.tree_sha, commit_sha=run.commit_sha,
                started_at=run.started_at, finished_at=run.finished_at, exit_code=run.exit_code,
                reruns=run.reruns))
            if rows:
                conn.execute(sa.insert(flaky_attempts), rows)

    def attempts(self, repo: str, tree_sha: str) -> list[Attempt]:
        from trunkline.flaky.analysis import Attempt

        t = flaky_attempts
        query = (sa.select(t.c.nodeid, t.c.attempt, t.c.outcome, t.c.duration, t.c.quarantined, t.c.message,
                           t.c.run_id)
                 .where(t.c.repo == repo.lower(), t.c.tree_sha == tree_sha).order_by(t.c.id))
        with self.store.engine.connect() as conn:
            return [Attempt(r.nodeid, r.attempt, r.outcome, r.duration, bool(r.quarantined), r.message, r.run_id)
                    for r in conn.execute(query)]

    def runs(self, repo: str, tree_sha: str) -> list[RunRecord]:
        t = flaky_runs
        query = sa.select(t).where(t.c.repo == repo.lower(), t.c.tree_sha == tree_sha).order_by(t.c.started_at)
        with self.store.engine.connect() as conn:
            return [RunRecord(r.run_id, r.repo, r.tree_sha, r.commit_sha, r.started_at, r.finished_at, r.exit_code,
                              r.reruns) for r in conn.execute(query)]


__all__ = ["FlakyRunRepo", "RunRecord", "flaky_attempts", "flaky_runs"]
