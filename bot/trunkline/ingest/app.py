"""The webhook receiver: ``POST /webhooks/github``, ``GET /healthz``, ``GET /metrics``, and the live
pipeline events (``GET /events`` WebSocket, ``GET /events/stream`` SSE: :mod:`trunkline.stream.http`).

Every JSON answer is a model generated from ``contracts/openapi.yaml`` (:mod:`trunkline.api.ingest`).

The webhook route is a lean ASGI endpoint (no body model, no dependency injection) because it is
the hot path: it checks size, signature, headers and JSON, hands the row to the group-commit
writer, and answers once the row is committed. It never calls GitHub.

Order of checks (first failure answers):

1. ``Content-Length`` over ``max_body_bytes`` → 413 (before reading); the limit also holds while
   reading a chunked body;
2. ``X-Hub-Signature-256`` missing or wrong → 401 (nothing else is looked at before the sender is
   authenticated);
3. ``X-GitHub-Event`` / ``X-GitHub-Delivery`` missing or invalid → 400;
4. content type not ``application/json``, body not JSON, or not a JSON object → 415;
5. stored before (same delivery guid) → 200 ``{"status": "duplicate"}``;
6. otherwise stored + enqueued → 202 ``{"status": "queued", "delivery": guid}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.routing import Route

from trunkline import metrics, stream
from trunkline.api.ingest import DeliveryDuplicate, DeliveryQueued, Error, Health
from trunkline.ingest.payload import summarize
from trunkline.ingest.signature import verify
from trunkline.ingest.writer import GroupCommitWriter
from trunkline.jobs.keys import serial_key
from trunkline.jobs.queue import JobQueue
from trunkline.logs.http import mount as mount_logs
from trunkline.settings import Settings
from trunkline.store.base import Store
from trunkline.store.deliveries import new_row
from trunkline.stream.http import mount as mount_stream
from trunkline.stream.tail import Hub

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/github"
# Bodies larger than this are verified and parsed off the event loop (a 25 MB body takes ~0.1 s).
OFFLOAD_BYTES = 512 * 1024
_TOKEN = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
NOT_STORED = Error(message="could not store the delivery; it was not accepted")


try:
    import orjson

    _dumps = orjson.dumps

    def _loads(body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            # orjson is stricter than the json module (NaN, huge integers, ...); the stored body is
            # read back with the json module, so its verdict is the one that counts.
            return json.loads(body)
except ImportError:  # pragma: no cover
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


class Reject(Exception):
    def __init__(self, status: int, message: str, outcome: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.outcome = outcome


def _json_body(answer: BaseModel) -> bytes:
    """A response model from ``trunkline.api.ingest`` as JSON bytes. The models are flat objects of
    strings, built with ``model_construct`` on the hot path: serialising their fields directly costs a
    fraction of pydantic's serializer (tests check both give the same JSON)."""
    return _dumps(answer.__dict__)


