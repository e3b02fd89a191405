"""The sandbox's webhook sender against a real HTTP receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from trunkline.sandbox.hooks import WebhookSender, serialise, signature_256
from trunkline.sandbox.world import AppReg, Installation, Token, World

SECRET = "s3cret-hook"


class Recorder:
    """A loopback webhook endpoint: records (headers, raw body), answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with rec.lock:
                    rec.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = rec.status
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answered {status}".encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.stop()


def add_app(world: World, slug: str, url: str | None, events: list[str], secret: str = SECRET) -> AppReg:
    app = AppReg(id=world.next_id(), slug=slug, name=slug, owner="acme", public_key_pem="", private_key_pem=None,
                 webhook_url=url, webhook_secret=secret, permissions={"issues": "write"}, events=events)
    world.apps[app.id] = app
    world.user(app.bot_login, type="Bot")
    return app


def install(world: World, app: AppReg, account: str = "acme", repo_ids: set[int] | None = None) -> Installation:
    inst = Installation(id=world.next_id(), app_id=app.id, account=account, repository_ids=repo_ids)
    world.installations[inst.id] = inst
    return inst


def installation_token(world: World, inst: Installation) -> str:
    app = world.apps[inst.app_id]
    value = f"ghs_{inst.id}_{world.next_id()}"
    world.tokens[value] = Token(token=value, kind="installation", expires_at=None, installation_id=inst.id,
                                user=app.bot_login)
    return value


class SandboxEnv:
    """World + sandbox server + webhook sender + an App ("trunkline", all events) installed on "acme".

    Shared by the sandbox route tests of this area (imported as ``from test_hooks import SandboxEnv``).
    """

    def __init__(self, root: Path):
        from trunkline.sandbox.server import ServerHandle

        self.world = World(root)
        self.recorder = Recorder()
        self.sender = WebhookSender(self.world).install()
        self.handle = ServerHandle(self.world).start()
        self.url = self.handle.url
        self.app = add_app(self.world, "trunkline", self.recorder.url, ["*"])
        self.inst = install(self.world, self.app)
        self.app_token = installation_token(self.world, self.inst)

    def close(self) -> None:
        self.sender.flush(10)
        self.handle.stop()
        self.sender.stop()
        self.recorder.stop()

    def gh(self, login: str) -> Any:
        import github

        return github.Github(auth=github.Auth.Token(self.world.user_token(login)), base_url=self.url,
                             seconds_between_requests=0, seconds_between_writes=0, retry=None)

    def gh_app(self) -> Any:
        import github

        return github.Github(auth=github.Auth.Token(self.app_token), base_url=self.url,
                             seconds_between_requests=0, seconds_between_writes=0, retry=None)

    def http(self, login: str | None = None, token: str | None = None) -> httpx.Client:
        tok = token or (self.world.user_token(login) if login else self.app_token)
        return httpx.Client(base_url=self.url, headers={"authorization": f"token {tok}",
                                                        "accept": "application/vnd.github+json"},
                            trust_env=False, timeout=10)

    def hooks(self, event: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
        """Payloads the receiver got (after flushing), optionally filtered."""
        assert self.sender.flush(10)
        out = []
        with self.recorder.lock:
            for headers, body in self.recorder.requests:
                payload = json.loads(body)
                if event and headers["x-github-event"] != event:
                    continue
                if action and payload.get("action") != action:
                    continue
                out.append(payload)
        return out

    def events(self) -> list[tuple[str, str | None]]:
        assert self.sender.flush(10)
        with self.recorder.lock:
            return [(h["x-github-event"], json.loads(b).get("action")) for h, b in self.recorder.requests]

    def assert_faithful(self) -> None:
        """Every response so far matches GitHub's REST description; every webhook octokit's schema."""
        from trunkline.sandbox.fidelity import check_log, validate_webhook

        report = check_log([e for e in self.world.request_log if not _undeclared_github_error(e)])
        assert report.ok, report.summary()
        assert self.sender.flush(10)
        problems = []
        with self.recorder.lock:
            for headers, body in self.recorder.requests:
                assert headers["x-hub-signature-256"] == signature_256(SECRET, body)
                errs = validate_webhook(headers["x-github-event"], json.loads(body))
                if errs:
                    problems.append((headers["x-github-event"], json.loads(body).get("action"), errs[:5]))
        assert not problems, problems


def _undeclared_github_error(entry: Any) -> bool:
    """GitHub answers 403 (permissions), 404, 409 and 422 (validation) on routes whose description
    leaves them out; such answers are tolerated when they carry GitHub's error shape."""
    body = entry.response_body
    return (entry.status in (403, 404, 409, 422) and isinstance(body, dict)
            and isinstance(body.get("message"), str) and "documentation_url" in body)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "w")


