"""``/unhold``: remove every ``merge.hold_labels`` label from the pull request."""

from __future__ import annotations

from urllib.parse import quote

from github.GithubException import GithubException

from trunkline.commands.builtin._merge_api import reevaluate
from trunkline.commands.feedback import inline_code
from trunkline.commands.invocation import Invocation, Outcome, ok
from trunkline.commands.registry import command


@command("unhold", summary="Remove the hold labels (`merge.hold_labels`) so the pull request may merge again.",
         level="write", pr_only=True)
def unhold(inv: Invocation) -> Outcome:
    session = inv.session
    hold_labels = session.config.merge.hold_labels
    base = f"/repos/{quote(session.owner)}/{quote(session.repo)}/issues/{session.number}/labels"
    _, current = session.github.request_json("GET", base, parameters={"per_page": 100})
    present = [item["name"] for item in current or [] if item.get("name") in hold_labels]
    removed = []
    for name in present:
        try:
            session.github.request_json("DELETE", f"{base}/{quote(name, safe='')}")
            removed.append(name)
        except GithubException as exc:
            if exc.status != 404:  # already removed by someone else: fine
                raise
    if not removed:
        return ok("not on hold (no hold label) — nothing to do.")
    note = reevaluate(session, "unhold")
    return ok(f"removed {', '.join(inline_code(n) for n in removed)}; merging is no longer held.{note}")
