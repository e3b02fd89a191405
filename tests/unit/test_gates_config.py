"""The ``tiers:`` section: defaults by tier name, budgets, and errors placed at line:column."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.config.loader import parse_config
from trunkline.gates.config import (
    ConfigFileError,
    effective_tiers,
    load_config_file,
    parse_budget,
    tier_of_check,
    tiers_for,
)


def issues(text: str) -> list[str]:
    return [str(i) for i in parse_config(text).issues]


def test_no_tiers_means_nothing_runs() -> None:
    config = parse_config("version: 1\n").config
    assert effective_tiers(config) == {}
    assert tiers_for(config, "pull_request") == []
    assert effective_tiers(None) == {}


def test_standard_names_get_standard_defaults() -> None:
    text = ("tiers:\n  tier-0: {commands: [make verify-fast]}\n  tier-1: {commands: [make verify-pr]}\n"
            "  nightly: {commands: [make verify-nightly]}\n  weekly: {commands: [make verify-weekly]}\n"
            "  lint: {commands: [ruff check .]}\n")
    tiers = effective_tiers(parse_config(text).config)
    assert list(tiers) == ["tier-0", "tier-1", "nightly", "weekly", "lint"]
    t = tiers["tier-0"]
    assert (t.budget, t.on, t.required, t.cron, t.executor) == (60, ("pull_request",), True, None, "local")
    assert (tiers["tier-1"].budget, tiers["tier-1"].on) == (300, ("pull_request",))
    n = tiers["nightly"]
    assert (n.budget, n.on, n.required, n.cron) == (1800, ("schedule",), False, "0 3 * * *")
    w = tiers["weekly"]
    assert (w.budget, w.on, w.required, w.cron) == (7200, ("schedule",), False, "0 4 * * 0")
    assert (tiers["lint"].budget, tiers["lint"].on, tiers["lint"].required) == (600, ("pull_request",), True)
    assert [t.name for t in tiers_for(parse_config(text).config, "pull_request")] == ["tier-0", "tier-1", "lint"]


def test_everything_can_be_set() -> None:
    text = ("tiers:\n  tier-1:\n    commands: [a, b]\n    budget: 1h30m\n    on: [pull_request, push]\n"
            "    required: false\n    artifacts: {junit: 'reports/*.xml', coverage: coverage.json, "
            "benchmark: bench.json}\n    executor: actions\n    workflow: verify.yaml\n    inputs: {py: '3.12'}\n"
            "    env: {CI_FAST: '1'}\n")
    t = effective_tiers(parse_config(text).config)["tier-1"]
    assert t.commands == ("a", "b") and t.budget == 5400 and t.on == ("pull_request", "push")
    assert t.required is False and t.junit == "reports/*.xml" and t.coverage == "coverage.json"
    assert t.benchmark == "bench.json" and t.executor == "actions" and t.workflow == "verify.yaml"
    assert dict(t.inputs) == {"py": "3.12"} and dict(t.env) == {"CI_FAST": "1"}
    assert t.check_name == "trunkline/tier-1"
    assert tier_of_check("trunkline/tier-1") == "tier-1" and tier_of_check("ci/test") is None


@pytest.mark.parametrize(("yaml", "message"), [
    ("  tier-0:\n    commands: [x]\n    budget: 5 minutes\n",
     ".github/trunkline.yml:4:13 tiers.tier-0.budget: '5 minutes' is not a duration: use seconds (300) or a "
     "number with h, m or s (5m, 90s, 1h30m)"),
    ("  tier-0:\n    commands: [x]\n    budget: 1.5\n",
     ".github/trunkline.yml:4:13 tiers.tier-0.budget: expected seconds (an integer) or a duration like '5m', got 1.5"),
    ("  tier-0:\n    commands: [x]\n    budget: 0\n",
     ".github/trunkline.yml:4:13 tiers.tier-0.budget: budget must be more than 0 seconds, got 0"),
    ("  tier-0:\n    commands: []\n",
     ".github/trunkline.yml:3:15 tiers.tier-0.commands: must have at least 1 items, got 0"),
    ("  tier-0:\n    budget: 10\n",
     ".github/trunkline.yml:2:3 tiers.tier-0.commands: missing required key 'commands'"),
    ("  tier-0:\n    commands: [x]\n    timeout: 10\n",
     ".github/trunkline.yml:4:5 tiers.tier-0.timeout: unknown key 'timeout' (did you mean 'budget'?)"),
    ("  tier-0:\n    commands: [x]\n    on: [pull_request, pr]\n",
     ".github/trunkline.yml:4:24 tiers.tier-0.on[1]: 'pr' is not one of pull_request, push, schedule"),
    ("  tier-0:\n    commands: [x]\n    executor: docker\n",
     ".github/trunkline.yml:4:15 tiers.tier-0.executor: 'docker' is not one of local, actions"),
    ("  tier-0:\n    commands: [x]\n    inputs: {sha: abc}\n",
     ".github/trunkline.yml:4:5 tiers.tier-0.inputs: input 'sha' is set by Trunkline (the tier name and the "
     "commit SHA)"),
    ("  tier-0:\n    commands: [x]\n    env: {TRUNKLINE_APP_ID: '1'}\n",
     ".github/trunkline.yml:4:5 tiers.tier-0.env: 'TRUNKLINE_APP_ID': TRUNKLINE_* variables are the bot's own "
     "settings and cannot be set for a tier"),
    ("  tier-0:\n    commands: [x]\n    cron: every night\n",
     ".github/trunkline.yml:4:11 tiers.tier-0.cron: 'every night' is not a cron expression: five fields, minute "
     "hour day month weekday (e.g. '0 3 * * *')"),
    ("  tier-0:\n    commands: [x]\n    artifacts: {junit: ../out/*.xml}\n",
     ".github/trunkline.yml:4:24 tiers.tier-0.artifacts.junit: '../out/*.xml' must be a path relative to the "
     "repository root (no leading '/', no '..')"),
    ("  docs:\n    commands: [x]\n    on: [schedule]\n",
     ".github/trunkline.yml:1:1 tiers: tier 'docs' runs on schedule but has no 'cron' (e.g. cron: '0 3 * * *')"),
])
def test_errors_point_at_line_and_column(yaml: str, message: str) -> None:
    assert message in issues("tiers:\n" + yaml)


def test_bad_tier_name() -> None:
    [issue] = issues("tiers:\n  Tier Zero:\n    commands: [x]\n")
    assert issue.startswith(".github/trunkline.yml:2:3 tiers.Tier Zero: ")


@given(st.integers(0, 24), st.integers(0, 59), st.integers(0, 59))
def test_budget_text_and_seconds_agree(h: int, m: int, s: int) -> None:
    total = h * 3600 + m * 60 + s
    text = "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v)
    if total == 0 or total > 24 * 3600:
        with pytest.raises(ValueError):
            parse_budget(text or "0")
    else:
        assert parse_budget(text) == total
        assert parse_budget(total) == total


@pytest.mark.parametrize("bad", ["", "m", "5 minutes", "1d", "-5", "1.5m", "h5"])
def test_budget_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_budget(bad)


def test_load_config_file_errors(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigFileError, match="no such file"):
        load_config_file(tmp_path / "none.yml")
    path = tmp_path / "c.yml"
    path.write_text("tiers:\n  tier-0:\n    commands: [x]\n    budget: soon\n")
    with pytest.raises(ConfigFileError) as err:
        load_config_file(path)
    assert f"{path}:4:13 tiers.tier-0.budget: 'soon' is not a duration" in str(err.value)
