"""The mutmut project a run works in: a fresh directory that mirrors the repository (shell).

mutmut 3 imports the code under test from ``mutants/``, ``mutants/src`` or ``mutants/source`` and names
mutants after the path below them (dropping a leading ``src.``), so it only understands flat and
``src/`` layouts. Trunkline's own code lives in ``bot/``. Rather than asking repositories to move
their code, every run builds a workspace (default ``.trunkline/mutation/``)::

    <workspace>/src            -> <repo>/<import root>     (symlink: bot/, src/ or the repo itself)
    <workspace>/<entry>        -> <repo>/<entry>           (symlinks to every other top-level entry)
    <workspace>/pyproject.toml    the repository's, with [tool.mutmut] rewritten for the workspace
    <workspace>/mutants/          created fresh by mutmut on every run

The repository's mutmut configuration (``[tool.mutmut]`` in pyproject.toml, else ``[mutmut]`` in
setup.cfg) is the input: ``source_paths`` name the packages to mutate (``bot/trunkline``,
``src/pkg``, ``pkg``); ``only_mutate`` / ``do_not_mutate`` globs are written relative to the
repository and translated; ``pytest_add_cli_args_test_selection`` selects the tests. A run may narrow
``only_mutate`` further (a pull request's changed files).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MARKER = ".trunkline-mutation"
DEFAULT_WORKSPACE = ".trunkline/mutation"
#: Files mutmut does not copy into mutants/ by itself but a test run may read.
EXTRA_COPY = ("pytest.ini", "tox.ini", "conftest.py")
_LIST_KEYS = ("source_paths", "paths_to_mutate", "only_mutate", "do_not_mutate", "also_copy",
              "pytest_add_cli_args", "pytest_add_cli_args_test_selection", "tests_dir",
              "do_not_mutate_patterns", "type_check_command", "cache_invalidation_files",
              "cache_invalidation_exclude")


class ConfigError(ValueError):
    """The repository's mutmut configuration cannot be used (message for people)."""


@dataclass
class MutmutConfig:
    """The repository's mutmut settings, and where its importable code lives."""

    import_root: str  # '' = repository root
    packages: list[str]  # source paths relative to the import root ('' = all of it)
    test_selection: list[str]
    only_mutate: list[str] = field(default_factory=list)  # repository-relative globs
    do_not_mutate: list[str] = field(default_factory=list)
    also_copy: list[str] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict)  # every other key, passed through unchanged
    origin: str = "pyproject.toml"

    @property
    def source_paths(self) -> list[str]:
        """Repository-relative source paths."""
        return [_join(self.import_root, p) for p in self.packages]

    def test_roots(self) -> list[str]:
        """The test-selection entries that are paths (not options), without ``::node`` suffixes."""
        roots = []
        skip_next = False
        for arg in self.test_selection:
            if skip_next:
                skip_next = False
                continue
            if arg.startswith("-"):
                skip_next = arg in ("-m", "-k", "-p", "-c", "-o", "--ignore", "--deselect")
                continue
            roots.append(arg.split("::", 1)[0].rstrip("/"))
        return roots or ["tests"]

    def repo_path(self, project_path: str) -> str:
        """``src/pkg/mod.py`` (inside the workspace) → the repository path."""
        p = PurePosixPath(project_path)
        if p.parts and p.parts[0] == "src":
            return _join(self.import_root, str(PurePosixPath(*p.parts[1:])))
        return project_path

    def project_path(self, repo_path: str) -> str:
        """Repository path of a source file → its path inside the workspace (``src/...``)."""
        if not self.import_root:
            return f"src/{repo_path}"
        rel = PurePosixPath(repo_path).relative_to(self.import_root)
        return f"src/{rel}"

    def in_sources(self, repo_path: str) -> bool:
        """Whether a repository path is a Python file mutmut walks (before only/do_not_mutate)."""
        return repo_path.endswith(".py") and any(repo_path == s or repo_path.startswith(s + "/")
                                                 for s in self.source_paths)


def _join(root: str, rel: str) -> str:
    if not root:
        return rel
    return root if rel in ("", ".") else f"{root}/{rel}"


def _norm(path: str) -> str:
    text = str(PurePosixPath(path))
    return "" if text == "." else text.rstrip("/")


def split_source_path(path: str) -> tuple[str, str]:
    """(import root, path below it) for one ``source_paths`` entry, as mutmut names modules.

    ``src`` and ``src/...`` are below ``src`` (mutmut drops a leading ``src.``); anything else is below
    its parent directory (``bot/trunkline`` → ``bot``; ``pkg`` → the repository root).
    """
    p = PurePosixPath(_norm(path))
    if not str(p) or str(p) == ".":
        raise ConfigError("mutmut source_paths must name packages or directories, not the repository root")
    if p.is_absolute() or ".." in p.parts:
        raise ConfigError(f"mutmut source path {path!r} must be relative to the repository and stay inside it")
    if p.parts[0] == "src":
        return "src", str(PurePosixPath(*p.parts[1:])) if len(p.parts) > 1 else ""
    parent = str(p.parent)
    return ("" if parent == "." else parent), p.name


