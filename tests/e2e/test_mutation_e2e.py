"""``trunkline mutation run`` end to end: a real package in a real git repository, real mutmut runs.

The PR-scoped run must mutate only the changed function and reach the same verdicts for it as a run
over every mutant; a change to a test alone must re-run the functions that test reaches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

OPS = textwrap.dedent('''\
    def add(a, b):
        return a + b


    def grade(score):
        if score >= 90:
            return "A"
        if score >= 80:
            return "B"
        return "C"


    def sign(x):
        if x > 0:
            return 1
        if x < 0:
            return -1
        return 0


    def untested(x):
        return x * 2


    class Acc:
        def __init__(self):
            self.total = 0

        def push(self, value):
            self.total += value
            return self.total
    ''')

TEST_GRADE = textwrap.dedent('''\
    from calc.ops import grade


    def test_grade():
        assert grade(95) == "A"
        assert grade(85) == "B"
        assert grade(10) == "C"
    ''')

TEST_OTHER = textwrap.dedent('''\
    from calc.ops import Acc, add, sign


    def test_add():
        assert add(2, 3) == 5


    def test_sign():
        assert sign(3) == 1
        assert sign(-3) == -1
        assert sign(0) == 0


    def test_acc():
        acc = Acc()
        assert acc.push(2) == 2
        assert acc.push(3) == 5
    ''')

PYPROJECT = textwrap.dedent('''\
    [project]
    name = "calc"
    version = "0"

    [tool.mutmut]
    source_paths = ["src/calc"]
    pytest_add_cli_args_test_selection = ["tests"]

    [tool.pytest.ini_options]
    addopts = "-p no:cacheprovider"
    ''')


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def _write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _mutation(repo: Path, *args: str) -> tuple[dict, str]:
    out = repo.parent / f"mutation-{len(list(repo.parent.glob('mutation-*.json')))}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "TRUNKLINE_BASE_REF")}
    proc = subprocess.run([sys.executable, "-m", "trunkline.cli", "mutation", "run", *args, "--repo", str(repo),
                           "--json", str(out), "--jobs", "2", "--quiet"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


def _per_mutant(workspace: Path) -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in (workspace / "mutants").rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "calc"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, {"pyproject.toml": PYPROJECT, ".gitignore": ".trunkline/\n", "src/calc/__init__.py": "",
                  "src/calc/ops.py": OPS, "tests/test_grade.py": TEST_GRADE, "tests/test_other.py": TEST_OTHER})
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    return repo


def test_scoped_run_mutates_only_the_changed_function_and_agrees_with_a_full_run(repo: Path) -> None:
    # the pull request: one line inside sign() changes (behaviour kept, so the tests still pass)
    _write(repo, {"src/calc/ops.py": OPS.replace("    return 0\n", "    return 0 * x\n")})
    _git(repo, "commit", "-qam", "sign: spell zero differently")
    workspace = repo / ".trunkline" / "mutation"

    scoped, stdout = _mutation(repo, "--base", "HEAD~1")
    assert scoped["scope"] == "pr" and scoped["status"] == "ok"
    assert [f["function"] for f in scoped["functions"]] == ["sign"]
    scoped_codes = _per_mutant(workspace)
    tested = {name: code for name, code in scoped_codes.items() if code is not None}
    assert tested and all(name.startswith("calc.ops.x_sign__mutmut_") for name in tested)
    # only the changed file was mutated at all
    assert {m.name for m in (workspace / "mutants").rglob("*.py.meta")} == {"ops.py.meta"}
    assert "Mutation score" in stdout

    full, _ = _mutation(repo, "--all")
    assert full["scope"] == "full" and full["status"] == "ok"
    full_codes = _per_mutant(workspace)
    assert all(code is not None for code in full_codes.values())
    assert full["total"] > scoped["total"]
    for name, code in tested.items():  # same verdict for every mutant of the changed function
        assert full_codes[name] == code, name
    full_sign = next(f for f in full["functions"] if f["function"] == "sign")
    scoped_sign = scoped["functions"][0]
    for key in ("killed", "timeout", "survived", "no_tests", "total", "score"):
        assert full_sign[key] == scoped_sign[key], key
    assert (scoped["killed"], scoped["survived"], scoped["score"]) == \
        (scoped_sign["killed"], scoped_sign["survived"], scoped_sign["score"])
    # the untested function shows up as "no tests" in the full run, and pulls the score down
    untested = next(f for f in full["functions"] if f["function"] == "untested")
    assert untested["no_tests"] == untested["total"] > 0


def test_a_test_only_change_reruns_the_functions_that_test_reaches(repo: Path) -> None:
    before, _ = _mutation(repo, "--all")
    grade_before = next(f for f in before["functions"] if f["function"] == "grade")
    assert grade_before["survived"] > 0  # the boundaries are untested
    boundary = [s for s in before["survivors"] if s["function"] == "grade"]
    assert boundary and all(s["diff"].startswith("--- a/src/calc/ops.py\n+++ b/src/calc/ops.py\n@@")
                            for s in boundary)
    assert any("-    if score >= 90:\n+    if score > 90:\n" in s["diff"] for s in boundary)

    _write(repo, {"tests/test_grade.py": TEST_GRADE + textwrap.dedent('''\


        def test_grade_boundaries():
            assert grade(90) == "A"
            assert grade(89) == "B"
            assert grade(80) == "B"
            assert grade(79) == "C"
        ''')})
    _git(repo, "commit", "-qam", "test the boundaries")

    after, _ = _mutation(repo, "--base", "HEAD~1")
    assert after["scope"] == "pr" and after["status"] == "ok"
    assert [f["function"] for f in after["functions"]] == ["grade"]  # test_grade.py reaches grade only
    grade_after = after["functions"][0]
    assert grade_after["total"] == grade_before["total"]
    assert grade_after["survived"] < grade_before["survived"]
    assert grade_after["score"] > grade_before["score"]


def test_nothing_to_mutate_is_not_applicable(repo: Path) -> None:
    _write(repo, {"README.md": "calc\n"})
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "docs")
    data, stdout = _mutation(repo, "--base", "HEAD~1")
    assert data["status"] == "not_applicable" and data["total"] == 0 and data["score"] is None
    assert not (repo / ".trunkline" / "mutation" / "mutants").exists()  # mutmut never ran
    assert "nothing to test" in stdout


def test_failing_tests_fail_the_run_with_mutmuts_reason(repo: Path, tmp_path: Path) -> None:
    _write(repo, {"tests/test_other.py": TEST_OTHER + "\n\ndef test_broken():\n    assert False\n"})
    _git(repo, "commit", "-qam", "break")
    proc = subprocess.run([sys.executable, "-m", "trunkline.cli", "mutation", "run", "--all", "--repo", str(repo),
                           "--json", str(tmp_path / "m.json"), "--quiet"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1
    assert "tests must pass" in proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_a_seeded_sample_tests_exactly_that_many_mutants_and_repeats(repo: Path) -> None:
    first, stdout = _mutation(repo, "--sample", "4", "--seed", "7")
    assert first["scope"] == "sample" and first["seed"] == 7 and first["sample"] == 4
    assert first["total"] + first["errors"] + first["invalid"] + first["ignored"] == 4
    tested = {name for name, code in _per_mutant(repo / ".trunkline" / "mutation").items() if code is not None}
    assert len(tested) == 4
    again, _ = _mutation(repo, "--sample", "4", "--seed", "7")
    assert {name for name, code in _per_mutant(repo / ".trunkline" / "mutation").items() if code is not None} == tested
    assert again["score"] == first["score"]
