"""``trunkline.gates.runner``: commands under a budget, process trees stopped for real."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.gates.runner import (
    BUDGET,
    CANCELLED,
    FAILED,
    MARKER_VAR,
    NOT_RUN,
    PASSED,
    CancelToken,
    kill_tree,
    run_commands,
    scrub_env,
    tail_text,
    tree_members,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process-tree checks need Linux /proc")


def env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def pids_in(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_budget_kills_a_child_sleeping_forever_and_says_budget_exceeded(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    # The command starts a child that sleeps "forever" and then waits for it.
    command = f"sleep 1000 & echo $! >> {pidfile}; echo $$ >> {pidfile}; wait"
    started = time.monotonic()
    out = run_commands([command, "echo never"], cwd=tmp_path, budget=1.0, env=env(), grace=1.0)
    elapsed = time.monotonic() - started
    assert out.stopped == "budget"
    assert [c.status for c in out.commands] == [BUDGET, NOT_RUN]
    assert out.commands[0].exit_code is None
    assert 1.0 <= elapsed < 6.0
    pids = pids_in(pidfile)
    assert len(pids) == 2
    assert not any(alive(p) for p in pids), "every process of the tree is gone"


def test_sigterm_ignoring_descendant_in_its_own_session_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    # setsid: a new session and process group, outside the command's group; it ignores SIGTERM.
    child = f"trap '' TERM; echo $$ >> {pidfile}; while true; do sleep 1; done"
    command = f"setsid bash -c \"{child}\" & sleep 1000"
    out = run_commands([command], cwd=tmp_path, budget=1.0, env=env(), grace=0.5)
    assert out.stopped == "budget"
    [pid] = pids_in(pidfile)
    deadline = time.monotonic() + 3
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "found through the run's marker variable and SIGKILLed after the grace"


def test_commands_run_in_order_until_the_first_failure(tmp_path: Path) -> None:
    out = run_commands(["echo one > a.txt", "cat a.txt; exit 3", "touch never"], cwd=tmp_path, budget=30,
                       env=env())
    assert [c.status for c in out.commands] == [PASSED, FAILED, NOT_RUN]
    assert out.commands[1].exit_code == 3
    assert "one" in out.commands[1].output_tail
    assert not (tmp_path / "never").exists()
    assert out.stopped is None


def test_background_processes_do_not_outlive_the_tier(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    out = run_commands([f"sleep 1000 & echo $! > {pidfile}"], cwd=tmp_path, budget=30, env=env(), grace=1)
    assert [c.status for c in out.commands] == [PASSED]
    [pid] = pids_in(pidfile)
    assert not alive(pid)
    assert pid in out.killed


def test_cancel_stops_the_running_command_with_the_reason(tmp_path: Path) -> None:
    token = CancelToken()
    timer = threading.Timer(0.5, token.cancel, args=("superseded by abc1234",))
    timer.start()
    started = time.monotonic()
    out = run_commands(["sleep 30"], cwd=tmp_path, budget=60, env=env(), cancel=token, grace=1)
    assert time.monotonic() - started < 5
    assert out.stopped == "cancelled"
    assert out.cancel_reason == "superseded by abc1234"
    assert out.commands[0].status == CANCELLED


def test_marker_and_env_reach_the_commands_and_output_goes_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "tier.log"
    out = run_commands([f"echo marker=${MARKER_VAR} tier=$TIER"], cwd=tmp_path, budget=30,
                       env={**env(), "TIER": "t0"}, marker="m-123", log_path=log)
    assert "marker=m-123 tier=t0" in out.commands[0].output_tail
    assert "marker=m-123" in log.read_text()
    assert out.log_path == str(log)


def test_a_command_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    out = run_commands(["true"], cwd=tmp_path / "missing", budget=5, env=env())
    assert out.commands[0].status == "error"
    assert "could not start" in out.commands[0].message


def test_on_start_gets_each_process_group(tmp_path: Path) -> None:
    seen: list[int] = []
    run_commands(["true", "true"], cwd=tmp_path, budget=5, env=env(), on_start=seen.append)
    assert len(seen) == 2 and all(p > 1 for p in seen)


def test_kill_tree_by_marker_only_touches_marked_processes(tmp_path: Path) -> None:
    import subprocess

    marked = subprocess.Popen(["sleep", "100"], env={**env(), MARKER_VAR: "mine"}, start_new_session=True)
    other = subprocess.Popen(["sleep", "100"], env={**env(), MARKER_VAR: "theirs"}, start_new_session=True)
    try:
        assert marked.pid in tree_members((), "mine")
        killed = kill_tree((), "mine", grace=1)
        assert marked.pid in killed
        assert marked.wait(5) == -signal.SIGTERM
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_scrub_env_drops_bot_settings_and_credentials() -> None:
    base = {"PATH": "/bin", "TRUNKLINE_PRIVATE_KEY": "k", "GITHUB_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "s",
            "DB_PASSWORD": "p", "HOME": "/h", "trunkline_app_id": "1"}
    assert scrub_env(base) == {"PATH": "/bin", "HOME": "/h"}


@given(st.lists(st.text(alphabet="abc é\n", max_size=30), max_size=200))
def test_tail_text_keeps_the_end(lines: list[str]) -> None:
    data = "\n".join(lines).encode()
    tail = tail_text(data, lines=10, max_bytes=400)
    assert len(tail.encode()) <= 400 + 10
    assert len(tail.splitlines()) <= 10
    if len(data) <= 400:
        assert tail == "\n".join(data.decode().splitlines()[-10:])
    else:  # cut: the kept lines are whole lines from the end of the output
        assert data.decode().rstrip("\n").endswith(tail.rstrip("\n"))


def test_python_child_killed_too(tmp_path: Path) -> None:
    # a realistic tree: a shell running python which forks a grandchild
    script = tmp_path / "fork.py"
    script.write_text("import os, time\nif os.fork() == 0:\n    time.sleep(1000)\nelse:\n    time.sleep(1000)\n")
    out = run_commands([f"{sys.executable} {script}"], cwd=tmp_path, budget=1.5, env=env(), grace=1)
    assert out.stopped == "budget"
    assert len(out.killed) >= 2
    assert not any(alive(p) for p in out.killed)
