"""``trunkline verify --tier NAME``: run one tier of ``tiers:`` here, within its budget.

Prints the commands' output as they run, then one line with the verdict. Writes the Markdown summary
to ``--summary FILE`` and, inside GitHub Actions, appends it to ``$GITHUB_STEP_SUMMARY``; writes the
JSON result to ``--json FILE``. SIGINT/SIGTERM (a cancelled job) stop every process of the tier.

Exit status: 0 passed (or an advisory tier that did not pass: its check is neutral), 1 failed /
budget exceeded / could not run, 2 usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from trunkline.config.model import CONFIG_PATH

from .config import ConfigFileError, effective_tiers, load_config_file
from .report import headline, summary_markdown
from .runner import CancelToken


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="run one verify tier (tiers: in .github/trunkline.yml) within its time budget",
        description="Run the commands of one tier in order, stop them at the tier's budget (verdict "
                    "'budget exceeded'), read its JUnit reports, write a Markdown summary and a JSON result. "
                    "Exit status: 0 passed (or advisory), 1 failed, 2 usage/config error, 130 interrupted.")
    parser.add_argument("--tier", required=True, help="tier name, e.g. tier-0")
    parser.add_argument("--config", default=None,
                        help=f"configuration file (default: {CONFIG_PATH} in the working directory)")
    parser.add_argument("--workdir", default=".", help="directory the commands run in (default: .)")
    parser.add_argument("--json", dest="json_out", default=None, help="write the JSON result here")
    parser.add_argument("--summary", dest="summary_out", default=None,
                        help="write the Markdown summary here (inside Actions it also goes to $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--grace", type=float, default=5.0,
                        help="seconds between SIGTERM and SIGKILL when the budget runs out (default: 5)")
    parser.add_argument("--quiet", action="store_true", help="do not echo the commands' output")
    parser.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from .executors.local import execute_tier

    workdir = Path(args.workdir)
    if not workdir.is_dir():
        print(f"error: --workdir {args.workdir}: no such directory", file=sys.stderr)
        return 2
    config_path = Path(args.config) if args.config else workdir / CONFIG_PATH
    try:
        config = load_config_file(config_path)
    except ConfigFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tiers = effective_tiers(config)
    tier = tiers.get(args.tier)
    if tier is None:
        known = ", ".join(tiers) or "none (add a tiers: section)"
        print(f"error: {config_path}: no tier '{args.tier}'; declared tiers: {known}", file=sys.stderr)
        return 2
    cancel = CancelToken()
    previous = _install_signals(cancel)
    try:
        sha = os.environ.get("TRUNKLINE_SHA") or os.environ.get("GITHUB_SHA")
        result = execute_tier(tier, workdir, env=dict(os.environ), cancel=cancel, grace=args.grace,
                              echo=None if args.quiet else sys.stdout, sha=sha)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary = summary_markdown(result)
    written = _write_outputs(result, summary, args.json_out, args.summary_out)
    print(f"\n{headline(result)} [{result.verdict}; check conclusion: {result.conclusion}]", flush=True)
    for note in written:
        print(note)
    if result.verdict == "cancelled":
        return 130
    return 1 if result.conclusion == "failure" else 0


def _install_signals(cancel: CancelToken) -> dict[int, Any]:
    def stop(signum: int, _frame: Any) -> None:
        cancel.cancel(f"interrupted by {signal.Signals(signum).name}")

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread (tests calling main() from a thread)
            pass
    return previous


def _write_outputs(result: Any, summary: str, json_out: str | None, summary_out: str | None) -> list[str]:
    notes = []
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(result.dumps())
        notes.append(f"result: {json_out}")
    if summary_out:
        Path(summary_out).parent.mkdir(parents=True, exist_ok=True)
        Path(summary_out).write_text(summary + "\n")
        notes.append(f"summary: {summary_out}")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n\n")
    return notes
