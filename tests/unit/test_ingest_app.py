"""The webhook receiver over real HTTP (uvicorn on 127.0.0.1, real SQLite): status codes, what is
stored, dedupe, size limits, health and metrics."""

from __future__ import annotations

import json
import socket
import time
import uuid

import httpx
import pytest

from trunkline import metrics
from trunkline.ingest.server import IngestServer
from trunkline.ingest.signature import sign
from trunkline.jobs.queue import JobQueue
from trunkline.settings import Settings
from trunkline.store import QUEUED, Store

SECRET = "ingest-secret"
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("ingest")
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp}/t.db", queue_url=f"sqlite:///{tmp}/q.db",
                   max_body_bytes=LIMIT)
    store = Store.from_settings(cfg)
    store.create_all()
    queue = JobQueue.from_url(cfg.queue_url)
    with IngestServer(cfg, store, queue) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        yield srv, store, queue, client
    store.dispose()


def post(client: httpx.Client, body: bytes, event: str = "pull_request", guid: str | None = None,
         **headers: str) -> httpx.Response:
    h = {"Content-Type": "application/json", "X-GitHub-Event": event,
         "X-GitHub-Delivery": guid or str(uuid.uuid4()), "X-Hub-Signature-256": sign(SECRET, body)}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    return client.post("/webhooks/github", content=body, headers={k: v for k, v in h.items() if v != ""})


def eventually(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


PAYLOAD = {"action": "opened", "number": 7, "installation": {"id": 123456},
           "repository": {"full_name": "octo/widgets"}, "pull_request": {"base": {"ref": "main"}}}


def test_accepts_stores_everything_and_enqueues(server) -> None:
    _, store, queue, client = server
    body = json.dumps(PAYLOAD).encode()
    guid = str(uuid.uuid4())
    depth = queue.depth()
    r = post(client, body, guid=guid, X_GitHub_Hook_ID="99")
    assert r.status_code == 202 and r.json() == {"status": "queued", "delivery": guid}
    rec = store.deliveries.get(guid)
    assert rec is not None
    assert (rec.event, rec.action, rec.installation_id, rec.repo) == ("pull_request", "opened", 123456, "octo/widgets")
    assert rec.body == body and rec.payload == PAYLOAD
    assert rec.headers["x-github-hook-id"] == "99" and rec.headers["x-github-delivery"] == guid
    assert rec.status == QUEUED and rec.attempts == 0 and rec.received_at > 0
    # the enqueue follows the commit (the ack waits only for the commit)
    assert eventually(lambda: queue.depth() == depth + 1)


def test_repeat_delivery_is_duplicate_and_not_requeued(server) -> None:
    _, store, queue, client = server
    body = json.dumps(PAYLOAD).encode()
    guid = str(uuid.uuid4())
    depth = queue.depth()
    assert post(client, body, guid=guid).status_code == 202
    assert eventually(lambda: queue.depth() == depth + 1)
    for _ in range(3):
        r = post(client, body, guid=guid)
        assert r.status_code == 200 and r.json() == {"status": "duplicate", "delivery": guid}
    time.sleep(0.2)
    assert queue.depth() == depth + 1
    assert store.deliveries.known_guids([guid]) == {guid}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_content_type_is_415(server, content_type) -> None:
    _, store, _, client = server
    guid = str(uuid.uuid4())
    r = post(client, b"{}", guid=guid, Content_Type=content_type)
    assert r.status_code == 415 and "application/json" in r.json()["message"]
    assert store.deliveries.get(guid) is None


def test_content_type_parameters_are_fine(server) -> None:
    _, _, _, client = server
    assert post(client, b"{}", Content_Type="application/json; charset=utf-8").status_code == 202


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
def test_unparseable_or_non_object_body_is_415(server, body) -> None:
    _, store, _, client = server
    guid = str(uuid.uuid4())
    r = post(client, body, guid=guid)
    assert r.status_code == 415 and "JSON" in r.json()["message"]
    assert store.deliveries.get(guid) is None


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_missing_github_headers_are_400(server, missing) -> None:
    _, store, _, client = server
    before = store.deliveries.count()
    r = post(client, b"{}", **{missing.replace("-", "_"): ""})
    assert r.status_code == 400 and missing in r.json()["message"]
    assert store.deliveries.count() == before


def test_body_over_limit_by_content_length_is_413(server) -> None:
    _, store, _, client = server
    before = store.deliveries.count()
    body = b'{"a":"' + b"x" * LIMIT + b'"}'
    r = post(client, body)
    assert r.status_code == 413 and str(LIMIT) in r.json()["message"]
    assert store.deliveries.count() == before


def test_declared_size_is_refused_before_the_body_is_sent(server) -> None:
    srv, *_ = server
    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        sock.sendall((f"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {25 * 1024 * 1024 + 1}\r\n\r\n").encode())
        response = sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 413")


def test_chunked_body_is_limited_while_reading(server) -> None:
    _, store, _, client = server
    before = store.deliveries.count()

    def chunks():
        yield b'{"a":"'
        for _ in range(LIMIT // 4096 + 2):
            yield b"x" * 4096
        yield b'"}'

    r = client.post("/webhooks/github", content=chunks(), headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=00"})
    assert r.status_code == 413
    assert store.deliveries.count() == before


def test_body_just_under_limit_is_accepted(server) -> None:
    _, _, _, client = server
    body = json.dumps({"pad": "x" * (LIMIT - 20)}).encode()
    assert len(body) <= LIMIT
    assert post(client, body).status_code == 202


def test_default_limit_is_25_mb_and_large_bodies_work(tmp_path) -> None:
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path}/t.db",
                   queue_url=f"sqlite:///{tmp_path}/q.db")
    assert cfg.max_body_bytes == 25 * 1024 * 1024
    store = Store.from_settings(cfg)
    store.create_all()
    with IngestServer(cfg, store, JobQueue.from_url(cfg.queue_url)) as srv, httpx.Client(base_url=srv.url,
                                                                                      timeout=60) as client:
        big = json.dumps({"blob": "y" * (3 * 1024 * 1024)}).encode()  # parsed off the event loop
        assert post(client, big).status_code == 202
        too_big = b" " * (cfg.max_body_bytes + 1)
        assert post(client, too_big).status_code == 413
    store.dispose()


def test_get_on_webhook_path_is_405(server) -> None:
    _, _, _, client = server
    assert client.get("/webhooks/github").status_code == 405


def test_healthz(server) -> None:
    _, _, _, client = server
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_healthz_reports_unreachable_database(tmp_path) -> None:
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path}/t.db",
                   queue_url=f"sqlite:///{tmp_path}/q.db")
    store = Store.from_settings(cfg)
    store.create_all()
    with IngestServer(cfg, Store("postgresql+psycopg://nobody@127.0.0.1:1/none"),
                      JobQueue.from_url(cfg.queue_url)) as srv:
        r = httpx.get(srv.url + "/healthz", timeout=30)
    assert r.status_code == 503
    assert r.json()["queue"] == "ok" and r.json()["database"].startswith("error")


