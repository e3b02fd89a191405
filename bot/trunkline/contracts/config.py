"""The ``contracts:`` configuration: models (re-exported), kind detection, loading from a checkout.

The models are defined in :mod:`trunkline.config.sections_contracts` (next to the root model that
includes them, which keeps imports acyclic); this module is where the contracts engine gets them.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from trunkline.config.model import CONFIG_PATH, TrunklineConfig
from trunkline.config.sections_contracts import (
    EXTENSIONS,
    RESERVED_OPTIONS,
    BreakingSection,
    ContractsSection,
    ContractTestsSection,
    IgnoreEntry,
    Language,
    SourceConfig,
    SourceKind,
    TargetConfig,
)

__all__ = [
    "EXTENSIONS",
    "RESERVED_OPTIONS",
    "BreakingSection",
    "ContractTestsSection",
    "ContractsSection",
    "IgnoreEntry",
    "Language",
    "LocalConfig",
    "SourceConfig",
    "SourceKind",
    "TargetConfig",
    "contracts_of",
    "detect_kind",
    "find_repo_root",
    "load_local_config",
    "source_kind",
]

# The document's version key, at the start of a line (YAML) or as a JSON member, near the top.
_KIND = re.compile(rb"""(?m)^(?:\s*\{?\s*)?["']?(openapi|asyncapi|swagger)["']?\s*:""")


class ContractConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


def detect_kind(content: bytes | str) -> SourceKind | None:
    """``openapi`` / ``asyncapi`` from the document's top-level version key; None when neither.

    Only the first 64 KB are looked at: the version key comes first in every real document, and the
    drift check must stay a hash-only fast path.
    """
    head = content[:65536] if isinstance(content, bytes) else content[:65536].encode("utf-8", "replace")
    for match in _KIND.finditer(head):
        word = match.group(1).decode()
        if word == "swagger":
            return None  # Swagger 2.0 is not supported; say so instead of guessing
        return "openapi" if word == "openapi" else "asyncapi"
    return None


def source_kind(source: SourceConfig, content: bytes | str | None) -> SourceKind:
    """The configured kind, or the detected one; raises :class:`ContractConfigError` when unknown."""
    if source.kind is not None:
        return source.kind
    kind = detect_kind(content) if content is not None else None
    if kind is None:
        raise ContractConfigError(
            f"{source.path}: cannot tell whether this is OpenAPI 3.x or AsyncAPI (no top-level 'openapi:' or "
            f"'asyncapi:' key); set `kind:` for this source")
    return kind


def contracts_of(config: TrunklineConfig | ContractsSection | None) -> ContractsSection:
    """The contracts section of a whole configuration (or the section itself); empty for None."""
    if config is None:
        return ContractsSection()
    if isinstance(config, ContractsSection):
        return config
    return config.contracts


def find_repo_root(start: Path | None = None) -> Path:
    """The checkout containing ``start`` (default: the working directory).

    The nearest ancestor with ``.github/trunkline.yml``, else git's top level, else ``start``.
    """
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_PATH).is_file():
            return folder
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True,
                             text=True, timeout=10, check=False)
        if top.returncode == 0 and top.stdout.strip():
            return Path(top.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return start


@dataclass(frozen=True)
class LocalConfig:
    root: Path
    path: Path
    contracts: ContractsSection


def load_local_config(root: Path, config_path: Path | None = None) -> LocalConfig:
    """Parse the checkout's configuration file; raises :class:`ContractConfigError` listing every issue.

    Only the file itself is read: ``extends:`` and organisation defaults live on GitHub, where the bot
    resolves them. A missing file means "no contracts configured".
    """
    from trunkline.config.loader import parse_config

    path = config_path or root / CONFIG_PATH
    if not path.is_file():
        return LocalConfig(root, path, ContractsSection())
    try:
        shown = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = str(path)
    result = parse_config(path.read_text(encoding="utf-8", errors="replace"), shown)
    if result.config is None:
        problems = "\n".join(str(issue) for issue in result.issues if issue.level == "error")
        raise ContractConfigError(f"{shown} has errors:\n{problems}")
    return LocalConfig(root, path, result.config.contracts)
