"""Pull request and review shapes, plus the git/mergeability facts they report.

``pull_request(world, repo, pull, flavour)`` builds, from the issue half
(``repo.issues[number]``: title, body, state, labels, user) and the git half (``Pull``):

* ``"rest"``           -> REST ``pull-request`` (GET/POST/PATCH a single pull request);
* ``"simple"``         -> REST ``pull-request-simple`` (GET /pulls lists);
* ``"webhook"``        -> octokit ``common/pull-request`` (``pull_request.*`` events);
* ``"webhook_simple"`` -> octokit ``common/simple-pull-request`` (``pull_request_review.*``).

``mergeability_pending=True`` reports ``mergeable: null`` / ``mergeable_state: "unknown"`` as
GitHub does in ``opened``, ``reopened`` and ``synchronize`` payloads (it computes mergeability
asynchronously after those); every other flavour computes it synchronously from real git.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .. import git
from ..mergeability import (
    CheckReport,
    GitFacts,
    ReviewFact,
    Rules,
    Verdict,
    check_run_state,
    evaluate,
    status_state,
)
from ..world import PERMISSION_LEVELS, Pull, Repo, Review, World, iso
from .common import node_id, repository, user


@dataclass(frozen=True)
class PullFacts:
    """Git facts of a pull request: what it would merge and whether it can."""

    base_sha: str | None
    head_sha: str
    merge_base: str | None
    conflicts: bool | None  # None = unknown (missing objects, unrelated histories)
    ahead_by: int = 0
    behind_by: int = 0
    additions: int = 0
    deletions: int = 0
    changed_files: int = 0


def base_tip(repo: Repo, pull: Pull) -> str | None:
    """The base sha the pull request is measured against.

    Open pull requests follow their base branch; closed and merged ones keep the base sha
    recorded when they were closed (for a merge: the base tip just before the merge), so
    their commits and file counts stay what they were.
    """
    issue = repo.issues.get(pull.number)
    if issue is not None and issue.state == "open" and not pull.merged:
        tip = git.branch_sha(repo, pull.base_ref)
        if tip:
            pull.base_sha = tip
        return tip or pull.base_sha
    return pull.base_sha


def head_repo(world: World, repo: Repo, pull: Pull) -> Repo | None:
    if pull.head_repo_id == repo.id:
        return repo
    try:
        return world.repo_by_id(pull.head_repo_id)
    except LookupError:
        return None


def pull_facts(repo: Repo, pull: Pull) -> PullFacts:
    base = base_tip(repo, pull)
    head = pull.head_sha
    if not base or git.object_type(repo, head) != "commit":
        return PullFacts(base, head, None, None)
    mb = git.merge_base(repo, base, head)
    if mb is None:
        return PullFacts(base, head, None, None)
    ahead, behind = git.ahead_behind(repo, base, head)
    conflicts = False if ahead == 0 else not git.merge_trees(repo, base, head).clean
    files = git.diff(repo, mb, head)
    return PullFacts(base, head, mb, conflicts, ahead, behind, sum(f.additions for f in files),
                     sum(f.deletions for f in files), len(files))


def rules_for(repo: Repo, branch: str) -> Rules | None:
    prot = repo.protections.get(branch)
    if prot is None:
        return None
    return Rules(required_contexts=tuple(prot.required_checks), strict=prot.strict,
                 required_approvals=prot.required_approving_review_count,
                 dismiss_stale_reviews=prot.dismiss_stale_reviews, enforce_admins=prot.enforce_admins)


def check_reports(repo: Repo, sha: str) -> list[CheckReport]:
    """Every check run and commit status reported on ``sha`` (ids order them in time)."""
    reports = [CheckReport(run.name, check_run_state(run.status, run.conclusion), run.id)
               for run in repo.check_runs.values() if run.head_sha == sha]
    reports += [CheckReport(st.context, status_state(st.state), st.id) for st in repo.statuses if st.sha == sha]
    return reports


def can_write(world: World, repo: Repo, login: str) -> bool:
    if login.endswith("[bot]"):
        return True
    level = world.permission(repo, login)
    return PERMISSION_LEVELS.index(level) >= PERMISSION_LEVELS.index("write")


def review_facts(world: World, repo: Repo, pull: Pull) -> list[ReviewFact]:
    return [ReviewFact(r.user, r.state, r.commit_id, r.id, can_write(world, repo, r.user))
            for r in repo.reviews.values() if r.pull_number == pull.number]


def verdict(world: World, repo: Repo, pull: Pull, facts: PullFacts | None = None) -> Verdict:
    """GitHub's mergeability of ``pull`` right now (see ``trunkline.sandbox.mergeability``)."""
    facts = facts or pull_facts(repo, pull)
    if pull.merged:
        return Verdict(None, "unknown", ("Pull Request is not mergeable",))
    git_facts = GitFacts(facts.conflicts, facts.ahead_by, facts.behind_by)
    return evaluate(git_facts, draft=pull.draft, rules=rules_for(repo, pull.base_ref),
                    checks=check_reports(repo, pull.head_sha), reviews=review_facts(world, repo, pull),
                    head_sha=pull.head_sha)


