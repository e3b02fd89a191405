"""``trunkline flaky [run] [--reruns N] [options] [PYTEST ARGS...]``: flaky-test detection.

Runs pytest with the recording plugin (:mod:`trunkline.flaky.plugin`): every failing test is re-run up
to N times (``flaky.reruns`` in .github/trunkline.yml, default 2) and every attempt is stored in the
database per tree SHA; a test that both passed and failed on the same tree is flaky. Quarantined tests
(``flaky.quarantine``, plus ``--quarantine PATTERN``) run and are reported, but their failures do not
fail the run. Writes ``flaky.json`` (``{"flaky_rate", "flaky", "runs", ...}``, read by the ratchets
as a ``json`` metric) and the nightly report's Markdown section (``--markdown``; appended to
``$GITHUB_STEP_SUMMARY`` inside Actions).

Arguments this command does not know go to pytest (``--`` ends this command's options). Exit status:
pytest's (0 passed, 1 failed, 2 interrupted, 3 internal error, 4 usage error, 5 no tests), after the
re-runs — a test that passes on a re-run does not fail the run, unless ``--fail-on-flaky``; 2 when
the configuration is broken.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from trunkline.config.model import CONFIG_PATH


def _options_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trunkline flaky", add_help=False, allow_abbrev=False)
    parser.add_argument("--reruns", type=int, default=None, help="re-runs of a failing test (default: config, 2)")
    parser.add_argument("--quarantine", action="append", default=[], metavar="PATTERN",
                        help="quarantine a test (node id or glob) on top of the config's list")
    parser.add_argument("--config", default=None, help=f"configuration file (default: {CONFIG_PATH} if present)")
    parser.add_argument("--json", dest="json_out", default="flaky.json", help="result JSON (default: flaky.json)")
    parser.add_argument("--markdown", dest="markdown_out", default=None, help="write the Markdown section here")
    parser.add_argument("--store", default=None,
                        help="database URL for the attempts (default: $TRUNKLINE_DATABASE_URL or .trunkline/trunkline.db)")
    parser.add_argument("--repo-name", default=None, help="repository name in the store (default: origin's)")
    parser.add_argument("--tree", default=None, help="tree SHA to record under (default: the working tree's)")
    parser.add_argument("--fail-on-flaky", action="store_true", help="exit 1 when this run found a flaky test")
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "flaky", help="re-run failing tests, record every attempt per tree SHA, report flaky tests",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False,
        usage="trunkline flaky [run] [--reruns N] [--quarantine PATTERN] [--config FILE] [--json FILE] "
              "[--markdown FILE] [--store URL] [--fail-on-flaky] [PYTEST ARGS...]")
    parser.add_argument("-h", "--help", action="store_true", dest="flaky_help")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=lambda args: _main(args, parser))


def split_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """This command's options, and the arguments left for pytest (order kept)."""
    if argv[:1] == ["run"]:
        argv = argv[1:]
    if "--" in argv:
        cut = argv.index("--")
        ours, theirs = argv[:cut], argv[cut + 1:]
    else:
        ours, theirs = argv, []
    options, unknown = _options_parser().parse_known_args(ours)
    return options, unknown + theirs


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.flaky_help:
        parser.print_help()
        print("\noptions:")
        _options_parser().print_help()
        return 0
    options, pytest_args = split_args(list(args.rest))
    return run_cli(options, pytest_args)


def run_cli(options: argparse.Namespace, pytest_args: list[str]) -> int:
    from trunkline.gates.config import ConfigFileError, load_config_file

    from .analysis import to_markdown
    from .runner import FlakyError, FlakyOptions, run

    config_path = Path(options.config) if options.config else Path(CONFIG_PATH)
    entries: list[tuple[str, str]] = []
    reruns = 2
    if options.config or config_path.is_file():
        try:
            section = load_config_file(config_path).flaky
        except ConfigFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        reruns = section.reruns
        entries = [(e.test, e.reason) for e in section.quarantine_entries()]
    if options.reruns is not None:
        if not 0 <= options.reruns <= 10:
            print("error: --reruns must be between 0 and 10", file=sys.stderr)
            return 2
        reruns = options.reruns
    entries += [(p, "") for p in options.quarantine]
    store = options.store or os.environ.get("TRUNKLINE_DATABASE_URL") or "sqlite:///.trunkline/trunkline.db"
    flaky_options = FlakyOptions(pytest_args=pytest_args, reruns=reruns, quarantine=entries, store_url=store,
                                 repo_name=options.repo_name, tree_sha=options.tree)
    try:
        result = run(flaky_options)
    except FlakyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = result.report.to_json()
    Path(options.json_out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(result.report)
    if options.markdown_out:
        Path(options.markdown_out).write_text(markdown, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(markdown + "\n")
    report = result.report
    print(f"flaky: {len(report.flaky)} of {len(report.ran)} tests flaky on tree {report.tree_sha[:12]} "
          f"({data['flaky_rate']:.2f}%, {report.runs} runs); this run: {len(result.new_flaky)} flaky, "
          f"pytest exit {result.exit_code}; wrote {options.json_out}")
    for nodeid in result.new_flaky:
        print(f"  flaky: {nodeid}")
    if options.fail_on_flaky and result.new_flaky and result.exit_code == 0:
        return 1
    return result.exit_code


__all__ = ["register", "run_cli", "split_args"]
