"""JSON shapes for GitHub Actions workflows and workflow runs.

REST: ``workflow``, ``workflow-run``. Webhooks: octokit ``common/workflow``,
``common/workflow-run`` (whose ``repository``/``head_repository`` are ``common/repository-lite``).
"""

from __future__ import annotations

from typing import Any

from ..world import Artifact, Repo, Workflow, WorkflowRun, World, iso
from .checks import pull_refs, simple_commit
from .common import node_id, repository, user
from .issues import webhook_clean

# octokit common/repository-lite.schema.json: exactly these keys.
_REPOSITORY_LITE_KEYS = (
    "archive_url", "assignees_url", "blobs_url", "branches_url", "collaborators_url", "comments_url",
    "commits_url", "compare_url", "contents_url", "contributors_url", "deployments_url", "description",
    "downloads_url", "events_url", "fork", "forks_url", "full_name", "git_commits_url", "git_refs_url",
    "git_tags_url", "hooks_url", "html_url", "id", "issue_comment_url", "issue_events_url", "issues_url",
    "keys_url", "labels_url", "languages_url", "merges_url", "milestones_url", "name", "node_id",
    "notifications_url", "owner", "private", "pulls_url", "releases_url", "stargazers_url", "statuses_url",
    "subscribers_url", "subscription_url", "tags_url", "teams_url", "trees_url", "url")


def repository_lite(world: World, repo: Repo) -> dict[str, Any]:
    full = repository(world, repo, flavour="webhook")
    return webhook_clean({k: full[k] for k in _REPOSITORY_LITE_KEYS if k in full})


def workflow(world: World, repo: Repo, wf: Workflow) -> dict[str, Any]:
    """``workflow`` (REST) == octokit ``common/workflow``."""
    return {
        "id": wf.id,
        "node_id": node_id("Workflow", wf.id),
        "name": wf.name,
        "path": wf.path,
        "state": wf.state,
        "created_at": iso(wf.created_at),
        "updated_at": iso(wf.updated_at),
        "url": world.api(f"/repos/{repo.full_name}/actions/workflows/{wf.id}"),
        "html_url": f"{world.web_url}/{repo.full_name}/blob/{repo.default_branch}/{wf.path}",
        "badge_url": f"{world.web_url}/{repo.full_name}/workflows/{wf.name}/badge.svg".replace(" ", "%20"),
    }


def check_suite_id(run: WorkflowRun) -> int:
    """Each run has its own (Actions-owned) check suite; the sandbox derives a stable id from the run."""
    return run.id


def workflow_run(world: World, repo: Repo, run: WorkflowRun, *, flavour: str = "rest") -> dict[str, Any]:
    """``workflow-run`` (REST) or octokit ``common/workflow-run`` (flavour="webhook")."""
    api = world.api(f"/repos/{repo.full_name}/actions/runs/{run.id}")
    wf = repo.workflows.get(run.workflow_id)
    suite = check_suite_id(run)
    data: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "node_id": node_id("WorkflowRun", run.id),
        "check_suite_id": suite,
        "check_suite_node_id": node_id("CheckSuite", suite),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": wf.path if wf else "",
        "display_title": run.display_title or run.name,
        "run_number": run.run_number,
        "run_attempt": run.run_attempt,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": api,
        "html_url": f"{world.web_url}/{repo.full_name}/actions/runs/{run.id}",
        "pull_requests": pull_refs(world, repo, run.head_sha),
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "actor": user(world, run.actor),
        "triggering_actor": user(world, run.actor),
        "run_started_at": iso(run.run_started_at),
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "check_suite_url": world.api(f"/repos/{repo.full_name}/check-suites/{suite}"),
        "artifacts_url": f"{api}/artifacts",
        "cancel_url": f"{api}/cancel",
        "rerun_url": f"{api}/rerun",
        "previous_attempt_url": None,
        "workflow_url": world.api(f"/repos/{repo.full_name}/actions/workflows/{run.workflow_id}"),
        "head_commit": simple_commit(repo, run.head_sha),
        "referenced_workflows": [],
    }
    if flavour == "webhook":
        data["repository"] = repository_lite(world, repo)
        data["head_repository"] = repository_lite(world, repo)
        return webhook_clean(data)
    data["repository"] = repository(world, repo, flavour="minimal")
    data["head_repository"] = repository(world, repo, flavour="minimal")
    data["head_repository_id"] = repo.id
    return data


def artifact(world: World, repo: Repo, art: Artifact) -> dict[str, Any]:
    """``artifact`` (REST)."""
    run = repo.workflow_runs.get(art.run_id)
    api = world.api(f"/repos/{repo.full_name}/actions/artifacts/{art.id}")
    return {
        "id": art.id,
        "node_id": node_id("Artifact", art.id),
        "name": art.name,
        "size_in_bytes": len(art.data),
        "url": api,
        "archive_download_url": f"{api}/zip",
        "expired": art.expired,
        "created_at": iso(art.created_at),
        "expires_at": iso(art.expires_at) if art.expires_at else None,
        "updated_at": iso(art.created_at),
        "digest": art.digest,
        "workflow_run": None if run is None else {
            "id": run.id, "repository_id": repo.id, "head_repository_id": repo.id,
            "head_branch": run.head_branch, "head_sha": run.head_sha},
    }
