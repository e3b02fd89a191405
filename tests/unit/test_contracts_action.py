"""``actions/contracts/action.yml``: valid for GitHub, inputs reach shell only through ``env:``, and
zizmor finds nothing. (Its steps are run like a runner runs them in ``tests/e2e/test_contracts_action_e2e.py``.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "actions" / "contracts" / "action.yml"
BIN = Path(sys.executable).parent


def action() -> dict:
    return YAML(typ="safe").load(ACTION.read_text())


@pytest.mark.slow
def test_action_validates_against_githubs_schema() -> None:
    exe = BIN / "check-jsonschema"
    result = subprocess.run([str(exe), "--builtin-schema", "vendor.github-actions", str(ACTION)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_inputs_reach_run_only_through_env() -> None:
    doc = action()
    assert doc["runs"]["using"] == "composite" and doc["branding"]["icon"]
    for step in doc["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"template expansion inside run: in step {step.get('name')}"
        assert step.get("shell") == "bash"
    assert {"config", "base-ref", "fail-on", "run-tests", "url"} <= set(doc["inputs"])
    assert {"conclusion", "drift", "breaking", "tests"} <= set(doc["outputs"])


@pytest.mark.slow
def test_zizmor_finds_nothing() -> None:
    exe = BIN / "zizmor"
    if not exe.exists():
        pytest.skip("zizmor is not installed in this environment")
    result = subprocess.run([str(exe), "--offline", "--min-severity", "low", str(ACTION)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
