"""Merge queue: the pure ordering rules (properties) and the ``merge_queue`` table (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.merge.queue import QueueEntry, candidates, holder, may_act, ordered, position
from trunkline.store.base import Store
from trunkline.store.merge_queue import MergeQueueRepo

entries_strategy = st.lists(
    st.builds(QueueEntry, number=st.integers(1, 60), priority=st.booleans(), enqueued_at=st.floats(0, 100),
              state=st.sampled_from(["queued", "queued", "updating", "merged", "cancelled"])),
    max_size=12, unique_by=lambda e: e.number)


@settings(max_examples=200)
@given(entries_strategy)
def test_queue_order_priority_then_age_and_only_active(entries: list[QueueEntry]) -> None:
    order = ordered(entries)
    assert {e.number for e in order} == {e.number for e in entries if e.state in ("queued", "updating")}
    keys = [(not e.priority, e.enqueued_at, e.number) for e in order]
    assert keys == sorted(keys)
    if any(e.priority for e in order):
        assert order[0].priority, "a priority pull request is never behind a normal one"


@settings(max_examples=200)
@given(entries_strategy, st.integers(1, 60))
def test_one_slot_only_its_holder_may_act(entries: list[QueueEntry], number: int) -> None:
    held = holder(entries)
    allowed, blocker = may_act(entries, number)
    if held is None:
        assert allowed and blocker is None
    else:
        assert allowed == (number == held.number)
        assert blocker == (None if allowed else held.number)
        assert position(entries, held.number) == 1
        assert candidates(entries) == [held.number]
        assert candidates(entries, exclude={held.number}) == []


@settings(max_examples=100)
@given(entries_strategy)
def test_candidates_without_slot_are_the_queue_in_order(entries: list[QueueEntry]) -> None:
    entries = [QueueEntry(e.number, e.priority, e.enqueued_at, "queued" if e.state == "updating" else e.state)
               for e in entries]
    assert candidates(entries) == [e.number for e in ordered(entries)]
    for index, entry in enumerate(ordered(entries), start=1):
        assert position(entries, entry.number) == index


# ---- the table ------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'q.db'}")
    else:
        s = Store(request.getfixturevalue("pg_schema_url"))
    s.create_all()
    repo = MergeQueueRepo(s)
    with s.begin() as conn:
        conn.execute(repo.table.delete().where(repo.table.c.repo.like("test-%")))
    yield s
    with s.begin() as conn:
        conn.execute(repo.table.delete().where(repo.table.c.repo.like("test-%")))
    s.dispose()


def test_request_keeps_its_place_and_refreshes_priority(store: Store) -> None:
    q = MergeQueueRepo(store)
    first = q.request("test-acme/W", 1, base="main", source="label", requested_by="dev", priority=False, now=10.0,
                      head_sha="aaa")
    assert first.repo == "test-acme/w" and first.state == "queued"
    again = q.request("test-acme/w", 1, base="main", source="label", requested_by="dev", priority=True, now=20.0,
                      head_sha="bbb")
    assert again.enqueued_at == 10.0 and again.priority and again.head_sha == "bbb"
    moved = q.request("test-acme/w", 1, base="release", source="label", requested_by="dev", priority=True, now=30.0)
    assert moved.base == "release" and moved.enqueued_at == 30.0, "a new base is a new line"
    assert q.bases("test-acme/w") == {"release"}


def test_cancel_sticks_for_rules_but_not_for_explicit_requests(store: Store) -> None:
    q = MergeQueueRepo(store)
    q.request("test-r/x", 2, base="main", source="rule", requested_by=None, priority=False, now=1.0)
    assert q.set_state("test-r/x", 2, "cancelled", 2.0)
    by_rule = q.request("test-r/x", 2, base="main", source="rule", requested_by=None, priority=False, now=3.0,
                        revive=False)
    assert by_rule.state == "cancelled"
    by_label = q.request("test-r/x", 2, base="main", source="label", requested_by="dev", priority=False, now=4.0)
    assert by_label.state == "queued" and by_label.enqueued_at == 4.0 and by_label.source == "label"


def test_state_changes_lookups_and_compare_and_set(store: Store) -> None:
    q = MergeQueueRepo(store)
    q.request("test-s/y", 3, base="main", source="command", requested_by="dev", priority=False, now=1.0,
              head_sha="old")
    assert q.set_state("test-s/y", 3, "updating", 2.0, expect="queued", updated_from="old")
    assert not q.set_state("test-s/y", 3, "merged", 3.0, expect="queued")
    assert [r.number for r in q.by_head("test-s/y", "old")] == [3]
    assert q.update("test-s/y", 3, 4.0, head_sha="new")
    assert [r.number for r in q.by_head("test-s/y", "new")] == [3]
    assert [r.number for r in q.by_head("test-s/y", "old")] == [3], "found by its pre-update head too"
    assert q.set_state("test-s/y", 3, "merged", 5.0)
    assert q.active("test-s/y") == [] and q.by_head("test-s/y", "new") == []
    with pytest.raises(ValueError):
        q.update("test-s/y", 3, 6.0, nope=1)
    assert q.remove("test-s/y", 3) and q.get("test-s/y", 3) is None


def test_concurrent_requests_make_one_row(store: Store) -> None:
    q = MergeQueueRepo(store)
    errors: list[BaseException] = []

    def request(i: int) -> None:
        try:
            q.request("test-c/z", 9, base="main", source="label", requested_by=f"u{i}", priority=i % 2 == 0,
                      now=float(i), head_sha=f"s{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = q.active("test-c/z")
    assert len(rows) == 1 and rows[0].state == "queued"
