"""The deploy controller's imperative shell: the reconcile loop, leases, probes, GitHub side effects.

Where it runs: every bot process (``trunkline serve``, ``trunkline worker``) starts one
:class:`DeployService` when it builds its processor (``on_startup`` in :mod:`trunkline.deploy.handlers`).
Its loop thread looks at unfinished runs (``deploy_runs``) every :data:`LOOP_TICK` seconds and leases
each to itself when free — a lease is ``host:pid:token`` with an expiry the owner keeps extending; a
lease whose process is dead on this host is taken over at once, any other after it expired. A run this
process owns gets its own thread, which repeats:

1. read the record; run the probes that are due against the targets the state asks for;
2. ``step(record, observation)`` (pure: :mod:`trunkline.deploy.controller`);
3. persist the new record (compare-and-set on the row version while holding the lease) **before**
   executing anything, then execute the returned actions (deployer, GitHub Deployments and statuses,
   checkpoint tags, the rollback issue and PR comment, DeployStateChanged events) and feed the results
   back at once.

A worker killed at any point leaves the record as last persisted: pending actions are in its outbox.
The process that takes the run over tells the controller (``resumed``), which confirms pending deployer
actions through the deployer's status instead of repeating them, and rolls back when it cannot.

Settings (environment): ``TRUNKLINE_DEPLOY_TICK`` (seconds between two steps of a run, 0.25),
``TRUNKLINE_DEPLOY_LEASE_SECONDS`` (15), ``TRUNKLINE_DEPLOY_DIR`` (where commands run, default
``$TRUNKLINE_DATA_DIR/deploy``). Deployment statuses' ``log_url`` is the run's signed page link
(:mod:`trunkline.deploy.page`: ``trunkline serve``'s address or ``TRUNKLINE_PUBLIC_URL``, and the links'
key), else the commit page.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from trunkline.gates.service import _env_float, _pid_alive, _q, owner_pid
from trunkline.store.deploy_runs import DeployRunRepo, DeployRunRow

from . import controller as c
from .deployers import Deployer, action_key, make_deployer, targets_of
from .page import page_link
from .report import ROLLBACK_LABEL, checkpoint_tag, pr_comment, rollback_issue

log = logging.getLogger(__name__)

LOOP_TICK = 0.25
MAX_STEPS_PER_TICK = 20


def dead_owner(owner: str | None, host: str) -> bool:
    """A lease owner ``host:pid:token`` whose process is gone (only decidable on the same host)."""
    owner_host, pid = owner_pid(owner)
    return owner_host == host and pid is not None and not _pid_alive(pid)


# ============================================================================================ GitHub

class GitHubIO:
    """The few REST calls the controller's actions need (``client``: an installation client)."""

    def __init__(self, client: Any, owner: str, repo: str) -> None:
        self.client = client
        self.owner, self.repo = owner, repo
        self.base = f"/repos/{_q(owner)}/{_q(repo)}"

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["input"] = body
        if params is not None:
            kwargs["parameters"] = params
        _, data = self.client.request_json(method, self.base + path, **kwargs)
        return data

    def create_deployment(self, sha: str, environment: str, *, production: bool, description: str,
                          run_id: int) -> int:
        data = self.call("POST", "/deployments", {
            "ref": sha, "environment": environment, "auto_merge": False, "required_contexts": [],
            "description": description[:140], "production_environment": production,
            "transient_environment": not production, "payload": {"trunkline_run": run_id}, "task": "deploy"})
        return int(data["id"])

    def deployment_status(self, deployment_id: int, state: str, description: str, log_url: str,
                          environment_url: str = "") -> None:
        body = {"state": state, "description": description[:140], "log_url": log_url,
                "auto_inactive": state == "success"}
        if environment_url:
            body["environment_url"] = environment_url
        self.call("POST", f"/deployments/{int(deployment_id)}/statuses", body)

    def production_sha(self, environment: str) -> str | None:
        """SHA of the newest deployment of ``environment`` whose latest status is success."""
        deployments = self.call("GET", "/deployments", params={"environment": environment, "per_page": 20}) or []
        for d in deployments:
            statuses = self.call("GET", f"/deployments/{int(d['id'])}/statuses", params={"per_page": 1}) or []
            if statuses and statuses[0].get("state") == "success":
                return str(d["sha"])
        return None

    def tag(self, sha: str, now: float) -> str:
        from github.GithubException import GithubException

        taken: list[str] = []
        for _ in range(5):
            name = checkpoint_tag(now, taken)
            try:
                self.call("POST", "/git/refs", {"ref": f"refs/tags/{name}", "sha": sha})
                return name
            except GithubException as exc:
                if exc.status != 422:
                    raise
                taken.append(name)
        raise RuntimeError("no free checkpoint tag name")

    def merged_pr(self, sha: str) -> int | None:
        pulls = self.call("GET", "/pulls", params={"state": "closed", "sort": "updated", "direction": "desc",
                                                   "per_page": 50}) or []
        for pr in pulls:
            if pr.get("merge_commit_sha") == sha:
                return int(pr["number"])
        return None

    def report_rollback(self, title: str, body: str, comment: Callable[[int], str], pr_number: int | None) -> int:
        """Open the rollback issue (or update the open one) and comment on the merged PR; the issue number."""
        issues = self.call("GET", "/issues", params={"state": "open", "labels": ROLLBACK_LABEL, "per_page": 10}) or []
        existing = next((i for i in issues if "pull_request" not in i), None)
        if existing is not None:
            number = int(existing["number"])
            self.call("PATCH", f"/issues/{number}", {"title": title, "body": body})
            self.call("POST", f"/issues/{number}/comments", {"body": body})
        else:
            number = int(self.call("POST", "/issues", {"title": title, "body": body, "labels": [ROLLBACK_LABEL]})["number"])
        if pr_number is not None:
            self.call("POST", f"/issues/{int(pr_number)}/comments", {"body": comment(number)})
        return number


