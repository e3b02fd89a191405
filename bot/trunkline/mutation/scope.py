"""Which mutants a change needs: changed lines → enclosing functions → mutmut mutant-name globs (pure).

mutmut 3 names every mutant ``<module>.<key>__mutmut_<n>`` where ``<key>`` is ``x_<function>`` for a
top-level function and ``xǁ<Class>ǁ<method>`` for a method of a top-level class (mutmut mutates
nothing else: code at module level, methods of nested classes and nested functions are either not
mutated or belong to their enclosing top-level function). So a changed line maps to at most one
function key, and that function's mutants are exactly the glob ``<module>.<key>__mutmut_*``.

Everything here works on text and plain data: the unified diff (``git diff --unified=0``), the new
source of each changed file, and mutmut's ``tests_by_mangled_function_name`` stats.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

#: mutmut's separator between class and method in a mangled key (``xǁClassǁmethod``).
CLASS_SEPARATOR = "ǁ"
MUTANT_MARKER = "__mutmut_"

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


# --- unified diff -------------------------------------------------------------------------------------

@dataclass
class FileChange:
    """What a diff did to one file, on the new side.

    ``added`` holds inclusive line ranges that are new or changed; ``deleted_after`` holds new-side
    line numbers after which lines were removed (0 = at the top of the file).
    """

    path: str  # new path ('' when the file was deleted)
    old_path: str = ""  # old path ('' when the file is new)
    added: list[tuple[int, int]] = field(default_factory=list)
    deleted_after: list[int] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return not self.path

    @property
    def any_path(self) -> str:
        return self.path or self.old_path


def _unquote(name: str) -> str:
    """git quotes unusual paths C-style ("a/t\\303\\251st.py"); undo that."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        raw = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1").decode("utf-8", "replace")
    return name


def _strip_prefix(name: str) -> str:
    name = _unquote(name.rstrip("\t").split("\t")[0])
    if name == "/dev/null":
        return ""
    return name[2:] if name[:2] in ("a/", "b/") else name


def _header_paths(rest: str) -> tuple[str, str]:
    """Paths from ``diff --git a/X b/Y`` (best effort: exact for paths without " b/" in them)."""
    if rest.startswith('"'):
        return "", ""  # quoted names: the ---/+++ lines that follow are authoritative
    old, sep, new = rest.partition(" b/")
    return (_strip_prefix(old), new) if sep else ("", "")


def parse_unified_diff(text: str) -> list[FileChange]:
    """The files a ``git diff --unified=0`` output touches, with their changed new-side lines.

    Any context size works for renames and deletions, but only ``--unified=0`` gives exact changed
    lines (with context, unchanged neighbours would count as changed).
    """
    changes: list[FileChange] = []
    current: FileChange | None = None
    for line in text.splitlines():
        if line.startswith("diff --git "):
            old, new = _header_paths(line[len("diff --git "):])
            current = FileChange(path=new, old_path=old)
            changes.append(current)
            continue
        if current is None:
            continue
        if line.startswith("--- "):
            current.old_path = _strip_prefix(line[4:])
        elif line.startswith("+++ "):
            current.path = _strip_prefix(line[4:])
        elif line.startswith("rename from "):
            current.old_path = _unquote(line[len("rename from "):])
        elif line.startswith("rename to "):
            current.path = _unquote(line[len("rename to "):])
        elif line.startswith("new file mode"):
            current.old_path = ""
        elif line.startswith("deleted file mode"):
            current.path = ""
        elif line.startswith("@@"):
            match = _HUNK.match(line)
            if match is None:
                continue
            start = int(match.group(3))
            count = 1 if match.group(4) is None else int(match.group(4))
            if count == 0:
                current.deleted_after.append(start)
            else:
                current.added.append((start, start + count - 1))
    return [c for c in changes if c.path or c.old_path]


# --- functions in a source file -----------------------------------------------------------------------

@dataclass(frozen=True)
class FunctionSpan:
    """A function mutmut can mutate: its mangled key, readable name and inclusive line span."""

    key: str  # x_name | xǁClassǁname
    qualname: str  # name | Class.name
    start: int  # first decorator line, or the def line
    end: int


def mangle(name: str, class_name: str | None = None) -> str:
    return f"x{CLASS_SEPARATOR}{class_name}{CLASS_SEPARATOR}{name}" if class_name else f"x_{name}"


