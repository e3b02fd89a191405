"""``trunkline perf compare BASE.json HEAD.json``: performance regressions between two benchmark runs.

Compares pytest-benchmark result files per benchmark with a Mann-Whitney U test and an effect-size
floor on the median (see :mod:`trunkline.perf.compare`); prints the table, writes ``--json`` /
``--markdown`` (appended to ``$GITHUB_STEP_SUMMARY`` inside Actions).

Exit status: 0 no benchmark is slower and every one could be compared; 1 a benchmark is slower, or one
has no data (too few rounds, missing on a side, no raw timings) unless ``--allow-no-data``; 2 unreadable
input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .compare import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_CHANGE,
    DEFAULT_MIN_SAMPLES,
    BenchmarkFileError,
    compare,
    load_benchmarks,
    to_markdown,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("perf", help="performance regression: compare pytest-benchmark results",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="perf_command", metavar="SUBCOMMAND")
    cmp = sub.add_parser("compare", help="per-benchmark verdicts: faster / slower / unchanged / no data",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp.add_argument("base", help="pytest-benchmark JSON of the base (e.g. the default branch)")
    cmp.add_argument("head", help="pytest-benchmark JSON of the head (the change)")
    cmp.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                     help=f"significance level of the Mann-Whitney test (default: {DEFAULT_ALPHA})")
    cmp.add_argument("--min-change", type=float, default=DEFAULT_MIN_CHANGE * 100, metavar="PERCENT",
                     help=f"effect-size floor: smallest median change that counts, in percent "
                          f"(default: {DEFAULT_MIN_CHANGE * 100:g})")
    cmp.add_argument("--min-samples", type=int, default=DEFAULT_MIN_SAMPLES,
                     help=f"rounds needed on each side (default: {DEFAULT_MIN_SAMPLES})")
    cmp.add_argument("--allow-no-data", action="store_true",
                     help="do not fail when a benchmark cannot be compared (it is still reported)")
    cmp.add_argument("--json", dest="json_out", default=None, help="write the verdicts as JSON here")
    cmp.add_argument("--markdown", dest="markdown_out", default=None, help="write the Markdown table here")
    cmp.set_defaults(func=_compare)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _load(path: str) -> dict:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchmarkFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkFileError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise BenchmarkFileError(f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})") from None
    return load_benchmarks(document, path)


def _compare(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        print("error: --alpha must be between 0 and 1", file=sys.stderr)
        return 2
    if args.min_change < 0 or args.min_samples < 2:
        print("error: --min-change must be >= 0 and --min-samples >= 2", file=sys.stderr)
        return 2
    try:
        base, head = _load(args.base), _load(args.head)
    except BenchmarkFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = compare(base, head, args.alpha, args.min_change / 100, args.min_samples, args.allow_no_data)
    report.sources = {"base": args.base, "head": args.head}
    markdown = to_markdown(report)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    if args.markdown_out:
        Path(args.markdown_out).write_text(markdown, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(markdown + "\n")
    for c in report.comparisons:
        change = "" if c.change is None else f" {c.change:+.1%}"
        print(f"{c.verdict:>9}  {c.name}{change}  ({c.reason})")
    counts = ", ".join(f"{report.count(v)} {v}" for v in ("slower", "faster", "unchanged", "no data"))
    print(f"perf: {'pass' if report.passed else 'FAIL'} — {counts}")
    return 0 if report.passed else 1


__all__ = ["register"]
