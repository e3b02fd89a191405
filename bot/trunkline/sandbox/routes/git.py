"""Git data routes: refs, commits, trees and blobs (``/repos/{owner}/{repo}/git/...``).

Objects are written into the repository's bare git repo with plumbing; ref changes go
through ``update-ref`` with an old-value guard and are announced via ``world.notify_push``
(so a ref created/moved/deleted here produces the same ``push`` webhook and pull request
synchronisation as a ``git push``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from .. import git
from ..http import GitHubError, get_repo, not_found, require_write, validation_failed, world_of
from ..shapes import repos as shapes
from ..world import Repo
from .repos import _body, ensure_git, ident_from_body, require_writer

router = APIRouter()

_MODES = {"100644": "blob", "100755": "blob", "120000": "blob", "040000": "tree", "160000": "commit"}


def _full_ref(ref: str) -> str:
    ref = ref.strip("/")
    return ref if ref.startswith("refs/") else f"refs/{ref}"


def _valid_ref_name(ref: str) -> bool:
    if not ref.startswith("refs/") or ref.count("/") < 2:
        return False
    return git.run(".", "check-ref-format", ref, ok=(0, 1, 128)).returncode == 0


def _ref_shape(world: Any, r: Repo, ref: str, sha: str) -> dict[str, Any]:
    return shapes.git_ref(world, r, ref, sha, git.object_type(r, sha) or "commit")


# ---- refs -------------------------------------------------------------------------------

@router.get("/repos/{owner}/{repo}/git/ref/{ref:path}")
def get_ref(owner: str, repo: str, ref: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        full = _full_ref(ref)
        sha = None if full.startswith("refs/sandbox/") else git.ref_sha(r, full)
        if sha is None:
            raise not_found()
        return _ref_shape(world, r, full, sha)


@router.get("/repos/{owner}/{repo}/git/matching-refs/{ref:path}")
def matching_refs(owner: str, repo: str, ref: str, request: Request) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        if not git.branches(r) and not git.refs(r):
            raise GitHubError(409, "Git Repository is empty.")
        prefix = _full_ref(ref) if ref.strip("/") else "refs/"
        items = [_ref_shape(world, r, name, sha) for name, sha in sorted(git.refs(r).items())
                 if name.startswith(prefix) and not name.startswith("refs/sandbox/")]
    return JSONResponse(items)


@router.post("/repos/{owner}/{repo}/git/refs", status_code=201)
def create_ref(owner: str, repo: str, request: Request, payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    login = require_writer(request, r, hidden=True)
    body = _body(payload)
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise validation_failed("Invalid request.\n\n\"ref\" and \"sha\" are required.", resource="Reference",
                                field="ref" if not isinstance(ref, str) else "sha", code="missing_field")
    if not _valid_ref_name(ref):
        raise validation_failed(f"{ref} is not a valid ref name.", resource="Reference", field="ref",
                                code="invalid")
    with world.lock:
        ensure_git(world, r)
        if not git.is_sha(sha) or git.object_type(r, sha) is None:
            raise validation_failed("Object does not exist", resource="Reference", field="sha", code="invalid")
        if git.ref_sha(r, ref) is not None:
            raise validation_failed("Reference already exists", resource="Reference", field="ref",
                                    code="already_exists")
        try:
            git.update_ref(r, ref, sha, None)
        except git.RefConflict as exc:
            raise validation_failed("Reference already exists", resource="Reference", field="ref",
                                    code="already_exists") from exc
        world.notify_push(r, ref, git.ZERO_SHA, sha, login)
        return JSONResponse(_ref_shape(world, r, ref, sha), status_code=201)


@router.patch("/repos/{owner}/{repo}/git/refs/{ref:path}")
def update_ref(owner: str, repo: str, ref: str, request: Request, payload: Any = Body(None)) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    login = require_writer(request, r, hidden=True)
    body = _body(payload)
    sha = body.get("sha")
    force = bool(body.get("force", False))
    if not isinstance(sha, str):
        raise validation_failed("Invalid request.\n\n\"sha\" wasn't supplied.", resource="Reference",
                                field="sha", code="missing_field")
    full = _full_ref(ref)
    with world.lock:
        ensure_git(world, r)
        before = git.ref_sha(r, full)
        if before is None:
            raise validation_failed("Reference does not exist", resource="Reference", field="ref",
                                    code="invalid")
        if not git.is_sha(sha) or git.object_type(r, sha) is None:
            raise validation_failed("Object does not exist", resource="Reference", field="sha", code="invalid")
        if not force and before != sha and not (git.object_type(r, sha) == "commit"
                                                and git.is_ancestor(r, before, sha)):
            raise validation_failed("Update is not a fast forward", resource="Reference", field="sha",
                                    code="invalid")
        if before != sha:
            try:
                git.update_ref(r, full, sha, before)
            except git.RefConflict as exc:
                raise validation_failed("Update is not a fast forward", resource="Reference", field="sha",
                                        code="invalid") from exc
            world.notify_push(r, full, before, sha, login)
        return _ref_shape(world, r, full, sha)


@router.delete("/repos/{owner}/{repo}/git/refs/{ref:path}", status_code=204)
def delete_ref(owner: str, repo: str, ref: str, request: Request) -> Response:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    login = require_writer(request, r, hidden=True)
    full = _full_ref(ref)
    with world.lock:
        ensure_git(world, r)
        before = git.ref_sha(r, full)
        if before is None:
            # GitHub's description declares this 422 without a body.
            return Response(status_code=422)
        try:
            git.delete_ref(r, full, before)
        except git.RefConflict as exc:
            raise GitHubError(409, "Reference update failed") from exc
        world.notify_push(r, full, before, git.ZERO_SHA, login)
    return Response(status_code=204)


# ---- commits ----------------------------------------------------------------------------

@router.get("/repos/{owner}/{repo}/git/commits/{commit_sha}")
def get_git_commit(owner: str, repo: str, commit_sha: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        if not git.is_sha(commit_sha) or git.object_type(r, commit_sha) != "commit":
            raise not_found()
        return shapes.git_commit(world, r, git.commit_info(r, commit_sha))


@router.post("/repos/{owner}/{repo}/git/commits", status_code=201)
def create_git_commit(owner: str, repo: str, request: Request, payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    login = require_writer(request, r, hidden=True)
    body = _body(payload)
    message, tree, parents = body.get("message"), body.get("tree"), body.get("parents") or []
    if not isinstance(message, str) or not isinstance(tree, str):
        raise validation_failed("Invalid request.\n\n\"message\" and \"tree\" are required.", resource="Commit",
                                field="message" if not isinstance(message, str) else "tree", code="missing_field")
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise validation_failed("Invalid request.\n\n\"parents\" must be an array of shas.", resource="Commit",
                                field="parents", code="invalid")
    with world.lock:
        ensure_git(world, r)
        if not git.is_sha(tree) or git.object_type(r, tree) != "tree":
            raise validation_failed("Tree SHA does not exist", resource="Commit", field="tree", code="invalid")
        for parent in parents:
            if not git.is_sha(parent) or git.object_type(r, parent) != "commit":
                raise validation_failed("Parent SHA does not exist or is not a commit object", resource="Commit",
                                        field="parents", code="invalid")
        author = ident_from_body(world, body.get("author"), login, "author")
        committer = ident_from_body(world, body.get("committer"), login, "committer") \
            if body.get("committer") else author
        sha = git.commit_tree(r, tree, parents, message, author, committer)
        return JSONResponse(shapes.git_commit(world, r, git.commit_info(r, sha)), status_code=201)


# ---- trees ------------------------------------------------------------------------------

@router.get("/repos/{owner}/{repo}/git/trees/{tree_sha:path}")
def get_tree(owner: str, repo: str, tree_sha: str, request: Request, recursive: str | None = None) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        sha = git.resolve(r, tree_sha, "tree")
        if sha is None:
            raise not_found()
        entries = git.ls_tree(r, sha, recursive=recursive is not None)
        return shapes.tree(world, r, sha, entries)


@router.post("/repos/{owner}/{repo}/git/trees", status_code=201)
def create_tree(owner: str, repo: str, request: Request, payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    require_write(request, r)
    body = _body(payload)
    items, base_tree = body.get("tree"), body.get("base_tree")
    if not isinstance(items, list):
        raise validation_failed("Invalid request.\n\n\"tree\" wasn't supplied.", resource="Tree", field="tree",
                                code="missing_field")
    with world.lock:
        ensure_git(world, r)
        base = None
        if base_tree:
            base = git.resolve(r, str(base_tree), "tree")
            if base is None:
                raise validation_failed("base_tree is not a valid tree oid", resource="Tree", field="base_tree",
                                        code="invalid")
        changes: dict[str, tuple[str, str, str] | None] = {}
        for index, item in enumerate(items):
            changes[_tree_item_path(item, index)] = _tree_item(r, item, index)
        sha = git.write_tree(r, base, changes)
        return JSONResponse(shapes.tree(world, r, sha, git.ls_tree(r, sha)), status_code=201)


def _tree_item_path(item: Any, index: int) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"].strip("/"):
        raise validation_failed(f"tree.path is missing for tree item {index}", resource="Tree", field="path",
                                code="missing_field", index=index)
    return item["path"].strip("/")


def _tree_item(r: Repo, item: dict[str, Any], index: int) -> tuple[str, str, str] | None:
    """One ``tree[]`` entry of POST /git/trees -> (mode, type, sha), or None to delete the path."""
    mode, kind = item.get("mode"), item.get("type")
    if mode not in _MODES:
        raise validation_failed(f"tree.mode is invalid for tree item {index}", resource="Tree", field="mode",
                                code="invalid", index=index)
    kind = kind or _MODES[mode]
    if kind != _MODES[mode]:
        raise validation_failed(f"tree.type {kind} does not match mode {mode}", resource="Tree", field="type",
                                code="invalid", index=index)
    has_sha, has_content = "sha" in item, "content" in item
    if has_sha and has_content:
        raise validation_failed("Must supply either tree.sha or tree.content, not both", resource="Tree",
                                field="content", code="invalid", index=index)
    if has_content:
        if kind != "blob" or not isinstance(item["content"], str):
            raise validation_failed("tree.content must be a string for blobs", resource="Tree", field="content",
                                    code="invalid", index=index)
        return mode, kind, git.write_blob(r, item["content"].encode())
    sha = item.get("sha")
    if sha is None:
        return None
    if kind != "commit" and (not git.is_sha(sha) or git.object_type(r, sha) != kind):
        raise validation_failed(f"tree.sha {sha} is not a valid {kind}", resource="Tree", field="sha",
                                code="invalid", index=index)
    return mode, kind, sha


# ---- blobs ------------------------------------------------------------------------------

@router.get("/repos/{owner}/{repo}/git/blobs/{file_sha}")
def get_blob(owner: str, repo: str, file_sha: str, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        if not git.is_sha(file_sha) or git.object_type(r, file_sha) != "blob":
            raise not_found()
        return shapes.blob(world, r, file_sha, git.read_blob(r, file_sha))


@router.post("/repos/{owner}/{repo}/git/blobs", status_code=201)
def create_blob(owner: str, repo: str, request: Request, payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    require_write(request, r)
    body = _body(payload)
    content, encoding = body.get("content"), body.get("encoding", "utf-8")
    if not isinstance(content, str):
        raise validation_failed("Invalid request.\n\n\"content\" wasn't supplied.", resource="Blob",
                                field="content", code="missing_field")
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise validation_failed("content is not valid Base64", resource="Blob", field="content",
                                    code="invalid") from exc
    elif encoding in ("utf-8", "utf8"):
        data = content.encode()
    else:
        raise validation_failed(f"encoding {encoding} is not supported", resource="Blob", field="encoding",
                                code="invalid")
    with world.lock:
        ensure_git(world, r)
        sha = git.write_blob(r, data)
        return JSONResponse(shapes.short_blob(world, r, sha), status_code=201)
