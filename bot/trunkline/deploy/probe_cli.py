"""``trunkline probe --url URL``: run the configured deploy probes once against a URL and report.

Probes come from ``deploy.probes`` in the configuration file (default ``.github/trunkline.yml``);
``--probe NAME`` (repeatable) runs only those. ``${NAME}`` references in probe headers are read from
the environment; their values never appear in the output.

Output: ``--format text`` (default), ``json`` or ``markdown`` on stdout; ``--json FILE`` also writes
the JSON report; inside GitHub Actions the Markdown table is appended to ``$GITHUB_STEP_SUMMARY``.

Exit status: 0 every probe passed; 1 a probe failed, or could not reach the target (outcome
``error``); 2 bad input (unreadable or invalid configuration, unknown probe name, bad URL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trunkline.config.model import CONFIG_PATH


class ProbeInputError(ValueError):
    """Bad input for `trunkline probe` (message for people)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("probe", help="run the configured deploy probes once against a URL",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="base URL of the target, e.g. http://127.0.0.1:8000")
    parser.add_argument("--config", default=CONFIG_PATH, help=f"configuration file (default: {CONFIG_PATH})")
    parser.add_argument("--probe", action="append", default=[], metavar="NAME",
                        help="run only this probe (repeatable; default: all)")
    parser.add_argument("--target", default="canary", help="label of the target in the report (default: canary)")
    parser.add_argument("--json", dest="json_out", default=None, metavar="FILE", help="also write the JSON report")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="stdout format")
    parser.set_defaults(func=_run)


def load_probes(path: str | Path) -> list[Any]:
    """``deploy.probes`` of the configuration file at ``path``; ``ProbeInputError`` when unusable."""
    from trunkline.config.loader import load_layer, validate_data
    from trunkline.config.model import TrunklineConfig

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProbeInputError(f"{path}: no such file (pass --config)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeInputError(f"{path}: cannot read it ({exc})") from None
    layer = load_layer(text, str(path))
    if layer.data is None:
        raise ProbeInputError("\n".join(str(i) for i in layer.issues) or f"{path}: not a YAML mapping")
    if "deploy" in TrunklineConfig.model_fields:
        config, issues = validate_data(layer.data, layer.locate)
        if config is None:
            raise ProbeInputError("\n".join(str(i) for i in issues))
        deploy = getattr(config, "deploy", None)
        return list(deploy.probes) if deploy is not None else []
    return _probes_only(layer.data, str(path))


def _probes_only(data: dict[str, Any], path: str) -> list[Any]:
    """Before the ``deploy:`` section exists in the model: validate ``deploy.probes`` alone."""
    from pydantic import TypeAdapter, ValidationError

    from trunkline.deploy.probes import ProbeSpec

    deploy = data.get("deploy")
    raw = deploy.get("probes", []) if isinstance(deploy, dict) else []
    try:
        return TypeAdapter(list[ProbeSpec]).validate_python(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = "deploy.probes" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            lines.append(f"{path} {where}: {err['msg']}")
        raise ProbeInputError("\n".join(lines)) from None


def select(probes: Sequence[Any], names: Sequence[str], source: str) -> list[Any]:
    if not probes:
        raise ProbeInputError(f"{source} has no deploy.probes")
    if not names:
        return list(probes)
    known = {p.name: p for p in probes}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ProbeInputError(f"no probe named {', '.join(unknown)} in {source} (configured: {', '.join(known)})")
    return [known[n] for n in dict.fromkeys(names)]


def report(url: str, target: str, measurements: Sequence[Any]) -> dict[str, Any]:
    counts = {o: sum(1 for m in measurements if m.outcome == o) for o in ("ok", "fail", "error")}
    return {"url": url, "target": target, "passed": counts["ok"] == len(measurements), "summary": counts,
            "measurements": [m.to_dict() for m in measurements]}


def to_text(document: dict[str, Any]) -> str:
    lines = []
    for m in document["measurements"]:
        latency = "-" if m["latency_ms"] is None else f"{m['latency_ms']:.0f} ms"
        lines.append(f"{m['outcome']:<5}  {m['probe']:<20}  {latency:>8}  {m['detail']}")
    s = document["summary"]
    lines.append(f"{len(document['measurements'])} probe(s) against {document['url']} ({document['target']}): "
                 f"{s['ok']} ok, {s['fail']} failed, {s['error']} could not reach the target")
    return "\n".join(lines)


def to_markdown(document: dict[str, Any]) -> str:
    icons = {"ok": "✅ ok", "fail": "❌ fail", "error": "⚠️ error"}
    s = document["summary"]
    lines = [f"### Probes: {document['target']} ({document['url']})", "",
             f"{s['ok']} ok, {s['fail']} failed, {s['error']} could not reach the target.", "",
             "| probe | outcome | latency | detail |", "|---|---|---:|---|"]
    for m in document["measurements"]:
        latency = "" if m["latency_ms"] is None else f"{m['latency_ms']:.0f} ms"
        detail = m["detail"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {m['probe']} | {icons[m['outcome']]} | {latency} | {detail} |")
    return "\n".join(lines) + "\n"


def _run(args: argparse.Namespace) -> int:
    from trunkline.deploy.probes import run_probes

    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        print(f"error: --url must be an http(s) URL, not {args.url!r}", file=sys.stderr)
        return 2
    try:
        probes = select(load_probes(args.config), args.probe, args.config)
    except ProbeInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    document = report(url, args.target, run_probes(probes, url, target=args.target))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(document)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(markdown)
    print({"text": lambda: to_text(document), "json": lambda: json.dumps(document, indent=2),
           "markdown": lambda: markdown}[args.format]())
    return 0 if document["passed"] else 1
