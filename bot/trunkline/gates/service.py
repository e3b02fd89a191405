"""Verify-tier service: the API other parts of Trunkline call, and the engine behind it.

Public API (``ctx`` is a handler :class:`~trunkline.events.context.Context`; its installation client is
used for GitHub and kept for completing the check runs later, asynchronously)::

    request_verify(inv) -> Outcome
        # /verify [tier]: run the named tier (or every pull_request tier) on the PR's head now;
        # a run of the same tier on that head is cancelled first ("restarted by /verify").
    retest_failed(inv) -> Outcome
        # /retest: re-run the tiers whose latest trunkline/<tier> check on the head did not pass.
    run_tier(ctx, owner, repo, target, tier_name, reason) -> StartResult
        # one tier; target = a pull request number (its current head) or a commit SHA.
    run_pr_tiers(ctx, owner, repo, number, *, reason, trigger=None, force=False) -> list[StartResult]
        # every pull_request tier on the PR's current head, after cancelling runs of older heads —
        # call this after pushing to a PR as the bot (GitHub's synchronize event for our own push is
        # dropped by the loop guard, so nothing else would start the tiers on the new head).
    retest(ctx, owner, repo, number, reason) -> list[StartResult]
    cancel_stale(ctx, owner, repo, number, head_sha, reason) -> int
        # cancel active runs of the PR whose head is not head_sha (None: all of them)
    register_merge_producers(tier_names)
        # auto-merge's OWN_CHECKS learn to start trunkline/<tier> on a head it updated (done by the
        # pull_request handler for the tiers it sees)

``StartResult.status`` is ``started``, ``running`` (already running on that head), ``duplicate`` (the
same trigger already started it), ``skipped`` (why in ``message``: not open, a head in a fork, no such
tier) or ``error`` (GitHub refused the workflow dispatch; the check says why). A GitHub error while
starting is raised after the other tiers were started, so a webhook delivery is retried.

How a run goes: a row in ``gate_runs`` (:mod:`trunkline.store.gate_runs`) and the check run
``trunkline/<tier>`` (in progress) are created in the handler, synchronously, so the gate is visible at
once (the merge decision sees it pending, not missing). Then

* **local**: the run goes to this process's thread pool (never the worker thread: the worker
  serialises deliveries per repository + base branch, and a 30-minute tier must not hold that key).
  The pool thread checks the commit out through the API, runs the commands under the budget, and
  completes the check run by id, then calls ``trunkline.merge.service.after_own_check``;
* **actions**: the workflow is dispatched in the handler; its run is followed by ``workflow_run``
  webhooks (GitHub sends those with our bot as the sender for runs we dispatched; the loop guard
  still lets them through, see ``trunkline.events.context.OWN_RESULT_EVENTS``) and, as a safety net
  for a lost delivery, by polling the run every ``TRUNKLINE_GATES_POLL_SECONDS`` (15).

Cancelling (a re-push, a closed pull request, ``/verify`` restarting a tier) sets ``cancel_reason`` on
the row; the process running it sees that within a second (its monitor thread polls the store), stops
the whole process tree and completes the check run ``cancelled`` with the reason, e.g. "superseded by
1a2b3c4". A dispatched workflow run is cancelled on GitHub and its check completed at once.

A restarted worker: every process refreshes ``heartbeat_at`` of its runs; a local run whose process
is gone (dead pid on this host, or a heartbeat older than :data:`STALE_AFTER`) is *orphaned*: its
leftover processes are killed (found by the run's marker variable) and its check run is completed
as an error saying so — ``/retest`` runs it again. Dispatched Actions runs are adopted and followed.

Settings (environment): ``TRUNKLINE_GATES_CONCURRENCY`` (local runs at once per process, default 2),
``TRUNKLINE_GATES_POLL_SECONDS`` (15), ``TRUNKLINE_GATES_KILL_GRACE`` (seconds between SIGTERM and
SIGKILL, 5), ``TRUNKLINE_GATES_DIR`` (checkouts and blob cache, default ``$TRUNKLINE_DATA_DIR/gates``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from trunkline.checks.publish import CheckRunSpec, annotation_batches, publish_check_run
from trunkline.jobs.supervise import STALE_AFTER, Supervisor, is_orphaned, owner_pid
from trunkline.jobs.supervise import at_interpreter_exit as _at_interpreter_exit
from trunkline.jobs.supervise import env_float as _env_float
from trunkline.jobs.supervise import pid_alive as _pid_alive
from trunkline.logs import files as log_files
from trunkline.logs.links import tier_log_link
from trunkline.store.gate_runs import (
    DISPATCHED,
    QUEUED,
    RUNNING,
    GateRun,
    GateRunRepo,
    repo_key,
)
from trunkline.stream.announce import announce_check_run

from .config import CHECK_PREFIX, MAX_BUDGET_SECONDS, Tier, check_name, effective_tiers, tier_of_check
from .executors import actions as actions_exec
from .executors.local import BlobCache, prune_checkouts, run_in_checkout
from .report import check_spec, running_spec
from .result import TierResult, error_result
from .runner import CANCELLED, ERROR, CancelToken, kill_tree, scrub_env

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0
SWEEP_EVERY = 30.0
MONITOR_TICK = 0.5
ACTIONS_QUEUE_GRACE = 900.0  # a dispatched run may wait this long for a runner on top of its budget
PUBLISH_ATTEMPTS = 3
PRUNE_EVERY = 3600.0
BLOB_MAX_AGE = 14 * 86400.0
SHUTDOWN = "the Trunkline worker stopped; comment `/retest` to run it again"
ORPHANED = ("the Trunkline worker running this tier stopped (restart or crash) before it finished; "
            "comment `/retest` or `/verify` to run it again")


@dataclass(frozen=True)
class StartResult:
    tier: str
    status: str  # started | running | duplicate | skipped | error
    message: str = ""
    run_id: int | None = None
    head_sha: str | None = None


@dataclass(frozen=True)
class Target:
    """Where a tier runs: a commit, optionally the head of a pull request."""

    head_sha: str
    number: int | None = None
    head_ref: str | None = None
    from_fork: bool = False
    default_branch: str | None = None


# ---------------------------------------------------------------------------------------------- pure

def _short(sha: str) -> str:
    return sha[:7]


def superseded_reason(new_sha: str) -> str:
    return f"superseded by {_short(new_sha)}"


def needs_adoption(run: GateRun, *, now: float, me: str, host: str, pid_alive: Callable[[int], bool]) -> bool:
    """A dispatched Actions run whose follower is gone: another process follows it from now on."""
    if run.state != DISPATCHED or run.owner == me:
        return False
    run_host, pid = owner_pid(run.owner)
    if run_host == host and pid is not None and not pid_alive(pid):
        return True
    return now - (run.heartbeat_at or run.created_at) > STALE_AFTER


def failed_tiers(check_runs: Sequence[dict[str, Any]], tiers: Sequence[str], app_id: int | None) -> list[str]:
    """Tiers whose newest ``trunkline/<tier>`` check run of our App completed without passing (pure)."""
    newest: dict[str, dict[str, Any]] = {}
    for run in check_runs:
        tier = tier_of_check(str(run.get("name") or ""))
        if tier is None or tier not in tiers:
            continue
        if app_id is not None and (run.get("app") or {}).get("id") != app_id:
            continue
        if tier not in newest or int(run.get("id") or 0) > int(newest[tier].get("id") or 0):
            newest[tier] = run
    return [t for t in tiers if t in newest and newest[t].get("status") == "completed"
            and newest[t].get("conclusion") not in ("success", "skipped")]


# ---------------------------------------------------------------------------------------------- GitHub IO

def _q(value: str) -> str:
    return quote(value, safe="")


def client_of(ctx_or_client: Any) -> Any:
    if hasattr(ctx_or_client, "payload") and hasattr(ctx_or_client, "delivery_id"):
        return ctx_or_client.github
    return ctx_or_client


def _app_id(client: Any) -> int | None:
    return getattr(getattr(client, "app", None), "app_id", None)


def create_check(client: Any, owner: str, repo: str, spec: CheckRunSpec) -> int:
    """Create a new in-progress check run for ``spec``; returns its id.

    Always a new run (not an upsert): a run being cancelled may still be in progress under the same
    name and SHA, and the new tier run must never share its check. Redeliveries cannot duplicate it:
    the ``gate_runs`` row is unique per trigger and is inserted first."""
    body: dict[str, Any] = {"name": spec.name, "head_sha": spec.head_sha, "status": "in_progress",
                            "output": spec.output(()), "external_id": spec.fingerprint()}
    if spec.details_url:
        body["details_url"] = spec.details_url
    _, data = client.request_json("POST", f"/repos/{_q(owner)}/{_q(repo)}/check-runs", input=body)
    announce_check_run(data, f"{owner}/{repo}")
    return int(data["id"])


def complete_check(client: Any, owner: str, repo: str, check_run_id: int, spec: CheckRunSpec) -> None:
    """Complete check run ``check_run_id`` (by id: never another run of the same name) with ``spec``."""
    url = f"/repos/{_q(owner)}/{_q(repo)}/check-runs/{int(check_run_id)}"
    batches = annotation_batches(spec.annotations)
    fields: dict[str, Any] = {"status": "completed", "conclusion": spec.conclusion,
                              "output": spec.output(batches[0]), "external_id": spec.fingerprint()}
    if spec.details_url:
        fields["details_url"] = spec.details_url
    _, data = client.request_json("PATCH", url, input=fields)
    for batch in batches[1:]:
        _, data = client.request_json("PATCH", url, input={"output": spec.output(batch)})
    announce_check_run(data, f"{owner}/{repo}")


def fetch_pull(client: Any, owner: str, repo: str, number: int) -> dict[str, Any]:
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/pulls/{int(number)}")
    return data


def target_of_pull(pr: dict[str, Any]) -> Target:
    head, base = pr.get("head") or {}, pr.get("base") or {}
    head_repo, base_repo = head.get("repo") or {}, base.get("repo") or {}
    from_fork = not head_repo or head_repo.get("id") != base_repo.get("id")
    return Target(str(head.get("sha")), int(pr["number"]), head.get("ref"), from_fork,
                  base_repo.get("default_branch"))


# ---------------------------------------------------------------------------------------------- the service

class _Live:
    """What this process keeps about a run it owns: how to stop it and how to report it."""

    def __init__(self, token: CancelToken | None, client: Any, ctx: Any) -> None:
        self.token = token
        self.client = client
        self.ctx = ctx


class GateService(Supervisor):
    """One per process (see :func:`get_service`): the pool for local runs, the monitor thread."""

    shutdown_reason = SHUTDOWN

    def __init__(self, store: Any, *, work_root: Path, concurrency: int = 2, poll_interval: float = 15.0,
                 grace: float = 5.0, base_env: dict[str, str] | None = None) -> None:
        self.store = store
        self.runs = GateRunRepo(store)
        self.work_root = work_root
        self.cache_dir = work_root / "blobs"
        self.poll_interval = poll_interval
        self.grace = grace
        self.base_env = base_env if base_env is not None else scrub_env(os.environ)
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="trunkline-tier")
        self.live: dict[int, _Live] = {}
        super().__init__("trunkline-gates-monitor", MONITOR_TICK)
        self._last_poll = 0.0
        self._last_prune = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    def attach(self, ctx_or_client: Any) -> None:
        """Remember the App client and make sure the monitor thread runs (first call sweeps orphans)."""
        super().attach(getattr(client_of(ctx_or_client), "app", None))

    def running_tokens(self) -> list[CancelToken]:  # stopped local tiers complete ``cancelled``
        return [item.token for item in self.live.values() if item.token is not None]

    def _client_for(self, run: GateRun) -> Any:
        with self.lock:
            item = self.live.get(run.id)
        if item is not None and item.client is not None:
            return item.client
        if self.app is None or run.installation_id is None:
            return None
        return self.app.installation(int(run.installation_id))

    # -- starting ----------------------------------------------------------------------------------
    def start(self, ctx: Any, owner: str, repo: str, tier: Tier, target: Target, *, trigger: str, reason: str,
              restart: bool = False) -> StartResult:
        """Record and start one tier on ``target`` (see the module docstring)."""
        client = client_of(ctx)
        self.attach(client)
        key = repo_key(owner, repo)
        for run in self.runs.active(key, head_sha=target.head_sha, tier=tier.name):
            if not restart:
                return StartResult(tier.name, "running", f"`{tier.name}` is already running on "
                                                         f"`{_short(target.head_sha)}`", run.id, target.head_sha)
            self.cancel(run, reason=f"restarted ({reason})" if reason else "restarted")
        now = time.time()
        row = self.runs.create(repo=key, installation_id=getattr(client, "installation_id", None),
                               number=target.number, head_sha=target.head_sha, head_ref=target.head_ref,
                               tier=tier.name, executor=tier.executor, trigger=trigger[:200], reason=reason,
                               state=QUEUED, required=tier.required, budget=float(tier.budget),
                               marker=uuid.uuid4().hex, created_at=now, owner=self.me, host=self.host,
                               heartbeat_at=now, workflow=tier.workflow if tier.executor == "actions" else None)
        if row is None:
            return StartResult(tier.name, "duplicate", f"`{tier.name}` was already started for this event",
                               None, target.head_sha)
        try:
            check_id = create_check(client, owner, repo, running_spec(tier.name, target.head_sha, budget=tier.budget,
                                                                      executor=tier.executor, reason=reason,
                                                                      details_url=tier_log_link(row.id, tier.executor)))
        except Exception:
            # Forget the row, so that the delivery's retry (the error propagates) can start the tier.
            self.runs.delete(row.id)
            raise
        self.runs.update(row.id, check_run_id=check_id)
        row = self.runs.get(row.id) or row
        ctx_for_merge = ctx if hasattr(ctx, "payload") else None
        if tier.executor == "actions":
            with self.lock:
                self.live[row.id] = _Live(None, client, ctx_for_merge)
            return self._dispatch(row, tier, target, client)
        token = CancelToken()
        with self.lock:
            self.live[row.id] = _Live(token, client, ctx_for_merge)
        self.pool.submit(self._run_local, row.id, tier, owner, repo)
        return StartResult(tier.name, "started", f"`{tier.name}` started on `{_short(target.head_sha)}`", row.id,
                           target.head_sha)

    def _dispatch(self, row: GateRun, tier: Tier, target: Target, client: Any) -> StartResult:
        owner, repo = row.owner_name, row.repo_name
        same_repo = not target.from_fork and target.head_ref
        ref = target.head_ref if same_repo else (target.default_branch or "main")
        now = time.time()
        self.runs.transition(row.id, (QUEUED,), state=DISPATCHED, dispatch_ref=ref, dispatched_at=now,
                             started_at=now)
        answer = actions_exec.dispatch(client, owner, repo, tier, row.head_sha, ref)
        if not answer.ok:
            result = error_result(tier, answer.error or "dispatch failed", sha=row.head_sha, executor="actions")
            self._complete(row.id, result)
            return StartResult(tier.name, "error", answer.error or "dispatch failed", row.id, row.head_sha)
        if answer.run_id is not None:
            self.runs.update(row.id, workflow_run_id=answer.run_id, run_url=answer.run_url)
        return StartResult(tier.name, "started", f"`{tier.name}` dispatched to GitHub Actions "
                                                 f"(`{tier.workflow}` on `{ref}`)", row.id, row.head_sha)

    # -- local runs ----------------------------------------------------------------------------------
    def _run_local(self, run_id: int, tier: Tier, owner: str, repo: str) -> None:
        try:
            row = self.runs.get(run_id)
            if row is None:
                return
            now = time.time()
            if not self.runs.transition(run_id, (QUEUED,), state=RUNNING, started_at=now, heartbeat_at=now,
                                        owner=self.me, host=self.host):
                return  # finished (cancelled) while it waited for a slot
            with self.lock:
                item = self.live.get(run_id)
            token = item.token if item is not None and item.token is not None else CancelToken()
            if row.cancel_reason:
                token.cancel(row.cancel_reason)
            client = item.client if item is not None else self._client_for(row)
            factory = None
            app = getattr(client, "app", None)
            if app is not None and row.installation_id is not None:
                from trunkline.github.client import InstallationClient

                # One client per fetching thread (the App's token cache is shared, no new tokens).
                factory = lambda: InstallationClient(app, int(row.installation_id))  # noqa: E731
            result = run_in_checkout(tier, client, owner, repo, row.head_sha, env=self.base_env, cancel=token,
                                     work_root=self.work_root / "runs", cache_dir=self.cache_dir, grace=self.grace,
                                     on_start=lambda pgid: self.runs.update(run_id, pgid=pgid), marker=row.marker,
                                     client_factory=factory,
                                     log_path=log_files.tier_log_path(self.work_root, row.repo, row.id))
            self._complete(run_id, result)
        except Exception as exc:  # noqa: BLE001 - whatever happened, the check run must not stay in progress
            log.exception("tier run %s failed", run_id)
            row = self.runs.get(run_id)
            if row is not None and row.active:
                self._complete(run_id, error_result(tier, f"internal error: {type(exc).__name__}: {exc}",
                                                    sha=row.head_sha))
        finally:
            with self.lock:
                self.live.pop(run_id, None)

    # -- completing ----------------------------------------------------------------------------------
    def _complete(self, run_id: int, result: TierResult, *, client: Any = None) -> bool:
        """Finish the row (once) and complete its check run; then let auto-merge look at the head."""
        row = self.runs.get(run_id)
        if row is None:
            return False
        spec = check_spec(result, row.head_sha, details_url=tier_log_link(row.id, row.executor))
        if not self.runs.finish(run_id, verdict=result.verdict, conclusion=result.conclusion, title=spec.title,
                                now=time.time()):
            return False  # someone else completed it (a cancel, a sweep, the other follower)
        with self.lock:
            item = self.live.get(run_id)
            if item is None or item.token is None:  # local runs' threads drop their own entry
                self.live.pop(run_id, None)
        client = client or (item.client if item is not None else None) or self._client_for(row)
        if client is None:
            log.error("tier run %s: no GitHub client to complete check run %s", run_id, row.check_run_id)
            return True
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                if row.check_run_id is not None:
                    complete_check(client, row.owner_name, row.repo_name, int(row.check_run_id), spec)
                else:
                    publish_check_run(client.repo(row.owner_name, row.repo_name), spec, app_id=_app_id(client))
                break
            except Exception:  # noqa: BLE001
                if attempt == PUBLISH_ATTEMPTS - 1:
                    log.exception("tier run %s: could not complete check run %s", run_id, row.check_run_id)
                    return True
                time.sleep(1.0 + attempt)
        log.info("%s on %s (%s): %s", check_name(row.tier), _short(row.head_sha), row.repo, spec.title)
        if result.verdict != CANCELLED:
            self._after_check(row, client, item.ctx if item is not None else None)
        return True

    def _after_check(self, row: GateRun, client: Any, ctx: Any) -> None:
        """Our own check_run.completed is dropped by the runtime's loop guard: tell auto-merge directly."""
        try:
            from trunkline.merge.service import after_own_check
        except ImportError:
            return
        ctx = fresh_context(ctx, row, client)
        if ctx is None:
            return
        try:
            after_own_check(ctx, row.head_sha, store=self.store)
        except Exception:  # noqa: BLE001 - the gate itself is reported; a merge problem must not hide it
            log.exception("auto-merge evaluation after %s on %s failed", check_name(row.tier), row.head_sha[:7])

    # -- cancelling ---------------------------------------------------------------------------------
    def cancel(self, run: GateRun, *, reason: str) -> None:
        """Stop ``run`` and complete its check run ``cancelled`` with ``reason``."""
        self.runs.request_cancel(run.id, reason)
        with self.lock:
            item = self.live.get(run.id)
        if run.executor == "actions" or run.state == DISPATCHED:
            client = self._client_for(run)
            if run.workflow_run_id is not None and client is not None:
                try:
                    actions_exec.cancel_run(client, run.owner_name, run.repo_name, int(run.workflow_run_id))
                except Exception:  # noqa: BLE001 - the check is cancelled either way
                    log.warning("could not cancel workflow run %s", run.workflow_run_id, exc_info=True)
            self._complete(run.id, self._cancelled_result(run, reason))
            return
        if item is not None and item.token is not None:
            item.token.cancel(reason)  # our pool thread stops the processes and completes the check
            if run.state == QUEUED:  # still waiting for a slot: never started, complete it here
                self._complete(run.id, self._cancelled_result(run, reason))
            return
        # Another process runs it: its monitor sees cancel_reason within a tick. A dead owner: do it here.
        if is_orphaned(run, now=time.time(), me=self.me, host=self.host, pid_alive=_pid_alive):
            self._finish_orphan(run, reason=reason, cancelled=True)

    def _cancelled_result(self, run: GateRun, reason: str) -> TierResult:
        return TierResult(run.tier, CANCELLED, run.required, run.budget, sha=run.head_sha, reason=reason,
                          executor=run.executor)

    def cancel_stale(self, owner: str, repo: str, number: int, head_sha: str | None, reason: str) -> int:
        """Cancel the PR's active runs on other heads (``head_sha`` None: every active run)."""
        count = 0
        for run in self.runs.active(repo_key(owner, repo), number=number):
            if head_sha is None or run.head_sha != head_sha:
                self.cancel(run, reason=reason)
                count += 1
        return count

    # -- actions runs -------------------------------------------------------------------------------
    def on_workflow_run(self, ctx: Any, owner: str, repo: str, run: dict[str, Any]) -> GateRun | None:
        """A workflow_run event (or a polled run): link it to its dispatch, complete when it completed."""
        self.attach(ctx)
        key = repo_key(owner, repo)
        rows = self.runs.by_workflow_run(key, int(run["id"]))
        if not rows:
            pending = [actions_exec.PendingDispatch(r.id, r.workflow or "", self._expected_head(r),
                                                    r.dispatched_at or r.created_at)
                       for r in self.runs.awaiting_run(key)]
            row_id = actions_exec.match_run(pending, run)
            if row_id is None:
                return None
            self.runs.update(row_id, workflow_run_id=int(run["id"]), run_url=run.get("html_url"))
            rows = [r for r in [self.runs.get(row_id)] if r is not None]
        row = rows[0]
        if row.cancel_reason and run.get("status") != "completed":
            self.cancel(row, reason=row.cancel_reason)
            return row
        if run.get("status") == "completed" and row.active:
            tier = self._tier_stub(row)
            result = actions_exec.result_from_workflow_run(tier, run, row.head_sha, budget=row.budget)
            if result.verdict == CANCELLED and row.cancel_reason:
                result = self._cancelled_result(row, row.cancel_reason)
            self._complete(row.id, result, client=client_of(ctx) if ctx is not None else None)
        return self.runs.get(row.id)

    @staticmethod
    def _expected_head(row: GateRun) -> str | None:
        return row.head_sha if row.dispatch_ref and row.dispatch_ref == row.head_ref else None

    @staticmethod
    def _tier_stub(row: GateRun) -> Tier:
        return Tier(row.tier, (), int(row.budget), ("pull_request",), bool(row.required), executor=row.executor,
                    workflow=row.workflow or "trunkline-verify.yml")

    def _poll_dispatched(self) -> None:
        for row in self.runs.in_state(DISPATCHED):
            if row.owner != self.me:
                continue
            client = self._client_for(row)
            if client is None:
                continue
            try:
                if row.workflow_run_id is None:
                    for run in actions_exec.candidate_runs(client, row.owner_name, row.repo_name,
                                                           row.workflow or "", self._expected_head(row)):
                        self.on_workflow_run(client, row.owner_name, row.repo_name, run)
                    row = self.runs.get(row.id) or row
                if row.active and row.workflow_run_id is not None:
                    run = actions_exec.get_run(client, row.owner_name, row.repo_name, int(row.workflow_run_id))
                    self.on_workflow_run(client, row.owner_name, row.repo_name, run)
                    row = self.runs.get(row.id) or row
                deadline = (row.dispatched_at or row.created_at) + row.budget + ACTIONS_QUEUE_GRACE
                if row.active and time.time() > deadline:
                    if row.workflow_run_id is not None:
                        actions_exec.cancel_run(client, row.owner_name, row.repo_name, int(row.workflow_run_id))
                    tier = self._tier_stub(row)
                    self._complete(row.id, TierResult(tier.name, "budget exceeded", tier.required, row.budget,
                                                      sha=row.head_sha, executor="actions",
                                                      reason="the workflow run did not finish within the budget "
                                                             f"plus {int(ACTIONS_QUEUE_GRACE)}s of queueing"))
            except Exception:  # noqa: BLE001 - try again next round
                log.warning("following workflow run of tier run %s failed", row.id, exc_info=True)

    # -- the monitor --------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """One round of the monitor: cancel requests, heartbeat, polling, orphan sweep."""
        now = now if now is not None else time.time()
        self.supervise(now, HEARTBEAT_EVERY)
        if now - self._last_poll >= self.poll_interval:
            self._last_poll = now
            self._poll_dispatched()
        if now - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = now
            self.sweep(now)

    def _token_of(self, run_id: int) -> CancelToken | None:
        with self.lock:
            item = self.live.get(run_id)
        return item.token if item is not None else None

    def sweep(self, now: float | None = None) -> int:
        """Complete orphaned local runs, adopt dispatched runs whose follower is gone; returns how many.
        Hourly, also drop stale checkouts and blobs not used for two weeks."""
        now = now if now is not None else time.time()
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            prune_checkouts(self.work_root / "runs", MAX_BUDGET_SECONDS + 3600, now)
            log_files.prune(self.work_root / "logs", log_files.keep_seconds(), now)
            BlobCache(self.cache_dir).prune(BLOB_MAX_AGE, now)
        count = 0
        for row in self.runs.in_state(QUEUED, RUNNING, DISPATCHED):
            if is_orphaned(row, now=now, me=self.me, host=self.host, pid_alive=_pid_alive):
                if self._finish_orphan(row, reason=ORPHANED):
                    count += 1
            elif needs_adoption(row, now=now, me=self.me, host=self.host, pid_alive=_pid_alive):
                if self.runs.adopt(row.id, row.owner, self.me, self.host, now):
                    count += 1
        return count

    def _finish_orphan(self, row: GateRun, *, reason: str, cancelled: bool = False) -> bool:
        if row.host == self.host and row.marker:
            killed = kill_tree((), row.marker, self.grace)  # only processes carrying this run's marker
            if killed:
                log.warning("tier run %s: stopped %d leftover processes", row.id, len(killed))
        result = (self._cancelled_result(row, reason) if cancelled else
                  TierResult(row.tier, ERROR, row.required, row.budget, sha=row.head_sha, reason=reason))
        return self._complete(row.id, result)


