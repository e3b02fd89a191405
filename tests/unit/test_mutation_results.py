"""mutmut verdicts → Stryker score, the mutation-score JSON and Markdown, mutant diffs."""

from __future__ import annotations

import json
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.mutation.diffs import generated_names, mutant_diff
from trunkline.mutation.report import MutationReport, survivors_of, to_markdown
from trunkline.mutation.results import (
    STATUS_BY_EXIT_CODE,
    Counts,
    Verdict,
    by_function,
    status_of,
    verdicts_from_meta,
)


def test_exit_code_table_is_mutmuts_own() -> None:
    from mutmut.stats import status_by_exit_code

    for code, status in status_by_exit_code.items():
        assert status_of(code) == status, code
    assert set(STATUS_BY_EXIT_CODE) == set(status_by_exit_code)
    assert status_of(12345) == status_by_exit_code[12345] == "suspicious"


def _meta(codes: dict[str, int | None]) -> dict:
    return {"exit_code_by_key": codes, "hash_by_function_name": {}, "type_check_error_by_key": {},
            "durations_by_key": {}, "estimated_durations_by_key": {}}


def test_stryker_score_counts_timeouts_as_detected_and_no_tests_as_undetected() -> None:
    verdicts = verdicts_from_meta("src/p/m.py", _meta({
        "p.m.x_f__mutmut_1": 1, "p.m.x_f__mutmut_2": 3, "p.m.x_f__mutmut_3": 36, "p.m.x_f__mutmut_4": -24,
        "p.m.x_f__mutmut_5": 0, "p.m.x_g__mutmut_1": 33, "p.m.x_g__mutmut_2": -11, "p.m.x_g__mutmut_3": 37,
        "p.m.x_g__mutmut_4": 34,
    }))
    counts = Counts.of(verdicts)
    assert (counts.killed, counts.timeout, counts.survived, counts.no_tests) == (2, 2, 1, 1)
    assert (counts.error, counts.invalid, counts.ignored, counts.pending) == (1, 1, 1, 0)
    assert counts.total == 6
    assert counts.score == pytest.approx(100 * 4 / 6)
    assert counts.complete


def test_unfinished_run_is_incomplete_and_not_scored_as_a_pass() -> None:
    counts = Counts.of(verdicts_from_meta("m.py", _meta({"m.x_f__mutmut_1": 1, "m.x_f__mutmut_2": None})))
    assert counts.pending == 1 and not counts.complete
    report = MutationReport("full", counts, [], [])
    assert report.status == "incomplete"
    assert report.to_json()["status"] == "incomplete"
    assert "did not finish" in to_markdown(report)


def test_meta_without_exit_codes_is_refused() -> None:
    with pytest.raises(ValueError, match="exit_code_by_key"):
        verdicts_from_meta("m.py", {"hash_by_function_name": {}})


statuses = st.sampled_from([1, 3, 0, 5, 33, 36, -24, 152, -11, 37, 34])


@settings(max_examples=100, deadline=None)
@given(st.lists(statuses, max_size=40))
def test_score_properties(codes: list[int]) -> None:
    counts = Counts.of(verdicts_from_meta("m.py", _meta({f"m.x_f__mutmut_{i}": c for i, c in enumerate(codes)})))
    assert counts.killed + counts.timeout + counts.survived + counts.no_tests + counts.error + counts.invalid \
        + counts.ignored == len(codes)
    if counts.total == 0:
        assert counts.score is None
    else:
        assert 0 <= counts.score <= 100
        # detecting one more mutant never lowers the score
        better = Counts(counts.killed + 1, counts.timeout, counts.survived, counts.no_tests)
        assert better.score >= counts.score


def test_json_is_what_the_mutation_ratchet_reads() -> None:
    metrics = pytest.importorskip("trunkline.ratchets.metrics")
    jsonschema = pytest.importorskip("jsonschema")
    verdicts = verdicts_from_meta("src/p/m.py", _meta({
        "p.m.x_f__mutmut_1": 1, "p.m.x_f__mutmut_2": 0, "p.m.x_f__mutmut_3": 36, "p.m.xǁCǁm__mutmut_1": 33,
    }))
    functions = by_function(verdicts, {"src/p/m.py": "bot/p/m.py"})
    report = MutationReport("pr", Counts.of(verdicts), functions, survivors_of(functions, {}), base="origin/main")
    data = json.loads(json.dumps(report.to_json()))
    jsonschema.validate(data, metrics.MUTATION_SCHEMA)
    assert data["score"] == 50.0 and data["total"] == 4
    reading = metrics.read_mutation(data)
    assert reading.ok and reading.value == pytest.approx(50.0)
    by_name = {f["function"]: f for f in data["functions"]}
    assert by_name["f"]["survivors"] == ["p.m.x_f__mutmut_2"] and by_name["f"]["path"] == "bot/p/m.py"
    assert by_name["C.m"]["no_tests"] == 1


