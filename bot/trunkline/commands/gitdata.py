"""Editing a branch without a clone: the Git Data API (trees, blobs, commits, refs) through PyGithub.

``/generate`` uses it to (1) write the files of a commit into a temporary directory, (2) let an
engine change them, and (3) push exactly one commit with the differences on top of that commit —
only if the branch still points at it (the ref update is a fast-forward from the commit the work was
based on, checked first so a moved branch gets a clear message instead of a 422).

:func:`tree_changes` is the pure part: which paths differ between the files as fetched and as left
by the engine, by git blob id and mode.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github.GithubException import GithubException
from github.InputGitTreeElement import InputGitTreeElement

MODE_FILE, MODE_EXEC, MODE_LINK = "100644", "100755", "120000"
FILE_MODES = (MODE_FILE, MODE_EXEC, MODE_LINK)
#: Limits on what is copied out of a repository (each file is one request).
MAX_FILES = 2000
MAX_BYTES = 50 * 1024 * 1024


class TooLarge(RuntimeError):
    """The tree is too big to copy file by file."""


class BranchMoved(RuntimeError):
    """The branch no longer points at the commit the work was based on."""


@dataclass(frozen=True)
class Entry:
    mode: str
    sha: str  # git blob id


@dataclass(frozen=True)
class Change:
    path: str
    mode: str | None  # None: delete the path
    content: bytes = b""


def blob_id(data: bytes) -> str:
    """Git's object id of a blob with ``data`` (what GitHub's tree entries carry)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read_worktree(root: Path) -> dict[str, tuple[str, bytes]]:
    """``path -> (mode, content)`` of every file and symlink under ``root`` (``.git`` excluded)."""
    out: dict[str, tuple[str, bytes]] = {}
    for folder, dirs, files in os.walk(root):
        linked_dirs = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        dirs[:] = [d for d in dirs if d != ".git" and d not in linked_dirs]
        for name in files + linked_dirs:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if os.path.islink(full):
                out[rel] = (MODE_LINK, os.readlink(full).encode())
            elif os.path.isfile(full):
                executable = bool(os.stat(full).st_mode & stat.S_IXUSR)
                out[rel] = (MODE_EXEC if executable else MODE_FILE, Path(full).read_bytes())
    return out


def tree_changes(before: Mapping[str, Entry], after: Mapping[str, tuple[str, bytes]]) -> list[Change]:
    """Paths added, modified (content or mode) or deleted, sorted by path. Pure."""
    changes = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if new is None:
            changes.append(Change(path, None))
        elif old is None or old.sha != blob_id(new[1]) or old.mode != new[0]:
            changes.append(Change(path, new[0], new[1]))
    return changes


def safe_path(path: str) -> bool:
    """A repository path that stays inside the copy (no absolute paths, ``..`` or ``.git``)."""
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..", ".git") for p in parts)


def link_stays_inside(path: str, link: str) -> bool:
    """True when a symlink at ``path`` pointing to ``link`` resolves inside the repository."""
    if not link or link.startswith("/") or "\\" in link or re.match(r"^[A-Za-z]:", link):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), link))
    return resolved != ".." and not resolved.startswith("../")


def fetch_tree(repository: Any, commit_sha: str, dest: Path, *, max_files: int = MAX_FILES,
               max_bytes: int = MAX_BYTES) -> tuple[Any, dict[str, Entry]]:
    """Write the files of ``commit_sha`` under ``dest``; returns (its root ``GitTree``, path -> Entry).
    Submodules, and symlinks that point outside the repository, are left out of the copy (and so stay
    untouched in the pushed tree)."""
    tree = repository.get_git_tree(commit_sha, recursive=True)
    if (tree.raw_data or {}).get("truncated"):
        raise TooLarge("the repository tree is too large for GitHub to list in one response")
    blobs = [e for e in tree.tree if e.type == "blob" and e.mode in FILE_MODES]
    size = sum(e.size or 0 for e in blobs)
    if len(blobs) > max_files or size > max_bytes:
        raise TooLarge(f"{len(blobs)} files / {size // 1024} KiB exceeds the limit of {max_files} files / "
                       f"{max_bytes // 1024} KiB copied through the API")
    entries: dict[str, Entry] = {}
    for element in blobs:
        if not safe_path(element.path):
            continue  # never written, never compared: such an entry stays as it is in the pushed tree
        data = base64.b64decode(repository.get_git_blob(element.sha).content or "")
        target = dest / element.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if element.mode == MODE_LINK:
            link = data.decode("utf-8", "replace")
            if not link_stays_inside(element.path, link):
                # A link out of the copy would let an engine read the bot's own files. Leave it out of
                # the copy and out of the comparison, so it stays untouched in the pushed tree.
                continue
            os.symlink(link, target)
        else:
            target.write_bytes(data)
            if element.mode == MODE_EXEC:
                target.chmod(0o755)
        entries[element.path] = Entry(element.mode, element.sha)
    return tree, entries


def push_commit(repository: Any, branch: str, base_sha: str, base_tree: Any, changes: list[Change],
                message: str) -> str:
    """One commit with ``changes`` on top of ``base_sha``, then move ``branch`` to it — only if the
    branch still points at ``base_sha``. Returns the new commit's sha; raises :class:`BranchMoved`."""
    elements = []
    for change in changes:
        if change.mode is None:
            elements.append(InputGitTreeElement(change.path, MODE_FILE, "blob", sha=None))
            continue
        blob = repository.create_git_blob(base64.b64encode(change.content).decode(), "base64")
        elements.append(InputGitTreeElement(change.path, change.mode, "blob", sha=blob.sha))
    tree = repository.create_git_tree(elements, base_tree)
    parent = repository.get_git_commit(base_sha)
    commit = repository.create_git_commit(message, tree, [parent])
    ref = repository.get_git_ref(f"heads/{branch}")
    if ref.object.sha != base_sha:
        raise BranchMoved(f"`{branch}` moved to {ref.object.sha[:7]} while regenerating from {base_sha[:7]}")
    try:
        # force=False: GitHub refuses anything but a fast-forward, so a push that lands between the
        # check above and this call makes the update fail instead of being overwritten.
        ref.edit(commit.sha, force=False)
    except GithubException as exc:
        if exc.status == 422:
            raise BranchMoved(f"`{branch}` moved while regenerating from {base_sha[:7]}") from exc
        raise
    return str(commit.sha)
