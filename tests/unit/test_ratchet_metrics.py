"""Metric readers, on files written by the real tools (coverage.py, diff-cover) and on the documented formats."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.ratchets import metrics as m

BIN = Path(sys.executable).parent

PKG = "def sign(x):\n    if x > 0:\n        return 1\n    return -1\n\n\ndef double(x):\n    return 2 * x\n"
TESTS = "from pkg import sign\n\n\ndef test_sign():\n    assert sign(3) == 1\n"


def run(cwd: Path, *args: str) -> None:
    # no third-party pytest plugins in the tiny package's run: they only cost start-up time
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    subprocess.run(list(args), cwd=cwd, check=True, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny package measured with coverage.py (branch on) and diff-cover against a base commit."""
    root = tmp_path_factory.mktemp("measured")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    run(root, "git", "init", "-q", "-b", "main")
    (root / "pkg.py").write_text("def sign(x):\n    if x > 0:\n        return 1\n    return -1\n")
    (root / "test_pkg.py").write_text(TESTS)
    run(root, *git, "add", "-A")
    run(root, *git, "commit", "-q", "-m", "base")
    run(root, "git", "branch", "base")
    (root / "pkg.py").write_text(PKG)  # adds an untested function
    run(root, *git, "commit", "-q", "-am", "head")
    py = sys.executable
    run(root, py, "-m", "coverage", "run", "--branch", "--source=.", "--omit=test_*", "-m", "pytest", "-q",
        "-p", "no:cacheprovider")
    run(root, py, "-m", "coverage", "json", "-q", "-o", "coverage.json")
    run(root, py, "-m", "coverage", "xml", "-q", "-o", "coverage.xml")
    run(root, str(BIN / "diff-cover"), "coverage.xml", "--compare-branch=base", "--format", "json:diff-cover.json")
    return root


@pytest.mark.slow
def test_coverage_reads_the_branch_aware_total(measured: Path) -> None:
    data = json.loads((measured / "coverage.json").read_text())
    reading = m.read_metric("coverage", measured / "coverage.json")
    # 6 statements (4 run), 2 branch arcs (1 taken): (4 + 1) / (6 + 2)
    assert reading.ok and reading.value == pytest.approx(62.5)
    assert reading.value == data["totals"]["percent_covered"]
    assert reading.value != data["totals"]["percent_statements_covered"]
    assert reading.detail.startswith("lines + branches (4/6 lines, 1/2 branches)")


@pytest.mark.slow
def test_patch_coverage_counts_the_changed_lines(measured: Path) -> None:
    reading = m.read_metric("patch_coverage", measured / "diff-cover.json")
    # the changed lines are the untested function: its `def` runs at import, its body never
    assert reading.ok and reading.value == 50.0
    assert reading.detail == "1 of 2 changed lines covered"


def test_patch_coverage_without_changed_lines_does_not_apply() -> None:
    data = {"total_num_lines": 0, "total_num_violations": 0, "total_percent_covered": 100, "src_stats": {}}
    assert m.read_patch_coverage(data).status == "not_applicable"
    assert m.read_patch_coverage({"total_num_lines": 3, "total_num_violations": 1}).value == pytest.approx(200 / 3)


def test_missing_and_broken_files_are_no_data(tmp_path: Path) -> None:
    assert m.read_metric("coverage", tmp_path / "nope.json").detail == "nope.json was not written (file not found)"
    (tmp_path / "bad.json").write_text("{not json")
    assert m.read_metric("coverage", tmp_path / "bad.json").status == "no_data"
    (tmp_path / "other.json").write_text('{"totals": {"percent_covered": "97"}}')
    assert not m.read_metric("coverage", tmp_path / "other.json").ok


def test_mutation_file_format() -> None:
    good = {"killed": 40, "timeout": 2, "survived": 5, "no_tests": 3, "score": 84.0, "scope": "pr"}
    jsonschema.validate(good, m.MUTATION_SCHEMA)
    reading = m.read_mutation(good)
    assert reading.value == 84.0 and reading.detail == "42 of 50 mutants killed"
    assert m.read_mutation({k: v for k, v in good.items() if k != "score"}).value == 84.0
    assert "does not match" in m.read_mutation({**good, "score": 90}).detail
    assert "non-negative integer" in m.read_mutation({**good, "survived": -1}).detail
    assert "non-negative integer" in m.read_mutation({**good, "killed": 1.5}).detail
    assert m.read_mutation({"killed": 0, "timeout": 0, "survived": 0, "no_tests": 0, "score": None}).status == "no_data"
    nothing = {"killed": 0, "timeout": 0, "survived": 0, "no_tests": 0, "score": None, "status": "not_applicable"}
    jsonschema.validate(nothing, m.MUTATION_SCHEMA)
    assert m.read_mutation(nothing).status == "not_applicable"
    assert "did not finish" in m.read_mutation({**good, "status": "incomplete"}).detail


