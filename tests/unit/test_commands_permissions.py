"""Permissions: the pure level rules, and the level as GitHub's collaborator-permission API reports it
(through a real sandbox GitHub and Trunkline's own App client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.commands.permissions import allowed, effective_level, fetch_level, required_level
from trunkline.config.model import PERMISSION_ORDER

LEVELS = list(PERMISSION_ORDER)


@pytest.mark.parametrize("actual", LEVELS)
@pytest.mark.parametrize("required", LEVELS)
def test_allowed_follows_githubs_role_order(actual: str, required: str) -> None:
    assert allowed(actual, required) == (LEVELS.index(actual) >= LEVELS.index(required))


def test_explicit_order() -> None:
    assert allowed("triage", "triage") and not allowed("triage", "write")
    assert allowed("maintain", "write") and not allowed("write", "maintain")
    assert allowed("admin", "read") and not allowed("read", "triage")


@pytest.mark.parametrize("actual", ["none", None, "", "Admin", "owner", "push", "pull"])
def test_unknown_or_missing_levels_never_pass(actual: str | None) -> None:
    assert not any(allowed(actual, required) for required in LEVELS)


@given(st.sampled_from(LEVELS), st.sampled_from(LEVELS), st.sampled_from(LEVELS))
def test_allowed_is_transitive_and_monotone(a: str, b: str, c: str) -> None:
    if allowed(a, b) and allowed(b, c):
        assert allowed(a, c)
    assert allowed(a, a)
    assert allowed(a, b) or allowed(b, a)


@given(st.text(max_size=10))
def test_unknown_requirement_never_passes(required: str) -> None:
    if required not in LEVELS:
        assert not allowed("admin", required)


@pytest.mark.parametrize(("role_name", "permission", "expected"), [
    ("triage", "read", "triage"),        # role_name is precise: triage reads as "read" in the legacy field
    ("maintain", "write", "maintain"),
    ("admin", "admin", "admin"),
    ("security-reviewer", "write", "write"),  # custom role: fall back to the legacy field
    ("custom", "read", "read"),
    (None, "none", "none"),
    (None, None, "none"),
    ("", "push", "write"),
])
def test_effective_level(role_name: str | None, permission: str | None, expected: str) -> None:
    assert effective_level(role_name, permission) == expected


def test_required_level_overrides() -> None:
    assert required_level("merge", "merge", "write", {}) == "write"
    assert required_level("merge", "merge", "write", {"merge": "admin"}) == "admin"
    assert required_level("merge cancel", "merge-cancel", "write", {"merge-cancel": "maintain"}) == "maintain"
    # the parent's override does not silently apply to a subcommand
    assert required_level("merge cancel", "merge-cancel", "write", {"merge": "admin"}) == "write"
    assert required_level("help", "help", "read", {"help": "triage"}) == "triage"


# ---------------------------------------------------------------------------------------- through GitHub

@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    from trunkline.github.client import AppClient
    from trunkline.sandbox.actors import Sandbox

    sb = Sandbox(tmp_path / "sandbox").start()
    try:
        app = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="s")
        sb.create_repo("acme", "widgets")
        sb.create_repo("acme", "secret", private=True)
        sb.install(app, "acme")
        for level in LEVELS:
            sb.grant("acme/widgets", f"user-{level}", level)
        sb.world.user("stranger")
        installation = sb.installation_of(app, "acme/widgets")
        yield AppClient(app.id, app.private_key_pem or "", sb.url).installation(installation.id)
    finally:
        sb.stop()


@pytest.mark.slow
def test_fetch_level_uses_role_name(client: Any) -> None:
    for level in LEVELS:
        assert fetch_level(client, "acme", "widgets", f"user-{level}") == level
    assert fetch_level(client, "acme", "widgets", "acme") == "admin"  # the owner


@pytest.mark.slow
def test_fetch_level_for_outsiders(client: Any) -> None:
    assert fetch_level(client, "acme", "widgets", "stranger") == "read"  # public repository
    assert fetch_level(client, "acme", "secret", "stranger") == "none"  # private repository
    assert fetch_level(client, "acme", "widgets", "no-such-user") == "none"  # GitHub: 404
