"""The event-stream chapter of ``trunkline demo``, and the subscribers it (and the tests) use.

A "dashboard" subscribes to ``/events`` (WebSocket) and another to ``/events/stream`` (SSE), both for
one repository, before a pull request is opened; the pull request gets its ``trunkline/config`` check,
the ``auto-merge`` label and a green CI, and is merged. Both subscribers saw the same events, in the
same order, each a valid message of ``contracts/asyncapi.yaml``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "asyncapi.yaml"
TYPES = {"delivery.received": "DeliveryReceived", "delivery.processed": "DeliveryProcessed",
         "check_run.published": "CheckRunPublished", "merge.decided": "MergeDecided",
         "deploy.state_changed": "DeployStateChanged", "agent_run.state_changed": "AgentRunStateChanged"}
#: kinds a pull request's life does not publish (deployments and agent runs have their own chapters)
OTHER_CHAPTERS = frozenset({"deploy.state_changed", "agent_run.state_changed"})
REPO = "acme/dashboard"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def format_checker() -> Any:
    """jsonschema's format checker, with ``date-time`` (RFC 3339, offset required) and ``uri`` checked
    even without the optional packages jsonschema would use for them."""
    import jsonschema

    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not RFC3339.match(value):
            return False
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and (parts.netloc or parts.path))

    return checker


def contract_validators(path: Path = CONTRACT) -> dict[str, Any]:
    """Message ``type`` -> a JSON Schema validator of its payload in the AsyncAPI contract."""
    import jsonschema

    from trunkline.contracts.extract import load_document, quicktype_inputs

    schemas = quicktype_inputs("asyncapi", load_document(path.read_text()))
    checker = format_checker()
    return {kind: jsonschema.Draft7Validator(schemas[name], format_checker=checker)
            for kind, name in TYPES.items() if name in schemas}


class Subscriber:
    """Reads one event stream of a running ``trunkline serve`` on a thread, until ``stop()`` or ``until``
    says so: ``kind`` is ``ws`` (``/events``) or ``sse`` (``/events/stream``)."""

    def __init__(self, base_url: str, kind: str, *, repo: str | None = None, since: str | None = None,
                 until: Callable[[dict[str, Any]], bool] | None = None) -> None:
        self.kind = kind
        query = "&".join(f"{k}={v}" for k, v in (("repo", repo), ("since", since)) if v)
        path = "/events" if kind == "ws" else "/events/stream"
        base = base_url.replace("http://", "ws://") if kind == "ws" else base_url
        self.url = f"{base}{path}" + (f"?{query}" if query else "")
        self.until = until
        self.messages: list[dict[str, Any]] = []
        self.sse_ids: list[str | None] = []
        self.error: BaseException | None = None
        self.connected = threading.Event()
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"events-{kind}", daemon=True)

    def start(self, timeout: float = 15.0) -> Subscriber:
        self._thread.start()
        if not self.connected.wait(timeout):
            raise TimeoutError(f"could not subscribe to {self.url}: {self.error}")
        return self

    def _take(self, message: dict[str, Any]) -> bool:
        self.messages.append(message)
        if self.until is not None and self.until(message):
            self.done.set()
            return True
        return self._stop.is_set()

    def _run(self) -> None:
        try:
            self._ws() if self.kind == "ws" else self._sse()
        except BaseException as exc:  # noqa: BLE001 - reported by wait()
            self.error = exc
        finally:
            self.connected.set()
            self.done.set()

    def _ws(self) -> None:
        from websockets.sync.client import connect

        with connect(self.url, open_timeout=10) as socket:
            self.connected.set()
            while not self._stop.is_set():
                try:
                    raw = socket.recv(timeout=0.2)
                except TimeoutError:
                    continue
                if self._take(json.loads(raw)):
                    return

    def _sse(self) -> None:
        with httpx.stream("GET", self.url, timeout=httpx.Timeout(10.0, read=None)) as response:
            response.raise_for_status()
            self.connected.set()
            event_id = None
            for line in response.iter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    self.sse_ids.append(event_id)
                    if self._take(json.loads(line[6:])):
                        return

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        if not self.done.wait(timeout):
            raise TimeoutError(f"{self.kind} subscriber: condition not met after {timeout}s; "
                               f"saw {[m.get('type') for m in self.messages]}")
        if self.error is not None:
            raise RuntimeError(f"{self.kind} subscriber failed: {self.error!r}") from self.error
        return self.messages

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def merged(message: dict[str, Any]) -> bool:
    return message.get("type") == "merge.decided" and message.get("decision") == "merge"


def lifecycle(h: Any, repo: str, branch: str = "feature/dash") -> tuple[int, str]:
    """Open a pull request on ``repo`` (protected main requiring ``ci``), label it ``auto-merge``, turn CI
    green; returns (number, head sha) once the bot merged it."""
    sb = h.sandbox
    sha = sb.push(repo, branch, {"dash.txt": "hello\n"}, "Add dash", as_user="dev")
    number = sb.open_pr(repo, head=branch, title="Add dash", as_user="dev")
    h.wait_for_check(repo, sha, "trunkline/config", timeout=60)
    sb.label(repo, number, "auto-merge", as_user="dev")
    sb.ci(repo, sha, "ci", "success")
    pulls = sb.repo(repo).pulls

    def is_merged() -> bool:
        with sb.world.lock:
            return pulls[number].merged

    h.wait_for(is_merged, 60, what=f"{repo}#{number} merged")
    return number, sha


def create_repo(h: Any, repo: str) -> None:
    sb = h.sandbox
    owner, name = repo.split("/")
    sb.create_repo(owner, name, files={"README.md": "# dash\n", ".github/trunkline.yml": "version: 1\n"})
    sb.grant(repo, "dev", "write")
    sb.protect(repo, required_checks=["ci"], strict=True)


def chapter_event_stream(run: Any) -> None:
    h = run.harness
    run.step(f"a dashboard subscribes to {h.bot_url}/events?repo={REPO} (WebSocket) and another to "
             "/events/stream (server-sent events); dev's PR there gets labelled `auto-merge` and goes green")
    # both subscribe before the repository exists, so both start before its first event
    # (a subscriber starts at the end of the log as it stands when it connects)
    ws = Subscriber(h.bot_url, "ws", repo=REPO, until=merged).start()
    sse = Subscriber(h.bot_url, "sse", repo=REPO, until=merged).start()
    try:
        create_repo(h, REPO)
        number, _ = lifecycle(h, REPO)
        seen, streamed = ws.wait(30), sse.wait(30)
    finally:
        ws.stop()
        sse.stop()
    validators = contract_validators()
    invalid = [m for m in seen if not validators[m["type"]].is_valid(m)]
    counts: dict[str, int] = {}
    for m in seen:
        counts[m["type"]] = counts.get(m["type"], 0) + 1
    same = [m["id"] for m in seen] == [m["id"] for m in streamed]
    run.record(f"the dashboard on /events saw {len(seen)} events for PR #{number}, from the first delivery to "
               f"the merge: " + ", ".join(f"{n} {t}" for t, n in counts.items()),
               bool(seen) and not invalid and same and set(counts) >= set(TYPES) - OTHER_CHAPTERS,
               "the SSE subscriber got the same events in the same order; every one is a valid "
               "contracts/asyncapi.yaml message" if same and not invalid else f"{len(invalid)} invalid, same={same}")

