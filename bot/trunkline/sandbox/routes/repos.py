"""Repository, branch, protection, contents, commits and compare routes (GitHub's REST spelling).

Everything is read from (and written to) the repository's real bare git repo. Writes that
move a branch (``PUT``/``DELETE`` contents) announce the push through ``world.notify_push``
so the ``push`` webhook and pull request synchronisation follow, exactly as a ``git push``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from .. import git, pushes
from ..http import (
    GitHubError,
    get_repo,
    not_found,
    paginate,
    require_write,
    validation_failed,
    world_of,
)
from ..shapes import repos as shapes
from ..shapes.common import repository
from ..world import Protection, Repo, World

router = APIRouter()


class CommitRefConvertor(Convertor):
    """A ref that may contain slashes (``feature/x``) but never swallows the sub-resources other
    areas serve below ``/commits/{ref}/`` (check runs, statuses, ...)."""

    regex = (r"[^\0]+?(?<!/check-runs)(?<!/check-suites)(?<!/status)(?<!/statuses)(?<!/comments)"
             r"(?<!/pulls)(?<!/branches-where-head)")

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("commitref", CommitRefConvertor())


# ---- helpers shared with the git and pulls routes ---------------------------------------

def ident_from_body(world: World, value: Any, login: str, field: str) -> git.Ident:
    """An author/committer object from a request body, or the acting user."""
    u = world.user(login)
    if value is None:
        return git.Ident(u.name or u.login, u.email or git.noreply_email(u.login), git.now_iso())
    if not isinstance(value, dict) or not value.get("name") or not value.get("email"):
        raise validation_failed("Invalid request.", resource="Commit", field=field, code="missing_field")
    return git.Ident(str(value["name"]), str(value["email"]), value.get("date") or git.now_iso())


def require_writer(request: Request, repo: Repo, level: str = "write", *, hidden: bool = False) -> str:
    """``require_write``; with ``hidden`` a refusal is a 404, as GitHub answers on routes whose
    description declares no 403 (contents and git data writes)."""
    try:
        return require_write(request, repo, level)
    except GitHubError as exc:
        if hidden and exc.status == 403:
            raise not_found() from exc
        raise


def resolve_commit(repo: Repo, ref: str) -> str | None:
    return git.resolve(repo, ref, "commit")


def ensure_git(world: World, repo: Repo) -> None:
    """Create the bare repository on first use and make sure pushes are being announced."""
    git.init(repo)
    pushes.install(world)


def _branch_or_404(repo: Repo, branch: str) -> str:
    sha = git.branch_sha(repo, branch)
    if sha is None:
        raise GitHubError(404, "Branch not found")
    return sha


def _body(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return payload


# ---- repository -------------------------------------------------------------------------

@router.get("/repos/{owner}/{repo}")
def get_repository(owner: str, repo: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    principal = request.state.principal
    with world.lock:
        return repository(world, r, flavour="rest", viewer=principal.login if principal.kind == "user" else None)


# ---- branches ---------------------------------------------------------------------------

@router.get("/repos/{owner}/{repo}/branches")
def list_branches(owner: str, repo: str, request: Request, protected: str | None = None) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        items = [shapes.short_branch(world, r, name, sha) for name, sha in sorted(git.branches(r).items())]
    if protected is not None:
        want = protected.lower() in ("1", "true")
        items = [b for b in items if b["protected"] == want]
    return paginate(request, items)


@router.get("/repos/{owner}/{repo}/branches/{branch:path}/protection/required_status_checks")
def get_required_status_checks(owner: str, repo: str, branch: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        _branch_or_404(r, branch)
        prot = r.protections.get(branch)
        if prot is None:
            raise GitHubError(404, "Branch not protected")
        if not prot.required_checks and not prot.strict:
            raise GitHubError(404, "Required status checks not enabled")
        return shapes.status_check_policy(world, r, prot)


@router.get("/repos/{owner}/{repo}/branches/{branch:path}/protection")
def get_protection(owner: str, repo: str, branch: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        _branch_or_404(r, branch)
        prot = r.protections.get(branch)
        if prot is None:
            raise GitHubError(404, "Branch not protected")
        return shapes.protection(world, r, prot)


def parse_protection(branch: str, body: dict[str, Any]) -> Protection:
    """GitHub's PUT protection body -> Protection (422 on the shapes GitHub rejects)."""
    missing = [k for k in ("required_status_checks", "enforce_admins", "required_pull_request_reviews",
                           "restrictions") if k not in body]
    if missing:
        raise GitHubError(422, "Invalid request.\n\n" + "\n".join(f'"{k}" wasn\'t supplied.' for k in missing),
                          errors=[f'"{k}" wasn\'t supplied.' for k in missing])  # type: ignore[list-item]
    prot = Protection(branch=branch)
    checks = body["required_status_checks"]
    if checks is not None:
        if not isinstance(checks, dict) or "strict" not in checks or (
                "contexts" not in checks and "checks" not in checks):
            raise GitHubError(422, "Invalid request.\n\nFor 'properties/required_status_checks', "
                                   "\"strict\" and \"contexts\" or \"checks\" are required.",
                              errors=["required_status_checks needs strict and contexts or checks"])  # type: ignore[list-item]
        contexts = list(checks.get("contexts") or [])
        for item in checks.get("checks") or []:
            if isinstance(item, dict) and item.get("context"):
                contexts.append(str(item["context"]))
        prot.required_checks = list(dict.fromkeys(str(c) for c in contexts))
        prot.strict = bool(checks.get("strict"))
    prot.enforce_admins = bool(body["enforce_admins"])
    reviews = body["required_pull_request_reviews"]
    if reviews is not None:
        if not isinstance(reviews, dict):
            raise GitHubError(422, "Invalid request.", errors=["required_pull_request_reviews must be an object"])  # type: ignore[list-item]
        count = reviews.get("required_approving_review_count", 1)
        if not isinstance(count, int) or not 0 <= count <= 6:
            raise GitHubError(422, "Invalid request.\n\nrequired_approving_review_count must be between 0 and 6.",
                              errors=["required_approving_review_count must be between 0 and 6"])  # type: ignore[list-item]
        prot.required_approving_review_count = count
        prot.dismiss_stale_reviews = bool(reviews.get("dismiss_stale_reviews", False))
    return prot


