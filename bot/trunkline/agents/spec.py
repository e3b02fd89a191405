"""What a run needs to know from the configuration, frozen at trigger time into ``run.json`` in the run's
folder (so a resumed run, in another process, runs exactly the pipeline it started with), and the
frozen, sanitized input files the agent reads."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .core import Step, plan_steps
from .sanitize import sanitize


@dataclass(frozen=True)
class TierSpec:
    name: str
    commands: tuple[str, ...]
    budget: int
    junit: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    label: str
    stages: tuple[tuple[str, str, int], ...]  # (name, command, budget seconds)
    backend: str = "local"
    workflow: str = "trunkline-agent.yml"
    verify_after: str | None = "implement"
    tier: TierSpec | None = None
    draft: bool = False
    max_iterations: int = 10
    concurrency: int = 1

    @property
    def steps(self) -> tuple[Step, ...]:
        return plan_steps(self.stages, self.verify_after, self.tier.name if self.tier else None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        tier = data.get("tier")
        return cls(label=data["label"], stages=tuple(tuple(s) for s in data["stages"]),  # type: ignore[misc]
                   backend=data.get("backend", "local"), workflow=data.get("workflow", "trunkline-agent.yml"),
                   verify_after=data.get("verify_after"),
                   tier=TierSpec(tier["name"], tuple(tier["commands"]), int(tier["budget"]), tier.get("junit"),
                                 dict(tier.get("env") or {})) if tier else None,
                   draft=bool(data.get("draft")), max_iterations=int(data.get("max_iterations", 10)),
                   concurrency=int(data.get("concurrency", 1)))


def spec_from_config(config: Any, label: str) -> RunSpec | None:
    """The pipeline ``label`` starts in ``config`` (a ``TrunklineConfig``), or None."""
    from trunkline.config.sections_tiers import parse_budget
    from trunkline.gates.config import effective_tiers

    agents = config.agents
    pipeline = agents.pipelines.get(label)
    if pipeline is None:
        return None
    tier = effective_tiers(config).get(agents.verify_tier) if pipeline.verify_after else None
    tier_spec = TierSpec(tier.name, tuple(tier.commands), int(tier.budget), tier.junit, dict(tier.env)) if tier else None
    return RunSpec(label=label, stages=tuple((s.name, s.command, parse_budget(s.budget)) for s in pipeline.stages),
                   backend=pipeline.backend, workflow=pipeline.workflow, verify_after=pipeline.verify_after,
                   tier=tier_spec, draft=pipeline.draft, max_iterations=agents.max_iterations,
                   concurrency=agents.concurrency)


# ---------------------------------------------------------------------------------------------- inputs

def frozen_input(issue: Mapping[str, Any], comments: Sequence[Mapping[str, Any]], *, skip_logins: Sequence[str] = (),
                 instruction: str | None = None, pull: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The agent's input as plain data: the issue as it is now, every text field sanitized. Comments by
    ``skip_logins`` (our own progress comments) are left out."""
    skip = {s.lower() for s in skip_logins}
    kept = [{"author": (c.get("user") or {}).get("login"), "created_at": c.get("created_at"),
             "body": sanitize(c.get("body"))}
            for c in comments if ((c.get("user") or {}).get("login") or "").lower() not in skip]
    data: dict[str, Any] = {
        "number": issue.get("number"),
        "title": sanitize(issue.get("title")),
        "body": sanitize(issue.get("body")),
        "author": (issue.get("user") or {}).get("login"),
        "labels": [label.get("name") for label in issue.get("labels") or [] if isinstance(label, dict)],
        "comments": kept,
    }
    if instruction is not None:
        data["instruction"] = sanitize(instruction)
    if pull is not None:
        data["pull_request"] = {"number": pull.get("number"), "title": sanitize(pull.get("title")),
                                "body": sanitize(pull.get("body")), "branch": (pull.get("head") or {}).get("ref")}
    return data


def input_files(data: Mapping[str, Any]) -> dict[str, str]:
    """File name -> text of the frozen input folder (``issue.json`` holds everything)."""
    comments = "\n\n".join(f"### @{c['author']} ({c.get('created_at') or ''})\n\n{c['body']}" for c in data["comments"])
    files = {"issue.json": json.dumps(data, indent=2, ensure_ascii=False) + "\n",
             "title.txt": f"{data['title']}\n", "body.md": f"{data['body']}\n", "comments.md": comments + "\n"}
    if data.get("instruction") is not None:
        files["instruction.md"] = f"{data['instruction']}\n"
    return files


def write_input(folder: Path, data: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in input_files(data).items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name).chmod(0o444)