def fresh_context(ctx: Any, row: GateRun, client: Any) -> Any:
    """A new handler Context for ``after_own_check`` (it remembers what it evaluated per Context, and a
    tier completing later must be evaluated again) — from the delivery's, or a minimal one."""
    from trunkline.events.context import Context

    if ctx is not None:
        return Context.build(ctx.event, f"{ctx.delivery_id}/gates-{row.id}", ctx.payload,
                             github_factory=ctx.github_factory or (lambda _id: client),
                             config_loader=ctx.config_loader, logger=logging.getLogger("trunkline.handlers"))
    if row.installation_id is None:
        return None
    body = {"repository": {"id": 0, "name": row.repo_name, "full_name": row.repo,
                           "owner": {"login": row.owner_name, "id": 0}},
            "installation": {"id": int(row.installation_id)}}
    return Context.build("gates", f"gates-{row.id}", body, github_factory=lambda _id: client)


# ---------------------------------------------------------------------------------------------- process-wide

_service: GateService | None = None
_service_lock = threading.Lock()


def get_service() -> GateService:
    """This process's service, made on first use (store: the bot's database)."""
    global _service
    with _service_lock:
        if _service is None:
            from trunkline.merge.service import default_store

            data_dir = Path(os.environ.get("TRUNKLINE_DATA_DIR") or ".trunkline")
            work_root = Path(os.environ.get("TRUNKLINE_GATES_DIR") or data_dir / "gates").resolve()
            _service = GateService(default_store(), work_root=work_root,
                                   concurrency=int(_env_float("TRUNKLINE_GATES_CONCURRENCY", 2)),
                                   poll_interval=_env_float("TRUNKLINE_GATES_POLL_SECONDS", 15.0),
                                   grace=_env_float("TRUNKLINE_GATES_KILL_GRACE", 5.0))
            _at_interpreter_exit(_service.stop_running)
        return _service


