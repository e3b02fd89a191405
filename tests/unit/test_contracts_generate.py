"""``trunkline contracts generate [--check]``: hash headers, drift states, Python generation, the CLI.

The drift check is pure over a file reader, so most behaviour is tested on in-memory repositories;
the generation tests run the real datamodel-code-generator on small contracts.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.cli import main
from trunkline.contracts import generate as gen
from trunkline.contracts import tools
from trunkline.contracts.config import ContractsSection, detect_kind, load_local_config
from trunkline.contracts.extract import quicktype_inputs, relative_refs

REPO = Path(__file__).resolve().parents[2]

PETS = """\
openapi: 3.1.0
info: {title: Pets, version: 1.0.0}
paths:
  /pets:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer}
        name: {type: string}
"""

EVENTS = """\
asyncapi: 3.0.0
info: {title: Events, version: 1.0.0}
channels:
  users:
    address: users
    messages:
      signedUp: {$ref: "#/components/messages/UserSignedUp"}
operations:
  sendSignedUp:
    action: send
    channel: {$ref: "#/channels/users"}
components:
  messages:
    UserSignedUp:
      payload: {$ref: "#/components/schemas/UserSignedUp"}
  schemas:
    UserSignedUp:
      type: object
      required: [user_id]
      properties:
        user_id: {type: string}
        email: {type: string, maxLength: 254}
"""

CONFIG = """\
contracts:
  sources:
    - path: api/pets.yaml
      targets:
        - {language: python, output: app/models.py}
    - path: api/events.yaml
      targets:
        - {language: python, output: app/events.py}
