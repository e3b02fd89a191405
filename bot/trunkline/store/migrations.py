"""Schema migrations: bring a database made by an older Trunkline up to this version's ``metadata``.

``metadata.create_all`` creates missing *tables* but never touches an existing one, so a column added
to a table in a later version (``deliveries.serial_key``, ``merge_queue.head_since``) is missing from
every database made before it, and the first statement naming it fails mid-delivery. This module
closes that gap without alembic:

* :data:`MIGRATIONS` — an ordered tuple of :class:`Migration` (version, name, steps). Steps are plain
  data (:class:`AddColumn`: the column's DDL comes from ``metadata``) or a small function
  (:class:`Backfill`). Every step is *idempotent* ("ensure" semantics): it looks at the live
  database first, so it is right on a fresh database, on one made before migrations existed
  (no ``schema_version`` rows at all), and on one a crash left half-way.
* ``schema_version`` — one row per applied migration (version, name, when, by whom).
* :func:`prepare` (what :meth:`Store.create_all` runs at start-up) — if anything is pending, takes a
  cross-process lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock)
  and, in that one transaction, applies the pending migrations, creates missing tables and indexes
  and records the versions; processes that waited for the lock find nothing left to do. Then the
  **drift check** compares the live database to ``metadata`` and raises :class:`SchemaDriftError`
  naming each missing table/column — at start-up, instead of an SQL error in the middle of a
  delivery — when a developer added a column but forgot its migration.

The decisions (:func:`expected_shape`, :func:`drift`, :func:`pending`, :func:`check_migrations`)
are pure functions over :class:`SchemaShape`; reading the live shape and applying steps is the shell.

Adding a column to a table: declare it in the table module (nullable, or with a ``server_default``:
old rows and older processes still inserting without it must stay valid), then append
``Migration(<next version>, "<table>.<column>", (AddColumn("<table>", "<column>"),))`` here.
New tables and new indexes need no migration: they are created from ``metadata``. A unit test holds
every table's columns at a schema version (``tests/unit/store_schema.json``) and fails on a column
added to one of them without such a step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trunkline.store.base import metadata

if TYPE_CHECKING:
    from trunkline.store.base import Store

log = logging.getLogger(__name__)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Double, nullable=False),
    sa.Column("applied_by", sa.String(300)),
)


class SchemaError(RuntimeError):
    """The database cannot be used by this version of Trunkline (the message says why and what to do)."""


class SchemaDriftError(SchemaError):
    """The live database lacks tables/columns that ``metadata`` declares and no migration adds."""


# ---- pure core ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SchemaShape:
    """Which tables, columns and indexes a database has (or should have): names only."""

    columns: Mapping[str, frozenset[str]] = field(default_factory=dict)  # table -> column names
    indexes: Mapping[str, frozenset[str]] = field(default_factory=dict)  # table -> index names


@dataclass(frozen=True, order=True)
class Drift:
    kind: str  # "table" | "column" | "index"
    table: str
    name: str  # the table, column or index that is missing

    def describe(self) -> str:
        if self.kind == "table":
            return f"table {self.table!r} is missing"
        return f"table {self.table!r} has no {self.kind} {self.name!r}"


def expected_shape(meta: sa.MetaData) -> SchemaShape:
    return SchemaShape(
        columns={name: frozenset(c.name for c in table.columns) for name, table in meta.tables.items()},
        indexes={name: frozenset(i.name for i in table.indexes if i.name) for name, table in meta.tables.items()},
    )


def drift(expected: SchemaShape, live: SchemaShape) -> list[Drift]:
    """What ``live`` lacks of ``expected``, sorted. Extra tables, columns and indexes (a newer
    version's, or an operator's) are not drift: additive changes keep older code working."""
    found: list[Drift] = []
    for table, columns in expected.columns.items():
        if table not in live.columns:
            found.append(Drift("table", table, table))
            continue
        found.extend(Drift("column", table, c) for c in columns - live.columns[table])
        found.extend(Drift("index", table, i) for i in expected.indexes.get(table, frozenset())
                     - live.indexes.get(table, frozenset()))
    return sorted(found)


def pending(migrations: Sequence[Migration], applied: Iterable[int]) -> list[Migration]:
    done = set(applied)
    return [m for m in migrations if m.version not in done]


def check_migrations(migrations: Sequence[Migration], meta: sa.MetaData) -> list[str]:
    """Problems with the migration list itself (empty = fine): versions must be 1, 2, 3...; an added
    column must exist in ``metadata`` and be nullable or have a server default (SQLite cannot add a
    NOT NULL column without one, and older processes insert rows without it)."""
    problems: list[str] = []
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        problems.append(f"migration versions must be 1..{len(versions)} in order, got {versions}")
    for m in migrations:
        for step in m.steps:
            if isinstance(step, AddColumn):
                table = meta.tables.get(step.table)
                column = table.columns.get(step.column) if table is not None else None
                if column is None:
                    problems.append(f"migration {m.version}: {step.table}.{step.column} is not in metadata")
                elif column.primary_key:
                    problems.append(f"migration {m.version}: cannot add primary key column "
                                    f"{step.table}.{step.column}")
                elif not column.nullable and column.server_default is None:
                    problems.append(f"migration {m.version}: {step.table}.{step.column} is NOT NULL "
                                    "without a server_default")
    return problems


def drift_message(url: str, found: Sequence[Drift]) -> str:
    lines = [f"the database {url} does not match this version of Trunkline "
             f"(schema version {head_version()}):"]
    for d in found:
        hint = ""
        if d.kind == "column":
            hint = (f" — no migration adds it: append Migration({head_version() + 1}, "
                    f"\"{d.table}.{d.name}\", (AddColumn(\"{d.table}\", \"{d.name}\"),)) to "
                    "trunkline.store.migrations.MIGRATIONS, or run the Trunkline version that made this database")
        lines.append(f"  - {d.describe()}{hint}")
    return "\n".join(lines)


# ---- steps ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AddColumn:
    """Add ``table.column`` as declared in ``metadata`` (type, nullability, server default)."""

    table: str
    column: str

    def describe(self) -> str:
        return f"add column {self.table}.{self.column}"

    def apply(self, conn: Connection, live: SchemaShape) -> bool:
        if self.table not in live.columns or self.column in live.columns[self.table]:
            return False  # a missing table is created whole from metadata; a present column stays
        column = metadata.tables[self.table].columns[self.column]
        ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
        table = conn.dialect.identifier_preparer.quote(self.table)
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {ddl}")
        return True


@dataclass(frozen=True)
class Backfill:
    """Run ``fn(conn)`` when ``table`` exists (after the earlier steps of the same migration)."""

    table: str
    description: str
    fn: Callable[[Connection], int]  # returns the number of rows it changed

    def describe(self) -> str:
        return self.description

    def apply(self, conn: Connection, live: SchemaShape) -> bool:
        if self.table not in live.columns:
            return False
        changed = self.fn(conn)
        log.info("migration backfill %r: %d row(s)", self.description, changed)
        return True


Step = AddColumn | Backfill


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    steps: tuple[Step, ...]


def _backfill_serial_keys(conn: Connection) -> int:
    """Unfinished deliveries stored before ``serial_key`` existed get their key, so the key's holder
    drains them in order with the new ones (the worker would otherwise derive it only on its turn)."""
    from trunkline.jobs.keys import serial_key

    t = metadata.tables["deliveries"]
    rows = conn.execute(sa.select(t.c.guid, t.c.event, t.c.body)
                        .where(t.c.serial_key.is_(None), t.c.status.in_(("queued", "running")))).all()
    changed = 0
    for guid, event, body in rows:
        try:
            key = serial_key(event, json.loads(bytes(body)))
        except ValueError:
            continue  # malformed payload: the worker marks it failed
        if key is not None:
            conn.execute(sa.update(t).where(t.c.guid == guid).values(serial_key=key))
            changed += 1
    return changed


def _backfill_slot_since(conn: Connection) -> int:
    """A pull request holding a queue's slot at the upgrade has held it at least since its row's last
    write: start its slot timeout there (NULL would let it hold the slot forever)."""
    t = metadata.tables["merge_queue"]
    return conn.execute(sa.update(t).where(t.c.state == "updating", t.c.slot_since.is_(None))
                        .values(slot_since=t.c.updated_at)).rowcount


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "deliveries.serial_key", (
        AddColumn("deliveries", "serial_key"),
        Backfill("deliveries", "serial_key of unfinished deliveries", _backfill_serial_keys),
    )),
    Migration(2, "merge_queue.slot_since", (
        AddColumn("merge_queue", "slot_since"),
        Backfill("merge_queue", "slot_since of the pull requests holding a slot", _backfill_slot_since),
    )),
)


def head_version() -> int:
    return MIGRATIONS[-1].version if MIGRATIONS else 0


# ---- shell ----------------------------------------------------------------------------------------

def live_shape(conn: Connection) -> SchemaShape:
    inspector = sa.inspect(conn)
    columns: dict[str, frozenset[str]] = {}
    indexes: dict[str, frozenset[str]] = {}
    for table in inspector.get_table_names():
        columns[table] = frozenset(c["name"] for c in inspector.get_columns(table))
        indexes[table] = frozenset(i["name"] for i in inspector.get_indexes(table) if i.get("name"))
    return SchemaShape(columns, indexes)


def applied_versions(conn: Connection, live: SchemaShape) -> set[int]:
    if "schema_version" not in live.columns:
        return set()
    return {int(v) for v in conn.execute(sa.select(schema_version.c.version)).scalars()}


@dataclass(frozen=True)
class Status:
    url: str
    dialect: str
    applied: tuple[int, ...]
    head: int
    pending: tuple[str, ...]  # "3 merge_queue.head_since"
    drift: tuple[Drift, ...]  # after pending migrations would have run: what no migration fixes
    newer: tuple[int, ...]  # versions recorded by a newer Trunkline

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.drift

    def as_dict(self) -> dict[str, object]:
        return {"url": self.url, "dialect": self.dialect, "version": max(self.applied, default=0),
                "head": self.head, "applied": list(self.applied), "pending": list(self.pending),
                "drift": [d.describe() for d in self.drift], "newer": list(self.newer),
                "up_to_date": self.up_to_date}


def _fixed_by_migrations(found: Sequence[Drift], todo: Sequence[Migration], live: SchemaShape) -> list[Drift]:
    """Drift that neither the pending migrations (columns) nor ``create_all`` (tables, indexes) fix."""
    added = {(s.table, s.column) for m in todo for s in m.steps if isinstance(s, AddColumn)}
    return [d for d in found if d.kind == "column" and (d.table, d.name) not in added]


def safe_url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=True)


def _look(store: Store) -> tuple[SchemaShape, set[int]]:
    with store.engine.connect() as conn:
        live = live_shape(conn)
        return live, applied_versions(conn, live)


def _status(store: Store, live: SchemaShape, applied: set[int]) -> Status:
    known = {m.version for m in MIGRATIONS}
    todo = pending(MIGRATIONS, applied)
    remaining = _fixed_by_migrations(drift(expected_shape(metadata), live), todo, live)
    return Status(url=safe_url(store), dialect=store.dialect, applied=tuple(sorted(applied & known)),
                  head=head_version(), pending=tuple(f"{m.version} {m.name}" for m in todo),
                  drift=tuple(remaining), newer=tuple(sorted(applied - known)))


def status(store: Store) -> Status:
    """Where ``store``'s database stands; changes nothing."""
    store.load_table_modules()
    return _status(store, *_look(store))


