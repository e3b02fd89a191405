"""Pull request routes over HTTP (PyGithub first), their webhooks and GitHub's refusals.

Every response is validated against GitHub's REST description and every webhook against
octokit's payload schemas when each test ends (``assert_faithful``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
from test_hooks import SandboxEnv
from test_repos_routes import assert_faithful

from trunkline.sandbox import git, pushes
from trunkline.sandbox.routes.pulls import convert_to_draft, mark_ready
from trunkline.sandbox.world import CheckRun, Protection, Status


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SandboxEnv]:
    e = SandboxEnv(tmp_path / "w")
    pushes.install(e.world)
    repo = e.world.add_repo("acme", "widgets")
    git.init_repo(repo, {"README.md": "# widgets\n", "lib.py": "A = 1\nB = 2\nC = 3\n"}, "acme")
    repo.collaborators["wes"] = "write"
    repo.collaborators["rita"] = "write"
    e.repo = repo  # type: ignore[attr-defined]
    try:
        yield e
        assert_faithful(e)
    finally:
        e.close()


def push(env: SandboxEnv, branch: str, files: dict[str, str | None], message: str = "change",
         user: str = "wes") -> str:
    return pushes.push_files(env.world, env.repo, branch, files, message, user)  # type: ignore[attr-defined]


def repo_as(env: SandboxEnv, login: str = "wes") -> Any:
    return env.gh(login).get_repo("acme/widgets")


def open_pr(env: SandboxEnv, branch: str = "feature", files: dict[str, str | None] | None = None,
            user: str = "wes", **kw: Any) -> Any:
    push(env, branch, files or {f"{branch}.txt": f"{branch}\n"}, f"work on {branch}", user)
    return repo_as(env, user).create_pull(base="main", head=branch, title=kw.pop("title", f"PR {branch}"),
                                          body=kw.pop("body", "Please merge"), **kw)


def main_sha(env: SandboxEnv) -> str:
    return git.branch_sha(env.repo, "main")  # type: ignore[attr-defined]


def add_check(env: SandboxEnv, sha: str, name: str, conclusion: str | None, status: str = "completed") -> None:
    world, repo = env.world, env.repo  # type: ignore[attr-defined]
    run = CheckRun(id=world.next_id(), check_suite_id=0, head_sha=sha, name=name, app_id=env.app.id, status=status,
                   conclusion=conclusion)
    repo.check_runs[run.id] = run


def test_open_pull_request_and_its_refusals(env: SandboxEnv) -> None:
    pr = open_pr(env, files={"lib.py": "A = 1\nB = 20\nC = 3\n", "new.py": "x\n"})
    assert (pr.number, pr.state, pr.title, pr.user.login, pr.draft) == (1, "open", "PR feature", "wes", False)
    assert (pr.head.ref, pr.base.ref, pr.head.sha) == ("feature", "main", git.branch_sha(env.repo, "feature"))  # type: ignore[attr-defined]
    assert (pr.mergeable, pr.mergeable_state, pr.rebaseable) == (True, "clean", True)
    assert (pr.commits, pr.additions, pr.deletions, pr.changed_files) == (1, 2, 1, 2)
    assert env.repo.issues[1].is_pull  # type: ignore[attr-defined]
    opened = env.hooks("pull_request", "opened")
    assert len(opened) == 1
    assert (opened[0]["pull_request"]["mergeable"], opened[0]["pull_request"]["mergeable_state"]) == (None, "unknown")
    r = repo_as(env)
    with pytest.raises(github.GithubException) as dup:
        r.create_pull(base="main", head="feature", title="again")
    assert dup.value.status == 422
    assert dup.value.data["errors"][0]["message"] == "A pull request already exists for acme:feature."
    push(env, "empty", {}, "nothing")  # a branch at main's tip: no commits between
    git.update_ref(env.repo, "refs/heads/empty", main_sha(env), git.branch_sha(env.repo, "empty"))  # type: ignore[attr-defined]
    with pytest.raises(github.GithubException) as none:
        r.create_pull(base="main", head="empty", title="nothing")
    assert none.value.data["errors"][0]["message"] == "No commits between main and empty"
    for head, base in (("missing", "main"), ("feature", "missing")):
        with pytest.raises(github.GithubException) as bad:
            r.create_pull(base=base, head=head, title="x")
        assert bad.value.status == 422
    assert len(env.repo.pulls) == 1  # type: ignore[attr-defined]


def test_list_filters_sorting_and_pagination(env: SandboxEnv) -> None:
    one = open_pr(env, "feat-1")
    two = open_pr(env, "feat-2")
    three = open_pr(env, "feat-3")
    push(env, "release", {"r.txt": "r"}, "release branch", "acme")
    three.edit(state="closed")
    r = repo_as(env)
    assert [p.number for p in r.get_pulls()] == [two.number, one.number]
    assert [p.number for p in r.get_pulls(state="closed")] == [three.number]
    assert [p.number for p in r.get_pulls(state="all", direction="asc")] == [one.number, two.number, three.number]
    assert [p.number for p in r.get_pulls(state="all", head="acme:feat-2")] == [two.number]
    assert [p.number for p in r.get_pulls(state="all", base="release")] == []
    with env.http("wes") as http:
        page = http.get("/repos/acme/widgets/pulls", params={"state": "all", "per_page": 2})
        assert len(page.json()) == 2 and 'rel="next"' in page.headers["link"]
        assert http.get("/repos/acme/widgets/pulls", params={"state": "bogus"}).status_code == 422


def test_edit_close_reopen_and_base_change(env: SandboxEnv) -> None:
    pr = open_pr(env)
    push(env, "release", {"r.txt": "r"}, "release branch", "acme")
    pr.edit(title="Better title", body="Better body")
    pr.edit(base="release")
    with env.http("wes") as http:
        ignored = http.patch("/repos/acme/widgets/pulls/1", json={"draft": True})
        assert ignored.status_code == 200 and ignored.json()["draft"] is False  # REST cannot change draft
        stranger = env.http("nobody").patch("/repos/acme/widgets/pulls/1", json={"title": "mine now"})
        assert stranger.status_code == 403
    pr.edit(state="closed")
    closed = repo_as(env).get_pull(1)
    assert (closed.state, closed.merged, closed.base.ref, closed.title) == ("closed", False, "release", "Better title")
    pr.edit(state="open")
    assert repo_as(env).get_pull(1).state == "open"
    edited = env.hooks("pull_request", "edited")
    assert edited[0]["changes"] == {"title": {"from": "PR feature"}, "body": {"from": "Please merge"}}
    assert edited[1]["changes"]["base"]["ref"] == {"from": "main"}
    assert [a for e, a in env.events() if e == "pull_request"] == ["opened", "edited", "edited", "closed", "reopened"]
    assert env.hooks("pull_request", "closed")[0]["pull_request"]["merged"] is False


def test_files_and_commits(env: SandboxEnv) -> None:
    pr = open_pr(env, files={"lib.py": "A = 1\nB = 2\nC = 30\n"})
    second = push(env, "feature", {"doc.md": "# doc\n", "README.md": None}, "docs")
    pr = repo_as(env).get_pull(pr.number)
    files = {f.filename: f for f in pr.get_files()}
    assert {n: f.status for n, f in files.items()} == {"lib.py": "modified", "doc.md": "added", "README.md": "removed"}
    assert files["lib.py"].patch == "@@ -1,3 +1,3 @@\n A = 1\n B = 2\n-C = 3\n+C = 30"
    commits = [c.sha for c in pr.get_commits()]
    assert len(commits) == 2 and commits[-1] == second
    assert pr.commits == 2 and pr.changed_files == 3


def test_reviews(env: SandboxEnv) -> None:
    pr = open_pr(env)
    mine = repo_as(env, "wes").get_pull(pr.number)
    with pytest.raises(github.GithubException) as own:
        mine.create_review(event="APPROVE")
    assert own.value.status == 422 and own.value.data["errors"] == ["Can not approve your own pull request"]
    theirs = repo_as(env, "rita").get_pull(pr.number)
    with pytest.raises(github.GithubException) as nobody:
        theirs.create_review(event="REQUEST_CHANGES")
    assert nobody.value.status == 422
    changes = theirs.create_review(event="REQUEST_CHANGES", body="Please rename")
    approve = repo_as(env, "acme").get_pull(pr.number).create_review(event="APPROVE", body="LGTM")
    assert (changes.state, approve.state, approve.commit_id) == ("CHANGES_REQUESTED", "APPROVED", pr.head.sha)
    assert [(r.user.login, r.state) for r in mine.get_reviews()] == [("rita", "CHANGES_REQUESTED"),
                                                                     ("acme", "APPROVED")]
    submitted = env.hooks("pull_request_review", "submitted")
    assert [s["review"]["state"] for s in submitted] == ["changes_requested", "approved"]


def test_merge_refusals_stale_sha_conflicts_and_draft(env: SandboxEnv) -> None:
    pr = open_pr(env, files={"lib.py": "A = 1\nB = feature\nC = 3\n"})
    base = main_sha(env)
    with pytest.raises(github.GithubException) as stale:
        pr.merge(sha=base)
    assert stale.value.status == 409
    assert stale.value.data["message"] == "Head branch was modified. Review and try the merge again."
    push(env, "main", {"lib.py": "A = 1\nB = main\nC = 3\n"}, "clash", "acme")
    moved = main_sha(env)
    fresh = repo_as(env).get_pull(pr.number)
    assert (fresh.mergeable, fresh.mergeable_state) == (False, "dirty")
    with pytest.raises(github.GithubException) as dirty:
        fresh.merge(sha=fresh.head.sha)
    assert (dirty.value.status, dirty.value.data["message"]) == (405, "Pull Request is not mergeable")
    assert main_sha(env) == moved and not env.repo.pulls[pr.number].merged  # type: ignore[attr-defined]
    draft = open_pr(env, "drafty", draft=True)
    assert repo_as(env).get_pull(draft.number).mergeable_state == "draft"
    with pytest.raises(github.GithubException) as is_draft:
        draft.merge()
    assert (is_draft.value.status, is_draft.value.data["message"]) == (405, "Pull Request is still a draft")
    mark_ready(env.world, env.repo, draft.number, "wes")  # type: ignore[attr-defined]
    assert repo_as(env).get_pull(draft.number).mergeable_state == "clean"
    convert_to_draft(env.world, env.repo, draft.number, "wes")  # type: ignore[attr-defined]
    assert repo_as(env).get_pull(draft.number).draft is True
    actions = [a for e, a in env.events() if e == "pull_request"]
    assert actions[-2:] == ["ready_for_review", "converted_to_draft"]


def test_protection_blocks_with_githubs_reasons(env: SandboxEnv) -> None:
    env.repo.protections["main"] = Protection(branch="main", required_checks=["ci"], required_approving_review_count=1)  # type: ignore[attr-defined]
    pr = open_pr(env)
    app_repo = env.gh_app().get_repo("acme/widgets")
    app_pr = app_repo.get_pull(pr.number)
    assert app_pr.mergeable_state == "blocked"

    def refusal() -> str:
        with pytest.raises(github.GithubException) as info:
            app_repo.get_pull(pr.number).merge()
        assert info.value.status == 405
        return info.value.data["message"]

    assert refusal() == 'Required status check "ci" is expected.'
    add_check(env, pr.head.sha, "ci", None, status="in_progress")
    assert refusal() == 'Required status check "ci" is in progress.'
    add_check(env, pr.head.sha, "ci", "failure")
    assert refusal() == 'Required status check "ci" is failing.'
    add_check(env, pr.head.sha, "ci", "success")
    assert refusal() == "At least 1 approving review is required by reviewers with write access."
    repo_as(env, "nobody").get_pull(pr.number).create_review(event="APPROVE")  # no write access: does not count
    assert refusal() == "At least 1 approving review is required by reviewers with write access."
    repo_as(env, "rita").get_pull(pr.number).create_review(event="APPROVE")
    env.repo.statuses.append(Status(id=env.world.next_id(), sha=pr.head.sha, state="failure", context="lint",  # type: ignore[attr-defined]
                                    description=None, target_url=None, creator="acme"))
    assert app_repo.get_pull(pr.number).mergeable_state == "unstable"  # a failing check nobody requires
    result = app_pr.merge(merge_method="squash")
    assert result.merged and main_sha(env) == result.sha
    assert repo_as(env).get_pull(pr.number).merged_by.login == "trunkline[bot]"


def test_admins_bypass_unless_enforced(env: SandboxEnv) -> None:
    env.repo.protections["main"] = Protection(branch="main", required_checks=["ci"], enforce_admins=True)  # type: ignore[attr-defined]
    pr = open_pr(env)
    admin_pr = repo_as(env, "acme").get_pull(pr.number)
    with pytest.raises(github.GithubException) as enforced:
        admin_pr.merge()
    assert enforced.value.status == 405
    env.repo.protections["main"].enforce_admins = False  # type: ignore[attr-defined]
    with pytest.raises(github.GithubException) as writer:
        repo_as(env, "wes").get_pull(pr.number).merge()
    assert writer.value.status == 405
    assert admin_pr.merge().merged


def test_merge_success_moves_base_and_announces_it(env: SandboxEnv) -> None:
    pr = open_pr(env, files={"lib.py": "A = 1\nB = 2\nC = 3\nD = 4\n"})
    other = open_pr(env, "other")
    base = main_sha(env)
    result = pr.merge(commit_title="Ship it", commit_message="Details", sha=pr.head.sha)
    assert (result.merged, result.message) == (True, "Pull Request successfully merged")
    merged = repo_as(env).get_pull(pr.number)
    assert (merged.state, merged.merged, merged.merge_commit_sha, merged.merged_by.login) == (
        "closed", True, result.sha, "wes")
    assert (merged.commits, merged.changed_files) == (1, 1)  # frozen at merge time
    info = git.commit_info(env.repo, result.sha)  # type: ignore[attr-defined]
    assert info.parents == (base, pr.head.sha) and info.message == "Ship it\n\nDetails"
    assert merged.is_merged() and not repo_as(env).get_pull(other.number).is_merged()
    with pytest.raises(github.GithubException) as twice:
        merged.merge()
    assert twice.value.status == 405
    closed = env.hooks("pull_request", "closed")
    assert len(closed) == 1 and closed[0]["pull_request"]["merged"] is True
    assert closed[0]["pull_request"]["merge_commit_sha"] == result.sha
    pushed = env.hooks("push")[-1]
    assert (pushed["ref"], pushed["before"], pushed["after"]) == ("refs/heads/main", base, result.sha)
    assert repo_as(env).get_pull(other.number).mergeable_state == "clean"  # base moved: no event, new state
    assert [a for e, a in env.events() if e == "pull_request"] == ["opened", "opened", "closed"]
    rebased = repo_as(env).get_pull(other.number).merge(merge_method="rebase")
    chain = git.log(env.repo, [f"{result.sha}..{rebased.sha}"])  # type: ignore[attr-defined]
    assert [c.message for c in chain] == ["work on other"] and chain[0].parents == (result.sha,)


def test_update_branch_merges_base_into_head(env: SandboxEnv) -> None:
    env.repo.protections["main"] = Protection(branch="main", strict=True)  # type: ignore[attr-defined]
    pr = open_pr(env)
    with env.http("wes") as http:
        nothing = http.put(f"/repos/acme/widgets/pulls/{pr.number}/update-branch", json={})
        assert nothing.status_code == 422  # the base has no new commits
        push(env, "main", {"main.txt": "m"}, "main moves", "acme")
        assert repo_as(env).get_pull(pr.number).mergeable_state == "behind"
        with pytest.raises(github.GithubException) as behind:
            pr.merge()
        assert behind.value.data["message"] == "Head branch is not up to date with the base branch"
        wrong = http.put(f"/repos/acme/widgets/pulls/{pr.number}/update-branch",
                         json={"expected_head_sha": "0" * 40})
        assert (wrong.status_code, wrong.json()["message"]) == (422, "expected head sha didn't match current head ref.")
    old_head = pr.head.sha
    assert pr.update_branch(expected_head_sha=old_head) is True
    new_head = git.branch_sha(env.repo, "feature")  # type: ignore[attr-defined]
    assert git.commit_info(env.repo, new_head).parents == (old_head, main_sha(env))  # type: ignore[attr-defined]
    sync = env.hooks("pull_request", "synchronize")
    assert [(s["before"], s["after"]) for s in sync] == [(old_head, new_head)]
    fresh = repo_as(env).get_pull(pr.number)
    assert (fresh.head.sha, fresh.mergeable_state) == (new_head, "clean")
    assert fresh.merge(sha=new_head).merged


def test_update_branch_conflict_changes_nothing(env: SandboxEnv) -> None:
    pr = open_pr(env, files={"lib.py": "A = feature\n"})
    push(env, "main", {"lib.py": "A = main\n"}, "clash", "acme")
    with env.http("wes") as http:
        clash = http.put(f"/repos/acme/widgets/pulls/{pr.number}/update-branch", json={})
        assert (clash.status_code, clash.json()["message"]) == (422, "merge conflict between base and head")
    assert git.branch_sha(env.repo, "feature") == pr.head.sha  # type: ignore[attr-defined]


def test_pushes_synchronize_and_dismiss_stale_approvals(env: SandboxEnv) -> None:
    env.repo.protections["main"] = Protection(branch="main", required_approving_review_count=1,  # type: ignore[attr-defined]
                                              dismiss_stale_reviews=True)
    pr = open_pr(env)
    repo_as(env, "rita").get_pull(pr.number).create_review(event="APPROVE")
    assert repo_as(env).get_pull(pr.number).mergeable_state == "clean"
    after = push(env, "feature", {"more.txt": "more"}, "more work")
    fresh = repo_as(env).get_pull(pr.number)
    assert (fresh.head.sha, fresh.mergeable_state) == (after, "blocked")
    assert [r.state for r in fresh.get_reviews()] == ["DISMISSED"]
    assert env.hooks("pull_request_review", "dismissed")[0]["review"]["state"] == "dismissed"
    sync = env.hooks("pull_request", "synchronize")
    assert [(s["before"], s["after"], s["number"]) for s in sync] == [(pr.head.sha, after, pr.number)]
    pushes.delete_branch(env.world, env.repo, "feature", "wes")  # type: ignore[attr-defined]
    gone = repo_as(env).get_pull(pr.number)
    assert (gone.state, gone.head.sha) == ("open", after)  # GitHub keeps it open with its last head


def test_concurrent_merges_and_pushes_lose_nothing(env: SandboxEnv) -> None:
    prs = [open_pr(env, f"par-{i}") for i in range(4)]
    outcomes: dict[int, Any] = {}
    pushed: list[str] = []

    def merge(number: int) -> None:
        try:
            outcomes[number] = repo_as(env).get_pull(number).merge(merge_method="merge").sha
        except github.GithubException as exc:
            outcomes[number] = exc.status

    def push_main() -> None:
        for i in range(3):
            pushed.append(pushes.push_files(env.world, env.repo, "main", {f"direct-{i}.txt": "d"}, f"direct {i}",  # type: ignore[attr-defined]
                                            "acme"))

    threads = [threading.Thread(target=merge, args=(p.number,)) for p in prs] + [threading.Thread(target=push_main)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    tip = main_sha(env)
    landed = git.rev_list(env.repo, tip)  # type: ignore[attr-defined]
    for p in prs:
        result = outcomes[p.number]
        pull = env.repo.pulls[p.number]  # type: ignore[attr-defined]
        if isinstance(result, str):
            assert pull.merged and result in landed and p.head.sha in landed
        else:
            assert result in (405, 409) and not pull.merged
    assert all(sha in landed for sha in pushed)
    assert all(isinstance(outcomes[p.number], str) for p in prs)  # merges serialise; none needed to fail


def test_pull_list_with_auto_created_label_matches_the_simple_shape(sandbox) -> None:
    from trunkline.sandbox.fidelity import validate_response

    sandbox.create_repo("acme", "lbl", files={"a.txt": "1\n"})
    sandbox.grant("acme/lbl", "dev", "write")
    sandbox.push("acme/lbl", "f", {"a.txt": "2\n"}, "two", as_user="dev")
    number = sandbox.open_pr("acme/lbl", head="f", title="F", as_user="dev")
    sandbox.label("acme/lbl", number, "brand-new-label", as_user="dev")  # auto-created, no description
    gh = sandbox.github_as("dev")
    pulls = gh.get_repo("acme/lbl").get_pulls()
    assert [p.number for p in pulls] == [number]
    listed = [e for e in sandbox.request_log if e.method == "GET" and e.route == "/repos/{owner}/{repo}/pulls"]
    assert listed and listed[-1].response_body[0]["labels"][0]["description"] == ""
    assert validate_response("GET", "/repos/{owner}/{repo}/pulls", 200, listed[-1].response_body) == []
