"""The committed JSON Schema matches the model, and the schema agrees with the validator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from trunkline.config import TrunklineConfig, config_json_schema, parse_config
from trunkline.config.schema import DRAFT, REGENERATE_HINT, main, render_schema

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "contracts" / "trunkline.schema.json"
EXAMPLE = REPO / ".github" / "trunkline.yml"


def test_committed_schema_matches_the_model():
    current = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert current == render_schema(), f"{COMMITTED.relative_to(REPO)} is out of date; run: {REGENERATE_HINT}"


def test_schema_header_and_format():
    schema = config_json_schema()
    assert schema["$schema"] == DRAFT == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Trunkline configuration"
    jsonschema.Draft202012Validator.check_schema(schema)
    text = render_schema()
    assert text.endswith("}\n") and json.loads(text) == schema
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _properties(schema: dict):
    """(dotted name, property schema) for every property, following $refs."""
    defs = schema.get("$defs", {})

    def walk(node: dict, prefix: str):
        for name, prop in node.get("properties", {}).items():
            yield f"{prefix}{name}", prop
            ref = prop.get("$ref")
            if ref:
                yield from walk(defs[ref.rsplit("/", 1)[-1]], f"{prefix}{name}.")

    yield from walk(schema, "")


def test_every_property_is_described_and_leaf_defaults_match_the_model():
    schema = config_json_schema()
    defaults = TrunklineConfig().model_dump(mode="json")
    seen = []
    for name, prop in _properties(schema):
        seen.append(name)
        target = prop
        if "$ref" in prop:
            target = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
        assert target.get("description"), f"{name} has no description"
        assert "default" in prop, f"{name} has no default"
        if "$ref" not in prop:
            value = defaults
            for part in name.split("."):
                value = value[part]
            assert prop["default"] == value, name
    assert {"version", "extends", "merge.method", "commands.permissions"} <= set(seen)
    assert schema["additionalProperties"] is False
    for definition in schema["$defs"].values():
        assert definition["additionalProperties"] is False


def test_example_config_validates_against_the_schema():
    data = YAML(typ="safe", pure=True).load(EXAMPLE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(config_json_schema()).validate(data)


@pytest.mark.parametrize(
    "text",
    [
        "merge: {method: squosh}",
        "merge: {methd: squash}",
        "merge: {required_approvals: '2'}",
        "merge: {required_approvals: -1}",
        "merge: {hold_labels: hold}",
        "merge: {label: ''}",
        "commands: {permissions: {Deploy: write}}",
        "commands: {permissions: {deploy: owner}}",
        "commands: {prefix: 'a b'}",
        "extends: acme",
        "version: 2",
        "colour: blue",
    ],
)
def test_schema_and_validator_reject_the_same_mistakes(text):
    assert not parse_config(text).ok
    data = YAML(typ="safe", pure=True).load(text)
    assert not jsonschema.Draft202012Validator(config_json_schema()).is_valid(data)


def test_schema_module_write_and_check(tmp_path, capsys):
    target = tmp_path / "out" / "schema.json"
    assert main(["--check", "--path", str(target)]) == 1
    assert REGENERATE_HINT in capsys.readouterr().err
    assert main(["--write", "--path", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_schema()
    assert main(["--check", "--path", str(target)]) == 0
    target.write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--path", str(target)]) == 1
