"""GitHub Actions executor: dispatch the repository's tier workflow and follow its run.

``POST /repos/{o}/{r}/actions/workflows/{workflow}/dispatches`` with ``ref`` (the pull request's head
branch, or the default branch for a head that lives in a fork) and inputs ``tier`` + ``sha`` (+ the
tier's ``inputs``), asking for ``return_run_details``. When GitHub answers with the run's id the run is
known at once; otherwise (an older GitHub answering 204) the run is matched when it shows up — in a
``workflow_run`` webhook or in the run list — by workflow file, ``workflow_dispatch`` event, head SHA
and creation time after the dispatch (:func:`match_run`, pure).

A workflow run's conclusion becomes the tier's verdict (:func:`verdict_from_run`, pure); cancelling a
superseded tier cancels its run (``POST .../actions/runs/{id}/cancel``).

The workflow itself runs ``trunkline verify --tier ${{ inputs.tier }}`` on ``${{ inputs.sha }}``
(see ``actions/verify``), so the commands, budget and JUnit handling are the same as locally.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from ..config import Tier
from ..result import TierResult
from ..runner import BUDGET, CANCELLED, ERROR, FAILED, PASSED

#: Seconds a run may be created before the dispatch was recorded (clocks differ a little).
CLOCK_SKEW = 10.0


def _q(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class Dispatched:
    ok: bool
    run_id: int | None = None
    run_url: str | None = None  # html_url of the run when known
    error: str | None = None


@dataclass(frozen=True)
class PendingDispatch:
    """What a dispatched row remembers, for matching (plain data)."""

    row_id: int
    workflow: str  # file name, e.g. trunkline-verify.yml
    head_sha: str | None  # the SHA the run must have (None: dispatched on another branch)
    dispatched_at: float  # unix seconds


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def run_workflow_file(run: dict[str, Any]) -> str:
    path = str(run.get("path") or "")
    return path.rsplit("/", 1)[-1].split("@", 1)[0]


def match_run(pending: Sequence[PendingDispatch], run: dict[str, Any], taken: set[int] = frozenset()) -> int | None:
    """The dispatched row a new workflow run belongs to (the oldest that fits), or None (pure)."""
    if run.get("event") != "workflow_dispatch":
        return None
    created = parse_time(run.get("created_at")) or 0.0
    for p in sorted(pending, key=lambda x: (x.dispatched_at, x.row_id)):
        if p.row_id in taken or run_workflow_file(run) != p.workflow:
            continue
        if p.head_sha is not None and run.get("head_sha") != p.head_sha:
            continue
        if created + CLOCK_SKEW < p.dispatched_at:
            continue
        return p.row_id
    return None


def verdict_from_run(conclusion: str | None) -> tuple[str, str]:
    """(verdict, reason) for a completed workflow run's conclusion (pure)."""
    if conclusion == "success":
        return PASSED, ""
    if conclusion == "failure":
        return FAILED, "the workflow run failed"
    if conclusion == "timed_out":
        return BUDGET, "the workflow run timed out"
    if conclusion == "cancelled":
        return CANCELLED, "the workflow run was cancelled"
    return ERROR, f"the workflow run ended '{conclusion or 'without a conclusion'}'"


def result_from_workflow_run(tier: Tier, run: dict[str, Any], sha: str, *, budget: float | None = None) -> TierResult:
    verdict, reason = verdict_from_run(run.get("conclusion"))
    started = parse_time(run.get("run_started_at") or run.get("created_at"))
    ended = parse_time(run.get("updated_at"))
    duration = round(ended - started, 3) if started and ended and ended >= started else 0.0
    number = run.get("run_number")
    note = (f"GitHub Actions run {'#' + str(number) if number else run.get('id')} of "
            f"`{run_workflow_file(run) or tier.workflow}` concluded **{run.get('conclusion')}**; its job summary "
            "has the commands' report.")
    return TierResult(tier.name, verdict, tier.required, budget if budget is not None else tier.budget, duration,
                      sha=sha, reason=reason, notes=(note,), executor="actions", details_url=run.get("html_url"))


def dispatch(client: Any, owner: str, repo: str, tier: Tier, sha: str, ref: str) -> Dispatched:
    """Dispatch the tier's workflow on ``ref`` with inputs tier + sha (+ the tier's inputs)."""
    url = f"/repos/{_q(owner)}/{_q(repo)}/actions/workflows/{_q(tier.workflow)}/dispatches"
    body = {"ref": ref, "inputs": {**tier.inputs, "tier": tier.name, "sha": sha}, "return_run_details": True}
    try:
        _, data = client.request_json("POST", url, input=body)
    except GithubException as exc:
        message = exc.data.get("message") if isinstance(exc.data, dict) else None
        return Dispatched(False, error=f"GitHub refused to dispatch `.github/workflows/{tier.workflow}` on "
                                       f"`{ref}` ({exc.status}: {message or exc})")
    if isinstance(data, dict) and data.get("workflow_run_id"):
        return Dispatched(True, int(data["workflow_run_id"]), data.get("html_url"))
    return Dispatched(True)


def get_run(client: Any, owner: str, repo: str, run_id: int) -> dict[str, Any]:
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/actions/runs/{int(run_id)}")
    return data


def candidate_runs(client: Any, owner: str, repo: str, workflow: str, head_sha: str | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"event": "workflow_dispatch", "per_page": 30}
    if head_sha:
        params["head_sha"] = head_sha
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/actions/workflows/{_q(workflow)}/runs",
                                  parameters=params)
    return list((data or {}).get("workflow_runs") or [])


def cancel_run(client: Any, owner: str, repo: str, run_id: int) -> bool:
    """Cancel a workflow run; False when GitHub says it already completed (409)."""
    try:
        client.request_json("POST", f"/repos/{_q(owner)}/{_q(repo)}/actions/runs/{int(run_id)}/cancel")
    except GithubException as exc:
        if exc.status == 409:
            return False
        raise
    return True
