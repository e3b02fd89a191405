"""In-memory widget storage (one process, so one dict and a lock)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

#: Version of the storage layout this build creates; a build's health check requires the one it
#: expects (examples/service/health.py), the way a real service checks its database migrations.
SCHEMA_VERSION = 2


@dataclass
class Widget:
    id: int
    name: str
    quantity: int

    def to_dict(self) -> dict:
        return asdict(self)


class WidgetStore:
    def __init__(self) -> None:
        self.schema_version = SCHEMA_VERSION
        self._widgets: dict[int, Widget] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def list(self) -> list[Widget]:
        with self._lock:
            return sorted(self._widgets.values(), key=lambda w: w.id)

    def get(self, widget_id: int) -> Widget | None:
        with self._lock:
            return self._widgets.get(widget_id)

    def create(self, name: str, quantity: int) -> Widget:
        with self._lock:
            widget = Widget(self._next_id, name, quantity)
            self._widgets[widget.id] = widget
            self._next_id += 1
            return widget

    def replace(self, widget_id: int, name: str, quantity: int) -> Widget | None:
        with self._lock:
            if widget_id not in self._widgets:
                return None
            self._widgets[widget_id] = Widget(widget_id, name, quantity)
            return self._widgets[widget_id]

    def delete(self, widget_id: int) -> bool:
        with self._lock:
            return self._widgets.pop(widget_id, None) is not None
