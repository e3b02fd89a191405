"""Processors injected into real ``trunkline serve`` / ``trunkline worker`` subprocesses by the
ingest/worker e2e tests (``TRUNKLINE_PROCESSOR=_processors:<factory>``, with this folder on
``PYTHONPATH``), plus the helpers those tests share to run and talk to the subprocesses.

The processors record what happened in a SQLite "effects" database named by
``TRUNKLINE_TEST_EFFECTS_DB``:

* ``runs``    — one row per processor call (so re-runs are visible);
* ``effects`` — the idempotent effect: one row per delivery guid (``INSERT OR IGNORE``).

Behaviour is steered by the payload, so one processor serves every test:

* ``{"test": {"block": true}}``   — write ``<TRUNKLINE_TEST_MARKERS>/<guid>.started`` and block until
  ``<guid>.release`` exists (the kill test SIGKILLs the process meanwhile);
* ``{"test": {"fail": n}}``       — raise on the first ``n`` calls for that delivery (n < 0: always);
* ``{"test": {"sleep": s}}``      — take ``s`` seconds (serialization tests).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SECRET = "e2e-webhook-secret"


# ------------------------------------------------------------------------------ processors
def _effects_db() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["TRUNKLINE_TEST_EFFECTS_DB"], timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def init_effects_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("""
        PRAGMA journal_mode=WAL;
        CREATE TABLE IF NOT EXISTS runs (guid TEXT, event TEXT, pid INTEGER, attempt INTEGER,
                                         started REAL, ended REAL, key TEXT);
        CREATE TABLE IF NOT EXISTS effects (guid TEXT PRIMARY KEY, event TEXT);
    """)
    conn.close()


def build_recording(settings: Any):  # noqa: ANN201 - Processor
    from trunkline.jobs.keys import serial_key

    markers = Path(os.environ.get("TRUNKLINE_TEST_MARKERS", "/nonexistent"))

    def process(record: Any) -> None:
        started = time.time()
        payload = record.payload  # raises for malformed JSON (the worker never gets here then)
        test = payload.get("test") if isinstance(payload.get("test"), dict) else {}
        conn = _effects_db()
        try:
            conn.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, NULL, ?)",
                         (record.guid, record.event, os.getpid(), record.attempts, started,
                          serial_key(record.event, payload)))
            if test.get("block"):
                (markers / f"{record.guid}.started").write_text(str(os.getpid()))
                while not (markers / f"{record.guid}.release").exists():
                    time.sleep(0.02)
            if test.get("sleep"):
                time.sleep(float(test["sleep"]))
            fail = int(test.get("fail", 0))
            runs = conn.execute("SELECT count(*) FROM runs WHERE guid = ?", (record.guid,)).fetchone()[0]
            if fail < 0 or runs <= fail:
                raise RuntimeError(f"handler failure #{runs} (test)")
            conn.execute("INSERT OR IGNORE INTO effects VALUES (?, ?)", (record.guid, record.event))
        finally:
            conn.execute("UPDATE runs SET ended = ? WHERE guid = ? AND pid = ? AND ended IS NULL",
                         (time.time(), record.guid, os.getpid()))
            conn.close()

    return process


def build_http_counter(settings: Any):  # noqa: ANN201 - Processor
    """POSTs every call to the test's counting HTTP server (``TRUNKLINE_TEST_COUNTER_URL``)."""
    from trunkline.jobs.keys import serial_key

    url = os.environ["TRUNKLINE_TEST_COUNTER_URL"]

    def process(record: Any) -> None:
        started = time.time()
        payload = record.payload
        time.sleep(float((payload.get("test") or {}).get("sleep", 0)))
        body = json.dumps({"guid": record.guid, "pid": os.getpid(), "started": started, "ended": time.time(),
                           "key": serial_key(record.event, payload)}).encode()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    return process


# ------------------------------------------------------------------------------ helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_headers(body: bytes, event: str, guid: str, secret: str = SECRET) -> dict[str, str]:
    from trunkline.ingest.signature import sign

    return {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": guid,
            "X-Hub-Signature-256": sign(secret, body)}


def payload(repo: str = "octo/app", base: str = "main", **test: Any) -> bytes:
    body: dict[str, Any] = {"action": "opened", "repository": {"full_name": repo},
                            "installation": {"id": 42}, "pull_request": {"base": {"ref": base}}}
    if test:
        body["test"] = test
    return json.dumps(body).encode()


class Proc:
    """A ``trunkline serve`` / ``trunkline worker`` subprocess with its log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen([sys.executable, "-m", "trunkline.cli", *args], env=env,
                                      stdout=self.log, stderr=subprocess.STDOUT, cwd=str(log_path.parent))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)
        self.log.close()

    def stop(self, timeout: float = 20) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TRUNKLINE_DATA_DIR": str(tmp / "data"),
        "TRUNKLINE_DATABASE_URL": f"sqlite:///{tmp}/data/trunkline.db",
        "TRUNKLINE_QUEUE_URL": f"sqlite:///{tmp}/data/queue.db",
        "TRUNKLINE_WEBHOOK_SECRET": SECRET,
        "TRUNKLINE_MISSED_DELIVERY_INTERVAL": "0",
        "TRUNKLINE_LEASE_SECONDS": "2",
        "TRUNKLINE_PROCESSOR": "_processors:build_recording",
        "TRUNKLINE_TEST_EFFECTS_DB": str(tmp / "effects.db"),
        "TRUNKLINE_TEST_MARKERS": str(tmp),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "bot"), os.environ.get("PYTHONPATH", "")]),
    })
    env.update(extra)
    init_effects_db(tmp / "effects.db")
    return env


JOB_FLAGS = ["--retry-delay", "0.1", "--max-attempts", "3", "--recovery-interval", "0.5"]


def start_serve(tmp: Path, env: dict[str, str], workers: int = 2, name: str = "serve") -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(["serve", "--port", str(port), "--workers", str(workers), *JOB_FLAGS], env,
                tmp / f"{name}.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(url) or not proc.alive(), 60, "serve health")
    assert proc.alive(), proc.output()
    return proc, url


def start_worker(tmp: Path, env: dict[str, str], workers: int = 2, name: str = "worker") -> Proc:
    proc = Proc(["worker", "--workers", str(workers), *JOB_FLAGS], env, tmp / f"{name}.log")
    wait_until(lambda: "trunkline worker ready" in proc.output() or not proc.alive(), 60, "worker ready")
    assert proc.alive(), proc.output()
    return proc


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def query(path: Path, sql: str, *args: Any) -> list[tuple]:
    conn = sqlite3.connect(path, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
