"""Org defaults and ``extends``: combine several configuration files into one effective config.

Precedence, lowest first::

    built-in defaults
    < <owner>/.github : .github/trunkline.yml        (organisation defaults, and whatever *it* extends)
    < the repository file's ``extends:`` target      (which may extend further: at most 5 hops)
    < <owner>/<repo>  : .github/trunkline.yml        (the repository's own file)

Every file is read through the caller's ``fetch(owner, repo, path)``, which must return the file's
text **from that repository's default branch** (or None when absent). There is deliberately no ref
parameter anywhere in this API: configuration must never come from a pull request's head, or a PR
could loosen its own merge rules. ``fetch`` errors (network, auth) propagate so the caller can retry;
they are not configuration problems.

:func:`merge_layers` is the pure core; :func:`resolve_config` is the thin shell that fetches.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trunkline.config.loader import (
    ConfigIssue,
    Layer,
    Location,
    Path,
    load_layer,
    sorted_issues,
    validate_data,
)
from trunkline.config.model import CONFIG_PATH, EXTENDS_PATTERN, TrunklineConfig, parse_extends

#: Reads ``path`` from the default branch of ``owner/repo``; None when the file does not exist.
Fetch = Callable[[str, str, str], "str | None"]

#: Maximum number of ``extends`` hops followed from any file.
MAX_EXTENDS_DEPTH = 5
ORG_CONFIG_REPO = ".github"


@dataclass(frozen=True)
class Source:
    """One configuration file that contributed to the effective configuration."""

    owner: str
    repo: str
    path: str
    role: Literal["org", "extends", "repo"]
    label: str  # how issues name this file: a bare path when it lives in the configured repository
    local: bool  # lives in the configured repository (so check-run annotations can point at it)


@dataclass(frozen=True)
class ResolvedConfig:
    """The effective configuration of ``owner/repo`` and how it was obtained."""

    owner: str
    repo: str
    config: TrunklineConfig | None  # None whenever any contributing file has an error
    issues: list[ConfigIssue]
    sources: list[Source] = field(default_factory=list)  # lowest precedence first
    file: str = CONFIG_PATH  # the repository's own file (what the check run is about)

    @property
    def ok(self) -> bool:
        return self.config is not None and not any(i.level == "error" for i in self.issues)


def merge_layers(layers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Deep-merge configuration mappings; later layers win.

    * mappings merge key by key, recursively;
    * everything else — scalars, ``None`` and **lists** — is replaced by the later layer's value.
      Lists replace rather than concatenate so that a repository can *remove* an inherited entry
      (e.g. drop an org-wide hold label); concatenation would make that impossible.

    Pure: the inputs are not modified and the result shares no mutable objects with them.
    """
    result: dict[str, Any] = {}
    for layer in layers:
        result = _merge_two(result, layer)
    return result


