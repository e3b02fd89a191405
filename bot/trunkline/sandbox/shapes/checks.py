"""JSON shapes for check runs, check suites and annotations (REST and webhook flavours).

REST: ``check-run``, ``check-suite``, ``check-annotation``, ``pull-request-minimal``,
``simple-commit``. Webhooks: octokit ``check_run.*`` / ``check_suite.*`` objects (inline in the
event schemas), ``common/check-run-pull-request``, ``common/commit-simple``.
"""

from __future__ import annotations

from typing import Any

from .. import git
from ..world import CheckRun, CheckSuite, Repo, Status, World, iso
from .common import node_id, repository, user
from .issues import envelope, github_app, webhook_clean


def pull_refs(world: World, repo: Repo, sha: str) -> list[dict[str, Any]]:
    """Open pull requests whose head is ``sha`` (``pull-request-minimal`` / check-run-pull-request)."""
    out = []
    repo_ref = {"id": repo.id, "url": world.api(f"/repos/{repo.full_name}"), "name": repo.name}
    for number, pull in sorted(repo.pulls.items()):
        iss = repo.issues.get(number)
        if iss is None or iss.state != "open" or pull.head_sha != sha:
            continue
        head_repo = repo
        if pull.head_repo_id != repo.id:
            try:
                head_repo = world.repo_by_id(pull.head_repo_id)
            except LookupError:
                continue
        out.append({
            "url": world.api(f"/repos/{repo.full_name}/pulls/{number}"),
            "id": pull.id,
            "number": number,
            "head": {"ref": pull.head_ref, "sha": pull.head_sha,
                     "repo": {"id": head_repo.id, "url": world.api(f"/repos/{head_repo.full_name}"),
                              "name": head_repo.name}},
            "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": dict(repo_ref)},
        })
    return out


def simple_commit(repo: Repo, sha: str) -> dict[str, Any] | None:
    """``simple-commit`` (REST) == octokit ``common/commit-simple``; None if the commit is unknown."""
    try:
        info = git.commit_info(repo, sha)
    except git.GitError:
        return None
    return {
        "id": info.sha,
        "tree_id": info.tree,
        "message": info.message,
        "timestamp": info.committer.date or "",
        "author": {"name": info.author.name, "email": info.author.email},
        "committer": {"name": info.committer.name, "email": info.committer.email},
    }


def parent_sha(repo: Repo, sha: str) -> str | None:
    try:
        parents = git.commit_info(repo, sha).parents
    except git.GitError:
        return None
    return parents[0] if parents else None


def _suite_core(world: World, repo: Repo, suite: CheckSuite, flavour: str) -> dict[str, Any]:
    app = world.apps.get(suite.app_id) if suite.app_id is not None else None
    return {
        "id": suite.id,
        "node_id": node_id("CheckSuite", suite.id),
        "head_branch": suite.head_branch,
        "head_sha": suite.head_sha,
        "status": suite.status,
        "conclusion": suite.conclusion,
        "url": world.api(f"/repos/{repo.full_name}/check-suites/{suite.id}"),
        "before": parent_sha(repo, suite.head_sha),
        "after": suite.head_sha,
        "pull_requests": pull_refs(world, repo, suite.head_sha),
        "app": github_app(world, app, flavour=flavour),
        "created_at": iso(suite.created_at),
        "updated_at": iso(suite.updated_at),
    }


def check_suite(world: World, repo: Repo, suite: CheckSuite, *, flavour: str = "rest",
                action: str | None = None) -> dict[str, Any]:
    """``check-suite`` (REST) or the ``check_suite`` object of octokit ``check_suite.<action>`` events
    (only ``completed`` carries the ``rerequestable`` flags)."""
    data = _suite_core(world, repo, suite, "webhook" if flavour == "webhook" else "rest")
    runs = [r for r in repo.check_runs.values() if r.check_suite_id == suite.id]
    data.update({
        "latest_check_runs_count": len({r.name for r in runs}),
        "check_runs_url": world.api(f"/repos/{repo.full_name}/check-suites/{suite.id}/check-runs"),
        "head_commit": simple_commit(repo, suite.head_sha),
        "rerequestable": True,
        "runs_rerequestable": True,
    })
    if flavour == "webhook":
        if data["head_commit"] is None:
            data.pop("head_commit")
        if action != "completed":
            data.pop("rerequestable")
            data.pop("runs_rerequestable")
        return webhook_clean(data)
    data["repository"] = repository(world, repo, flavour="minimal")
    return data


def annotation(world: World, repo: Repo, run: CheckRun, a: dict[str, Any]) -> dict[str, Any]:
    """``check-annotation``."""
    return {
        "path": a["path"],
        "blob_href": f"{world.web_url}/{repo.full_name}/blob/{run.head_sha}/{a['path']}",
        "start_line": a["start_line"],
        "end_line": a["end_line"],
        "start_column": a.get("start_column"),
        "end_column": a.get("end_column"),
        "annotation_level": a.get("annotation_level"),
        "title": a.get("title"),
        "message": a.get("message"),
        "raw_details": a.get("raw_details"),
    }


