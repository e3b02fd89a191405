"""``trunkline store status`` and ``trunkline store migrate``: the database's schema version.

Both read ``TRUNKLINE_DATABASE_URL`` (``Settings.from_env()``) unless ``--database-url`` is given.
``status`` changes nothing and exits 1 when migrations are pending or the database lacks something no
migration adds; ``migrate`` applies what is pending (``trunkline serve``/``worker`` also do that at
start-up) and exits 2, with the reason, when the database cannot be used by this version.
"""

from __future__ import annotations

import argparse
import json


def _store(args: argparse.Namespace):  # noqa: ANN202 - Store, imported lazily
    from trunkline.settings import Settings
    from trunkline.store.base import Store

    return Store(args.database_url or Settings.from_env().database_url)


def _print_status(status, as_json: bool) -> None:  # noqa: ANN001 - migrations.Status
    if as_json:
        print(json.dumps(status.as_dict(), indent=2))
        return
    print(f"database: {status.url} ({status.dialect})")
    print(f"schema version: {max(status.applied, default=0)} (this Trunkline: {status.head})")
    for name in status.pending:
        print(f"pending: {name}")
    for version in status.newer:
        print(f"newer: version {version} was applied by a newer Trunkline")
    for d in status.drift:
        print(f"missing (no migration adds it): {d.describe()}")
    print("up to date" if status.up_to_date else
          "not up to date: run `trunkline store migrate`" if not status.drift else
          "this version cannot use the database (see 'missing')")


def _status(args: argparse.Namespace) -> int:
    from trunkline.store.migrations import status

    store = _store(args)
    try:
        current = status(store)
    finally:
        store.dispose()
    _print_status(current, args.json)
    return 0 if current.up_to_date else 1


def _migrate(args: argparse.Namespace) -> int:
    from trunkline.store.migrations import SchemaError, prepare

    store = _store(args)
    try:
        result = prepare(store)
    except SchemaError as exc:
        print(f"trunkline store migrate: {exc}")
        return 2
    finally:
        store.dispose()
    if args.json:
        print(json.dumps({**result.status.as_dict(), "migrated": list(result.applied),
                          "created": list(result.created)}, indent=2))
        return 0
    for name in result.applied:
        print(f"applied: {name}")
    for name in result.created:
        print(f"created: {name}")
    _print_status(result.status, False)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    store = subparsers.add_parser("store", help="the database: schema version and migrations")
    commands = store.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    for name, func, help_text in (
        ("status", _status, "show the schema version, pending migrations and missing columns (changes nothing)"),
        ("migrate", _migrate, "apply pending migrations and create missing tables (safe to run while the bot runs)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: TRUNKLINE_DATABASE_URL)")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(func=func)
