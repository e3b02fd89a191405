"""Hypothesis properties of the loader, the layer merge, and model/schema agreement."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trunkline.config import TrunklineConfig, config_json_schema, merge_layers, parse_config

# --- valid configurations --------------------------------------------------------------------

text_chars = st.characters(exclude_categories=("Cs",))  # lone surrogates cannot be encoded at all
labels = st.text(text_chars, min_size=1, max_size=50)
check_names = st.text(text_chars, min_size=1, max_size=80)
levels = st.sampled_from(["read", "triage", "write", "maintain", "admin"])
command_names = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
extends_refs = st.one_of(
    st.none(),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,10}/[A-Za-z0-9._-]{1,12}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,8}/[a-z0-9]{1,8}:[a-z0-9_][a-z0-9_/-]{0,15}\.yml", fullmatch=True),
).filter(lambda ref: ref is None or ".." not in ref.replace(":", "/").split("/")[1:])

merge_sections = st.fixed_dictionaries(
    {},
    optional={
        "method": st.sampled_from(["merge", "squash", "rebase"]),
        "label": labels,
        "required_approvals": st.integers(0, 100),
        "require_up_to_date": st.booleans(),
        "delete_branch": st.booleans(),
        "priority_label": labels,
        "hold_labels": st.lists(labels, max_size=4),
        "required_checks": st.lists(check_names, max_size=4),
    },
)
commands_sections = st.fixed_dictionaries(
    {},
    optional={
        "prefix": st.text(
            st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=5
        ).filter(lambda p: not any(c.isspace() for c in p)),
        "permissions": st.dictionaries(command_names, levels, max_size=4),
        "ignore_edited": st.booleans(),
    },
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "version": st.just(1),
        "extends": extends_refs,
        "merge": merge_sections,
        "commands": commands_sections,
    },
)


def _conflict_free(data: dict[str, Any]) -> bool:
    merge = data.get("merge", {})
    hold = merge.get("hold_labels", ["do-not-merge", "hold"])
    return (
        merge.get("label", "auto-merge") not in hold
        and merge.get("priority_label", "merge-priority") not in hold
    )


# The YAML text is written by a small emitter here rather than ruamel's dumper: hypothesis found
# ruamel's emitter itself unfaithful on corner cases (a raw NEL inside quotes, a long double-quoted
# line folded right after an escape, `[?0]` in flow style), which would test the dumper, not us.
_PLAIN = re.compile(r"[a-z][a-z0-9/-]*")
_NOT_PLAIN = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def _raw_ok(char: str) -> bool:
    """Characters YAML allows unescaped inside a double-quoted scalar, minus line breaks and BOM."""
    code = ord(char)
    if 0x20 <= code <= 0x7E:
        return char not in '"\\'
    return (0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000) and code != 0xFEFF


def _scalar(value: Any, raw_unicode: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.fullmatch(value) and value not in _NOT_PLAIN:
        return value
    out = []
    for char in value:
        code = ord(char)
        if (code < 0x80 or raw_unicode) and _raw_ok(char):
            out.append(char)
        elif char in '"\\':
            out.append("\\" + char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02X}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def dump(data: Any, flow: bool, raw_unicode: bool = False, indent: str = "") -> str:
    """YAML for plain data: block style (or flow style), every string safely quoted when needed."""
    if flow:
        return _flow(data, raw_unicode) + "\n"
    lines = []
    for key, value in data.items():
        head = f"{indent}{_scalar(key, raw_unicode)}:"
        if isinstance(value, dict) and value:
            lines.append(head + "\n" + dump(value, False, raw_unicode, indent + "  "))
        elif isinstance(value, list) and value:
            items = "".join(f"{indent}  - {_scalar(item, raw_unicode)}\n" for item in value)
            lines.append(head + "\n" + items)
        else:
            lines.append(f"{head} {_flow(value, raw_unicode)}\n")
    return "".join(lines)


def _flow(value: Any, raw_unicode: bool) -> str:
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{_scalar(k, raw_unicode)}: {_flow(v, raw_unicode)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v, raw_unicode) for v in value) + "]"
    return _scalar(value, raw_unicode)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=configs, flow=st.booleans(), raw_unicode=st.booleans())
def test_dumped_valid_configs_parse_back_to_the_same_model(data, flow, raw_unicode):
    assume(_conflict_free(data))
    source = TrunklineConfig.model_validate(data)
    result = parse_config(dump(data, flow, raw_unicode))
    assert result.issues == []
    assert result.config == source
    # the published JSON Schema accepts everything the model accepts
    jsonschema.Draft202012Validator(config_json_schema()).validate(data)


@settings(max_examples=60, deadline=None)
@given(data=configs)
def test_a_model_dump_is_itself_a_valid_config(data):
    assume(_conflict_free(data))
    config = TrunklineConfig.model_validate(data)
    assert parse_config(dump(config.model_dump(mode="json"), False)).config == config


# --- garbage never raises and every issue is placed inside the text -------------------------

fragments = st.sampled_from(
    [
        "merge:",
        "commands:",
        "permissions:",
        "hold_labels:",
        "method: ",
        "squash",
        "version: ",
        "extends: ",
        "a/b",
        "\n",
        "\n  ",
        "  ",
        "- ",
        ": ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "'",
        '"',
        "#",
        "|",
        ">",
        "\t",
        "? ",
        "!",
        "!!set ",
        "!!binary ",
        "&a ",
        "*a",
        "<<: ",
        "%YAML 1.1\n",
        "---",
        "...",
        "0x1F",
        "1",
        "-1",
        "true",
        "null",
        "~",
        "2024-01-01",
        "\r",
        "\r\n",
        "\x85",
        "\u2028",
        "\x00",
        "\x07",
        "\ufeff",
        "é",
        "\\",
        "@",
        "`",
        "%",
    ]
)
garbage = st.one_of(
    st.lists(fragments, max_size=30).map("".join),
    st.text(max_size=200),
)


@settings(max_examples=300, deadline=None)
@given(text=garbage)
def test_parse_config_never_raises_and_places_issues_inside_the_text(text):
    result = parse_config(text, "x.yml")
    line_count = max(1, len(text.splitlines()))
    for issue in result.issues:
        assert 1 <= issue.line <= line_count, (str(issue), line_count)
        assert issue.column >= 1
        assert issue.file == "x.yml" and issue.message
        assert str(issue).startswith(f"x.yml:{issue.line}:{issue.column} ")
    assert (result.config is None) == bool(result.issues)
    assert result.ok == (result.config is not None)


# --- merge_layers ----------------------------------------------------------------------------

keys = st.sampled_from(["a", "b", "c", "merge", "method"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3))
values = st.recursive(
    scalars | st.lists(scalars, max_size=3),
    lambda inner: st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
mappings = st.dictionaries(keys, values, max_size=4)


@given(mappings)
def test_merge_with_nothing_is_identity(layer):
    assert merge_layers([layer]) == layer
    assert merge_layers([{}, layer]) == layer
    assert merge_layers([layer, {}]) == layer
    assert merge_layers([]) == {}


def _leaves(mapping: dict, prefix: tuple = ()):
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _get(mapping: dict, path: tuple) -> Any:
    for part in path:
        mapping = mapping[part]
    return mapping


@given(st.lists(mappings, min_size=1, max_size=4))
def test_last_layer_wins_on_scalars_and_lists(layers):
    merged = merge_layers(layers)
    for path, value in _leaves(layers[-1]):
        if isinstance(value, dict):  # an empty mapping merges into whatever is there
            assert isinstance(_get(merged, path), dict)
        else:
            assert _get(merged, path) == value


@given(st.lists(mappings, min_size=1, max_size=4))
def test_keys_from_all_layers_are_present(layers):
    merged = merge_layers(layers)
    for layer in layers:
        assert set(layer) <= set(merged)
    # nested keys survive unless a later layer replaced their parent with a non-mapping
    for index, layer in enumerate(layers):
        for path, _ in _leaves(layer):
            replaced = any(_replaces(later, path) for later in layers[index + 1 :])
            if not replaced:
                _get(merged, path)  # raises KeyError when lost


def _replaces(layer: dict, path: tuple) -> bool:
    current: Any = layer
    for part in path[:-1]:
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
        if not isinstance(current, dict):
            return True
    return False


@given(mappings, mappings)
def test_repeating_a_layer_changes_nothing(a, b):
    # (merging is deliberately not associative: a later None replaces a whole section)
    assert merge_layers([a, a]) == a
    assert merge_layers([a, b, b]) == merge_layers([a, b])


@given(st.lists(mappings, min_size=1, max_size=3))
def test_merge_does_not_modify_or_alias_its_inputs(layers):
    before = copy.deepcopy(layers)
    merged = merge_layers(layers)
    assert layers == before
    _scribble(merged)
    assert layers == before


def _scribble(value: Any) -> None:
    if isinstance(value, dict):
        for child in list(value.values()):
            _scribble(child)
        value["scribbled"] = True
    elif isinstance(value, list):
        value.append("scribbled")
