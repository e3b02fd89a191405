"""Dogfood: Trunkline's own HTTP API against its contract (``contracts/openapi.yaml``).

- ``trunkline contracts test`` runs schemathesis (tier 1: examples, coverage, fuzzing) against a real
  ``trunkline serve`` on a loopback port, with requests signed like GitHub's (the
  ``trunkline.contracts.signing`` hooks), and must pass with the committed baseline;
- the receiver's actual answers validate against the models generated from the contract
  (``trunkline.api.ingest``);
- the baseline is a ratchet: recorded failures pass, new ones fail (schemathesis' own baseline);
- ``contracts.tests.command`` starts the service, waits for it and stops it again.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from trunkline.api.ingest import DeliveryDuplicate, DeliveryQueued, Error, Health
from trunkline.cli import main
from trunkline.contracts.signing import signature
from trunkline.demo.harness import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "contracts" / "openapi.yaml"
BASELINE = REPO / "contracts" / "schemathesis-baseline.json"
SECRET = "contract-test-secret"
BIN = Path(sys.executable).parent


def serve_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    env.update(TRUNKLINE_WEBHOOK_SECRET=SECRET, TRUNKLINE_DATA_DIR=str(tmp / "data"),
               TRUNKLINE_MISSED_DELIVERY_INTERVAL="0")
    return env


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(BIN / "trunkline"), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], env=serve_env(tmp), cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail(f"trunkline serve did not start:\n{(tmp / 'serve.log').read_text()[-3000:]}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture
def signing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUNKLINE_WEBHOOK_SECRET", SECRET)


def junit_cases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def test_tier1_fuzzing_of_our_own_api_passes_with_the_committed_baseline(service: str, signing, tmp_path: Path,
                                                                          capfd) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes(BASELINE.read_bytes())  # a run must not rewrite the committed file
    junit = tmp_path / "junit.xml"
    code = main(["contracts", "test", "--root", str(REPO), "--url", service, "--tier", "1", "--examples", "60",
                 "--seed", "20261122", "--baseline", str(baseline), "--junit", str(junit)])
    out = capfd.readouterr().out
    assert code == 0, out[-5000:]
    assert "Fuzzing" in out and "Authentication failed" not in out  # signed requests got past the 401
    cases = junit_cases(junit)
    names = {case.get("name") for case in cases}
    assert {"POST /webhooks/github", "GET /healthz", "GET /metrics"} <= names
    assert not [c for c in cases if c.find("failure") is not None or c.find("error") is not None]


def test_receiver_answers_match_the_generated_models(service: str) -> None:
    payload = json.dumps({"action": "opened", "installation": {"id": 7}, "repository": {"full_name": "a/b"}}).encode()
    guid = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": guid,
               "X-Hub-Signature-256": signature(SECRET, payload)}
    with httpx.Client(base_url=service, timeout=10) as client:
        first = client.post("/webhooks/github", content=payload, headers=headers)
        assert first.status_code == 202
        assert DeliveryQueued.model_validate_json(first.content) == DeliveryQueued(status="queued", delivery=guid)
        again = client.post("/webhooks/github", content=payload, headers=headers)
        assert again.status_code == 200
        assert DeliveryDuplicate.model_validate_json(again.content).delivery == guid

        refused = {
            401: dict(headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64}),
            400: {k: v for k, v in headers.items() if k != "X-GitHub-Event"},
            415: dict(headers, **{"Content-Type": "text/plain"}),
        }
        for status, bad in refused.items():
            response = client.post("/webhooks/github", content=payload, headers=bad)
            assert response.status_code == status
            assert Error.model_validate_json(response.content).message
        not_object = b"[1, 2]"
        response = client.post("/webhooks/github", content=not_object,
                               headers=dict(headers, **{"X-Hub-Signature-256": signature(SECRET, not_object)}))
        assert response.status_code == 415 and Error.model_validate_json(response.content).message

        health = client.get("/healthz")
        assert health.status_code == 200 and Health.model_validate_json(health.content).status == "ok"
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")

    # 413 is decided from Content-Length before any body is read
    host, port = service.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 999999999\r\n\r\n")
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            raw += chunk
    status_line, _, rest = raw.partition(b"\r\n")
    assert b" 413 " in status_line
    assert Error.model_validate_json(rest.partition(b"\r\n\r\n")[2]).message.startswith("body is 999999999 bytes")


def wrong_contract(tmp: Path, status_values: str, name: str) -> Path:
    """Our contract with a deliberately wrong /healthz `status` enum (a contract bug schemathesis finds)."""
    text = CONTRACT.read_text().replace("enum: [ok, unhealthy]", f"enum: [{status_values}]")
    path = tmp / name
    path.write_text(text)
    return path


def test_baseline_is_a_ratchet(service: str, signing, tmp_path: Path, capfd) -> None:
    baseline = tmp_path / "baseline.json"
    known = wrong_contract(tmp_path, "fine", "known.yaml")
    args = ["contracts", "test", "--root", str(REPO), "--url", service, "--tier", "0", "--baseline", str(baseline)]
    # first run: no baseline yet, schemathesis records what it finds (and still reports the failure)
    assert main([*args, "--source", str(known)]) == 1
    recorded = json.loads(baseline.read_text())["entries"]
    assert recorded and {e["operation"] for e in recorded} == {"GET /healthz"}
    # same failures again: known, pass
    assert main([*args, "--source", str(known)]) == 0
    capfd.readouterr()
    # a new failure on another operation (error bodies would need `detail`): fails
    broken = tmp_path / "new.yaml"
    broken.write_text(known.read_text().replace("required: [message]", "required: [detail]"))
    assert main([*args, "--source", str(broken)]) == 1
    assert "POST /webhooks/github" in capfd.readouterr().out
    assert json.loads(baseline.read_text())["entries"] == recorded  # a plain run never edits the baseline


def test_command_starts_and_stops_the_service(tmp_path: Path, signing, capfd) -> None:
    port = free_port()
    root = tmp_path / "repo"
    (root / ".github").mkdir(parents=True)
    (root / "contracts").mkdir()
    (root / "contracts/openapi.yaml").write_bytes(CONTRACT.read_bytes())
    (root / ".github/trunkline.yml").write_text(
        "contracts:\n  sources:\n    - path: contracts/openapi.yaml\n  tests:\n"
        f"    url: http://127.0.0.1:{port}\n"
        f"    command: TRUNKLINE_DATA_DIR={tmp_path}/data {BIN}/trunkline serve --port {port} --workers 1\n"
        "    hooks: trunkline.contracts.signing\n    ready_timeout: 60\n")
    junit = tmp_path / "junit.xml"
    assert main(["contracts", "test", "--root", str(root), "--junit", str(junit)]) == 0, capfd.readouterr().out[-3000:]
    assert junit_cases(junit)
    with pytest.raises(httpx.HTTPError):  # stopped again
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_no_service_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts/openapi.yaml").write_bytes(CONTRACT.read_bytes())
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github/trunkline.yml").write_text("contracts:\n  sources:\n    - path: contracts/openapi.yaml\n")
    assert main(["contracts", "test", "--root", str(tmp_path)]) == 2
    assert "no service to test: pass --url URL" in capsys.readouterr().err
