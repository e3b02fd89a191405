"""``GET /events`` (WebSocket) and ``GET /events/stream`` (server-sent events): the live pipeline events
described in ``contracts/asyncapi.yaml``, served by ``trunkline serve``.

Both send each event as one JSON object (a WebSocket text message; an SSE ``data:`` line whose ``id:``
is the event's ``id``), oldest first. Query parameters:

* ``repo=owner/name`` — only that repository's events (events about no repository are left out);
* ``since=<event id>`` (or the ``Last-Event-ID`` header an ``EventSource`` sends when it reconnects)
  — start right after that event instead of with the next new one; an id that is no longer kept
  replays every event still kept (subscribers drop repeats by ``id``).

A bad parameter is refused before the stream starts: 400 with ``{"message": ...}`` for SSE, close
code 1008 with the message as the reason for a WebSocket. Messages a WebSocket client sends are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from trunkline.api.events import StreamQuery
from trunkline.api.ingest import Error
from trunkline.store.events import StoredEvent

from .publish import repo_key
from .tail import Hub

EVENTS_PATH = "/events"
SSE_PATH = "/events/stream"
KEEPALIVE_S = 15.0


def check_params(repo: str | None, since: str | None) -> str | None:
    """Why the parameters are refused, or None (pure; ``StreamQuery`` is generated from the contract)."""
    try:
        StreamQuery(repo=repo, since=since)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()) \
            + " (repo must be owner/name, since an event id)"
    return None


def sse_frame(row: StoredEvent) -> bytes:
    """One server-sent event (pure): ``id:`` = the event's id, ``data:`` = the JSON message."""
    return f"id: {row.event_id}\ndata: {row.body}\n\n".encode()


async def _with_keepalive(rows: AsyncIterator[StoredEvent], interval: float) -> AsyncIterator[StoredEvent | None]:
    """``rows``, with a ``None`` whenever nothing came for ``interval`` seconds."""
    pending: asyncio.Task[StoredEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(rows))
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            row, pending = pending.result(), None
            yield row
    except StopAsyncIteration:
        return
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await rows.aclose()  # type: ignore[attr-defined]


def mount(app: FastAPI, hub: Hub, *, keepalive: float = KEEPALIVE_S) -> None:
    """Add both endpoints to ``app``."""

    @app.get(SSE_PATH, include_in_schema=False)
    async def event_stream(request: Request, repo: str | None = None, since: str | None = None) -> Any:
        since = since or request.headers.get("last-event-id") or None
        problem = check_params(repo, since)
        if problem:
            return JSONResponse(Error(message=problem).model_dump(), status_code=400)
        cursor = await hub.start_position(since)

        async def body() -> AsyncIterator[bytes]:
            yield b": trunkline pipeline events\nretry: 2000\n\n"
            async for row in _with_keepalive(hub.follow(cursor, repo_key(repo)), keepalive):
                yield b": keep-alive\n\n" if row is None else sse_frame(row)

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    @app.websocket(EVENTS_PATH)
    async def events_socket(websocket: WebSocket, repo: str | None = None, since: str | None = None) -> None:
        problem = check_params(repo, since)
        # the start position is fixed before the handshake completes: an event published after the
        # client sees the connection open is never missed
        cursor = await hub.start_position(since) if problem is None else 0
        await websocket.accept()
        if problem:
            await websocket.close(code=1008, reason=problem[:120])
            return

        async def drain() -> None:  # notices the client going away; what it sends is ignored
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await websocket.receive_text()

        async def send() -> None:
            rows = hub.follow(cursor, repo_key(repo))
            try:
                async for row in rows:
                    await websocket.send_text(row.body)
            finally:
                await rows.aclose()  # type: ignore[attr-defined]

        tasks = {asyncio.create_task(drain()), asyncio.create_task(send())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None \
                        and not isinstance(task.exception(), WebSocketDisconnect | RuntimeError | OSError):
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
