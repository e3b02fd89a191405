"""The example service matches its own OpenAPI / AsyncAPI descriptions, which the contracts engine reads."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient

from trunkline.cli import main

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "examples" / "service"


@pytest.fixture(scope="module")
def app():
    sys.path.insert(0, str(ROOT))
    try:
        module = importlib.import_module("examples.service.app")
    finally:
        sys.path.remove(str(ROOT))
    return module.app


def openapi() -> dict:
    return yaml.safe_load((SERVICE / "openapi.yaml").read_text())


def valid(document: dict, name: str, instance) -> None:
    jsonschema.Draft202012Validator({**document, "$ref": f"#/components/schemas/{name}"}).validate(instance)


def test_routes_are_the_described_ones(app):
    described = {(path, method.upper()) for path, item in openapi()["paths"].items() for method in item
                 if method != "parameters"}
    served = {(route.path, method) for route in app.routes if hasattr(route, "methods")
              for method in route.methods if method != "HEAD"}
    assert served == described
    channels = yaml.safe_load((SERVICE / "asyncapi.yaml").read_text())["channels"]
    sockets = {route.path for route in app.routes if not hasattr(route, "methods")}
    assert {c["address"] for c in channels.values()} == sockets == {"/ws"}


def test_answers_match_their_schemas(app):
    document = openapi()
    with TestClient(app) as client:
        valid(document, "Healthy", client.get("/health").json())
        valid(document, "Version", client.get("/version").json())
        created = client.post("/widgets", json={"name": "bolt", "quantity": 3})
        assert created.status_code == 201
        valid(document, "Widget", created.json())
        valid(document, "WidgetList", client.get("/widgets").json())
        missing = client.get("/widgets/999")
        assert missing.status_code == 404
        valid(document, "Problem", missing.json())
        invalid = client.post("/widgets", json={"name": "", "quantity": -1})
        assert invalid.status_code == 422
        valid(document, "ValidationError", invalid.json())
        assert client.delete(f"/widgets/{created.json()['id']}").status_code == 204
        assert "http_requests_total" in client.get("/metrics").text
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"


@pytest.mark.parametrize("name", ["openapi.yaml", "asyncapi.yaml"])
def test_the_contracts_engine_reads_them(name, tmp_path, capsys):
    path = SERVICE / name
    assert main(["contracts", "diff", str(path), str(path)]) == 0
    assert "0 findings" in capsys.readouterr().out
    changed = tmp_path / name
    text = path.read_text()
    changed.write_text(text.replace("/ws", "/socket") if name == "asyncapi.yaml"
                       else text.replace("required: [id, name, quantity]", "required: [id, name]"))
    assert main(["contracts", "diff", str(path), str(changed)]) == 1  # a breaking change is found
    assert "ERR" in capsys.readouterr().out
