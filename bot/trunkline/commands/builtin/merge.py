"""``/merge`` (queue the pull request for auto-merge, same as the merge label) and ``/merge cancel``.

Both go through the auto-merge service (``trunkline.merge.service``): it owns the queue, the
decision and the ``trunkline/merge`` check run; the reply carries its one-sentence answer
(queued and waiting for gates, blocked and why, merged...). Without the service both refuse.
"""

from __future__ import annotations

from trunkline.commands.builtin._merge_api import as_outcome, config_for, service_function, target
from trunkline.commands.invocation import Invocation, Outcome, not_available
from trunkline.commands.registry import command


def _missing() -> Outcome:
    return not_available("auto-merge", "the merge service (`trunkline.merge.service`) is not part of this "
                                       "Trunkline installation; nothing was queued or changed.")


@command("merge", summary="Queue this pull request for auto-merge (same as adding the merge label); it "
                          "merges once every gate is green.", level="write", pr_only=True)
def merge(inv: Invocation) -> Outcome:
    request_merge = service_function("request_merge")
    if request_merge is None:
        return _missing()
    s = inv.session
    return as_outcome(request_merge(target(s), None, s.owner, s.repo, s.number, s.actor, config=config_for(s)))


@command("merge cancel", summary="Take this pull request out of the merge queue.", level="write", pr_only=True)
def merge_cancel(inv: Invocation) -> Outcome:
    cancel_merge = service_function("cancel_merge")
    if cancel_merge is None:
        return _missing()
    s = inv.session
    return as_outcome(cancel_merge(target(s), None, s.owner, s.repo, s.number, s.actor, config=config_for(s)))
