"""Fetching a pull request's snapshot: the imperative shell in front of :func:`decide`.

Raw REST calls through the installation client's PyGithub requester (``client.request_json``), so
the results are plain JSON and each evaluation makes only the requests it needs:

=====================================================  ==========================================
``GET /repos/{o}/{r}/pulls/{n}``                        always (fresh head SHA, labels, draft, ...)
``GET /repos/{o}/{r}/commits/{sha}/check-runs``         always (latest run per name on the head)
``GET /repos/{o}/{r}/commits/{sha}/status``             unless the fresh PR is ``clean`` and check
                                                        runs alone pass every gate (see below)
``GET /repos/{o}/{r}/branches/{base}/protection``       cached per base (``cache.protection_cache``)
``GET /repos/{o}/{r}/pulls/{n}/reviews``                only when approvals are required
``GET /repos/{o}/{r}/compare/{base}...{sha}``           only when up-to-date is required by config
                                                        but branch protection does not say "behind"
=====================================================  ==========================================

The check-runs answer also holds our own ``trunkline/merge`` run, so publishing needs no extra GET.

Commit statuses are skipped only on a pull request fetched in this evaluation whose
``mergeable_state`` is ``clean``: GitHub then says every commit status and check on the head passes
(``unstable`` = a non-required one is pending or failing, ``blocked`` = a required one), so statuses
cannot fail or hold any gate; and only when the check runs alone already pass every required gate.
A webhook's copy of the pull request is never trusted for that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from trunkline.github.client import next_link

from . import cache
from .decide import behind, latest_runs, needed_approvals, required_gates, strict
from .model import CheckRunInfo, Policy, ProtectionInfo, ReviewInfo, Snapshot, StatusInfo

# Reviews by these associations come from people with (at least) write access or org members.
COUNTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


def _q(value: str) -> str:
    return quote(value, safe="")


def _paged(client: Any, url: str, params: dict[str, Any], list_key: str | None = None,
           max_pages: int = 10) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    next_url: str | None = url
    query: dict[str, Any] | None = params
    for _ in range(max_pages):
        if next_url is None:
            break
        headers, data = client.request_json("GET", next_url, parameters=query)
        items = data.get(list_key, []) if list_key else data
        out.extend(items or [])
        next_url, query = next_link(headers or {}), None
    return out


def fetch_pull(client: Any, owner: str, repo: str, number: int) -> dict[str, Any]:
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/pulls/{number}")
    return data


def fetch_check_runs(client: Any, owner: str, repo: str, sha: str) -> list[dict[str, Any]]:
    return _paged(client, f"/repos/{_q(owner)}/{_q(repo)}/commits/{sha}/check-runs",
                  {"filter": "latest", "per_page": 100}, "check_runs")


def fetch_statuses(client: Any, owner: str, repo: str, sha: str) -> list[dict[str, Any]]:
    """The combined status's statuses: GitHub already reduces them to the latest per context."""
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/commits/{sha}/status",
                                  parameters={"per_page": 100})
    return list(data.get("statuses") or [])


def fetch_reviews(client: Any, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
    return _paged(client, f"/repos/{_q(owner)}/{_q(repo)}/pulls/{number}/reviews", {"per_page": 100})


def protection_from_json(data: Mapping[str, Any]) -> ProtectionInfo:
    checks = data.get("required_status_checks") or {}
    contexts = list(checks.get("contexts") or [])
    contexts += [c.get("context") for c in checks.get("checks") or [] if isinstance(c, Mapping) and c.get("context")]
    reviews = data.get("required_pull_request_reviews") or {}
    return ProtectionInfo(exists=True, required_checks=tuple(dict.fromkeys(str(c) for c in contexts)),
                          strict=bool(checks.get("strict")),
                          required_approvals=int(reviews.get("required_approving_review_count") or 0),
                          dismiss_stale_reviews=bool(reviews.get("dismiss_stale_reviews")))


def fetch_protection(client: Any, owner: str, repo: str, branch: str) -> ProtectionInfo:
    """The base branch's protection (cached); not protected (404) and not readable (403) are answers too."""
    key = (f"{owner}/{repo}".lower(), branch)
    hit = cache.protection_cache.get(key)
    if hit is not None:
        return hit
    try:
        _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/branches/{_q(branch)}/protection")
        info = protection_from_json(data or {})
    except GithubException as exc:
        if exc.status == 404:
            info = ProtectionInfo.none()
        elif exc.status == 403:
            info = ProtectionInfo.unreadable()
        else:
            raise
    cache.protection_cache.put(key, info)
    return info


def fetch_behind_by(client: Any, owner: str, repo: str, base_ref: str, head_sha: str) -> int:
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/compare/{_q(base_ref)}...{head_sha}",
                                  parameters={"per_page": 1})
    return int(data.get("behind_by") or 0)


# ---- JSON -> plain data (pure) -------------------------------------------------------------------

