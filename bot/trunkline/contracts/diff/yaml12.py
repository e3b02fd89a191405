"""Fast YAML loading with line numbers: libyaml's composer (C) + our own YAML 1.2 constructor.

ruamel's round-trip loader keeps positions but costs ~30 ms for a 100-line file; libyaml composes the
same file in ~1 ms. PyYAML resolves plain scalars with YAML 1.1 rules (``on``/``no`` become booleans),
so we construct values ourselves with the YAML 1.2 core schema (what OpenAPI 3.1 and AsyncAPI specify)
and record each mapping key's / sequence item's line for :class:`LineIndexLocator`.

``load`` returns None when libyaml is unavailable; the caller then falls back to ruamel.
"""

from __future__ import annotations

import re
from typing import Any

from .refs import split_pointer

try:  # PyYAML with libyaml: optional accelerator
    import yaml as _pyyaml
    from yaml import CSafeLoader as _Loader  # type: ignore[attr-defined]
except (ImportError, AttributeError):  # pragma: no cover - depends on the environment
    _pyyaml = None
    _Loader = None

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_T = re.compile(r"^(?:true|True|TRUE)$")
_BOOL_F = re.compile(r"^(?:false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class YamlError(ValueError):
    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def available() -> bool:
    return _Loader is not None


def _plain(value: str) -> Any:
    if _NULL.match(value):
        return None
    if _BOOL_T.match(value):
        return True
    if _BOOL_F.match(value):
        return False
    if _INT10.match(value):
        return int(value)
    if _INT8.match(value):
        return int(value[2:], 8)
    if _INT16.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    return value


class _Builder:
    def __init__(self) -> None:
        self.lines: dict[int, Any] = {}  # id(container) -> {key: line} / [line, ...]
        self._done: dict[int, Any] = {}
        self._keep: list[Any] = []  # containers stay alive, so ids in ``lines`` stay valid

    def build(self, node: Any) -> Any:
        nid = id(node)
        if nid in self._done:
            return self._done[nid]
        if isinstance(node, _pyyaml.ScalarNode):
            if node.style in (None, "") and node.tag.startswith("tag:yaml.org,2002:"):
                return _plain(node.value)  # plain scalar: YAML 1.2 core schema, not libyaml's 1.1 guess
            return node.value
        if isinstance(node, _pyyaml.SequenceNode):
            out: list[Any] = []
            self._done[nid] = out
            self._keep.append(out)
            lines = []
            for item in node.value:
                out.append(self.build(item))
                lines.append(item.start_mark.line + 1)
            self.lines[id(out)] = lines
            return out
        mapping: dict[Any, Any] = {}
        self._done[nid] = mapping
        self._keep.append(mapping)
        key_lines: dict[Any, int] = {}
        merges: list[Any] = []
        for knode, vnode in node.value:
            if knode.tag == _MERGE:
                merges.append(vnode)
                continue
            # keys are text (response codes, property names): `200:` and `"200":` are the same key
            key = knode.value if isinstance(knode, _pyyaml.ScalarNode) else str(self.build(knode))
            mapping[key] = self.build(vnode)
            key_lines[key] = knode.start_mark.line + 1
        for m in merges:  # YAML merge keys: explicit keys win
            sources = m.value if isinstance(m, _pyyaml.SequenceNode) else [m]
            for src in sources:
                merged = self.build(src)
                if isinstance(merged, dict):
                    for k, v in merged.items():
                        if k not in mapping:
                            mapping[k] = v
                            key_lines[k] = m.start_mark.line + 1
        self.lines[id(mapping)] = key_lines
        return mapping


class LineIndexLocator:
    """Lines recorded while building (see :class:`_Builder`); nearest existing ancestor."""

    def __init__(self, data: Any, lines: dict[int, Any], keep: list[Any]) -> None:
        self.data = data
        self._lines = lines
        self._keep = keep

    def line(self, pointer: str) -> int | None:
        node = self.data
        best = 1
        try:
            tokens = split_pointer(pointer)
        except ValueError:
            return best
        for tok in tokens:
            idx = self._lines.get(id(node))
            if isinstance(node, dict):
                if tok not in node:
                    return best
                if idx is not None and tok in idx:
                    best = idx[tok]
                node = node[tok]
            elif isinstance(node, list):
                if not tok.isdigit() or int(tok) >= len(node):
                    return best
                if idx is not None:
                    best = idx[int(tok)]
                node = node[int(tok)]
            else:
                return best
        return best


def load(text: str) -> tuple[Any, LineIndexLocator] | None:
    """Parse one YAML document; None when libyaml is not installed."""
    if _Loader is None:
        return None
    try:
        root = _pyyaml.compose(text, Loader=_Loader)
    except _pyyaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(str(exc.problem or exc), mark.line + 1 if mark else None,
                        mark.column + 1 if mark else None) from None
    except _pyyaml.YAMLError as exc:
        raise YamlError(str(exc)) from None
    if root is None:
        return None, LineIndexLocator(None, {}, [])
    b = _Builder()
    data = b.build(root)
    return data, LineIndexLocator(data, b.lines, b._keep)
