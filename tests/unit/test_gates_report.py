"""Verdicts, conclusions, JSON round trip and the Markdown/check-run rendering of tier results."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.gates.config import Tier
from trunkline.gates.junit import JUnitReport, TestCase
from trunkline.gates.report import (
    MAX_SUMMARY_CHARS,
    annotations,
    check_spec,
    code_span,
    headline,
    summary_markdown,
)
from trunkline.gates.result import (
    TierResult,
    conclusion_for,
    fmt_seconds,
    from_json,
    result_from_run,
    verdict_of,
)
from trunkline.gates.runner import (
    BUDGET,
    CANCELLED,
    ERROR,
    FAILED,
    NOT_RUN,
    PASSED,
    CommandResult,
    RunOutcome,
)

TIER = Tier("tier-0", ("pytest",), 60, ("pull_request",), True, junit="reports/*.xml")


def outcome(*statuses: str, stopped: str | None = None, reason: str | None = None) -> RunOutcome:
    cmds = tuple(CommandResult(f"cmd {i}", s, 0 if s == PASSED else (1 if s == FAILED else None), 1.0, "out")
                 for i, s in enumerate(statuses))
    return RunOutcome(cmds, 2.0, 60, stopped, reason)


FAILING = TestCase("test_add", "tests.test_calc", "failed", "AssertionError: assert -1 == 5",
                   "def test_add():\n>   assert add(2, 3) == 5\nE   assert -1 == 5", "tests/test_calc.py", 5)


def junit(failing: tuple[TestCase, ...] = (), tests: int = 2) -> JUnitReport:
    return JUnitReport(tests, len(failing), 0, 0, 0.1, failing, ("reports/junit.xml",))


def test_verdicts() -> None:
    assert verdict_of(outcome(PASSED, PASSED), junit()) == PASSED
    assert verdict_of(outcome(PASSED, FAILED, NOT_RUN), None) == FAILED
    assert verdict_of(outcome(PASSED), junit((FAILING,))) == FAILED  # `pytest || true` still fails
    assert verdict_of(outcome(BUDGET, NOT_RUN, stopped="budget"), None) == BUDGET
    assert verdict_of(outcome(CANCELLED, stopped="cancelled"), junit((FAILING,))) == CANCELLED
    assert verdict_of(outcome(ERROR), None) == ERROR
    assert verdict_of(outcome(), None) == ERROR


@pytest.mark.parametrize(("verdict", "required", "conclusion"), [
    (PASSED, True, "success"), (PASSED, False, "success"), (FAILED, True, "failure"), (FAILED, False, "neutral"),
    (BUDGET, True, "failure"), (BUDGET, False, "neutral"), (ERROR, True, "failure"), (ERROR, False, "neutral"),
    (CANCELLED, True, "cancelled"), (CANCELLED, False, "cancelled")])
def test_conclusions(verdict: str, required: bool, conclusion: str) -> None:
    assert conclusion_for(verdict, required) == conclusion


def test_failing_tests_become_annotations_and_a_table() -> None:
    result = result_from_run(TIER, outcome(FAILED), junit((FAILING,)), sha="a" * 40)
    spec = check_spec(result, "a" * 40)
    assert spec.name == "trunkline/tier-0"
    assert spec.conclusion == "failure"
    assert spec.title == "tier-0 failed: 1 of 2 tests failed"
    [ann] = spec.annotations
    assert ann == {"path": "tests/test_calc.py", "start_line": 5, "end_line": 5, "annotation_level": "failure",
                   "title": "tests.test_calc::test_add failed",
                   "message": "AssertionError: assert -1 == 5\n\n" + FAILING.text}
    assert "| `tests.test_calc::test_add` | tests/test_calc.py:5 | AssertionError: assert -1 == 5 |" in spec.summary
    assert "**Tests:** 1 passed, 1 failed, 0 errors, 0 skipped" in spec.summary
    assert "<details><summary>Last output of `cmd 0`</summary>" in spec.summary


def test_budget_exceeded_summary() -> None:
    result = result_from_run(TIER, outcome(BUDGET, NOT_RUN, stopped="budget"), None)
    assert headline(result) == "tier-0: budget exceeded (1m)"
    text = summary_markdown(result)
    assert "Verdict **budget exceeded** in 2s of a 1m budget" in text
    assert "**Why:** stopped at the budget of 1m" in text
    assert "| ⏭️ not run | `cmd 1` |  |  |" in text


def test_advisory_tier_says_so_and_is_neutral() -> None:
    tier = Tier("nightly", ("x",), 1800, ("schedule",), False)
    result = result_from_run(tier, outcome(FAILED), None)
    assert result.conclusion == "neutral"
    assert "advisory (never blocks a merge)" in summary_markdown(result)
    assert headline(result) == "nightly failed: `cmd 0` exited with 1"


def test_cancelled_headline_carries_the_reason() -> None:
    result = result_from_run(TIER, outcome(CANCELLED, stopped="cancelled", reason="superseded by 1a2b3c4"), None)
    assert headline(result) == "tier-0 cancelled: superseded by 1a2b3c4"
    assert result.conclusion == "cancelled"


def test_json_round_trip() -> None:
    result = result_from_run(TIER, outcome(PASSED, FAILED), junit((FAILING,)), sha="b" * 40, notes=["n"],
                             artifacts={"coverage": "coverage.json"})
    data = json.loads(result.dumps())
    assert data["verdict"] == "failed" and data["conclusion"] == "failure"
    assert data["tests"]["failing"][0]["line"] == 5
    assert from_json(data) == result


def test_summary_is_capped() -> None:
    many = tuple(TestCase(f"t{i}", "m", "failed", "x" * 300, "y" * 3000, "m.py", i + 1) for i in range(400))
    result = result_from_run(TIER, RunOutcome((CommandResult("c", FAILED, 1, 1, "z" * 100_000),), 1, 60),
                             JUnitReport(400, 400, 0, 0, 1, many, ("r.xml",)))
    spec = check_spec(result, "c" * 40)
    assert len(spec.summary) <= MAX_SUMMARY_CHARS
    assert "…and 375 more." in spec.summary
    assert len(annotations(result)) == 200


@given(st.text(max_size=80))
def test_code_span_is_one_table_cell(text: str) -> None:
    span = code_span(text)
    assert "\n" not in span
    stripped = span.replace("\\|", "")
    assert "|" not in stripped
    fence = len(span) - len(span.lstrip("`"))
    assert "`" * fence not in span[fence:len(span) - fence]


@pytest.mark.parametrize(("seconds", "text"), [(0.5, "0.5s"), (59, "59s"), (60, "1m"), (75, "1m 15s"),
                                               (3600, "1h"), (5400, "1h 30m"), (7261, "2h 1m 1s")])
def test_fmt_seconds(seconds: float, text: str) -> None:
    assert fmt_seconds(seconds) == text


def test_from_json_refuses_unknown_verdicts() -> None:
    with pytest.raises(ValueError, match="unknown verdict"):
        from_json({"tier": "t", "verdict": "great"})


def test_error_result_headline() -> None:
    result = TierResult("tier-0", ERROR, reason="checkout of abc failed: 404")
    assert headline(result) == "tier-0 could not run: checkout of abc failed: 404"
