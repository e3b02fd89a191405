"""Issues, labels, comments and reactions over HTTP (PyGithub where it can), with their webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import github
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_hooks import SandboxEnv

from trunkline.sandbox import git
from trunkline.sandbox.routes.issues import issue_matches, parse_label_names
from trunkline.sandbox.world import Issue, Pull


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SandboxEnv]:
    e = SandboxEnv(tmp_path / "w")
    repo = e.world.add_repo("acme", "widgets")
    git.init_repo(repo, {"README.md": "# widgets\n"}, "acme")
    repo.collaborators["maria"] = "triage"
    repo.collaborators["wes"] = "write"
    e.repo = repo  # type: ignore[attr-defined]
    yield e
    e.close()


def add_pull(env: SandboxEnv, title: str = "Add widget", user: str = "wes") -> Issue:
    """A pull request record (issue half + pull half) without going through the pulls routes."""
    world, repo = env.world, env.repo  # type: ignore[attr-defined]
    head = git.commit_files(repo, f"feature-{repo.next_number}", {"w.txt": title}, title, author_login=user,
                            base="main")
    iss = Issue(id=world.next_id(), number=repo.take_number(), title=title, body="", user=user, is_pull=True)
    repo.issues[iss.number] = iss
    repo.pulls[iss.number] = Pull(number=iss.number, id=world.next_id(), head_ref=f"feature-{iss.number}",
                                  base_ref="main", head_repo_id=repo.id, head_sha=head,
                                  base_sha=git.branch_sha(repo, "main") or "")
    return iss


def test_open_list_close_reopen(env: SandboxEnv) -> None:
    gh_repo = env.gh("wes").get_repo("acme/widgets", lazy=True)
    created = gh_repo.create_issue(title="Widgets wobble", body="They do.", labels=["bug", "p1"])
    assert created.number == 1 and created.state == "open" and created.user.login == "wes"
    assert sorted(lab.name for lab in created.labels) == ["bug", "p1"]
    add_pull(env)

    listed = list(gh_repo.get_issues(state="open"))
    assert [i.number for i in listed] == [2, 1], "newest first; pull requests are issues too"
    assert listed[0].pull_request is not None and listed[1].pull_request is None
    assert [i.number for i in gh_repo.get_issues(labels=["bug"])] == [1]

    created.edit(state="closed", state_reason="not_planned")
    again = gh_repo.get_issue(1)
    assert again.state == "closed" and again.state_reason == "not_planned" and again.closed_by.login == "wes"
    assert [i.number for i in gh_repo.get_issues(state="closed")] == [1]
    again.edit(state="open")
    assert gh_repo.get_issue(1).state_reason == "reopened"

    assert env.events() == [("label", "created"), ("label", "created"), ("issues", "opened"),
                            ("issues", "labeled"), ("issues", "labeled"), ("issues", "closed"),
                            ("issues", "reopened")]
    opened = env.hooks("issues", "opened")[0]
    assert opened["issue"]["number"] == 1 and opened["sender"]["login"] == "wes"
    assert opened["installation"]["id"] == env.inst.id
    assert [h["label"]["name"] for h in env.hooks("issues", "labeled")] == ["bug", "p1"]
    env.assert_faithful()


def test_readers_open_issues_but_cannot_triage(env: SandboxEnv) -> None:
    gh_repo = env.gh("rando").get_repo("acme/widgets", lazy=True)
    issue = gh_repo.create_issue(title="Question", labels=["bug"])
    assert issue.labels == [], "labels from someone without triage access are dropped"
    issue.edit(title="Question (edited)", body="more")  # the author may edit
    with pytest.raises(github.GithubException) as exc:
        issue.add_to_labels("bug")
    assert exc.value.status == 403
    stranger = env.gh("other").get_repo("acme/widgets", lazy=True).get_issue(issue.number)
    with pytest.raises(github.GithubException) as exc:
        stranger.edit(state="closed")
    assert exc.value.status == 403
    edited = env.hooks("issues", "edited")
    assert edited[0]["changes"] == {"title": {"from": "Question"}, "body": {"from": ""}}
    with env.http("wes") as http:
        assert http.post("/repos/acme/widgets/issues", json={"title": ""}).status_code == 422
        assert http.post("/repos/acme/widgets/issues", json={"body": "x"}).status_code == 422
        assert http.get("/repos/acme/widgets/issues/99").status_code == 404
        assert http.patch(f"/repos/acme/widgets/issues/{issue.number}", json={"state": "gone"}).status_code == 422
    env.assert_faithful()


def test_labels_add_set_remove(env: SandboxEnv) -> None:
    gh_repo = env.gh("maria").get_repo("acme/widgets", lazy=True)
    issue = env.gh("rando").get_repo("acme/widgets", lazy=True).create_issue(title="x")
    issue = gh_repo.get_issue(issue.number)
    issue.add_to_labels("Bug", "needs-review")
    assert sorted(lab.name for lab in issue.get_labels()) == ["Bug", "needs-review"]
    issue.add_to_labels("bug")  # case-insensitive: no duplicate, no event
    issue.set_labels("needs-review", "ready")
    assert [lab.name for lab in gh_repo.get_issue(issue.number).labels] == ["needs-review", "ready"]
    issue.remove_from_labels("ready")
    with pytest.raises(github.GithubException) as exc:
        issue.remove_from_labels("ready")
    assert exc.value.status == 404 and exc.value.data["message"] == "Label does not exist"
    assert sorted(lab.name for lab in gh_repo.get_labels()) == ["Bug", "needs-review", "ready"]
    with env.http("maria") as http:
        assert http.get("/repos/acme/widgets/labels/BUG").json()["name"] == "Bug"
        assert http.get("/repos/acme/widgets/labels/nope").status_code == 404

    labelled = [(h["action"], h["label"]["name"]) for h in env.hooks("issues") if "label" in h]
    assert labelled == [("labeled", "Bug"), ("labeled", "needs-review"), ("unlabeled", "Bug"),
                        ("labeled", "ready"), ("unlabeled", "ready")]

    wes = env.gh("wes").get_repo("acme/widgets", lazy=True)
    made = wes.create_label("area/ci", "00ff00", "CI things")
    assert made.name == "area/ci" and made.color == "00ff00"
    assert wes.get_label("area/ci").color == "00ff00"  # a slash in the name, URL-encoded
    with pytest.raises(github.GithubException) as exc:
        wes.create_label("AREA/ci", "00ff00")
    assert exc.value.status == 422
    with pytest.raises(github.GithubException) as exc:
        wes.create_label("bad", "nothex")
    assert exc.value.status == 422
    issue.add_to_labels("area/ci")
    issue.remove_from_labels("area/ci")
    with env.http("maria") as http:
        answer = http.post(f"/repos/acme/widgets/issues/{issue.number}/labels", json={"labels": ["x", {"name": "y"}]})
        assert answer.status_code == 200 and [lab["name"] for lab in answer.json()] == ["needs-review", "x", "y"]
        assert http.delete(f"/repos/acme/widgets/issues/{issue.number}/labels").status_code == 204
        assert http.get(f"/repos/acme/widgets/issues/{issue.number}/labels").json() == []
    env.assert_faithful()


def test_pull_request_labels_and_state_announce_pull_request_events(env: SandboxEnv) -> None:
    pytest.importorskip("trunkline.sandbox.shapes.pulls", reason="pulls shapes not landed yet")
    pr = add_pull(env)
    issue = env.gh("maria").get_repo("acme/widgets", lazy=True).get_issue(pr.number)
    assert issue.pull_request is not None
    issue.add_to_labels("trunkline:ship")
    issue.edit(state="closed")
    issue.edit(state="open")
    issue.remove_from_labels("trunkline:ship")
    pulls = [(h["action"], h["number"]) for h in env.hooks("pull_request")]
    assert pulls == [("labeled", pr.number), ("closed", pr.number), ("reopened", pr.number),
                     ("unlabeled", pr.number)]
    assert env.hooks("pull_request", "labeled")[0]["label"]["name"] == "trunkline:ship"
    assert env.hooks("issues") == []
    env.assert_faithful()


def test_comments_lifecycle_and_app_comments(env: SandboxEnv) -> None:
    issue = env.gh("wes").get_repo("acme/widgets", lazy=True).create_issue(title="x")
    pr = add_pull(env)
    c1 = issue.create_comment("first")
    bot_pr = env.gh_app().get_repo("acme/widgets", lazy=True).get_issue(pr.number)
    c2 = bot_pr.create_comment("I am a bot")
    assert c2.user.login == "trunkline[bot]" and c2.performed_via_github_app.slug == "trunkline"
    c1.edit("first (edited)")
    assert issue.get_comment(c1.id).body == "first (edited)"
    with pytest.raises(github.GithubException) as exc:
        env.gh("rando").get_repo("acme/widgets", lazy=True).get_issue(issue.number).get_comment(c1.id).edit("hijack")
    assert exc.value.status == 403
    assert [c.body for c in issue.get_comments()] == ["first (edited)"]
    assert [c.id for c in env.gh("wes").get_repo("acme/widgets", lazy=True).get_issues_comments()] == [c1.id, c2.id]
    assert env.gh("wes").get_repo("acme/widgets", lazy=True).get_issue(issue.number).comments == 1
    c1.delete()
    assert [c.body for c in issue.get_comments()] == []

    created = env.hooks("issue_comment", "created")
    assert [h["comment"]["body"] for h in created] == ["first", "I am a bot"]
    assert "pull_request" not in created[0]["issue"] and "pull_request" in created[1]["issue"]
    assert created[1]["comment"]["performed_via_github_app"]["id"] == env.app.id
    assert created[1]["sender"]["login"] == "trunkline[bot]" and created[1]["sender"]["type"] == "Bot"
    assert env.hooks("issue_comment", "edited")[0]["changes"] == {"body": {"from": "first"}}
    assert env.hooks("issue_comment", "deleted")[0]["comment"]["id"] == c1.id
    with env.http("wes") as http:
        assert http.get(f"/repos/acme/widgets/issues/comments/{c1.id}").status_code == 404
        assert http.post(f"/repos/acme/widgets/issues/{issue.number}/comments", json={}).status_code == 422
    env.assert_faithful()


def test_reactions_roll_up(env: SandboxEnv) -> None:
    issue = env.gh("wes").get_repo("acme/widgets", lazy=True).create_issue(title="x")
    comment = issue.create_comment("/ship")
    with env.http("wes") as wes, env.http("maria") as maria:
        base = f"/repos/acme/widgets/issues/comments/{comment.id}/reactions"
        first = wes.post(base, json={"content": "eyes"})
        assert first.status_code == 201
        same = wes.post(base, json={"content": "eyes"})
        assert same.status_code == 200 and same.json()["id"] == first.json()["id"]
        assert maria.post(base, json={"content": "+1"}).status_code == 201
        assert wes.post(base, json={"content": "thumbsup"}).status_code == 422
        assert [r["content"] for r in wes.get(base, params={"content": "eyes"}).json()] == ["eyes"]
        rollup = wes.get(f"/repos/acme/widgets/issues/comments/{comment.id}").json()["reactions"]
        assert rollup["total_count"] == 2 and rollup["eyes"] == 1 and rollup["+1"] == 1
        assert maria.delete(f"{base}/{first.json()['id']}").status_code == 403
        assert wes.delete(f"{base}/{first.json()['id']}").status_code == 204
        assert wes.get(f"/repos/acme/widgets/issues/comments/{comment.id}").json()["reactions"]["total_count"] == 1

        ibase = f"/repos/acme/widgets/issues/{issue.number}/reactions"
        assert maria.post(ibase, json={"content": "rocket"}).status_code == 201
        assert wes.get(f"/repos/acme/widgets/issues/{issue.number}").json()["reactions"]["rocket"] == 1
    # PyGithub reads the same data.
    got = env.gh("wes").get_repo("acme/widgets", lazy=True).get_issue(issue.number).get_comment(comment.id)
    assert [r.content for r in got.get_reactions()] == ["+1"]
    env.assert_faithful()


@given(st.one_of(
    st.lists(st.text(min_size=1).filter(str.strip), max_size=5),
    st.lists(st.text(min_size=1).filter(str.strip).map(lambda n: {"name": n}), max_size=5)))
def test_parse_label_names_accepts_both_shapes(items: list) -> None:
    expected = [(i["name"] if isinstance(i, dict) else i).strip() for i in items]
    assert parse_label_names(items) == expected
    assert parse_label_names({"labels": items}) == expected


@given(st.sampled_from(["open", "closed"]), st.sampled_from(["open", "closed", "all"]),
       st.lists(st.sampled_from(["a", "B", "c"]), unique=True), st.lists(st.sampled_from(["A", "b"]), unique=True))
def test_issue_matches_state_and_labels(state: str, wanted: str, has: list[str], query: list[str]) -> None:
    iss = Issue(id=1, number=1, title="t", body=None, user="u", state=state, labels=has)
    expected = (wanted in ("all", state)) and all(q.lower() in {h.lower() for h in has} for q in query)
    assert issue_matches(iss, state=wanted, labels=query, creator=None, assignee=None, since=None) == expected


# ---------------------------------------------------------------------------- collaborators

def test_collaborator_permissions(env: SandboxEnv) -> None:
    owner = env.gh("acme").get_repo("acme/widgets", lazy=True)
    env.world.user("rando")
    assert owner.get_collaborator_permission("maria") == "read", "triage reads as read in `permission`"
    assert owner.get_collaborator_permission("wes") == "write"
    assert owner.get_collaborator_permission("acme") == "admin"
    assert owner.get_collaborator_role_name("maria") == "triage"
    assert owner.get_collaborator_permission("rando") == "read", "public repo: everyone reads"

    owner.add_to_collaborators("lee", permission="maintain")
    with env.http(token=env.app_token) as http:
        got = http.get("/repos/acme/widgets/collaborators/lee/permission").json()
        assert got["permission"] == "write" and got["role_name"] == "maintain" and got["user"]["login"] == "lee"
        assert got["user"]["permissions"] == {"pull": True, "triage": True, "push": True, "maintain": True,
                                              "admin": False}
        assert http.get("/repos/acme/widgets/collaborators/nobody-at-all/permission").status_code == 404
        assert http.get("/repos/acme/widgets/collaborators/lee").status_code == 204
        assert http.get("/repos/acme/widgets/collaborators/rando").status_code == 404
    owner.add_to_collaborators("lee", permission="push")  # already one: 204, permission changed
    assert owner.get_collaborator_role_name("lee") == "write"
    assert sorted(c.login for c in owner.get_collaborators()) == ["acme", "lee", "maria", "wes"]
    assert sorted(c.login for c in owner.get_collaborators(permission="push")) == ["acme", "lee", "wes"]
    owner.remove_from_collaborators("lee")
    assert owner.get_collaborator_permission("lee") == "read"

    with pytest.raises(github.GithubException) as exc:
        env.gh("wes").get_repo("acme/widgets", lazy=True).add_to_collaborators("eve", permission="admin")
    assert exc.value.status == 403
    with env.http("acme") as http:
        assert http.put("/repos/acme/widgets/collaborators/eve", json={"permission": "god"}).status_code == 422
        first = http.put("/repos/acme/widgets/collaborators/eve", json={"permission": "triage"})
        assert first.status_code == 201 and first.json()["permissions"] == "triage"

    members = [(h["action"], h["member"]["login"]) for h in env.hooks("member")]
    assert members == [("added", "lee"), ("edited", "lee"), ("removed", "lee"), ("added", "eve")]
    assert env.hooks("member", "edited")[0]["changes"] == {"old_permission": {"from": "maintain"}}
    env.assert_faithful()
