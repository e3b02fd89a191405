"""The JSON path subset probes use to address one value (pure).

Grammar: ``$`` followed by any number of ``.name`` (letters, digits, ``_``, ``-``), ``['any key']`` /
``["any key"]`` and ``[index]`` (negative indexes count from the end). No wildcards or filters: an
assertion is about one value.
"""

from __future__ import annotations

import re
from typing import Any

_DOT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)")
_INDEX = re.compile(r"\[(-?\d+)\]")
_QUOTED = re.compile(r"""\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]""")

#: Returned by :func:`lookup` when the path does not exist (``None`` is a real JSON value: null).
MISSING = object()


def parse_path(path: str) -> tuple[str | int, ...]:
    """Steps of ``path`` (keys and indexes); ``ValueError`` with the position of the first bad character."""
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$'")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        for pattern in (_DOT, _INDEX, _QUOTED):
            match = pattern.match(path, pos)
            if match:
                break
        else:
            raise ValueError(f"JSON path {path!r}: unexpected {path[pos:pos + 10]!r} at character {pos + 1} "
                             "(use .name, ['key'] or [index])")
        if pattern is _INDEX:
            steps.append(int(match.group(1)))
        elif pattern is _QUOTED:
            raw = match.group(1) if match.group(1) is not None else match.group(2)
            steps.append(re.sub(r"\\(.)", r"\1", raw))
        else:
            steps.append(match.group(1))
        pos = match.end()
    return tuple(steps)


def lookup(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``, or :data:`MISSING`."""
    value = document
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
    return value


__all__ = ["MISSING", "lookup", "parse_path"]