def set_service(service: GateService | None) -> None:
    global _service
    with _service_lock:
        _service = service


# ---------------------------------------------------------------------------------------------- public API

def _config_of(ctx: Any) -> Any:
    resolved = ctx.config()
    return resolved.config if resolved is not None and resolved.ok else None


def start_tiers(ctx: Any, owner: str, repo: str, tiers: Sequence[Tier], target: Target, *, trigger: str,
                reason: str, restart: bool = False, service: GateService | None = None) -> list[StartResult]:
    """Start each tier; one tier's trouble does not stop the others, but it is raised at the end (so a
    webhook delivery is retried: tiers already started are then found running, not started twice)."""
    service = service or get_service()
    out = []
    failure: Exception | None = None
    for tier in tiers:
        try:
            out.append(service.start(ctx, owner, repo, tier, target, trigger=f"{trigger}:{tier.name}"[:200],
                                     reason=reason, restart=restart))
        except Exception as exc:  # noqa: BLE001
            log.warning("starting %s on %s failed: %s", tier.name, target.head_sha[:7], exc)
            failure = failure or exc
    if failure is not None:
        raise failure
    return out


def run_pr_tiers(ctx: Any, owner: str, repo: str, number: int, *, reason: str, trigger: str | None = None,
                 force: bool = False, config: Any = None, pr: dict[str, Any] | None = None,
                 service: GateService | None = None) -> list[StartResult]:
    """Every pull_request tier on the PR's current head (runs on older heads are cancelled first)."""
    service = service or get_service()
    client = client_of(ctx)
    config = config if config is not None else _config_of(ctx)
    tiers = [t for t in effective_tiers(config).values() if "pull_request" in t.on]
    if not tiers:
        return []
    pr = pr if pr is not None else fetch_pull(client, owner, repo, number)
    target = target_of_pull(pr)
    service.attach(client)
    service.cancel_stale(owner, repo, number, target.head_sha, superseded_reason(target.head_sha))
    if pr.get("state") != "open":
        return [StartResult(t.name, "skipped", f"#{number} is not open", None, target.head_sha) for t in tiers]
    if target.from_fork and not force:
        return [skip_fork(client, owner, repo, t, target) for t in tiers]
    return start_tiers(ctx, owner, repo, tiers, target, trigger=trigger or f"pr:{number}:{uuid.uuid4().hex[:8]}",
                       reason=reason, restart=force, service=service)


