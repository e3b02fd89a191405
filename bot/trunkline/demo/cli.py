"""``trunkline demo``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the sandbox demo of the whole loop (no GitHub account needed)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the sandbox's git repos, databases and bot log in this folder")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from trunkline.demo.run import run_demo

    return run_demo(args.keep)
