"""Repository, branch, protection, contents, commits, compare and git data routes over HTTP.

PyGithub (what the bot uses) where it has a method, httpx otherwise. Every response the
sandbox sent is validated against GitHub's REST description and every webhook against
octokit's schemas when each test ends.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
from test_hooks import SandboxEnv

from trunkline.sandbox import fidelity, git, pushes
from trunkline.sandbox.routes.repos import CommitRefConvertor

# Where GitHub's description is ambiguous, not the sandbox: the 409 of PUT contents is
# ``oneOf [basic-error, repository-rule-violation-error]`` and GitHub's own conflict body
# ({message, documentation_url, status}) satisfies both alternatives, so "exactly one" fails.
DESCRIPTION_AMBIGUITIES = {("PUT", "/repos/{owner}/{repo}/contents/{path}", 409)}


def assert_faithful(env: SandboxEnv) -> None:
    # GET .../contents/ (the root listing, an empty {path}) is GitHub's own spelling, but the fidelity
    # path matcher cannot match an empty parameter; its body is checked in the test itself instead.
    entries = [e for e in env.world.request_log if not e.path.endswith("/contents/")]
    report = fidelity.check_log(entries)
    unexpected = {k: v for k, v in report.errors.items() if k not in DESCRIPTION_AMBIGUITIES}
    assert not unexpected, report.summary()
    assert env.sender.flush(10)
    with env.recorder.lock:
        deliveries = [(h["x-github-event"], json.loads(b)) for h, b in env.recorder.requests]
    for event, payload in deliveries:
        assert fidelity.validate_webhook(event, payload) == [], (event, payload.get("action"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SandboxEnv]:
    e = SandboxEnv(tmp_path / "w")
    pushes.install(e.world)
    repo = e.world.add_repo("acme", "widgets")
    git.init_repo(repo, {"README.md": "# widgets\n", "src/app.py": "print('hi')\n", "src/util.py": "X = 1\n"},
                  "acme")
    repo.collaborators["wes"] = "write"
    e.repo = repo  # type: ignore[attr-defined]
    try:
        yield e
        assert_faithful(e)
    finally:
        e.close()


def gh_repo(env: SandboxEnv, login: str = "wes") -> Any:
    return env.gh(login).get_repo("acme/widgets")


def main_sha(env: SandboxEnv) -> str:
    return git.branch_sha(env.repo, "main")  # type: ignore[attr-defined]


def test_repository_and_branches(env: SandboxEnv) -> None:
    r = gh_repo(env)
    assert (r.full_name, r.default_branch, r.permissions.push, r.permissions.admin) == (
        "acme/widgets", "main", True, False)
    pushes.push_files(env.world, env.repo, "feature/x", {"f.txt": "f"}, "feature", "wes")  # type: ignore[attr-defined]
    assert sorted(b.name for b in r.get_branches()) == ["feature/x", "main"]
    branch = r.get_branch("feature/x")
    assert branch.commit.sha == git.branch_sha(env.repo, "feature/x")  # type: ignore[attr-defined]
    assert branch.protected is False
    assert branch.commit.commit.message == "feature"
    with pytest.raises(github.GithubException) as info:
        r.get_branch("nope")
    assert info.value.status == 404


def test_protection_lifecycle(env: SandboxEnv) -> None:
    admin = gh_repo(env, "acme")
    body = {"required_status_checks": {"strict": True, "contexts": ["ci"], "checks": [{"context": "lint"}]},
            "enforce_admins": True,
            "required_pull_request_reviews": {"required_approving_review_count": 2, "dismiss_stale_reviews": True},
            "restrictions": None}
    with env.http("wes") as http:
        denied = http.put("/repos/acme/widgets/branches/main/protection", json=body)
        assert denied.status_code == 403
    with env.http("acme") as http:
        missing = http.put("/repos/acme/widgets/branches/main/protection", json={"enforce_admins": True})
        assert missing.status_code == 422 and "wasn't supplied" in missing.json()["message"]
        put = http.put("/repos/acme/widgets/branches/main/protection", json=body)
        assert put.status_code == 200, put.text
        listed = http.get("/repos/acme/widgets/branches", params={"protected": "true"}).json()
        assert [b["name"] for b in listed] == ["main"]
    prot = env.repo.protections["main"]  # type: ignore[attr-defined]
    assert (prot.required_checks, prot.strict, prot.required_approving_review_count, prot.dismiss_stale_reviews,
            prot.enforce_admins) == (["ci", "lint"], True, 2, True, True)
    branch = admin.get_branch("main")
    assert branch.protected is True
    got = branch.get_protection()
    assert got.required_status_checks.contexts == ["ci", "lint"] and got.required_status_checks.strict is True
    assert got.required_pull_request_reviews.required_approving_review_count == 2
    assert got.enforce_admins is True
    assert branch.get_required_status_checks().contexts == ["ci", "lint"]
    branch.remove_protection()
    assert "main" not in env.repo.protections  # type: ignore[attr-defined]
    with pytest.raises(github.GithubException) as info:
        branch.get_protection()
    assert (info.value.status, info.value.data["message"]) == (404, "Branch not protected")
    # PyGithub's own edit_protection body round-trips too.
    branch.edit_protection(strict=False, contexts=["ci"], required_approving_review_count=1)
    assert env.repo.protections["main"].required_checks == ["ci"]  # type: ignore[attr-defined]


def test_contents_read_files_directories_and_refs(env: SandboxEnv) -> None:
    r = gh_repo(env)
    old = main_sha(env)
    f = r.get_contents("src/app.py")
    assert f.decoded_content == b"print('hi')\n"
    assert f.sha == git.blob_at(env.repo, "main", "src/app.py")[0]  # type: ignore[attr-defined]
    listing = r.get_contents("src")
    assert sorted((c.path, c.type) for c in listing) == [("src/app.py", "file"), ("src/util.py", "file")]
    root = r.get_contents("")
    assert {(c.name, c.type) for c in root} == {("README.md", "file"), ("src", "dir")}
    root_entry = env.world.request_log[-1]
    assert fidelity.validate_response("GET", "/repos/{owner}/{repo}/contents/{path}", 200,
                                      root_entry.response_body) == []
    pushes.push_files(env.world, env.repo, "main", {"src/app.py": "print('v2')\n"}, "v2", "wes")  # type: ignore[attr-defined]
    assert r.get_contents("src/app.py").decoded_content == b"print('v2')\n"
    assert r.get_contents("src/app.py", ref=old).decoded_content == b"print('hi')\n"
    with pytest.raises(github.GithubException) as info:
        r.get_contents("missing.txt")
    assert info.value.status == 404
    with pytest.raises(github.GithubException) as info:
        r.get_contents("README.md", ref="no-such-ref")
    assert info.value.status == 404


def test_contents_write_with_sha_guard_and_push_event(env: SandboxEnv) -> None:
    r = gh_repo(env)
    before = main_sha(env)
    created = r.create_file("docs/guide.md", "Add guide", "# Guide\n")
    sha1 = created["commit"].sha
    assert git.commit_info(env.repo, sha1).parents == (before,)  # type: ignore[attr-defined]
    assert created["content"].sha == git.blob_at(env.repo, sha1, "docs/guide.md")[0]  # type: ignore[attr-defined]
    with env.http("wes") as http:
        no_sha = http.put("/repos/acme/widgets/contents/docs/guide.md",
                          json={"message": "m", "content": base64.b64encode(b"x").decode()})
        assert no_sha.status_code == 422 and '"sha" wasn\'t supplied' in no_sha.json()["message"]
        stale = http.put("/repos/acme/widgets/contents/docs/guide.md",
                         json={"message": "m", "content": base64.b64encode(b"x").decode(), "sha": "0" * 40})
        assert stale.status_code == 409
        assert main_sha(env) == sha1  # refused writes change nothing
        reader = env.http("nobody").put("/repos/acme/widgets/contents/x.md",
                                        json={"message": "m", "content": base64.b64encode(b"x").decode()})
        assert reader.status_code == 404  # GitHub hides what a reader may not write
    updated = r.update_file("docs/guide.md", "Edit guide", "# Guide v2\n", created["content"].sha, branch="main")
    assert r.get_contents("docs/guide.md").decoded_content == b"# Guide v2\n"
    deleted = r.delete_file("docs/guide.md", "Remove guide", updated["content"].sha)
    assert git.blob_at(env.repo, deleted["commit"].sha, "docs/guide.md") is None  # type: ignore[attr-defined]
    pushed = env.hooks("push")
    assert [p["head_commit"]["message"] for p in pushed] == ["Add guide", "Edit guide", "Remove guide"]
    first = pushed[0]
    assert (first["ref"], first["before"], first["after"]) == ("refs/heads/main", before, sha1)
    assert (first["created"], first["deleted"], first["forced"]) == (False, False, False)
    assert first["commits"][0]["added"] == ["docs/guide.md"] and first["pusher"]["name"] == "wes"
    assert pushed[2]["commits"][0]["removed"] == ["docs/guide.md"]
    assert isinstance(first["repository"]["created_at"], int) and first["repository"]["master_branch"] == "main"


def test_commits_list_get_and_compare(env: SandboxEnv) -> None:
    r = gh_repo(env)
    root = main_sha(env)
    c1 = pushes.push_files(env.world, env.repo, "main", {"src/util.py": "X = 2\n"}, "bump X", "wes")  # type: ignore[attr-defined]
    c2 = pushes.push_files(env.world, env.repo, "main", {"README.md": "# w\n"}, "readme", "acme")  # type: ignore[attr-defined]
    f1 = pushes.push_files(env.world, env.repo, "feat/y", {"y.txt": "y\n"}, "add y", "wes", base=c1)  # type: ignore[attr-defined]
    assert [c.sha for c in r.get_commits()] == [c2, c1, root]
    assert [c.sha for c in r.get_commits(path="src/util.py")] == [c1, root]
    assert [c.sha for c in r.get_commits(sha="feat/y")] == [f1, c1, root]
    commit = r.get_commit(c1)
    assert commit.commit.message == "bump X" and commit.author.login == "wes"
    assert [(f.filename, f.status, f.additions, f.deletions) for f in commit.files] == [("src/util.py", "modified", 1, 1)]
    assert commit.stats.total == 2
    assert r.get_commit("feat/y").sha == f1  # a branch name with a slash
    with pytest.raises(github.GithubException) as info:
        r.get_commit("f" * 40)
    assert info.value.status == 422
    cmp = r.compare("main", "feat/y")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by, cmp.total_commits) == ("diverged", 1, 1, 1)
    assert cmp.merge_base_commit.sha == c1 and [c.sha for c in cmp.commits] == [f1]
    assert [f.filename for f in cmp.files] == ["y.txt"]
    assert r.compare(c1, "main").status == "ahead"
    assert r.compare("main", c1).status == "behind"
    assert r.compare("main", "main").status == "identical"
    with env.http("wes") as http:
        assert http.get("/repos/acme/widgets/compare/main...nope").status_code == 404


def test_commit_ref_routes_leave_sub_resources_to_other_areas() -> None:
    rx = re.compile(rf"^(?:{CommitRefConvertor.regex})$")
    for ok in ("abc123", "feature/x", "release/1.0/hotfix"):
        assert rx.match(ok)
    for other in ("abc/check-runs", "abc/check-suites", "abc/status", "abc/statuses", "abc/comments",
                  "abc/pulls", "feature/x/check-runs"):
        assert not rx.match(other)


def test_git_refs_crud_fast_forward_and_push_events(env: SandboxEnv) -> None:
    r = gh_repo(env)
    base = main_sha(env)
    ref = r.create_git_ref("refs/heads/topic", base)
    assert (ref.ref, ref.object.sha) == ("refs/heads/topic", base)
    with env.http("wes") as http:
        dup = http.post("/repos/acme/widgets/git/refs", json={"ref": "refs/heads/topic", "sha": base})
        assert dup.status_code == 422 and dup.json()["message"] == "Reference already exists"
        bad = http.post("/repos/acme/widgets/git/refs", json={"ref": "heads/topic", "sha": base})
        assert bad.status_code == 422
        ghost = http.post("/repos/acme/widgets/git/refs", json={"ref": "refs/heads/ghost", "sha": "1" * 40})
        assert ghost.status_code == 422 and ghost.json()["message"] == "Object does not exist"
    ahead = git.commit_files(env.repo, base, {"t.txt": "t"}, "topic work", "wes")  # type: ignore[attr-defined]
    got = r.get_git_ref("heads/topic")
    got.edit(ahead)
    assert git.branch_sha(env.repo, "topic") == ahead  # type: ignore[attr-defined]
    sideways = git.commit_files(env.repo, base, {"s.txt": "s"}, "sideways", "wes")  # type: ignore[attr-defined]
    with pytest.raises(github.GithubException) as info:
        r.get_git_ref("heads/topic").edit(sideways)
    assert (info.value.status, info.value.data["message"]) == (422, "Update is not a fast forward")
    assert git.branch_sha(env.repo, "topic") == ahead  # type: ignore[attr-defined]
    r.get_git_ref("heads/topic").edit(sideways, force=True)
    assert git.branch_sha(env.repo, "topic") == sideways  # type: ignore[attr-defined]
    assert [x.ref for x in r.get_git_matching_refs("heads/")] == ["refs/heads/main", "refs/heads/topic"]
    r.get_git_ref("heads/topic").delete()
    assert git.branch_sha(env.repo, "topic") is None  # type: ignore[attr-defined]
    with env.http("wes") as http:
        again = http.delete("/repos/acme/widgets/git/refs/heads/topic")
        assert again.status_code == 422
        assert http.get("/repos/acme/widgets/git/ref/heads/topic").status_code == 404
    pushed = [(p["created"], p["deleted"], p["forced"], p["after"]) for p in env.hooks("push")]
    assert pushed == [(True, False, False, base), (False, False, False, ahead), (False, False, True, sideways),
                      (False, True, False, "0" * 40)]


def test_git_blobs_trees_and_commits(env: SandboxEnv) -> None:
    r = gh_repo(env)
    text = r.create_git_blob("hello\n", "utf-8")
    binary = r.create_git_blob(base64.b64encode(b"\x00\xff").decode(), "base64")
    assert base64.b64decode(r.get_git_blob(binary.sha).content) == b"\x00\xff"
    assert r.get_git_blob(text.sha).size == 6
    base_tree = r.get_git_tree("main")
    tree = r.create_git_tree([
        github.InputGitTreeElement("docs/hello.txt", "100644", "blob", sha=text.sha),
        github.InputGitTreeElement("bin.dat", "100644", "blob", sha=binary.sha),
        github.InputGitTreeElement("inline.txt", "100644", "blob", content="inline\n"),
        github.InputGitTreeElement("src/util.py", "100644", "blob", sha=None),
    ], base_tree=base_tree)
    paths = {e.path for e in r.get_git_tree(tree.sha, recursive=True).tree}
    assert paths == {"README.md", "src", "src/app.py", "docs", "docs/hello.txt", "bin.dat", "inline.txt"}
    parent = r.get_git_commit(main_sha(env))
    commit = r.create_git_commit("via the git data API", tree, [parent])
    assert commit.tree.sha == tree.sha and [p.sha for p in commit.parents] == [parent.sha]
    assert r.get_git_commit(commit.sha).message == "via the git data API"
    assert git.branch_sha(env.repo, "main") == parent.sha  # creating objects moves no ref  # type: ignore[attr-defined]
    with env.http("wes") as http:
        bad_tree = http.post("/repos/acme/widgets/git/commits", json={"message": "m", "tree": "2" * 40})
        assert bad_tree.status_code == 422
        both = http.post("/repos/acme/widgets/git/trees",
                         json={"tree": [{"path": "a", "mode": "100644", "type": "blob", "sha": text.sha,
                                         "content": "x"}]})
        assert both.status_code == 422
        assert http.get(f"/repos/acme/widgets/git/blobs/{tree.sha}").status_code == 404
        assert http.get(f"/repos/acme/widgets/git/commits/{text.sha}").status_code == 404
