"""What /health checks: the storage layout this build was written against."""

from __future__ import annotations

from .store import WidgetStore

#: Storage schema version this build's queries are written against.
EXPECTED_SCHEMA = 2


def problems(store: WidgetStore) -> list[str]:
    """Why the service cannot serve correctly (empty when healthy)."""
    found = []
    if store.schema_version != EXPECTED_SCHEMA:
        found.append(f"storage schema is {store.schema_version}, this build needs {EXPECTED_SCHEMA} "
                     "(migration missing)")
    return found
