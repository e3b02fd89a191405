"""docs/contracts-rules.md is generated from the rule table: it must not drift."""

from __future__ import annotations

from trunkline.contracts.diff import docs
from trunkline.contracts.diff.rules import RULES, counts_by_level


def test_rules_doc_is_up_to_date() -> None:
    assert docs.DOC_PATH.exists(), "run: python -m trunkline.contracts.diff.docs --write"
    assert docs.DOC_PATH.read_text() == docs.render(), "stale: python -m trunkline.contracts.diff.docs --write"


def test_rules_doc_lists_every_rule_with_its_level() -> None:
    text = docs.render()
    for rid, rule in RULES.items():
        assert f"| `{rid}` | {rule.level.value} |" in text
    c = counts_by_level()
    assert f"{c['ERR']} ERR" in text and f"{c['WARN']} WARN" in text and f"{c['INFO']} INFO" in text
    assert docs.main(["--check"]) == 0
