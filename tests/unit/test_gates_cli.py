"""``trunkline verify``: exit status, JSON result, Markdown summary ($GITHUB_STEP_SUMMARY), errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trunkline.cli import main

CONFIG = """tiers:
  tier-0:
    commands:
      - {python} -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests
    artifacts: {{junit: reports/*.xml, coverage: coverage.json}}
    env: {{PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1'}}
  slow:
    commands: ['sleep 60']
    budget: 1
  advisory:
    commands: ['exit 4']
    required: false
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "trunkline.yml").write_text(CONFIG.format(python=sys.executable))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_one.py").write_text("def test_ok():\n    assert True\n\n\n"
                                                     "def test_bad():\n    assert 1 == 2\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def test_failing_tests_exit_1_with_json_and_summary(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    step = project / "step-summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    monkeypatch.setenv("GITHUB_SHA", "f" * 40)
    code = main(["verify", "--tier", "tier-0", "--json", "out/result.json", "--summary", "out/summary.md"])
    assert code == 1
    out = capsys.readouterr().out
    assert "1 failed, 1 passed" in out  # the commands' output is echoed live
    assert "tier-0 failed: 1 of 2 tests failed [failed; check conclusion: failure]" in out
    result = json.loads((project / "out" / "result.json").read_text())
    assert result["verdict"] == "failed" and result["sha"] == "f" * 40
    assert result["tests"]["failing"][0]["file"] == "tests/test_one.py"
    assert result["tests"]["failing"][0]["line"] == 6
    assert "coverage artifact `coverage.json` was not produced" in result["notes"]
    summary = (project / "out" / "summary.md").read_text()
    assert summary.startswith("### ❌ tier-0 failed: 1 of 2 tests failed")
    assert step.read_text().startswith("earlier step\n### ❌ tier-0 failed")


def test_budget_exceeded_exits_1_quickly(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--tier", "slow", "--grace", "0.5", "--json", "r.json"]) == 1
    assert json.loads((project / "r.json").read_text())["verdict"] == "budget exceeded"
    assert "slow: budget exceeded (1s)" in capsys.readouterr().out


def test_advisory_failure_exits_0_and_is_neutral(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--tier", "advisory", "--quiet"]) == 0
    assert "[failed; check conclusion: neutral]" in capsys.readouterr().out


def test_unknown_tier_and_bad_config_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--tier", "tier-9"]) == 2
    assert "no tier 'tier-9'; declared tiers: tier-0, slow, advisory" in capsys.readouterr().err
    bad = project / "bad.yml"
    bad.write_text("tiers:\n  t:\n    commands: [x]\n    budget: later\n")
    assert main(["verify", "--tier", "t", "--config", str(bad)]) == 2
    assert f"{bad}:4:13 tiers.t.budget: 'later' is not a duration" in capsys.readouterr().err
    assert main(["verify", "--tier", "t", "--config", "missing.yml"]) == 2
    assert "missing.yml: no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_stops_the_tier_tree(project: Path) -> None:
    # As a cancelled Actions job: the runner signals trunkline, which must stop its children.
    pidfile = project / "child.pid"
    (project / ".github" / "trunkline.yml").write_text(
        f"tiers:\n  t:\n    commands: ['sleep 600 & echo $! > {pidfile}; wait']\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    proc = subprocess.Popen([sys.executable, "-m", "trunkline.cli", "verify", "--tier", "t", "--grace", "1",
                             "--quiet"], cwd=project, env=env)
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline, "the tier did not start"
            time.sleep(0.05)
        proc.terminate()
        assert proc.wait(20) == 130
        child = int(pidfile.read_text())
        assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    finally:
        if proc.poll() is None:
            proc.kill()
