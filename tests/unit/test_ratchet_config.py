"""The ``ratchets:`` section of ``.github/trunkline.yml``: safe defaults, positioned errors, hints."""

from __future__ import annotations

from trunkline.config import parse_config


def issues(text: str) -> list[str]:
    return [f"{i.line}:{i.column} {i.key}: {i.message}" for i in parse_config(text).issues]


def test_defaults_measure_nothing() -> None:
    section = parse_config("version: 1\n").config.ratchets
    assert not section.configured and section.commands == []
    assert section.baseline == ".github/trunkline-ratchets.yml" and section.update == "auto"
    assert section.timeout_minutes == 15 and section.measure_base


def test_configured() -> None:
    section = parse_config("ratchets:\n  commands: [make cov]\n  update: pull_request\n").config.ratchets
    assert section.configured and section.update == "pull_request"


def test_errors_point_at_the_key() -> None:
    assert issues("ratchets:\n  timeout: 3\n") == [
        "2:3 ratchets.timeout: unknown key 'timeout' (did you mean 'timeout_minutes'?)"]
    [problem] = issues("ratchets:\n  baseline: /etc/passwd\n")
    assert problem.startswith("2:13 ratchets.baseline:") and "relative to the repository root" in problem
    [problem] = issues("ratchets:\n  update: sometimes\n")
    assert problem.startswith("2:11 ratchets.update:") and "auto" in problem
    [problem] = issues("ratchets:\n  commands: make cov\n")
    assert problem.startswith("2:13 ratchets.commands: expected a list")
    [problem] = issues("ratchets:\n  timeout_minutes: 0\n")
    assert problem.startswith("2:20 ratchets.timeout_minutes:")
