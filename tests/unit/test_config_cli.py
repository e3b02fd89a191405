"""`trunkline config validate|schema` through the real top-level CLI."""

from __future__ import annotations

import json

from trunkline.cli import main
from trunkline.config import config_json_schema


def test_valid_file(tmp_path, capsys):
    path = tmp_path / "t.yml"
    path.write_text("merge:\n  method: rebase\n", encoding="utf-8")
    assert main(["config", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"ok: {path} is valid\n" and err == ""


def test_invalid_file_prints_one_issue_per_line_to_stderr(tmp_path, capsys):
    path = tmp_path / "t.yml"
    path.write_text("merge:\n  method: squosh\n  lable: x\n", encoding="utf-8")
    assert main(["config", "validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:2:11 merge.method: 'squosh' is not one of merge, squash, rebase",
        f"{path}:3:3 merge.lable: unknown key 'lable' (did you mean 'label'?)",
    ]


def test_default_file_is_the_repository_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["config", "validate"]) == 1
    assert capsys.readouterr().err == "error: .github/trunkline.yml: no such file\n"
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "trunkline.yml").write_text("", encoding="utf-8")
    assert main(["config", "validate"]) == 0
    assert capsys.readouterr().out == "ok: .github/trunkline.yml is valid\n"


def test_unreadable_inputs(tmp_path, capsys):
    assert main(["config", "validate", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err
    binary = tmp_path / "b.yml"
    binary.write_bytes(b"merge:\n  label: \xff\n")
    assert main(["config", "validate", str(binary)]) == 1
    assert capsys.readouterr().err == f"error: {binary}: not UTF-8 text (byte 16)\n"


def test_utf8_bom_is_accepted(tmp_path, capsys):
    path = tmp_path / "bom.yml"
    path.write_bytes("\ufeffmerge:\n  method: merge\n".encode())
    assert main(["config", "validate", str(path)]) == 0


def test_schema_command_prints_the_schema(capsys):
    assert main(["config", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_json_schema()


def test_bare_config_command_shows_help(capsys):
    assert main(["config"]) == 2
    assert "validate" in capsys.readouterr().out
