"""``trunkline`` console entry point.

Each capability owns a ``cli.py`` exposing ``register(subparsers)``; this module only
collects them, so adding a command group never edits another capability's code.

Start-up matters (``trunkline serve`` is restarted by deploys and tests): when the command's
module is known from ``FAST_PATH``, only that module is imported; ``--help`` and unknown names
import every group.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module path -> provides register(subparsers)
COMMAND_MODULES = (
    "trunkline.config.cli",
    "trunkline.jobs.cli",
    "trunkline.sandbox.cli",
    "trunkline.demo.cli",
    "trunkline.contracts.cli",
    "trunkline.ratchets.cli",
    "trunkline.gates.cli",
    "trunkline.mutation.cli",
    "trunkline.flaky.cli",
    "trunkline.perf.cli",
    "trunkline.deploy.probe_cli",
    "trunkline.deploy.local_cli",
    "trunkline.reports.cli",
    "trunkline.store.cli",
)


# top-level command -> the module that registers it (an optimisation only: a missing entry still works)
FAST_PATH = {
    "config": "trunkline.config.cli",
    "serve": "trunkline.jobs.cli",
    "worker": "trunkline.jobs.cli",
    "sandbox": "trunkline.sandbox.cli",
    "demo": "trunkline.demo.cli",
    "contracts": "trunkline.contracts.cli",
    "ratchet": "trunkline.ratchets.cli",
    "verify": "trunkline.gates.cli",
    "mutation": "trunkline.mutation.cli",
    "flaky": "trunkline.flaky.cli",
    "perf": "trunkline.perf.cli",
    "probe": "trunkline.deploy.probe_cli",
    "local-deploy": "trunkline.deploy.local_cli",
    "report": "trunkline.reports.cli",
    "store": "trunkline.store.cli",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trunkline", description="Trunk-based XP pipeline bot")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    modules = COMMAND_MODULES
    if first in FAST_PATH and FAST_PATH[first] in COMMAND_MODULES and "-h" not in (argv or [])[:1]:
        modules = (FAST_PATH[first],)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # capability not built yet
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    result = handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
