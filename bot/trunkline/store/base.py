"""The ``Store``: one SQLAlchemy engine + session factory shared by every table group.

Each table group lives in its own module under ``trunkline.store`` and declares its tables on the
shared :data:`metadata`; :meth:`Store.create_all` imports every such module first, so a capability
that adds ``store/merge_queue.py`` gets its tables created without touching this file. A column added
to an existing table needs a step in ``trunkline.store.migrations.MIGRATIONS``.

SQLite (the default) is tuned for many small concurrent writers in one or a few processes:

* WAL journal + ``synchronous=NORMAL``: a commit is durable against process crashes (the WAL is
  written before the commit returns) without an fsync per commit;
* the driver opens write transactions with ``BEGIN IMMEDIATE`` so two writers never deadlock on a
  read→write lock upgrade (which SQLite reports as an immediate ``database is locked``);
* a generous busy timeout, so a writer waits for the lock instead of failing.

Any other SQLAlchemy URL works (PostgreSQL via ``postgresql+psycopg://...``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from trunkline.settings import Settings
    from trunkline.store.deliveries import DeliveryRepo
    from trunkline.store.locks import LockRepo

log = logging.getLogger(__name__)

metadata = sa.MetaData()

SQLITE_BUSY_TIMEOUT_S = 30.0


def _sqlite_file(url: sa.URL) -> Path | None:
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and the pragmas above."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, future=True)
    path = _sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed,
        # "IMMEDIATE": the sqlite3 driver opens a transaction with BEGIN IMMEDIATE before the
        # first INSERT/UPDATE/DELETE; plain SELECTs run without taking the write lock.
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "isolation_level": "IMMEDIATE",
                      "check_same_thread": False},
        pool_size=16,
        max_overflow=16,
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI objects
        cursor = dbapi_conn.cursor()
        try:
            if path is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
                # Checkpoints copy the WAL into the database and fsync it; run inline after every
                # 4 MB (the default) they stall whichever commit triggers them. Let the WAL grow
                # to ~40 MB instead and have a background thread checkpoint (see Store.start_checkpointer).
                cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


_process_store: Store | None = None
_process_lock = threading.Lock()


def process_store() -> Store:
    """This process's shared store: the one ``trunkline serve``/``worker`` run their workers on (see
    ``trunkline.jobs.service.build_pool``), else one made on first use from ``Settings.from_env()``
    with its schema opened. Handlers reach it as ``ctx.store``; one engine and pool per process."""
    global _process_store
    with _process_lock:
        if _process_store is None:
            from trunkline.settings import Settings

            store = Store.from_settings(Settings.from_env())
            store.create_all()
            _process_store = store
        return _process_store


def set_process_store(store: Store | None, *, replace: bool = True) -> Store | None:
    """Make ``store`` the process's shared store (``replace=False``: only if there is none yet);
    returns the one in force."""
    global _process_store
    with _process_lock:
        if replace or _process_store is None:
            _process_store = store
        return _process_store


class Store:
    """Database access for every capability: ``engine``, ``session()``, ``begin()``, ``connect()``.

    Table groups are reached as attributes (``store.deliveries``, ``store.locks``); later groups
    can follow the same pattern or simply construct their repository with the store.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._deliveries: DeliveryRepo | None = None
        self._locks: LockRepo | None = None
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.database_url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema -----------------------------------------------------------------------------
    @staticmethod
    def load_table_modules() -> None:
        """Import every ``trunkline.store.<module>`` so its tables register on ``metadata``."""
        import trunkline.store as package

        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_") and info.name not in ("base", "cli"):
                importlib.import_module(f"{package.__name__}.{info.name}")

    def create_all(self) -> None:
        """Open the schema for use: apply pending migrations and create missing tables and indexes
        (once, under a cross-process lock), then fail with a clear :class:`SchemaDriftError` if the
        database still lacks a column this version uses. See ``trunkline.store.migrations``."""
        from trunkline.store.migrations import prepare

        prepare(self)

    def drop_all(self) -> None:
        self.load_table_modules()
        metadata.drop_all(self.engine)

    # -- connections ------------------------------------------------------------------------
    def session(self) -> Session:
        return self.sessions()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A Core connection inside a transaction, committed on success."""
        with self.engine.begin() as conn:
            yield conn

    def connect(self) -> Connection:
        return self.engine.connect()

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.stop_checkpointer()
        self.engine.dispose()

    # -- SQLite WAL checkpoints off the commit path -----------------------------------------
    def start_checkpointer(self, interval: float = 1.0) -> None:
        """For a SQLite file: checkpoint the WAL every ``interval`` s from a background thread.

        A PASSIVE checkpoint never blocks writers or readers; doing it here keeps the copy and
        fsync out of the request path of the ingest writer. No-op for other databases.
        """
        path = _sqlite_file(self.engine.url)
        if path is None or getattr(self, "_checkpointer", None) is not None:
            return
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False)
            try:
                while not stop.wait(interval):
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error as exc:  # busy/locked: try again next round
                        log.debug("WAL checkpoint skipped: %s", exc)
            finally:
                conn.close()

        thread = threading.Thread(target=run, name="trunkline-wal-checkpoint", daemon=True)
        self._checkpointer = (thread, stop)
        thread.start()

    def stop_checkpointer(self) -> None:
        current = getattr(self, "_checkpointer", None)
        if current is not None:
            thread, stop = current
            stop.set()
            thread.join(5)
            self._checkpointer = None

    # -- table groups -----------------------------------------------------------------------
    @property
    def deliveries(self) -> DeliveryRepo:
        if self._deliveries is None:
            from trunkline.store.deliveries import DeliveryRepo

            self._deliveries = DeliveryRepo(self)
        return self._deliveries

    @property
    def locks(self) -> LockRepo:
        if self._locks is None:
            from trunkline.store.locks import LockRepo

            self._locks = LockRepo(self)
        return self._locks
