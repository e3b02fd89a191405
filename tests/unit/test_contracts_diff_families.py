"""Every schema rule family at every place it can sit: one keyword mutation x (request body, request
property, query parameter, response body, response property, response header) must yield exactly the
family id for that place (from the rule table), with the table's level — and nothing else that is ERR."""

from __future__ import annotations

from typing import Any

import pytest

from trunkline.contracts.diff import Level, diff
from trunkline.contracts.diff.rules import RULES, family_id

STR, INT = {"type": "string"}, {"type": "integer"}
ARR = {"type": "array", "items": {"type": "string"}}
OBJ = {"type": "object", "properties": {"a": {"type": "string"}}}


def _m(base: dict[str, Any], **head: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    h = {**base, **head}
    return base, {k: v for k, v in h.items() if v is not None}


# kind -> (base schema, head schema)
MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "max-length-decreased": _m({**STR, "maxLength": 10}, maxLength=5),
    "max-length-increased": _m({**STR, "maxLength": 5}, maxLength=10),
    "max-length-set": _m(STR, maxLength=5),
    "max-length-unset": _m({**STR, "maxLength": 5}, maxLength=None),
    "min-length-increased": _m({**STR, "minLength": 1}, minLength=3),
    "min-length-decreased": _m({**STR, "minLength": 3}, minLength=1),
    "max-decreased": _m({**INT, "maximum": 10}, maximum=5),
    "max-increased": _m({**INT, "maximum": 5}, maximum=10),
    "max-set": _m(INT, maximum=5),
    "exclusive-max-decreased": _m({**INT, "exclusiveMaximum": 10}, exclusiveMaximum=5),
    "exclusive-max-increased": _m({**INT, "exclusiveMaximum": 5}, exclusiveMaximum=10),
    "exclusive-max-set": _m(INT, exclusiveMaximum=5),
    "min-increased": _m({**INT, "minimum": 1}, minimum=3),
    "min-decreased": _m({**INT, "minimum": 3}, minimum=1),
    "min-set": _m(INT, minimum=1),
    "exclusive-min-increased": _m({**INT, "exclusiveMinimum": 1}, exclusiveMinimum=3),
    "exclusive-min-decreased": _m({**INT, "exclusiveMinimum": 3}, exclusiveMinimum=1),
    "exclusive-min-set": _m(INT, exclusiveMinimum=1),
    "max-items-decreased": _m({**ARR, "maxItems": 10}, maxItems=5),
    "max-items-increased": _m({**ARR, "maxItems": 5}, maxItems=10),
    "max-items-set": _m(ARR, maxItems=5),
    "min-items-increased": _m({**ARR, "minItems": 1}, minItems=3),
    "min-items-decreased": _m({**ARR, "minItems": 3}, minItems=1),
    "min-items-set": _m(ARR, minItems=1),
    "min-items-unset": _m({**ARR, "minItems": 1}, minItems=None),
    "max-properties-decreased": _m({**OBJ, "maxProperties": 5}, maxProperties=2),
    "max-properties-increased": _m({**OBJ, "maxProperties": 2}, maxProperties=5),
    "max-properties-set": _m(OBJ, maxProperties=2),
    "min-properties-increased": _m({**OBJ, "minProperties": 1}, minProperties=2),
    "min-properties-decreased": _m({**OBJ, "minProperties": 2}, minProperties=1),
    "unique-items-set": _m(ARR, uniqueItems=True),
    "unique-items-unset": _m({**ARR, "uniqueItems": True}, uniqueItems=None),
    "multiple-of-set": _m(INT, multipleOf=2),
    "multiple-of-unset": _m({**INT, "multipleOf": 2}, multipleOf=None),
    "multiple-of-changed": _m({**INT, "multipleOf": 2}, multipleOf=3),
    "pattern-added": _m(STR, pattern="^a"),
    "pattern-removed": _m({**STR, "pattern": "^a"}, pattern=None),
    "pattern-changed": _m({**STR, "pattern": "^a"}, pattern="^b"),
    "pattern-generalized": _m({**STR, "pattern": "^a"}, pattern=".*"),
    "enum-value-removed": _m({**STR, "enum": ["a", "b"]}, enum=["a"]),
    "enum-value-added": _m({**STR, "enum": ["a"]}, enum=["a", "b"]),
    "became-enum": _m(STR, enum=["a"]),
    "x-extensible-enum-value-removed": _m({**STR, "x-extensible-enum": ["a", "b"]}, **{"x-extensible-enum": ["a"]}),
    "const-added": _m(STR, const="a"),
    "const-removed": _m({**STR, "const": "a"}, const=None),
    "const-changed": _m({**STR, "const": "a"}, const="b"),
    "default-value-added": _m(STR, default="a"),
    "default-value-removed": _m({**STR, "default": "a"}, default=None),
    "default-value-changed": _m({**STR, "default": "a"}, default="b"),
    "type-changed": _m(STR, type="boolean"),
    "type-generalized": _m(INT, type="number"),
    "became-nullable": _m(STR, nullable=True),
    "became-not-nullable": _m({**STR, "nullable": True}, nullable=None),
    "if-added": _m(OBJ, **{"if": {"required": ["a"]}}),
    "if-removed": _m({**OBJ, "if": {"required": ["a"]}}, **{"if": None}),
    "contains-added": _m(ARR, contains={"const": "x"}),
    "contains-removed": _m({**ARR, "contains": {"const": "x"}}, contains=None),
    "property-names-added": _m(OBJ, propertyNames={"pattern": "^a"}),
    "unevaluated-properties-added": _m(OBJ, unevaluatedProperties=False),
    "dependent-required-added": _m(OBJ, dependentRequired={"a": ["b"]}),
    "pattern-property-added": _m(OBJ, patternProperties={"^x-": {"type": "string"}}),
    "prefix-items-removed": _m({**ARR, "prefixItems": [STR]}, prefixItems=None),
    "content-media-type-changed": _m({**STR, "contentMediaType": "a/b"}, contentMediaType="c/d"),
    "discriminator-added": _m(OBJ, discriminator={"propertyName": "a"}),
}


