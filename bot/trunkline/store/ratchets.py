"""Remembered ratchet measurements: one row per (repository, commit, measurement recipe).

A commit's metrics do not change, so the bot measures each commit once per recipe (the digest of the
commands and the metric definitions): the default branch's commit measured after a merge is the base
of the next pull requests, whose table then shows its values without running the tests again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

ratchet_measurements = sa.Table(
    "ratchet_measurements",
    metadata,
    sa.Column("repo", sa.String(300), primary_key=True),
    sa.Column("sha", sa.String(64), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("base_sha", sa.String(64), nullable=True),  # what patch metrics were measured against
    sa.Column("readings", sa.Text, nullable=False),  # JSON {name: {"value", "status", "detail"}}
    sa.Column("notes", sa.Text, nullable=False, default="[]"),  # JSON list of strings
    sa.Column("measured_at", sa.Double, nullable=False),
)


class MeasurementRepo:
    table = ratchet_measurements

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, repo: str, sha: str, digest: str) -> tuple[dict[str, Any], list[str], str | None] | None:
        """(readings, notes, base sha) of the remembered measurement, or None."""
        t = ratchet_measurements
        query = sa.select(t.c.readings, t.c.notes, t.c.base_sha).where(t.c.repo == repo.lower(), t.c.sha == sha,
                                                         t.c.digest == digest)
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return json.loads(row.readings), json.loads(row.notes or "[]"), row.base_sha

    def put(self, repo: str, sha: str, digest: str, readings: dict[str, Any], notes: list[str], now: float, *,
            base_sha: str | None = None) -> None:
        t = ratchet_measurements
        values = {"base_sha": base_sha, "readings": json.dumps(readings, sort_keys=True), "notes": json.dumps(notes), "measured_at": now}
        key = {"repo": repo.lower(), "sha": sha, "digest": digest}
        try:
            with self.store.begin() as conn:
                conn.execute(sa.insert(t).values(**key, **values))
        except IntegrityError:
            with self.store.begin() as conn:
                conn.execute(sa.update(t).where(t.c.repo == key["repo"], t.c.sha == sha, t.c.digest == digest)
                             .values(**values))
