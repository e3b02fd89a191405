"""The actor API (``Sandbox``) and its HTTP twin (``/_sandbox`` control routes, ``RemoteSandbox``).

Every assertion reads state back the way a client would (REST via PyGithub/httpx, or webhooks
received by a real HTTP endpoint), so an action that only pretended to work would fail here.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import github
import httpx
import pytest

from trunkline.sandbox.actors import ActorError, RemoteSandbox, call_action


def _rest(sb: Any, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    scheme = "Bearer" if token.count(".") == 2 else "token"
    return httpx.request(method, sb.url + path, headers={"authorization": f"{scheme} {token}"}, **kw)


# ---- apps ---------------------------------------------------------------------------------------
def test_app_jwt_and_installation_token_work_over_rest(sandbox: Any) -> None:
    app = sandbox.create_app("bot", owner="acme", webhook_url=None, secret="s")
    assert app.private_key_pem and "PRIVATE KEY" in app.private_key_pem  # kept for configuring the bot
    sandbox.create_repo("acme", "one")
    inst = sandbox.install(app, "acme")

    me = _rest(sandbox, "GET", "/app", sandbox.app_jwt(app))
    assert me.status_code == 200 and me.json()["slug"] == "bot"

    token = sandbox.installation_token(app)
    assert token.startswith("ghs_")
    assert sandbox.installation_token(app) == token  # cached while it has time left
    listed = _rest(sandbox, "GET", "/installation/repositories", token)
    assert listed.status_code == 200
    assert [r["full_name"] for r in listed.json()["repositories"]] == ["acme/one"]
    assert sandbox.requests_by_installation.get(inst.id, 0) >= 1


def test_install_announces_installation_created_signed(sandbox: Any, receiver: Any) -> None:
    app = sandbox.create_app("bot", owner="acme", webhook_url=receiver.url, secret="topsecret")
    sandbox.install(app, "acme")
    assert sandbox.wait_for_webhooks()
    created = receiver.of("installation", "created")
    assert len(created) == 1
    assert created[0].signature_ok("topsecret") and not created[0].signature_ok("wrong")
    assert created[0].payload["installation"]["app_id"] == app.id


def test_installation_limited_to_some_repos(sandbox: Any) -> None:
    app = sandbox.create_app("bot", owner="acme", webhook_url=None, secret="s")
    one = sandbox.create_repo("acme", "one")
    sandbox.create_repo("acme", "two")
    sandbox.install(app, "acme", repos=["acme/one"])
    assert sandbox.installation_of(app, one).repository_ids == {one.id}
    with pytest.raises(LookupError, match="not installed on acme/two"):
        sandbox.installation_token(app, "acme/two")


# ---- repositories and git -------------------------------------------------------------------------
def test_create_repo_from_folder_and_files(sandbox: Any, tmp_path: Path) -> None:
    folder = tmp_path / "seed"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "app.py").write_text("print('hi')\n")
    (folder / "README.md").write_text("# seeded\n")
    sandbox.create_repo("acme", "seeded", folder=folder, files={"extra.txt": "more\n"}, default_branch="trunk")

    gh = sandbox.github_as("acme").get_repo("acme/seeded")
    assert gh.default_branch == "trunk"
    assert gh.get_contents("src/app.py", ref="trunk").decoded_content == b"print('hi')\n"
    assert gh.get_contents("extra.txt").decoded_content == b"more\n"
    with pytest.raises(ActorError, match="already exists"):
        sandbox.create_repo("acme", "seeded")
    with pytest.raises(ActorError, match="does not exist"):
        sandbox.create_repo("acme", "nofolder", folder=tmp_path / "missing")


def test_push_creates_branch_from_default_and_announces_it(bot_world: Any) -> None:
    sb, repo, rec = bot_world.sandbox, bot_world.repo, bot_world.receiver
    main_sha = sb.github_as("dev").get_repo("acme/widgets").get_branch("main").commit.sha
    first = sb.push(repo, "feat", {"a.txt": "1\n"}, "add a", as_user="dev")
    second = sb.push(repo, "feat", {"a.txt": None, "b.txt": "2\n"}, "swap", as_user="dev")

    gh = sb.github_as("dev").get_repo("acme/widgets")
    commit = gh.get_commit(second)
    assert [p.sha for p in commit.parents] == [first]
    assert gh.get_commit(first).parents[0].sha == main_sha
    assert {f.filename: f.status for f in commit.files} == {"a.txt": "removed", "b.txt": "added"}

    assert sb.wait_for_webhooks()
    pushes = rec.of("push")
    assert [(p.payload["before"], p.payload["after"]) for p in pushes] == [("0" * 40, first), (first, second)]
    assert all(p.signature_ok(bot_world.secret) for p in pushes)


def test_push_needs_write_permission(bot_world: Any) -> None:
    sb, repo = bot_world.sandbox, bot_world.repo
    sb.grant(repo, "reader", "read")
    with pytest.raises(ActorError) as err:
        sb.push(repo, "main", {"x": "y"}, "sneaky", as_user="reader")
    assert err.value.status == 403 and "denied to reader" in err.value.message
    assert sb.github_as("acme").get_repo("acme/widgets").get_branch("main").commit.commit.message == "Initial commit"


def test_grant_sets_the_permission_github_reports(bot_world: Any) -> None:
    sb, repo = bot_world.sandbox, bot_world.repo
    sb.grant(repo, "lead", "maintain")
    gh = sb.github_as("acme").get_repo("acme/widgets")
    # GitHub reports "maintain" as the legacy "write" permission plus role_name "maintain".
    assert gh.get_collaborator_permission("lead") == "write"
    assert gh.get_collaborator_role_name("lead") == "maintain"
    with pytest.raises(ActorError, match="permission must be one of"):
        sb.grant(repo, "x", "owner")


def test_protect_requires_checks_before_merging(bot_world: Any) -> None:
    sb, repo = bot_world.sandbox, bot_world.repo
    sb.protect(repo, "main", required_checks=["ci/test"], strict=True, approvals=1)
    prot = sb.github_as("acme").get_repo("acme/widgets").get_branch("main").get_protection()
    assert prot.required_status_checks.contexts == ["ci/test"] and prot.required_status_checks.strict
    assert prot.required_pull_request_reviews.required_approving_review_count == 1

    sb.push(repo, "feat", {"f.txt": "f\n"}, "feat", as_user="dev")
    number = sb.open_pr(repo, "feat", title="Feat", as_user="dev")
    with pytest.raises(ActorError) as err:
        sb.merge(repo, number, as_user="dev")
    assert err.value.status == 405
    pr = sb.github_as("dev").get_repo("acme/widgets").get_pull(number)
    assert not pr.merged and pr.mergeable_state == "blocked"


# ---- pull requests, issues, conversation ----------------------------------------------------------
def test_pull_request_conversation(bot_world: Any) -> None:
    sb, repo, rec = bot_world.sandbox, bot_world.repo, bot_world.receiver
    sb.grant(repo, "reviewer", "write")
    head = sb.push(repo, "feat", {"f.txt": "f\n"}, "feat", as_user="dev")
    number = sb.open_pr(repo, "feat", title="Add f", body="please", as_user="dev", draft=True)
    comment_id = sb.comment(repo, number, "/trunkline help", as_user="dev")
    sb.edit_comment(repo, comment_id, "/trunkline status", as_user="dev")
    assert sb.label(repo, number, "ready", "small", as_user="dev") == ["ready", "small"]
    sb.unlabel(repo, number, "small", as_user="dev")
    sb.ready_for_review(repo, number, as_user="dev")
    review_id = sb.review(repo, number, as_user="reviewer", event="APPROVE", body="lgtm")

    pr = sb.github_as("dev").get_repo("acme/widgets").get_pull(number)
    assert (pr.title, pr.body, pr.draft, pr.head.sha) == ("Add f", "please", False, head)
    assert [lab.name for lab in pr.labels] == ["ready"]
    comments = list(pr.as_issue().get_comments())
    assert [(c.id, c.body, c.user.login) for c in comments] == [(comment_id, "/trunkline status", "dev")]
    assert [(r.id, r.state, r.user.login) for r in pr.get_reviews()] == [(review_id, "APPROVED", "reviewer")]

    assert sb.wait_for_webhooks()
    seen = set(rec.events())
    for pair in [("pull_request", "opened"), ("issue_comment", "created"), ("issue_comment", "edited"),
                 ("pull_request", "labeled"), ("pull_request", "unlabeled"), ("pull_request", "ready_for_review"),
                 ("pull_request_review", "submitted")]:
        assert pair in seen, pair


def test_close_reopen_merge_and_update_branch(bot_world: Any) -> None:
    sb, repo = bot_world.sandbox, bot_world.repo
    sb.push(repo, "feat", {"f.txt": "f\n"}, "feat", as_user="dev")
    number = sb.open_pr(repo, "feat", title="F", as_user="dev")
    sb.close_pr(repo, number, as_user="dev")
    assert sb.github_as("dev").get_repo("acme/widgets").get_pull(number).state == "closed"
    sb.reopen_pr(repo, number, as_user="dev")
    sb.push(repo, "main", {"other.txt": "o\n"}, "main moves", as_user="acme")
    sb.update_branch(repo, number, as_user="dev")
    pr = sb.github_as("dev").get_repo("acme/widgets").get_pull(number)
    assert pr.state == "open" and len(pr.head.sha) == 40
    merged = sb.merge(repo, number, as_user="dev", sha=pr.head.sha)
    gh = sb.github_as("dev").get_repo("acme/widgets")
    assert gh.get_pull(number).merged and gh.get_branch("main").commit.sha == merged


def test_open_issue_with_labels(bot_world: Any) -> None:
    sb, repo = bot_world.sandbox, bot_world.repo
    number = sb.open_issue(repo, "Crash on start", "trace...", as_user="dev", labels=["bug"])
    issue = sb.github_as("dev").get_repo("acme/widgets").get_issue(number)
    assert (issue.title, issue.body, [lab.name for lab in issue.labels]) == ("Crash on start", "trace...", ["bug"])
    sb.close_issue(repo, number, as_user="dev")
    assert sb.github_as("dev").get_repo("acme/widgets").get_issue(number).state == "closed"


def test_failed_actions_say_why(bot_world: Any) -> None:
    sb, repo = bot_world.sandbox, bot_world.repo
    with pytest.raises(ActorError) as err:
        sb.open_pr(repo, "no-such-branch", title="x", as_user="dev")
    assert err.value.status == 422 and "open_pr" in str(err.value)
    with pytest.raises(ValueError, match="owner/name"):
        sb.comment("widgets", 1, "x", as_user="dev")
    with pytest.raises(LookupError, match="no app"):
        sb.installation_token("ghost-app")


# ---- CI systems and deploy targets ---------------------------------------------------------------
def test_ci_creates_then_completes_one_check_run(bot_world: Any) -> None:
    pytest.importorskip("trunkline.sandbox.routes.checks")
    sb, repo = bot_world.sandbox, bot_world.repo
    sha = sb.push(repo, "feat", {"f.txt": "f\n"}, "feat", as_user="dev")
    first = sb.ci(repo, sha, "ci/test", status="in_progress")
    second = sb.ci(repo, sha, "ci/test", conclusion="success")
    assert first == second
    runs = list(sb.github_as("dev").get_repo("acme/widgets").get_commit(sha).get_check_runs())
    assert [(r.name, r.status, r.conclusion, r.app.slug) for r in runs] == [
        ("ci/test", "completed", "success", "sandbox-ci")]
    with pytest.raises(ActorError, match="needs a conclusion"):
        sb.ci(repo, sha, "ci/lint")


def test_commit_status_and_combined_status(bot_world: Any) -> None:
    pytest.importorskip("trunkline.sandbox.routes.statuses")
    sb, repo = bot_world.sandbox, bot_world.repo
    sha = sb.push(repo, "feat", {"f.txt": "f\n"}, "feat", as_user="dev")
    sb.status(repo, sha, "legacy/ci", "pending", as_user="dev")
    sb.status(repo, sha, "legacy/ci", "success", as_user="dev", description="ok")
    combined = sb.github_as("dev").get_repo("acme/widgets").get_commit(sha).get_combined_status()
    assert combined.state == "success"
    assert [(s.context, s.state) for s in combined.statuses] == [("legacy/ci", "success")]


def test_deploy_target_reports_statuses(bot_world: Any) -> None:
    pytest.importorskip("trunkline.sandbox.routes.deployments")
    sb, repo = bot_world.sandbox, bot_world.repo
    deployment = sb.deploy(repo, "main", environment="production", as_user="acme")
    sb.deploy_target(repo, deployment, "in_progress", as_user="acme")
    sb.deploy_target(repo, deployment, "success", as_user="acme", environment_url="http://127.0.0.1:9/")
    statuses = list(sb.github_as("acme").get_repo("acme/widgets").get_deployment(deployment).get_statuses())
    assert [s.state for s in statuses] == ["success", "in_progress"]  # newest first, as GitHub lists them


# ---- faults and accounting ------------------------------------------------------------------------
def test_inject_fails_matching_requests_then_recovers(bot_world: Any) -> None:
    sb = bot_world.sandbox
    sb.inject("GET", "/repos/{owner}/{repo}", 502, times=1)
    gh = sb.github_as("dev")
    with pytest.raises(github.GithubException) as err:
        gh.get_repo("acme/widgets")
    assert err.value.status == 502
    assert gh.get_repo("acme/widgets").full_name == "acme/widgets"
    faults = [e for e in sb.request_log if e.fault]
    assert [(e.method, e.path, e.status) for e in faults] == [("GET", "/repos/acme/widgets", 502)]


def test_drop_webhooks_loses_the_next_deliveries(bot_world: Any) -> None:
    sb, repo, rec = bot_world.sandbox, bot_world.repo, bot_world.receiver
    before = len(rec.received)
    sb.drop_webhooks(1)
    sb.open_issue(repo, "one", as_user="dev")
    sb.open_issue(repo, "two", as_user="dev")
    assert sb.wait_for_webhooks()
    assert [r.payload["issue"]["title"] for r in rec.received[before:]] == ["two"]
    failed = [d for d in sb.deliveries("issues") if d.status_code == 0]
    assert len(failed) == 1


# ---- control routes --------------------------------------------------------------------------------
def test_remote_sandbox_drives_a_running_sandbox(sandbox: Any, receiver: Any, tmp_path: Path) -> None:
    remote = RemoteSandbox(sandbox.url)
    app = remote.create_app(slug="bot", owner="acme", webhook_url=receiver.url, secret="s")
    assert app["slug"] == "bot" and "PRIVATE KEY" in app["private_key_pem"]
    remote.install(app="bot", account="acme")
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "hello.txt").write_text("hello\n")
    made = remote.create_repo(owner="acme", name="remote", folder=str(tmp_path / "seed"))
    assert made["full_name"] == "acme/remote"
    remote.grant(repo="acme/remote", login="dev", level="write")
    sha = remote.push(repo="acme/remote", branch="feat", files={"x.txt": "x\n"}, message="x", as_user="dev")
    number = remote.open_pr(repo="acme/remote", head="feat", title="X", as_user="dev")
    remote.label(repo="acme/remote", number=number, labels=["a", "b"], as_user="dev")
    remote.comment(repo="acme/remote", number=number, body="hi", as_user="dev")
    assert remote.wait_for_webhooks(timeout=5) is True

    state = remote.state()
    [repo_state] = [r for r in state["repos"] if r["full_name"] == "acme/remote"]
    [pull] = repo_state["pulls"]
    assert (pull["number"], pull["head_sha"], pull["labels"], pull["mergeable_state"]) == (
        number, sha, ["a", "b"], "clean")
    assert repo_state["branches"]["feat"] == sha and repo_state["collaborators"]["dev"] == "write"
    events = {(d["event"], d["action"]) for d in remote.deliveries()}
    assert {("installation", "created"), ("push", None), ("pull_request", "opened")} <= events
    assert all(d["payload"]["sender"] for d in remote.deliveries("push"))
    page = httpx.get(sandbox.url + "/_sandbox/")
    assert page.status_code == 200 and "acme/remote" in page.text and sha in page.text
    remote.close()


def test_control_faults_requests_and_errors(sandbox: Any) -> None:
    remote = RemoteSandbox(sandbox.url)
    remote.create_repo(owner="acme", name="r")
    rule = remote.inject("GET", "/repos/{owner}/{repo}", 503, times=2)
    assert rule["status"] == 503 and rule["times"] == 2
    gh = sandbox.github_as("acme")
    for _ in range(2):
        with pytest.raises(github.GithubException):
            gh.get_repo("acme/r")
    assert gh.get_repo("acme/r").name == "r"
    reqs = remote.requests()
    assert [e["status"] for e in reqs["log"] if e["path"] == "/repos/acme/r"] == [503, 503, 200]
    remote.inject("*", "*", 500, times=None)
    remote.clear_faults()
    assert httpx.get(sandbox.url + "/_sandbox/faults").json()["faults"] == []
    assert gh.get_repo("acme/r").name == "r"
    assert httpx.delete(sandbox.url + "/_sandbox/requests").status_code == 204
    assert remote.requests()["total"] == 0

    with pytest.raises(ActorError) as err:
        remote.action("format_disk")
    assert err.value.status == 404 and "unknown action" in err.value.message
    with pytest.raises(ActorError) as err:
        remote.action("comment", repo="acme/r", body="x")
    assert err.value.status == 422 and "number" in err.value.message
    with pytest.raises(ActorError) as err:
        remote.action("open_pr", repo="acme/r", head="nope", title="t", as_user="acme")
    assert err.value.status == 422 and err.value.body["github"]["message"]
    bad = httpx.post(sandbox.url + "/_sandbox/faults", json={"path": "*"})
    assert bad.status_code == 422 and "method and path" in bad.json()["message"]
    remote.close()


def test_control_routes_refuse_non_loopback_clients() -> None:
    from trunkline.sandbox.http import GitHubError
    from trunkline.sandbox.routes.control import loopback_only

    for host in ("127.0.0.1", "::1", "127.5.5.5"):
        loopback_only(SimpleNamespace(client=SimpleNamespace(host=host)))  # type: ignore[arg-type]
    for host in ("10.0.0.7", "192.168.1.2", "2001:db8::1", ""):
        with pytest.raises(GitHubError) as err:
            loopback_only(SimpleNamespace(client=SimpleNamespace(host=host)))  # type: ignore[arg-type]
        assert err.value.status == 403


def test_call_action_maps_json_onto_signatures(sandbox: Any) -> None:
    sandbox.create_repo("acme", "lab")
    sandbox.push("acme/lab", "f", {"a": "a"}, "a", as_user="acme")
    number = sandbox.open_pr("acme/lab", "f", title="t", as_user="acme")
    assert call_action(sandbox, "label", {"repo": "acme/lab", "number": number, "labels": "one",
                                          "as_user": "acme"}) == ["one"]
    with pytest.raises(TypeError, match="unexpected argument"):
        call_action(sandbox, "comment", {"repo": "acme/lab", "number": 1, "body": "x", "as_user": "a", "evil": 1})
    with pytest.raises(LookupError):
        call_action(sandbox, "__init__", {})


def test_dispatch_workflow_and_play_the_runner(sandbox: Any) -> None:
    workflow = "name: ci\non:\n  workflow_dispatch: {}\njobs:\n  t:\n    runs-on: x\n    steps:\n      - run: true\n"
    repo = sandbox.create_repo("acme", "wf", files={".github/workflows/ci.yml": workflow})
    sandbox.dispatch_workflow(repo, "ci.yml", "main", as_user="acme")
    gh = sandbox.github_as("acme").get_repo("acme/wf")
    [run] = list(gh.get_workflow_runs())
    assert (run.status, run.event) == ("queued", "workflow_dispatch")
    sandbox.finish_workflow_run(repo, run.id, "failure")
    done = gh.get_workflow_run(run.id)
    assert (done.status, done.conclusion) == ("completed", "failure")
    with pytest.raises(ValueError, match="already completed"):
        sandbox.finish_workflow_run(repo, run.id)
    with pytest.raises(LookupError, match="no workflow run"):
        sandbox.finish_workflow_run(repo, 999999)
