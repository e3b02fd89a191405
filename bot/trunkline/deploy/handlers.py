"""Webhook handlers of canary deploys (thin: the work is in :mod:`trunkline.deploy.service`).

* ``push`` to the default branch, with a ``deploy:`` section whose ``on_merge`` is on: a new deploy
  run (queued; it waits for an older run of the repository, and supersedes one still in its canary
  phase). Pushes by our own bot count too (auto-merge merges as the bot).
* ``on_startup(runtime)``: every bot process runs the reconcile loop, so runs resume after a restart
  without waiting for a webhook.
"""

from __future__ import annotations

from typing import Any

from trunkline.events.context import Context
from trunkline.events.payloads import PushEvent
from trunkline.events.registry import registry

from . import service


def on_startup(runtime: Any) -> None:
    svc = service.get_service(getattr(runtime, "app", None))
    svc.start()


def _section(ctx: Context) -> Any:
    resolved = ctx.config()
    if resolved is None or not resolved.ok or resolved.config is None:
        return None
    return service.section_of(resolved.config)


@registry.on("push")
def deploy_merged(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PushEvent)
    default = payload.repository.default_branch
    if payload.deleted or not default or payload.ref != f"refs/heads/{default}" or set(payload.after) == {"0"}:
        return
    section = _section(ctx)
    if section is None or not section.on_merge:
        return
    svc = service.get_service()
    svc.start()
    row = svc.create_run(repo=ctx.repo_full_name or "", installation_id=ctx.installation_id, sha=payload.after,
                         section=section, trigger="merge", default_branch=default,
                         html_url=payload.repository.html_url or "")
    if row is not None:
        ctx.log.info("deploy: run %s for %s queued", row.id, payload.after[:7])
