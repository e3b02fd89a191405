"""``.github/trunkline-ratchets.yml``: validation with positions, and round-trip edits that keep the file."""

from __future__ import annotations

import difflib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.ratchets.baseline import BaselineError, apply_raises, detect_indent, parse_baseline
from trunkline.ratchets.metrics import Reading
from trunkline.ratchets.update import apply_changes, plan_update

REPO = Path(__file__).resolve().parents[2]

COMMENTED = """\
# Quality ratchets for widgets.   Floors only move up;
# Trunkline raises them after every merge to main.
version: 1

metrics:
  # Total coverage, lines + branches (coverage.py JSON).
  coverage:
    kind: coverage
    file: reports/coverage.json   # written by `coverage json`
    floor: 81.5                   # raised by Trunkline
    tolerance: 0.05

  # Changed lines must be tested.
  patch_coverage:
    kind: patch_coverage
    file: "reports/diff-cover.json"
    floor: 80   # fixed threshold
    ratchet: false

  p95_ms:
    kind: latency
    file: .bench/probe.json
    ceiling: 250.0    # ms, lower is better
    step: 10          # at most 10 ms per week
    period: week
    updated: 2026-11-02

  # Custom: errors in the smoke report, lower is better.
  errors:
    kind: json
    file: smoke.json
    pointer: /summary/errors
    direction: lower
    ceiling: 3
    required: false
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before.splitlines(), after.splitlines()).get_opcodes():
        if tag == "equal":
            continue
        assert tag == "replace" and i2 - i1 == j2 - j1, (tag, before.splitlines()[i1:i2], after.splitlines()[j1:j2])
        pairs += list(zip(before.splitlines()[i1:i2], after.splitlines()[j1:j2], strict=True))
    return pairs


def test_parses_the_commented_file() -> None:
    baseline = parse_baseline(COMMENTED)
    assert baseline.names == ["coverage", "patch_coverage", "p95_ms", "errors"]
    cov = baseline.get("coverage")
    assert cov.file == "reports/coverage.json" and cov.rule.limit == 81.5 and cov.rule.tolerance == 0.05
    assert cov.rule.ratchet and cov.rule.required and cov.rule.direction == "higher"
    patch = baseline.get("patch_coverage")
    assert not patch.rule.ratchet and patch.rule.limit == 80
    p95 = baseline.get("p95_ms")
    assert p95.rule.direction == "lower" and p95.rule.limit == 250.0 and p95.rule.period == "week"
    assert p95.rule.updated == date(2026, 11, 2) and p95.unit == "ms"
    errors = baseline.get("errors")
    assert errors.pointer == "/summary/errors" and errors.rule.direction == "lower" and not errors.rule.required


def test_defaults_per_kind() -> None:
    baseline = parse_baseline("version: 1\nmetrics:\n  cov: {kind: coverage}\n  patch: {kind: patch_coverage}\n"
                              "  mut: {kind: mutation}\n")
    assert [m.file for m in baseline.metrics] == ["coverage.json", "diff-cover.json", "mutation.json"]
    assert [m.rule.ratchet for m in baseline.metrics] == [True, False, True]
    assert parse_baseline("").metrics == ()


def test_raising_floors_changes_only_those_numbers_byte_for_byte() -> None:
    after = apply_raises(COMMENTED, {"coverage": (82.25, None), "errors": (2, None)})
    assert changed_lines(COMMENTED, after) == [
        ("    floor: 81.5                   # raised by Trunkline", "    floor: 82.25                  # raised by Trunkline"),
        ("    ceiling: 3", "    ceiling: 2"),
    ]
    assert parse_baseline(after).get("coverage").rule.limit == 82.25


def test_update_with_a_step_period_records_the_day_in_place() -> None:
    baseline = parse_baseline(COMMENTED)
    achieved = {"coverage": Reading(83.019), "patch_coverage": Reading(100.0), "p95_ms": Reading(201.5),
                "errors": Reading(3.0)}
    today = date(2026, 11, 20)
    changes = plan_update(baseline, achieved, today)
    assert [(c.name, c.new) for c in changes] == [("coverage", 83.01), ("p95_ms", 240.0)]
    after = apply_changes(COMMENTED, changes, today)
    assert changed_lines(COMMENTED, after) == [
        ("    floor: 81.5                   # raised by Trunkline", "    floor: 83.01                  # raised by Trunkline"),
        ("    ceiling: 250.0    # ms, lower is better", "    ceiling: 240      # ms, lower is better"),
        ("    updated: 2026-11-02", "    updated: 2026-11-20"),
    ]
    # the same week again: the step already happened
    assert [c.name for c in plan_update(parse_baseline(after), achieved, today)] == []


def test_new_keys_go_inside_their_metric_above_the_next_comment() -> None:
    text = ("version: 1\nmetrics:\n  cov:\n    kind: coverage   # first\n\n  # the mutation score\n"
            "  mut:\n    kind: mutation\n    step: 1\n    period: day\n\n# end of file\n")
    after = apply_raises(text, {"cov": (70.5, None), "mut": (61.0, date(2026, 1, 2))})
    assert after == ("version: 1\nmetrics:\n  cov:\n    kind: coverage   # first\n    floor: 70.5\n\n"
                     "  # the mutation score\n  mut:\n    kind: mutation\n    step: 1\n    period: day\n"
                     "    floor: 61\n    updated: 2026-01-02\n\n# end of file\n")
    assert parse_baseline(after).get("mut").rule.limit == 61


def test_four_space_indentation_and_indented_sequences_survive() -> None:
    text = ("---\nversion: 1\nmetrics:\n    cov:\n        kind: coverage\n        floor: 1\n"
            "        description: 'quoted'\nnotes_for_humans_are_not_allowed: []\n")
    with pytest.raises(BaselineError):
        parse_baseline(text)
    text = "---\nversion: 1\nmetrics:\n    cov:\n        kind: coverage\n        floor: 1\n        description: 'quoted'\n"
    assert detect_indent(text)[0] == 4
    after = apply_raises(text, {"cov": (2.5, None)})
    assert after == text.replace("floor: 1", "floor: 2.5")


def test_trunklines_own_baseline_round_trips() -> None:
    text = (REPO / ".github" / "trunkline-ratchets.yml").read_text()
    baseline = parse_baseline(text)
    assert {"coverage", "patch_coverage", "mutation"} <= set(baseline.names)
    with_floor = {m.name: ((m.rule.limit or 0) + 1, None) for m in baseline.metrics
                  if m.rule.ratchet and m.rule.limit is not None}
    after = apply_raises(text, with_floor)
    pairs = changed_lines(text, after)
    assert len(pairs) == len(with_floor) >= 1
    assert all(a.split("#", 1)[1:] == b.split("#", 1)[1:] for a, b in pairs)  # end-of-line comments kept
    # the mutation metric's first floor lands inside its own block, at the end of the file
    first = apply_raises(text, {"mutation": (61.5, None)})
    assert first == text + "    floor: 61.5\n"


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda v: round(v, 4)))
def test_any_new_value_round_trips(value: float) -> None:
    after = apply_raises(COMMENTED, {"coverage": (value, None)})
    assert parse_baseline(after).get("coverage").rule.limit == pytest.approx(value)
    assert len(changed_lines(COMMENTED, after)) <= 1


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["coverage", "patch_coverage", "p95_ms", "errors"]),
                       st.floats(min_value=0, max_value=1e5, allow_nan=False).map(lambda v: round(v, 3)),
                       min_size=1))
def test_only_the_named_limits_change(raises: dict[str, float]) -> None:
    after = apply_raises(COMMENTED, {name: (value, None) for name, value in raises.items()})
    baseline, again = parse_baseline(COMMENTED), parse_baseline(after)
    for spec in baseline.metrics:
        expected = raises.get(spec.name, spec.rule.limit)
        assert again.get(spec.name).rule.limit == pytest.approx(expected)
        assert again.get(spec.name).rule.__dict__ | {"limit": None} == spec.rule.__dict__ | {"limit": None}
    for old, new in changed_lines(COMMENTED, after):
        key = old.split(":")[0].strip()
        assert key in ("floor", "ceiling") and new.split(":")[0] == old.split(":")[0]
        assert old.partition("#")[2] == new.partition("#")[2]  # the comment text is untouched


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nmetrics:\n  cov:\n    kind: coverag\n",
     ".github/trunkline-ratchets.yml:4:11: metrics.cov.kind: `kind` must be one of coverage, patch_coverage"),
    ("version: 1\nmetrics:\n  cov:\n    kind: coverage\n    flor: 3\n",
     ".github/trunkline-ratchets.yml:5:11: metrics.cov.flor: unknown key `flor`"),
    ("version: 1\nmetrics:\n  lat:\n    kind: latency\n    floor: 3\n",
     "its limit is `ceiling`, not `floor`"),
    ("version: 1\nmetrics:\n  x:\n    kind: json\n    file: a.json\n    pointer: /a\n",
     "a `json` metric needs `direction: higher` or `direction: lower`"),
    ("version: 1\nmetrics:\n  cov:\n    kind: coverage\n    floor: '80'\n",
     ".github/trunkline-ratchets.yml:5:12: metrics.cov.floor:"),
    ("version: 1\nmetrics:\n  cov:\n    kind: coverage\n    step: -1\n", "greater than 0"),
    ("version: 1\nmetrics:\n  cov:\n    kind: coverage\n    file: ../x.json\n", "without '..'"),
    ("version: 2\n", "version: Input should be 1"),
    ("metrics: [a\n", "not valid YAML"),
    ("- a\n", "must be a mapping"),
])
def test_errors_say_where(text: str, expected: str) -> None:
    with pytest.raises(BaselineError) as info:
        parse_baseline(text)
    assert any(expected in problem for problem in info.value.problems), info.value.problems
