"""``$ref`` resolution over one side of a diff (a root document plus the files it refers to).

A schema position is a :class:`Node`: the value, the document it lives in and its JSON pointer there.
Following a ``$ref`` gives the target's node, so every finding can point at the exact spot (including
inside a relative file such as ``schemas/user.yaml#/User``). Resolved pointers are cached per document;
reference cycles (``A -> B -> A`` as plain aliases) are cut and reported as unresolvable.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# Loads a referenced document by its resolved name (a path relative to the root's directory,
# normalised with "/"), returning the parsed data, or None when it cannot be found.
ExternalLoader = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Node:
    value: Any
    doc: str  # document name ("" = the root document)
    pointer: str  # JSON pointer inside that document

    def child(self, *tokens: str | int) -> Node | None:
        """The node at ``tokens`` below this one (no ref resolution), or None when absent."""
        value = self.value
        pointer = self.pointer
        for tok in tokens:
            if isinstance(value, dict):
                if tok not in value:
                    return None
                value = value[tok]
            elif isinstance(value, list) and isinstance(tok, int):
                if tok >= len(value):
                    return None
                value = value[tok]
            else:
                return None
            pointer = f"{pointer}/{escape(str(tok))}"
        return Node(value, self.doc, pointer)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def split_pointer(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return [] if pointer == "" else [""]
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [unescape(t) for t in pointer[1:].split("/")]


class UnresolvedRef(Exception):
    pass


class Resolver:
    """Resolves ``$ref`` for one side. ``external`` loads relative files (None: external refs stay opaque)."""

    def __init__(self, root: Any, *, external: ExternalLoader | None = None, root_name: str = "") -> None:
        self.docs: dict[str, Any] = {root_name: root}
        self.root_name = root_name
        self._external = external
        self._missing: set[str] = set()
        self._pointer_cache: dict[tuple[str, str], Any] = {}
        self._ref_cache: dict[tuple[str, str], Node | None] = {}

    @property
    def root(self) -> Node:
        return Node(self.docs[self.root_name], self.root_name, "")

    # -- documents -----------------------------------------------------------------------------------
    def _document(self, name: str) -> Any:
        if name in self.docs:
            return self.docs[name]
        if self._external is None or name in self._missing:
            return None
        data = self._external(name)
        if data is None:
            self._missing.add(name)
            return None
        self.docs[name] = data
        return data

    def lookup(self, doc: str, pointer: str) -> Any:
        key = (doc, pointer)
        if key in self._pointer_cache:
            return self._pointer_cache[key]
        value = self._document(doc)
        if value is None:
            raise UnresolvedRef(f"cannot load {doc!r}")
        for tok in split_pointer(pointer):
            if isinstance(value, dict) and tok in value:
                value = value[tok]
            elif isinstance(value, list) and tok.isdigit() and int(tok) < len(value):
                value = value[int(tok)]
            else:
                raise UnresolvedRef(f"{doc or 'document'} has nothing at {pointer!r}")
        self._pointer_cache[key] = value
        return value

    # -- references ----------------------------------------------------------------------------------
    def target(self, ref: str, doc: str) -> tuple[str, str]:
        """(document name, pointer) that ``ref`` written in ``doc`` points to."""
        if "#" in ref:
            file_part, frag = ref.split("#", 1)
        else:
            file_part, frag = ref, ""
        frag = unquote(frag)
        if file_part:
            base_dir = posixpath.dirname(doc) if doc else ""
            name = posixpath.normpath(posixpath.join(base_dir, file_part))
        else:
            name = doc
        return name, frag

    def deref(self, node: Node) -> Node:
        """Follow ``$ref`` chains from ``node`` (3.1-style sibling keywords override the target).

        Unresolvable refs return the node itself, so callers compare the ``$ref`` strings.
        """
        value = node.value
        if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
            return node
        key = (node.doc, node.pointer)
        if key in self._ref_cache:
            hit = self._ref_cache[key]
            return hit if hit is not None else node
        seen: set[tuple[str, str]] = set()
        cur = node
        siblings: dict[str, Any] = {}
        while isinstance(cur.value, dict) and isinstance(cur.value.get("$ref"), str):
            extra = {k: v for k, v in cur.value.items() if k != "$ref"}
            for k, v in extra.items():
                siblings.setdefault(k, v)
            doc, pointer = self.target(cur.value["$ref"], cur.doc)
            if (doc, pointer) in seen:  # a pure alias cycle: nothing to resolve to
                self._ref_cache[key] = None
                return node
            seen.add((doc, pointer))
            try:
                value = self.lookup(doc, pointer)
            except UnresolvedRef:
                self._ref_cache[key] = None
                return node
            cur = Node(value, doc, pointer)
        if siblings and isinstance(cur.value, dict):
            merged = dict(cur.value)
            merged.update(siblings)
            cur = Node(merged, cur.doc, cur.pointer)
        self._ref_cache[key] = cur
        return cur

    def ref_name(self, node: Node) -> str | None:
        """The ``$ref`` string of an unresolved node, if it is one."""
        value = node.value
        if isinstance(value, dict) and isinstance(value.get("$ref"), str):
            return value["$ref"]
        return None
