"""Breaking-change diff for OpenAPI 3.x and AsyncAPI 2.x/3.x contracts (functional core).

Public API::

    diff(base, head, *, base_name, head_name, options) -> list[Finding]   # pure; dicts or Documents
    Finding, Source, Level                                                 # plain results
    DiffPolicy, IgnoreEntry, apply_policy, is_breaking, exit_code          # policy (config builds one)
    format_findings(findings, fmt, policy) / FORMATS                       # text | json | markdown | github
    RULES, Rule                                                            # the rule table
    load_source (in trunkline.contracts.sources)                           # files and git-rev:path
"""

from __future__ import annotations

from typing import Any

from .document import ContractError, Document, as_document, detect_kind
from .model import Finding, Level, Source, sort_key
from .openapi import DiffOptions, OpenAPIDiff
from .policy import DiffPolicy, IgnoreEntry, apply_policy, exit_code, is_breaking
from .refs import Resolver
from .report import Reporter, Side
from .rules import RULES, Rule
from .schema import SchemaComparer

__all__ = [
    "ContractError", "DiffOptions", "DiffPolicy", "Document", "FORMATS", "Finding", "IgnoreEntry", "Level",
    "RULES", "Rule", "Source", "apply_policy", "diff", "exit_code", "format_findings", "is_breaking",
]


def _side(doc: Document) -> Side:
    side_locators: dict[str, Any] = {"": doc.line_locator()}

    def external(name: str) -> Any:
        if doc.external is None:
            return None
        loaded = doc.external(name)
        if loaded is None:
            return None
        side_locators[name] = loaded.line_locator()
        return loaded.data

    resolver = Resolver(doc.data, external=external if doc.external is not None else None)
    return Side(resolver, doc.name, side_locators)


def diff(base: Any, head: Any, *, base_name: str = "base", head_name: str = "head",
         options: DiffOptions | None = None) -> list[Finding]:
    """All findings from ``base`` to ``head`` (parsed dicts or :class:`Document`), most severe first.

    Pure: no IO beyond the documents' own ``external`` loaders for relative ``$ref`` files.
    Raises :class:`ContractError` when the documents are not comparable.
    """
    bdoc = as_document(base, base_name)
    hdoc = as_document(head, head_name)
    bkind = detect_kind(bdoc.data, bdoc.name)
    hkind = detect_kind(hdoc.data, hdoc.name)
    if bkind != hkind:
        raise ContractError(f"cannot compare {bkind} document {bdoc.name} with {hkind} document {hdoc.name}")
    bside, hside = _side(bdoc), _side(hdoc)
    reporter = Reporter(bside, hside)
    comparer = SchemaComparer(bside.resolver, hside.resolver)
    opts = options or DiffOptions()
    if bkind == "openapi":
        OpenAPIDiff(bside, hside, reporter, comparer, opts).run()
    else:
        from .asyncapi import AsyncAPIDiff

        AsyncAPIDiff(bside, hside, reporter, comparer, opts).run()
    return sorted(reporter.findings, key=sort_key)


def __getattr__(name: str) -> Any:  # formatters import lazily (they pull in json/markdown helpers)
    if name in ("format_findings", "FORMATS"):
        from . import format as _format

        return getattr(_format, name)
    raise AttributeError(name)
