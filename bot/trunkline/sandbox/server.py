"""The sandbox HTTP server: GitHub's REST routes over a ``World``.

Route modules live in ``trunkline.sandbox.routes``; each exposes ``router`` (a FastAPI
``APIRouter``) whose paths use GitHub's own path-template spelling (``{pull_number}``, ...).
A parameter that may contain slashes is declared ``{path:path}``; ``list_routes`` prints it
back as ``{path}``. Sandbox-only control routes live under ``/_sandbox`` and are not GitHub's.

The middleware around every request does what GitHub's edge does and what tests need:
principal resolution, fault injection (status N times, latency), rate-limit headers, etag,
and a request log with a counter per installation.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .auth import AuthError, resolve
from .http import DOCS, GitHubError
from .world import RequestLogEntry, World

ROUTE_MODULES = (
    "apps",
    "repos",
    "git",
    "pulls",
    "issues",
    "checks",
    "statuses",
    "collaborators",
    "deployments",
    "actions",
    "control",
)

CONTROL_PREFIX = "/_sandbox"
RATE_LIMIT = 5000
_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def github_template(path: str) -> str:
    """FastAPI path -> GitHub spelling: '{path:path}' becomes '{path}'."""
    return _CONVERTER.sub(r"{\1}", path)


def create_app(world: World) -> FastAPI:
    app = FastAPI(title="Trunkline sandbox GitHub", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    app.state.rate = {}  # principal label -> (window start, used)
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(f"trunkline.sandbox.routes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"trunkline.sandbox.routes.{name}":
                continue
            raise
        app.include_router(module.router)

    @app.exception_handler(GitHubError)
    async def _github_error(request: Request, exc: GitHubError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown routes and methods answer like GitHub, not with FastAPI's {"detail": ...}
        message = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"message": message, "documentation_url": DOCS, "status": str(exc.status_code)},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"resource": "Request", "field": ".".join(str(p) for p in e["loc"][1:]),
                   "code": "invalid", "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"message": "Invalid request.", "documentation_url": DOCS, "status": "422",
                             "errors": errors}, status_code=422)

    @app.middleware("http")
    async def _edge(request: Request, call_next: Any) -> Response:
        return await _handle_edge(app, world, request, call_next)

    return app


def flat_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Leaf routes: FastAPI >= 0.16x wraps included routers instead of copying their routes."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes)
        else:
            yield route


def _route_template(app: FastAPI, request: Request) -> str | None:
    for route in flat_routes(app.router.routes):
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return github_template(getattr(route, "path", ""))
    return None


async def _handle_edge(app: FastAPI, world: World, request: Request, call_next: Any) -> Response:
    import asyncio

    method = request.method
    route = _route_template(app, request)
    control = request.url.path.startswith(CONTROL_PREFIX)
    raw_body = await request.body()
    try:
        principal = resolve(world, request.headers.get("authorization"))
    except AuthError as exc:
        response: Response = JSONResponse({"message": exc.message, "documentation_url": DOCS,
                                           "status": str(exc.status)}, status_code=exc.status)
        _log(world, request, route, response.status_code, None, None, raw_body, json.loads(response.body))
        return response
    request.state.principal = principal

    fault = None if control else world.take_fault(method, route)
    if fault and fault.latency:
        await asyncio.sleep(fault.latency)
    if fault and fault.status is not None:
        body = fault.body or {"message": _reason(fault.status), "documentation_url": DOCS,
                              "status": str(fault.status)}
        response = JSONResponse(body, status_code=fault.status, headers=fault.headers)
        _rate_headers(app, principal.label, response)
        _log(world, request, route, fault.status, principal.label, principal.installation_id, raw_body, body,
             fault=True)
        return response

    response = await call_next(request)
    chunks = [chunk async for chunk in response.body_iterator]
    payload = b"".join(chunks)
    headers = dict(response.headers)
    headers.pop("content-length", None)
    parsed: Any = None
    if payload and headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = None
    if not control:
        if method == "GET" and response.status_code == 200:
            etag = 'W/"' + hashlib.sha256(payload).hexdigest() + '"'
            headers["etag"] = etag
            if request.headers.get("if-none-match") == etag:
                out = Response(status_code=304, headers=headers)
                _rate_headers(app, principal.label, out)
                _log(world, request, route, 304, principal.label, principal.installation_id, raw_body, None)
                return out
        headers.setdefault("x-github-request-id", hashlib.md5(f"{time.time_ns()}".encode()).hexdigest()[:16].upper())
        headers["x-github-api-version-selected"] = "2022-11-28"
    out = Response(content=payload, status_code=response.status_code, headers=headers,
                   media_type=response.media_type)
    if not control:
        _rate_headers(app, principal.label, out)
        _log(world, request, route, response.status_code, principal.label, principal.installation_id, raw_body,
             parsed)
    return out


def _rate_headers(app: FastAPI, label: str | None, response: Response) -> None:
    key = label or "anonymous"
    now = int(time.time())
    with _rate_lock:
        start, used = app.state.rate.get(key, (now, 0))
        if now - start >= 3600:
            start, used = now, 0
        used += 1
        app.state.rate[key] = (start, used)
    limit = RATE_LIMIT if label else 60
    response.headers["x-ratelimit-limit"] = str(limit)
    response.headers["x-ratelimit-remaining"] = str(max(0, limit - used))
    response.headers["x-ratelimit-reset"] = str(start + 3600)
    response.headers["x-ratelimit-used"] = str(used)
    response.headers["x-ratelimit-resource"] = "core"


_rate_lock = threading.Lock()


def _reason(status: int) -> str:
    return {
        403: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        429: "API rate limit exceeded",
        500: "Server Error",
        502: "Server Error",
        503: "Service Unavailable",
    }.get(status, "Error")


def _log(world: World, request: Request, route: str | None, status: int, principal: str | None,
         installation_id: int | None, raw_body: bytes, response_body: Any, *, fault: bool = False) -> None:
    request_body: Any = None
    if raw_body:
        try:
            request_body = json.loads(raw_body)
        except ValueError:
            request_body = None
    world.log_request(RequestLogEntry(at=time.time(), method=request.method, path=request.url.path,
                                      route=route, status=status, principal=principal,
                                      installation_id=installation_id, response_body=response_body,
                                      request_body=request_body, fault=fault))


def list_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (METHOD, GitHub path template) served, control routes excluded, sorted."""
    out: set[tuple[str, str]] = set()
    for route in flat_routes(app.router.routes):
        path = getattr(route, "path", "")
        methods: Iterable[str] = getattr(route, "methods", None) or ()
        if not path or path.startswith(CONTROL_PREFIX):
            continue
        for method in methods:
            if method in ("HEAD", "OPTIONS"):
                continue
            out.add((method, github_template(path)))
    return sorted(out, key=lambda mt: (mt[1], mt[0]))


class ServerHandle:
    """A sandbox server running uvicorn in a daemon thread on a loopback port."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0):
        import socket

        import uvicorn

        self.world = world
        self.app = create_app(world)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        world.base_url = self.url
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="sandbox-http")

    def start(self) -> ServerHandle:
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerHandle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
