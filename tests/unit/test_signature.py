"""X-Hub-Signature-256 verification: pure properties, and over real HTTP that every forged or
missing signature is refused with 401 and stores nothing, while correct ones are accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline.ingest.server import IngestServer
from trunkline.ingest.signature import sign, verify
from trunkline.jobs.queue import JobQueue
from trunkline.settings import Settings
from trunkline.store import Store

SECRET = "It's a Secret to Everybody"

secrets = st.text(min_size=1, max_size=40)
bodies = st.binary(max_size=3000)


def test_matches_githubs_documented_example() -> None:
    # The example from GitHub's "Validating webhook deliveries" documentation.
    assert sign(SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


@given(secrets, bodies)
def test_own_signature_verifies(secret: str, body: bytes) -> None:
    header = sign(secret, body)
    assert verify(secret, body, header)
    assert verify(secret, body, header.upper().replace("SHA256=", "sha256="))  # hex case is irrelevant


@given(secrets, secrets, bodies)
def test_other_secret_fails(secret: str, other: str, body: bytes) -> None:
    if other != secret:
        assert not verify(other, body, sign(secret, body))


@given(secrets, bodies, bodies)
def test_other_body_fails(secret: str, body: bytes, other: bytes) -> None:
    if other != body:
        assert not verify(secret, other, sign(secret, body))


@given(bodies)
def test_empty_secret_or_header_never_verifies(body: bytes) -> None:
    assert not verify("", body, sign("", body))
    assert not verify(SECRET, body, None)
    assert not verify(SECRET, body, "")


def test_sha1_header_style_is_not_accepted() -> None:
    body = b"{}"
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert not verify(SECRET, body, sha1)


# ------------------------------------------------------------------------------ over HTTP
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("sig")
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp}/t.db", queue_url=f"sqlite:///{tmp}/q.db")
    store = Store.from_settings(cfg)
    store.create_all()
    queue = JobQueue.from_url(cfg.queue_url)
    with IngestServer(cfg, store, queue) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        yield srv, store, client
    store.dispose()


def _forge(kind: str, body: bytes, data: st.DataObject) -> str | None:
    good = sign(SECRET, body)
    if kind == "missing":
        return None
    if kind == "random":
        return "sha256=" + data.draw(st.binary(min_size=32, max_size=32)).hex()
    if kind == "wrong_secret":
        return sign(data.draw(secrets.filter(lambda s: s != SECRET)), body)
    if kind == "other_body":
        return sign(SECRET, body + data.draw(st.binary(min_size=1, max_size=10)))
    if kind == "truncated":
        return good[: data.draw(st.integers(0, len(good) - 1))]
    if kind == "extended":
        return good + data.draw(st.sampled_from(["0", "a", " x", "00"]))
    if kind == "sha1":
        return "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    if kind == "bare_hex":
        return good[len("sha256="):]
    if kind == "flipped":
        i = data.draw(st.integers(len("sha256="), len(good) - 1))
        return good[:i] + ("0" if good[i] != "0" else "1") + good[i + 1:]
    return data.draw(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80))


FORGERIES = ["missing", "random", "wrong_secret", "other_body", "truncated", "extended", "sha1", "bare_hex",
             "flipped", "garbage"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(FORGERIES),
       body=st.one_of(bodies, st.dictionaries(st.text(max_size=8), st.integers()).map(
           lambda d: json.dumps(d).encode())),
       event=st.one_of(st.none(), st.sampled_from(["push", "pull_request", "ping", "x"])),
       delivery=st.one_of(st.none(), st.uuids().map(str)),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
def test_forged_or_missing_signatures_are_refused_and_nothing_is_stored(
        server, data, kind, body, event, delivery, content_type) -> None:
    _, store, client = server
    before = store.deliveries.count()
    headers = {"Content-Type": content_type}
    if event is not None:
        headers["X-GitHub-Event"] = event
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    signature = _forge(kind, body, data)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 401, (kind, signature, response.text)
    assert "message" in response.json()
    assert store.deliveries.count() == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20), st.none())),
       event=st.sampled_from(["push", "pull_request", "issue_comment", "some_new_event"]))
def test_correct_signatures_are_accepted_and_stored(server, payload, event) -> None:
    _, store, client = server
    body = json.dumps(payload).encode()
    guid = str(uuid.uuid4())
    response = client.post("/webhooks/github", content=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": guid,
        "X-Hub-Signature-256": sign(SECRET, body)})
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "queued", "delivery": guid}
    record = store.deliveries.get(guid)
    assert record is not None and record.body == body and record.event == event