def parse_config(values: Mapping[str, Any], origin: str = "pyproject.toml") -> MutmutConfig:
    """Build :class:`MutmutConfig` from the raw ``[tool.mutmut]`` table (pure)."""
    data = dict(values)
    for key in _LIST_KEYS:
        if key in data and isinstance(data[key], str):
            data[key] = [data[key]]
        if key in data and not (isinstance(data[key], list) and all(isinstance(v, str) for v in data[key])):
            raise ConfigError(f"{origin}: mutmut {key} must be a list of strings")
    sources = data.pop("source_paths", None) or data.pop("paths_to_mutate", None)
    data.pop("paths_to_mutate", None)
    if not sources:
        raise ConfigError(f"{origin}: set mutmut source_paths (e.g. [tool.mutmut] source_paths = [\"src/pkg\"]) "
                          "so Trunkline knows which code to mutate")
    roots_and_packages = [split_source_path(s) for s in sources]
    roots = {root for root, _ in roots_and_packages}
    if len(roots) != 1:
        raise ConfigError(f"{origin}: mutmut source_paths live under different import roots "
                          f"({', '.join(sorted(r or '.' for r in roots))}); Trunkline needs them in one")
    selection = list(data.pop("pytest_add_cli_args_test_selection", [])) + list(data.pop("tests_dir", []))
    return MutmutConfig(
        import_root=roots.pop(),
        packages=[p for _, p in roots_and_packages],
        test_selection=selection,
        only_mutate=list(data.pop("only_mutate", [])),
        do_not_mutate=list(data.pop("do_not_mutate", [])),
        also_copy=list(data.pop("also_copy", [])),
        other=data,
        origin=origin,
    )


def read_config(repo: Path) -> MutmutConfig:
    """The repository's mutmut configuration: ``[tool.mutmut]`` in pyproject.toml, else setup.cfg."""
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{pyproject}: not valid TOML ({exc})") from exc
        table = data.get("tool", {}).get("mutmut")
        if isinstance(table, dict):
            return parse_config(table, "pyproject.toml [tool.mutmut]")
    setup_cfg = repo / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser()
        parser.read(setup_cfg, encoding="utf-8")
        if parser.has_section("mutmut"):
            raw: dict[str, Any] = {}
            for key, value in parser.items("mutmut"):
                if key in _LIST_KEYS:
                    raw[key] = [v.strip() for v in value.splitlines() if v.strip()]
                else:
                    raw[key] = _cfg_scalar(value)
            return parse_config(raw, "setup.cfg [mutmut]")
    raise ConfigError("no mutmut configuration: add [tool.mutmut] to pyproject.toml with at least "
                      "source_paths = [\"src/yourpackage\"] (and pytest_add_cli_args_test_selection for the tests)")


def _cfg_scalar(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value.strip()


# --- the generated [tool.mutmut] ----------------------------------------------------------------------

def translate_glob(pattern: str, import_root: str) -> str:
    """A repository-relative path glob → the same glob inside the workspace (``src/...``)."""
    if pattern.startswith("*"):
        return pattern
    if not import_root:
        return f"src/{pattern}"
    if pattern == import_root or pattern.startswith(import_root + "/"):
        return "src" + pattern[len(import_root):]
    return pattern  # outside the code under test: matches nothing mutmut walks, like in the repository


def workspace_table(config: MutmutConfig, only_mutate: Iterable[str] | None = None,
                    existing: Iterable[str] = (), tracked: Iterable[str] = ()) -> dict[str, Any]:
    """The ``[tool.mutmut]`` table for the workspace (pure).

    ``only_mutate`` (repository paths) narrows the mutated files; ``existing`` lists the repository's
    top-level entries, used to copy a test selection that lives outside ``tests/``; ``tracked`` lists
    the top-level entries git tracks: they are copied into ``mutants/`` too, because tests run there
    and often read the repository's files by a path relative to it (``contracts/``, ``actions/``...).
    """
    root = config.import_root
    table: dict[str, Any] = dict(config.other)
    # every run starts from a fresh mutants/, so mutmut's cache invalidation has nothing to detect
    table.setdefault("use_git_change_detection", False)
    table["source_paths"] = [_join("src", p) for p in config.packages]
    patterns = [translate_glob(p, root) for p in config.only_mutate]
    if only_mutate is not None:
        narrowed = [config.project_path(p) for p in only_mutate]
        patterns = narrowed if not patterns else [p for p in narrowed if _matches_any(p, patterns)]
        if not patterns:
            patterns = ["src/<nothing-to-mutate>.py"]  # mutmut treats [] as "everything"
    if patterns:
        table["only_mutate"] = patterns
    if config.do_not_mutate:
        table["do_not_mutate"] = [translate_glob(p, root) for p in config.do_not_mutate]
    if config.test_selection:
        table["pytest_add_cli_args_test_selection"] = list(config.test_selection)
    top = set(existing)
    copy = list(config.also_copy)
    for test_root in config.test_roots():
        first = PurePosixPath(test_root).parts[0] if test_root else ""
        if first and first in top and first not in ("tests", "test") and first not in copy:
            copy.append(first)
    copy += [name for name in EXTRA_COPY if name in top and name not in copy]
    skip = {"src", "tests", "test", "pyproject.toml", "setup.cfg", "mutants", ".git", MARKER}
    if not root:  # flat layout: the packages themselves are top-level (mutmut copies them to src/)
        skip |= {PurePosixPath(p).parts[0] for p in config.packages if p}
    # (an import root such as bot/ is copied as is: tests may read files there by path, e.g. generated
    # code; imports still find the mutated copy, which mutmut puts first on sys.path)
    copy += [name for name in sorted(tracked) if name not in skip and name not in copy]
    if copy:
        table["also_copy"] = copy
    return table


def _matches_any(path: str, patterns: Iterable[str]) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(path, p) for p in patterns)


