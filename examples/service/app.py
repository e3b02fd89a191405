"""Widgets example service: health, Prometheus metrics, a WebSocket echo and a small JSON API.

Contracts: ``openapi.yaml`` (HTTP) and ``asyncapi.yaml`` (the WebSocket) next to this file.
``TRUNKLINE_SHA`` in the environment (set by the local deployer) is reported by ``/version``.
"""

from __future__ import annotations

import os
import time

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from . import VERSION, audit, health
from .store import WidgetStore

app = FastAPI(title="Widgets example service", version=VERSION, openapi_url=None, docs_url=None, redoc_url=None)
store = WidgetStore()
registry = CollectorRegistry()
REQUESTS = Counter("http_requests", "HTTP requests answered", ["method", "route", "status"], registry=registry)
LATENCY = Histogram("http_request_duration_seconds", "Time to answer HTTP requests", ["route"], registry=registry,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
WS_MESSAGES = Counter("websocket_messages", "WebSocket messages echoed", registry=registry)


class WidgetIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=0)


@app.middleware("http")
async def observe(request: Request, call_next):
    start = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    await audit.record(request.method, request.url.path, response.status_code)
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    LATENCY.labels(route).observe(time.perf_counter() - start)
    return response


@app.get("/health")
def get_health() -> JSONResponse:
    found = health.problems(store)
    if found:
        return JSONResponse({"status": "failing", "problems": found}, status_code=500)
    return JSONResponse({"status": "ok", "version": VERSION})


@app.get("/version")
def get_version() -> dict:
    return {"version": VERSION, "sha": os.environ.get("TRUNKLINE_SHA", "")}


@app.get("/metrics")
def get_metrics() -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@app.get("/widgets")
def list_widgets() -> dict:
    return {"items": [w.to_dict() for w in store.list()]}


@app.post("/widgets", status_code=201)
def create_widget(body: WidgetIn) -> dict:
    return store.create(body.name, body.quantity).to_dict()


@app.get("/widgets/{widget_id}")
def get_widget(widget_id: int):
    widget = store.get(widget_id)
    if widget is None:
        return JSONResponse({"detail": f"no widget {widget_id}"}, status_code=404)
    return widget.to_dict()


@app.put("/widgets/{widget_id}")
def replace_widget(widget_id: int, body: WidgetIn):
    widget = store.replace(widget_id, body.name, body.quantity)
    if widget is None:
        return JSONResponse({"detail": f"no widget {widget_id}"}, status_code=404)
    return widget.to_dict()


@app.delete("/widgets/{widget_id}", status_code=204)
def delete_widget(widget_id: int) -> Response:
    if not store.delete(widget_id):
        return JSONResponse({"detail": f"no widget {widget_id}"}, status_code=404)
    return Response(status_code=204)


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    """Every text message is sent back unchanged."""
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive_text()
            WS_MESSAGES.inc()
            await websocket.send_text(message)
    except WebSocketDisconnect:
        return
