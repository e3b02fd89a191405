"""``trunkline flaky``: run pytest with the recording plugin, store the attempts, judge the tree (shell)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .analysis import Attempt, FlakyReport, analyse
from .plugin import matches


class FlakyError(RuntimeError):
    """The run could not be recorded (message for people)."""


@dataclass
class FlakyOptions:
    pytest_args: list[str]
    reruns: int = 2
    quarantine: list[tuple[str, str]] = field(default_factory=list)  # (pattern, reason)
    repo_dir: Path = Path(".")
    store_url: str = "sqlite:///.trunkline/trunkline.db"
    repo_name: str | None = None
    tree_sha: str | None = None
    python: str = sys.executable


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise FlakyError(f"git {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result.stdout.strip()


def working_tree_sha(repo: Path) -> tuple[str, str | None]:
    """(tree SHA of the tracked files as they are on disk, HEAD commit).

    Uncommitted edits of tracked files (and of files added to the index) count; untracked files do not:
    reports such as flaky.json or coverage.json land in the working tree and must not change the key
    between runs (``git add -N`` a new test file to include it). The work happens on a copy of the
    index, so the repository's own index is never touched."""
    try:
        commit: str | None = _git(repo, "rev-parse", "--verify", "-q", "HEAD")
    except FlakyError:
        commit = None
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        index = Path(_git(repo, "rev-parse", "--path-format=absolute", "--git-path", "index"))
        if index.is_file():
            shutil.copyfile(index, env["GIT_INDEX_FILE"])
        elif commit:
            _git(repo, "read-tree", "HEAD", env=env)
        _git(repo, "add", "-u", ".", env=env)
        tree = _git(repo, "write-tree", env=env)
    return tree, commit


def repository_name(repo: Path) -> str:
    if os.environ.get("GITHUB_REPOSITORY"):
        return os.environ["GITHUB_REPOSITORY"]
    try:
        url = _git(repo, "remote", "get-url", "origin")
    except FlakyError:
        return repo.resolve().name
    match = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?/?$", url)
    return match.group(1) if match else repo.resolve().name


def read_record(path: Path, run_id: str) -> list[Attempt]:
    import json

    attempts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            attempts.append(Attempt.from_json(json.loads(line), run_id))
        except (ValueError, KeyError, TypeError) as exc:
            raise FlakyError(f"{path}:{number}: not an attempt record ({exc})") from exc
    return attempts


def pytest_command(options: FlakyOptions, record: Path) -> list[str]:
    cmd = [options.python, "-m", "pytest", "-p", "trunkline.flaky.plugin", "--flaky-reruns", str(options.reruns),
           "--flaky-record", str(record)]
    for pattern, _ in options.quarantine:
        cmd += ["--flaky-quarantine", pattern]
    if not any(arg.startswith("--rootdir") for arg in options.pytest_args):
        # node ids relative to the repository root: what quarantine patterns and the store expect
        cmd.append(f"--rootdir={options.repo_dir.resolve()}")
    return cmd + list(options.pytest_args)


@dataclass
class FlakyRun:
    report: FlakyReport
    exit_code: int
    new_flaky: list[str]  # flaky because of this session's attempts


def run(options: FlakyOptions) -> FlakyRun:
    from trunkline.store.base import Store
    from trunkline.store.flaky_runs import FlakyRunRepo, RunRecord

    repo_dir = options.repo_dir
    if options.tree_sha:
        tree, commit = options.tree_sha, None
    else:
        tree, commit = working_tree_sha(repo_dir)
    name = options.repo_name or repository_name(repo_dir)
    run_id = uuid.uuid4().hex
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="trunkline-flaky-") as tmp:
        record = Path(tmp) / "attempts.jsonl"
        record.touch()
        code = subprocess.run(pytest_command(options, record), cwd=repo_dir, check=False).returncode
        attempts = read_record(record, run_id)
    finished = time.time()

    store = Store(options.store_url)
    try:
        store.create_all()
        repo = FlakyRunRepo(store)
        repo.record(RunRecord(run_id, name, tree, commit, started, finished, code, options.reruns), attempts)
        history = repo.attempts(name, tree)
        runs = len(repo.runs(name, tree))
    finally:
        store.dispose()
    reasons = {}
    for nodeid in {a.nodeid for a in history if a.quarantined}:
        reasons[nodeid] = next((r for p, r in options.quarantine if r and matches(nodeid, [p])), "")
    this_session = analyse(tree, attempts, 1)
    report = analyse(tree, history, runs, reasons, {
        "run_id": run_id, "exit_code": code, "attempts": len(attempts), "reruns": options.reruns,
        "tests": len(this_session.ran), "flaky": [t.nodeid for t in this_session.flaky],
        "commit_sha": commit, "seconds": round(finished - started, 1)})
    return FlakyRun(report, code, [t.nodeid for t in this_session.flaky])


def quarantine_from(entries: Sequence[tuple[str, str]], extra: Sequence[str]) -> list[tuple[str, str]]:
    return list(entries) + [(p, "") for p in extra]


__all__ = ["FlakyError", "FlakyOptions", "FlakyRun", "pytest_command", "read_record", "repository_name", "run",
           "working_tree_sha"]
