"""Finding commands in a comment (pure): ``parse_commands(body, prefix="/") -> list[Command]``.

Grammar
-------
A command is a comment line that, as rendered by GitHub, is ordinary text starting with
``<prefix><name>``::

    /hold waiting for the release  <- name "hold", free text after it
    /verify tier-1 budget=600      <- positional args and key=value options
    /hold "two words" reason='it''s'  <- "..." and '...' group words; \\" \\' \\\\ escape inside

* ``name`` is a letter followed by letters, digits, ``-`` or ``_``; matched case-insensitively and
  returned lower-cased. It must be followed by whitespace or the end of the line, so ``/tmp/x`` and
  ``/merge.`` are not commands.
* Up to three spaces may precede the prefix (like Markdown); four spaces or a tab is indented code.
* Several commands in one comment are returned in line order.

Block structure follows CommonMark (via ``markdown-it-py``, the parser behind ``rich``), so what counts
is what GitHub *shows* as text: lines in block quotes (including lazy continuation lines), fenced
code (backticks or tildes, any info string, CommonMark's closing-fence rules), indented code,
``<pre>``-like HTML blocks and HTML comments (block or inline ``<!-- ... -->``, also spanning lines)
never hold commands; neither do lines that start inside a multi-line code span. A command's
arguments end at an HTML comment on its line.

Arguments
---------
Split on whitespace. A token that *starts* with ``"`` or ``'`` (or whose value after ``key=`` does)
is quoted up to the matching unescaped quote; inside it ``\\<quote>`` and ``\\\\`` are escapes and
every other character (including the other quote and other backslashes) is literal. A quote that is
never closed is an ordinary character, so ``/hold 'twas flaky`` keeps its apostrophe. Quotes in the
middle of a word (``don't``) are ordinary characters. ``key=value`` (key: a letter or ``_``, then
letters, digits, ``_``, ``-`` or ``.``; lower-cased) becomes an option; ``"a=b"`` is positional. A
key given twice makes the command's ``error`` say so (the handler refuses it with its usage).
``Command.text`` keeps the raw argument text for commands taking free text (``/hold <reason>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_-]*"
KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
# An ASCII punctuation character may be backslash-escaped in CommonMark inline text.
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# HTML blocks whose content is preformatted/raw (CommonMark HTML block types 1, 3, 4, 5): no commands.
_RAW_HTML_BLOCK = re.compile(r"\s*<(?:(?:pre|script|style|textarea)(?:\s|>|$)|\?|![A-Za-z]|!\[CDATA\[)",
                             re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    """One command found in a comment."""

    name: str  # lower-case, without the prefix
    args: list[str] = field(default_factory=list)
    kwargs: dict[str, str] = field(default_factory=dict)
    line_no: int = 1  # 1-based line of the comment (after CRLF normalisation)
    raw: str = ""  # the command line as written, without surrounding whitespace
    text: str = ""  # raw argument text after the name (HTML comments removed, stripped)
    error: str | None = None  # why the arguments could not be read (None = fine)

    def display(self, prefix: str = "/") -> str:
        """How the command reads back in a reply: ``/name args...`` (canonical spacing)."""
        return f"{prefix}{self.name} {self.text}".rstrip()


class ArgsError(ValueError):
    """Arguments that cannot be split (a key given twice)."""


# ---------------------------------------------------------------------------------------- entry point

def parse_commands(body: str | None, prefix: str = "/") -> list[Command]:
    """Every command in ``body`` (a comment's Markdown), in order. Pure; never raises on any input."""
    if not body or not prefix or any(c.isspace() for c in prefix):
        return []
    text = normalise(body)
    if prefix not in text:  # cheap exit for the vast majority of comments
        return []
    lines = text.split("\n")
    head = re.compile(r" {0,3}" + re.escape(prefix) + r"(" + NAME_PATTERN + r")(?=\s|$)")
    found: list[Command] = []
    for line_no, visible in visible_lines(text):
        raw_line = lines[line_no]
        if head.match(raw_line) is None:
            continue
        # ``visible`` is the line's text with HTML comments removed and leading whitespace stripped.
        match = re.match(re.escape(prefix) + r"(" + NAME_PATTERN + r")(?=\s|$)", visible)
        if match is None:  # the line starts inside a comment that the raw text hides
            continue
        rest = visible[match.end():].strip()
        try:
            args, kwargs = split_args(rest)
            error = None
        except ArgsError as exc:
            args, kwargs, error = [], {}, str(exc)
        found.append(Command(name=match.group(1).lower(), args=args, kwargs=kwargs, line_no=line_no + 1,
                             raw=raw_line.strip(), text=rest, error=error))
    return found


def normalise(body: str) -> str:
    """CRLF / CR -> LF and NUL -> U+FFFD, as CommonMark does before parsing (keeps line numbers aligned
    with markdown-it's line maps)."""
    return body.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")


# ---------------------------------------------------------------------------------------- block structure

@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark")


def visible_lines(text: str) -> list[tuple[int, str]]:
    """``(line index, visible text)`` for every line that GitHub renders as prose (paragraph, setext
    heading or non-raw HTML block) outside block quotes, whose start is not inside an HTML comment or
    a code span. The visible text has HTML comments cut out and leading whitespace removed."""
    tokens = _markdown().parse(text)
    quoted: list[tuple[int, int]] = [tuple(t.map) for t in tokens if t.type == "blockquote_open" and t.map]
    out: list[tuple[int, str]] = []

    def in_quote(line: int) -> bool:
        return any(start <= line < end for start, end in quoted)

    for index, token in enumerate(tokens):
        if token.map is None:
            continue
        start = token.map[0]
        if token.type == "inline" and index > 0 and tokens[index - 1].type in ("paragraph_open", "heading_open"):
            content = token.content
            hidden = _inline_spans(content, code_spans=True)
        elif token.type == "html_block" and not _RAW_HTML_BLOCK.match(token.content):
            content = token.content.rstrip("\n")
            hidden = _inline_spans(content, code_spans=False)
        else:
            continue
        offset = 0
        for i, line in enumerate(content.split("\n")):
            line_start, line_end = offset, offset + len(line)
            offset = line_end + 1
            if in_quote(start + i):
                continue
            if any(s < line_start < e or (s == line_start and kind == "comment") for s, e, kind in hidden):
                continue
            comments = [(s, e) for s, e, kind in hidden if kind == "comment" and s < line_end and e > line_start]
            out.append((start + i, _cut(line, line_start, comments).lstrip()))
    out.sort()
    return out


def _cut(line: str, line_start: int, spans: list[tuple[int, int]]) -> str:
    """``line`` with the parts covered by ``spans`` (absolute offsets) removed."""
    if not spans:
        return line
    keep = []
    pos = line_start
    for s, e in sorted(spans):
        if s > pos:
            keep.append(line[pos - line_start:s - line_start])
        pos = max(pos, e)
    if pos < line_start + len(line):
        keep.append(line[pos - line_start:])
    return " ".join(part.rstrip() for part in keep).rstrip() if len(keep) > 1 else "".join(keep)


def _inline_spans(text: str, *, code_spans: bool) -> list[tuple[int, int, str]]:
    """Code spans and HTML comments in inline text as ``(start, end, kind)``, following CommonMark's
    left-to-right precedence (a ``<!--`` inside a code span is code; a backtick inside a comment is
    commented out; backslash-escaped backticks and ``<`` are literal)."""
    spans: list[tuple[int, int, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and code_spans and i + 1 < n and text[i + 1] in _ASCII_PUNCT:
            i += 2
            continue
        if c == "`" and code_spans:
            run = _run_length(text, i, "`")
            close = _closing_backticks(text, i + run, run)
            if close is None:
                i += run
                continue
            spans.append((i, close + run, "code"))
            i = close + run
            continue
        if c == "<" and text.startswith("<!--", i):
            end = _comment_end(text, i)
            if end is not None:
                spans.append((i, end, "comment"))
                i = end
                continue
        i += 1
    return spans


def _run_length(text: str, i: int, char: str) -> int:
    j = i
    while j < len(text) and text[j] == char:
        j += 1
    return j - i


def _closing_backticks(text: str, start: int, run: int) -> int | None:
    j = start
    while True:
        j = text.find("`", j)
        if j < 0:
            return None
        length = _run_length(text, j, "`")
        if length == run:
            return j
        j += length


def _comment_end(text: str, i: int) -> int | None:
    """End offset of the HTML comment opening at ``i`` (CommonMark 0.31: ``<!-->`` and ``<!--->`` are
    complete comments), or None when it never closes (then ``<!--`` is literal text)."""
    for short in ("<!-->", "<!--->"):
        if text.startswith(short, i):
            return i + len(short)
    end = text.find("-->", i + 4)
    return None if end < 0 else end + 3


# ---------------------------------------------------------------------------------------- arguments

def split_args(text: str) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and ``key=value`` options of one command line (see module docstring)."""
    args: list[str] = []
    kwargs: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        key: str | None = None
        # key=... : the part before the first '=' is plain (unquoted) text and a valid key
        eq = _key_split(text, i)
        if eq is not None:
            key = text[i:eq].lower()
            i = eq + 1
        value, i = _token(text, i)
        if key is None:
            args.append(value)
        elif key in kwargs:
            raise ArgsError(f"option '{key}' is given twice")
        else:
            kwargs[key] = value
    return args, kwargs


def _key_split(text: str, i: int) -> int | None:
    j = i
    while j < len(text) and not text[j].isspace() and text[j] != "=":
        j += 1
    if j < len(text) and text[j] == "=" and KEY_RE.match(text[i:j]):
        return j
    return None


def _token(text: str, i: int) -> tuple[str, int]:
    """One argument starting at ``i`` (possibly at its opening quote); returns (value, next index)."""
    out: list[str] = []
    n = len(text)
    if i < n and text[i] in "\"'":
        quote = text[i]
        closed = _quoted(text, i + 1, quote)
        if closed is not None:
            value, i = closed
            out.append(value)
    while i < n and not text[i].isspace():
        out.append(text[i])
        i += 1
    return "".join(out), i


def _quoted(text: str, i: int, quote: str) -> tuple[str, int] | None:
    """The content of a quoted string whose opening quote is just before ``i``; None if unclosed."""
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return None