@pytest.fixture
def sender(world: World) -> Iterator[WebhookSender]:
    s = WebhookSender(world).install()
    yield s
    s.stop()


def emit_n(world: World, repo: Any, n: int, event: str = "issues") -> None:
    for i in range(n):
        world.emit(event, {"action": "opened", "seq": i, "repository": {"id": repo.id}}, repo=repo)


def test_signed_ordered_unique_deliveries(world: World, sender: WebhookSender, recorder: Recorder) -> None:
    app = add_app(world, "bot", recorder.url, ["issues"])
    inst = install(world, app)
    repo = world.add_repo("acme", "widgets")
    emit_n(world, repo, 20)
    assert sender.flush(10)

    assert len(recorder.requests) == 20
    seqs = [json.loads(body)["seq"] for _, body in recorder.requests]
    assert seqs == list(range(20)), "per-App order must follow emission order"
    guids = [h["x-github-delivery"] for h, _ in recorder.requests]
    assert len(set(guids)) == 20
    for headers, body in recorder.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-hub-signature-256"], expected)
        assert headers["x-hub-signature"] == "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        assert headers["x-github-event"] == "issues"
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith("GitHub-Hookshot/")
        assert headers["x-github-hook-installation-target-type"] == "integration"
        assert headers["x-github-hook-installation-target-id"] == str(app.id)
        payload = json.loads(body)
        assert payload["installation"]["id"] == inst.id and payload["installation"]["node_id"]
        assert body == serialise(payload), "compact JSON, signed bytes == sent bytes"

    assert [d.status for d in world.deliveries] == ["OK"] * 20
    assert [d.guid for d in world.deliveries] == guids
    assert all(d.status_code == 200 and d.response_body == "answered 200" for d in world.deliveries)
    assert all(d.installation_id == inst.id and d.repository_id == repo.id for d in world.deliveries)


def test_only_subscribed_installed_apps_with_a_url_receive(world: World, sender: WebhookSender,
                                                            recorder: Recorder) -> None:
    other = Recorder()
    try:
        repo = world.add_repo("acme", "widgets")
        elsewhere = world.add_repo("acme", "gadgets")
        issues_app = add_app(world, "issues-only", recorder.url, ["issues"])
        install(world, issues_app)
        star_app = add_app(world, "everything", other.url, ["*"], secret="other")
        star_inst = install(world, star_app, repo_ids={elsewhere.id})
        silent = add_app(world, "no-url", None, ["*"])
        install(world, silent)
        not_installed = add_app(world, "not-installed", other.url, ["*"])
        assert not_installed

        world.emit("issues", {"action": "opened"}, repo=repo)  # issues_app only (star_app lacks widgets)
        world.emit("push", {"ref": "refs/heads/main"}, repo=repo)  # nobody
        world.emit("push", {"ref": "refs/heads/main"}, repo=elsewhere)  # star_app
        assert sender.flush(10)

        assert [h["x-github-event"] for h, _ in recorder.requests] == ["issues"]
        assert [h["x-github-event"] for h, _ in other.requests] == ["push"]
        headers, body = other.requests[0]
        assert headers["x-hub-signature-256"] == signature_256("other", body)
        assert json.loads(body)["installation"]["id"] == star_inst.id
        assert len(world.deliveries) == 2
    finally:
        other.stop()


def test_repo_less_events_go_to_the_named_app(world: World, sender: WebhookSender, recorder: Recorder) -> None:
    mine = add_app(world, "mine", recorder.url, [])
    theirs = add_app(world, "theirs", recorder.url, [])
    inst = install(world, mine)
    install(world, theirs)
    full = {"id": inst.id, "app_id": mine.id, "account": {"login": "acme"}}
    world.emit("installation", {"action": "created", "installation": full}, repo=None)
    assert sender.flush(10)
    assert len(recorder.requests) == 1
    headers, body = recorder.requests[0]
    assert headers["x-github-hook-installation-target-id"] == str(mine.id)
    assert json.loads(body)["installation"] == full, "the full installation object is kept as-is"


