"""Strip what hides instructions from human readers out of issue text before an agent reads it (pure).

An issue renders on GitHub as Markdown; an agent reads the raw text. Anything a person reviewing the
issue does not see, but the agent would, is a channel for hidden instructions ("prompt injection"):

* HTML comments ``<!-- ... -->`` (an unterminated one hides everything after it);
* invisible characters: zero-width spaces/joiners, word joiner and invisible operators, the byte-order
  mark, soft hyphen, Mongolian vowel separator, variation selectors, Unicode *tag* characters
  (U+E0000–U+E007F, "ASCII smuggling");
* bidirectional controls (embeddings, overrides, isolates, LRM/RLM/ALM), which reorder what is shown;
* image alt text ``![hidden](url)`` and link titles ``[text](url "hidden")`` (tooltips at most), also in
  reference definitions ``[id]: url "hidden"`` and in HTML ``alt=`` / ``title=`` attributes.

Visible text is kept exactly: :func:`sanitize` of text with none of the above returns it unchanged.
"""

from __future__ import annotations

import re

#: Code points that render as nothing (or only change how neighbours render).
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors + vowel separator
    (0x200B, 0x200F),  # zero-width space/non-joiner/joiner, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated format chars
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space / BOM
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE007F),  # tag characters
    (0xE0100, 0xE01EF),  # variation selectors supplement
)

_INVISIBLE = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _INVISIBLE_RANGES) + "]")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# ![alt](dest "title") / ![alt][ref]: the alt text goes (the image itself stays, as a link target).
_IMAGE = re.compile(r"!\[(?:[^\[\]\\]|\\.|\[[^\[\]]*\])*\]")
# A link destination followed by a title in "..", '..' or (..): the title goes.
_LINK_TITLE = re.compile(r"(\]\(\s*(?:<[^<>\n]*>|[^\s()]+(?:\([^\s()]*\))*))\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\))\s*\)")
_REF_TITLE = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*(?:<[^<>\n]*>|\S+))[ \t]*(?:\n[ \t]*)?(?:\"[^\"]*\"|'[^']*'|\([^()]*\))[ \t]*$",
                        re.MULTILINE)
_HTML_ATTR = re.compile(r"(<[A-Za-z][^<>]*?)\s(?:alt|title|aria-label|aria-description)\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)",
                        re.IGNORECASE)


def is_hidden_char(ch: str) -> bool:
    return _INVISIBLE.fullmatch(ch) is not None


def strip_invisible(text: str) -> str:
    return _INVISIBLE.sub("", text)


def sanitize(text: str | None) -> str:
    """``text`` without HTML comments, invisible and bidi characters, image alt text and link titles."""
    if not text:
        return ""
    out = strip_invisible(text)
    previous = None
    while previous != out:  # removing one construct can reveal another ("<!<!---->-- x -->")
        previous = out
        out = _HTML_COMMENT.sub("", out)
        out = _IMAGE.sub("![]", out)
        out = _LINK_TITLE.sub(r"\1)", out)
        out = _REF_TITLE.sub(r"\1", out)
        out = _HTML_ATTR.sub(r"\1", out)
    return out
