"""Shared sandbox fixtures: a started ``Sandbox`` per test and a real webhook receiver.

``sandbox``   — a running sandbox GitHub (uvicorn on 127.0.0.1, bare git repos under tmp_path),
                stopped after the test.
``receiver``  — a real HTTP server on 127.0.0.1 that records every POST (headers + raw body) and
                answers 200 (or ``receiver.status``), like a bot's webhook endpoint would.
``bot_world`` — the usual world (see ``BotWorld``): an App ``trunkline-bot`` whose webhooks go to
                ``receiver``, installed on ``acme``; repo ``acme/widgets``; ``dev`` may write.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SANDBOX_PARTS = (
    "trunkline.sandbox.hooks",
    "trunkline.sandbox.git",
    "trunkline.sandbox.routes.apps",
    "trunkline.sandbox.routes.pulls",
)


def require_sandbox_parts() -> None:
    """Skip (visibly) while a sandbox part that the facade needs has not landed yet."""
    for name in SANDBOX_PARTS:
        pytest.importorskip(name, reason=f"{name} not available yet")


@dataclass
class Received:
    """One webhook POST as the receiver saw it."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def event(self) -> str:
        return self.headers.get("x-github-event", "")

    @property
    def guid(self) -> str:
        return self.headers.get("x-github-delivery", "")

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def action(self) -> str | None:
        return self.payload.get("action")

    def signature_ok(self, secret: str) -> bool:
        """GitHub's ``X-Hub-Signature-256``: HMAC-SHA256 of the raw body with the App's secret."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-hub-signature-256", ""))


class WebhookReceiver:
    """A real HTTP endpoint on loopback that records deliveries (thread-safe)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(path=self.path, body=body,
                                                      headers={k.lower(): v for k, v in self.headers.items()}))
                    status = receiver.status
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-receiver")

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def events(self) -> list[tuple[str, str | None]]:
        with self._lock:
            return [(r.event, r.action) for r in self.received]

    def of(self, event: str, action: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event == event and (action is None or r.action == action)]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 5.0) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._lock:
                if predicate(list(self.received)):
                    return True
            time.sleep(0.02)
        return False


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver().start()
    yield rec
    rec.stop()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    require_sandbox_parts()
    from trunkline.sandbox.actors import Sandbox

    with Sandbox(tmp_path / "sandbox") as sb:
        yield sb


BOT_SECRET = "bot-webhook-secret"


@dataclass
class BotWorld:
    """The usual world: App ``trunkline-bot`` (webhooks → ``receiver``) installed on ``acme``,
    repo ``acme/widgets`` (README + .github/trunkline.yml), ``dev`` with write access."""

    sandbox: Any
    app: Any  # AppReg
    repo: Any  # Repo
    receiver: WebhookReceiver
    secret: str = BOT_SECRET


@pytest.fixture
def bot_world(sandbox: Any, receiver: WebhookReceiver) -> BotWorld:
    pytest.importorskip("trunkline.sandbox.routes.collaborators", reason="collaborator routes not available yet")
    app = sandbox.create_app("trunkline-bot", owner="acme", webhook_url=receiver.url, secret=BOT_SECRET)
    sandbox.install(app, "acme")
    repo = sandbox.create_repo("acme", "widgets", files={"README.md": "# widgets\n",
                                                         ".github/trunkline.yml": "version: 1\n"})
    sandbox.grant(repo, "dev", "write")
    sandbox.wait_for_webhooks()
    return BotWorld(sandbox=sandbox, app=app, repo=repo, receiver=receiver)


@dataclass
class LifecycleRun:
    """One run of ``pr_lifecycle.run_lifecycle`` (shared by the REST and webhook fidelity tests)."""

    lifecycle: Any  # pr_lifecycle.Lifecycle
    sandbox: Any
    receiver: WebhookReceiver
    secret: str


@pytest.fixture(scope="session")
def pr_lifecycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LifecycleRun]:
    """The PyGithub pull-request lifecycle, played once per session against a fresh sandbox with a
    real webhook receiver (it takes a few seconds; two test modules inspect its traces)."""
    require_sandbox_parts()
    for name in ("trunkline.sandbox.routes.deployments", "trunkline.sandbox.routes.actions"):
        pytest.importorskip(name, reason=f"{name} not available yet")
    from pr_lifecycle import BOT_SECRET as LIFECYCLE_SECRET
    from pr_lifecycle import run_lifecycle

    from trunkline.sandbox.actors import Sandbox

    rec = WebhookReceiver().start()
    sb = Sandbox(tmp_path_factory.mktemp("lifecycle")).start()
    try:
        lifecycle = run_lifecycle(sb, rec.url)
        assert sb.wait_for_webhooks(10)
        yield LifecycleRun(lifecycle=lifecycle, sandbox=sb, receiver=rec, secret=LIFECYCLE_SECRET)
    finally:
        sb.stop()
        rec.stop()
