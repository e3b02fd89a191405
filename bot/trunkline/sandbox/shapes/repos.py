"""JSON shapes for repository content, branches, protection, commits and git data.

REST shapes follow ``components/schemas`` of GitHub's REST description (named on each
function); ``push_repository`` / ``push_commit`` follow octokit's ``push/event`` payload.
Everything is built from real git data read through ``trunkline.sandbox.git``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .. import git
from ..world import Protection, Repo, World
from .common import repository, user

WEB_FLOW = "web-flow"  # the user GitHub shows as committer of commits it makes


def _api(world: World, repo: Repo, path: str = "") -> str:
    return world.api(f"/repos/{repo.full_name}{path}")


def _web(world: World, repo: Repo, path: str = "") -> str:
    return f"{world.web_url}/{repo.full_name}{path}"


def zulu(date: str | None) -> str | None:
    """git's ISO 8601 (``+00:00`` or any offset) -> GitHub's ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    if not date:
        return None
    from datetime import UTC

    return datetime.fromisoformat(date.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(ts: datetime | None) -> int | None:
    return int(ts.timestamp()) if ts else None


def sha_node_id(kind: str, sha: str) -> str:
    return base64.b64encode(f"0:{kind}{sha}".encode()).decode().rstrip("=")


# ---- people -----------------------------------------------------------------------------

def login_for_ident(world: World, ident: git.Ident) -> str | None:
    """The sandbox user a git identity belongs to (GitHub matches commit emails to accounts)."""
    if (ident.name, ident.email) == git.GITHUB_COMMITTER:
        return WEB_FLOW
    login = git.login_from_email(ident.email)
    if login:
        return login
    for u in world.users.values():
        if u.email and u.email.lower() == ident.email.lower():
            return u.login
    return None


def git_user(ident: git.Ident) -> dict[str, Any]:
    return {"name": ident.name, "email": ident.email, "date": zulu(ident.date)}


def pusher(world: World, login: str) -> dict[str, Any]:
    """octokit ``common/committer`` for the push event's ``pusher``."""
    u = world.user(login)
    return {"name": u.login, "email": u.email or git.noreply_email(u.login)}


# ---- repositories -----------------------------------------------------------------------

def push_repository(world: World, repo: Repo) -> dict[str, Any]:
    """The repository as the ``push`` event carries it.

    GitHub's push payload still uses the legacy variant: ``created_at``/``pushed_at`` as epoch
    integers, ``url`` pointing at the web page, plus ``stargazers`` and ``master_branch``.
    """
    data = repository(world, repo, flavour="webhook")
    data["url"] = data["html_url"]
    data["created_at"] = _epoch(repo.created_at)
    data["pushed_at"] = _epoch(repo.pushed_at)
    data["stargazers"] = data.get("stargazers_count", 0)
    data["master_branch"] = repo.default_branch
    owner = {k: v for k, v in data["owner"].items() if k != "user_view_type"}  # octokit's user forbids it
    u = world.user(repo.owner)
    owner["name"] = u.name or u.login
    owner["email"] = u.email or git.noreply_email(u.login)
    data["owner"] = owner
    return data


# ---- commits ----------------------------------------------------------------------------

def _verification() -> dict[str, Any]:
    return {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None}


def _parent(world: World, repo: Repo, sha: str, kind: str = "commits") -> dict[str, Any]:
    return {"sha": sha, "url": _api(world, repo, f"/{kind}/{sha}"), "html_url": _web(world, repo, f"/commit/{sha}")}


def commit(world: World, repo: Repo, info: git.CommitInfo, *,
           files: Sequence[git.FileDiff] | None = None) -> dict[str, Any]:
    """REST ``commit`` (GET /commits/{ref}, lists, compare). ``files`` adds ``stats`` + ``files``."""
    author_login = login_for_ident(world, info.author)
    committer_login = login_for_ident(world, info.committer)
    data: dict[str, Any] = {
        "url": _api(world, repo, f"/commits/{info.sha}"),
        "sha": info.sha,
        "node_id": sha_node_id("Commit", info.sha),
        "html_url": _web(world, repo, f"/commit/{info.sha}"),
        "comments_url": _api(world, repo, f"/commits/{info.sha}/comments"),
        "commit": {
            "url": _api(world, repo, f"/git/commits/{info.sha}"),
            "author": git_user(info.author),
            "committer": git_user(info.committer),
            "message": info.message,
            "comment_count": 0,
            "tree": {"sha": info.tree, "url": _api(world, repo, f"/git/trees/{info.tree}")},
            "verification": _verification(),
        },
        "author": user(world, author_login) if author_login else None,
        "committer": user(world, committer_login) if committer_login else None,
        "parents": [_parent(world, repo, p) for p in info.parents],
    }
    if files is not None:
        additions = sum(f.additions for f in files)
        deletions = sum(f.deletions for f in files)
        data["stats"] = {"total": additions + deletions, "additions": additions, "deletions": deletions}
        data["files"] = [diff_entry(world, repo, f, info.sha) for f in files]
    return data


def git_commit(world: World, repo: Repo, info: git.CommitInfo) -> dict[str, Any]:
    """REST ``git-commit`` (git data API)."""
    return {
        "sha": info.sha,
        "node_id": sha_node_id("Commit", info.sha),
        "url": _api(world, repo, f"/git/commits/{info.sha}"),
        "html_url": _web(world, repo, f"/commit/{info.sha}"),
        "author": git_user(info.author),
        "committer": git_user(info.committer),
        "tree": {"sha": info.tree, "url": _api(world, repo, f"/git/trees/{info.tree}")},
        "message": info.message,
        "parents": [_parent(world, repo, p, "git/commits") for p in info.parents],
        "verification": _verification(),
    }


def push_commit(world: World, repo: Repo, info: git.CommitInfo, *, distinct: bool = True) -> dict[str, Any]:
    """octokit ``common/commit`` as listed in a push payload."""
    added, removed, modified = git.commit_changes(repo, info.sha)

    def person(ident: git.Ident) -> dict[str, Any]:
        out: dict[str, Any] = {"name": ident.name, "email": ident.email, "date": zulu(ident.date)}
        login = login_for_ident(world, ident)
        if login:
            out["username"] = login
        return out

    return {
        "id": info.sha,
        "tree_id": info.tree,
        "distinct": distinct,
        "message": info.message,
        "timestamp": zulu(info.committer.date),
        "url": _web(world, repo, f"/commit/{info.sha}"),
        "author": person(info.author),
        "committer": person(info.committer),
        "added": added,
        "removed": removed,
        "modified": modified,
    }


def diff_entry(world: World, repo: Repo, f: git.FileDiff, ref: str) -> dict[str, Any]:
    """REST ``diff-entry`` (PR files, compare, single commit)."""
    path = quote(f.filename)
    data: dict[str, Any] = {
        "sha": f.sha,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.changes,
        "blob_url": _web(world, repo, f"/blob/{ref}/{path}"),
        "raw_url": _web(world, repo, f"/raw/{ref}/{path}"),
        "contents_url": _api(world, repo, f"/contents/{path}?ref={ref}"),
    }
    if f.patch is not None:
        data["patch"] = f.patch
    if f.previous_filename:
        data["previous_filename"] = f.previous_filename
    return data


def comparison(world: World, repo: Repo, basehead: str, *, base: git.CommitInfo,
               merge_base: git.CommitInfo, commits: Sequence[git.CommitInfo],
               files: Sequence[git.FileDiff], ahead_by: int, behind_by: int,
               head_sha: str) -> dict[str, Any]:
    """REST ``commit-comparison``."""
    if ahead_by and behind_by:
        status = "diverged"
    elif ahead_by:
        status = "ahead"
    elif behind_by:
        status = "behind"
    else:
        status = "identical"
    return {
        "url": _api(world, repo, f"/compare/{basehead}"),
        "html_url": _web(world, repo, f"/compare/{basehead}"),
        "permalink_url": _web(world, repo, f"/compare/{repo.owner}:{base.sha[:7]}...{repo.owner}:{head_sha[:7]}"),
        "diff_url": _web(world, repo, f"/compare/{basehead}.diff"),
        "patch_url": _web(world, repo, f"/compare/{basehead}.patch"),
        "base_commit": commit(world, repo, base),
        "merge_base_commit": commit(world, repo, merge_base),
        "status": status,
        "ahead_by": ahead_by,
        "behind_by": behind_by,
        "total_commits": ahead_by,
        "commits": [commit(world, repo, c) for c in commits],
        "files": [diff_entry(world, repo, f, head_sha) for f in files],
    }


# ---- git data ---------------------------------------------------------------------------

def git_ref(world: World, repo: Repo, ref: str, sha: str, obj_type: str = "commit") -> dict[str, Any]:
    """REST ``git-ref``; ``url`` is the one PyGithub PATCHes/DELETEs (``/git/refs/<ref>``)."""
    short = ref[len("refs/"):] if ref.startswith("refs/") else ref
    kind = {"commit": "commits", "tree": "trees", "blob": "blobs", "tag": "tags"}.get(obj_type, "commits")
    return {
        "ref": ref,
        "node_id": sha_node_id("Ref", f"{repo.id}:{ref}"),
        "url": _api(world, repo, f"/git/refs/{short}"),
        "object": {"type": obj_type, "sha": sha, "url": _api(world, repo, f"/git/{kind}/{sha}")},
    }


def tree(world: World, repo: Repo, sha: str, entries: Sequence[git.TreeEntry], *,
         truncated: bool = False) -> dict[str, Any]:
    """REST ``git-tree``."""
    items = []
    for e in entries:
        item: dict[str, Any] = {"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha}
        if e.type == "blob":
            item["size"] = e.size or 0
            item["url"] = _api(world, repo, f"/git/blobs/{e.sha}")
        elif e.type == "tree":
            item["url"] = _api(world, repo, f"/git/trees/{e.sha}")
        items.append(item)
    return {"sha": sha, "url": _api(world, repo, f"/git/trees/{sha}"), "tree": items, "truncated": truncated}


def blob(world: World, repo: Repo, sha: str, data: bytes) -> dict[str, Any]:
    """REST ``blob`` (content base64, wrapped at 60 characters like GitHub)."""
    return {
        "sha": sha,
        "node_id": sha_node_id("Blob", sha),
        "size": len(data),
        "url": _api(world, repo, f"/git/blobs/{sha}"),
        "content": _b64_lines(data),
        "encoding": "base64",
    }


def short_blob(world: World, repo: Repo, sha: str) -> dict[str, Any]:
    return {"url": _api(world, repo, f"/git/blobs/{sha}"), "sha": sha}


def _b64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i:i + 60] + "\n" for i in range(0, len(encoded), 60))


