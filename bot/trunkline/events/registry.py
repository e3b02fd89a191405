"""(event, action) → handlers. A pure lookup table filled by decorators at import time.

    from trunkline.events.registry import registry

    @registry.on("pull_request", "opened", "synchronize", "reopened")
    def check_config(ctx: Context) -> None: ...

    @registry.on("push")            # no actions: every action (and action-less events like push)
    def on_push(ctx: Context) -> None: ...

Handlers for an (event, action) come back in registration order, so the order in which handler
modules are imported is the order in which they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Registration:
    event: str
    actions: frozenset[str] | None  # None = any action
    handler: Handler

    @property
    def name(self) -> str:
        module = getattr(self.handler, "__module__", "?")
        return f"{module}.{getattr(self.handler, '__qualname__', repr(self.handler))}"

    def matches(self, event: str, action: str | None) -> bool:
        if event != self.event:
            return False
        return self.actions is None or (action is not None and action in self.actions)


class Registry:
    def __init__(self) -> None:
        self._registrations: list[Registration] = []

    def on(self, event: str, *actions: str) -> Callable[[H], H]:
        """Decorator: run the handler for ``event`` (only for ``actions`` when any are given)."""

        def decorate(handler: H) -> H:
            self.add(handler, event, *actions)
            return handler

        return decorate

    def add(self, handler: Handler, event: str, *actions: str) -> Registration:
        if not event or not isinstance(event, str) or "." in event:
            raise ValueError(f"event must be a webhook event name like 'pull_request', got {event!r}")
        if any(not a or not isinstance(a, str) for a in actions):
            raise ValueError(f"actions must be non-empty strings, got {actions!r}")
        registration = Registration(event, frozenset(actions) if actions else None, handler)
        if registration not in self._registrations:  # re-importing a module must not double-register
            self._registrations.append(registration)
        return registration

    def handlers_for(self, event: str, action: str | None) -> list[Handler]:
        return [r.handler for r in self._registrations if r.matches(event, action)]

    def registrations(self) -> list[Registration]:
        return list(self._registrations)

    def events(self) -> set[str]:
        """Every event some handler listens to (what the App must subscribe to)."""
        return {r.event for r in self._registrations}

    def remove(self, handler: Handler) -> None:
        self._registrations = [r for r in self._registrations if r.handler is not handler]

    def __len__(self) -> int:
        return len(self._registrations)


registry = Registry()
on = registry.on