def is_fork(pr: Mapping[str, Any]) -> bool:
    head_repo = (pr.get("head") or {}).get("repo")
    base_repo = (pr.get("base") or {}).get("repo")
    return head_repo is None or base_repo is None or head_repo.get("id") != base_repo.get("id")


def pull_facts(pr: Mapping[str, Any], requested: str | None) -> Snapshot:
    """A snapshot from the pull request JSON alone (gates, reviews and protection added later)."""
    head, base = pr.get("head") or {}, pr.get("base") or {}
    return Snapshot(
        number=int(pr["number"]), state=str(pr.get("state") or "open"), merged=bool(pr.get("merged")),
        draft=bool(pr.get("draft")), head_sha=str(head.get("sha")), head_ref=str(head.get("ref")),
        base_ref=str(base.get("ref")), base_sha=base.get("sha"), author=str((pr.get("user") or {}).get("login")),
        labels=tuple(str(label.get("name")) for label in pr.get("labels") or []), fork=is_fork(pr),
        maintainer_can_modify=bool(pr.get("maintainer_can_modify")), mergeable=pr.get("mergeable"),
        mergeable_state=pr.get("mergeable_state"), requested=requested)


def check_runs_from_json(runs: list[Mapping[str, Any]], head_sha: str) -> tuple[CheckRunInfo, ...]:
    return tuple(CheckRunInfo(name=str(r.get("name")), status=str(r.get("status")), conclusion=r.get("conclusion"),
                              order=int(r.get("id") or 0), app_id=(r.get("app") or {}).get("id"))
                 for r in runs if r.get("head_sha", head_sha) == head_sha)


def statuses_from_json(statuses: list[Mapping[str, Any]]) -> tuple[StatusInfo, ...]:
    latest: dict[str, Mapping[str, Any]] = {}
    for status in statuses:  # the combined status is already one per context; be safe with raw lists
        context = str(status.get("context"))
        if context not in latest or int(status.get("id") or 0) > int(latest[context].get("id") or 0):
            latest[context] = status
    return tuple(StatusInfo(context=c, state=str(s.get("state"))) for c, s in latest.items())


def reviews_from_json(reviews: list[Mapping[str, Any]]) -> tuple[ReviewInfo, ...]:
    return tuple(ReviewInfo(user=str((r.get("user") or {}).get("login")), state=str(r.get("state") or "").upper(),
                            commit_id=r.get("commit_id"), order=int(r.get("id") or 0),
                            counts=str(r.get("author_association") or "") in COUNTED_ASSOCIATIONS)
                 for r in reviews)


def needs_reviews(snapshot: Snapshot, policy: Policy) -> bool:
    return needed_approvals(snapshot, policy) > 0 or policy.required_approvals > 0


def needs_compare(snapshot: Snapshot, policy: Policy) -> bool:
    """Up-to-date is required but GitHub's mergeable_state cannot tell (protection not strict)."""
    return strict(snapshot, policy) and behind(snapshot) is None


def clean_without_statuses(snapshot: Snapshot, policy: Policy) -> bool:
    """Statuses cannot change the decision: GitHub reports the PR ``clean`` and every required gate
    already has a passing latest check run (pure; the caller must have fetched the PR just now)."""
    if snapshot.mergeable_state != "clean":
        return False
    runs = latest_runs(snapshot.check_runs)
    return all(name in runs and runs[name].state == "success" for name in required_gates(snapshot, policy))


def fetch_snapshot(client: Any, owner: str, repo: str, pr: Mapping[str, Any], policy: Policy,
                   requested: str | None, *, gates: bool = True, fresh: bool = True
                   ) -> tuple[Snapshot, list[dict[str, Any]]]:
    """The full snapshot for pull request JSON ``pr`` and the raw check runs (for finding our own merge
    check). ``fresh``: ``pr`` was fetched by this evaluation (not a webhook's copy). ``gates=False``
    skips everything but the PR itself."""
    snap = pull_facts(pr, requested)
    if not gates or snap.merged or snap.state != "open":
        return snap, []
    protection = fetch_protection(client, owner, repo, snap.base_ref)
    runs = fetch_check_runs(client, owner, repo, snap.head_sha)
    snap = replace(snap, protection=protection, check_runs=check_runs_from_json(runs, snap.head_sha))
    if fresh and clean_without_statuses(snap, policy):
        snap = replace(snap, statuses_skipped=True)
    else:
        snap = replace(snap, statuses=statuses_from_json(fetch_statuses(client, owner, repo, snap.head_sha)))
    if needs_reviews(snap, policy):
        snap = replace(snap, reviews=reviews_from_json(fetch_reviews(client, owner, repo, snap.number)))
    if needs_compare(snap, policy):
        snap = replace(snap, behind_by=fetch_behind_by(client, owner, repo, snap.base_ref, snap.head_sha))
    return snap, runs
