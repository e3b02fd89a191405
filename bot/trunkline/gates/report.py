"""A tier's result → Markdown summary, check-run output and annotations (pure).

The same Markdown goes to ``$GITHUB_STEP_SUMMARY`` (``trunkline verify`` inside Actions) and into the
check run ``trunkline/<tier>``; failing tests with a known file and line become annotations.
"""

from __future__ import annotations

from typing import Any

from trunkline.checks.publish import CheckRunSpec

from .config import check_name
from .junit import TestCase
from .result import TierResult, fmt_seconds
from .runner import BUDGET, CANCELLED, ERROR, FAILED, NOT_RUN, PASSED

MAX_SUMMARY_CHARS = 60_000  # GitHub rejects output.summary / text over 65535 characters
MAX_ANNOTATIONS = 200
MAX_LISTED_FAILURES = 25
MAX_MESSAGE = 1500

ICON = {PASSED: "✅", FAILED: "❌", BUDGET: "⏱️", ERROR: "⚠️", CANCELLED: "🚫", NOT_RUN: "⏭️"}


def code_span(text: str) -> str:
    """``text`` as an inline code span that survives backticks and table pipes."""
    text = text.replace("\n", " ").replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str, lang: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}\n{fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def headline(result: TierResult) -> str:
    """One line: what happened, e.g. ``tier-0 failed: 2 of 40 tests failed``."""
    name, verdict, junit = result.tier, result.verdict, result.junit
    if verdict == PASSED:
        tests = (f", {junit.passed} test{'s' if junit.passed != 1 else ''} passed"
                 if junit is not None and junit.found else "")
        return f"{name} passed in {fmt_seconds(result.duration)}{tests}"
    if verdict == BUDGET:
        return f"{name}: budget exceeded ({fmt_seconds(result.budget)})"
    if verdict == CANCELLED:
        return f"{name} cancelled: {result.reason or 'cancelled'}"
    if verdict == ERROR:
        return f"{name} could not run: {result.reason or 'error'}"
    if junit is not None and (junit.failures or junit.errors):
        bad = junit.failures + junit.errors
        return f"{name} failed: {bad} of {junit.tests} test{'s' if junit.tests != 1 else ''} failed"
    failed = next((c for c in result.commands if c.status == FAILED), None)
    if failed is not None:
        return f"{name} failed: `{_short(failed.command)}` exited with {failed.exit_code}"
    return f"{name} failed"


def _short(command: str, limit: int = 60) -> str:
    one = command.replace("\n", " ").replace("`", "'")
    return one if len(one) <= limit else one[: limit - 1] + "…"


def summary_markdown(result: TierResult, *, heading_level: int = 3) -> str:
    """The full Markdown report of a tier run."""
    h = "#" * heading_level
    icon = ICON.get(result.verdict, "")
    lines = [f"{h} {icon} {headline(result)}", ""]
    advisory = "" if result.required else " · advisory (never blocks a merge)"
    sha = f" · commit `{result.sha[:12]}`" if result.sha else ""
    lines.append(f"Verdict **{result.verdict}** in {fmt_seconds(result.duration)} of a "
                 f"{fmt_seconds(result.budget)} budget{sha}{advisory}")
    if result.reason and result.verdict != PASSED:
        lines += ["", f"**Why:** {result.reason}"]
    if result.commands:
        lines += ["", "| | command | exit | time |", "|---|---|---|---|"]
        for c in result.commands:
            exit_code = "" if c.exit_code is None else str(c.exit_code)
            time = fmt_seconds(c.duration) if c.status != NOT_RUN else ""
            lines.append(f"| {ICON.get(c.status, '')} {c.status} | {code_span(c.command)} | {exit_code} | {time} |")
    junit = result.junit
    if junit is not None and junit.found:
        lines += ["", f"**Tests:** {junit.passed} passed, {junit.failures} failed, {junit.errors} errors, "
                      f"{junit.skipped} skipped ({junit.tests} total, {fmt_seconds(junit.time)})"]
        if junit.failing:
            lines += ["", "| failing test | where | message |", "|---|---|---|"]
            for case in junit.failing[:MAX_LISTED_FAILURES]:
                where = f"{case.file}:{case.line}" if case.file else ""
                lines.append(f"| {code_span(case.id)} | {_cell(where)} | {_cell(_first_line(case.message))} |")
            more = len(junit.failing) - MAX_LISTED_FAILURES
            if more > 0:
                lines.append(f"\n…and {more} more.")
    if junit is not None and junit.problems:
        lines += ["", "**JUnit reports that could not be read:**"] + [f"- {_cell(p)}" for p in junit.problems]
    for note in result.notes:
        lines += ["", f"> {note}"]
    if result.details_url:
        lines += ["", f"[Details]({result.details_url})"]
    bad = next((c for c in result.commands if c.status in (FAILED, BUDGET, CANCELLED, ERROR) and c.output_tail), None)
    body = "\n".join(lines)
    if bad is not None:
        tail = bad.output_tail
        room = MAX_SUMMARY_CHARS - len(body) - 300
        if room > 200:
            tail = tail[-room:]
            body += (f"\n\n<details><summary>Last output of {code_span(_short(bad.command))}</summary>\n\n"
                     f"{code_block(tail)}\n\n</details>")
    return body[:MAX_SUMMARY_CHARS]


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:200]


def annotations(result: TierResult) -> list[dict[str, Any]]:
    """One failure annotation per failing test whose file is known (at most MAX_ANNOTATIONS)."""
    out: list[dict[str, Any]] = []
    junit = result.junit
    if junit is None:
        return out
    for case in junit.failing:
        annotation = test_annotation(case)
        if annotation is not None:
            out.append(annotation)
        if len(out) >= MAX_ANNOTATIONS:
            break
    return out


def test_annotation(case: TestCase) -> dict[str, Any] | None:
    if not case.file:
        return None
    line = max(1, int(case.line or 1))
    message = (case.message or case.text or "failed").strip()
    if case.text and case.message and case.message.strip() not in ("", case.text.strip()):
        message = f"{case.message.strip()}\n\n{case.text.strip()[-MAX_MESSAGE:]}"
    return {"path": case.file, "start_line": line, "end_line": line, "annotation_level": "failure",
            "title": f"{case.id} {'errored' if case.outcome == 'error' else 'failed'}"[:255],
            "message": message[-MAX_MESSAGE * 2:] or "failed"}


def check_spec(result: TierResult, head_sha: str, *, details_url: str | None = None) -> CheckRunSpec:
    """The completed check run ``trunkline/<tier>`` for a result."""
    return CheckRunSpec(name=check_name(result.tier), head_sha=head_sha, conclusion=result.conclusion,
                        title=headline(result)[:250], summary=summary_markdown(result),
                        annotations=tuple(annotations(result)), details_url=details_url or result.details_url)


def running_spec(tier: str, head_sha: str, *, budget: float, executor: str, reason: str = "",
                 details_url: str | None = None) -> CheckRunSpec:
    """The in-progress check run shown while a tier runs."""
    where = "on the Trunkline worker" if executor == "local" else "in GitHub Actions"
    why = f" ({reason})" if reason else ""
    return CheckRunSpec(name=check_name(tier), head_sha=head_sha, conclusion=None,
                        title=f"{tier} running {where}",
                        summary=f"Started{why}; budget {fmt_seconds(budget)}. Pushing a new commit cancels "
                                "this run and starts one on the new head.",
                        details_url=details_url)
