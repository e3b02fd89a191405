"""Which deliveries must not run concurrently: the serialization key (pure).

State-changing work (merging, updating branches, deploying) on one repository and base branch must
happen one delivery at a time; work on different branches or repositories may run in parallel.
Keys are lower-cased (GitHub names are case-insensitive) and look like ``owner/repo@branch`` or, when
no branch can be derived, ``owner/repo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PR_EVENTS = frozenset({
    "pull_request", "pull_request_review", "pull_request_review_comment", "pull_request_review_thread",
})
CHECK_EVENTS = frozenset({"check_run", "check_suite", "status"})


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(name)
    return obj


def branch_of(ref: Any) -> str | None:
    """``refs/heads/main`` and ``main`` both name branch ``main``; other refs stay whole."""
    if not isinstance(ref, str) or not ref:
        return None
    return ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref


def _key(repo: str, ref: Any = None) -> str:
    branch = branch_of(ref)
    return f"{repo}@{branch}".lower() if branch else repo.lower()


def _pr_bases(pulls: Any) -> set[str]:
    if not isinstance(pulls, list):
        return set()
    bases = {branch_of(_get(p, "base", "ref")) for p in pulls}
    return {b for b in bases if b}


def serial_key(event: str, payload: Mapping[str, Any] | Any) -> str | None:
    """The lock key for a delivery, or ``None`` when it touches no repository (no lock needed)."""
    repo = _get(payload, "repository", "full_name")
    if not isinstance(repo, str) or not repo:
        return None
    if event in PR_EVENTS:
        return _key(repo, _get(payload, "pull_request", "base", "ref"))
    if event == "push":
        return _key(repo, _get(payload, "ref"))
    if event == "merge_group":
        return _key(repo, _get(payload, "merge_group", "base_ref"))
    if event in ("check_run", "check_suite"):
        bases = _pr_bases(_get(payload, event, "pull_requests"))
        # One base: lock that branch. None or several: the whole repository is the safe choice.
        return _key(repo, bases.pop()) if len(bases) == 1 else _key(repo)
    return _key(repo)
