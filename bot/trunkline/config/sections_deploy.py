"""The ``deploy:`` section of ``.github/trunkline.yml`` (models only; the controller is ``trunkline.deploy``).

After a merge to the default branch Trunkline sends the new commit out as a canary, watches it with
synthetic probes, and promotes it or rolls back on its own. No ``deploy:`` section = no deploys (the
safe default); with one, every push to the default branch deploys unless ``on_merge: false``.

Example::

    deploy:
      deployer: command                  # command | workflow | webhook
      command:                           # argv templates: {sha} {environment} {weight}
        canary: trunkline local-deploy canary --state /srv/tl --repo . --sha {sha} --weight {weight}
        weight: trunkline local-deploy weight --state /srv/tl --repo . --weight {weight}
        promote: trunkline local-deploy promote --state /srv/tl --repo . --sha {sha}
        rollback: trunkline local-deploy rollback --state /srv/tl --repo . --sha {sha}
        status: trunkline local-deploy status --state /srv/tl --repo .
      targets: {canary: "http://127.0.0.1:8101", stable: "http://127.0.0.1:8100"}
      steps:                             # Argo-style: weight + duration, or a manual gate
        - {weight: 10, duration: 5m}
        - {pause: manual}                # waits for /promote
        - {weight: 50, duration: 5m}
      probes:
        - {name: health, path: /health, interval_seconds: 5}
      rules: {window_seconds: 300, alert_failures: 2, rollback_failures: 3}

Templates are split into arguments first (like a shell would, but no shell ever runs) and the
placeholders are filled into single arguments, so a value can never become a second command.
"""

from __future__ import annotations

import re
import shlex
import string
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from trunkline.config.model import Section
from trunkline.deploy.probes.spec import ProbeSpec
from trunkline.deploy.rules import RulesSpec

#: Placeholders a deployer template may use.
PLACEHOLDERS = frozenset({"sha", "environment", "weight", "repository", "action", "run", "key"})
DeployerKind = Literal["command", "workflow", "webhook"]
EnvironmentName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]
EnvVar = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)]
Template = Annotated[str, StringConstraints(min_length=1, max_length=4000)]

_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def placeholders(template: str) -> list[str]:
    """The ``{names}`` a template uses (``{{`` is a literal brace); ValueError when it is malformed."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"'{template}': {exc}") from None
    names = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if spec or conversion or field not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise ValueError(f"'{{{field}}}' is not a placeholder (use {known}; '{{{{' for a literal brace)")
        names.append(field)
    return names


def check_template(value: str | list[str]) -> str | list[str]:
    parts = value if isinstance(value, list) else None
    if parts is None:
        try:
            parts = shlex.split(value)
        except ValueError as exc:
            raise PydanticCustomError("template", "'{value}' cannot be split into arguments: {error}",
                                      {"value": value, "error": str(exc)}) from None
    if not parts:
        raise PydanticCustomError("template", "a command template needs at least a program name")
    for part in parts:
        try:
            placeholders(part)
        except ValueError as exc:
            raise PydanticCustomError("template", "{error}", {"error": str(exc)}) from None
    return value


def parse_duration(value: int | float | str) -> float:
    """Seconds in ``300`` / ``2.5`` / ``90s`` / ``5m`` / ``1h30m`` / ``500ms``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        seconds, rest = 0.0, text
        pattern = re.compile(r"^(\d+(?:\.\d+)?)(ms|h|m|s)")
        if not rest:
            raise ValueError(f"'{value}' is not a duration")
        while rest:
            match = pattern.match(rest)
            if match is None:
                raise ValueError(f"'{value}' is not a duration: use seconds (300) or numbers with h, m, s or "
                                 "ms (5m, 90s, 1h30m)")
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            rest = rest[match.end():]
    if seconds <= 0:
        raise ValueError(f"a duration must be more than 0 seconds, got {value!r}")
    if seconds > 7 * 86400:
        raise ValueError(f"a duration must be at most 7 days, got {value!r}")
    return seconds


Duration = int | float | Annotated[str, StringConstraints(min_length=1, max_length=40)]


def _duration(value: Duration | None) -> Duration | None:
    if value is None:
        return None
    try:
        parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{error}", {"error": str(exc)}) from None
    return value


