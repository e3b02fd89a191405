"""Retention of agent run folders: which folders under the agents dir go, and when.

Each agent run keeps ``<agents dir>/<owner>/<repo>/<run id>/`` (input, plan and artifacts in
``output/``, stage logs in ``logs/``, tier results, failures, the checkout and the agent's ``home/`` and
``tmp/``). Like GitHub Actions' log and artifact retention:

* only runs in a terminal state (``done``: succeeded, failed or cancelled) lose anything — never a
  queued or running run, never a run a worker of this process still holds;
* the *workspace* (``checkout/``, ``home/``, ``tmp/``: large) of a finished run goes
  :data:`WORKSPACE_KEEP_SECONDS` after the run finished (a worker removes it itself when it finishes
  normally; this catches what a killed worker left);
* the whole folder (logs, plan, artifacts) goes once the run finished longer ago than the retention age:
  ``TRUNKLINE_LOGS_RETENTION_DAYS`` (default 14, like verify tier logs; 0 keeps them forever), see
  :func:`trunkline.logs.files.keep_seconds`;
* a folder with no run record (a store that was reset) goes once nothing was written to it for the
  retention age.

The run's row in the store stays (runs remain listed); its log links then answer 404 with
:func:`missing_logs_message`. :func:`plan` is the decision (pure, over plain data); :func:`scan` reads the
folders and :func:`remove` deletes (the shell, run by :class:`trunkline.agents.service.AgentService`
hourly and at start-up).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from trunkline.logs.files import NAME_RE, RETENTION_ENV

from .core import DONE, RUN_ID_RE

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({DONE})
WORKSPACE_DIRS = ("checkout", "home", "tmp")
WORKSPACE_KEEP_SECONDS = 3600.0  # a finished run's checkout goes an hour after it finished


@dataclass(frozen=True)
class Folder:
    """A run folder found on disk: ``<owner>/<repo>/<run id>``, when anything in it was last written
    (the folder, its entries, its logs), and the names directly in it."""

    owner: str
    repo: str
    run_id: str
    mtime: float
    entries: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.owner, self.repo, self.run_id)


@dataclass(frozen=True)
class Record:
    """What the store says about a run: its state and when it finished (None: not finished)."""

    state: str
    finished_at: float | None = None


@dataclass(frozen=True)
class Removal:
    """A path below the agents dir to delete, and why (for the log)."""

    parts: tuple[str, ...]
    why: str


def plan(folders: Iterable[Folder], records: Mapping[tuple[str, str, str], Record], *, live: Collection[str],
         now: float, keep: float, keep_workspace: float = WORKSPACE_KEEP_SECONDS) -> list[Removal]:
    """What to delete (pure). ``records`` by ``(owner, repo, run id)`` as the folders are named;
    ``live``: run ids a worker of this process holds; ``keep``: the retention age in seconds
    (``inf``: forever); ``keep_workspace``: how long a finished run's checkout stays.

    A run's age counts from the later of its finish and the last write to its folder, so a run that
    finished recently, or a folder still written to, is never selected."""
    removals: list[Removal] = []
    for folder in folders:
        if folder.run_id in live:
            continue
        record = records.get(folder.key)
        base = "/".join(folder.key)
        if record is None:
            if now - folder.mtime > keep:
                removals.append(Removal(folder.key, f"{base}: no run record, untouched for {_days(keep)}"))
            continue
        if record.state not in TERMINAL_STATES:
            continue
        since = max(folder.mtime, record.finished_at if record.finished_at is not None else folder.mtime)
        age = now - since
        if age > keep:
            removals.append(Removal(folder.key, f"{base}: finished more than {_days(keep)} ago"))
        elif age > min(keep_workspace, keep):
            removals.extend(Removal((*folder.key, name), f"{base}/{name}: the run finished")
                            for name in WORKSPACE_DIRS if name in folder.entries)
    return removals


def missing_logs_message(run_id: str, *, state: str, finished_at: float | None, now: float, keep: float) -> str:
    """What a correctly signed link to an agent run whose folder is not on this server answers (pure)."""
    if state in TERMINAL_STATES and finished_at is not None and now - finished_at > keep:
        when = dt.datetime.fromtimestamp(finished_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f"the logs of agent run {run_id} were removed: it finished on {when}, and run logs are kept "
                f"{_days(keep)} after a run finishes ({RETENTION_ENV} on the Trunkline server)")
    return f"agent run {run_id} has no logs on this server (it ran on another host, or its folder was removed)"


def _days(seconds: float) -> str:
    days = seconds / 86400.0
    return f"{days:g} day{'' if days == 1 else 's'}"


# ---------------------------------------------------------------------------------------------- shell

def scan(root: Path) -> list[Folder]:
    """The run folders under ``root`` (``<owner>/<repo>/<run id>``, names as runs make them; anything
    else is never looked at)."""
    found: list[Folder] = []
    for run in _dirs(root, 3):
        owner, repo, run_id = run.parts[-3:]
        if not (NAME_RE.fullmatch(owner) and NAME_RE.fullmatch(repo) and RUN_ID_RE.fullmatch(run_id)):
            continue
        try:
            entries = list(run.iterdir())
            logs = list((run / "logs").iterdir()) if (run / "logs").is_dir() else []
            mtime = max([run.lstat().st_mtime] + [p.lstat().st_mtime for p in entries + logs])
        except OSError:
            continue  # removed meanwhile, or unreadable: not now
        found.append(Folder(owner, repo, run_id, mtime, frozenset(p.name for p in entries)))
    return found


def _dirs(root: Path, depth: int) -> list[Path]:
    level = [root]
    for _ in range(depth):
        nxt: list[Path] = []
        for folder in level:
            try:
                nxt.extend(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
        level = nxt
    return level


def remove(root: Path, removals: Iterable[Removal]) -> int:
    """Delete what :func:`plan` chose; returns how many paths went."""
    count = 0
    for removal in removals:
        path = root.joinpath(*removal.parts)
        if path.is_symlink():
            path.unlink(missing_ok=True)  # the link only, never what it points at
        elif path.exists():
            shutil.rmtree(path, ignore_errors=True)
        else:
            continue
        if not path.exists() and not path.is_symlink():
            count += 1
            log.info("agent runs: removed %s", removal.why)
    return count
