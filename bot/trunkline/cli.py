"""``trunkline`` console entry point.

Each capability owns a ``cli.py`` exposing ``register(subparsers)``; this module only
collects them, so adding a command group never edits another capability's code.
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
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trunkline", description="Trunk-based XP pipeline bot")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # capability not built yet
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    result = handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
