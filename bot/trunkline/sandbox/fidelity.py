"""Fidelity validators: keep the sandbox GitHub honest against GitHub's own descriptions.

Two references, both read-only in the shared corpus:

* GitHub's REST OpenAPI 3.0.3 description (``api.github.com.json``) — every sandbox response body is
  checked against the schema declared for its (method, path template, status).
* octokit/webhooks payload schemas (draft-07) — every emitted webhook payload is checked against the
  schema for its (event, action).

Everything here is a pure function over the corpus files, loaded once per process (the REST JSON is
13 MB) and turned into validators lazily, one per schema, cached.

OpenAPI 3.0 → JSON Schema conversion (see :func:`to_json_schema`):

* ``nullable: true`` allows ``null``: ``type`` becomes ``[type, "null"]``, an ``enum`` gains ``None``,
  and a schema that composes (``$ref``/``allOf``/``oneOf``/``anyOf``) is wrapped as
  ``anyOf: [{"type": "null"}, <schema>]`` because its sub-schemas would otherwise still reject null.
* ``$ref: "#/components/..."`` is rewritten to an absolute URI of the converted document, which is
  registered once in a :class:`referencing.Registry`, so any inline schema can be validated on its own.
* OpenAPI-only keywords (``discriminator``, ``xml``, ``externalDocs``, ``example``, ``x-*``,
  ``readOnly``/``writeOnly``, ``deprecated``) are dropped; the semantics of readOnly/writeOnly are not
  enforced (they concern requests, and GitHub's examples do not honour them).
* ``oneOf`` keeps its strict "exactly one" meaning (OpenAPI 3.0's too); the few places where GitHub's
  description is ambiguous (events' ``payload`` oneOf includes ``public-event = {type: object}``) are
  listed as genuine disagreements in the tests, not papered over here.

Formats. ``format`` stays an annotation except ``date-time``, asserted loosely
(``YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)``, see :func:`_is_date_time`). Decided by validating the REST
description's ``components/examples``: none fails the loose date-time check, and it catches the sandbox
emitting ``datetime.isoformat()`` with a space or without a zone. ``uri``/``email``/``uri-template`` are
not asserted for REST bodies (an example has ``page_url: "developer.github.com"``; uri-template is not
checkable). Webhooks additionally assert a loose ``uri`` (scheme required) because octokit's schemas rely
on it: ``environment_url: oneOf [{enum: [""]}, {format: uri}]`` is only exclusive if ``""`` is not a uri.
(Two octokit ``check_run.rerequested`` examples carry ``"2018-04-25 20:42:10"`` app timestamps and fail.)

Speed. python-jsonschema is the reference and writes the error messages; when jsonschema_rs is
installed it answers "valid" first (~0.1 ms instead of ~7 ms for a pull request), see :class:`_Checker`.
Set ``TRUNKLINE_FIDELITY_PURE=1`` to use the reference alone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

from trunkline import corpus

try:  # optional accelerator, see _Checker
    import jsonschema_rs
except ImportError:  # pragma: no cover - depends on the environment
    jsonschema_rs = None

__all__ = [
    "FidelityReport",
    "check_log",
    "declared_json_statuses",
    "match_path",
    "response_examples",
    "response_schema",
    "rest_registry",
    "rest_operations",
    "route_exists",
    "to_json_schema",
    "unknown_routes",
    "validate_response",
    "validate_webhook",
    "webhook_schema_path",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Absolute URIs under which the converted REST document and the webhook schemas are registered. They are
# never fetched; they only give ``$ref`` resolution a stable base.
REST_URI = "urn:trunkline:rest:api.github.com.json"
WEBHOOK_BASE = "https://trunkline.invalid/octokit-webhooks/api.github.com/"

# Parameters that, in practice, carry slashes (file paths, branch and ref names, ``base...head``).
SLASHY_PARAMS = frozenset({"path", "ref", "basehead", "branch", "base", "head", "dir", "tag"})


# --------------------------------------------------------------------------------------------- loading


@lru_cache(maxsize=1)
def _rest_document() -> dict[str, Any]:
    path = corpus.rest_description_path()
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def rest_operations() -> dict[tuple[str, str], dict]:
    """``(METHOD, path template) -> OpenAPI operation object`` for every operation in the description."""
    ops: dict[tuple[str, str], dict] = {}
    for template, item in _rest_document()["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                ops[(method.upper(), template)] = op
    return ops


def route_exists(method: str, template: str) -> bool:
    """True when GitHub's REST description declares ``METHOD template`` (exact template spelling)."""
    return (method.upper(), template) in rest_operations()


