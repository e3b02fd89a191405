"""The command registry: one module per command under ``trunkline.commands.builtin``.

Adding a command is one new module in ``bot/trunkline/commands/builtin/`` — it is discovered with
``pkgutil`` (no list to edit)::

    from trunkline.commands.registry import Param, command
    from trunkline.commands.invocation import Invocation, Outcome, ok

    @command("deploy", summary="Deploy the PR head to an environment.", level="maintain", pr_only=True,
             params=[Param("environment", "where to deploy", required=True)], aliases=("ship",))
    def deploy(inv: Invocation) -> Outcome:
        ...
        return ok(f"Deploying to `{inv.params['environment']}`.")

A subcommand is registered under ``"<parent> <sub>"`` (``@command("merge cancel", ...)``): when the
first argument of ``/merge`` is ``cancel`` (any case), the subcommand runs with the rest. Its
permission key in ``commands.permissions`` is ``merge-cancel``.

Argument schemas are declarative (:class:`Param`); :func:`bind` checks a parsed command against them
(pure) and raises :class:`UsageError` with a message the handler turns into a refusal with usage.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trunkline.config.model import PERMISSION_ORDER

from .parser import Command

if TYPE_CHECKING:
    from .invocation import Invocation, Outcome

BUILTIN_PACKAGE = "trunkline.commands.builtin"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*( [a-z][a-z0-9-]*)?$")


class UsageError(ValueError):
    """Arguments that do not fit a command's schema."""


@dataclass(frozen=True)
class Param:
    """One argument of a command.

    * positional by default, in declaration order; also accepted as ``name=value``;
    * ``keyword=True``: only as ``name=value``;
    * ``rest=True``: free text — everything after the command name, verbatim (must be the only
      positional parameter);
    * ``choices``: allowed values (matched case-insensitively, returned as declared).
    """

    name: str
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    keyword: bool = False
    rest: bool = False
    default: str | None = None

    def usage(self) -> str:
        if self.keyword:
            shown = f"{self.name}={'|'.join(self.choices) or 'VALUE'}"
        elif self.choices:
            shown = "|".join(self.choices)
        else:
            shown = f"<{self.name}>" if not self.rest else f"<{self.name}...>"
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True)
class CommandSpec:
    """What a command is: its name, who may run it, its arguments and the function that runs it."""

    name: str  # "hold", or "merge cancel" for a subcommand
    summary: str
    run: Callable[[Invocation], Outcome]
    level: str = "write"
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    pr_only: bool = False
    module: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"command name {self.name!r} must be lower-case letters, digits and '-' "
                             "(one space for a subcommand)")
        if self.level not in PERMISSION_ORDER:
            raise ValueError(f"{self.name}: level must be one of {', '.join(PERMISSION_ORDER)}")
        rest = [p for p in self.params if p.rest]
        positional = [p for p in self.params if not p.keyword]
        if rest and (len(rest) > 1 or len(positional) > 1):
            raise ValueError(f"{self.name}: a rest parameter must be the only positional parameter")
        if len({p.name for p in self.params}) != len(self.params):
            raise ValueError(f"{self.name}: parameter names must be unique")

    @property
    def parent(self) -> str | None:
        return self.name.split(" ")[0] if " " in self.name else None

    @property
    def config_key(self) -> str:
        """Key in ``commands.permissions`` (``merge cancel`` -> ``merge-cancel``)."""
        return self.name.replace(" ", "-")

    def usage(self, prefix: str = "/") -> str:
        return " ".join([f"{prefix}{self.name}", *(p.usage() for p in self.params)])


@dataclass
class Resolution:
    """A parsed command matched to its spec (``spec`` None = unknown command)."""

    command: Command
    spec: CommandSpec | None
    args: list[str] = field(default_factory=list)  # positional args left after a subcommand word
    text: str = ""  # free text after the command (and subcommand) name


class CommandRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._aliases: dict[str, str] = {}

    def register(self, spec: CommandSpec) -> CommandSpec:
        existing = self._specs.get(spec.name)
        if existing is not None and existing.module != spec.module:
            raise ValueError(f"command {spec.name!r} is registered twice ({existing.module}, {spec.module})")
        for alias in spec.aliases:
            if self._aliases.get(alias, spec.name) != spec.name or (alias in self._specs and alias != spec.name):
                raise ValueError(f"alias {alias!r} of {spec.name!r} is already taken")
        self._specs[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.name
        return spec

    def get(self, name: str) -> CommandSpec | None:
        name = name.lower()
        return self._specs.get(self._aliases.get(name, name))

    def specs(self) -> list[CommandSpec]:
        """Every command, top-level commands alphabetically with their subcommands after them."""
        return sorted(self._specs.values(), key=lambda s: (s.name.split(" ")[0], " " in s.name, s.name))

    def resolve(self, command: Command) -> Resolution:
        top = self.get(command.name)
        args = list(command.args)
        text = command.text
        if top is None:
            # "/merge-cancel" style spelling of a subcommand is not accepted: say it is unknown.
            return Resolution(command, None, args, text)
        spec = top
        if args:
            sub = self._specs.get(f"{top.name} {args[0].lower()}")
            if sub is not None:
                spec = sub
                args = args[1:]
                text = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
        return Resolution(command, spec, args, text)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


registry = CommandRegistry()


def command(name: str, *, summary: str, level: str = "write", params: Iterable[Param] = (),
            aliases: Iterable[str] = (), pr_only: bool = False,
            into: CommandRegistry | None = None) -> Callable[[Callable[[Invocation], Outcome]],
                                                             Callable[[Invocation], Outcome]]:
    """Decorator registering a command function (see module docstring)."""

    def decorate(fn: Callable[[Invocation], Outcome]) -> Callable[[Invocation], Outcome]:
        spec = CommandSpec(name=name, summary=summary, run=fn, level=level, params=tuple(params),
                           aliases=tuple(aliases), pr_only=pr_only, module=getattr(fn, "__module__", ""))
        (into if into is not None else registry).register(spec)
        fn.spec = spec  # type: ignore[attr-defined]
        return fn

    return decorate


def load_builtin(package: str = BUILTIN_PACKAGE) -> CommandRegistry:
    """Import every module of ``package`` (each registers its commands) and return the registry."""
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
    return registry


# ---------------------------------------------------------------------------------------- binding

def bind(spec: CommandSpec, args: list[str], kwargs: Mapping[str, str], text: str = "") -> dict[str, Any]:
    """Match arguments to ``spec.params``; raises :class:`UsageError` with a readable reason."""
    values: dict[str, Any] = {p.name: p.default for p in spec.params}
    by_key = {p.name.lower(): p for p in spec.params}
    rest = next((p for p in spec.params if p.rest), None)
    if rest is not None:
        # free text: everything verbatim (quotes and '=' included: a reason may contain them)
        values[rest.name] = text.strip() or rest.default
        if rest.required and not values[rest.name]:
            raise UsageError(f"{rest.name} is required")
        return values
    for key, value in kwargs.items():
        param = by_key.get(key.lower())
        if param is None:
            known = ", ".join(sorted(by_key)) or "none"
            raise UsageError(f"unknown option '{key}' (options: {known})")
        values[param.name] = _check_choice(param, value)
    positional = [p for p in spec.params if not p.keyword and p.name.lower() not in kwargs]
    if len(args) > len(positional):
        extra = " ".join(args[len(positional):])
        raise UsageError(f"unexpected argument{'s' if len(args) - len(positional) > 1 else ''}: {extra}")
    for param, value in zip(positional, args, strict=False):
        values[param.name] = _check_choice(param, value)
    missing = [p.name for p in spec.params if p.required and values.get(p.name) in (None, "")]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    return values


def _check_choice(param: Param, value: str) -> str:
    if not param.choices:
        return value
    for choice in param.choices:
        if choice.lower() == value.lower():
            return choice
    raise UsageError(f"{param.name} must be one of {', '.join(param.choices)} (got '{value}')")
