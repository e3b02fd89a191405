"""The local deployer's weighted reverse proxy (HTTP + WebSocket pass-through), a raw ASGI app.

``python -m trunkline.deploy.local.proxy --routes FILE --port N`` serves on 127.0.0.1:N:

* every request (and WebSocket) goes to the canary or to stable by deterministic weighted
  round-robin — of each 100 consecutive requests exactly ``weight`` go to the canary — with a
  ``x-trunkline-backend: stable|canary`` response header; with no canary everything goes to stable,
  with no stable to the canary, with neither the answer is 503;
* ``GET /_trunkline/proxy``: routes, weight and request counts per backend (since the last routing
  change, and in total);
* ``POST /_trunkline/proxy`` with ``{"stable": URL|null, "canary": URL|null, "weight": 0-100}`` changes
  the routes at once (the deployer also writes them to FILE, which is read at start-up, so a
  restarted proxy routes like the one before it); an empty body re-reads FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CONTROL_PATH = "/_trunkline/proxy"
BACKEND_HEADER = "x-trunkline-backend"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "host", "content-length"})


def canary_turn(n: int, weight: int) -> bool:
    """Whether the ``n``-th request (0-based) since the last routing change goes to the canary."""
    return (n + 1) * weight // 100 > n * weight // 100


def validate_routes(data: Any) -> dict[str, Any]:
    """Checked routes ``{stable, canary, weight}``; ``ValueError`` with a message for people."""
    if not isinstance(data, Mapping):
        raise ValueError("routes must be a JSON object {stable, canary, weight}")
    routes: dict[str, Any] = {}
    for role in ("stable", "canary"):
        url = data.get(role)
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise ValueError(f"{role} must be an http(s) URL or null")
        routes[role] = url.rstrip("/") if url else None
    weight = data.get("weight", 0)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise ValueError("weight must be an integer from 0 to 100")
    routes["weight"] = weight
    return routes


@dataclass
class Router:
    stable: str | None = None
    canary: str | None = None
    weight: int = 0
    since: float = field(default_factory=time.time)
    turn: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"stable": 0, "canary": 0, "none": 0})
    totals: dict[str, int] = field(default_factory=lambda: {"stable": 0, "canary": 0, "none": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, routes: Mapping[str, Any]) -> None:
        with self.lock:
            self.stable, self.canary, self.weight = routes["stable"], routes["canary"], routes["weight"]
            self.since, self.turn = time.time(), 0
            self.counts = {"stable": 0, "canary": 0, "none": 0}

    def choose(self) -> tuple[str, str | None]:
        """(role, url) for the next request, counted."""
        with self.lock:
            if self.canary and (not self.stable or canary_turn(self.turn, self.weight)):
                role, url = "canary", self.canary
            elif self.stable:
                role, url = "stable", self.stable
            else:
                role, url = "none", None
            self.turn += 1
            self.counts[role] += 1
            self.totals[role] += 1
            return role, url

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"stable": self.stable, "canary": self.canary, "weight": self.weight, "since": self.since,
                    "counts": dict(self.counts), "totals": dict(self.totals)}


class Proxy:
    def __init__(self, routes_file: Path | None) -> None:
        self.routes_file = routes_file
        self.router = Router()
        self.client: httpx.AsyncClient | None = None
        self.reload()

    def reload(self) -> None:
        if self.routes_file is not None and self.routes_file.exists():
            self.router.update(validate_routes(json.loads(self.routes_file.read_text(encoding="utf-8"))))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            if scope["path"] == CONTROL_PATH:
                await self._control(scope, receive, send)
            else:
                await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), trust_env=False,
                                                limits=httpx.Limits(max_keepalive_connections=20))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _control(self, scope: dict, receive: Any, send: Any) -> None:
        body = await _read_body(receive)
        if scope["method"] == "POST":
            try:
                if body.strip():
                    self.router.update(validate_routes(json.loads(body)))
                else:
                    self.reload()
            except ValueError as exc:  # JSONDecodeError is a ValueError
                await _json(send, 400, {"error": str(exc)})
                return
        elif scope["method"] != "GET":
            await _json(send, 405, {"error": "GET or POST"})
            return
        await _json(send, 200, self.router.snapshot())

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        role, backend = self.router.choose()
        body = await _read_body(receive)
        if backend is None:
            await _json(send, 503, {"detail": "no version is deployed"}, role)
            return
        assert self.client is not None
        url = backend + _raw_path(scope)
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in HOP_BY_HOP]
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await _json(send, 502, {"detail": f"{role} backend unreachable: {type(exc).__name__}"}, role)
            return
        try:
            out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.multi_items()
                   if k.lower() not in HOP_BY_HOP]
            out.append((BACKEND_HEADER.encode(), role.encode()))
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    async def _websocket(self, scope: dict, receive: Any, send: Any) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        await receive()  # websocket.connect
        role, backend = self.router.choose()
        if backend is None:
            await send({"type": "websocket.close", "code": 1013})
            return
        url = "ws" + backend[len("http"):] + _raw_path(scope)
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        skip = HOP_BY_HOP | {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                             "sec-websocket-protocol"}
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in skip]
        try:
            upstream = await connect(url, additional_headers=headers, subprotocols=scope.get("subprotocols") or None,
                                     proxy=None, compression=None, open_timeout=10)
        except Exception:
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol,
                    "headers": [(BACKEND_HEADER.encode(), role.encode())]})

        async def client_to_backend() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await upstream.send(message["text"])
                elif message.get("bytes") is not None:
                    await upstream.send(message["bytes"])

        async def backend_to_client() -> None:
            try:
                async for message in upstream:
                    if isinstance(message, str):
                        await send({"type": "websocket.send", "text": message})
                    else:
                        await send({"type": "websocket.send", "bytes": message})
            except ConnectionClosed:
                pass
            await send({"type": "websocket.close", "code": upstream.close_code or 1000})

        tasks = [asyncio.ensure_future(client_to_backend()), asyncio.ensure_future(backend_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()


def _raw_path(scope: dict) -> str:
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send: Any, status: int, document: Any, role: str | None = None) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if role is not None:
        headers.append((BACKEND_HEADER.encode(), role.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m trunkline.deploy.local.proxy")
    parser.add_argument("--routes", required=True, type=Path, help="JSON routes file {stable, canary, weight}")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    uvicorn.run(Proxy(args.routes), host=args.host, port=args.port, log_level="warning", lifespan="on",
                access_log=False, ws_ping_interval=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
