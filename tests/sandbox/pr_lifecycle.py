"""A realistic pull request lifecycle played against the sandbox with **PyGithub as the client**.

Used by ``test_scenario_pygithub.py`` (REST fidelity of every response) and
``test_webhook_fidelity.py`` (schema + signature of every webhook). The people and systems:

* ``acme``  — the repository owner (admin): creates the repo, protects ``main``.
* ``dev``   — a developer (write): pushes a branch, opens the PR, opens an issue.
* ``rev``   — a reviewer (write): approves.
* ``trunkline-bot`` — the App under test, driven through PyGithub with App JWT / installation
  token auth exactly like the real bot: reads its config, reports a check run, comments, reacts,
  labels, updates the branch, merges, deploys, dispatches a workflow, lists/redelivers webhooks.
* ``sandbox-ci`` — a CI system reporting ``ci/test`` through its own App installation.

Each step asserts what a client would observe, so the run itself is a behaviour test; the
returned ``Lifecycle`` records what the fidelity tests need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from github import Auth, Github, GithubException, GithubIntegration

BOT_SECRET = "lifecycle-secret"
CONFIG = "version: 1\nchecks:\n  required: [trunkline/config, ci/test]\n"
WORKFLOW = (
    "name: deploy\non:\n  workflow_dispatch:\n    inputs:\n      environment:\n        type: string\n"
    "jobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo deploy\n"
)


@dataclass
class Lifecycle:
    sandbox: Any
    app: Any
    installation_id: int
    pull_number: int
    merge_sha: str
    notes: dict[str, Any] = field(default_factory=dict)


def _client(url: str, auth: Any) -> Github:
    return Github(auth=auth, base_url=url, seconds_between_requests=0, seconds_between_writes=0, retry=None)


def run_lifecycle(sb: Any, webhook_url: str) -> Lifecycle:
    url = sb.url
    # ---- the world: App registered + installed, repo created, people granted ------------------
    app = sb.create_app("trunkline-bot", owner="acme", webhook_url=webhook_url, secret=BOT_SECRET)
    sb.install(app, "acme")
    repo = sb.create_repo("acme", "widgets", files={
        "README.md": "# widgets\n", ".github/trunkline.yml": CONFIG, ".github/workflows/deploy.yml": WORKFLOW,
        "src/widgets.py": "def widget():\n    return 1\n"})
    sb.grant(repo, "dev", "write")
    sb.grant(repo, "rev", "write")

    # ---- App JWT -> installation token, the PyGithub way ---------------------------------------
    app_auth = Auth.AppAuth(app.id, app.private_key_pem)
    gi = GithubIntegration(auth=app_auth, base_url=url, seconds_between_requests=0, seconds_between_writes=0)
    assert gi.get_app().slug == "trunkline-bot"
    installation = gi.get_repo_installation("acme", "widgets")
    assert [i.id for i in gi.get_installations()] == [installation.id]
    access = gi.get_access_token(installation.id)
    assert access.token.startswith("ghs_") and access.expires_at is not None
    bot = _client(url, app_auth.get_installation_auth(installation.id))
    bot_repo = bot.get_repo("acme/widgets")

    acme = sb.github_as("acme").get_repo("acme/widgets")
    dev = sb.github_as("dev").get_repo("acme/widgets")
    rev = sb.github_as("rev").get_repo("acme/widgets")

    # ---- protection with required checks --------------------------------------------------------
    acme.get_branch("main").edit_protection(strict=True, contexts=["trunkline/config", "ci/test"],
                                            required_approving_review_count=1)
    assert acme.get_branch("main").protected

    # ---- dev pushes a branch and opens a draft PR -------------------------------------------------
    first = sb.push(repo, "feature/bigger", {"src/widgets.py": "def widget():\n    return 2\n"},
                    "Bigger widgets", as_user="dev")
    pr = dev.create_pull(base="main", head="feature/bigger", title="Bigger widgets", body="Closes nothing",
                         draft=True)
    assert pr.draft and pr.head.sha == first
    pr.edit(state="closed")
    assert dev.get_pull(pr.number).state == "closed"
    pr.edit(state="open")
    sb.ready_for_review(repo, pr.number, as_user="dev")  # GraphQL-only on GitHub
    assert not dev.get_pull(pr.number).draft

    # ---- the bot reacts: config, check run, comment, reaction, labels --------------------------------
    config = bot_repo.get_contents(".github/trunkline.yml", ref=first)
    assert config.decoded_content.decode() == CONFIG
    run = bot_repo.create_check_run(name="trunkline/config", head_sha=first, status="in_progress")
    assert run.status == "in_progress"
    run.edit(status="completed", conclusion="success", output={"title": "Config OK", "summary": "1 file"})
    assert bot_repo.get_check_run(run.id).conclusion == "success"
    bot_pr = bot_repo.get_pull(pr.number)
    note = bot_pr.as_issue().create_comment("Trunkline: config valid, waiting for ci/test.")
    note.create_reaction("rocket")
    note.edit("Trunkline: config valid; ci/test pending.")
    bot_pr.as_issue().create_reaction("eyes")
    bot_pr.add_to_labels("trunkline:checking", "size:s")
    bot_pr.remove_from_labels("size:s")
    assert [lab.name for lab in dev.get_pull(pr.number).labels] == ["trunkline:checking"]
    assert [c.body for c in dev.get_issue(pr.number).get_comments()] == [
        "Trunkline: config valid; ci/test pending."]

    # ---- a user comments a command, CI reports, a reviewer approves, a legacy status -------------------
    cmd = dev.get_issue(pr.number).create_comment("/trunkline status")
    cmd.edit("/trunkline status --verbose")
    sb.ci(repo, first, "ci/test", status="in_progress")
    sb.ci(repo, first, "ci/test", conclusion="success")
    rev.get_pull(pr.number).create_review(event="APPROVE", body="Looks good")
    commit = dev.get_commit(first)
    commit.create_status(state="pending", context="legacy/lint")
    commit.create_status(state="success", context="legacy/lint", description="lint ok")
    combined = bot_repo.get_commit(first).get_combined_status()
    assert combined.state == "success" and [s.context for s in combined.statuses] == ["legacy/lint"]
    assert {r.name: r.conclusion for r in bot_repo.get_commit(first).get_check_runs()} == {
        "trunkline/config": "success", "ci/test": "success"}
    assert [s.head_sha for s in bot_repo.get_commit(first).get_check_suites()]
    assert bot_repo.get_pull(pr.number).mergeable_state == "clean"

    # ---- main moves on, dev pushes again: a merge with the old sha is refused and changes nothing -------
    sb.push(repo, "main", {"CHANGELOG.md": "- widgets\n"}, "Changelog", as_user="acme")
    second = sb.push(repo, "feature/bigger", {"tests/test_widgets.py": "def test():\n    assert True\n"},
                     "Tests", as_user="dev")
    main_before = acme.get_branch("main").commit.sha
    try:
        bot_repo.get_pull(pr.number).merge(sha=first, merge_method="squash")
        raise AssertionError("a merge with a stale head sha must be refused")
    except GithubException as exc:
        assert exc.status == 409, exc
    assert acme.get_branch("main").commit.sha == main_before
    assert not bot_repo.get_pull(pr.number).merged
    assert bot_repo.get_pull(pr.number).mergeable_state == "behind"

    # ---- update-branch, re-check the new head, merge --------------------------------------------------
    assert bot_repo.get_pull(pr.number).update_branch(expected_head_sha=second)
    third = bot_repo.get_pull(pr.number).head.sha
    assert third not in (first, second)
    assert dev.compare(main_before, third).behind_by == 0
    files = {f.filename for f in bot_repo.get_pull(pr.number).get_files()}
    assert files == {"src/widgets.py", "tests/test_widgets.py"}
    rerun = bot_repo.create_check_run(name="trunkline/config", head_sha=third, status="completed",
                                      conclusion="success", output={"title": "Config OK", "summary": "ok"})
    sb.ci(repo, third, "ci/test", conclusion="success")
    assert bot_repo.get_pull(pr.number).mergeable_state == "clean"
    reviews = list(bot_repo.get_pull(pr.number).get_reviews())
    assert [(r.user.login, r.state) for r in reviews] == [("rev", "APPROVED")]
    status = bot_repo.get_pull(pr.number).merge(sha=third, merge_method="squash", commit_title="Bigger widgets")
    assert status.merged
    merged = bot_repo.get_pull(pr.number)
    assert merged.merged and merged.state == "closed" and merged.merge_commit_sha == status.sha
    assert acme.get_branch("main").commit.sha == status.sha
    assert rerun.id != run.id

    # ---- an issue for the agent ---------------------------------------------------------------------
    issue = dev.create_issue(title="Widgets should be blue", body="Please paint them", labels=["enhancement"])
    issue.add_to_labels("trunkline:agent")
    issue.remove_from_labels("enhancement")
    assert [lab.name for lab in bot_repo.get_issue(issue.number).labels] == ["trunkline:agent"]

    # ---- deploy: the bot creates a deployment, the deploy target reports ----------------------------------
    deployment = bot_repo.create_deployment(ref="main", environment="production", required_contexts=[],
                                            auto_merge=False, description="Deploy #1")
    deployment.create_status("in_progress", description="rolling out")
    sb.deploy_target(repo, deployment.id, "success", as_user="acme", environment_url="http://127.0.0.1:9/prod")
    assert [s.state for s in bot_repo.get_deployment(deployment.id).get_statuses()][0] == "success"
    assert [d.id for d in bot_repo.get_deployments(environment="production")] == [deployment.id]

    # ---- workflow dispatch and runs ------------------------------------------------------------------
    workflow = bot_repo.get_workflow("deploy.yml")
    assert workflow.create_dispatch(ref="main", inputs={"environment": "production"})
    runs = list(bot_repo.get_workflow_runs(event="workflow_dispatch"))
    assert len(runs) == 1 and runs[0].head_sha == status.sha
    sb.finish_workflow_run(repo, runs[0].id, "success")
    finished = bot_repo.get_workflow_run(runs[0].id)
    assert (finished.status, finished.conclusion) == ("completed", "success")
    assert [r.id for r in workflow.get_runs()] == [runs[0].id]

    # ---- collaborator permission, compare, git refs ---------------------------------------------------
    assert bot_repo.get_collaborator_permission("dev") == "write"
    sb.token_for("stranger")  # an existing user who is no collaborator (unknown users are 404s)
    assert bot_repo.get_collaborator_permission("stranger") == "read"  # public repo
    comparison = bot_repo.compare(main_before, status.sha)
    assert comparison.ahead_by == 1 and comparison.status == "ahead"
    main_ref = bot_repo.get_git_ref("heads/main")
    assert main_ref.object.sha == status.sha
    release = bot_repo.create_git_ref("refs/heads/release/1", main_before)
    release.edit(status.sha)
    assert bot_repo.get_branch("release/1").commit.sha == status.sha
    git_commit = bot_repo.get_git_commit(status.sha)
    tree = bot_repo.get_git_tree(git_commit.tree.sha, recursive=True)
    assert "tests/test_widgets.py" in {t.path for t in tree.tree}
    notes = bot_repo.create_file("docs/notes.md", "Release notes", "# 1\n", branch="release/1")
    assert notes["commit"].sha

    # ---- hook deliveries + redelivery (App JWT; PyGithub has no typed wrapper, so its requester) --------
    sb.wait_for_webhooks()
    _, deliveries = gi.requester.requestJsonAndCheck("GET", "/app/hook/deliveries", parameters={"per_page": 100})
    opened = [d for d in deliveries if d["event"] == "pull_request" and d["action"] == "opened"]
    assert len(opened) == 1 and opened[0]["status"] == "OK"
    _, one = gi.requester.requestJsonAndCheck("GET", f"/app/hook/deliveries/{opened[0]['id']}")
    assert one["request"]["payload"]["pull_request"]["number"] == pr.number
    headers, _ = gi.requester.requestJsonAndCheck("POST", f"/app/hook/deliveries/{opened[0]['id']}/attempts")
    sb.wait_for_webhooks()
    redelivered = [d for d in sb.deliveries("pull_request", "opened") if d.redelivery]
    assert len(redelivered) == 1 and redelivered[0].guid == opened[0]["guid"]

    return Lifecycle(sandbox=sb, app=app, installation_id=installation.id, pull_number=pr.number,
                     merge_sha=status.sha, notes={"redelivered_guid": opened[0]["guid"], "issue": issue.number})
