"""``/verify`` on an issue: which tier may run on the default branch (pure rule of ``trunkline.gates.trunk``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trunkline.gates.config import Tier
from trunkline.gates.trunk import issue_tier, issue_tiers


def tier(name: str, *on: str) -> Tier:
    return Tier(name, ("true",), 60, on, False, executor="actions", workflow=f"{name}.yml")


TIERS = {"tier-0": tier("tier-0", "push", "pull_request"), "tier-1": tier("tier-1", "pull_request"),
         "nightly": tier("nightly", "schedule"), "weekly": tier("weekly", "schedule", "push")}


def test_scheduled_tiers_run_from_issues() -> None:
    assert [t.name for t in issue_tiers(TIERS)] == ["nightly", "weekly"]
    assert issue_tier(TIERS, "nightly", 3) is TIERS["nightly"]
    assert issue_tier(TIERS, "weekly", 3) is TIERS["weekly"]


def test_other_tiers_are_refused_naming_the_ones_that_can_run() -> None:
    why = issue_tier(TIERS, "tier-0", 3)
    assert isinstance(why, str) and why.startswith("`tier-0` cannot run from an issue (does not run on `schedule`)")
    assert "`nightly`, `weekly`" in why and "pull request" in why
    assert "is not a configured tier" in issue_tier(TIERS, "perf", 3)
    assert issue_tier(TIERS, None, 3) == ("on an issue name the tier to run on the default branch: `nightly`, "
                                          "`weekly` (e.g. `/verify nightly`).")
    none = issue_tier({"tier-0": TIERS["tier-0"]}, "tier-0", 7)
    assert isinstance(none, str) and "no configured tier runs on `schedule`" in none and "#7 is an issue" in none


NAMES = st.sampled_from(["tier-0", "tier-1", "nightly", "weekly", "perf"])
TRIGGERS = st.lists(st.sampled_from(["push", "pull_request", "schedule"]), min_size=1, unique=True)


@given(st.dictionaries(NAMES, TRIGGERS, max_size=5), st.one_of(st.none(), NAMES))
def test_a_tier_runs_from_an_issue_exactly_when_it_is_scheduled(spec: dict[str, list[str]], name: str | None) -> None:
    tiers = {n: tier(n, *on) for n, on in spec.items()}
    got = issue_tier(tiers, name, 1)
    scheduled = [n for n, on in spec.items() if "schedule" in on]
    if name is not None and name in scheduled:
        assert got is tiers[name]
    else:
        assert isinstance(got, str)
        assert all(f"`{n}`" in got for n in scheduled)
