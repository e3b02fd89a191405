"""LocalDeployer: stable + canary processes from git worktrees behind the weighted proxy.

Layout of ``state_dir``::

    state.json          the one record (repo, command, proxy, stable, canary, weight); written atomically
    routes.json         what the proxy routes (read by a restarted proxy)
    lock                flock: one operation at a time, across processes
    repo.git/           bare clone of ``repo``; commits are fetched into it on demand
    worktrees/<sha>/    one checkout per running commit
    logs/<role>-<sha12>.log, logs/proxy.log

Processes are started in their own session (``start_new_session``), so they outlive the worker or CLI
that started them; any later ``LocalDeployer`` on the same ``state_dir`` reattaches through
``state.json``. A pid is trusted only while ``/proc/<pid>/stat`` shows the same start time as when it
was started (pids get reused). Every operation is idempotent: repeating it changes nothing.

Readiness: a started version is ready once it answers HTTP on ``health_path`` with any status —
judging its health is the probes' job, so a build whose /health answers 500 still deploys (and
then fails its probes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .proxy import CONTROL_PATH

DEFAULT_APP_COMMAND = "{python} -m uvicorn examples.service.app:app --host 127.0.0.1 --port {port}"
STATE_VERSION = 1
LOOPBACK = "127.0.0.1"


class DeployError(RuntimeError):
    """A deploy step failed (message for people)."""


@dataclass(frozen=True)
class Instance:
    sha: str
    url: str
    pid: int
    alive: bool

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "url": self.url, "pid": self.pid, "alive": self.alive}


@dataclass(frozen=True)
class DeployState:
    stable: Instance | None
    canary: Instance | None
    weight: int  # percent of requests the proxy sends to the canary
    proxy_url: str | None
    proxy_pid: int | None = None
    proxy_alive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"stable": self.stable and self.stable.to_dict(), "canary": self.canary and self.canary.to_dict(),
                "weight": self.weight, "proxy_url": self.proxy_url, "proxy_pid": self.proxy_pid,
                "proxy_alive": self.proxy_alive}


# --- processes -------------------------------------------------------------------------------------------

def _start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot); None when there is no such live process."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if not Path("/proc/self/stat").exists():  # not Linux: fall back to signal 0
            try:
                os.kill(pid, 0)
            except OSError:
                return None
            return 0
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def process_alive(pid: int | None, start_time: int | None) -> bool:
    if not pid:
        return False
    now = _start_time(pid)
    return now is not None and (start_time is None or now == 0 or now == start_time)


def stop_process(pid: int | None, start_time: int | None, grace: float = 3.0) -> None:
    """SIGTERM the process group of ``pid``, SIGKILL after ``grace`` seconds; no-op when it is gone."""
    if not process_alive(pid, start_time):
        return
    assert pid is not None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not process_alive(pid, start_time):
                return
            time.sleep(0.02)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _answers(url: str, timeout: float = 1.0) -> bool:
    try:
        httpx.get(url, timeout=timeout, trust_env=False)
        return True
    except httpx.HTTPError:
        return False


# --- the deployer ----------------------------------------------------------------------------------------

class LocalDeployer:
    """Stable and canary of ``repo`` on loopback behind a weighted proxy; all state in ``state_dir``."""

    def __init__(self, state_dir: Path | str, repo: str | None = None, *, app_command: str | None = None,
                 health_path: str | None = None, start_timeout: float = 30.0, proxy_port: int | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = self.state_dir / "state.json"
        self.routes_file = self.state_dir / "routes.json"
        self.start_timeout = start_timeout
        self.env = dict(env or {})
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None
        record = self._load()
        # settings given now win and are remembered; otherwise the record's, otherwise the defaults
        self.repo = _absolute(repo) if repo else record.get("repo")
        self.app_command = app_command or record.get("app_command") or DEFAULT_APP_COMMAND
        self.health_path = health_path or record.get("health_path") or "/health"
        self.proxy_port = proxy_port or (record.get("proxy") or {}).get("port")
        if not self.health_path.startswith("/"):
            raise DeployError(f"health path must start with '/': {self.health_path!r}")
        try:
            self.app_command.format(python="python", port=0, sha="", host=LOOPBACK)
        except (KeyError, IndexError, ValueError) as exc:
            raise DeployError(f"app command {self.app_command!r}: unknown placeholder {exc} "
                              "(use {python}, {port}, {sha}, {host})") from None

    # -- public operations --------------------------------------------------------------------------------

    @property
    def proxy_url(self) -> str | None:
        port = (self._load().get("proxy") or {}).get("port") or self.proxy_port
        return f"http://{LOOPBACK}:{port}" if port else None

    @property
    def stable_url(self) -> str | None:
        entry = self._load().get("stable")
        return _url(entry) if entry else None

    @property
    def canary_url(self) -> str | None:
        entry = self._load().get("canary")
        return _url(entry) if entry else None

    def deploy_canary(self, sha: str, weight: int) -> DeployState:
        """Start ``sha`` as the canary (replacing another canary) and send it ``weight`` % of requests."""
        _check_weight(weight)
        with self._locked() as record:
            full = self._resolve(sha)
            self._ensure_running(record)
            canary = record.get("canary")
            if canary and canary["sha"] == full and _alive(canary):
                if record.get("weight") != weight:
                    record["weight"] = weight
                    self._route(record)
                return self._state(record)
            if canary:  # a different (or dead) canary: take it out of the routes, then stop it
                record["canary"], record["weight"] = None, 0
                self._route(record)
                self._stop(canary, record)
            record["canary"] = self._start(full, "canary", record)
            record["weight"] = weight
            self._route(record)
            return self._state(record)

    def set_weight(self, weight: int) -> DeployState:
        """Send ``weight`` % of requests to the deployed canary."""
        _check_weight(weight)
        with self._locked() as record:
            if not record.get("canary") and weight:
                raise DeployError("no canary is deployed: deploy one before setting its weight")
            self._ensure_running(record)
            if record.get("weight") != weight:
                record["weight"] = weight
                self._route(record)
            return self._state(record)

    def promote(self, sha: str) -> DeployState:
        """Make ``sha`` stable with 100 % of requests: the canary of that SHA is kept running as the new
        stable (no restart); any other SHA is started. The previous stable (and any other canary) stops."""
        with self._locked() as record:
            full = self._resolve(sha)
            self._ensure_running(record)
            old_stable, canary = record.get("stable"), record.get("canary")
            if old_stable and old_stable["sha"] == full and not canary and _alive(old_stable):
                return self._state(record)
            if canary and canary["sha"] == full and _alive(canary):
                new_stable = canary
            elif old_stable and old_stable["sha"] == full and _alive(old_stable):
                new_stable = old_stable
            else:
                new_stable = self._start(full, "stable", record)
            new_stable["role"] = "stable"
            record["stable"], record["canary"], record["weight"] = new_stable, None, 0
            self._route(record)
            for entry in (old_stable, canary):
                if entry and entry["pid"] != new_stable["pid"]:
                    self._stop(entry, record)
            return self._state(record)

    def rollback(self, sha: str | None = None) -> DeployState:
        """Weight 0 to the canary at once (the first thing done), then stop it. With ``sha`` different from
        stable's, that SHA is started and becomes stable (the previous stable stops once it serves)."""
        with self._locked() as record:
            canary = record.get("canary")
            if canary or record.get("weight"):
                record["canary"], record["weight"] = None, 0
                self._route(record)  # the flip: stable serves everything from here on
            if canary:
                self._stop(canary, record)
            stable = record.get("stable")
            if sha is not None:
                full = self._resolve(sha)
                if not (stable and stable["sha"] == full and _alive(stable)):
                    record["stable"] = self._start(full, "stable", record)
                    self._route(record)
                    if stable:
                        self._stop(stable, record)
            self._ensure_running(record)
            return self._state(record)

    def status(self) -> DeployState:
        """What runs now (pids checked against the processes, not just read from the record)."""
        return self._state(self._load())

    def stop_all(self) -> None:
        """Stop the proxy, stable and canary, and remove their worktrees (the record keeps repo and port)."""
        with self._locked() as record:
            for role in ("canary", "stable"):
                entry, record[role] = record.get(role), None
                if entry:
                    self._stop(entry, record)
            record["weight"] = 0
            proxy = record.get("proxy") or {}
            stop_process(proxy.get("pid"), proxy.get("start_time"))
            if proxy:
                record["proxy"] = {"port": proxy.get("port")}
            self._write_routes(record)
            self._save(record)

    def proxy_stats(self) -> dict[str, Any]:
        """The proxy's routes and request counts per backend (``GET /_trunkline/proxy``)."""
        url = self.proxy_url
        if url is None:
            raise DeployError("the proxy has never been started")
        try:
            return httpx.get(url + CONTROL_PATH, timeout=5, trust_env=False).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeployError(f"the proxy at {url} does not answer: {exc}") from None

    # -- record ---------------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            record = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": STATE_VERSION, "stable": None, "canary": None, "weight": 0, "proxy": None}
        except (OSError, ValueError) as exc:
            raise DeployError(f"{self.state_file} is unreadable ({exc}); move it away to start afresh") from None
        if not isinstance(record, dict) or record.get("version") != STATE_VERSION:
            raise DeployError(f"{self.state_file} is not a local deployer record (version {STATE_VERSION})")
        return record

    def _save(self, record: dict[str, Any]) -> None:
        record["repo"], record["app_command"], record["health_path"] = (self.repo, self.app_command,
                                                                         self.health_path)
        record["updated_at"] = time.time()
        _atomic_write(self.state_file, json.dumps(record, indent=2, sort_keys=True))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with self._thread_lock:
            if self._depth == 0:
                self._lock_fd = os.open(self.state_dir / "lock", os.O_CREAT | os.O_RDWR, 0o600)
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                record = self._load()
                try:
                    yield record
                finally:  # also after a failure: the record must show what was started and stopped
                    self._save(record)
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)  # releases the flock
                    self._lock_fd = None

    def _state(self, record: dict[str, Any]) -> DeployState:
        proxy = record.get("proxy") or {}

        def instance(entry: dict[str, Any] | None) -> Instance | None:
            if not entry:
                return None
            return Instance(entry["sha"], _url(entry), entry["pid"], _alive(entry))

        port = proxy.get("port") or self.proxy_port
        return DeployState(instance(record.get("stable")), instance(record.get("canary")),
                           int(record.get("weight") or 0), f"http://{LOOPBACK}:{port}" if port else None,
                           proxy.get("pid"), process_alive(proxy.get("pid"), proxy.get("start_time")))

    # -- git ------------------------------------------------------------------------------------------------

    def _git(self, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
        result = subprocess.run(["git", *args], cwd=cwd or self.state_dir, capture_output=True, text=True, env=env,
                                timeout=300)
        if check and result.returncode:
            raise DeployError(f"git {' '.join(args[:3])} failed: {(result.stderr or result.stdout).strip()[-500:]}")
        return result

    def _resolve(self, sha: str) -> str:
        """The full commit id of ``sha`` (a SHA, short SHA, branch or tag of ``repo``), fetched if needed."""
        if not sha or sha.startswith("-") or any(c.isspace() for c in sha):
            raise DeployError(f"not a commit: {sha!r}")
        if not self.repo:
            raise DeployError("no repository: pass the repo (path or URL) to deploy from")
        mirror = self.state_dir / "repo.git"
        if not (mirror / "HEAD").exists():
            self._git("init", "--quiet", "--bare", str(mirror))
        commit = f"{sha}^{{commit}}"
        found = self._git("rev-parse", "--verify", "--quiet", commit, cwd=mirror, check=False)
        if found.returncode or len(sha) < 40:  # branch names move; short SHAs may become ambiguous
            self._git("fetch", "--quiet", "--no-tags", "--force", self.repo, "+refs/heads/*:refs/heads/*",
                      "+refs/tags/*:refs/tags/*", cwd=mirror)
            found = self._git("rev-parse", "--verify", "--quiet", commit, cwd=mirror, check=False)
            if found.returncode and len(sha) == 40:  # not on a branch (e.g. a pull request head): ask for it
                self._git("fetch", "--quiet", "--no-tags", self.repo, sha, cwd=mirror, check=False)
                found = self._git("rev-parse", "--verify", "--quiet", commit, cwd=mirror, check=False)
        if found.returncode:
            raise DeployError(f"commit {sha} is not in {self.repo}")
        return found.stdout.strip()

    def _worktree(self, sha: str) -> Path:
        path = self.state_dir / "worktrees" / sha
        mirror = self.state_dir / "repo.git"
        if (path / ".git").exists():
            head = self._git("rev-parse", "HEAD", cwd=path, check=False)
            if head.returncode == 0 and head.stdout.strip() == sha:
                return path
            self._git("worktree", "remove", "--force", str(path), cwd=mirror, check=False)
        self._git("worktree", "prune", cwd=mirror, check=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._git("worktree", "add", "--force", "--detach", str(path), sha, cwd=mirror)
        return path

    def _remove_worktree(self, sha: str, record: dict[str, Any]) -> None:
        in_use = {e["sha"] for e in (record.get("stable"), record.get("canary")) if e}
        path = self.state_dir / "worktrees" / sha
        if sha not in in_use and path.exists():
            self._git("worktree", "remove", "--force", str(path), cwd=self.state_dir / "repo.git", check=False)

    # -- processes ------------------------------------------------------------------------------------------

    def _start(self, sha: str, role: str, record: dict[str, Any]) -> dict[str, Any]:
        """Start ``sha`` on a free loopback port and wait until it answers; its record entry."""
        worktree = self._worktree(sha)
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a port picked free can be taken before the app binds it
            port = free_port()
            command = self.app_command.format(python=shlex.quote(sys.executable), port=port, sha=sha, host=LOOPBACK)
            log_path = logs / f"{role}-{sha[:12]}.log"
            env = {**os.environ, **self.env, "TRUNKLINE_SHA": sha, "TRUNKLINE_ROLE": role, "PORT": str(port),
                   "PYTHONUNBUFFERED": "1"}
            with open(log_path, "ab") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {role} {sha}: {command}\n".encode())
                log.flush()
                try:
                    process = subprocess.Popen(shlex.split(command), cwd=worktree, env=env, stdin=subprocess.DEVNULL,
                                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                except OSError as exc:
                    raise DeployError(f"cannot start {command!r}: {exc}") from None
            entry = {"sha": sha, "role": role, "port": port, "pid": process.pid,
                     "start_time": _start_time(process.pid), "worktree": str(worktree), "log": str(log_path),
                     "started_at": time.time()}
            # remembered before waiting: a crash while it starts leaves no unknown process behind
            record.setdefault("starting", []).append(entry)
            self._save(record)
            ready, last_error = self._wait_ready(entry, process)
            record["starting"] = [e for e in record.get("starting", []) if e["pid"] != process.pid]
            if ready:
                return entry
            stop_process(process.pid, entry["start_time"])
            with contextlib.suppress(ChildProcessError):
                process.wait(timeout=1)
            self._save(record)
            if "address already in use" not in last_error.lower():
                break
        raise DeployError(f"{role} {sha[:12]} did not start: {last_error}")

    def _wait_ready(self, entry: dict[str, Any], process: subprocess.Popen) -> tuple[bool, str]:
        url = _url(entry) + self.health_path
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False, f"exited with status {process.returncode}; log tail:\n{_tail(entry['log'])}"
            if _answers(url, timeout=1.0):
                return True, ""
            time.sleep(0.05)
        return False, f"no answer on {url} within {self.start_timeout:g} s; log tail:\n{_tail(entry['log'])}"

    def _stop(self, entry: dict[str, Any], record: dict[str, Any]) -> None:
        stop_process(entry.get("pid"), entry.get("start_time"))
        self._remove_worktree(entry["sha"], record)

    def _ensure_running(self, record: dict[str, Any]) -> None:
        """Reattach after a restart: orphans of an interrupted start are stopped, a dead proxy or stable is
        started again (a dead canary is left to the caller: its probes report it)."""
        for orphan in record.pop("starting", []) or []:
            stop_process(orphan.get("pid"), orphan.get("start_time"))
        self._ensure_proxy(record)
        stable = record.get("stable")
        if stable and not _alive(stable):
            record["stable"] = self._start(stable["sha"], "stable", record)
            self._route(record)

    def _ensure_proxy(self, record: dict[str, Any]) -> None:
        proxy = record.get("proxy") or {}
        if process_alive(proxy.get("pid"), proxy.get("start_time")):
            return
        self._write_routes(record)
        port = proxy.get("port") or self.proxy_port or free_port()
        log = self.state_dir / "logs"
        log.mkdir(exist_ok=True)
        command = [sys.executable, "-m", "trunkline.deploy.local.proxy", "--routes", str(self.routes_file),
                   "--port", str(port)]
        with open(log / "proxy.log", "ab") as out:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=self.state_dir)
        record["proxy"] = {"pid": process.pid, "port": port, "start_time": _start_time(process.pid)}
        self._save(record)
        deadline = time.monotonic() + self.start_timeout
        url = f"http://{LOOPBACK}:{port}{CONTROL_PATH}"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DeployError(f"the proxy did not start on port {port}: {_tail(log / 'proxy.log')}")
            if _answers(url, timeout=1.0):
                return
            time.sleep(0.05)
        stop_process(process.pid, record["proxy"]["start_time"])
        raise DeployError(f"the proxy did not answer on port {port} within {self.start_timeout:g} s")

    def _routes(self, record: dict[str, Any]) -> dict[str, Any]:
        stable, canary = record.get("stable"), record.get("canary")
        return {"stable": _url(stable) if stable else None, "canary": _url(canary) if canary else None,
                "weight": int(record.get("weight") or 0)}

    def _write_routes(self, record: dict[str, Any]) -> None:
        _atomic_write(self.routes_file, json.dumps(self._routes(record)))

    def _route(self, record: dict[str, Any]) -> None:
        """Routes to the file (for a restarted proxy) and to the running proxy (at once); the record saved."""
        self._write_routes(record)
        self._save(record)
        proxy = record.get("proxy") or {}
        if not proxy.get("port"):
            return
        try:
            response = httpx.post(f"http://{LOOPBACK}:{proxy['port']}{CONTROL_PATH}", json=self._routes(record),
                                  timeout=5, trust_env=False)
            response.raise_for_status()
        except httpx.HTTPError:
            record["proxy"] = {"port": proxy["port"]}  # dead or wedged: start a new one (it reads the file)
            stop_process(proxy.get("pid"), proxy.get("start_time"), grace=0.5)
            self._ensure_proxy(record)


def _absolute(repo: str) -> str:
    """A local repository path made absolute (git runs in the mirror, elsewhere); URLs unchanged."""
    if "://" in repo or (":" in repo.split("/", 1)[0] and not Path(repo).exists()):  # scp-like user@host:path
        return repo
    return str(Path(repo).expanduser().resolve())


def _alive(entry: dict[str, Any]) -> bool:
    return process_alive(entry.get("pid"), entry.get("start_time"))


def _url(entry: dict[str, Any]) -> str:
    return f"http://{LOOPBACK}:{entry['port']}"


def _check_weight(weight: int) -> None:
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise DeployError(f"weight must be an integer from 0 to 100, not {weight!r}")


def _tail(path: str | Path, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


__all__ = ["DEFAULT_APP_COMMAND", "DeployError", "DeployState", "Instance", "LocalDeployer", "free_port",
           "process_alive", "stop_process"]
