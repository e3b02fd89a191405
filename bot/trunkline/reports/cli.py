"""``trunkline report nightly --results DIR``: the nightly report from a results folder, locally.

Reads the files ``make verify-nightly`` / ``make verify-weekly`` leave behind (``flaky.json``,
``mutation.json``, ``perf.json``, ``pip-audit.json``, ``zizmor.json``; see
:mod:`trunkline.reports.results`) and prints the report the bot would put in the "Nightly report"
issue. Inside GitHub Actions the Markdown also goes to ``$GITHUB_STEP_SUMMARY``.

Exit status: 0 all green, 1 something is red, 2 the folder does not exist or holds no result file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .report import RunInfo, merge, render
from .results import PARSERS, collect, read_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="the nightly report from a results folder",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="report_command", metavar="SUBCOMMAND")
    nightly = sub.add_parser("nightly", help="render the nightly/weekly results as the report issue would show them",
                             description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    nightly.add_argument("--results", required=True, metavar="DIR",
                         help="folder with the result files (searched recursively)")
    nightly.add_argument("--format", choices=("markdown", "json"), default="markdown",
                         help="markdown (the issue body) or json (sections and problems)")
    nightly.add_argument("--json", dest="json_out", default=None, metavar="FILE",
                         help="also write the JSON form here")
    nightly.add_argument("--workflow", default=None,
                         help="name of the run shown in the report (default: $GITHUB_WORKFLOW or 'local')")
    nightly.set_defaults(func=_nightly)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _run_from_env() -> RunInfo:
    env = os.environ
    url = ""
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        url = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    number = env.get("GITHUB_RUN_NUMBER", "")
    return RunInfo(env.get("GITHUB_WORKFLOW") or "local", "success", url, env.get("GITHUB_SHA", ""),
                   int(number) if number.isdigit() else None)


def _nightly(args: argparse.Namespace) -> int:
    folder = Path(args.results)
    if not folder.is_dir():
        print(f"trunkline report: {folder} is not a folder", file=sys.stderr)
        return 2
    files = read_folder(folder)
    if not files:
        print(f"trunkline report: no result file in {folder} (looked for {', '.join(sorted(PARSERS))})",
              file=sys.stderr)
        return 2
    run = _run_from_env()
    if args.workflow:
        run = RunInfo(args.workflow, run.conclusion, run.url, run.sha, run.number)
    state = merge(None, collect(files), run)
    data = {"red": state.red, "problems": state.problems(), "files": sorted(files), **state.to_json()}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    markdown = render(state, run)
    print(json.dumps(data, indent=2) if args.format == "json" else markdown)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    return 1 if state.red else 0