def test_empty_pr_scope_is_not_applicable() -> None:
    report = MutationReport("pr", Counts(), [], [], base="main")
    data = report.to_json()
    assert data["status"] == "not_applicable" and data["score"] is None and data["total"] == 0
    assert "nothing to test" in to_markdown(report)


def test_score_rounding_stays_within_the_ratchet_tolerance() -> None:
    counts = Counts(killed=2, survived=1)
    data = MutationReport("full", counts, [], []).to_json()
    assert data["score"] == 66.67
    assert abs(data["score"] - 100 * 2 / 3) <= 0.01


GENERATED = textwrap.dedent('''\
    from mutmut.mutation.trampoline import wrap_in_trampoline as _mutmut_mutated, MutantDict
    mutants_x_clamp__mutmut: MutantDict = {}  # type: ignore


    @_mutmut_mutated(mutants_x_clamp__mutmut)
    def clamp(x, low, high):
        if x < low:
            return low
        return x


    def x_clamp__mutmut_orig(x, low, high):
        if x < low:
            return low
        return x


    def x_clamp__mutmut_1(x, low, high):
        if x <= low:
            return low
        return x


    class C:
        def xǁCǁm__mutmut_orig(self):
            return 1

        def xǁCǁm__mutmut_1(self):
            return 2
    ''')


def test_mutant_diff_from_the_spans_index_and_by_parsing() -> None:
    index = {"version": 1, "spans": {"x_clamp__mutmut_orig": [12, 15], "x_clamp__mutmut_1": [18, 21]}}
    with_index = mutant_diff("calc.ops.x_clamp__mutmut_1", GENERATED, index, "src/calc/ops.py")
    parsed = mutant_diff("calc.ops.x_clamp__mutmut_1", GENERATED, None, "src/calc/ops.py")
    assert with_index == parsed
    assert with_index is not None
    assert "-    if x < low:\n+    if x <= low:\n" in with_index
    assert " def clamp(x, low, high):" in with_index and "mutmut" not in with_index
    method = mutant_diff("calc.ops.xǁCǁm__mutmut_1", GENERATED, None, "src/calc/ops.py")
    assert method is not None and "-    return 1\n+    return 2\n" in method and "def m(self)" in method
    assert mutant_diff("calc.ops.x_other__mutmut_1", GENERATED, None, "x.py") is None
    # a stale index (lines past the end) falls back to nothing rather than a wrong diff
    assert mutant_diff("calc.ops.x_clamp__mutmut_1", GENERATED,
                       {"version": 1, "spans": {"x_clamp__mutmut_orig": [900, 901],
                                                "x_clamp__mutmut_1": [18, 21]}}, "x.py") is None


def test_generated_names() -> None:
    assert generated_names("a.b.x_f__mutmut_3") == ("x_f__mutmut_orig", "x_f__mutmut_3")
    assert generated_names("a.xǁCǁm__mutmut_1") == ("xǁCǁm__mutmut_orig", "xǁCǁm__mutmut_1")


def test_markdown_lists_survivors_with_file_function_and_diff() -> None:
    verdicts = [Verdict("calc.ops.x_clamp__mutmut_1", "survived", "src/calc/ops.py"),
                Verdict("calc.ops.x_clamp__mutmut_2", "killed", "src/calc/ops.py")]
    functions = by_function(verdicts)
    survivors = survivors_of(functions, {"calc.ops.x_clamp__mutmut_1": "--- a\n+++ b\n-x\n+y\n"})
    report = MutationReport("sample", Counts.of(verdicts), functions, survivors, seed=7, sample=2)
    markdown = to_markdown(report)
    assert "random sample of 2 mutants (seed 7)" in markdown
    assert "`calc.ops.clamp`" in markdown and "50.00%" in markdown
    assert "<code>src/calc/ops.py</code> · <code>clamp</code> · <code>calc.ops.x_clamp__mutmut_1</code>" in markdown
    assert "```diff\n--- a\n+++ b\n-x\n+y\n```" in markdown
    assert report.to_json()["survivors"][0]["diff"].startswith("--- a")