@router.put("/repos/{owner}/{repo}/branches/{branch:path}/protection")
def put_protection(owner: str, repo: str, branch: str, request: Request, payload: Any = Body(None)) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    require_write(request, r, "admin")
    with world.lock:
        _branch_or_404(r, branch)
        prot = parse_protection(branch, _body(payload))
        r.protections[branch] = prot
        return shapes.protection(world, r, prot)


@router.delete("/repos/{owner}/{repo}/branches/{branch:path}/protection", status_code=204)
def delete_protection(owner: str, repo: str, branch: str, request: Request) -> Response:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    require_write(request, r, "admin")
    with world.lock:
        if r.protections.pop(branch, None) is None:
            raise GitHubError(404, "Branch not protected")
    return Response(status_code=204)


@router.get("/repos/{owner}/{repo}/branches/{branch:path}")
def get_branch(owner: str, repo: str, branch: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        sha = _branch_or_404(r, branch)
        return shapes.branch(world, r, branch, git.commit_info(r, sha))


# ---- contents ---------------------------------------------------------------------------

def _ref_or_default(repo: Repo, ref: str | None) -> tuple[str, str]:
    """(ref name to show, commit sha) for a ``ref`` query (default branch when absent)."""
    name = ref or repo.default_branch
    sha = resolve_commit(repo, name)
    if sha is None:
        if not git.branches(repo):
            raise GitHubError(404, "This repository is empty.")
        raise GitHubError(404, f"No commit found for the ref {name}")
    return name, sha


@router.get("/repos/{owner}/{repo}/contents/{path:path}")
def get_contents(owner: str, repo: str, path: str, request: Request, ref: str | None = None) -> Any:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    path = path.strip("/")
    with world.lock:
        ensure_git(world, r)
        ref_name, sha = _ref_or_default(r, ref)
        entry = git.entry_at(r, sha, path)
        if entry is None:
            raise not_found()
        if entry.type == "tree":
            children = git.ls_tree(r, entry.sha)
            return [shapes.content_entry(world, r, e, f"{path}/{e.path}" if path else e.path, ref_name)
                    for e in children]
        if entry.type == "blob":
            return shapes.content_file(world, r, path, entry.sha, git.read_blob(r, entry.sha), ref_name)
        return shapes.content_entry(world, r, entry, path, ref_name)


def _write_file(world: World, r: Repo, path: str, body: dict[str, Any], login: str, *,
                delete: bool) -> tuple[int, dict[str, Any]]:
    """Create/update (or delete) one file with a commit on ``branch``; the push is announced."""
    message = body.get("message")
    if not isinstance(message, str) or not message:
        raise validation_failed("Invalid request.\n\n\"message\" wasn't supplied.", resource="Commit",
                                field="message", code="missing_field")
    data = b""
    if not delete:
        content = body.get("content")
        if not isinstance(content, str):
            raise validation_failed("Invalid request.\n\n\"content\" wasn't supplied.", resource="Commit",
                                    field="content", code="missing_field")
        try:
            data = base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise validation_failed("content is not valid Base64", resource="Commit", field="content",
                                    code="invalid") from exc
    branch = body.get("branch") or r.default_branch
    sha_guard = body.get("sha")
    committer = ident_from_body(world, body.get("committer"), login, "committer")
    author = ident_from_body(world, body.get("author"), login, "author") if body.get("author") else committer
    ref = f"refs/heads/{branch}"
    tip = git.branch_sha(r, branch)
    if tip is None and (git.branches(r) or branch != r.default_branch):
        raise GitHubError(404, f"Branch {branch} not found")
    existing = git.entry_at(r, tip, path) if tip else None
    if existing is not None and existing.type == "tree":
        raise validation_failed(f"{path} is a directory", resource="Commit", field="path", code="invalid")
    if delete:
        if existing is None:
            raise not_found()
        if not sha_guard:
            raise validation_failed("Invalid request.\n\n\"sha\" wasn't supplied.", resource="Commit",
                                    field="sha", code="missing_field")
    elif existing is not None and not sha_guard:
        raise validation_failed("Invalid request.\n\n\"sha\" wasn't supplied.", resource="Commit", field="sha",
                                code="missing_field")
    if sha_guard and (existing is None or existing.sha != sha_guard):
        raise GitHubError(409, f"{path} does not match {sha_guard}")
    base_tree = git.commit_info(r, tip).tree if tip else None
    blob_sha = None if delete else git.write_blob(r, data)
    change = None if delete else (existing.mode if existing else "100644", "blob", blob_sha)
    tree = git.write_tree(r, base_tree, {path: change})  # type: ignore[dict-item]
    new = git.commit_tree(r, tree, [tip] if tip else [], message, author,
                          git.Ident(committer.name, committer.email, committer.date))
    try:
        git.update_ref(r, ref, new, tip)
    except git.RefConflict as exc:
        raise GitHubError(409, f"{branch} was modified; try again") from exc
    world.notify_push(r, ref, tip or git.ZERO_SHA, new, login)
    info = git.commit_info(r, new)
    content = None if delete else shapes.content_file(world, r, path, blob_sha, data, branch)  # type: ignore[arg-type]
    status = 200 if delete or existing is not None else 201
    return status, shapes.file_commit(world, r, content, info)


@router.put("/repos/{owner}/{repo}/contents/{path:path}")
def put_contents(owner: str, repo: str, path: str, request: Request, payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    login = require_writer(request, r, hidden=True)
    path = path.strip("/")
    if not path:
        raise not_found()
    with world.lock:
        ensure_git(world, r)
        status, body = _write_file(world, r, path, _body(payload), login, delete=False)
    return JSONResponse(body, status_code=status)


@router.delete("/repos/{owner}/{repo}/contents/{path:path}")
def delete_contents(owner: str, repo: str, path: str, request: Request, payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    login = require_writer(request, r, hidden=True)
    path = path.strip("/")
    with world.lock:
        ensure_git(world, r)
        status, body = _write_file(world, r, path, _body(payload), login, delete=True)
    return JSONResponse(body, status_code=status)


# ---- commits and compare ----------------------------------------------------------------

@router.get("/repos/{owner}/{repo}/commits")
def list_commits(owner: str, repo: str, request: Request, sha: str | None = None, path: str | None = None,
                 author: str | None = None) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        if not git.branches(r):
            raise GitHubError(409, "Git Repository is empty.")
        start = resolve_commit(r, sha or r.default_branch)
        if start is None:
            raise not_found()
        infos = git.log(r, [start], paths=[path.strip("/")] if path else [], topo=False)
        if author:
            wanted = author.lower()
            infos = [i for i in infos if i.author.email.lower() == wanted
                     or (shapes.login_for_ident(world, i.author) or "").lower() == wanted]
        items = [shapes.commit(world, r, i) for i in infos]
    return paginate(request, items)


@router.get("/repos/{owner}/{repo}/commits/{ref:commitref}")
def get_commit(owner: str, repo: str, ref: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        sha = resolve_commit(r, ref)
        if sha is None:
            raise GitHubError(422, f"No commit found for SHA: {ref}")
        info = git.commit_info(r, sha)
        files = git.diff(r, info.parents[0] if info.parents else git.EMPTY_TREE, sha)
        return shapes.commit(world, r, info, files=files)


def _side(repo: Repo, spec: str) -> str:
    """``ref`` or ``owner:ref`` (same repository) -> commit sha (404 when unknown)."""
    ref = spec.split(":", 1)[1] if ":" in spec else spec
    sha = resolve_commit(repo, ref)
    if sha is None:
        raise not_found()
    return sha


@router.get("/repos/{owner}/{repo}/compare/{basehead:path}")
def compare(owner: str, repo: str, basehead: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    if "..." in basehead:
        base_spec, head_spec = basehead.split("...", 1)
    elif ".." in basehead:
        base_spec, head_spec = basehead.split("..", 1)
    else:
        raise not_found()
    with world.lock:
        ensure_git(world, r)
        base, head = _side(r, base_spec), _side(r, head_spec)
        mb = git.merge_base(r, base, head)
        if mb is None:
            raise GitHubError(404, f"No common ancestor between {base_spec} and {head_spec}.")
        ahead, behind = git.ahead_behind(r, base, head)
        commits = git.log(r, [f"{base}..{head}"], reverse=True, max_count=250)
        return shapes.comparison(world, r, basehead, base=git.commit_info(r, base),
                                 merge_base=git.commit_info(r, mb), commits=commits,
                                 files=git.diff(r, mb, head), ahead_by=ahead, behind_by=behind, head_sha=head)
