"""The merge queue's ordering rules: pure functions over the queue's entries.

One queue per repository and base branch. Entries are ordered by priority (the priority label
first), then by the time the merge was requested, then by number. The queue has one **slot**: the
pull request whose branch Trunkline updated and whose gates are now running on the new head
(state ``updating``). While a slot is held, no other pull request of that queue is updated or
merged — otherwise each merge would put the updated branch behind again and it would never be
tested against its final base. A pull request without the slot may merge at once when nothing holds
it (merges themselves are one at a time: see ``service``), and a pull request that fails gives the
slot up, so it never stalls the rest. One whose gates never finish gives it up too, after the slot
timeout (:func:`slot_timed_out`, ``merge.slot_timeout_minutes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ACTIVE_STATES = frozenset({"queued", "updating"})


@dataclass(frozen=True)
class QueueEntry:
    number: int
    priority: bool
    enqueued_at: float
    state: str  # queued | updating | merged | cancelled | timed_out
    head_sha: str | None = None
    slot_since: float | None = None  # when it took the slot (state updating)


def ordered(entries: Iterable[QueueEntry]) -> list[QueueEntry]:
    """Active entries in queue order: priority first, then oldest request, then lowest number."""
    active = [e for e in entries if e.state in ACTIVE_STATES]
    return sorted(active, key=lambda e: (not e.priority, e.enqueued_at, e.number))


def holder(entries: Iterable[QueueEntry]) -> QueueEntry | None:
    """The entry holding the slot (an updated branch waiting for its gates), if any."""
    for entry in ordered(entries):
        if entry.state == "updating":
            return entry
    return None


def may_act(entries: Iterable[QueueEntry], number: int) -> tuple[bool, int | None]:
    """Whether ``number`` may update or merge now; else the number of the pull request holding the slot."""
    held = holder(entries)
    if held is None or held.number == number:
        return True, None
    return False, held.number


def slot_timed_out(entry: QueueEntry, now: float, timeout: float) -> bool:
    """Whether ``entry`` holds the slot and has for ``timeout`` seconds or more at ``now`` (timeout
    <= 0: never; a holder whose start is unknown is not timed out)."""
    return (entry.state == "updating" and timeout > 0 and entry.slot_since is not None
            and now - entry.slot_since >= timeout)


def position(entries: Iterable[QueueEntry], number: int) -> int | None:
    """1-based place of ``number`` in the queue (the slot holder counts as first), or None."""
    order = ordered(entries)
    held = holder(order)
    if held is not None:
        order = [held] + [e for e in order if e.number != held.number]
    for index, entry in enumerate(order, start=1):
        if entry.number == number:
            return index
    return None


def candidates(entries: Iterable[QueueEntry], exclude: Iterable[int] = ()) -> list[int]:
    """Numbers to evaluate when the queue moves: the slot holder alone if there is one, else every
    active entry in order (the caller stops at the first one that takes the slot)."""
    skip = set(exclude)
    held = holder(entries)
    if held is not None:
        return [] if held.number in skip else [held.number]
    return [e.number for e in ordered(entries) if e.number not in skip]
