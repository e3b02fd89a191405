"""Missed deliveries: the pure choice of what to redeliver, and the poller over an adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from trunkline.jobs.missed import MAX_REQUESTS_PER_GUID, MissedDeliveryPoller, find_redeliveries, is_failed

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def item(id: int, guid: str, code: int = 200, status: str | None = None, minutes: int = 0,
         redelivery: bool = False) -> dict:
    return {"id": id, "guid": guid, "status_code": code,
            "status": status if status is not None else ("OK" if 200 <= code < 400 else "Invalid HTTP Response: 503"),
            "delivered_at": (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "redelivery": redelivery, "event": "push", "action": None}


def test_failed_unknown_deliveries_are_redelivered_oldest_first() -> None:
    listed = [item(3, "c", 500, minutes=3), item(1, "a", 0, minutes=1), item(2, "b", 200, minutes=2),
              item(4, "d", 502, minutes=4)]
    assert find_redeliveries(listed, {"d"}, T0) == [1, 3]


def test_a_successful_redelivery_settles_the_guid() -> None:
    listed = [item(1, "a", 500), item(2, "a", 200, minutes=5, redelivery=True)]
    assert find_redeliveries(listed, set(), T0) == []


def test_several_failures_of_one_guid_give_one_request_for_the_latest() -> None:
    listed = [item(1, "a", 500), item(7, "a", 503, minutes=9, redelivery=True), item(5, "a", 0, minutes=4)]
    assert find_redeliveries(listed, set(), T0) == [7]


def test_status_not_ok_counts_as_failed_even_with_2xx() -> None:
    assert is_failed(item(1, "a", 202, status="timed out"))
    assert not is_failed(item(1, "a", 202, status="OK"))
    assert is_failed({"id": 1, "guid": "a"})  # no status code at all


def test_older_than_since_is_ignored() -> None:
    listed = [item(1, "a", 500, minutes=-10), item(2, "b", 500, minutes=10)]
    assert find_redeliveries(listed, set(), T0) == [2]
    assert find_redeliveries(listed, set(), T0.timestamp() - 3600) == [1, 2]
    assert find_redeliveries(listed, set(), None) == [1, 2]


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from([0, 200, 202, 400, 500]),
                          st.integers(-30, 30)), max_size=30),
       st.sets(st.sampled_from("abcdef")), st.randoms())
def test_properties(rows, known, rnd) -> None:
    ids = rnd.sample(range(1, 1000), len(rows))  # GitHub's delivery ids are unique, in no useful order
    listed = [item(i, g, c, minutes=m) for i, (g, c, m) in zip(ids, rows, strict=True)]
    ids = find_redeliveries(listed, known, T0)
    chosen = [next(x for x in listed if x["id"] == i) for i in ids]
    guids = [x["guid"] for x in chosen]
    assert len(guids) == len(set(guids))  # at most one request per guid
    for x in chosen:
        assert x["guid"] not in known and is_failed(x)
        assert all(is_failed(y) for y in listed if y["guid"] == x["guid"])
        assert datetime.fromisoformat(x["delivered_at"].replace("Z", "+00:00")) >= T0
    # every guid that qualifies is chosen
    for g in {x["guid"] for x in listed} - known:
        attempts = [x for x in listed if x["guid"] == g]
        latest = max(attempts, key=lambda x: (x["delivered_at"], x["id"]))
        qualifies = all(is_failed(x) for x in attempts) and latest["delivered_at"] >= T0.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (g in guids) == qualifies


class FakeGitHub:
    """The adapter interface (list_hook_deliveries / redeliver) over an in-memory delivery log."""

    def __init__(self, listed: list[dict], fail_ids: set[int] = frozenset()) -> None:
        self.listed = listed
        self.fail_ids = set(fail_ids)
        self.redelivered: list[int] = []

    def list_hook_deliveries(self) -> list[dict]:
        return list(self.listed)

    def redeliver(self, delivery_id: int) -> None:
        if delivery_id in self.fail_ids:
            raise RuntimeError("422 from GitHub")
        self.redelivered.append(delivery_id)


def test_poller_asks_for_unknown_failed_and_gives_up_after_a_few_tries() -> None:
    now = T0.timestamp() + 600
    gh = FakeGitHub([item(1, "a", 500), item(2, "b", 500), item(3, "c", 200)], fail_ids={2})
    stored = {"c"}
    poller = MissedDeliveryPoller(gh, lambda guids: stored & set(guids))
    assert poller.poll_once(now) == [1]
    for _ in range(MAX_REQUESTS_PER_GUID + 2):
        poller.poll_once(now)
    assert gh.redelivered.count(1) == MAX_REQUESTS_PER_GUID
    stored.add("a")
    before = len(gh.redelivered)
    poller.poll_once(now)
    assert len(gh.redelivered) == before


def test_poller_skips_what_the_store_has() -> None:
    gh = FakeGitHub([item(1, "a", 500)])
    poller = MissedDeliveryPoller(gh, lambda guids: set(guids))
    assert poller.poll_once(T0.timestamp()) == []


class PagedGitHub(FakeGitHub):
    """Like AppClient: iter_hook_deliveries pages newest first."""

    def __init__(self, listed: list[dict]) -> None:
        super().__init__(listed)
        self.pulled = 0

    def list_hook_deliveries(self) -> list[dict]:
        raise AssertionError("the poller should page with iter_hook_deliveries")

    def iter_hook_deliveries(self, max_pages: int | None = None):
        for entry in sorted(self.listed, key=lambda d: d["delivered_at"], reverse=True):
            self.pulled += 1
            yield entry


def test_poller_pages_back_to_the_window_only() -> None:
    listed = [item(i, f"g{i}", 500, minutes=-i * 60) for i in range(1, 200)]  # one per hour, back 8 days
    gh = PagedGitHub(listed)
    poller = MissedDeliveryPoller(gh, lambda guids: set())
    ids = poller.poll_once(T0.timestamp())
    assert ids == list(range(72, 0, -1))  # 3 days of hourly failures, oldest first
    assert gh.pulled == 73  # stopped at the first delivery older than the window
