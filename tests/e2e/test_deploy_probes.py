"""Probes against real servers: the example service (uvicorn subprocess) and a stdlib HTTP server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from trunkline.deploy.local.deployer import free_port
from trunkline.deploy.probes import Measurement, ProbeSpec, run_probe, run_probes

ROOT = Path(__file__).resolve().parents[2]


def spec(**data) -> ProbeSpec:
    return ProbeSpec.model_validate({"name": "p", **data})


@pytest.fixture(scope="module")
def service():
    """The example service on a free loopback port (a real uvicorn process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.service.app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/health", timeout=1, trust_env=False)
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, "example service did not start"
                time.sleep(0.05)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/auth":
            token = self.headers.get("Authorization", "")
            if token == "Bearer s3cr3t-value":
                self._send(200, json.dumps({"status": "ok"}))
            else:  # echoes what it got: the probe must mask it
                self._send(401, json.dumps({"error": f"bad token {token}"}))
        elif self.path.startswith("/slow"):
            time.sleep(float(self.path.split("=")[1]))
            self._send(200, json.dumps({"status": "ok"}))
        elif self.path == "/text":
            self._send(200, "plain words", "text/plain")
        elif self.path == "/metrics-garbage":
            self._send(200, "this { is not metrics", "text/plain")
        else:
            self._send(404, json.dumps({"detail": "no"}))

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        self._send(200, json.dumps({"received": body}))


@pytest.fixture(scope="module")
def helper():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def closed_url():
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


# --- HTTP -----------------------------------------------------------------------------------------------

def test_http_health_with_json_assertion_and_budget(service):
    m = run_probe(spec(name="health", path="/health", expect_json=[{"path": "$.status", "equals": "ok"}],
                       latency_budget_ms=5000), service, target="canary")
    assert (m.probe, m.target, m.outcome) == ("health", "canary", "ok"), m.detail
    assert m.latency_ms is not None and m.latency_ms > 0
    assert "GET /health -> 200" in m.detail
    assert abs(m.at - time.time()) < 60


def test_http_wrong_status_fails(service):
    m = run_probe(spec(path="/widgets/999"), service, target="canary")
    assert m.outcome == "fail"
    assert "404" in m.detail and "expected status 200" in m.detail


def test_http_json_assertion_fails(service):
    m = run_probe(spec(path="/health", expect_json=[{"path": "$.status", "equals": "degraded"}]), service,
                  target="canary")
    assert m.outcome == "fail" and "$.status = 'ok', expected 'degraded'" in m.detail


def test_http_post_with_body(service):
    m = run_probe(spec(path="/widgets", method="POST", body='{"name": "probe", "quantity": 1}',
                       headers={"Content-Type": "application/json"}, expect_status=201,
                       expect_json=[{"path": "$.name", "equals": "probe"}]), service, target="canary")
    assert m.outcome == "ok", m.detail


def test_http_latency_budget_exceeded_fails(helper):
    m = run_probe(spec(path="/slow?s=0.3", latency_budget_ms=50), helper, target="canary")
    assert m.outcome == "fail" and "over the latency budget of 50 ms" in m.detail
    assert m.latency_ms >= 300


def test_http_no_answer_after_connecting_is_a_failure_not_an_error(helper):
    m = run_probe(spec(path="/slow?s=2", timeout_seconds=0.3), helper, target="canary")
    assert m.outcome == "fail" and "no answer within 0.3 s" in m.detail


def test_http_body_not_json_fails(helper):
    m = run_probe(spec(path="/text", expect_json=[{"path": "$.status"}]), helper, target="canary")
    assert m.outcome == "fail" and "not JSON" in m.detail


def test_header_secrets_come_from_the_environment_and_are_never_shown(helper):
    probe = spec(path="/auth", headers={"Authorization": "Bearer ${PROBE_TOKEN}"})
    assert run_probe(probe, helper, target="canary", env={"PROBE_TOKEN": "s3cr3t-value"}).outcome == "ok"
    wrong = run_probe(probe, helper, target="canary", env={"PROBE_TOKEN": "wrong-secret"})
    assert wrong.outcome == "fail" and "401" in wrong.detail
    assert "wrong-secret" not in json.dumps(wrong.to_dict()) and "***" in wrong.detail
    missing = run_probe(probe, helper, target="canary", env={})
    assert missing.outcome == "error" and "PROBE_TOKEN" in missing.detail and "is not set" in missing.detail
    os.environ["PROBE_TOKEN"] = "s3cr3t-value"  # env=None reads the process environment
    try:
        assert run_probe(probe, helper, target="canary").outcome == "ok"
    finally:
        del os.environ["PROBE_TOKEN"]


def test_request_body_expands_secrets_too(helper):
    m = run_probe(spec(path="/echo", method="POST", body="token=${T}",
                       expect_json=[{"path": "$.received", "equals": "token=abc"}]), helper, target="canary",
                  env={"T": "abc"})
    assert m.outcome == "ok", m.detail


def test_a_target_that_is_down_is_an_error_not_a_failure(closed_url):
    for probe in (spec(path="/health"), spec(kind="prometheus", query="up > 0"),
                  spec(kind="websocket", path="/ws"), spec(kind="tcp")):
        m = run_probe(probe, closed_url, target="canary")
        assert m.outcome == "error", (probe.kind, m.detail)
        assert "cannot connect" in m.detail and m.latency_ms is None


def test_unresolvable_host_and_bad_url_are_errors():
    assert run_probe(spec(timeout_seconds=2), "http://no-such-host.invalid", target="canary").outcome == "error"
    bad = run_probe(spec(), "ftp://example.com", target="canary")
    assert bad.outcome == "error" and "bad target URL" in bad.detail


# --- Prometheus -----------------------------------------------------------------------------------------

def test_prometheus_query_on_the_example_metrics(service):
    for _ in range(3):
        httpx.get(service + "/health", trust_env=False)
    ok = run_probe(spec(kind="prometheus", query='http_requests_total{route="/health",status="200"} >= 3'),
                   service, target="canary")
    assert ok.outcome == "ok", ok.detail
    assert "holds" in ok.detail
    failing = run_probe(spec(kind="prometheus", query='http_requests_total{route="/health"} < 1'), service,
                        target="canary")
    assert failing.outcome == "fail" and "does not hold" in failing.detail
    absent = run_probe(spec(kind="prometheus", query='http_requests_total{status="500"} < 5'), service,
                       target="canary")
    assert absent.outcome == "fail" and "no series" in absent.detail
    zero = run_probe(spec(kind="prometheus", query='http_requests_total{status="500"} < 5', absent="zero"),
                     service, target="canary")
    assert zero.outcome == "ok", zero.detail


def test_prometheus_endpoint_that_is_not_metrics_fails(helper):
    m = run_probe(spec(kind="prometheus", path="/metrics-garbage", query="up > 0"), helper, target="canary")
    assert m.outcome == "fail" and "not Prometheus text format" in m.detail
    m = run_probe(spec(kind="prometheus", path="/nowhere", query="up > 0"), helper, target="canary")
    assert m.outcome == "fail" and "404" in m.detail


# --- WebSocket and TCP ----------------------------------------------------------------------------------

def test_websocket_handshake_and_round_trip(service):
    assert run_probe(spec(kind="websocket", path="/ws"), service, target="canary").outcome == "ok"
    m = run_probe(spec(kind="websocket", path="/ws", send="ping", expect="ping"), service, target="canary")
    assert m.outcome == "ok" and "round trip" in m.detail, m.detail
    wrong = run_probe(spec(kind="websocket", path="/ws", send="ping", expect="pong"), service, target="canary")
    assert wrong.outcome == "fail" and "expected it to contain 'pong'" in wrong.detail


def test_websocket_refused_handshake_fails(service, helper):
    m = run_probe(spec(kind="websocket", path="/no-such-socket"), service, target="canary")
    assert m.outcome == "fail" and "handshake refused with HTTP 403" in m.detail
    m = run_probe(spec(kind="websocket", path="/text"), helper, target="canary")  # plain HTTP server
    assert m.outcome == "fail", m.detail


def test_websocket_without_answer_fails(service):
    m = run_probe(spec(kind="websocket", path="/ws", expect="anything", timeout_seconds=0.5), service,
                  target="canary")
    assert m.outcome == "fail" and "no answer" in m.detail


def test_tcp(service):
    port = int(service.rsplit(":", 1)[1])
    assert run_probe(spec(kind="tcp"), service, target="canary").outcome == "ok"
    assert run_probe(spec(kind="tcp", port=port), "http://127.0.0.1:1", target="canary").outcome == "ok"
    assert run_probe(spec(kind="tcp", port=f"127.0.0.1:{port}"), "http://x.invalid", target="canary").outcome == "ok"
    assert run_probe(spec(kind="tcp", port=free_port()), service, target="canary").outcome == "error"


def test_run_probes_runs_each_once_in_order(service, closed_url):
    probes = [spec(name="health", path="/health"), spec(name="ws", kind="websocket", path="/ws"),
              spec(name="missing", path="/nope"), spec(name="tcp", kind="tcp")]
    results = run_probes(probes, service, target="stable")
    assert [m.probe for m in results] == ["health", "ws", "missing", "tcp"]
    assert [m.outcome for m in results] == ["ok", "ok", "fail", "ok"]
    assert {m.target for m in results} == {"stable"}
    assert all(isinstance(m, Measurement) for m in results)
    assert run_probes([], service, target="canary") == []


# --- trunkline probe -------------------------------------------------------------------------------------

CONFIG = """\
deploy:
  deployer: command
  command:
    canary: trunkline local-deploy canary --state s --sha {sha} --weight {weight}
    promote: trunkline local-deploy promote --state s --sha {sha}
    rollback: trunkline local-deploy rollback --state s --sha {sha}
    status: trunkline local-deploy status --state s
  probes:
    - {name: health, path: /health, expect_json: [{path: $.status, equals: ok}]}
    - {name: ws, kind: websocket, path: /ws, send: hi, expect: hi}
    - {name: missing, path: /widgets/12345}
"""


def probe_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "trunkline.cli", "probe", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "GITHUB_STEP_SUMMARY": ""})