def cancel_stale(ctx: Any, owner: str, repo: str, number: int, head_sha: str | None, reason: str, *,
                 service: GateService | None = None) -> int:
    """Cancel the PR's active runs on heads other than ``head_sha`` (None: all of them); returns how many."""
    service = service or get_service()
    service.attach(ctx)
    return service.cancel_stale(owner, repo, number, head_sha, reason)


def skip_fork(client: Any, owner: str, repo: str, tier: Tier, target: Target) -> StartResult:
    """Code from a fork is not run automatically: the check asks a maintainer to look first."""
    spec = CheckRunSpec(check_name(tier.name), target.head_sha, "action_required",
                        f"{tier.name} not run: the pull request comes from a fork",
                        "Trunkline does not run code from forks on its own. A maintainer can run this tier with "
                        "`/verify` after reviewing the changes.")
    publish_check_run(client.repo(owner, repo), spec, app_id=_app_id(client))
    return StartResult(tier.name, "skipped", "pull request from a fork: comment /verify to run it", None,
                       target.head_sha)


def run_tier(ctx: Any, owner: str, repo: str, target: int | str, tier_name: str, reason: str, *,
             config: Any = None, restart: bool = True, service: GateService | None = None) -> StartResult:
    """Run one tier on a pull request's current head (``target`` a number) or on a commit (a SHA)."""
    service = service or get_service()
    client = client_of(ctx)
    config = config if config is not None else _config_of(ctx)
    tiers = effective_tiers(config)
    tier = tiers.get(tier_name)
    if tier is None:
        known = ", ".join(f"`{t}`" for t in tiers) or "none (the configuration has no `tiers:`)"
        return StartResult(tier_name, "skipped", f"no tier `{tier_name}`; configured tiers: {known}")
    if isinstance(target, int):
        pr = fetch_pull(client, owner, repo, target)
        where = target_of_pull(pr)
        if pr.get("state") != "open":
            return StartResult(tier_name, "skipped", f"#{target} is not open", None, where.head_sha)
        service.cancel_stale(owner, repo, target, where.head_sha, superseded_reason(where.head_sha))
    else:
        where = Target(str(target))
    return start_tiers(ctx, owner, repo, [tier], where, trigger=f"run:{uuid.uuid4().hex[:12]}", reason=reason,
                       restart=restart, service=service)[0]


