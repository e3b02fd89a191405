"""``.github/trunkline-ratchets.yml``: the metrics, their floors/ceilings, and safe in-place edits.

Format (comments welcome; Trunkline keeps them, the key order and the layout when it raises a floor)::

    # Quality ratchets. Floors only move up; Trunkline raises them after merges.
    version: 1
    metrics:
      coverage:                 # a metric name: letters, digits, _ . -
        kind: coverage          # coverage | patch_coverage | mutation | latency | json
        file: coverage.json     # the tool's JSON (default per kind: see trunkline.ratchets.metrics)
        floor: 81.23            # higher is better: a floor (lower is better: `ceiling`)
        target: 95              # optional: the floor stops rising there
        step: 0.5               # optional: at most this much per `period` (pr | day | week)
        period: pr
        tolerance: 0.1          # check passes down to floor - tolerance (noise)
        required: true          # no data / below floor fails the check (false: advisory)
        updated: 2026-11-21     # written by Trunkline: UTC day of the last raise
      patch_coverage:
        kind: patch_coverage
        floor: 80
        ratchet: false          # fixed threshold (the default for patch coverage)
      p95_ms:
        kind: latency
        file: .bench/probe.json
        ceiling: 250
      errors:
        kind: json
        file: report.json
        pointer: /summary/errors
        direction: lower
        ceiling: 3

:func:`parse_baseline` validates (errors carry ``file:line:col``); :func:`apply_raises` rewrites only the
changed numbers through ruamel.yaml's round-trip mode.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from .metrics import DEFAULT_FILES, DIRECTIONS, KINDS, UNITS
from .rules import Direction, Rule

DEFAULT_PATH = ".github/trunkline-ratchets.yml"
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=60)]
RelPath = Annotated[str, StringConstraints(min_length=1, max_length=400)]


class BaselineError(ValueError):
    """The baseline file cannot be used; ``problems`` are ``file:line:col: message`` strings."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["coverage", "patch_coverage", "mutation", "latency", "json"]
    file: RelPath | None = None
    pointer: str | None = Field(None, max_length=500)
    benchmark: str | None = Field(None, min_length=1, max_length=300)
    direction: Literal["higher", "lower"] | None = None
    floor: float | None = None
    ceiling: float | None = None
    target: float | None = None
    step: float | None = Field(None, gt=0)
    period: Literal["pr", "day", "week"] = "pr"
    tolerance: float = Field(0.0, ge=0)
    required: bool = True
    ratchet: bool | None = None
    precision: int = Field(2, ge=0, le=6)
    updated: date | None = None
    description: str | None = Field(None, max_length=300)

    @model_validator(mode="after")
    def _consistent(self) -> _Entry:
        if self.file is not None and (self.file.startswith("/") or ".." in self.file.split("/")):
            raise PydanticCustomError("path", "`file` must be relative to the measured directory, without '..'")
        if self.kind == "json":
            if self.file is None:
                raise PydanticCustomError("json", "a `json` metric needs `file`")
            if self.pointer is None:
                raise PydanticCustomError("json", "a `json` metric needs `pointer` (RFC 6901, e.g. /totals/p95)")
            if self.direction is None:
                raise PydanticCustomError("json", "a `json` metric needs `direction: higher` or `direction: lower`")
        else:
            if self.pointer is not None:
                raise PydanticCustomError("kind", "`pointer` is only for `kind: json` metrics")
            implied = DIRECTIONS[self.kind]
            if self.direction is not None and self.direction != implied:
                raise PydanticCustomError("direction", "{kind} is {implied}-is-better; drop `direction`",
                                          {"kind": self.kind, "implied": implied})
        if self.pointer is not None and self.pointer and not self.pointer.startswith("/"):
            raise PydanticCustomError("pointer", "`pointer` must start with '/' (RFC 6901)")
        if self.benchmark is not None and self.kind != "latency":
            raise PydanticCustomError("kind", "`benchmark` is only for `kind: latency` metrics")
        direction = self.direction or DIRECTIONS.get(self.kind, "higher")
        right, wrong = ("floor", "ceiling") if direction == "higher" else ("ceiling", "floor")
        if getattr(self, wrong) is not None:
            raise PydanticCustomError("limit", "this metric is {d}-is-better: its limit is `{right}`, not `{wrong}`",
                                      {"d": direction, "right": right, "wrong": wrong})
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Literal[1] = 1
    metrics: dict[MetricName, _Entry] = Field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the baseline: where its number comes from and its rule."""

    name: str
    kind: str
    file: str
    rule: Rule
    pointer: str | None = None
    benchmark: str | None = None
    description: str | None = None

    @property
    def direction(self) -> Direction:
        return self.rule.direction

    @property
    def unit(self) -> str:
        return UNITS.get(self.kind, "")

    @property
    def limit_key(self) -> str:
        return self.rule.limit_name


@dataclass(frozen=True)
class Baseline:
    path: str
    metrics: tuple[MetricSpec, ...]

    def get(self, name: str) -> MetricSpec | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.metrics]


# --- reading ------------------------------------------------------------------------------------------

def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    return yaml


def _position(root: Any, loc: tuple[Any, ...]) -> tuple[int, int] | None:
    """(line, col), 1-based, of the deepest node of ``loc`` that exists in the parsed document."""
    node, found = root, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            try:
                line, col = node.lc.value(part) if not isinstance(node[part], CommentedMap) else node.lc.key(part)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            found = (line + 1, col + 1)
            node = node[part]
        else:
            break
    if found is None and isinstance(root, CommentedMap):
        found = (root.lc.line + 1, root.lc.col + 1)
    return found


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool | int | float | str | date) or node is None:
        if isinstance(node, float):
            return float(node)
        if isinstance(node, bool):
            return bool(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, str):
            return str(node)
        return node
    return node


def _message(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
    where = ".".join(loc)
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        msg = f"unknown key `{loc[-1]}`"
    if error["type"] == "literal_error" and loc and loc[-1] == "kind":
        msg = f"`kind` must be one of {', '.join(KINDS)}"
    msg = re.sub(r"^Value error, ", "", msg)
    return f"{where}: {msg}" if where else msg


def parse_baseline(text: str, path: str = DEFAULT_PATH) -> Baseline:
    """The baseline in ``text``; raises :class:`BaselineError` with positioned messages."""
    try:
        root = _yaml().load(text) if text.strip() else CommentedMap()
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        raise BaselineError([f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from exc
    if root is None:
        root = CommentedMap()
    if not isinstance(root, Mapping):
        raise BaselineError([f"{path}:1:1: the file must be a mapping with `version` and `metrics`"])
    try:
        model = _File.model_validate(_plain(root))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            pos = _position(root, tuple(error["loc"]))
            where = f"{path}:{pos[0]}:{pos[1]}" if pos else path
            problems.append(f"{where}: {_message(error)}")
        raise BaselineError(problems) from exc
    metrics = []
    for name, entry in model.metrics.items():
        direction: Direction = entry.direction or DIRECTIONS[entry.kind]  # type: ignore[assignment]
        limit = entry.floor if direction == "higher" else entry.ceiling
        ratchet = entry.ratchet if entry.ratchet is not None else entry.kind != "patch_coverage"
        rule = Rule(direction=direction, limit=limit, target=entry.target, step=entry.step, period=entry.period,
                    tolerance=entry.tolerance, required=entry.required, ratchet=ratchet,
                    precision=entry.precision, updated=entry.updated)
        metrics.append(MetricSpec(name=name, kind=entry.kind, file=entry.file or DEFAULT_FILES[entry.kind],
                                  rule=rule, pointer=entry.pointer, benchmark=entry.benchmark,
                                  description=entry.description))
    return Baseline(path, tuple(metrics))


# --- editing (round-trip) -----------------------------------------------------------------------------

def detect_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as ruamel.yaml names them, as the file already uses."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping, sequence, offset = 2, 2, 0
    for prev, line in zip(lines, lines[1:], strict=False):
        p_ind, ind = len(prev) - len(prev.lstrip()), len(line) - len(line.lstrip())
        if prev.rstrip().endswith(":") and not line.lstrip().startswith("- ") and ind > p_ind:
            mapping = ind - p_ind
            break
    for prev, line in zip(lines, lines[1:], strict=False):
        if line.lstrip().startswith("- ") and prev.split("#")[0].rstrip().endswith(":"):
            p_ind, ind = len(prev) - len(prev.lstrip()), len(line) - len(line.lstrip())
            offset = max(ind - p_ind, 0)
            sequence = offset + 2
            break
    return mapping, sequence, offset


def _insert_after(mapping: CommentedMap, after: str | None, key: str, value: Any) -> None:
    """Insert ``key`` after ``after`` (at the end when None) keeping the blank lines and comments that
    followed ``after`` below the new key (ruamel attaches them to the preceding key)."""
    keys = list(mapping)
    if after is None:
        after = keys[-1] if keys else None
    pos = keys.index(after) + 1 if after is not None else len(keys)
    mapping.insert(pos, key, value)
    if after is None:
        return
    token = mapping.ca.items.get(after)
    if token and len(token) > 2 and token[2] is not None:
        head, _, tail = token[2].value.partition("\n")
        if tail:
            token[2].value = head + "\n"
            mapping.ca.items[key] = [None, None, CommentToken("\n" + tail, CommentMark(0), None), None]


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def apply_raises(text: str, raises: Mapping[str, tuple[float, date | None]]) -> str:
    """``text`` with each named metric's floor/ceiling set to the new value (and ``updated`` to the date
    when given). Everything else — comments, key order, quoting, blank lines — stays as it was."""
    if not raises:
        return text
    baseline = parse_baseline(text)
    yaml = _yaml()
    mapping, sequence, offset = detect_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    root = yaml.load(text)
    for name, (value, when) in raises.items():
        spec = baseline.get(name)
        if spec is None:
            raise KeyError(f"no metric {name!r} in the baseline")
        entry = root["metrics"][name]
        key = spec.limit_key
        if key in entry:
            entry[key] = _number(value)
        else:
            _insert_after(entry, None, key, _number(value))
        if when is not None:
            if "updated" in entry:
                entry["updated"] = when
            else:
                _insert_after(entry, key, "updated", when)
    out = io.StringIO()
    yaml.dump(root, out)
    result = out.getvalue()
    if not text.endswith("\n") and result.endswith("\n"):
        result = result[:-1]
    return result
