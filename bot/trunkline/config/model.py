"""The ``.github/trunkline.yml`` model.

One root model, :class:`TrunklineConfig`, with one sub-model per section. Every model derives from
:class:`Section`, which forbids unknown keys (so typos surface as errors instead of being silently
ignored) and validates strictly (so ``required_approvals: "2"`` is rejected exactly like an editor
using the exported JSON Schema would reject it — the bot and the editor must agree).

Adding a section later (contracts, tiers, ratchets, deploy, agents) is one new ``Section`` subclass
plus one field on :class:`TrunklineConfig` with ``default_factory`` — nothing else: the loader, the
JSON Schema export and the error messages are all derived from the models.

Every default is the *safe* choice: squash merges only when explicitly labelled, branches must be up
to date, commands not listed in ``commands.permissions`` need write access.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

MergeMethod = Literal["merge", "squash", "rebase"]
PermissionLevel = Literal["read", "triage", "write", "maintain", "admin"]

#: GitHub repository roles from weakest to strongest; a role includes everything before it.
PERMISSION_ORDER: tuple[str, ...] = ("read", "triage", "write", "maintain", "admin")
#: Level a command needs when ``commands.permissions`` does not mention it.
DEFAULT_COMMAND_LEVEL: PermissionLevel = "write"
#: Where a repository's own configuration lives (always read from the default branch).
CONFIG_PATH = ".github/trunkline.yml"

# GitHub labels are at most 50 characters; an empty label could never be applied.
Label = Annotated[str, StringConstraints(min_length=1, max_length=50)]
CheckName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
CommandName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)]

# owner: GitHub login; repo: GitHub repository name; optional ":path" inside that repository.
EXTENDS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}(:[A-Za-z0-9_.-][A-Za-z0-9_./-]*)?$"


def permission_allows(actual: str, required: str) -> bool:
    """True when a collaborator with role ``actual`` may run something that needs ``required``."""
    if actual not in PERMISSION_ORDER or required not in PERMISSION_ORDER:
        return False
    return PERMISSION_ORDER.index(actual) >= PERMISSION_ORDER.index(required)


def parse_extends(value: str) -> tuple[str, str, str]:
    """Split ``owner/repo[:path]`` into ``(owner, repo, path)``; path defaults to ``CONFIG_PATH``."""
    target, _, path = value.partition(":")
    owner, _, repo = target.partition("/")
    return owner, repo, path or CONFIG_PATH


class Section(BaseModel):
    """Base of every configuration model: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Former or commonly guessed key names -> the real key, used for "did you mean" hints.
    key_hints: ClassVar[dict[str, str]] = {}