def test_failures_are_logged_with_reason(world: World, sender: WebhookSender, recorder: Recorder) -> None:
    app = add_app(world, "bot", recorder.url, ["*"])
    install(world, app)
    repo = world.add_repo("acme", "widgets")
    recorder.status = 500
    world.emit("issues", {"action": "opened"}, repo=repo)
    assert sender.flush(10)
    (failed,) = world.deliveries
    assert failed.status == "Invalid HTTP Response: 500" and failed.status_code == 500
    assert failed.response_body == "answered 500"

    # A dead URL: nothing listens on that port any more.
    dead = Recorder()
    dead.stop()
    app.webhook_url = dead.url
    world.emit("issues", {"action": "closed"}, repo=repo)
    assert sender.flush(15)
    assert world.deliveries[-1].status == "failed to connect to host"
    assert world.deliveries[-1].status_code == 0
    assert world.deliveries[-1].duration >= 0


def test_dropped_deliveries_are_logged_failed_and_not_sent(world: World, sender: WebhookSender,
                                                           recorder: Recorder) -> None:
    app = add_app(world, "bot", recorder.url, ["*"])
    install(world, app)
    repo = world.add_repo("acme", "widgets")
    world.dropped_webhooks = 2
    emit_n(world, repo, 5)
    assert sender.flush(10)
    assert world.dropped_webhooks == 0
    assert [json.loads(b)["seq"] for _, b in recorder.requests] == [2, 3, 4]
    assert [(d.status, d.status_code) for d in world.deliveries[:2]] == [("failed to connect to host", 0)] * 2
    assert all(d.status == "OK" for d in world.deliveries[2:])
    assert [json.loads(d.payload)["seq"] for d in world.deliveries] == [0, 1, 2, 3, 4]


def test_redelivery_reuses_body_and_guid(world: World, sender: WebhookSender, recorder: Recorder) -> None:
    app = add_app(world, "bot", recorder.url, ["*"])
    install(world, app)
    repo = world.add_repo("acme", "widgets")
    world.dropped_webhooks = 1
    world.emit("issue_comment", {"action": "created", "comment": {"body": "/ship"}}, repo=repo)
    assert sender.flush(10)
    (lost,) = world.deliveries
    assert lost.status != "OK" and not recorder.requests

    assert world.redeliver_sink is not None
    again = world.redeliver_sink(lost)
    assert sender.flush(10)
    assert again.id != lost.id and again.guid == lost.guid and again.redelivery
    assert again.status == "OK"
    headers, body = recorder.requests[0]
    assert body == lost.payload
    assert headers["x-github-delivery"] == lost.guid
    assert headers["x-hub-signature-256"] == signature_256(SECRET, body)
    assert world.deliveries == [lost, again]


def test_slow_receiver_does_not_block_other_apps(world: World, sender: WebhookSender, recorder: Recorder) -> None:
    slow_gate = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            slow_gate.wait(5)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    slow = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=slow.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        repo = world.add_repo("acme", "widgets")
        install(world, add_app(world, "slow", f"http://127.0.0.1:{slow.server_address[1]}/", ["*"]))
        install(world, add_app(world, "fast", recorder.url, ["*"]))
        world.emit("issues", {"action": "opened"}, repo=repo)
        deadline = time.time() + 5
        while not recorder.requests and time.time() < deadline:
            time.sleep(0.01)
        assert recorder.requests, "the fast App got its delivery while the slow one was still answering"
        assert not sender.flush(0.05)
        slow_gate.set()
        assert sender.flush(10)
        assert sorted(d.status for d in world.deliveries) == ["OK", "OK"]
    finally:
        slow_gate.set()
        slow.shutdown()
        slow.server_close()


# These tests feed the webhook log made-up payloads to exercise delivery mechanics (signing, order,
# redelivery, pagination); their REST responses are still audited against GitHub's description.
pytestmark = pytest.mark.synthetic_webhooks
