"""Check runs and check suites — GitHub's Checks API and its ``check_run``/``check_suite`` webhooks.

Only GitHub Apps (installation tokens) create and update check runs, like on GitHub. A run
belongs to its App's check suite for the head sha (created on first use); the suite's status
and conclusion roll up from its runs. ``check_run.created`` / ``completed`` go to every
subscribed App; ``rerequested`` and ``requested_action`` (and ``check_suite.rerequested``) only
to the App that owns the run or suite, as GitHub does.

Pure decisions (input validation, roll-up) are plain functions at the top; routes are thin.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from .. import git
from ..hooks import emit_to_app
from ..http import (
    GitHubError,
    get_repo,
    not_found,
    paginate,
    principal_of,
    require_write,
    validation_failed,
    world_of,
)
from ..shapes import checks as shapes
from ..shapes.issues import envelope
from ..world import AppReg, CheckRun, CheckSuite, Repo, World, now

router = APIRouter()

RUN_STATUSES = ("queued", "in_progress", "completed")
ACTIONS_ONLY_STATUSES = ("waiting", "requested", "pending")  # reserved for GitHub Actions
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")
ANNOTATION_LEVELS = ("notice", "warning", "failure")
MAX_ANNOTATIONS = 50
MAX_ACTIONS = 3
MAX_TEXT = 65535
# Worst first: the suite takes the first of these that any of its runs concluded with.
SUITE_PRECEDENCE = ("action_required", "cancelled", "timed_out", "failure", "stale", "neutral", "success")
NOT_AN_APP = "You must authenticate via a GitHub App."


# ============================================================================ pure decisions

def _invalid(field: str, message: str | None = None, code: str = "invalid") -> GitHubError:
    return validation_failed(f"Invalid request.\n\n{message}" if message else "Validation Failed",
                             resource="CheckRun", field=field, code=code)


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise _invalid(field, f"{field} is not a valid ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(field, f"{field} is not a valid ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def _check_annotations(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise _invalid("output.annotations", "annotations must be an array")
    if len(items) > MAX_ANNOTATIONS:
        raise _invalid("output.annotations", f"Only {MAX_ANNOTATIONS} annotations are allowed per request")
    out = []
    for a in items:
        if not isinstance(a, dict):
            raise _invalid("output.annotations", "each annotation must be an object")
        for key in ("path", "start_line", "end_line", "annotation_level", "message"):
            if a.get(key) in (None, ""):
                raise _invalid(f"output.annotations.{key}", f"annotation {key} is required", "missing_field")
        if not isinstance(a["start_line"], int) or not isinstance(a["end_line"], int) or a["end_line"] < a["start_line"]:
            raise _invalid("output.annotations.end_line", "start_line and end_line must be lines, start <= end")
        if a["annotation_level"] not in ANNOTATION_LEVELS:
            raise _invalid("output.annotations.annotation_level",
                           f"annotation_level must be one of {', '.join(ANNOTATION_LEVELS)}")
        if (a.get("start_column") is not None or a.get("end_column") is not None) and a["start_line"] != a["end_line"]:
            raise _invalid("output.annotations.start_column",
                           "start_column and end_column may only be given when start_line == end_line")
        out.append({k: a.get(k) for k in ("path", "start_line", "end_line", "start_column", "end_column",
                                          "annotation_level", "message", "title", "raw_details")})
    return out


def _check_actions(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or len(items) > MAX_ACTIONS:
        raise _invalid("actions", f"actions must be an array of at most {MAX_ACTIONS}")
    out = []
    for a in items:
        if not isinstance(a, dict) or not all(isinstance(a.get(k), str) and a.get(k) for k in
                                              ("label", "description", "identifier")):
            raise _invalid("actions", "each action needs label, description and identifier", "missing_field")
        if len(a["label"]) > 20 or len(a["identifier"]) > 20 or len(a["description"]) > 40:
            raise _invalid("actions", "label and identifier are at most 20 characters, description 40")
        out.append({"label": a["label"], "description": a["description"], "identifier": a["identifier"]})
    return out


def check_run_changes(body: dict[str, Any], *, creating: bool, current_status: str | None = None) -> dict[str, Any]:
    """Validate a create/update body; the normalised changes (GitHub's rules, 422 otherwise).

    Giving a ``conclusion`` implies ``status: completed``; ``completed`` (or ``completed_at``)
    requires a ``conclusion``; ``stale`` is GitHub's to set; output needs title and summary.
    """
    ch: dict[str, Any] = {}
    if creating or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _invalid("name", "name is required", "missing_field")
        ch["name"] = name
    if creating:
        head_sha = body.get("head_sha")
        if not isinstance(head_sha, str) or not head_sha.strip():
            raise _invalid("head_sha", "head_sha is required", "missing_field")
        ch["head_sha"] = head_sha.strip()
    for key in ("details_url", "external_id"):
        if key in body:
            if body[key] is not None and not isinstance(body[key], str):
                raise _invalid(key)
            ch[key] = body[key] or None
    status = body.get("status")
    if status is not None:
        if status in ACTIONS_ONLY_STATUSES:
            raise _invalid("status", f"Only GitHub Actions can set a status of {status}")
        if status not in RUN_STATUSES:
            raise _invalid("status", f"status must be one of {', '.join(RUN_STATUSES)}")
    conclusion = body.get("conclusion")
    if conclusion is not None:
        if conclusion not in CONCLUSIONS:
            raise _invalid("conclusion", f"conclusion must be one of {', '.join(CONCLUSIONS)}")
        if conclusion == "stale":
            raise _invalid("conclusion", "You cannot change a check run conclusion to stale, only GitHub can set this.")
        if status not in (None, "completed"):
            raise _invalid("conclusion", "conclusion can only be given with status completed")
        status = "completed"
        ch["conclusion"] = conclusion
    if status == "completed" and conclusion is None:
        raise _invalid("conclusion", "Conclusion is required when status is completed", "missing_field")
    if body.get("completed_at") is not None:
        if conclusion is None:
            raise _invalid("conclusion", "Conclusion is required when completed_at is given", "missing_field")
        ch["completed_at"] = parse_time(body["completed_at"], "completed_at")
    if body.get("started_at") is not None:
        ch["started_at"] = parse_time(body["started_at"], "started_at")
    if status is not None:
        ch["status"] = status
    elif creating:
        ch["status"] = "queued"
    if body.get("output") is not None:
        out = body["output"]
        if not isinstance(out, dict):
            raise _invalid("output", "output must be an object")
        if creating or current_status is not None:
            for key in ("title", "summary"):
                if not isinstance(out.get(key), str):
                    raise _invalid(f"output.{key}", f"output.{key} is required", "missing_field")
        for key in ("summary", "text"):
            if isinstance(out.get(key), str) and len(out[key]) > MAX_TEXT:
                raise _invalid(f"output.{key}", f"output.{key} is longer than {MAX_TEXT} characters")
        ch["output"] = {k: out[k] for k in ("title", "summary", "text") if k in out}
        ch["annotations"] = _check_annotations(out.get("annotations") or [])
    if body.get("actions") is not None:
        ch["actions"] = _check_actions(body["actions"])
    return ch


def rollup(runs: Iterable[CheckRun]) -> tuple[str, str | None]:
    """A suite's (status, conclusion) from its runs (latest run per name)."""
    latest = latest_per_name(runs)
    if not latest:
        return "queued", None
    if any(r.status != "completed" for r in latest):
        started = any(r.status in ("in_progress", "completed") for r in latest)
        return ("in_progress" if started else "queued"), None
    seen = {r.conclusion for r in latest}
    for conclusion in SUITE_PRECEDENCE:
        if conclusion in seen:
            return "completed", conclusion
    return "completed", "neutral"  # only skipped runs


def latest_per_name(runs: Iterable[CheckRun]) -> list[CheckRun]:
    """The most recent run of each (app, name) — GitHub's ``filter=latest``."""
    best: dict[tuple[int | None, str], CheckRun] = {}
    for run in runs:
        key = (run.app_id, run.name)
        if key not in best or run.id > best[key].id:
            best[key] = run
    return sorted(best.values(), key=lambda r: r.id, reverse=True)


# ============================================================================ world-level behaviour

def resolve_commit(repo: Repo, ref: str) -> str | None:
    """A sha or branch/tag name -> commit sha (None when unknown)."""
    try:
        return git.resolve(repo, ref)
    except git.GitError:
        return None


def head_branch_for(repo: Repo, sha: str) -> str | None:
    """The branch a suite reports: the default branch or a pull request head at ``sha``, else any tip."""
    for pull in repo.pulls.values():
        if pull.head_sha == sha and pull.head_repo_id == repo.id:
            return pull.head_ref
    try:
        tips = git.branches(repo)
    except git.GitError:
        return None
    if tips.get(repo.default_branch) == sha:
        return repo.default_branch
    for branch, tip in sorted(tips.items()):
        if tip == sha:
            return branch
    return None


def suite_for(world: World, repo: Repo, app_id: int | None, head_sha: str) -> CheckSuite:
    """The App's check suite for ``head_sha``, created on first use."""
    with world.lock:
        for suite in repo.check_suites.values():
            if suite.app_id == app_id and suite.head_sha == head_sha:
                return suite
        suite = CheckSuite(id=world.next_id(), head_sha=head_sha, head_branch=head_branch_for(repo, head_sha),
                           app_id=app_id)
        repo.check_suites[suite.id] = suite
        return suite


def _emit_run(world: World, repo: Repo, run: CheckRun, action: str, sender: str, *, only_owner: bool = False,
              **extra: Any) -> None:
    payload = envelope(world, repo, sender, action,
                       check_run=shapes.check_run(world, repo, run, flavour="webhook"), **extra)
    emit_to_app(world, run.app_id if only_owner else None, "check_run", payload, repo)


def refresh_suite(world: World, repo: Repo, suite: CheckSuite, sender: str) -> None:
    """Re-roll the suite from its runs; ``check_suite.completed`` when it just completed."""
    with world.lock:
        before = (suite.status, suite.conclusion)
        suite.status, suite.conclusion = rollup(r for r in repo.check_runs.values() if r.check_suite_id == suite.id)
        if (suite.status, suite.conclusion) != before:
            suite.updated_at = now()
            if suite.status == "completed":
                world.emit("check_suite", envelope(world, repo, sender, "completed",
                                                   check_suite=shapes.check_suite(world, repo, suite, flavour="webhook",
                                                                                  action="completed")),
                           repo=repo)


def _apply(run: CheckRun, ch: dict[str, Any]) -> None:
    for key in ("name", "details_url", "external_id", "status", "conclusion", "started_at", "completed_at"):
        if key in ch:
            setattr(run, key, ch[key])
    if "output" in ch:
        run.output = {**run.output, **ch["output"]}
        run.annotations.extend(ch.get("annotations", []))  # annotations append, like GitHub
    if "actions" in ch:
        run.actions = ch["actions"]
    if run.status == "completed" and run.completed_at is None:
        run.completed_at = now()
    if run.status != "completed":
        run.conclusion = None
        run.completed_at = None


def create_check_run(world: World, repo: Repo, app_id: int, sender: str, body: dict[str, Any]) -> CheckRun:
    """Create a run from a REST body (validated here): ``check_run.created`` (+ ``completed``)."""
    ch = check_run_changes(body, creating=True)
    with world.lock:
        sha = ch["head_sha"]
        if not git.is_sha(sha) or git.object_type(repo, sha) != "commit":
            raise validation_failed(f"No commit found for SHA: {sha}", resource="CheckRun", field="head_sha",
                                    code="invalid")
        suite = suite_for(world, repo, app_id, sha)
        run = CheckRun(id=world.next_id(), check_suite_id=suite.id, head_sha=sha, name=ch["name"], app_id=app_id)
        _apply(run, ch)
        repo.check_runs[run.id] = run
        _emit_run(world, repo, run, "created", sender)
        if run.status == "completed":
            _emit_run(world, repo, run, "completed", sender)
        refresh_suite(world, repo, suite, sender)
        return run


def update_check_run(world: World, repo: Repo, run: CheckRun, sender: str, body: dict[str, Any]) -> CheckRun:
    """Update a run: ``check_run.completed`` when it completes (or its conclusion changes)."""
    ch = check_run_changes(body, creating=False, current_status=run.status)
    with world.lock:
        before = (run.status, run.conclusion)
        _apply(run, ch)
        if run.status == "completed" and (run.status, run.conclusion) != before:
            _emit_run(world, repo, run, "completed", sender)
        refresh_suite(world, repo, repo.check_suites[run.check_suite_id], sender)
        return run


def rerequest_run(world: World, repo: Repo, run: CheckRun, sender: str) -> None:
    if run.status != "completed":
        raise validation_failed("This check run is not rerequestable", resource="CheckRun", code="invalid",
                                field="status")
    _emit_run(world, repo, run, "rerequested", sender, only_owner=True)


def rerequest_suite(world: World, repo: Repo, suite: CheckSuite, sender: str) -> None:
    emit_to_app(world, suite.app_id, "check_suite", envelope(
        world, repo, sender, "rerequested",
        check_suite=shapes.check_suite(world, repo, suite, flavour="webhook", action="rerequested")), repo)


def request_action(world: World, repo: Repo, run_id: int, identifier: str, user: str) -> None:
    """A person pressed one of the run's action buttons: ``check_run.requested_action`` to its App."""
    with world.lock:
        run = repo.check_runs[run_id]
        if identifier not in {a["identifier"] for a in run.actions}:
            raise KeyError(f"check run {run_id} offers no action {identifier!r}")
        _emit_run(world, repo, run, "requested_action", user, only_owner=True,
                  requested_action={"identifier": identifier})


_PUSH_LISTENER = "_trunkline_checks_push_listener"


def wants_check_suites(app: AppReg) -> bool:
    """GitHub requests a check suite from Apps with the checks permission that subscribe to it."""
    return app.permissions.get("checks") in ("read", "write") and (
        "check_suite" in app.events or "*" in app.events)


def on_push(world: World, repo: Repo, ref: str, before: str, after: str, who: str) -> None:
    """A branch moved: every App that wants check suites gets one for the new head
    (``check_suite.requested``, sent to that App only)."""
    if not ref.startswith("refs/heads/") or not after or set(after) == {"0"}:
        return
    with world.lock:
        for app in sorted(world.apps.values(), key=lambda a: a.id):
            if not wants_check_suites(app) or world.installation_for_repo(repo, app.id) is None:
                continue
            suite = suite_for(world, repo, app.id, after)
            if suite.head_branch is None:
                suite.head_branch = ref[len("refs/heads/"):]
            emit_to_app(world, app.id, "check_suite", envelope(
                world, repo, who, "requested",
                check_suite=shapes.check_suite(world, repo, suite, flavour="webhook", action="requested")), repo)


def install(world: World) -> None:
    """Register :func:`on_push` (idempotent). Call it after ``trunkline.sandbox.pushes.install`` so
    the ``push`` webhook goes out before ``check_suite.requested``, as on GitHub."""
    with world.lock:
        if getattr(world, _PUSH_LISTENER, False):
            return
        setattr(world, _PUSH_LISTENER, True)
        world.push_listeners.append(lambda repo, ref, before, after, who: on_push(world, repo, ref, before,
                                                                                  after, who))


# ============================================================================ routes

def _app_principal(request: Request) -> tuple[int, str]:
    principal = principal_of(request)
    if principal.kind != "installation" or principal.app_id is None:
        raise GitHubError(403, NOT_AN_APP)
    return principal.app_id, principal.login or ""


def _run(r: Repo, check_run_id: int) -> CheckRun:
    run = r.check_runs.get(check_run_id)
    if run is None:
        raise not_found()
    return run


def _suite(r: Repo, check_suite_id: int) -> CheckSuite:
    suite = r.check_suites.get(check_suite_id)
    if suite is None:
        raise not_found()
    return suite


def _body(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return payload


def _may_rerequest(request: Request, r: Repo, owner_app_id: int | None) -> str:
    principal = principal_of(request)
    if principal.kind == "installation":
        if principal.app_id != owner_app_id:
            raise GitHubError(403, "Forbidden: the check belongs to another GitHub App")
        return principal.login or ""
    return require_write(request, r, "write")  # a person pressing "Re-run" in the UI


@router.post("/repos/{owner}/{repo}/check-runs", status_code=201)
def create_run(request: Request, owner: str, repo: str, payload: Any = Body(None)) -> JSONResponse:
    r = get_repo(request, owner, repo)
    app_id, sender = _app_principal(request)
    world = world_of(request)
    with world.lock:
        run = create_check_run(world, r, app_id, sender, _body(payload))
        return JSONResponse(shapes.check_run(world, r, run), status_code=201)


@router.get("/repos/{owner}/{repo}/check-runs/{check_run_id}")
def get_run(request: Request, owner: str, repo: str, check_run_id: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return shapes.check_run(world, r, _run(r, check_run_id))


@router.patch("/repos/{owner}/{repo}/check-runs/{check_run_id}")
def update_run(request: Request, owner: str, repo: str, check_run_id: int,
               payload: Any = Body(None)) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    app_id, sender = _app_principal(request)
    world = world_of(request)
    with world.lock:
        run = _run(r, check_run_id)
        if run.app_id != app_id:
            raise GitHubError(403, f"Invalid app_id `{app_id}` - check run can only be modified by the "
                                   "GitHub App that created it.")
        update_check_run(world, r, run, sender, _body(payload))
        return shapes.check_run(world, r, run)


@router.get("/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations")
def list_annotations(request: Request, owner: str, repo: str, check_run_id: int) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        run = _run(r, check_run_id)
        return paginate(request, [shapes.annotation(world, r, run, a) for a in run.annotations])


@router.post("/repos/{owner}/{repo}/check-runs/{check_run_id}/rerequest", status_code=201)
def rerequest_run_route(request: Request, owner: str, repo: str, check_run_id: int) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        run = _run(r, check_run_id)
        rerequest_run(world, r, run, _may_rerequest(request, r, run.app_id))
    return JSONResponse({}, status_code=201)


def _filter_runs(runs: list[CheckRun], check_name: str | None, status: str | None, filter: str,
                 app_id: int | None) -> list[CheckRun]:
    if filter not in ("latest", "all"):
        raise validation_failed(resource="CheckRun", field="filter", code="invalid")
    if status is not None and status not in RUN_STATUSES:
        raise validation_failed(resource="CheckRun", field="status", code="invalid")
    chosen = latest_per_name(runs) if filter == "latest" else sorted(runs, key=lambda x: x.id, reverse=True)
    return [x for x in chosen
            if (check_name is None or x.name == check_name) and (status is None or x.status == status)
            and (app_id is None or x.app_id == app_id)]


@router.get("/repos/{owner}/{repo}/commits/{ref:path}/check-runs")
def list_runs_for_ref(request: Request, owner: str, repo: str, ref: str, check_name: str | None = None,
                      status: str | None = None, filter: str = "latest", app_id: int | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        sha = resolve_commit(r, ref)
        if sha is None:
            raise validation_failed(f"No commit found for SHA: {ref}", resource="Commit", field="ref", code="invalid")
        runs = [x for x in r.check_runs.values() if x.head_sha == sha]
        chosen = _filter_runs(runs, check_name, status, filter, app_id)
        return paginate(request, [shapes.check_run(world, r, x) for x in chosen], wrap="check_runs")


@router.get("/repos/{owner}/{repo}/commits/{ref:path}/check-suites")
def list_suites_for_ref(request: Request, owner: str, repo: str, ref: str, app_id: int | None = None,
                        check_name: str | None = None) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        sha = resolve_commit(r, ref)
        if sha is None:
            raise validation_failed(f"No commit found for SHA: {ref}", resource="Commit", field="ref", code="invalid")
        suites = [s for s in r.check_suites.values() if s.head_sha == sha
                  and (app_id is None or s.app_id == app_id)
                  and (check_name is None or any(x.check_suite_id == s.id and x.name == check_name
                                                 for x in r.check_runs.values()))]
        suites.sort(key=lambda s: s.id)
        return paginate(request, [shapes.check_suite(world, r, s) for s in suites], wrap="check_suites")


@router.get("/repos/{owner}/{repo}/check-suites/{check_suite_id}")
def get_suite(request: Request, owner: str, repo: str, check_suite_id: int) -> dict[str, Any]:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        return shapes.check_suite(world, r, _suite(r, check_suite_id))


@router.get("/repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs")
def list_runs_in_suite(request: Request, owner: str, repo: str, check_suite_id: int,
                       check_name: str | None = None, status: str | None = None,
                       filter: str = "latest") -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        _suite(r, check_suite_id)
        runs = [x for x in r.check_runs.values() if x.check_suite_id == check_suite_id]
        chosen = _filter_runs(runs, check_name, status, filter, None)
        return paginate(request, [shapes.check_run(world, r, x) for x in chosen], wrap="check_runs")


@router.post("/repos/{owner}/{repo}/check-suites/{check_suite_id}/rerequest", status_code=201)
def rerequest_suite_route(request: Request, owner: str, repo: str, check_suite_id: int) -> JSONResponse:
    r = get_repo(request, owner, repo)
    world = world_of(request)
    with world.lock:
        suite = _suite(r, check_suite_id)
        rerequest_suite(world, r, suite, _may_rerequest(request, r, suite.app_id))
    return JSONResponse({}, status_code=201)
