"""Where run logs live, and which file a request may read (only files inside the run's log folder).

* agent runs: ``<agents dir>/<owner>/<repo>/<run id>/logs/<stage>-<iteration>.log``
  (``TRUNKLINE_AGENTS_DIR``, default ``$TRUNKLINE_DATA_DIR/agents``);
* verify tier runs: ``<gates dir>/logs/<owner>/<repo>/<run id>/tier.log``
  (``TRUNKLINE_GATES_DIR``, default ``$TRUNKLINE_DATA_DIR/gates``).

Both are kept :func:`keep_seconds` (``TRUNKLINE_LOGS_RETENTION_DAYS``, default 14 days) after a run
finishes, then pruned (agent runs: :mod:`trunkline.agents.retention`; tier logs: :func:`prune`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,200}$")  # one plain name: no separators, not . or ..
GATE_LOG = "tier.log"
KEEP_SECONDS = 14 * 86400.0  # default retention: run logs older than this are pruned
RETENTION_ENV = "TRUNKLINE_LOGS_RETENTION_DAYS"


def keep_seconds(environ: Mapping[str, str] | None = None) -> float:
    """How long run logs are kept after a run finishes, in seconds (tier logs and agent run folders):
    ``TRUNKLINE_LOGS_RETENTION_DAYS`` days (fractions allowed; default 14; ``0`` keeps them forever).
    A value that is not a number of days >= 0 is ignored with a warning: the default applies."""
    raw = (os.environ if environ is None else environ).get(RETENTION_ENV, "").strip()
    if not raw:
        return KEEP_SECONDS
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    if math.isnan(days) or days < 0:
        log.warning("%s=%r is not a number of days >= 0; keeping run logs %g days", RETENTION_ENV, raw,
                    KEEP_SECONDS / 86400)
        return KEEP_SECONDS
    return math.inf if days == 0 else days * 86400.0


def _data_dir() -> Path:
    return Path(os.environ.get("TRUNKLINE_DATA_DIR") or ".trunkline")


def agents_root() -> Path:
    return Path(os.environ.get("TRUNKLINE_AGENTS_DIR") or _data_dir() / "agents").resolve()


def gates_root() -> Path:
    return Path(os.environ.get("TRUNKLINE_GATES_DIR") or _data_dir() / "gates").resolve()


def gate_log_parts(repo: str, run_id: int) -> tuple[str, ...]:
    """The folder of one tier run's log below the gates dir (``repo`` is ``owner/name``)."""
    owner, _, name = repo.partition("/")
    return ("logs", owner, name, str(int(run_id)))


def gate_log_dir(gates_work_root: Path, repo: str, run_id: int) -> Path:
    return gates_work_root.joinpath(*gate_log_parts(repo, run_id))


def inside(root: Path, *parts: str) -> Path | None:
    """``root/parts...`` when it is a regular file inside ``root`` (symlinks resolved), else None.
    Every part must be a plain name (no separators, not ``.`` or ``..``)."""
    if not parts or not all(isinstance(p, str) and NAME_RE.fullmatch(p) for p in parts):
        return None
    try:
        base = root.resolve()
        candidate = base.joinpath(*parts).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if candidate == base or not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def list_logs(folder: Path) -> list[Path]:
    """The log files directly in ``folder`` that :func:`inside` would serve, oldest first."""
    try:
        entries = [p for p in folder.iterdir() if NAME_RE.fullmatch(p.name)]
    except OSError:
        return []
    found = [p for p in entries if inside(folder, p.name) is not None]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def tier_log_path(gates_work_root: Path, repo: str, run_id: int) -> Path:
    """Where a local tier run writes its log (kept after the run, so the check run can link it)."""
    return gate_log_dir(gates_work_root, repo, run_id) / GATE_LOG


def prune(logs_root: Path, max_age: float, now: float) -> int:
    """Remove run log folders (``<logs_root>/<owner>/<repo>/<run>``) not written for ``max_age`` seconds."""
    removed = 0
    for run in logs_root.glob("*/*/*"):
        try:
            newest = max([run.stat().st_mtime] + [p.stat().st_mtime for p in run.iterdir()])
        except OSError:
            continue
        if now - newest > max_age:
            shutil.rmtree(run, ignore_errors=True)
            removed += 1
    return removed