# ---- small shapes -----------------------------------------------------------------------

def webhook_clean(value: Any) -> Any:
    """Drop ``user_view_type`` from user objects: REST's ``simple-user`` has it since 2024, but
    octokit's ``common/user`` (additionalProperties: false) does not, and webhooks follow octokit."""
    if isinstance(value, dict):
        return {k: webhook_clean(v) for k, v in value.items() if not (k == "user_view_type" and "login" in value)}
    if isinstance(value, list):
        return [webhook_clean(v) for v in value]
    return value


def author_association(world: World, repo: Repo, login: str) -> str:
    if login.lower() == repo.owner.lower():
        return "OWNER"
    level = repo.collaborators.get(login)
    if level and level != "none":
        return "COLLABORATOR"
    for pull in repo.pulls.values():
        if pull.merged and repo.issues[pull.number].user == login:
            return "CONTRIBUTOR"
    return "NONE"


def label(world: World, repo: Repo, name: str) -> dict[str, Any]:
    """REST ``label`` / octokit ``common/label`` (the issues area's shape when the label exists)."""
    found = repo.labels.get(name)
    if found is not None:
        try:
            from .issues import label as issue_label
        except ImportError:  # pragma: no cover - the issues area is optional for this module
            pass
        else:
            return issue_label(world, repo, found)
    label_id = found.id if found else zlib.crc32(f"{repo.id}:{name}".encode())
    return {
        "id": label_id,
        "node_id": node_id("Label", label_id),
        "url": world.api(f"/repos/{repo.full_name}/labels/{quote(name, safe='')}"),
        "name": found.name if found else name,
        "color": found.color if found else "ededed",
        "default": False,
        "description": found.description if found else None,
    }


def _simple_label(shape: dict[str, Any]) -> dict[str, Any]:
    """``pull-request-simple`` (PR lists) declares a label's description as a non-null string."""
    return {**shape, "description": shape["description"] or ""}


def _link(href: str) -> dict[str, str]:
    return {"href": href}


def _side(world: World, repo: Repo | None, ref: str, sha: str, flavour: str, fallback_owner: str) -> dict[str, Any]:
    owner = repo.owner if repo else fallback_owner
    repo_shape: dict[str, Any] | None = None
    if repo is not None:
        repo_shape = repository(world, repo, flavour="webhook" if flavour.startswith("webhook") else "minimal")
    return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "user": user(world, owner), "repo": repo_shape}