# ============================================================================================ one run

class RunDriver:
    """Drives one run this process holds the lease of (see the module docstring)."""

    def __init__(self, service: DeployService, row: DeployRunRow, resumed: bool) -> None:
        self.service = service
        self.run_id = row.id
        self.resumed = resumed
        self.results: list[c.Result] = []
        self.measurements: list[dict[str, Any]] = []
        self.next_probe: dict[tuple[str, str], float] = {}
        self.targets: dict[str, str] = {}
        self.targets_state = ""
        self.section: Any = None
        self.config_key = ""
        self.deployer: Deployer | None = None
        self.github: GitHubIO | None = None
        self.last_status: dict[str, str] = {}
        self.created: dict[str, int] = {}  # deployments made in this batch (the record learns them next step)

    # -- setup ---------------------------------------------------------------------------------------
    def _setup(self, row: DeployRunRow, data: Mapping[str, Any]) -> None:
        from trunkline.config.sections_deploy import DeploySection

        config = data.get("config") or {}
        key = c.config_hash(config)
        if key == self.config_key:
            return
        self.config_key = key
        self.section = DeploySection.model_validate(config)
        client = self.service.client_for(row.installation_id)
        owner, _, repo = row.repo.partition("/")
        self.github = GitHubIO(client, owner, repo) if client is not None else None
        self.deployer = make_deployer(self.section, repository=row.repo, run_id=row.id,
                                      cwd=self.service.work_root, env=self.service.env, client=client,
                                      default_branch=str(data.get("default_branch") or "main"))
        self.last_status = dict(data.get("status_states") or {})

    # -- the loop ------------------------------------------------------------------------------------
    def run(self) -> None:
        svc = self.service
        try:
            while not svc.stopping.is_set():
                if not self.tick():
                    return
                svc.stopping.wait(svc.tick)
        except Exception:  # noqa: BLE001 - the lease runs out and another pass (or process) resumes the run
            log.exception("deploy run %s: driver failed; it will be resumed", self.run_id)
            svc.stopping.wait(2.0)  # not in a tight loop
        finally:
            svc.forget(self.run_id)

    def tick(self) -> bool:
        """One round; False when the run is done or no longer ours."""
        svc = self.service
        for _ in range(MAX_STEPS_PER_TICK):
            row = svc.runs.get(self.run_id)
            if row is None or row.done or row.lease_owner != svc.me:
                return False
            data = row.data
            self._setup(row, data)
            rec = c.from_dict(data["run"])
            if not self.results:
                self._probe(rec)
            obs = c.Observation(time.time(), results=tuple(self.results), measurements=tuple(self.measurements),
                                resumed=self.resumed, **self._context(row, rec))
            new, actions = c.step(rec, obs)
            data = {**data, "run": c.to_dict(new), "status_states": self.last_status}
            if not svc.runs.save(row.id, row.version, record=data, state=new.state, done=new.done, now=obs.now,
                                 owner=svc.me):
                continue  # a command changed the row meanwhile: step again on the fresh record
            self.results, self.measurements, self.resumed = [], [], False
            if new.state != rec.state:
                log.info("deploy run %s (%s %s): %s -> %s %s", row.id, row.repo, row.sha[:7], rec.state, new.state,
                         new.reason)
            if new.done:
                svc.runs.release(row.id, svc.me)
                return False
            if not actions:
                return True
            self.results = [self._execute(row, new, a) for a in actions]
        return True

    def _context(self, row: DeployRunRow, rec: c.Record) -> dict[str, Any]:
        """older_active / newer_sha / production_sha for the observation."""
        others = self.service.runs.for_repo(row.repo)
        older = any(o.id < row.id and not o.done and o.state not in c.TERMINAL for o in others)
        newer = [o for o in others if o.id > row.id and not o.trigger.startswith("rollback")]
        out: dict[str, Any] = {"older_active": older, "newer_sha": newer[-1].sha if newer else None}
        if rec.state == c.QUEUED and not older:
            out["production_sha"] = self._production_sha(row, rec)
        return out

    def _production_sha(self, row: DeployRunRow, rec: c.Record) -> str | None:
        if self.github is not None:
            try:
                found = self.github.production_sha(rec.plan.production_env)
                if found:
                    return found
            except Exception:  # noqa: BLE001 - fall back to our own records
                log.warning("deploy run %s: listing deployments failed", row.id, exc_info=True)
        done = [o for o in self.service.runs.for_repo(row.repo) if o.id < row.id and o.state == c.SUCCEEDED]
        return done[-1].sha if done else None

    # -- probes --------------------------------------------------------------------------------------
    def _refresh_targets(self, rec: c.Record) -> None:
        marker = f"{rec.state}:{rec.phase}:{rec.step}"
        if self.section.targets is not None:
            self.targets = {"canary": self.section.targets.canary, "stable": self.section.targets.stable}
            return
        if marker == self.targets_state and self.targets:
            return
        status = self.deployer.status() if self.deployer is not None else None
        self.targets = targets_of(status)
        self.targets_state = marker

    def _probe(self, rec: c.Record) -> None:
        wanted = c.probe_targets(rec)
        if not wanted or not self.section.probes:
            return
        self._refresh_targets(rec)
        now = time.time()
        due = []
        for spec in self.section.probes:
            for target in wanted:
                key = (spec.name, target)
                if self.next_probe.get(key, 0.0) <= now:
                    self.next_probe[key] = now + spec.interval_seconds
                    due.append((spec, target))
        if not due:
            return
        from trunkline.deploy.probes import Measurement, run_probe

        def one(spec: Any, target: str) -> dict[str, Any]:
            url = self.targets.get(target)
            if not url:
                return Measurement(spec.name, target, time.time(), "error", None,
                                   f"no URL for the {target} version").to_dict()
            return run_probe(spec, url, target=target, env=self.service.env).to_dict()

        futures = [self.service.probe_pool.submit(one, spec, target) for spec, target in due]
        self.measurements.extend(f.result() for f in futures)

    # -- actions -------------------------------------------------------------------------------------
    def _execute(self, row: DeployRunRow, rec: c.Record, action: c.Action) -> c.Result:
        try:
            return self._execute_one(row, rec, action)
        except Exception as exc:  # noqa: BLE001 - a failed action is a result, the controller decides
            log.warning("deploy run %s: %s failed: %s", row.id, action.kind, exc, exc_info=True)
            return c.Result(action.id, False, error=f"{type(exc).__name__}: {exc}"[:500])

    def _execute_one(self, row: DeployRunRow, rec: c.Record, action: c.Action) -> c.Result:
        args = action.args
        kind = action.kind
        if kind in (c.DEPLOY_CANARY, c.SET_WEIGHT, c.PROMOTE, c.ROLLBACK):
            assert self.deployer is not None
            outcome = self.deployer.run(kind, sha=args.get("sha"), weight=args.get("weight"),
                                        environment=str(args.get("environment") or ""),
                                        key=action_key(row.id, action.id))
            if outcome.ok and self.section.targets is None:
                found = targets_of(outcome.data)
                if found:
                    self.targets, self.targets_state = found, ""
            self.next_probe.clear()  # probe the new situation at once
            return c.Result(action.id, outcome.ok, dict(outcome.data), outcome.detail)
        if kind == c.CONFIRM:
            assert self.deployer is not None
            confirmed, why, seen = self.deployer.confirm(str(args.get("of")), args, action_key(row.id, action.id))
            return c.Result(action.id, True, {"confirmed": confirmed, "status": seen}, why)
        github = self.github
        if github is None:
            return c.Result(action.id, False, error="no GitHub client for this installation")
        if kind == c.CREATE_DEPLOYMENT:
            deployment_id = github.create_deployment(str(args.get("sha") or rec.sha), str(args["environment"]),
                                                     production=bool(args.get("production")),
                                                     description=str(args.get("description") or ""), run_id=row.id)
            self.created[str(args.get("key") or args["environment"])] = deployment_id
            return c.Result(action.id, True, {"id": deployment_id})
        if kind == c.DEPLOYMENT_STATUS:
            env = str(args["environment"])
            ids = {**rec.deployments, **self.created}
            deployment_id = ids.get(str(args.get("key") or env))
            if deployment_id is None:
                return c.Result(action.id, True, {"skipped": "no deployment"})
            github.deployment_status(deployment_id, str(args["state"]), str(args.get("description") or ""),
                                     self.service.log_url(row, rec), self.targets.get("canary" if env ==
                                                                                      rec.plan.canary_env else "stable", ""))
            self._publish(row, rec, deployment_id, env, str(args["state"]), args)
            return c.Result(action.id, True)
        if kind == c.TAG:
            name = github.tag(str(args.get("sha") or rec.sha), time.time())
            log.info("deploy run %s: checkpoint tag %s on %s", row.id, name, rec.sha[:7])
            return c.Result(action.id, True, {"tag": name})
        if kind == c.REPORT_ROLLBACK:
            reason, target = str(args.get("reason") or rec.reason), args.get("target")
            data = row.data
            title, body = rollback_issue(rec, reason, target, run_id=row.id, repo_url=str(data.get("html_url") or ""),
                                         log_url=page_link(row.id) or "")
            pr_number = rec.pr_number or github.merged_pr(rec.sha)
            number = github.report_rollback(title, body, lambda issue: pr_comment(rec, reason, target, issue),
                                            pr_number)
            return c.Result(action.id, True, {"issue": number})
        return c.Result(action.id, False, error=f"unknown action {kind}")

    def _publish(self, row: DeployRunRow, rec: c.Record, deployment_id: int, env: str, state: str,
                 args: Mapping[str, Any]) -> None:
        key = str(args.get("key") or env)
        previous = self.last_status.get(key)
        self.last_status[key] = state
        try:
            from trunkline import stream
            from trunkline.api.events import DeployStateChanged
        except ImportError:
            return
        weight = args.get("weight")
        stream.emit(DeployStateChanged, id=stream.stable_id("deploy", row.id, deployment_id, state, args.get("description")),
                    repository=row.repo, deployment_id=int(deployment_id), environment=env,
                    sha=str(args.get("sha") or rec.sha),
                    state=state, previous_state=previous,
                    canary_percent=int(weight) if weight is not None and env == rec.plan.canary_env else None,
                    description=str(args.get("description") or "") or None)


