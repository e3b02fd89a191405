"""The ``contracts:`` section of ``.github/trunkline.yml`` (models only; logic is in ``trunkline.contracts``).

It lives in the config package, next to the root model that includes it, so that importing it first
or importing the root model first both work (the root model imports this module after ``Section``
exists). ``trunkline.contracts.config`` re-exports everything here.

Keys are snake_case like the rest of the file (``fail_on``, not oasdiff's ``fail-on``); the common
spellings from other tools get a "did you mean" hint.

Example::

    contracts:
      sources:
        - path: contracts/openapi.yaml          # kind: openapi | asyncapi (detected when omitted)
          targets:
            - {language: python, output: app/api/models.py}
            - {language: typescript, output: web/src/api.ts}
      breaking:
        fail_on: ERR                             # ERR | WARN | never
        overrides: {response-property-became-optional: WARN}
        ignore:
          - {id: api-path-removed-without-deprecation, path: /v1/legacy, reason: "retired, see #12"}
      tests:
        url: http://127.0.0.1:8080
        baseline: contracts/schemathesis-baseline.json
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from trunkline.config.model import Section

Language = Literal["python", "typescript", "swift"]
SourceKind = Literal["openapi", "asyncapi"]
FailOn = Literal["ERR", "WARN", "never"]
RuleLevel = Literal["ERR", "WARN", "INFO"]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=100)]
RuleIdPattern = Annotated[str, StringConstraints(pattern=r"^[a-z*?\[][a-z0-9*?\[\]-]*$", max_length=100)]
OptionName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=60)]
OptionValue = bool | int | str | list[str]
RepoPath = Annotated[str, StringConstraints(min_length=1, max_length=400)]

#: File extension each target language writes.
EXTENSIONS: dict[str, tuple[str, ...]] = {"python": (".py",), "typescript": (".ts",), "swift": (".swift",)}

#: Generator flags Trunkline sets itself (inputs, outputs and everything pinned for reproducible
#: output); ``options`` may not override them.
RESERVED_OPTIONS = frozenset({
    "input", "output", "o", "url", "src", "src-lang", "s", "lang", "l", "out", "input-file-type",
    "output-model-type", "disable-timestamp", "target-python-version", "formatters", "no-formatters",
    "custom-file-header", "custom-file-header-path", "check", "help", "version", "redocly", "c",
})


def check_repo_path(value: str) -> str:
    """A repository-relative POSIX path: not absolute, no ``..``, no backslashes."""
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value) or "\\" in value:
        raise PydanticCustomError("repo_path", "'{value}' must be a path relative to the repository root",
                                  {"value": value})
    parts = PurePosixPath(value).parts
    if ".." in parts:
        raise PydanticCustomError("repo_path", "'{value}' must not contain '..'", {"value": value})
    if not parts or value.endswith("/"):
        raise PydanticCustomError("repo_path", "'{value}' must name a file", {"value": value})
    return value


class TargetConfig(Section):
    """One generated file: a language and where it goes."""

    key_hints: ClassVar[dict[str, str]] = {"lang": "language", "out": "output", "path": "output",
                                           "file": "output", "args": "options", "flags": "options"}

    language: Language = Field(description="python (datamodel-code-generator, pydantic v2), typescript "
                                           "(openapi-typescript / quicktype) or swift (quicktype).")
    output: RepoPath = Field(description="Repository-relative file to write (.py, .ts or .swift).")
    options: dict[OptionName, OptionValue] = Field(
        default={},
        json_schema_extra={"additionalProperties": False},
        description="Extra generator flags without the leading '--' (true = flag present), e.g. "
                    "{use-annotated: true}. Inputs, outputs and the options Trunkline pins cannot be set.",
    )

    @field_validator("output")
    @classmethod
    def _output_path(cls, value: str) -> str:
        return check_repo_path(value)

    @field_validator("options")
    @classmethod
    def _no_reserved_options(cls, value: dict[str, OptionValue]) -> dict[str, OptionValue]:
        for name in value:
            if name in RESERVED_OPTIONS:
                raise PydanticCustomError(
                    "reserved_option", "'{name}' is set by Trunkline and cannot be overridden", {"name": name})
        return value

    @model_validator(mode="after")
    def _extension_matches_language(self) -> TargetConfig:
        allowed = EXTENSIONS[self.language]
        if not self.output.endswith(allowed):
            raise PydanticCustomError(
                "output_extension", "{language} output must end with {ext}, got '{output}'",
                {"language": self.language, "ext": " or ".join(allowed), "output": self.output})
        return self


class SourceConfig(Section):
    """One contract file and the code generated from it."""

    key_hints: ClassVar[dict[str, str]] = {"file": "path", "spec": "path", "type": "kind", "format": "kind",
                                           "target": "targets", "generate": "targets", "outputs": "targets"}

    path: RepoPath = Field(description="Repository-relative contract file (OpenAPI 3.x or AsyncAPI 2.x/3.x, "
                                       "YAML or JSON).")
    kind: SourceKind | None = Field(
        None, description="openapi or asyncapi; detected from the file's first key when omitted.")
    targets: list[TargetConfig] = Field(default=[], description="Files generated from this contract.")

    @field_validator("path")
    @classmethod
    def _source_path(cls, value: str) -> str:
        return check_repo_path(value)


class IgnoreEntry(Section):
    """A breaking change accepted on purpose."""

    key_hints: ClassVar[dict[str, str]] = {"rule": "id", "why": "reason", "comment": "reason",
                                           "operation": "path", "at": "path", "file": "source"}

    id: RuleIdPattern = Field(description="Rule id, e.g. api-path-removed-without-deprecation (wildcards * ? "
                                          "allowed).")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="Why this change is acceptable (required: it is shown in the check run).")
    source: RepoPath | None = Field(None, description="Only for this contract file (default: every source).")
    path: str | None = Field(
        None, min_length=1, max_length=300,
        description="Only findings for this API path or operation, e.g. '/pets' or 'GET /pets' (AsyncAPI: "
                    "'send userSignedUp'); wildcards allowed.")
    pointer: str | None = Field(
        None, pattern=r"^/", max_length=500,
        description="Only findings whose JSON pointer starts with this, e.g. /paths/~1pets/get.")

    @field_validator("reason")
    @classmethod
    def _reason_is_written(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank_reason", "must say why the change is acceptable", {})
        return value


class BreakingSection(Section):
    """Breaking-change policy for pull requests (base -> head)."""

    key_hints: ClassVar[dict[str, str]] = {"fail-on": "fail_on", "failOn": "fail_on", "fail": "fail_on",
                                           "levels": "overrides", "rules": "overrides", "severity": "overrides",
                                           "ignored": "ignore", "exceptions": "ignore", "allow": "ignore"}

    fail_on: FailOn = Field(
        "ERR", description="Fail the check at this level: ERR (breaking), WARN (maybe breaking) or never.")
    overrides: dict[RuleId, RuleLevel] = Field(
        default={},
        json_schema_extra={"additionalProperties": False},
        description="Level per rule id (ERR, WARN or INFO), replacing the rule's built-in level.",
    )
    ignore: list[IgnoreEntry] = Field(
        default=[], description="Findings to drop, each with a reason (shown in the check run).")


class ContractTestsSection(Section):
    """Contract tests (schemathesis) against a running service: `trunkline contracts test`."""

    key_hints: ClassVar[dict[str, str]] = {"base_url": "url", "server": "url", "start": "command",
                                           "run": "command", "examples": "tier1_examples",
                                           "max_examples": "tier1_examples", "schema": "source"}

    url: str | None = Field(
        None, pattern=r"^https?://", max_length=400,
        description="Base URL of the running service (or of the one `command` starts).")
    command: str | None = Field(
        None, min_length=1, max_length=1000,
        description="Shell command that starts the service when no --url is given; it must serve `url`.")
    source: RepoPath | None = Field(
        None, description="OpenAPI contract to test (default: the first openapi source).")
    ready_timeout: int = Field(30, ge=1, le=600,
                                 description="Seconds to wait for a started service to answer.")
    tier1_examples: int = Field(100, ge=1, le=100_000, description="Fuzzing examples per operation in tier 1.")
    nightly_examples: int = Field(1000, ge=1, le=1_000_000,
                                  description="Fuzzing examples per operation in the nightly (stateful) tier.")
    baseline: RepoPath | None = Field(
        None, description="schemathesis baseline file: failures recorded there pass, new ones fail.")
    hooks: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=200,
        description="Python module with schemathesis hooks (e.g. trunkline.contracts.signing, which signs "
                    "requests like GitHub webhooks).")

    @model_validator(mode="after")
    def _command_needs_url(self) -> ContractTestsSection:
        if self.command is not None and self.url is None:
            raise PydanticCustomError("command_url", "tests.command needs tests.url (the URL it serves)", {})
        return self


class ContractsSection(Section):
    """API contracts: generated code, drift and breaking-change checks, contract tests."""

    key_hints: ClassVar[dict[str, str]] = {"fail-on": "breaking.fail_on", "fail_on": "breaking.fail_on", "policy": "breaking",
                                           "source": "sources", "specs": "sources", "contracts": "sources",
                                           "test": "tests", "contract_tests": "tests", "schemathesis": "tests"}

    sources: list[SourceConfig] = Field(
        default=[], description="Contract files; none means the contracts check does not run.")
    breaking: BreakingSection = Field(default_factory=BreakingSection, description=BreakingSection.__doc__,
                                      json_schema_extra={"default": {}})
    tests: ContractTestsSection = Field(default_factory=ContractTestsSection,
                                        description=ContractTestsSection.__doc__,
                                        json_schema_extra={"default": {}})

    @field_validator("sources")
    @classmethod
    def _distinct_files(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        seen_sources: set[str] = set()
        for source in value:
            if source.path in seen_sources:
                raise PydanticCustomError("duplicate_source", "'{path}' is listed twice", {"path": source.path})
            seen_sources.add(source.path)
        seen_outputs: dict[str, str] = {}
        for source in value:
            for target in source.targets:
                if target.output in seen_sources:
                    raise PydanticCustomError("output_is_source", "output '{output}' would overwrite a contract",
                                              {"output": target.output})
                if target.output in seen_outputs:
                    raise PydanticCustomError(
                        "duplicate_output", "output '{output}' is written by two targets ({first} and {second})",
                        {"output": target.output, "first": seen_outputs[target.output], "second": source.path})
                seen_outputs[target.output] = source.path
        return value

    @property
    def configured(self) -> bool:
        return bool(self.sources)
