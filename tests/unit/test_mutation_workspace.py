"""The mutmut workspace: config reading, layout mapping, the rewritten [tool.mutmut], sampling."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.mutation.runner import draw_sample, log_tail
from trunkline.mutation.workspace import (
    MARKER,
    ConfigError,
    parse_config,
    prepare_workspace,
    read_config,
    rewrite_pyproject,
    split_source_path,
    toml_value,
    translate_glob,
    workspace_table,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("path", "expected"), [
    ("bot/trunkline", ("bot", "trunkline")),
    ("src/pkg", ("src", "pkg")),
    ("src", ("src", "")),
    ("pkg", ("", "pkg")),
    ("lib/deep/pkg/", ("lib/deep", "pkg")),
    ("mod.py", ("", "mod.py")),
])
def test_split_source_path(path: str, expected: tuple[str, str]) -> None:
    assert split_source_path(path) == expected


@pytest.mark.parametrize("path", [".", "", "../elsewhere", "/abs/pkg"])
def test_bad_source_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigError):
        split_source_path(path)


def test_trunklines_own_config_maps_bot_onto_src() -> None:
    config = read_config(REPO)
    assert config.import_root == "bot" and config.packages == ["trunkline"]
    assert config.source_paths == ["bot/trunkline"]
    assert config.project_path("bot/trunkline/x/y.py") == "src/trunkline/x/y.py"
    assert config.repo_path("src/trunkline/x/y.py") == "bot/trunkline/x/y.py"
    assert config.in_sources("bot/trunkline/x/y.py") and not config.in_sources("bot/other.py")
    assert not config.in_sources("bot/trunkline/data.json")
    assert config.test_roots() == ["tests/unit"]


def test_config_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="source_paths"):
        read_config(tmp_path)
    with pytest.raises(ConfigError, match="source_paths"):
        parse_config({"pytest_add_cli_args_test_selection": ["tests"]})
    with pytest.raises(ConfigError, match="different import roots"):
        parse_config({"source_paths": ["bot/a", "src/b"]})
    with pytest.raises(ConfigError, match="list of strings"):
        parse_config({"source_paths": ["src/a"], "only_mutate": [1]})


def test_setup_cfg_and_deprecated_names_are_read(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[mutmut]\npaths_to_mutate=lib/pkg\ntests_dir=\n  checks\ndebug=true\n")
    config = read_config(tmp_path)
    assert config.source_paths == ["lib/pkg"] and config.test_selection == ["checks"]
    assert config.other == {"debug": True}


def test_test_roots_skip_options() -> None:
    config = parse_config({"source_paths": ["src/p"], "pytest_add_cli_args_test_selection":
                           ["tests/unit", "-m", "not slow", "tests/x.py::test_a", "-q"]})
    assert config.test_roots() == ["tests/unit", "tests/x.py"]


def test_globs_are_translated_and_narrowed() -> None:
    config = parse_config({"source_paths": ["bot/trunkline"], "only_mutate": ["bot/trunkline/config/*"],
                           "do_not_mutate": ["*generated*", "bot/trunkline/x.py"], "timeout_multiplier": 5.0,
                           "pytest_add_cli_args_test_selection": ["qa/unit"]})
    assert translate_glob("bot/trunkline/a/*", "bot") == "src/trunkline/a/*"
    assert translate_glob("pkg/*", "") == "src/pkg/*"
    assert translate_glob("*.py", "bot") == "*.py"
    table = workspace_table(config, existing=["bot", "qa", "pytest.ini"])
    assert table["source_paths"] == ["src/trunkline"]
    assert table["only_mutate"] == ["src/trunkline/config/*"]
    assert table["do_not_mutate"] == ["*generated*", "src/trunkline/x.py"]
    assert table["timeout_multiplier"] == 5.0 and table["use_git_change_detection"] is False
    assert table["also_copy"] == ["qa", "pytest.ini"]  # tests outside tests/ + pytest.ini reach mutants/
    narrowed = workspace_table(config, only_mutate=["bot/trunkline/config/model.py", "bot/trunkline/merge/x.py"])
    assert narrowed["only_mutate"] == ["src/trunkline/config/model.py"]  # still inside the repo's own only_mutate
    mirrored = workspace_table(config, existing=["bot", "qa", "actions"],
                               tracked=["Makefile", "actions", "bot", "qa", "tests", "pyproject.toml"])
    # what git tracks is copied into mutants/ (tests read the repository by relative paths), but not
    # tests/ (mutmut copies it) or the rewritten pyproject; bot/ too: tests may read files there by path
    assert mirrored["also_copy"] == ["qa", "Makefile", "actions", "bot"]
    flat = parse_config({"source_paths": ["pkg"]})
    assert workspace_table(flat, tracked=["pkg", "docs"])["also_copy"] == ["docs"]
    nothing = workspace_table(config, only_mutate=["bot/trunkline/merge/x.py"])
    assert nothing["only_mutate"] and all("config" not in p for p in nothing["only_mutate"])


def test_rewrite_pyproject_keeps_everything_else() -> None:
    original = (REPO / "pyproject.toml").read_text()
    table = {"source_paths": ["src/trunkline"], "only_mutate": ["src/trunkline/a ǁ b.py"], "debug": False,
             "timeout_multiplier": 2.5, "weird": 'quo"te\\'}
    rewritten = rewrite_pyproject(original, table)
    before, after = tomllib.loads(original), tomllib.loads(rewritten)
    assert after["tool"]["mutmut"] == table
    before["tool"].pop("mutmut", None)
    after["tool"].pop("mutmut")
    assert after == before
    assert rewrite_pyproject("", {"source_paths": ["src/x"]}).count("[tool.mutmut]") == 1


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8), st.integers(-10**6, 10**6), st.booleans(),
                              st.floats(allow_nan=False, allow_infinity=False)),
                    lambda inner: st.lists(inner, max_size=3), max_leaves=6))
def test_toml_values_round_trip(value) -> None:
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "bot" / "pkg").mkdir(parents=True)
    (repo / "bot" / "pkg" / "__init__.py").write_text("")
    (repo / "tests").mkdir()
    (repo / "docs").mkdir()
    (repo / ".git").mkdir()
    (repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n\n[tool.mutmut]\n'
                                         'source_paths = ["bot/pkg"]\n')
    return repo


def test_workspace_links_the_import_root_as_src(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    workspace = repo / ".trunkline" / "mutation"
    prepare_workspace(repo, workspace, read_config(repo))
    assert (workspace / "src").resolve() == (repo / "bot").resolve()
    assert (workspace / "src" / "pkg" / "__init__.py").is_file()
    assert (workspace / "tests").is_symlink() and (workspace / "docs").is_symlink()
    assert not (workspace / ".git").exists() and not (workspace / ".trunkline").exists()
    config = tomllib.loads((workspace / "pyproject.toml").read_text())
    assert config["tool"]["mutmut"]["source_paths"] == ["src/pkg"]
    assert config["tool"]["pytest"]["ini_options"] == {"addopts": "-q"}
    assert (workspace / ".gitignore").read_text() == "*\n"
    assert config["tool"]["mutmut"].get("also_copy", []) == []  # not a git repository: nothing tracked
    # the next run starts fresh, and never touches what the links point at
    (workspace / "mutants").mkdir()
    prepare_workspace(repo, workspace, read_config(repo))
    assert not (workspace / "mutants").exists() and (repo / "bot" / "pkg" / "__init__.py").exists()


def test_workspace_refuses_to_clear_a_foreign_directory(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "data.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a Trunkline mutation workspace"):
        prepare_workspace(repo, foreign, read_config(repo))
    assert (foreign / "data.txt").read_text() == "keep me"
    assert not (foreign / MARKER).exists()


def test_missing_source_path_is_a_config_error(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["bot/nothere"]\n')
    with pytest.raises(ConfigError, match="does not exist"):
        prepare_workspace(repo, tmp_path / "ws", read_config(repo))


@settings(max_examples=50, deadline=None)
@given(names=st.sets(st.from_regex(r"p\.x_[a-z]{1,3}__mutmut_[1-9]", fullmatch=True), max_size=40),
       size=st.integers(1, 50), seed=st.integers(0, 2**31))
def test_sample_is_reproducible_and_a_subset(names: set[str], size: int, seed: int) -> None:
    first = draw_sample(names, size, seed)
    assert first == draw_sample(sorted(names, reverse=True), size, seed)  # order of the input does not matter
    assert set(first) <= names and len(first) == min(size, len(names)) and len(set(first)) == len(first)


def test_different_seeds_draw_differently() -> None:
    names = [f"p.x_f__mutmut_{i}" for i in range(200)]
    assert draw_sample(names, 20, 1) != draw_sample(names, 20, 2)


def test_log_tail_drops_spinner_redraws(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    log.write_text("⠋ Running stats\r⠙ Running stats\r    done\nfailed to collect stats. runner returned 1\n")
    assert log_tail(log) == "    done\nfailed to collect stats. runner returned 1"
