"""JSON shapes shared by every area: users, repositories, installations.

Shapes are built from the World's real data; each function documents which schema it
satisfies. REST responses follow ``components/schemas`` of GitHub's REST description;
webhook payloads follow octokit's ``payload-schemas/api.github.com/common`` (which forbid
extra properties, hence the ``webhook`` flavour).
"""

from __future__ import annotations

import base64
from typing import Any

from ..world import Repo, World, iso


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0:{kind}{number}".encode()).decode().rstrip("=")


def user(world: World, login: str | None) -> dict[str, Any] | None:
    """``simple-user`` (REST) and ``common/user`` (webhooks) — the same fields satisfy both."""
    if login is None:
        return None
    u = world.user(login)
    api = world.api(f"/users/{u.login}")
    return {
        "login": u.login,
        "id": u.id,
        "node_id": node_id("User" if u.type != "Bot" else "Bot", u.id),
        "avatar_url": f"{world.web_url}/avatars/u/{u.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{world.web_url}/{u.login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": u.type,
        "site_admin": u.site_admin,
    }


def _repo_urls(world: World, repo: Repo) -> dict[str, Any]:
    api = world.api(f"/repos/{repo.full_name}")
    return {
        "html_url": f"{world.web_url}/{repo.full_name}",
        "url": api,
        "forks_url": f"{api}/forks",
        "keys_url": f"{api}/keys{{/key_id}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "teams_url": f"{api}/teams",
        "hooks_url": f"{api}/hooks",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "events_url": f"{api}/events",
        "assignees_url": f"{api}/assignees{{/user}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "tags_url": f"{api}/tags",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "languages_url": f"{api}/languages",
        "stargazers_url": f"{api}/stargazers",
        "contributors_url": f"{api}/contributors",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "commits_url": f"{api}/commits{{/sha}}",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "comments_url": f"{api}/comments{{/number}}",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "merges_url": f"{api}/merges",
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{api}/downloads",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "labels_url": f"{api}/labels{{/name}}",
        "releases_url": f"{api}/releases{{/id}}",
        "deployments_url": f"{api}/deployments",
    }


def repository(world: World, repo: Repo, *, flavour: str = "rest", viewer: str | None = None) -> dict[str, Any]:
    """A repository.

    flavour "rest"    -> ``full-repository`` (GET /repos/{owner}/{repo}) and ``repository``;
    flavour "minimal" -> ``minimal-repository`` (e.g. installation repository lists);
    flavour "webhook" -> octokit ``common/repository`` (no extra properties allowed).
    """
    open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
    clone = f"{world.web_url}/{repo.full_name}.git"
    data: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user(world, repo.owner),
        "description": repo.description,
        "fork": repo.fork_of is not None,
        **_repo_urls(world, repo),
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.updated_at),
        "pushed_at": iso(repo.pushed_at),
        "git_url": f"git://{world.web_url.split('://', 1)[-1]}/{repo.full_name}.git",
        "ssh_url": f"git@sandbox:{repo.full_name}.git",
        "clone_url": clone,
        "svn_url": f"{world.web_url}/{repo.full_name}",
        "homepage": None,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": True,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": open_issues,
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private" if repo.private else "public",
        "forks": 0,
        "open_issues": open_issues,
        "watchers": 0,
        "default_branch": repo.default_branch,
    }
    if flavour == "webhook":
        data["custom_properties"] = {}
        return data
    data["permissions"] = _permissions(world, repo, viewer)
    if flavour == "minimal":
        return data
    data.update({
        "allow_rebase_merge": True,
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_auto_merge": False,
        "delete_branch_on_merge": False,
        "allow_update_branch": True,
        "use_squash_pr_title_as_default": False,
        "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
        "squash_merge_commit_message": "COMMIT_MESSAGES",
        "merge_commit_title": "MERGE_MESSAGE",
        "merge_commit_message": "PR_TITLE",
        "network_count": 0,
        "subscribers_count": 0,
        "temp_clone_token": None,
    })
    return data


def _permissions(world: World, repo: Repo, viewer: str | None) -> dict[str, bool]:
    from ..world import PERMISSION_LEVELS

    level = world.permission(repo, viewer) if viewer else "read"
    rank = PERMISSION_LEVELS.index(level)
    return {
        "admin": rank >= PERMISSION_LEVELS.index("admin"),
        "maintain": rank >= PERMISSION_LEVELS.index("maintain"),
        "push": rank >= PERMISSION_LEVELS.index("write"),
        "triage": rank >= PERMISSION_LEVELS.index("triage"),
        "pull": rank >= PERMISSION_LEVELS.index("read"),
    }


def installation_lite(installation_id: int | None) -> dict[str, Any] | None:
    if installation_id is None:
        return None
    return {"id": installation_id, "node_id": node_id("Installation", installation_id)}
