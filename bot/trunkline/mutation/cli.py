"""``trunkline mutation run``: mutation testing with mutmut 3, scoped for pull requests.

    trunkline mutation run --base origin/main      # PR gate: the changed functions (and what changed tests reach)
    trunkline mutation run --sample 200 [--seed S]  # nightly: a seeded random sample (the seed is printed)
    trunkline mutation run --all                    # weekly: every mutant

Without a scope flag, ``$TRUNKLINE_BASE_REF`` (set by the ratchets runner) or ``$GITHUB_BASE_REF`` (pull
request workflows; read as ``origin/<ref>``) is the base. Writes the mutation-score JSON (``--json``,
default ``mutation.json``) and a Markdown summary (``--markdown``; appended to ``$GITHUB_STEP_SUMMARY``
inside Actions). Exit status: 0 when every chosen mutant was tested (surviving mutants included — the
ratchet judges the score), 1 when the run failed or did not finish, 2 on usage or configuration errors.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .report import headline, to_markdown
from .runner import Progress, RunError, RunOptions, execute
from .workspace import DEFAULT_WORKSPACE, ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mutation", help="mutation testing with mutmut (PR-scoped, sampled or full)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mutation_command", metavar="SUBCOMMAND")
    run = sub.add_parser("run", help="run mutmut on the changed functions, a random sample or everything",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--base", metavar="REV", help="mutate the functions changed since the merge base with REV")
    scope.add_argument("--sample", type=int, metavar="N", help="test N mutants drawn at random")
    scope.add_argument("--all", action="store_true", help="test every mutant")
    run.add_argument("--seed", type=int, help="seed for --sample (default: random, printed)")
    run.add_argument("--repo", default=".", help="repository root (default: .)")
    run.add_argument("--workspace", default=None,
                     help=f"mutmut workspace, recreated on every run (default: <repo>/{DEFAULT_WORKSPACE})")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel mutants (default: CPUs)")
    run.add_argument("--json", dest="json_out", default="mutation.json",
                     help="mutation-score JSON (default: mutation.json)")
    run.add_argument("--markdown", dest="markdown_out", default=None, help="write the Markdown summary here")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(func=_run)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _default_base() -> str | None:
    if os.environ.get("TRUNKLINE_BASE_REF"):
        return os.environ["TRUNKLINE_BASE_REF"]
    if os.environ.get("GITHUB_BASE_REF"):
        return f"origin/{os.environ['GITHUB_BASE_REF']}"
    return None


class ConsoleProgress(Progress):
    """rich progress on a terminal; plain lines (phases, every 10 %) in CI logs."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self._progress: Any = None
        self._task: Any = None
        self._last_decile = -1

    def phase(self, text: str) -> None:
        if self.quiet:
            return
        if self._progress is not None and not text.startswith("testing"):
            self.close()
        self.console.print(f"[bold]mutation:[/] {text}")
        if text.startswith("testing") and self.live and self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("mutants"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=self.console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("mutants", total=None)

    def advance(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)
            return
        decile = 10 * done // total if total else 10
        if decile != self._last_decile:
            self._last_decile = decile
            self.console.print(f"mutation: {done}/{total} mutants tested")

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"mutation: {text}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _run(args: argparse.Namespace) -> int:
    scope = "full" if args.all else "sample" if args.sample is not None else "pr"
    base = args.base or (_default_base() if scope == "pr" else None)
    if scope == "pr" and not base:
        print("error: say what to mutate: --base REV (pull request), --sample N (nightly) or --all (weekly)",
              file=sys.stderr)
        return 2
    if scope == "sample" and args.sample < 1:
        print("error: --sample needs a positive number of mutants", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    repo = Path(args.repo)
    workspace = Path(args.workspace) if args.workspace else repo / DEFAULT_WORKSPACE
    options = RunOptions(repo=repo, workspace=workspace, scope=scope, base=base, sample=args.sample,
                         seed=args.seed, jobs=args.jobs)
    progress = ConsoleProgress(args.quiet)
    # a cancelled job (SIGTERM) unwinds like Ctrl-C, so mutmut and its workers are stopped too
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        report = execute(options, progress)
    except RunError as exc:
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        if exc.log:
            print(exc.log, file=sys.stderr)
        return 1
    except ConfigError as exc:
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        progress.close()
        print("mutation: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    progress.close()

    data = report.to_json()
    Path(args.json_out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(report)
    if args.markdown_out:
        Path(args.markdown_out).write_text(markdown, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(markdown + "\n")
    print(headline(report))
    for survivor in report.survivors[:10]:
        print(f"  survived: {survivor.name} ({survivor.path}, {survivor.function})")
    if len(report.survivors) > 10:
        print(f"  … {len(report.survivors) - 10} more in {args.json_out}")
    print(f"mutation: wrote {args.json_out}" + (f" and {args.markdown_out}" if args.markdown_out else ""))
    return 1 if report.status == "incomplete" else 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


__all__ = ["register"]
