"""Loading contract documents: files on disk or ``git-rev:path`` (``origin/main:contracts/openapi.yaml``).

This is the imperative shell around :mod:`trunkline.contracts.diff`: it reads bytes (from the file
system or ``git show``), parses them, and hands back a :class:`~trunkline.contracts.diff.Document` whose
``external`` loader reads relatively referenced files from the same place (same directory, or the same
git revision). JSON is parsed with orjson (fast, positions found lazily by the locator); YAML with
ruamel's round-trip loader, which keeps line numbers.
"""

from __future__ import annotations

import posixpath
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .diff import yaml12
from .diff.document import ContractError, Document
from .diff.locate import JsonLocator, Locator, YamlLocator

__all__ = ["ContractError", "load_source", "load_text", "parse_text"]


def parse_text(text: str, name: str) -> tuple[Any, Locator]:
    """Parse JSON or YAML text; errors name the file, line and column."""
    stripped = text.lstrip()
    if name.lower().endswith(".json") or stripped.startswith(("{", "[")):
        try:
            return orjson.loads(text), JsonLocator(text)
        except orjson.JSONDecodeError as exc:
            if name.lower().endswith(".json"):
                raise ContractError(f"{name}: invalid JSON: {exc}") from None
            # not JSON after all (a YAML flow mapping): fall through to YAML
    try:
        fast = yaml12.load(text)
    except yaml12.YamlError as exc:
        where = f"{name}:{exc.line}:{exc.column}" if exc.line is not None else name
        raise ContractError(f"{where}: invalid YAML: {exc}") from None
    if fast is not None:
        return fast
    yaml = YAML(typ="rt")  # no libyaml: ruamel's round-trip loader also keeps line numbers
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        raise ContractError(f"{where}: invalid YAML: {exc.problem}") from None
    except YAMLError as exc:
        raise ContractError(f"{name}: invalid YAML: {exc}") from None
    return data, YamlLocator(data)


def load_text(text: str, name: str, *, read: Callable[[str], str | None] | None = None) -> Document:
    """A Document from text already in hand (e.g. fetched through the GitHub contents API).

    ``name`` is the repository path shown in findings; ``read(path)`` returns the text of another
    repository path (relative ``$ref`` files), or None when it does not exist.
    """
    data, locator = parse_text(text, name)
    base_dir = posixpath.dirname(name)

    def external(rel: str) -> Document | None:
        if read is None:
            return None
        target = posixpath.normpath(posixpath.join(base_dir, rel))
        sub_text = read(target)
        if sub_text is None:
            return None
        sub, sub_loc = parse_text(sub_text, target)
        return Document(sub, target, sub_loc)

    return Document(data, name, locator, external if read is not None else None)


def _git_show(rev: str, path: str, cwd: Path) -> str | None:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=cwd, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout


def _git_error(rev: str, path: str, cwd: Path) -> str:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=cwd, capture_output=True, text=True,
                          check=False)
    return (proc.stderr or "").strip().splitlines()[0] if proc.stderr else "git show failed"


def load_source(spec: str, *, cwd: str | Path | None = None) -> Document:
    """Load ``spec`` (a file path, or ``REV:PATH`` read with ``git show``) as a Document.

    A path that exists wins over the ``REV:PATH`` reading, so files with ``:`` in their name work.
    """
    root = Path(cwd) if cwd is not None else Path.cwd()
    path = Path(spec)
    full = path if path.is_absolute() else root / path
    if full.is_file():
        return _file_document(full, spec)
    if ":" in spec:
        rev, _, rel = spec.partition(":")
        if rev and rel:
            return _git_document(rev, rel, root)
    raise ContractError(f"{spec}: no such file (and not a git `REV:PATH`)")


def _file_document(full: Path, display: str) -> Document:
    try:
        text = full.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{display}: cannot read: {exc}") from None
    data, locator = parse_text(text, display)
    base_dir = full.parent

    def external(name: str) -> Document | None:
        target = (base_dir / name).resolve()
        if not target.is_file():
            return None
        try:
            sub_text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        shown = posixpath.normpath(posixpath.join(posixpath.dirname(display), name))
        sub, sub_loc = parse_text(sub_text, shown)
        return Document(sub, shown, sub_loc)

    return Document(data, display, locator, external)


def _git_document(rev: str, rel: str, cwd: Path) -> Document:
    text = _git_show(rev, rel, cwd)
    if text is None:
        raise ContractError(f"{rev}:{rel}: {_git_error(rev, rel, cwd)}")
    data, locator = parse_text(text, rel)
    base_dir = posixpath.dirname(rel)

    def external(name: str) -> Document | None:
        target = posixpath.normpath(posixpath.join(base_dir, name))
        sub_text = _git_show(rev, target, cwd)
        if sub_text is None:
            return None
        sub, sub_loc = parse_text(sub_text, target)
        return Document(sub, target, sub_loc)

    # findings name the repository path, so annotations land on the file in the PR
    return Document(data, rel, locator, external)
