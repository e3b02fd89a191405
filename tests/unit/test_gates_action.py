"""``actions/verify/action.yml``: a valid composite action whose inputs reach shell code only via env."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ACTION = Path(__file__).resolve().parents[2] / "actions" / "verify" / "action.yml"


def load() -> dict:
    return YAML(typ="safe", pure=True).load(ACTION.read_text())


@pytest.mark.slow
def test_validates_against_the_github_actions_schema() -> None:
    tool = shutil.which("check-jsonschema") or str(Path(__file__).resolve().parents[2] / ".venv/bin/check-jsonschema")
    if not Path(tool).exists():
        pytest.skip("check-jsonschema is not installed")
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-actions", str(ACTION)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_composite_with_branding_inputs_and_outputs() -> None:
    action = load()
    assert action["runs"]["using"] == "composite"
    assert set(action["branding"]) == {"icon", "color"}
    assert {"tier", "config", "working-directory"} <= set(action["inputs"])
    assert action["inputs"]["tier"]["required"] is True
    assert {"verdict", "result", "conclusion"} <= set(action["outputs"])


def test_inputs_reach_run_scripts_only_through_env() -> None:
    for step in load()["runs"]["steps"]:
        script = step.get("run", "")
        assert "${{" not in script, f"expression inside run: of step {step.get('name')!r}"
        for value in (step.get("env") or {}).values():
            # an input, or a constant (setup's fixed PYTHON / VENV / INSTALL_DEPS): never other context data
            value = str(value)
            for expr in re.findall(r"\$\{\{(.*?)\}\}", value):
                contexts = set(re.findall(r"\b([a-z_]+)\.[a-z]", expr))
                assert contexts == {"inputs"}, f"{value!r} reads {contexts - {'inputs'}}"


def test_runs_trunkline_verify_for_the_tier() -> None:
    verify = next(s for s in load()["runs"]["steps"] if s.get("id") == "verify")
    assert 'trunkline verify --tier "$TIER" --config "$config"' in verify["run"] and 'config="$CONFIG"' in verify["run"]
    assert "--json" in verify["run"] and "GITHUB_OUTPUT" in verify["run"]
    assert verify["working-directory"] == "${{ inputs.working-directory }}"


@pytest.mark.slow
def test_the_verify_action_runs_for_real(tmp_path: Path) -> None:
    """The whole action, run like GitHub's runner runs it (tests/actions_runner.py; trunkline on PATH)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from actions_runner import git_repo, run_action

    ws = git_repo(tmp_path / "ws", {".github/trunkline.yml": "tiers:\n  tier-0:\n    commands: ['echo fine']\n"})
    result = run_action(ACTION.parent, {"tier": "tier-0", "kill-grace": "1"}, workspace=ws,
                        runner_temp=tmp_path / "tmp")
    assert result.ok, result.log
    assert result.outputs == {"verdict": "passed", "conclusion": "success",
                              "result": str(tmp_path / "tmp" / "trunkline-verify-tier-0.json")}
