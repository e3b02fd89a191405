"""``actions/contracts/action.yml``, run the way a runner runs it (``tests/actions_runner.py``: ``env:``
filled in from ``${{ inputs.* }}`` / ``${{ github.* }}``, ``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` files)
in a real git repository, with the ``trunkline`` of this checkout on ``PATH`` (the setup step finds it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actions_runner import run_action  # noqa: E402
from trunkline.config import parse_config
from trunkline.contracts import generate as gen

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "actions" / "contracts" / "action.yml"
BIN = Path(sys.executable).parent
PETS = """\
openapi: 3.1.0
info: {title: Pets, version: 1.0.0}
paths:
  /pets:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer}
        name: {type: string}
"""

CONFIG = "contracts:\n  sources:\n    - path: api/pets.yaml\n      targets:\n        - {language: python, output: app/models.py}\n"
BREAKING = PETS.replace("required: [id, name]", "required: [id]").replace("        name: {type: string}\n", "")


def action() -> dict:
    return YAML(typ="safe").load(ACTION.read_text())


# --- the steps, run like a runner would ------------------------------------------------------

def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def commit(root: Path, files: dict[str, str], message: str) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    gen.generate(root, parse_config(CONFIG).config)
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)


def run_step(step_id: str, root: Path, tmp: Path, inputs: dict[str, str], github: dict[str, str]) -> tuple:
    """The whole action through tests/actions_runner.py (GitHub's environment contract, ``trunkline`` of
    this checkout on PATH); returns the step ``step_id``'s process result, the action's outputs and summary."""
    result = run_action(ACTION.parent, inputs, workspace=root, github=github, runner_temp=tmp / "runner")
    step = result.step(step_id)
    proc = subprocess.CompletedProcess([], step.returncode if step.returncode is not None else -1, step.log, "")
    return proc, result.outputs, result.summary


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, {".github/trunkline.yml": CONFIG, "api/pets.yaml": PETS}, "base")
    git(root, "branch", "base")
    return root


INPUTS = {"config": ".github/trunkline.yml", "base-ref": "base", "fail-on": "", "run-tests": "false"}


def test_breaking_change_fails_with_annotations_outputs_and_summary(checkout: Path, tmp_path: Path) -> None:
    commit(checkout, {"api/pets.yaml": BREAKING}, "drop name")
    proc, _, _ = run_step("generate", checkout, tmp_path, INPUTS, {})
    assert proc.returncode == 0, proc.stdout + proc.stderr  # regenerated: no drift
    proc, outputs, summary = run_step("contracts", checkout, tmp_path, INPUTS, {})
    assert proc.returncode == 1, proc.stderr
    line = BREAKING.splitlines().index("      properties:") + 1
    assert f"::error file=api/pets.yaml,line={line},title=ERR response-required-property-removed::" in proc.stdout
    assert outputs == {"conclusion": "failure", "drift": "ok", "breaking": "true", "tests": "skipped"}
    assert "| ERR | `response-required-property-removed` |" in summary

    proc, outputs, _ = run_step("contracts", checkout, tmp_path, dict(INPUTS, **{"fail-on": "never"}), {})
    assert proc.returncode == 0 and outputs["conclusion"] == "success"


def test_compatible_change_passes_and_pr_base_is_the_default(checkout: Path, tmp_path: Path) -> None:
    commit(checkout, {"api/pets.yaml": PETS + "        tag: {type: string}\n"}, "add tag")
    # a pull request run: no base-ref input, GitHub's base branch instead (already present as origin/base)
    git(checkout, "update-ref", "refs/remotes/origin/base", "base")
    git(checkout, "remote", "add", "origin", str(checkout))
    proc, outputs, summary = run_step("contracts", checkout, tmp_path, dict(INPUTS, **{"base-ref": ""}),
                                      {"base_ref": "base"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs == {"conclusion": "success", "drift": "ok", "breaking": "false", "tests": "skipped"}
    assert "response-optional-property-added" in summary


def test_stale_generated_code_fails_the_generate_step(checkout: Path, tmp_path: Path) -> None:
    (checkout / "api/pets.yaml").write_text(PETS + "        tag: {type: string}\n")  # not regenerated
    proc, _, _ = run_step("generate", checkout, tmp_path, INPUTS, {})
    assert proc.returncode == 1 and "app/models.py (python, from api/pets.yaml) is stale" in proc.stdout