class CommandDeployer(Section):
    """Run a command per action on the worker (argv templates; no shell)."""

    key_hints: ClassVar[dict[str, str]] = {"deploy": "canary", "set_weight": "weight", "full": "promote",
                                           "revert": "rollback", "timeout": "timeout_seconds"}

    canary: Template | list[Template] = Field(
        description="Deploy {sha} as the canary with {weight}% of the traffic.")
    weight: Template | list[Template] | None = Field(
        None, description="Change the canary's traffic share to {weight}% (default: the canary command again).")
    promote: Template | list[Template] = Field(description="Deploy {sha} to production (100% of the traffic).")
    rollback: Template | list[Template] = Field(
        description="Send all traffic back to {sha} (the last good production deployment) and drop the canary.")
    status: Template | list[Template] | None = Field(
        None, description="Print the deployment's state as JSON (used to confirm an action after a restart; "
                          "without it an unconfirmed action rolls back).")
    timeout_seconds: float = Field(300, gt=0, le=3600, description="Seconds one command may take.")
    working_directory: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        None, description="Directory the commands run in (default: the worker's data directory).")

    @field_validator("canary", "weight", "promote", "rollback", "status")
    @classmethod
    def _template(cls, value: str | list[str] | None) -> str | list[str] | None:
        return None if value is None else check_template(value)


class WorkflowDeployer(Section):
    """Dispatch a GitHub Actions workflow per action and follow its run."""

    key_hints: ClassVar[dict[str, str]] = {"file": "workflow", "timeout": "timeout_seconds"}

    workflow: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+\.ya?ml$", max_length=200)] = Field(
        description="Workflow file in .github/workflows, e.g. deploy.yml (needs on: workflow_dispatch).")
    ref: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = Field(
        None, description="Branch the workflow runs on (default: the default branch).")
    inputs: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=100)],
                 Template] = Field(
        default={"action": "{action}", "sha": "{sha}", "environment": "{environment}", "weight": "{weight}",
                 "key": "{key}"},
        description="Workflow inputs (templates); {action} is canary, weight, promote or rollback; {key} names "
                    "this dispatch: put it in the workflow's run-name (run-name: deploy ${{ inputs.key }}) so a "
                    "restarted worker finds the run and confirms the action instead of rolling back. Only the inputs the "
                    "workflow declares (on the dispatched ref) are sent.")
    timeout_seconds: float = Field(1800, gt=0, le=6 * 3600, description="Seconds a run may take.")

    @field_validator("inputs")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            try:
                placeholders(text)
            except ValueError as exc:
                raise PydanticCustomError("template", "{error}", {"error": str(exc)}) from None
        return value


class WebhookDeployer(Section):
    """POST each action as JSON, signed like GitHub's webhooks (X-Trunkline-Signature-256: sha256=HMAC)."""

    key_hints: ClassVar[dict[str, str]] = {"secret": "secret_env", "timeout": "timeout_seconds"}

    url: Url = Field(description="Where actions are POSTed ({action, sha, environment, weight, repository, run}).")
    secret_env: EnvVar = Field(description="Environment variable of the worker holding the HMAC secret.")
    status_url: Url | None = Field(
        None, description="GET answers the deployment's state as JSON (confirms actions after a restart).")
    timeout_seconds: float = Field(60, gt=0, le=3600, description="Seconds one request may take.")


class StepSpec(Section):
    """One canary step: a traffic weight held for a duration, or a manual gate (waits for /promote)."""

    key_hints: ClassVar[dict[str, str]] = {"setWeight": "weight", "set_weight": "weight", "percent": "weight",
                                           "for": "duration", "wait": "duration", "manual": "pause"}

    weight: int | None = Field(None, ge=1, le=100, description="Percent of the traffic the canary gets.")
    duration: Duration | None = Field(None, description="How long the weight is held and analysed (5m, 90s).")
    pause: Literal["manual"] | None = Field(None, description="'manual': wait for `/promote` (probes keep running).")

    @field_validator("duration")
    @classmethod
    def _valid_duration(cls, value: Duration | None) -> Duration | None:
        return _duration(value)

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        if self.pause is not None:
            if self.weight is not None or self.duration is not None:
                raise PydanticCustomError("step", "a manual gate ({{pause: manual}}) takes no weight or duration")
        elif self.weight is None or self.duration is None:
            raise PydanticCustomError("step", "a step needs a weight and a duration ({{weight: 10, duration: 5m}}) "
                                              "or is a manual gate ({{pause: manual}})")
        return self

    @property
    def seconds(self) -> float:
        return parse_duration(self.duration) if self.duration is not None else 0.0


