"""``/cancel``: stop the agent runs active on this issue (or pull request, for ``/agent`` follow-ups)."""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, ok
from trunkline.commands.registry import command


@command("cancel", summary="Stop the agent run working on this issue (its processes are stopped within "
                           "seconds; no pull request is opened).", level="triage")
def cancel(inv: Invocation) -> Outcome:
    from trunkline.agents.service import get_service

    s = inv.session
    service = get_service()
    if s.github is not None:
        service.attach(getattr(s.github, "app", None))
    active = [r.id for r in service.runs.active(f"{s.owner}/{s.repo}".lower(), issue=s.number)]
    if not active:
        return ok(f"No agent run is active on #{s.number}; nothing to cancel.")
    service.cancel_runs(s.owner, s.repo, s.number, f"`/cancel` by @{s.actor}")
    runs = ", ".join(f"`{r}`" for r in active)
    return ok(f"Cancelling agent run {runs}; its progress comment says when it stopped.")
