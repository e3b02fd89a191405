"""``trunkline ratchet check|update``: the ratchets on a directory of measurement files.

``check`` reads every metric of the baseline from its file (relative to ``--dir``, or given with
``--metrics NAME=FILE``), prints the table and exits 1 when a required metric breaks its limit or has no
data (0 otherwise, 2 when the baseline itself is unusable). Inside GitHub Actions it appends the table to
``$GITHUB_STEP_SUMMARY`` and writes ``verdict`` / ``table`` to ``$GITHUB_OUTPUT``.

``update`` raises the floors (lowers the ceilings) in the baseline file to the values achieved, under the
rules of :mod:`trunkline.ratchets.rules`, editing the file in place with its comments kept.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import report
from .baseline import DEFAULT_PATH, Baseline, BaselineError, parse_baseline
from .metrics import Reading
from .update import apply_changes, measure_dir, plan_update


def _pairs(values: list[str] | None, baseline: Baseline) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in values or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--metrics expects NAME=FILE, got {item!r}")
        if baseline.get(name) is None:
            raise SystemExit(f"--metrics {item}: no metric {name!r} in {baseline.path} "
                             f"(it has: {', '.join(baseline.names) or 'none'})")
        out[name] = Path(path)
    return out


def _today(value: str | None) -> date:
    return date.fromisoformat(value) if value else datetime.now(UTC).date()


def load_base_values(path: Path) -> dict[str, Reading]:
    """Base values: a ``--json`` result of an earlier ``check`` (its ``head`` values) or ``{name: number}``."""
    data = json.loads(path.read_text())
    values: dict[str, Any]
    if isinstance(data, dict) and isinstance(data.get("metrics"), list):
        values = {m.get("name"): m.get("head") for m in data["metrics"] if isinstance(m, dict)}
    elif isinstance(data, dict):
        values = data
    else:
        raise SystemExit(f"{path}: expected a JSON object")
    return {str(k): Reading(float(v)) for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def _load(args: argparse.Namespace) -> tuple[Baseline, str] | None:
    path = Path(args.baseline)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"{path}: no such baseline file (create it; see docs/ratchets.md)", file=sys.stderr)
        return None
    try:
        return parse_baseline(text, str(args.baseline)), text
    except BaselineError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _github_output(values: Mapping[str, str]) -> None:
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:
        for key, value in values.items():
            if "\n" in value:
                delimiter = f"EOF_{secrets.token_hex(8)}"
                out.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                out.write(f"{key}={value}\n")


def _step_summary(text: str) -> None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(text + "\n")


def cmd_check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 2
    baseline, _ = loaded
    readings = measure_dir(baseline, Path(args.dir), _pairs(args.metrics, baseline))
    base = load_base_values(Path(args.base)) if args.base else None
    rows = report.build_rows(baseline, readings, base, _today(args.today))
    table = report.table(rows)
    verdict = "pass" if report.conclusion(rows) == "success" else "fail"
    if args.format == "github":
        for row in report.failed(rows):
            print(f"::error title=ratchet {row.name}::{row.name}: {row.outcome.message}")
    print(f"{report.title(rows)}\n")
    print(table, end="")
    for line in report.details(rows):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(rows), indent=2) + "\n")
    _step_summary(f"### {report.title(rows)}\n\n{table}")
    _github_output({"verdict": verdict, "table": table.rstrip("\n")})
    return 0 if verdict == "pass" else 1


def cmd_update(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 2
    baseline, text = loaded
    today = _today(args.today)
    readings = measure_dir(baseline, Path(args.dir), _pairs(args.metrics, baseline))
    changes = plan_update(baseline, readings, today)
    for name, reading in readings.items():
        if not reading.ok and reading.status != "not_applicable":
            print(f"{name}: not updated ({reading.detail or 'no data'})", file=sys.stderr)
    if not changes:
        print("No limit moved.")
        _github_output({"verdict": "unchanged", "table": ""})
        return 0
    lines = [c.describe((baseline.get(c.name) or baseline.metrics[0]).rule.precision) for c in changes]
    for line in lines:
        print(line)
    if not args.dry_run:
        Path(args.baseline).write_text(apply_changes(text, changes, today), encoding="utf-8")
        print(f"Updated {args.baseline}.")
    _step_summary("### Ratchets raised\n\n" + "\n".join(f"- {line}" for line in lines))
    _github_output({"verdict": "raised", "table": "\n".join(lines)})
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", default=DEFAULT_PATH, help=f"baseline file (default {DEFAULT_PATH})")
    p.add_argument("--dir", default=".", help="directory the metric files are relative to (default .)")
    p.add_argument("--metrics", nargs="*", metavar="NAME=FILE", help="read metric NAME from FILE instead")
    p.add_argument("--today", metavar="YYYY-MM-DD", help="date for step periods (default: today, UTC)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ratchet", help="quality ratchets: check metrics against floors, raise floors",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="ratchet_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="compare the measured metrics with the floors (exit 1 when broken)")
    _common(check)
    check.add_argument("--base", metavar="FILE", help="base values: an earlier --json result or {name: value}")
    check.add_argument("--json", metavar="FILE", help="write the result as JSON")
    check.add_argument("--format", choices=("text", "github"), default="text",
                       help="github: also print ::error:: workflow commands")
    check.set_defaults(func=cmd_check)
    update = sub.add_parser("update", help="raise floors to the achieved values (comments kept)")
    _common(update)
    update.add_argument("--dry-run", action="store_true", help="print what would move, change nothing")
    update.set_defaults(func=cmd_update)
