"""Agent-run service: starting, running, cancelling and recovering runs (the imperative shell).

Public API (``client`` an installation client, ``config`` the repository's ``TrunklineConfig``)::

    start_run(client, owner, repo, number, spec, *, actor, trigger, trigger_text, instruction=None,
              pull=None) -> AgentRun | None
        # freeze the input, supersede older runs on the same issue, record the run, 👀 + progress comment
    cancel_runs(owner, repo, number, reason, *, label=None) -> int
        # label removed, /cancel, issue closed: stop the issue's active runs (within a monitor tick)

How a run goes. :func:`start_run` runs in the webhook handler: the input (the issue as it stands now,
sanitized) is written to ``<data>/agents/<owner>/<repo>/<run id>/input/``, the pipeline to ``run.json``,
a row in ``agent_runs`` is created ``queued`` and the progress comment posted. Any process's monitor
claims queued runs while the repository has fewer than ``agents.concurrency`` running (compare-and-set
in the store) and runs them on its thread pool — never on a delivery worker thread.

A run holds the lease lock ``agent-branch:<repo>:<branch>`` (single writer per branch), creates its
branch at the default branch's head, checks it out fresh, and runs the steps (:mod:`.core`). Local
stages run through :func:`trunkline.gates.runner.run_commands` (own session and process group, marker
variable, budget); the verify tier through :func:`trunkline.gates.executors.local.execute_tier`. Passed
steps are pushed as checkpoint commits; a failed one resets the checkout (and, for the actions backend,
the branch) to the last checkpoint and retries with ``failure.md`` given to the agent. Success opens the
pull request "Closes #N" (its ``opened`` event is not ours to drop: the gates run on it).

Cancelling sets ``cancel_reason``; the owning process's monitor stops the process tree within
``MONITOR_TICK``; the run deletes its branch and says so. A worker that dies mid-run (SIGKILL) leaves a
``running`` row whose owner is gone: the next monitor sweep (on start-up, then every few seconds) kills
leftover processes by the run's marker, adopts the row and resumes it from its last checkpoint — after
:data:`MAX_RESUMES` resumes it is marked failed with the reason shown in the progress comment.

Progress: the comment is edited at each step boundary and, during a step, every
``TRUNKLINE_AGENTS_PROGRESS_SECONDS`` (30; 0 = only at boundaries) so the elapsed time moves — never
when the body would not change. Its links to the logs are signed links to ``GET /logs/agents/<run id>``
of ``trunkline serve`` (:mod:`trunkline.logs`); without a public URL (a ``trunkline worker`` with no
``TRUNKLINE_PUBLIC_URL``) it names the folder on the bot's host instead.

Retention: at start-up (the monitor's first tick) and then every :data:`PRUNE_EVERY` seconds, finished
runs' folders are pruned (:mod:`.retention`): their checkout an hour after they finished, everything
``TRUNKLINE_LOGS_RETENTION_DAYS`` (14) days after; queued and running runs are never touched, and the
runs stay in the store.

Settings: ``TRUNKLINE_AGENTS_SLOTS`` (runs at once per process, 4), ``TRUNKLINE_AGENTS_DIR`` (run
folders, default ``$TRUNKLINE_DATA_DIR/agents``), ``TRUNKLINE_AGENTS_POLL_SECONDS`` (workflow run polling,
5), ``TRUNKLINE_AGENTS_PROGRESS_SECONDS`` (30), ``TRUNKLINE_GATES_KILL_GRACE`` (SIGTERM→SIGKILL, 5),
``TRUNKLINE_LOGS_RETENTION_DAYS`` (14; 0 = keep forever).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from trunkline.gates.runner import BUDGET, CancelToken, kill_tree, run_commands, scrub_env
from trunkline.gates.runner import CANCELLED as RUN_CANCELLED
from trunkline.gates.runner import PASSED as RUN_PASSED
from trunkline.jobs.supervise import (
    Supervisor,
    at_interpreter_exit,
    env_float,
    is_orphaned,
    pid_alive,
)
from trunkline.logs import links
from trunkline.logs.files import agents_root, keep_seconds, list_logs
from trunkline.store.agent_runs import QUEUED, RUNNING, AgentRun, AgentRunRepo
from trunkline.store.gate_runs import repo_key
from trunkline.store.locks import LockRepo

from . import announce as events
from . import github_io as gh
from . import retention
from .core import (
    ACTIVE as STEP_ACTIVE,
)
from .core import (
    CANCELLED,
    FAILED,
    FAILED_STEP,
    PASSED,
    PENDING,
    SUCCEEDED,
    Step,
    after_failure,
    after_success,
    branch_name,
    initial_states,
    latest_logs,
    log_name,
    new_run_id,
    reset_from,
    states_from_json,
    states_to_json,
    with_status,
)
from .progress import RunView, logs_markdown, render_pr_body, render_progress
from .spec import RunSpec, frozen_input, write_input

log = logging.getLogger(__name__)

MONITOR_TICK = 0.5
HEARTBEAT_EVERY = 5.0
SWEEP_EVERY = 5.0
LOCK_TTL = 60.0
MAX_RESUMES = 2
PROGRESS_EVERY = 30.0
PRUNE_EVERY = 3600.0
SHUTDOWN = "the Trunkline worker is stopping"
INPUTS_REF = "refs/trunkline/agent-inputs/{run_id}"


class StageResult:
    def __init__(self, passed: bool, failure: str = "", cancelled: bool = False) -> None:
        self.passed, self.failure, self.cancelled = passed, failure, cancelled


class AgentService(Supervisor):
    """One per process (see :func:`get_service`)."""

    shutdown_reason = SHUTDOWN

    def __init__(self, store: Any, *, work_root: Path, slots: int = 4, grace: float = 5.0, poll: float = 5.0,
                 base_env: dict[str, str] | None = None, progress_every: float = PROGRESS_EVERY) -> None:
        self.store = store
        self.progress_every = progress_every  # seconds between refreshes of a running run's comment (0: off)
        self.clock = time.time
        self.bodies: dict[str, str] = {}  # run id -> the progress comment's body as last sent
        self.publishing: dict[str, threading.Lock] = {}
        self._last_progress: dict[str, float] = {}
        self.runs = AgentRunRepo(store)
        self.locks = LockRepo(store)
        self.work_root = work_root
        self.grace = grace
        self.poll = poll
        self.base_env = base_env if base_env is not None else scrub_env(os.environ)
        self.pool = ThreadPoolExecutor(max_workers=max(1, slots), thread_name_prefix="trunkline-agent")
        self.slots = max(1, slots)
        self.tokens: dict[str, CancelToken] = {}
        self.held: dict[str, tuple[str, str]] = {}  # run id -> (branch lock key, owner)
        super().__init__("trunkline-agents-monitor", MONITOR_TICK)
        self._last_prune = float("-inf")  # the first tick (start-up) prunes

    # -- lifecycle -------------------------------------------------------------------------------
    def running_tokens(self) -> list[CancelToken]:  # stopped stages leave their runs resumable
        return list(self.tokens.values())

    def run_dir(self, run: AgentRun) -> Path:
        return self.work_root / run.owner_name / run.repo_name / run.id

    def _client(self, run: AgentRun) -> Any:
        from trunkline.github.client import InstallationClient

        if self.app is None or run.installation_id is None:
            raise RuntimeError("no GitHub App client to run agent runs with")
        return InstallationClient(self.app, int(run.installation_id))  # one per thread

    # -- starting ----------------------------------------------------------------------------------
    def start_run(self, client: Any, owner: str, repo: str, number: int, spec: RunSpec, *, actor: str, trigger: str,
                  trigger_text: str, instruction: str | None = None, pull: dict[str, Any] | None = None,
                  react: bool = True) -> AgentRun | None:
        self.attach(getattr(client, "app", None))
        key = repo_key(owner, repo)
        run_id = new_run_id(dt.datetime.now(dt.UTC), secrets.token_hex(4))
        branch = str(pull["head"]["ref"]) if pull is not None else branch_name(number, run_id)
        folder = self.work_root / owner.lower() / repo.lower() / run_id
        # The input as it stands now, frozen: nothing the agent reads changes after the trigger.
        issue = gh.get_issue(client, owner, repo, number)
        comments = gh.issue_comments(client, owner, repo, number)
        bot = _bot_login(client)
        data = frozen_input(issue, comments, skip_logins=[bot] if bot else [], instruction=instruction, pull=pull)
        write_input(folder / "input", data)
        (folder / "output").mkdir(parents=True, exist_ok=True)
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text(json.dumps(spec.to_json(), indent=2))
        for old in self.runs.active(key, issue=number):
            self.cancel(old, events.superseded_reason(run_id))
        now = time.time()
        steps = spec.steps
        row = self.runs.create(id=run_id, repo=key, installation_id=getattr(client, "installation_id", None),
                               issue=number, pr_number=int(pull["number"]) if pull is not None else None,
                               label=spec.label, actor=actor, instruction=instruction, trigger=trigger[:200],
                               backend=spec.backend, executor="local", branch=branch,
                               base_ref=str(pull["base"]["ref"]) if pull is not None else None,
                               checkpoint_sha=str(pull["head"]["sha"]) if pull is not None else None,
                               state=QUEUED, step_index=0, failures=0, resumes=0,
                               steps=states_to_json(initial_states(steps)), marker=uuid.uuid4().hex,
                               created_at=now, concurrency=spec.concurrency, trigger_text=trigger_text[:300])
        if row is None:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        events.announce(row, events.QUEUED)
        if react:
            gh.react_to_issue(client, owner, repo, number, "eyes")
        comment_id = gh.post_comment(client, owner, repo, number, render_progress(self.view(row, spec)))
        self.runs.update(run_id, comment_id=comment_id)
        self.kick()
        return self.runs.get(run_id)

    def kick(self) -> int:
        """Claim queued runs while their repositories have free slots; returns how many started."""
        started = 0
        for row in self.runs.in_state(QUEUED):
            if row.cancel_reason:
                self._finish_queued_cancel(row)
                continue
            with self.lock:
                busy = len(self.tokens)
            if busy >= self.slots or self.app is None:
                break
            if self.runs.claim_slot(row.id, self.me, self.host, time.time(), max(1, row.concurrency or 1)):
                self._submit(row.id)
                started += 1
        return started

    def _submit(self, run_id: str) -> None:
        with self.lock:
            self.tokens[run_id] = CancelToken()
        self.pool.submit(self._execute_safely, run_id)

    # -- cancelling ---------------------------------------------------------------------------------
    def cancel(self, run: AgentRun, reason: str) -> None:
        self.runs.request_cancel(run.id, reason)
        with self.lock:
            token = self.tokens.get(run.id)
        if token is not None:
            token.cancel(reason)
        elif run.state == QUEUED:
            self._finish_queued_cancel(self.runs.get(run.id) or run)
        # running elsewhere: that process's monitor sees cancel_reason; a dead owner: the sweep does it

    def cancel_runs(self, owner: str, repo: str, number: int, reason: str, *, label: str | None = None) -> int:
        count = 0
        for run in self.runs.active(repo_key(owner, repo), issue=number):
            if label is None or run.label == label:
                self.cancel(run, reason)
                count += 1
        return count

    def _finish_queued_cancel(self, row: AgentRun) -> None:
        reason = row.cancel_reason or "cancelled"
        if self.runs.finish(row.id, outcome=CANCELLED, reason=reason, now=time.time()):
            done = self.runs.get(row.id) or row
            self._announce_final(done)
            self._publish(done, None)

    # -- the monitor --------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        now = now if now is not None else time.time()
        if self.supervise(now, HEARTBEAT_EVERY):
            with self.lock:
                held = list(self.held.values())
            for key, owner in held:
                self.locks.acquire(key, owner, LOCK_TTL, now)  # re-acquiring one's own lease extends it
        if now - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = now
            self.sweep(now)
        self.refresh_progress(now)
        self.kick()
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            try:
                self.prune(now)
            except Exception:  # noqa: BLE001 - retention must never stop the monitor
                log.warning("agent runs: pruning old run folders failed", exc_info=True)

    def prune(self, now: float | None = None) -> int:
        """Delete what :func:`.retention.plan` selects (finished runs' checkouts, and their whole folders
        after the retention age); the runs stay in the store. Returns how many paths were removed."""
        now = now if now is not None else time.time()
        folders = retention.scan(self.work_root)
        if not folders:
            return 0
        rows = self.runs.with_ids(f.run_id for f in folders)
        records = {(r.owner_name, r.repo_name, r.id): retention.Record(r.state, r.finished_at) for r in rows}
        with self.lock:
            live = set(self.tokens) | set(self.held)
        removals = retention.plan(folders, records, live=live, now=now, keep=keep_seconds())
        return retention.remove(self.work_root, removals)

    def refresh_progress(self, now: float) -> int:
        """Re-render the progress comment of each run this process runs, every ``progress_every``
        seconds (the elapsed time moves during a long stage); an unchanged body is not sent again.
        Returns how many comments were edited."""
        if self.progress_every <= 0:
            return 0
        with self.lock:
            running = list(self.tokens)
        edited = 0
        for run_id in running:
            last = self._last_progress.setdefault(run_id, now)  # a step boundary has just published it
            if now - last < self.progress_every:
                continue
            self._last_progress[run_id] = now
            row = self.runs.get(run_id)
            if row is not None and row.state == RUNNING and row.owner == self.me and self._publish(row, None):
                edited += 1
        for run_id in set(self._last_progress) - set(running):
            self._last_progress.pop(run_id, None)
        return edited

    def _token_of(self, run_id: str) -> CancelToken | None:
        with self.lock:
            return self.tokens.get(run_id)

    def sweep(self, now: float | None = None) -> int:
        """Runs whose process is gone: resume them (or fail them after MAX_RESUMES); returns how many."""
        now = now if now is not None else time.time()
        count = 0
        for row in self.runs.in_state(RUNNING):
            if not is_orphaned(row, now=now, me=self.me, host=self.host, pid_alive=pid_alive):
                continue
            if row.host == self.host and row.marker:
                kill_tree((), row.marker, self.grace)  # leftovers of the dead worker
            if not self.runs.adopt(row.id, row.owner, self.me, self.host, now):
                continue
            count += 1
            row = self.runs.get(row.id) or row
            if row.cancel_reason:
                self._finish(row, None, CANCELLED, row.cancel_reason)
                continue
            if row.resumes > MAX_RESUMES:
                self._finish(row, None, FAILED, f"the Trunkline worker stopped {row.resumes} times during this run "
                                                "(restart or crash); add the label again to start over")
                continue
            log.warning("agent run %s: its worker is gone; resuming at step %d", row.id, row.step_index)
            self._submit(row.id)
        return count

    # -- running ------------------------------------------------------------------------------------
    def _execute_safely(self, run_id: str) -> None:
        try:
            self._execute(run_id)
        except Exception as exc:  # noqa: BLE001 - a run must never stay "running" silently
            log.exception("agent run %s failed", run_id)
            row = self.runs.get(run_id)
            if row is not None and row.active:
                token = self.tokens.get(run_id)
                if token is not None and token.reason == SHUTDOWN:
                    return  # resumed by the next process
                self._finish(row, None, FAILED, f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
        finally:
            with self.lock:
                self.tokens.pop(run_id, None)

    def _execute(self, run_id: str) -> None:
        row = self.runs.get(run_id)
        if row is None or row.state != RUNNING:
            return
        with self.lock:
            token = self.tokens.setdefault(run_id, CancelToken())
        if row.cancel_reason:
            token.cancel(row.cancel_reason)
        folder = self.run_dir(row)
        spec = RunSpec.from_json(json.loads((folder / "run.json").read_text()))
        client = self._client(row)
        # The lock belongs to the run (not the process), so a resumed run takes its own lock back at once.
        lock_key, lock_owner = f"agent-branch:{row.repo}:{row.branch}", f"agent-run:{row.id}"
        if not self.locks.acquire(lock_key, lock_owner, LOCK_TTL, time.time()):
            # Another run writes this branch (a follow-up on the same pull request): wait for it.
            self.runs.transition(run_id, (RUNNING,), state=QUEUED, owner=None)
            return
        run = _Run(self, row, spec, client, token, folder)
        with self.lock:
            self.held[run_id] = (lock_key, lock_owner)
        try:
            run.go()
        finally:
            with self.lock:
                self.held.pop(run_id, None)
            self.locks.release(lock_key, lock_owner)
            shutil.rmtree(folder / "checkout", ignore_errors=True)
            shutil.rmtree(folder / "tmp", ignore_errors=True)

    # -- finishing and reporting -------------------------------------------------------------------
    def _finish(self, row: AgentRun, spec: RunSpec | None, outcome: str, reason: str, **values: Any) -> bool:
        if not self.runs.finish(row.id, outcome=outcome, reason=reason, now=time.time(), **values):
            return False
        done = self.runs.get(row.id) or row
        self._announce_final(done)
        client = None
        try:
            client = self._client(done)
            if outcome == CANCELLED and done.pr_number is None:
                gh.delete_branch(client, done.owner_name, done.repo_name, done.branch)
            if outcome in (SUCCEEDED, FAILED):
                gh.react_to_issue(client, done.owner_name, done.repo_name, done.issue,
                                  "rocket" if outcome == SUCCEEDED else "confused")
        except Exception:  # noqa: BLE001 - the outcome is recorded; the comment below still says it
            log.warning("agent run %s: cleaning up after %s failed", row.id, outcome, exc_info=True)
        self._publish(done, spec, client=client)
        return True

    @staticmethod
    def _announce_final(done: AgentRun) -> None:
        stage, iteration = events.position(done)
        events.announce(done, events.final_state(done.outcome or FAILED, done.reason, pr_number=done.pr_number),
                        stage=stage, iteration=iteration, reason=done.reason)

    def view(self, row: AgentRun, spec: RunSpec | None) -> RunView:
        now = self.clock()
        end = row.finished_at or now
        notes = []
        if row.resumes:
            notes.append(f"Resumed {row.resumes} time{'s' if row.resumes > 1 else ''} after the Trunkline worker "
                         "stopped, from the run's last checkpoint.")
        signer = links.current()
        step_logs: dict[str, str] = {}
        if signer is not None:
            names = [p.name for p in list_logs(self.run_dir(row) / "logs")]
            for step, name in latest_logs([s.get("name", "") for s in row.step_list], names).items():
                step_logs[step] = signer.link(links.agent_log_path(row.id, name), now)
        logs = logs_markdown(index_url=signer.link(links.agent_index_path(row.id), now) if signer else None,
                             workflow_url=row.run_url,
                             fallback=f"`agents/{row.owner_name}/{row.repo_name}/{row.id}/logs/` on the Trunkline host")
        return RunView(run_id=row.id, issue=row.issue, trigger=row.trigger_text or row.label,
                       actor=row.actor, branch=row.branch, backend=row.backend, state=row.state, outcome=row.outcome,
                       steps=states_from_json(row.step_list), elapsed=end - (row.started_at or row.created_at),
                       iteration=row.failures + 1, max_iterations=spec.max_iterations if spec else 0,
                       reason=row.reason or "", pr_number=row.opened_pr, pr_url=row.pr_url, logs=logs,
                       notes=tuple(notes), step_logs=step_logs)

    def _publish(self, row: AgentRun, spec: RunSpec | None, *, client: Any = None) -> bool:
        """Show the run's current state in its progress comment; False when the comment already says it
        (or GitHub could not be reached). One run's comment is rendered and sent by one thread at a time,
        from the row as stored then, so a late writer never puts an older state back."""
        with self.lock:
            guard = self.publishing.setdefault(row.id, threading.Lock())
        with guard:
            row = self.runs.get(row.id) or row
            if spec is None:
                try:
                    spec = RunSpec.from_json(json.loads((self.run_dir(row) / "run.json").read_text()))
                except (OSError, ValueError, KeyError):
                    spec = None
            try:
                body = render_progress(self.view(row, spec))
                if row.comment_id and self.bodies.get(row.id) == body:
                    return False
                client = client or self._client(row)
                if row.comment_id:
                    gh.edit_comment(client, row.owner_name, row.repo_name, int(row.comment_id), body)
                else:
                    self.runs.update(row.id, comment_id=gh.post_comment(client, row.owner_name, row.repo_name,
                                                                        row.issue, body))
                self.bodies[row.id] = body
                return True
            except Exception:  # noqa: BLE001 - progress is best effort; the store has the truth
                log.warning("agent run %s: could not update the progress comment", row.id, exc_info=True)
                return False
            finally:
                if not row.active:  # done: nothing will change it again
                    with self.lock:
                        self.bodies.pop(row.id, None)
                        self.publishing.pop(row.id, None)


class _Run:
    """One execution of a run by this process (from its row's step on)."""

    def __init__(self, service: AgentService, row: AgentRun, spec: RunSpec, client: Any, token: CancelToken,
                 folder: Path) -> None:
        self.s, self.row, self.spec, self.client, self.token, self.folder = service, row, spec, client, token, folder
        self.steps: tuple[Step, ...] = spec.steps
        self.names = [st.name for st in self.steps]
        states = states_from_json(row.step_list)
        self.states = tuple(st if st.status != STEP_ACTIVE else type(st)(st.name, PENDING, st.attempts, st.note)
                            for st in states)
        self.owner, self.repo = row.owner_name, row.repo_name
        self.workspace: Any = None

    # -- helpers -------------------------------------------------------------------------------------
    def refresh(self) -> AgentRun:
        self.row = self.s.runs.get(self.row.id) or self.row
        return self.row

    def save(self, **values: Any) -> None:
        self.s.runs.update(self.row.id, steps=states_to_json(self.states), **values)
        self.s._publish(self.refresh(), self.spec, client=self.client)

    def stopped(self) -> str | None:
        """Why the run must stop now (cancelled, superseded, worker shutting down), or None."""
        if self.token.is_set():
            return self.token.reason or "cancelled"
        reason = self.refresh().cancel_reason
        if reason:
            self.token.cancel(reason)
        return reason

    def env(self, step: Step, iteration: int) -> dict[str, str]:
        home, tmp = self.folder / "home", self.folder / "tmp"
        home.mkdir(exist_ok=True)
        tmp.mkdir(exist_ok=True)
        return {**self.s.base_env, "HOME": str(home), "TMPDIR": str(tmp), "CI": "true",
                "TRUNKLINE_AGENT_RUN_ID": self.row.id, "TRUNKLINE_AGENT_STAGE": step.name,
                "TRUNKLINE_AGENT_ITERATION": str(iteration), "TRUNKLINE_AGENT_ISSUE": str(self.row.issue),
                "TRUNKLINE_AGENT_BRANCH": self.row.branch,
                "TRUNKLINE_AGENT_INPUT": str(self.folder / "input"),
                "TRUNKLINE_AGENT_OUTPUT": str(self.folder / "output"),
                "TRUNKLINE_AGENT_FAILURE": str(self.folder / "failure.md")}

    # -- the run ---------------------------------------------------------------------------------------
    def go(self) -> None:
        if self.row.resumes:
            events.announce(self.row, events.RESUMED, key=(self.row.resumes,))
        else:
            events.announce(self.row, events.RUNNING)
        if self.row.checkpoint_sha is None:
            base_ref = gh.default_branch(self.client, self.owner, self.repo)
            base_sha = gh.branch_sha(self.client, self.owner, self.repo, base_ref)
            if base_sha is None:
                raise RuntimeError(f"the default branch `{base_ref}` has no commits")
            gh.create_branch(self.client, self.owner, self.repo, self.row.branch, base_sha)
            self.s.runs.update(self.row.id, base_ref=base_ref, base_sha=base_sha, checkpoint_sha=base_sha)
        elif self.row.pr_number is None and gh.branch_sha(self.client, self.owner, self.repo, self.row.branch) is None:
            gh.create_branch(self.client, self.owner, self.repo, self.row.branch, str(self.row.checkpoint_sha))
        else:
            # Resumed (or a follow-up): the branch goes back to the checkpoint; later work is redone.
            head = gh.branch_sha(self.client, self.owner, self.repo, self.row.branch)
            if head is not None and head != self.row.checkpoint_sha and self.row.resumes:
                gh.reset_branch(self.client, self.owner, self.repo, self.row.branch, str(self.row.checkpoint_sha))
        self.refresh()
        self.save()
        if self.spec.backend == "local":
            from trunkline.agents.workspace import Workspace

            self.workspace = Workspace(self.client.repo(self.owner, self.repo), self.folder / "checkout",
                                       self.row.branch)
            self.workspace.checkout(str(self.row.checkpoint_sha))
        index = self.row.step_index
        while index is not None and index < len(self.steps):
            why = self.stopped()
            if why is not None:
                return self.stop(why)
            step = self.steps[index]
            iteration = self.row.failures + 1
            self.states = with_status(self.states, step.name, STEP_ACTIVE, attempt=True, note="")
            self.save(step_index=index)
            events.announce(self.row, events.STAGE_STARTED, stage=step.name, iteration=iteration,
                            key=(index, iteration))
            result = self.run_step(step, iteration)
            why = self.stopped()
            if why is not None or result.cancelled:
                return self.stop(why or self.token.reason or "cancelled")
            if result.passed:
                nxt = after_success(self.steps, index)
                self.states = with_status(self.states, step.name, PASSED)
                checkpoint = self.row.checkpoint_sha
                if nxt.checkpoint:
                    checkpoint = self.checkpoint(step, iteration)
                    self.archive_failure()
                self.save(step_index=nxt.index if nxt.action == "continue" else len(self.steps),
                          checkpoint_sha=checkpoint)
                events.announce(self.row, events.STAGE_PASSED, stage=step.name, iteration=iteration,
                                key=(index, iteration))
                index = nxt.index if nxt.action == "continue" else len(self.steps)
                continue
            failures = self.row.failures + 1
            self.write_failure(step, iteration, result.failure)
            nxt = after_failure(self.steps, index, failures, self.spec.max_iterations)
            first_line = result.failure.strip().splitlines()[0][:200] if result.failure.strip() else "failed"
            self.states = with_status(self.states, step.name, FAILED_STEP, note=_code(first_line))
            if nxt.action == "stop":
                self.s.runs.update(self.row.id, failures=failures, steps=states_to_json(self.states))
                self.s._finish(self.refresh(), self.spec, FAILED, f"{nxt.reason}. Last failure: {_code(first_line)}")
                return None
            self.reset_to_checkpoint()
            assert nxt.index is not None
            self.states = reset_from(self.states, self.names, nxt.index)
            index = nxt.index
            self.save(step_index=index, failures=failures)
            events.announce(self.row, events.RETRYING, stage=step.name, iteration=iteration, reason=first_line,
                            key=(failures,))
        why = self.stopped()
        if why is not None:
            return self.stop(why)
        return self.succeed()

    def run_step(self, step: Step, iteration: int) -> StageResult:
        log_path = self.folder / "logs" / log_name(step.name, iteration)
        if step.is_tier:
            return self.run_tier(step, iteration, log_path)
        if self.spec.backend == "actions":
            from .backends import run_actions_stage

            return run_actions_stage(self, step, iteration)
        outcome = run_commands([step.command], cwd=self.workspace.root, budget=step.budget,
                               env=self.env(step, iteration), cancel=self.token, grace=self.s.grace,
                               log_path=log_path, marker=self.row.marker,
                               on_start=lambda pgid: self.s.runs.update(self.row.id, pgid=pgid))
        result = outcome.commands[0]
        if result.status == RUN_PASSED:
            return StageResult(True)
        if result.status == RUN_CANCELLED or outcome.stopped == "cancelled":
            return StageResult(False, cancelled=True)
        if result.status == BUDGET:
            why = f"`{step.name}` did not finish within its budget of {step.budget}s"
        elif result.exit_code is not None:
            why = f"`{step.name}` exited with code {result.exit_code}"
        else:
            why = f"`{step.name}` could not run: {result.message}"
        return StageResult(False, f"{why}\n\n{result.output_tail}")

    def run_tier(self, step: Step, iteration: int, log_path: Path) -> StageResult:
        from trunkline.gates.config import Tier
        from trunkline.gates.executors.local import execute_tier
        from trunkline.gates.report import summary_markdown

        tier_spec = self.spec.tier
        assert tier_spec is not None
        tier = Tier(tier_spec.name, tier_spec.commands, tier_spec.budget, ("pull_request",), True,
                    junit=tier_spec.junit, env=dict(tier_spec.env))
        cwd = self.workspace.root if self.workspace is not None else None
        if cwd is None:  # actions backend: the workflow pushed its work; verify the branch head
            from trunkline.agents.workspace import Workspace

            head = gh.branch_sha(self.client, self.owner, self.repo, self.row.branch)
            check = Workspace(self.client.repo(self.owner, self.repo), self.folder / "checkout", self.row.branch)
            check.checkout(str(head))
            cwd = check.root
        result = execute_tier(tier, cwd, env=self.env(step, iteration), cancel=self.token, grace=self.s.grace,
                              log_path=log_path, marker=self.row.marker,
                              on_start=lambda pgid: self.s.runs.update(self.row.id, pgid=pgid))
        (self.folder / "output").mkdir(exist_ok=True)
        (self.folder / f"tier-{iteration}.json").write_text(json.dumps(result.to_json(), indent=2))
        if result.ok:
            return StageResult(True)
        if result.verdict == RUN_CANCELLED:
            return StageResult(False, cancelled=True)
        tail = "\n".join(c.output_tail for c in result.commands if c.output_tail)
        return StageResult(False, f"{summary_markdown(result)}\n\nOutput:\n\n{tail}")

    def checkpoint(self, step: Step, iteration: int) -> str | None:
        if self.workspace is not None:
            return self.workspace.checkpoint(f"{step.name} (agent run {self.row.id}, iteration {iteration})\n\n"
                                             f"Trunkline agent run for #{self.row.issue}.")
        return gh.branch_sha(self.client, self.owner, self.repo, self.row.branch)

    def reset_to_checkpoint(self) -> None:
        if self.workspace is not None:
            self.workspace.reset()
            return
        gh.reset_branch(self.client, self.owner, self.repo, self.row.branch, str(self.row.checkpoint_sha))

    def write_failure(self, step: Step, iteration: int, text: str) -> None:
        body = (f"# Iteration {iteration}: `{step.label}` failed\n\n"
                "The work was reset to the run's last checkpoint. Fix what this output shows.\n\n"
                f"{text.strip()}\n")
        (self.folder / "failure.md").write_text(body, encoding="utf-8")
        (self.folder / "failures").mkdir(exist_ok=True)
        (self.folder / "failures" / f"{iteration}.md").write_text(body, encoding="utf-8")

    def archive_failure(self) -> None:
        path = self.folder / "failure.md"
        if path.exists():
            path.unlink()

    def stop(self, reason: str) -> None:
        if reason == SHUTDOWN:
            return None  # left running: the next process resumes it from the checkpoint
        self.s._finish(self.refresh(), self.spec, CANCELLED, reason)
        return None

    def succeed(self) -> None:
        row = self.refresh()
        plan_file = self.folder / "output" / "plan.md"
        plan = plan_file.read_text(encoding="utf-8", errors="replace") if plan_file.exists() else ""
        if row.pr_number is not None:
            self.s._finish(row, self.spec, SUCCEEDED, f"pushed to `{row.branch}`", opened_pr=row.pr_number)
            return
        if row.checkpoint_sha == row.base_sha:
            self.s._finish(row, self.spec, FAILED, "the agent changed nothing, so there is no pull request to open")
            return
        data = json.loads((self.folder / "input" / "issue.json").read_text())
        title = (data.get("title") or f"Issue #{row.issue}").strip()[:200]
        pr = gh.find_pull(self.client, self.owner, self.repo, row.branch)
        if pr is None:
            if self.stopped() is not None:
                return self.stop(self.token.reason or "cancelled")
            body = render_pr_body(issue=row.issue, run_id=row.id, plan=plan, steps=self.states, actor=row.actor,
                                  trigger=row.trigger_text or row.label)
            pr = gh.open_pull(self.client, self.owner, self.repo, head=row.branch, base=row.base_ref or "main",
                              title=title, body=body, draft=self.spec.draft)
        self.s._finish(row, self.spec, SUCCEEDED, f"opened #{pr['number']}", opened_pr=int(pr["number"]),
                       pr_url=pr.get("html_url"))
        return None


def _code(text: str) -> str:
    from trunkline.commands.feedback import inline_code

    return inline_code(text, limit=200)


def _bot_login(client: Any) -> str | None:
    app = getattr(client, "app", None)
    try:
        return app.bot_login() if app is not None else None
    except Exception:  # noqa: BLE001
        return None


# ---------------------------------------------------------------------------------------------- process-wide

_service: AgentService | None = None
_service_lock = threading.Lock()


def get_service() -> AgentService:
    global _service
    with _service_lock:
        if _service is None:
            from trunkline.merge.service import default_store

            _service = AgentService(default_store(), work_root=agents_root(),
                                    slots=int(env_float("TRUNKLINE_AGENTS_SLOTS", 4)),
                                    grace=env_float("TRUNKLINE_GATES_KILL_GRACE", 5.0),
                                    poll=env_float("TRUNKLINE_AGENTS_POLL_SECONDS", 5.0),
                                    progress_every=env_float("TRUNKLINE_AGENTS_PROGRESS_SECONDS", PROGRESS_EVERY))
            at_interpreter_exit(_service.stop_running)
        return _service


def set_service(service: AgentService | None) -> None:
    global _service
    with _service_lock:
        _service = service
