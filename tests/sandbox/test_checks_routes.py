"""Check runs and suites over HTTP (PyGithub as the App), with their webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_hooks import Recorder, SandboxEnv, add_app, install, installation_token

from trunkline.sandbox import git
from trunkline.sandbox.routes.checks import CONCLUSIONS, check_run_changes, request_action, rollup
from trunkline.sandbox.world import CheckRun, Issue, Pull


class Env(SandboxEnv):
    repo: Any
    main_sha: str
    other: Recorder
    other_token: str
    other_app: Any


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path / "w")
    e.repo = e.world.add_repo("acme", "widgets")
    e.repo.collaborators["wes"] = "write"
    e.main_sha = git.init_repo(e.repo, {"README.md": "# widgets\n", "src/app.py": "print(1)\n"}, "acme")
    e.other = Recorder()
    e.other_app = add_app(e.world, "other-ci", e.other.url, ["check_run", "check_suite"])
    e.other_token = installation_token(e.world, install(e.world, e.other_app))
    yield e
    e.close()
    e.other.stop()


def app_repo(env: Env) -> Any:
    return env.gh_app().get_repo("acme/widgets", lazy=True)


def test_only_apps_create_check_runs(env: Env) -> None:
    with env.http("wes") as http:
        answer = http.post("/repos/acme/widgets/check-runs", json={"name": "ci", "head_sha": env.main_sha})
        assert answer.status_code == 403 and answer.json()["message"] == "You must authenticate via a GitHub App."
    with env.http(token=env.app_token) as http:
        bad = [
            ({"head_sha": env.main_sha}, "name"),
            ({"name": "ci"}, "head_sha"),
            ({"name": "ci", "head_sha": "f" * 40}, "head_sha"),
            ({"name": "ci", "head_sha": env.main_sha, "status": "completed"}, "conclusion"),
            ({"name": "ci", "head_sha": env.main_sha, "conclusion": "stale"}, "conclusion"),
            ({"name": "ci", "head_sha": env.main_sha, "status": "queued", "conclusion": "success"}, "conclusion"),
            ({"name": "ci", "head_sha": env.main_sha, "status": "waiting"}, "status"),
            ({"name": "ci", "head_sha": env.main_sha, "completed_at": "2026-01-01T00:00:00Z"}, "conclusion"),
            ({"name": "ci", "head_sha": env.main_sha, "output": {"title": "t"}}, "output.summary"),
            ({"name": "ci", "head_sha": env.main_sha, "output": {"title": "t", "summary": "s", "annotations": [
                {"path": "a", "start_line": 1, "end_line": 2, "start_column": 1, "annotation_level": "notice",
                 "message": "m"}]}}, "output.annotations.start_column"),
            ({"name": "ci", "head_sha": env.main_sha, "actions": [{"label": "x" * 21, "description": "d",
                                                                   "identifier": "i"}]}, "actions"),
        ]
        for body, field in bad:
            answer = http.post("/repos/acme/widgets/check-runs", json=body)
            assert answer.status_code == 422, body
            assert answer.json()["errors"][0]["field"] == field, body
    assert env.repo.check_runs == {}
    env.assert_faithful()


def test_check_run_lifecycle_and_suite_rollup(env: Env) -> None:
    repo = app_repo(env)
    run = repo.create_check_run(name="trunkline/verify", head_sha=env.main_sha, status="in_progress",
                                external_id="job-7", output={"title": "Verifying", "summary": "running"})
    assert run.status == "in_progress" and run.conclusion is None and run.app.slug == "trunkline"
    assert run.external_id == "job-7"
    lint = repo.create_check_run(name="lint", head_sha=env.main_sha, conclusion="success",
                                 output={"title": "Lint", "summary": "clean"})
    assert lint.status == "completed" and lint.completed_at is not None

    first = [{"path": "src/app.py", "start_line": i, "end_line": i, "annotation_level": "warning",
              "message": f"line {i}"} for i in range(1, 51)]
    run.edit(output={"title": "Verifying", "summary": "half", "annotations": first})
    run.edit(conclusion="failure", output={"title": "Failed", "summary": "2 failures", "text": "details",
                                           "annotations": first[:10]})
    got = repo.get_check_run(run.id)
    assert got.status == "completed" and got.conclusion == "failure"
    assert got.output.title == "Failed" and got.output.annotations_count == 60
    assert len(list(got.get_annotations())) == 60, "annotations append across updates"
    with env.http(token=env.app_token) as http:
        too_many = first + [first[0]]
        answer = http.patch(f"/repos/acme/widgets/check-runs/{run.id}",
                            json={"output": {"title": "x", "summary": "y", "annotations": too_many}})
        assert answer.status_code == 422
        page = http.get(f"/repos/acme/widgets/check-runs/{run.id}/annotations", params={"per_page": 100}).json()
        assert page[0]["blob_href"].endswith(f"/blob/{env.main_sha}/src/app.py")

    suites = list(env.gh("wes").get_repo("acme/widgets", lazy=True).get_commit(env.main_sha).get_check_suites())
    assert len(suites) == 1
    assert suites[0].status == "completed" and suites[0].conclusion == "failure"
    assert suites[0].head_branch == "main" and suites[0].latest_check_runs_count == 2

    assert env.events() == [("check_run", "created"), ("check_run", "created"), ("check_run", "completed"),
                            ("check_run", "completed"), ("check_suite", "completed")]
    completed = env.hooks("check_suite", "completed")[0]["check_suite"]
    assert completed["conclusion"] == "failure" and completed["head_commit"]["id"] == env.main_sha
    assert env.hooks("check_run", "completed")[1]["check_run"]["output"]["annotations_count"] == 60
    env.assert_faithful()


def test_only_the_creating_app_updates(env: Env) -> None:
    run = app_repo(env).create_check_run(name="ci", head_sha=env.main_sha)
    with env.http(token=env.other_token) as http:
        answer = http.patch(f"/repos/acme/widgets/check-runs/{run.id}", json={"status": "in_progress"})
        assert answer.status_code == 403
        assert http.get(f"/repos/acme/widgets/check-runs/{run.id}").json()["status"] == "queued"
    with env.http("wes") as http:
        assert http.patch(f"/repos/acme/widgets/check-runs/{run.id}", json={"status": "completed"}).status_code == 403
    env.assert_faithful()


def test_listing_for_ref_filters(env: Env) -> None:
    repo = app_repo(env)
    old = repo.create_check_run(name="ci", head_sha=env.main_sha, conclusion="failure",
                                output={"title": "ci", "summary": "red"})
    new = repo.create_check_run(name="ci", head_sha=env.main_sha, status="in_progress")
    other = repo.create_check_run(name="docs", head_sha=env.main_sha, conclusion="success",
                                  output={"title": "docs", "summary": "ok"})
    feature = git.commit_files(env.repo, "feature", {"x.txt": "x"}, "x", author_login="wes", base="main")
    repo.create_check_run(name="ci", head_sha=feature, status="queued")

    with env.http("wes") as http:
        def names(ref: str, **params: Any) -> list[int]:
            body = http.get(f"/repos/acme/widgets/commits/{ref}/check-runs", params=params).json()
            assert body["total_count"] == len(body["check_runs"])
            return [r["id"] for r in body["check_runs"]]

        assert names("main") == [other.id, new.id], "latest per name by default, newest first"
        assert names(env.main_sha, filter="all") == [other.id, new.id, old.id]
        assert names("main", check_name="ci") == [new.id]
        assert names("main", status="completed") == [other.id]
        assert names("main", app_id=env.other_app.id) == []
        assert len(names("feature")) == 1
        assert http.get("/repos/acme/widgets/commits/nope/check-runs").status_code == 422
        assert http.get("/repos/acme/widgets/commits/main/check-runs", params={"filter": "x"}).status_code == 422
        suites = http.get("/repos/acme/widgets/commits/main/check-suites").json()
        assert suites["total_count"] == 1 and suites["check_suites"][0]["status"] == "in_progress"
        suite_id = suites["check_suites"][0]["id"]
        assert http.get(f"/repos/acme/widgets/check-suites/{suite_id}").json()["id"] == suite_id
        in_suite = http.get(f"/repos/acme/widgets/check-suites/{suite_id}/check-runs").json()
        assert [r["id"] for r in in_suite["check_runs"]] == [other.id, new.id]
        assert http.get("/repos/acme/widgets/commits/feature/check-suites").json()["total_count"] == 1
    # PyGithub reads the same thing through Commit.get_check_runs.
    gh_commit = env.gh("wes").get_repo("acme/widgets", lazy=True).get_commit(env.main_sha)
    assert {r.name for r in gh_commit.get_check_runs()} == {"ci", "docs"}
    env.assert_faithful()


def test_pull_requests_listed_and_rerequests_go_to_the_owner(env: Env) -> None:
    head = git.commit_files(env.repo, "feature", {"x.txt": "x"}, "x", author_login="wes", base="main")
    iss = Issue(id=env.world.next_id(), number=env.repo.take_number(), title="PR", body="", user="wes", is_pull=True)
    env.repo.issues[iss.number] = iss
    env.repo.pulls[iss.number] = Pull(number=iss.number, id=env.world.next_id(), head_ref="feature",
                                      base_ref="main", head_repo_id=env.repo.id, head_sha=head,
                                      base_sha=env.main_sha)
    run = app_repo(env).create_check_run(
        name="ci", head_sha=head, conclusion="failure", output={"title": "ci", "summary": "red"},
        actions=[{"label": "Retry", "description": "Run it again", "identifier": "retry"}])
    assert [p.number for p in run.pull_requests] == [iss.number]
    suite_id = env.repo.check_runs[run.id].check_suite_id
    with env.http("wes") as http:
        assert http.post(f"/repos/acme/widgets/check-runs/{run.id}/rerequest").status_code == 201
        assert http.post(f"/repos/acme/widgets/check-suites/{suite_id}/rerequest").status_code == 201
    with env.http(token=env.other_token) as http:
        assert http.post(f"/repos/acme/widgets/check-runs/{run.id}/rerequest").status_code == 403
    request_action(env.world, env.repo, run.id, "retry", "wes")
    with pytest.raises(KeyError):
        request_action(env.world, env.repo, run.id, "nope", "wes")
    pending = app_repo(env).create_check_run(name="slow", head_sha=head)
    with env.http("wes") as http:
        assert http.post(f"/repos/acme/widgets/check-runs/{pending.id}/rerequest").status_code == 422

    rerequested = env.hooks("check_run", "rerequested")
    assert len(rerequested) == 1 and rerequested[0]["sender"]["login"] == "wes"
    assert rerequested[0]["check_run"]["pull_requests"][0]["number"] == iss.number
    assert env.hooks("check_run", "requested_action")[0]["requested_action"] == {"identifier": "retry"}
    assert env.hooks("check_suite", "rerequested")[0]["check_suite"]["pull_requests"][0]["head"]["sha"] == head
    assert env.sender.flush(10)
    other_got = [(h["x-github-event"], b) for h, b in env.other.requests]
    assert {e for e, _ in other_got} == {"check_run", "check_suite"}
    import json
    other_actions = [json.loads(b)["action"] for _, b in other_got]
    assert "rerequested" not in other_actions and "requested_action" not in other_actions, \
        "owner-only events must not reach other Apps"
    assert "created" in other_actions and "completed" in other_actions
    env.assert_faithful()


def test_pygithub_errors_are_githubs(env: Env) -> None:
    with pytest.raises(github.GithubException) as exc:
        env.gh("wes").get_repo("acme/widgets", lazy=True).create_check_run(name="ci", head_sha=env.main_sha)
    assert exc.value.status == 403
    with pytest.raises(github.GithubException) as exc:
        app_repo(env).get_check_run(424242).name  # noqa: B018
    assert exc.value.status == 404


# ---------------------------------------------------------------------------- pure rules

_run_states = st.one_of(st.sampled_from(["queued", "in_progress"]).map(lambda s: (s, None)),
                        st.sampled_from([c for c in CONCLUSIONS if c != "stale"]).map(lambda c: ("completed", c)))


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), _run_states), max_size=8))
def test_rollup_properties(specs: list[tuple[str, tuple[str, str | None]]]) -> None:
    runs = [CheckRun(id=i, check_suite_id=1, head_sha="s", name=name, app_id=1, status=s, conclusion=c)
            for i, (name, (s, c)) in enumerate(specs)]
    latest = {}
    for r in runs:
        latest[r.name] = r
    status, conclusion = rollup(runs)
    if not latest:
        assert (status, conclusion) == ("queued", None)
    elif any(r.status != "completed" for r in latest.values()):
        assert status != "completed" and conclusion is None
    else:
        assert status == "completed"
        seen = {r.conclusion for r in latest.values()}
        if seen & {"failure", "cancelled", "timed_out", "action_required"}:
            assert conclusion in seen and conclusion != "success"
        elif "success" in seen:
            assert conclusion in ("success", "neutral")
        assert conclusion != "skipped"


@given(st.sampled_from([None, "queued", "in_progress", "completed"]),
       st.sampled_from([None, *CONCLUSIONS]))
def test_conclusion_implies_completed(status: str | None, conclusion: str | None) -> None:
    body = {"name": "n", "head_sha": "s", **({"status": status} if status else {}),
            **({"conclusion": conclusion} if conclusion else {})}
    try:
        ch = check_run_changes(body, creating=True)
    except Exception as exc:  # GitHubError
        assert getattr(exc, "status", None) == 422
        assert (conclusion == "stale" or (status == "completed" and conclusion is None)
                or (conclusion is not None and status not in (None, "completed")))
        return
    assert ch["status"] == ("completed" if conclusion else (status or "queued"))
    assert ch.get("conclusion") == conclusion


# ---------------------------------------------------------------------------- commit statuses

def test_statuses_and_combined_state(env: Env) -> None:
    gh_repo = env.gh("wes").get_repo("acme/widgets", lazy=True)
    commit = gh_repo.get_commit(env.main_sha)
    assert commit.get_combined_status().state == "pending", "no statuses yet: pending"
    commit.create_status("pending", target_url="http://127.0.0.1:9/ci", description="queued", context="ci/build")
    commit.create_status("success", context="ci/build")
    commit.create_status("success", context="ci/lint")
    combined = gh_repo.get_commit("main").get_combined_status()
    assert combined.state == "success" and combined.total_count == 2 and combined.sha == env.main_sha
    assert [s.context for s in combined.statuses] == ["ci/lint", "ci/build"]
    commit.create_status("error", context="ci/lint", description="boom")
    assert gh_repo.get_commit(env.main_sha).get_combined_status().state == "failure"
    # (PyGithub's Commit.get_statuses uses the undocumented GET /statuses/{sha}; the documented route:)
    with env.http("wes") as http:
        listed = http.get("/repos/acme/widgets/commits/main/statuses").json()
        assert [s["state"] for s in listed] == ["error", "success", "success", "pending"]

    with env.http("rando") as http:
        denied = http.post(f"/repos/acme/widgets/statuses/{env.main_sha}", json={"state": "success"})
        assert denied.status_code == 403
    with env.http("wes") as http:
        assert http.post(f"/repos/acme/widgets/statuses/{env.main_sha}", json={"state": "great"}).status_code == 422
        assert http.post(f"/repos/acme/widgets/statuses/{'e' * 40}", json={"state": "success"}).status_code == 422
        long = http.post(f"/repos/acme/widgets/statuses/{env.main_sha}",
                         json={"state": "success", "description": "x" * 141})
        assert long.status_code == 422
        assert http.get("/repos/acme/widgets/commits/nope/status").status_code == 404
    with env.http(token=env.app_token) as http:
        made = http.post(f"/repos/acme/widgets/statuses/{env.main_sha}", json={"state": "success"}).json()
        assert made["context"] == "default" and made["creator"]["login"] == "trunkline[bot]"

    statuses = env.hooks("status")
    assert [(h["context"], h["state"]) for h in statuses] == [
        ("ci/build", "pending"), ("ci/build", "success"), ("ci/lint", "success"), ("ci/lint", "error"),
        ("default", "success")]
    assert statuses[0]["branches"] == [{"name": "main", "protected": False,
                                        "commit": {"sha": env.main_sha,
                                                   "url": f"{env.url}/repos/acme/widgets/commits/{env.main_sha}"}}]
    assert statuses[0]["commit"]["sha"] == env.main_sha and statuses[0]["sender"]["login"] == "wes"
    assert statuses[0]["commit"]["author"]["login"] == "acme"
    env.assert_faithful()


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["error", "failure", "pending", "success"])),
                max_size=6))
def test_combined_state_is_latest_per_context(entries: list[tuple[str, str]]) -> None:
    from trunkline.sandbox.routes.statuses import combined_state, latest_per_context
    from trunkline.sandbox.world import Status

    statuses = [Status(id=i, sha="s", state=state, context=ctx, description=None, target_url=None, creator="u")
                for i, (ctx, state) in enumerate(entries)]
    latest = {ctx: state for ctx, state in entries}
    got = combined_state(latest_per_context(statuses))
    if any(s in ("error", "failure") for s in latest.values()):
        assert got == "failure"
    elif not latest or "pending" in latest.values():
        assert got == "pending"
    else:
        assert got == "success"


def test_push_requests_a_check_suite_from_apps_that_want_one(env: Env) -> None:
    from trunkline.sandbox import pushes
    from trunkline.sandbox.routes import checks

    pushes.install(env.world)
    checks.install(env.world)
    checks.install(env.world)  # idempotent
    env.app.permissions["checks"] = "write"  # "trunkline" (all events) wants suites; other-ci lacks checks
    sha = pushes.push_files(env.world, env.repo, "feature", {"f.txt": "f"}, "feature", "wes")
    requested = env.hooks("check_suite", "requested")
    assert len(requested) == 1
    suite = requested[0]["check_suite"]
    assert suite["head_sha"] == sha and suite["head_branch"] == "feature" and suite["status"] == "queued"
    assert suite["app"]["id"] == env.app.id
    assert [e for e, _ in env.events()] == ["push", "check_suite"], "push first, then the suite request"
    assert env.sender.flush(10)
    assert not [b for h, b in env.other.requests if h["x-github-event"] == "check_suite"]
    # The App then reports into that same suite.
    run = app_repo(env).create_check_run(name="ci", head_sha=sha)
    assert env.repo.check_runs[run.id].check_suite_id == suite["id"]
    env.assert_faithful()
