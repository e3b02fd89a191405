"""Schema migrations (``trunkline.store.migrations``) on real SQLite and real PostgreSQL (skipped, with
the reason, when 127.0.0.1:5432 is absent): a database made by an older Trunkline — built here from
that version's DDL — is migrated at open and keeps its rows; concurrent opens migrate once; a column
no migration adds stops start-up with a message naming it; ``trunkline store status|migrate``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from trunkline.store import Store, metadata
from trunkline.store.migrations import (
    MIGRATIONS,
    AddColumn,
    Drift,
    Migration,
    SchemaDriftError,
    SchemaShape,
    check_migrations,
    drift,
    expected_shape,
    head_version,
    pending,
    prepare,
    status,
)

PY = sys.executable

# The schema of the first released store (commit e4e7e8b): deliveries without serial_key.
OLD_DELIVERIES = """
CREATE TABLE deliveries (
    guid VARCHAR(100) NOT NULL PRIMARY KEY, event VARCHAR(100) NOT NULL, action VARCHAR(100),
    installation_id BIGINT, repo VARCHAR(300), headers JSON NOT NULL, body {blob} NOT NULL,
    received_at {double} NOT NULL, status VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL,
    last_error TEXT, lease_owner VARCHAR(200), lease_expires {double}, not_before {double} NOT NULL,
    enqueued_at {double}, updated_at {double}, finished_at {double})
"""
OLD_INDEX = "CREATE INDEX ix_deliveries_status_not_before ON deliveries (status, not_before)"
OLD_LOCKS = "CREATE TABLE locks (key VARCHAR(500) NOT NULL PRIMARY KEY, owner VARCHAR(200) NOT NULL, " \
            "expires_at {double} NOT NULL)"
# merge_queue before the slot timeout (commit 10a9476): no slot_since.
OLD_MERGE_QUEUE = """
CREATE TABLE merge_queue (
    repo VARCHAR(300) NOT NULL, number INTEGER NOT NULL, base VARCHAR(300) NOT NULL,
    state VARCHAR(16) NOT NULL, source VARCHAR(16) NOT NULL, requested_by VARCHAR(200),
    priority BOOLEAN NOT NULL, enqueued_at {double} NOT NULL, updated_at {double} NOT NULL,
    head_sha VARCHAR(64), updated_from VARCHAR(64), last_action VARCHAR(16), last_detail TEXT,
    {notified}PRIMARY KEY (repo, number))
