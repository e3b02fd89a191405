"""``trunkline contracts``: generate [--check], test, tools install, and diff (from ``cli_diff``).

Handlers import their engines lazily so ``trunkline --help`` stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path


def _root_and_config(args: argparse.Namespace):  # noqa: ANN202 - (Path, LocalConfig)
    from trunkline.contracts.config import find_repo_root, load_local_config

    root = Path(args.root).resolve() if args.root else find_repo_root()
    config_path = Path(args.config).resolve() if args.config else None
    return root, load_local_config(root, config_path)


def _generate(args: argparse.Namespace) -> int:
    from trunkline.contracts.config import ContractConfigError

    started = time.perf_counter()
    try:
        root, local = _root_and_config(args)
    except ContractConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    contracts = local.contracts
    if not contracts.configured:
        print(f"contracts: nothing to do ({local.path.name} has no `contracts.sources`)")
        return 0
    if args.check:
        return _check(root, contracts, started)
    from trunkline.contracts.generate import generate

    report = generate(root, contracts, force=args.force)
    for path in report.written:
        print(f"wrote {path}")
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"contracts: {len(report.written)} written, {len(report.unchanged)} up to date, "
          f"{len(report.errors)} failed ({time.perf_counter() - started:.2f} s)")
    return 1 if report.errors else 0


def _check(root: Path, contracts, started: float) -> int:  # noqa: ANN001 - ContractsSection
    from trunkline.contracts.generate import drift, local_reader, problem_diff
    from trunkline.contracts.tools import GeneratorFailed, ToolMissing

    states = drift(contracts, local_reader(root))
    problems = [s for s in states if not s.ok]
    if not problems:
        print(f"contracts: {len(states)} generated file(s) up to date "
              f"(checked by hash in {time.perf_counter() - started:.3f} s)")
        return 0
    for state in problems:
        print(f"✗ {state.message()}")
        try:
            diff = problem_diff(root, contracts, state)
        except (ToolMissing, GeneratorFailed, ValueError) as exc:
            print(f"  (cannot show what it should be: {exc})")
            continue
        sys.stdout.write(diff or "  (regenerating gives the same bytes; only the header is out of date)\n")
    print(f"contracts: {len(problems)} of {len(states)} generated file(s) out of date; "
          "run `trunkline contracts generate` and commit the result", file=sys.stderr)
    return 1


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)


def git_reader(root: Path, rev: str):  # noqa: ANN201 - Reader
    """``read(path)`` -> the file's bytes at ``rev`` (``git show``), None when absent there."""
    def read(path: str) -> bytes | None:
        proc = _git(root, "show", f"{rev}:{path}")
        return proc.stdout if proc.returncode == 0 else None
    return read


def _check_all(args: argparse.Namespace) -> int:
    """What the bot's `trunkline/contracts` check says, computed on a checkout (used by the action)."""
    from trunkline.checks.contracts_check import contracts_check_spec, evaluate
    from trunkline.contracts.config import ContractConfigError
    from trunkline.contracts.generate import local_reader

    try:
        root, local = _root_and_config(args)
    except ContractConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    contracts = local.contracts
    if args.fail_on:
        contracts = contracts.model_copy(
            update={"breaking": contracts.breaking.model_copy(update={"fail_on": args.fail_on})})
    base = _git(root, "rev-parse", "--verify", "--quiet", f"{args.base}^{{commit}}")
    if base.returncode != 0:
        print(f"error: base {args.base!r} is not a commit here (fetch it first, e.g. git fetch origin "
              f"{args.base.removeprefix('origin/')})", file=sys.stderr)
        return 2
    head = _git(root, "rev-parse", "HEAD").stdout.decode().strip() or "0" * 40
    data = evaluate(contracts, head, base.stdout.decode().strip(), local_reader(root), git_reader(root, args.base))
    spec = contracts_check_spec(data)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "conclusion": spec.conclusion, "title": spec.title,
            "drift": "ok" if all(s.ok for s in data.states) else "stale",
            "breaking": any(str(getattr(f.level, "value", f.level)) == "ERR" for r in data.results for f in r.findings),
            "annotations": list(spec.annotations)}, indent=2) + "\n", encoding="utf-8")
    if args.format == "markdown":
        print(f"## {spec.title}\n\n{spec.summary}")
    elif args.format == "github":
        for note in spec.annotations:  # workflow commands: annotations on the PR's files
            command = {"failure": "error", "warning": "warning"}.get(note["annotation_level"], "notice")
            message = str(note["message"]).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            print(f"::{command} file={note['path']},line={note['start_line']},title={note['title']}::{message}")
        print(spec.title)
    else:
        print(spec.title)
        for note in spec.annotations:
            print(f"  {note['path']}:{note['start_line']}: {note['title']}: {note['message']}")
    return 0 if spec.conclusion == "success" else 1


