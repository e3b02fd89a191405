"""Deployments (+ statuses) and GitHub Actions workflows/runs over HTTP, with their webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_hooks import SandboxEnv

from trunkline.sandbox import git
from trunkline.sandbox.routes.actions import complete_run, dispatch_inputs, start_run, triggers
from trunkline.sandbox.routes.deployments import can_delete, failing_contexts
from trunkline.sandbox.world import Deployment, DeploymentStatus

CI_YML = """\
name: CI
on:
  push:
  workflow_dispatch:
    inputs:
      tier:
        description: which tier
        required: true
      verbose:
        default: "no"
"""
DEPLOY_YAML = "name: Deploy\non: [push]\n"


class Env(SandboxEnv):
    repo: Any
    first: str
    main_sha: str


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path / "w")
    e.repo = e.world.add_repo("acme", "widgets")
    e.repo.collaborators["wes"] = "write"
    e.first = git.init_repo(e.repo, {"README.md": "# widgets\n"}, "acme")
    git.commit_files(e.repo, "old", {"old.txt": "old\n"}, "old branch", author_login="wes", base="main")
    e.main_sha = git.commit_files(e.repo, "main", {".github/workflows/ci.yml": CI_YML,
                                                   ".github/workflows/deploy.yaml": DEPLOY_YAML,
                                                   ".github/workflows/notes.txt": "not a workflow"},
                                  "Add workflows", author_login="acme")
    yield e
    e.close()


def gh_repo(env: Env, login: str = "wes") -> Any:
    return env.gh(login).get_repo("acme/widgets", lazy=True)


# ============================================================================ deployments

def test_deployment_and_statuses(env: Env) -> None:
    repo = gh_repo(env)
    first = repo.create_deployment(ref="main", environment="staging", required_contexts=[], auto_merge=False,
                                   payload={"canary": 5}, description="first")
    assert first.sha == env.main_sha and first.environment == "staging" and first.payload == {"canary": 5}
    assert first.creator.login == "wes" and first.task == "deploy"
    first.create_status("in_progress", description="rolling out")
    first.create_status("success", environment_url="http://127.0.0.1:9/staging", target_url="http://127.0.0.1:9/log")
    second = repo.create_deployment(ref=env.main_sha, environment="staging", required_contexts=[], auto_merge=False)
    prod = repo.create_deployment(ref="main", environment="production", required_contexts=[], auto_merge=False)
    prod.create_status("success")
    second.create_status("success")  # auto_inactive: retires `first` (same environment), not `prod`

    assert [s.state for s in first.get_statuses()] == ["inactive", "success", "in_progress"]
    assert [s.state for s in prod.get_statuses()] == ["success"]
    latest = first.get_statuses()[1]
    assert first.get_status(latest.id).environment_url == "http://127.0.0.1:9/staging"
    assert [d.id for d in repo.get_deployments(environment="staging")] == [second.id, first.id]
    assert [d.id for d in repo.get_deployments()] == [prod.id, second.id, first.id]
    assert repo.get_deployment(prod.id).production_environment is True
    with env.http("wes") as http:
        assert http.get(f"/repos/acme/widgets/deployments/{first.id}/statuses/999").status_code == 404
        bad = http.post(f"/repos/acme/widgets/deployments/{first.id}/statuses", json={"state": "done"})
        assert bad.status_code == 422
        moved = http.post(f"/repos/acme/widgets/deployments/{prod.id}/statuses",
                          json={"state": "queued", "environment": "production-eu", "auto_inactive": False})
        assert moved.json()["environment"] == "production-eu"
        assert http.get(f"/repos/acme/widgets/deployments/{prod.id}").json()["environment"] == "production-eu"
    with env.http("rando") as http:
        assert http.post("/repos/acme/widgets/deployments", json={"ref": "main"}).status_code == 403

    assert [h["deployment"]["id"] for h in env.hooks("deployment", "created")] == [first.id, second.id, prod.id]
    states = [(h["deployment"]["id"], h["deployment_status"]["state"]) for h in env.hooks("deployment_status")]
    assert states == [(first.id, "in_progress"), (first.id, "success"), (prod.id, "success"),
                      (second.id, "success"), (prod.id, "queued")], "no webhook for the automatic inactive"
    env.assert_faithful()


def test_required_contexts_gate(env: Env) -> None:
    repo = gh_repo(env)
    commit = repo.get_commit(env.main_sha)
    commit.create_status("success", context="lint")
    commit.create_status("failure", context="ci")
    with env.http("wes") as http:
        blocked = http.post("/repos/acme/widgets/deployments", json={"ref": "main", "auto_merge": False})
        assert blocked.status_code == 409
        assert blocked.json()["errors"][0]["contexts"] == [{"context": "ci", "state": "failure"}]
        only_lint = http.post("/repos/acme/widgets/deployments",
                              json={"ref": "main", "auto_merge": False, "required_contexts": ["lint"]})
        assert only_lint.status_code == 201
        missing = http.post("/repos/acme/widgets/deployments",
                            json={"ref": "main", "auto_merge": False, "required_contexts": ["e2e"]})
        assert missing.status_code == 409
        assert missing.json()["errors"][0]["contexts"] == [{"context": "e2e", "state": "missing"}]
        assert http.post("/repos/acme/widgets/deployments", json={"ref": "nope"}).status_code == 422
        assert http.post("/repos/acme/widgets/deployments", json={}).status_code == 422
    commit.create_status("success", context="ci")
    assert repo.create_deployment(ref="main", auto_merge=False).sha == env.main_sha
    with pytest.raises(github.GithubException) as exc:
        repo.create_deployment(ref="old", auto_merge=False, required_contexts=["ci"])
    assert exc.value.status == 409, "contexts are per commit: `old` has none"
    env.assert_faithful()


def test_auto_merge_merges_default_branch_first(env: Env) -> None:
    with env.http("wes") as http:
        answer = http.post("/repos/acme/widgets/deployments", json={"ref": "old", "required_contexts": []})
        assert answer.status_code == 202
        assert answer.json() == {"message": "Auto-merged main into old on deployment."}
        tip = git.branch_sha(env.repo, "old")
        assert tip and git.is_ancestor(env.repo, env.main_sha, tip)
        assert env.repo.deployments == {}, "202: nothing deployed yet, the caller asks again"
        again = http.post("/repos/acme/widgets/deployments", json={"ref": "old", "required_contexts": []})
        assert again.status_code == 201 and again.json()["sha"] == tip

        git.commit_files(env.repo, "main", {"README.md": "main side\n"}, "main", author_login="acme")
        git.commit_files(env.repo, "clash", {"README.md": "clash side\n"}, "clash", author_login="wes",
                         base=env.main_sha)
        conflict = http.post("/repos/acme/widgets/deployments", json={"ref": "clash", "required_contexts": []})
        assert conflict.status_code == 409
    assert [h["ref"] for h in env.hooks("push")] == ["refs/heads/old"]
    env.assert_faithful()


def test_delete_only_inactive_or_last(env: Env) -> None:
    repo = gh_repo(env)
    a = repo.create_deployment(ref="main", environment="qa", required_contexts=[], auto_merge=False)
    a.create_status("success")
    b = repo.create_deployment(ref="main", environment="qa", required_contexts=[], auto_merge=False)
    with env.http("wes") as http:
        refused = http.delete(f"/repos/acme/widgets/deployments/{b.id}")
        assert refused.status_code == 422, "active, and not the only one in qa"
        b.create_status("success")  # retires a
        assert http.delete(f"/repos/acme/widgets/deployments/{a.id}").status_code == 204
        assert http.delete(f"/repos/acme/widgets/deployments/{b.id}").status_code == 204, "now the only one"
        assert http.get(f"/repos/acme/widgets/deployments/{b.id}").status_code == 404
    env.assert_faithful()


def test_deployment_rules_are_pure() -> None:
    states = {"ci": "success", "lint": "failure", "e2e": "pending"}
    assert failing_contexts(states, None) == [{"context": "e2e", "state": "pending"},
                                              {"context": "lint", "state": "failure"}]
    assert failing_contexts(states, []) == []
    assert failing_contexts(states, ["ci"]) == []
    d = Deployment(id=1, sha="s", ref="main", task="deploy", environment="e", payload={}, description=None,
                   creator="u")
    assert can_delete(d, [])
    other = Deployment(id=2, sha="s", ref="main", task="deploy", environment="e", payload={}, description=None,
                       creator="u")
    assert not can_delete(d, [other])
    d.statuses.append(DeploymentStatus(id=3, deployment_id=1, state="inactive", creator="u"))
    assert can_delete(d, [other])


# ============================================================================ actions

def test_workflows_are_discovered_from_git(env: Env) -> None:
    repo = gh_repo(env)
    workflows = list(repo.get_workflows())
    assert [(w.name, w.path, w.state) for w in workflows] == [
        ("CI", ".github/workflows/ci.yml", "active"), ("Deploy", ".github/workflows/deploy.yaml", "active")]
    assert repo.get_workflow("ci.yml").id == workflows[0].id
    assert repo.get_workflow(workflows[1].id).name == "Deploy"
    with env.http("wes") as http:
        assert http.get("/repos/acme/widgets/actions/workflows/nope.yml").status_code == 404
    git.commit_files(env.repo, "main", {".github/workflows/deploy.yaml": None}, "drop deploy", author_login="acme")
    with env.http("wes") as http:
        listed = http.get("/repos/acme/widgets/actions/workflows").json()
        assert listed["total_count"] == 2
        assert {w["name"]: w["state"] for w in listed["workflows"]} == {"CI": "active", "Deploy": "deleted"}
    env.assert_faithful()


def test_dispatch_runs_and_the_runner(env: Env) -> None:
    repo = gh_repo(env)
    ci = repo.get_workflow("ci.yml")
    assert ci.create_dispatch("main", inputs={"tier": "fast"}) is True
    runs = list(repo.get_workflow_runs())
    assert len(runs) == 1
    run = runs[0]
    assert (run.status, run.event, run.head_branch, run.head_sha) == ("queued", "workflow_dispatch", "main",
                                                                      env.main_sha)
    assert env.repo.workflow_runs[run.id].inputs == {"tier": "fast", "verbose": "no"}

    start_run(env.world, env.repo, run.id)
    complete_run(env.world, env.repo, run.id, "failure")
    done = repo.get_workflow_run(run.id)
    assert done.status == "completed" and done.conclusion == "failure"

    with env.http("wes") as http:
        details = http.post(f"/repos/acme/widgets/actions/workflows/{ci.id}/dispatches",
                            json={"ref": "main", "inputs": {"tier": "slow"}, "return_run_details": True})
        assert details.status_code == 200
        second = details.json()["workflow_run_id"]
        assert http.post(f"/repos/acme/widgets/actions/runs/{second}/cancel").status_code == 202
        assert http.get(f"/repos/acme/widgets/actions/runs/{second}").json()["conclusion"] == "cancelled"
        assert http.post(f"/repos/acme/widgets/actions/runs/{second}/cancel").status_code == 409

        def ids(path: str, **params: Any) -> list[int]:
            body = http.get(path, params=params).json()
            return [r["id"] for r in body["workflow_runs"]]

        assert ids("/repos/acme/widgets/actions/runs") == [second, run.id]
        assert ids("/repos/acme/widgets/actions/runs", status="failure") == [run.id]
        assert ids("/repos/acme/widgets/actions/runs", status="completed") == [second, run.id]
        assert ids("/repos/acme/widgets/actions/runs", branch="old") == []
        assert ids("/repos/acme/widgets/actions/runs", event="push") == []
        assert ids("/repos/acme/widgets/actions/runs", head_sha=env.main_sha, actor="wes") == [second, run.id]
        assert ids("/repos/acme/widgets/actions/workflows/ci.yml/runs") == [second, run.id]
        assert http.get(f"/repos/acme/widgets/actions/runs/{second}").json()["run_number"] == 2

    assert [(h["action"], h["workflow_run"]["id"]) for h in env.hooks("workflow_run")] == [
        ("requested", run.id), ("in_progress", run.id), ("completed", run.id), ("requested", second),
        ("completed", second)]
    assert env.hooks("workflow_run", "completed")[0]["workflow"]["path"] == ".github/workflows/ci.yml"
    with pytest.raises(ValueError):
        complete_run(env.world, env.repo, run.id, "success")
    env.assert_faithful()


def test_dispatch_refusals(env: Env) -> None:
    with env.http("wes") as http:
        base = "/repos/acme/widgets/actions/workflows"
        assert http.post(f"{base}/ci.yml/dispatches", json={"inputs": {}}).status_code == 422
        assert http.post(f"{base}/ci.yml/dispatches", json={"ref": "nope", "inputs": {"tier": "x"}}).status_code == 422
        no_file = http.post(f"{base}/ci.yml/dispatches", json={"ref": "old", "inputs": {"tier": "x"}})
        assert no_file.status_code == 422, "the workflow file is not on that ref"
        no_trigger = http.post(f"{base}/deploy.yaml/dispatches", json={"ref": "main"})
        assert no_trigger.status_code == 422
        assert "workflow_dispatch" in no_trigger.json()["message"]
        assert http.post(f"{base}/ci.yml/dispatches", json={"ref": "main"}).status_code == 422, "tier is required"
        unknown = http.post(f"{base}/ci.yml/dispatches", json={"ref": "main", "inputs": {"tier": "x", "who": "me"}})
        assert unknown.status_code == 422
        assert unknown.json()["message"] == 'Unexpected inputs provided: ["who"]'
        assert http.post(f"{base}/missing.yml/dispatches", json={"ref": "main"}).status_code == 404
    with env.http("rando") as http:
        assert http.post("/repos/acme/widgets/actions/workflows/ci.yml/dispatches",
                         json={"ref": "main", "inputs": {"tier": "x"}}).status_code == 403
    assert env.repo.workflow_runs == {}
    env.assert_faithful()


def test_dispatch_with_an_undeclared_key_input_is_refused_like_github(env: Env) -> None:
    """A deploy workflow that declares no `key` input: GitHub answers 422 "Unexpected inputs provided"
    (a bare message with the names as a JSON array) and starts nothing."""
    with env.http("wes") as http:
        refused = http.post("/repos/acme/widgets/actions/workflows/ci.yml/dispatches",
                            json={"ref": "main", "inputs": {"tier": "x", "key": "trunkline-1-1", "action": "canary"}})
        assert refused.status_code == 422
        body = refused.json()
        assert body["message"] == 'Unexpected inputs provided: ["action", "key"]'
        assert body["documentation_url"].startswith("https://docs.github.com/")
        missing = http.post("/repos/acme/widgets/actions/workflows/ci.yml/dispatches", json={"ref": "main"})
        assert missing.status_code == 422 and missing.json()["message"] == "Required input 'tier' not provided"
    assert env.repo.workflow_runs == {}
    env.assert_faithful()


TYPED_YML = """\
name: Typed
on:
  workflow_dispatch:
    inputs:
      environment: {type: choice, options: [staging, production], default: staging}
      dry-run: {type: boolean, default: false}
      count: {type: number, required: true}
      bad-default: {type: choice, options: [a, b]}
