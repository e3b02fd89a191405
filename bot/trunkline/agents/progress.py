"""What people see of an agent run (pure): the one progress comment on the issue, edited in place,
and the pull request's body.

Text that comes from users (the label, reasons quoting a command) only appears inside code spans, so
a run can never make the bot mention people or inject Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trunkline.commands.feedback import inline_code

from .core import (
    ACTIVE,
    CANCELLED,
    FAILED,
    FAILED_STEP,
    PASSED,
    PENDING,
    SKIPPED,
    SUCCEEDED,
    StepState,
    elapsed_text,
)

MARKER_RE = re.compile(r"<!-- trunkline:agent run=(\d{8}-\d{6}-[0-9a-f]{8}) -->")
ICONS = {PENDING: "⬜", ACTIVE: "⏳", PASSED: "✅", FAILED_STEP: "❌", SKIPPED: "⏭️"}
TIER_LABEL = "(run by Trunkline)"


def marker(run_id: str) -> str:
    return f"<!-- trunkline:agent run={run_id} -->"


def run_of_comment(body: str | None) -> str | None:
    match = MARKER_RE.search(body or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class RunView:
    """Everything the progress comment shows (plain data, built from the store's row)."""

    run_id: str
    issue: int
    trigger: str  # e.g. "label `agent:implement`" (already formatted) or "/agent on #12"
    actor: str
    branch: str
    backend: str
    state: str  # queued | running | done
    outcome: str | None  # succeeded | failed | cancelled
    steps: Sequence[StepState] = ()
    elapsed: float = 0.0
    iteration: int = 1
    max_iterations: int = 10
    reason: str = ""
    pr_number: int | None = None
    pr_url: str | None = None
    logs: str = ""  # where the logs are: Markdown (links, or a path on the bot's host)
    notes: Sequence[str] = field(default_factory=tuple)
    step_logs: Mapping[str, str] = field(default_factory=dict)  # step name -> link to its latest log


def _step_line(step: StepState, view: RunView) -> str:
    done = step.status in (PASSED, SKIPPED)
    name = step.name
    if name.startswith("tier:"):
        name = f"{name[5:]} {TIER_LABEL}"
    line = f"- [{'x' if done else ' '}] {ICONS.get(step.status, '⬜')} **{name}**"
    if step.attempts > 1 or (step.status == ACTIVE and view.iteration > 1):
        line += f" — attempt {max(step.attempts, 1)}"
    if step.note:
        line += f" — {step.note}"
    if step.name in view.step_logs:
        line += f" — [log]({view.step_logs[step.name]})"
    return line


def logs_markdown(*, index_url: str | None, workflow_url: str | None, fallback: str) -> str:
    """The "Logs:" line's text: the run's log index (a signed link), the workflow run, or where the
    logs are on the bot's host when links are off."""
    parts = []
    if workflow_url:
        parts.append(f"[workflow run]({workflow_url})")
    parts.append(f"[all logs of this run]({index_url})" if index_url else fallback)
    return " · ".join(parts)


def result_line(view: RunView) -> str:
    if view.outcome == SUCCEEDED:
        pr = f"#{view.pr_number}" if view.pr_number else "the pull request"
        return f"**Result:** ✅ opened {pr} (Closes #{view.issue}); from here the usual gates and merge rules apply."
    if view.outcome == FAILED:
        return f"**Result:** ❌ failed — {view.reason or 'see the logs'}"
    if view.outcome == CANCELLED:
        return f"**Result:** ⏹️ cancelled — {view.reason or 'cancelled'}; no pull request was opened."
    if view.state == "queued":
        return "**Status:** waiting for a free slot (agents.concurrency)…"
    return f"**Status:** running — iteration {view.iteration} of at most {view.max_iterations}."


def render_progress(view: RunView) -> str:
    """The progress comment's body (the hidden marker lets a restarted worker find it again)."""
    lines = [marker(view.run_id),
             f"### 🤖 Trunkline agent run {inline_code(view.run_id)}", "",
             f"Started by @{view.actor} with {view.trigger} · branch {inline_code(view.branch)} · backend "
             f"`{view.backend}` · elapsed {elapsed_text(view.elapsed)}", ""]
    lines += [_step_line(s, view) for s in view.steps]
    lines += ["", result_line(view)]
    for note in view.notes:
        lines += ["", f"> {note}"]
    if view.logs:
        lines += ["", f"Logs: {view.logs}"]
    lines += ["", "<sub>Remove the label or comment `/cancel` to stop this run.</sub>"
              if view.state != "done" else "<sub>Trunkline agent run (frozen input: the issue as it was when "
                                            "the run started).</sub>"]
    return "\n".join(lines).rstrip() + "\n"


def render_pr_body(*, issue: int, run_id: str, plan: str, steps: Sequence[StepState], actor: str, trigger: str,
                   tier_summary: str = "", limit: int = 20000) -> str:
    """The pull request's body: Closes #N, the agent's plan and the results of each step."""
    plan = plan.strip() or "_The pipeline has no plan stage (or it wrote no plan.md)._"
    if len(plan) > limit:
        plan = plan[:limit] + "\n…"
    rows = ["| Step | Result | Attempts |", "|---|---|---|"]
    for s in steps:
        name = f"{s.name[5:]} {TIER_LABEL}" if s.name.startswith("tier:") else s.name
        rows.append(f"| {name} | {ICONS.get(s.status, '')} {s.status} | {s.attempts} |")
    parts = [f"Closes #{issue}", "",
             f"Opened by Trunkline agent run {inline_code(run_id)}, started by @{actor} with {trigger}.", "",
             "## Plan", "", plan, "", "## Results", "", *rows]
    if tier_summary:
        parts += ["", tier_summary.strip()]
    parts += ["", marker(run_id)]
    return "\n".join(parts) + "\n"


def refusal(actor: str, what: str, why: str) -> str:
    return f"@{actor}: {what} was not started — {why}."
