"""JSON pointer -> line number, computed lazily and only for the pointers findings need.

* YAML documents are loaded with ruamel's round-trip loader, whose mappings and sequences carry their
  keys' line numbers (``.lc``): :class:`YamlLocator` walks them.
* JSON documents are parsed with orjson/json for speed (no positions). :class:`JsonLocator` finds a
  pointer in the text itself: a minified file is one line; a pretty-printed one is searched by
  indentation (C-speed regex searches bounded by the container's closing bracket), with a generic
  scanner as fallback for inline containers. Containers found are cached, so thousands of findings in
  an 11 MB description cost milliseconds.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any, Protocol

from .refs import split_pointer


class Locator(Protocol):
    def line(self, pointer: str) -> int | None: ...


class NullLocator:
    def line(self, pointer: str) -> int | None:
        return None


class YamlLocator:
    """Lines from ruamel round-trip data (``CommentedMap.lc``); 1-based; nearest existing ancestor."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def line(self, pointer: str) -> int | None:
        node = self.data
        best: int | None = 1
        try:
            tokens = split_pointer(pointer)
        except ValueError:
            return best
        for tok in tokens:
            lc = getattr(node, "lc", None)
            if isinstance(node, dict):
                if tok not in node:
                    return best
                if lc is not None:
                    try:
                        best = lc.key(tok)[0] + 1
                    except (KeyError, TypeError, AttributeError):
                        pass
                node = node[tok]
            elif isinstance(node, list):
                if not tok.isdigit() or int(tok) >= len(node):
                    return best
                idx = int(tok)
                if lc is not None:
                    try:
                        best = lc.item(idx)[0] + 1
                    except (KeyError, TypeError, AttributeError, IndexError):
                        pass
                node = node[idx]
            else:
                return best
        return best


_WS = re.compile(r"[ \t\r\n]*")


class JsonLocator:
    def __init__(self, text: str) -> None:
        self.text = text
        self._multiline = "\n" in text
        self._newlines: list[int] | None = None
        # pointer -> (position of the value's first char, indentation of the line holding it)
        self._cache: dict[str, tuple[int, str] | None] = {}
        self._decoder = json.JSONDecoder()
        self._containers: dict[int, Any] = {}

    # -- public --------------------------------------------------------------------------------------
    def line(self, pointer: str) -> int | None:
        if not self._multiline:
            return 1
        try:
            tokens = split_pointer(pointer)
        except ValueError:
            tokens = []
        pos = self._find(tokens)
        return self._line_of(pos)

    # -- internals -----------------------------------------------------------------------------------
    def _line_of(self, pos: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def _indent_at(self, pos: int) -> str:
        start = self.text.rfind("\n", 0, pos) + 1
        m = re.match(r"[ \t]*", self.text[start:pos])
        return m.group(0) if m else ""

    def _find(self, tokens: list[str]) -> int:
        """Position of the member named by ``tokens`` (its key), or of the deepest ancestor found."""
        root = _WS.match(self.text, 0).end()
        pos, indent = root, ""
        best = root
        path = ""
        for tok in tokens:
            path = f"{path}/{tok}"
            hit = self._cache.get(path, False)
            if hit is False:
                hit = self._member(pos, indent, tok)
                self._cache[path] = hit
            if hit is None:
                return best
            key_pos, value_pos, indent = hit
            best = key_pos
            pos = value_pos
        return best

    def _member(self, pos: int, indent: str, tok: str) -> tuple[int, int, str] | None:
        text = self.text
        if pos >= len(text) or text[pos] not in "{[":
            return None
        index = self._containers.get(pos)
        if index is None:
            index = self._index(pos, indent)
            self._containers[pos] = index
        if index is False:  # not pretty-printed: scan this (small, inline) container
            return self._generic_member(pos, tok)
        members, mi = index
        if isinstance(members, dict):
            hit = members.get(tok)
            if hit is None:
                return None
            key_pos, key_end = hit
            colon = text.index(":", key_end)
            return key_pos, _WS.match(text, colon + 1).end(), mi
        if not tok.isdigit() or int(tok) >= len(members):
            return None
        p = members[int(tok)]
        return p, p, mi

    def _index(self, pos: int, indent: str) -> tuple[dict[str, tuple[int, int]] | list[int], str] | bool:
        """All members of a pretty-printed container in one regex pass (key -> position, or element
        positions), so each container costs one scan however many findings point into it."""
        text = self.text
        opener = text[pos]
        body_start = _WS.match(text, pos + 1).end()
        if "\n" not in text[pos + 1:body_start] or body_start >= len(text) or text[body_start] in "}]":
            return False
        mi = self._indent_at(body_start)
        if len(mi) <= len(indent):
            return False
        closer = "}" if opener == "{" else "]"
        end_m = re.compile("\n" + re.escape(indent) + re.escape(closer)).search(text, pos)
        end = end_m.start() if end_m else len(text)
        if opener == "{":
            keys: dict[str, tuple[int, int]] = {}
            first = re.compile(r'"(?:[^"\\]|\\.)*"').match(text, body_start)
            if first:
                keys.setdefault(json.loads(first.group(0)), (body_start, first.end()))
            pattern = re.compile("\n" + re.escape(mi) + r'("(?:[^"\\]|\\.)*")[ \t]*:')
            for m in pattern.finditer(text, body_start, end):
                keys.setdefault(json.loads(m.group(1)), (m.start(1), m.end(1)))
            return keys, mi
        items = [body_start]
        pattern = re.compile("\n" + re.escape(mi) + r"(?=[^ \t\r\n}\]])")
        items += [m.end() for m in pattern.finditer(text, body_start, end)]
        return items, mi

    def _generic_member(self, pos: int, tok: str) -> tuple[int, int, str] | None:
        """Scan an (inline or oddly formatted) container member by member."""
        text = self.text
        dec = self._decoder
        opener = text[pos]
        i = _WS.match(text, pos + 1).end()
        idx = 0
        try:
            while i < len(text) and text[i] not in "}]":
                if opener == "{":
                    key, j = dec.raw_decode(text, i)
                    key_pos = i
                    j = _WS.match(text, j).end()
                    j = _WS.match(text, j + 1).end()  # past ':'
                    if key == tok:
                        return key_pos, j, self._indent_at(key_pos)
                else:
                    key_pos = j = i
                    if tok.isdigit() and idx == int(tok):
                        return key_pos, j, self._indent_at(key_pos)
                _, k = dec.raw_decode(text, j)
                k = _WS.match(text, k).end()
                idx += 1
                if k < len(text) and text[k] == ",":
                    i = _WS.match(text, k + 1).end()
                else:
                    break
        except ValueError:
            return None
        return None
