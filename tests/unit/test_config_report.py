"""What the trunkline/config check run shows."""

from __future__ import annotations

import functools
import json

import jsonschema
import pytest

from trunkline.config import ConfigIssue, ConfigResult, config_check_output, parse_config, resolve_config
from trunkline.config.report import MAX_ANNOTATIONS
from trunkline.corpus import rest_description_path

CFG = ".github/trunkline.yml"


@functools.cache
def output_schema() -> dict:
    """``output`` of POST /repos/{owner}/{repo}/check-runs in GitHub's REST description."""
    path = rest_description_path()
    if not path.exists():
        pytest.skip(f"GitHub REST description not found at {path}")
    spec = json.loads(path.read_text(encoding="utf-8"))
    body = spec["paths"]["/repos/{owner}/{repo}/check-runs"]["post"]["requestBody"]
    return body["content"]["application/json"]["schema"]["properties"]["output"]


def assert_valid_output(output: dict) -> None:
    json.dumps(output)  # JSON-able
    jsonschema.Draft4Validator(output_schema()).validate(output)


def files(mapping: dict[tuple[str, str, str], str]):
    return lambda owner, repo, path: mapping.get((owner, repo, path))


def test_valid_config_summary_lists_sources_and_effective_settings():
    fetch = files(
        {
            ("acme", ".github", CFG): "merge:\n  required_approvals: 2\n",
            ("acme", "app", CFG): "merge:\n  method: rebase\n  required_checks: [ci/test]\n",
        }
    )
    out = config_check_output(resolve_config("acme", "app", fetch))
    assert out.conclusion == "success" and out.title == "Configuration valid" and out.annotations == []
    assert (
        "1. built-in defaults\n2. `acme/.github:.github/trunkline.yml`\n3. `.github/trunkline.yml`"
        in out.summary
    )
    assert "- merge method: `rebase`, when labelled `auto-merge`" in out.summary
    assert "- required approvals: 2" in out.summary
    assert "- required checks: `ci/test`" in out.summary
    assert "- command permissions: other commands need write" in out.summary
    assert out.name == "trunkline/config"
    assert_valid_output(out.to_api())


def test_problems_in_the_repo_file_become_annotations():
    result = parse_config("merge:\n  method: squosh\n  lable: x\n")
    out = config_check_output(result)
    assert out.conclusion == "failure"
    assert out.title == "2 problems in .github/trunkline.yml"
    api = out.to_api()
    assert api["annotations"] == [
        {
            "path": CFG,
            "start_line": 2,
            "end_line": 2,
            "start_column": 11,
            "end_column": 11,
            "annotation_level": "failure",
            "title": "Trunkline config: merge.method",
            "message": "'squosh' is not one of merge, squash, rebase",
        },
        {
            "path": CFG,
            "start_line": 3,
            "end_line": 3,
            "start_column": 3,
            "end_column": 3,
            "annotation_level": "failure",
            "title": "Trunkline config: merge.lable",
            "message": "unknown key 'lable' (did you mean 'label'?)",
        },
    ]
    assert "`.github/trunkline.yml:2:11` `merge.method`: 'squosh' is not one of" in api["summary"]
    assert_valid_output(api)


def test_single_problem_title_and_yaml_errors():
    out = config_check_output(parse_config("merge: [\n"))
    assert out.title == "1 problem in .github/trunkline.yml"
    (annotation,) = out.annotations
    assert annotation.title == "Trunkline config" and annotation.message.startswith("invalid YAML: ")


def test_problems_in_other_repositories_go_to_the_summary_only():
    fetch = files(
        {
            ("acme", ".github", CFG): "merge:\n  method: squosh\n",
            ("acme", "app", CFG): "merge:\n  delete_branch: 0\n",
        }
    )
    out = config_check_output(resolve_config("acme", "app", fetch))
    assert out.conclusion == "failure"
    assert out.title == "2 problems in 2 files"
    assert [a.path for a in out.annotations] == [CFG]
    assert "`acme/.github:.github/trunkline.yml:2:11` `merge.method`: 'squosh'" in out.summary
    assert_valid_output(out.to_api())


def test_annotations_are_capped_at_the_api_limit_but_every_issue_is_listed():
    text = "merge:\n" + "".join(f"  unknown{n}: 1\n" for n in range(60))
    out = config_check_output(parse_config(text))
    assert len(out.annotations) == MAX_ANNOTATIONS == 50
    assert out.title == "60 problems in .github/trunkline.yml"
    assert "unknown59" in out.summary
    assert "Only the first 50 problems are annotated" in out.summary
    assert_valid_output(out.to_api())


def test_columns_only_on_single_line_annotations():
    from trunkline.config.report import Annotation

    multi = Annotation(CFG, 1, 3, "failure", "m", start_column=2, end_column=4).to_api()
    assert "start_column" not in multi and "end_column" not in multi
    single = Annotation(CFG, 2, 2, "warning", "m", start_column=5).to_api()
    assert (single["start_column"], single["end_column"]) == (5, 5)


def test_warnings_do_not_fail_the_check():
    result = ConfigResult(parse_config("").config, [ConfigIssue(CFG, 1, 1, "merge", "odd", "warning")])
    out = config_check_output(result)
    assert out.conclusion == "success" and out.title == "Configuration valid (1 warning)"
    assert "**Warnings**" in out.summary and "odd" in out.summary


def test_command_permissions_in_summary():
    out = config_check_output(parse_config("commands:\n  permissions: {merge: triage, deploy: admin}\n"))
    assert "- command permissions: `deploy` admin, `merge` triage; other commands need write" in out.summary


def test_values_with_backticks_do_not_break_markdown():
    out = config_check_output(parse_config("merge:\n  label: 'a`b'\n"))
    assert "`` a`b ``" in out.summary
