"""The measuring workspace: a two-commit git repository, commands under a budget, a clean environment."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from trunkline.ratchets.workspace import (
    BASE_BRANCH,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    WorkspaceError,
    build_repo,
    command_env,
    run_commands,
    write_files,
)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_base_and_head_are_two_commits(tmp_path: Path) -> None:
    root = tmp_path / "co"
    base = {"pkg/a.py": (MODE_FILE, b"A = 1\n"), "gone.txt": (MODE_FILE, b"x\n"), "run.sh": (MODE_EXEC, b"#!/bin/sh\n")}
    head = {"pkg/a.py": (MODE_FILE, b"A = 2\n"), "run.sh": (MODE_EXEC, b"#!/bin/sh\n"), "link": (MODE_LINK, b"pkg/a.py")}
    build_repo(root, base, head, base_sha="b" * 40, head_sha="h" * 40)
    assert git(root, "diff", "--name-status", f"{BASE_BRANCH}...HEAD").splitlines() == [
        "D\tgone.txt", "A\tlink", "M\tpkg/a.py"]
    assert git(root, "status", "--porcelain") == ""
    assert (root / "link").is_symlink() and (root / "run.sh").stat().st_mode & 0o100
    assert git(root, "log", "--format=%s").splitlines() == ["head " + "h" * 40, "base " + "b" * 40]


def test_commands_run_in_order_and_stop_at_the_first_failure(tmp_path: Path) -> None:
    env = command_env({"TRUNKLINE_BASE_REF": BASE_BRANCH}, base={"PATH": "/usr/bin:/bin", "GITHUB_TOKEN": "s3cret",
                                                                "TRUNKLINE_APP_ID": "1", "HOME": "/tmp"})
    assert "GITHUB_TOKEN" not in env and "TRUNKLINE_APP_ID" not in env and env["TRUNKLINE_BASE_REF"] == BASE_BRANCH
    result = run_commands(["echo one > one.txt", "env > env.txt", "exit 3", "echo never > never.txt"], tmp_path,
                          env, budget=30)
    assert not result.ok and [r.exit_code for r in result.runs] == [0, 0, 3]
    assert result.notes == ("`exit 3` exited with 3",)
    assert (tmp_path / "one.txt").read_text() == "one\n" and not (tmp_path / "never.txt").exists()
    assert "s3cret" not in (tmp_path / "env.txt").read_text()


def test_budget_kills_the_whole_process_group(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_commands(["sleep 30 & sleep 30; echo done > done.txt"], tmp_path, command_env({}), budget=1.0)
    assert result.timed_out and result.runs[0].exit_code is None
    assert "budget" in result.notes[0]
    assert time.monotonic() - started < 10
    assert not (tmp_path / "done.txt").exists()


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/x", ".git/hooks/post-commit", "a/.GIT/config"])
def test_paths_outside_the_checkout_or_into_git_are_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "co").mkdir()
    with pytest.raises(WorkspaceError, match="refusing path"):
        write_files(tmp_path / "co", {path: (MODE_FILE, b"x")})
    assert not (tmp_path / "escape.txt").exists()