async def _send_json(send: Any, status: int, answer: BaseModel) -> None:
    body = _json_body(answer)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _check_and_parse(secret: str, body: bytes, headers: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """Checks 2–4 above; returns (event, guid, payload). CPU-bound: may run in a thread."""
    signature = headers.get("x-hub-signature-256")
    if not secret:
        raise Reject(401, "webhook secret is not configured on this server; refusing all deliveries",
                     "rejected_signature")
    if not signature:
        raise Reject(401, "missing X-Hub-Signature-256 header (configure the webhook secret on GitHub)",
                     "rejected_signature")
    if not verify(secret, body, signature):
        raise Reject(401, "X-Hub-Signature-256 does not match the body: wrong webhook secret or altered body",
                     "rejected_signature")
    event = headers.get("x-github-event", "").strip()
    guid = headers.get("x-github-delivery", "").strip()
    if not event or not guid:
        missing = [h for h, v in (("X-GitHub-Event", event), ("X-GitHub-Delivery", guid)) if not v]
        raise Reject(400, f"missing {' and '.join(missing)} header", "rejected_headers")
    if not _TOKEN.match(event) or not _TOKEN.match(guid):
        raise Reject(400, "X-GitHub-Event and X-GitHub-Delivery must be 1-100 characters of [A-Za-z0-9_.:-]",
                     "rejected_headers")
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Reject(415, f"content type must be application/json, got {media_type or 'none'!r} "
                          "(set the webhook's content type to application/json)", "rejected_body")
    try:
        payload = _loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Reject(415, f"body is not valid JSON: {exc}", "rejected_body") from None
    if not isinstance(payload, dict):
        raise Reject(415, f"body must be a JSON object, got a JSON {type(payload).__name__}", "rejected_body")
    return event, guid, payload


class WebhookEndpoint:
    """ASGI app for ``POST /webhooks/github``."""

    def __init__(self, settings: Settings, writer: GroupCommitWriter) -> None:
        self.secret = settings.webhook_secret
        self.max_body = settings.max_body_bytes
        self.writer = writer

    async def _read_body(self, scope: dict[str, Any], receive: Any, headers: dict[str, str]) -> bytes | None:
        declared = headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    raise Reject(413, f"body is {int(declared)} bytes; the limit is {self.max_body}",
                                 "rejected_size")
            except ValueError:
                raise Reject(400, "invalid Content-Length header", "rejected_headers") from None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise Reject(413, f"body exceeds the limit of {self.max_body} bytes", "rejected_size")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        event: str | None = None
        try:
            headers = _headers(scope)
            body = await self._read_body(scope, receive, headers)
            if body is None:
                return  # client went away; nothing was stored
            if len(body) > OFFLOAD_BYTES:
                event, guid, payload = await asyncio.to_thread(_check_and_parse, self.secret, body, headers)
            else:
                event, guid, payload = _check_and_parse(self.secret, body, headers)
            action, installation_id, repo = summarize(payload)
            row = new_row(guid, event, body=body, headers=headers, received_at=time.time(), action=action,
                          installation_id=installation_id, repo=repo, serial_key=serial_key(event, payload))
            try:
                is_new = await self.writer.submit(row)
            except Exception as exc:  # noqa: BLE001 - storage down: say so; GitHub shows it as failed
                log.error("delivery %s not stored: %s", guid, exc)
                metrics.observe_delivery(event, "store_error")
                await _send_json(send, 503, NOT_STORED)
                return
        except Reject as rej:
            metrics.observe_delivery(event, rej.outcome)
            await _send_json(send, rej.status, Error.model_construct(message=rej.message))
            return
        if is_new:
            metrics.observe_delivery(event, "queued")
            await _send_json(send, 202, DeliveryQueued.model_construct(status="queued", delivery=guid))
        else:
            metrics.observe_delivery(event, "duplicate")
            await _send_json(send, 200, DeliveryDuplicate.model_construct(status="duplicate", delivery=guid))


class IngestApp(FastAPI):
    """FastAPI, with ``POST /webhooks/github`` dispatched straight to its ASGI endpoint.

    The route is also in the router (so ``/openapi.json``, ``url_path_for`` and a POST that reaches
    the router behave normally); the shortcut skips only the generic middleware stack, which costs
    more than the endpoint itself at a thousand deliveries a second. Middleware added with
    ``add_middleware`` therefore does not see webhook posts.
    """

    webhook: WebhookEndpoint | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (self.webhook is not None and scope["type"] == "http" and scope["path"] == WEBHOOK_PATH
                and scope["method"] == "POST"):
            await self.webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_ingest_app(settings: Settings, store: Store, queue: JobQueue) -> FastAPI:
    """The webhook receiver app. The store's tables must exist (``store.create_all()``)."""
    publisher = stream.Publisher(store)
    writer = GroupCommitWriter(store, queue, publisher=publisher)
    hub = Hub(publisher.events)
    publisher.listeners.append(hub.poke)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        store.start_checkpointer()
        metrics.set_queue_depth_source(queue.depth)
        # while it serves, everything this process publishes goes to this store (and wakes the hub)
        previous = stream.install(publisher)
        try:
            yield
        finally:
            stream.uninstall(publisher, previous)
            await hub.stop()
            await asyncio.to_thread(writer.stop)
            await asyncio.to_thread(store.stop_checkpointer)

    if not settings.webhook_secret:
        log.warning("TRUNKLINE_WEBHOOK_SECRET is empty: every delivery will be refused with 401")

    endpoint = WebhookEndpoint(settings, writer)
    app = IngestApp(title="Trunkline webhook receiver", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.webhook = endpoint
    app.state.settings = settings
    app.state.store = store
    app.state.queue = queue
    app.state.writer = writer
    app.state.publisher = publisher
    app.state.hub = hub
    mount_stream(app, hub)
    mount_logs(app, settings, store)  # GET /logs/...: signed links to run logs (trunkline.logs)
    app.router.routes.append(Route(WEBHOOK_PATH, endpoint, methods=["POST"],
                                   name="github_webhook"))

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        checks: dict[str, str] = {}
        for name, probe in (("database", store.ping), ("queue", queue.ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - report, don't crash
                checks[name] = f"error: {type(exc).__name__}: {exc}"
        healthy = all(v == "ok" for v in checks.values())
        health = Health(status="ok" if healthy else "unhealthy", **checks)
        return JSONResponse(health.model_dump(mode="json"), status_code=200 if healthy else 503)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        metrics.set_queue_depth_source(queue.depth)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app
