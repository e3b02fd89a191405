"""What a command function receives (:class:`Invocation`) and returns (:class:`Outcome`).

A command module only deals with these two: the :class:`Session` gives it the comment's place
(repository, issue/PR number, who asked), the effective configuration and lazy GitHub access; the
:class:`Outcome` says what happened, in one or two Markdown sentences for the reply.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from trunkline.config.model import TrunklineConfig

from .parser import Command

if TYPE_CHECKING:
    from .registry import CommandRegistry, CommandSpec

Status = Literal["success", "failure", "refused"]


@dataclass(frozen=True)
class Outcome:
    """Result of one command. ``message`` is one line of Markdown for the reply; ``details`` an optional
    longer Markdown block (a table) shown under the summary."""

    status: Status
    message: str
    details: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "success"


def ok(message: str, details: str = "") -> Outcome:
    return Outcome("success", message, details)


def failed(message: str, details: str = "") -> Outcome:
    return Outcome("failure", message, details)


def refused(message: str, details: str = "") -> Outcome:
    return Outcome("refused", message, details)


def not_available(what: str, why: str) -> Outcome:
    """A refusal for a command whose engine is not part of this Trunkline yet (never a fake success)."""
    return refused(f"not available yet: {what} — {why}")


def load_engine(module: str, attribute: str) -> Any | None:
    """``module.attribute`` when that engine is installed, else None (the command then refuses).
    Only a missing module/attribute counts as "not installed"; errors inside the engine propagate."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise
    return getattr(mod, attribute, None)


@dataclass
class Session:
    """One comment being handled: where it is, who wrote it, the configuration, and GitHub access.

    ``github`` is the installation client (``trunkline.github.InstallationClient``), None in pure tests;
    ``event`` the events ``Context`` of the delivery (for engines that want it).
    """

    owner: str
    repo: str
    number: int
    is_pr: bool
    actor: str
    comment_id: int
    config: TrunklineConfig
    registry: CommandRegistry
    prefix: str = "/"
    config_ok: bool = True
    actor_level: str | None = None  # filled by the handler when a command needs more than read
    labels: list[str] = field(default_factory=list)  # the issue's labels when the comment was made
    levels: dict[str, str] = field(default_factory=dict)  # spec name -> required level (config applied)
    github: Any = None
    event: Any = None
    log: logging.LoggerAdapter | logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))
    _repository: Any = field(default=None, init=False, repr=False)
    _pull: Any = field(default=None, init=False, repr=False)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def app_id(self) -> int | None:
        app = getattr(self.github, "app", None)
        return getattr(app, "app_id", None)

    def repository(self) -> Any:
        """The PyGithub ``Repository`` (lazy: no request until needed)."""
        if self._repository is None:
            self._repository = self.github.repo(self.owner, self.repo)
        return self._repository

    def pull(self, refresh: bool = False) -> Any:
        """The pull request, fetched fresh from GitHub (once per comment unless ``refresh``)."""
        if not self.is_pr:
            raise RuntimeError(f"#{self.number} is an issue, not a pull request")
        if self._pull is None or refresh:
            self._pull = self.repository().get_pull(self.number)
        return self._pull

    def issue(self) -> Any:
        """The issue (or the PR's issue side, for labels) as a lazy PyGithub object."""
        return self.repository().get_issue(self.number)


@dataclass
class Invocation:
    """One command to run: its spec, the parsed command, the bound parameters and the session."""

    spec: CommandSpec
    command: Command
    params: dict[str, Any]
    session: Session

    def display(self) -> str:
        return self.command.display(self.session.prefix)
