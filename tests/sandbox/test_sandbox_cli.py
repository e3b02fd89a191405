"""``trunkline sandbox``: list routes, run the server as a real process, act on it from the shell."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trunkline.cli import main

pytest.importorskip("trunkline.sandbox.hooks", reason="webhook sender not available yet")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_routes_prints_every_served_route_sorted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from trunkline.sandbox.server import create_app, list_routes
    from trunkline.sandbox.world import World

    code, out, _ = run(["sandbox", "--list-routes"], capsys)
    assert code == 0
    lines = out.splitlines()
    expected = [f"{m} {p}" for m, p in list_routes(create_app(World(tmp_path)))]
    assert lines and lines == sorted(expected, key=lambda line: (line.split(" ", 1)[1], line.split(" ", 1)[0]))
    assert "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge" in lines
    assert "GET /repos/{owner}/{repo}/contents/{path}" in lines  # {path:path} listed in GitHub spelling
    assert not [line for line in lines if "/_sandbox" in line]


def test_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["sandbox", "--host", "0.0.0.0", "--port", "0"], capsys)
    assert code == 2 and "not a loopback address" in err


def test_refuses_a_data_dir_with_old_repositories(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = tmp_path / "git" / "acme" / "old.git"
    old.mkdir(parents=True)
    code, _, err = run(["sandbox", "--port", "0", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and "earlier sandbox run" in err
    assert old.is_dir()  # nothing was touched


def test_busy_port_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, out, err = run(["sandbox", "--port", str(port)], capsys)
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "--port 0" in err
    assert "listening" not in out


def test_actor_without_a_sandbox_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run(["sandbox", "actor", "--url", f"http://127.0.0.1:{port}", "state"], capsys)
    assert code == 1 and "no sandbox at" in err and "trunkline sandbox" in err


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``trunkline sandbox`` as a real subprocess on a free port."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "trunkline.cli", "sandbox", "--port", "0",
                             "--data-dir", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert first.startswith("Sandbox GitHub listening on http://127.0.0.1:"), (
            first, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        yield {"proc": proc, "url": first.rsplit(" ", 1)[1].strip(), "data": tmp_path / "data"}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_server_process_and_shell_actors(server: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    url = server["url"]
    seed = tmp_path / "seed"
    (seed / "docs").mkdir(parents=True)
    (seed / "docs" / "intro.md").write_text("intro\n")
    local = tmp_path / "change.py"
    local.write_text("print('changed')\n")

    def actor(*argv: str) -> Any:
        code, out, err = run(["sandbox", "actor", "--url", url, *argv], capsys)
        assert code == 0, err
        return json.loads(out)

    made = actor("create-repo", "acme/shell", "--folder", str(seed), "--file", "README.md=# shell")
    assert made["full_name"] == "acme/shell" and made["git_dir"].startswith(str(server["data"]))
    actor("grant", "acme/shell", "dev", "write")
    sha = actor("push", "acme/shell", "feat", "--file", f"src/change.py=@{local}", "--delete", "README.md",
                "-m", "change", "--as", "dev")
    number = actor("open-pr", "acme/shell", "feat", "--title", "Change", "--as", "dev")
    assert actor("comment", "acme/shell", str(number), "/trunkline status", "--as", "dev") > 0
    assert actor("label", "acme/shell", str(number), "ready", "small", "--as", "dev") == ["ready", "small"]
    actor("unlabel", "acme/shell", str(number), "small", "--as", "dev")
    actor("grant", "acme/shell", "rev", "write")
    actor("review", "acme/shell", str(number), "--as", "rev")
    actor("protect", "acme/shell", "main", "--check", "ci/test")
    actor("ci", "acme/shell", sha, "ci/test", "--conclusion", "success")
    actor("status", "acme/shell", sha, "legacy", "success", "--as", "dev")
    token = actor("token", "dev")

    # Read it all back through GitHub's REST API as a client would.
    headers = {"authorization": f"token {token}"}
    pr = httpx.get(f"{url}/repos/acme/shell/pulls/{number}", headers=headers).json()
    assert (pr["head"]["sha"], pr["title"], [lab["name"] for lab in pr["labels"]]) == (sha, "Change", ["ready"])
    assert pr["mergeable_state"] == "clean"
    files = httpx.get(f"{url}/repos/acme/shell/pulls/{number}/files", headers=headers).json()
    assert {f["filename"]: f["status"] for f in files} == {"src/change.py": "added", "README.md": "removed"}
    intro = httpx.get(f"{url}/repos/acme/shell/contents/docs/intro.md", headers=headers).json()
    assert intro["name"] == "intro.md"
    runs = httpx.get(f"{url}/repos/acme/shell/commits/{sha}/check-runs", headers=headers).json()
    assert [(r["name"], r["conclusion"]) for r in runs["check_runs"]] == [("ci/test", "success")]

    state = actor("state")
    [repo] = [r for r in state["repos"] if r["full_name"] == "acme/shell"]
    assert repo["pulls"][0]["reviews"] == [{"user": "rev", "state": "APPROVED", "commit_id": sha}]

    code, _, err = run(["sandbox", "actor", "--url", url, "open-pr", "acme/shell", "ghost", "--as", "dev"], capsys)
    assert code == 1 and "422" in err

    proc = server["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
