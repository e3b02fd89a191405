"""Auto-merge service: the API other parts of Trunkline call, and the engine behind it.

Public API (``ctx_or_client`` is a handler ``Context`` or an ``InstallationClient``; ``store`` a
``trunkline.store.Store`` or None for the process's default store; ``config`` an optional
``TrunklineConfig`` — when None the repository's default-branch config is loaded, cached)::

    request_merge(ctx_or_client, store, owner, repo, number, requested_by, priority=False, *, config=None)
        -> MergeResult      # /merge: queue it (same as the label) and evaluate at once
    cancel_merge(ctx_or_client, store, owner, repo, number, cancelled_by, *, config=None)
        -> MergeResult      # /merge cancel: leave the queue, remove the trigger label, say so
    evaluate_pr(ctx_or_client, store, owner, repo, number, *, config=None, reason="")
        -> MergeResult      # re-evaluate now (e.g. after /hold or /unhold changed a label)
    after_own_check(ctx, head_sha) -> list[MergeResult]
        # call after publishing one of Trunkline's own check runs: GitHub's check_run events for
        # our own runs are dropped by the loop guard, so the merge decision is triggered from here

``MergeResult.outcome`` is one of ``merged``, ``updating``, ``waiting``, ``blocked``, ``cancelled``,
``not-queued``, ``closed``; ``message`` is one Markdown sentence for a reply; ``decision`` the
:class:`~trunkline.merge.model.Decision` when one was taken. ``/hold`` and ``/unhold`` only add or
remove a hold label (``merge.hold_labels``); the ``pull_request.labeled``/``unlabeled`` events —
or a direct :func:`evaluate_pr` — re-evaluate.

How one evaluation runs (:meth:`MergeEngine.evaluate`):

1. take the pull request — a webhook's copy is enough to show a wait or a block, anything that acts
   (merge, update) is decided again on a fresh ``GET`` — and the queue lock of its repository + base
   branch (a lease in the store: merges of one queue never overlap, whichever worker runs them);
2. work out whether the merge is requested (label, ``/merge``, a ``merge.rules`` entry) and keep the
   queue row in step; nothing else is fetched for a pull request that is not requested;
3. fetch the gates on the head SHA (check runs, statuses), protection (cached), reviews and
   compare only when needed, and :func:`~trunkline.merge.decide.decide`;
4. act when the queue allows it (:func:`~trunkline.merge.queue.may_act`): ``merge`` with the
   ``sha`` guard, ``update`` with ``expected_head_sha``; publish ``trunkline/merge``;
5. when the queue moved (a merge, or the slot holder failed), evaluate the next pull requests of
   that queue against the moved base (:meth:`MergeEngine.run_queue`).

Slot timeout: a slot holder still waiting for its gates ``merge.slot_timeout_minutes`` after it took
the slot (:func:`~trunkline.merge.queue.slot_timed_out`, a function of the queue row and the clock)
leaves the queue (state ``timed_out``) with the reason on its ``trunkline/merge`` check and one
comment, and the queue moves on. This is looked at whenever the holder is evaluated, whenever a pull
request waiting behind it is, and by the sweep of ``trunkline.merge.timeouts`` in every bot process
(so a quiet repository is not stuck either). It stays out until its head changes or the merge is
asked for again (``/merge``, the label added).

Merge failures: 409 (head or base moved) → evaluate again from a fresh fetch; 405/422 → drop the
cached protection and evaluate once more, and if GitHub still refuses, block with GitHub's reason
(check run + one comment per head SHA); a 5xx or no answer → look whether the pull request got
merged before anything else, and only then try again (at most :data:`MERGE_ATTEMPTS` times, then
raise so the delivery is retried later). Nothing here ever merges a SHA other than the one whose
gates were just seen passing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from trunkline.checks.publish import CheckRunSpec
from trunkline.stream.announce import announce_check_run, announce_merge

from . import cache
from .decide import decide
from .execute import delete_head_branch, post_comment, put_merge, put_update_branch, remove_label
from .fetch import fetch_pull, fetch_snapshot, pull_facts
from .model import MERGE_CHECK_NAME, Condition, Decision, Policy, Snapshot
from .queue import QueueEntry, candidates, may_act, position, slot_timed_out
from .report import Standing, merge_check_spec, slot_timeout_condition, standing_for, timed_out_standing

log = logging.getLogger(__name__)

MERGE_ATTEMPTS = 3  # PUT merge attempts when GitHub answers 5xx / nothing (each after checking merged)
RETRY_BACKOFF = 0.5
MAX_REEVALUATIONS = 3  # 409/405 re-evaluations within one evaluation
QUEUE_BUDGET = 5  # pull requests evaluated when a queue moves, per event
LOCK_TTL = 300.0
LOCK_WAIT = 120.0
UPDATE_IN_FLIGHT = 120.0  # seconds an update-branch is assumed to be in progress (GitHub: asynchronous)


class MergeError(RuntimeError):
    """The merge could not be completed now; the delivery should be retried later."""


@dataclass(frozen=True)
class MergeResult:
    number: int
    outcome: str  # merged | updating | waiting | blocked | cancelled | not-queued | closed
    message: str
    decision: Decision | None = None
    merge_sha: str | None = None
    queue_moved: bool = False  # the queue's slot was freed or its base moved: evaluate the next one


# ---- process-wide defaults ------------------------------------------------------------------------

def default_store() -> Any:
    """The process's store (the same database the webhook receiver writes): ``trunkline.store.base.process_store``."""
    from trunkline.store.base import process_store

    return process_store()


