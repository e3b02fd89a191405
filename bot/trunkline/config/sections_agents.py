"""The ``agents:`` section of ``.github/trunkline.yml`` (models only; logic is in ``trunkline.agents``).

An issue label starts an agent *pipeline*: named stages, each a shell command run in a fresh checkout
of the run's own branch ``trunkline/<issue>-<run id>``. After the stage named in ``verify_after``
(``implement``) Trunkline runs the ``verify_tier`` (``tier-0``) itself; a failing stage or tier resets
the work to the run's last checkpoint and the agent is given the failure, up to ``max_iterations``.
The result is a pull request "Closes #N" that goes through the same gates as anyone's.

Example::

    agents:
      pipelines:
        agent:implement:                      # the issue label that starts it
          stages:
            - {name: plan, command: "python tools/agent.py plan"}
            - {name: test, command: "python tools/agent.py test"}
            - {name: implement, command: "python tools/agent.py implement"}
            - {name: verify, command: "python tools/agent.py verify"}
          backend: local                      # or actions: dispatch .github/workflows/<workflow>
      max_iterations: 10
      concurrency: 1                          # runs at once per repository
      permission: write                       # who may start/cancel runs (the sender of the label)
      bots: []                                # bot logins allowed to start runs (none by default)
      required_approvals: 1                   # approvals an agent's pull request needs before merging

No ``pipelines`` = no label starts anything (the safe default: the bot never runs code a repository
did not ask for). Stage commands never see the issue's text on their command line: it is frozen into
files whose paths are given in environment variables (see ``docs/agents.md``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from trunkline.config.model import Label, PermissionLevel, Section
from trunkline.config.sections_tiers import parse_budget

StageName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
Backend = Literal["local", "actions"]
Login = Annotated[str, StringConstraints(min_length=1, max_length=100)]

#: Longest a single stage may run (a stage is one agent step, not a nightly suite).
MAX_STAGE_SECONDS = 6 * 3600


class AgentStage(Section):
    """One stage of an agent pipeline: a shell command run in the run's checkout."""

    key_hints: ClassVar[dict[str, str]] = {"run": "command", "commands": "command", "script": "command",
                                           "timeout": "budget"}

    name: StageName = Field(description="Stage name, e.g. plan, test, implement, verify.")
    command: Annotated[str, StringConstraints(min_length=1, max_length=4000)] = Field(
        description="Shell command (bash -c) run in the checkout; exit code 0 = the stage passed. The issue's "
                    "text is never put on this line: read the files named by TRUNKLINE_AGENT_INPUT.")
    budget: int | str = Field(
        "10m", examples=[600, "10m"],
        description="Time budget of one attempt of the stage (seconds, or 90s / 10m / 1h). At the budget its "
                    "processes are stopped and the attempt counts as failed.")

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: int | str) -> int | str:
        try:
            seconds = parse_budget(value)
        except ValueError as exc:
            raise PydanticCustomError("budget", "{message}", {"message": str(exc)}) from None
        if seconds > MAX_STAGE_SECONDS:
            raise PydanticCustomError("budget", "a stage may run at most 6h, got {value!r}", {"value": value})
        return value


class AgentPipeline(Section):
    """What a label starts: stages in order, where they run, what the pull request looks like."""

    key_hints: ClassVar[dict[str, str]] = {"steps": "stages", "executor": "backend", "runner": "backend"}

    stages: list[AgentStage] = Field(min_length=1, max_length=20,
                                     description="Stages run in order; each stage's exit code decides.")
    backend: Backend = Field(
        "local",
        description="local: the bot's worker runs each stage in an isolated checkout (own process group, "
                    "killed on cancel). actions: each stage dispatches 'workflow' on the run's branch and "
                    "follows the workflow run (the workflow pushes its commits to that branch).")
    workflow: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+\.ya?ml$", max_length=200)] = Field(
        "trunkline-agent.yml", description="backend actions: the workflow file in .github/workflows.")
    verify_after: StageName | None = Field(
        "implement",
        description="After this stage passes, Trunkline runs agents.verify_tier itself; a failure is given "
                    "back to the agent. null: no tier run.")
    draft: bool = Field(False, description="Open the pull request as a draft.")

    @field_validator("stages")
    @classmethod
    def _unique(cls, value: list[AgentStage]) -> list[AgentStage]:
        names = [s.name for s in value]
        for name in names:
            if names.count(name) > 1:
                raise PydanticCustomError("duplicate", "stage '{name}' is listed twice", {"name": name})
        return value


class AgentsSection(Section):
    """Agent runs started by issue labels: pipelines, limits and who may start them."""

    key_hints: ClassVar[dict[str, str]] = {"labels": "pipelines", "max_retries": "max_iterations",
                                           "iterations": "max_iterations", "allow_bots": "bots",
                                           "approvals": "required_approvals", "tier": "verify_tier"}

    pipelines: dict[Label, AgentPipeline] = Field(
        default={}, json_schema_extra={"additionalProperties": False},
        description="Issue label -> pipeline it starts. Empty: no label starts an agent.")
    max_iterations: int = Field(10, ge=1, le=100,
                                description="Attempts of a failing stage (or tier) before the run stops.")
    concurrency: int = Field(1, ge=1, le=20, description="Agent runs at once per repository; more wait queued.")
    permission: PermissionLevel = Field(
        "write", description="Minimum repository role of whoever adds the label or comments /agent (the sender, "
                             "by GitHub's collaborator permission API). Stopping a run (/cancel, removing the "
                             "label) needs triage, like removing a label.")
    bots: list[Login] = Field(default=[], description="Bot logins (e.g. 'renovate[bot]') allowed to start runs; "
                                                      "other bots are refused.")
    required_approvals: int = Field(1, ge=0, le=10,
                                    description="Approving reviews an agent's pull request needs before "
                                                "Trunkline merges it (on top of merge.required_approvals).")
    verify_tier: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=40)] = Field(
        "tier-0", description="The tier (tiers: section) Trunkline runs after the verify_after stage.")