def test_probe_cli(service, tmp_path):
    config = tmp_path / "trunkline.yml"
    config.write_text(CONFIG)
    out = tmp_path / "report.json"
    ok = probe_cli("--url", service, "--config", str(config), "--probe", "health", "--probe", "ws",
                   "--json", str(out), "--target", "stable", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "2 probe(s) against" in ok.stdout and "2 ok, 0 failed" in ok.stdout
    report = json.loads(out.read_text())
    assert report["passed"] is True and report["target"] == "stable"
    assert [m["probe"] for m in report["measurements"]] == ["health", "ws"]

    failing = probe_cli("--url", service, "--config", str(config), "--format", "json", cwd=tmp_path)
    assert failing.returncode == 1
    document = json.loads(failing.stdout)
    assert document["summary"] == {"ok": 2, "fail": 1, "error": 0}

    markdown = probe_cli("--url", service, "--config", str(config), "--format", "markdown", cwd=tmp_path)
    assert "| missing | ❌ fail |" in markdown.stdout

    summary = tmp_path / "summary.md"
    env_run = subprocess.run([sys.executable, "-m", "trunkline.cli", "probe", "--url", service, "--config",
                              str(config), "--probe", "health"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)})
    assert env_run.returncode == 0 and "| health | ✅ ok |" in summary.read_text()


def test_probe_cli_down_target_exits_1(tmp_path, closed_url):
    config = tmp_path / "trunkline.yml"
    config.write_text(CONFIG)
    result = probe_cli("--url", closed_url, "--config", str(config), "--probe", "health", cwd=tmp_path)
    assert result.returncode == 1 and "could not reach the target" in result.stdout


@pytest.mark.parametrize("config,args,message", [
    (CONFIG, ["--url", "localhost:80"], "--url must be an http(s) URL"),
    (CONFIG, ["--url", "http://127.0.0.1:1", "--probe", "nope"], "no probe named nope"),
    (None, ["--url", "http://127.0.0.1:1"], "no such file"),
    ("merge: {}\n", ["--url", "http://127.0.0.1:1"], "has no deploy.probes"),
    (CONFIG.replace("path: /health,", "path: /health, kind: tcp,"), ["--url", "http://127.0.0.1:1"],
     "does not apply to a tcp probe"),
    ("deploy: [\n", ["--url", "http://127.0.0.1:1"], "trunkline.yml:"),
])
def test_probe_cli_bad_input_exits_2(tmp_path, config, args, message):
    path = tmp_path / "trunkline.yml"
    if config is not None:
        path.write_text(config)
    result = probe_cli(*args, "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
