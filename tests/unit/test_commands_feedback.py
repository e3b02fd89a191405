"""Feedback (pure): reactions, the single reply, the help table, safe rendering of user text."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from trunkline.commands import feedback
from trunkline.commands.feedback import Entry, final_reaction, help_table, inline_code, render_reply
from trunkline.commands.invocation import failed, ok, refused
from trunkline.commands.registry import load_builtin

MD = MarkdownIt("commonmark")


def test_final_reaction() -> None:
    assert final_reaction([ok("a"), ok("b")]) == "rocket"
    assert final_reaction([ok("a"), refused("b")]) == "confused"
    assert final_reaction([failed("a")]) == "confused"
    assert final_reaction([]) == "confused"
    assert (feedback.RECEIVED, feedback.SUCCEEDED, feedback.FAILED) == ("eyes", "rocket", "confused")


@given(st.integers(1, 10**12))
def test_marker_round_trip(comment_id: int) -> None:
    assert feedback.replied_to("text\n" + feedback.marker(comment_id) + "\nmore") == comment_id


def test_replied_to_none() -> None:
    assert feedback.replied_to(None) is None
    assert feedback.replied_to("<!-- trunkline:commands comment=x -->") is None


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60))
def test_inline_code_renders_exactly_the_text(text: str) -> None:
    """Whatever a user typed shows up verbatim in a code span: no mentions, links or formatting."""
    collapsed = " ".join(text.split())
    if not collapsed:
        return
    html = MD.renderInline(inline_code(text))
    match = re.fullmatch(r"<code>(.*)</code>", html, re.DOTALL)
    assert match, html
    rendered = match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert rendered == collapsed


def test_inline_code_truncates() -> None:
    assert inline_code("x" * 500, limit=10) == "`" + "x" * 9 + "…`"


def test_reply_single_success() -> None:
    body = render_reply(7, "dev", [Entry("/hold flaky", ok("on hold."))])
    assert body.startswith(feedback.marker(7) + "\n\n" + feedback.run_marker("created") + "\n@dev: Done.\n")
    assert "- 🚀 `/hold flaky` — on hold." in body


def test_reply_summarises_several_commands_in_order() -> None:
    body = render_reply(9, "dev", [
        Entry("/hold", ok("held")),
        Entry("/merge", refused("needs write")),
        Entry("/ratchet", ok("table below", details="| a | b |\n|---|---|")),
    ], help_table="HELP", notes=["config broken"])
    lines = body.splitlines()
    assert lines[3] == "@dev: Ran 3 commands, in order; 1 did not succeed."
    assert lines[5:8] == ["- 🚀 `/hold` — held", "- 😕 `/merge` — needs write", "- 🚀 `/ratchet` — table below"]
    assert "#### `/ratchet`\n\n| a | b |" in body
    assert "> config broken" in body
    assert body.rstrip().endswith("HELP")
    assert body.count(feedback.marker(9)) == 1


def test_refusal_names_both_levels() -> None:
    text = feedback.refusal_for_level("/merge", "write", "triage", "tri")
    assert text == "refused — `/merge` needs **write** permission on this repository; @tri has **triage**."


def test_help_table_lists_every_command_with_configured_levels() -> None:
    specs = load_builtin().specs()
    levels = {s.name: s.level for s in specs} | {"merge": "admin"}
    table = help_table(specs, levels, "!")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(specs)
    assert "| `!merge` | admin or above | pull requests |" in table
    assert "| `!help` | read or above | issues and pull requests |" in table
    assert "| `!hold [<reason...>]` | triage or above |" in table
    # GitHub renders it as a table: header + one row per command
    tokens = MarkdownIt("gfm-like").parse(table)
    assert [t.type for t in tokens].count("table_open") == 1
    assert [t.type for t in tokens].count("tr_open") == len(specs) + 1


def test_edits_append_sections_and_retries_replace_them() -> None:
    first = render_reply(5, "dev", [Entry("/hold", ok("held"))])
    edited = feedback.render_section("dev", [Entry("/unhold", ok("released"))], edited=True)
    assert edited.startswith("@dev: After your edit: done.")
    second = feedback.updated_reply(first, 5, "edited-2026-01-01T00:00:00Z", edited)
    assert [k for k, _ in feedback.split_sections(second)] == ["created", "edited-2026-01-01T00:00:00Z"]
    assert "`/hold` — held" in second and "`/unhold` — released" in second  # nothing lost
    retried = feedback.updated_reply(second, 5, "edited-2026-01-01T00:00:00Z",
                                     edited.replace("released", "released again"))
    assert retried.count("released") == 1 and "released again" in retried
    assert feedback.replied_to(retried) == 5 and retried.count(feedback.marker(5)) == 1


@given(st.lists(st.tuples(st.sampled_from(["created", "edited-1", "edited-2", "edited-3"]),
                          st.text(alphabet="abc -\n`|", min_size=1, max_size=30).filter(str.strip)),
                max_size=8))
def test_updated_reply_keeps_one_section_per_key(runs: list[tuple[str, str]]) -> None:
    body: str | None = None
    latest: dict[str, str] = {}
    order: list[str] = []
    for key, text in runs:
        body = feedback.updated_reply(body, 1, key, text)
        latest[key] = text.strip()
        if key not in order:
            order.append(key)
    sections = feedback.split_sections(body or "")
    assert [k for k, _ in sections] == order
    assert {k: t.strip() for k, t in sections} == latest
