"""The pipeline event stream: the event log table, the publisher, the pure builders, and ``GET /events``
(WebSocket) / ``GET /events/stream`` (SSE) of the webhook receiver over real HTTP (uvicorn on
127.0.0.1, real SQLite). Every message is checked against contracts/asyncapi.yaml."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jsonschema
import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from trunkline import stream
from trunkline.api.events import CheckRunPublished, DeliveryProcessed, DeliveryReceived, MergeDecided
from trunkline.ingest.server import IngestServer
from trunkline.ingest.signature import sign
from trunkline.ingest.writer import received_messages
from trunkline.jobs.queue import JobQueue
from trunkline.settings import Settings
from trunkline.store.base import Store
from trunkline.store.events import EventRepo
from trunkline.stream.announce import check_run_fields, merge_fields, processed_fields
from trunkline.stream.demo import contract_validators, format_checker
from trunkline.stream.http import check_params, sse_frame
from trunkline.stream.publish import Publisher, message_row, row_of, to_json
from trunkline.stream.tail import safe_prefix

ROOT = Path(__file__).resolve().parents[2]
SECRET = "stream-secret"
SHA = "a" * 40


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.Draft7Validator]:
    """Message type -> validator of its payload schema in contracts/asyncapi.yaml."""
    return contract_validators(ROOT / "contracts/asyncapi.yaml")


def valid(validators: dict[str, jsonschema.Draft7Validator], message: str | dict) -> dict:
    data = json.loads(message) if isinstance(message, str) else message
    validators[data["type"]].validate(data)
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    # PostgreSQL: a fresh schema (tests/unit/conftest.py; that variant is tier 1)
    url = f"sqlite:///{tmp_path}/events.db" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")
    s = Store(url)
    s.create_all()
    yield s
    s.dispose()


# -- the event log ----------------------------------------------------------------------------------

def _row(i: int, repo: str | None = "octo/widgets", at: float = 100.0) -> dict:
    return {"event_id": f"e{i}", "type": "delivery.received", "repo": repo, "created_at": at, "body": f'{{"n":{i}}}'}


def test_log_appends_in_order_skips_repeated_ids_and_filters_by_repo(store: Store) -> None:
    events = EventRepo(store)
    assert events.last_seq() == 0
    events.append([_row(1), _row(2, "octo/other"), _row(3)])
    assert events.append([_row(2), _row(4, None)]) == {"e2"}  # e2 again: a re-run publish, left out (and said)
    rows = events.after(0)
    assert [r.event_id for r in rows] == ["e1", "e2", "e3", "e4"]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    assert [r.event_id for r in events.after(0, repo="octo/widgets")] == ["e1", "e3"]
    assert [r.event_id for r in events.after(rows[1].seq)] == ["e3", "e4"]
    assert events.seq_of("e3") == rows[2].seq and events.seq_of("nope") is None
    assert events.last_seq() == rows[-1].seq


def test_prune_by_age_and_count_never_reuses_sequence_numbers(store: Store) -> None:
    events = EventRepo(store)
    events.append([_row(i, at=float(i)) for i in range(10)])
    assert events.prune(older_than=3.0) == 3
    assert events.prune(keep=4) == 3
    assert [r.event_id for r in events.after(0)] == ["e6", "e7", "e8", "e9"]
    last = events.last_seq()
    events.prune(keep=0)
    events.append([_row(99)])
    assert events.after(0)[0].seq > last  # a subscriber's cursor stays meaningful


def test_publisher_never_raises_and_prunes(store: Store) -> None:
    clock = [1000.0]
    publisher = Publisher(store, clock=lambda: clock[0], max_age=50.0, max_rows=1000)
    woke = []
    publisher.listeners.append(lambda: woke.append(1))
    assert publisher.publish([stream.make(DeliveryProcessed, delivery="g", event="push", outcome="handled",
                                          attempt=1, duration_ms=1.5)])
    clock[0] += 100  # the first event is now too old; the next publish (a minute later) prunes it
    assert publisher.publish([stream.make(DeliveryProcessed, delivery="h", event="push", outcome="ignored",
                                          attempt=1, duration_ms=0.0)])
    assert [json.loads(r.body)["delivery"] for r in publisher.events.after(0)] == ["h"]
    assert woke == [1, 1]
    bad = Publisher(store)
    bad.events.store = None  # type: ignore[assignment]  # any failure below the publisher
    assert bad.publish([stream.make(DeliveryProcessed, delivery="g", event="push", outcome="handled",
                                    attempt=1, duration_ms=1.0)]) is False
    assert bad.dropped == 1


def test_without_a_configured_store_publishing_does_nothing() -> None:
    previous = stream.install(None)
    try:
        stream.emit(DeliveryProcessed, delivery="g", event="push", outcome="handled", attempt=1, duration_ms=1.0)
        stream.emit(DeliveryProcessed, delivery="g")  # would not validate: still never raises
    finally:
        stream.install(previous)


def test_emit_drops_an_event_that_does_not_match_the_contract(store: Store) -> None:
    publisher = Publisher(store)
    previous = stream.install(publisher)
    try:
        stream.emit(MergeDecided, repository="octo/widgets", pull_request=0, head_sha=SHA, decision="merge",
                    reasons=[])  # pull_request must be >= 1
        stream.emit(MergeDecided, repository="octo/widgets", pull_request=3, head_sha=SHA, decision="merge",
                    reasons=[], method="squash")
    finally:
        stream.uninstall(publisher, previous)
    assert [json.loads(r.body)["pull_request"] for r in publisher.events.after(0)] == [3]


# -- pure builders: every message they make is valid -------------------------------------------------

_guid = st.from_regex(r"[A-Za-z0-9_.:\-]{1,100}", fullmatch=True)
_text = st.text(max_size=30)


@given(rows=st.lists(st.fixed_dictionaries({
    "guid": _guid, "event": st.from_regex(r"[a-z_]{1,30}", fullmatch=True),
    "action": st.none() | st.text(max_size=100),
    "repo": st.none() | st.sampled_from(["octo/widgets", "bad name", "a/b/c", "-x/y", "x/.y"]) | _text,
    "installation_id": st.none() | st.integers(0, 2**63 - 1)}), max_size=5),
       outcomes=st.lists(st.sampled_from([True, False, RuntimeError("down")]), min_size=5, max_size=5))
def test_received_messages_are_valid_delivery_received_events(rows, outcomes, validators) -> None:
    messages = received_messages(rows, outcomes[:len(rows)], 1_700_000_000.5)
    assert len(messages) == sum(1 for o in outcomes[:len(rows)] if isinstance(o, bool))
    for message in messages:
        stored = json.loads(message_row(message, 1.0)["body"])
        valid(validators, stored)
        # the hand-built message says what the generated model says
        checked = DeliveryReceived.model_validate(stored)
        assert json.loads(stream.to_json(checked)) | {"occurred_at": stored["occurred_at"]} == stored


def test_a_new_delivery_gets_a_stable_event_id_and_a_duplicate_a_fresh_one() -> None:
    row = {"guid": "g-1", "event": "push", "action": None, "repo": "octo/widgets", "installation_id": 5}
    first = received_messages([row], [True], 1.0)[0]
    assert first["id"] == received_messages([row], [True], 2.0)[0]["id"]  # a re-run of the batch publishes once
    dup = received_messages([row, row], [False, False], 3.0)
    assert dup[0]["status"] == "duplicate" and dup[0]["id"] != dup[1]["id"]


@given(outcome=st.sampled_from(["handled", "ignored", "retrying", "failed"]), attempt=st.integers(0, 50),
       duration=st.floats(-1, 1e4), error=st.none() | st.text(max_size=3000),
       repo=st.none() | st.sampled_from(["octo/widgets", "not a repo"]), action=st.none() | _text)
def test_processed_fields_always_make_a_valid_message(outcome, attempt, duration, error, repo, action,
                                                      validators) -> None:
    fields = processed_fields(guid="g", event="pull_request", action=action, repo=repo, outcome=outcome,
                              attempt=attempt, duration_s=duration, error=error)
    valid(validators, to_json(stream.make(DeliveryProcessed, **fields)))


def test_check_run_fields_from_githubs_answer(validators) -> None:
    run = {"id": 9, "name": "trunkline/tier-0", "head_sha": SHA, "status": "completed", "conclusion": "failure",
           "url": "http://127.0.0.1:1/api/v3/repos/octo/widgets/check-runs/9",
           "html_url": "http://127.0.0.1:1/octo/widgets/runs/9",
           "output": {"title": "1 test failed", "annotations_count": 1},
           "pull_requests": [{"number": 4, "head": {}, "base": {}}]}
    fields = check_run_fields(run)
    assert fields == {"repository": "octo/widgets", "name": "trunkline/tier-0", "head_sha": SHA,
                      "status": "completed", "conclusion": "failure", "title": "1 test failed", "annotations": 1,
                      "pull_request": 4, "html_url": "http://127.0.0.1:1/octo/widgets/runs/9"}
    valid(validators, to_json(stream.make(CheckRunPublished, **fields)))
    in_progress = check_run_fields({"name": "x", "head_sha": SHA, "status": "in_progress", "conclusion": None,
                                    "output": {"title": None}}, "octo/widgets")
    assert in_progress == {"repository": "octo/widgets", "name": "x", "head_sha": SHA, "status": "in_progress"}
    valid(validators, to_json(stream.make(CheckRunPublished, **in_progress)))
    assert check_run_fields({"name": "x", "head_sha": "abc", "status": "completed"}, "octo/widgets") is None


def test_merge_fields_map_outcomes_to_the_contracts_decisions(validators) -> None:
    for outcome, decision in (("merged", "merge"), ("waiting", "wait"), ("updating", "wait"),
                              ("blocked", "blocked")):
        fields = merge_fields(repository="octo/widgets", number=2, outcome=outcome, head_sha=SHA,
                              reasons=["check trunkline/tier-0: running"], method="squash", merge_sha="b" * 40)
        assert fields is not None and fields["decision"] == decision
        assert ("method" in fields) == (decision == "merge")
        valid(validators, to_json(stream.make(MergeDecided, **fields)))
    for outcome in ("closed", "cancelled", "not-queued"):
        assert merge_fields(repository="octo/widgets", number=2, outcome=outcome, head_sha=SHA, reasons=[]) is None


def test_row_of_a_validated_model_matches_pydantics_json() -> None:
    event = stream.make(CheckRunPublished, repository="octo/widgets", name="n", head_sha=SHA, status="completed",
                        conclusion="success", html_url="https://github.com/octo/widgets/runs/1")
    row = row_of(event, 5.0)
    assert row["repo"] == "octo/widgets" and row["type"] == "check_run.published" and row["event_id"] == event.id
    ours, theirs = json.loads(row["body"]), json.loads(event.model_dump_json(exclude_none=True))
    assert datetime.fromisoformat(ours.pop("occurred_at")) == datetime.fromisoformat(theirs.pop("occurred_at"))
    assert ours == theirs


# -- following the log -------------------------------------------------------------------------------

@given(cursor=st.integers(0, 100), steps=st.lists(st.integers(1, 3), max_size=20), now=st.floats(0, 100),
       gap_seen=st.none() | st.floats(0, 100))
def test_safe_prefix_delivers_in_order_and_waits_at_a_fresh_gap(cursor, steps, now, gap_seen) -> None:
    seqs, seq = [], cursor
    for step in steps:
        seq += step
        seqs.append(seq)
    count, seen = safe_prefix(cursor, seqs, now, gap_seen, wait=2.0)
    contiguous = 0
    while contiguous < len(seqs) and seqs[contiguous] == cursor + 1 + contiguous:
        contiguous += 1
    if contiguous == len(seqs):
        assert (count, seen) == (len(seqs), None)
    elif gap_seen is not None and now - gap_seen >= 2.0:
        assert (count, seen) == (len(seqs), None)  # waited long enough: it was a rolled-back insert
    else:
        assert count == contiguous and seen == (gap_seen if gap_seen is not None else now)


def test_check_params_and_sse_frames() -> None:
    assert check_params(None, None) is None and check_params("octo/widgets", "abc") is None
    assert "repo" in (check_params("no-slash", None) or "")
    assert "since" in (check_params(None, "x" * 101) or "")
    from trunkline.store.events import StoredEvent

    assert sse_frame(StoredEvent(1, "e1", "t", None, 0.0, '{"a":1}')) == b'id: e1\ndata: {"a":1}\n\n'


# -- the endpoints, over real HTTP --------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("stream")
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp}/t.db", queue_url=f"sqlite:///{tmp}/q.db")
    store = Store.from_settings(cfg)
    store.create_all()
    queue = JobQueue.from_url(cfg.queue_url)
    with IngestServer(cfg, store, queue) as srv:
        yield srv, store
    store.dispose()


def deliver(srv: IngestServer, repo: str, guid: str | None = None) -> tuple[str, httpx.Response]:
    guid = guid or uuid.uuid4().hex
    body = json.dumps({"action": "opened", "installation": {"id": 1}, "repository": {"full_name": repo}}).encode()
    answer = httpx.post(srv.webhook_url, content=body, timeout=10, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": guid,
        "X-Hub-Signature-256": sign(SECRET, body)})
    return guid, answer


async def _ws_messages(url: str, count: int, started: threading.Event | None = None) -> list[dict]:
    async with websockets.connect(url, open_timeout=10) as socket:
        if started is not None:
            started.set()
        return [json.loads(await asyncio.wait_for(socket.recv(), 10)) for _ in range(count)]


def _sse_messages(url: str, count: int, headers: dict | None = None,
                  started: threading.Event | None = None) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    with httpx.stream("GET", url, headers=headers or {}, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in response.iter_lines():
            if started is not None:
                started.set()
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                out.append((event_id, json.loads(line[6:])))
                if len(out) == count:
                    return out
    return out


@pytest.mark.slow
def test_websocket_and_sse_subscribers_receive_new_deliveries_in_order(server, validators) -> None:
    srv, _ = server
    ws_url = srv.url.replace("http://", "ws://") + "/events?repo=octo/live"
    results: dict[str, list] = {}
    ready = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=lambda: results.__setitem__("ws", asyncio.run(
                   _ws_messages(ws_url, 3, ready[0])))),
               threading.Thread(target=lambda: results.__setitem__("sse", _sse_messages(
                   srv.url + "/events/stream?repo=octo/live", 3, started=ready[1])))]
    for t in threads:
        t.start()
    assert all(r.wait(10) for r in ready)  # connected: both start positions are fixed
    deliver(srv, "octo/elsewhere")  # filtered out
    first, answer = deliver(srv, "octo/live")
    assert answer.status_code == 202 and answer.json() == {"status": "queued", "delivery": first}
    second, _ = deliver(srv, "octo/live")
    _, again = deliver(srv, "octo/live", guid=first)
    assert again.status_code == 200 and again.json() == {"status": "duplicate", "delivery": first}
    for t in threads:
        t.join(15)
    ws = [valid(validators, m) for m in results["ws"]]
    sse = results["sse"]
    assert [(m["delivery"], m["status"]) for m in ws] == [(first, "queued"), (second, "queued"), (first, "duplicate")]
    assert [m for _, m in sse] == ws and [i for i, _ in sse] == [m["id"] for m in ws]
    assert all(m["repository"] == "octo/live" and m["type"] == "delivery.received" for m in ws)


@pytest.mark.slow
def test_the_repo_filter_ignores_case_like_github(server) -> None:
    """GitHub repository names are case-insensitive: a delivery for ``Octo/MixedCase`` and a subscriber
    asking for ``octo/mixedcase`` (or any other spelling) mean the same repository."""
    srv, _ = server
    guids = [deliver(srv, "Octo/MixedCase")[0], deliver(srv, "octo/mixedcase")[0]]
    deliver(srv, "octo/mixedcase-not")
    for spelling in ("octo/mixedcase", "OCTO/MIXEDCASE", "Octo/MixedCase"):
        replay = _sse_messages(srv.url + f"/events/stream?repo={spelling}&since=pruned-long-ago", 2)
        assert [m["delivery"] for _, m in replay] == guids
        assert [m["repository"] for _, m in replay] == ["Octo/MixedCase", "octo/mixedcase"]  # spelling kept
    ws = asyncio.run(_ws_messages(srv.url.replace("http://", "ws://")
                                  + "/events?repo=OCTO/mixedCASE&since=pruned-long-ago", 2))
    assert [m["delivery"] for m in ws] == guids


@pytest.mark.slow
def test_sse_resumes_after_last_event_id_and_replays_unknown_ids(server, validators) -> None:
    srv, store = server
    guids = [deliver(srv, "octo/resume")[0] for _ in range(3)]
    assert EventRepo(store).seq_of(f"{guids[2]}:received") is not None
    got = _sse_messages(srv.url + "/events/stream?repo=octo/resume", 2,
                        headers={"Last-Event-ID": f"{guids[0]}:received"})
    assert [valid(validators, m)["delivery"] for _, m in got] == guids[1:]
    replay = _sse_messages(srv.url + "/events/stream?repo=octo/resume&since=pruned-long-ago", 3)
    assert [m["delivery"] for _, m in replay] == guids
    ws = asyncio.run(_ws_messages(srv.url.replace("http://", "ws://")
                                  + f"/events?repo=octo/resume&since={guids[1]}:received", 1))
    assert ws[0]["delivery"] == guids[2]


@pytest.mark.slow
def test_bad_parameters_are_refused_with_a_message(server) -> None:
    srv, _ = server
    answer = httpx.get(srv.url + "/events/stream?repo=nope", timeout=10)
    assert answer.status_code == 400 and "repo" in answer.json()["message"]

    async def refused() -> tuple[int, str]:
        async with websockets.connect(srv.url.replace("http://", "ws://") + "/events?repo=nope") as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
            return closed.value.rcvd.code, closed.value.rcvd.reason

    code, reason = asyncio.run(refused())
    assert code == 1008 and "repo" in reason


@pytest.mark.slow
def test_healthz_answer_is_the_generated_model(server) -> None:
    srv, _ = server
    answer = httpx.get(srv.url + "/healthz", timeout=10)
    assert answer.status_code == 200 and answer.json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_occurred_at_is_utc() -> None:
    message = received_messages([{"guid": "g", "event": "push", "action": None, "repo": None,
                                  "installation_id": None}], [True], 0.0)[0]
    assert datetime.fromisoformat(message["occurred_at"]) == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.slow
def test_closing_the_hub_ends_open_streams(tmp_path: Path) -> None:
    """What ``trunkline serve`` does on SIGTERM: open subscriptions end, so they never hold the shutdown."""
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path}/t.db",
                   queue_url=f"sqlite:///{tmp_path}/q.db")
    store = Store.from_settings(cfg)
    store.create_all()
    ended: dict[str, float] = {}
    with IngestServer(cfg, store, JobQueue.from_url(cfg.queue_url)) as srv:
        ready = threading.Event()

        def sse() -> None:
            _sse_messages(srv.url + "/events/stream", 1, started=ready)
            ended["sse"] = time.monotonic()

        async def ws() -> None:
            async with websockets.connect(srv.url.replace("http://", "ws://") + "/events") as socket:
                ready.set()
                with pytest.raises(websockets.ConnectionClosed):
                    await socket.recv()
            ended["ws"] = time.monotonic()

        threads = [threading.Thread(target=sse), threading.Thread(target=lambda: asyncio.run(ws()))]
        for t in threads:
            t.start()
        assert ready.wait(10)
        time.sleep(0.5)
        closed_at = time.monotonic()
        srv.app.state.hub.close()
        for t in threads:
            t.join(10)
    store.dispose()
    assert set(ended) == {"sse", "ws"} and max(ended.values()) - closed_at < 5


def test_the_format_checks_refuse_timestamps_without_an_offset_and_relative_urls() -> None:
    checker = format_checker()
    assert checker.conforms("2026-11-22T04:26:14.5Z", "date-time")
    assert checker.conforms("2026-11-22T04:26:14+00:00", "date-time")
    assert not checker.conforms("2026-11-22T04:26:14", "date-time")
    assert not checker.conforms("yesterday", "date-time") and not checker.conforms("T", "date-time")
    assert not checker.conforms("2026-13-40T04:26:14Z", "date-time")
    assert checker.conforms("https://github.com/o/r/runs/1", "uri") and not checker.conforms("runs/1", "uri")
