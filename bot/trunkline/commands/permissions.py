"""Who may run a command.

The level comes from GitHub's collaborator-permission API
(``GET /repos/{owner}/{repo}/collaborators/{username}/permission``): ``role_name`` is the precise
role (read < triage < write < maintain < admin); the legacy ``permission`` field folds triage into
read and maintain into write, so it is only a fallback (for custom organisation roles, whose
``role_name`` is their own name). ``author_association`` in the webhook is never used: it says how
someone relates to the repository (``MEMBER``, ``CONTRIBUTOR``...), not what they may do in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from trunkline.config.model import PERMISSION_ORDER

NONE = "none"
# Legacy ``permission`` values -> the weakest role that grants them.
_LEGACY = {"admin": "admin", "maintain": "maintain", "write": "write", "push": "write", "triage": "triage",
           "read": "read", "pull": "read"}


def allowed(actual_level: str | None, required_level: str) -> bool:
    """True when a collaborator with ``actual_level`` may do what needs ``required_level``.
    Unknown or missing levels (``none``, a typo) never pass; an unknown requirement never passes."""
    if actual_level not in PERMISSION_ORDER or required_level not in PERMISSION_ORDER:
        return False
    return PERMISSION_ORDER.index(actual_level) >= PERMISSION_ORDER.index(required_level)


def effective_level(role_name: str | None, permission: str | None) -> str:
    """The user's level from the permission API's answer: ``role_name`` when it is one of GitHub's
    built-in roles, else the legacy ``permission`` field, else ``none``."""
    if role_name in PERMISSION_ORDER:
        return str(role_name)
    return _LEGACY.get(str(permission or "").lower(), NONE)


def required_level(name: str, config_key: str, default: str, overrides: Mapping[str, str]) -> str:
    """The level a command needs: the repository's ``commands.permissions`` override (by config key,
    e.g. ``merge-cancel``, or by name), else the command's own default."""
    return overrides.get(config_key) or overrides.get(name) or default


def fetch_level(client: Any, owner: str, repo: str, login: str) -> str:
    """Ask GitHub for ``login``'s level on ``owner/repo`` (``client``: an ``InstallationClient``).
    A user GitHub does not know (404) has no access."""
    url = f"/repos/{quote(owner)}/{quote(repo)}/collaborators/{quote(login, safe='')}/permission"
    try:
        _, data = client.request_json("GET", url)
    except GithubException as exc:
        if exc.status == 404:
            return NONE
        raise
    if not isinstance(data, dict):
        return NONE
    return effective_level(data.get("role_name"), data.get("permission"))
