"""oasdiff's own checker test pairs as ground truth (../shared/corpus/oasdiff).

* recall: every ERR id oasdiff's test expects for a pair must be among our findings for that pair
  (documented deliberate differences in ``KNOWN_MISSES``); the per-rule table is written to
  ``.bench/oasdiff_recall.json`` and overall recall must stay above ``RECALL_FLOOR``.
* precision: for pairs whose test asserts the *exact* result (or emptiness), we may not report an ERR id
  the test does not expect — restricted to the ids of the single check the test ran, when it ran one.
* levels: where the test states a level for an id we emit, ours must match unless ``LEVEL_NOTES``
  explains the difference.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from trunkline.contracts.diff import DiffOptions, diff
from trunkline.contracts.diff.rules import LEVEL_NOTES, RULES
from trunkline.contracts.sources import load_source
from trunkline.corpus import corpus_dir

CORPUS = corpus_dir() / "oasdiff"
REPO = Path(__file__).resolve().parents[2]
RECALL_FLOOR = 0.98

pytestmark = pytest.mark.skipif(not (CORPUS / "expectations.jsonl").exists(),
                                reason=f"oasdiff corpus not found at {CORPUS}")

ROWS: list[dict[str, Any]] = (
    [json.loads(line) for line in (CORPUS / "expectations.jsonl").read_text().splitlines() if line.strip()]
    if (CORPUS / "expectations.jsonl").exists() else [])

# (test name, rule id) -> why we deliberately do not report it
KNOWN_MISSES: dict[tuple[str, str], str] = {
    ("TestTransitionClaims_RealChangeAlongsideTransitionStillReported", "request-property-enum-value-removed"):
        "base {type: string, enum: [alpha, beta]} becomes oneOf [string, integer]: every value accepted "
        "before is still accepted (the enum constraint is gone, which widens the request), so we report "
        "request-property-list-of-types-widened only; oasdiff also claims the enum values as removed.",
}


def _levels(row: dict[str, Any]) -> list[str | None]:
    m = re.search(r"registry_levels=([A-Z,]+)", row["notes"])
    registry = m.group(1).split(",") if m else [None] * len(row["rule_ids"])
    stated = row["levels"] or [None] * len(row["rule_ids"])
    return [stated[i] or (registry[i] if i < len(registry) else None) for i in range(len(row["rule_ids"]))]


def _err_ids(row: dict[str, Any]) -> list[str]:
    return [rid for rid, lvl in zip(row["rule_ids"], _levels(row), strict=True) if lvl == "ERR"]


def _single_check(row: dict[str, Any]) -> str | None:
    m = re.search(r"checks=single:(\w+)", row["notes"])
    return m.group(1) if m else None


# ids each oasdiff check is known (from this corpus) to emit: scope for single-check precision
CHECK_IDS: dict[str, set[str]] = defaultdict(set)
for _row in ROWS:
    if _single_check(_row):
        CHECK_IDS[_single_check(_row)] |= set(_row["rule_ids"])


def _row_id(row: dict[str, Any]) -> str:
    return f"{row['test']}:{row['base']}->{row['revision']}"


_cache: dict[tuple[str, str], dict[str, str]] = {}


def findings_for(row: dict[str, Any]) -> dict[str, str]:
    """id -> our level for the pair (computed once per pair)."""
    key = (row["base"], row["revision"])
    if key not in _cache:
        base = load_source(str(CORPUS / "checker" / row["base"]))
        head = load_source(str(CORPUS / "checker" / row["revision"]))
        found = diff(base, head, options=DiffOptions(today=date(2025, 1, 1)))
        _cache[key] = {f.id: f.level.value for f in found}
    return _cache[key]


@pytest.mark.parametrize("row", [r for r in ROWS if _err_ids(r)], ids=_row_id)
def test_expected_err_ids_are_found(row: dict[str, Any]) -> None:
    got = findings_for(row)
    missing = [rid for rid in _err_ids(row) if rid not in got and (row["test"], rid) not in KNOWN_MISSES]
    assert not missing, f"{row['test']}: expected {missing}, got {sorted(got)}"


PRECISE = [r for r in ROWS if "assert=exact" in r["notes"] or "assert=empty" in r["notes"]]


@pytest.mark.parametrize("row", PRECISE, ids=_row_id)
def test_no_unexpected_err(row: dict[str, Any]) -> None:
    got = findings_for(row)
    ours = {rid for rid, lvl in got.items() if lvl == "ERR"}
    check = _single_check(row)
    in_scope = ours & CHECK_IDS[check] if check else ours
    unexpected = in_scope - set(row["rule_ids"])
    assert not unexpected, f"{row['test']}: unexpected ERR {sorted(unexpected)} ({row['notes'][:80]})"


def test_levels_agree_or_are_explained() -> None:
    disagreements = []
    for row in ROWS:
        for rid, lvl in zip(row["rule_ids"], _levels(row), strict=True):
            if lvl is None or rid not in RULES:
                continue
            if RULES[rid].level.value != lvl and rid not in LEVEL_NOTES:
                disagreements.append((rid, lvl, RULES[rid].level.value))
    assert not disagreements, sorted(set(disagreements))


def test_recall_table() -> None:
    expected: Counter[str] = Counter()
    found: Counter[str] = Counter()
    misses: list[dict[str, str]] = []
    for row in ROWS:
        got = findings_for(row)
        for rid in _err_ids(row):
            expected[rid] += 1
            if rid in got:
                found[rid] += 1
            else:
                misses.append({"test": row["test"], "id": rid,
                               "reason": KNOWN_MISSES.get((row["test"], rid), "not implemented")})
    all_ids = sum(len(r["rule_ids"]) for r in ROWS)
    all_found = sum(1 for r in ROWS for rid in r["rule_ids"] if rid in findings_for(r))
    total, hit = sum(expected.values()), sum(found.values())
    recall = hit / total
    table = {rid: {"expected": expected[rid], "found": found[rid], "recall": round(found[rid] / expected[rid], 3)}
             for rid in sorted(expected)}
    out = {"bench": "oasdiff_recall", "pairs": len(ROWS), "expected_err": total, "found_err": hit,
           "recall": round(recall, 4), "rules_expected": len(expected),
           "all_levels": {"expected": all_ids, "found": all_found, "recall": round(all_found / all_ids, 4)},
           "rules_fully_found": sum(1 for r in table.values() if r["recall"] == 1.0),
           "misses": misses, "per_rule": table}
    (REPO / ".bench").mkdir(exist_ok=True)
    (REPO / ".bench" / "oasdiff_recall.json").write_text(json.dumps(out, indent=2))
    print(f"\noasdiff corpus ERR recall {hit}/{total} = {recall:.1%} over {len(expected)} rule ids; "
          f"all levels {all_found}/{all_ids}")
    for rid, r in table.items():
        if r["recall"] < 1:
            print(f"  {rid}: {r['found']}/{r['expected']}")
    assert all(m["reason"] != "not implemented" for m in misses), misses
    assert recall >= RECALL_FLOOR