def _tools_install(args: argparse.Namespace) -> int:
    from trunkline.contracts.config import find_repo_root
    from trunkline.contracts.tools import NODE_PINS, ToolMissing, install_node_tools, node_prefix_for

    root = Path(args.root).resolve() if args.root else find_repo_root()
    prefix = Path(args.prefix).resolve() if args.prefix else node_prefix_for(root)
    try:
        proc = install_node_tools(prefix)
    except ToolMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if proc.returncode != 0:
        print(f"error: npm install failed (exit {proc.returncode}):\n{proc.stderr.strip()[-3000:]}", file=sys.stderr)
        return 1
    print(f"installed {', '.join(f'{k}@{v}' for k, v in NODE_PINS.items())} into {prefix}")
    return 0


def _test(args: argparse.Namespace) -> int:
    from trunkline.contracts.config import ContractConfigError
    from trunkline.contracts.testing import run_from_cli

    try:
        root, local = _root_and_config(args)
    except ContractConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_from_cli(root, local.contracts, args)


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", help="repository root (default: the checkout containing the working directory)")
    parser.add_argument("--config", help="configuration file (default: ROOT/.github/trunkline.yml)")


def register(subparsers: argparse._SubParsersAction) -> None:
    contracts = subparsers.add_parser(
        "contracts", help="API contracts: generate code, check drift, diff, contract tests",
        description="OpenAPI/AsyncAPI contracts configured under `contracts:` in .github/trunkline.yml.")
    sub = contracts.add_subparsers(dest="contracts_command", metavar="SUBCOMMAND")
    contracts.set_defaults(func=lambda _args: contracts.print_help() or 2)

    gen = sub.add_parser("generate", help="generate code from the contracts (only what is out of date)")
    gen.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 and print a diff when a generated file is stale or edited "
                          "(unchanged contracts are checked by hash, without running generators)")
    gen.add_argument("--force", action="store_true", help="regenerate every target, even up-to-date ones")
    _add_location(gen)
    gen.set_defaults(func=_generate)

    check = sub.add_parser("check", help="drift + breaking changes against a base revision (the bot's check, "
                                         "on a checkout)")
    check.add_argument("--base", required=True, help="git revision to compare with, e.g. origin/main")
    check.add_argument("--format", choices=["text", "markdown", "github"], default="text",
                       help="text, markdown (step summary) or github (workflow-command annotations)")
    check.add_argument("--fail-on", choices=["ERR", "WARN", "never"],
                       help="override contracts.breaking.fail_on")
    check.add_argument("--json-out", help="also write {conclusion, drift, breaking, annotations} as JSON here")
    _add_location(check)
    check.set_defaults(func=_check_all)

    test = sub.add_parser("test", help="run schemathesis against a running service (tiers 0, 1, nightly)")
    test.add_argument("--url", help="base URL of the running service (default: contracts.tests.url, starting "
                                    "contracts.tests.command when set)")
    test.add_argument("--tier", choices=["0", "1", "nightly"], default="0",
                      help="0: examples + coverage (bounded); 1: + fuzzing; nightly: + stateful (default: 0)")
    test.add_argument("--source", help="OpenAPI contract to test (default: contracts.tests.source or the first "
                                       "openapi source)")
    test.add_argument("--baseline", help="schemathesis baseline: recorded failures pass, new ones fail "
                                         "(default: contracts.tests.baseline)")
    test.add_argument("--update-baseline", action="store_true", help="add this run's failures to the baseline")
    test.add_argument("--junit", help="write a JUnit XML report here")
    test.add_argument("--examples", type=int, help="fuzzing examples per operation (overrides the tier's)")
    test.add_argument("--seed", type=int, help="random seed (reproducible runs)")
    test.add_argument("--max-time", type=int, help="time budget in seconds for fuzzing/stateful phases")
    _add_location(test)
    test.set_defaults(func=_test)

    tools = sub.add_parser("tools", help="install the optional node generators (TypeScript, Swift)")
    tools_sub = tools.add_subparsers(dest="tools_command", metavar="ACTION")
    install = tools_sub.add_parser("install", help="npm install the pinned tools into .trunkline/node")
    install.add_argument("--prefix", help="npm prefix (default: ROOT/.trunkline/node or TRUNKLINE_NODE_PREFIX)")
    install.add_argument("--root", help="repository root")
    install.set_defaults(func=_tools_install)
    tools.set_defaults(func=lambda _args: tools.print_help() or 2)

    try:  # the breaking-change diff lives in its own module
        cli_diff = importlib.import_module("trunkline.contracts.cli_diff")
    except ModuleNotFoundError as exc:
        if exc.name != "trunkline.contracts.cli_diff":
            raise
    else:
        cli_diff.register_diff(sub)