def retest(ctx: Any, owner: str, repo: str, number: int, reason: str, *, config: Any = None,
           service: GateService | None = None) -> list[StartResult]:
    """Re-run the tiers whose newest check run on the PR's head did not pass."""
    service = service or get_service()
    client = client_of(ctx)
    config = config if config is not None else _config_of(ctx)
    tiers = effective_tiers(config)
    pr = fetch_pull(client, owner, repo, number)
    target = target_of_pull(pr)
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/commits/{target.head_sha}/check-runs",
                                  parameters={"per_page": 100, "filter": "all"})
    names = failed_tiers((data or {}).get("check_runs") or [], list(tiers), _app_id(client))
    return start_tiers(ctx, owner, repo, [tiers[n] for n in names], target,
                       trigger=f"retest:{uuid.uuid4().hex[:12]}", reason=reason, restart=True, service=service)


# -- auto-merge: our tiers on a head GitHub announced to nobody -----------------------------------

def tier_check_producer(tier_name: str, *, only_configured: bool = False
                        ) -> Callable[[Any, str, str, dict[str, Any]], CheckRunSpec | None]:
    """A producer for ``trunkline.merge.service.OWN_CHECKS``: when auto-merge finds ``trunkline/<tier>``
    missing on a head — right after it updated the branch, before GitHub's synchronize event for the
    new head reached the gates — it starts the pull request's tiers on that head and reports this one
    as in progress (never as passed). ``only_configured``: a tier the repository does not configure is
    none of ours (None: nothing published) instead of a failing check."""

    def produce(client: Any, owner: str, repo: str, pr: dict[str, Any]) -> CheckRunSpec | None:
        from trunkline.config.resolve import resolve_config
        from trunkline.github.contents import default_branch_fetch

        target = target_of_pull(pr)
        resolved = resolve_config(owner, repo, default_branch_fetch(client.github))
        config = resolved.config if resolved.ok else None
        tier = effective_tiers(config).get(tier_name)
        if tier is None and only_configured:
            return None
        results = run_pr_tiers(client, owner, repo, int(pr["number"]), reason="new head after a branch update",
                               config=config, pr=pr) if tier is not None else []
        mine = next((r for r in results if r.tier == tier_name), None)
        if tier is not None and mine is not None and mine.status in ("started", "running", "duplicate"):
            return running_spec(tier_name, target.head_sha, budget=tier.budget, executor=tier.executor)
        why = mine.message if mine is not None else f"no tier `{tier_name}` in the configuration"
        return CheckRunSpec(check_name(tier_name), target.head_sha, "failure", f"{tier_name} did not start", why)

    return produce


