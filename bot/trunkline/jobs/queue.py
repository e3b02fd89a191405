"""The job queue: huey (SQLite by default, Redis for several hosts) carrying delivery ids only.

A task is ``trunkline.process_delivery(guid)``; the worker loads everything else from the store,
so the queue holds nothing that matters for correctness: a lost or duplicated task is repaired by
recovery (re-enqueue what is not done) and by the atomic claim (a duplicate finds it taken/done).

``queue_url``:

* ``sqlite:///path/queue.db`` — :class:`huey.SqliteHuey` (WAL, ``synchronous=NORMAL``);
* ``redis://host:port/db`` — :class:`huey.RedisHuey`.

An optional ``?name=<queue name>`` query parameter picks the huey queue name (default
``trunkline``), so several independent deployments or test runs can share one Redis.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from huey import RedisHuey, SqliteHuey
from huey.api import Huey, Task
from huey.storage import RedisStorage, SqliteStorage

TASK_NAME = "trunkline.process_delivery"
DEFAULT_NAME = "trunkline"


class _SqliteStorage(SqliteStorage):
    """huey's SQLite storage with ``synchronous=NORMAL`` (huey offers only FULL or OFF): with WAL a
    commit survives a process crash without an fsync per enqueue."""

    def _create_connection(self):  # noqa: ANN202 - huey's signature
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


def split_queue_url(url: str) -> tuple[str, str]:
    """``(url without our name parameter, queue name)``."""
    base, _, query = url.partition("?")
    name = DEFAULT_NAME
    rest = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "name":
            name = value
        else:
            rest.append((key, value))
    return (f"{base}?{urlencode(rest)}" if rest else base), name


def make_huey(url: str) -> Huey:
    base, name = split_queue_url(url)
    scheme = urlsplit(base).scheme
    if scheme == "sqlite":
        path = base[len("sqlite:///"):] if base.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"queue URL {url!r}: expected sqlite:///<path>")
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=path, results=False, storage_class=_SqliteStorage)
    if scheme in ("redis", "rediss", "unix"):
        return RedisHuey(name, url=base, results=False, read_timeout=1)
    raise ValueError(f"unsupported queue URL {url!r}: use sqlite:///<path> or redis://host:port/db")


class JobQueue:
    """A huey instance with the one task the bot runs, plus batch enqueue and in-process wake-up."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._handler: Callable[[str], None] | None = None
        self._task = huey.task(name=TASK_NAME, retries=0)(self._run)
        # Wakes worker threads of this process as soon as something is enqueued (SQLite has no
        # blocking pop, so idle workers otherwise poll with back-off).
        self._wake = threading.Condition()
        self._generation = 0

    @classmethod
    def from_url(cls, url: str) -> JobQueue:
        return cls(make_huey(url))

    @property
    def name(self) -> str:
        return self.huey.name

    # -- producer side ----------------------------------------------------------------------
    def enqueue(self, guid: str) -> None:
        self.enqueue_many([guid])

    def enqueue_many(self, guids: Iterable[str]) -> None:
        """Enqueue one task per guid, in one round trip where the backend allows it."""
        tasks = [self._task.s(guid) for guid in guids]
        if not tasks:
            return
        storage = self.huey.storage
        blobs = [self.huey.serialize_task(t) for t in tasks]
        if isinstance(storage, SqliteStorage):
            with storage.db(commit=True) as curs:
                for i in range(0, len(blobs), 400):  # multi-row INSERTs: one statement step each
                    chunk = blobs[i:i + 400]
                    params: list[object] = []
                    for blob in chunk:
                        params += (storage.name, storage.to_blob(blob))
                    curs.execute("insert into task (queue, data, priority) values "
                                 + ", ".join(["(?, ?, 0)"] * len(chunk)), params)
        elif isinstance(storage, RedisStorage) and not storage.priority:
            pipe = storage.conn.pipeline(transaction=False)
            for b in blobs:
                pipe.lpush(storage.queue_key, b)
            pipe.execute()
        else:
            for t in tasks:
                self.huey.enqueue(t)
        self._notify()

    def schedule(self, guid: str, delay: float) -> None:
        """Run ``guid`` again in ``delay`` seconds (retries, lock contention)."""
        task = self._task.s(guid)
        task.eta = self._now() + dt.timedelta(seconds=max(0.0, delay))
        self.huey.add_schedule(task)

    # -- consumer side ----------------------------------------------------------------------
    def bind(self, handler: Callable[[str], None]) -> None:
        """Set what ``execute(task)`` runs: ``handler(guid)`` (for huey's own consumer; the
        ``WorkerPool`` reads the guid with :meth:`delivery_of` instead)."""
        self._handler = handler

    def _run(self, guid: str) -> None:
        if self._handler is None:
            raise RuntimeError("JobQueue.bind(handler) was not called")
        self._handler(guid)

    def dequeue(self) -> Task | None:
        return self.huey.dequeue()

    @staticmethod
    def delivery_of(task: Task) -> str | None:
        """The delivery guid a dequeued task carries (``None`` for anything else)."""
        if getattr(task, "name", None) != TASK_NAME:
            return None
        args = task.args or ()
        return args[0] if len(args) == 1 and isinstance(args[0], str) else None

    def execute(self, task: Task) -> None:
        self.huey.execute(task)

    def move_due(self) -> int:
        """Move scheduled tasks whose time has come into the queue; returns how many."""
        due = self.huey.read_schedule(self._now())
        for task in due:
            self.huey.enqueue(task)
        if due:
            self._notify()
        return len(due)

    def wait(self, timeout: float, seen: int) -> int:
        """Block up to ``timeout`` s unless something was enqueued in this process since
        generation ``seen``; returns the current generation."""
        with self._wake:
            if self._generation == seen:
                self._wake.wait(timeout)
            return self._generation

    @property
    def generation(self) -> int:
        return self._generation

    def _notify(self) -> None:
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def _now(self) -> dt.datetime:
        return self.huey._get_timestamp()

    # -- introspection ----------------------------------------------------------------------
    def depth(self) -> int:
        return int(self.huey.pending_count())

    def scheduled_count(self) -> int:
        return int(self.huey.scheduled_count())

    def ping(self) -> None:
        """Raise if the queue backend cannot be reached."""
        self.huey.pending_count()

    def flush(self) -> None:
        """Delete every task, scheduled task and lock of this queue (tests, cleanup)."""
        self.huey.flush()

    def close(self) -> None:
        storage = self.huey.storage
        close = getattr(storage, "close", None)
        if callable(close):
            close()
