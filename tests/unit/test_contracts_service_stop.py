"""``contracts test`` stops the service command it started: the whole process group, and only returns
once the service no longer listens (the command runs under a shell, and the service may take a moment
to shut down after the shell is gone)."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

from trunkline.contracts.testing import _group_alive, start_service, stop_service

SLOW_SERVICE = textwrap.dedent("""
    import signal, socket, sys, time
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0)); s.listen()
    open(sys.argv[1], "w").write(str(s.getsockname()[1]))
    def term(*_):
        time.sleep(float(sys.argv[2]))  # a graceful shutdown that takes a while
        sys.exit(0)
    signal.signal(signal.SIGTERM, term)
    while True:
        time.sleep(0.1)
""")


def _start(tmp_path: Path, shutdown_s: float) -> tuple[object, int]:
    script = tmp_path / "service.py"
    script.write_text(SLOW_SERVICE)
    port_file = tmp_path / "port"
    # "; true": the shell stays the service's parent instead of exec-ing it
    proc = start_service(f"{sys.executable} {script} {port_file} {shutdown_s}; true", tmp_path, tmp_path / "log")
    deadline = time.monotonic() + 20
    while not (port_file.is_file() and port_file.read_text()):
        assert time.monotonic() < deadline, (tmp_path / "log").read_text()
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_stop_waits_for_a_service_that_shuts_down_slowly_under_a_shell(tmp_path: Path) -> None:
    proc, port = _start(tmp_path, shutdown_s=1.0)
    assert _listening(port) and _group_alive(proc.pid)
    started = time.monotonic()
    stop_service(proc)
    assert time.monotonic() - started >= 0.9  # it waited for the service, not just the shell
    assert not _group_alive(proc.pid)
    assert not _listening(port)
    assert proc.returncode is not None


def test_a_service_ignoring_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    proc, port = _start(tmp_path, shutdown_s=60.0)
    started = time.monotonic()
    stop_service(proc, timeout=1.0)
    assert time.monotonic() - started < 10
    assert not _group_alive(proc.pid)
    assert not _listening(port)
