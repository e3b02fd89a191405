"""Writing raised floors back to the default branch, through PyGithub.

- :func:`commit_file` — the Git Data API: a blob, a tree on top of the measured commit's tree, a commit
  whose parent is the measured commit, then the branch ref moved with ``force=False`` — only if it still
  points at the measured commit (checked first, and GitHub refuses a non-fast-forward anyway). When the
  branch moved on, nothing is written: the newer commit gets measured by its own push event and raises
  the floors from there (those floors then cover both commits' work).
- :func:`open_update_pr` — for protected branches: the same commit on a branch
  ``trunkline/ratchets-<sha>``, a pull request, and the auto-merge label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from github.GithubException import GithubException, UnknownObjectException
from github.InputGitTreeElement import InputGitTreeElement

MODE_FILE = "100644"


@dataclass(frozen=True)
class WriteResult:
    outcome: str  # committed | pull_request | exists | moved
    sha: str | None = None
    number: int | None = None
    message: str = ""


def make_commit(repository: Any, parent_sha: str, path: str, text: str, message: str) -> str:
    """A commit on top of ``parent_sha`` changing only ``path`` to ``text``; returns its sha (no ref moves)."""
    parent = repository.get_git_commit(parent_sha)
    blob = repository.create_git_blob(text, "utf-8")
    tree = repository.create_git_tree([InputGitTreeElement(path, MODE_FILE, "blob", sha=blob.sha)], parent.tree)
    return str(repository.create_git_commit(message, tree, [parent]).sha)


def commit_file(repository: Any, branch: str, parent_sha: str, path: str, text: str, message: str) -> WriteResult:
    ref = repository.get_git_ref(f"heads/{branch}")
    if ref.object.sha != parent_sha:
        return WriteResult("moved", message=f"`{branch}` moved to {ref.object.sha[:7]} after {parent_sha[:7]}")
    sha = make_commit(repository, parent_sha, path, text, message)
    try:
        ref.edit(sha, force=False)
    except GithubException as exc:
        if exc.status == 422:  # not a fast-forward any more: someone pushed in between
            return WriteResult("moved", message=f"`{branch}` moved while raising the floors")
        raise
    return WriteResult("committed", sha=sha, message=f"committed {sha[:7]} to `{branch}`")


def update_branch_name(parent_sha: str) -> str:
    return f"trunkline/ratchets-{parent_sha[:12]}"


def open_update_pr(repository: Any, base_branch: str, parent_sha: str, path: str, text: str, message: str,
                   body: str, label: str | None) -> WriteResult:
    """A pull request with the raised floors (idempotent: an existing branch/PR for this commit is reused)."""
    branch = update_branch_name(parent_sha)
    existing: str | None = None
    try:
        # PyGithub builds the ref lazily: the GET happens on the first attribute read
        existing = str(repository.get_git_ref(f"heads/{branch}").object.sha)
    except UnknownObjectException:
        pass
    except GithubException as exc:
        if exc.status != 404:
            raise
    if existing is None:
        sha = make_commit(repository, parent_sha, path, text, message)
        repository.create_git_ref(f"refs/heads/{branch}", sha)
    else:
        sha = existing
    owner = repository.owner.login
    pulls = list(repository.get_pulls(state="open", head=f"{owner}:{branch}", base=base_branch))
    if pulls:
        return WriteResult("exists", sha=sha, number=pulls[0].number, message=f"#{pulls[0].number} already open")
    title = message.splitlines()[0]
    pull = repository.create_pull(base=base_branch, head=branch, title=title, body=body)
    if label:
        pull.as_issue().add_to_labels(label)
    return WriteResult("pull_request", sha=sha, number=pull.number, message=f"opened #{pull.number}")


def branch_protected(repository: Any, branch: str) -> bool:
    """Whether ``branch`` has protection rules (``GET /branches/{branch}``'s ``protected``; needs only
    contents read, unlike the protection endpoint itself)."""
    return bool(repository.get_branch(branch).protected)
