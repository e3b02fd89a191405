"""The pure core of agent runs: ids, branches, who may trigger, the step plan and retry decisions, the
progress comment, the config section and the spec frozen for a run."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from trunkline.agents.core import (
    FAILED_STEP,
    PASSED,
    PENDING,
    after_failure,
    after_success,
    agent_policy,
    branch_name,
    initial_states,
    is_agent_branch,
    issue_of_branch,
    level_gate,
    new_run_id,
    plan_steps,
    reset_from,
    states_from_json,
    states_to_json,
    trigger_gate,
    with_status,
)
from trunkline.agents.progress import RunView, marker, render_pr_body, render_progress, run_of_comment
from trunkline.agents.spec import RunSpec, frozen_input, input_files, spec_from_config
from trunkline.config.model import TrunklineConfig
from trunkline.merge.model import Policy

STAGES = (("plan", "p", 60), ("test", "t", 60), ("implement", "i", 60), ("verify", "v", 60))


def test_run_id_and_branch() -> None:
    when = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    run_id = new_run_id(when, "0a1b2c3d")
    assert run_id == "20250304-050607-0a1b2c3d"
    assert branch_name(12, run_id) == "trunkline/12-20250304-050607-0a1b2c3d"
    assert is_agent_branch(branch_name(12, run_id)) and issue_of_branch(branch_name(12, run_id)) == 12
    assert not is_agent_branch("trunkline/ratchets-0123456789ab") and not is_agent_branch(None)
    with pytest.raises(ValueError):
        new_run_id(when, "XYZ")


@given(st.datetimes(timezones=st.just(dt.UTC)), st.text(alphabet="0123456789abcdef", min_size=8, max_size=8),
       st.integers(min_value=1, max_value=10**6))
def test_every_run_id_makes_a_distinct_parseable_branch(when: dt.datetime, token: str, issue: int) -> None:
    run_id = new_run_id(when, token)
    assert issue_of_branch(branch_name(issue, run_id)) == issue
    assert run_id.endswith(token)


def test_who_may_trigger() -> None:
    assert trigger_gate("dev", "User", bots=[]).needs_level
    refused = trigger_gate("helper[bot]", "Bot", bots=[])
    assert not refused.allowed and "agents.bots" in refused.reason
    assert trigger_gate("Helper[bot]", "Bot", bots=["helper[bot]"]).allowed
    assert level_gate("dev", "write", "write").allowed
    no = level_gate("tri", "triage", "write")
    assert not no.allowed and "**write**" in no.reason and "@tri has **triage**" in no.reason
    assert not level_gate("x", "none", "read").allowed


def test_the_tier_is_inserted_after_verify_after() -> None:
    steps = plan_steps(STAGES, "implement", "tier-0")
    assert [s.name for s in steps] == ["plan", "test", "implement", "tier:tier-0", "verify"]
    assert steps[3].is_tier and steps[3].tier == "tier-0" and steps[3].label == "tier-0 (run by Trunkline)"
    assert [s.name for s in plan_steps(STAGES, None, "tier-0")] == ["plan", "test", "implement", "verify"]


def test_checkpoints_and_retries() -> None:
    steps = plan_steps(STAGES, "implement", "tier-0")
    assert after_success(steps, 0).checkpoint and after_success(steps, 0).index == 1
    implement = after_success(steps, 2)
    assert implement.index == 3 and not implement.checkpoint  # implement is kept only once the tier passed
    assert after_success(steps, 3).checkpoint
    assert after_success(steps, 4).action == "finish"
    tier_failed = after_failure(steps, 3, failures=1, max_iterations=10)
    assert tier_failed.action == "retry" and tier_failed.index == 2  # back to implement
    assert after_failure(steps, 1, failures=1, max_iterations=10).index == 1
    stop = after_failure(steps, 3, failures=10, max_iterations=10)
    assert stop.action == "stop" and "stopped after 10 failed iterations" in stop.reason and "tier-0" in stop.reason


@given(st.lists(st.booleans(), max_size=200), st.integers(min_value=1, max_value=12))
def test_a_run_always_ends_and_never_exceeds_max_iterations(outcomes: list[bool], max_iterations: int) -> None:
    steps = plan_steps(STAGES, "implement", "tier-0")
    index, failures, ran = 0, 0, 0
    results = iter(outcomes)
    while True:
        ran += 1
        passed = next(results, True)
        if passed:
            nxt = after_success(steps, index)
            if nxt.action == "finish":
                break
        else:
            failures += 1
            nxt = after_failure(steps, index, failures, max_iterations)
            if nxt.action == "stop":
                assert failures == max_iterations
                break
        assert nxt.index is not None and 0 <= nxt.index < len(steps)
        index = nxt.index
    assert failures <= max_iterations
    assert ran <= len(outcomes) + len(steps)


def test_step_states_round_trip_and_reset() -> None:
    steps = plan_steps(STAGES, "implement", "tier-0")
    names = [s.name for s in steps]
    states = initial_states(steps)
    states = with_status(states, "plan", PASSED, attempt=True)
    states = with_status(states, "implement", FAILED_STEP, attempt=True, note="boom")
    states = reset_from(states, names, 2)
    assert states[0].status == PASSED and states[2].status == PENDING and states[2].attempts == 1
    assert states_from_json(states_to_json(states)) == states


def view(**kw: object) -> RunView:
    steps = with_status(initial_states(plan_steps(STAGES, "implement", "tier-0")), "plan", PASSED, attempt=True)
    base = dict(run_id="20250304-050607-0a1b2c3d", issue=7, trigger="label `agent:implement`", actor="dev",
                branch="trunkline/7-20250304-050607-0a1b2c3d", backend="local", state="running", outcome=None,
                steps=steps, elapsed=75, iteration=2, max_iterations=10, logs="`logs/`")
    base.update(kw)
    return RunView(**base)  # type: ignore[arg-type]


def test_progress_comment() -> None:
    body = render_progress(view())
    assert run_of_comment(body) == "20250304-050607-0a1b2c3d" and body.startswith(marker("20250304-050607-0a1b2c3d"))
    assert "- [x] ✅ **plan**" in body and "- [ ] ⬜ **tier-0 (run by Trunkline)**" in body
    assert "elapsed 1m 15s" in body and "iteration 2 of at most 10" in body and "Logs: `logs/`" in body
    assert "`/cancel`" in body
    done = render_progress(view(state="done", outcome="succeeded", pr_number=9))
    assert "✅ opened #9 (Closes #7)" in done and "/cancel" not in done
    failed = render_progress(view(state="done", outcome="failed", reason="stopped after 3"))
    assert "❌ failed — stopped after 3" in failed
    cancelled = render_progress(view(state="done", outcome="cancelled", reason="`/cancel` by @dev"))
    assert "⏹️ cancelled — `/cancel` by @dev; no pull request was opened." in cancelled


def test_pr_body() -> None:
    steps = with_status(initial_states(plan_steps(STAGES, "implement", "tier-0")), "tier:tier-0", PASSED, attempt=True)
    body = render_pr_body(issue=7, run_id="20250304-050607-0a1b2c3d", plan="# Plan\n1. do", steps=steps, actor="dev",
                          trigger="label `agent:implement`")
    assert body.startswith("Closes #7\n") and "## Plan\n\n# Plan\n1. do" in body
    assert "| tier-0 (run by Trunkline) | ✅ passed | 1 |" in body


CONFIG = {
    "tiers": {"tier-0": {"commands": ["pytest"]}},
    "agents": {"pipelines": {"agent:implement": {"stages": [
        {"name": "plan", "command": "agent plan"}, {"name": "implement", "command": "agent implement",
                                                    "budget": "2m"}]}}},
}


def test_config_section_defaults_are_safe() -> None:
    agents = TrunklineConfig().agents
    assert agents.pipelines == {} and agents.max_iterations == 10 and agents.permission == "write"
    assert agents.bots == [] and agents.required_approvals == 1 and agents.concurrency == 1
    with pytest.raises(ValidationError):
        TrunklineConfig.model_validate({"agents": {"pipelines": {"x": {"stages": [
            {"name": "a", "command": "c"}, {"name": "a", "command": "d"}]}}}})
    with pytest.raises(ValidationError):
        TrunklineConfig.model_validate({"agents": {"max_iterations": 0}})
    with pytest.raises(ValidationError):
        TrunklineConfig.model_validate({"agents": {"pipelines": {"x": {"stages": [
            {"name": "a", "command": "c", "budget": "7h"}]}}}})


def test_spec_is_frozen_with_the_tier_and_round_trips() -> None:
    config = TrunklineConfig.model_validate(CONFIG)
    spec = spec_from_config(config, "agent:implement")
    assert spec is not None and spec.stages == (("plan", "agent plan", 600), ("implement", "agent implement", 120))
    assert spec.tier is not None and spec.tier.name == "tier-0" and spec.tier.budget == 60
    assert [s.name for s in spec.steps] == ["plan", "implement", "tier:tier-0"]
    assert RunSpec.from_json(spec.to_json()) == spec
    assert spec_from_config(config, "other") is None


def test_frozen_input_is_sanitized_and_skips_our_comments() -> None:
    issue = {"number": 3, "title": "Fix\u200b it", "body": "do <!-- evil --> this", "user": {"login": "dev"},
             "labels": [{"name": "agent:implement"}]}
    comments = [{"user": {"login": "trunkline[bot]"}, "body": "progress"},
                {"user": {"login": "dev"}, "body": "![hide](a.png)", "created_at": "t"}]
    data = frozen_input(issue, comments, skip_logins=["trunkline[bot]"], instruction="go\u202e")
    assert data["title"] == "Fix it" and data["body"] == "do  this" and data["instruction"] == "go"
    assert data["comments"] == [{"author": "dev", "created_at": "t", "body": "![](a.png)"}]
    files = input_files(data)
    assert set(files) == {"issue.json", "title.txt", "body.md", "comments.md", "instruction.md"}


def test_agent_pull_requests_need_the_configured_approvals() -> None:
    config = TrunklineConfig.model_validate(CONFIG)
    policy = Policy(required_approvals=0)
    assert agent_policy(policy, config, "trunkline/7-20250304-050607-0a1b2c3d").required_approvals == 1
    assert agent_policy(policy, config, "feature/x").required_approvals == 0
    assert agent_policy(Policy(required_approvals=2), config, "trunkline/7-20250304-050607-0a1b2c3d"
                        ).required_approvals == 2
    assert agent_policy(policy, None, "trunkline/7-20250304-050607-0a1b2c3d") is policy
