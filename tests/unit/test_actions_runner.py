"""The local composite-action runner (tests/actions_runner.py) follows GitHub's contract."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actions_runner import (  # noqa: E402
    ActionError,
    condition,
    evaluate,
    expand,
    parse_command_file,
    run_action,
)

CTX = {"inputs": {"name": "World", "flag": "true", "empty": ""},
       "steps": {"a": {"outputs": {"x": "1"}, "outcome": "success", "conclusion": "success"}},
       "github": {"event_name": "push", "event": {"pull_request": {"number": 7}}, "action_path": "/act"},
       "runner": {"temp": "/tmp/r"}, "env": {}}


@pytest.mark.parametrize(("expr", "value"), [
    ("inputs.name", "World"),
    ("inputs.missing", None),
    ("steps.a.outputs.x", "1"),
    ("github.event.pull_request.number", 7),
    ("github['event_name']", "push"),
    ("inputs.name == 'world'", True),  # string equality ignores case
    ("inputs.flag == 'true' && 'yes' || 'no'", "yes"),
    ("inputs.empty || 'fallback'", "fallback"),
    ("!inputs.empty", True),
    ("1 == '1'", True),
    ("null == 0", True),
    ("contains('abc', 'B')", True),
    ("startsWith(inputs.name, 'wo')", True),
    ("format('{0}-{1}', 'a', 2)", "a-2"),
    ("fromJSON('[1,2]')[1]", 2),
    ("(1 < 2) && (3 >= 3)", True),
])
def test_expressions(expr: str, value: object) -> None:
    assert evaluate(expr, CTX) == value


def test_templates_and_conditions() -> None:
    assert expand("hi ${{ inputs.name }} in ${{ github.action_path }}", CTX) == "hi World in /act"
    assert expand("${{ inputs.flag == 'true' }}", CTX) == "true"
    assert condition(None, CTX, status="success") and not condition(None, CTX, status="failure")
    assert condition("inputs.flag == 'true'", CTX, status="success")
    assert not condition("${{ inputs.flag == 'true' }}", CTX, status="failure")  # implicit success()
    assert condition("${{ always() }}", CTX, status="failure")
    assert condition("${{ !cancelled() && inputs.flag == 'true' }}", CTX, status="failure")
    with pytest.raises(ActionError):
        evaluate("secrets.TOKEN(", CTX)


@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,10}", fullmatch=True),
                       st.text(alphabet=st.characters(blacklist_characters="\r\x1c\x1d\x1e\x85\u2028\u2029"),
                               max_size=40), max_size=5))
def test_output_files_round_trip_through_heredocs(values: dict[str, str]) -> None:
    text = "".join(f"{k}<<EOF_{i}\n{v}\nEOF_{i}\n" for i, (k, v) in enumerate(values.items())
                   if f"EOF_{i}" not in v)
    expected = {k: v for i, (k, v) in enumerate(values.items()) if f"EOF_{i}" not in v}
    assert parse_command_file(text) == expected


def test_output_file_single_lines_and_errors() -> None:
    assert parse_command_file("a=1\nb=x=y\n\n") == {"a": "1", "b": "x=y"}
    with pytest.raises(ActionError):
        parse_command_file("x<<EOF\nnever closed\n")


def _action(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "action.yml").write_text(textwrap.dedent(text))
    return folder


def test_a_composite_action_runs_with_githubs_environment(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _action(ws / "inner", """\
        name: inner
        description: d
        inputs:
          word: {description: w, required: true}
        outputs:
          echoed: {description: e, value: "${{ steps.e.outputs.out }}"}
        runs:
          using: composite
          steps:
            - id: e
              shell: bash
              env: {WORD: "${{ inputs.word }}"}
              run: echo "out=[$WORD]" >> "$GITHUB_OUTPUT"
        """)
    outer = _action(tmp_path / "outer", """\
        name: outer
        description: d
        inputs:
          name: {description: n, default: "${{ github.repository }}"}
          skip: {description: s, default: "false"}
        outputs:
          greeting: {description: g, value: "${{ steps.hello.outputs.greeting }}"}
          nested: {description: n, value: "${{ steps.inner.outputs.echoed }}"}
          skipped: {description: s, value: "${{ steps.maybe.outcome }}"}
        runs:
          using: composite
          steps:
            - id: hello
              shell: bash
              env:
                NAME: "${{ inputs.name }}"
              run: |
                test "$(basename "$GITHUB_ACTION_PATH")" = outer
                test -z "${INPUT_NAME:-}"   # GitHub sets no INPUT_* in composite run steps
                test "$PWD" = "$GITHUB_WORKSPACE"
                test "$CI" = true
                {
                  echo "greeting<<EOF"
                  echo "hello $NAME"
                  echo "from $(basename "$GITHUB_ACTION_PATH")"
                  echo "EOF"
                } >> "$GITHUB_OUTPUT"
                echo "LATER=set by GITHUB_ENV" >> "$GITHUB_ENV"
                mkdir -p "$RUNNER_TEMP/bin" && printf '#!/bin/sh\\necho tool-ran\\n' > "$RUNNER_TEMP/bin/mytool"
                chmod +x "$RUNNER_TEMP/bin/mytool" && echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
                echo "### Hello" >> "$GITHUB_STEP_SUMMARY"
            - shell: bash
              run: |
                test "$LATER" = "set by GITHUB_ENV"
                test "$(mytool)" = tool-ran
                echo "more" >> "$GITHUB_STEP_SUMMARY"
            - id: inner
              uses: ./inner
              with:
                word: ${{ steps.hello.outputs.greeting != '' && 'nested' || 'none' }}
            - id: maybe
              if: ${{ inputs.skip == 'true' }}
              shell: bash
              run: exit 1
        """)
    result = run_action(outer, {}, workspace=ws, github={"repository": "acme/app"})
    assert result.ok, result.log
    assert result.outputs == {"greeting": "hello acme/app\nfrom outer", "nested": "[nested]", "skipped": "skipped"}
    assert result.summary == "### Hello\nmore\n"
    assert result.env == {"LATER": "set by GITHUB_ENV"}

    result = run_action(outer, {"skip": "true"}, workspace=ws)
    assert not result.ok and result.outputs["skipped"] == "failure"
    with pytest.raises(ActionError, match="unexpected inputs"):
        run_action(outer, {"nope": "1"}, workspace=ws)


def test_a_failing_step_skips_the_rest_unless_asked(tmp_path: Path) -> None:
    act = _action(tmp_path / "a", """\
        name: a
        description: d
        outputs:
          after: {description: a, value: "${{ steps.after.outcome }}"}
          always: {description: a, value: "${{ steps.always.outputs.ran }}"}
        runs:
          using: composite
          steps:
            - {shell: bash, run: "exit 3", continue-on-error: false}
            - {id: after, shell: bash, run: "echo never"}
            - {id: always, if: "${{ always() }}", shell: bash, run: 'echo "ran=yes" >> "$GITHUB_OUTPUT"'}
        """)
    result = run_action(act, {}, workspace=tmp_path)
    assert result.outcome == "failure"
    assert result.outputs == {"after": "skipped", "always": "yes"}
    assert result.steps[0].returncode == 3


def test_remote_actions_are_refused(tmp_path: Path) -> None:
    act = _action(tmp_path / "r", """\
        name: r
        description: d
        runs:
          using: composite
          steps:
            - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
        """)
    with pytest.raises(ActionError, match="remote action"):
        run_action(act, {}, workspace=tmp_path)
    # nor the draft self-repository syntax: our actions must not need it (not every runner has it). Written in two
    # parts so that grepping the tree for its literal stays a clean check that no workflow or action uses it.
    draft = "$" + "/actions/setup"
    (act / "action.yml").write_text((act / "action.yml").read_text().replace(
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", draft))
    with pytest.raises(ActionError, match="only runs actions from the workspace"):
        run_action(act, {}, workspace=tmp_path)
