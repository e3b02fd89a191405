"""Probe configuration, JSON paths, the Prometheus query and the answer checks (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import ValidationError

from trunkline.deploy.probes import ProbeSpec
from trunkline.deploy.probes.checks import (
    check_http,
    check_json_assertion,
    check_latency,
    check_websocket_message,
)
from trunkline.deploy.probes.jsonpath import MISSING, lookup, parse_path
from trunkline.deploy.probes.promql import evaluate_query, parse_exposition, parse_query
from trunkline.deploy.probes.spec import JsonAssertion, env_references, expand


def spec(**data) -> ProbeSpec:
    return ProbeSpec.model_validate({"name": "p", **data})


def test_defaults_are_an_http_probe_every_10_seconds():
    probe = spec()
    assert (probe.kind, probe.interval_seconds, probe.timeout_seconds) == ("http", 10, 5)
    assert probe.effective_path == "/" and probe.statuses == (200,)
    assert spec(kind="prometheus", query="up == 1").effective_path == "/metrics"


@pytest.mark.parametrize("data,message", [
    ({"kind": "tcp", "path": "/x"}, "'path' does not apply to a tcp probe"),
    ({"kind": "http", "query": "up > 0"}, "'query' does not apply to a http probe"),
    ({"kind": "websocket", "expect_status": 101}, "'expect_status' does not apply"),
    ({"kind": "prometheus"}, "needs a 'query'"),
    ({"kind": "prometheus", "query": "up"}, "is not `metric"),
    ({"kind": "prometheus", "query": 'up{job=} > 1'}, "bad label matcher"),
    ({"kind": "prometheus", "query": 'sum(up > 1'}, "unbalanced"),
    ({"expect_status": 700}, "less than or equal to 599"),
    ({"expect_status": [200, 99]}, "greater than or equal to 100"),
    ({"expect_json": [{"path": "$.a[x]"}]}, "unexpected"),
    ({"expect_json": [{"path": "status"}]}, "should match pattern"),
    ({"expect_json": [{"path": "$.a", "matches": "("}]}, "not a valid regex"),
    ({"kind": "tcp", "port": 70000}, "less than or equal to 65535"),
    ({"kind": "tcp", "port": "no-port"}, "should match pattern"),
    ({"interval_seconds": 2, "timeout_seconds": 3}, "longer than interval_seconds"),
    ({"path": "health"}, "should match pattern"),
    ({"kind": "grpc"}, "Input should be"),
    ({"timeout": 3}, "Extra inputs"),
    ({"interval_seconds": "10"}, "valid number"),
])
def test_bad_probes_are_refused(data, message):
    with pytest.raises(ValidationError, match=message):
        spec(**data)


SCHEMA_CASES = [
    {"kind": "tcp", "path": "/x"}, {"query": "up > 1"}, {"kind": "prometheus"}, {"kind": "prometheus", "query": "up > 1"},
    {"expect_status": 700}, {"expect_status": [200, 204]}, {"kind": "tcp", "port": 0}, {"kind": "tcp", "port": "h:1"},
    {"kind": "websocket", "send": "x", "expect": "x", "headers": {"A": "b"}}, {}, {"kind": "websocket", "body": "x"},
    {"kind": "http", "send": "x"}, {"kind": "tcp", "latency_budget_ms": 5}, {"kind": "prometheus", "query": "up > 1",
                                                                           "method": "POST"},
]


@pytest.mark.parametrize("data", SCHEMA_CASES)
def test_editors_and_the_bot_agree(data):
    import jsonschema

    validator = jsonschema.Draft202012Validator(ProbeSpec.model_json_schema())
    try:
        spec(**data)
        accepted = True
    except ValidationError:
        accepted = False
    assert validator.is_valid({"name": "p", **data}) == accepted


def test_json_schema_exports():
    schema = ProbeSpec.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"if": {"properties": {"kind": {"const": "prometheus"}}, "required": ["kind"]},
            "then": {"required": ["query"]}} in schema["allOf"]


def test_env_references_and_expansion():
    probe = spec(headers={"Authorization": "Bearer ${TOKEN}", "X-Team": "${TEAM}-${TEAM}"}, body="${BODY}",
                 method="POST")
    assert env_references(probe) == ["BODY", "TEAM", "TOKEN"]
    assert expand("Bearer ${TOKEN}", {"TOKEN": "t"}) == "Bearer t"
    with pytest.raises(KeyError):
        expand("${MISSING}", {})


# --- JSON paths -----------------------------------------------------------------------------------------

def test_json_paths():
    doc = {"a": {"b": [1, {"c d": "x"}]}, "s": "ok", "n": None}
    assert parse_path("$.a.b[1]['c d']") == ("a", "b", 1, "c d")
    assert lookup(doc, "$.a.b[1]['c d']") == "x"
    assert lookup(doc, "$.a.b[-2]") == 1
    assert lookup(doc, "$.n") is None
    assert lookup(doc, "$.a.b[5]") is MISSING
    assert lookup(doc, "$.s.x") is MISSING
    assert lookup(doc, "$") == doc


keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)


@given(st.lists(st.one_of(keys, st.integers(0, 3)), max_size=5), st.integers())
def test_any_path_finds_what_was_put_there(steps, leaf):
    document: object = leaf
    for step in reversed(steps):
        document = [None] * step + [document] if isinstance(step, int) else {step: document}
    text = "$" + "".join(f"[{s}]" if isinstance(s, int) else "['" + s.replace("\\", "\\\\").replace("'", "\\'") + "']"
                         for s in steps)
    assert parse_path(text) == tuple(steps)
    assert lookup(document, text) == leaf


@pytest.mark.parametrize("assertion,problem", [
    ({"path": "$.status", "equals": "ok"}, None),
    ({"path": "$.status", "equals": "fine"}, "$.status = 'ok', expected 'fine'"),
    ({"path": "$.count", "equals": 3.0}, None),
    ({"path": "$.flag", "equals": 1}, "expected 1"),
    ({"path": "$.status", "one_of": ["ok", "degraded"]}, None),
    ({"path": "$.version", "matches": r"^1\.\d+"}, None),
    ({"path": "$.count", "at_most": 2}, "$.count = 3, expected at most 2"),
    ({"path": "$.count", "at_least": 3}, None),
    ({"path": "$.status", "at_least": 3}, "is not a number"),
    ({"path": "$.missing"}, "$.missing is missing"),
    ({"path": "$.missing", "exists": False}, None),
    ({"path": "$.status", "exists": False}, "must not"),
    ({"path": "$.nothing", "equals": None}, None),
])
def test_json_assertions(assertion, problem):
    doc = {"status": "ok", "count": 3, "flag": True, "version": "1.4.0", "nothing": None}
    found = check_json_assertion(doc, JsonAssertion.model_validate(assertion))
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_http_checks():
    probe = spec(expect_status=[200, 204], expect_json=[{"path": "$.status", "equals": "ok"}])
    assert check_http(probe, 200, b'{"status": "ok"}', "application/json")[0]
    ok, detail = check_http(probe, 500, b'{"status": "failing"}', "application/json")
    assert not ok and "expected status 200 or 204" in detail and "failing" in detail
    ok, detail = check_http(probe, 200, b"<html>", "text/html")
    assert not ok and "not JSON" in detail
    assert check_http(spec(), 200, b"anything", None) == (True, "ok")
    assert not check_latency(spec(latency_budget_ms=10), 10.5, "GET /")[0]
    assert check_latency(spec(latency_budget_ms=10), 9.5, "GET /")[0]
    ws = spec(kind="websocket", send="ping", expect="pong")
    assert check_websocket_message(ws, "pong!")[0]
    assert not check_websocket_message(ws, "ping")[0]


# --- Prometheus -----------------------------------------------------------------------------------------

def exposition() -> str:
    registry = CollectorRegistry()
    requests = Counter("http_requests", "x", ["code", "route"], registry=registry)
    requests.labels("200", "/health").inc(7)
    requests.labels("500", "/health").inc(2)
    requests.labels("500", "/widgets").inc(4)
    latency = Histogram("latency_seconds", "y", registry=registry, buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 2.0):
        latency.observe(value)
    return generate_latest(registry).decode()


@pytest.mark.parametrize("query,passed,value", [
    ('http_requests_total{code="500"} < 5', False, 6.0),
    ('http_requests_total{code="500"} < 10', True, 6.0),
    ('max(http_requests_total{code="500"}) <= 4', True, 4.0),
    ('min(http_requests_total{code="500"}) == 2', True, 2.0),
    ('avg(http_requests_total{code="500"}) == 3', True, 3.0),
    ('count(http_requests_total{code=~"5.."}) == 2', True, 2.0),
    ('http_requests_total{code!="500"} == 7', True, 7.0),
    ('http_requests_total{route!~"/w.*"} == 9', True, 9.0),
    ('latency_seconds_bucket{le="1.0"} == 2', True, 2.0),
    ('latency_seconds_count > 2', True, 3.0),
    ('count(nothing_total) == 0', True, 0.0),
])
def test_prometheus_queries(query, passed, value):
    result = evaluate_query(parse_query(query), parse_exposition(exposition()))
    assert (result.passed, result.value) == (passed, value), result.detail


def test_absent_series_fail_unless_zero():
    samples = parse_exposition(exposition())
    missing = evaluate_query(parse_query('http_requests_total{code="503"} < 1'), samples)
    assert not missing.passed and "no series matches" in missing.detail
    assert evaluate_query(parse_query('http_requests_total{code="503"} < 1'), samples, absent="zero").passed


def test_not_an_exposition():
    with pytest.raises(ValueError, match="not Prometheus text format"):
        parse_exposition("this is { not metrics")


def test_query_round_trips_as_text():
    query = parse_query(' sum( http_requests_total{code="500", route=~"/h.*"} ) >= 1e3')
    assert str(query) == 'sum(http_requests_total{code="500",route=~"/h.*"}) >= 1000'
    assert parse_query(str(query)) == query


def test_measurement_validates_its_outcome():
    from trunkline.deploy.probes import Measurement

    with pytest.raises(ValueError, match="outcome"):
        Measurement("p", "canary", 1.0, "broken", None, "")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latency_ms"):
        Measurement("p", "canary", 1.0, "ok", -1.0, "")
    assert json.loads(json.dumps(Measurement("p", "canary", 1.0, "ok", 2.5, "d").to_dict()))["latency_ms"] == 2.5