def unknown_routes(routes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (method, template) pairs that GitHub does not declare, in input order (sandbox-only
    ``/_sandbox/...`` control routes are not GitHub's and are left out)."""
    return [
        (m, t)
        for m, t in routes
        if not t.startswith("/_sandbox") and m.upper() not in ("HEAD", "OPTIONS") and not route_exists(m, t)
    ]


# ------------------------------------------------------------------------------------------ match_path

_PARAM = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class _Seg:
    """One template segment: a literal, a whole-segment parameter, or a mixed one (``{base}...{head}``)."""

    kind: int  # 2 literal, 1 mixed, 0 whole parameter (higher = more specific)
    text: str
    param: str | None = None
    regex: re.Pattern[str] | None = None


def _compile_segment(text: str) -> _Seg:
    params = _PARAM.findall(text)
    if not params:
        return _Seg(2, text)
    if len(params) == 1 and text == "{" + params[0] + "}":
        return _Seg(0, text, param=params[0])
    pattern = "".join("[^/]+?" if i % 2 else re.escape(part) for i, part in enumerate(_PARAM.split(text)))
    return _Seg(1, text, regex=re.compile(pattern + r"\Z"))


@lru_cache(maxsize=1)
def _templates_by_method() -> dict[str, list[tuple[str, tuple[_Seg, ...]]]]:
    index: dict[str, list[tuple[str, tuple[_Seg, ...]]]] = {}
    for method, template in rest_operations():
        segs = tuple(_compile_segment(s) for s in template.strip("/").split("/"))
        index.setdefault(method, []).append((template, segs))
    return index


def _seg_matches(seg: _Seg, value: str) -> bool:
    if seg.kind == 2:
        return seg.text == value
    if seg.kind == 0:
        return value != ""
    assert seg.regex is not None
    return seg.regex.match(value) is not None


def _match_segments(segs: tuple[_Seg, ...], parts: list[str], slashy: bool) -> tuple[int, ...] | None:
    """Specificity score (per template segment) if ``parts`` matches, else None. With ``slashy``, a
    whole-segment parameter named in SLASHY_PARAMS may swallow several path segments."""
    if not slashy:
        if len(segs) != len(parts):
            return None
        for seg, part in zip(segs, parts, strict=True):
            if not _seg_matches(seg, part):
                return None
        return tuple(s.kind for s in segs)

    best: tuple[int, ...] | None = None

    def walk(i: int, j: int) -> None:
        nonlocal best
        if i == len(segs):
            if j == len(parts):
                score = tuple(s.kind for s in segs)
                if best is None or score > best:
                    best = score
            return
        if j >= len(parts):
            return
        seg = segs[i]
        if seg.kind == 0 and seg.param in SLASHY_PARAMS:
            # Leave at least one part for each remaining template segment.
            for end in range(j + 1, len(parts) - (len(segs) - i - 1) + 1):
                walk(i + 1, end)
        elif _seg_matches(seg, parts[j]):
            walk(i + 1, j + 1)

    walk(0, 0)
    return best


@lru_cache(maxsize=4096)
def match_path(method: str, concrete_path: str) -> str | None:
    """The GitHub path template for a concrete request path, or None.

    Literal segments beat parameters (``/repos/a/b/pulls/comments`` is ``pulls/comments``, not
    ``pulls/{pull_number}``), compared left to right. Only when no template matches segment for segment
    may a ``{path}``/``{ref}``/``{branch}``/``{basehead}``-style parameter span several segments
    (``/repos/a/b/contents/docs/x.md``).
    """
    path = concrete_path.split("?", 1)[0].split("#", 1)[0]
    parts = path.strip("/").split("/")
    candidates = _templates_by_method().get(method.upper(), [])
    for slashy in (False, True):
        best: tuple[tuple[int, ...], str] | None = None
        for template, segs in candidates:
            score = _match_segments(segs, parts, slashy)
            if score is not None and (best is None or score > best[0]):
                best = (score, template)
        if best is not None:
            return best[1]
    return None


# ----------------------------------------------------------------------- OpenAPI → JSON Schema


_DROPPED_KEYWORDS = frozenset(
    {
        "discriminator",
        "xml",
        "externalDocs",
        "example",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "nullable",
    }
)
_SCHEMA_MAP_KEYWORDS = frozenset({"properties", "patternProperties", "definitions", "$defs"})
_SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_KEYWORDS = frozenset({"items", "additionalProperties", "not", "additionalItems", "contains"})


def to_json_schema(node: Any, ref_base: str = REST_URI) -> Any:
    """Convert an OpenAPI 3.0 schema object into a JSON Schema (2020-12) object.

    Local ``$ref``s (``#/components/...``) are made absolute against ``ref_base`` so they resolve in the
    registry returned by :func:`rest_registry`. As OpenAPI 3.0 says, siblings of ``$ref`` are ignored —
    except ``nullable: true``, which is honoured (the common reading; GitHub's description itself only
    writes ``allOf: [{$ref}], nullable: true``, handled like any nullable composition).
    """
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        out: dict[str, Any] = {
            "$ref": ref_base + ref if isinstance(ref, str) and ref.startswith("#") else ref
        }
        return _allow_null(out) if node.get("nullable") is True else out
    out = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub, ref_base) for name, sub in value.items()}
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            out[key] = [to_json_schema(sub, ref_base) for sub in value]
        elif key in _SCHEMA_KEYWORDS:
            out[key] = to_json_schema(value, ref_base)
        else:
            out[key] = value
    _exclusive_bounds(node, out)
    if node.get("nullable") is True:
        out = _allow_null(out)
    return out


