"""Which producer auto-merge uses for one of our own missing checks: exact names first, then families of
``trunkline/`` names (the gates' tiers), never the names other capabilities publish."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.gates import service as gates
from trunkline.merge import service as merge


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge, "OWN_CHECKS", {"trunkline/config": merge.OWN_CHECKS["trunkline/config"]})
    monkeypatch.setattr(merge, "OWN_CHECK_PREFIXES", {})


def test_tier_checks_are_produced_by_prefix_without_an_exact_registration() -> None:
    assert merge.own_check_producer("trunkline/tier-0") is None
    gates.register_merge_producers()
    assert merge.own_check_producer("trunkline/tier-0") is not None
    assert merge.own_check_producer("trunkline/nightly") is not None
    assert merge.own_check_producer("trunkline/config") is merge.OWN_CHECKS["trunkline/config"]
    for name in ("trunkline/", "trunkline/merge", "trunkline/contracts", "trunkline/ratchets", "ci",
                 "Trunkline/tier-0", "trunkline/a/b", "other/tier-0"):
        assert merge.own_check_producer(name) is None, name


def test_an_exact_entry_wins_over_the_family_and_the_longest_prefix_wins() -> None:
    gates.register_merge_producers(["tier-0"])
    exact = merge.OWN_CHECKS["trunkline/tier-0"]
    assert merge.own_check_producer("trunkline/tier-0") is exact

    def special(client, owner, repo, pr):  # noqa: ANN001, ANN202
        return None

    merge.OWN_CHECK_PREFIXES["trunkline/special-"] = lambda name: special
    assert merge.own_check_producer("trunkline/special-1") is special
    assert merge.own_check_producer("trunkline/tier-1") not in (None, special)


@given(name=st.text(max_size=30))
def test_names_outside_our_prefix_never_get_a_producer(name: str) -> None:
    merge.OWN_CHECK_PREFIXES.setdefault(gates.CHECK_PREFIX, gates.tier_family)
    if not name.startswith("trunkline/"):
        assert merge.own_check_producer(name) is None
