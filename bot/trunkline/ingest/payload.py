"""What the inbox records about a payload besides its bytes (pure)."""

from __future__ import annotations

from typing import Any


def summarize(payload: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    """``(action, installation id, repository full name)``; each ``None`` when absent or malformed."""
    action = payload.get("action")
    installation = payload.get("installation")
    inst_id = installation.get("id") if isinstance(installation, dict) else None
    repository = payload.get("repository")
    repo = repository.get("full_name") if isinstance(repository, dict) else None
    return (
        action if isinstance(action, str) and len(action) <= 100 else None,
        inst_id if isinstance(inst_id, int) and not isinstance(inst_id, bool) and 0 <= inst_id < 2**63 else None,
        repo if isinstance(repo, str) and len(repo) <= 300 else None,
    )