def set_default_store(store: Any) -> None:
    from trunkline.store.base import set_process_store

    set_process_store(store)


def store_of(ctx_or_client: Any, store: Any = None) -> Any:
    """``store`` if given, else the handler ``Context``'s store, else the process's."""
    if store is not None:
        return store
    found = getattr(ctx_or_client, "store", None) if hasattr(ctx_or_client, "delivery_id") else None
    return found if found is not None else default_store()


def client_of(ctx_or_client: Any) -> Any:
    """The installation client of a handler ``Context`` (or the client itself)."""
    if hasattr(ctx_or_client, "payload") and hasattr(ctx_or_client, "delivery_id"):
        return ctx_or_client.github
    return ctx_or_client


def rule_matches(rules: Any, author: str, head_ref: str) -> bool:
    """Whether a ``merge.rules`` entry asks for this pull request (pure)."""
    for rule in rules or ():
        authors = [a.lower() for a in (getattr(rule, "authors", None) or [])]
        prefix = getattr(rule, "head_prefix", None)
        if not authors and not prefix:
            continue  # never match everything (the config model refuses such rules too)
        if authors and author.lower() not in authors:
            continue
        if prefix and not head_ref.startswith(prefix):
            continue
        return True
    return False


def requested_source(snapshot: Snapshot, row: Any, policy: Policy, rules: Any) -> str | None:
    """Why the merge of this pull request is requested now, or None (pure over the PR and its queue row).

    The label always counts (``/merge cancel`` removes it); ``/merge`` counts while its row is active;
    a rule counts unless the pull request's merge was cancelled. A row that timed out in the queue
    counts again, for its reason, once the head changed."""
    active = row is not None and row.state in ("queued", "updating")
    if policy.label in snapshot.labels:
        return "label"
    if row is not None and row.state == "timed_out" and row.head_sha != snapshot.head_sha:
        return row.source
    if active and row.source == "command":
        return "command"
    if rule_matches(rules, snapshot.author, snapshot.head_ref) and not (row is not None and row.state == "cancelled"):
        return "rule"
    return None


# ---- the engine -----------------------------------------------------------------------------------

