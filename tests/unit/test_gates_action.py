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
            assert re.fullmatch(r"\$\{\{ inputs\.[a-z-]+ \}\}", str(value))


def test_runs_trunkline_verify_for_the_tier() -> None:
    verify = next(s for s in load()["runs"]["steps"] if s.get("id") == "verify")
    assert 'trunkline verify --tier "$TIER" --config "$CONFIG"' in verify["run"]
    assert "--json" in verify["run"] and "GITHUB_OUTPUT" in verify["run"]
    assert verify["working-directory"] == "${{ inputs.working-directory }}"


def test_the_verify_step_runs_for_real(tmp_path: Path) -> None:
    """Execute the step's script with bash like the runner does (trunkline on PATH, env from inputs)."""
    verify = next(s for s in load()["runs"]["steps"] if s.get("id") == "verify")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "trunkline.yml").write_text("tiers:\n  tier-0:\n    commands: ['echo fine']\n")
    out = tmp_path / "github_output"
    venv_bin = Path(__file__).resolve().parents[2] / ".venv" / "bin"
    env = {"PATH": f"{venv_bin}:/usr/bin:/bin", "TIER": "tier-0", "CONFIG": ".github/trunkline.yml",
           "KILL_GRACE": "1", "GITHUB_OUTPUT": str(out), "RUNNER_TEMP": str(tmp_path)}
    proc = subprocess.run(["bash", "-e", "-c", verify["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs == {"verdict": "passed", "conclusion": "success",
                       "result": str(tmp_path / "trunkline-verify-tier-0.json")}