"""


def contracts(text: str = CONFIG) -> ContractsSection:
    from trunkline.config import parse_config

    result = parse_config(text)
    assert result.config is not None, result.issues
    return result.config.contracts


PARSED = contracts()


def make_repo(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, {".github/trunkline.yml": CONFIG, "api/pets.yaml": PETS, "api/events.yaml": EVENTS})


def load_module(path: Path):
    """Import a generated file as a module (pydantic resolves annotations through sys.modules)."""
    name = f"generated_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def memory_reader(files: dict[str, str | bytes]):
    def read(path: str) -> bytes | None:
        value = files.get(path)
        return value.encode() if isinstance(value, str) else value
    return read


# --- headers ---------------------------------------------------------------------------------

hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
paths = st.from_regex(r"[a-z][a-z0-9_./-]{0,40}", fullmatch=True)
headers = st.builds(gen.Header, source=paths, source_sha256=hex64, refs_sha256=st.none() | hex64,
                    generator=st.from_regex(r"[a-z-]{1,20} [0-9.]{1,8}", fullmatch=True),
                    recipe=st.text("0123456789abcdef", min_size=16, max_size=16), body_sha256=hex64)


@settings(max_examples=200)
@given(header=headers, body=st.text(st.characters(exclude_categories=("Cs",))),
       language=st.sampled_from(["python", "typescript", "swift"]))
def test_header_round_trips(header: gen.Header, body: str, language: str) -> None:
    assert gen.parse(gen.render(language, header, body)) == (header, body)


@settings(max_examples=150)
@given(body=st.text(st.characters(exclude_categories=("Cs",)), min_size=1), data=st.data())
def test_any_edit_to_the_body_is_detected_without_regenerating(body: str, data: st.DataObject) -> None:
    source = PARSED.sources[0]
    target = source.targets[0]
    digest = gen.digest_source(source.path, memory_reader({source.path: PETS}))
    recipe = tools.recipe_for("python", "openapi", {}).digest()
    text = gen.file_text("python", source.path, digest.sha256, None, recipe, "datamodel-code-generator 0.89.0", body)
    assert gen.target_state(source, target, digest, text.encode()).state == gen.OK
    index = data.draw(st.integers(0, len(body) - 1))
    replacement = data.draw(st.characters(exclude_categories=("Cs",)).filter(lambda c: c != body[index]))
    header_part = text[:len(text) - len(body)]
    edited = header_part + body[:index] + replacement + body[index + 1:]
    state = gen.target_state(source, target, digest, edited.encode("utf-8", "surrogatepass")).state
    # a line break typed into the header/body separator region can make it no header at all
    assert state == gen.EDITED or (state == gen.UNMANAGED and index == 0)


def test_header_looks_like_documented() -> None:
    header = gen.Header("contracts/openapi.yaml", "a" * 64, None, "datamodel-code-generator 0.89.0", "b" * 16, "c" * 64)
    text = gen.render("python", header, "x = 1\n")
    assert text.splitlines()[:6] == [
        "# Generated by `trunkline contracts generate`; do not edit: change the contract and regenerate.",
        "# source: contracts/openapi.yaml",
        f"# source-sha256: {'a' * 64}",
        "# generator: datamodel-code-generator 0.89.0",
        f"# recipe: {'b' * 16}",
        f"# body-sha256: {'c' * 64}",
    ]
    assert gen.render("typescript", header, "").startswith("// Generated by")


@pytest.mark.parametrize("text", [
    "", "x = 1\n", "# Generated by something else\n\nx\n",
    "# Generated by `trunkline contracts generate`; do not edit: change the contract and regenerate.\n"
    "# source: a.yaml\n\nx\n",  # fields missing
    "# Generated by `trunkline contracts generate`; do not edit: change the contract and regenerate.\n"
    "# source: a.yaml\n# source: b.yaml\n\n",  # repeated field
])
def test_files_without_a_valid_header_are_unmanaged(text: str) -> None:
    assert gen.parse(text) == (None, text)


# --- drift over an in-memory repository ------------------------------------------------------

def _generated(files: dict[str, str], source_path: str, output: str, body: str, *, options=None,
               kind: str = "openapi", source_name: str | None = None) -> None:
    read = memory_reader(files)
    digest = gen.digest_source(source_path, read)
    recipe = tools.recipe_for("python", kind, options or {}).digest()
    files[output] = gen.file_text("python", source_name or source_path, digest.sha256, digest.refs_sha256, recipe,
                                  "datamodel-code-generator 0.89.0", body)


def states(config: ContractsSection, files: dict[str, str]) -> dict[str, str]:
    return {s.output: s.state for s in gen.drift(config, memory_reader(files))}


def test_drift_states() -> None:
    config = contracts()
    files = {"api/pets.yaml": PETS, "api/events.yaml": EVENTS}
    assert states(config, files) == {"app/models.py": gen.MISSING, "app/events.py": gen.MISSING}
    _generated(files, "api/pets.yaml", "app/models.py", "class Pet: ...\n")
    _generated(files, "api/events.yaml", "app/events.py", "class UserSignedUp: ...\n", kind="asyncapi")
    assert states(config, files) == {"app/models.py": gen.OK, "app/events.py": gen.OK}

    changed = dict(files, **{"api/pets.yaml": PETS.replace("name: {type: string}", "name: {type: integer}")})
    assert states(config, changed)["app/models.py"] == gen.STALE
    assert states(config, changed)["app/events.py"] == gen.OK

    edited = dict(files, **{"app/models.py": files["app/models.py"] + "# tweak\n"})
    assert states(config, edited)["app/models.py"] == gen.EDITED

    unmanaged = dict(files, **{"app/models.py": "class Pet: ...\n"})
    assert states(config, unmanaged)["app/models.py"] == gen.UNMANAGED

    options = contracts(CONFIG.replace("output: app/models.py}", "output: app/models.py, options: {snake-case-field: true}}"))
    assert states(options, files)["app/models.py"] == gen.RECIPE

    no_source = {k: v for k, v in files.items() if k != "api/pets.yaml"}
    assert states(config, no_source)["app/models.py"] == gen.SOURCE_MISSING

    moved = dict(files)
    _generated(moved, "api/pets.yaml", "app/models.py", "class Pet: ...\n", source_name="api/old.yaml")
    assert states(config, moved)["app/models.py"] == gen.STALE


def test_kind_is_detected_unless_configured() -> None:
    config = contracts(CONFIG.replace("- path: api/pets.yaml", "- path: api/pets.yaml\n      kind: asyncapi"))
    files = {"api/pets.yaml": PETS, "api/events.yaml": EVENTS}
    _generated(files, "api/pets.yaml", "app/models.py", "x\n", kind="openapi")
    # generated with the detected kind, but the configuration now says asyncapi: the recipe differs
    assert states(config, files)["app/models.py"] == gen.RECIPE
    unknown = dict(files, **{"api/pets.yaml": "title: not a contract\n"})
    [state] = [s for s in gen.drift(contracts(), memory_reader(unknown)) if s.output == "app/models.py"]
    assert state.state == gen.ERROR and "set `kind:`" in state.detail


def test_referenced_files_are_part_of_the_source_hash() -> None:
    main_doc = PETS.replace('{$ref: "#/components/schemas/Pet"}', '{$ref: "schemas/pet.yaml"}')
    pet = "type: object\nproperties:\n  owner: {$ref: './owner.yaml#/Owner'}\n"
    owner = "Owner: {type: string}\n"
    files = {"api/pets.yaml": main_doc, "api/schemas/pet.yaml": pet, "api/schemas/owner.yaml": owner,
             "api/events.yaml": EVENTS}
    digest = gen.digest_source("api/pets.yaml", memory_reader(files))
    assert digest.refs == ("api/schemas/owner.yaml", "api/schemas/pet.yaml") and digest.refs_sha256
    _generated(files, "api/pets.yaml", "app/models.py", "x\n")
    assert states(contracts(), files)["app/models.py"] == gen.OK
    files["api/schemas/owner.yaml"] = "Owner: {type: integer}\n"  # two hops away
    [state] = [s for s in gen.drift(contracts(), memory_reader(files)) if s.output == "app/models.py"]
    assert state.state == gen.STALE and "references" in state.detail


def test_reference_cycles_and_missing_refs_terminate() -> None:
    files = {"a.yaml": "x: {$ref: 'b.yaml'}\n", "b.yaml": "y: {$ref: 'a.yaml#/x'}\nz: {$ref: 'gone.yaml'}\n"}
    digest = gen.digest_source("a.yaml", memory_reader(files))
    assert digest.refs == ("b.yaml",) and digest.missing_refs == ("gone.yaml",)


def test_relative_refs_scan() -> None:
    text = """
    a: {$ref: "#/components/schemas/X"}
    b: {$ref: 'common/user.yaml#/User'}
    "$ref": "../shared/x.json"
    c: {$ref: https://example.com/schema.json}
    d: {$ref: ../../../outside.yaml}
    """
    assert relative_refs(text, "contracts/api/openapi.yaml") == [
        "contracts/api/common/user.yaml", "contracts/shared/x.json"]


@pytest.mark.parametrize("text,kind", [
    (PETS, "openapi"), (EVENTS, "asyncapi"), ('{"openapi": "3.0.3", "info": {}}', "openapi"),
    ("# comment\nasyncapi: '2.6.0'\n", "asyncapi"), ("swagger: '2.0'\n", None), ("title: x\n", None),
])
def test_detect_kind(text: str, kind: str | None) -> None:
    assert detect_kind(text) == kind


# --- real generation -------------------------------------------------------------------------

def test_generate_writes_headed_pydantic_models_and_check_passes_by_hash(repo: Path, monkeypatch, capsys) -> None:
    assert main(["contracts", "generate", "--root", str(repo)]) == 0
    assert "wrote app/models.py" in capsys.readouterr().out
    models = (repo / "app/models.py").read_text()
    header, body = gen.parse(models)
    assert header is not None and header.source == "api/pets.yaml"
    assert header.source_sha256 == gen.sha256((repo / "api/pets.yaml").read_bytes())
    assert header.generator.startswith("datamodel-code-generator 0.89")
    assert "class Pet(BaseModel):" in body and "datamodel-codegen" not in body

    assert load_module(repo / "app/models.py").Pet.model_validate({"id": 1, "name": "Rex"}).name == "Rex"
    events = load_module(repo / "app/events.py")
    assert events.UserSignedUp(user_id="u1").user_id == "u1"
    with pytest.raises(ValueError):
        events.UserSignedUp.model_validate({"email": "x@example.com"})  # user_id is required

    # the check never runs a generator: make any generator call explode
    def boom(*_a, **_k):
        raise AssertionError("generator ran on the fast path")
    monkeypatch.setattr(gen, "generate_body", boom)
    assert main(["contracts", "generate", "--check", "--root", str(repo)]) == 0
    assert "2 generated file(s) up to date" in capsys.readouterr().out


def test_check_prints_a_diff_for_stale_and_edited_files(repo: Path, capsys) -> None:
    assert main(["contracts", "generate", "--root", str(repo)]) == 0
    capsys.readouterr()
    pets = repo / "api/pets.yaml"
    pets.write_text(PETS.replace("name: {type: string}", "name: {type: string}\n        tag: {type: string}"))
    assert main(["contracts", "generate", "--check", "--root", str(repo)]) == 1
    out, err = capsys.readouterr()
    assert "app/models.py (python, from api/pets.yaml) is stale" in out
    assert "--- a/app/models.py" in out and "+    tag: str | None = None" in out
    assert "run `trunkline contracts generate`" in err

    assert main(["contracts", "generate", "--root", str(repo)]) == 0
    assert main(["contracts", "generate", "--check", "--root", str(repo)]) == 0
    models = repo / "app/models.py"
    models.write_text(models.read_text().replace("tag: str | None = None", "tag: str = 'x'"))
    capsys.readouterr()
    assert main(["contracts", "generate", "--check", "--root", str(repo)]) == 1
    out, _ = capsys.readouterr()
    assert "was edited by hand" in out
    assert "-    tag: str = 'x'" in out and "+    tag: str | None = None" in out


def test_generation_is_deterministic_and_independent_of_location(repo: Path, tmp_path_factory) -> None:
    config = contracts()
    gen.generate(repo, config)
    first = (repo / "app/models.py").read_bytes()
    assert gen.generate(repo, config, force=True).written == []  # same bytes again: nothing rewritten
    elsewhere = make_repo(tmp_path_factory.mktemp("other") / "deep" / "checkout",
                          {"api/pets.yaml": PETS, "api/events.yaml": EVENTS})
    gen.generate(elsewhere, config)
    assert (elsewhere / "app/models.py").read_bytes() == first


def test_regenerate_returns_changed_paths(repo: Path) -> None:
    config = contracts()
    assert sorted(map(str, gen.regenerate(repo, config))) == ["app/events.py", "app/models.py"]
    assert gen.regenerate(repo, config) == []
    (repo / "api/events.yaml").write_text(EVENTS.replace("maxLength: 254}", "maxLength: 254}\n        name: {type: string}"))
    assert gen.regenerate(repo, config) == [Path("app/events.py")]


def test_missing_python_generator_names_what_to_install(repo: Path, monkeypatch, capsys) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "datamodel_code_generator" else real(name, *a))
    assert main(["contracts", "generate", "--root", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "pip install 'datamodel-code-generator>=0.89,<0.90'" in err and "Traceback" not in err
    with pytest.raises(gen.GenerateError) as info:
        gen.regenerate(repo, contracts())
    assert len(info.value.report.errors) == 2


def test_missing_node_tool_names_what_to_install(repo: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRUNKLINE_NODE_PREFIX", str(repo / "empty-prefix"))
    config = CONFIG.replace("output: app/models.py}", "output: app/models.py}\n        - {language: typescript, output: web/api.ts}")
    (repo / ".github/trunkline.yml").write_text(config)
    assert main(["contracts", "generate", "--root", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "web/api.ts: TypeScript from OpenAPI needs openapi-typescript@7.13.0" in err
    assert "trunkline contracts tools install" in err and "npm install --prefix" in err
    assert (repo / "app/models.py").exists()  # the other targets were still generated
    capsys.readouterr()
    assert main(["contracts", "generate", "--check", "--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "web/api.ts (typescript, from api/pets.yaml) not generated yet" in out
    assert "cannot show what it should be" in out


def test_config_errors_and_unconfigured_repos(tmp_path: Path, capsys) -> None:
    assert main(["contracts", "generate", "--check", "--root", str(tmp_path)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    make_repo(tmp_path, {".github/trunkline.yml": "contracts:\n  sources:\n    - path: /etc/passwd\n"})
    assert main(["contracts", "generate", "--check", "--root", str(tmp_path)]) == 2
    assert ".github/trunkline.yml:3:13 contracts.sources[0].path" in capsys.readouterr().err


def test_trunklines_own_generated_models_are_current() -> None:
    """Tier 0 drift check for this repository (also run by `make verify-fast`)."""
    local = load_local_config(REPO)
    assert {t.output for s in local.contracts.sources for t in s.targets} >= {
        "bot/trunkline/api/ingest.py", "bot/trunkline/api/events.py"}
    problems = [s.message() for s in gen.drift(local.contracts, gen.local_reader(REPO)) if not s.ok]
    assert problems == [], "run `trunkline contracts generate`"


# --- quicktype inputs ------------------------------------------------------------------------

def test_quicktype_inputs_for_asyncapi_messages_and_openapi_schemas() -> None:
    from trunkline.contracts.extract import load_document

    events = quicktype_inputs("asyncapi", load_document(EVENTS))
    assert list(events) == ["UserSignedUp"]
    assert events["UserSignedUp"]["$ref"] == "#/definitions/UserSignedUp"
    assert "UserSignedUp" in events["UserSignedUp"]["definitions"]

    v2 = {"asyncapi": "2.6.0", "channels": {"light/measured": {"publish": {"message": {
        "name": "lightMeasured", "payload": {"type": "object", "properties": {"lumens": {"type": "integer"}}}}}}}}
    assert list(quicktype_inputs("asyncapi", v2)) == ["LightMeasured"]

    v30 = {"openapi": "3.0.3", "components": {"schemas": {"Pet": {"type": "object", "properties": {
        "tag": {"type": "string", "nullable": True}, "owner": {"$ref": "#/components/schemas/Owner"}}},
        "Owner": {"type": "string"}}}}
    pets = quicktype_inputs("openapi", v30)
    assert set(pets) == {"Pet", "Owner"}
    pet = pets["Pet"]["definitions"]["Pet"]["properties"]
    assert pet["tag"] == {"type": ["string", "null"]} and pet["owner"] == {"$ref": "#/definitions/Owner"}


@pytest.mark.slow
def test_in_process_generation_matches_the_datamodel_codegen_command(tmp_path: Path) -> None:
    """What we write is exactly what `datamodel-codegen` prints for the recipe (reproducible by hand)."""
    import subprocess

    src = tmp_path / "events.yaml"
    src.write_text(EVENTS)
    recipe = tools.recipe_for("python", "asyncapi", {})
    ours = tools.generate_body(src, recipe, node_prefix=tmp_path).body
    out = tmp_path / "cli.py"
    subprocess.run([sys.executable, "-m", "datamodel_code_generator", "--input", str(src), "--input-file-type",
                    "asyncapi", "--output", str(out), "--ignore-pyproject", *recipe.args], check=True, cwd=tmp_path)
    assert ours == tools._normalise(tools._DMCG_BANNER.sub("", out.read_text(), count=1))


def test_remote_and_missing_refs_are_refused_before_any_generator_runs(repo: Path, monkeypatch) -> None:
    monkeypatch.setattr(gen, "generate_body", lambda *a, **k: pytest.fail("a generator ran"))
    pets = repo / "api/pets.yaml"
    pets.write_text(PETS.replace('{$ref: "#/components/schemas/Pet"}', '{$ref: "https://example.com/pet.json"}'))
    report = gen.generate(repo, contracts(), only=["app/models.py"])
    assert report.errors == ["app/models.py: api/pets.yaml refers to https://example.com/pet.json; remote $refs are "
                             "not supported (vendor the file into the repository and refer to it relatively)"]
    pets.write_text(PETS.replace('{$ref: "#/components/schemas/Pet"}', '{$ref: "gone.yaml"}'))
    [error] = gen.generate(repo, contracts(), only=["app/models.py"]).errors
    assert "refers to missing file(s): api/gone.yaml" in error
