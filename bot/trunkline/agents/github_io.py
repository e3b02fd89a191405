"""The GitHub calls agent runs make (REST through the installation client; no clone needed)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

MAX_COMMENT_PAGES = 10


def _q(value: str) -> str:
    return quote(value, safe="")


def _repo(owner: str, repo: str) -> str:
    return f"/repos/{_q(owner)}/{_q(repo)}"


def get_issue(client: Any, owner: str, repo: str, number: int) -> dict[str, Any]:
    _, data = client.request_json("GET", f"{_repo(owner, repo)}/issues/{int(number)}")
    return data


def issue_comments(client: Any, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in range(1, MAX_COMMENT_PAGES + 1):
        _, data = client.request_json("GET", f"{_repo(owner, repo)}/issues/{int(number)}/comments",
                                      parameters={"per_page": 100, "page": page})
        items = list(data or [])
        out += items
        if len(items) < 100:
            break
    return out


def react_to_issue(client: Any, owner: str, repo: str, number: int, content: str) -> None:
    try:
        client.request_json("POST", f"{_repo(owner, repo)}/issues/{int(number)}/reactions", input={"content": content})
    except GithubException:  # a reaction is a courtesy: never fail a run for it
        pass


def post_comment(client: Any, owner: str, repo: str, number: int, body: str) -> int:
    _, data = client.request_json("POST", f"{_repo(owner, repo)}/issues/{int(number)}/comments", input={"body": body})
    return int(data["id"])


def edit_comment(client: Any, owner: str, repo: str, comment_id: int, body: str) -> None:
    client.request_json("PATCH", f"{_repo(owner, repo)}/issues/comments/{int(comment_id)}", input={"body": body})


def default_branch(client: Any, owner: str, repo: str) -> str:
    _, data = client.request_json("GET", _repo(owner, repo))
    return str(data.get("default_branch") or "main")


def branch_sha(client: Any, owner: str, repo: str, branch: str) -> str | None:
    try:
        _, data = client.request_json("GET", f"{_repo(owner, repo)}/git/ref/heads/{quote(branch, safe='/')}")
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    return str((data.get("object") or {}).get("sha"))


def create_branch(client: Any, owner: str, repo: str, branch: str, sha: str) -> None:
    """Create ``branch`` at ``sha``; an existing branch at ``sha`` is fine (a resumed run)."""
    try:
        client.request_json("POST", f"{_repo(owner, repo)}/git/refs", input={"ref": f"refs/heads/{branch}", "sha": sha})
    except GithubException as exc:
        if exc.status == 422 and branch_sha(client, owner, repo, branch) is not None:
            return
        raise


def reset_branch(client: Any, owner: str, repo: str, branch: str, sha: str) -> None:
    """Move ``branch`` back to ``sha`` (a checkpoint), discarding what was pushed after it."""
    client.request_json("PATCH", f"{_repo(owner, repo)}/git/refs/heads/{quote(branch, safe='/')}",
                        input={"sha": sha, "force": True})


def delete_branch(client: Any, owner: str, repo: str, branch: str) -> bool:
    try:
        client.request_json("DELETE", f"{_repo(owner, repo)}/git/refs/heads/{quote(branch, safe='/')}")
    except GithubException as exc:
        if exc.status in (404, 422):
            return False
        raise
    return True


def get_pull(client: Any, owner: str, repo: str, number: int) -> dict[str, Any]:
    _, data = client.request_json("GET", f"{_repo(owner, repo)}/pulls/{int(number)}")
    return data


def find_pull(client: Any, owner: str, repo: str, branch: str) -> dict[str, Any] | None:
    """An open pull request whose head is ``branch`` (after a crash between opening it and recording it)."""
    _, data = client.request_json("GET", f"{_repo(owner, repo)}/pulls",
                                  parameters={"head": f"{owner}:{branch}", "state": "open", "per_page": 10})
    for pr in data or []:
        if (pr.get("head") or {}).get("ref") == branch:
            return pr
    return None


def open_pull(client: Any, owner: str, repo: str, *, head: str, base: str, title: str, body: str,
              draft: bool) -> dict[str, Any]:
    _, data = client.request_json("POST", f"{_repo(owner, repo)}/pulls",
                                  input={"head": head, "base": base, "title": title, "body": body, "draft": draft})
    return data


def comment_pr(client: Any, owner: str, repo: str, number: int, body: str) -> None:
    post_comment(client, owner, repo, number, body)
