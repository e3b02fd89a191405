"""Diff machinery: rule table, $ref resolution (relative files, cycles), line locators, policy, formats."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from trunkline.contracts.diff import (
    DiffPolicy,
    Finding,
    IgnoreEntry,
    Level,
    Source,
    apply_policy,
    diff,
    yaml12,
)
from trunkline.contracts.diff.format import format_findings, to_annotations
from trunkline.contracts.diff.locate import JsonLocator, YamlLocator
from trunkline.contracts.diff.policy import exit_code, is_breaking
from trunkline.contracts.diff.refs import Node, Resolver
from trunkline.contracts.diff.rules import LEVEL_NOTES, PREFIXES, RULES, family_id
from trunkline.contracts.sources import load_source, load_text, parse_text
from trunkline.corpus import corpus_dir


# -- rule table -------------------------------------------------------------------------------------
def test_rule_table_is_consistent() -> None:
    assert len(RULES) > 300
    for rid, rule in RULES.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rid), rid
        assert rule.direction in ("request", "response", "none")
        assert rule.check and rule.message
        if rule.kind:
            assert family_id(rid[: -len(rule.kind) - 1], rule.kind) == rid
            assert rid[: -len(rule.kind) - 1] in PREFIXES
    assert set(LEVEL_NOTES) <= set(RULES)
    for rid in ("api-path-removed-without-deprecation", "new-required-request-property",
                "request-parameter-became-required", "request-property-type-changed",
                "request-property-enum-value-removed", "request-property-max-length-decreased",
                "response-required-property-removed", "response-property-became-optional",
                "response-property-type-changed", "response-success-status-removed",
                "response-media-type-removed", "request-body-became-required"):
        assert RULES[rid].level is Level.ERR, rid
    assert RULES["response-property-enum-value-added"].level is Level.WARN


# -- refs -------------------------------------------------------------------------------------------
def test_resolver_follows_chains_and_cuts_alias_cycles() -> None:
    doc = {"a": {"$ref": "#/b"}, "b": {"$ref": "#/c"}, "c": {"type": "string"},
           "x": {"$ref": "#/y"}, "y": {"$ref": "#/x"}}
    r = Resolver(doc)
    assert r.deref(r.root.child("a")) == Node({"type": "string"}, "", "/c")
    loop = r.root.child("x")
    assert r.deref(loop) is loop  # unresolvable: compared as the ref string itself


def test_relative_file_refs(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()

    def write(version: str, user: dict[str, Any]) -> Path:
        d = tmp_path / version
        (d / "schemas").mkdir(parents=True)
        (d / "schemas" / "user.yaml").write_text(json.dumps({"User": user}))
        (d / "openapi.yaml").write_text(
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /u:\n    get:\n      responses:\n"
            "        '200':\n          description: ok\n          content:\n            application/json:\n"
            "              schema:\n                $ref: 'schemas/user.yaml#/User'\n")
        return d / "openapi.yaml"

    user = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    b = write("v1", user)
    h = write("v2", {"type": "object", "properties": {"id": {"type": "string"}}})
    found = diff(load_source(str(b)), load_source(str(h)))
    assert [f.id for f in found] == ["response-property-became-optional"]
    assert found[0].source.file.endswith("v2/schemas/user.yaml")
    assert found[0].source.pointer == "/User/properties/id"


def test_load_text_reads_relative_refs_through_a_callback() -> None:
    pet = {"type": "object", "properties": {"id": {"type": "string"}}}
    base_files = {"contracts/schemas/pet.json": json.dumps({"Pet": pet})}
    head_files = {"contracts/schemas/pet.json": json.dumps({"Pet": {**pet, "required": ["id"]}})}
    root = ("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /p:\n    post:\n      requestBody:\n"
            "        content:\n          application/json:\n            schema: {$ref: 'schemas/pet.json#/Pet'}\n"
            "      responses: {'200': {description: ok}}\n")
    asked: list[str] = []

    def reader(files: dict[str, str]) -> Any:
        def read(path: str) -> str | None:
            asked.append(path)  # lazily, only for refs the diff follows
            return files.get(path)
        return read

    base = load_text(root, "contracts/openapi.yaml", read=reader(base_files))
    head = load_text(root, "contracts/openapi.yaml", read=reader(head_files))
    found = diff(base, head)
    assert [(f.id, f.source.file) for f in found] == [("request-property-became-required", "contracts/schemas/pet.json")]
    assert asked == ["contracts/schemas/pet.json", "contracts/schemas/pet.json"]


# -- locators ---------------------------------------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(alphabet="ab/~\"é ", min_size=1, max_size=4), inner, max_size=4)),
    max_leaves=20)


def _pointers(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = [(prefix, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _pointers(v, f"{prefix}/{k.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _pointers(v, f"{prefix}/{i}")
    return out


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab/~\"é ", min_size=1, max_size=4), json_values, min_size=1, max_size=5),
       st.sampled_from([None, 2, 4]))
def test_json_locator_finds_every_member(doc: dict[str, Any], indent: int | None) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=indent == 4)
    loc = JsonLocator(text)
    lines = text.split("\n")
    for pointer, _value in _pointers(doc)[1:]:
        n = loc.line(pointer)
        assert n is not None and 1 <= n <= len(lines)
        if indent is not None:
            # the line holds the member's key (objects) or starts the element (arrays)
            last = pointer.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
            parent = _lookup(doc, pointer.rsplit("/", 1)[0])
            if isinstance(parent, dict):
                assert json.dumps(last, ensure_ascii=indent == 4) in lines[n - 1]


def _yaml_files() -> list[Path]:
    root = corpus_dir()
    # a spread of the corpus (ruamel is the slow side of the comparison)
    files = sorted((root / "oasdiff" / "checker").glob("*.yaml"))[::7] + sorted(
        (root / "asyncapi-spec-examples").rglob("*.y*ml"))[::5]
    return files


def _plain_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_data(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def test_fast_yaml_loader_agrees_with_ruamel_on_the_corpus() -> None:
    files = _yaml_files()
    if not files:
        pytest.skip(f"corpus not found at {corpus_dir()}")
    for path in files:
        text = path.read_text()
        fast, fast_loc = yaml12.load(text)
        slow = YAML(typ="rt").load(text)
        assert _plain_data(fast) == _plain_data(slow), path.name
        slow_loc = YamlLocator(slow)
        for pointer, _v in _pointers(_plain_data(fast))[1:]:
            assert fast_loc.line(pointer) == slow_loc.line(pointer), (path.name, pointer)


def _lookup(doc: Any, pointer: str) -> Any:
    for tok in [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]:
        doc = doc[int(tok)] if isinstance(doc, list) else doc[tok]
    return doc


def test_yaml_locator_and_parse_errors() -> None:
    data, loc = parse_text("a:\n  b:\n    - x\n    - y: 1\n", "f.yaml")
    assert data == {"a": {"b": ["x", {"y": 1}]}}
    assert loc.line("/a/b/1/y") == 4
    assert loc.line("/a/missing") == 1  # nearest existing ancestor
    # YAML 1.2 core schema (OpenAPI 3.1, AsyncAPI): yes/on stay strings, 0o is octal, keys are text
    data, _ = parse_text("e: [yes, on, 'no']\no: 0o17\nx: 0x1F\nf: 1.5e3\nn: ~\n200: ok\nd: 2025-01-01\n", "f.yaml")
    assert data == {"e": ["yes", "on", "no"], "o": 15, "x": 31, "f": 1500.0, "n": None, "200": "ok", "d": "2025-01-01"}
    with pytest.raises(ValueError, match=r"f.yaml:\d+:\d+: invalid YAML"):
        parse_text("a: [\nb", "f.yaml")
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_text("{", "f.json")


# -- policy -----------------------------------------------------------------------------------------
def F(rid: str, level: Level = Level.ERR, pointer: str = "/paths/~1a", path: str | None = "/a") -> Finding:
    return Finding(rid, level, "m", Source("api.yaml", 3, pointer), operation="POST /a", path=path)


def test_policy_overrides_ignores_and_fail_on() -> None:
    fs = [F("api-removed-without-deprecation"), F("request-property-removed", Level.WARN),
          F("endpoint-added", Level.INFO, "/paths/~1b", "/b")]
    pol = DiffPolicy(fail_on="ERR", overrides={"api-removed-without-deprecation": "WARN"})
    out = apply_policy(fs, pol)
    assert [f.level for f in out] == [Level.WARN, Level.WARN, Level.INFO]
    assert exit_code(out, pol) == 0
    assert exit_code(out, DiffPolicy(fail_on="WARN")) == 1
    assert exit_code(fs, DiffPolicy(fail_on="never")) == 0
    ign = DiffPolicy(ignore=[{"id": "api-*", "reason": "v2 sunset agreed", "path": "/a"}])
    assert [f.id for f in apply_policy(fs, ign)] == ["request-property-removed", "endpoint-added"]
    by_ptr = DiffPolicy(ignore=[IgnoreEntry("endpoint-added", "new", pointer="/paths/~1b")])
    assert [f.id for f in apply_policy(fs, by_ptr)] == ["api-removed-without-deprecation", "request-property-removed"]
    other_file = DiffPolicy(ignore=[{"id": "*", "reason": "generated elsewhere", "source": "other.yaml"}])
    assert len(apply_policy(fs, other_file)) == 3
    this_file = DiffPolicy(ignore=[{"id": "*", "reason": "legacy file", "source": "api.yaml", "path": None}])
    assert apply_policy(fs, this_file) == []
    with pytest.raises(ValueError, match="reason"):
        DiffPolicy(ignore=[{"id": "x"}])
    class ConfigEntry(BaseModel):  # the shape the config section's pydantic model hands over
        id: str
        reason: str
        path: str | None = None
        pointer: str | None = None
        source: str | None = None

    from_config = DiffPolicy(fail_on="WARN", overrides={"endpoint-added": "WARN"},
                             ignore=[ConfigEntry(id="request-*", reason="client updated")])
    assert [(f.id, f.level) for f in apply_policy(fs, from_config)] == [
        ("api-removed-without-deprecation", Level.ERR), ("endpoint-added", Level.WARN)]
    with pytest.raises(ValueError, match="unknown keys"):
        DiffPolicy(ignore=[{"id": "x", "reason": "r", "paths": "/a"}])
    with pytest.raises(ValueError, match="fail_on"):
        DiffPolicy(fail_on="sometimes")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list(Level)), max_size=8), st.sampled_from(["ERR", "WARN", "never"]))
def test_is_breaking_matches_threshold(lvls: list[Level], fail_on: str) -> None:
    fs = [F("endpoint-added", lv) for lv in lvls]
    want = {"ERR": Level.ERR in lvls, "WARN": bool({Level.ERR, Level.WARN} & set(lvls)), "never": False}[fail_on]
    assert is_breaking(fs, fail_on) is want


# -- formats ----------------------------------------------------------------------------------------
def test_formats() -> None:
    fs = [F("api-removed-without-deprecation"), F("endpoint-added", Level.INFO)]
    data = json.loads(format_findings(fs, "json"))
    assert data == {"breaking": True, "findings": [
        {"id": "api-removed-without-deprecation", "level": "ERR", "message": "m",
         "source": {"file": "api.yaml", "line": 3, "pointer": "/paths/~1a"}},
        {"id": "endpoint-added", "level": "INFO", "message": "m",
         "source": {"file": "api.yaml", "line": 3, "pointer": "/paths/~1a"}}]}
    ann = to_annotations(fs)
    assert ann[0] == {"path": "api.yaml", "start_line": 3, "end_line": 3, "annotation_level": "failure",
                      "title": "api-removed-without-deprecation", "message": "POST /a: m"}
    assert ann[1]["annotation_level"] == "notice"
    md = format_findings(fs, "markdown")
    assert "| ERR | `api-removed-without-deprecation` | `api.yaml:3` | POST /a: m |" in md
    assert "(breaking)" in md.splitlines()[0]
    assert "2 findings: 1 ERR, 0 WARN, 1 INFO (breaking)" in format_findings(fs, "text")
    assert json.loads(format_findings([], "json")) == {"breaking": False, "findings": []}
    with pytest.raises(ValueError):
        format_findings(fs, "xml")
