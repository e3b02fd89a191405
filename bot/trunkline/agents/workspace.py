"""A run's checkout: the branch's files fetched through the Git Data API into a fresh directory, with a
local git repository on top so the agent can ``git apply`` / ``git diff`` and the run can reset to its
last checkpoint. Checkpoints are pushed as exactly one commit each through the same fast-forward-guarded
path ``/generate`` uses (:func:`trunkline.commands.gitdata.push_commit`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from trunkline.commands.gitdata import Entry, blob_id, fetch_tree, push_commit, read_worktree, tree_changes

GIT_ENV = {"GIT_AUTHOR_NAME": "Trunkline", "GIT_AUTHOR_EMAIL": "trunkline@localhost",
           "GIT_COMMITTER_NAME": "Trunkline", "GIT_COMMITTER_EMAIL": "trunkline@localhost",
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin:/usr/local/bin"}


class Workspace:
    """``root`` holds the checkout; ``sha`` is the checkpoint it was reset to last."""

    def __init__(self, repository: Any, root: Path, branch: str) -> None:
        self.repository = repository
        self.root = root
        self.branch = branch
        self.sha: str | None = None
        self.tree: Any = None
        self.entries: dict[str, Entry] = {}
        self.local_head: str | None = None

    def _git(self, *args: str) -> str:
        import os

        env = {**GIT_ENV, "PATH": os.environ.get("PATH", GIT_ENV["PATH"])}
        done = subprocess.run(["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=True,
                              timeout=120)
        return done.stdout.strip()

    def checkout(self, sha: str) -> None:
        """A fresh checkout of commit ``sha`` (anything in ``root`` before is removed)."""
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.tree, self.entries = fetch_tree(self.repository, sha, self.root)
        self.sha = sha
        self._git("init", "-q", "-b", "work")
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "--no-verify", "-m", f"checkpoint {sha[:12]}")
        self.local_head = self._git("rev-parse", "HEAD")

    def reset(self) -> None:
        """Back to the last checkpoint: every change since (files, local commits) is dropped."""
        assert self.local_head is not None
        self._git("reset", "-q", "--hard", self.local_head)
        self._git("clean", "-q", "-ffdx")

    def changed(self) -> bool:
        return bool(tree_changes(self.entries, read_worktree(self.root)))

    def checkpoint(self, message: str) -> str:
        """Push what changed as one commit on the branch (only if it still points at the last checkpoint);
        returns the branch's new head (the old one when nothing changed)."""
        assert self.sha is not None
        after = read_worktree(self.root)
        changes = tree_changes(self.entries, after)
        if not changes:
            return self.sha
        new_sha = push_commit(self.repository, self.branch, self.sha, self.tree, changes, message)
        self.sha = new_sha
        self.tree = self.repository.get_git_commit(new_sha).tree
        self.entries = {path: Entry(mode, blob_id(data)) for path, (mode, data) in after.items()}
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "--no-verify", "-m", f"checkpoint {new_sha[:12]}")
        self.local_head = self._git("rev-parse", "HEAD")
        return new_sha

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