class MergeRule(Section):
    """Pull requests Trunkline merges without a label or /merge: all given criteria must match."""

    # Editors must refuse an empty rule exactly like the bot does (see the validator below).
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["authors"], "properties": {"authors": {"minItems": 1}}},
        {"required": ["head_prefix"], "properties": {"head_prefix": {"type": "string"}}},
    ]})

    authors: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default=[], description="Pull request authors (logins, e.g. 'trunkline-agent[bot]'); any of them matches."
    )
    head_prefix: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        validate_default=True,  # so the emptiness check below also runs when it is left out
        description="Head branch name prefix, e.g. 'agent/'.",
    )

    @field_validator("head_prefix")
    @classmethod
    def _rule_is_not_empty(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A rule without criteria would auto-merge every pull request: refuse it.
        if value is None and not info.data.get("authors"):
            raise PydanticCustomError("empty_rule", "a merge rule needs 'authors' or 'head_prefix'")
        return value


class MergeSection(Section):
    """How and when Trunkline merges pull requests."""

    key_hints: ClassVar[dict[str, str]] = {
        "strict": "require_up_to_date",
        "merge_method": "method",
        "approvals": "required_approvals",
        "delete_branch_on_merge": "delete_branch",
        "checks": "required_checks",
        "slot_timeout": "slot_timeout_minutes",
        "timeout": "slot_timeout_minutes",
    }

    method: MergeMethod = Field(
        "squash", description="Merge method Trunkline uses: merge (merge commit), squash, or rebase."
    )
    label: Label = Field(
        "auto-merge",
        description="Label that asks Trunkline to merge the pull request once every gate is green.",
    )
    required_approvals: int = Field(
        0,
        ge=0,
        le=100,
        description="Approving reviews required before merging, on top of branch protection (0 = none extra).",
    )
    require_up_to_date: bool = Field(
        True,
        description=(
            "Require the branch to contain the latest base branch before merging "
            "(GitHub branch protection calls this 'strict')."
        ),
    )
    delete_branch: bool = Field(True, description="Delete the head branch after a successful merge.")
    priority_label: Label = Field(
        "merge-priority", description="Label that moves a pull request to the front of the merge queue."
    )
    hold_labels: list[Label] = Field(
        default=["do-not-merge", "hold"],  # pydantic copies mutable defaults per instance
        validate_default=True,  # so the conflict check below also sees the default list
        description="Labels that block merging while present. Setting this list replaces the defaults.",
    )
    required_checks: list[CheckName] = Field(
        default=[],
        description="Check names that must succeed before merging, in addition to branch protection.",
    )
    approvals_on_head: bool = Field(
        True, description="Count only approvals given on the pull request's current head commit."
    )
    rules: list[MergeRule] = Field(
        default=[], description="Pull requests merged automatically once green, without the label or /merge."
    )
    slot_timeout_minutes: int = Field(
        60, ge=0, le=10080,
        description=(
            "Minutes a pull request may hold the merge queue (its updated branch waiting for required checks) "
            "before it is taken out of the queue with the reason on its trunkline/merge check and one comment, "
            "so the next pull request can go (0 = wait forever). Pushing a commit or commenting /merge "
            "queues it again."
        ),
    )

    @field_validator("hold_labels")
    @classmethod
    def _labels_do_not_conflict(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # A label that both requests and blocks a merge makes the outcome depend on ordering.
        for name in ("label", "priority_label"):
            other = info.data.get(name)
            if other is not None and other in value:
                raise PydanticCustomError(
                    "label_conflict",
                    "'{label}' is also merge.{field}; a label cannot both request and block merging",
                    {"field": name, "label": other},
                )
        return value


class CommandsSection(Section):
    """Commands written in pull-request and issue comments, such as /merge."""

    key_hints: ClassVar[dict[str, str]] = {"permission": "permissions", "ignore_edits": "ignore_edited"}

    prefix: str = Field(
        "/",
        min_length=1,
        max_length=20,
        pattern=r"^\S+$",
        description="Text that starts a command at the beginning of a comment line.",
    )
    permissions: dict[CommandName, PermissionLevel] = Field(
        default={},
        # keys outside the command-name pattern are errors, in editors too
        json_schema_extra={"additionalProperties": False},
        description=(
            "Minimum repository role per command name (read, triage, write, maintain, admin). "
            f"Commands not listed need '{DEFAULT_COMMAND_LEVEL}'."
        ),
    )
    ignore_edited: bool = Field(
        True, description="Ignore commands in edited comments, so an edit cannot re-run a command."
    )

    def level_for(self, command: str) -> str:
        """Minimum role needed to run ``command``."""
        return self.permissions.get(command, DEFAULT_COMMAND_LEVEL)


# A section's default is "all of its fields' defaults"; say so in the JSON Schema too.
_SECTION: dict = {"json_schema_extra": {"default": {}}}

# Sections kept in their own modules import ``Section`` from here, so they come after it.
from trunkline.config.sections_agents import AgentsSection  # noqa: E402
from trunkline.config.sections_contracts import ContractsSection  # noqa: E402
from trunkline.config.sections_deploy import DeploySection  # noqa: E402
from trunkline.config.sections_flaky import FlakySection  # noqa: E402
from trunkline.config.sections_ratchets import RatchetsSection  # noqa: E402
from trunkline.config.sections_tiers import TIERS_DESCRIPTION, Tiers  # noqa: E402


class TrunklineConfig(Section):
    """Trunkline configuration (.github/trunkline.yml)."""

    model_config = ConfigDict(title="Trunkline configuration")

    version: Literal[1] = Field(1, description="Configuration format version. Only 1 exists.")
    extends: str | None = Field(
        None,
        pattern=EXTENDS_PATTERN,
        examples=["acme/.github", "acme/shared-config:trunkline/base.yml"],
        description=(
            "Inherit settings from another repository's configuration, as 'owner/repo' "
            f"(its {CONFIG_PATH}) or 'owner/repo:path'. Read from that repository's default branch; "
            "settings here override it."
        ),
    )
    merge: MergeSection = Field(default_factory=MergeSection, description=MergeSection.__doc__, **_SECTION)
    commands: CommandsSection = Field(
        default_factory=CommandsSection, description=CommandsSection.__doc__, **_SECTION
    )
    contracts: ContractsSection = Field(
        default_factory=ContractsSection, description=ContractsSection.__doc__, **_SECTION
    )
    ratchets: RatchetsSection = Field(
        default_factory=RatchetsSection, description=RatchetsSection.__doc__, **_SECTION
    )
    tiers: Tiers = Field(default={}, json_schema_extra={"additionalProperties": False},
                         description=TIERS_DESCRIPTION)
    flaky: FlakySection = Field(default_factory=FlakySection, description=FlakySection.__doc__, **_SECTION)
    deploy: DeploySection | None = Field(
        None, description=DeploySection.__doc__ + " Absent = no deploys; present = every push to the default "
                                                   "branch is deployed as a canary (unless on_merge: false).")
    agents: AgentsSection = Field(default_factory=AgentsSection, description=AgentsSection.__doc__, **_SECTION)

    @field_validator("extends")
    @classmethod
    def _no_parent_segments(cls, value: str | None) -> str | None:
        if value is not None and ".." in re.split(r"[:/]", value)[1:]:
            raise PydanticCustomError(
                "extends_path", "path in '{value}' must not contain '..'", {"value": value}
            )
        return value
