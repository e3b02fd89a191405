"""Publishing pipeline events: generated models (``trunkline.api.events``) -> rows of the event log.

:class:`Publisher` writes to one :class:`~trunkline.store.base.Store`'s ``stream_events`` table
(:mod:`trunkline.store.events`); the process-wide one is reached through ``trunkline.stream.publish``.
Publishing is best effort: the stream is for watching the pipeline, so a database error is logged
and the event dropped — it never fails the delivery, check run or merge that caused it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, RootModel

try:
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

#: Events older than this many seconds are pruned (``TRUNKLINE_EVENTS_MAX_AGE``, default one day).
DEFAULT_MAX_AGE = 24 * 3600.0
#: At most this many events are kept (``TRUNKLINE_EVENTS_MAX_ROWS``).
DEFAULT_MAX_ROWS = 100_000
PRUNE_INTERVAL = 60.0
MAX_ID = 100


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, os.environ.get(name), default)
        return default


def new_id() -> str:
    return uuid.uuid4().hex


def stable_id(*parts: object) -> str:
    """An event id derived from what the event is about, so a re-run publishes it only once."""
    key = ":".join(str(p) for p in parts)
    return key if len(key) <= MAX_ID else hashlib.sha256(key.encode()).hexdigest()


def now_utc() -> datetime:
    return datetime.now(UTC)


def type_of(model: type[BaseModel]) -> str:
    """The ``type`` constant of a generated event model (``DeliveryReceived`` -> ``delivery.received``)."""
    return get_args(model.model_fields["type"].annotation)[0]


def make(model: type[M], *, id: str | None = None, occurred_at: datetime | None = None,  # noqa: A002
         **fields: Any) -> M:
    """A validated event: ``type``, ``id`` (new unless given) and ``occurred_at`` (now) filled in."""
    return model(type=type_of(model), id=id or new_id(), occurred_at=occurred_at or now_utc(), **fields)


def _unwrap(event: BaseModel) -> BaseModel:
    return event.root if isinstance(event, RootModel) else event  # the *Payload root models


def to_json(event: BaseModel) -> str:
    """The message as subscribers receive it: one JSON object, unset optional fields left out."""
    event = _unwrap(event)
    if orjson is not None:
        # plain values (always so for constructed models): orjson is ~4x cheaper than pydantic's serializer
        plain = {k: (v.root if isinstance(v, RootModel) else v) for k, v in event.__dict__.items() if v is not None}
        if all(isinstance(v, str | int | float | bool | datetime | list) for v in plain.values()):
            return orjson.dumps(plain).decode()
    return event.model_dump_json(exclude_none=True)


def repo_of(event: BaseModel) -> str | None:
    value = getattr(_unwrap(event), "repository", None)
    value = value.root if isinstance(value, RootModel) else value
    return value if isinstance(value, str) else None


def repo_key(repo: str | None) -> str | None:
    """The ``repo`` column / ``?repo=`` filter value: GitHub repository names are case-insensitive, so
    ``Acme/Calc`` and ``acme/calc`` are one repository (the message keeps the spelling it was given)."""
    return repo.lower() if repo else repo


def row_of(event: BaseModel, now: float) -> dict[str, Any]:
    """The ``stream_events`` row for ``event`` (pure)."""
    event = _unwrap(event)
    return {"event_id": str(event.id), "type": str(event.type), "repo": repo_key(repo_of(event)), "created_at": now,
            "body": to_json(event)}


def message_row(message: dict[str, Any], now: float) -> dict[str, Any]:
    """The ``stream_events`` row of a message given as JSON-ready data that already matches its model
    (hot paths; see ``trunkline.ingest.writer.received_messages``)."""
    body = orjson.dumps(message).decode() if orjson is not None else json.dumps(message, separators=(",", ":"))
    return {"event_id": message["id"], "type": message["type"], "repo": repo_key(message.get("repository")),
            "created_at": now, "body": body}


class Publisher:
    """Appends events to one store's event log, prunes it now and then, never raises."""

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.time, max_age: float | None = None,
                 max_rows: int | None = None) -> None:
        from trunkline.store.events import EventRepo

        self.store = store
        self.events = EventRepo(store)
        self.clock = clock
        self.max_age = max_age if max_age is not None else _env_float("TRUNKLINE_EVENTS_MAX_AGE", DEFAULT_MAX_AGE)
        self.max_rows = int(max_rows if max_rows is not None
                            else _env_float("TRUNKLINE_EVENTS_MAX_ROWS", DEFAULT_MAX_ROWS))
        self._last_prune = float("-inf")
        self._lock = threading.Lock()
        self.published = 0
        self.dropped = 0
        #: called after each successful append (the serving process wakes its subscribers)
        self.listeners: list[Callable[[], None]] = []

    def publish(self, events: Iterable[BaseModel]) -> bool:
        """Append ``events`` (in order, one transaction). False if they could not be stored."""
        now = self.clock()
        try:
            rows = [row_of(e, now) for e in events]
        except Exception:  # noqa: BLE001 - a bad event must not break its caller
            log.exception("pipeline event not published: it could not be serialised")
            self.dropped += 1
            return False
        return self._append(rows, now) is not None

    def publish_messages(self, messages: Iterable[dict[str, Any]]) -> bool:
        """Like :meth:`publish` for messages given as data already shaped like their model."""
        return self.append_messages(messages) is not None

    def append_messages(self, messages: Iterable[dict[str, Any]]) -> set[str] | None:
        """:meth:`publish_messages`, answering the ids of the messages left out because an event with that id
        is in the log already (a re-run publish), or None when nothing could be stored."""
        now = self.clock()
        return self._append([message_row(m, now) for m in messages], now)

    def _append(self, rows: list[dict[str, Any]], now: float) -> set[str] | None:
        if not rows:
            return set()
        try:
            repeated = self.events.append(rows)
        except Exception as exc:  # noqa: BLE001 - best effort: see the module docstring
            self.dropped += len(rows)
            log.warning("%d pipeline event(s) not published: %s: %s", len(rows), type(exc).__name__, exc)
            return None
        self.published += len(rows)
        for listener in list(self.listeners):
            listener()
        self._maybe_prune(now)
        return repeated

    def _maybe_prune(self, now: float) -> None:
        if now - self._last_prune < PRUNE_INTERVAL or not self._lock.acquire(blocking=False):
            return
        try:
            self._last_prune = now
            deleted = self.events.prune(older_than=now - self.max_age if self.max_age > 0 else None,
                                        keep=self.max_rows if self.max_rows > 0 else None)
            if deleted:
                log.info("pruned %d pipeline events", deleted)
        except Exception as exc:  # noqa: BLE001
            log.warning("pruning pipeline events failed: %s", exc)
        finally:
            self._lock.release()
