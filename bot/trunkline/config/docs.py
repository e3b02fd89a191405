"""``docs/config.md``: every key of ``.github/trunkline.yml``, generated from the JSON Schema.

The schema (``contracts/trunkline.schema.json``, itself generated from the pydantic model by
``make schema``) is the single source: each section and each nested object gets a table of its keys
with type, default and description. A unit test keeps the committed page equal to what this renders;
regenerate it with::

    make docs            # = python -m trunkline.config.docs --write
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trunkline.config.schema import SCHEMA_RELPATH

DOC_RELPATH = Path("docs") / "config.md"
REGENERATE_HINT = "make docs"
MAX_DEPTH = 6


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def load_schema(path: Path | None = None) -> dict[str, Any]:
    return json.loads((path or repo_root() / SCHEMA_RELPATH).read_text(encoding="utf-8"))


class _Doc:
    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.defs = schema.get("$defs") or {}
        self.done: set[str] = set()

    def resolve(self, node: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node and seen < 20:
            ref = str(node["$ref"])
            target = self.defs.get(ref.rsplit("/", 1)[-1], {})
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            seen += 1
        return dict(node) if isinstance(node, Mapping) else {}

    def variants(self, node: Mapping[str, Any]) -> list[dict[str, Any]]:
        node = self.resolve(node)
        if "properties" in node or "type" in node:  # an anyOf beside them is a constraint, not a choice
            return [node]
        for key in ("anyOf", "oneOf"):
            if key in node:
                return [v for sub in node[key] for v in self.variants(sub)]
        return [node]

    def type_of(self, node: Mapping[str, Any]) -> str:
        parts = []
        for v in self.variants(node):
            text = self._one_type(v)
            if text not in parts:
                parts.append(text)
        return " or ".join(parts) or "any"

    def _one_type(self, v: Mapping[str, Any]) -> str:
        if "const" in v:
            return f"`{json.dumps(v['const'])}`"
        if "enum" in v:
            return " \\| ".join(f"`{e}`" for e in v["enum"])
        t = v.get("type")
        if t == "array":
            return f"list of {self.type_of(v.get('items') or {})}"
        if t == "object" or "properties" in v:
            if v.get("properties"):
                return "object"
            extra = v.get("additionalProperties")
            if isinstance(extra, Mapping):
                return f"map of {self.type_of(extra)}"
            patterns = v.get("patternProperties") or {}
            if patterns:
                return f"map of {self.type_of(next(iter(patterns.values())))}"
            return "object"
        if t is None:
            return "any"
        text = str(t)
        bounds = []
        for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
            if key in v:
                bounds.append(f"{sign} {v[key]}")
        if "pattern" in v and text == "string":
            bounds.append(f"pattern `{v['pattern']}`")
        return f"{text} ({', '.join(bounds)})" if bounds else text

    @staticmethod
    def default_of(node: Mapping[str, Any]) -> str:
        if "default" not in node:
            return "required" if node.get("_required") else "—"
        value = node["default"]
        if value in ({}, None) and node.get("_object"):
            return "—"
        return f"`{json.dumps(value, ensure_ascii=False)}`"

    def nested(self, node: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Object schemas inside a key worth a table of their own: (path suffix, schema)."""
        out: list[tuple[str, dict[str, Any]]] = []
        for v in self.variants(node):
            if v.get("properties"):
                out.append(("", v))
            elif v.get("type") == "array":
                for suffix, inner in self.nested(v.get("items") or {}):
                    out.append(("[]" + suffix, inner))
            elif v.get("type") == "object" or v.get("patternProperties") or v.get("additionalProperties"):
                extra = v.get("additionalProperties")
                values = list((v.get("patternProperties") or {}).values())
                if isinstance(extra, Mapping):
                    values.append(extra)
                for value in values:
                    for suffix, inner in self.nested(value):
                        out.append((".<name>" + suffix, inner))
        return out

    def table(self, obj: Mapping[str, Any]) -> list[str]:
        required = set(obj.get("required") or [])
        rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
        for name, prop in sorted((obj.get("properties") or {}).items()):
            node = self.resolve(prop)
            flagged = {**node, "_required": name in required,
                       "_object": any(v.get("properties") for v in self.variants(node))}
            desc = str(prop.get("description") or node.get("description") or "").replace("\n", " ").replace("|", "\\|")
            rows.append(f"| `{name}` | {self.type_of(prop)} | {self.default_of(flagged)} | {desc} |")
        return rows

    def section(self, path: str, obj: Mapping[str, Any], depth: int, out: list[str]) -> None:
        if path in self.done:
            return
        self.done.add(path)
        level = "#" * min(2 + depth, 6)
        out += ["", f"{level} `{path}`", ""]
        description = str(obj.get("description") or "").strip()
        if description:
            out += [description, ""]
        out += self.table(obj)
        if depth >= MAX_DEPTH:
            return
        for name, prop in sorted((obj.get("properties") or {}).items()):
            for suffix, inner in self.nested(prop):
                self.section(f"{path}.{name}{suffix}", inner, depth + 1, out)

    def render(self) -> str:
        out = ["<!-- Generated from contracts/trunkline.schema.json by `make docs` "
               "(python -m trunkline.config.docs --write). Do not edit by hand. -->", "",
               "# Configuration reference: `.github/trunkline.yml`", "",
               str(self.schema.get("description") or "").strip(), "",
               "Every key is optional: a missing key keeps its default, unknown keys are errors. Trunkline reads "
               "the file from the default branch. Check a file with `trunkline config validate`; editors complete "
               "keys from `contracts/trunkline.schema.json`.", "", "## Top level", ""]
        out += self.table(self.schema)
        for name, prop in sorted((self.schema.get("properties") or {}).items()):
            for suffix, inner in self.nested(prop):
                self.section(f"{name}{suffix}", inner, 0, out)
        return "\n".join(out).rstrip() + "\n"


def render_docs(schema: Mapping[str, Any] | None = None) -> str:
    """The Markdown page for ``schema`` (default: the committed schema)."""
    return _Doc(schema if schema is not None else load_schema()).render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trunkline.config.docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {DOC_RELPATH} in this checkout")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {DOC_RELPATH} is out of date")
    args = parser.parse_args(argv)
    text = render_docs()
    target = repo_root() / DOC_RELPATH
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{DOC_RELPATH} is out of date: run `{REGENERATE_HINT}`", file=sys.stderr)
            return 1
        return 0
    if args.write:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_RELPATH}")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
