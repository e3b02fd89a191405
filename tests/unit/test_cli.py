"""The CLI collects every capability's commands; the fast path imports only the one asked for."""

from __future__ import annotations

import argparse
import importlib

import pytest

from trunkline import cli


def _commands_of(module_name: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    importlib.import_module(module_name).register(sub)
    return set(sub.choices)


@pytest.mark.parametrize("command,module", sorted(cli.FAST_PATH.items()))
def test_fast_path_names_the_module_that_registers_the_command(command: str, module: str) -> None:
    if module not in cli.COMMAND_MODULES:
        pytest.skip(f"{module} is not a command module")
    pytest.importorskip(module, reason=f"{module} is not built yet")
    assert command in _commands_of(module)


def test_every_registered_top_level_command_is_on_the_fast_path() -> None:
    full = cli.build_parser([])
    names = set(next(a for a in full._actions if isinstance(a, argparse._SubParsersAction)).choices)
    assert names <= set(cli.FAST_PATH), f"add to FAST_PATH: {sorted(names - set(cli.FAST_PATH))}"


def test_help_lists_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in ("config", "serve", "worker", "sandbox", "demo"):
        assert name in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
