"""``trunkline contracts diff BASE HEAD``: breaking changes between two contract versions.

``register_diff(contracts_subparsers)`` adds the ``diff`` command to the ``contracts`` group (owned by
``trunkline.contracts.cli``). Exit codes: 0 no finding reaches ``--fail-on``, 1 one does, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .diff import ContractError, DiffOptions, DiffPolicy, apply_policy, diff, exit_code
from .diff.format import FORMATS, format_findings
from .diff.model import Level
from .sources import load_source


def _override(text: str) -> tuple[str, Level]:
    rule_id, sep, level = text.partition("=")
    if not sep or not rule_id:
        raise argparse.ArgumentTypeError(f"expected RULE_ID=LEVEL, got {text!r}")
    try:
        return rule_id.strip(), Level.parse(level)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ignore(text: str) -> dict[str, str]:
    rule_id, sep, reason = text.partition(":")
    if not sep or not reason.strip():
        raise argparse.ArgumentTypeError(f"expected RULE_ID:REASON (a reason is required), got {text!r}")
    return {"id": rule_id.strip(), "reason": reason.strip()}


def register_diff(contracts_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = contracts_subparsers.add_parser(
        "diff", help="breaking changes between two OpenAPI/AsyncAPI versions",
        description="Compare BASE and HEAD (files, or git REV:PATH such as origin/main:contracts/openapi.yaml) "
                    "and report changes with oasdiff's rule ids and levels.")
    p.add_argument("base", metavar="BASE", help="base contract: a file or REV:PATH")
    p.add_argument("head", metavar="HEAD", help="head contract: a file or REV:PATH")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--fail-on", choices=("ERR", "WARN", "never"), default="ERR", type=_fail_on,
                   help="exit 1 when a finding reaches this level (default: ERR)")
    p.add_argument("--level", metavar="RULE=LEVEL", action="append", type=_override, default=[],
                   help="override a rule's level (repeatable)")
    p.add_argument("--ignore", metavar="RULE:REASON", action="append", type=_ignore, default=[],
                   help="ignore a rule id (wildcards allowed) with a mandatory reason (repeatable)")
    p.add_argument("--min-level", choices=("ERR", "WARN", "INFO"), default="INFO",
                   help="only show findings at or above this level (default: INFO)")
    p.add_argument("--deprecation-days", type=int, default=0,
                   help="require deprecated operations to carry an x-sunset at least this many days away")
    p.add_argument("-C", "--repo", default=None, help="directory for files and git (default: cwd)")
    p.set_defaults(func=run_diff)
    return p


def _fail_on(text: str) -> str:
    return "never" if text.lower() == "never" else text.upper()


def run_diff(args: argparse.Namespace) -> int:
    cwd = Path(args.repo) if args.repo else None
    try:
        policy = DiffPolicy(fail_on=args.fail_on, overrides=dict(args.level), ignore=list(args.ignore))
        base = load_source(args.base, cwd=cwd)
        head = load_source(args.head, cwd=cwd)
        findings = diff(base, head, options=DiffOptions(deprecation_days=args.deprecation_days))
    except (ContractError, ValueError) as exc:
        print(f"trunkline contracts diff: {exc}", file=sys.stderr)
        return 2
    findings = apply_policy(findings, policy)
    threshold = Level.parse(args.min_level).rank
    shown = [f for f in findings if f.level.rank >= threshold]
    print(format_findings(shown, args.format))
    return exit_code(findings, policy)
