"""``trunkline config validate [FILE]`` and ``trunkline config schema``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trunkline.config.loader import parse_config
from trunkline.config.model import CONFIG_PATH
from trunkline.config.schema import render_schema


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="check and describe .github/trunkline.yml")
    parser.set_defaults(func=lambda _args: _help(parser))
    commands = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND")

    validate = commands.add_parser(
        "validate",
        help="validate a configuration file",
        description=(
            "Validate one configuration file on its own (org defaults and 'extends' targets live in "
            "other repositories and are not fetched). Prints 'ok: FILE is valid' or one problem per "
            "line as FILE:LINE:COLUMN KEY: MESSAGE on stderr; exits 1 when there is a problem."
        ),
    )
    validate.add_argument(
        "file", nargs="?", default=CONFIG_PATH, help=f"file to check (default: {CONFIG_PATH})"
    )
    validate.set_defaults(func=_validate)

    schema = commands.add_parser("schema", help="print the JSON Schema of the configuration file")
    schema.set_defaults(func=_schema)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _validate(args: argparse.Namespace) -> int:
    name: str = args.file
    path = Path(name)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        print(f"error: {name}: no such file", file=sys.stderr)
        return 1
    except IsADirectoryError:
        print(f"error: {name}: is a directory, not a configuration file", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:
        print(f"error: {name}: not UTF-8 text (byte {exc.start})", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {name}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    result = parse_config(text, name)
    for issue in result.issues:
        print(issue, file=sys.stderr)
    if not result.ok:
        return 1
    print(f"ok: {name} is valid")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    sys.stdout.write(render_schema())
    return 0
