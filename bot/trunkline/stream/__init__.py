"""The live pipeline event stream (``contracts/asyncapi.yaml``): publish here, subscribers read
``GET /events`` (WebSocket) or ``GET /events/stream`` (server-sent events) of ``trunkline serve``.

Publishing an event from anywhere in the bot — one call, with a model generated from the contract::

    from trunkline import stream
    from trunkline.api.events import DeployStateChanged

    stream.emit(DeployStateChanged, repository="acme/shop", deployment_id=42, environment="production",
                sha=sha, state="success", previous_state="in_progress")

``emit`` fills in ``type``, a new ``id`` and ``occurred_at`` (now), validates the rest against the
model and publishes it; pass ``id=stream.stable_id(...)`` when a re-run of the same work must not
publish twice. It never raises (an event that does not validate is logged as a bug and dropped) and
never blocks for long. ``stream.publish(model_instance)`` publishes a model you built yourself
(``stream.make(Model, **fields)`` builds one the same way). The event is appended to the ``stream_events`` table
(:mod:`trunkline.store.events`) of the process's store, so events of every process — each
``trunkline serve --processes`` process, each ``trunkline worker`` — reach every subscriber, in order.
When no store is configured (a unit test, a CLI command) it does nothing.

Which store: ``trunkline serve`` uses its webhook receiver's store while it runs; a worker process
configures one from its settings when it builds the processor (:func:`configure_from_settings`, made on
the first publish). Retention: ``TRUNKLINE_EVENTS_MAX_AGE`` seconds (default 86400) and
``TRUNKLINE_EVENTS_MAX_ROWS`` events (default 100000), pruned at most once a minute per process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from .publish import Publisher, make, new_id, now_utc, stable_id, to_json, type_of

__all__ = ["Publisher", "configure", "configure_from_settings", "current", "emit", "install", "make",
           "new_id", "now_utc", "publish", "publish_many", "stable_id", "to_json", "type_of", "uninstall"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_publisher: Publisher | None = None
_factory: Callable[[], Publisher] | None = None


def install(publisher: Publisher | None) -> Publisher | None:
    """Make ``publisher`` the process's publisher; returns the previous one (to restore it)."""
    global _publisher
    with _lock:
        previous, _publisher = _publisher, publisher
    return previous


def uninstall(publisher: Publisher, previous: Publisher | None = None) -> None:
    """Undo :func:`install` of ``publisher`` (if it is still the current one)."""
    global _publisher
    with _lock:
        if _publisher is publisher:
            _publisher = previous


def configure(store: Any) -> Publisher:
    """Publish to ``store`` from now on."""
    publisher = Publisher(store)
    install(publisher)
    return publisher


def configure_from_settings(settings: Any) -> None:
    """Publish to ``settings.database_url`` unless a publisher is installed; the store is made on the
    first publish (processes that never publish open nothing)."""
    global _factory

    def factory() -> Publisher:
        from trunkline.store.base import Store

        store = Store.from_settings(settings)
        store.create_all()
        return Publisher(store)

    with _lock:
        _factory = factory


def current() -> Publisher | None:
    global _publisher, _factory
    if _publisher is not None:
        return _publisher
    with _lock:
        if _publisher is None and _factory is not None:
            factory, _factory = _factory, None
            try:
                _publisher = factory()
            except Exception as exc:  # noqa: BLE001 - no stream is better than a failed delivery
                log.warning("pipeline events are off in this process: %s", exc)
        return _publisher


def publish(event: BaseModel) -> None:
    """Publish one event (a model from :mod:`trunkline.api.events`); never raises."""
    publish_many((event,))


def publish_many(events: Iterable[BaseModel]) -> None:
    publisher = current()
    if publisher is not None:
        publisher.publish(events)


def emit(model: type[BaseModel], **fields: Any) -> None:
    """Build an event of ``model`` (see :func:`make`) and publish it; never raises."""
    if current() is None:
        return  # nothing to publish to: skip building the event
    try:
        event = make(model, **fields)
    except Exception:  # noqa: BLE001 - a wrong event is a bug to fix, not a reason to fail the caller
        log.exception("pipeline event %s not published: it does not match the contract", model.__name__)
        return
    publish(event)