class MergeEngine:
    """Evaluates and merges pull requests of one repository (one instance per delivery/call)."""

    def __init__(self, client: Any, store: Any, owner: str, repo: str, *, config: Any = None,
                 default_sha: str | None = None, log_: logging.Logger | logging.LoggerAdapter | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        from trunkline.store.merge_queue import MergeQueueRepo, repo_key

        self.client = client
        self.store = store
        self.owner, self.repo = owner, repo
        self.key = repo_key(owner, repo)
        self.queue = MergeQueueRepo(store)
        self.log = log_ or log
        self.clock, self.sleep = clock, sleep
        self._config = config
        self._default_sha = default_sha  # the default branch's head SHA, when the event stated it
        self._resolved: Any = None
        self._lock_owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"
        self._held: set[str] = set()

    # -- configuration ------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._resolved is None:
            if self._config is not None:
                self._resolved = (self._config, None)
            else:
                resolved, _ = cache.resolved_config(self.client, self.owner, self.repo, self._default_sha)
                self._resolved = (resolved.config if resolved.ok else None, resolved)

    @property
    def config(self) -> Any:
        """The ``TrunklineConfig``, or None when the default branch's configuration is broken."""
        self._load()
        return self._resolved[0]

    @property
    def policy(self) -> Policy:
        config = self.config
        return Policy.from_config(config.merge) if config is not None else Policy()

    @property
    def rules(self) -> Any:
        config = self.config
        return getattr(config.merge, "rules", ()) if config is not None else ()

    # -- the queue lock ----------------------------------------------------------------------------
    @contextmanager
    def locked(self, base: str) -> Iterator[bool]:
        """Hold the queue lock of ``base``; yields whether we had to wait for it (then re-fetch)."""
        name = f"merge-queue:{self.key}@{base}"
        if name in self._held:  # re-entrant within one engine
            yield False
            return
        waited = False
        deadline = time.monotonic() + LOCK_WAIT
        while not self.store.locks.acquire(name, self._lock_owner, LOCK_TTL, time.time()):
            waited = True
            if time.monotonic() > deadline:
                raise MergeError(f"merge queue {self.key}@{base} stayed locked for {LOCK_WAIT:.0f}s")
            time.sleep(0.02)
        self._held.add(name)
        try:
            yield waited
        finally:
            self._held.discard(name)
            self.store.locks.release(name, self._lock_owner)

    def _entries(self, base: str) -> list[QueueEntry]:
        return [QueueEntry(r.number, r.priority, r.enqueued_at, r.state, r.head_sha, r.slot_since)
                for r in self.queue.active(self.key, base)]

    # -- evaluation --------------------------------------------------------------------------------
    def evaluate(self, number: int, *, explicit: str | None = None, requested_by: str | None = None,
                 pr: dict[str, Any] | None = None, fresh: bool = True, follow_queue: bool = True) -> MergeResult:
        """Evaluate pull request ``number`` now and act on the decision (see the module docstring).

        ``explicit`` = "label"/"command" when a person just asked for the merge (re-queues a cancelled
        or merged row). ``pr`` = pull request JSON the caller has: fetched a moment ago (``fresh``), or
        a webhook's copy (``fresh=False``) — good enough to show a wait or a block, but before acting
        on it the pull request is fetched again and the decision taken again on that."""
        if pr is None:
            pr, fresh = fetch_pull(self.client, self.owner, self.repo, number), True
        base = str((pr.get("base") or {}).get("ref"))
        with self.locked(base) as waited:
            if waited:  # someone else worked on this queue meanwhile: our copy may be stale
                pr, fresh = fetch_pull(self.client, self.owner, self.repo, number), True
            result = self._evaluate_locked(number, pr, explicit=explicit, requested_by=requested_by, fresh=fresh)
            self._announce(result)
            if follow_queue and result.queue_moved:
                self.run_queue(base, exclude={number})
        return result

    def run_queue(self, base: str, exclude: set[int] | None = None, budget: int = QUEUE_BUDGET) -> list[MergeResult]:
        """The queue of ``base`` moved: evaluate its head (the slot holder, else entries in order) until
        one takes the slot or ``budget`` pull requests were looked at."""
        done: set[int] = set(exclude or ())
        results: list[MergeResult] = []
        with self.locked(base):
            while budget > 0:
                todo = candidates(self._entries(base), exclude=done)
                if not todo:
                    break
                number = todo[0]
                done.add(number)
                budget -= 1
                result = self._evaluate_locked(number, fetch_pull(self.client, self.owner, self.repo, number))
                self._announce(result)
                results.append(result)
                if result.outcome == "updating" or (result.outcome == "waiting" and self._holds_slot(base, number)):
                    break  # the slot is taken: the rest waits for it
        return results

    def _announce(self, result: MergeResult) -> None:
        """``merge.decided`` on the pipeline event stream (trunkline.stream)."""
        method = self.policy.method if self.config is not None else None
        announce_merge(f"{self.owner}/{self.repo}", result, method=method)

    def _holds_slot(self, base: str, number: int) -> bool:
        return any(e.number == number and e.state == "updating" for e in self._entries(base))

    @staticmethod
    def _entry(row: Any) -> QueueEntry:
        return QueueEntry(row.number, row.priority, row.enqueued_at, row.state, row.head_sha, row.slot_since)

    def _expire_holder(self, base: str, holder: int, now: float) -> bool:
        """When ``holder`` has held the slot of ``base`` past the timeout, evaluate it now (it times
        out, or merges if its gates just finished); True when the slot was given up."""
        entry = next((e for e in self._entries(base) if e.number == holder), None)
        if entry is None or not slot_timed_out(entry, now, self.policy.slot_timeout):
            return False
        result = self._evaluate_locked(holder, fetch_pull(self.client, self.owner, self.repo, holder))
        self._announce(result)
        return not self._holds_slot(base, holder)

    def _time_out(self, snap: Snapshot, decision: Decision, runs: list[dict[str, Any]], row: Any,
                  now: float) -> MergeResult:
        """The slot holder waited for its gates too long: out of the queue, say why (check + one comment)."""
        from trunkline.store.merge_queue import TIMED_OUT, UPDATING

        number, timeout = snap.number, self.policy.slot_timeout
        reason = slot_timeout_condition(decision, now - row.slot_since, timeout)
        blocked = replace(decision, action="block", conditions=decision.conditions + (reason,), reasons=(reason,))
        if not self.queue.set_state(self.key, number, TIMED_OUT, now, expect=UPDATING, last_action="timeout",
                                    last_detail=reason.detail, head_sha=snap.head_sha):
            return MergeResult(number, "waiting", "The queue changed meanwhile.", decision)
        standing = timed_out_standing(timeout)
        self._publish(blocked, standing, runs)
        note_key = f"slot-timeout@{snap.head_sha}"
        if row.notified != note_key:
            post_comment(self.client, self.owner, self.repo, number,
                         f"Trunkline took this pull request out of the merge queue: {reason.detail}.\n\n"
                         f"{standing.note} The `{MERGE_CHECK_NAME}` check shows every condition.")
            self.queue.update(self.key, number, now, notified=note_key)
        self.log.info("#%d: left the merge queue after %.0fs holding its slot", number, now - row.slot_since)
        return MergeResult(number, "blocked", f"{standing.title}.", blocked, queue_moved=True)

    def _evaluate_locked(self, number: int, pr: dict[str, Any], *, explicit: str | None = None,
                         requested_by: str | None = None, depth: int = 0, fresh: bool = True) -> MergeResult:
        from trunkline.store.merge_queue import CANCELLED, MERGED, QUEUED, TIMED_OUT, UPDATING

        now = self.clock()
        row = self.queue.get(self.key, number)
        facts = pull_facts(pr, None)
        if facts.merged:
            if row is not None and row.active:
                self.queue.set_state(self.key, number, MERGED, now, last_action="merged elsewhere")
            return MergeResult(number, "closed", f"#{number} is already merged.",
                               queue_moved=bool(row and row.state == UPDATING))
        if facts.state != "open":
            if row is not None and row.active:
                self.queue.remove(self.key, number)
            return MergeResult(number, "closed", f"#{number} is closed.",
                               queue_moved=bool(row and row.state == UPDATING))

        from trunkline.agents.core import agent_policy

        # an agent's pull request may need a person's approval (agents.required_approvals)
        policy = agent_policy(self.policy, self.config, facts.head_ref)
        source = explicit or requested_source(facts, row, policy, self.rules)
        if source is None:
            if row is not None and row.active:  # the label went away, or the rule no longer matches
                self.queue.set_state(self.key, number, CANCELLED, now, last_action="not requested")
                self._publish_standalone(facts, Standing("cancelled", "Not queued: merge no longer requested",
                                                         f"Add the `{policy.label}` label or comment `/merge`."))
                return MergeResult(number, "cancelled", "The merge is no longer requested.",
                                   queue_moved=row.state == UPDATING)
            return MergeResult(number, "not-queued", "The merge of this pull request is not requested.")

        timed_out = row is not None and row.state == TIMED_OUT
        if timed_out and explicit is None and row.head_sha == facts.head_sha:
            return MergeResult(number, "blocked", f"#{number} left the merge queue: its required checks did not "
                               "finish in time. Push a commit or comment `/merge` to queue it again.")
        priority = policy.priority_label in facts.labels
        row = self.queue.request(self.key, number, base=facts.base_ref, source=source, requested_by=requested_by,
                                 priority=priority, now=now, head_sha=facts.head_sha,
                                 revive=explicit is not None or source == "label" or timed_out)
        if not row.active:  # a cancelled pull request that only a rule would queue
            return MergeResult(number, "not-queued", "The merge was cancelled; a rule does not re-queue it.")

        if self.config is None:
            decision = _broken_config_decision(facts)
            runs: list[dict[str, Any]] = []
            snap = facts
        else:
            snap, runs = fetch_snapshot(self.client, self.owner, self.repo, pr, policy, source, fresh=fresh)
            decision = decide(snap, policy)
            if not fresh and decision.action in ("merge", "update"):
                # About to act: never on a webhook's copy. Fetch the pull request again; its gates were
                # fetched just now and are kept only while the head is the same.
                pr = fetch_pull(self.client, self.owner, self.repo, number)
                again = pull_facts(pr, source)
                if again.head_sha != snap.head_sha or again.merged or again.state != "open":
                    return self._evaluate_locked(number, pr, explicit=explicit, requested_by=requested_by,
                                                 depth=depth)
                snap = replace(again, protection=snap.protection, check_runs=snap.check_runs,
                               statuses=snap.statuses, reviews=snap.reviews, behind_by=snap.behind_by)
                decision = decide(snap, policy)
            produced = self._produce_own_checks(snap, policy, pr)
            if produced:
                snap = replace(snap, check_runs=snap.check_runs + produced)
                decision = decide(snap, policy)

        if row.state == UPDATING and row.updated_from == snap.head_sha and decision.action == "update" \
                and now - row.updated_at < UPDATE_IN_FLIGHT:
            # GitHub updates branches asynchronously: the head we asked to update has not moved yet.
            standing = Standing("updating", "Updating the branch with its base",
                                "The update was requested; the gates run again on the new head.")
            self._publish(decision, standing, runs)
            return MergeResult(number, "updating", "The branch update is in progress.", decision)

        allowed, blocker = may_act(self._entries(snap.base_ref), number)
        if not allowed and blocker is not None and decision.action in ("merge", "update") \
                and depth < MAX_REEVALUATIONS and self._expire_holder(snap.base_ref, blocker, now):
            # the holder ran out of time (or finished meanwhile): decide again for the queue as it is now
            return self._evaluate_locked(number, fetch_pull(self.client, self.owner, self.repo, number),
                                         depth=depth + 1)
        if decision.action == "merge" and allowed:
            return self._merge(snap, decision, policy, runs, pr, depth)
        if decision.action == "update" and allowed:
            return self._update(snap, decision, runs, row, depth)

        holds = row.state == UPDATING
        keep_slot = holds and (decision.waiting_on_gates_only or decision.action in ("merge", "update"))
        if keep_slot and decision.action == "wait" and slot_timed_out(self._entry(row), now, self.policy.slot_timeout):
            return self._time_out(snap, decision, runs, row, now)
        if holds and not keep_slot:
            self.queue.set_state(self.key, number, QUEUED, now, last_action=decision.action)
        else:
            self.queue.update(self.key, number, now, last_action=decision.action, head_sha=snap.head_sha)
        standing = standing_for(decision, turn_blocker=None if allowed else blocker,
                                position=position(self._entries(snap.base_ref), number))
        self._publish(decision, standing, runs)
        outcome = "blocked" if decision.action == "block" else "waiting"
        return MergeResult(number, outcome, f"{standing.title}.", decision, queue_moved=holds and not keep_slot)

    # -- acting ------------------------------------------------------------------------------------
    def _reevaluate(self, number: int, depth: int, why: str) -> MergeResult:
        if depth + 1 > MAX_REEVALUATIONS:
            raise MergeError(f"#{number}: {why}; still changing after {MAX_REEVALUATIONS} re-evaluations")
        self.log.info("#%d: %s: evaluating again", number, why)
        pr = fetch_pull(self.client, self.owner, self.repo, number)
        return self._evaluate_locked(number, pr, depth=depth + 1)

    def _merge(self, snap: Snapshot, decision: Decision, policy: Policy, runs: list[dict[str, Any]],
               pr: dict[str, Any], depth: int) -> MergeResult:
        number = snap.number
        for attempt in range(1, MERGE_ATTEMPTS + 1):
            answer = put_merge(self.client, self.owner, self.repo, number, sha=decision.sha, method=policy.method)
            if answer.ok:
                merge_sha = (answer.body or {}).get("sha")
                return self._merged(snap, decision, runs, merge_sha, pr)
            if answer.status == 409:  # the head (or base) moved since the gates were seen: never merge blind
                return self._reevaluate(number, depth, f"GitHub answered 409 ({answer.message})")
            if answer.status in (405, 422):
                return self._refused(snap, decision, runs, answer.status, answer.message, depth)
            if answer.server_error:
                # GitHub may have merged before failing to answer: look before trying again.
                now_pr = fetch_pull(self.client, self.owner, self.repo, number)
                if now_pr.get("merged"):
                    self.log.info("#%d: merge answered %s but the pull request is merged", number, answer.status)
                    return self._merged(snap, decision, runs, now_pr.get("merge_commit_sha"), now_pr)
                if str((now_pr.get("head") or {}).get("sha")) != decision.sha or now_pr.get("state") != "open":
                    return self._evaluate_locked(number, now_pr, depth=depth + 1)
                if attempt < MERGE_ATTEMPTS:
                    self.sleep(RETRY_BACKOFF * attempt)
                    continue
                raise MergeError(f"#{number}: GitHub answered {answer.status} to the merge {MERGE_ATTEMPTS} times "
                                 f"and the pull request is not merged ({answer.message})")
            raise MergeError(f"#{number}: unexpected answer {answer.status} to the merge: {answer.message}")
        raise AssertionError("unreachable")

    def _merged(self, snap: Snapshot, decision: Decision, runs: list[dict[str, Any]],
                merge_sha: str | None, pr: dict[str, Any]) -> MergeResult:
        from trunkline.store.merge_queue import MERGED

        number = snap.number
        self.queue.set_state(self.key, number, MERGED, self.clock(), last_action="merged", head_sha=snap.head_sha)
        cache.after_merge(self.owner, self.repo, snap.head_sha, snap.base_sha, merge_sha)
        short = (merge_sha or "")[:7]
        self._publish(decision, Standing("merged", f"Merged{' as ' + short if short else ''}",
                                         f"Merged with the head `{snap.head_sha[:12]}` whose gates passed."), runs)
        if self.policy.delete_branch:
            try:
                outcome = delete_head_branch(self.client, self.owner, self.repo, pr)
                self.log.info("#%d: head branch %s: %s", number, snap.head_ref, outcome)
            except Exception:  # noqa: BLE001 - a branch left behind must not undo a merge report
                self.log.exception("#%d: could not clean up head branch %s", number, snap.head_ref)
        self.log.info("#%d merged at %s (head %s)", number, merge_sha, snap.head_sha)
        return MergeResult(number, "merged", f"Merged #{number}{' as ' + short if short else ''}.", decision,
                           merge_sha=merge_sha, queue_moved=True)

    def _refused(self, snap: Snapshot, decision: Decision, runs: list[dict[str, Any]], status: int, message: str,
                 depth: int) -> MergeResult:
        from trunkline.store.merge_queue import QUEUED

        number = snap.number
        if depth == 0:  # maybe our cached protection is stale: look again with fresh facts first
            cache.forget_protection(self.owner, self.repo, snap.base_ref)
            return self._reevaluate(number, depth, f"GitHub refused the merge with {status} ({message})")
        reason = Condition("GitHub accepts the merge", False, f"{status}: {message or 'refused'}", "block")
        blocked = replace(decision, action="block", conditions=decision.conditions + (reason,), reasons=(reason,))
        row = self.queue.get(self.key, number)
        note_key = f"{status}@{snap.head_sha}"
        self.queue.set_state(self.key, number, QUEUED, self.clock(), last_action="block", last_detail=message)
        self._publish(blocked, Standing("blocked", f"GitHub refused the merge ({status})", message), runs)
        if row is None or row.notified != note_key:
            post_comment(self.client, self.owner, self.repo, number,
                         f"Trunkline could not merge this pull request: GitHub refused the merge of "
                         f"`{snap.head_sha[:12]}` with **{status}**: {message or 'no reason given'}.\n\n"
                         f"The `{MERGE_CHECK_NAME}` check shows every condition; Trunkline tries again when "
                         "something changes.")
            self.queue.update(self.key, number, self.clock(), notified=note_key)
        return MergeResult(number, "blocked", f"GitHub refused the merge ({status}): {message}", blocked,
                           queue_moved=bool(row and row.state == "updating"))

    def _update(self, snap: Snapshot, decision: Decision, runs: list[dict[str, Any]], row: Any,
                depth: int) -> MergeResult:
        from trunkline.store.merge_queue import QUEUED, UPDATING

        number = snap.number
        answer = put_update_branch(self.client, self.owner, self.repo, number, expected_head_sha=decision.sha)
        if answer.ok:
            now = self.clock()
            since = row.slot_since if row.state == UPDATING and row.slot_since is not None else now
            self.queue.set_state(self.key, number, UPDATING, now, updated_from=decision.sha,
                                 last_action="update", head_sha=decision.sha, slot_since=since)
            self._publish(decision, Standing("superseded", f"Branch updated with `{snap.base_ref}`",
                                             "This head will not be merged: the gates run again on the "
                                             "updated head, which is then evaluated."), runs)
            message = f"Updating #{number} with `{snap.base_ref}`; the gates run again on the new head."
            # GitHub announces the new head with a synchronize event sent as us, which the loop guard
            # drops: look at the new head now (our own checks get published on it, see _produce_own_checks).
            pr = fetch_pull(self.client, self.owner, self.repo, number)
            if str((pr.get("head") or {}).get("sha")) != decision.sha and depth + 1 <= MAX_REEVALUATIONS:
                after = self._evaluate_locked(number, pr, depth=depth + 1)
                if after.outcome != "waiting":
                    return after
            return MergeResult(number, "updating", message, decision)
        if answer.server_error:
            pr = fetch_pull(self.client, self.owner, self.repo, number)
            if str((pr.get("head") or {}).get("sha")) != decision.sha:
                return self._evaluate_locked(number, pr, depth=depth + 1)
            raise MergeError(f"#{number}: GitHub answered {answer.status} to update-branch ({answer.message})")
        if answer.status == 422 and "expected head sha" in answer.message.lower():
            return self._reevaluate(number, depth, "the head moved before the update")
        reason = Condition("branch can be updated", False, f"{answer.status}: {answer.message}", "block")
        blocked = replace(decision, action="block", conditions=decision.conditions + (reason,), reasons=(reason,))
        self.queue.set_state(self.key, number, QUEUED, self.clock(), last_action="block", last_detail=answer.message)
        self._publish(blocked, Standing("blocked", "The branch could not be updated", answer.message), runs)
        return MergeResult(number, "blocked", f"Updating the branch failed ({answer.status}): {answer.message}",
                           blocked, queue_moved=row.state == "updating")

    def _produce_own_checks(self, snap: Snapshot, policy: Policy, pr: dict[str, Any]) -> tuple[Any, ...]:
        """Publish Trunkline's own required checks that are missing on the head (the synchronize event
        that would have produced them was ours, and dropped); returns them as check-run facts."""
        from .decide import gate_states
        from .model import CheckRunInfo

        out = []
        for name, state in gate_states(snap, policy).items():
            producer = own_check_producer(name) if state == "missing" else None
            if producer is None:
                continue
            spec = producer(self.client, self.owner, self.repo, pr)
            if spec is None:  # a family producer that does not make this name (e.g. no such tier)
                continue
            self.log.info("#%d: published missing own check %s on %s: %s", snap.number, name, snap.head_sha[:7],
                          spec.conclusion)
            out.append(CheckRunInfo(name, spec.status, spec.conclusion, order=2**62))
        return tuple(out)

    # -- the check run -----------------------------------------------------------------------------
    def _publish(self, decision: Decision, standing: Standing, runs: list[dict[str, Any]]) -> None:
        spec = merge_check_spec(decision, standing)
        publish_known(self.client, self.owner, self.repo, spec, runs)

    def _publish_standalone(self, snap: Snapshot, standing: Standing) -> None:
        decision = Decision("wait", snap.head_sha, (), ())
        spec = merge_check_spec(decision, standing)
        from .fetch import fetch_check_runs

        publish_known(self.client, self.owner, self.repo, spec,
                      fetch_check_runs(self.client, self.owner, self.repo, snap.head_sha))


def _produce_config_check(client: Any, owner: str, repo: str, pr: dict[str, Any]) -> CheckRunSpec:
    from trunkline.checks.config_check import publish_config_check

    head = pr.get("head") or {}
    return publish_config_check(client, owner, repo, str(head.get("sha")), (head.get("repo") or {}).get("full_name"))


#: How one of Trunkline's own checks is produced on demand: ``(client, owner, repo, pull request JSON)``
#: -> the spec it published, or None when it does not make that check after all.
OwnCheckProducer = Callable[[Any, str, str, dict[str, Any]], "CheckRunSpec | None"]

#: Trunkline's own checks a pull request head may require, and how to produce one on demand.
OWN_CHECKS: dict[str, OwnCheckProducer] = {
    "trunkline/config": _produce_config_check,
}

#: Families of our own checks by name prefix (``trunkline/`` + a tier name, registered by the gates):
#: ``prefix -> (full check name -> producer, or None when the name is not one of them)``. A process
#: that never saw the event registering a tier's exact name (a separate ``trunkline worker``, a
#: restarted bot) still produces ``trunkline/<tier>`` through it.
OWN_CHECK_PREFIXES: dict[str, Callable[[str], OwnCheckProducer | None]] = {}


def own_check_producer(name: str) -> OwnCheckProducer | None:
    """The producer of our own check ``name``: an exact entry of :data:`OWN_CHECKS` first, else the
    family of the longest matching prefix in :data:`OWN_CHECK_PREFIXES` (None: not ours to produce)."""
    exact = OWN_CHECKS.get(name)
    if exact is not None:
        return exact
    for prefix in sorted(OWN_CHECK_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix) and len(name) > len(prefix):
            family = OWN_CHECK_PREFIXES[prefix](name)
            if family is not None:
                return family
    return None


def _broken_config_decision(snap: Snapshot) -> Decision:
    reason = Condition("valid configuration", False, "the default branch's `.github/trunkline.yml` has errors "
                       "(see the `trunkline/config` check): merging waits until it is fixed", "block")
    return Decision("block", snap.head_sha, (reason,), (reason,))


def own_app_id(client: Any) -> int | None:
    app = getattr(client, "app", None)
    return getattr(app, "app_id", None)


def publish_known(client: Any, owner: str, repo: str, spec: CheckRunSpec, runs: list[dict[str, Any]]) -> None:
    """Publish ``spec`` like ``trunkline.checks.publish.publish_check_run`` (idempotent by content), using
    the check runs already fetched for this head instead of listing them again."""
    from .execute import _q

    app_id = own_app_id(client)
    ours = [r for r in runs if r.get("name") == spec.name and r.get("head_sha", spec.head_sha) == spec.head_sha
            and (app_id is None or (r.get("app") or {}).get("id") == app_id)]
    existing = max(ours, key=lambda r: int(r.get("id") or 0)) if ours else None
    fields: dict[str, Any] = {"status": spec.status, "output": spec.output(list(spec.annotations)[:50])}
    if spec.conclusion:
        fields["conclusion"] = spec.conclusion
    if spec.details_url:
        fields["details_url"] = spec.details_url
    fields["external_id"] = spec.external_id or spec.fingerprint()
    if existing is not None and existing.get("external_id") == fields["external_id"] \
            and existing.get("status") == spec.status:
        return
    base = f"/repos/{_q(owner)}/{_q(repo)}/check-runs"
    if existing is not None and not spec.annotations:
        # Without annotations a run can be edited in place, completed or not (PATCH would append
        # annotations, which is why trunkline.checks.publish creates a new run for those).
        _, data = client.request_json("PATCH", f"{base}/{existing['id']}", input=fields)
    else:
        _, data = client.request_json("POST", base, input={"name": spec.name, "head_sha": spec.head_sha, **fields})
    announce_check_run(data, f"{owner}/{repo}")


# ---- the public API -------------------------------------------------------------------------------

def _engine(ctx_or_client: Any, store: Any, owner: str, repo: str, config: Any) -> MergeEngine:
    logger = getattr(ctx_or_client, "log", None)
    payload = getattr(ctx_or_client, "payload", None)
    return MergeEngine(client_of(ctx_or_client), store_of(ctx_or_client, store), owner, repo,
                       config=config, default_sha=cache.default_sha_hint(payload) if payload is not None else None,
                       log_=logger)


def request_merge(ctx_or_client: Any, store: Any, owner: str, repo: str, number: int, requested_by: str,
                  priority: bool = False, *, config: Any = None) -> MergeResult:
    """``/merge``: put the pull request in its base branch's queue and evaluate it at once.

    ``priority=True`` only orders it first among equals while this request stands; the priority
    *label* is what keeps it first across evaluations."""
    engine = _engine(ctx_or_client, store, owner, repo, config)
    pr = fetch_pull(engine.client, owner, repo, number)
    facts = pull_facts(pr, None)
    if facts.merged or facts.state != "open":
        return MergeResult(number, "closed", f"#{number} is {'already merged' if facts.merged else 'closed'}.")
    base = facts.base_ref
    with engine.locked(base):
        if priority:
            engine.queue.request(engine.key, number, base=base, source="command", requested_by=requested_by,
                                 priority=True, now=engine.clock(), head_sha=facts.head_sha)
        result = engine.evaluate(number, explicit="command", requested_by=requested_by, pr=pr)
    return result


def cancel_merge(ctx_or_client: Any, store: Any, owner: str, repo: str, number: int, cancelled_by: str, *,
                 config: Any = None) -> MergeResult:
    """``/merge cancel``: take the pull request out of the queue, remove the trigger label, and say so on
    the ``trunkline/merge`` check. Rules do not re-queue it; the label or ``/merge`` do."""
    from trunkline.store.merge_queue import CANCELLED

    engine = _engine(ctx_or_client, store, owner, repo, config)
    pr = fetch_pull(engine.client, owner, repo, number)
    facts = pull_facts(pr, None)
    policy = engine.policy
    with engine.locked(facts.base_ref):
        row = engine.queue.get(engine.key, number)
        was_active = row is not None and row.active
        held = row is not None and row.state == "updating"
        if row is None:
            engine.queue.request(engine.key, number, base=facts.base_ref, source="command",
                                 requested_by=cancelled_by, priority=False, now=engine.clock(), head_sha=facts.head_sha)
        engine.queue.set_state(engine.key, number, CANCELLED, engine.clock(), last_action="cancelled",
                               last_detail=f"by @{cancelled_by}")
        if policy.label in facts.labels:
            remove_label(engine.client, owner, repo, number, policy.label)
        if facts.state == "open" and not facts.merged:
            engine._publish_standalone(facts, Standing("cancelled", f"Merge cancelled by @{cancelled_by}",
                                                       f"Add the `{policy.label}` label or comment `/merge` "
                                                       "to queue it again."))
        if held:
            engine.run_queue(facts.base_ref, exclude={number})
    message = (f"Cancelled the merge of #{number}." if was_active or policy.label in facts.labels
               else f"#{number} was not queued; it will not be merged by a rule either.")
    return MergeResult(number, "cancelled", message)


def evaluate_pr(ctx_or_client: Any, store: Any, owner: str, repo: str, number: int, *, config: Any = None,
                reason: str = "") -> MergeResult:
    """Evaluate one pull request now (no-op without REST beyond the PR itself when it is not requested)."""
    engine = _engine(ctx_or_client, store, owner, repo, config)
    if reason:
        engine.log.info("merge evaluation of #%d: %s", number, reason)
    return engine.evaluate(number)


_EVALUATED = "_trunkline_merge_evaluated"


def evaluated_in(ctx: Any) -> set[tuple[int, str]]:
    """(number, head sha) pairs already evaluated during this delivery (kept on the Context)."""
    found = ctx.__dict__.get(_EVALUATED)
    if found is None:
        found = ctx.__dict__[_EVALUATED] = set()
    return found


def after_own_check(ctx: Any, head_sha: str, *, store: Any = None) -> list[MergeResult]:
    """Trunkline just published one of its own check runs on ``head_sha``: GitHub's events for it are
    dropped by the loop guard, so evaluate the queued pull requests with that head here (and the
    delivery's own pull request when its label or a rule asks for the merge)."""
    from trunkline.store.merge_queue import MergeQueueRepo, repo_key

    owner, repo = ctx.repo_owner, ctx.repo_name
    if not owner or not repo or ctx.installation_id is None:
        return []
    store = store_of(ctx, store)
    numbers = {row.number: None for row in MergeQueueRepo(store).by_head(repo_key(owner, repo), head_sha)}
    pull = getattr(ctx.payload, "pull_request", None)
    if pull is not None and getattr(pull.head, "sha", None) == head_sha and int(pull.number) not in numbers:
        resolved, _ = cache.resolved_config(client_of(ctx), owner, repo, cache.default_sha_hint(ctx.payload))
        merge = resolved.config.merge if resolved.ok and resolved.config is not None else None
        label = merge.label if merge is not None else Policy().label
        if label in pull.label_names or rule_matches(getattr(merge, "rules", ()), pull.user.login, pull.head.ref):
            numbers[int(pull.number)] = payload_pull(pull)
    results = []
    done = evaluated_in(ctx)
    for number in sorted(numbers):
        if (number, head_sha) in done:
            continue
        done.add((number, head_sha))
        results.append(evaluate_for_event(ctx, number, store=store, pr=numbers[number]))
    return results


def payload_pull(pull: Any) -> dict[str, Any]:
    """A webhook's pull request model as REST-shaped JSON (a non-fresh copy: see ``evaluate``)."""
    return pull.model_dump(mode="json", by_alias=True)


def evaluate_for_event(ctx: Any, number: int, *, store: Any = None, explicit: str | None = None,
                       requested_by: str | None = None, pr: dict[str, Any] | None = None) -> MergeResult:
    """Evaluate ``number`` for a webhook; ``pr`` = the webhook's copy of it, if it carried one."""
    engine = _engine(ctx, store, ctx.repo_owner, ctx.repo_name, None)
    return engine.evaluate(number, explicit=explicit, requested_by=requested_by, pr=pr, fresh=pr is None)
