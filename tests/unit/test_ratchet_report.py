"""The ratchet table and the check-run text."""

from __future__ import annotations

from datetime import date

from trunkline.ratchets import report
from trunkline.ratchets.baseline import parse_baseline
from trunkline.ratchets.metrics import Reading, no_data

TODAY = date(2026, 11, 20)
BASELINE = parse_baseline("""\
version: 1
metrics:
  coverage: {kind: coverage, floor: 81.23, tolerance: 0.1}
  patch_coverage: {kind: patch_coverage, floor: 80}
  mutation: {kind: mutation, required: false}
  p95_ms: {kind: latency, ceiling: 250}
""")


def rows(head: dict[str, Reading], base: dict[str, Reading] | None = None) -> list[report.Row]:
    return report.build_rows(BASELINE, head, base, TODAY)


def test_failing_pr_table_and_title() -> None:
    result = rows({"coverage": Reading(79.1), "patch_coverage": Reading(50.0, detail="1 of 2 changed lines covered"),
                   "p95_ms": Reading(120.0)},
                  {"coverage": Reading(82.5), "patch_coverage": Reading(100.0), "p95_ms": Reading(130.0)})
    assert report.conclusion(result) == "failure"
    assert report.table(result).splitlines() == [
        "| Metric | Base | Head | Floor | Verdict |",
        "| --- | --- | --- | --- | --- |",
        "| `coverage` | 82.5 % | 79.1 % (−3.4) | ≥ 81.23 % (±0.1) | ❌ below floor by 2.13 |",
        "| `patch_coverage` | — | 50 % | ≥ 80 % fixed | ❌ below floor by 30 |",
        "| `mutation` | — | no data | — | ⚠️ no data (advisory): not measured |",
        "| `p95_ms` | 130 ms | 120 ms (−10) | ≤ 250 ms | ⬆️ ceiling rises to 120 after merge |",
    ]
    assert report.title(result) == "Ratchets broken: coverage 79.1 < 81.23, patch_coverage 50 < 80"
    spec = report.check_spec(result, "a" * 40, base_sha="b" * 40, baseline_path=".github/trunkline-ratchets.yml")
    assert spec.name == "trunkline/ratchets" and spec.conclusion == "failure"
    assert "base `bbbbbbb` → head `aaaaaaa`" in spec.summary
    assert "1 of 2 changed lines covered" in spec.summary


def test_passing_pr() -> None:
    result = rows({"coverage": Reading(81.2), "patch_coverage": Reading(None, "not_applicable", "no changed lines"),
                   "mutation": Reading(70.0), "p95_ms": Reading(250.0)})
    assert report.conclusion(result) == "success"
    table = report.table(result)
    assert "| `coverage` | — | 81.2 % | ≥ 81.23 % (±0.1) | 🟡 within tolerance 0.1 |" in table
    assert "| `patch_coverage` | — | n/a | ≥ 80 % fixed | ➖ no changed lines |" in table
    assert "| `mutation` | — | 70 % | — | 🆕 no floor yet; 70 after merge |" in table
    assert "| `p95_ms` | — | 250 ms | ≤ 250 ms | ✅ holds |" in table
    assert report.title(result) == "Ratchets hold (4 metrics)"


def test_required_metric_without_data_fails() -> None:
    result = rows({"coverage": no_data("coverage.json was not written (file not found)"),
                   "patch_coverage": Reading(90.0), "p95_ms": Reading(1.0)})
    assert report.conclusion(result) == "failure"
    assert report.title(result) == "Ratchets broken: coverage has no data"
    assert "❌ no data: coverage.json was not written (file not found)" in report.table(result)


def test_json_result() -> None:
    data = report.to_json(rows({"coverage": Reading(90.0), "patch_coverage": Reading(90.0), "p95_ms": Reading(1.0)}))
    assert data["conclusion"] == "success"
    cov = data["metrics"][0]
    assert cov == {"name": "coverage", "kind": "coverage", "direction": "higher", "base": None, "head": 90.0,
                   "status": "ok", "detail": "", "floor": 81.23, "verdict": "improved", "blocking": False,
                   "message": "floor rises to 90 after merge"}
    assert data["metrics"][3]["ceiling"] == 250
