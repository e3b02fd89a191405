"""The ``ratchets:`` section of ``.github/trunkline.yml`` (model only; logic is in ``trunkline.ratchets``).

The metrics themselves and their floors live in the baseline file (``.github/trunkline-ratchets.yml``,
see :mod:`trunkline.ratchets.baseline`); this section tells the bot how to measure them and how to
record raised floors. Without ``commands`` the bot measures nothing and shows no ``trunkline/ratchets``
check (the ``trunkline ratchet`` CLI / ``actions/ratchet`` still work in CI).

Example::

    ratchets:
      baseline: .github/trunkline-ratchets.yml
      commands:                  # run in a checkout of the PR head whose parent commit is the base
        - python -m coverage run --branch -m pytest -q
        - python -m coverage json -o coverage.json
        - python -m coverage xml -o coverage.xml
        - diff-cover coverage.xml --compare-branch="$TRUNKLINE_BASE_REF" --format json:diff-cover.json
      timeout_minutes: 15
      update: auto               # auto | commit | pull_request | off
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator

from trunkline.config.model import Section
from trunkline.config.sections_contracts import check_repo_path

RatchetCommand = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
UpdateMode = Literal["auto", "commit", "pull_request", "off"]


class RatchetsSection(Section):
    """Quality ratchets the bot measures: the trunkline/ratchets check run, and floors raised after merges."""

    key_hints: ClassVar[dict[str, str]] = {
        "baseline_file": "baseline", "file": "baseline", "path": "baseline", "run": "commands",
        "command": "commands", "timeout": "timeout_minutes", "budget": "timeout_minutes", "mode": "update",
    }

    baseline: Annotated[str, StringConstraints(min_length=1, max_length=400)] = Field(
        ".github/trunkline-ratchets.yml",
        description="Baseline file with the metrics and their floors (always read from the default branch).")
    commands: list[RatchetCommand] = Field(
        default=[],
        description="Shell commands that write the metric files, run in order in a checkout of the pull request "
                    "head (git history: the base commit, branch trunkline-base, then the head). Environment: "
                    "TRUNKLINE_BASE_REF, TRUNKLINE_BASE_SHA, TRUNKLINE_HEAD_SHA. Empty: the bot measures nothing.")
    timeout_minutes: int = Field(15, ge=1, le=360, description="Time budget for the commands of one measurement.")
    measure_base: bool = Field(
        True, description="Also measure the base commit (once per commit, remembered) for the table's Base column.")
    update: UpdateMode = Field(
        "auto",
        description="How raised floors reach the default branch after a merge: commit (a bot commit), "
                    "pull_request (a PR labelled for auto-merge), auto (commit, or a PR when the branch is "
                    "protected), off (never).")

    @field_validator("baseline")
    @classmethod
    def _baseline_path(cls, value: str) -> str:
        return check_repo_path(value)

    @property
    def configured(self) -> bool:
        return bool(self.commands)
