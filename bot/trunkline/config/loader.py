"""Parse ``.github/trunkline.yml`` text into a :class:`TrunklineConfig` with precise, friendly errors.

Pure: text in, :class:`ConfigResult` out, no IO, and never an exception for bad input.

Pipeline: ruamel.yaml's round-trip loader (it remembers the line and column of every key and value)
→ plain Python data plus a position table keyed by path (:class:`Layer`) → pydantic validation →
each pydantic error becomes a :class:`ConfigIssue` that points at the offending value (or at the key
for unknown keys and empty values) with a message written for people, not for pydantic users.

Issue format (``str(issue)``)::

    .github/trunkline.yml:14:5 merge.method: 'squosh' is not one of merge, squash, rebase

Line and column are 1-based. The key part is omitted when an issue concerns no key (YAML syntax
errors): ``.github/trunkline.yml:3:9 invalid YAML: mapping values are not allowed here``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
import typing
import warnings
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MantissaNoDotYAML1_1Warning, MarkedYAMLError, ReusedAnchorWarning
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from trunkline.config.model import (
    CONFIG_PATH,
    EXTENDS_PATTERN,
    Section,
    TrunklineConfig,
)

# Far beyond any real configuration; guards against alias "billion laughs" expansion and
# pathological nesting, which would otherwise exhaust memory or the Python stack.
MAX_TEXT_CHARS = 256_000
MAX_VALUES = 20_000
MAX_DEPTH = 50

Path = tuple[str | int, ...]
# (file, line, column) — 1-based
Location = tuple[str, int, int]
Locator = Callable[[Path, bool], Location]

# ruamel warns (to the process's stderr) about legal-but-odd input such as a redefined anchor. That
# is about the user's text, not our program, so it must not end up in the bot's logs.
for _category in (ReusedAnchorWarning, MantissaNoDotYAML1_1Warning):
    warnings.filterwarnings("ignore", category=_category)

_YAML_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")

# pattern -> what a value matching it looks like, for messages
_PATTERN_HINTS = {
    EXTENDS_PATTERN: "of the form owner/repo or owner/repo:path",
    r"^[a-z][a-z0-9-]*$": "a command name (lowercase letters, digits and '-', starting with a letter)",
    r"^\S+$": "text without spaces",
}

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one configuration file."""

    file: str
    line: int
    column: int
    key: str  # dotted path like "merge.method" ("" when the problem is not about a key)
    message: str
    level: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where} {self.key}: {self.message}" if self.key else f"{where} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConfigResult:
    """Outcome of parsing one file: ``config`` is None whenever there is an error."""

    config: TrunklineConfig | None
    issues: list[ConfigIssue]
    file: str = CONFIG_PATH

    @property
    def ok(self) -> bool:
        return self.config is not None and not any(i.level == "error" for i in self.issues)


@dataclass(frozen=True)
class Pos:
    """1-based positions of a key and of its value."""

    key_line: int
    key_col: int
    value_line: int
    value_col: int


@dataclass
class Layer:
    """One configuration file after YAML parsing, before validation.

    ``data`` is plain dicts/lists/scalars (None when the file is unusable: YAML error or a
    non-mapping top level); ``positions`` maps a path such as ``("merge", "hold_labels", 0)`` to
    where that key and value are written.
    """

    file: str
    data: dict[str, Any] | None
    positions: dict[Path, Pos] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    root: tuple[int, int] = (1, 1)

    def locate(self, path: Path, at_key: bool) -> Location:
        """Where to point for ``path``: its value, its key, or the nearest written ancestor's key."""
        pos = self.positions.get(tuple(path))
        if pos is not None:
            return (
                (self.file, pos.key_line, pos.key_col)
                if at_key
                else (self.file, pos.value_line, pos.value_col)
            )
        for cut in range(len(path) - 1, 0, -1):
            pos = self.positions.get(tuple(path[:cut]))
            if pos is not None:
                return self.file, pos.key_line, pos.key_col
        return self.file, self.root[0], self.root[1]

    def has(self, path: Path) -> bool:
        return tuple(path) in self.positions


# ---------------------------------------------------------------------------------------------
# public entry points


def parse_config(text: str, filename: str = CONFIG_PATH) -> ConfigResult:
    """Parse and validate one configuration file's text. Pure; never raises for bad input."""
    layer = load_layer(text, filename)
    if layer.data is None:
        return ConfigResult(None, layer.issues, filename)
    config, issues = validate_data(layer.data, layer.locate)
    issues = sorted_issues([*layer.issues, *issues])
    if any(i.level == "error" for i in issues):
        config = None
    return ConfigResult(config, issues, filename)


