"""``trunkline.gates.junit`` on JUnit files produced by real pytest runs, plus malformed input."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.gates.junit import JUnitError, locate, module_file, parse_junit, read_junit, relative_path

SUITE = {
    "tests/__init__.py": "",
    "tests/test_math.py": (
        "import pytest\n"
        "\n"
        "\n"
        "def test_ok():\n"
        "    assert 1 + 1 == 2\n"
        "\n"
        "\n"
        "def test_bad():\n"
        "    value = 2\n"
        "    assert value == 3, 'two is not three'\n"
        "\n"
        "\n"
        "@pytest.mark.skip(reason='later')\n"
        "def test_skipped():\n"
        "    pass\n"
        "\n"
        "\n"
        "class TestGroup:\n"
        "    def test_in_class(self):\n"
        "        helper()\n"
        "\n"
        "\n"
        "def helper():\n"
        "    raise ValueError('deep inside')\n"
        "\n"
        "\n"
        "@pytest.fixture\n"
        "def broken():\n"
        "    raise RuntimeError('fixture broke')\n"
        "\n"
        "\n"
        "def test_setup_error(broken):\n"
        "    pass\n"
    ),
    "tests/sub/test_other.py": "def test_fine():\n    assert True\n",
}


@pytest.fixture(scope="module")
def pytest_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run pytest for real on SUITE, once per JUnit family."""
    root = tmp_path_factory.mktemp("suite")
    for name, text in SUITE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    out = {}
    for family in ("xunit2", "xunit1"):
        report = root / "reports" / f"junit-{family}.xml"
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                               "-o", f"junit_family={family}", "tests"], cwd=root, capture_output=True, text=True,
                              env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        assert proc.returncode == 1, proc.stdout + proc.stderr  # tests failed, the run itself worked
        out[family] = report
    out["root"] = root
    return out


@pytest.mark.slow
@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_counts_and_failing_tests_from_real_pytest(pytest_reports: dict[str, Path], family: str) -> None:
    report = parse_junit(pytest_reports[family].read_bytes(), f"reports/junit-{family}.xml")
    assert (report.tests, report.failures, report.errors, report.skipped) == (6, 2, 1, 1)
    assert report.passed == 2
    assert not report.ok
    by_name = {c.name: c for c in report.failing}
    assert set(by_name) == {"test_bad", "test_in_class", "test_setup_error"}
    bad = by_name["test_bad"]
    assert (bad.file, bad.line) == ("tests/test_math.py", 10)  # the failing assert, 1-based
    assert "two is not three" in bad.message
    assert bad.outcome == "failed"
    # the innermost frame in the test's own file (helper() raises at line 24)
    assert (by_name["test_in_class"].file, by_name["test_in_class"].line) == ("tests/test_math.py", 24)
    assert by_name["test_in_class"].classname == "tests.test_math.TestGroup"
    setup = by_name["test_setup_error"]
    assert setup.outcome == "error"
    assert setup.file == "tests/test_math.py"
    assert setup.line == 29  # where the fixture raised


@pytest.mark.slow
def test_read_junit_globs_and_merges(pytest_reports: dict[str, Path]) -> None:
    report = read_junit(pytest_reports["root"], "reports/junit-*.xml")
    assert report.files == ("reports/junit-xunit1.xml", "reports/junit-xunit2.xml")
    assert report.tests == 12 and report.failures == 4 and report.errors == 2
    assert read_junit(pytest_reports["root"], "nothing/*.xml").found is False


def test_unreadable_report_is_listed_not_raised(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<testsuite><testcase name='x'></testsuite>")
    (tmp_path / "b.xml").write_text("<testsuite tests='1'><testcase name='ok'/></testsuite>")
    report = read_junit(tmp_path, "*.xml")
    assert report.tests == 1
    assert len(report.problems) == 1 and report.problems[0].startswith("a.xml: not well-formed XML")


def test_dtd_and_entities_are_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            "<testsuite><testcase name='&lol2;'/></testsuite>")
    with pytest.raises(JUnitError, match="DTDs and entities are not allowed"):
        parse_junit(bomb)


def test_not_junit_is_refused() -> None:
    with pytest.raises(JUnitError, match="root element is <html>"):
        parse_junit("<html/>")


def test_absolute_paths_under_the_checkout_become_relative() -> None:
    text = ("<testsuite><testcase classname='tests.test_x' name='t'><failure message='boom'>"
            "/work/co/src/tests/test_x.py:7: in t\n    foo()\n/usr/lib/python3/x.py:3: in foo\n"
            "/work/co/src/tests/test_x.py:12: AssertionError</failure></testcase></testsuite>")
    [case] = parse_junit(text, roots=("/work/co/src",)).failing
    assert (case.file, case.line) == ("tests/test_x.py", 12)


def test_other_tools_file_and_line_attributes() -> None:
    text = ("<testsuites><testsuite><testcase classname='Calc' name='adds' file='spec/calc.rb' line='4'>"
            "<failure message='expected 5'>expected 5 got 4</failure></testcase></testsuite></testsuites>")
    [case] = parse_junit(text).failing
    assert (case.file, case.line) == ("spec/calc.rb", 5)


@pytest.mark.parametrize(("classname", "expected"), [
    ("tests.test_x", "tests/test_x.py"), ("tests.unit.test_x.TestThing", "tests/unit/test_x.py"), ("", None)])
def test_module_file(classname: str, expected: str | None) -> None:
    assert module_file(classname) == expected


def test_relative_path_refuses_escapes() -> None:
    assert relative_path("../etc/passwd") is None
    assert relative_path("/etc/passwd", roots=("/work",)) is None
    assert relative_path("./a/b.py") == "a/b.py"


outcomes = st.sampled_from(["passed", "failed", "error", "skipped"])
names = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=12)


@given(st.lists(st.tuples(names, outcomes), max_size=40), st.booleans())
def test_counts_match_the_testcases_written(cases: list[tuple[str, str]], wrapped: bool) -> None:
    suite = ET.Element("testsuite", {"tests": "999"})  # wrong suite attributes must not matter
    for name, outcome in cases:
        el = ET.SubElement(suite, "testcase", {"classname": "pkg.test_mod", "name": name, "time": "0.5"})
        if outcome == "failed":
            ET.SubElement(el, "failure", {"message": "m"}).text = "pkg/test_mod.py:3: AssertionError"
        elif outcome == "error":
            ET.SubElement(el, "error", {"message": "e"})
        elif outcome == "skipped":
            ET.SubElement(el, "skipped")
    root = suite
    if wrapped:
        root = ET.Element("testsuites")
        root.append(suite)
    report = parse_junit(ET.tostring(root))
    count = {o: sum(1 for _, x in cases if x == o) for o in ("passed", "failed", "error", "skipped")}
    assert (report.tests, report.failures, report.errors, report.skipped) == (
        len(cases), count["failed"], count["error"], count["skipped"])
    assert report.passed == count["passed"]
    assert len(report.failing) == count["failed"] + count["error"]
    assert all(c.file == "pkg/test_mod.py" for c in report.failing)
    assert all(c.line == 3 for c in report.failing if c.outcome == "failed")
    assert report.time == pytest.approx(0.5 * len(cases))


def test_locate_without_any_hint() -> None:
    from trunkline.gates.junit import TestCase

    assert locate(TestCase("t")) == (None, None)
