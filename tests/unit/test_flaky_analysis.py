"""Flaky verdicts, rate, JSON and Markdown from recorded attempts; the attempts table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.flaky.analysis import Attempt, analyse, histories, to_markdown
from trunkline.store.base import Store
from trunkline.store.flaky_runs import FlakyRunRepo, RunRecord

OUTCOMES = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]

attempts_strategy = st.lists(
    st.builds(Attempt, nodeid=st.sampled_from([f"tests/t.py::test_{c}" for c in "abcde"]),
              attempt=st.integers(1, 3), outcome=st.sampled_from(OUTCOMES),
              quarantined=st.booleans(), run_id=st.sampled_from(["r1", "r2"])),
    max_size=40)


@settings(max_examples=150, deadline=None)
@given(attempts_strategy)
def test_flaky_exactly_when_a_test_both_passed_and_failed(attempts: list[Attempt]) -> None:
    report = analyse("tree", attempts, runs=2)
    for nodeid, history in report.tests.items():
        outcomes = {a.outcome for a in attempts if a.nodeid == nodeid}
        assert history.flaky == ("passed" in outcomes and bool(outcomes & {"failed", "error"}))
        assert not (history.flaky and history.failing)
    ran = [t for t in report.tests.values() if t.ran]
    assert 0.0 <= report.rate <= 100.0
    assert report.rate == (0.0 if not ran else 100.0 * len(report.flaky) / len(ran))
    data = report.to_json()
    assert set(data["flaky"]) == {t.nodeid for t in report.flaky}
    assert data["tests"] == len(ran) and data["attempts"] == len(attempts)


@settings(max_examples=100, deadline=None)
@given(attempts_strategy, st.randoms(use_true_random=False))
def test_order_of_attempts_does_not_change_the_verdict(attempts: list[Attempt], rnd) -> None:
    shuffled = list(attempts)
    rnd.shuffle(shuffled)
    first, second = analyse("t", attempts, 1), analyse("t", shuffled, 1)
    assert [t.nodeid for t in first.flaky] == [t.nodeid for t in second.flaky]
    assert first.rate == second.rate


@settings(max_examples=100, deadline=None)
@given(attempts_strategy)
def test_one_more_pass_turns_a_failing_test_flaky_and_never_lowers_the_rate(attempts: list[Attempt]) -> None:
    before = analyse("t", attempts, 1)
    for failing in before.failing:
        after = analyse("t", [*attempts, Attempt(failing.nodeid, 9, "passed")], 1)
        assert failing.nodeid in {t.nodeid for t in after.flaky}
        assert after.rate >= before.rate


def test_skips_and_expected_failures_are_not_flakiness() -> None:
    report = analyse("t", [Attempt("a", 1, "skipped"), Attempt("a", 1, "passed", run_id="r2"),
                           Attempt("b", 1, "xfailed"), Attempt("b", 1, "xpassed", run_id="r2")], 2)
    assert report.flaky == [] and report.rate == 0.0
    assert [t.nodeid for t in report.ran] == ["a"]


def test_report_json_and_markdown() -> None:
    attempts = [
        Attempt("tests/a.py::test_flaky", 1, "failed", message="AssertionError: boom | pipe", run_id="r1"),
        Attempt("tests/a.py::test_flaky", 2, "passed", run_id="r1"),
        Attempt("tests/a.py::test_ok", 1, "passed", run_id="r1"),
        Attempt("tests/a.py::test_bad", 1, "failed", message="x", run_id="r1"),
        Attempt("tests/a.py::test_bad", 2, "failed", message="x", run_id="r1"),
        Attempt("tests/q.py::test_q", 1, "failed", quarantined=True, run_id="r1"),
        Attempt("tests/q.py::test_q", 1, "passed", quarantined=True, run_id="r2"),
    ]
    report = analyse("0123456789abcdef", attempts, 2, {"tests/q.py::test_q": "redis restarts (#41)"})
    data = report.to_json()
    assert data["flaky"] == ["tests/a.py::test_flaky", "tests/q.py::test_q"]
    assert data["flaky_rate"] == 50.0 and data["runs"] == 2 and data["tests"] == 4
    assert data["failing"] == ["tests/a.py::test_bad"]
    assert data["quarantined"] == [{"nodeid": "tests/q.py::test_q", "reason": "redis restarts (#41)",
                                    "outcomes": {"failed": 1, "passed": 1}}]
    assert data["details"][0]["last_message"] == "AssertionError: boom | pipe"
    markdown = to_markdown(report)
    assert markdown.startswith("## Flaky tests\n")
    assert "Flaky rate **50.00%**: 2 of 4 tests" in markdown and "`0123456789ab`" in markdown
    assert "| `tests/a.py::test_flaky` | 1 | 1 |  | AssertionError: boom \\| pipe |" in markdown
    assert "broken): `tests/a.py::test_bad`" in markdown
    assert "- `tests/q.py::test_q`: 1 failed, 1 passed — redis restarts (#41)" in markdown


def test_last_message_is_from_the_latest_failure() -> None:
    found = histories([Attempt("a", 1, "failed", message="first", run_id="r1"),
                       Attempt("a", 2, "failed", message="second", run_id="r1")])
    assert found["a"].last_message == "second"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/t.db"
    else:
        pytest.importorskip("psycopg")
        url = request.getfixturevalue("pg_schema_url")
    s = Store(url)
    s.create_all()
    yield s
    s.dispose()


def test_runs_accumulate_per_tree_and_repository(store: Store) -> None:
    import uuid

    repo = FlakyRunRepo(store)
    name, tree = f"Acme/Repo-{uuid.uuid4().hex[:8]}", "t" * 40
    repo.record(RunRecord("r1" + tree[:8] + name[-8:], name, tree, "c1", 1.0, 2.0, 1, 2),
                [Attempt("x::a", 1, "failed", 0.5, False, "boom"), Attempt("x::b", 1, "passed")])
    repo.record(RunRecord("r2" + tree[:8] + name[-8:], name.lower(), tree, "c2", 3.0, 4.0, 0, 2),
                [Attempt("x::a", 1, "passed")])
    repo.record(RunRecord("r3" + tree[:8] + name[-8:], name, "u" * 40, "c3", 5.0, 6.0, 0, 2),
                [Attempt("x::a", 1, "passed")])
    history = repo.attempts(name, tree)
    assert [(a.nodeid, a.outcome, a.message) for a in history] == [("x::a", "failed", "boom"), ("x::b", "passed", None),
                                                                   ("x::a", "passed", None)]
    assert len(repo.runs(name.upper(), tree)) == 2  # repository names are case-insensitive
    report = analyse(tree, history, len(repo.runs(name, tree)))
    assert [t.nodeid for t in report.flaky] == ["x::a"]  # failed in one run, passed in another, same tree
    assert analyse("u" * 40, repo.attempts(name, "u" * 40), 1).flaky == []
