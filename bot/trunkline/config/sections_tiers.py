"""The ``tiers:`` section of ``.github/trunkline.yml`` (models only; logic is in ``trunkline.gates``).

A tier is a named list of shell commands with a time budget, run on pull requests, on pushes to the
default branch or on a schedule. Each tier a pull request runs shows as a check run
``trunkline/<tier>`` on its head commit. No ``tiers:`` = no tier ever runs (the safe default: the bot
never executes anything a repository did not ask for).

Example::

    tiers:
      tier-0:                       # standard names get standard defaults (see below)
        commands: [make verify-fast]
      tier-1:
        commands: [make verify-pr]
        budget: 5m                   # seconds (300) or 90s / 5m / 1h30m
        artifacts: {junit: reports/junit-*.xml, coverage: coverage.json}
      nightly:
        commands: [make verify-nightly]
        executor: actions            # dispatch .github/workflows/<workflow> with inputs tier + sha
        workflow: trunkline-verify.yml

Standard tier names and what an unset ``budget`` / ``on`` / ``required`` / ``cron`` means for them:

=================  ======  ==============  ========  =============
name               budget  on              required  cron
=================  ======  ==============  ========  =============
tier-0             60 s    pull_request    true
tier-1             5 m     pull_request    true
nightly, tier-2    30 m    schedule        false     ``0 3 * * *``
weekly, tier-3     2 h     schedule        false     ``0 4 * * 0``
any other name     10 m    pull_request    true
=================  ======  ==============  ========  =============

Who runs what: the bot runs ``pull_request`` tiers (check runs on the head) and ``push`` tiers (check
runs on the pushed commit). It has no clock of its own, so ``schedule`` tiers run from the tier
workflow's ``on.schedule`` (executor actions; see ``.github/workflows/trunkline-verify.yml``) or from any
cron calling ``trunkline verify --tier NAME``; ``cron`` records when, and is checked here.

The models keep unset fields as ``None``; :func:`trunkline.gates.config.effective_tiers` applies the
defaults (they depend on the tier's name, which a field default cannot see).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from trunkline.config.model import Section

Trigger = Literal["pull_request", "push", "schedule"]
Executor = Literal["local", "actions"]
TierName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=40)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)]
InputName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=100)]
Command = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
RelPath = Annotated[str, StringConstraints(min_length=1, max_length=400)]

#: Longest budget a tier may ask for (a day); anything longer is a mistake, not a test suite.
MAX_BUDGET_SECONDS = 24 * 3600
#: Inputs the bot itself passes to a dispatched tier workflow.
RESERVED_INPUTS = frozenset({"tier", "sha"})

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s?)?\s*$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/?LW#-]+$")


def parse_budget(value: int | str) -> int:
    """Seconds in a budget written as an integer (seconds) or ``90s`` / ``5m`` / ``2h`` / ``1h30m``.

    Raises ``ValueError`` with a message for people when the text is not a duration or is out of range.
    """
    if isinstance(value, bool):  # YAML `true` is not a duration
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value)
        if not value.strip() or match is None or not any(match.groups()):
            raise ValueError(f"'{value}' is not a duration: use seconds (300) or a number with h, m or s "
                             "(5m, 90s, 1h30m)")
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise ValueError(f"budget must be more than 0 seconds, got {value!r}")
    if seconds > MAX_BUDGET_SECONDS:
        raise ValueError(f"budget must be at most {MAX_BUDGET_SECONDS} seconds (24h), got {value!r}")
    return seconds


def check_cron(value: str) -> str:
    """A five-field cron expression like GitHub Actions' ``schedule.cron`` (light syntax check)."""
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(f"'{value}' is not a cron expression: five fields, minute hour day month weekday "
                         "(e.g. '0 3 * * *')")
    return value


def _glob_path(value: str) -> str:
    if value.startswith("/") or "\\" in value or ".." in value.split("/"):
        raise PydanticCustomError("repo_path", "'{value}' must be a path relative to the repository root "
                                               "(no leading '/', no '..')", {"value": value})
    return value


class TierArtifacts(Section):
    """Files a tier's commands produce, read after the run (paths relative to the checkout)."""

    key_hints: ClassVar[dict[str, str]] = {"junit_xml": "junit", "tests": "junit", "coverage_json": "coverage",
                                           "benchmarks": "benchmark", "bench": "benchmark"}

    junit: RelPath | None = Field(
        None, description="Glob of JUnit XML reports, e.g. 'reports/junit-*.xml'; failing tests become "
                          "annotations on the check run.")
    coverage: RelPath | None = Field(None, description="coverage.py JSON report (coverage json -o FILE).")
    benchmark: RelPath | None = Field(None, description="pytest-benchmark JSON (--benchmark-json FILE).")

    @field_validator("junit", "coverage", "benchmark")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        return None if value is None else _glob_path(value)


