"""``trunkline mutation run`` argument handling (no mutmut run needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.cli import main


def test_a_scope_is_required(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TRUNKLINE_BASE_REF", raising=False)
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    assert main(["mutation", "run"]) == 2
    assert "--base REV (pull request), --sample N (nightly) or --all (weekly)" in capsys.readouterr().err


def test_scopes_are_exclusive_and_validated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["mutation", "run", "--base", "main", "--all"])
    assert main(["mutation", "run", "--sample", "0"]) == 2
    assert main(["mutation", "run", "--all", "--jobs", "0"]) == 2


def test_base_from_the_environment_and_missing_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TRUNKLINE_BASE_REF", raising=False)
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    # no mutmut configuration in an empty directory: a usage error that says what to add
    assert main(["mutation", "run", "--repo", str(tmp_path), "--json", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "[tool.mutmut]" in err and "source_paths" in err
    assert not (tmp_path / "m.json").exists()


def test_unknown_base_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["pkg"]\n')
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=tmp_path, check=True)
    assert main(["mutation", "run", "--base", "origin/nope", "--repo", str(tmp_path), "--quiet",
                 "--json", str(tmp_path / "m.json")]) == 1
    assert "--base origin/nope: no such commit or branch" in capsys.readouterr().err


def test_progress_in_a_log_prints_phases_and_every_tenth(capsys: pytest.CaptureFixture[str]) -> None:
    from trunkline.mutation.cli import ConsoleProgress

    progress = ConsoleProgress()
    assert not progress.live  # captured output is no terminal: plain lines for CI logs
    progress.phase("testing 20 mutants")
    for done in range(21):
        progress.advance(done, 20)
    progress.note("sample seed: 7")
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "mutation: testing 20 mutants"
    counts = [line for line in lines if line.endswith("mutants tested")]
    assert counts[0] == "mutation: 0/20 mutants tested" and counts[-1] == "mutation: 20/20 mutants tested"
    assert len(counts) == 11  # one per tenth, not one per mutant
    assert lines[-1] == "mutation: sample seed: 7"
    quiet = ConsoleProgress(quiet=True)
    quiet.phase("x")
    quiet.advance(1, 2)
    assert capsys.readouterr().err == ""
