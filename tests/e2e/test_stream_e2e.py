"""The live event stream end to end: sandbox GitHub + a real ``trunkline serve`` process, a real
WebSocket client on ``/events`` and a real SSE client on ``/events/stream``.

A pull request's whole life — opened, checked, labelled, CI green, merged — reaches both subscribers
as the same events in the same order, every one a valid message of ``contracts/asyncapi.yaml``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from trunkline.demo.harness import BotHarness
from trunkline.stream.demo import Subscriber, contract_validators, create_repo, lifecycle, merged

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory):
    with BotHarness(tmp_path_factory.mktemp("stream"), workers=2) as h:
        h.install("acme")
        yield h


def test_a_pull_requests_lifecycle_reaches_websocket_and_sse_subscribers_in_order(harness: BotHarness) -> None:
    repo = "acme/streamed"
    # all subscribe before the repository exists: a subscriber starts at the end of the log as it stands
    # when it connects, so events of the repository in between would reach some subscribers and not others
    everything = Subscriber(harness.bot_url, "ws", until=merged).start()  # no filter: every repository
    ws = Subscriber(harness.bot_url, "ws", repo=repo, until=merged).start()
    sse = Subscriber(harness.bot_url, "sse", repo=repo, until=merged).start()
    try:
        create_repo(harness, repo)
        number, head = lifecycle(harness, repo)
        seen, streamed, unfiltered = ws.wait(60), sse.wait(60), everything.wait(60)
    finally:
        for sub in (ws, sse, everything):
            sub.stop()

    validators = contract_validators()
    for message in seen:
        validators[message["type"]].validate(message)
    assert [m["id"] for m in streamed] == [m["id"] for m in seen]
    assert sse.sse_ids == [m["id"] for m in seen]  # SSE ids are the event ids (Last-Event-ID resumes)
    assert all(m["repository"] == repo for m in seen)
    assert [m["id"] for m in unfiltered if m.get("repository") == repo] == [m["id"] for m in seen]
    assert len({m["id"] for m in seen}) == len(seen)

    kinds = [m["type"] for m in seen]
    assert {"delivery.received", "delivery.processed", "check_run.published", "merge.decided"} <= set(kinds)
    # every delivery is received before it is processed, each attempt once
    # (a redelivery of the same GUID — e.g. the sandbox retrying a slow answer — is received again later,
    # as a duplicate: what must hold is that the first receipt precedes every processing)
    first_received: dict[str, int] = {}
    for i, m in enumerate(seen):
        if m["type"] == "delivery.received":
            first_received.setdefault(m["delivery"], i)
    trail = [(m["type"], m.get("delivery"), m.get("status")) for m in seen]
    for i, m in enumerate(seen):
        if m["type"] == "delivery.processed":
            assert first_received.get(m["delivery"], len(seen)) < i, trail
    opened = next(i for i, m in enumerate(seen)
                  if m["type"] == "delivery.received" and m["event"] == "pull_request" and m["action"] == "opened")
    config = [i for i, m in enumerate(seen) if m["type"] == "check_run.published" and m["name"] == "trunkline/config"
              and m["head_sha"] == head]
    decisions = [m for m in seen if m["type"] == "merge.decided"]
    assert config and opened < config[0]
    assert decisions[0]["decision"] == "wait" and any("ci" in r for r in decisions[0]["reasons"])
    final = decisions[-1]
    assert final["decision"] == "merge" and final["pull_request"] == number and final["head_sha"] == head
    assert final["method"] == "squash" and len(final.get("merge_sha", "")) == 40
    merge_check = [m for m in seen if m["type"] == "check_run.published" and m["name"] == "trunkline/merge"]
    assert merge_check[-1]["conclusion"] == "success" and kinds.index("merge.decided") > opened


def test_a_subscriber_resumes_after_the_last_event_it_saw(harness: BotHarness) -> None:
    repo = "acme/streamed"
    first = Subscriber(harness.bot_url, "sse", repo=repo, since="no-such-event", until=merged).start()
    replay = first.wait(30)  # an unknown id replays what is kept: the whole previous lifecycle
    first.stop()
    middle = replay[len(replay) // 2]
    rest = Subscriber(harness.bot_url, "ws", repo=repo, since=middle["id"], until=merged).start()
    try:
        assert [m["id"] for m in rest.wait(30)] == [m["id"] for m in replay[len(replay) // 2 + 1:]]
    finally:
        rest.stop()


def test_events_of_a_separate_worker_process_reach_the_subscribers_of_serve(tmp_path_factory) -> None:
    """``trunkline serve --workers 0`` only receives; a ``trunkline worker`` process handles the deliveries
    and publishes what it did into the same event log, which serve's subscribers read."""
    root = tmp_path_factory.mktemp("stream-worker")
    with BotHarness(root, workers=0) as h:
        h.install("acme")
        log = open(root / "worker.log", "ab")  # noqa: SIM115 - closed below
        worker = subprocess.Popen([sys.executable, "-m", "trunkline.cli", "worker", "--workers", "2"],
                                  env=h.bot_env(), cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            repo = "acme/split"
            ws = Subscriber(h.bot_url, "ws", repo=repo, until=merged).start()
            try:
                create_repo(h, repo)
                lifecycle(h, repo)
                seen = ws.wait(60)
            finally:
                ws.stop()
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)
            log.close()
    validators = contract_validators()
    for message in seen:
        validators[message["type"]].validate(message)
    kinds = {m["type"] for m in seen}
    assert {"delivery.received", "delivery.processed", "check_run.published", "merge.decided"} <= kinds