def _span(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return start, node.end_lineno or node.lineno


def function_spans(source: str) -> list[FunctionSpan]:
    """Top-level functions and methods of top-level classes, as mutmut sees them.

    Raises ``SyntaxError`` for source that does not parse.
    """
    tree = ast.parse(source)
    spans: list[FunctionSpan] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            spans.append(FunctionSpan(mangle(node.name), node.name, *_span(node)))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    spans.append(FunctionSpan(mangle(item.name, node.name), f"{node.name}.{item.name}",
                                              *_span(item)))
    return spans


def touched_functions(spans: Iterable[FunctionSpan], change: FileChange) -> list[FunctionSpan]:
    """The functions whose lines a change added, edited or removed.

    A deletion after line ``n`` touches the function spanning ``n`` — including when ``n`` is its last
    line, because the removed lines may have been the function's own tail (a dropped ``return``).
    """
    touched = []
    for span in spans:
        if any(start <= span.end and span.start <= end for start, end in change.added) or \
                any(span.start <= after <= span.end for after in change.deleted_after):
            touched.append(span)
    return touched


def module_name(relative_path: str) -> str:
    """Dotted module of a path relative to its import root, the way mutmut names it.

    ``pkg/mod.py`` → ``pkg.mod``; ``pkg/__init__.py`` → ``pkg`` (mutmut drops ``.__init__``).
    """
    parts = list(PurePosixPath(relative_path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True)
class FunctionRef:
    """One function of the code under test, named the way mutmut's results and stats name it."""

    module: str
    key: str
    qualname: str
    path: str  # repository-relative path of its file

    @property
    def mangled(self) -> str:
        """The name mutmut's stats use (``tests_by_mangled_function_name`` keys)."""
        return f"{self.module}.{self.key}" if self.module else self.key

    @property
    def glob(self) -> str:
        """mutmut mutant-name glob for every mutant of this function."""
        return f"{self.mangled}{MUTANT_MARKER}*"


def changed_functions(changes: Iterable[FileChange], sources: Mapping[str, str],
                      import_root: str) -> tuple[list[FunctionRef], list[str]]:
    """Functions touched by the changes to the files in ``sources`` (repo path → new text).

    ``import_root`` is the directory the top-level packages live in ('' for the repository root).
    Returns the functions and notes for files that could not be read as Python.
    """
    found: dict[str, FunctionRef] = {}
    notes: list[str] = []
    root = PurePosixPath(import_root) if import_root not in ("", ".") else None
    for change in changes:
        if change.deleted or change.path not in sources:
            continue
        try:
            spans = function_spans(sources[change.path])
        except SyntaxError as exc:
            notes.append(f"{change.path}: not valid Python ({exc.msg}, line {exc.lineno}); its mutants are skipped")
            continue
        path = PurePosixPath(change.path)
        relative = str(path.relative_to(root)) if root is not None else str(path)
        module = module_name(relative)
        for span in touched_functions(spans, change):
            ref = FunctionRef(module, span.key, span.qualname, change.path)
            found.setdefault(ref.mangled, ref)
    return sorted(found.values(), key=lambda f: (f.path, f.mangled)), notes


# --- mutants ------------------------------------------------------------------------------------------

def mangled_of(mutant: str) -> str:
    """``pkg.mod.x_f__mutmut_3`` → ``pkg.mod.x_f``."""
    return mutant.partition(MUTANT_MARKER)[0]


def split_mangled(mangled: str) -> tuple[str, str]:
    """``pkg.mod.xǁCǁm`` → (``pkg.mod``, ``xǁCǁm``)."""
    module, _, key = mangled.rpartition(".")
    return module, key


def readable(key: str) -> str:
    """``xǁCǁm`` → ``C.m``; ``x_f`` → ``f``."""
    if key.startswith("x" + CLASS_SEPARATOR):
        _, cls, name = key.split(CLASS_SEPARATOR, 2)
        return f"{cls}.{name}"
    return key[2:] if key.startswith("x_") else key


def expand_globs(globs: Iterable[str], mutants: Iterable[str]) -> list[str]:
    """Every mutant name matching one of the globs (mutmut matches names with ``fnmatch`` too)."""
    patterns = list(globs)
    return sorted(m for m in mutants if any(fnmatch.fnmatchcase(m, p) for p in patterns))


# --- tests → functions --------------------------------------------------------------------------------

def is_test_path(path: str, test_roots: Iterable[str] = ()) -> bool:
    """Whether a repository path is test code: under a test root or named like pytest test modules."""
    p = PurePosixPath(path)
    if p.suffix != ".py":
        return False
    for root in test_roots:
        root = root.rstrip("/")
        if root and (path == root or path.startswith(root + "/")):
            return True
    name = p.name
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" or \
        any(part in ("tests", "test") for part in p.parts[:-1])


def _test_file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def affected_tests(changed_test_paths: Iterable[str], known_tests: Iterable[str]) -> set[str]:
    """Test node ids a change to test code can alter.

    A changed test module alters its own tests; any other changed file in a test tree (``conftest.py``,
    helpers, fixtures' data) may alter every test under its directory.
    """
    tests = list(known_tests)
    affected: set[str] = set()
    for path in changed_test_paths:
        name = PurePosixPath(path).name
        if name.startswith("test_") or name.endswith("_test.py"):
            affected.update(t for t in tests if _test_file(t) == path)
        else:
            folder = str(PurePosixPath(path).parent)
            prefix = "" if folder == "." else folder + "/"
            affected.update(t for t in tests if _test_file(t).startswith(prefix))
    return affected


def functions_reached(tests_by_function: Mapping[str, Iterable[str]], tests: set[str]) -> set[str]:
    """Mangled names of the functions (mutmut stats keys) any of ``tests`` executes."""
    return {name for name, hit_by in tests_by_function.items() if tests.intersection(hit_by)}


__all__ = [
    "CLASS_SEPARATOR", "FileChange", "FunctionRef", "FunctionSpan", "affected_tests", "changed_functions",
    "expand_globs", "function_spans", "functions_reached", "is_test_path", "mangle",
    "mangled_of", "module_name", "parse_unified_diff", "readable", "split_mangled", "touched_functions",
]
