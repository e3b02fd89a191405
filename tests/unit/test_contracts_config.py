"""The ``contracts:`` configuration section: defaults, validation messages, hints, schema agreement."""

from __future__ import annotations

import jsonschema
import pytest
from ruamel.yaml import YAML

from trunkline.checks.contracts_check import diff_policy
from trunkline.config import TrunklineConfig, config_json_schema, parse_config
from trunkline.contracts.config import ContractsSection, contracts_of


def issues(text: str) -> list[str]:
    return [str(i) for i in parse_config(text).issues]


def test_defaults_are_safe_and_mean_unconfigured() -> None:
    section = TrunklineConfig().contracts
    assert section == ContractsSection()
    assert not section.configured and section.sources == []
    assert section.breaking.fail_on == "ERR" and section.breaking.ignore == []
    assert section.tests.url is None and section.tests.baseline is None
    assert contracts_of(None) == section and contracts_of(TrunklineConfig()) == section


def test_full_section_parses() -> None:
    text = """\
contracts:
  sources:
    - path: api/openapi.yaml
      targets:
        - {language: python, output: app/models.py, options: {use-annotated: true, class-name-prefix: Api}}
        - {language: typescript, output: web/src/api.ts}
        - {language: swift, output: ios/Api.swift}
    - path: api/events.yaml
      kind: asyncapi
  breaking:
    fail_on: WARN
    overrides: {response-property-became-optional: ERR}
    ignore:
      - {id: "api-path-removed-*", path: /v1/legacy, reason: retired in 2024, source: api/openapi.yaml}
  tests:
    url: http://127.0.0.1:8000
    command: uvicorn app:app --port 8000
    baseline: api/schemathesis-baseline.json
    tier1_examples: 50
"""
    result = parse_config(text)
    assert result.ok, result.issues
    contracts = result.config.contracts
    assert contracts.configured
    assert [t.language for t in contracts.sources[0].targets] == ["python", "typescript", "swift"]
    assert contracts.sources[0].targets[0].options == {"use-annotated": True, "class-name-prefix": "Api"}
    assert contracts.sources[1].kind == "asyncapi" and contracts.sources[1].targets == []
    policy = diff_policy(contracts.breaking, "api/openapi.yaml")
    assert policy.fail_on == "WARN" and [e.id for e in policy.ignore] == ["api-path-removed-*"]
    assert diff_policy(contracts.breaking, "api/events.yaml").ignore == ()  # scoped to the other source
    assert contracts.tests.tier1_examples == 50 and contracts.tests.nightly_examples == 1000


@pytest.mark.parametrize("text,expected", [
    ("contracts:\n  breaking:\n    fail-on: WARN\n",
     "contracts.breaking.fail-on: unknown key 'fail-on' (did you mean 'fail_on'?)"),
    ("contracts:\n  fail-on: WARN\n",
     "contracts.fail-on: unknown key 'fail-on' (did you mean 'breaking.fail_on'?)"),
    ("contracts:\n  breaking:\n    fail_on: err\n", "contracts.breaking.fail_on: 'err' is not one of ERR, WARN, never"),
    ("contracts:\n  sources:\n    - file: a.yaml\n", "unknown key 'file' (did you mean 'path'?)"),
    ("contracts:\n  sources:\n    - path: ../a.yaml\n", "'../a.yaml' must not contain '..'"),
    ("contracts:\n  sources:\n    - path: /abs/a.yaml\n", "must be a path relative to the repository root"),
    ("contracts:\n  sources:\n    - path: a.yaml\n      kind: swagger\n", "'swagger' is not one of openapi, asyncapi"),
    ("contracts:\n  sources:\n    - path: a.yaml\n      targets: [{language: python, output: x.ts}]\n",
     "python output must end with .py, got 'x.ts'"),
    ("contracts:\n  sources:\n    - path: a.yaml\n      targets: [{language: rust, output: x.rs}]\n",
     "'rust' is not one of python, typescript, swift"),
    ("contracts:\n  sources:\n    - path: a.yaml\n      targets: [{language: python, output: x.py, options: {output: y}}]\n",
     "'output' is set by Trunkline and cannot be overridden"),
    ("contracts:\n  sources:\n    - path: a.yaml\n    - path: a.yaml\n", "'a.yaml' is listed twice"),
    ("contracts:\n  sources:\n    - path: a.yaml\n      targets: [{language: python, output: b.yaml.py}]\n"
     "    - path: b.yaml\n      targets: [{language: python, output: b.yaml.py}]\n",
     "output 'b.yaml.py' is written by two targets (a.yaml and b.yaml)"),
    ("contracts:\n  breaking:\n    ignore: [{id: response-body-type-changed}]\n", "reason"),
    ("contracts:\n  breaking:\n    ignore: [{id: response-body-type-changed, reason: '   '}]\n",
     "must say why the change is acceptable"),
    ("contracts:\n  breaking:\n    overrides: {api-path-removed-without-deprecation: FATAL}\n",
     "'FATAL' is not one of ERR, WARN, INFO"),
    ("contracts:\n  tests:\n    command: ./serve\n", "tests.command needs tests.url"),
    ("contracts:\n  tests:\n    url: localhost:8000\n", "'localhost:8000' does not match the pattern ^https?://"),
])
def test_mistakes_are_reported_where_they_are(text: str, expected: str) -> None:
    found = issues(text)
    assert any(expected in line for line in found), found
    # what JSON Schema can express, the editor schema refuses too (cross-field rules are the bot's alone)
    cross_field = ("listed twice", "two targets", "must say why", "must end with", "needs tests.url",
                   "cannot be overridden", "must not contain", "relative to the repository")
    if not any(part in expected for part in cross_field):
        assert not jsonschema.Draft202012Validator(config_json_schema()).is_valid(YAML(typ="safe").load(text))


def test_issue_points_at_the_line() -> None:
    [line] = issues("contracts:\n  sources:\n    - path: a.yaml\n      targets:\n        - language: python\n"
                    "          output: models.ts\n")
    assert line.startswith(".github/trunkline.yml:5:11 contracts.sources[0].targets[0]:")
