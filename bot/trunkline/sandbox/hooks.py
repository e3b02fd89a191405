"""Signed webhook delivery, the way GitHub's "Hookshot" does it for GitHub Apps.

``WebhookSender(world).install()`` becomes the world's ``webhook_sink``: every
``world.emit(event, payload, repo)`` is fanned out to the Apps that subscribe to the event,
have a webhook URL and are installed on the repository. Each delivery gets the receiving
installation added to the payload, is serialised once (the exact bytes are signed, sent and
kept for redelivery), signed with the App's secret and POSTed from a background thread, one
thread per App so each App sees its events in emission order (GitHub does not promise order,
but a deterministic sandbox is far easier to test against; the bot must not rely on it).

Every attempt is logged as a ``HookDelivery`` in ``world.deliveries``: "OK" for a 2xx answer,
otherwise the reason ("Invalid HTTP Response: 500", "failed to connect to host", "timed out").
``world.dropped_webhooks = N`` loses the next N deliveries: they are logged as failed and never
sent, which is what Trunkline's missed-delivery poller must recover from.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from .shapes.common import installation_lite
from .world import AppReg, HookDelivery, Repo, World, now

USER_AGENT = "GitHub-Hookshot/sandbox"
DELIVERY_TIMEOUT = 10.0  # GitHub gives a receiver 10 seconds
MAX_RESPONSE_BODY = 64 * 1024

# Events an App receives whatever it subscribed to (GitHub sends these to every App).
ALWAYS_DELIVERED = frozenset({"installation", "installation_repositories", "installation_target",
                              "github_app_authorization", "meta", "ping"})


# A payload key (never sent) restricting delivery to one App: GitHub sends check_suite and
# check_run ``rerequested`` / ``requested_action`` only to the App that owns the suite or run.
ONLY_APP_KEY = "__sandbox_only_app_id__"


def emit_to_app(world: World, app_id: int | None, event: str, payload: dict[str, Any],
                repo: Repo | None) -> None:
    """``world.emit`` for one App only (``app_id`` None = every subscribed App)."""
    if app_id is None:
        world.emit(event, payload, repo=repo)
    else:
        world.emit(event, {**payload, ONLY_APP_KEY: app_id}, repo=repo)


def serialise(payload: dict[str, Any]) -> bytes:
    """Compact JSON, as GitHub sends it; these exact bytes are what gets signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature_256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_sha1(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def subscribed(app: AppReg, event: str) -> bool:
    return event in ALWAYS_DELIVERED or "*" in app.events or event in app.events


def delivery_headers(app: AppReg, event: str, guid: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid,
        "X-GitHub-Hook-ID": str(app.id),
        "X-GitHub-Hook-Installation-Target-ID": str(app.id),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-Hub-Signature": signature_sha1(app.webhook_secret, body),
        "X-Hub-Signature-256": signature_256(app.webhook_secret, body),
    }


def status_text(status_code: int) -> str:
    """GitHub's one-line verdict on a receiver's answer."""
    return "OK" if 200 <= status_code < 300 else f"Invalid HTTP Response: {status_code}"


@dataclass
class _Job:
    app_id: int
    url: str
    delivery: HookDelivery
    dropped: bool


class WebhookSender:
    """Fans ``world.emit`` out to App webhook URLs from per-App background threads."""

    def __init__(self, world: World, *, timeout: float = DELIVERY_TIMEOUT):
        self.world = world
        self.timeout = timeout
        self._queues: dict[int, queue.Queue[_Job | None]] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._pending = 0
        self._cond = threading.Condition()
        self._stopped = False

    # ---- wiring -----------------------------------------------------------------------
    def install(self) -> WebhookSender:
        self.world.webhook_sink = self.emit
        self.world.redeliver_sink = self.redeliver
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the delivery threads (after what is already queued); unhook from the world."""
        with self._cond:
            self._stopped = True
            queues = list(self._queues.values())
            threads = list(self._threads.values())
        for q in queues:
            q.put(None)
        for thread in threads:
            thread.join(timeout=timeout)
        if self.world.webhook_sink == self.emit:
            self.world.webhook_sink = None
        if self.world.redeliver_sink == self.redeliver:
            self.world.redeliver_sink = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery has been attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # ---- producing --------------------------------------------------------------------
    def targets(self, event: str, payload: dict[str, Any], repo: Repo | None) -> list[tuple[AppReg, int | None]]:
        """(App, installation id) pairs that should receive this event."""
        world = self.world
        out: list[tuple[AppReg, int | None]] = []
        only = payload.get(ONLY_APP_KEY)
        with world.lock:
            apps = sorted(world.apps.values(), key=lambda a: a.id)
            for app in apps:
                if not app.webhook_url or not subscribed(app, event):
                    continue
                if only is not None and app.id != only:
                    continue
                if repo is not None:
                    inst = world.installation_for_repo(repo, app.id)
                    if inst is not None:
                        out.append((app, inst.id))
                    continue
                # Repo-less events (installation, ...) concern one App: the one the payload names.
                named = _payload_app_id(world, payload)
                if named is None or named == app.id:
                    inst_id = (payload.get("installation") or {}).get("id")
                    out.append((app, inst_id))
        return out

    def emit(self, event: str, payload: dict[str, Any], repo: Repo | None = None) -> None:
        """The world's webhook sink: queue one signed delivery per receiving App."""
        for app, inst_id in self.targets(event, payload, repo):
            body_obj = {k: v for k, v in payload.items() if k != ONLY_APP_KEY}
            if repo is not None and inst_id is not None:
                body_obj["installation"] = installation_lite(inst_id)
            body = serialise(body_obj)
            guid = str(uuid.uuid4())
            delivery = HookDelivery(
                id=self.world.next_id(), guid=guid, event=event, action=payload.get("action"),
                installation_id=inst_id, repository_id=repo.id if repo else None, payload=body,
                headers=delivery_headers(app, event, guid, body), delivered_at=now())
            self._enqueue(app, delivery)

    def redeliver(self, original: HookDelivery) -> HookDelivery:
        """Send a logged delivery again: same body and GUID, a new delivery id, ``redelivery``."""
        app = self._app_for(original)
        if app is None or not app.webhook_url:
            raise LookupError(f"no App with a webhook URL for delivery {original.id}")
        delivery = HookDelivery(
            id=self.world.next_id(), guid=original.guid, event=original.event, action=original.action,
            installation_id=original.installation_id, repository_id=original.repository_id,
            payload=original.payload, headers=dict(original.headers), delivered_at=now(), redelivery=True)
        self._enqueue(app, delivery)
        return delivery

    def _app_for(self, delivery: HookDelivery) -> AppReg | None:
        world = self.world
        with world.lock:
            if delivery.installation_id in world.installations:
                return world.app_for_installation(delivery.installation_id)
            hook_id = delivery.headers.get("X-GitHub-Hook-ID")
            return world.apps.get(int(hook_id)) if hook_id and hook_id.isdigit() else None

    def _enqueue(self, app: AppReg, delivery: HookDelivery) -> None:
        world = self.world
        with world.lock:
            # Decided at emission time so "the next N" means the next N in emission order.
            dropped = world.dropped_webhooks > 0
            if dropped:
                world.dropped_webhooks -= 1
        with self._cond:
            if self._stopped:
                raise RuntimeError("webhook sender stopped")
            self._pending += 1
            q = self._queues.get(app.id)
            if q is None:
                q = self._queues[app.id] = queue.Queue()
                thread = threading.Thread(target=self._worker, args=(q,), daemon=True,
                                          name=f"sandbox-hooks-{app.id}")
                self._threads[app.id] = thread
                thread.start()
        q.put(_Job(app_id=app.id, url=app.webhook_url or "", delivery=delivery, dropped=dropped))

    # ---- delivering -------------------------------------------------------------------
    def _worker(self, q: queue.Queue[_Job | None]) -> None:
        # trust_env=False: a proxy from the environment must never see sandbox traffic.
        with httpx.Client(timeout=self.timeout, trust_env=False) as client:
            while True:
                job = q.get()
                if job is None:
                    return
                try:
                    self._attempt(client, job)
                finally:
                    with self._cond:
                        self._pending -= 1
                        self._cond.notify_all()

    def _attempt(self, client: httpx.Client, job: _Job) -> None:
        delivery = job.delivery
        delivery.delivered_at = now()
        started = time.monotonic()
        if job.dropped:
            delivery.status_code = 0
            delivery.status = "failed to connect to host"
        else:
            try:
                response = client.post(job.url, content=delivery.payload, headers=delivery.headers)
                delivery.status_code = response.status_code
                delivery.status = status_text(response.status_code)
                delivery.response_body = response.text[:MAX_RESPONSE_BODY]
            except httpx.TimeoutException:
                delivery.status_code = 0
                delivery.status = "timed out"
            except httpx.HTTPError:
                delivery.status_code = 0
                delivery.status = "failed to connect to host"
        delivery.duration = round(time.monotonic() - started, 4)
        with self.world.lock:
            self.world.deliveries.append(delivery)


def _payload_app_id(world: World, payload: dict[str, Any]) -> int | None:
    inst = payload.get("installation")
    if not isinstance(inst, dict):
        return None
    if isinstance(inst.get("app_id"), int):
        return inst["app_id"]
    found = world.installations.get(inst.get("id", -1))
    return found.app_id if found else None
