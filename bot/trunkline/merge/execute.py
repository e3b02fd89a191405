"""GitHub writes of the merge queue: merge, update-branch, delete branch, comment — and how each can fail.

:func:`put_merge` and :func:`put_update_branch` go through a client whose retry policy does **not**
retry a 5xx on PUT (rate limits are still waited out: GitHub did not process those). A 5xx after a
merge request is ambiguous — GitHub may have merged — so the caller must look before trying again
(see ``service.MergeEngine._merge``); a blind transport-level retry would skip that look.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException
from requests.exceptions import RequestException

from .fetch import _paged

_NO_PUT_RETRY = frozenset({"GET", "HEAD", "OPTIONS"})
_clients: dict[tuple[int, int], Any] = {}
_clients_lock = threading.Lock()


def _q(value: str) -> str:
    return quote(value, safe="")


def write_client(client: Any) -> Any:
    """A ``github.Github`` for ``client``'s installation that never retries a 5xx on a write.

    Built from the App client's own factory so requests are still authenticated with the cached
    installation token and counted like every other request of the installation."""
    app = getattr(client, "app", None)
    make = getattr(app, "_make_github", None)
    if make is None:  # not our InstallationClient (e.g. a plain PyGithub client in a test)
        return getattr(client, "github", client)
    key = (id(app), int(client.installation_id))
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            from trunkline.github.client import _InstallationTokenAuth

            found = _clients[key] = make(_InstallationTokenAuth(app, client.installation_id),
                                         client.installation_id, idempotent_methods=_NO_PUT_RETRY)
        return found


@dataclass(frozen=True)
class WriteResult:
    """The answer to a write: HTTP status (0 = no answer), GitHub's message, parsed body."""

    status: int
    message: str = ""
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def server_error(self) -> bool:
        return self.status == 0 or self.status >= 500


def _write(client: Any, verb: str, url: str, body: dict[str, Any] | None) -> WriteResult:
    requester = write_client(client).requester
    try:
        _, data = requester.requestJsonAndCheck(verb, url, input=body)
    except GithubException as exc:
        data = exc.data if isinstance(exc.data, dict) else {}
        message = str(data.get("message") or exc.data or "")
        errors = data.get("errors") if isinstance(data, dict) else None
        if errors:
            message += " " + "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        return WriteResult(exc.status, message.strip(), data)
    except RequestException as exc:  # no answer at all: as ambiguous as a 5xx
        return WriteResult(0, f"no response from GitHub: {exc}")
    return WriteResult(200, "", data)


def put_merge(client: Any, owner: str, repo: str, number: int, *, sha: str, method: str) -> WriteResult:
    """``PUT /pulls/{n}/merge`` guarded by ``sha``: GitHub merges only if the head is still ``sha`` (409 else)."""
    return _write(client, "PUT", f"/repos/{_q(owner)}/{_q(repo)}/pulls/{number}/merge",
                  {"sha": sha, "merge_method": method})


def put_update_branch(client: Any, owner: str, repo: str, number: int, *, expected_head_sha: str) -> WriteResult:
    """``PUT /pulls/{n}/update-branch``: merge the base into the head, only if the head is still the one tested."""
    return _write(client, "PUT", f"/repos/{_q(owner)}/{_q(repo)}/pulls/{number}/update-branch",
                  {"expected_head_sha": expected_head_sha})


def post_comment(client: Any, owner: str, repo: str, number: int, body: str) -> WriteResult:
    return _write(client, "POST", f"/repos/{_q(owner)}/{_q(repo)}/issues/{number}/comments", {"body": body})


def remove_label(client: Any, owner: str, repo: str, number: int, label: str) -> WriteResult:
    return _write(client, "DELETE", f"/repos/{_q(owner)}/{_q(repo)}/issues/{number}/labels/{_q(label)}", None)


def branch_in_use(open_pulls: list[dict[str, Any]], *, repo_id: int | None, branch: str, number: int) -> int | None:
    """Another open pull request using ``branch`` of this repository as its head or base (pure)."""
    for pr in open_pulls:
        if int(pr.get("number") or 0) == number:
            continue
        head, base = pr.get("head") or {}, pr.get("base") or {}
        head_repo = (head.get("repo") or {}).get("id")
        if head.get("ref") == branch and (repo_id is None or head_repo == repo_id):
            return int(pr["number"])
        if base.get("ref") == branch:
            return int(pr["number"])
    return None


def delete_head_branch(client: Any, owner: str, repo: str, pr: dict[str, Any]) -> str:
    """Delete a merged pull request's head branch unless it lives in a fork, is the default branch, or
    another open pull request uses it. Returns what was done, for the log."""
    head, base = pr.get("head") or {}, pr.get("base") or {}
    head_repo, base_repo = head.get("repo") or {}, base.get("repo") or {}
    branch = head.get("ref")
    if not branch or head_repo.get("id") is None or head_repo.get("id") != base_repo.get("id"):
        return "kept: the branch is in a fork"
    if branch == base_repo.get("default_branch") or branch == base.get("ref"):
        return "kept: it is the default or base branch"
    open_pulls = _paged(client, f"/repos/{_q(owner)}/{_q(repo)}/pulls", {"state": "open", "per_page": 100})
    other = branch_in_use(open_pulls, repo_id=base_repo.get("id"), branch=branch, number=int(pr["number"]))
    if other is not None:
        return f"kept: #{other} uses it"
    result = _write(client, "DELETE", f"/repos/{_q(owner)}/{_q(repo)}/git/refs/heads/{quote(branch, safe='/')}",
                    None)
    if result.ok or result.status in (404, 422):  # gone already, or protected: nothing more to do
        return "deleted" if result.ok else f"kept: {result.status} {result.message}"
    return f"kept: {result.status} {result.message}"
