"""The slot timeout's pure parts: when a slot holder has timed out, what its check says, the config
key, and who queues a timed-out pull request again. (Against the sandbox: tests/e2e/test_merge_slot_timeout.py.)"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trunkline.config import parse_config
from trunkline.merge.model import Condition, Decision, Policy, Snapshot
from trunkline.merge.queue import QueueEntry, may_act, slot_timed_out
from trunkline.merge.report import CONCLUSIONS, minutes, slot_timeout_condition, timed_out_standing
from trunkline.merge.service import requested_source
from trunkline.store.merge_queue import QueueRow

times = st.floats(min_value=0, max_value=1e10, allow_nan=False)
states = st.sampled_from(["queued", "updating", "merged", "cancelled", "timed_out"])


@given(states, st.one_of(st.none(), times), times, st.floats(min_value=-10, max_value=1e6, allow_nan=False))
def test_only_a_holder_past_a_positive_timeout_times_out(state, since, now, timeout) -> None:
    entry = QueueEntry(1, False, 0.0, state, slot_since=since)
    expected = state == "updating" and timeout > 0 and since is not None and now - since >= timeout
    assert slot_timed_out(entry, now, timeout) is expected


@given(st.integers(0, 10**10), st.integers(1, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_timing_out_is_monotonic_in_time(since, timeout, a, b) -> None:
    # whole seconds (the config is minutes): the boundary is exact
    entry = QueueEntry(1, False, 0.0, "updating", slot_since=float(since))
    early, late = since + min(a, b), since + max(a, b)
    assert not slot_timed_out(entry, early, timeout) or slot_timed_out(entry, late, timeout)
    assert slot_timed_out(entry, since + timeout, timeout) and not slot_timed_out(entry, since + timeout - 1, timeout)


def test_a_timed_out_row_is_not_in_the_queue() -> None:
    entries = [QueueEntry(1, False, 1.0, "timed_out", slot_since=0.0), QueueEntry(2, False, 2.0, "queued")]
    assert may_act(entries, 2) == (True, None)


def test_the_check_says_why_and_what_it_waited_for() -> None:
    waiting = Condition("check `ci`", False, "not reported yet on abc1234", "wait")
    decision = Decision("wait", "a" * 40, (waiting,), (waiting,))
    row = slot_timeout_condition(decision, 61 * 60 + 5, 3600)
    assert row.effect == "block" and not row.met
    assert row.detail == ("held the merge queue for 61 min (limit 60 min, `merge.slot_timeout_minutes`) "
                          "waiting for check `ci` not reported yet on abc1234")
    standing = timed_out_standing(3600)
    assert CONCLUSIONS[standing.kind] == "failure"
    assert standing.title == "Left the merge queue: required checks did not finish within 60 min"
    assert minutes(3 * 3600 + 7 * 60) == "3 h 7 min"


def test_config_key_default_bounds_and_hint() -> None:
    assert parse_config("version: 1\n").config.merge.slot_timeout_minutes == 60
    assert Policy().slot_timeout == 3600.0
    config = parse_config("version: 1\nmerge:\n  slot_timeout_minutes: 0\n").config
    assert Policy.from_config(config.merge).slot_timeout == 0.0
    bad = parse_config("version: 1\nmerge:\n  slot_timeout_minutes: -5\n", ".github/trunkline.yml")
    assert bad.config is None and any("slot_timeout_minutes" in str(i) for i in bad.issues)
    hinted = parse_config("version: 1\nmerge:\n  slot_timeout: 30\n", ".github/trunkline.yml")
    assert any("did you mean 'slot_timeout_minutes'" in str(i) for i in hinted.issues)


def _snap(head: str, labels: tuple[str, ...] = ()) -> Snapshot:
    return Snapshot(number=1, state="open", merged=False, draft=False, head_sha=head, head_ref="b", base_ref="main",
                    base_sha=None, author="dev", labels=labels)


def _row(state: str, source: str, head: str) -> QueueRow:
    return QueueRow("o/r", 1, "main", state, source, "dev", False, 0.0, 0.0, head_sha=head)


@given(st.sampled_from(["command", "rule", "label"]), st.booleans())
def test_a_timed_out_pull_request_is_requested_again_by_a_new_head(source, new_head) -> None:
    row = _row("timed_out", source, "a" * 40)
    snap = _snap("b" * 40 if new_head else "a" * 40)
    got = requested_source(snap, row, Policy(), ())
    assert got == (source if new_head else None)
    assert requested_source(_snap("a" * 40, ("auto-merge",)), row, Policy(), ()) == "label"
