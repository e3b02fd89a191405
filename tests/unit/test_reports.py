"""The nightly report (pure): result files -> sections, the state kept in the issue body, and the plan
(create / update / reopen / close) — including a state-machine property over sequences of runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.reports.report import (
    LABEL,
    MARKER,
    IssueInfo,
    ReportState,
    RunInfo,
    merge,
    parse_state,
    pick,
    plan,
    render,
)
from trunkline.reports.results import INFO, OK, PROBLEM, Results, Section, collect

FLAKY_RED = {"flaky_rate": 1.25, "flaky": ["tests/test_a.py::test_x"], "runs": 2, "tests": 80,
             "failing": [], "quarantined": []}
FLAKY_GREEN = {"flaky_rate": 0.0, "flaky": [], "runs": 1, "tests": 80, "failing": []}
MUTATION = {"killed": 40, "timeout": 2, "survived": 5, "no_tests": 3, "total": 50, "score": 84.0, "status": "ok",
            "scope": "sample", "sample": 50, "survivors": [{"name": "m.x__mutmut_1", "path": "bot/m.py",
                                                            "function": "x", "diff": "-a\n+b"}]}
PERF_RED = {"verdict": "fail", "summary": {"faster": 0, "slower": 1, "unchanged": 3, "no_data": 0},
            "benchmarks": [{"name": "test_parse", "verdict": "slower", "reason": "median +12.0%, p = 0.001"}]}
PERF_GREEN = {"verdict": "pass", "summary": {"faster": 1, "slower": 0, "unchanged": 3, "no_data": 0},
              "benchmarks": []}
AUDIT_RED = {"dependencies": [{"name": "jinja2", "version": "3.1.2", "vulns": [
    {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "description": "xss"}]},
    {"name": "httpx", "version": "0.27.0", "vulns": []}]}
ZIZMOR = [{"ident": "template-injection", "desc": "code injection via template expansion",
           "determinations": {"severity": "High", "confidence": "High"},
           "locations": [{"symbolic": {"key": {"Local": {"verbatim_path": ".github/workflows/x.yml"}}},
                          "concrete": {"location": {"start_point": {"row": 11, "column": 4}}}}]},
          {"ident": "self-repository", "desc": "use GitHub's dedicated self-repository syntax", "determinations": {"severity": "Low"}, "locations": []}]


def data(name: str, doc: object) -> dict[str, bytes]:
    return {name: json.dumps(doc).encode()}


RUN = RunInfo("Trunkline nightly", "success", "https://github.com/acme/app/actions/runs/1", "a" * 40, 1,
              "2026-11-22T03:40:00Z")


# ---------------------------------------------------------------------------------------- results

def test_each_result_file_becomes_a_section() -> None:
    res = collect({**data("flaky.json", FLAKY_RED), **data("mutation.json", MUTATION), **data("perf.json", PERF_RED),
                   **data("reports/pip-audit.json", AUDIT_RED), **data("zizmor.json", ZIZMOR),
                   **data("other.json", {"x": 1})})
    s = res.sections
    assert set(s) == {"flaky", "mutation", "perf", "dependencies", "workflows"}
    assert s["flaky"].status == PROBLEM and "1 flaky test (rate 1.25%) out of 80" in s["flaky"].headline
    assert s["flaky"].items == ("flaky: `tests/test_a.py::test_x`",)
    assert s["mutation"].status == INFO and "**84.00%**" in s["mutation"].headline
    assert "sample of 50 mutants" in s["mutation"].headline and "m.x__mutmut_1" in s["mutation"].items[0]
    assert s["perf"].status == PROBLEM and "1 regression" in s["perf"].headline
    assert s["dependencies"].status == PROBLEM and "GHSA-h5c8-rqwp-cp95" in s["dependencies"].items[0]
    assert "fixed in 3.1.3" in s["dependencies"].items[0]
    assert s["workflows"].status == PROBLEM and "1 finding(s) of medium severity or more" in s["workflows"].headline
    assert s["workflows"].items[0].startswith("high: `template-injection` at `.github/workflows/x.yml:12`")


def test_green_results_and_unreadable_files() -> None:
    res = collect({**data("flaky.json", FLAKY_GREEN), **data("perf.json", PERF_GREEN),
                   **data("zizmor.json", ZIZMOR[1:]), "pip-audit.json": b"{not json"})
    s = res.sections
    assert s["flaky"].status == OK and s["perf"].status == OK and s["workflows"].status == OK
    assert "1 low/informational" in s["workflows"].headline
    assert s["dependencies"].status == PROBLEM and "could not be read" in s["dependencies"].headline
    assert collect({}).empty
    assert collect(data("mutation.json", {**MUTATION, "status": "incomplete"})).sections["mutation"].status == PROBLEM


def test_the_shallowest_file_wins() -> None:
    res = collect({**data("deep/flaky.json", FLAKY_RED), **data("flaky.json", FLAKY_GREEN)})
    assert res.sections["flaky"].status == OK


# ---------------------------------------------------------------------------------------- state + body

def test_the_state_survives_the_issue_body() -> None:
    state = merge(None, collect({**data("flaky.json", FLAKY_RED), **data("mutation.json", MUTATION)}), RUN)
    body = render(state, RUN)
    assert body.startswith(MARKER) and "## 🔴 1 problem" in body
    assert "| 🔴 | Flaky tests |" in body and "| ⚪ | Dependency audit | not measured yet | |" in body
    assert "[Trunkline nightly #1](https://github.com/acme/app/actions/runs/1)" in body
    assert parse_state(body) == state
    assert parse_state("no data here") is None and parse_state(MARKER + "<!-- trunkline:report-data:!!! -->") is None


def test_sections_not_measured_keep_their_last_value() -> None:
    weekly = RunInfo("Trunkline weekly", "success", "", "b" * 40, 3)
    state = merge(None, collect(data("pip-audit.json", AUDIT_RED)), weekly)
    state = merge(state, collect(data("flaky.json", FLAKY_GREEN)), RUN)
    assert set(state.sections) == {"dependencies", "flaky"}
    assert state.sections["dependencies"].run == weekly and state.red
    assert set(state.runs) == {"Trunkline weekly", "Trunkline nightly"}


def test_a_failed_run_is_red_even_without_results() -> None:
    state = merge(None, Results(), RunInfo("Trunkline nightly", "failure", sha="c" * 40))
    assert state.problems() == ["Trunkline nightly failure"]
    assert not merge(None, Results(), RunInfo("Trunkline nightly", "cancelled")).red


# ---------------------------------------------------------------------------------------- the plan

def issue(number: int, state: str, body: str, user: str = "trunkline[bot]") -> IssueInfo:
    return IssueInfo(number, state, body, (LABEL,), user)


RED = collect(data("flaky.json", FLAKY_RED))
GREEN = collect(data("flaky.json", FLAKY_GREEN))


def test_red_creates_then_updates_then_green_closes_then_red_reopens() -> None:
    first = plan([], RED, RUN, "trunkline[bot]")
    assert first.action == "create" and first.title == "Nightly report" and first.red
    assert plan([], GREEN, RUN).action == "none"

    open_ = issue(5, "open", first.body)
    second = plan([open_], RED, RUN, "trunkline[bot]")
    assert (second.action, second.number) == ("update", 5)

    closing = plan([open_], GREEN, RUN, "trunkline[bot]")
    assert (closing.action, closing.number) == ("close", 5) and "All green" in closing.comment
    assert "## ✅ All green" in closing.body

    closed = issue(5, "closed", closing.body)
    again = plan([closed], RED, RUN, "trunkline[bot]")
    assert (again.action, again.number) == ("reopen", 5) and "Red again" in again.comment
    assert "Flaky tests: 1 flaky test" in again.comment
    assert plan([closed], GREEN, RUN).action == "update"  # stays closed, keeps its state current


def test_pick_ignores_other_issues_and_closes_duplicates() -> None:
    ours = render(ReportState(), RUN)
    issues = [issue(9, "open", ours), issue(4, "open", ours), issue(2, "open", "a human's issue with the label"),
              issue(3, "open", ours, user="mallory"), issue(1, "closed", ours)]
    chosen, dups = pick(issues, "trunkline[bot]")
    assert chosen.number == 4 and [d.number for d in dups] == [9]
    assert plan(issues, RED, RUN, "trunkline[bot]").duplicates == (9,)
    chosen, dups = pick([issue(1, "closed", ours), issue(7, "closed", ours)], "trunkline[bot]")
    assert chosen.number == 7 and dups == []


_sections = st.sampled_from(["flaky", "perf", "dependencies", "workflows"])
_runs = st.lists(st.tuples(st.dictionaries(_sections, st.booleans(), max_size=4),
                           st.sampled_from(["success", "failure", "cancelled"]),
                           st.sampled_from(["Trunkline nightly", "Trunkline weekly"])), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(_runs)
def test_a_sequence_of_runs_keeps_one_issue_open_exactly_when_red(runs: list) -> None:
    """State machine: applying each plan to a fake issue list never makes a second report issue; after every
    run the issue is open iff the merged state is red, and the body always parses back. The issue is the
    only memory: while no issue exists (all green so far), each run starts from an empty state."""
    issues: list[IssueInfo] = []
    for i, (sections, conclusion, workflow) in enumerate(runs):
        results = Results({k: Section(k, PROBLEM if red else OK, "x") for k, red in sections.items()})
        run = RunInfo(workflow, conclusion, sha=f"{i:040d}", number=i + 1)
        p = plan(issues, results, run, "trunkline[bot]")
        expected = merge(parse_state(issues[0].body) if issues else None, results, run)
        assert p.state == expected
        if p.action == "create":
            issues.append(issue(100 + i, "open", p.body))
        elif p.action in ("update", "reopen", "close"):
            state = {"reopen": "open", "close": "closed"}.get(p.action)
            issues = [IssueInfo(x.number, state or x.state, p.body, x.labels, x.user) if x.number == p.number else x
                      for x in issues]
        assert len(issues) <= 1
        if expected.red:
            assert issues and issues[0].state == "open"
        else:
            assert not issues or issues[0].state == "closed"
        if issues:
            assert parse_state(issues[0].body) == expected


# ---------------------------------------------------------------------------------------- the CLI

def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "trunkline.cli", "report", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=60)


def test_cli_renders_a_results_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "flaky.json").write_text(json.dumps(FLAKY_RED))
    (tmp_path / "out" / "perf.json").write_text(json.dumps(PERF_GREEN))
    red = cli("nightly", "--results", "out", "--json", "report.json", cwd=tmp_path)
    assert red.returncode == 1, red.stderr
    assert red.stdout.startswith(MARKER) and "1 flaky test" in red.stdout
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["red"] is True and saved["files"] == ["flaky.json", "perf.json"]

    (tmp_path / "out" / "flaky.json").write_text(json.dumps(FLAKY_GREEN))
    green = cli("nightly", "--results", "out", "--format", "json", cwd=tmp_path)
    assert green.returncode == 0 and json.loads(green.stdout)["problems"] == []

    assert cli("nightly", "--results", "nowhere", cwd=tmp_path).returncode == 2
    (tmp_path / "empty").mkdir()
    empty = cli("nightly", "--results", "empty", cwd=tmp_path)
    assert empty.returncode == 2 and "no result file" in empty.stderr