# ---- contents ---------------------------------------------------------------------------

def _content_meta(world: World, repo: Repo, path: str, sha: str, kind: str, size: int,
                  ref: str) -> dict[str, Any]:
    qpath = quote(path)
    self_url = _api(world, repo, f"/contents/{qpath}?ref={quote(ref, safe='')}")
    git_url = _api(world, repo, f"/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}")
    html_url = _web(world, repo, f"/{'tree' if kind == 'dir' else 'blob'}/{ref}/{qpath}")
    download = _web(world, repo, f"/raw/{ref}/{qpath}") if kind == "file" else None
    return {
        "type": kind,
        "size": size,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": download,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def content_file(world: World, repo: Repo, path: str, sha: str, data: bytes, ref: str) -> dict[str, Any]:
    """REST ``content-file`` (``sha`` is the blob sha, as GitHub's contents API returns)."""
    out = _content_meta(world, repo, path, sha, "file", len(data), ref)
    out["content"] = _b64_lines(data)
    out["encoding"] = "base64"
    return out


def content_entry(world: World, repo: Repo, entry: git.TreeEntry, path: str, ref: str) -> dict[str, Any]:
    """One item of a REST ``content-directory`` listing."""
    kind = {"blob": "file", "tree": "dir", "commit": "submodule"}.get(entry.type, "file")
    if entry.type == "blob" and entry.mode == "120000":
        kind = "symlink"
    return _content_meta(world, repo, path, entry.sha, kind, entry.size or 0, ref)


def file_commit(world: World, repo: Repo, content: dict[str, Any] | None, info: git.CommitInfo) -> dict[str, Any]:
    """REST ``file-commit`` (PUT/DELETE contents)."""
    if content is not None:
        content = {k: v for k, v in content.items() if k not in ("content", "encoding")}
    return {
        "content": content,
        "commit": {
            "sha": info.sha,
            "node_id": sha_node_id("Commit", info.sha),
            "url": _api(world, repo, f"/git/commits/{info.sha}"),
            "html_url": _web(world, repo, f"/commit/{info.sha}"),
            "author": git_user(info.author),
            "committer": git_user(info.committer),
            "message": info.message,
            "tree": {"url": _api(world, repo, f"/git/trees/{info.tree}"), "sha": info.tree},
            "parents": [_parent(world, repo, p, "git/commits") for p in info.parents],
            "verification": _verification(),
        },
    }


# ---- branches and protection ------------------------------------------------------------

def _branch_path(branch: str) -> str:
    return f"/branches/{quote(branch)}"


def status_check_policy(world: World, repo: Repo, prot: Protection) -> dict[str, Any]:
    """REST ``status-check-policy`` (also satisfies ``protected-branch-required-status-check``)."""
    url = _api(world, repo, _branch_path(prot.branch) + "/protection/required_status_checks")
    return {
        "url": url,
        "strict": prot.strict,
        "contexts": list(prot.required_checks),
        "contexts_url": url + "/contexts",
        "checks": [{"context": c, "app_id": None} for c in prot.required_checks],
    }


def protection(world: World, repo: Repo, prot: Protection) -> dict[str, Any]:
    """Branch protection: satisfies both ``protected-branch`` (PUT) and ``branch-protection`` (GET)."""
    url = _api(world, repo, _branch_path(prot.branch) + "/protection")
    data: dict[str, Any] = {
        "url": url,
        "required_signatures": {"url": url + "/required_signatures", "enabled": False},
        "enforce_admins": {"url": url + "/enforce_admins", "enabled": prot.enforce_admins},
        "required_linear_history": {"enabled": False},
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
        "block_creations": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
        "lock_branch": {"enabled": False},
        "allow_fork_syncing": {"enabled": False},
    }
    if prot.required_checks or prot.strict:
        data["required_status_checks"] = status_check_policy(world, repo, prot)
    if prot.required_approving_review_count or prot.dismiss_stale_reviews:
        data["required_pull_request_reviews"] = {
            "url": url + "/required_pull_request_reviews",
            "dismiss_stale_reviews": prot.dismiss_stale_reviews,
            "require_code_owner_reviews": False,
            "required_approving_review_count": prot.required_approving_review_count,
            "require_last_push_approval": False,
        }
    return data


def _summary_protection(world: World, repo: Repo, prot: Protection | None) -> dict[str, Any]:
    """The ``protection`` summary inside a branch (``branch-protection``)."""
    if prot is None:
        return {"enabled": False,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}}
    return {
        "enabled": True,
        "required_status_checks": {
            "enforcement_level": "non_admins" if not prot.enforce_admins else "everyone",
            "contexts": list(prot.required_checks),
            "checks": [{"context": c, "app_id": None} for c in prot.required_checks],
        },
    }


def short_branch(world: World, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    """REST ``short-branch`` (branch lists)."""
    prot = repo.protections.get(name)
    data: dict[str, Any] = {
        "name": name,
        "commit": {"sha": sha, "url": _api(world, repo, f"/commits/{sha}")},
        "protected": prot is not None,
    }
    if prot is not None:
        data["protection"] = _summary_protection(world, repo, prot)
        data["protection_url"] = _api(world, repo, _branch_path(name) + "/protection")
    return data


def branch(world: World, repo: Repo, name: str, info: git.CommitInfo) -> dict[str, Any]:
    """REST ``branch-with-protection`` (GET /branches/{branch})."""
    prot = repo.protections.get(name)
    data: dict[str, Any] = {
        "name": name,
        "commit": commit(world, repo, info),
        "_links": {"self": _api(world, repo, _branch_path(name)), "html": _web(world, repo, f"/tree/{name}")},
        "protected": prot is not None,
        "protection": _summary_protection(world, repo, prot),
        "protection_url": _api(world, repo, _branch_path(name) + "/protection"),
    }
    if prot is not None and prot.required_approving_review_count:
        data["required_approving_review_count"] = prot.required_approving_review_count
    return data
