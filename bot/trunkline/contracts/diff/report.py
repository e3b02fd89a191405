"""Turning schema changes and document-level hits into :class:`Finding` objects.

:class:`Side` knows how to show a document position (file name for annotations, line via a locator);
:class:`Reporter` collects findings (deduplicated), and :func:`anchor` maps a schema :class:`Change`
found under a request body / parameter / response / header / message into the concrete rule id for
that place (``request-body-*`` at the root of a request body, ``request-property-*`` below it, ...).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from .locate import Locator, NullLocator, YamlLocator
from .model import Finding, Source
from .refs import Resolver
from .rules import RULES, family_id
from .schema import Change, Loc


@dataclass
class Side:
    """One side of the diff: its resolver plus how to display positions in its documents."""

    resolver: Resolver
    file: str  # display name of the root document (a repo-relative path for annotations)
    locators: dict[str, Locator] = field(default_factory=dict)

    def display(self, doc: str) -> str:
        if doc == self.resolver.root_name:
            return self.file
        return posixpath.normpath(posixpath.join(posixpath.dirname(self.file), doc))

    def locator(self, doc: str) -> Locator:
        loc = self.locators.get(doc)
        if loc is None:
            data = self.resolver.docs.get(doc)
            loc = YamlLocator(data) if hasattr(data, "lc") else NullLocator()
            self.locators[doc] = loc
        return loc

    def source(self, loc: Loc) -> Source:
        doc, pointer = loc
        return Source(self.display(doc), self.locator(doc).line(pointer), pointer)


class _Fmt(dict):
    def __missing__(self, key: str) -> str:
        return "?"


class Reporter:
    def __init__(self, base: Side, head: Side) -> None:
        self.base = base
        self.head = head
        self.findings: list[Finding] = []
        self._seen: set[tuple] = set()

    def add(self, rule_id: str, *, head: Loc | None, base: Loc | None = None, operation: str | None = None,
            path: str | None = None, **args: Any) -> None:
        rule = RULES[rule_id]  # KeyError here means a check emitted an id missing from the table
        message = rule.message.format_map(_Fmt({k: _show(v) for k, v in args.items()}, operation=operation,
                                               path=path))
        if head is not None:
            source = self.head.source(head)
        elif base is not None:  # nothing to point at in the head: show the base position
            source = self.base.source(base)
        else:
            source = Source(self.head.file, 1, "")
        key = (rule_id, source.file, source.pointer, message, operation)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append(Finding(
            id=rule_id, level=rule.level, message=message, source=source, operation=operation, path=path,
            direction=rule.direction, area=rule.area,
            base_source=self.base.source(base) if base is not None else None,
            details={k: v for k, v in args.items() if isinstance(v, (str, int, float, bool, type(None)))},
        ))


def _show(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Anchor:
    """Where a compared schema sits: decides rule ids and message wording for its changes."""

    direction: str  # request | response
    scope: str  # body | parameter | header
    label: str  # "request body (application/json)", "query parameter `limit`", ...
    operation: str | None = None
    path: str | None = None
    param_in: str | None = None
    root_path: tuple[str, ...] = ()  # property path of the schema root (AsyncAPI: ("headers",))

    def prefixes(self, at_root: bool, ch: Change) -> list[str]:
        if self.direction == "request":
            if self.scope == "parameter":
                return ["request-parameter"] if at_root else ["request-parameter-property", "request-parameter"]
            if at_root:
                return ["request-body", "request-property"]
            return (["request-read-only-property"] if ch.read_only else []) + ["request-property"]
        if self.scope == "header":
            return ["response-header"] if at_root else []
        if at_root:
            return ["response-body", "response-property"]
        return (["response-write-only-property"] if ch.write_only else []) + ["response-property"]


def anchor(reporter: Reporter, changes: tuple[Change, ...] | list[Change], where: Anchor) -> None:
    for ch in changes:
        path = where.root_path + ch.path
        rule_id = _rule_for(ch, where, at_root=not path)
        if rule_id is None:
            continue
        prop = "/".join(path)
        subject = where.label if not path else f"{_noun(where)} `{prop}` of {where.label}"
        args = dict(ch.args)
        args.pop("fallback", None)
        reporter.add(rule_id, head=ch.head, base=ch.base, operation=where.operation, path=where.path,
                     subject=subject, prop=prop, where=f" ({where.label})", **args)


def _noun(where: Anchor) -> str:
    if where.scope == "parameter":
        return "property"
    return "property"


def _rule_for(ch: Change, where: Anchor, *, at_root: bool) -> str | None:
    kind = ch.kind
    d = where.direction
    if kind.startswith("prop:"):
        return _property_rule(ch, where)
    if where.scope == "parameter" and kind == "type-changed" and ch.arg("what") == "type" \
            and ch.arg("old") == "string" and ch.arg("new") in ("number", "integer", "boolean"):
        # parameters travel as text: string -> number accepts a subset of what was accepted
        kind = "type-specialized"
    kinds = [kind]
    fb = ch.arg("fallback") or ("type-changed" if kind == "type-specialized" else None)
    if fb:
        kinds.append(fb)
    for k in kinds:
        for prefix in where.prefixes(at_root, ch):
            rid = family_id(prefix, k)
            if rid is not None:
                return rid
    del d
    return None


def _property_rule(ch: Change, where: Anchor) -> str | None:
    kind, d = ch.kind[5:], where.direction
    required = bool(ch.arg("required"))
    if where.scope == "header" and d == "response":
        return None
    if where.scope == "parameter":
        # oasdiff reports object-valued parameter properties only for headers
        if where.param_in != "header":
            return None
        if kind == "added" and required:
            return "new-required-request-header-property"
        if kind == "required":
            return "request-header-property-became-required"
        return None
    if kind == "added":
        if d == "request":
            return "new-required-request-property" if required and not ch.read_only else "new-optional-request-property"
        wo = "write-only-" if ch.write_only else ""
        return f"response-{'required' if required else 'optional'}-{wo}property-added"
    if kind == "removed":
        if d == "request":
            return "request-property-removed"
        wo = "write-only-" if ch.write_only else ""
        return f"response-{'required' if required else 'optional'}-{wo}property-removed"
    if kind == "required":
        if d == "request":
            return None if ch.read_only else "request-property-became-required"
        return "response-write-only-property-became-required" if ch.write_only else "response-property-became-required"
    if kind == "optional":
        if d == "request":
            return "request-property-became-optional"
        return "response-write-only-property-became-optional" if ch.write_only else "response-property-became-optional"
    if kind == "access":
        rid = f"{d}-{ch.arg('required')}-property-became-{ch.arg('what')}"
        return rid if rid in RULES else None
    if kind.startswith(("deprecated", "reactivated")):
        rid = f"{d}-property-{kind}"
        return rid if rid in RULES else None
    return None
