"""What the person who commented sees (pure): reactions and one reply per comment.

* 👀 (``eyes``) as soon as a comment with commands is picked up;
* then 🚀 (``rocket``) when every command in the comment succeeded, or 😕 (``confused``) when any
  failed or was refused (the reply says which and why);
* **one reply per comment**, summarising every command in order — several commands in one comment
  must not flood the thread. A refusal names the level needed and the user's level; an unknown
  command adds the help table once. The reply carries a hidden marker naming the comment, so a
  retried delivery edits the same reply instead of posting a second one; commands that an edit adds
  (``commands.ignore_edited: false``) get their own section appended to the same reply.

User-supplied text (commands, reasons) is only ever shown inside code spans, so a command cannot make
the bot @-mention people or inject Markdown; the only mention is of the person who commented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .invocation import Outcome
from .registry import CommandSpec

RECEIVED = "eyes"
SUCCEEDED = "rocket"
FAILED = "confused"

ICONS = {"success": "🚀", "failure": "😕", "refused": "😕"}
MARKER_RE = re.compile(r"<!-- trunkline:commands comment=(\d+) -->")


@dataclass(frozen=True)
class Entry:
    """One command of the comment and what came of it."""

    shown: str  # the command as typed (canonical spacing), e.g. "/hold flaky infra"
    outcome: Outcome


def final_reaction(outcomes: Iterable[Outcome]) -> str:
    outcomes = list(outcomes)
    return SUCCEEDED if outcomes and all(o.ok for o in outcomes) else FAILED


def marker(comment_id: int) -> str:
    return f"<!-- trunkline:commands comment={comment_id} -->"


def replied_to(body: str | None) -> int | None:
    """The comment id a reply of ours answers (from its marker), or None."""
    match = MARKER_RE.search(body or "")
    return int(match.group(1)) if match else None


def inline_code(text: str, limit: int = 200) -> str:
    """``text`` as a Markdown code span that survives backticks (CommonMark: a longer fence)."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text:
        return "``"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def refusal_for_level(name: str, needed: str, actual: str, actor: str) -> str:
    """A permission refusal: names the command, the level it needs and the level the person has."""
    return (f"refused — {inline_code(name)} needs **{needed}** permission on this repository; "
            f"@{actor} has **{actual}**.")


def render_section(actor: str, entries: Sequence[Entry], *, help_table: str | None = None,
                   notes: Sequence[str] = (), edited: bool = False) -> str:
    """What one handling of a comment did: a summary line, one line per command, details, notes."""
    count = len(entries)
    failed = sum(1 for e in entries if not e.outcome.ok)
    if count == 1:
        head = "Done." if not failed else "That did not work."
    elif not failed:
        head = f"Ran {count} commands, in order."
    else:
        head = f"Ran {count} commands, in order; {failed} did not succeed."
    if edited:
        head = f"After your edit: {head[0].lower()}{head[1:]}"
    lines = [f"@{actor}: {head}", ""]
    for entry in entries:
        lines.append(f"- {ICONS[entry.outcome.status]} {inline_code(entry.shown)} — {entry.outcome.message}")
    for entry in entries:
        if entry.outcome.details:
            lines += ["", f"#### {inline_code(entry.shown)}", "", entry.outcome.details.rstrip()]
    for note in notes:
        lines += ["", f"> {note}"]
    if help_table:
        lines += ["", help_table.rstrip()]
    return "\n".join(lines).rstrip() + "\n"


def run_marker(key: str) -> str:
    return f"<!-- trunkline:commands run={key} -->"


RUN_RE = re.compile(r"^<!-- trunkline:commands run=(\S+) -->\n", re.MULTILINE)


def split_sections(body: str) -> list[tuple[str, str]]:
    """``(run key, text)`` of each section of one of our replies, in order."""
    found = list(RUN_RE.finditer(body))
    return [(m.group(1), body[m.end(): found[i + 1].start() if i + 1 < len(found) else len(body)].strip("\n"))
            for i, m in enumerate(found)]


def updated_reply(existing: str | None, comment_id: int, key: str, section: str) -> str:
    """The reply after handling a comment once more: the section for ``key`` is replaced (a retried
    delivery) or appended (commands added by an edit), so earlier results are never lost."""
    sections = split_sections(existing) if existing else []
    if any(k == key for k, _ in sections):
        sections = [(k, section if k == key else text) for k, text in sections]
    else:
        sections.append((key, section))
    parts = [marker(comment_id)]
    for k, text in sections:
        parts.append(f"{run_marker(k)}\n{text.strip()}")
    return "\n\n".join(parts) + "\n"


def render_reply(comment_id: int, actor: str, entries: Sequence[Entry], *, help_table: str | None = None,
                 notes: Sequence[str] = ()) -> str:
    """A fresh reply for a newly created comment."""
    return updated_reply(None, comment_id, "created",
                         render_section(actor, entries, help_table=help_table, notes=notes))


def help_table(specs: Sequence[CommandSpec], levels: dict[str, str], prefix: str = "/",
               title: str = "Trunkline commands") -> str:
    """Markdown table of commands: usage, who may run it (config applied), where, what it does."""
    rows = [f"**{title}** — write one per line at the start of a comment line.", "",
            "| Command | Who can run it | Where | What it does |", "|---|---|---|---|"]
    for spec in specs:
        usage = inline_code(spec.usage(prefix))
        if spec.aliases:
            usage += " (also " + ", ".join(inline_code(prefix + a) for a in spec.aliases) + ")"
        where = "pull requests" if spec.pr_only else "issues and pull requests"
        level = levels.get(spec.name, spec.level)
        rows.append(f"| {usage} | {level} or above | {where} | {_cell(spec.summary)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