@contextlib.contextmanager
def _locked(store: Store) -> Iterator[Connection]:
    """One transaction holding the schema lock: SQLite's write lock or a PostgreSQL advisory lock
    (per schema, released at commit). Committed on success, rolled back on error."""
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The driver starts no transaction for DDL on its own: take the write lock explicitly.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('trunkline.schema:' || current_schema()))"))
        else:  # pragma: no cover - other databases: no cross-process lock, steps are idempotent
            log.warning("no schema lock for dialect %s: start one process first", conn.dialect.name)
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


@dataclass(frozen=True)
class Result:
    applied: tuple[str, ...]  # migrations this call recorded ("1 deliveries.serial_key")
    created: tuple[str, ...]  # tables and indexes this call created
    status: Status


def _migrate_locked(conn: Connection, by: str) -> tuple[list[str], list[str]]:
    live = live_shape(conn)
    todo = pending(MIGRATIONS, applied_versions(conn, live))
    done: list[str] = []
    for migration in todo:
        for step in migration.steps:
            if step.apply(conn, live):
                log.info("migration %d %s: %s", migration.version, migration.name, step.describe())
                live = live_shape(conn)
        done.append(f"{migration.version} {migration.name}")
    before = live
    metadata.create_all(conn)  # new tables (schema_version among them on the first run)
    live = live_shape(conn)
    created = [f"table {t}" for t in sorted(set(live.columns) - set(before.columns))]
    for d in drift(expected_shape(metadata), live):
        if d.kind == "index":  # create_all makes indexes only with their table
            index = next(i for i in metadata.tables[d.table].indexes if i.name == d.name)
            index.create(conn)
            created.append(f"index {d.name}")
    now = time.time()
    for migration in todo:
        conn.execute(sa.insert(schema_version).values(version=migration.version, name=migration.name,
                                                      applied_at=now, applied_by=by))
    return done, created