class Environments(Section):
    """GitHub environment names of the two deployments."""

    canary: EnvironmentName = Field("canary", description="Environment of the canary deployment.")
    production: EnvironmentName = Field("production", description="Environment of the full deployment.")


class Targets(Section):
    """Base URLs the probes run against."""

    canary: Url = Field(description="The canary version alone (e.g. http://127.0.0.1:8101).")
    stable: Url = Field(description="The stable (production) version alone.")


def _default_steps() -> list[StepSpec]:
    return [StepSpec(weight=10, duration="5m"), StepSpec(weight=50, duration="5m")]


class DeploySection(Section):
    """Canary deploys after merges to the default branch: steps, probes, rules, automatic rollback."""

    key_hints: ClassVar[dict[str, str]] = {
        "strategy": "steps", "analysis": "rules", "checks": "probes", "kind": "deployer", "type": "deployer",
        "environment": "environments", "urls": "targets", "when": "on_merge", "verify": "verify_seconds",
    }

    deployer: DeployerKind = Field("command", description="How actions are carried out: command, workflow or "
                                                          "webhook (its settings are the key of the same name).")
    command: CommandDeployer | None = Field(None, description=CommandDeployer.__doc__)
    workflow: WorkflowDeployer | None = Field(None, description=WorkflowDeployer.__doc__)
    webhook: WebhookDeployer | None = Field(None, description=WebhookDeployer.__doc__)
    on_merge: bool = Field(True, description="Deploy every push to the default branch (false: only `/deploy canary`).")
    environments: Environments = Field(default_factory=Environments, description=Environments.__doc__,
                                       json_schema_extra={"default": {}})
    targets: Targets | None = Field(
        None, description=Targets.__doc__ + " Default: the URLs in the deployer's status (canary.url, stable.url).")
    steps: list[StepSpec] = Field(
        default_factory=_default_steps, max_length=50,
        description="Canary steps in order, then promotion. Default: 10% for 5m, then 50% for 5m. [] deploys "
                    "straight to production (still verified by the probes).")
    probes: list[ProbeSpec] = Field(default=[], max_length=50, description="Synthetic probes (see ProbeSpec).")
    rules: RulesSpec = Field(default_factory=RulesSpec, description=RulesSpec.__doc__,
                             json_schema_extra={"default": {}})
    verify_seconds: Duration = Field(
        30, description="After promotion, probes run this long against production before it counts as good.")
    rollback_verify_seconds: Duration = Field(
        10, description="After a rollback, probes run this long against production to verify it.")
    pause_timeout: Duration = Field(
        "1h", description="An inconclusive analysis (probe targets unreachable, no data) waits this long for "
                          "data before rolling back.")

    @field_validator("verify_seconds", "rollback_verify_seconds", "pause_timeout")
    @classmethod
    def _valid_duration(cls, value: Duration) -> Duration:
        return _duration(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _consistent(self) -> DeploySection:
        if getattr(self, self.deployer) is None:
            raise PydanticCustomError("deployer", "deployer '{kind}' needs its settings under '{kind}:'",
                                      {"kind": self.deployer})
        names = [p.name for p in self.probes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PydanticCustomError("probe_names", "probe names must be unique: {names}",
                                      {"names": ", ".join(dupes)})
        if self.probes and self.targets is None and not self.reports_targets:
            raise PydanticCustomError("targets", "probes need 'targets' (the canary and stable base URLs), or a "
                                                 "deployer status (command.status / webhook.status_url) whose JSON "
                                                 "has canary.url and stable.url")
        if self.steps and not self.probes:
            raise PydanticCustomError("probes", "canary steps need at least one probe to judge the canary "
                                                "(or 'steps: []' to deploy without a canary)")
        if self.steps and self.steps[0].pause is not None:
            raise PydanticCustomError("steps", "the first step must send traffic to the canary (a weight), "
                                               "not a manual gate")
        return self

    @property
    def reports_targets(self) -> bool:
        """The deployer can say where the canary and stable versions are (their URLs in its status)."""
        if self.deployer == "command" and self.command is not None:
            return self.command.status is not None
        return self.deployer == "webhook" and self.webhook is not None and self.webhook.status_url is not None
