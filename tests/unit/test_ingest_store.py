"""The delivery store and lease locks on real SQLite and real PostgreSQL (skipped when absent):
dedupe, atomic claims, leases, retries, recovery selection, lock exclusivity and expiry."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from trunkline.store import DONE, FAILED, QUEUED, RUNNING, Store, new_row

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_schema_store() -> tuple[Store, str] | None:
    try:
        admin = sa.create_engine(PG_URL)
        schema = f"tl_test_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432/test: {type(exc).__name__}: {exc}")
    return Store(f"{PG_URL}?options=-csearch_path%3D{schema}"), schema


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def store(request, tmp_path_factory):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path_factory.mktemp('store')}/t.db")
        s.create_all()
        yield s
        s.dispose()
        return
    s, schema = _pg_schema_store()
    s.create_all()
    yield s
    s.dispose()
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def row(guid: str, event: str = "push", body: bytes = b"{}") -> dict:
    return new_row(guid, event, body=body, headers={"x-github-delivery": guid}, received_at=time.time(),
                   action="opened", installation_id=9, repo="o/r")


def uid() -> str:
    return str(uuid.uuid4())


def test_create_all_creates_every_table_group(store: Store) -> None:
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"deliveries", "locks"} <= names


def test_insert_new_dedupes_within_and_across_batches(store: Store) -> None:
    a, b, c = uid(), uid(), uid()
    now = time.time()
    assert store.deliveries.insert_new([row(a), row(b), row(a)], now) == {a, b}
    assert store.deliveries.insert_new([row(a), row(c)], now) == {c}
    rec = store.deliveries.get(a)
    assert rec is not None and rec.status == QUEUED and rec.headers == {"x-github-delivery": a}
    assert (rec.action, rec.installation_id, rec.repo, rec.body) == ("opened", 9, "o/r", b"{}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(0, 30), max_size=12), max_size=6))
def test_insert_new_returns_exactly_the_first_sightings(store: Store, batches) -> None:
    prefix = uid()
    seen: set[int] = set()
    for batch in batches:
        got = store.deliveries.insert_new([row(f"{prefix}-{i}") for i in batch], time.time())
        assert got == {f"{prefix}-{i}" for i in set(batch) - seen}
        seen |= set(batch)
    assert store.deliveries.known_guids([f"{prefix}-{i}" for i in range(31)]) == {f"{prefix}-{i}" for i in seen}


def test_concurrent_claims_have_one_winner(store: Store) -> None:
    guid = uid()
    store.deliveries.insert_new([row(guid)], time.time())
    barrier = threading.Barrier(8)

    def claim(i: int):
        barrier.wait()
        return store.deliveries.claim(guid, f"owner-{i}", 30, time.time())

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(8)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].status == RUNNING and winners[0].attempts == 1


def test_lease_expiry_allows_takeover_and_fences_the_old_owner(store: Store) -> None:
    guid = uid()
    t = time.time()
    store.deliveries.insert_new([row(guid)], t)
    assert store.deliveries.claim(guid, "a/1", 10, t) is not None
    assert store.deliveries.claim(guid, "b/1", 10, t + 5) is None  # lease still valid
    assert store.deliveries.heartbeat("a/", 10, t + 8) == 1  # now valid until t+18
    assert store.deliveries.claim(guid, "b/1", 10, t + 15) is None
    taken = store.deliveries.claim(guid, "b/1", 10, t + 19)
    assert taken is not None and taken.attempts == 2 and taken.lease_owner == "b/1"
    assert not store.deliveries.mark_done(guid, "a/1", t + 20)  # the dead owner cannot finish it
    assert store.deliveries.mark_done(guid, "b/1", t + 20)
    assert store.deliveries.get(guid).status == DONE
    assert store.deliveries.claim(guid, "c/1", 10, t + 100) is None  # done is final


def test_retry_waits_for_not_before_then_fails_for_good(store: Store) -> None:
    guid = uid()
    t = time.time()
    store.deliveries.insert_new([row(guid)], t)
    store.deliveries.claim(guid, "w/1", 10, t)
    assert store.deliveries.mark_retry(guid, "w/1", "boom", t + 5, t + 1)
    rec = store.deliveries.get(guid)
    assert (rec.status, rec.last_error, rec.not_before) == (QUEUED, "boom", t + 5)
    assert store.deliveries.claim(guid, "w/1", 10, t + 4) is None
    assert store.deliveries.claim(guid, "w/1", 10, t + 6).attempts == 2
    assert store.deliveries.mark_failed(guid, "w/1", "boom again", t + 7)
    rec = store.deliveries.get(guid)
    assert (rec.status, rec.last_error, rec.attempts) == (FAILED, "boom again", 2)


def test_release_does_not_count_the_attempt(store: Store) -> None:
    guid = uid()
    t = time.time()
    store.deliveries.insert_new([row(guid)], t)
    store.deliveries.claim(guid, "w/1", 10, t)
    assert store.deliveries.release(guid, "w/1", t, t)
    assert store.deliveries.get(guid).attempts == 0


def test_recoverable_selects_expired_and_stale(store: Store) -> None:
    t = time.time() + 10_000  # in the future of every other test's rows
    fresh, stale, running_ok, running_dead, done = (uid() for _ in range(5))
    store.deliveries.insert_new([row(fresh)], t)
    store.deliveries.insert_new([row(stale), row(running_ok), row(running_dead), row(done)], t - 100)
    store.deliveries.claim(running_ok, "w/1", 1000, t - 50)
    store.deliveries.claim(running_dead, "w/2", 10, t - 50)
    store.deliveries.claim(done, "w/3", 10, t - 50)
    store.deliveries.mark_done(done, "w/3", t - 40)
    mine = {fresh, stale, running_ok, running_dead, done}
    got = set(store.deliveries.recoverable(t, t - 30, limit=100_000)) & mine
    assert got == {stale, running_dead}
    assert set(store.deliveries.recoverable(t, t, limit=100_000)) & mine == {stale, running_dead}
    assert set(store.deliveries.recoverable(t, t + 1, limit=100_000)) & mine == {fresh, stale, running_dead}
    store.deliveries.touch_enqueued([stale], t)
    assert set(store.deliveries.recoverable(t, t - 30, limit=100_000)) & mine == {running_dead}


def test_locks_are_exclusive_reentrant_and_expire(store: Store) -> None:
    key = f"o/r@{uid()}"
    t = time.time()
    locks = store.locks
    assert locks.acquire(key, "p1/0", 10, t)
    assert locks.acquire(key, "p1/0", 10, t + 1)  # re-entrant for the same owner
    assert not locks.acquire(key, "p1/1", 10, t + 2)  # another thread of the same process
    assert not locks.release(key, "p2/0")
    assert locks.extend("p1/", 10, t + 9) >= 1  # heartbeat: valid until t+19
    assert not locks.acquire(key, "p2/0", 10, t + 15)
    assert locks.acquire(key, "p2/0", 10, t + 20)  # expired: taken over, no deadlock
    assert locks.holder(key)[0] == "p2/0"
    assert not locks.release(key, "p1/0")
    assert locks.release(key, "p2/0")
    assert locks.holder(key) is None


def test_concurrent_lock_acquire_has_one_winner(store: Store) -> None:
    key = f"o/r@{uid()}"
    barrier = threading.Barrier(8)

    def take(i: int) -> bool:
        barrier.wait()
        return store.locks.acquire(key, f"p/{i}", 30, time.time())

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(take, range(8))) == 1


def test_owner_prefix_is_matched_literally(store: Store) -> None:
    t = time.time()
    u = uuid.uuid4().hex
    assert store.locks.acquire(f"k-{u}", f"x_{u}/0", 10, t)
    # unescaped, LIKE 'x%<u>%' would match; the prefix must be taken literally
    assert store.locks.extend(f"x%{u}", 100, t) == 0
    assert store.locks.holder(f"k-{u}")[1] == pytest.approx(t + 10)
    assert store.locks.extend(f"x_{u}", 100, t) == 1


# ------------------------------------------------------------------------------ state machine
class DeliveryMachine(RuleBasedStateMachine):
    """Random interleavings of claims, heartbeats, completions and clock steps by 3 owners against a
    plain model of the rules in trunkline.store.deliveries."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MACHINE_STORE
        self.guid = uid()
        self.now = 1_000_000.0
        self.store.deliveries.insert_new([row(self.guid)], self.now)
        self.model = {"status": QUEUED, "owner": None, "expires": None, "attempts": 0, "not_before": 0.0}

    def _claimable(self) -> bool:
        m = self.model
        return ((m["status"] == QUEUED and m["not_before"] <= self.now)
                or (m["status"] == RUNNING and m["expires"] < self.now))

    @rule(dt=st.sampled_from([0.0, 1.0, 5.0, 11.0]))
    def tick(self, dt: float) -> None:
        self.now += dt

    @rule(owner=st.sampled_from(["a/0", "b/0", "c/0"]))
    def claim(self, owner: str) -> None:
        expected = self._claimable()
        got = self.store.deliveries.claim(self.guid, owner, 10, self.now)
        assert (got is not None) == expected
        if expected:
            self.model.update(status=RUNNING, owner=owner, expires=self.now + 10,
                              attempts=self.model["attempts"] + 1)

    @rule(owner=st.sampled_from(["a/", "b/", "c/"]))
    def heartbeat(self, owner: str) -> None:
        self.store.deliveries.heartbeat(owner, 10, self.now)
        if self.model["status"] == RUNNING and self.model["owner"].startswith(owner):
            self.model["expires"] = self.now + 10

    @rule(owner=st.sampled_from(["a/0", "b/0", "c/0"]), outcome=st.sampled_from(["done", "retry", "failed"]))
    def finish(self, owner: str, outcome: str) -> None:
        ok = {"done": lambda: self.store.deliveries.mark_done(self.guid, owner, self.now),
              "retry": lambda: self.store.deliveries.mark_retry(self.guid, owner, "e", self.now + 3, self.now),
              "failed": lambda: self.store.deliveries.mark_failed(self.guid, owner, "e", self.now)}[outcome]()
        expected = self.model["status"] == RUNNING and self.model["owner"] == owner
        assert ok == expected
        if expected:
            status = {"done": DONE, "retry": QUEUED, "failed": FAILED}[outcome]
            self.model.update(status=status, owner=None, expires=None)
            if outcome == "retry":
                self.model["not_before"] = self.now + 3

    @invariant()
    def matches_model(self) -> None:
        rec = self.store.deliveries.get(self.guid)
        assert (rec.status, rec.lease_owner, rec.attempts) == (
            self.model["status"], self.model["owner"], self.model["attempts"])


MACHINE_STORE: Store


def test_delivery_state_machine(tmp_path) -> None:
    global MACHINE_STORE
    MACHINE_STORE = Store(f"sqlite:///{tmp_path}/sm.db")
    MACHINE_STORE.create_all()
    DeliveryMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
    DeliveryMachine.TestCase().runTest()
    MACHINE_STORE.dispose()
