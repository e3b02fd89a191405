"""A sandbox GitHub plus a real ``trunkline serve`` process wired to it.

Used by the demo and by the end-to-end tests: the sandbox runs in this process (so tests can
act and inspect), the bot runs as its own process exactly as a user would run it, talking to
the sandbox over HTTP with a real App JWT and receiving real signed webhooks.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from trunkline.sandbox.actors import Sandbox
from trunkline.sandbox.world import AppReg, CheckRun, Repo

APP_SLUG = "trunkline"
APP_EVENTS = ("*",)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotHarness:
    """``with BotHarness(tmp) as h: h.sandbox.create_repo(...); h.install("acme")``."""

    def __init__(self, root: Path | str, *, workers: int = 2, owner: str = "trunkline-dev",
                 env: Mapping[str, str] | None = None, log_path: Path | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.owner = owner
        self.extra_env = dict(env or {})
        self.log_path = log_path or self.root / "bot.log"
        self.sandbox = Sandbox(self.root / "sandbox")
        self.port = free_port()
        self.secret = secrets.token_hex(16)
        self.app: AppReg | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # ---- lifecycle -------------------------------------------------------------------------------
    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/github"

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotHarness:
        self.sandbox.start()
        self.app = self.sandbox.create_app(APP_SLUG, owner=self.owner, webhook_url=self.webhook_url,
                                           secret=self.secret, events=APP_EVENTS)
        key_path = self.root / "app.pem"
        key_path.write_text(self.app.private_key_pem or "")
        key_path.chmod(0o600)
        self.start_bot()
        return self

    def bot_env(self) -> dict[str, str]:
        assert self.app is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
        env.update({
            "TRUNKLINE_APP_ID": str(self.app.id),
            "TRUNKLINE_PRIVATE_KEY_PATH": str(self.root / "app.pem"),
            "TRUNKLINE_WEBHOOK_SECRET": self.secret,
            "TRUNKLINE_GITHUB_URL": self.sandbox.url,
            "TRUNKLINE_BOT_LOGIN": self.app.bot_login,
            "TRUNKLINE_DATA_DIR": str(self.root / "bot"),
            "TRUNKLINE_MISSED_DELIVERY_INTERVAL": "0",
        })
        env.update(self.extra_env)
        return env

    def start_bot(self, timeout: float = 90.0) -> None:
        """Start (or restart) ``trunkline serve``; returns once ``/healthz`` answers."""
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop_bot)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trunkline.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=self.bot_env(), stdout=self._log_file, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"trunkline serve exited with {self.proc.returncode}:\n{self.bot_log()}")
            try:
                if httpx.get(f"{self.bot_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"trunkline serve did not become healthy:\n{self.bot_log()}")

    def stop_bot(self, *, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        self.stop_bot()
        self.sandbox.stop()

    def __enter__(self) -> BotHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bot_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    # ---- helpers for scenarios -------------------------------------------------------------------
    def install(self, account: str, repos: list[Repo | str] | None = None) -> Any:
        assert self.app is not None
        return self.sandbox.install(self.app, account, repos)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"trunkline serve died while waiting for {what}:\n{self.bot_log()}")
            time.sleep(0.05)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n--- bot log ---\n{self.bot_log()}")

    def check_runs(self, repo: Repo | str, sha: str, name: str | None = None) -> list[CheckRun]:
        repo_obj = self.sandbox.repo(repo)
        with self.sandbox.world.lock:
            return [run for run in repo_obj.check_runs.values()
                    if run.head_sha == sha and (name is None or run.name == name)]

    def wait_for_check(self, repo: Repo | str, sha: str, name: str, timeout: float = 20.0) -> CheckRun:
        """The newest completed check run ``name`` on ``sha`` (waits for it)."""

        def completed() -> CheckRun | None:
            runs = [r for r in self.check_runs(repo, sha, name) if r.status == "completed"]
            return max(runs, key=lambda r: r.id) if runs else None

        return self.wait_for(completed, timeout, what=f"check run {name} on {sha[:8]}")
