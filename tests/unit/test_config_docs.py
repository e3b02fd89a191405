"""``docs/config.md`` documents every configuration key, generated from the JSON Schema."""

from __future__ import annotations

from pathlib import Path

from trunkline.config.docs import DOC_RELPATH, REGENERATE_HINT, load_schema, render_docs

REPO = Path(__file__).resolve().parents[2]


def _keys(schema: dict, node: dict, path: str, out: set[str], depth: int = 0) -> None:
    """Every documented key path, walking the schema the way a reader of the YAML would."""
    defs = schema.get("$defs", {})
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if depth > 6:
        return
    for name, prop in (node.get("properties") or {}).items():
        out.add(f"{path}{name}")
        for sub in [prop, *(prop.get("anyOf") or []), prop.get("items") or {},
                    *(prop.get("patternProperties") or {}).values()]:
            _keys(schema, sub, f"{path}{name}.", out, depth + 1)


def test_the_committed_page_is_up_to_date() -> None:
    committed = (REPO / DOC_RELPATH).read_text(encoding="utf-8")
    assert committed == render_docs(), (
        f"{DOC_RELPATH} is out of date with contracts/trunkline.schema.json: run `{REGENERATE_HINT}` "
        "(after `make schema` when the configuration model changed) and commit the result")


def test_every_key_of_the_schema_is_in_the_page() -> None:
    schema = load_schema()
    page = render_docs(schema)
    keys: set[str] = set()
    _keys(schema, schema, "", keys)
    assert len(keys) > 50
    missing = sorted(k for k in keys if f"| `{k.rsplit('.', 1)[-1]}` |" not in page)
    assert not missing, missing
    for section in schema["properties"]:
        assert f"`{section}" in page


def test_render_is_pure_and_deterministic() -> None:
    schema = {"description": "T", "type": "object", "properties": {
        "a": {"type": "integer", "default": 3, "minimum": 1, "description": "an | int"},
        "b": {"anyOf": [{"$ref": "#/$defs/B"}, {"type": "null"}], "default": None}},
        "required": [], "$defs": {"B": {"type": "object", "description": "Bee", "required": ["c"],
                                        "properties": {"c": {"enum": ["x", "y"]}}}}}
    page = render_docs(schema)
    assert page == render_docs(schema)
    assert "| `a` | integer (≥ 1) | `3` | an \\| int |" in page
    assert "## `b`" in page and "| `c` | `x` \\| `y` | required |  |" in page