#: Check names under our prefix that are not tiers (other capabilities publish them).
NOT_TIERS = frozenset({"config", "contracts", "merge", "ratchets"})


def tier_family(name: str) -> Callable[[Any, str, str, dict[str, Any]], CheckRunSpec | None] | None:
    """``trunkline/<tier>`` -> the producer of that tier's check (for a tier the repository configures)."""
    tier = tier_of_check(name)
    if not tier or tier in NOT_TIERS or "/" in tier or tier != tier.strip():
        return None
    return tier_check_producer(tier, only_configured=True)


def register_merge_producers(tier_names: Sequence[str] = ()) -> None:
    """Let auto-merge start our tiers on heads whose synchronize event it caused (see above): every
    ``trunkline/<tier>`` name through the prefix (whatever this process has seen), and the named tiers
    exactly."""
    try:
        from trunkline.merge.service import OWN_CHECK_PREFIXES, OWN_CHECKS
    except ImportError:
        return
    OWN_CHECK_PREFIXES.setdefault(CHECK_PREFIX, tier_family)
    for name in tier_names:
        OWN_CHECKS.setdefault(check_name(name), tier_check_producer(name))


# -- command engines (trunkline.commands.builtin.verify / retest) ----------------------------------

def _describe(results: Sequence[StartResult]) -> str:
    return "; ".join(r.message or f"`{r.tier}` {r.status}" for r in results)


