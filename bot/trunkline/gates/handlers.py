"""Webhook handlers of the verify tiers (thin: the work is in :mod:`trunkline.gates.service`).

* ``pull_request`` opened / synchronize / reopened (drafts too, like CI): cancel runs on older heads
  ("superseded by <sha>"), start every ``pull_request`` tier on the head (a head in a fork gets an
  ``action_required`` check instead: a maintainer runs it with ``/verify`` after reading the code);
* ``pull_request`` closed: cancel the pull request's runs;
* ``push`` to the default branch: start every ``push`` tier on the pushed commit;
* ``workflow_run`` requested / in_progress / completed: link a run to the tier that dispatched it and
  complete the tier's check run from the run's conclusion;
* ``check_run`` rerequested on one of our ``trunkline/<tier>`` runs ("Re-run" in GitHub's UI): run
  that tier again on that commit.

A configuration with errors starts nothing (``trunkline/config`` reports it); no ``tiers:`` = nothing.
"""

from __future__ import annotations

from trunkline.events.context import Context
from trunkline.events.payloads import CheckRunEvent, PullRequestEvent, PushEvent, WorkflowRunEvent
from trunkline.events.registry import registry

from . import service
from .config import tier_of_check, tiers_for

# auto-merge produces a missing trunkline/<tier> check on a head it updated, in any process that loads
# the handlers — not only one that already saw a pull request event naming the tier
service.register_merge_producers()


def _config(ctx: Context):  # noqa: ANN202 - TrunklineConfig | None
    resolved = ctx.config()
    if resolved is None or not resolved.ok or resolved.config is None:
        return None
    return resolved.config


@registry.on("pull_request", "opened", "synchronize", "reopened")
def verify_pull_request(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PullRequestEvent)
    config = _config(ctx)
    if config is None:
        if ctx.config() is not None and not ctx.config().ok:
            ctx.log.info("verify tiers: skipped (configuration has errors; trunkline/config reports them)")
        return
    tiers = tiers_for(config, "pull_request")
    if not tiers:
        return
    service.register_merge_producers([t.name for t in tiers])
    pr = payload.pull_request
    results = service.run_pr_tiers(ctx, ctx.repo_owner or "", ctx.repo_name or "", pr.number,
                                   reason=f"{ctx.action} of #{pr.number}", trigger=ctx.delivery_id,
                                   config=config, pr=pr.model_dump(mode="json", by_alias=True))
    for r in results:
        ctx.log.info("verify %s on %s: %s %s", r.tier, (r.head_sha or "")[:7], r.status, r.message)


@registry.on("pull_request", "closed")
def cancel_closed(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PullRequestEvent)
    if not tiers_for(_config(ctx), "pull_request"):
        return
    gate = service.get_service()
    gate.attach(ctx)
    word = "merged" if payload.pull_request.merged else "closed"
    count = gate.cancel_stale(ctx.repo_owner or "", ctx.repo_name or "", payload.pull_request.number, None,
                              f"pull request {word}")
    if count:
        ctx.log.info("verify: cancelled %d runs of #%d (%s)", count, payload.pull_request.number, word)


@registry.on("push")
def verify_push(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PushEvent)
    default = payload.repository.default_branch
    if payload.deleted or not default or payload.ref != f"refs/heads/{default}":
        return
    tiers = tiers_for(_config(ctx), "push")
    if not tiers:
        return
    target = service.Target(payload.after, None, default)
    for r in service.start_tiers(ctx, ctx.repo_owner or "", ctx.repo_name or "", tiers, target,
                                 trigger=ctx.delivery_id, reason=f"push to {default}"):
        ctx.log.info("verify %s on %s: %s %s", r.tier, payload.after[:7], r.status, r.message)


@registry.on("workflow_run", "requested", "in_progress", "completed")
def follow_workflow_run(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, WorkflowRunEvent)
    run = payload.workflow_run.model_dump(mode="json", by_alias=True)
    run.setdefault("path", payload.workflow.path if payload.workflow is not None else None)
    row = service.get_service().on_workflow_run(ctx, ctx.repo_owner or "", ctx.repo_name or "", run)
    if row is not None:
        ctx.log.info("verify %s: workflow run %s %s (%s)", row.tier, run.get("id"), payload.action, row.state)


@registry.on("check_run", "rerequested")
def rerun_check(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, CheckRunEvent)
    check = payload.check_run
    tier = tier_of_check(check.name)
    app = check.app
    own = getattr(getattr(ctx.github, "app", None), "app_id", None)
    if tier is None or app is None or (own is not None and app.id != own):
        return
    config = _config(ctx)
    if config is None:
        return
    who = ctx.payload.sender_login or "someone"
    # On a pull request's head: run it as that pull request's tier (a later push then cancels it).
    pulls = [p.number for p in check.pull_requests if p.head.sha == check.head_sha]
    target: int | str = pulls[0] if pulls else check.head_sha
    result = service.run_tier(ctx, ctx.repo_owner or "", ctx.repo_name or "", target, tier,
                              f"re-run requested by @{who}", config=config)
    ctx.log.info("verify %s on %s: %s %s", tier, check.head_sha[:7], result.status, result.message)
