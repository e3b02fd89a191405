"""OpenAPI breaking-change rules: hand-written pairs per rule family plus direction properties."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.contracts.diff import ContractError, DiffOptions, Level, diff
from trunkline.contracts.diff.rules import RULES


def api(paths: dict[str, Any] | None = None, schemas: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths or {}}
    if schemas is not None:
        doc["components"] = {"schemas": schemas}
    doc.update(extra)
    return doc


def post(body: dict[str, Any] | None = None, *, response: dict[str, Any] | None = None,
         params: list[dict[str, Any]] | None = None, **op: Any) -> dict[str, Any]:
    o: dict[str, Any] = {"responses": {"200": {"description": "ok"}}}
    if body is not None:
        o["requestBody"] = {"content": {"application/json": {"schema": body}}}
    if response is not None:
        o["responses"]["200"]["content"] = {"application/json": {"schema": response}}
    if params is not None:
        o["parameters"] = params
    o.update(op)
    return {"post": o}


def ids(base: dict[str, Any], head: dict[str, Any], **kw: Any) -> set[str]:
    return {f.id for f in diff(base, head, options=DiffOptions(today=date(2025, 6, 1), **kw))}


def levels(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Level]:
    return {f.id: f.level for f in diff(base, head, options=DiffOptions(today=date(2025, 6, 1)))}


OBJ = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}


# -- paths and operations ---------------------------------------------------------------------------
def test_path_removed_without_and_with_deprecation() -> None:
    base = api({"/a": post(), "/b": post()})
    assert ids(base, api({"/a": post()})) == {"api-path-removed-without-deprecation"}
    dep = api({"/a": post(), "/b": {"post": {**post()["post"], "deprecated": True}}})
    assert ids(dep, api({"/a": post()})) == {"api-path-removed-with-deprecation"}
    sunset = api({"/a": post(), "/b": {"post": {**post()["post"], "deprecated": True, "x-sunset": "2030-01-01"}}})
    assert ids(sunset, api({"/a": post()})) == {"api-path-removed-before-sunset"}
    bad = api({"/a": post(), "/b": {"post": {**post()["post"], "deprecated": True, "x-sunset": "soon"}}})
    assert ids(bad, api({"/a": post()})) == {"api-path-sunset-parse"}


def test_operation_removed_and_added() -> None:
    base = api({"/a": {**post(), "get": {"responses": {"200": {"description": "ok"}}}}})
    assert ids(base, api({"/a": post()})) == {"api-removed-without-deprecation"}
    assert ids(api({"/a": post()}), base) == {"endpoint-added"}


def test_path_parameter_rename_is_the_same_path() -> None:
    base = api({"/pets/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": True,
                                                          "schema": {"type": "string"}}],
                                       "responses": {"200": {"description": "ok"}}}}})
    head = api({"/pets/{petId}": {"get": {"parameters": [{"name": "petId", "in": "path", "required": True,
                                                             "schema": {"type": "string"}}],
                                          "responses": {"200": {"description": "ok"}}}}})
    assert ids(base, head) == set()


def test_deprecation_lifecycle() -> None:
    plain = api({"/a": post()})
    dep = api({"/a": {"post": {**post()["post"], "deprecated": True}}})
    assert ids(plain, dep) == {"endpoint-deprecated"}
    assert ids(dep, plain) == {"endpoint-reactivated"}
    assert ids(plain, dep, deprecation_days=30) == {"api-deprecated-sunset-missing"}
    soon = api({"/a": {"post": {**post()["post"], "deprecated": True, "x-sunset": "2025-06-10"}}})
    later = api({"/a": {"post": {**post()["post"], "deprecated": True, "x-sunset": "2026-01-01"}}})
    assert ids(plain, soon, deprecation_days=30) == {"api-sunset-date-too-small"}
    assert ids(plain, later, deprecation_days=30) == {"endpoint-deprecated-with-sunset"}
    assert ids(later, soon) == {"api-sunset-date-changed-too-small"}
    assert ids(later, dep) == {"sunset-deleted"}


def test_stability_levels() -> None:
    beta = api({"/a": {"post": {**post()["post"], "x-stability-level": "beta"}}})
    alpha = api({"/a": {"post": {**post()["post"], "x-stability-level": "alpha"}}})
    assert ids(beta, alpha) == {"api-stability-decreased"}
    assert ids(alpha, beta) == {"api-stability-increased"}
    # draft/alpha endpoints may change freely: removing a required response property is not reported
    a1 = api({"/a": {"post": {**post(response=OBJ)["post"], "x-stability-level": "alpha"}}})
    a2 = api({"/a": {"post": {**post(response={"type": "object", "properties": {}})["post"],
                              "x-stability-level": "alpha"}}})
    assert not [f for f in diff(a1, a2) if f.level is not Level.INFO]


# -- parameters -------------------------------------------------------------------------------------
def q(name: str = "limit", required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": {"type": "integer", **schema}}


def test_parameter_rules() -> None:
    none = api({"/a": post(params=[])})
    assert ids(none, api({"/a": post(params=[q(required=True)])})) == {"new-required-request-parameter"}
    assert ids(none, api({"/a": post(params=[q()])})) == {"new-optional-request-parameter"}
    assert ids(api({"/a": post(params=[q()])}), api({"/a": post(params=[q(required=True)])})) == {
        "request-parameter-became-required"}
    assert ids(api({"/a": post(params=[q(required=True)])}), api({"/a": post(params=[q()])})) == {
        "request-parameter-became-optional"}
    assert ids(api({"/a": post(params=[q()])}), none) == {"request-parameter-removed"}
    dep = {**q(), "deprecated": True}
    assert ids(api({"/a": post(params=[dep])}), none) == {"request-parameter-removed-with-deprecation"}
    assert ids(api({"/a": post(params=[q()])}), api({"/a": post(params=[dep])})) == {"request-parameter-deprecated"}


def test_path_level_parameter_added_to_existing_path() -> None:
    base = api({"/a": post()})
    head = api({"/a": {**post(), "parameters": [{**q(required=True), "in": "header", "name": "X-Tenant"}]}})
    assert ids(base, head) == {"new-required-request-default-parameter-to-existing-path"}


def test_parameter_schema_rules() -> None:
    def one(**schema: Any) -> dict[str, Any]:
        return api({"/a": post(params=[q(**schema)])})

    assert ids(one(maximum=10), one(maximum=5)) == {"request-parameter-max-decreased"}
    assert ids(one(maximum=5), one(maximum=10)) == {"request-parameter-max-increased"}
    assert ids(one(minimum=1), one(minimum=2)) == {"request-parameter-min-increased"}
    assert ids(one(), one(maximum=5)) == {"request-parameter-max-set"}
    assert ids(one(enum=[1, 2]), one(enum=[1])) == {"request-parameter-enum-value-removed"}
    assert ids(one(enum=[1]), one(enum=[1, 2])) == {"request-parameter-enum-value-added"}
    assert ids(one(), one(enum=[1])) == {"request-parameter-became-enum"}
    assert ids(one(default=1), one(default=2)) == {"request-parameter-default-value-changed"}
    assert ids(one(), one(type="string")) == {"request-parameter-type-changed"}
    assert ids(one(), one(type="number")) == {"request-parameter-type-generalized"}
    assert ids(one(format="int32"), one(format="int64")) == {"request-parameter-type-generalized"}
    assert ids(one(type="string"), one(type="string", pattern="^a")) == {"request-parameter-pattern-added"}
    assert ids(one(type="string", maxLength=9), one(type="string", maxLength=3)) == {
        "request-parameter-max-length-decreased"}
    assert ids(one(type="string", minLength=1), one(type="string", minLength=3)) == {
        "request-parameter-min-length-increased"}
    arr = {"type": "array", "items": {"type": "string"}}
    assert ids(one(**arr, maxItems=5), one(**arr, maxItems=2)) == {"request-parameter-max-items-decreased"}
    assert ids(one(**arr, minItems=1), one(**arr, minItems=2)) == {"request-parameter-min-items-increased"}


# -- request bodies ---------------------------------------------------------------------------------
def test_request_body_rules() -> None:
    nobody = api({"/a": post()})
    body = api({"/a": post(OBJ)})
    req = copy.deepcopy(body)
    req["paths"]["/a"]["post"]["requestBody"]["required"] = True
    assert ids(nobody, body) == {"request-body-added-optional"}
    assert ids(nobody, req) == {"request-body-added-required"}
    assert ids(body, nobody) == {"request-body-removed"}
    assert ids(body, req) == {"request-body-became-required"}
    assert ids(req, body) == {"request-body-became-optional"}
    xml = copy.deepcopy(body)
    xml["paths"]["/a"]["post"]["requestBody"]["content"]["application/xml"] = {"schema": OBJ}
    assert ids(body, xml) == {"request-body-media-type-added"}
    assert ids(xml, body) == {"request-body-media-type-removed"}


def test_request_property_rules() -> None:
    def b(**schema: Any) -> dict[str, Any]:
        return api({"/a": post(schema)})

    with_email = {"type": "object", "properties": {**OBJ["properties"], "email": {"type": "string"}},
                  "required": ["name", "email"]}
    assert ids(b(**OBJ), b(**with_email)) == {"new-required-request-property"}
    opt = {**with_email, "required": ["name"]}
    assert ids(b(**OBJ), b(**opt)) == {"new-optional-request-property"}
    assert ids(b(**opt), b(**OBJ)) == {"request-property-removed"}
    assert ids(b(**OBJ), b(**{**OBJ, "required": ["name", "age"]})) == {"request-property-became-required"}
    assert ids(b(**OBJ), b(**{**OBJ, "required": []})) == {"request-property-became-optional"}
    typed = {**OBJ, "properties": {**OBJ["properties"], "age": {"type": "string"}}}
    assert ids(b(**OBJ), b(**typed)) == {"request-property-type-changed"}
    # a readOnly property is never sent by clients: making it required breaks nothing
    ro = {**OBJ, "properties": {**OBJ["properties"], "id": {"type": "string", "readOnly": True}}}
    assert "new-required-request-property" not in ids(b(**OBJ), b(**{**ro, "required": ["name", "id"]}))


def test_body_vs_property_prefix() -> None:
    base = api({"/a": post({"type": "string", "maxLength": 10})})
    head = api({"/a": post({"type": "string", "maxLength": 5})})
    assert ids(base, head) == {"request-body-max-length-decreased"}
    nb = api({"/a": post({"type": "object", "properties": {"s": {"type": "string", "maxLength": 10}}})})
    nh = api({"/a": post({"type": "object", "properties": {"s": {"type": "string", "maxLength": 5}}})})
    assert ids(nb, nh) == {"request-property-max-length-decreased"}


# -- responses --------------------------------------------------------------------------------------
def test_response_rules() -> None:
    def r(**schema: Any) -> dict[str, Any]:
        return api({"/a": post(response=schema)})

    assert ids(r(**OBJ), r(**{**OBJ, "properties": {"age": {"type": "integer"}}})) == {
        "response-required-property-removed"}
    assert ids(r(**OBJ), r(**{**OBJ, "properties": {"name": {"type": "string"}}})) == {
        "response-optional-property-removed"}
    assert ids(r(**OBJ), r(**{**OBJ, "required": []})) == {"response-property-became-optional"}
    assert ids(r(**OBJ), r(**{**OBJ, "required": ["name", "age"]})) == {"response-property-became-required"}
    enum_b = {"type": "object", "properties": {"s": {"type": "string", "enum": ["a"]}}}
    enum_h = {"type": "object", "properties": {"s": {"type": "string", "enum": ["a", "b"]}}}
    assert levels(r(**enum_b), r(**enum_h)) == {"response-property-enum-value-added": Level.WARN}
    nullable = {**OBJ, "properties": {**OBJ["properties"], "name": {"type": "string", "nullable": True}}}
    assert ids(r(**OBJ), r(**nullable)) == {"response-property-became-nullable"}
    assert ids(r(**nullable), r(**OBJ)) == {"response-property-became-not-nullable"}


def test_response_status_media_type_and_headers() -> None:
    base = api({"/a": post(response=OBJ)})
    no200 = copy.deepcopy(base)
    no200["paths"]["/a"]["post"]["responses"] = {"400": {"description": "bad"}}
    assert ids(base, no200) == {"response-success-status-removed", "response-non-success-status-added"}
    nomt = copy.deepcopy(base)
    nomt["paths"]["/a"]["post"]["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    assert ids(base, nomt) == {"response-media-type-removed", "response-media-type-added"}
    hdr = copy.deepcopy(base)
    hdr["paths"]["/a"]["post"]["responses"]["200"]["headers"] = {
        "X-Rate": {"required": True, "schema": {"type": "integer"}}}
    assert ids(base, hdr) == {"response-header-added"}
    assert ids(hdr, base) == {"required-response-header-removed"}
    opt = copy.deepcopy(hdr)
    opt["paths"]["/a"]["post"]["responses"]["200"]["headers"]["X-Rate"]["required"] = False
    assert ids(hdr, opt) == {"response-header-became-optional"}
    typed = copy.deepcopy(hdr)
    typed["paths"]["/a"]["post"]["responses"]["200"]["headers"]["X-Rate"]["schema"] = {"type": "string"}
    assert ids(hdr, typed) == {"response-header-type-changed"}


def test_security_rules() -> None:
    base = api({"/a": {"post": {**post()["post"], "security": [{"oauth": ["read"]}, {"key": []}]}}})
    head = api({"/a": {"post": {**post()["post"], "security": [{"oauth": ["read", "write"]}]}}})
    assert ids(base, head) == {"api-security-removed", "api-security-scope-added"}
    assert ids(head, base) == {"api-security-added", "api-security-scope-removed"}
    g1 = api({"/a": post()}, security=[{"key": []}])
    assert ids(g1, api({"/a": post()})) == {"api-global-security-removed"}


# -- schema machinery -------------------------------------------------------------------------------
def test_refs_allof_and_recursion() -> None:
    node = {"type": "object", "properties": {"value": {"type": "string"},
                                              "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}
    base = api({"/a": post(response={"$ref": "#/components/schemas/Node"})}, schemas={"Node": node})
    head = copy.deepcopy(base)
    head["components"]["schemas"]["Node"]["properties"]["value"]["type"] = "integer"
    found = diff(base, head)  # terminates on the recursive schema
    assert {f.id for f in found} == {"response-property-type-changed"}
    assert found[0].source.pointer == "/components/schemas/Node/properties/value"
    composed = api({"/a": post({"allOf": [{"$ref": "#/components/schemas/Base"},
                                          {"type": "object", "properties": {"x": {"type": "string"}}}]})},
                   schemas={"Base": {"type": "object", "properties": {"id": {"type": "string"}}}})
    head2 = copy.deepcopy(composed)
    head2["components"]["schemas"]["Base"]["required"] = ["id"]
    assert ids(composed, head2) == {"request-property-became-required"}


def test_nullable_styles_are_equivalent() -> None:
    v30 = api({"/a": post({"type": "object", "properties": {"n": {"type": "string", "nullable": True}}})})
    v31 = api({"/a": post({"type": "object", "properties": {"n": {"type": ["string", "null"]}}})})
    v31["openapi"] = "3.1.0"
    wrap = api({"/a": post({"type": "object", "properties": {"n": {"oneOf": [{"type": "null"}, {"type": "string"}]}}})})
    assert ids(v30, v31) == set()
    assert ids(v31, wrap) == set()
    plain = api({"/a": post({"type": "object", "properties": {"n": {"type": "string"}}})})
    assert ids(wrap, plain) == {"request-property-became-not-nullable"}


def test_one_of_branches() -> None:
    a = {"type": "object", "properties": {"a": {"type": "string"}}}
    bb = {"type": "object", "properties": {"b": {"type": "string"}}}
    sch = {"A": a, "B": bb}
    two = api({"/a": post({"oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]})},
              schemas=sch)
    one = api({"/a": post({"oneOf": [{"$ref": "#/components/schemas/A"}]})}, schemas=sch)
    assert ids(two, one) == {"request-body-one-of-removed"}
    assert ids(one, two) == {"request-body-one-of-added"}
    plain = api({"/a": post({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})})
    assert ids(plain, two) == {"request-body-wrapped-in-one-of"}
    same_as_a = api({"/a": post(a)})  # the old body survives as an alternative
    assert ids(same_as_a, two) == {"request-body-wrapped-in-one-of-original-preserved"}


def test_mismatched_documents() -> None:
    with pytest.raises(ContractError, match="cannot compare"):
        diff(api(), {"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}})
    with pytest.raises(ContractError, match="Swagger 2.0"):
        diff({"swagger": "2.0"}, api())


def test_every_emitted_id_is_in_the_table() -> None:
    base = api({"/a": post(OBJ, response=OBJ, params=[q()])})
    head = api({"/a": post({"type": "array"}, response={"type": "array"}, params=[q(type="string")])})
    for f in diff(base, head):
        assert f.id in RULES
        assert f.level is RULES[f.id].level


# -- properties -------------------------------------------------------------------------------------
scalars = st.sampled_from(["string", "integer", "number", "boolean"])
names = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@st.composite
def schemas(draw: Any, depth: int = 2) -> dict[str, Any]:
    if depth == 0 or draw(st.booleans()):
        t = draw(scalars)
        s: dict[str, Any] = {"type": t}
        if t == "string":
            if draw(st.booleans()):
                s["enum"] = draw(st.lists(names, min_size=1, max_size=4, unique=True))
            if draw(st.booleans()):
                s["maxLength"] = draw(st.integers(1, 50))
        if t in ("integer", "number") and draw(st.booleans()):
            s["maximum"] = draw(st.integers(0, 100))
        return s
    props = draw(st.dictionaries(names, schemas(depth=depth - 1), min_size=1, max_size=4))
    req = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
    return {"type": "object", "properties": props, "required": req}


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    paths = {}
    for i in range(draw(st.integers(1, 3))):
        paths[f"/r{i}"] = post(draw(schemas()), response=draw(schemas()),
                               params=[q(f"p{j}", draw(st.booleans())) for j in range(draw(st.integers(0, 2)))])
    return api(paths)


@settings(max_examples=80, deadline=None)
@given(documents())
def test_diff_of_a_document_with_itself_is_empty(doc: dict[str, Any]) -> None:
    assert diff(doc, copy.deepcopy(doc)) == []


def _with_enum_prop(values: list[str], *, where: str) -> dict[str, Any]:
    s = {"type": "object", "properties": {"kind": {"type": "string", "enum": values}}}
    return api({"/a": post(s) if where == "request" else post(response=s)})


@settings(max_examples=60, deadline=None)
@given(st.lists(names, min_size=2, max_size=6, unique=True), st.data())
def test_removing_an_enum_value_is_err_in_requests_and_never_in_responses(values: list[str], data: Any) -> None:
    drop = data.draw(st.sampled_from(values))
    kept = [v for v in values if v != drop]
    req = diff(_with_enum_prop(values, where="request"), _with_enum_prop(kept, where="request"))
    assert any(f.id == "request-property-enum-value-removed" and f.level is Level.ERR for f in req)
    resp = diff(_with_enum_prop(values, where="response"), _with_enum_prop(kept, where="response"))
    assert resp and all(f.level is not Level.ERR for f in resp)


@settings(max_examples=60, deadline=None)
@given(schemas(depth=1), names)
def test_new_required_property_breaks_requests_not_responses(schema: dict[str, Any], name: str) -> None:
    base_s = {"type": "object", "properties": {"keep": schema}}
    head_s = {"type": "object", "properties": {"keep": schema, f"new_{name}": {"type": "string"}},
              "required": [f"new_{name}"]}
    req = diff(api({"/a": post(base_s)}), api({"/a": post(head_s)}))
    assert [f.id for f in req if f.level is Level.ERR] == ["new-required-request-property"]
    resp = diff(api({"/a": post(response=base_s)}), api({"/a": post(response=head_s)}))
    assert all(f.level is not Level.ERR for f in resp)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 1000), st.integers(1, 1000))
def test_max_length_direction(old: int, new: int) -> None:
    def s(n: int) -> dict[str, Any]:
        return {"type": "object", "properties": {"s": {"type": "string", "maxLength": n}}}

    req = diff(api({"/a": post(s(old))}), api({"/a": post(s(new))}))
    resp = diff(api({"/a": post(response=s(old))}), api({"/a": post(response=s(new))}))
    assert any(f.level is Level.ERR for f in req) == (new < old)
    assert any(f.level is Level.ERR for f in resp) == (new > old)