def request_verify(inv: Any) -> Any:
    """``/verify [tier]``: run the tier (or every pull_request tier) on the PR's head; returns an Outcome."""
    from trunkline.commands.invocation import failed, ok, refused

    s = inv.session
    if not s.config_ok or s.config is None:
        return refused("the configuration on the default branch has errors (see the `trunkline/config` check); "
                       "no tier was started.")
    tiers = effective_tiers(s.config)
    if not tiers:
        return refused("no verify tiers are configured (add a `tiers:` section to `.github/trunkline.yml`).")
    ctx = s.event if s.event is not None else s.github
    reason = f"/verify by @{s.actor}"
    name = inv.params.get("tier")
    if name:
        result = run_tier(ctx, s.owner, s.repo, s.number, str(name), reason, config=s.config)
        if result.status == "skipped" and result.run_id is None and result.head_sha is None:
            return refused(result.message)
        results = [result]
    else:
        results = run_pr_tiers(ctx, s.owner, s.repo, s.number, reason=reason, force=True, config=s.config)
        if not results:
            known = ", ".join(f"`{t}`" for t in tiers)
            return refused(f"no tier runs on pull requests (configured: {known}); name one: `/verify <tier>`.")
    started = [r for r in results if r.status in ("started", "running")]
    sha = next((r.head_sha for r in results if r.head_sha), None)
    where = f" on `{_short(sha)}`" if sha else ""
    if not started:
        return failed(f"nothing was started{where}: {_describe(results)}")
    names = ", ".join(f"`{r.tier}`" for r in started)
    return ok(f"Started {names}{where}; each reports as a `trunkline/<tier>` check run.",
              _describe([r for r in results if r not in started]))


def retest_failed(inv: Any) -> Any:
    """``/retest``: re-run the tiers that did not pass on the PR's head; returns an Outcome."""
    from trunkline.commands.invocation import ok, refused

    s = inv.session
    if not s.config_ok or s.config is None:
        return refused("the configuration on the default branch has errors (see the `trunkline/config` check).")
    if not effective_tiers(s.config):
        return refused("no verify tiers are configured, so there is nothing to re-run.")
    ctx = s.event if s.event is not None else s.github
    results = retest(ctx, s.owner, s.repo, s.number, f"/retest by @{s.actor}", config=s.config)
    if not results:
        return ok("Nothing to re-run: no tier failed on the head commit.")
    started = [r for r in results if r.status == "started"]
    names = ", ".join(f"`{r.tier}`" for r in started) or "nothing"
    return ok(f"Re-running {names}.", _describe([r for r in results if r not in started]))