def pull_request(world: World, repo: Repo, pull: Pull, flavour: str = "rest", *,
                 mergeability_pending: bool = False) -> dict[str, Any]:
    """A pull request as GitHub shows it (see the module docstring for flavours)."""
    if flavour not in ("rest", "simple", "webhook", "webhook_simple"):
        raise ValueError(f"unknown pull request flavour {flavour!r}")
    issue = repo.issues[pull.number]
    api = world.api(f"/repos/{repo.full_name}")
    html = f"{world.web_url}/{repo.full_name}/pull/{pull.number}"
    n = pull.number
    simple = flavour in ("simple", "webhook_simple")
    # Lists (simple flavours) show no git statistics, so they skip the merge/diff work.
    facts = None if simple else pull_facts(repo, pull)
    base_sha = (base_tip(repo, pull) if facts is None else facts.base_sha) or pull.base_sha
    data: dict[str, Any] = {
        "url": f"{api}/pulls/{n}",
        "id": pull.id,
        "node_id": node_id("PullRequest", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{api}/issues/{n}",
        "commits_url": f"{api}/pulls/{n}/commits",
        "review_comments_url": f"{api}/pulls/{n}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{n}/comments",
        "statuses_url": f"{api}/statuses/{pull.head_sha}",
        "number": n,
        "state": issue.state,
        "locked": issue.locked,
        "title": issue.title,
        "user": user(world, issue.user),
        "body": issue.body,
        "labels": [_simple_label(label(world, repo, name)) if flavour == "simple" else label(world, repo, name)
                   for name in issue.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(issue.created_at),
        "updated_at": iso(issue.updated_at),
        "closed_at": iso(issue.closed_at),
        "merged_at": iso(pull.merged_at),
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": user(world, issue.assignees[0]) if issue.assignees else None,
        "assignees": [user(world, a) for a in issue.assignees],
        "requested_reviewers": [user(world, r) for r in pull.requested_reviewers],
        "requested_teams": [],
        "head": _side(world, head_repo(world, repo, pull), pull.head_ref, pull.head_sha, flavour, repo.owner),
        "base": _side(world, repo, pull.base_ref, base_sha, flavour, repo.owner),
        "_links": {
            "self": _link(f"{api}/pulls/{n}"),
            "html": _link(html),
            "issue": _link(f"{api}/issues/{n}"),
            "comments": _link(f"{api}/issues/{n}/comments"),
            "review_comments": _link(f"{api}/pulls/{n}/comments"),
            "review_comment": _link(f"{api}/pulls/comments{{/number}}"),
            "commits": _link(f"{api}/pulls/{n}/commits"),
            "statuses": _link(f"{api}/statuses/{pull.head_sha}"),
        },
        "author_association": author_association(world, repo, issue.user),
        "auto_merge": None,
        "draft": pull.draft,
    }
    if flavour == "simple":
        return data
    if flavour == "webhook_simple":
        return webhook_clean(data)
    assert facts is not None
    if mergeability_pending or pull.merged:
        mergeable, state, rebaseable = None, "unknown", None
    else:
        v = verdict(world, repo, pull, facts)
        mergeable, state = v.mergeable, v.mergeable_state
        rebaseable = None
        if v.mergeable is not None and facts.base_sha:
            rebaseable = git.rebaseable(repo, facts.base_sha, pull.head_sha)
    data.update({
        "merged": pull.merged,
        "mergeable": mergeable,
        "rebaseable": rebaseable,
        "mergeable_state": state,
        "merged_by": user(world, pull.merged_by) if pull.merged_by else None,
        "comments": sum(1 for c in repo.comments.values() if c.issue_number == n),
        "review_comments": 0,
        "maintainer_can_modify": pull.maintainer_can_modify,
        "commits": facts.ahead_by,
        "additions": facts.additions,
        "deletions": facts.deletions,
        "changed_files": facts.changed_files,
    })
    return webhook_clean(data) if flavour == "webhook" else data


def review(world: World, repo: Repo, rv: Review, flavour: str = "rest") -> dict[str, Any]:
    """REST ``pull-request-review`` or octokit ``common/pull-request-review`` (``flavour="webhook"``)."""
    api = world.api(f"/repos/{repo.full_name}")
    html = f"{world.web_url}/{repo.full_name}/pull/{rv.pull_number}#pullrequestreview-{rv.id}"
    pull_url = f"{api}/pulls/{rv.pull_number}"
    data: dict[str, Any] = {
        "id": rv.id,
        "node_id": node_id("PullRequestReview", rv.id),
        "user": user(world, rv.user),
        "body": rv.body if flavour == "webhook" else (rv.body or ""),
        "state": rv.state.lower() if flavour == "webhook" else rv.state,
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"html": _link(html), "pull_request": _link(pull_url)},
        "submitted_at": iso(rv.submitted_at),
        "commit_id": rv.commit_id,
        "author_association": author_association(world, repo, rv.user),
    }
    return webhook_clean(data) if flavour == "webhook" else data