def test_the_mutation_runner_writes_what_the_ratchet_reads() -> None:
    report = pytest.importorskip("trunkline.mutation.report", reason="the mutation runner is not installed")
    results = pytest.importorskip("trunkline.mutation.results")
    for counts, scope, status, value in [
        (results.Counts(killed=40, timeout=2, survived=5, no_tests=3), "pr", "ok", 84.0),
        (results.Counts(), "pr", "not_applicable", None),
        (results.Counts(killed=3, survived=1, pending=2), "full", "no_data", None),
    ]:
        document = report.MutationReport(scope=scope, counts=counts, functions=[], survivors=[]).to_json()
        jsonschema.validate(document, m.MUTATION_SCHEMA)
        reading = m.read_mutation(json.loads(json.dumps(document)))
        assert (reading.status, reading.value) == (status, value), (document, reading)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 100), st.integers(0, 10_000), st.integers(0, 1000))
def test_mutation_score_is_strykers(killed: int, timeout: int, survived: int, no_tests: int) -> None:
    total = killed + timeout + survived + no_tests
    score = m.mutation_score(killed, timeout, survived, no_tests)
    if total == 0:
        assert score is None
        return
    assert 0 <= score <= 100
    assert score == pytest.approx(100 * (killed + timeout) / total)
    document = {"killed": killed, "timeout": timeout, "survived": survived, "no_tests": no_tests,
                "score": round(score, 2)}
    jsonschema.validate(document, m.MUTATION_SCHEMA)
    assert m.read_mutation(document).value == pytest.approx(score)


def test_latency_from_probe_and_pytest_benchmark() -> None:
    assert m.read_latency({"p95_ms": 12.5}).value == 12.5
    samples = list(range(1, 101))
    assert m.read_latency({"samples_ms": samples}).value == pytest.approx(95.05)
    bench = {"benchmarks": [{"name": "test_a", "fullname": "t.py::test_a", "stats": {"mean": 0.1, "data": [0.01] * 9 + [0.02]}},
                            {"name": "test_b", "fullname": "t.py::test_b", "stats": {"mean": 0.1}}]}
    assert "name one" in m.read_latency(bench).detail
    assert m.read_latency(bench, "test_a").value == pytest.approx(15.5)  # 10 + (20 - 10) * 0.55
    assert "--benchmark-save-data" in m.read_latency(bench, "t.py::test_b").detail
    assert "no benchmark named" in m.read_latency(bench, "test_c").detail


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=2, max_size=300),
       st.integers(1, 99))
def test_percentile_is_statistics_inclusive(samples: list[float], q: int) -> None:
    expected = statistics.quantiles(samples, n=100, method="inclusive")[q - 1]
    assert m.percentile(samples, q) == pytest.approx(expected, rel=1e-9, abs=1e-9)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@st.composite
def document_and_path(draw):  # a JSON document and a path to one of its nodes
    doc = draw(json_values)
    path, node = [], doc
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node))) if isinstance(node, dict) else draw(st.integers(0, len(node) - 1))
        path.append(key)
        node = node[key]
    return doc, path, node


@settings(max_examples=200, deadline=None)
@given(document_and_path())
def test_json_pointer_finds_what_the_path_names(case) -> None:
    doc, path, node = case
    pointer = "".join("/" + m.escape_token(str(p)) for p in path)
    assert m.resolve_pointer(doc, pointer) == node


def test_json_metric_reads_numbers_only() -> None:
    doc = {"a/b": {"~x": [1, 2.5, "3", True]}}
    assert m.read_json_pointer(doc, "/a~1b/~0x/1").value == 2.5
    assert "not a number" in m.read_json_pointer(doc, "/a~1b/~0x/2").detail
    assert "not a number" in m.read_json_pointer(doc, "/a~1b/~0x/3").detail
    assert "no key" in m.read_json_pointer(doc, "/nope").detail
    assert "no index" in m.read_json_pointer(doc, "/a~1b/~0x/01").detail
