"""The few GitHub calls the command handler makes itself (reactions, the reply), through PyGithub."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from .feedback import replied_to


def add_reaction(client: Any, owner: str, repo: str, comment_id: int, content: str) -> bool:
    """React to an issue/PR comment; True when the reaction is new (201), False when it was already
    there (200) — which tells a retried delivery that an earlier attempt got this far."""
    url = f"/repos/{quote(owner)}/{quote(repo)}/issues/comments/{comment_id}/reactions"
    status, headers, body = client.requester.requestJson("POST", url, input={"content": content})
    if status >= 400:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = body
        raise GithubException(status, data, headers)
    return status == 201


def find_reply(repository: Any, number: int, comment_id: int, app_id: int | None) -> Any | None:
    """Our earlier reply to ``comment_id`` on issue/PR ``number`` (by its hidden marker), if any."""
    for existing in repository.get_issue(number).get_comments():
        if replied_to(existing.body) != comment_id:
            continue
        via = (existing.raw_data or {}).get("performed_via_github_app") or {}
        if app_id is None or via.get("id") == app_id or existing.user.type == "Bot":
            return existing
    return None


def post_reply(repository: Any, number: int, comment_id: int, build: Callable[[str | None], str], *,
               app_id: int | None, look_for_existing: bool) -> Any:
    """Post the reply ``build(None)``, or — when looking for an existing one (a retried delivery, an
    edited comment) and finding it — change it to ``build(its body)``."""
    if look_for_existing:
        existing = find_reply(repository, number, comment_id, app_id)
        if existing is not None:
            body = build(existing.body)
            if existing.body != body:
                existing.edit(body)
            return existing
    return repository.get_issue(number).create_comment(build(None))