# ============================================================================================ the service

class DeployService:
    """One per process: the loop thread, the run threads, the API commands and handlers call."""

    def __init__(self, store: Any, app: Any = None, *, work_root: Path, tick: float = LOOP_TICK,
                 lease: float = 15.0, env: Mapping[str, str] | None = None) -> None:
        from trunkline.gates.runner import scrub_env

        self.store = store
        self.runs = DeployRunRepo(store)
        self.app = app
        self.work_root = work_root
        self.tick = tick
        self.lease = lease
        self.env = dict(env) if env is not None else scrub_env(os.environ)
        self.host = socket.gethostname()
        self.me = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()
        self.live: dict[int, threading.Thread] = {}
        self.lock = threading.Lock()
        self.probe_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="trunkline-probe")
        self._loop: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._loop is None or not self._loop.is_alive():
            self._loop = threading.Thread(target=self._run_loop, name="trunkline-deploy", daemon=True)
            self._loop.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._loop is not None:
            self._loop.join(5)
        with self.lock:
            threads = list(self.live.values())
        for thread in threads:
            thread.join(5)
        self.probe_pool.shutdown(wait=False, cancel_futures=True)

    def forget(self, run_id: int) -> None:
        with self.lock:
            self.live.pop(run_id, None)

    def client_for(self, installation_id: int | None) -> Any:
        if self.app is None or installation_id is None:
            return None
        return self.app.installation(int(installation_id))

    def log_url(self, row: DeployRunRow, rec: c.Record) -> str:
        """The run's page (a signed link, :mod:`trunkline.deploy.page`); the commit page without links."""
        link = page_link(row.id)
        if link:
            return link
        html = str(row.data.get("html_url") or "")
        return f"{html}/commit/{rec.sha}" if html else ""

    def _run_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a database hiccup: try again next round
                log.warning("deploy loop round failed", exc_info=True)
            self.stopping.wait(self.tick)

    def sweep(self) -> int:
        """Extend our leases; lease and start every unfinished run nobody (alive) drives. How many started."""
        now = time.time()
        self.runs.extend(self.me, self.lease, now)
        started = 0
        for row in self.runs.unfinished():
            with self.lock:
                if row.id in self.live:
                    continue
            previous = row.lease_owner
            take_from = previous if dead_owner(previous, self.host) else None
            if not self.runs.acquire(row.id, self.me, self.lease, now, take_from=take_from):
                continue
            resumed = previous is not None and previous != self.me
            if resumed:
                log.warning("deploy run %s (%s %s): taking over from %s (state %s)", row.id, row.repo,
                            row.sha[:7], previous, row.state)
            driver = RunDriver(self, row, resumed)
            thread = threading.Thread(target=driver.run, name=f"trunkline-deploy-{row.id}", daemon=True)
            with self.lock:
                self.live[row.id] = thread
            thread.start()
            started += 1
        return started

    # -- API -------------------------------------------------------------------------------------------
    def create_run(self, *, repo: str, installation_id: int | None, sha: str, section: Any, trigger: str,
                   default_branch: str, html_url: str = "", pr_number: int | None = None,
                   extra_gate: bool = False, request: Mapping[str, Any] | None = None,
                   pinned: str | None = None) -> DeployRunRow | None:
        """Record a new run (queued); None when this trigger already made one for the commit. ``pinned``:
        production's SHA, known already (a rollback run: what it rolls back from)."""
        now = time.time()
        config = section.model_dump(mode="json", exclude_unset=True)  # validates again to the same section
        plan = c.plan_of(section)
        if extra_gate:  # a hand-made canary (e.g. of a PR head) never reaches production on its own
            plan = replace(plan, steps=(*plan.steps, c.Step(manual=True)))
        rec = c.new_record(repo.lower(), sha, plan, now=now, trigger=trigger, config_hash=c.config_hash(config),
                           pr_number=pr_number)
        if request is not None:
            rec = replace(rec, request=dict(request))
        if pinned:
            rec = replace(rec, rollback_sha=pinned)
        data = {"run": c.to_dict(rec), "config": config, "default_branch": default_branch, "html_url": html_url}
        row = self.runs.create(repo=repo.lower(), installation_id=installation_id, sha=sha, trigger=trigger,
                               state=rec.state, record=data, now=now)
        if row is not None:
            log.info("deploy run %s: %s %s queued (%s)", row.id, repo, sha[:7], trigger)
        return row

    def active_run(self, repo: str) -> DeployRunRow | None:
        """The newest run of ``repo`` that is not in a terminal state."""
        runs = [r for r in self.runs.for_repo(repo.lower(), unfinished_only=True) if r.state not in c.TERMINAL]
        return runs[-1] if runs else None

    def request(self, run_id: int, kind: str, *, by: str, sha: str | None = None) -> DeployRunRow | None:
        """Store a person's request on the run (compare-and-set, retried); the loop acts on it next tick."""
        for _ in range(20):
            row = self.runs.get(run_id)
            if row is None or row.state in c.TERMINAL:
                return None
            data = row.data
            rec = c.with_request(c.from_dict(data["run"]), kind, by=by, sha=sha)
            data = {**data, "run": c.to_dict(rec)}
            if self.runs.save(row.id, row.version, record=data, state=row.state, done=row.done, now=time.time()):
                return self.runs.get(run_id)
            time.sleep(0.02)
        return None

    def last_succeeded(self, repo: str) -> DeployRunRow | None:
        done = [r for r in self.runs.for_repo(repo.lower()) if r.state == c.SUCCEEDED]
        return done[-1] if done else None


# ============================================================================================ process-wide

_service: DeployService | None = None
_service_lock = threading.Lock()


def get_service(app: Any = None) -> DeployService:
    """This process's service (made on first use on the bot's database)."""
    global _service
    with _service_lock:
        if _service is None:
            from trunkline.merge.service import default_store

            data_dir = Path(os.environ.get("TRUNKLINE_DATA_DIR") or ".trunkline")
            work_root = Path(os.environ.get("TRUNKLINE_DEPLOY_DIR") or data_dir / "deploy").resolve()
            _service = DeployService(default_store(), app, work_root=work_root,
                                     tick=_env_float("TRUNKLINE_DEPLOY_TICK", LOOP_TICK),
                                     lease=_env_float("TRUNKLINE_DEPLOY_LEASE_SECONDS", 15.0))
        elif app is not None and _service.app is None:
            _service.app = app
        return _service


def set_service(service: DeployService | None) -> None:
    global _service
    with _service_lock:
        _service = service


def section_of(config: Any) -> Any:
    """The ``deploy:`` section of a resolved config (None: no deploys)."""
    return getattr(config, "deploy", None) if config is not None else None


__all__: Sequence[str] = ("DeployService", "GitHubIO", "RunDriver", "get_service", "section_of", "set_service")