def validate_data(data: dict[str, Any], locate: Locator) -> tuple[TrunklineConfig | None, list[ConfigIssue]]:
    """Validate plain data against the model; issues are placed with ``locate(path, at_key)``."""
    try:
        return TrunklineConfig.model_validate(data), []
    except ValidationError as exc:
        issues = [issue_for_error(err, data, locate) for err in exc.errors()]
        return None, sorted_issues(issues)


def sorted_issues(issues: Sequence[ConfigIssue]) -> list[ConfigIssue]:
    """Deduplicated, ordered by file, line, column."""
    unique = dict.fromkeys(issues)
    return sorted(unique, key=lambda i: (i.file, i.line, i.column, i.key, i.message))


# ---------------------------------------------------------------------------------------------
# YAML → Layer


def load_layer(text: str, filename: str = CONFIG_PATH) -> Layer:
    """Parse YAML text into plain data plus positions. Never raises for bad input."""
    if len(text) > MAX_TEXT_CHARS:
        msg = f"file is too large ({len(text)} characters; the limit is {MAX_TEXT_CHARS})"
        return Layer(filename, None, issues=[ConfigIssue(filename, 1, 1, "", msg)])
    root = _first_content(text)
    try:
        node = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as exc:
        return Layer(filename, None, issues=[_yaml_issue(exc, text, filename)], root=root)
    except ReaderError as exc:
        line, col = _index_to_line_col(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        msg = f"invalid YAML: control character U+{code:04X} is not allowed"
        return Layer(filename, None, issues=[ConfigIssue(filename, line, col, "", msg)], root=root)
    except Exception as exc:  # noqa: BLE001
        # ruamel's parser fails with assorted internal errors (NotImplementedError, RecursionError,
        # ...) on some malformed text; bad input must still end as one clear issue, never a crash.
        msg = f"invalid YAML: could not be read ({type(exc).__name__})"
        return Layer(filename, None, issues=[ConfigIssue(filename, 1, 1, "", msg)], root=root)

    if node is None:  # empty file or only comments: all defaults
        return Layer(filename, {}, root=root)
    if not isinstance(node, dict):
        got = _describe(_plain_scalar(node)) if not isinstance(node, list) else "a list"
        line, col = _node_start(node) or root
        msg = f"the top level must be a mapping of settings (like 'merge:'), got {got}"
        return Layer(filename, None, issues=[ConfigIssue(filename, line, col, "", msg)], root=root)

    builder = _Builder(filename, text)
    data = builder.convert(node, ())
    layer = Layer(filename, data, builder.positions, builder.issues, root=root)
    if any(i.level == "error" for i in layer.issues):
        layer.data = None
        return layer
    _normalise_sections(layer.data, TrunklineConfig)
    return layer


class _Builder:
    """Converts ruamel's round-trip nodes into plain data, recording positions as it goes."""

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.text = text
        self.positions: dict[Path, Pos] = {}
        self.issues: list[ConfigIssue] = []
        self.count = 0
        self._active: set[int] = set()

    def convert(self, node: Any, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_VALUES or len(path) > MAX_DEPTH:
            if not any(i.message.startswith("configuration ") for i in self.issues):
                if self.count > MAX_VALUES:
                    message = f"configuration has more than {MAX_VALUES} values (check for repeated aliases)"
                else:
                    message = f"configuration is nested more than {MAX_DEPTH} levels deep"
                self._issue(path[:2], message)
            return None
        if not isinstance(node, (dict, list)):
            return _plain_scalar(node)
        if id(node) in self._active:  # an alias inside its own anchor: `&a [*a]`
            self._issue(path, "an alias refers to the anchor that contains it")
            return None
        self._active.add(id(node))
        try:
            return (
                self._convert_mapping(node, path)
                if isinstance(node, dict)
                else self._convert_list(node, path)
            )
        finally:
            self._active.discard(id(node))

    def _convert_mapping(self, node: dict, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for raw_key, value in node.items():
            key = _key_text(raw_key)
            child = (*path, key)
            if key in out:  # e.g. `1:` and `"1":` — distinct in YAML, the same key here
                pos = self._mapping_pos(node, raw_key)
                message = f"key '{key}' appears more than once"
                self.issues.append(
                    ConfigIssue(self.filename, pos.key_line, pos.key_col, dotted(child), message)
                )
                continue
            self.positions[child] = self._mapping_pos(node, raw_key)
            out[key] = self.convert(value, child)
        return out

    def _convert_list(self, node: list, path: Path) -> list[Any]:
        out = []
        lc = getattr(node, "lc", None)
        for index, value in enumerate(node):
            child = (*path, index)
            spot = _lc_get(lc, index)
            if spot is not None and len(spot) >= 2:
                self.positions[child] = Pos(spot[0] + 1, spot[1] + 1, spot[0] + 1, spot[1] + 1)
            out.append(self.convert(value, child))
        return out

    def _mapping_pos(self, node: dict, raw_key: Any) -> Pos:
        spot = _lc_get(getattr(node, "lc", None), raw_key)
        if spot is None:  # key merged in with `<<: *anchor`: look where the anchor wrote it
            for source in getattr(node, "merge", None) or []:
                source = source[-1] if isinstance(source, tuple) else source
                spot = _lc_get(getattr(source, "lc", None), raw_key)
                if spot is not None:
                    break
        if spot is None or len(spot) < 4:
            line, col = _node_start(node) or (1, 1)
            return Pos(line, col, line, col)
        return Pos(spot[0] + 1, spot[1] + 1, spot[2] + 1, spot[3] + 1)

    def _issue(self, path: Path, message: str, at_key: bool = False) -> None:
        pos = self.positions.get(path)
        if pos is None:
            line, col = 1, 1
        else:
            line, col = (pos.key_line, pos.key_col) if at_key else (pos.value_line, pos.value_col)
        self.issues.append(ConfigIssue(self.filename, line, col, dotted(path), message))


def _lc_get(lc: Any, key: Any) -> Any:
    try:
        return None if lc is None else lc.data.get(key)
    except (TypeError, AttributeError):  # unhashable or odd keys
        return None


def _node_start(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None or getattr(lc, "line", None) is None:
        return None
    return lc.line + 1, (lc.col or 0) + 1


def _key_text(key: Any) -> str:
    """Mapping keys as the user wrote them; YAML allows non-string keys (``1:``, ``true:``)."""
    if isinstance(key, (bool, ScalarBoolean)):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _plain_scalar(value: Any) -> Any:
    """ruamel's round-trip scalar subclasses (ScalarInt, LiteralScalarString...) → builtins."""
    if isinstance(value, (bool, ScalarBoolean)):  # ScalarBoolean (anchored bool) subclasses int
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _normalise_sections(data: dict[str, Any], model: type[BaseModel]) -> None:
    """``merge:`` with everything commented out is an empty section, not ``null``. A top-level section
    that is off unless present (``deploy:``, default ``None``) stays ``null``: absent."""
    for name, info in model.model_fields.items():
        section = _section_class(info.annotation)
        if section is None or name not in data:
            continue
        if data[name] is None:
            if model is TrunklineConfig and info.default is None and info.default_factory is None:
                continue
            data[name] = {}
        if isinstance(data[name], dict):
            _normalise_sections(data[name], section)


def _section_class(annotation: Any) -> type[Section] | None:
    annotation = _unwrap(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def _first_content(text: str) -> tuple[int, int]:
    """Line/column of the first character that is not blank, a comment or a document marker."""
    for number, line in enumerate(_yaml_lines(text), start=1):
        stripped = line.lstrip(" \t\ufeff")
        if stripped and not stripped.startswith(("#", "%", "---")):
            return number, len(line) - len(stripped) + 1
    return 1, 1


def _yaml_lines(text: str) -> list[str]:
    lines = _YAML_BREAK.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # a final line break does not start another line
    return lines


def _clamp(text: str, line: int, col: int) -> tuple[int, int]:
    """Keep a position inside the text (ruamel reports end-of-stream one line past the end)."""
    lines = _yaml_lines(text)
    line = max(1, line)
    if line > len(lines):
        return len(lines), len(lines[-1]) + 1
    return line, max(1, col)


def _index_to_line_col(text: str, index: int) -> tuple[int, int]:
    before = text[: max(0, index)]
    breaks = list(_YAML_BREAK.finditer(before))
    line = len(breaks) + 1
    col = index - (breaks[-1].end() if breaks else 0) + 1
    return _clamp(text, line, col)


def _yaml_issue(exc: MarkedYAMLError, text: str, filename: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    line, col = _clamp(text, line, col)
    problem = (exc.problem or exc.context or "syntax error").strip()
    message = f"invalid YAML: {problem}"
    context_mark = exc.context_mark
    if exc.context and exc.problem and context_mark is not None and context_mark.line + 1 != line:
        message += f" ({exc.context.strip()} at line {context_mark.line + 1})"
    return ConfigIssue(filename, line, col, "", message)


# ---------------------------------------------------------------------------------------------
# pydantic error → ConfigIssue


def dotted(path: Sequence[str | int]) -> str:
    """``("merge", "hold_labels", 0)`` → ``merge.hold_labels[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def issue_for_error(err: Any, data: dict[str, Any], locate: Locator) -> ConfigIssue:
    """Translate one pydantic error (``ValidationError.errors()`` item) into a ConfigIssue."""
    kind = err["type"]
    path, value, on_key = _data_path(err["loc"], data, kind)
    empty = value is None and kind != "missing"
    if kind == "missing":
        file, line, col = locate(path[:-1], True) if len(path) > 1 else locate((), True)
    else:
        value_is_section = isinstance(value, dict) and not on_key
        file, line, col = locate(path, kind == "extra_forbidden" or on_key or empty or value_is_section)
    return ConfigIssue(file, line, col, dotted(path), _message(err, path, value, on_key))


def _data_path(loc: Sequence[Any], data: Any, kind: str) -> tuple[Path, Any, bool]:
    """Follow pydantic's ``loc`` through the data; drop parts that are validator tags, not keys."""
    path: list[str | int] = []
    current: Any = data
    on_key = False
    for index, part in enumerate(loc):
        if part == "[key]":
            on_key = True
            continue
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif kind == "missing" and index == len(loc) - 1:
            path.append(part)
            current = None
    if on_key and path:
        current = path[-1]
    return tuple(path), current, on_key


def _message(err: Any, path: Path, value: Any, on_key: bool) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_key_message(path)
    if kind == "missing":
        return f"missing required key '{path[-1]}'" if path else "missing required key"
    expected = _expected_phrase(kind, path, on_key)
    if value is None and expected:
        return f"missing value (expected {expected})"
    shown = _describe(value)
    if kind in ("literal_error", "enum"):
        choices = _choices(path) or []
        if len(choices) == 1:
            return f"must be {choices[0]}, got {shown}"
        return (
            f"{shown} is not one of {', '.join(map(str, choices))}" if choices else f"{shown}: {err['msg']}"
        )
    if kind in _EXPECTED:
        hint = ""
        if kind == "string_type" and isinstance(value, (int, float, bool, dt.date)):
            hint = " (put it in quotes to use it as text)"
        return f"expected {_EXPECTED[kind]}, got {shown}{hint}"
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be greater than", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be less than", "lt"),
    }
    if kind in bounds:
        text, name = bounds[kind]
        return f"{text} {ctx.get(name)}, got {shown}"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must be at least {minimum} characters, got {shown}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters, got {len(value)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} items, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items, got {ctx.get('actual_length')}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        hint = _PATTERN_HINTS.get(pattern)
        return f"{shown} must be {hint}" if hint else f"{shown} does not match the pattern {pattern}"
    message = str(err.get("msg", "invalid value"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _unknown_key_message(path: Path) -> str:
    key = str(path[-1]) if path else ""
    model = _model_at(path[:-1])
    if model is None:
        return f"unknown key '{key}'"
    known = list(model.model_fields)
    hint = model.key_hints.get(key) if issubclass(model, Section) else None
    match = hint or next(iter(difflib.get_close_matches(key, known, n=1, cutoff=0.6)), None)
    if match:
        return f"unknown key '{key}' (did you mean '{match}'?)"
    return f"unknown key '{key}' (known keys: {', '.join(known)})"


def _expected_phrase(kind: str, path: Path, on_key: bool) -> str | None:
    if kind in ("literal_error", "enum"):
        choices = _choices(path)
        return f"one of {', '.join(map(str, choices))}" if choices else "one of the allowed values"
    return _EXPECTED.get(kind)


def _describe(value: Any) -> str:
    """How a YAML value is shown in a message: strings quoted, booleans/null in YAML spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"the date {value.isoformat()}"
    if isinstance(value, AbstractSet):
        return "a set"
    if hasattr(value, "tag") and hasattr(value, "value"):  # ruamel TaggedScalar: `!custom text`
        return f"{_describe(_plain_scalar(value.value))} tagged {value.tag}"
    return f"a {type(value).__name__} value"


# --- model introspection: which model/field governs a data path ------------------------------


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the underlying type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType) and args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                annotation = rest[0]
                continue
        return annotation


def _annotation_at(path: Path) -> Any:
    annotation: Any = TrunklineConfig
    for part in path:
        annotation = _unwrap(annotation)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part))
            if info is None:
                return None
            annotation = info.annotation
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        elif origin in (list, tuple, set):
            annotation = typing.get_args(annotation)[0]
        else:
            return None
    return _unwrap(annotation)


def _model_at(path: Path) -> type[BaseModel] | None:
    annotation = _annotation_at(path)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _choices(path: Path) -> list[Any] | None:
    annotation = _annotation_at(path)
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    if isinstance(annotation, type) and hasattr(annotation, "__members__"):  # Enum
        return [m.value for m in annotation]  # type: ignore[attr-defined]
    return None