def check_run(world: World, repo: Repo, run: CheckRun, *, flavour: str = "rest") -> dict[str, Any]:
    """``check-run`` (REST) or the ``check_run`` object of octokit ``check_run.*`` events."""
    app = world.apps.get(run.app_id) if run.app_id is not None else None
    api = world.api(f"/repos/{repo.full_name}/check-runs/{run.id}")
    output = {
        "title": run.output.get("title"),
        "summary": run.output.get("summary"),
        "text": run.output.get("text"),
        "annotations_count": len(run.annotations),
        "annotations_url": f"{api}/annotations",
    }
    data: dict[str, Any] = {
        "id": run.id,
        "node_id": node_id("CheckRun", run.id),
        "head_sha": run.head_sha,
        "external_id": run.external_id,
        "url": api,
        "html_url": f"{world.web_url}/{repo.full_name}/runs/{run.id}",
        # GitHub falls back to the App's homepage when the integrator gives no details_url.
        "details_url": run.details_url or (f"{world.web_url}/apps/{app.slug}" if app else None),
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
        "output": output,
        "name": run.name,
        "app": github_app(world, app, flavour="webhook" if flavour == "webhook" else "rest"),
        "pull_requests": pull_refs(world, repo, run.head_sha),
    }
    suite = repo.check_suites.get(run.check_suite_id)
    if flavour == "webhook":
        data["external_id"] = run.external_id or ""
        data["started_at"] = iso(run.started_at or run.completed_at)
        if data["details_url"] is None:
            data.pop("details_url")
        data["check_suite"] = _suite_core(world, repo, suite, "webhook") if suite else None
        return webhook_clean(data)
    data["check_suite"] = {"id": run.check_suite_id}
    return data


# ---- commit statuses (the older "Statuses API") -------------------------------------------------

def commit_status(world: World, repo: Repo, st: Status, *, simple: bool = False) -> dict[str, Any]:
    """``status`` (REST), or ``simple-commit-status`` inside a combined status when ``simple``."""
    creator = user(world, st.creator)
    data: dict[str, Any] = {
        "url": world.api(f"/repos/{repo.full_name}/statuses/{st.sha}"),
        "avatar_url": creator["avatar_url"] if creator else None,
        "id": st.id,
        "node_id": node_id("StatusContext", st.id),
        "state": st.state,
        "description": st.description,
        "target_url": st.target_url,
        "context": st.context,
        "created_at": iso(st.created_at),
        "updated_at": iso(st.updated_at),
    }
    if simple:
        data["required"] = None
    else:
        data["creator"] = creator
    return data


def branches_containing(repo: Repo, sha: str, limit: int = 10) -> list[tuple[str, str]]:
    """(branch, tip sha) of up to ``limit`` branches whose history contains ``sha``."""
    try:
        text = git.out(repo, "for-each-ref", "--contains", sha, "--format=%(refname:short) %(objectname)",
                       "refs/heads/")
    except git.GitError:
        return []
    pairs = [tuple(line.split(" ", 1)) for line in text.splitlines() if " " in line]
    return [(name, tip) for name, tip in pairs][:limit]


def _commit_user(world: World, email: str | None) -> dict[str, Any] | None:
    login = git.login_from_email(email)
    return user(world, world.users[login.lower()].login) if login and login.lower() in world.users else None


def status_event_commit(world: World, repo: Repo, sha: str) -> dict[str, Any]:
    """The ``commit`` object of octokit's ``status`` event."""
    info = git.commit_info(repo, sha)
    api = world.api(f"/repos/{repo.full_name}")
    html = f"{world.web_url}/{repo.full_name}"
    return {
        "sha": sha,
        "node_id": node_id("Commit", int(sha[:12], 16)),
        "commit": {
            "author": {"name": info.author.name, "email": info.author.email, "date": info.author.date or ""},
            "committer": {"name": info.committer.name, "email": info.committer.email,
                          "date": info.committer.date or ""},
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "url": f"{api}/git/commits/{sha}",
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        },
        "url": f"{api}/commits/{sha}",
        "html_url": f"{html}/commit/{sha}",
        "comments_url": f"{api}/commits/{sha}/comments",
        "author": _commit_user(world, info.author.email),
        "committer": _commit_user(world, info.committer.email),
        "parents": [{"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{html}/commit/{p}"}
                    for p in info.parents],
    }


def status_event(world: World, repo: Repo, st: Status) -> dict[str, Any]:
    """octokit ``status`` event payload (no ``action``)."""
    api = world.api(f"/repos/{repo.full_name}")
    creator = user(world, st.creator)
    payload = {
        "id": st.id,
        "sha": st.sha,
        "name": repo.full_name,
        "avatar_url": creator["avatar_url"] if creator else None,
        "target_url": st.target_url,
        "context": st.context,
        "description": st.description,
        "state": st.state,
        "commit": status_event_commit(world, repo, st.sha),
        "branches": [{"name": name, "commit": {"sha": tip, "url": f"{api}/commits/{tip}"},
                      "protected": name in repo.protections}
                     for name, tip in branches_containing(repo, st.sha)],
        "created_at": iso(st.created_at),
        "updated_at": iso(st.updated_at),
    }
    return envelope(world, repo, st.creator, None, **payload)
