"""Request audit trail: every API request is recorded (method, path, status)."""

from __future__ import annotations

import asyncio
from collections import deque

#: Milliseconds a request waits for its audit record to be flushed before it answers
#: (0: records are buffered and flushed in the background).
FLUSH_DELAY_MS = 0

_records: deque[tuple[str, str, int]] = deque(maxlen=1000)


async def record(method: str, path: str, status: int) -> None:
    _records.append((method, path, status))
    if FLUSH_DELAY_MS:
        await asyncio.sleep(FLUSH_DELAY_MS / 1000)


def recent(limit: int = 100) -> list[tuple[str, str, int]]:
    return list(_records)[-limit:]
