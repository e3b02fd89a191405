"""Git hooks: ``.pre-commit-hooks.yaml`` for other repositories (the pre-commit framework) and ``make hooks``
for our own clone (pre-commit -> verify-fast, pre-push -> verify-pr)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = {"python", "system", "script", "node", "docker", "golang", "rust", "fail", "pygrep"}
STAGES = {"pre-commit", "pre-merge-commit", "pre-push", "prepare-commit-msg", "commit-msg", "post-checkout",
          "post-commit", "post-merge", "post-rewrite", "manual"}


@pytest.mark.slow
def test_pre_commit_hooks_manifest() -> None:
    hooks = YAML(typ="safe", pure=True).load((REPO / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"trunkline-tier-0", "trunkline-contracts"}
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook) and hook["language"] in LANGUAGES
        assert set(hook.get("stages", [])) <= STAGES and hook["pass_filenames"] is False
        # the entry is a real trunkline command line
        argv = hook["entry"].split()
        proc = subprocess.run([str(REPO / ".venv" / "bin" / argv[0]), *argv[1:], "--help"], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
    assert by_id["trunkline-tier-0"]["entry"].startswith("trunkline verify --tier tier-0")
    assert by_id["trunkline-contracts"]["entry"] == "trunkline contracts generate --check"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_hooks_installs_ours_and_keeps_a_users_own(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    shutil.copy(REPO / "Makefile", clone / "Makefile")
    shutil.copytree(REPO / ".githooks", clone / ".githooks")
    mine = clone / ".git" / "hooks" / "pre-push"
    mine.write_text("#!/bin/sh\necho my own hook\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    proc = subprocess.run(["make", "-s", "hooks"], cwd=clone, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    pre_commit = clone / ".git" / "hooks" / "pre-commit"
    assert os.access(pre_commit, os.X_OK) and "exec make verify-fast" in pre_commit.read_text()
    assert "my own hook" in mine.read_text() and "keeping your own" in proc.stdout

    mine.unlink()
    again = subprocess.run(["make", "-s", "hooks"], cwd=clone, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "exec make verify-pr" in mine.read_text()
    assert "installed" in again.stdout  # ours are replaced on a re-run (updates), a user's are kept
