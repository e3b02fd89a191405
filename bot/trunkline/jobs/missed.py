"""Missed deliveries: GitHub never retries a delivery that failed, so we ask for redeliveries.

:func:`find_redeliveries` is the pure decision over ``GET /app/hook/deliveries`` items;
:class:`MissedDeliveryPoller` runs it against an adapter with ``list_hook_deliveries()`` and
``redeliver(delivery_id)`` (``trunkline.github.client.AppClient`` or anything shaped like it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)

# GitHub keeps hook deliveries (and allows redelivering them) for 3 days.
REDELIVERY_WINDOW_S = 3 * 24 * 3600.0
MAX_REQUESTS_PER_GUID = 3


class HookDeliveryAdapter(Protocol):
    def list_hook_deliveries(self) -> Iterable[Mapping[str, Any]]: ...
    def redeliver(self, delivery_id: int) -> Any: ...


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def is_failed(item: Mapping[str, Any]) -> bool:
    """GitHub's view of a delivery attempt: failed unless we answered 2xx/3xx and it says "OK"."""
    code = item.get("status_code")
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = 0
    return code == 0 or code >= 400 or item.get("status") != "OK"


def find_redeliveries(listed: list[dict], known_guids: set[str], since: datetime | float | None) -> list[int]:
    """Ids of deliveries to redeliver: one per guid (its latest failed attempt) for guids we have not
    stored, whose attempts all failed, and whose latest failure is not older than ``since``.
    Oldest first, so events are replayed in the order GitHub sent them."""
    since_ts = _timestamp(since)
    by_guid: dict[str, list[Mapping[str, Any]]] = {}
    for item in listed:
        guid = item.get("guid")
        if isinstance(guid, str) and guid and isinstance(item.get("id"), int):
            by_guid.setdefault(guid, []).append(item)
    chosen: list[tuple[float, int]] = []
    for guid, attempts in by_guid.items():
        if guid in known_guids or not all(is_failed(a) for a in attempts):
            continue
        latest = max(attempts, key=lambda a: (_timestamp(a.get("delivered_at")) or 0.0, a["id"]))
        when = _timestamp(latest.get("delivered_at"))
        if since_ts is not None and (when is None or when < since_ts):
            continue
        chosen.append((when or 0.0, latest["id"]))
    return [delivery_id for _, delivery_id in sorted(chosen)]


def _as_dict(item: Any) -> dict:
    if isinstance(item, Mapping):
        return dict(item)
    raw = getattr(item, "raw_data", None)
    return dict(raw) if isinstance(raw, Mapping) else dict(vars(item))


class MissedDeliveryPoller:
    """Asks GitHub to redeliver failed deliveries we never stored (at most 3 requests per guid per
    process, so a delivery that keeps failing does not loop forever)."""

    def __init__(self, adapter: HookDeliveryAdapter, known: Any, window_s: float = REDELIVERY_WINDOW_S,
                 max_pages: int = 30) -> None:
        # ``known(guids) -> set[str]``: which of these guids the store already has.
        self.adapter = adapter
        self.known = known
        self.window_s = window_s
        self.max_pages = max_pages
        self.requested: dict[str, int] = {}

    def _listed(self, since: float) -> list[dict]:
        """The adapter's deliveries back to ``since``: all pages (newest first) when it offers
        ``iter_hook_deliveries``, else whatever ``list_hook_deliveries()`` returns."""
        pages = getattr(self.adapter, "iter_hook_deliveries", None)
        if not callable(pages):
            return [_as_dict(i) for i in self.adapter.list_hook_deliveries()]
        listed: list[dict] = []
        for item in pages(max_pages=self.max_pages):
            entry = _as_dict(item)
            listed.append(entry)
            when = _timestamp(entry.get("delivered_at"))
            if when is not None and when < since:
                break
        return listed

    def poll_once(self, now: float | None = None) -> list[int]:
        now = time.time() if now is None else now
        listed = self._listed(now - self.window_s)
        known = set(self.known({str(i.get("guid")) for i in listed if i.get("guid")}))
        exhausted = {g for g, n in self.requested.items() if n >= MAX_REQUESTS_PER_GUID}
        ids = find_redeliveries(listed, known | exhausted, now - self.window_s)
        guid_of = {i.get("id"): i.get("guid") for i in listed}
        done: list[int] = []
        for delivery_id in ids:
            guid = str(guid_of.get(delivery_id))
            self.requested[guid] = self.requested.get(guid, 0) + 1
            try:
                self.adapter.redeliver(delivery_id)
            except Exception as exc:  # noqa: BLE001 - one failed request must not stop the rest
                log.warning("redelivery of hook delivery %s (guid %s) failed: %s", delivery_id, guid, exc)
                continue
            log.info("asked GitHub to redeliver hook delivery %s (guid %s)", delivery_id, guid)
            done.append(delivery_id)
        return done
