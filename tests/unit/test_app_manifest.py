"""``app.yml``, the GitHub App manifest: the events the bot handles and the least permissions they need."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from trunkline.runtime import load_handlers

REPO = Path(__file__).resolve().parents[2]
MANIFEST = YAML(typ="safe", pure=True).load((REPO / "app.yml").read_text())
# The permission GitHub requires before an App may subscribe to an event (GitHub's docs, "webhook events").
EVENT_PERMISSION = {
    "check_run": "checks", "check_suite": "checks", "issue_comment": "issues", "issues": "issues",
    "pull_request": "pull_requests", "pull_request_review": "pull_requests", "push": "contents",
    "status": "statuses", "workflow_run": "actions", "deployment": "deployments", "deployment_status": "deployments",
}
LEVELS = ("read", "write")


def test_every_event_a_handler_registers_is_subscribed() -> None:
    handled = load_handlers().events()
    missing = sorted(handled - set(MANIFEST["default_events"]))
    assert not missing, f"app.yml default_events lacks {missing}: the bot registers handlers for them"


def test_every_subscribed_event_is_handled_somewhere() -> None:
    registered = set()
    for path in (REPO / "bot" / "trunkline").rglob("*.py"):
        registered |= set(re.findall(r"@\w+\.on\(\s*\"(\w+)\"", path.read_text(encoding="utf-8")))
    extra = sorted(set(MANIFEST["default_events"]) - registered)
    assert not extra, f"app.yml subscribes to {extra}, which no handler uses (minimum events)"


def test_each_subscribed_event_has_its_permission_and_nothing_more_than_needed() -> None:
    perms = MANIFEST["default_permissions"]
    assert set(perms.values()) <= set(LEVELS)
    for event in MANIFEST["default_events"]:
        needed = EVENT_PERMISSION[event]
        assert perms.get(needed) in LEVELS, f"{event} needs the {needed} permission"
    # no organisation-wide or account permissions, and admin-level repository access only to read protection
    assert not set(perms) & {"members", "organization_administration", "secrets", "environments", "workflows"}
    assert perms["administration"] == "read"
    assert MANIFEST["hook_attributes"]["url"].startswith("https://") and MANIFEST["public"] is False
