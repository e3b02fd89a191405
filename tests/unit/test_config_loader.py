"""parse_config: exact positions and wording of issues, defaults, and the example file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from trunkline.config import ConfigIssue, TrunklineConfig, parse_config
from trunkline.config.loader import MAX_TEXT_CHARS, issue_for_error, load_layer

EXAMPLE = Path(__file__).resolve().parents[2] / ".github" / "trunkline.yml"


def lines(text: str, filename: str = ".github/trunkline.yml") -> list[str]:
    result = parse_config(text, filename)
    assert result.config is None, "a config with issues must not be usable"
    assert not result.ok
    return [str(issue) for issue in result.issues]


# --- exact messages -----------------------------------------------------------------------------


def test_bad_enum_points_at_the_value():
    text = "version: 1\nmerge:\n  method: squosh\n"
    assert lines(text) == [
        ".github/trunkline.yml:3:11 merge.method: 'squosh' is not one of merge, squash, rebase"
    ]


def test_wrong_types():
    text = (
        "merge:\n"
        "  required_approvals: abc\n"
        "  delete_branch: yes\n"  # YAML 1.2: a string, not a boolean
        "  label: 12\n"
        "  hold_labels: hold\n"
    )
    assert lines(text) == [
        ".github/trunkline.yml:2:23 merge.required_approvals: expected an integer, got 'abc'",
        ".github/trunkline.yml:3:18 merge.delete_branch: expected true or false, got 'yes'",
        ".github/trunkline.yml:4:10 merge.label: expected a string, got 12 (put it in quotes to use it as text)",
        ".github/trunkline.yml:5:16 merge.hold_labels: expected a list, got 'hold'",
    ]


def test_unknown_keys_point_at_the_key_and_suggest():
    text = "merge:\n  methd: squash\n  strict: false\nfoo: 1\n"
    assert lines(text) == [
        ".github/trunkline.yml:2:3 merge.methd: unknown key 'methd' (did you mean 'method'?)",
        ".github/trunkline.yml:3:3 merge.strict: unknown key 'strict' (did you mean 'require_up_to_date'?)",
        ".github/trunkline.yml:4:1 foo: unknown key 'foo' (known keys: version, extends, merge, commands, contracts, ratchets, tiers, flaky, deploy, agents)",
    ]


def test_yaml_syntax_error_is_one_issue_at_the_problem_mark():
    text = "merge:\n  method: squash\n   label: x\n"
    assert lines(text) == [".github/trunkline.yml:3:9 invalid YAML: mapping values are not allowed here"]


def test_yaml_error_at_end_of_stream_stays_inside_the_text():
    assert lines("merge: [a, b\n") == [
        ".github/trunkline.yml:1:13 invalid YAML: expected ',' or ']', but got '<stream end>'"
    ]


def test_duplicate_keys_are_reported_at_the_second_one():
    (issue,) = parse_config("merge: {}\ncommands: {}\nmerge: {}\n").issues
    assert (issue.line, issue.column, issue.key) == (3, 1, "")
    assert "duplicate key" in issue.message


def test_control_characters():
    assert lines("merge:\n  label: a\x01b\n") == [
        ".github/trunkline.yml:2:11 invalid YAML: control character U+0001 is not allowed"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- merge\n- squash\n",
            ".github/trunkline.yml:1:1 the top level must be a mapping of settings (like 'merge:'), got a list",
        ),
        (
            "# hello\nsquash\n",
            ".github/trunkline.yml:2:1 the top level must be a mapping of settings (like 'merge:'), got 'squash'",
        ),
        (
            "42\n",
            ".github/trunkline.yml:1:1 the top level must be a mapping of settings (like 'merge:'), got 42",
        ),
    ],
)
def test_top_level_must_be_a_mapping(text, expected):
    assert lines(text) == [expected]


def test_nested_section_errors():
    text = (
        "commands:\n"
        "  permissions:\n"
        "    merge: god\n"
        "    Deploy: admin\n"
        "  prefix: ''\n"
        "merge:\n"
        "  required_approvals: -1\n"
        "  required_checks: [ci, 3, '']\n"
    )
    assert lines(text) == [
        ".github/trunkline.yml:3:12 commands.permissions.merge: 'god' is not one of read, triage, write, maintain, admin",
        ".github/trunkline.yml:4:5 commands.permissions.Deploy: 'Deploy' must be a command name "
        "(lowercase letters, digits and '-', starting with a letter)",
        ".github/trunkline.yml:5:11 commands.prefix: must not be empty",
        ".github/trunkline.yml:7:23 merge.required_approvals: must be at least 0, got -1",
        ".github/trunkline.yml:8:25 merge.required_checks[1]: expected a string, got 3 (put it in quotes to use it as text)",
        ".github/trunkline.yml:8:28 merge.required_checks[2]: must not be empty",
    ]


def test_empty_values_point_at_the_key():
    text = "merge:\n  method:\n  hold_labels:\n"
    assert lines(text) == [
        ".github/trunkline.yml:2:3 merge.method: missing value (expected one of merge, squash, rebase)",
        ".github/trunkline.yml:3:3 merge.hold_labels: missing value (expected a list)",
    ]


def test_section_of_the_wrong_type():
    assert lines("merge: squash\n") == [".github/trunkline.yml:1:8 merge: expected a mapping, got 'squash'"]


def test_version_and_extends():
    assert lines("version: 2\nextends: acme\n") == [
        ".github/trunkline.yml:1:10 version: must be 1, got 2",
        ".github/trunkline.yml:2:10 extends: 'acme' must be of the form owner/repo or owner/repo:path",
    ]
    assert lines("extends: acme/base:../secrets.yml\n") == [
        ".github/trunkline.yml:1:10 extends: path in 'acme/base:../secrets.yml' must not contain '..'"
    ]


def test_label_that_requests_and_blocks_merging_is_rejected():
    (issue,) = parse_config("merge:\n  label: hold\n").issues
    assert issue.key == "merge"
    assert issue.message == "'hold' is also merge.label; a label cannot both request and block merging"
    (issue,) = parse_config("merge:\n  hold_labels: [x, ship]\n  priority_label: ship\n").issues
    assert (issue.line, issue.column, issue.key) == (2, 16, "merge.hold_labels")


def test_dates_and_tags_are_described_in_yaml_terms():
    assert lines("merge:\n  label: 2024-01-01\n  priority_label: !x hi\n") == [
        ".github/trunkline.yml:2:10 merge.label: expected a string, got the date 2024-01-01 "
        "(put it in quotes to use it as text)",
        ".github/trunkline.yml:3:19 merge.priority_label: expected a string, got 'hi' tagged !x",
    ]


def test_keys_merged_from_an_anchor_point_at_the_anchor():
    text = "x-base: &base\n  methd: squash\nmerge:\n  <<: *base\n"
    assert lines(text) == [
        ".github/trunkline.yml:1:1 x-base: unknown key 'x-base' (known keys: version, extends, merge, commands, contracts, ratchets, tiers, flaky, deploy, agents)",
        ".github/trunkline.yml:2:3 merge.methd: unknown key 'methd' (did you mean 'method'?)",
    ]


def test_non_string_keys_that_collide():
    assert lines("1: a\n'1': b\n") == [".github/trunkline.yml:2:1 1: key '1' appears more than once"]


def test_filename_is_used_verbatim():
    (line,) = lines("merge: {method: x}\n", filename="configs/a.yml")
    assert line.startswith("configs/a.yml:1:17 merge.method: ")


def test_issue_format_without_key():
    issue = ConfigIssue("f.yml", 3, 9, "", "invalid YAML: boom")
    assert str(issue) == "f.yml:3:9 invalid YAML: boom"
    assert str(ConfigIssue("f.yml", 1, 2, "a.b", "bad")) == "f.yml:1:2 a.b: bad"
    assert issue.to_dict()["level"] == "error"


def test_missing_required_key_points_at_the_parent_key():
    # No current field is required; the mapping is there for sections that will have some.
    layer = load_layer("a: 1\ncommands:\n  prefix: '!'\n")
    err = {"type": "missing", "loc": ("commands", "token"), "msg": "Field required", "input": {}}
    issue = issue_for_error(err, layer.data, layer.locate)
    assert str(issue) == ".github/trunkline.yml:2:1 commands.token: missing required key 'token'"


# --- defaults, emptiness, limits ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "merge:\n  # method: rebase\n"])
def test_empty_files_and_sections_mean_defaults(text):
    result = parse_config(text)
    assert result.ok and result.issues == []
    assert result.config == TrunklineConfig()


def test_defaults_are_the_safe_ones():
    merge = TrunklineConfig().merge
    assert merge.method == "squash" and merge.required_approvals == 0
    assert merge.require_up_to_date is True and merge.delete_branch is True
    assert merge.hold_labels == ["do-not-merge", "hold"] and merge.label == "auto-merge"
    commands = TrunklineConfig().commands
    assert commands.prefix == "/" and commands.ignore_edited is True
    assert commands.level_for("anything") == "write"


def test_values_are_not_coerced():
    # an editor using the JSON Schema rejects these too; the bot must agree with it
    assert lines("merge:\n  required_approvals: '2'\n") == [
        ".github/trunkline.yml:2:23 merge.required_approvals: expected an integer, got '2'"
    ]


def test_oversized_input_is_rejected_without_parsing():
    assert lines("#" * (MAX_TEXT_CHARS + 1)) == [
        f".github/trunkline.yml:1:1 file is too large ({MAX_TEXT_CHARS + 1} characters; the limit is {MAX_TEXT_CHARS})"
    ]


def test_alias_expansion_is_bounded():
    rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    (issue,) = parse_config("\n".join(rows) + "\n").issues
    assert issue.message == "configuration has more than 20000 values (check for repeated aliases)"


def test_deep_nesting_is_bounded():
    assert lines("merge: " + "[" * 80 + "]" * 80 + "\n") == [
        ".github/trunkline.yml:1:9 merge[0]: configuration is nested more than 50 levels deep"
    ]


# --- the example configuration -------------------------------------------------------------------


def test_example_config_is_valid():
    result = parse_config(EXAMPLE.read_text(encoding="utf-8"))
    assert result.issues == [] and result.ok
    assert result.config.merge.method == "squash"
    assert result.config.commands.level_for("deploy") == "maintain"


def test_example_config_round_trips_through_yaml():
    config = parse_config(EXAMPLE.read_text(encoding="utf-8")).config
    buffer = io.StringIO()
    YAML(typ="safe", pure=True).dump(config.model_dump(mode="json"), buffer)
    again = parse_config(buffer.getvalue())
    assert again.ok and again.config == config


def test_example_config_documents_every_setting():
    written = load_layer(EXAMPLE.read_text(encoding="utf-8")).data
    text = EXAMPLE.read_text(encoding="utf-8")
    for name, info in TrunklineConfig.model_fields.items():
        assert name in written or f"# {name}:" in text, f"{name} is not shown in {EXAMPLE}"
        section = info.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            for child in section.model_fields:
                assert child in written.get(name, {}), f"{name}.{child} is not shown in {EXAMPLE}"
