"""The ``trunkline/merge`` check run: where the pull request stands and why (pure).

One check run on the head SHA, republished at every evaluation (publishing is idempotent by
content, so an unchanged standing costs nothing):

=================  ===============  ==============================================================
standing           check run        meaning
=================  ===============  ==============================================================
``merged``         success          merged by Trunkline (sha of the merge commit in the title)
``waiting``        neutral          requested; waiting for gates, approvals, or its turn in the queue
``updating``       neutral          the branch is being updated with its base (gates run again)
``blocked``        failure          a person must act: draft, hold label, failed gate, conflict, ...
``cancelled``      neutral          ``/merge cancel`` or the label was removed
``superseded``     neutral          the branch was updated: this SHA will not be merged
``timed_out``      failure          held the queue past ``merge.slot_timeout_minutes``: dequeued
=================  ===============  ==============================================================

Waiting is ``neutral`` (completed) rather than ``in_progress``: an unfinished check of ours would
make GitHub report every queued pull request as ``unstable`` ("some checks haven't completed"),
hiding the ``clean`` state the merge evaluation relies on (see ``fetch``), and the title already
says what it waits for. The run is edited in place at every evaluation (it has no annotations), so
runs do not pile up. ``trunkline/merge`` is never a gate of the merge decision itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkline.checks.publish import CheckRunSpec

from .model import MERGE_CHECK_NAME, Condition, Decision

CONCLUSIONS = {"merged": "success", "waiting": "neutral", "updating": "neutral", "blocked": "failure",
               "cancelled": "neutral", "superseded": "neutral", "timed_out": "failure"}


@dataclass(frozen=True)
class Standing:
    """What the check run says: ``kind`` (a key of :data:`CONCLUSIONS`), a title, an optional note."""

    kind: str
    title: str
    note: str = ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def conditions_table(decision: Decision) -> str:
    rows = ["| | condition | detail |", "|---|---|---|"]
    for c in decision.conditions:
        mark = "✅" if c.met else {"block": "❌", "update": "🔄"}.get(c.effect, "⏳")
        rows.append(f"| {mark} | {_cell(c.name)} | {_cell(c.detail)} |")
    return "\n".join(rows)


def standing_for(decision: Decision, *, turn_blocker: int | None = None, position: int | None = None) -> Standing:
    """The standing for a decision that was not (yet) acted on."""
    if decision.action == "block":
        return Standing("blocked", f"Blocked: {decision.reasons[0].name}" if decision.reasons else "Blocked")
    if decision.action in ("merge", "update") and turn_blocker is not None:
        place = f" (position {position})" if position else ""
        return Standing("waiting", f"Queued behind #{turn_blocker}{place}",
                        f"#{turn_blocker} holds the queue: its updated branch is being tested; "
                        "this pull request goes next in queue order.")
    if decision.action == "update":
        return Standing("updating", "Updating the branch with its base")
    if decision.action == "merge":
        return Standing("waiting", "Ready to merge")
    first = decision.reasons[0] if decision.reasons else None
    title = f"Waiting: {first.name}" if first else "Waiting"
    if first and len(decision.reasons) > 1:
        title += f" (+{len(decision.reasons) - 1} more)"
    return Standing("waiting", title)


def minutes(seconds: float) -> str:
    whole = int(seconds // 60)
    return f"{whole} min" if whole < 120 else f"{whole // 60} h {whole % 60} min"


def slot_timeout_condition(decision: Decision, held: float, timeout: float) -> Condition:
    """The row saying why a pull request left the queue: it held the slot ``held`` seconds, more than
    ``timeout``, waiting for what ``decision`` waits for."""
    waiting = "; ".join(f"{c.name} {c.detail}".strip() for c in decision.reasons) or "its gates"
    return Condition("queue slot timeout", False,
                     f"held the merge queue for {minutes(held)} (limit {minutes(timeout)}, "
                     f"`merge.slot_timeout_minutes`) waiting for {waiting}", "block")


def timed_out_standing(timeout: float) -> Standing:
    return Standing("timed_out", f"Left the merge queue: required checks did not finish within {minutes(timeout)}",
                    "The next pull request of the queue goes now. Push a commit, comment `/merge`, or remove "
                    "and add the label again to queue this one again.")


def merge_check_spec(decision: Decision, standing: Standing, *, details_url: str | None = None) -> CheckRunSpec:
    summary_lines = [f"**{standing.title}**"]
    if standing.note:
        summary_lines.append(standing.note)
    summary_lines.append(f"Evaluated on head `{decision.sha[:12]}` — decision: **{decision.action}**.")
    summary_lines.append(conditions_table(decision))
    return CheckRunSpec(name=MERGE_CHECK_NAME, head_sha=decision.sha, conclusion=CONCLUSIONS[standing.kind],
                        title=standing.title[:200], summary="\n\n".join(summary_lines), details_url=details_url)
