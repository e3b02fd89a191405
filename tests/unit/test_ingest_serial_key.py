"""serial_key: which deliveries are serialized against each other (pure), checked on octokit's
real example payloads and on generated ones."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.corpus import webhook_examples_dir
from trunkline.jobs.keys import branch_of, serial_key

names = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)
repos = st.tuples(names, names).map("/".join)
branches = st.from_regex(r"[A-Za-z0-9_.-]{1,10}(/[A-Za-z0-9_.-]{1,10})?", fullmatch=True)


def _example(rel: str) -> dict:
    path = webhook_examples_dir() / rel
    if not path.exists():
        pytest.skip(f"corpus example {rel} not found at {path}")
    return json.loads(path.read_text())


def test_pull_request_example_keys_on_repo_and_base() -> None:
    p = _example("pull_request/opened.payload.json")
    assert serial_key("pull_request", p) == f"{p['repository']['full_name']}@{p['pull_request']['base']['ref']}".lower()


def test_push_example_keys_on_branch() -> None:
    p = _example("push/with-new-branch.payload.json")
    assert p["ref"].startswith("refs/heads/")
    assert serial_key("push", p) == f"{p['repository']['full_name']}@{p['ref'][len('refs/heads/'):]}".lower()


def test_tag_push_example_keys_on_the_whole_ref() -> None:
    p = _example("push/payload.json")
    assert p["ref"] == "refs/tags/simple-tag"
    assert serial_key("push", p) == f"{p['repository']['full_name']}@refs/tags/simple-tag".lower()


def test_examples_never_crash() -> None:
    base = webhook_examples_dir()
    if not base.exists():
        pytest.skip(f"corpus not found at {base}")
    for path in sorted(base.glob("*/*.json")):
        payload = json.loads(path.read_text())
        key = serial_key(path.parent.name, payload)
        assert key is None or key.startswith(payload["repository"]["full_name"].lower())


@given(repos, branches)
def test_push_and_pr_into_the_same_branch_share_a_key(repo: str, branch: str) -> None:
    pr = {"repository": {"full_name": repo}, "pull_request": {"base": {"ref": branch}}}
    push = {"repository": {"full_name": repo}, "ref": f"refs/heads/{branch}"}
    assert serial_key("pull_request", pr) == serial_key("push", push) == f"{repo}@{branch}".lower()
    assert serial_key("pull_request_review", pr) == serial_key("pull_request", pr)


@given(repos, branches, branches)
def test_different_bases_get_different_keys(repo: str, a: str, b: str) -> None:
    ka = serial_key("pull_request", {"repository": {"full_name": repo}, "pull_request": {"base": {"ref": a}}})
    kb = serial_key("pull_request", {"repository": {"full_name": repo}, "pull_request": {"base": {"ref": b}}})
    assert (ka == kb) == (a.lower() == b.lower())


@given(repos, st.lists(branches, max_size=3), st.sampled_from(["check_run", "check_suite"]))
def test_checks_use_the_pr_base_only_when_unambiguous(repo: str, bases: list[str], event: str) -> None:
    payload = {"repository": {"full_name": repo}, event: {"pull_requests": [{"base": {"ref": b}} for b in bases]}}
    key = serial_key(event, payload)
    if len(set(bases)) == 1:
        assert key == f"{repo}@{bases[0]}".lower()
    else:
        assert key == repo.lower()


@given(repos)
def test_status_and_other_events_key_on_the_repo(repo: str) -> None:
    for event in ("status", "issue_comment", "issues", "deployment_status", "workflow_run", "brand_new_event"):
        assert serial_key(event, {"repository": {"full_name": repo}, "branches": [{"name": "main"}]}) == repo.lower()


def test_merge_group_keys_on_base() -> None:
    p = {"repository": {"full_name": "O/R"}, "merge_group": {"base_ref": "refs/heads/main"}}
    assert serial_key("merge_group", p) == "o/r@main"


@given(st.sampled_from(["push", "pull_request", "check_run", "status", "installation"]),
       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                    max_leaves=12))
def test_arbitrary_payloads_never_crash(event: str, payload: object) -> None:
    key = serial_key(event, payload)
    assert key is None or isinstance(key, str)


def test_no_repository_means_no_lock() -> None:
    assert serial_key("installation", {"action": "created", "installation": {"id": 1}}) is None
    assert serial_key("push", {"repository": {"full_name": ""}, "ref": "refs/heads/main"}) is None


def test_branch_of() -> None:
    assert branch_of("refs/heads/feature/x") == "feature/x"
    assert branch_of("main") == "main"
    assert branch_of("refs/tags/v1") == "refs/tags/v1"
    assert branch_of("") is None and branch_of(None) is None
