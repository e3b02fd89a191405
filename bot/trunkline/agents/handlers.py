"""Webhook handlers of agent runs (thin: the work is in :mod:`trunkline.agents.service`).

* ``issues`` labeled with a label in ``agents.pipelines``: check the *sender* (bots only when listed in
  ``agents.bots``; people need ``agents.permission`` by the collaborator-permission API's role); refuse
  visibly with a comment, or start the run (a newer trigger supersedes the issue's active run);
* ``issues`` unlabeled (that label) or closed: cancel the issue's active runs, saying who did it.

``on_startup(runtime)`` starts the service's monitor when the bot starts, so runs a killed worker left
behind are resumed (or failed visibly) without waiting for the next webhook.
"""

from __future__ import annotations

from typing import Any

from trunkline.commands.feedback import inline_code
from trunkline.commands.permissions import fetch_level
from trunkline.events.context import Context
from trunkline.events.payloads import IssuesEvent
from trunkline.events.registry import registry

from . import github_io as gh
from . import service
from .core import level_gate, trigger_gate
from .progress import refusal
from .spec import spec_from_config


def _config(ctx: Context) -> Any:
    resolved = ctx.config()
    if resolved is None or not resolved.ok or resolved.config is None:
        return None
    return resolved.config


def may_trigger(client: Any, owner: str, repo: str, login: str, user_type: str | None, agents: Any) -> Any:
    """The :class:`~trunkline.agents.core.Gate` for ``login`` (asks GitHub for a person's role)."""
    gate = trigger_gate(login, user_type, bots=agents.bots)
    if gate.needs_level:
        gate = level_gate(login, fetch_level(client, owner, repo, login), agents.permission)
    return gate


@registry.on("issues", "labeled")
def start_on_label(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, IssuesEvent)
    if payload.label is None or payload.issue.is_pull_request:
        return
    config = _config(ctx)
    label = payload.label.name
    if config is None or label not in config.agents.pipelines:
        return
    owner, repo, number = ctx.repo_owner or "", ctx.repo_name or "", payload.issue.number
    sender = payload.sender
    login = sender.login if sender is not None else "someone"
    what = f"the agent run for label {inline_code(label)}"
    if payload.issue.state == "closed":
        gh.post_comment(ctx.github, owner, repo, number, refusal(login, what, "the issue is closed"))
        return
    gate = may_trigger(ctx.github, owner, repo, login, sender.type if sender else None, config.agents)
    if not gate.allowed:
        ctx.log.info("agent run for #%d refused: %s", number, gate.reason)
        gh.post_comment(ctx.github, owner, repo, number, refusal(login, what, gate.reason))
        return
    spec = spec_from_config(config, label)
    assert spec is not None
    row = service.get_service().start_run(ctx.github, owner, repo, number, spec, actor=login,
                                          trigger=f"label:{ctx.delivery_id}", trigger_text=f"label {inline_code(label)}")
    ctx.log.info("agent run %s for #%d: %s", row.id if row else "-", number, "queued" if row else "duplicate")


@registry.on("issues", "unlabeled")
def cancel_on_unlabel(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, IssuesEvent)
    if payload.label is None:
        return
    who = payload.sender_login or "someone"
    count = service.get_service().cancel_runs(ctx.repo_owner or "", ctx.repo_name or "", payload.issue.number,
                                              f"label {inline_code(payload.label.name)} removed by @{who}",
                                              label=payload.label.name)
    if count:
        ctx.log.info("agent runs of #%d cancelled: %d", payload.issue.number, count)


@registry.on("issues", "closed")
def cancel_on_close(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, IssuesEvent)
    who = payload.sender_login or "someone"
    service.get_service().cancel_runs(ctx.repo_owner or "", ctx.repo_name or "", payload.issue.number,
                                      f"issue closed by @{who}")


def on_startup(runtime: Any) -> None:
    """Start the monitor with the App client (resumes runs a stopped worker left)."""
    if getattr(runtime, "app", None) is not None:
        service.get_service().attach(runtime.app)
