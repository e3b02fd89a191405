"""The pure core of ``trunkline/contracts``: drift + breaking changes + policy -> one check run."""

from __future__ import annotations

from test_contracts_generate import PETS, contracts, memory_reader

from trunkline.checks.contracts_check import (
    COMPARED,
    MISSING,
    NEW,
    UNCHANGED,
    compare_source,
    contracts_check_spec,
    evaluate,
)
from trunkline.contracts import generate as gen
from trunkline.contracts import tools

CONFIG = "contracts:\n  sources:\n    - path: api/pets.yaml\n"
DROP_NAME = PETS.replace("required: [id, name]", "required: [id]").replace("        name: {type: string}\n", "")
NAME_OPTIONAL = PETS.replace("required: [id, name]", "required: [id]")
ADD_TAG = PETS + "        tag: {type: string}\n"


def check(base: str | None, head: str | None, config: str = CONFIG, extra: dict | None = None):
    section = contracts(config)
    base_files = {"api/pets.yaml": base} if base is not None else {}
    head_files = {"api/pets.yaml": head} if head is not None else {}
    head_files.update(extra or {})
    data = evaluate(section, "h" * 40, "b" * 40, memory_reader(head_files), memory_reader(base_files))
    return data, contracts_check_spec(data)


def test_breaking_change_fails_with_annotations_and_table() -> None:
    data, spec = check(PETS, DROP_NAME)
    [result] = data.results
    assert result.status == COMPARED
    assert "response-required-property-removed" in {f.id for f in result.findings}
    assert spec.conclusion == "failure" and spec.name == "trunkline/contracts" and spec.head_sha == "h" * 40
    assert spec.title.startswith("Contracts: breaking changes (")
    note = next(a for a in spec.annotations if "response-required-property-removed" in a["title"])
    assert note["path"] == "api/pets.yaml" and note["annotation_level"] == "failure"
    assert note["start_line"] == DROP_NAME.splitlines().index("      properties:") + 1
    assert "| ERR | `response-required-property-removed` | `api/pets.yaml:" in spec.summary
    assert "base `bbbbbbb` → head `hhhhhhh`" in spec.summary


def test_policy_overrides_ignore_and_fail_on() -> None:
    # WARN-only threshold: an INFO finding (optional property added) still passes
    _, spec = check(PETS, ADD_TAG, CONFIG + "  breaking:\n    fail_on: WARN\n")
    assert spec.conclusion == "success"
    assert [a["annotation_level"] for a in spec.annotations] == ["notice"]

    # downgrade the rule: the change is reported but does not fail
    relaxed = CONFIG + "  breaking:\n    overrides: {response-property-became-optional: WARN}\n"
    _, spec = check(PETS, NAME_OPTIONAL, relaxed)
    assert spec.conclusion == "success", spec.summary
    assert "| WARN | `response-property-became-optional` |" in spec.summary
    _, strict = check(PETS, NAME_OPTIONAL, relaxed + "    fail_on: WARN\n")
    assert strict.conclusion == "failure"

    # ignore with a reason: gone from annotations, listed with its reason
    ignoring = CONFIG + ("  breaking:\n    ignore:\n      - id: response-property-became-optional\n"
                         "        reason: \"clients were told in #42\"\n")
    _, spec = check(PETS, NAME_OPTIONAL, ignoring)
    assert spec.conclusion == "success"
    assert not any("became-optional" in a["title"] for a in spec.annotations)
    assert "- `response-property-became-optional`: clients were told in #42" in spec.summary

    _, never = check(PETS, DROP_NAME, CONFIG + "  breaking:\n    fail_on: never\n")
    assert never.conclusion == "success" and never.annotations


def test_unchanged_new_and_missing_contracts() -> None:
    data, spec = check(PETS, PETS)
    assert data.results[0].status == UNCHANGED and spec.conclusion == "success"
    assert "Unchanged by this pull request." in spec.summary
    data, spec = check(None, PETS)
    assert data.results[0].status == NEW and spec.conclusion == "success"
    data, spec = check(PETS, None)
    assert data.results[0].status == MISSING and spec.conclusion == "failure"
    assert "does not exist at the head commit" in spec.summary


def test_unreadable_contract_is_a_failure_not_a_crash() -> None:
    data, spec = check(PETS, "openapi: 3.1.0\npaths: [unclosed\n")
    assert data.results[0].status == "error" and spec.conclusion == "failure"


def test_drift_is_part_of_the_verdict() -> None:
    config = CONFIG + "      targets:\n        - {language: python, output: app/models.py}\n"
    digest = gen.digest_source("api/pets.yaml", memory_reader({"api/pets.yaml": PETS}))
    recipe = tools.recipe_for("python", "openapi", {}).digest()
    current = gen.file_text("python", "api/pets.yaml", digest.sha256, None, recipe, "dmcg", "class Pet: ...\n")
    _, spec = check(PETS, PETS, config, {"app/models.py": current})
    assert spec.conclusion == "success" and "| `app/models.py` | `api/pets.yaml` | ✅ up to date |" in spec.summary
    _, spec = check(PETS, ADD_TAG, config, {"app/models.py": current})
    assert spec.conclusion == "failure" and spec.title == "Contracts: 1 generated file out of date"
    [note] = [a for a in spec.annotations if a["path"] == "app/models.py"]
    assert note["start_line"] == 1 and "is stale" in note["message"]
    _, spec = check(PETS, PETS, config, {"app/models.py": current.replace("...", "pass")})
    assert spec.conclusion == "failure" and "❌ edited by hand" in spec.summary


def test_relative_refs_are_read_from_the_same_commit() -> None:
    main = PETS.replace('{$ref: "#/components/schemas/Pet"}', '{$ref: "pet.yaml"}')
    pet = "type: object\nrequired: [id, name]\nproperties:\n  id: {type: integer}\n  name: {type: string}\n"
    section = contracts(CONFIG)
    base = memory_reader({"api/pets.yaml": main, "api/pet.yaml": pet})
    head = memory_reader({"api/pets.yaml": main, "api/pet.yaml": pet.replace("[id, name]", "[id]")})
    result = compare_source(section.sources[0], section.breaking, base, head)
    assert result.status == COMPARED  # the main file is byte-identical; the referenced one changed
    assert {f.id for f in result.findings} == {"response-property-became-optional"}
    assert {f.source.file for f in result.findings} == {"api/pet.yaml"}


def test_an_engine_crash_still_gives_a_failing_check(monkeypatch) -> None:
    import trunkline.contracts.diff as engine

    def crash(*_a, **_k):
        raise RecursionError("deep")
    monkeypatch.setattr(engine, "diff", crash)
    data, spec = check(PETS, DROP_NAME)
    assert data.results[0].status == "error" and spec.conclusion == "failure"
    assert "the diff engine failed on this contract (RecursionError: deep)" in spec.summary