"""


def test_dispatch_refuses_values_that_do_not_fit_the_declared_types_like_github(env: Env) -> None:
    """choice outside its options and boolean other than true/false: GitHub's 422 words; number: plain words
    in the same pattern. Defaults fill and are checked too; JSON booleans and numbers read as their text."""
    git.commit_files(env.repo, "main", {".github/workflows/typed.yml": TYPED_YML}, "typed", author_login="acme")
    base = "/repos/acme/widgets/actions/workflows/typed.yml/dispatches"
    with env.http("wes") as http:
        def refused(inputs: dict[str, Any]) -> str:
            answer = http.post(base, json={"ref": "main", "inputs": inputs})
            assert answer.status_code == 422, answer.text
            assert answer.json()["documentation_url"].startswith("https://docs.github.com/")
            return answer.json()["message"]

        assert refused({"count": "1", "environment": "canary"}) == \
            "Provided value 'canary' for input 'environment' not in the list of allowed values"
        assert refused({"count": "1", "dry-run": "yes"}) == \
            "Provided value 'yes' for input 'dry-run' not in the list of allowed values"
        assert refused({"count": "1", "dry-run": ""}) == \
            "Provided value '' for input 'dry-run' not in the list of allowed values"
        assert refused({"count": "ten"}) == "Provided value 'ten' for input 'count' is not a number"
        assert refused({"count": ""}) == "Provided value '' for input 'count' is not a number"
        ok = http.post(base, json={"ref": "main", "inputs": {"count": 3, "dry-run": True, "environment": "production",
                                                              "bad-default": "b"}, "return_run_details": True})
        assert ok.status_code == 200, ok.text
        run_id = ok.json()["workflow_run_id"]
        assert http.post(base, json={"ref": "main", "inputs": {"count": "-1.5e2"}}).status_code == 204
    runs = sorted(env.repo.workflow_runs.values(), key=lambda r: r.id)
    assert [r.id for r in runs][0] == run_id and len(runs) == 2
    assert runs[0].inputs == {"environment": "production", "dry-run": True, "count": 3, "bad-default": "b"}
    assert runs[1].inputs == {"environment": "staging", "dry-run": False, "count": "-1.5e2"}, "defaults filled"
    git.commit_files(env.repo, "main", {".github/workflows/typed.yml": TYPED_YML.replace(
        "[a, b]}", "[a, b], default: c}")}, "a default outside its options", author_login="acme")
    with env.http("wes") as http:
        answer = http.post(base, json={"ref": "main", "inputs": {"count": "1"}})
        assert answer.status_code == 422, "GitHub checks the default it substitutes too"
        assert answer.json()["message"] == "Provided value 'c' for input 'bad-default' not in the list of allowed values"
    assert len(env.repo.workflow_runs) == 2
    env.assert_faithful()


@given(st.lists(st.sampled_from(["push", "pull_request", "workflow_dispatch", "schedule"]), unique=True,
                min_size=1))
def test_triggers_accept_every_spelling(events: list[str]) -> None:
    as_list = triggers({"on": events})
    as_map = triggers({"on": {e: None for e in events}})
    assert set(as_list) == set(as_map) == set(events)
    assert set(triggers({"on": events[0]})) == {events[0]}
    assert set(triggers({True: events})) == set(events), "YAML 1.1 loaders turn `on` into True"


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=3)))
def test_dispatch_inputs_fill_defaults(given_inputs: dict[str, str]) -> None:
    doc = {"on": {"workflow_dispatch": {"inputs": {"a": {"required": True}, "b": {"default": "B"}, "c": {}}}}}
    if "a" not in given_inputs:
        with pytest.raises(Exception) as exc:
            dispatch_inputs(doc, given_inputs)
        assert getattr(exc.value, "status", None) == 422
        return
    out = dispatch_inputs(doc, given_inputs)
    assert out["a"] == given_inputs["a"]
    assert out["b"] == given_inputs.get("b", "B")
    assert ("c" in out) == ("c" in given_inputs)