def test_metrics_exposes_deliveries_queue_latency_and_github(server) -> None:
    _, _, _, client = server
    post(client, b"{}", event="metrics_probe")
    metrics.observe_github_request(777, "get", 200, "4321")
    metrics.observe_handler("metrics_probe", 0.02)
    text = client.get("/metrics").text
    assert 'trunkline_deliveries_total{event="metrics_probe",outcome="queued"} 1.0' in text
    assert "trunkline_queue_depth " in text
    assert 'trunkline_handler_seconds_bucket{event="metrics_probe",le="0.025"} 1.0' in text
    assert 'trunkline_github_requests_total{installation_id="777",method="GET",status="200"} 1.0' in text
    assert 'trunkline_github_rate_limit_remaining{installation_id="777"} 4321.0' in text
    post(client, b"{}", X_Hub_Signature_256="sha256=00")
    assert 'outcome="rejected_signature"' in client.get("/metrics").text


def test_no_secret_configured_refuses_everything(tmp_path) -> None:
    cfg = Settings(webhook_secret="", database_url=f"sqlite:///{tmp_path}/t.db", queue_url=f"sqlite:///{tmp_path}/q.db")
    store = Store.from_settings(cfg)
    store.create_all()
    with IngestServer(cfg, store, JobQueue.from_url(cfg.queue_url)) as srv:
        body = b"{}"
        r = httpx.post(srv.webhook_url, content=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d1",
            "X-Hub-Signature-256": sign("", body)})
    assert r.status_code == 401 and "not configured" in r.json()["message"]
    assert store.deliveries.count() == 0
