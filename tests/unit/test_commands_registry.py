"""Command registry: discovery (one module per command), resolution, subcommands, argument binding."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import trunkline.commands.registry as registry_module
from trunkline.commands.invocation import Invocation, Outcome, ok
from trunkline.commands.parser import parse_commands
from trunkline.commands.registry import (
    CommandRegistry,
    CommandSpec,
    Param,
    UsageError,
    bind,
    command,
    load_builtin,
)
from trunkline.config.model import PERMISSION_ORDER

EXPECTED_LEVELS = {
    "help": "read", "verify": "write", "retest": "write", "merge": "write", "merge cancel": "write",
    "hold": "triage", "unhold": "write", "generate": "write", "ratchet": "read",
    "agent": "write", "cancel": "triage",
    "deploy": "maintain", "promote": "maintain", "rollback": "maintain", "abort": "maintain",
}


def noop(inv: Invocation) -> Outcome:
    return ok("done")


def spec(name: str, **kw: object) -> CommandSpec:
    return CommandSpec(name=name, summary=f"{name} things", run=noop, **kw)  # type: ignore[arg-type]


def first(body: str):
    return parse_commands(body)[0]


# ---------------------------------------------------------------------------------------- built-ins

def test_builtin_commands_and_default_levels() -> None:
    reg = load_builtin()
    assert {s.name: s.level for s in reg.specs()} == EXPECTED_LEVELS


def test_each_command_lives_in_its_own_module() -> None:
    for s in load_builtin().specs():
        top = s.name.split(" ")[0]
        assert s.module == f"trunkline.commands.builtin.{top}", s.name


def test_pr_only_commands() -> None:
    reg = load_builtin()
    assert {s.name for s in reg.specs() if not s.pr_only} == {"help", "cancel", "deploy", "promote", "rollback",
                                                              "abort", "verify"}


def test_help_order_puts_subcommands_after_their_parent() -> None:
    names = [s.name for s in load_builtin().specs()]
    assert names.index("merge cancel") == names.index("merge") + 1
    assert names == sorted(names, key=lambda n: (n.split(" ")[0], " " in n))


def test_usage_strings() -> None:
    reg = load_builtin()
    assert reg.get("hold").usage("/") == "/hold [<reason...>]"
    assert reg.get("verify").usage("!") == "!verify [<tier>]"
    assert reg.get("merge cancel").usage() == "/merge cancel"
    assert reg.get("merge cancel").config_key == "merge-cancel"


# ---------------------------------------------------------------------------------------- discovery

def test_adding_a_command_is_one_new_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "extra_commands"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_shared.py").write_text("RAN = []\n")  # helpers start with '_' and are not loaded
    (package / "deploy.py").write_text(textwrap.dedent('''
        from trunkline.commands.invocation import ok
        from trunkline.commands.registry import Param, command

        @command("deploy", summary="Deploy somewhere.", level="maintain", pr_only=True, aliases=("ship",),
                 params=[Param("environment", required=True, choices=("staging", "production"))])
        def deploy(inv):
            return ok("deploying to " + inv.params["environment"])
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh = CommandRegistry()
    monkeypatch.setattr(registry_module, "registry", fresh)
    try:
        reg = load_builtin("extra_commands")
        assert reg is fresh
        assert [s.name for s in reg.specs()] == ["deploy"]
        assert "extra_commands._shared" not in sys.modules
        res = reg.resolve(first("/SHIP Production"))
        assert res.spec is not None and res.spec.name == "deploy" and res.spec.level == "maintain"
        assert bind(res.spec, res.args, {}, res.text) == {"environment": "production"}
    finally:
        for name in ("extra_commands", "extra_commands.deploy"):
            sys.modules.pop(name, None)


# ---------------------------------------------------------------------------------------- resolution

def test_subcommand_resolution() -> None:
    reg = load_builtin()
    res = reg.resolve(first("/merge CANCEL"))
    assert res.spec is not None and res.spec.name == "merge cancel" and res.args == [] and res.text == ""
    res = reg.resolve(first("/merge"))
    assert res.spec is not None and res.spec.name == "merge"
    res = reg.resolve(first("/merge now please"))
    assert res.spec is not None and res.spec.name == "merge" and res.args == ["now", "please"]
    with pytest.raises(UsageError, match="unexpected arguments: now please"):
        bind(res.spec, res.args, {}, res.text)


def test_unknown_commands_resolve_to_none() -> None:
    reg = load_builtin()
    assert reg.resolve(first("/frobnicate")).spec is None
    assert reg.resolve(first("/merge-cancel")).spec is None


def test_subcommand_keeps_its_free_text() -> None:
    reg = CommandRegistry()
    reg.register(spec("hold"))
    reg.register(spec("hold note", params=(Param("text", rest=True),)))
    res = reg.resolve(first('/hold note  waiting "for" x=1'))
    assert res.spec is not None and res.spec.name == "hold note"
    assert bind(res.spec, res.args, {}, res.text) == {"text": 'waiting "for" x=1'}


def test_registration_errors() -> None:
    reg = CommandRegistry()
    reg.register(spec("one", aliases=("uno",)))
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(CommandSpec(name="one", summary="x", run=noop, module="elsewhere"))
    with pytest.raises(ValueError, match="alias 'uno'"):
        reg.register(spec("two", aliases=("uno",)))
    with pytest.raises(ValueError, match="alias 'one'"):
        reg.register(spec("three", aliases=("one",)))
    assert reg.get("UNO") is reg.get("one")
    for bad in ("One", "1x", "a b c", "a_b", ""):
        with pytest.raises(ValueError, match="must be lower-case"):
            spec(bad)
    with pytest.raises(ValueError, match="level must be one of"):
        spec("x", level="owner")
    with pytest.raises(ValueError, match="only positional"):
        spec("x", params=(Param("a"), Param("b", rest=True)))
    with pytest.raises(ValueError, match="unique"):
        spec("x", params=(Param("a"), Param("a", keyword=True)))


def test_decorator_attaches_spec() -> None:
    reg = CommandRegistry()

    @command("ping", summary="Ping.", level="read", into=reg)
    def ping(inv: Invocation) -> Outcome:
        return ok("pong")

    assert ping.spec is reg.get("ping")  # type: ignore[attr-defined]
    assert reg.get("ping").module == __name__
    assert "ping" in reg and len(reg) == 1


# ---------------------------------------------------------------------------------------- binding

TIERED = spec("verify", params=(Param("tier", choices=("fast", "pr")), Param("budget", keyword=True),
                                Param("note")))


def test_bind_positional_keyword_and_choices() -> None:
    assert bind(TIERED, ["FAST"], {}) == {"tier": "fast", "budget": None, "note": None}
    assert bind(TIERED, ["pr", "hello"], {"budget": "60"}) == {"tier": "pr", "budget": "60", "note": "hello"}
    # a positional given as key=value is taken out of the positional order
    assert bind(TIERED, ["hello"], {"tier": "pr"}) == {"tier": "pr", "budget": None, "note": "hello"}


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (["nightly"], {}, "tier must be one of fast, pr (got 'nightly')"),
    (["fast", "a", "b"], {}, "unexpected argument: b"),
    ([], {"colour": "red"}, "unknown option 'colour' (options: budget, note, tier)"),
])
def test_bind_errors(args: list[str], kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        bind(TIERED, args, kwargs)
    assert str(info.value) == message


def test_required_parameters() -> None:
    deploy = spec("deploy", params=(Param("environment", required=True),))
    with pytest.raises(UsageError, match="missing environment"):
        bind(deploy, [], {})
    assert deploy.usage() == "/deploy <environment>"
    reason = spec("why", params=(Param("reason", required=True, rest=True),))
    with pytest.raises(UsageError, match="reason is required"):
        bind(reason, [], {}, "   ")
    assert bind(reason, ["a"], {"k": "v"}, " a k=v ") == {"reason": "a k=v"}
    assert reason.usage() == "/why <reason...>"
    assert spec("x", params=(Param("mode", keyword=True, choices=("a", "b")),)).usage() == "/x [mode=a|b]"


@given(st.lists(st.text(min_size=1, max_size=5), max_size=4), st.integers(0, 4))
def test_bind_assigns_positionals_in_order(args: list[str], count: int) -> None:
    s = spec("x", params=tuple(Param(f"p{i}") for i in range(count)))
    if len(args) > count:
        with pytest.raises(UsageError):
            bind(s, args, {})
        return
    bound = bind(s, args, {})
    assert [bound[f"p{i}"] for i in range(count)] == args + [None] * (count - len(args))


def test_levels_are_known() -> None:
    assert all(s.level in PERMISSION_ORDER for s in load_builtin().specs())
