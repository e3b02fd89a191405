"""The re-run/record pytest plugin, run in real pytest processes on small test files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from trunkline.flaky.plugin import QUARANTINE_REASON, attempt_outcome, matches

SUITE = textwrap.dedent('''\
    import os
    import pathlib

    import pytest

    STATE = pathlib.Path(os.environ["FLAKY_STATE"])
    MODULE_SETUPS = []


    def bump(name):
        path = STATE / name
        n = int(path.read_text()) if path.exists() else 0
        path.write_text(str(n + 1))
        return n


    @pytest.fixture(scope="module")
    def module_resource():
        MODULE_SETUPS.append(1)
        return len(MODULE_SETUPS)


    @pytest.fixture
    def fresh():
        return []


    @pytest.fixture
    def shaky_fixture():
        if bump("fixture") == 0:
            raise RuntimeError("fixture failed once")
        return "ok"


    def test_ok(module_resource):
        assert module_resource == 1


    def test_flaky(fresh, module_resource):
        fresh.append(1)
        assert fresh == [1], "a re-run must get fresh function fixtures"
        assert module_resource == 1, "module fixtures are not rebuilt for a re-run"
        assert bump("flaky") >= 1, "fails the first time only"


    def test_setup_error_then_ok(shaky_fixture):
        assert shaky_fixture == "ok"


    def test_broken():
        assert 1 == 2, "always"


    def test_quarantined_bad():
        assert False, "known bad"


    def test_quarantined_good():
        assert True


    @pytest.mark.xfail(reason="the author expects this")
    def test_author_xfail():
        assert False
    ''')


def run_suite(tmp_path: Path, *extra: str, reruns: int = 2) -> tuple[int, list[dict], ET.Element]:
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "test_suite.py").write_text(SUITE)
    (tmp_path / "state").mkdir(exist_ok=True)
    record = tmp_path / "attempts.jsonl"
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "trunkline.flaky.plugin", "-p", "no:cacheprovider", "-q",
         f"--rootdir={tmp_path}", "--flaky-reruns", str(reruns), "--flaky-record", str(record),
         "--flaky-quarantine", "tests/test_suite.py::test_quarantined_*", f"--junitxml={junit}", *extra, "tests"],
        cwd=tmp_path, capture_output=True, text=True, env={**_env(), "FLAKY_STATE": str(tmp_path / "state")},
        timeout=120)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    return proc.returncode, lines, ET.parse(junit).getroot()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def by_test(lines: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in sorted(lines, key=lambda r: (r["nodeid"], r["attempt"])):
        out.setdefault(line["nodeid"].split("::")[1], []).append(line["outcome"])
    return out


@pytest.mark.slow
def test_every_attempt_is_recorded_and_only_the_last_reaches_pytest(tmp_path: Path) -> None:
    code, lines, junit = run_suite(tmp_path)
    attempts = by_test(lines)
    assert attempts == {
        "test_ok": ["passed"],
        "test_flaky": ["failed", "passed"],
        "test_setup_error_then_ok": ["error", "passed"],
        "test_broken": ["failed", "failed", "failed"],  # 1 + 2 re-runs
        "test_quarantined_bad": ["failed", "failed", "failed"],
        "test_quarantined_good": ["passed"],
        "test_author_xfail": ["xfailed"],  # an expected failure is not re-run
    }
    assert code == 1  # test_broken; the flaky test passed on its re-run, the quarantined failure is not counted
    first_failure = next(r for r in lines if r["nodeid"].endswith("test_flaky") and r["attempt"] == 1)
    assert "fails the first time only" in first_failure["message"]
    assert all(r["quarantined"] == ("quarantined" in r["nodeid"]) for r in lines)
    # JUnit shows one result per test: the re-runs are invisible there
    cases = {c.get("name"): c for c in junit.iter("testcase")}
    assert len(cases) == 7
    assert not list(cases["test_flaky"]) and not list(cases["test_setup_error_then_ok"])  # plain passes
    assert cases["test_broken"].find("failure") is not None
    skipped = cases["test_quarantined_bad"].find("skipped")
    assert skipped is not None and QUARANTINE_REASON in (skipped.get("message") or "")


@pytest.mark.slow
def test_without_reruns_failures_are_recorded_once(tmp_path: Path) -> None:
    code, lines, _ = run_suite(tmp_path, reruns=0)
    attempts = by_test(lines)
    assert attempts["test_flaky"] == ["failed"] and attempts["test_broken"] == ["failed"]
    assert code == 1


@pytest.mark.slow
def test_stop_on_first_failure_still_records_the_reruns(tmp_path: Path) -> None:
    code, lines, _ = run_suite(tmp_path, "-x")
    attempts = by_test(lines)
    assert attempts["test_flaky"] == ["failed", "passed"]  # a failure rescued by a re-run does not stop the run
    assert attempts["test_broken"] == ["failed", "failed", "failed"]
    assert "test_quarantined_bad" not in attempts  # -x stopped after test_broken
    assert code == 1


@pytest.mark.slow
def test_parallel_workers_append_whole_lines(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    code, lines, _ = run_suite(tmp_path, "-n", "2")
    attempts = by_test(lines)
    assert attempts["test_broken"] == ["failed", "failed", "failed"]
    assert sorted(attempts) == sorted(["test_ok", "test_flaky", "test_setup_error_then_ok", "test_broken",
                                       "test_quarantined_bad", "test_quarantined_good", "test_author_xfail"])
    assert {r["worker"] for r in lines} <= {"gw0", "gw1"}
    assert code == 1


@pytest.mark.parametrize(("phases", "quarantined", "expected"), [
    ([("setup", "passed", None), ("call", "passed", None), ("teardown", "passed", None)], False, "passed"),
    ([("setup", "passed", None), ("call", "failed", None), ("teardown", "passed", None)], False, "failed"),
    ([("setup", "failed", None), ("teardown", "passed", None)], False, "error"),
    ([("setup", "passed", None), ("call", "passed", None), ("teardown", "failed", None)], False, "error"),
    ([("setup", "skipped", None), ("teardown", "passed", None)], False, "skipped"),
    ([("setup", "passed", None), ("call", "skipped", "reason"), ("teardown", "passed", None)], False, "xfailed"),
    ([("setup", "passed", None), ("call", "passed", "reason"), ("teardown", "passed", None)], False, "xpassed"),
    ([("setup", "passed", None), ("call", "skipped", QUARANTINE_REASON)], True, "failed"),
    ([("setup", "skipped", QUARANTINE_REASON)], True, "error"),
    ([("setup", "passed", None), ("call", "passed", QUARANTINE_REASON)], True, "passed"),
    # a quarantined test that the author also marked xfail keeps the author's meaning
    ([("setup", "passed", None), ("call", "skipped", "author")], True, "xfailed"),
])
def test_attempt_outcome(phases, quarantined, expected) -> None:
    assert attempt_outcome(phases, quarantined) == expected


def test_quarantine_patterns() -> None:
    assert matches("tests/a.py::test_x", ["tests/a.py::test_x"])
    assert matches("tests/a.py::test_x[1]", ["tests/a.py::test_x*"])
    assert matches("tests/a.py::C::test_x", ["tests/a.py"])  # a whole file
    assert matches("tests/e2e/a.py::t", ["tests/e2e"])  # a whole folder
    assert not matches("tests/a.py::test_xy", ["tests/a.py::test_x"])
    assert not matches("tests/ab.py::t", ["tests/a"])
    assert not matches("tests/a.py::test_x", [])