"""
# A merge_queue also lacking a column that no migration adds: what a forgotten migration looks like.
MERGE_QUEUE_WITHOUT_NOTIFIED = OLD_MERGE_QUEUE.replace("{notified}", "")
OLD_MERGE_QUEUE = OLD_MERGE_QUEUE.replace("{notified}", "notified VARCHAR(200), ")
TYPES = {"sqlite": {"blob": "BLOB", "double": "FLOAT"},
         "postgresql": {"blob": "BYTEA", "double": "DOUBLE PRECISION"}}

PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "Octo/Repo"}}


# ---- databases ------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/old.db"
    return request.getfixturevalue("pg_schema_url")  # a fresh schema; skipped when PostgreSQL is absent


ALL = [(m.version, m.name) for m in MIGRATIONS]
ALL_NAMES = [f"{m.version} {m.name}" for m in MIGRATIONS]


def build_old(url: str, merge_queue_ddl: str = OLD_MERGE_QUEUE) -> None:
    """A database as an older Trunkline left it: explicit DDL, a few rows, no schema_version."""
    engine = sa.create_engine(url)
    types = TYPES[engine.dialect.name]
    body = json.dumps(PUSH).encode()
    rows = [
        # guid, status, body
        ("queued-1", "queued", body),
        ("done-1", "done", body),
        ("bad-1", "queued", b"not json"),
    ]
    with engine.begin() as conn:
        for statement in (OLD_DELIVERIES, OLD_INDEX, OLD_LOCKS, merge_queue_ddl):
            conn.exec_driver_sql(statement.format(**types))
        for guid, state, data in rows:
            conn.execute(sa.text(
                "INSERT INTO deliveries (guid, event, action, installation_id, repo, headers, body, received_at,"
                " status, attempts, not_before) VALUES (:g, 'push', NULL, 7, 'Octo/Repo', :h, :b, :t, :s, 0, 0)"),
                {"g": guid, "h": json.dumps({"x-github-delivery": guid}), "b": data, "t": time.time(), "s": state})
        conn.execute(sa.text("INSERT INTO locks (key, owner, expires_at) VALUES ('k', 'w1', 1.5)"))
        for number, state in ((1, "updating"), (2, "queued")):  # #1 holds the slot at the upgrade
            conn.execute(sa.text(
                "INSERT INTO merge_queue (repo, number, base, state, source, priority, enqueued_at, updated_at)"
                " VALUES ('o/r', :n, 'main', :s, 'label', false, 100.0, :u)"), {"n": number, "s": state, "u": 200.0 + number})
    engine.dispose()


def versions(url: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        got = [tuple(r) for r in conn.execute(sa.text("SELECT version, name FROM schema_version ORDER BY version"))]
    engine.dispose()
    return got


# ---- an old database is migrated at open and keeps its rows -------------------------------------

def test_old_database_is_migrated_and_keeps_its_rows(db_url: str) -> None:
    build_old(db_url)
    store = Store(db_url)
    before = status(store)
    assert list(before.pending) == ALL_NAMES and not before.drift and before.applied == ()

    store.create_all()

    assert versions(db_url) == ALL
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("deliveries")}
    assert "serial_key" in columns
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("deliveries")}
    assert {"ix_deliveries_status_not_before", "ix_deliveries_serial_key_status"} <= indexes
    # every row is still there, byte for byte
    queued = store.deliveries.get("queued-1")
    assert queued is not None and queued.payload == PUSH and queued.headers == {"x-github-delivery": "queued-1"}
    # unfinished rows got their serial key (so the key's holder drains them); finished and malformed did not
    assert queued.serial_key == "octo/repo@main"
    assert store.deliveries.get("done-1").serial_key is None
    assert store.deliveries.get("bad-1").serial_key is None and store.deliveries.get("bad-1").body == b"not json"
    assert store.locks.holder("k") == ("w1", 1.5)
    from trunkline.store.merge_queue import MergeQueueRepo

    queue = MergeQueueRepo(store)
    assert queue.get("o/r", 1).slot_since == 201.0, "the slot holder's timeout starts at its last write"
    assert queue.get("o/r", 2).slot_since is None and queue.get("o/r", 2).state == "queued"
    # and the bot's own statements work on the migrated table
    assert store.deliveries.next_for_key("octo/repo@main", time.time()) == "queued-1"
    now = time.time()
    from trunkline.store import new_row

    assert store.deliveries.insert_new([new_row("new-1", "push", body=b"{}", headers={}, received_at=now,
                                                serial_key="octo/repo@main")], now) == {"new-1"}
    assert store.deliveries.claim("queued-1", "w2", 30, now) is not None
    # every table of this version exists, nothing is left to do, and opening again changes nothing
    after = status(store)
    assert after.up_to_date and after.applied == tuple(v for v, _ in ALL)
    again = prepare(store)
    assert again.applied == () and again.created == ()
    assert versions(db_url) == ALL
    store.dispose()


def test_fresh_database_is_created_at_head(db_url: str) -> None:
    store = Store(db_url)
    result = prepare(store)
    assert result.applied == tuple(f"{m.version} {m.name}" for m in MIGRATIONS)
    assert "table deliveries" in result.created and "table schema_version" in result.created
    assert set(metadata.tables) <= set(sa.inspect(store.engine).get_table_names())
    assert status(store).up_to_date
    store.dispose()


def test_missing_column_without_migration_fails_at_open_with_its_name(db_url: str) -> None:
    build_old(db_url, MERGE_QUEUE_WITHOUT_NOTIFIED)
    store = Store(db_url)
    current = status(store)
    assert current.drift == (Drift("column", "merge_queue", "notified"),) and not current.up_to_date
    with pytest.raises(SchemaDriftError) as caught:
        store.create_all()
    message = str(caught.value)
    assert "table 'merge_queue' has no column 'notified'" in message
    assert "trunkline.store.migrations.MIGRATIONS" in message
    # what the migrations could do was still done (and committed): only the unfixable part remains
    assert versions(db_url) == ALL
    store.dispose()


# ---- concurrent opens migrate once ---------------------------------------------------------------

OPENER = """
import json, os, sys, time
from trunkline.store import Store
from trunkline.store.migrations import prepare
store = Store(sys.argv[1])
store.load_table_modules()
open(sys.argv[2] + "." + str(os.getpid()), "w").close()  # ready
while not os.path.exists(sys.argv[2]):
    time.sleep(0.002)
