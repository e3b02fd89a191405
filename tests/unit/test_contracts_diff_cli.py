"""``trunkline contracts diff`` through ``register_diff`` on a fresh parser: files, git REV:PATH, formats."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest

from trunkline.contracts.cli_diff import register_diff

BASE = """\
openapi: 3.0.3
info: {title: pets, version: '1'}
paths:
  /pets:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer, maximum: 100}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: string}
        name: {type: string}
"""
HEAD = BASE.replace("maximum: 100", "maximum: 50").replace("required: [id, name]", "required: [id]")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="trunkline contracts")
    register_diff(parser.add_subparsers(dest="sub"))
    args = parser.parse_args(["diff", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    def git(*a: str) -> None:
        subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "openapi.yaml").write_text(BASE)
    git("add", ".")
    git("commit", "-q", "-m", "base")
    (tmp_path / "contracts" / "openapi.yaml").write_text(HEAD)
    return tmp_path


def test_json_output_exit_code_and_lines(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["main:contracts/openapi.yaml", "contracts/openapi.yaml", "--format", "json", "-C", str(repo)],
                       capsys)
    assert code == 1
    data = json.loads(out)
    assert data["breaking"] is True
    by_id = {f["id"]: f for f in data["findings"]}
    assert set(by_id) == {"request-parameter-max-decreased", "response-property-became-optional"}
    for f in data["findings"]:
        assert set(f) == {"id", "level", "message", "source"}
        assert set(f["source"]) == {"file", "line", "pointer"}
        assert f["source"]["file"] == "contracts/openapi.yaml"
    lines = HEAD.splitlines()
    assert "maximum: 50" in lines[by_id["request-parameter-max-decreased"]["source"]["line"] - 1]
    assert "name:" in lines[by_id["response-property-became-optional"]["source"]["line"] - 1]


def test_fail_on_overrides_and_ignores(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["main:contracts/openapi.yaml", "contracts/openapi.yaml", "-C", str(repo)]
    assert run([*args, "--fail-on", "never"], capsys)[0] == 0
    code, out, _ = run([*args, "--level", "request-parameter-max-decreased=WARN",
                        "--ignore", "response-property-became-optional:clients never read name"], capsys)
    assert code == 0
    assert "request-parameter-max-decreased" in out and "became-optional" not in out
    assert run([*args, "--level", "request-parameter-max-decreased=WARN", "--fail-on", "WARN",
                "--ignore", "response-*:agreed with consumers"], capsys)[0] == 1


def test_github_and_markdown_formats(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["main:contracts/openapi.yaml", "contracts/openapi.yaml", "-C", str(repo)]
    _, out, _ = run([*args, "--format", "github"], capsys)
    ann = json.loads(out)
    assert {a["annotation_level"] for a in ann} == {"failure"}
    assert all(a["path"] == "contracts/openapi.yaml" and a["start_line"] >= 1 for a in ann)
    _, md, _ = run([*args, "--format", "markdown"], capsys)
    assert md.startswith("**2 findings: 2 ERR") and "| Level | Rule | Where | Change |" in md


def test_same_contract_is_clean(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["main:contracts/openapi.yaml", "main:contracts/openapi.yaml", "-C", str(repo)], capsys)
    assert code == 0 and "0 findings" in out


@pytest.mark.parametrize("argv,needle", [
    (["nope.yaml", "contracts/openapi.yaml"], "nope.yaml: no such file"),
    (["main:missing.yaml", "contracts/openapi.yaml"], "main:missing.yaml:"),
    (["contracts/openapi.yaml", "broken.yaml"], "broken.yaml:3:1: invalid YAML"),
    (["contracts/openapi.yaml", "async.yaml"], "cannot compare openapi"),
])
def test_bad_input_is_a_clear_message(repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                      needle: str) -> None:
    (repo / "broken.yaml").write_text("openapi: 3.0.0\npaths: [\n")
    (repo / "async.yaml").write_text("asyncapi: 3.0.0\ninfo: {title: t, version: '1'}\n")
    code, out, err = run([*argv, "-C", str(repo)], capsys)
    assert code == 2 and out == ""
    assert needle in err and "Traceback" not in err
