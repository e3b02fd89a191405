"""``/agent <instruction>``: a follow-up agent run on an agent's pull request, on its branch.

The pipeline is the one the pull request's original run used (its label); the instruction is frozen,
sanitized, into the run's input (``instruction.md``) next to the pull request's conversation. Only pull
requests opened by an agent run (head ``trunkline/<issue>-<run id>`` in this repository) take follow-ups.
"""

from __future__ import annotations

from trunkline.commands.feedback import inline_code
from trunkline.commands.invocation import Invocation, Outcome, ok, refused
from trunkline.commands.registry import Param, command


@command("agent", summary="Start a follow-up agent run on this agent pull request's branch with an instruction.",
         level="write", pr_only=True, params=[Param("instruction", "what the agent should do", required=True,
                                                    rest=True)])
def agent(inv: Invocation) -> Outcome:
    from trunkline.agents.core import is_agent_branch
    from trunkline.agents.github_io import get_pull
    from trunkline.agents.handlers import may_trigger
    from trunkline.agents.service import get_service
    from trunkline.agents.spec import spec_from_config

    s = inv.session
    if not s.config_ok or s.config is None:
        return refused("the configuration on the default branch has errors; no agent run was started.")
    agents = s.config.agents
    if not agents.pipelines:
        return refused("no agent pipelines are configured (`agents.pipelines` is empty).")
    gate = may_trigger(s.github, s.owner, s.repo, s.actor, None, agents)
    if not gate.allowed:
        return refused(gate.reason)
    pull = get_pull(s.github, s.owner, s.repo, s.number)
    head, base = pull.get("head") or {}, pull.get("base") or {}
    if pull.get("state") != "open":
        return refused(f"#{s.number} is not open.")
    if (head.get("repo") or {}).get("id") != (base.get("repo") or {}).get("id") or not is_agent_branch(head.get("ref")):
        return refused("`/agent` works on pull requests opened by a Trunkline agent run (branch "
                       "`trunkline/<issue>-<run id>` in this repository).")
    service = get_service()
    earlier = [r for r in service.runs.in_state("done", "running", "queued")
               if r.repo == f"{s.owner}/{s.repo}".lower() and r.branch == head.get("ref")]
    label = earlier[-1].label if earlier and earlier[-1].label in agents.pipelines else next(iter(agents.pipelines))
    spec = spec_from_config(s.config, label)
    assert spec is not None
    row = service.start_run(s.github, s.owner, s.repo, s.number, spec, actor=s.actor,
                            trigger=f"agent:{s.comment_id}", trigger_text=f"`/agent` on #{s.number}",
                            instruction=str(inv.params.get("instruction") or ""), pull=pull, react=False)
    if row is None:
        return ok("This comment already started an agent run.")
    return ok(f"Started follow-up agent run {inline_code(row.id)} on {inline_code(row.branch)} "
              f"(pipeline {inline_code(label)}); its progress comment follows it.")
