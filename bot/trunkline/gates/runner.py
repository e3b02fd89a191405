"""Run a tier's shell commands one after the other within a time budget.

Every command runs as ``bash -c COMMAND`` (``sh`` when bash is missing) in its own session, so it and
everything it starts share one process group. When the budget runs out — or the run is cancelled
(a newer push superseded it) — the whole tree is stopped: SIGTERM to every process group the tier
started and to every process carrying the run's marker variable (which also finds descendants that
moved to a group of their own with ``setsid``), then SIGKILL to whatever is left after ``grace``
seconds. So a tier never hangs: the verdict is "budget exceeded" (or "cancelled"), on time.

Output goes to one log file (never a pipe: a background process that keeps a pipe open would make
reading it block), optionally echoed live to a stream; each command keeps the tail of its own output
for the summary. Processes a command leaves running in the background are stopped when the tier ends.

Pure parts (:func:`tail_text`, :func:`scrub_env`) have no side effects; :func:`run_commands` is the shell.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

#: Environment variable every process of a run inherits; its value identifies the run.
MARKER_VAR = "TRUNKLINE_GATE_RUN"
TAIL_LINES = 60
TAIL_BYTES = 8000
POLL = 0.05

PASSED, FAILED, BUDGET, CANCELLED, ERROR, NOT_RUN = (
    "passed", "failed", "budget exceeded", "cancelled", "error", "not run")

# Names that look like credentials are not passed to tier commands run by the bot.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|CREDENTIAL|API_KEY", re.IGNORECASE)


class CancelToken:
    """Set by whoever cancels a run (``cancel(reason)``); the runner polls it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def cancel(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


@dataclass(frozen=True)
class CommandResult:
    command: str
    status: str  # passed | failed | budget exceeded | cancelled | error | not run
    exit_code: int | None = None
    duration: float = 0.0
    output_tail: str = ""
    message: str = ""  # e.g. why it could not start


@dataclass(frozen=True)
class RunOutcome:
    commands: tuple[CommandResult, ...]
    duration: float
    budget: float
    stopped: str | None = None  # None | "budget" | "cancelled"
    cancel_reason: str | None = None
    log_path: str | None = None
    killed: tuple[int, ...] = field(default=())  # pids that needed a signal when the tier ended


# ---------------------------------------------------------------------------------------------- pure

def tail_text(data: bytes, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> str:
    """The last ``lines`` lines (at most ``max_bytes`` bytes) of output, decoded leniently."""
    chunk = data[-max_bytes:]
    text = chunk.decode("utf-8", errors="replace")
    if len(data) > max_bytes:
        text = text.split("\n", 1)[-1] if "\n" in text else text  # drop the cut first line
    out = text.splitlines()[-lines:]
    return "\n".join(out)


def scrub_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without the bot's own settings (TRUNKLINE_*) and without credential-looking names."""
    return {k: v for k, v in base.items() if not k.upper().startswith("TRUNKLINE_") and not _SECRET_NAME.search(k)}


def shell_argv(command: str) -> list[str]:
    shell = shutil.which("bash") or "/bin/sh"
    return [shell, "-c", command]


# ---------------------------------------------------------------------------------------------- processes

def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(process group, state letter) of a live process, None when gone (Linux /proc)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    # "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses
    rest = raw.rsplit(")", 1)[-1].split()
    try:
        return int(rest[2]), rest[0]
    except (IndexError, ValueError):
        return None


def _has_marker(pid: int, marker: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return False
    return f"{MARKER_VAR}={marker}".encode() in environ.split(b"\0")


def tree_members(pgids: Iterable[int], marker: str | None) -> set[int]:
    """Live (not zombie) processes in ``pgids`` or carrying ``marker`` in their environment."""
    groups = set(pgids)
    if not Path("/proc/self/stat").exists():  # not Linux: ask the groups themselves
        alive = set()
        for pgid in groups:
            try:
                os.killpg(pgid, 0)
                alive.add(pgid)
            except (ProcessLookupError, PermissionError):
                pass
        return alive
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        stat = _proc_stat(pid)
        if stat is None or stat[1] == "Z":
            continue
        if stat[0] in groups or (marker and _has_marker(pid, marker)):
            found.add(pid)
    return found


def _signal_all(pgids: Iterable[int], pids: Iterable[int], sig: int) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pgids: Sequence[int], marker: str | None, grace: float) -> tuple[int, ...]:
    """Stop every process of a run: SIGTERM, wait up to ``grace`` s, SIGKILL the rest.
    Returns the pids that were still running when it started."""
    members = tree_members(pgids, marker)
    if not members:
        return ()
    _signal_all(pgids, members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = members
    while time.monotonic() < deadline:
        left = tree_members(pgids, marker)
        if not left:
            return tuple(sorted(members))
        time.sleep(POLL)
    left = tree_members(pgids, marker)
    _signal_all(pgids, left, signal.SIGKILL)
    # SIGKILL cannot be ignored; give the kernel a moment so callers see a clean slate.
    end = time.monotonic() + 2.0
    while tree_members(pgids, marker) and time.monotonic() < end:
        time.sleep(POLL)
    return tuple(sorted(members))


class _Echo(threading.Thread):
    """Copies what is appended to the log file to a stream while commands run."""

    def __init__(self, path: Path, stream: TextIO) -> None:
        super().__init__(name="trunkline-verify-echo", daemon=True)
        self.path, self.stream = path, stream
        self.stop = threading.Event()

    def run(self) -> None:
        with open(self.path, "rb") as handle:
            while True:
                stopping = self.stop.wait(0.1)
                chunk = handle.read()
                if chunk:
                    self.stream.write(chunk.decode("utf-8", errors="replace"))
                    self.stream.flush()
                if stopping:
                    return


# ---------------------------------------------------------------------------------------------- the runner

def run_commands(commands: Sequence[str], *, cwd: str | Path, budget: float, env: Mapping[str, str],
                 cancel: CancelToken | None = None, grace: float = 5.0, log_path: str | Path | None = None,
                 echo: TextIO | None = None, marker: str | None = None,
                 on_start: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> RunOutcome:
    """Run ``commands`` in order in ``cwd`` until one fails, the budget runs out or ``cancel`` is set.

    ``env`` is the complete environment (see :func:`scrub_env`); the run's ``marker`` is added to it.
    ``on_start(pgid)`` is called for each command's process group (to record it for a restarted worker).
    """
    marker = marker or os.urandom(8).hex()
    started = clock()
    deadline = started + budget
    log_file = Path(log_path) if log_path is not None else Path(tempfile.mkstemp(prefix="trunkline-verify-",
                                                                              suffix=".log")[1])
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_bytes(b"")
    full_env = {**env, MARKER_VAR: marker}
    results: list[CommandResult] = []
    pgids: list[int] = []
    stopped: str | None = None
    killed: tuple[int, ...] = ()
    echo_thread = _Echo(log_file, echo) if echo is not None else None
    if echo_thread is not None:
        echo_thread.start()
    try:
        for command in commands:
            if stopped is not None or (results and results[-1].status != PASSED):
                results.append(CommandResult(command, NOT_RUN))
                continue
            if cancel is not None and cancel.is_set():
                stopped = "cancelled"
                results.append(CommandResult(command, NOT_RUN))
                continue
            if clock() >= deadline:
                stopped = "budget"
                results.append(CommandResult(command, NOT_RUN))
                continue
            offset = log_file.stat().st_size
            with open(log_file, "ab") as out:
                out.write(f"$ {command}\n".encode())
                out.flush()
                t0 = clock()
                try:
                    proc = subprocess.Popen(shell_argv(command), cwd=str(cwd), env=full_env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
                except OSError as exc:
                    results.append(CommandResult(command, ERROR, message=f"could not start: {exc}"))
                    continue
            pgids.append(proc.pid)  # start_new_session: the leader's pid is the group id
            if on_start is not None:
                on_start(proc.pid)
            code: int | None = None
            while True:
                try:
                    code = proc.wait(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if cancel is not None and cancel.is_set():
                    stopped = "cancelled"
                elif clock() >= deadline:
                    stopped = "budget"
                if stopped is not None:
                    killed = kill_tree(pgids, marker, grace)
                    proc.wait()
                    break
            duration = clock() - t0
            tail = tail_text(_read_from(log_file, offset))
            if stopped == "budget":
                status = BUDGET
            elif stopped == "cancelled":
                status = CANCELLED
            else:
                status = PASSED if code == 0 else FAILED
            results.append(CommandResult(command, status, None if stopped else code, round(duration, 3), tail))
    finally:
        # Background processes the commands left behind do not outlive the tier.
        leftover = kill_tree(pgids, marker, min(grace, 2.0))
        killed = killed or leftover
        if echo_thread is not None:
            echo_thread.stop.set()
            echo_thread.join(5)
    return RunOutcome(tuple(results), round(clock() - started, 3), budget, stopped,
                      cancel.reason if (cancel is not None and stopped == "cancelled") else None,
                      str(log_file), killed)


def _read_from(path: Path, offset: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read()
