"""``trunkline flaky``: real pytest sessions in a real git repository, attempts stored per tree SHA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trunkline.flaky.cli import split_args
from trunkline.flaky.runner import repository_name, working_tree_sha

TESTS = textwrap.dedent('''\
    import os
    import pathlib

    MODE = pathlib.Path(os.environ["FLAKY_MODE"])


    def test_stable():
        assert True


    def test_depends_on_the_weather():
        assert MODE.read_text() == "sunny", "it rained"


    def test_known_bad():
        assert False
    ''')


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    (repo / "tests").mkdir(parents=True)
    (repo / ".github").mkdir()
    (repo / "tests" / "test_weather.py").write_text(TESTS)
    (repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n')
    (repo / ".github" / "trunkline.yml").write_text(textwrap.dedent("""\
        flaky:
          reruns: 0
          quarantine:
            - test: tests/test_weather.py::test_known_bad
              reason: "tracked in #7"
        """))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    return repo


def flaky(repo: Path, weather: str, *args: str) -> tuple[int, dict, str]:
    (repo.parent / "mode").write_text(weather)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GITHUB_"))}
    env.update(FLAKY_MODE=str(repo.parent / "mode"), TRUNKLINE_DATABASE_URL=f"sqlite:///{repo.parent}/store.db")
    out = repo.parent / "flaky.json"
    proc = subprocess.run([sys.executable, "-m", "trunkline.cli", "flaky", "run", "--json", str(out),
                           "--markdown", str(repo.parent / "flaky.md"), *args, "-q", "tests"],
                          cwd=repo, capture_output=True, text=True, env=env, timeout=180)
    data = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, data, proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_test_that_passed_and_failed_on_the_same_tree_is_flaky_across_sessions(repo: Path) -> None:
    code, first, output = flaky(repo, "rainy")
    assert code == 1, output  # reruns: 0 (config): the weather test fails this session
    assert first["flaky"] == [] and first["runs"] == 1 and first["tests"] == 3
    # the quarantined test ran and failed, yet it is not what failed the session
    assert first["quarantined"][0]["nodeid"] == "tests/test_weather.py::test_known_bad"
    assert first["quarantined"][0]["reason"] == "tracked in #7"
    assert first["quarantined"][0]["outcomes"] == {"failed": 1}
    assert "tests/test_weather.py::test_known_bad" not in first["failing"]

    code, second, output = flaky(repo, "sunny")
    assert code == 0, output
    assert second["tree_sha"] == first["tree_sha"]  # the written reports did not change the key
    assert second["runs"] == 2
    assert second["flaky"] == ["tests/test_weather.py::test_depends_on_the_weather"]
    assert second["flaky_rate"] == pytest.approx(100 / 3, abs=1e-3)
    assert "## Flaky tests" in (repo.parent / "flaky.md").read_text()

    # another tree starts from scratch
    (repo / "tests" / "test_weather.py").write_text(TESTS + "\n# touched\n")
    code, third, _ = flaky(repo, "sunny")
    assert third["tree_sha"] != first["tree_sha"] and third["runs"] == 1 and third["flaky"] == []


@pytest.mark.slow
def test_reruns_find_flakiness_within_one_session_and_can_fail_it(repo: Path) -> None:
    # a test that fails only on its first attempt in this process
    (repo / "tests" / "test_once.py").write_text(textwrap.dedent('''\
        ATTEMPTS = []


        def test_first_attempt_fails():
            ATTEMPTS.append(1)
            assert len(ATTEMPTS) > 1
        '''))
    code, data, output = flaky(repo, "sunny", "--reruns", "1")
    assert code == 0, output
    assert data["this_run"]["flaky"] == ["tests/test_once.py::test_first_attempt_fails"]
    assert data["this_run"]["reruns"] == 1
    assert "flaky: tests/test_once.py::test_first_attempt_fails" in output
    code, data, _ = flaky(repo, "sunny", "--reruns", "1", "--fail-on-flaky")
    assert code == 1


@pytest.mark.slow
def test_a_broken_config_is_a_usage_error(repo: Path) -> None:
    (repo / ".github" / "trunkline.yml").write_text("flaky:\n  retries: 3\n")
    code, data, output = flaky(repo, "sunny")
    assert code == 2 and data == {}
    assert "retries" in output and "reruns" in output


@pytest.mark.slow
def test_pytest_usage_errors_pass_through(repo: Path) -> None:
    code, _, output = flaky(repo, "sunny", "--no-such-pytest-option")
    assert code == 4, output


def test_split_args_keeps_pytest_arguments_in_order() -> None:
    options, rest = split_args(["run", "--reruns", "3", "-k", "weather and not slow", "tests/unit", "-x"])
    assert options.reruns == 3 and rest == ["-k", "weather and not slow", "tests/unit", "-x"]
    options, rest = split_args(["--quarantine", "a::b", "--", "--json", "x"])
    assert options.quarantine == ["a::b"] and options.json_out == "flaky.json" and rest == ["--json", "x"]
    options, rest = split_args(["tests"])
    assert options.reruns is None and rest == ["tests"]


def test_tree_sha_ignores_untracked_files_and_names_from_origin(repo: Path) -> None:
    tree, commit = working_tree_sha(repo)
    assert tree == _git(repo, "rev-parse", "HEAD^{tree}") and commit == _git(repo, "rev-parse", "HEAD")
    (repo / "report.json").write_text("{}")
    assert working_tree_sha(repo)[0] == tree
    (repo / "tests" / "test_weather.py").write_text(TESTS + "# edited\n")
    assert working_tree_sha(repo)[0] != tree
    assert _git(repo, "diff", "--cached", "--name-only") == ""  # the real index was not touched
    assert _git(repo, "diff", "--name-only") == "tests/test_weather.py"
    assert repository_name(repo) == "proj"
    _git(repo, "remote", "add", "origin", "git@github.com:acme/widgets.git")
    assert repository_name(repo) == "acme/widgets"
