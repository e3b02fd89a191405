"""A parsed contract document plus what the diff needs around it (display name, lines, relative refs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .locate import Locator, NullLocator, YamlLocator


@dataclass
class Document:
    """``data`` is the parsed document. ``name`` is shown in findings (a repo-relative path for
    annotations). ``external`` loads a file referenced relatively (name relative to this document's
    directory, "/"-separated) and returns its Document, or None when missing."""

    data: Any
    name: str
    locator: Locator | None = None
    external: Callable[[str], Document | None] | None = None

    def line_locator(self) -> Locator:
        if self.locator is not None:
            return self.locator
        return YamlLocator(self.data) if hasattr(self.data, "lc") else NullLocator()


class ContractError(ValueError):
    """A document that cannot be diffed (unknown format, mismatched kinds, unreadable source)."""


def detect_kind(data: Any, name: str) -> str:
    if not isinstance(data, dict):
        raise ContractError(f"{name}: not a mapping at the top level; expected an OpenAPI or AsyncAPI document")
    if "openapi" in data:
        return "openapi"
    if "asyncapi" in data:
        return "asyncapi"
    if "swagger" in data:
        raise ContractError(f"{name}: Swagger 2.0 is not supported; convert it to OpenAPI 3 first")
    raise ContractError(f"{name}: neither an `openapi` nor an `asyncapi` key at the top level")


def as_document(value: Any, default_name: str) -> Document:
    if isinstance(value, Document):
        return value
    return Document(value, default_name)
