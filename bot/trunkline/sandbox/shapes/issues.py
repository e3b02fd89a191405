"""JSON shapes for issues, labels, issue comments and reactions (plus webhook envelope helpers).

REST flavours follow ``components/schemas`` (``issue``, ``label``, ``issue-comment``, ``reaction``,
``reaction-rollup``, ``integration``); webhook flavours follow octokit's ``common/issue``,
``common/issue-comment``, ``common/label``, ``common/app`` which forbid extra properties.

The envelope helpers (:func:`envelope`, :func:`github_app`, :func:`webhook_clean`) are shared by
the other areas' shapes (checks, deployments, actions).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..world import PERMISSION_LEVELS, AppReg, Comment, Issue, Label, Reaction, Repo, World, iso
from .common import node_id, repository, user

REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

# octokit's common/app.schema.json knows only these permission names and "read"/"write" levels,
# and only these event names (additionalProperties: false / enum).
_WEBHOOK_APP_PERMISSIONS = frozenset({
    "actions", "administration", "blocking", "checks", "content_references", "contents", "deployments",
    "discussions", "emails", "environments", "followers", "gpg_keys", "interaction_limits", "issues", "keys",
    "members", "merge_queues", "metadata", "organization_administration", "organization_hooks",
    "organization_packages", "organization_plan", "organization_projects", "organization_secrets",
    "organization_self_hosted_runners", "organization_user_blocking", "packages", "pages", "plan",
    "pull_requests", "repository_hooks", "repository_projects", "secret_scanning_alerts", "secrets",
    "security_events", "security_scanning_alert", "single_file", "starring", "statuses", "team_discussions",
    "vulnerability_alerts", "watching", "workflows"})
_WEBHOOK_APP_EVENTS = frozenset({
    "branch_protection_rule", "check_run", "check_suite", "code_scanning_alert", "commit_comment", "create",
    "delete", "dependabot_alert", "deployment", "deployment_protection_rule", "deployment_review",
    "deployment_status", "deploy_key", "discussion", "discussion_comment", "fork", "gollum", "issues",
    "issue_comment", "label", "member", "membership", "merge_group", "merge_queue_entry", "milestone",
    "organization", "org_block", "page_build", "project", "projects_v2_item", "project_card", "project_column",
    "public", "pull_request", "pull_request_review", "pull_request_review_comment",
    "pull_request_review_thread", "push", "registry_package", "release", "repository", "repository_dispatch",
    "repository_ruleset", "secret_scanning_alert", "secret_scanning_alert_location", "security_and_analysis",
    "star", "status", "team", "team_add", "watch", "workflow_dispatch", "workflow_job", "workflow_run"})


# ---- webhook envelope helpers -------------------------------------------------------------------

def webhook_clean(value: Any) -> Any:
    """Drop keys octokit's schemas do not know yet from user objects (``user_view_type``).

    GitHub added ``user_view_type`` to users in 2024; REST's ``simple-user`` allows it, octokit's
    ``common/user`` (additionalProperties: false) does not. Webhook payloads follow octokit.
    """
    if isinstance(value, dict):
        return {k: webhook_clean(v) for k, v in value.items() if not (k == "user_view_type" and "login" in value)}
    if isinstance(value, list):
        return [webhook_clean(v) for v in value]
    return value


def envelope(world: World, repo: Repo, sender: str, action: str | None, **fields: Any) -> dict[str, Any]:
    """A webhook payload: ``action``, the event's fields, ``repository`` and ``sender``.

    ``installation`` is added per receiving App by ``trunkline.sandbox.hooks``.
    """
    payload: dict[str, Any] = {"action": action} if action is not None else {}
    payload.update(fields)
    payload["repository"] = repository(world, repo, flavour="webhook")
    payload["sender"] = user(world, sender)
    return webhook_clean(payload)


def app_by_bot_login(world: World, login: str | None) -> AppReg | None:
    """The App whose bot user is ``login`` ("<slug>[bot]"), if any."""
    if not login or not login.endswith("[bot]"):
        return None
    slug = login[: -len("[bot]")]
    for app in world.apps.values():
        if app.slug == slug:
            return app
    return None


def github_app(world: World, app: AppReg | None, *, flavour: str = "rest") -> dict[str, Any] | None:
    """``integration`` (REST) or octokit ``common/app`` (flavour="webhook")."""
    if app is None:
        return None
    permissions = dict(app.permissions)
    events = list(app.events)
    if flavour == "webhook":
        permissions = {k: v for k, v in permissions.items()
                       if k in _WEBHOOK_APP_PERMISSIONS and v in ("read", "write")}
        events = [e for e in events if e in _WEBHOOK_APP_EVENTS]
    return {
        "id": app.id,
        "slug": app.slug,
        "node_id": node_id("Integration", app.id),
        "owner": user(world, app.owner),
        "name": app.name,
        "description": None,
        "external_url": f"{world.web_url}/apps/{app.slug}",
        "html_url": f"{world.web_url}/apps/{app.slug}",
        "created_at": iso(app.created_at),
        "updated_at": iso(app.created_at),
        "permissions": permissions,
        "events": events,
    }


def author_association(world: World, repo: Repo, login: str | None) -> str:
    """OWNER / COLLABORATOR / CONTRIBUTOR / NONE, as GitHub computes it for a repository."""
    if not login:
        return "NONE"
    if login.lower() == repo.owner.lower():
        return "OWNER"
    level = repo.collaborators.get(login)
    if level and PERMISSION_LEVELS.index(level) >= PERMISSION_LEVELS.index("read"):
        return "COLLABORATOR"
    if any(p.merged and repo.issues.get(n) and repo.issues[n].user == login for n, p in repo.pulls.items()):
        return "CONTRIBUTOR"
    return "NONE"


# ---- labels and reactions -----------------------------------------------------------------------

def label(world: World, repo: Repo, lab: Label) -> dict[str, Any]:
    """``label`` (REST) == octokit ``common/label``."""
    return {
        "id": lab.id,
        "node_id": node_id("Label", lab.id),
        "url": world.api(f"/repos/{repo.full_name}/labels/{quote(lab.name, safe='')}"),
        "name": lab.name,
        "color": lab.color,
        "default": lab.name in DEFAULT_LABELS,
        "description": lab.description,
    }


DEFAULT_LABELS = frozenset({"bug", "documentation", "duplicate", "enhancement", "good first issue",
                            "help wanted", "invalid", "question", "wontfix"})


def reaction_rollup(url: str, reactions: list[Reaction]) -> dict[str, Any]:
    """``reaction-rollup`` == octokit ``common/reactions``."""
    counts = {content: 0 for content in REACTION_CONTENTS}
    for r in reactions:
        counts[r.content] = counts.get(r.content, 0) + 1
    return {"url": url, "total_count": len(reactions), **counts}


def reaction(world: World, r: Reaction) -> dict[str, Any]:
    """``reaction``."""
    return {"id": r.id, "node_id": node_id("Reaction", r.id), "user": user(world, r.user),
            "content": r.content, "created_at": iso(r.created_at)}


# ---- issues -------------------------------------------------------------------------------------

def _repo_label(repo: Repo, name: str) -> Label | None:
    found = repo.labels.get(name)
    if found:
        return found
    for lab in repo.labels.values():
        if lab.name.lower() == name.lower():
            return lab
    return None


def issue(world: World, repo: Repo, iss: Issue, *, flavour: str = "rest") -> dict[str, Any]:
    """``issue`` (REST) or octokit ``common/issue`` (flavour="webhook").

    Pull requests are issues too: they carry a ``pull_request`` object (and ``draft``).
    """
    api = world.api(f"/repos/{repo.full_name}/issues/{iss.number}")
    html_kind = "pull" if iss.is_pull else "issues"
    labels = [label(world, repo, lab) for name in iss.labels if (lab := _repo_label(repo, name))]
    comments = sum(1 for c in repo.comments.values() if c.issue_number == iss.number)
    data: dict[str, Any] = {
        "url": api,
        "repository_url": world.api(f"/repos/{repo.full_name}"),
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{world.web_url}/{repo.full_name}/{html_kind}/{iss.number}",
        "id": iss.id,
        "node_id": node_id("PullRequest" if iss.is_pull else "Issue", iss.id),
        "number": iss.number,
        "title": iss.title,
        "user": user(world, iss.user),
        "labels": labels,
        "state": iss.state,
        "locked": iss.locked,
        "assignee": user(world, iss.assignees[0]) if iss.assignees else None,
        "assignees": [user(world, login) for login in iss.assignees],
        "milestone": None,
        "comments": comments,
        "created_at": iso(iss.created_at),
        "updated_at": iso(iss.updated_at),
        "closed_at": iso(iss.closed_at),
        "author_association": author_association(world, repo, iss.user),
        "active_lock_reason": None,
        "body": iss.body,
        "reactions": reaction_rollup(f"{api}/reactions", iss.reactions),
        "timeline_url": f"{api}/timeline",
        "performed_via_github_app": github_app(world, app_by_bot_login(world, iss.user), flavour=flavour),
        "state_reason": iss.state_reason,
    }
    if iss.is_pull:
        pull = repo.pulls.get(iss.number)
        pulls_api = world.api(f"/repos/{repo.full_name}/pulls/{iss.number}")
        html = f"{world.web_url}/{repo.full_name}/pull/{iss.number}"
        data["pull_request"] = {"url": pulls_api, "html_url": html, "diff_url": f"{html}.diff",
                                "patch_url": f"{html}.patch", "merged_at": iso(pull.merged_at) if pull else None}
        data["draft"] = bool(pull and pull.draft)
    if flavour == "webhook":
        return webhook_clean(data)
    data["closed_by"] = user(world, iss.closed_by) if iss.state == "closed" else None
    return data


def comment(world: World, repo: Repo, c: Comment, *, flavour: str = "rest") -> dict[str, Any]:
    """``issue-comment`` (REST) or octokit ``common/issue-comment`` (flavour="webhook")."""
    api = world.api(f"/repos/{repo.full_name}/issues/comments/{c.id}")
    iss = repo.issues.get(c.issue_number)
    kind = "pull" if iss is not None and iss.is_pull else "issues"
    app = world.apps.get(c.performed_via_app_id) if c.performed_via_app_id else None
    data = {
        "url": api,
        "html_url": f"{world.web_url}/{repo.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
        "issue_url": world.api(f"/repos/{repo.full_name}/issues/{c.issue_number}"),
        "id": c.id,
        "node_id": node_id("IssueComment", c.id),
        "user": user(world, c.user),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "author_association": author_association(world, repo, c.user),
        "body": c.body,
        "reactions": reaction_rollup(f"{api}/reactions", c.reactions),
        "performed_via_github_app": github_app(world, app, flavour=flavour),
    }
    return webhook_clean(data) if flavour == "webhook" else data
