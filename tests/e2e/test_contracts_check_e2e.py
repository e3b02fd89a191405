"""``trunkline/contracts`` end to end: sandbox GitHub, a real ``trunkline serve``, real pull requests.

A PR that removes a required response property fails with an annotation on the contract's line; a
compatible change passes; a contract edited without regenerating fails on the generated file; a
repository without ``contracts:`` gets no contracts check run at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.contracts import generate as gen
from trunkline.demo.harness import BotHarness

pytestmark = pytest.mark.slow

REPO = "acme/widgets"
CONFIG = """\
version: 1
contracts:
  sources:
    - path: api/openapi.yaml
      targets:
        - {language: python, output: app/models.py}
  breaking:
    fail_on: ERR
"""
CONTRACT = """\
openapi: 3.1.0
info: {title: Widgets, version: 1.0.0}
paths:
  /widgets/{id}:
    get:
      operationId: getWidget
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: The widget.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Widget"}
components:
  schemas:
    Widget:
      type: object
      required: [id, name, colour]
      properties:
        id: {type: integer}
        name: {type: string}
        colour: {type: string}
"""
# the consumer-breaking change: `colour` is no longer in every response
BREAKING = CONTRACT.replace("required: [id, name, colour]", "required: [id, name]").replace(
    "        colour: {type: string}\n", "")
# a compatible change: a new optional property
COMPATIBLE = CONTRACT + "        size: {type: integer}\n"


def models_for(tmp: Path, contract: str) -> str:
    """What `trunkline contracts generate` writes for ``contract`` (run for real)."""
    from trunkline.config import parse_config

    root = tmp / f"gen-{gen.sha256(contract)[:8]}"
    (root / "api").mkdir(parents=True, exist_ok=True)
    (root / "api/openapi.yaml").write_text(contract)
    gen.generate(root, parse_config(CONFIG).config)
    return (root / "app/models.py").read_text()


@pytest.fixture
def harness(tmp_path: Path):
    with BotHarness(tmp_path / "h") as h:
        h.sandbox.create_repo("acme", "widgets", files={
            ".github/trunkline.yml": CONFIG, "api/openapi.yaml": CONTRACT,
            "app/models.py": models_for(tmp_path, CONTRACT)})
        h.install("acme")
        h.sandbox.grant(REPO, "dev", "write")
        yield h


def test_removed_required_response_property_fails_with_annotation_on_the_line(harness: BotHarness,
                                                                               tmp_path: Path) -> None:
    sb = harness.sandbox
    sha = sb.push(REPO, "drop-colour", {"api/openapi.yaml": BREAKING, "app/models.py": models_for(tmp_path, BREAKING)},
                  "Drop colour", as_user="dev")
    sb.open_pr(REPO, head="drop-colour", title="Drop colour", as_user="dev")
    run = harness.wait_for_check(REPO, sha, "trunkline/contracts", timeout=60)
    assert run.conclusion == "failure", run.output
    assert run.app_id == harness.app.id
    assert run.output["title"].startswith("Contracts: breaking changes")
    removed = [a for a in run.annotations if "response-required-property-removed" in a["title"]]
    assert removed, run.annotations
    [note] = removed
    line = BREAKING.splitlines().index("      properties:") + 1  # where `colour` used to be listed
    assert (note["path"], note["start_line"], note["annotation_level"]) == ("api/openapi.yaml", line, "failure")
    assert "colour" in note["message"]
    summary = run.output["summary"]
    assert "| ERR | `response-required-property-removed` |" in summary
    assert "`app/models.py` | `api/openapi.yaml` | ✅ up to date |" in summary


def test_compatible_change_passes(harness: BotHarness, tmp_path: Path) -> None:
    sb = harness.sandbox
    sha = sb.push(REPO, "add-size", {"api/openapi.yaml": COMPATIBLE, "app/models.py": models_for(tmp_path, COMPATIBLE)},
                  "Add size", as_user="dev")
    sb.open_pr(REPO, head="add-size", title="Add size", as_user="dev")
    run = harness.wait_for_check(REPO, sha, "trunkline/contracts", timeout=60)
    assert run.conclusion == "success", run.output
    assert not [a for a in run.annotations if a["annotation_level"] == "failure"]
    assert "response-optional-property-added" in run.output["summary"]


def test_contract_changed_without_regenerating_fails_on_the_generated_file(harness: BotHarness) -> None:
    sb = harness.sandbox
    sha = sb.push(REPO, "forgot", {"api/openapi.yaml": COMPATIBLE}, "Add size, forget to regenerate", as_user="dev")
    sb.open_pr(REPO, head="forgot", title="Add size", as_user="dev")
    run = harness.wait_for_check(REPO, sha, "trunkline/contracts", timeout=60)
    assert run.conclusion == "failure"
    assert "1 generated file out of date" in run.output["title"]
    [note] = [a for a in run.annotations if a["path"] == "app/models.py"]
    assert note["start_line"] == 1 and "is stale" in note["message"]
    assert "trunkline contracts generate" in note["message"]


def test_repository_without_contracts_gets_no_contracts_check(harness: BotHarness) -> None:
    sb = harness.sandbox
    sb.create_repo("acme", "plain", files={".github/trunkline.yml": "version: 1\n", "README.md": "# plain\n"})
    sb.grant("acme/plain", "dev", "write")
    sha = sb.push("acme/plain", "feature", {"README.md": "# plain!\n"}, "edit", as_user="dev")
    sb.open_pr("acme/plain", head="feature", title="Edit", as_user="dev")
    harness.wait_for_check("acme/plain", sha, "trunkline/config", timeout=60)  # the PR was handled
    sb.wait_for_webhooks()
    assert harness.check_runs("acme/plain", sha, "trunkline/contracts") == []
    assert "trunkline/contracts" not in harness.bot_log().split("acme/plain", 1)[-1]
