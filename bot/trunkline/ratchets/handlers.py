"""Webhooks for the ratchets: ``trunkline/ratchets`` on pull requests, floors raised after pushes to the
default branch.

- ``pull_request`` opened / synchronize / reopened → :func:`trunkline.ratchets.service.check_pull` on the
  head (skipped when the pull request has moved on or closed since the event: the newer event measures),
  then :func:`trunkline.merge.service.after_own_check` — the check_run events of our own run are dropped
  by the loop guard, so auto-merge is told here.
- ``push`` to the default branch → :func:`trunkline.ratchets.service.raise_floors`. The loop guard lets
  pushes through even when Trunkline made them (its auto-merges are new code); a push that changes only the
  baseline file — Trunkline's own floor commit, or a reviewed edit of the floors — measures nothing.
"""

from __future__ import annotations

from trunkline.events.context import Context
from trunkline.events.payloads import PullRequestEvent, PushEvent
from trunkline.events.registry import registry

from . import service


@registry.on("pull_request", "opened", "synchronize", "reopened")
def check_ratchets(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PullRequestEvent)
    resolved = ctx.config()
    if resolved.config is None:
        ctx.log.info("trunkline/ratchets: skipped (configuration has errors; trunkline/config reports them)")
        return
    config = resolved.config
    if not config.ratchets.configured:
        return
    owner, name = ctx.repo_owner or "", ctx.repo_name or ""
    pr = payload.pull_request
    current = ctx.github.repo(owner, name).get_pull(pr.number)
    if current.state != "open" or current.head.sha != pr.head.sha:
        ctx.log.info("trunkline/ratchets: #%d moved on (head %s, %s); the newer event measures", pr.number,
                     current.head.sha[:7], current.state)
        return
    spec = service.check_pull(ctx.github, owner, name, pr.number, pr.head.sha, pr.base.sha, config=config,
                              logger=ctx.log)
    if spec is None:
        return
    try:
        from trunkline.merge.service import after_own_check

        after_own_check(ctx, pr.head.sha)
    except Exception:  # noqa: BLE001 - the check is published; merging is re-evaluated by later events
        ctx.log.exception("trunkline/ratchets: auto-merge evaluation after the check failed")


@registry.on("push")
def raise_floors_after_push(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PushEvent)
    if payload.deleted or payload.branch is None or payload.branch != payload.repository.default_branch:
        return
    resolved = ctx.config()
    if resolved.config is None or not resolved.config.ratchets.configured:
        return
    result = service.raise_floors(ctx.github, ctx.repo_owner or "", ctx.repo_name or "", payload.branch,
                                  payload.after, payload.before, config=resolved.config, logger=ctx.log)
    ctx.log.info("ratchets after push %s: %s %s", payload.after[:7], result.outcome, result.message)