def _exclusive_bounds(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """OpenAPI 3.0 writes ``minimum: 0, exclusiveMinimum: true``; JSON Schema wants ``exclusiveMinimum: 0``."""
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = node.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and bound in node:
                out[exclusive] = out.pop(bound)


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    # Composition keywords apply their sub-schemas to null too, so they cannot be widened in place.
    if any(k in schema for k in ("$ref", "allOf", "oneOf", "anyOf", "not")):
        return {"anyOf": [{"type": "null"}, schema]}
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "null" not in types:
            schema["type"] = [*types, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    if "const" in schema and schema["const"] is not None:
        schema = {"anyOf": [{"type": "null"}, schema]}
    return schema


@lru_cache(maxsize=1)
def _converted_components() -> dict[str, Any]:
    """The description's ``components`` with every schema converted (responses' schemas too)."""
    components = _rest_document()["components"]
    converted: dict[str, Any] = {
        "schemas": {name: to_json_schema(s) for name, s in components.get("schemas", {}).items()}
    }
    return converted


@lru_cache(maxsize=1)
def rest_registry() -> Registry:
    """Registry holding the converted REST document under :data:`REST_URI` (for custom validators)."""
    resource = Resource(contents={"components": _converted_components()}, specification=DRAFT202012)
    return Registry().with_resource(REST_URI, resource)


# ----------------------------------------------------------------------------- formats


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$")


def _is_date_time(value: object) -> bool:
    """Loose RFC 3339 date-time: ``YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)``; non-strings pass (type's job)."""
    if not isinstance(value, str):
        return True
    return _DATE_TIME.match(value) is not None


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return _URI.match(value) is not None


def _format_checker(*, uri: bool) -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    if uri:
        checker.checks("uri")(_is_uri)
    return checker


# REST: date-time only (a REST example has ``page_url: "developer.github.com"``). Webhooks: also a loose
# ``uri`` (scheme required), because octokit relies on it for ``oneOf: [{enum: [""]}, {format: uri}]``
# (``deployment_status.environment_url``) to be exclusive — without it ``""`` matches both branches.
_REST_FORMATS = _format_checker(uri=False)
_WEBHOOK_FORMATS = _format_checker(uri=True)


# ----------------------------------------------------------------------------- fast path (jsonschema_rs)

# Every format jsonschema_rs knows; all are overridden so it asserts exactly what the reference asserts.
_RS_BUILTIN_FORMATS = (
    "date",
    "date-time",
    "duration",
    "email",
    "hostname",
    "idn-email",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "iri",
    "iri-reference",
    "json-pointer",
    "regex",
    "relative-json-pointer",
    "time",
    "uri",
    "uri-reference",
    "uri-template",
    "uuid",
)


def _fast_enabled() -> bool:
    """jsonschema_rs is optional; ``TRUNKLINE_FIDELITY_PURE=1`` forces the pure-Python reference."""
    return jsonschema_rs is not None and os.environ.get("TRUNKLINE_FIDELITY_PURE") != "1"


def _rs_formats(*, uri: bool) -> dict[str, Any]:
    formats: dict[str, Any] = {name: _always for name in _RS_BUILTIN_FORMATS}
    formats["date-time"] = _is_date_time
    if uri:
        formats["uri"] = _is_uri
    return formats


def _always(_value: object) -> bool:
    return True


def _build_fast(cls: Any, schema: Any, registry: Any, *, uri: bool) -> Any:
    try:
        return cls(schema, registry=registry, formats=_rs_formats(uri=uri), validate_formats=True)
    except Exception:  # a schema jsonschema_rs cannot compile: the reference alone still works
        return None


@lru_cache(maxsize=1)
def _rest_fast_registry() -> Any:
    return jsonschema_rs.Registry(
        [(REST_URI, {"components": _converted_components()})], draft=jsonschema_rs.Draft202012
    )


# ----------------------------------------------------------------------------- REST responses


def _resolve_local(obj: Any) -> Any:
    """Follow a ``#/components/...`` reference in the raw document (responses are referenced)."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj and seen < 10:
        node: Any = _rest_document()
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
        seen += 1
    return obj


def _response_object(method: str, template: str, status: int | str) -> dict | None:
    op = rest_operations().get((method.upper(), template))
    if op is None:
        return None
    responses = op.get("responses", {})
    status_s = str(status)
    for key in (status_s, f"{status_s[:1]}XX", "default"):
        if key in responses:
            return _resolve_local(responses[key])
    return None


def _json_media(content: Mapping[str, Any]) -> dict | None:
    if "application/json" in content:
        return content["application/json"]
    for ctype, media in content.items():
        if ctype.endswith("+json"):
            return media
    return None


def response_schema(method: str, template: str, status: int | str) -> dict | None:
    """The OpenAPI schema (as written in the description; may be a ``$ref``) of the JSON body GitHub
    declares for ``METHOD template`` answering ``status``. Falls back to ``default``. None when the
    operation/status is unknown or declares no JSON body (e.g. 204, 304, diff media types)."""
    response = _response_object(method, template, status)
    if response is None:
        return None
    media = _json_media(response.get("content") or {})
    if media is None or "schema" not in media:
        return None
    return media["schema"]


def response_examples(method: str, template: str, status: int | str) -> dict[str, Any]:
    """The example bodies the description gives for that response's JSON media type, by example name.

    Examples are either inline or ``$ref``s to ``components/examples``; some put the ``$ref`` *inside*
    ``value`` (``{"value": {"$ref": "#/components/examples/issue"}}``), which is unwrapped too.
    """
    response = _response_object(method, template, status)
    media = _json_media((response or {}).get("content") or {})
    out: dict[str, Any] = {}
    for name, example in ((media or {}).get("examples") or {}).items():
        example = _resolve_local(example)
        if not isinstance(example, dict) or "value" not in example:
            continue
        value = example["value"]
        if isinstance(value, dict) and set(value) == {"$ref"}:
            value = _resolve_local(value)
            value = value.get("value") if isinstance(value, dict) else value
        out[name] = value
    return out


@dataclass(frozen=True)
class _Checker:
    """A schema's validators: ``slow`` (python-jsonschema, the reference, and the source of error
    messages) and optionally ``fast`` (jsonschema_rs, ~200x faster), used only to say "valid" quickly.
    Whenever ``fast`` rejects, ``slow`` decides, so a disagreement can only ever cost time. The test suite
    checks both agree on every REST example and webhook example and on mutated bodies."""

    slow: Any
    fast: Any = None

    def errors(self, instance: Any) -> list[str]:
        if self.fast is not None:
            try:
                if self.fast.is_valid(instance):
                    return []
            except Exception:  # non-JSON Python values, recursion limits...: let the reference decide
                pass
        return _errors(self.slow, instance)


@lru_cache(maxsize=2048)
def _response_checker(method: str, template: str, status: str) -> _Checker | None:
    schema = response_schema(method, template, status)
    if schema is None:
        return None
    converted = to_json_schema(schema)
    slow = Draft202012Validator(converted, registry=rest_registry(), format_checker=_REST_FORMATS)
    fast = None
    if _fast_enabled():
        fast = _build_fast(jsonschema_rs.Draft202012Validator, converted, _rest_fast_registry(), uri=False)
    return _Checker(slow, fast)


def validate_response(method: str, template: str, status: int | str, body: Any) -> list[str]:
    """Errors (``<JSON pointer>: <message>``) of ``body`` against the declared response schema; empty
    when valid. A status the operation does not declare at all is an error; a declared status without a
    JSON body only accepts an empty body (None)."""
    method = method.upper()
    if (method, template) not in rest_operations():
        return [f"{method} {template} is not an operation in GitHub's REST description"]
    response = _response_object(method, template, status)
    if response is None:
        return [f"status {status} not declared for {method} {template}"]
    checker = _response_checker(method, template, str(status))
    if checker is None:
        content = response.get("content") or {}
        if body is not None and body != "" and not content:
            return [f"status {status} for {method} {template} declares no body, got {_short(body)}"]
        return []
    return checker.errors(body)


# ----------------------------------------------------------------------------- error formatting


def _pointer(path: Iterable[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _message(error: ValidationError) -> str:
    msg = error.message
    full = repr(error.instance)
    if len(full) > 80 and full in msg:
        msg = msg.replace(full, _short(error.instance))
    if error.context:
        # For anyOf/oneOf say which alternative came closest and why it failed; the ``{"type": "null"}``
        # branch added for ``nullable`` is never the interesting one.
        context = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        closest = best_match(context or error.context)
        msg += f" (closest: {_pointer(closest.absolute_path)}: {_message(closest)})"
    return msg[:600]


def _errors(validator: Any, instance: Any) -> list[str]:
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [f"{_pointer(e.absolute_path)}: {_message(e)}" for e in errors]


# ----------------------------------------------------------------------------- webhooks


def webhook_schema_path(event: str, action: str | None) -> Path | None:
    """``<event>/<action>.schema.json``, or ``<event>/event.schema.json`` for action-less events."""
    folder = corpus.webhook_schemas_dir() / event
    if event == "common" or not folder.is_dir():
        return None
    if action is not None:
        candidate = folder / f"{action}.schema.json"
        if candidate.is_file():
            return candidate
    candidate = folder / "event.schema.json"
    return candidate if candidate.is_file() else None


def _webhook_uri(raw_id: str | None, rel_path: str) -> str:
    # Event schemas are identified as ``pull_request$opened`` and refer to ``common/x.schema.json``
    # relative to the api.github.com folder; common schemas are ``common/x.schema.json`` and refer to
    # siblings. Anchoring both relative ids at WEBHOOK_BASE keeps those relative references correct.
    return WEBHOOK_BASE + (raw_id if raw_id and "://" not in raw_id else rel_path)


@lru_cache(maxsize=1)
def _webhook_registry() -> Registry:
    root = corpus.webhook_schemas_dir()
    resources = []
    for path in sorted(root.glob("*/*.schema.json")):
        with open(path, encoding="utf-8") as fh:
            contents = json.load(fh)
        uri = _webhook_uri(contents.get("$id"), path.relative_to(root).as_posix())
        contents = {**contents, "$id": uri}
        resources.append((uri, Resource(contents=contents, specification=DRAFT7)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=1)
def _webhook_fast_registry() -> Any:
    resources = [(uri, _webhook_registry().contents(uri)) for uri in _webhook_uris()]
    return jsonschema_rs.Registry(resources, draft=jsonschema_rs.Draft7)


def _webhook_uris() -> list[str]:
    return sorted(uri for uri in _webhook_registry() if uri.startswith(WEBHOOK_BASE))


@lru_cache(maxsize=512)
def _webhook_checker(path: str) -> _Checker:
    root = corpus.webhook_schemas_dir()
    with open(path, encoding="utf-8") as fh:
        raw_id = json.load(fh).get("$id")
    uri = _webhook_uri(raw_id, Path(path).relative_to(root).as_posix())
    schema = _webhook_registry().contents(uri)
    slow = Draft7Validator(schema, registry=_webhook_registry(), format_checker=_WEBHOOK_FORMATS)
    fast = None
    if _fast_enabled():
        fast = _build_fast(jsonschema_rs.Draft7Validator, schema, _webhook_fast_registry(), uri=True)
    return _Checker(slow, fast)


def validate_webhook(event: str, payload: Any) -> list[str]:
    """Errors of a webhook ``payload`` for ``event`` against octokit's schema; empty when valid. An
    unknown event or action is reported as an error string."""
    if not isinstance(payload, dict):
        return [f"/: webhook payload must be a JSON object, got {_short(payload)}"]
    action = payload.get("action")
    path = webhook_schema_path(event, action if isinstance(action, str) else None)
    if path is None:
        folder = corpus.webhook_schemas_dir() / event
        if not folder.is_dir() or event == "common":
            return [f"unknown webhook event {event!r}"]
        known = sorted(p.name.removesuffix(".schema.json") for p in folder.glob("*.schema.json"))
        return [f"unknown action {action!r} for webhook event {event!r} (known: {', '.join(known)})"]
    return _webhook_checker(str(path)).errors(payload)


# ----------------------------------------------------------------------------- request log


@dataclass
class FidelityReport:
    """Outcome of :func:`check_log`: counts per entry plus errors per (method, route, status)."""

    validated: int = 0  # entries whose JSON body was checked against a declared schema
    skipped_no_schema: int = 0  # declared status without a JSON schema (204, 304, diff bodies...)
    skipped_other: int = 0  # faults and sandbox control routes
    failed: int = 0  # entries with at least one error
    errors: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)
    covered: set[tuple[str, str, int]] = field(default_factory=set)  # distinct schemas validated

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def share_validated(self) -> float:
        """Share of checked entries that had a response schema to validate against."""
        total = self.validated + self.skipped_no_schema
        return self.validated / total if total else 0.0

    def schema_share(self, routes: Iterable[tuple[str, str]]) -> float:
        """Share of the 2xx JSON response schemas GitHub declares for ``routes`` (e.g. every route the
        sandbox serves) that this log exercised with a valid body."""
        declared = {
            (m.upper(), t, s)
            for m, t in routes
            if route_exists(m, t)
            for s in declared_json_statuses(m, t)
            if 200 <= s < 300
        }
        return len(declared & self.covered) / len(declared) if declared else 0.0

    def summary(self) -> str:
        lines = [
            f"validated={self.validated} skipped_no_schema={self.skipped_no_schema} "
            f"skipped_other={self.skipped_other} failed={self.failed} "
            f"schemas_covered={len(self.covered)}"
        ]
        for (method, route, status), errs in sorted(self.errors.items()):
            lines.append(f"{method} {route} -> {status}:")
            lines.extend(f"  {e}" for e in errs[:20])
        return "\n".join(lines)


def declared_json_statuses(method: str, template: str) -> list[int]:
    """Numeric statuses for which ``METHOD template`` declares a JSON response body, ascending."""
    op = rest_operations().get((method.upper(), template), {})
    return sorted(
        int(s)
        for s in op.get("responses", {})
        if s.isdigit() and response_schema(method, template, s) is not None
    )


_CONVERTER = re.compile(r"\{(\w+):\w+\}")


ONE_OF_AMBIGUITY = "is valid under each of"

#: Statuses GitHub returns on routes whose description does not declare them (permissions,
#: hidden resources, conflicts, validation). They must still carry GitHub's error shape.
UNDECLARED_ERROR_STATUSES = frozenset({401, 403, 404, 409, 422})


@lru_cache(maxsize=4)
def _error_validator(name: str) -> Draft202012Validator:
    schema = _rest_document()["components"]["schemas"][name]
    return Draft202012Validator(to_json_schema(schema), registry=rest_registry())


def undeclared_error_errors(status: int, body: Any) -> list[str]:
    """Errors of an error body answered with a status the route does not declare: it must be a
    ``validation-error`` (422 with ``errors``) or a ``basic-error``."""
    name = "validation-error" if status == 422 and isinstance(body, dict) and "errors" in body else "basic-error"
    errs = _errors(_error_validator(name), body)
    if not errs and not (isinstance(body, dict) and isinstance(body.get("message"), str)):
        errs = [f"status {status} error body has no message: {_short(body)}"]
    return errs


def check_log(entries: Iterable[Any], *, max_errors_per_key: int = 50) -> FidelityReport:
    """Validate a sandbox request log (``RequestLogEntry``-like objects: method, path, route, status,
    response_body, fault). Faults (injected by the sandbox on purpose) and ``/_sandbox`` routes are
    skipped; an entry with no recorded route is matched with :func:`match_path`."""
    report = FidelityReport()
    for entry in entries:
        method = entry.method.upper()
        # FastAPI spells slash-carrying parameters ``{path:path}``; GitHub spells them ``{path}``.
        route = _CONVERTER.sub(r"{\1}", entry.route or "") or match_path(method, entry.path) or entry.path
        if getattr(entry, "fault", False) or route.startswith("/_sandbox") or method in ("HEAD", "OPTIONS"):
            report.skipped_other += 1
            continue
        status = int(entry.status)
        body = entry.response_body
        if method == "GET" and status == 304 and body is None:
            # Conditional GETs answer 304 for any resource; GitHub declares it only for some.
            report.skipped_no_schema += 1
            continue
        key = (method, route, status)
        has_schema = route_exists(method, route) and _response_checker(method, route, str(status))
        if not route_exists(method, route) and status in (404, 405):
            # A path GitHub does not have, answered "Not Found"/"Method Not Allowed": nothing to compare.
            report.skipped_other += 1
            continue
        errs = validate_response(method, route, status, body)
        if errs and status >= 400 and route_exists(method, route):
            declared = _response_object(method, route, status)
            if declared is None and status in UNDECLARED_ERROR_STATUSES or (
                    declared is not None and not declared.get("content") and body is not None):
                # GitHub answers errors the description leaves out, or declares without a body, with
                # its error JSON: accept exactly that shape, checked against its schema.
                errs = undeclared_error_errors(status, body)
                has_schema = True
            elif all(ONE_OF_AMBIGUITY in e for e in errs):
                # The description's error oneOf has branches one body satisfies at once (e.g. 409 on
                # PUT contents: basic-error and repository-rule-violation-error); GitHub's own bodies
                # match both, so "exactly one" cannot hold. Valid under each branch means valid.
                errs = []
        if errs:
            report.failed += 1
            bucket = report.errors.setdefault(key, [])
            for e in errs:
                if e not in bucket and len(bucket) < max_errors_per_key:
                    bucket.append(e)
        elif has_schema:
            report.validated += 1
            report.covered.add(key)
        else:
            report.skipped_no_schema += 1
    return report


@dataclass
class WorldAudit:
    """Everything one sandbox served and sent, checked against GitHub's descriptions."""

    rest: FidelityReport
    webhooks_checked: int
    webhook_errors: dict[str, list[str]]  # "event.action" -> errors

    @property
    def ok(self) -> bool:
        return self.rest.ok and not self.webhook_errors

    def summary(self) -> str:
        lines = [self.rest.summary(), f"webhooks checked: {self.webhooks_checked}, invalid kinds: "
                 f"{len(self.webhook_errors)}"]
        for kind, errs in sorted(self.webhook_errors.items()):
            lines.append(f"  {kind}: {errs[:3]}")
        return "\n".join(lines)


def audit(world: Any) -> WorldAudit:
    """Validate a sandbox World's whole request log and every webhook payload it emitted."""
    with world.lock:
        entries = list(world.request_log)
        deliveries = list(world.deliveries)
    rest = check_log(entries)
    webhook_errors: dict[str, list[str]] = {}
    for delivery in deliveries:
        try:
            payload = json.loads(delivery.payload)
        except ValueError:
            webhook_errors.setdefault(delivery.event, []).append("payload is not JSON")
            continue
        errs = validate_webhook(delivery.event, payload)
        if errs:
            kind = f"{delivery.event}.{payload.get('action')}" if isinstance(payload, dict) else delivery.event
            bucket = webhook_errors.setdefault(kind, [])
            bucket.extend(e for e in errs if e not in bucket)
    return WorldAudit(rest=rest, webhooks_checked=len(deliveries), webhook_errors=webhook_errors)