def _op(body: dict[str, Any] | None = None, resp: dict[str, Any] | None = None, param: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"responses": {"200": {"description": "ok"}}}
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    if resp is not None:
        op["responses"]["200"]["content"] = {"application/json": {"schema": resp}}
    if param is not None:
        op["parameters"] = [{"name": "q", "in": "query", "schema": param}]
    if header is not None:
        op["responses"]["200"]["headers"] = {"X-H": {"schema": header}}
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"post": op}}}


def _prop(s: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"p": s}}


# place -> (document builder, prefixes tried in order, as the anchor does)
PLACES = {
    "request-body": (lambda s: _op(body=s), ["request-body", "request-property"]),
    "request-property": (lambda s: _op(body=_prop(s)), ["request-property"]),
    "request-parameter": (lambda s: _op(param=s), ["request-parameter"]),
    "response-body": (lambda s: _op(resp=s), ["response-body", "response-property"]),
    "response-property": (lambda s: _op(resp=_prop(s)), ["response-property"]),
    "response-header": (lambda s: _op(header=s), ["response-header"]),
}
ALIASED = {("response-body", "enum-value-removed"): "response-mediatype-enum-value-removed"}
CASES = [(kind, place) for kind in MUTATIONS for place in PLACES]


@pytest.mark.parametrize("kind,place", CASES, ids=[f"{k}@{p}" for k, p in CASES])
def test_family_at_place(kind: str, place: str) -> None:
    build, prefixes = PLACES[place]
    base_s, head_s = MUTATIONS[kind]
    found = diff(build(base_s), build(head_s))
    want = ALIASED.get((place, kind)) or next(
        (rid for rid in (family_id(p, kind) for p in prefixes) if rid is not None), None)
    got = {f.id: f.level for f in found}
    if want is None:
        # no rule for this kind here: whatever else is reported must not be a breaking claim
        assert all(lvl is not Level.ERR for lvl in got.values()), got
        return
    assert want in got, (want, got)
    assert got[want] is RULES[want].level
    others = {rid: lvl for rid, lvl in got.items() if rid != want and lvl is Level.ERR}
    assert not others, others


def test_every_family_kind_is_exercised() -> None:
    kinds = {r.kind for r in RULES.values() if r.kind}
    untested = kinds - set(MUTATIONS)
    # the remaining kinds are exercised by the OpenAPI/AsyncAPI/corpus tests (composition, discriminator
    # details, type specialisation, content schema, unevaluated items, ...)
    assert len(untested) < len(kinds) / 2, sorted(untested)
