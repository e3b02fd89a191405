"""Command parser: explicit cases and a property test against an independent reference grammar.

The reference grammar does not parse anything: it *builds* a comment out of parts whose meaning is
known by construction (command paragraphs, and block quotes / fenced code / indented code / HTML
comments / multi-line code spans that hold look-alike "decoy" commands), then checks that the parser
finds exactly the commands that were put in, in order, with their line numbers and exact arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.commands.parser import Command, parse_commands, split_args


def names(body: str, prefix: str = "/") -> list[str]:
    return [c.name for c in parse_commands(body, prefix)]


def one(body: str, prefix: str = "/") -> Command:
    [command] = parse_commands(body, prefix)
    return command


# ---------------------------------------------------------------------------------------- explicit cases

def test_simple_command_with_args_and_options() -> None:
    c = one("/verify tier-1 budget=600")
    assert (c.name, c.args, c.kwargs, c.line_no, c.raw, c.text) == (
        "verify", ["tier-1"], {"budget": "600"}, 1, "/verify tier-1 budget=600", "tier-1 budget=600")
    assert c.error is None


@pytest.mark.parametrize("body", ["/MERGE", "/Merge", "/mErGe", "  /merge", "   /merge", "/merge   ", "/merge\t"])
def test_case_insensitive_names_and_allowed_whitespace(body: str) -> None:
    assert names(body) == ["merge"]


@pytest.mark.parametrize("body", [
    "    /merge",        # indented code
    "\t/merge",         # a tab is indented code too
    "/tmp/foo is full",  # a path, not a command
    "/merge.",          # name must end at whitespace
    "/9lives",          # names start with a letter
    "/ merge",          # nothing between prefix and name
    "//merge",
    "please /merge",    # not at the start of the line
    "- /merge",         # list item text does not start the line
    "\\/merge",         # escaped
    "`/merge`",         # code span
    "# /merge",
    "",
    "merge",
])
def test_not_commands(body: str) -> None:
    assert names(body) == []


def test_several_commands_in_order_with_line_numbers() -> None:
    body = "LGTM, thanks!\n/hold waiting for #12\n\nsome text\n/merge\n/unhold\n"
    found = parse_commands(body)
    assert [(c.name, c.line_no) for c in found] == [("hold", 2), ("merge", 5), ("unhold", 6)]
    assert found[0].args == ["waiting", "for", "#12"]
    assert found[0].text == "waiting for #12"


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_line_endings(newline: str) -> None:
    body = newline.join(["hi", "/hold a  b ", "```", "/merge", "```", "/unhold", ""])
    found = parse_commands(body)
    assert [(c.name, c.args, c.line_no) for c in found] == [("hold", ["a", "b"], 2), ("unhold", [], 6)]
    assert found[0].raw == "/hold a  b"


# ---- quotes and options

@pytest.mark.parametrize(("text", "args", "kwargs"), [
    ('"two words" x', ["two words", "x"], {}),
    ("'two words' x", ["two words", "x"], {}),
    (r'"say \"hi\"" end', ['say "hi"', "end"], {}),
    (r"'it\'s' end", ["it's", "end"], {}),
    (r'"back\\slash"', ["back\\slash"], {}),
    (r'"keep \n as is"', ["keep \\n as is"], {}),  # only \<quote> and \\ are escapes
    ("\"mixed 'quotes'\"", ["mixed 'quotes'"], {}),
    ('""', [""], {}),
    ("don't stop", ["don't", "stop"], {}),  # a quote inside a word is literal
    ("'twas flaky", ["'twas", "flaky"], {}),  # an unclosed quote is literal
    ('"unclosed here', ['"unclosed', "here"], {}),
    ('reason="two words" n=1', [], {"reason": "two words", "n": "1"}),
    ("Key=Value", [], {"key": "Value"}),  # keys are lower-cased, values kept
    ("empty=", [], {"empty": ""}),
    ('"a=b" c', ["a=b", "c"], {}),  # quoted: positional
    ("https://x.test/?a=b", ["https://x.test/?a=b"], {}),  # not a valid key before '='
    ("=x", ["=x"], {}),
    ("a.b-c_d=1", [], {"a.b-c_d": "1"}),
    ('x="a"b', [], {"x": "ab"}),
    ("   ", [], {}),
])
def test_split_args(text: str, args: list[str], kwargs: dict[str, str]) -> None:
    assert split_args(text) == (args, kwargs)


def test_duplicate_option_is_an_error_on_the_command() -> None:
    c = one("/verify tier=a TIER=b")
    assert c.error == "option 'tier' is given twice"
    assert (c.args, c.kwargs, c.text) == ([], {}, "tier=a TIER=b")


# ---- fences

@pytest.mark.parametrize("body", [
    "```\n/merge\n```",
    "~~~\n/merge\n~~~",
    "```python title='x'\n/merge\n```",
    "~~~ weird ``` info\n/merge\n~~~",
    "````\n/merge\n```\n/merge\n````",  # a shorter fence does not close
    "```\n/merge\n~~~\n/merge\n```",    # nor does the other character
    "```\n/merge\n```python\n/merge\n```",  # a closing fence has no info string
    "   ```\n/merge\n   ```",
    "```\n/merge",                      # unclosed: code to the end
    "text\n```\n/merge\n```",           # a fence interrupts a paragraph
])
def test_commands_in_fenced_code_are_ignored(body: str) -> None:
    assert names(body) == []


def test_command_after_fence_closes() -> None:
    assert [(c.name, c.line_no) for c in parse_commands("```\n/merge\n`````  \n/hold\n")] == [("hold", 4)]


def test_four_space_fence_is_indented_code_not_a_fence() -> None:
    # "    ```" is indented code; the next line is a paragraph, so /hold is a command
    assert names("text\n\n    ```\n/hold\n") == ["hold"]


def test_fence_inside_list_item_ends_with_the_item() -> None:
    body = "- item\n  ```\n  /merge\n  ```\n/hold\n"
    assert names(body) == ["hold"]


# ---- block quotes

@pytest.mark.parametrize("body", [
    "> /merge",
    ">/merge",
    "   > /merge",
    "> > /merge",
    "> quoted text\n/merge",  # lazy continuation: still inside the quote
    "- > /merge",
])
def test_commands_in_block_quotes_are_ignored(body: str) -> None:
    assert names(body) == []


def test_blank_line_ends_the_quote() -> None:
    assert names("> /merge\n\n/hold") == ["hold"]


def test_quoted_reply_then_own_command() -> None:
    body = "> @dev wrote:\n> /merge\n\nNot yet.\n/hold"
    assert names(body) == ["hold"]


# ---- indented code

def test_indented_code_block_is_ignored() -> None:
    assert names("text\n\n    /merge\n    /hold\n\n/unhold") == ["unhold"]


def test_indented_line_in_paragraph_is_still_not_a_command() -> None:
    # a paragraph continuation line, but indented four spaces: not "at the start of a line"
    assert names("text\n    /merge") == []


def test_list_item_continuation_is_a_command() -> None:
    assert names("- item\n  /merge") == ["merge"]


# ---- HTML comments and raw HTML

@pytest.mark.parametrize("body", [
    "<!--\n/merge\n-->",
    "<!-- /merge -->",
    "<!--\n\n/merge\n\n-->",            # blank lines do not end a comment block
    "text <!-- note\n/merge\n--> more",  # inline comment over several lines
    "<pre>\n/merge\n</pre>",
    "text `code\n/merge` more",          # a code span over several lines
])
def test_commands_in_comments_and_raw_html_are_ignored(body: str) -> None:
    assert names(body) == []


def test_comment_on_the_command_line_cuts_its_arguments() -> None:
    c = one("/hold flaky <!-- private note --> infra")
    assert c.args == ["flaky", "infra"]
    c = one("/hold visible <!-- hidden\n/merge\n-->")
    assert (c.name, c.args) == ("hold", ["visible"])


def test_unclosed_comment_is_literal_text() -> None:
    assert names("text <!-- never closed\n/merge") == ["merge"]


def test_comment_inside_code_span_is_code() -> None:
    assert names("text `<!--`\n/merge\n`-->`") == ["merge"]


def test_after_comment_block_commands_count() -> None:
    assert names("<!--\n/merge\n-->\n/hold") == ["hold"]


def test_details_block_text_is_visible() -> None:
    assert names("<details>\n/hold\n</details>") == ["hold"]


def test_setext_heading_text_is_a_command_line() -> None:
    assert names("/hold\n---") == ["hold"]


# ---- prefixes

@pytest.mark.parametrize("prefix", ["!", "$", ".", "trunkline:", "@bot/", "+"])
def test_other_prefixes(prefix: str) -> None:
    body = f"{prefix}merge now\n/hold\n> {prefix}unhold\n"
    found = parse_commands(body, prefix)
    assert [(c.name, c.args) for c in found] == [("merge", ["now"])]


def test_empty_or_spacey_prefix_finds_nothing() -> None:
    assert parse_commands("/merge", "") == []
    assert parse_commands("/merge", "/ ") == []
    assert parse_commands(None) == []


def test_display_round_trip() -> None:
    assert one("  /HOLD   flaky   infra  ").display("/") == "/hold flaky   infra"


# ---------------------------------------------------------------------------------------- reference grammar

PREFIXES = ["/", "!", "trunkline:", "%"]
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:#@+-",
               min_size=1, max_size=8)
# Quoted content: spaces, both quotes and backslashes allowed (escaped when rendered); never a
# newline, backtick or '<' (those are Markdown, not argument syntax).
QUOTED = st.text(alphabet="abc XYZ019_-.,:;!?/#@'\"\\()[]{}=", max_size=12)
KEY = st.from_regex(r"[a-z_][a-z0-9_.-]{0,6}", fullmatch=True)
NAME = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
PROSE_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=7)


def quote(value: str, q: str) -> str:
    return q + value.replace("\\", "\\\\").replace(q, "\\" + q) + q


@st.composite
def rendered_value(draw: st.DrawFn) -> tuple[str, str]:
    """(text as typed, value the parser must return)."""
    if draw(st.booleans()):
        word = draw(WORD)
        return word, word
    value = draw(QUOTED)
    return quote(value, draw(st.sampled_from(['"', "'"]))), value


@dataclass
class Expected:
    name: str
    args: list[str]
    kwargs: dict[str, str]


@st.composite
def command_line(draw: st.DrawFn, prefix: str) -> tuple[str, Expected]:
    name = draw(NAME)
    shown_name = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    tokens: list[str] = []
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for _ in range(draw(st.integers(0, 4))):
        typed, value = draw(rendered_value())
        if draw(st.booleans()):
            key = draw(KEY)
            if key in kwargs:
                continue
            shown_key = "".join(c.upper() if draw(st.booleans()) else c for c in key)
            tokens.append(f"{shown_key}={typed}")
            kwargs[key] = value
        else:
            if "=" in typed and typed[0] not in "\"'":
                continue
            tokens.append(typed)
            args.append(value)
    gaps = [" " * draw(st.integers(1, 3)) for _ in tokens]
    line = (" " * draw(st.integers(0, 3)) + prefix + shown_name
            + "".join(g + t for g, t in zip(gaps, tokens, strict=True)) + " " * draw(st.integers(0, 2)))
    return line, Expected(name, args, kwargs)


@st.composite
def prose_line(draw: st.DrawFn, prefix: str) -> str:
    """Text that is not a command: words, and prefix look-alikes that are not at a line start or are
    not followed by a name."""
    words = draw(st.lists(PROSE_WORD, min_size=1, max_size=5))
    trap = draw(st.sampled_from(["", f" {prefix}merge", f"{prefix}/x", f"{prefix} merge", f"{prefix}9x"]))
    if trap.startswith(" "):
        return " ".join(words) + trap
    return trap + " ".join(words) if trap else " ".join(words)


@st.composite
def decoy_lines(draw: st.DrawFn, prefix: str) -> list[str]:
    return [draw(command_line(prefix))[0].rstrip() for _ in range(draw(st.integers(1, 3)))]


@dataclass
class Part:
    lines: list[str]
    commands: dict[int, Expected]  # index in lines -> expected command
    kind: str


@st.composite
def part(draw: st.DrawFn, prefix: str, last: bool) -> Part:
    kind = draw(st.sampled_from(["commands", "commands", "commands", "quote", "lazy-quote", "fence",
                                 "indented", "comment-block", "inline-comment", "code-span"]
                                + (["unclosed-fence"] if last else [])))
    if kind == "commands":
        lines: list[str] = []
        commands: dict[int, Expected] = {}
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.booleans()):
                line, expected = draw(command_line(prefix))
                commands[len(lines)] = expected
                lines.append(line)
            else:
                lines.append(draw(prose_line(prefix)))
        return Part(lines, commands, kind)
    decoys = draw(decoy_lines(prefix))
    if kind == "quote":
        marker = draw(st.sampled_from(["> ", ">", "> > ", "   > "]))
        return Part([marker + d.lstrip() for d in decoys], {}, kind)
    if kind == "lazy-quote":
        return Part(["> " + draw(prose_line(prefix))] + [d.lstrip() for d in decoys], {}, kind)
    if kind in ("fence", "unclosed-fence"):
        char = draw(st.sampled_from(["`", "~"]))
        size = draw(st.integers(3, 5))
        info = draw(st.sampled_from(["", "python", " yaml title=x", "{.js}"]))
        opening = " " * draw(st.integers(0, 3)) + char * size + info
        inner = [char * (size - 1), ("~" if char == "`" else "`") * 3, char * size + "x"]
        body = []
        for d in decoys:
            body.append(d)
            if draw(st.booleans()):
                body.append(draw(st.sampled_from(inner + [""])))
        closing = [" " * draw(st.integers(0, 3)) + char * draw(st.integers(size, size + 2))] \
            if kind == "fence" else []
        return Part([opening, *body, *closing], {}, kind)
    if kind == "indented":
        return Part([draw(st.sampled_from(["    ", "\t", "     "])) + d.lstrip() for d in decoys], {}, kind)
    if kind == "comment-block":
        inner_lines = []
        for d in decoys:
            inner_lines.append(d)
            if draw(st.booleans()):
                inner_lines.append("")
        return Part(["<!--", *inner_lines, "-->"], {}, kind)
    if kind == "inline-comment":
        return Part([draw(prose_line(prefix)) + " <!-- note", *decoys, "--> " + draw(prose_line(prefix))], {}, kind)
    # code-span
    return Part([draw(prose_line(prefix)) + " `code", *decoys, "end` " + draw(prose_line(prefix))], {}, kind)


@st.composite
def comment(draw: st.DrawFn) -> tuple[str, str, list[tuple[int, Expected]]]:
    prefix = draw(st.sampled_from(PREFIXES))
    count = draw(st.integers(1, 6))
    parts = [draw(part(prefix, last=i == count - 1)) for i in range(count)]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[str] = []
    expected: list[tuple[int, Expected]] = []
    for i, p in enumerate(parts):
        if i:
            lines.append("")  # parts are separate blocks: a blank line between them
        for j, line in enumerate(p.lines):
            if j in p.commands:
                expected.append((len(lines) + 1, p.commands[j]))
            lines.append(line)
    trailing = newline if draw(st.booleans()) else ""
    return newline.join(lines) + trailing, prefix, expected


@pytest.mark.slow
@settings(max_examples=300)
@given(comment())
def test_parser_matches_reference_grammar(case: tuple[str, str, list[tuple[int, Expected]]]) -> None:
    body, prefix, expected = case
    found = parse_commands(body, prefix)
    assert [(c.line_no, c.name, c.args, c.kwargs) for c in found] == [
        (line, e.name, e.args, e.kwargs) for line, e in expected]
    assert all(c.error is None for c in found)


@settings(max_examples=200)
@given(st.text(max_size=300), st.sampled_from(PREFIXES))
def test_parser_never_raises_and_results_are_well_formed(body: str, prefix: str) -> None:
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for c in parse_commands(body, prefix):
        assert c.name == c.name.lower() and c.name[0].isalpha()
        assert 1 <= c.line_no <= len(lines)
        assert lines[c.line_no - 1].lstrip(" ").lower().startswith((prefix + c.name).lower())


@settings(max_examples=200)
@given(st.lists(st.tuples(st.booleans(), rendered_value()), max_size=6))
def test_split_args_round_trips_rendered_values(items: list[tuple[bool, tuple[str, str]]]) -> None:
    text = " ".join(typed for _, (typed, _) in items)
    expected = [value for _, (typed, value) in items]
    # only tokens without an unquoted '=' (those would be options)
    if any("=" in typed and typed[0] not in "\"'" for _, (typed, _) in items):
        return
    assert split_args(text) == (expected, {})
