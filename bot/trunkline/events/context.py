"""What a handler gets: the typed payload, who/where, and lazy access to GitHub and the repo config.

Nothing here talks to GitHub by itself: ``ctx.github`` creates the installation client on first use
(through the factory the worker passes, normally ``AppClient.installation``) and ``ctx.config()``
calls the loader once and caches its result (normally
``lambda: resolve_config(owner, repo, fetch)`` from ``trunkline.config.resolve``). ``ctx.store`` is
the bot's database: the process's one shared ``Store`` (``trunkline.store.base.process_store``).

:func:`is_own_event` is the loop guard: events Trunkline caused itself are not handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from .payloads import BaseEventPayload, CheckRunEvent, CheckSuiteEvent, parse_payload

_MISSING = object()

# Check events that GitHub emits because of what the check's own App did (created a run, completed
# it, its runs completed a suite) — as opposed to ones a person or GitHub asks the App to act on
# (rerequested, requested_action, check_suite requested), which carry the App's id too.
OWN_CHECK_RUN_ACTIONS = frozenset({"created", "completed"})
OWN_CHECK_SUITE_ACTIONS = frozenset({"completed"})


class DeliveryLogAdapter(logging.LoggerAdapter):
    """Prefixes messages with the delivery, and adds ``delivery_id``/``event``/``action``/``repo``
    to every record's attributes (for structured formatters)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **(kwargs.get("extra") or {})}
        name = extra.get("event") or "?"
        if extra.get("action"):
            name += f".{extra['action']}"
        where = f" {extra['repo']}" if extra.get("repo") else ""
        return f"[{extra.get('delivery_id')} {name}{where}] {msg}", kwargs


@dataclass
class Context:
    event: str
    action: str | None
    delivery_id: str
    payload: BaseEventPayload
    installation_id: int | None
    repo_owner: str | None
    repo_name: str | None
    log: logging.LoggerAdapter
    github_factory: Callable[[int], Any] | None = field(default=None, repr=False)
    config_loader: Callable[[], Any] | None = field(default=None, repr=False)
    store_factory: Callable[[], Any] | None = field(default=None, repr=False)
    _github: Any = field(default=_MISSING, init=False, repr=False)
    _store: Any = field(default=_MISSING, init=False, repr=False)
    _config: Any = field(default=_MISSING, init=False, repr=False)

    @classmethod
    def build(cls, event: str, delivery_id: str, payload: BaseEventPayload | Mapping[str, Any], *,
              github_factory: Callable[[int], Any] | None = None,
              config_loader: Callable[[], Any] | None = None,
              store_factory: Callable[[], Any] | None = None,
              logger: logging.Logger | None = None) -> Context:
        """A context for one delivery; ``payload`` may be the raw body (parsed here, may raise
        :class:`~trunkline.events.payloads.PayloadError`)."""
        typed = payload if isinstance(payload, BaseEventPayload) else parse_payload(event, dict(payload))
        owner, name = typed.repo_owner, typed.repo_name
        log = DeliveryLogAdapter(logger or logging.getLogger("trunkline.handlers"), {
            "delivery_id": delivery_id, "event": event, "action": typed.action,
            "repo": f"{owner}/{name}" if owner and name else None})
        return cls(event=event, action=typed.action, delivery_id=delivery_id, payload=typed,
                   installation_id=typed.installation_id, repo_owner=owner, repo_name=name, log=log,
                   github_factory=github_factory, config_loader=config_loader, store_factory=store_factory)

    @property
    def repo_full_name(self) -> str | None:
        return f"{self.repo_owner}/{self.repo_name}" if self.repo_owner and self.repo_name else None

    @property
    def github(self) -> Any:
        """The installation-scoped client (``trunkline.github.InstallationClient``), made on first use."""
        if self._github is _MISSING:
            if self.installation_id is None:
                raise RuntimeError(f"{self.event} delivery {self.delivery_id} has no installation: "
                                   "it cannot act on GitHub as the App")
            if self.github_factory is None:
                raise RuntimeError("this Context was built without a GitHub client factory")
            self._github = self.github_factory(self.installation_id)
        return self._github

    @property
    def store(self) -> Any:
        """The bot's database (``trunkline.store.Store``): the process's shared store unless this
        Context was built with a ``store_factory``; made on first use."""
        if self._store is _MISSING:
            if self.store_factory is not None:
                self._store = self.store_factory()
            else:
                from trunkline.store.base import process_store

                self._store = process_store()
        return self._store

    def config(self) -> Any:
        """The repository's resolved Trunkline config, loaded on first call and cached."""
        if self._config is _MISSING:
            if self.config_loader is None:
                raise RuntimeError("this Context was built without a config loader")
            self._config = self.config_loader()
        return self._config


# New code that Trunkline itself pushed (update-branch, /generate, agent runs, ratchet floor commits)
# must still go through the gates, so these events are handled even when our bot sent them. None of
# them can loop: gates answer with check runs, which are ours and dropped.
NEW_CODE_EVENTS = frozenset({("pull_request", "opened"), ("pull_request", "synchronize"),
                             ("pull_request", "reopened"), ("pull_request", "ready_for_review"),
                             ("push", None)})

# Results of work our bot started, which GitHub announces with our bot as the sender and which only
# this delivery reports (action None = every action):
# - ``workflow_run``: a tier's workflow the bot dispatched (the gates' Actions executor completes the
#   tier's check from it; without it only polling would) — and a nightly/weekly run it started
#   (the report). Handlers answer with check runs / an issue edit, both dropped as ours: no loop;
# - ``pull_request`` ``closed``: a pull request the bot merged — its tier runs still in flight are
#   cancelled ("pull request merged"); the merge queue already moved on (its row is merged, so the
#   merge handler does nothing twice). Nothing here closes pull requests in reaction: no loop.
OWN_RESULT_EVENTS = frozenset({("workflow_run", None), ("pull_request", "closed")})


def handled_when_ours(event: str, action: str | None) -> bool:
    """Whether an event our own bot sent is still handled (``NEW_CODE_EVENTS``, ``OWN_RESULT_EVENTS``)."""
    key = (event, action)
    return key in NEW_CODE_EVENTS or key in OWN_RESULT_EVENTS or (event, None) in OWN_RESULT_EVENTS


def is_own_event(payload: BaseEventPayload, bot_login: str | None, app_id: int | None) -> bool:
    """True for events Trunkline caused and must not react to: sent by our bot user (comments, labels,
    reviews — reacting would loop), or check runs/suites of our App that GitHub announces because we
    created/completed them. New code our bot pushed or opened (``NEW_CODE_EVENTS``) is not "own": it
    has to be gated like anyone else's; nor are the results of work it started (``OWN_RESULT_EVENTS``:
    a workflow run it dispatched, a pull request it merged)."""
    sender = payload.sender_login
    if bot_login and sender and sender.lower() == bot_login.lower():
        return not handled_when_ours(payload.event, payload.action)
    if app_id is None:
        return False
    if isinstance(payload, CheckRunEvent):
        app = payload.check_run.app
        return app is not None and app.id == app_id and payload.action in OWN_CHECK_RUN_ACTIONS
    if isinstance(payload, CheckSuiteEvent):
        app = payload.check_suite.app
        return app is not None and app.id == app_id and payload.action in OWN_CHECK_SUITE_ACTIONS
    return False
