"""Pure helpers over contract documents: parsing, relative ``$ref`` discovery, JSON Schema extraction.

``quicktype`` reads JSON Schema, not OpenAPI or AsyncAPI, so :func:`quicktype_inputs` turns a contract
into one JSON Schema document per top-level type: AsyncAPI message payloads (the types a consumer
parses) or OpenAPI component schemas. ``#/components/schemas/X`` references become
``#/definitions/X``; OpenAPI 3.0's ``nullable: true`` becomes a ``"null"`` member of ``type``.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from typing import Any

_REF = re.compile(r"""["']?\$ref["']?\s*:\s*["']?([^"'\s#,}]*)""")
_SCHEMA_REF = "#/components/schemas/"
_NAME = re.compile(r"[^A-Za-z0-9]+")


def load_document(content: bytes | str, name: str = "contract") -> Any:
    """Parse a YAML or JSON contract (YAML 1.2, safe loader)."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML flow mapping that is not JSON
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def relative_refs(content: bytes | str, referrer: str) -> list[str]:
    """Repository-relative paths of the files ``referrer``'s ``$ref`` values point to (not URLs).

    A textual scan, so it is fast and never fails on a broken document; paths are normalised and
    returned sorted and unique. References that climb out of the repository are dropped.
    """
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    base = posixpath.dirname(referrer)
    found: set[str] = set()
    for match in _REF.finditer(text):
        target = match.group(1)
        if not target or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):  # local, or a URL/URN
            continue
        path = posixpath.normpath(posixpath.join(base, target))
        if path.startswith("../") or path == ".." or path.startswith("/"):
            continue
        found.add(path)
    return sorted(found)


def remote_refs(content: bytes | str) -> list[str]:
    """``$ref`` values that point at URLs (generators would fetch them; Trunkline refuses to)."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    return sorted({m.group(1) for m in _REF.finditer(text)
                   if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", m.group(1) or "")})


def type_name(raw: str) -> str:
    """A PascalCase identifier from a message or schema name (``user.signed-up`` -> ``UserSignedUp``)."""
    parts = [p for p in _NAME.split(raw) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Type"
    return name if name[0].isalpha() else f"T{name}"


def _rewrite(node: Any, nullable_style: bool) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMA_REF):
                out[key] = "#/definitions/" + value[len(_SCHEMA_REF):]
            else:
                out[key] = _rewrite(value, nullable_style)
        if nullable_style and out.pop("nullable", False) is True:
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                out["type"] = [*kind, "null"]
        return out
    if isinstance(node, list):
        return [_rewrite(item, nullable_style) for item in node]
    return node


def _wrap(schema: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}
    if isinstance(schema, dict):
        doc.update(copy.deepcopy(schema))
    doc["definitions"] = definitions
    return doc


def _messages(document: dict[str, Any]) -> dict[str, Any]:
    """Message name -> payload schema, for AsyncAPI 2.x and 3.x (components first, then inline)."""
    found: dict[str, Any] = {}
    components = (document.get("components") or {}).get("messages") or {}
    for key, message in components.items():
        if isinstance(message, dict) and "payload" in message:
            found[key] = message["payload"]

    def take(message: Any, fallback: str) -> None:
        if not isinstance(message, dict):
            return
        if "oneOf" in message and isinstance(message["oneOf"], list):
            for index, item in enumerate(message["oneOf"]):
                take(item, f"{fallback}{index + 1}")
            return
        if "payload" in message:  # inline message ($ref'd ones are in components)
            name = message.get("name") or message.get("messageId") or fallback
            found.setdefault(str(name), message["payload"])

    for channel_name, channel in (document.get("channels") or {}).items():
        if not isinstance(channel, dict):
            continue
        for key, message in (channel.get("messages") or {}).items():  # 3.x
            take(message, key)
        for verb in ("publish", "subscribe"):  # 2.x
            operation = channel.get(verb)
            if isinstance(operation, dict):
                take(operation.get("message"), f"{type_name(channel_name)}{verb.capitalize()}")
    return found


def quicktype_inputs(kind: str, document: Any) -> dict[str, dict[str, Any]]:
    """Type name -> standalone JSON Schema document (draft-07 with ``definitions``)."""
    if not isinstance(document, dict):
        return {}
    nullable_style = kind == "openapi" and str(document.get("openapi", "")).startswith("3.0")
    schemas = (document.get("components") or {}).get("schemas") or {}
    definitions = {name: _rewrite(schema, nullable_style) for name, schema in schemas.items()}
    if kind == "openapi":
        roots = {name: {"$ref": f"#/definitions/{name}"} for name in schemas}
    else:
        roots = {name: _rewrite(payload, False) for name, payload in _messages(document).items()}
    out: dict[str, dict[str, Any]] = {}
    for name, schema in roots.items():
        out.setdefault(type_name(name), _wrap(schema, definitions))
    return out
