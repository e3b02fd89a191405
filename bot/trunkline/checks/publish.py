"""Publish a check run idempotently for our App.

Handlers run at least once (a crashed worker re-runs its delivery), so creating a check run
blindly would show duplicates. Each run carries a fingerprint of its content in
``external_id``: when our latest run with that name on that SHA already shows the same content,
publishing is a no-op. An unfinished run of ours is completed in place; a finished run with
other content gets a new run (GitHub shows the newest per name, and PATCH would *append*
annotations to the old ones). GitHub caps annotations at 50 per request; the rest follow in
PATCHes of the new run.

Every create/update of one of our check runs is also published on the pipeline event stream
(``check_run.published``, :func:`trunkline.stream.announce.announce_check_run`); code that writes check
runs through the REST client directly calls it with GitHub's answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from github.CheckRun import CheckRun
from github.Repository import Repository

from trunkline.stream.announce import announce_check_run

MAX_ANNOTATIONS_PER_REQUEST = 50


@dataclass(frozen=True)
class CheckRunSpec:
    """What a check run should show (plain data, built by pure functions)."""

    name: str
    head_sha: str
    conclusion: str | None  # None while still running
    title: str
    summary: str
    text: str | None = None
    annotations: Sequence[dict[str, Any]] = field(default_factory=tuple)
    details_url: str | None = None
    external_id: str | None = None

    @property
    def status(self) -> str:
        return "completed" if self.conclusion else "in_progress"

    def fingerprint(self) -> str:
        content = json.dumps([self.name, self.conclusion, self.title, self.summary, self.text,
                              list(self.annotations)], sort_keys=True, default=str)
        return "tl-" + hashlib.sha256(content.encode()).hexdigest()[:32]

    def output(self, annotations: Sequence[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "summary": self.summary}
        if self.text:
            out["text"] = self.text
        if annotations:
            out["annotations"] = list(annotations)
        return out


def annotation_batches(annotations: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split annotations into GitHub-sized batches (at least one, possibly empty, batch)."""
    items = list(annotations)
    if not items:
        return [[]]
    return [items[i:i + MAX_ANNOTATIONS_PER_REQUEST] for i in range(0, len(items), MAX_ANNOTATIONS_PER_REQUEST)]


def find_own_run(repo: Repository, head_sha: str, name: str, app_id: int | None) -> CheckRun | None:
    """Our newest check run called ``name`` on ``head_sha`` (GitHub lists newest first)."""
    for run in repo.get_commit(head_sha).get_check_runs(check_name=name, filter="latest"):
        if app_id is None or (run.app is not None and run.app.id == app_id):
            return run
    return None


def publish_check_run(repo: Repository, spec: CheckRunSpec, *, app_id: int | None) -> CheckRun:
    """Create or update our check run ``spec.name`` on ``spec.head_sha``; returns it."""
    batches = annotation_batches(spec.annotations)
    fields: dict[str, Any] = {"status": spec.status, "output": spec.output(batches[0])}
    if spec.conclusion:
        fields["conclusion"] = spec.conclusion
    if spec.details_url:
        fields["details_url"] = spec.details_url
    fields["external_id"] = spec.external_id or spec.fingerprint()
    run = find_own_run(repo, spec.head_sha, spec.name, app_id)
    if run is not None and run.external_id == fields["external_id"] and run.status == spec.status:
        return run  # already published (a re-run of the same delivery)
    if run is not None and run.status != "completed":
        run.edit(**fields)
    else:
        run = repo.create_check_run(name=spec.name, head_sha=spec.head_sha, **fields)
    for batch in batches[1:]:
        run.edit(output=spec.output(batch))
    announce_check_run(run)
    return run