def _merge_two(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_two(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_config(owner: str, repo: str, fetch: Fetch) -> ResolvedConfig:
    """Fetch, layer and validate the configuration of ``owner/repo`` (default branches only)."""
    resolution = _Resolution(owner, repo, fetch)
    layers: list[tuple[Source, Layer]] = []
    if repo.lower() != ORG_CONFIG_REPO:  # the org repo's own file is its repository file
        layers += resolution.expand(owner, ORG_CONFIG_REPO, CONFIG_PATH, "org", chain=(), requester=None)
    own = resolution.expand(owner, repo, CONFIG_PATH, "repo", chain=(), requester=None)
    layers += own
    sources = [source for source, _ in layers]
    issues = sorted_issues(resolution.issues)
    if issues or any(layer.data is None for _, layer in layers):
        return ResolvedConfig(owner, repo, None, issues, sources)

    datas = [{k: v for k, v in layer.data.items() if k != "extends"} for _, layer in layers]  # type: ignore[union-attr]
    merged = merge_layers(datas)
    own_layer = own[-1][1] if own and own[-1][0].role == "repo" else None
    if own_layer is not None and own_layer.data and own_layer.data.get("extends") is not None:
        merged["extends"] = own_layer.data["extends"]
    config, merged_issues = validate_data(merged, _layered_locator([layer for _, layer in layers]))
    return ResolvedConfig(owner, repo, config, merged_issues, sources)


class _Resolution:
    """Fetches files and follows ``extends`` chains, collecting issues on the way."""

    def __init__(self, owner: str, repo: str, fetch: Fetch) -> None:
        self.owner, self.repo, self.fetch = owner, repo, fetch
        self.issues: list[ConfigIssue] = []

    def label(self, owner: str, repo: str, path: str) -> str:
        return path if self.is_local(owner, repo) else f"{owner}/{repo}:{path}"

    def is_local(self, owner: str, repo: str) -> bool:
        return (owner.lower(), repo.lower()) == (self.owner.lower(), self.repo.lower())

    def expand(
        self,
        owner: str,
        repo: str,
        path: str,
        role: Literal["org", "extends", "repo"],
        chain: tuple[tuple[str, str, str], ...],
        requester: Layer | None,
    ) -> list[tuple[Source, Layer]]:
        """This file preceded by everything it extends (lowest precedence first)."""
        label = self.label(owner, repo, path)
        text = self.fetch(owner, repo, path)
        if text is None:
            if requester is not None:
                target = requester.data.get("extends") if requester.data else None
                message = (
                    f"'{target}' not found: {owner}/{repo} has no {path} on its default branch "
                    "(or Trunkline cannot read that repository)"
                )
                self._extends_issue(requester, message)
            return []
        layer = load_layer(text, label)
        self.issues += layer.issues
        if layer.data is not None:
            _, problems = validate_data(layer.data, layer.locate)
            self.issues += problems
        source = Source(owner, repo, path, role, label, self.is_local(owner, repo))
        chain = (*chain, (owner.lower(), repo.lower(), path))
        target = self._extends_target(layer)
        if target is None:
            return [(source, layer)]
        t_owner, t_repo, t_path = target
        names = [self.label(o, r, p) for o, r, p in chain]
        if (t_owner.lower(), t_repo.lower(), t_path) in chain:
            cycle = " -> ".join([*names, self.label(t_owner, t_repo, t_path)])
            self._extends_issue(layer, f"extends cycle: {cycle}")
            return [(source, layer)]
        if len(chain) > MAX_EXTENDS_DEPTH:
            hops = " -> ".join([*names, self.label(t_owner, t_repo, t_path)])
            self._extends_issue(layer, f"extends chain is deeper than {MAX_EXTENDS_DEPTH} levels: {hops}")
            return [(source, layer)]
        base = self.expand(t_owner, t_repo, t_path, "extends", chain, requester=layer)
        return [*base, (source, layer)]

    def _extends_target(self, layer: Layer) -> tuple[str, str, str] | None:
        value = layer.data.get("extends") if layer.data else None
        if not isinstance(value, str) or not re.fullmatch(EXTENDS_PATTERN, value):
            return None  # absent, or already reported as invalid by validation
        if any(i.key == "extends" and i.file == layer.file for i in self.issues):
            return None
        return parse_extends(value)

    def _extends_issue(self, layer: Layer, message: str) -> None:
        file, line, col = layer.locate(("extends",), False)
        self.issues.append(ConfigIssue(file, line, col, "extends", message))


def _layered_locator(layers: list[Layer]) -> Callable[[Path, bool], Location]:
    """Attribute a merged-data path to the highest-precedence file that wrote it (or its parent)."""

    def locate(path: Path, at_key: bool) -> Location:
        for cut in range(len(path), 0, -1):
            for layer in reversed(layers):
                if layer.has(path[:cut]):
                    return layer.locate(path, at_key)
        return layers[-1].locate(path, at_key) if layers else (CONFIG_PATH, 1, 1)

    return locate