class TierConfig(Section):
    """One verify tier: shell commands run in order in a checkout of the commit, within a time budget."""

    key_hints: ClassVar[dict[str, str]] = {
        "run": "commands", "script": "commands", "steps": "commands", "command": "commands",
        "timeout": "budget", "time_budget": "budget", "timeout_minutes": "budget",
        "when": "on", "triggers": "on", "events": "on", "schedule": "cron",
        "advisory": "required", "blocking": "required", "runner": "executor", "workflow_file": "workflow",
        "environment": "env", "outputs": "artifacts", "reports": "artifacts",
    }

    commands: list[Command] = Field(
        min_length=1, max_length=50,
        description="Shell commands run one after the other in the checkout (bash -c); the first that "
                    "fails ends the tier.")
    budget: int | str | None = Field(
        None, examples=[60, "5m", "1h30m"],
        description="Time budget for all commands together: seconds, or a number with h/m/s ('5m'). "
                    "At the budget every process of the tier is stopped (SIGTERM, then SIGKILL) and the "
                    "verdict is 'budget exceeded'. Default by name: tier-0 60s, tier-1 5m, nightly/tier-2 "
                    "30m, weekly/tier-3 2h, others 10m.")
    on: list[Trigger] | None = Field(
        None, min_length=1,
        description="When the tier runs: pull_request (each new head of a pull request, shown as a check "
                    "run trunkline/<tier>), push (pushes to the default branch), schedule (the 'cron' "
                    "expression). Default: schedule for nightly/weekly/tier-2/tier-3, else pull_request.")
    cron: str | None = Field(
        None, examples=["0 3 * * *"],
        description="When 'on' includes schedule: five-field cron (UTC), like GitHub Actions' schedule. "
                    "Default: nightly/tier-2 '0 3 * * *', weekly/tier-3 '0 4 * * 0'.")
    required: bool | None = Field(
        None,
        description="A failing required tier fails its check run; an advisory one (false) reports "
                    "'neutral' so it never blocks a merge. Default: true for pull-request tiers, false "
                    "for scheduled ones.")
    artifacts: TierArtifacts = Field(default_factory=TierArtifacts, description=TierArtifacts.__doc__,
                                     json_schema_extra={"default": {}})
    executor: Executor = Field(
        "local",
        description="local: the bot's worker checks the commit out in a temporary directory and runs the "
                    "commands. actions: the bot dispatches 'workflow' (workflow_dispatch with inputs "
                    "tier and sha) and reports the run's conclusion.")
    workflow: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+\.ya?ml$", max_length=200)] = Field(
        "trunkline-verify.yml",
        description="executor actions: the workflow file in .github/workflows that runs "
                    "'trunkline verify --tier ${{ inputs.tier }}' on ${{ inputs.sha }}.")
    inputs: dict[InputName, Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default={}, json_schema_extra={"additionalProperties": False},
        description="executor actions: extra workflow_dispatch inputs (tier and sha are always passed).")
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=4000)]] = Field(
        default={}, json_schema_extra={"additionalProperties": False},
        description="Environment variables for the commands (the bot's own TRUNKLINE_* settings and "
                    "credentials are never passed on).")

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_type(cls, value: object) -> object:
        # One clear message instead of one per member of the int | str union.
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            raise PydanticCustomError("budget", "expected seconds (an integer) or a duration like '5m', got "
                                                "{value}", {"value": repr(value)})
        return value

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: int | str | None) -> int | str | None:
        if value is None:
            return None
        try:
            parse_budget(value)
        except ValueError as exc:
            raise PydanticCustomError("budget", "{message}", {"message": str(exc)}) from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_cron(value)
        except ValueError as exc:
            raise PydanticCustomError("cron", "{message}", {"message": str(exc)}) from None

    @field_validator("on")
    @classmethod
    def _unique_triggers(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise PydanticCustomError("duplicate", "each trigger may be listed once")
        return value

    @field_validator("inputs")
    @classmethod
    def _no_reserved_inputs(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name in RESERVED_INPUTS:
                raise PydanticCustomError("reserved_input", "input '{name}' is set by Trunkline (the tier name "
                                                            "and the commit SHA)", {"name": name})
        return value

    @field_validator("env")
    @classmethod
    def _env_is_not_trunkline(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.upper().startswith("TRUNKLINE_"):
                raise PydanticCustomError("env_name", "'{name}': TRUNKLINE_* variables are the bot's own "
                                                      "settings and cannot be set for a tier", {"name": name})
        return value


#: Standard tier names -> (budget seconds, on, required, cron) used for fields left unset.
STANDARD_DEFAULTS: dict[str, tuple[int, tuple[str, ...], bool, str | None]] = {
    "tier-0": (60, ("pull_request",), True, None),
    "tier-1": (300, ("pull_request",), True, None),
    "tier-2": (1800, ("schedule",), False, "0 3 * * *"),
    "nightly": (1800, ("schedule",), False, "0 3 * * *"),
    "tier-3": (7200, ("schedule",), False, "0 4 * * 0"),
    "weekly": (7200, ("schedule",), False, "0 4 * * 0"),
}
OTHER_DEFAULTS: tuple[int, tuple[str, ...], bool, str | None] = (600, ("pull_request",), True, None)


def defaults_for(name: str) -> tuple[int, tuple[str, ...], bool, str | None]:
    """(budget, on, required, cron) a tier called ``name`` gets for the fields it leaves unset."""
    return STANDARD_DEFAULTS.get(name, OTHER_DEFAULTS)


def _check_tiers(value: dict[str, TierConfig]) -> dict[str, TierConfig]:
    # A scheduled tier needs a time; standard names have one, other names must say when.
    for name, tier in value.items():
        on = tier.on if tier.on is not None else defaults_for(name)[1]
        if "schedule" in on and tier.cron is None and defaults_for(name)[3] is None:
            raise PydanticCustomError("cron_missing", "tier '{name}' runs on schedule but has no 'cron' "
                                                      "(e.g. cron: '0 3 * * *')", {"name": name})
    return value


TIERS_DESCRIPTION = (
    "Verify tiers by name (e.g. tier-0, tier-1, nightly, weekly): commands, time budget, when they run, "
    "required or advisory, artifacts, executor. Nothing runs unless a tier is declared here.")

#: The type of ``TrunklineConfig.tiers``.
Tiers = Annotated[dict[TierName, TierConfig], AfterValidator(_check_tiers)]
