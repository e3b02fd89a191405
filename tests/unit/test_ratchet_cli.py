"""``trunkline ratchet check|update`` and ``actions/ratchet``: exit codes, tables, file edits, Actions outputs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from trunkline.cli import main

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "actions" / "ratchet" / "action.yml"
BIN = Path(sys.executable).parent

BASELINE = """\
# Ratchets for the example.
version: 1
metrics:
  coverage:
    kind: coverage
    file: reports/coverage.json
    floor: 80.0        # raised by trunkline ratchet update
    tolerance: 0.1
  patch_coverage:
    kind: patch_coverage
    floor: 75          # fixed
  mutation:
    kind: mutation
    required: false    # advisory until the mutation tier runs everywhere
"""


def coverage_json(percent: float) -> str:
    return json.dumps({"meta": {"branch_coverage": True, "format": 3},
                       "totals": {"percent_covered": percent, "covered_lines": 1, "num_statements": 1}})


def patch_json(lines: int, violations: int) -> str:
    return json.dumps({"total_num_lines": lines, "total_num_violations": violations,
                       "total_percent_covered": 0, "src_stats": {}})


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "reports").mkdir()
    (tmp_path / "baseline.yml").write_text(BASELINE)
    (tmp_path / "reports" / "coverage.json").write_text(coverage_json(83.456))
    (tmp_path / "diff-cover.json").write_text(patch_json(4, 1))
    (tmp_path / "mutation.json").write_text(json.dumps({"killed": 8, "timeout": 0, "survived": 2, "no_tests": 0,
                                                         "score": 80.0}))
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_check_passes_and_prints_the_table(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ratchet", "check", "--baseline", "baseline.yml", "--json", "out.json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Ratchets hold (3 metrics); improves coverage\n")
    assert "| `coverage` | — | 83.46 % | ≥ 80 % (±0.1) | ⬆️ floor rises to 83.45 after merge |" in out
    assert "| `patch_coverage` | — | 75 % | ≥ 75 % fixed | ✅ holds |" in out
    assert "| `mutation` | — | 80 % | — | 🆕 no floor yet; 80 after merge |" in out
    assert json.loads((workdir / "out.json").read_text())["conclusion"] == "success"


def test_check_fails_on_a_broken_floor_and_writes_actions_outputs(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "reports" / "coverage.json").write_text(coverage_json(79.0))
    monkeypatch.setenv("GITHUB_OUTPUT", str(workdir / "gh_out"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(workdir / "gh_summary"))
    code = main(["ratchet", "check", "--baseline", "baseline.yml", "--format", "github"])
    assert code == 1
    out = capsys.readouterr().out
    assert "::error title=ratchet coverage::coverage: below floor by 1" in out
    outputs = (workdir / "gh_out").read_text()
    assert outputs.startswith("verdict=fail\ntable<<EOF_")
    assert "| `coverage` | — | 79 % | ≥ 80 % (±0.1) | ❌ below floor by 1 |" in outputs
    assert "### Ratchets broken: coverage 79 < 80" in (workdir / "gh_summary").read_text()


def test_missing_required_metric_fails_and_metrics_override(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "diff-cover.json").unlink()
    assert main(["ratchet", "check", "--baseline", "baseline.yml"]) == 1
    assert "❌ no data: diff-cover.json was not written (file not found)" in capsys.readouterr().out
    (workdir / "elsewhere.json").write_text(patch_json(0, 0))
    assert main(["ratchet", "check", "--baseline", "baseline.yml", "--metrics", "patch_coverage=elsewhere.json"]) == 0
    with pytest.raises(SystemExit, match="no metric 'nope'"):
        main(["ratchet", "check", "--baseline", "baseline.yml", "--metrics", "nope=x.json"])


def test_base_values_show_in_the_table(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "base.json").write_text(json.dumps({"coverage": 82.0, "mutation": 85}))
    assert main(["ratchet", "check", "--baseline", "baseline.yml", "--base", "base.json"]) == 0
    out = capsys.readouterr().out
    assert "| `coverage` | 82 % | 83.46 % (+1.46) |" in out
    assert "| `mutation` | 85 % | 80 % (−5) |" in out


def test_bad_baseline_exits_2_with_positions(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "baseline.yml").write_text(BASELINE.replace("kind: mutation", "kind: mutations"))
    assert main(["ratchet", "check", "--baseline", "baseline.yml"]) == 2
    assert "baseline.yml:13:11: metrics.mutation.kind: `kind` must be one of" in capsys.readouterr().err
    assert main(["ratchet", "check", "--baseline", "missing.yml"]) == 2


def test_update_raises_floors_in_place_keeping_comments(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ratchet", "update", "--baseline", "baseline.yml", "--dry-run"]) == 0
    assert (workdir / "baseline.yml").read_text() == BASELINE
    assert main(["ratchet", "update", "--baseline", "baseline.yml"]) == 0
    out = capsys.readouterr().out
    assert "coverage: floor 80 → 83.45 (achieved value)" in out
    assert "mutation: floor unset → 80 (first floor)" in out
    after = (workdir / "baseline.yml").read_text()
    assert after == BASELINE.replace("    floor: 80.0        # raised", "    floor: 83.45       # raised").replace(
        "    required: false    # advisory until the mutation tier runs everywhere",
        "    required: false    # advisory until the mutation tier runs everywhere\n    floor: 80")
    # nothing better measured: nothing moves, the file is untouched
    (workdir / "reports" / "coverage.json").write_text(coverage_json(70.0))
    assert main(["ratchet", "update", "--baseline", "baseline.yml"]) == 0
    assert "No limit moved." in capsys.readouterr().out
    assert (workdir / "baseline.yml").read_text() == after


# --- the action -------------------------------------------------------------------------------------

def action() -> dict:
    return YAML(typ="safe").load(ACTION.read_text())


@pytest.mark.slow
def test_action_validates_against_githubs_schema() -> None:
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_inputs_reach_run_only_through_env() -> None:
    doc = action()
    assert doc["runs"]["using"] == "composite" and doc["branding"]["icon"] and doc["branding"]["color"]
    assert {"baseline", "metrics", "mode"} <= set(doc["inputs"])
    assert {"verdict", "table"} <= set(doc["outputs"])
    for step in doc["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"template expansion inside run: in step {step.get('name')}"
        assert step.get("shell") == "bash"


@pytest.mark.slow
def test_zizmor_finds_nothing() -> None:
    exe = BIN / "zizmor"
    if not exe.exists():
        pytest.skip("zizmor is not installed in this environment")
    result = subprocess.run([str(exe), "--offline", "--min-severity", "low", str(ACTION)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def run_step(root: Path, inputs: dict[str, str]) -> tuple[subprocess.CompletedProcess, dict[str, str], str]:
    """The ratchet step run like a runner runs it: ``bash -e``, ``env:`` expanded, output/summary files."""
    step = next(s for s in action()["runs"]["steps"] if s.get("id") == "ratchet")
    defaults = {name: str(spec.get("default", "")) for name, spec in action()["inputs"].items()}
    values = {**defaults, **inputs}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TRUNKLINE_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    out, summary = root / "gh_output", root / "gh_summary"
    out.write_text("")
    summary.write_text("")
    env.update(GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary), RUNNER_TEMP=str(root))

    def expand(value: str) -> str:
        return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values.get(m.group(1), ""), value)

    env.update({name: expand(str(value)) for name, value in (step.get("env") or {}).items()})
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    text = out.read_text()
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            key, delimiter = line.split("<<", 1)
            outputs[key] = "\n".join(iter(lambda: next(lines), delimiter))
        elif "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
    return proc, outputs, summary.read_text()


@pytest.mark.slow
def test_action_check_mode(workdir: Path) -> None:
    proc, outputs, summary = run_step(workdir, {"baseline": "baseline.yml"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["verdict"] == "pass"
    assert outputs["table"].splitlines()[0] == "| Metric | Base | Head | Floor | Verdict |"
    assert "| `coverage` |" in summary

    (workdir / "cov2.json").write_text(coverage_json(60.0))
    proc, outputs, _ = run_step(workdir, {"baseline": "baseline.yml",
                                          "metrics": "coverage=cov2.json\nmutation=mutation.json"})
    assert proc.returncode == 1
    assert outputs["verdict"] == "fail"
    assert "::error title=ratchet coverage::coverage: below floor by 20" in proc.stdout


@pytest.mark.slow
def test_action_update_mode_and_bad_mode(workdir: Path) -> None:
    proc, outputs, summary = run_step(workdir, {"baseline": "baseline.yml", "mode": "update"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["verdict"] == "raised"
    assert "coverage: floor 80 → 83.45" in outputs["table"] and "### Ratchets raised" in summary
    assert "floor: 83.45       # raised by trunkline ratchet update" in (workdir / "baseline.yml").read_text()
    proc, _, _ = run_step(workdir, {"baseline": "baseline.yml", "mode": "rm -rf"})
    assert proc.returncode == 2 and "mode must be check or update" in proc.stdout
