"""``actions/flaky/action.yml``: valid for GitHub, inputs reach shell only through ``env:``, zizmor-clean,
and its step does what it says when run like a runner runs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "actions" / "flaky" / "action.yml"
BIN = Path(sys.executable).parent


def action() -> dict:
    return YAML(typ="safe").load(ACTION.read_text())


@pytest.mark.slow
def test_action_validates_against_githubs_schema() -> None:
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_inputs_reach_run_only_through_env() -> None:
    doc = action()
    assert doc["runs"]["using"] == "composite" and doc["branding"]["icon"]
    for step in doc["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"template expansion inside run: in step {step.get('name')}"
        assert step.get("shell") == "bash"
    assert {"pytest-args", "reruns", "quarantine", "store", "fail-on-flaky"} <= set(doc["inputs"])
    assert {"flaky-rate", "flaky", "runs"} <= set(doc["outputs"])


@pytest.mark.slow
def test_zizmor_finds_nothing() -> None:
    exe = BIN / "zizmor"
    if not exe.exists():
        pytest.skip("zizmor is not installed in this environment")
    result = subprocess.run([str(exe), "--offline", "--min-severity", "low", str(ACTION)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _run_step(repo: Path, inputs: dict[str, str]) -> tuple[int, dict[str, str], str]:
    """The whole action, run like GitHub's runner runs it (tests/actions_runner.py; trunkline on PATH)."""
    sys.path.insert(0, str(REPO / "tests"))
    from actions_runner import run_action

    result = run_action(ACTION.parent, inputs, workspace=repo, runner_temp=repo.parent / "runner-temp")
    (repo.parent / "summary.md").write_text(result.summary)
    step = result.step("flaky")
    return step.returncode if step.returncode is not None else -1, result.outputs, result.log


@pytest.mark.slow
def test_the_step_runs_trunkline_flaky_and_sets_outputs(tmp_path: Path) -> None:
    repo = tmp_path / "proj"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_a.py").write_text(textwrap.dedent('''\
        SEEN = []


        def test_ok():
            assert True


        def test_once():
            SEEN.append(1)
            assert len(SEEN) > 1


        def test_bad():
            assert False
        '''))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=repo, check=True)
    code, outputs, log = _run_step(repo, {
        "pytest-args": "-q -p no:cacheprovider 'tests/test_a.py'", "reruns": "1",
        "quarantine": "tests/test_a.py::test_bad\n", "store": f"sqlite:///{tmp_path}/db.sqlite"})
    assert code == 0, log  # test_once passed on its re-run; test_bad is quarantined
    assert outputs["flaky"] == '["tests/test_a.py::test_once"]'
    assert float(outputs["flaky-rate"]) == pytest.approx(100 / 3, abs=1e-3) and outputs["runs"] == "1"
    assert "## Flaky tests" in (tmp_path / "summary.md").read_text()

    code, outputs, log = _run_step(repo, {"pytest-args": "-q -p no:cacheprovider tests", "reruns": "1",
                                          "store": f"sqlite:///{tmp_path}/db.sqlite", "fail-on-flaky": "true"})
    assert code == 1, log  # test_bad is not quarantined this time
    assert outputs["runs"] == "2"

    code, _, log = _run_step(repo, {"reruns": "two"})
    assert code == 2 and "reruns must be a number" in log
    code, _, log = _run_step(repo, {"fail-on-flaky": "yes"})
    assert code == 2 and "fail-on-flaky must be true or false" in log
