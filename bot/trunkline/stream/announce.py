"""The events the bot itself publishes, built from what the call site has at hand.

Each ``*_fields`` function is pure (plain data in, the model's fields out) so it is tested without a
server; the ``announce_*`` functions build and publish (``trunkline.stream.emit``: never raises).

* ``delivery.processed`` — :func:`announce_processed`, from the processor (``trunkline.runtime``);
* ``check_run.published`` — :func:`announce_check_run`, after each create/update of one of our check
  runs (``trunkline.checks.publish``, the gates' tier runs, the merge check);
* ``merge.decided`` — :func:`announce_merge`, once per evaluation (``trunkline.merge.service``).

``delivery.received`` comes from the webhook receiver's writer (``trunkline.ingest.writer``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trunkline.api.events import CheckRunPublished, DeliveryProcessed, MergeDecided

from . import current, emit, stable_id

REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
SHA = re.compile(r"^[0-9a-f]{40}$")
_RUN_URL = re.compile(r"/repos/([^/]+)/([^/]+)/check-runs/\d+")
CHECK_STATUSES = frozenset({"queued", "in_progress", "completed"})
CONCLUSIONS = frozenset({"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"})
MAX_ERROR = 2000


def repo_name(value: Any) -> str | None:
    return value if isinstance(value, str) and REPO_NAME.match(value) else None


# -- delivery.processed ------------------------------------------------------------------------------

def processed_fields(*, guid: str, event: str, action: str | None, repo: str | None, outcome: str, attempt: int,
                     duration_s: float, error: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": stable_id(guid, "processed", attempt), "delivery": guid, "event": event,
                              "outcome": outcome, "attempt": max(1, attempt),
                              "duration_ms": round(max(0.0, duration_s) * 1000, 3)}
    if action is not None:
        fields["action"] = action
    if repo_name(repo):
        fields["repository"] = repo
    if error:
        fields["error"] = error if len(error) <= MAX_ERROR else error[:MAX_ERROR - 3] + "..."
    return fields


def announce_processed(record: Any, outcome: str, duration_s: float, error: str | None = None) -> None:
    """``record`` is a ``DeliveryRecord``; ``outcome`` handled / ignored / retrying / failed."""
    emit(DeliveryProcessed, **processed_fields(guid=record.guid, event=record.event, action=record.action,
                                               repo=record.repo, outcome=outcome, attempt=record.attempts,
                                               duration_s=duration_s, error=error))


# -- check_run.published -----------------------------------------------------------------------------

def check_run_fields(run: Mapping[str, Any], repository: str | None = None) -> dict[str, Any] | None:
    """From a check run as GitHub returns it (``repository``: ``owner/name`` when the run's ``url`` does
    not say); None when it is not something the contract can describe."""
    url_match = _RUN_URL.search(str(run.get("url") or ""))
    repo = f"{url_match.group(1)}/{url_match.group(2)}" if url_match else repository
    head_sha, status, name = run.get("head_sha"), run.get("status"), run.get("name")
    if not repo_name(repo) or not isinstance(head_sha, str) or not SHA.match(head_sha) \
            or status not in CHECK_STATUSES or not isinstance(name, str):
        return None
    fields: dict[str, Any] = {"repository": repo, "name": name, "head_sha": head_sha, "status": status}
    conclusion = run.get("conclusion")
    if conclusion in CONCLUSIONS:
        fields["conclusion"] = conclusion
    output = run.get("output") or {}
    if isinstance(output.get("title"), str):
        fields["title"] = output["title"]
    if isinstance(output.get("annotations_count"), int) and output["annotations_count"] >= 0:
        fields["annotations"] = output["annotations_count"]
    pulls = [p.get("number") for p in run.get("pull_requests") or () if isinstance(p, Mapping)]
    if pulls and isinstance(pulls[0], int) and pulls[0] >= 1:
        fields["pull_request"] = pulls[0]
    if isinstance(run.get("html_url"), str) and run["html_url"].startswith(("http://", "https://")):
        fields["html_url"] = run["html_url"]
    return fields


def announce_check_run(run: Any, repository: str | None = None) -> None:
    """``run``: the JSON of a check run we just created or updated (a dict, or a PyGithub ``CheckRun``)."""
    if current() is None:
        return
    data = run if isinstance(run, Mapping) else getattr(run, "_rawData", None)  # never a lazy GET
    fields = check_run_fields(data, repository) if isinstance(data, Mapping) else None
    if fields is not None:
        emit(CheckRunPublished, **fields)


# -- merge.decided -----------------------------------------------------------------------------------

#: MergeResult.outcome -> the contract's decision (updating = the gates run again on the updated head)
DECISIONS = {"merged": "merge", "waiting": "wait", "updating": "wait", "blocked": "blocked"}


def merge_fields(*, repository: str, number: int, outcome: str, head_sha: str, reasons: list[str],
                 method: str | None = None, merge_sha: str | None = None) -> dict[str, Any] | None:
    decision = DECISIONS.get(outcome)
    if decision is None or not repo_name(repository) or not SHA.match(head_sha or "") or number < 1:
        return None
    fields: dict[str, Any] = {"repository": repository, "pull_request": number, "head_sha": head_sha,
                              "decision": decision, "reasons": reasons}
    if decision == "merge" and method in ("merge", "squash", "rebase"):
        fields["method"] = method
    if merge_sha and SHA.match(merge_sha):
        fields["merge_sha"] = merge_sha
    return fields


def announce_merge(repository: str, result: Any, method: str | None = None) -> None:
    """``result``: a ``trunkline.merge.service.MergeResult`` (nothing is published without a decision)."""
    decision = getattr(result, "decision", None)
    if decision is None or current() is None:
        return
    reasons = [f"{c.name}: {c.detail}" if c.detail else c.name for c in decision.reasons]
    if result.outcome == "updating":
        reasons.append("branch updated with its base: the gates run again on the new head")
    fields = merge_fields(repository=repository, number=result.number, outcome=result.outcome,
                          head_sha=decision.sha, reasons=reasons, method=method, merge_sha=result.merge_sha)
    if fields is not None:
        emit(MergeDecided, **fields)
