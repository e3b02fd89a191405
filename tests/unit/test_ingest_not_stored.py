"""The ingest writer publishes "queued" before it inserts; when the insert fails the stream says so
(``delivery.received`` with status ``not_stored``), and a later redelivery of the same GUID is received
again. Real SQLite stores (one loses its ``deliveries`` table, one refuses a batch) and the real event log;
every message is checked against contracts/asyncapi.yaml."""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from trunkline.api.events import DeliveryReceived
from trunkline.ingest.writer import GroupCommitWriter, not_stored_messages, queued_id, received_messages
from trunkline.jobs.queue import JobQueue
from trunkline.store import Store, new_row
from trunkline.store.deliveries import DeliveryRepo
from trunkline.stream.demo import contract_validators
from trunkline.stream.publish import Publisher

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.Draft7Validator]:
    return contract_validators(ROOT / "contracts/asyncapi.yaml")


def row(guid: str) -> dict[str, Any]:
    return new_row(guid, "push", body=b"{}", headers={}, received_at=time.time(), repo="octo/widgets")


def stream_of(publisher: Publisher, validators: dict[str, jsonschema.Draft7Validator]) -> list[dict[str, Any]]:
    messages = [json.loads(e.body) for e in publisher.events.after(0)]
    for m in messages:
        validators[m["type"]].validate(m)
    assert len({m["id"] for m in messages}) == len(messages), "every event id is unique"
    return messages


def trail(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["delivery"], m["status"]) for m in messages]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path}/t.db")
    s.create_all()
    yield s
    s.dispose()


def test_a_failed_insert_is_taken_back_and_a_redelivery_is_received_again(store: Store, tmp_path: Path,
                                                                           validators) -> None:
    publisher = Publisher(store)
    writer = GroupCommitWriter(store, JobQueue.from_url(f"sqlite:///{tmp_path}/q.db"), publisher=publisher)
    with store.begin() as conn:  # the event log stays; storing deliveries fails for real ("no such table")
        conn.exec_driver_sql("DROP TABLE deliveries")
    with pytest.raises(sa.exc.OperationalError):
        writer.submit_sync(row("g1"), timeout=30)
    first = stream_of(publisher, validators)
    assert trail(first) == [("g1", "queued"), ("g1", "not_stored")]
    assert first[0]["id"] == queued_id("g1") != first[1]["id"], "the compensation has an id of its own"
    assert first[1]["event"] == "push" and first[1]["repository"] == "octo/widgets"

    # GitHub redelivers while storing still fails: "queued" is in the log already and the guid cannot be
    # looked up, so nothing new is claimed (and nothing taken back)
    with pytest.raises(sa.exc.OperationalError):
        writer.submit_sync(row("g1"), timeout=30)
    assert stream_of(publisher, validators) == first

    store.create_all()  # storing works again
    assert writer.submit_sync(row("g1"), timeout=30) is True
    again = stream_of(publisher, validators)
    assert trail(again) == [("g1", "queued"), ("g1", "not_stored"), ("g1", "queued")]
    assert again[2]["id"] not in (first[0]["id"], first[1]["id"]), "the redelivery's own received event"
    assert store.deliveries.get("g1") is not None

    # once stored, a redelivery is a duplicate as before (its stable "queued" id is left out by the log)
    assert writer.submit_sync(row("g1"), timeout=30) is False
    writer.stop()
    assert trail(stream_of(publisher, validators)) == [("g1", "queued"), ("g1", "not_stored"), ("g1", "queued"),
                                                       ("g1", "duplicate")]


class RefusingDeliveries(DeliveryRepo):
    """The real repository, except that inserting fails while ``refusing`` (like a full disk would)."""

    refusing = False

    def insert_new(self, rows, now):  # noqa: ANN001, ANN201
        if self.refusing:
            raise sa.exc.OperationalError("INSERT INTO deliveries", {}, Exception("database or disk is full"))
        return super().insert_new(rows, now)


def test_only_the_deliveries_announced_by_the_failed_batch_are_taken_back(store: Store, tmp_path: Path,
                                                                         validators) -> None:
    """A batch of a new delivery, a redelivery of a stored one (its "queued" is left out) and two copies of
    another new one fails: "not_stored" goes out once for each of the two new guids, none for the stored
    one (its earlier "queued" stays true)."""
    deliveries = RefusingDeliveries(store)
    store._deliveries = deliveries
    publisher = Publisher(store)
    writer = GroupCommitWriter(store, JobQueue.from_url(f"sqlite:///{tmp_path}/q.db"), publisher=publisher)
    assert writer.submit_sync(row("old"), timeout=30) is True
    writer.stop()
    deliveries.refusing = True
    batch = [(row(g), concurrent.futures.Future(), None) for g in ("new", "old", "twice", "twice")]
    writer._write(batch)  # one batch, as the writer thread takes it from its inbox
    for _, fut, _ in batch:
        with pytest.raises(sa.exc.OperationalError):
            fut.result(0)
    assert trail(stream_of(publisher, validators)) == [("old", "queued"), ("new", "queued"), ("twice", "queued"),
                                                       ("new", "not_stored"), ("twice", "not_stored")]
    deliveries.refusing = False
    batch = [(row(g), concurrent.futures.Future(), None) for g in ("twice", "old")]
    writer._write(batch)
    assert [fut.result(0) for _, fut, _ in batch] == [True, False]
    assert trail(stream_of(publisher, validators))[5:] == [("twice", "queued"), ("old", "duplicate")]


_rows = st.lists(st.fixed_dictionaries({
    "guid": st.from_regex(r"[A-Za-z0-9_.:\-]{1,100}", fullmatch=True),
    "event": st.from_regex(r"[a-z_]{1,30}", fullmatch=True),
    "action": st.none() | st.text(max_size=20),
    "repo": st.none() | st.sampled_from(["octo/widgets", "bad name"]),
    "installation_id": st.none() | st.integers(0, 2**63 - 1)}), max_size=4)


@given(rows=_rows)
def test_not_stored_and_fresh_queued_messages_are_valid_and_never_reuse_the_stable_id(rows, validators) -> None:
    for message in not_stored_messages(rows, 1_700_000_000.5) + received_messages(
            rows, [True] * len(rows), 1.0, fresh_ids=True):
        validators["delivery.received"].validate(message)
        DeliveryReceived.model_validate(message)
        assert message["id"] != queued_id(message["delivery"])
    assert [m["status"] for m in not_stored_messages(rows, 1.0)] == ["not_stored"] * len(rows)
    assert [m["id"] for m in received_messages(rows, [True] * len(rows), 1.0)] == [queued_id(r["guid"]) for r in rows]