print(json.dumps(list(prepare(store).applied)))
"""


def test_concurrent_opens_migrate_once(db_url: str, tmp_path: Path) -> None:
    build_old(db_url)
    go = tmp_path / "go"
    procs = [subprocess.Popen([PY, "-c", OPENER, db_url, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.01)  # all four imported and waiting: then they start together
    go.touch()
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(outcomes, key=len) == [[], [], [], ALL_NAMES]
    assert versions(db_url) == ALL
    store = Store(db_url)
    assert store.deliveries.get("queued-1").serial_key == "octo/repo@main"
    store.dispose()


# ---- the CLI and the bot's start-up ---------------------------------------------------------------

def _trunkline(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "trunkline.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_store_cli_status_and_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    build_old(url)
    before = _trunkline("store", "status", "--database-url", url)
    assert before.returncode == 1, before.stderr
    assert f"schema version: 0 (this Trunkline: {head_version()})" in before.stdout
    assert "pending: 1 deliveries.serial_key" in before.stdout and "pending: 2 merge_queue.slot_since" in before.stdout
    migrated = _trunkline("store", "migrate", "--json", env={"TRUNKLINE_DATABASE_URL": url})
    assert migrated.returncode == 0, migrated.stderr
    report = json.loads(migrated.stdout)
    assert report["migrated"] == ALL_NAMES and report["up_to_date"] and report["version"] == head_version()
    after = _trunkline("store", "status", "--json", "--database-url", url)
    assert after.returncode == 0 and json.loads(after.stdout)["pending"] == []


def test_serve_refuses_a_drifted_database_with_a_clear_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    build_old(url, MERGE_QUEUE_WITHOUT_NOTIFIED)
    migrate = _trunkline("store", "migrate", "--database-url", url)
    assert migrate.returncode == 2 and "has no column 'notified'" in migrate.stdout
    assert "Traceback" not in migrate.stdout + migrate.stderr
    serve = _trunkline("serve", "--port", "0", "--workers", "0",
                       env={"TRUNKLINE_DATABASE_URL": url, "TRUNKLINE_QUEUE_URL": f"sqlite:///{tmp_path}/q.db",
                            "TRUNKLINE_DATA_DIR": str(tmp_path)})
    assert serve.returncode == 2
    assert "cannot start: the database" in serve.stderr and "has no column 'notified'" in serve.stderr
    assert "Traceback" not in serve.stderr


# ---- pure core ------------------------------------------------------------------------------------

def test_the_migration_list_is_consistent() -> None:
    Store.load_table_modules()
    assert check_migrations(MIGRATIONS, metadata) == []
    assert head_version() == len(MIGRATIONS)


def test_check_migrations_refuses_bad_lists() -> None:
    meta = sa.MetaData()
    sa.Table("t", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer, nullable=False),
             sa.Column("b", sa.Integer, nullable=False, server_default="0"), sa.Column("c", sa.Text))
    assert check_migrations([Migration(1, "ok", (AddColumn("t", "b"), AddColumn("t", "c")))], meta) == []
    problems = check_migrations([Migration(2, "x", (AddColumn("t", "a"), AddColumn("t", "zz"),
                                                    AddColumn("t", "id")))], meta)
    assert any("versions must be 1..1" in p for p in problems)
    assert any("t.a is NOT NULL without a server_default" in p for p in problems)
    assert any("t.zz is not in metadata" in p for p in problems)
    assert any("primary key" in p for p in problems)


def test_pending_keeps_order_and_skips_applied() -> None:
    ms = [Migration(v, f"m{v}", ()) for v in (1, 2, 3)]
    assert [m.version for m in pending(ms, [2])] == [1, 3]
    assert pending(ms, [1, 2, 3, 4]) == []


names = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
shapes = st.dictionaries(names, st.frozensets(names, max_size=5), max_size=5)


@given(shapes, st.data())
def test_drift_is_exactly_what_live_lacks(expected_columns, data) -> None:
    live_columns = {}
    missing = set()
    for table, columns in expected_columns.items():
        if data.draw(st.booleans(), label=f"drop table {table}"):
            missing.add(("table", table, table))
            continue
        kept = data.draw(st.frozensets(st.sampled_from(sorted(columns)), max_size=len(columns))) if columns else frozenset()
        missing |= {("column", table, c) for c in columns - kept}
        extra = data.draw(st.frozensets(names, max_size=2))  # a newer version's columns are not drift
        live_columns[table] = kept | (extra - columns)
    live_columns.update({f"extra_{t}": frozenset() for t in data.draw(st.frozensets(names, max_size=2))})
    found = drift(SchemaShape(expected_columns), SchemaShape(live_columns))
    assert {(d.kind, d.table, d.name) for d in found} == missing
    assert found == sorted(found)
    assert drift(SchemaShape(expected_columns), SchemaShape(expected_columns)) == []


def test_expected_shape_names_every_table_column_and_index() -> None:
    Store.load_table_modules()
    shape = expected_shape(metadata)
    assert "serial_key" in shape.columns["deliveries"]
    assert "ix_deliveries_serial_key_status" in shape.indexes["deliveries"]
    assert "schema_version" in shape.columns


SNAPSHOT = Path(__file__).with_name("store_schema.json")


def test_no_column_was_added_to_an_existing_table_without_a_migration() -> None:
    """``store_schema.json`` holds every table's columns at a schema version. Since then, a new table is
    fine (``create_all`` makes it), but a new column of a table listed there must come with a migration
    of a higher version — else every database made before it breaks at start-up (drift check)."""
    snapshot = json.loads(SNAPSHOT.read_text())
    Store.load_table_modules()
    added_by = {(s.table, s.column) for m in MIGRATIONS if m.version > snapshot["version"]
                for s in m.steps if isinstance(s, AddColumn)}
    missing = [f"{table}.{column}" for table, columns in snapshot["tables"].items() if table in metadata.tables
               for column in sorted({c.name for c in metadata.tables[table].columns} - set(columns))
               if (table, column) not in added_by]
    assert not missing, (f"columns added to existing tables without a migration: {missing}; append "
                         "AddColumn steps to trunkline.store.migrations.MIGRATIONS")
    assert snapshot["version"] <= head_version()
