"""Effective tiers: the ``tiers:`` section with the name-dependent defaults applied (pure).

The models live in :mod:`trunkline.config.sections_tiers` (next to the root model that includes them);
this module turns one :class:`~trunkline.config.sections_tiers.TierConfig` into a :class:`Tier` whose
every field is set, and answers "which tiers run for this trigger".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trunkline.config.loader import ConfigIssue, parse_config
from trunkline.config.model import CONFIG_PATH, TrunklineConfig
from trunkline.config.sections_tiers import (
    MAX_BUDGET_SECONDS,
    STANDARD_DEFAULTS,
    TierConfig,
    check_cron,
    defaults_for,
    parse_budget,
)

__all__ = ["Tier", "effective_tier", "effective_tiers", "tiers_for", "load_config_file", "ConfigFileError",
           "parse_budget", "check_cron", "STANDARD_DEFAULTS", "MAX_BUDGET_SECONDS", "CHECK_PREFIX",
           "check_name", "tier_of_check"]

#: Check runs of tiers are called ``trunkline/<tier>``.
CHECK_PREFIX = "trunkline/"


@dataclass(frozen=True)
class Tier:
    """One tier with every default applied (plain data)."""

    name: str
    commands: tuple[str, ...]
    budget: int  # seconds
    on: tuple[str, ...]
    required: bool
    cron: str | None = None
    junit: str | None = None
    coverage: str | None = None
    benchmark: str | None = None
    executor: str = "local"
    workflow: str = "trunkline-verify.yml"
    inputs: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def check_name(self) -> str:
        return check_name(self.name)


def check_name(tier: str) -> str:
    return f"{CHECK_PREFIX}{tier}"


def tier_of_check(name: str) -> str | None:
    """``trunkline/tier-0`` -> ``tier-0`` (None for names that are not tier checks)."""
    return name[len(CHECK_PREFIX):] if name.startswith(CHECK_PREFIX) else None


def effective_tier(name: str, tier: TierConfig) -> Tier:
    budget, on, required, cron = defaults_for(name)
    return Tier(
        name=name,
        commands=tuple(tier.commands),
        budget=parse_budget(tier.budget) if tier.budget is not None else budget,
        on=tuple(tier.on) if tier.on is not None else on,
        required=tier.required if tier.required is not None else required,
        cron=tier.cron if tier.cron is not None else cron,
        junit=tier.artifacts.junit,
        coverage=tier.artifacts.coverage,
        benchmark=tier.artifacts.benchmark,
        executor=tier.executor,
        workflow=tier.workflow,
        inputs=dict(tier.inputs),
        env=dict(tier.env),
    )


def effective_tiers(config: TrunklineConfig | None) -> dict[str, Tier]:
    """Every declared tier, in the order written ({} without a configuration or without ``tiers:``)."""
    if config is None:
        return {}
    return {name: effective_tier(name, tier) for name, tier in config.tiers.items()}


def tiers_for(config: TrunklineConfig | None, trigger: str) -> list[Tier]:
    """The tiers whose ``on`` includes ``trigger`` (pull_request | push | schedule)."""
    return [t for t in effective_tiers(config).values() if trigger in t.on]


class ConfigFileError(Exception):
    """The configuration file is missing or has errors; ``issues`` carry file:line:col."""

    def __init__(self, message: str, issues: list[ConfigIssue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


def load_config_file(path: str | Path = CONFIG_PATH) -> TrunklineConfig:
    """Read and validate one configuration file (for ``trunkline verify``); raises ConfigFileError."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such file (pass --config FILE)") from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigFileError(f"{path}: {exc.strerror or exc}") from None
    result = parse_config(text, str(path))
    errors = [i for i in result.issues if i.level == "error"]
    if errors or result.config is None:
        raise ConfigFileError("\n".join(str(i) for i in errors) or f"{path}: invalid configuration", errors)
    return result.config
