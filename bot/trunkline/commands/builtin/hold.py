"""``/hold [reason]``: block merging by adding the first of ``merge.hold_labels``."""

from __future__ import annotations

from urllib.parse import quote

from trunkline.commands.builtin._merge_api import reevaluate
from trunkline.commands.feedback import inline_code
from trunkline.commands.invocation import Invocation, Outcome, ok, refused
from trunkline.commands.registry import Param, command


@command("hold", summary="Block merging (adds the first `merge.hold_labels` label); the reason is kept in "
                         "the reply.", level="triage", pr_only=True,
         params=[Param("reason", "why the pull request must wait", rest=True)])
def hold(inv: Invocation) -> Outcome:
    session = inv.session
    labels = session.config.merge.hold_labels
    if not labels:
        return refused("no hold label is configured (`merge.hold_labels` is empty).")
    label = labels[0]
    already = [name for name in session.labels if name in labels]
    url = f"/repos/{quote(session.owner)}/{quote(session.repo)}/issues/{session.number}/labels"
    session.github.request_json("POST", url, input={"labels": [label]})
    reason = inv.params.get("reason")
    because = f" Reason: {inline_code(reason)}." if reason else ""
    note = reevaluate(session, "hold")
    if label in already:
        return ok(f"already on hold (label {inline_code(label)}).{because}{note}")
    return ok(f"on hold: added label {inline_code(label)}; nothing merges until "
              f"{inline_code(session.prefix + 'unhold')}.{because}{note}")
