"""The bot's processor: one stored delivery -> typed payload -> the registered handlers.

``build_processor(settings)`` is what ``trunkline serve`` / ``trunkline worker`` run for each
delivery (see ``trunkline.jobs.runtime``). It is the imperative shell around the handlers:
it builds the App client once, a ``Context`` per delivery (installation client and config
loader, both lazy), drops events Trunkline caused itself, and runs the handlers in order.
Handler modules register themselves on import; ``HANDLER_MODULES`` lists them.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from trunkline import metrics, stream
from trunkline.config.resolve import resolve_config
from trunkline.events.context import Context, is_own_event
from trunkline.events.payloads import PayloadError
from trunkline.events.registry import Registry, registry
from trunkline.github.client import AppClient
from trunkline.github.contents import default_branch_fetch
from trunkline.jobs.runtime import PermanentError, Processor
from trunkline.settings import Settings
from trunkline.store.deliveries import DeliveryRecord
from trunkline.stream.announce import announce_processed

log = logging.getLogger(__name__)

HANDLER_MODULES = (
    "trunkline.checks.config_check",
    "trunkline.checks.contracts_check",
    "trunkline.merge.handlers",
    "trunkline.commands.handler",
    "trunkline.ratchets.handlers",
    "trunkline.gates.handlers",
    "trunkline.deploy.handlers",
    "trunkline.agents.handlers",
    "trunkline.reports.handlers",
)


def load_handlers(modules: tuple[str, ...] = HANDLER_MODULES) -> Registry:
    for name in modules:
        importlib.import_module(name)
    return registry


class Runtime:
    """Shared per-process state for handling deliveries (App client, bot login)."""

    def __init__(self, settings: Settings, app: AppClient | None, handlers: Registry) -> None:
        self.settings = settings
        self.app = app
        self.handlers = handlers
        self._bot_login = settings.bot_login
        self._lock = threading.Lock()
        stream.configure_from_settings(settings)  # pipeline events of a worker process (trunkline.stream)

    @property
    def app_id(self) -> int | None:
        return self.settings.app_id

    def bot_login(self) -> str | None:
        if self._bot_login is None and self.app is not None:
            with self._lock:
                if self._bot_login is None:
                    self._bot_login = self.app.bot_login()
        return self._bot_login

    def context(self, record: DeliveryRecord, body: Any) -> Context:
        app = self.app
        ctx = Context.build(record.event, record.guid, body,
                            github_factory=app.installation if app is not None else None)
        if ctx.repo_owner and ctx.repo_name and ctx.installation_id is not None and app is not None:
            owner, name, installation_id = ctx.repo_owner, ctx.repo_name, ctx.installation_id
            ctx.config_loader = lambda: resolve_config(
                owner, name, default_branch_fetch(app.installation(installation_id).github))
        return ctx

    def process(self, record: DeliveryRecord) -> None:
        """Run the handlers for one delivery and publish its ``delivery.processed`` event."""
        started = time.perf_counter()
        try:
            handled = self._handle(record)
        except BaseException as exc:
            final = isinstance(exc, PermanentError) or record.attempts >= self.settings.max_attempts
            announce_processed(record, "failed" if final else "retrying", time.perf_counter() - started,
                               f"{type(exc).__name__}: {exc}")
            raise
        announce_processed(record, "handled" if handled else "ignored", time.perf_counter() - started)

    def _handle(self, record: DeliveryRecord) -> bool:
        """False when no handler ran (none registered, or an event Trunkline caused itself)."""
        try:
            body = record.payload
        except ValueError as exc:
            raise PermanentError(f"delivery {record.guid}: body is not JSON: {exc}") from exc
        try:
            ctx = self.context(record, body)
        except PayloadError as exc:
            raise PermanentError(str(exc)) from exc
        handlers = self.handlers.handlers_for(record.event, ctx.action)
        if not handlers:
            ctx.log.debug("no handler")
            return False
        if is_own_event(ctx.payload, self.bot_login(), self.app_id):
            ctx.log.debug("ignored: caused by Trunkline itself")
            return False
        for handler in handlers:
            started = time.perf_counter()
            try:
                handler(ctx)
            finally:
                metrics.observe_handler(record.event, time.perf_counter() - started)
        return True


def build_processor(settings: Settings) -> Processor:
    app = AppClient.from_settings(settings) if settings.app_id and settings.private_key_pem else None
    if app is None:
        log.warning("no GitHub App configured (TRUNKLINE_APP_ID / TRUNKLINE_PRIVATE_KEY_PATH): "
                    "handlers that act on GitHub will fail")
    runtime = Runtime(settings, app, load_handlers())
    for name in HANDLER_MODULES:  # background work that must resume when the bot starts (agent runs)
        startup = getattr(importlib.import_module(name), "on_startup", None)
        if startup is not None:
            startup(runtime)
    process: Callable[[DeliveryRecord], None] = runtime.process
    return process
