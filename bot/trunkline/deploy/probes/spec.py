"""Probe configuration (``deploy.probes`` entries) and the pure helpers that read it.

Example::

    deploy:
      probes:
        - name: health
          kind: http
          path: /health
          headers: {Authorization: "Bearer ${PROBE_TOKEN}"}   # resolved at probe time, never logged
          expect_status: 200
          expect_json: [{path: "$.status", equals: "ok"}]
          latency_budget_ms: 500
        - name: errors
          kind: prometheus
          query: 'http_requests_total{status="500"} < 5'
        - name: ticks
          kind: websocket
          path: /ws
          send: ping
          expect: ping
        - name: port
          kind: tcp                 # the base URL's port, or `port: 5432`, or `port: "db.internal:5432"`
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from trunkline.config.model import Section

ProbeKind = Literal["http", "prometheus", "websocket", "tcp"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ProbeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", max_length=200)]
UrlPath = Annotated[str, StringConstraints(pattern=r"^/\S*$", max_length=2000)]

#: ``${NAME}`` in header values (and request bodies) is replaced from the environment at probe time.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Fields that only mean something for some kinds (everything else applies to every kind).
KIND_FIELDS: dict[str, frozenset[str]] = {
    "method": frozenset({"http"}),
    "body": frozenset({"http"}),
    "expect_status": frozenset({"http"}),
    "expect_json": frozenset({"http"}),
    "headers": frozenset({"http", "prometheus", "websocket"}),
    "path": frozenset({"http", "prometheus", "websocket"}),
    "query": frozenset({"prometheus"}),
    "absent": frozenset({"prometheus"}),
    "send": frozenset({"websocket"}),
    "expect": frozenset({"websocket"}),
    "port": frozenset({"tcp"}),
}
DEFAULT_PATHS = {"http": "/", "prometheus": "/metrics", "websocket": "/"}


def _kind_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [{"if": {"properties": {"kind": {"const": "prometheus"}}, "required": ["kind"]},
                                    "then": {"required": ["query"]}}]
    for kind in ("http", "prometheus", "websocket", "tcp"):
        foreign = {field: False for field, kinds in sorted(KIND_FIELDS.items()) if kind not in kinds}
        condition: dict[str, Any] = {"properties": {"kind": {"const": kind}}, "required": ["kind"]}
        if kind == "http":  # also when `kind` is left out
            condition = {"anyOf": [condition, {"not": {"required": ["kind"]}}]}
        rules.append({"if": condition, "then": {"properties": foreign}})
    return rules


Status = Annotated[int, Field(ge=100, le=599)]


class JsonAssertion(Section):
    """An assertion on one value of the JSON response body, addressed by a JSON path."""

    key_hints: ClassVar[dict[str, str]] = {"eq": "equals", "equal": "equals", "value": "equals",
                                           "regex": "matches", "pattern": "matches", "in": "one_of",
                                           "max": "at_most", "min": "at_least"}

    path: Annotated[str, StringConstraints(pattern=r"^\$", max_length=500)] = Field(
        description="JSON path from the document root: $.status, $.items[0].id, $['odd key'].")
    equals: Any = Field(None, description="The value must equal this (strings, numbers, booleans, null, lists...).")
    one_of: list[Any] | None = Field(None, description="The value must equal one of these.")
    matches: str | None = Field(None, max_length=500, description="The value, as text, must match this regex.")
    at_most: float | None = Field(None, description="The value must be a number <= this.")
    at_least: float | None = Field(None, description="The value must be a number >= this.")
    exists: bool = Field(True, description="false: the path must NOT exist in the body.")

    @model_validator(mode="after")
    def _valid(self) -> JsonAssertion:
        from trunkline.deploy.probes.jsonpath import parse_path

        try:
            parse_path(self.path)
        except ValueError as exc:
            raise PydanticCustomError("json_path", "{error}", {"error": str(exc)}) from None
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise PydanticCustomError("regex", "'matches' is not a valid regex: {error}",
                                          {"error": str(exc)}) from None
        return self

    def checks_value(self) -> bool:
        """True when the assertion says something about the value (beyond its presence)."""
        return any(f in self.model_fields_set for f in ("equals", "one_of", "matches", "at_most", "at_least"))


class ProbeSpec(Section):
    """A synthetic probe run against the canary and the stable version (one entry of ``deploy.probes``)."""

    key_hints: ClassVar[dict[str, str]] = {
        "type": "kind", "interval": "interval_seconds", "timeout": "timeout_seconds",
        "status": "expect_status", "expected_status": "expect_status", "json": "expect_json",
        "assertions": "expect_json", "latency_budget": "latency_budget_ms", "budget_ms": "latency_budget_ms",
        "url": "path", "endpoint": "path", "expr": "query", "address": "port", "message": "send",
    }

    # JSON Schema: per-kind requirements and fields, so editors refuse what the bot refuses.
    model_config = {"json_schema_extra": {"allOf": _kind_rules()}}

    name: ProbeName = Field(description="Unique probe name, shown in reports (e.g. health).")
    kind: ProbeKind = Field("http", description="http, prometheus (metrics text + query), websocket or tcp.")
    interval_seconds: float = Field(10, gt=0, le=3600, description="Seconds between two runs of this probe.")
    timeout_seconds: float = Field(5, gt=0, le=300, description="Seconds one run may take (connect + answer).")
    path: UrlPath | None = Field(
        None, description="Path (and query string) on the target, e.g. /health. Defaults: http '/', "
                          "prometheus '/metrics', websocket '/'.")
    method: HttpMethod = Field("GET", description="http: request method.")
    headers: dict[HeaderName, Annotated[str, StringConstraints(max_length=4000)]] = Field(
        default={}, description="Request headers. ${NAME} in a value is read from the environment at probe "
                                "time (secrets stay out of the config and out of every report).")
    body: Annotated[str, StringConstraints(max_length=100_000)] | None = Field(
        None, description="http: request body (${NAME} references are expanded like headers).")
    expect_status: Status | list[Status] = Field(
        200, description="http: the status (or any of the statuses) the target must answer with.")
    expect_json: list[JsonAssertion] = Field(default=[], description="http: assertions on the JSON body.")
    latency_budget_ms: float | None = Field(
        None, gt=0, description="The probe fails when the answer (or connection) takes longer than this.")
    query: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        None, description="prometheus: `metric{label=\"v\"} OP number`, optionally wrapped in sum/min/max/"
                          "count/avg (default sum over the matching series); OP is < <= > >= == !=.")
    absent: Literal["fail", "zero"] = Field(
        "fail", description="prometheus: when no series matches, fail (default) or treat the value as 0.")
    send: Annotated[str, StringConstraints(max_length=100_000)] | None = Field(
        None, description="websocket: a text message sent after the handshake.")
    expect: Annotated[str, StringConstraints(max_length=100_000)] | None = Field(
        None, description="websocket: the first message received must contain this text (waits for one "
                          "message; with `send`, its answer).")
    port: Annotated[int, Field(ge=1, le=65535)] | Annotated[str, StringConstraints(pattern=r"^\S+:\d{1,5}$", max_length=300)] | None = Field(
        None, description="tcp: port on the target's host, or host:port; default the target URL's port.")

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> ProbeSpec:
        for field in sorted(self.model_fields_set):
            kinds = KIND_FIELDS.get(field)
            if kinds is not None and self.kind not in kinds:
                raise PydanticCustomError(
                    "probe_field", "'{field}' does not apply to a {kind} probe (only to: {kinds})",
                    {"field": field, "kind": self.kind, "kinds": ", ".join(sorted(kinds))})
        if self.kind == "prometheus":
            if self.query is None:
                raise PydanticCustomError("probe_query", "a prometheus probe needs a 'query'")
            from trunkline.deploy.probes.promql import parse_query

            try:
                parse_query(self.query)
            except ValueError as exc:
                raise PydanticCustomError("probe_query", "query: {error}", {"error": str(exc)}) from None
        if self.timeout_seconds > self.interval_seconds and "interval_seconds" in self.model_fields_set:
            raise PydanticCustomError(
                "probe_timeout", "timeout_seconds ({timeout}) is longer than interval_seconds ({interval})",
                {"timeout": self.timeout_seconds, "interval": self.interval_seconds})
        return self

    @property
    def statuses(self) -> tuple[int, ...]:
        return (self.expect_status,) if isinstance(self.expect_status, int) else tuple(self.expect_status)

    @property
    def effective_path(self) -> str:
        return self.path if self.path is not None else DEFAULT_PATHS.get(self.kind, "/")


def env_references(spec: ProbeSpec) -> list[str]:
    """Environment variable names a probe reads (from its headers and body), sorted, unique."""
    texts = list(spec.headers.values()) + ([spec.body] if spec.body else [])
    return sorted({m.group(1) for text in texts for m in ENV_REFERENCE.finditer(text)})


def expand(text: str, env: Mapping[str, str]) -> str:
    """``text`` with every ``${NAME}`` replaced from ``env``; ``KeyError(name)`` when one is missing."""

    def replace(match: re.Match[str]) -> str:
        return env[match.group(1)]

    return ENV_REFERENCE.sub(replace, text)


__all__ = ["DEFAULT_PATHS", "ENV_REFERENCE", "JsonAssertion", "ProbeKind", "ProbeSpec", "env_references", "expand"]
