"""The diff a mutant makes, read from mutmut's generated file (pure).

mutmut writes every mutant of a function next to an unmutated copy (``x_f__mutmut_orig``) in
``mutants/<path>``, and indexes where each generated function sits in ``mutants/<path>.spans``
(``{"version": 1, "spans": {"x_f__mutmut_3": [start, end], ...}}``, 1-based inclusive). The diff of a
mutant is the unified diff from the copy to the mutant, both renamed back to the function's name.
Without an index (older mutmut) the functions are found by parsing the generated file.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from collections.abc import Mapping
from typing import Any

from .scope import mangled_of, readable, split_mangled


def generated_names(mutant: str) -> tuple[str, str]:
    """(unmutated copy, mutant) function names inside the generated file."""
    generated = mutant.rpartition(".")[2] if "." in mutant.partition("__mutmut_")[0] else mutant
    return mangled_of(generated) + "__mutmut_orig", generated


def _spans_from_index(index: Mapping[str, Any] | None) -> dict[str, tuple[int, int]]:
    if not isinstance(index, Mapping) or index.get("version") != 1 or not isinstance(index.get("spans"), Mapping):
        return {}
    spans = {}
    for name, value in index["spans"].items():
        if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
            spans[str(name)] = (value[0], value[1])
    return spans


def _spans_from_source(source: str, wanted: set[str]) -> dict[str, tuple[int, int]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    spans: dict[str, tuple[int, int]] = {}
    nodes = [n for n in tree.body]
    nodes += [item for n in tree.body if isinstance(n, ast.ClassDef) for item in n.body]
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in wanted:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans[node.name] = (start, node.end_lineno or node.lineno)
    return spans


def _function_text(lines: list[str], span: tuple[int, int], generated: str, name: str) -> list[str]:
    text = textwrap.dedent("".join(lines[span[0] - 1:span[1]]))
    # the trampoline decorator mutmut adds sits on the trampoline, not on these copies; only the name differs
    text = re.sub(rf"\bdef {re.escape(generated)}\(", f"def {name}(", text, count=1)
    return text.splitlines(keepends=True)


def mutant_diff(mutant: str, generated_source: str, spans_index: Mapping[str, Any] | None,
                display_path: str, context: int = 2) -> str | None:
    """Unified diff of one mutant against the original function, or None when it cannot be found."""
    orig_name, mutant_name = generated_names(mutant)
    spans = _spans_from_index(spans_index)
    if orig_name not in spans or mutant_name not in spans:
        spans = _spans_from_source(generated_source, {orig_name, mutant_name})
    if orig_name not in spans or mutant_name not in spans:
        return None
    lines = generated_source.splitlines(keepends=True)
    if max(spans[orig_name][1], spans[mutant_name][1]) > len(lines):
        return None
    name = readable(split_mangled(mangled_of(mutant))[1]).rpartition(".")[2]
    before = _function_text(lines, spans[orig_name], orig_name, name)
    after = _function_text(lines, spans[mutant_name], mutant_name, name)
    diff = difflib.unified_diff(before, after, fromfile=f"a/{display_path}", tofile=f"b/{display_path}",
                                n=context)
    text = "".join(line if line.endswith("\n") else line + "\n" for line in diff)
    return text or None


__all__ = ["generated_names", "mutant_diff"]