def _applied_by() -> str:
    from trunkline import __version__

    return f"trunkline {__version__} on {socket.gethostname()} pid {os.getpid()}"


def prepare(store: Store, attempts: int = 5) -> Result:
    """Make ``store``'s database fit this version: apply pending migrations, create missing tables and
    indexes (once, under the schema lock), then check for drift. Cheap when nothing is to do: one
    look at the catalog, no lock, no write.

    Raises :class:`SchemaDriftError` naming what is missing when no migration adds it."""
    store.load_table_modules()
    problems = check_migrations(MIGRATIONS, metadata)
    if problems:  # a developer error; the unit tests catch it first
        raise SchemaError("trunkline.store.migrations.MIGRATIONS is wrong: " + "; ".join(problems))
    expected = expected_shape(metadata)
    applied: list[str] = []
    created: list[str] = []
    live, versions = _look(store)
    if pending(MIGRATIONS, versions) or drift(expected, live):
        by = _applied_by()
        for attempt in range(attempts):
            try:
                with _locked(store) as conn:
                    applied, created = _migrate_locked(conn, by)
                break
            except sa.exc.OperationalError:
                # SQLite: another writer held the lock past the busy timeout; try again
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
        live, versions = _look(store)
    current = _status(store, live, versions)
    if current.newer:
        log.warning("database %s has schema versions %s from a newer Trunkline (this one knows up to %d); "
                    "continuing: migrations only add", current.url, list(current.newer), current.head)
    remaining = drift(expected, live)
    if remaining:
        raise SchemaDriftError(drift_message(current.url, remaining))
    if applied or created:
        log.info("database %s: applied %s, created %s", current.url, applied or "nothing", created or "nothing")
    return Result(tuple(applied), tuple(created), current)
