"""Where the bot measures: a temporary git repository holding the base and the head as two commits.

Tools like diff-cover compare the working tree with a base *branch*, so a bare copy of the head's files is
not enough. :func:`materialise` fetches both trees through the Git Data API (each blob once: the head
shares most of them with the base) and commits them into a fresh repository::

    trunkline-base  ── base tree    (the PR's merge base; for the default branch, the previous commit)
    trunkline-head  ── head tree    (checked out; HEAD)

:func:`run_commands` runs the configured shell commands there within a time budget (each command in
its own process group, killed as a group when the budget runs out), with the bot's own settings and
credential-looking variables removed from the environment.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_BRANCH, HEAD_BRANCH = "trunkline-base", "trunkline-head"
MODE_FILE, MODE_EXEC, MODE_LINK = "100644", "100755", "120000"
MAX_FILES = 5000
MAX_BYTES = 200 * 1024 * 1024
TAIL_CHARS = 3000
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|CREDENTIAL|API_KEY", re.IGNORECASE)

Files = dict[str, tuple[str, bytes]]  # path -> (git mode, content)


class WorkspaceError(RuntimeError):
    """The checkout could not be built (tree too large, git failed)."""


def fetch_files(repository: Any, commit_sha: str, cache: dict[str, bytes], *, max_files: int = MAX_FILES,
                max_bytes: int = MAX_BYTES) -> Files:
    """Every file of ``commit_sha`` (submodules left out); blobs already in ``cache`` are not fetched again."""
    tree = repository.get_git_tree(commit_sha, recursive=True)
    if (tree.raw_data or {}).get("truncated"):
        raise WorkspaceError(f"the tree of {commit_sha[:7]} is too large for GitHub to list in one response")
    blobs = [e for e in tree.tree if e.type == "blob" and e.mode in (MODE_FILE, MODE_EXEC, MODE_LINK)]
    size = sum(e.size or 0 for e in blobs)
    if len(blobs) > max_files or size > max_bytes:
        raise WorkspaceError(f"{len(blobs)} files / {size // 1024} KiB at {commit_sha[:7]} exceeds the "
                             f"{max_files} files / {max_bytes // 1024} KiB a measurement copies")
    files: Files = {}
    for element in blobs:
        if element.sha not in cache:
            cache[element.sha] = base64.b64decode(repository.get_git_blob(element.sha).content or "")
        files[element.path] = (element.mode, cache[element.sha])
    return files


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Trunkline", "GIT_COMMITTER_NAME": "Trunkline",
           "GIT_AUTHOR_EMAIL": "trunkline@localhost", "GIT_COMMITTER_EMAIL": "trunkline@localhost"}
    proc = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args], cwd=root,
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args[:2])} failed: {proc.stderr.strip()[:500]}")
    return proc.stdout.strip()


def write_files(root: Path, files: Files) -> None:
    """Make the working tree of ``root`` exactly ``files`` (``.git`` untouched)."""
    for entry in list(root.iterdir()):
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for path, (mode, data) in files.items():
        target = root / path
        parts = Path(path).parts
        if Path(path).is_absolute() or ".." in parts or any(p.lower() == ".git" for p in parts):
            raise WorkspaceError(f"refusing path {path!r} from the repository tree")
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == MODE_LINK:
            os.symlink(data.decode(), target)
        else:
            target.write_bytes(data)
            if mode == MODE_EXEC:
                target.chmod(0o755)


def build_repo(root: Path, base: Files, head: Files, *, base_sha: str, head_sha: str) -> None:
    """A git repository at ``root``: ``trunkline-base`` = the base files, ``trunkline-head`` (checked out)
    = the head files on top of it."""
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", HEAD_BRANCH)
    write_files(root, base)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", f"base {base_sha}")
    _git(root, "branch", BASE_BRANCH)
    write_files(root, head)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", f"head {head_sha}")


def materialise(repository: Any, root: Path, *, base_sha: str, head_sha: str, cache: dict[str, bytes] | None = None
                ) -> None:
    """Fetch ``base_sha`` and ``head_sha`` through the API and build the two-commit repository at ``root``."""
    cache = {} if cache is None else cache
    base = fetch_files(repository, base_sha, cache) if base_sha != head_sha else None
    head = fetch_files(repository, head_sha, cache)
    build_repo(root, base if base is not None else head, head, base_sha=base_sha, head_sha=head_sha)


# --- running the commands -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CommandRun:
    command: str
    exit_code: int | None  # None: not run or killed at the budget
    seconds: float
    tail: str = ""


@dataclass(frozen=True)
class RunResult:
    runs: tuple[CommandRun, ...]
    timed_out: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.timed_out and all(r.exit_code == 0 for r in self.runs)


def command_env(extra: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment commands see: the bot's minus its settings and secrets, the bot's Python first on
    ``PATH`` (so ``python`` is an interpreter with the tools installed), plus ``extra``."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.upper().startswith("TRUNKLINE_") and not _SECRET_NAME.search(k)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    env.update(extra)
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def run_commands(commands: Sequence[str], cwd: Path, env: Mapping[str, str], budget: float) -> RunResult:
    """Run ``commands`` in order (``bash -c``) until one fails or ``budget`` seconds pass."""
    shell = shutil.which("bash") or "/bin/sh"
    deadline = time.monotonic() + budget
    runs: list[CommandRun] = []
    log = cwd.parent / f".{cwd.name}-commands.log"
    for command in commands:
        started = time.monotonic()
        with open(log, "wb") as out:
            proc = subprocess.Popen([shell, "-c", command], cwd=cwd, env=dict(env), stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                code: int | None = proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                _stop(proc)
                code = None
            else:
                try:  # background processes a command left behind do not outlive it
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        tail = log.read_bytes()[-TAIL_CHARS:].decode("utf-8", "replace")
        runs.append(CommandRun(command, code, time.monotonic() - started, tail))
        if code is None:
            return RunResult(tuple(runs), True, (f"`{command}` was stopped at the {budget:g} s budget",))
        if code != 0:
            return RunResult(tuple(runs), False, (f"`{command}` exited with {code}",))
    return RunResult(tuple(runs))