def toml_value(value: Any) -> str:
    """A TOML literal for strings, numbers, booleans, lists and tables (inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_string(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest verbatim."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("a lone surrogate cannot be written as TOML")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _is_mutmut_table(name: str) -> bool:
    parts = [p.strip().strip('"') for p in name.split(".")]
    return parts[:2] == ["tool", "mutmut"]


def rewrite_pyproject(text: str, table: Mapping[str, Any]) -> str:
    """``text`` (a pyproject.toml) with its ``[tool.mutmut]`` replaced by ``table``; other tables kept verbatim."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        match = _TABLE.match(line)
        if match and not line.lstrip().startswith(("'", '"')):
            skipping = _is_mutmut_table(match.group(1))
        if not skipping:
            kept.append(line)
    body = "\n".join(kept).rstrip()
    section = "[tool.mutmut]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in table.items())
    result = (body + "\n\n" if body else "") + "# written by trunkline mutation run\n" + section
    parsed = tomllib.loads(result)  # raises if the textual surgery broke anything
    if parsed.get("tool", {}).get("mutmut") != json.loads(json.dumps(dict(table))):
        raise ConfigError("could not rewrite [tool.mutmut] in pyproject.toml (unusual TOML layout)")
    return result


# --- building the workspace ---------------------------------------------------------------------------

def _reserved(repo: Path, workspace: Path) -> set[str]:
    names = {".git", "pyproject.toml", "src", "mutants", ".gitignore", MARKER}
    try:
        names.add(workspace.resolve().relative_to(repo.resolve()).parts[0])
    except (ValueError, IndexError):
        pass
    return names


def tracked_top_level(repo: Path) -> list[str]:
    """Top-level names that hold files git tracks ([] outside a git repository)."""
    import subprocess

    result = subprocess.run(["git", "-c", "core.quotePath=false", "ls-files", "-z"], cwd=repo, capture_output=True,
                            check=False)
    if result.returncode != 0:
        return []
    names = {path.split("/", 1)[0] for path in result.stdout.decode("utf-8", "replace").split("\0") if path}
    return sorted(name for name in names if (repo / name).exists())


def prepare_workspace(repo: Path, workspace: Path, config: MutmutConfig,
                      only_mutate: Iterable[str] | None = None) -> Path:
    """Create a fresh workspace for ``repo``; returns it. Refuses to clear a directory it did not make."""
    repo = repo.resolve()
    if workspace.exists():
        if not (workspace / MARKER).exists() and any(workspace.iterdir()):
            raise ConfigError(f"{workspace} exists and is not a Trunkline mutation workspace; "
                              "remove it or pass another --workspace")
        shutil.rmtree(workspace)  # symlinks are removed, never followed
    workspace.mkdir(parents=True)
    (workspace / MARKER).write_text("created by trunkline mutation run; removed on the next run\n")
    (workspace / ".gitignore").write_text("*\n")  # never shows up as untracked files of the repository
    src_target = repo / config.import_root if config.import_root else repo
    if not src_target.is_dir():
        raise ConfigError(f"{config.origin}: import root {config.import_root or '.'}/ does not exist")
    for package in config.packages:
        if not (src_target / package).exists():
            raise ConfigError(f"{config.origin}: source path {_join(config.import_root, package)} does not exist")
    os.symlink(src_target, workspace / "src", target_is_directory=True)
    reserved = _reserved(repo, workspace)
    entries = sorted(entry.name for entry in repo.iterdir())
    for name in entries:
        if name not in reserved:
            os.symlink(repo / name, workspace / name)
    pyproject = repo / "pyproject.toml"
    original = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    table = workspace_table(config, only_mutate, existing=entries,
                            tracked=[name for name in tracked_top_level(repo) if name not in reserved])
    (workspace / "pyproject.toml").write_text(rewrite_pyproject(original, table), encoding="utf-8")
    return workspace


__all__ = [
    "ConfigError", "DEFAULT_WORKSPACE", "MutmutConfig", "parse_config", "prepare_workspace", "read_config",
    "rewrite_pyproject", "split_source_path", "toml_value", "translate_glob", "workspace_table",
]
