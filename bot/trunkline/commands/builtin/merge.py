"""``/merge`` (queue the pull request for auto-merge, same as the merge label) and ``/merge cancel``.

Both go through the auto-merge service (``trunkline.merge.service``): it owns the queue, the
decision and the ``trunkline/merge`` check run. Until it is installed both refuse honestly.
"""

from __future__ import annotations

from trunkline.commands.builtin._merge_api import service_function
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
    return request_merge(inv.session.event, inv.session.number, requested_by=inv.session.actor)


@command("merge cancel", summary="Take this pull request out of the merge queue.", level="write", pr_only=True)
def merge_cancel(inv: Invocation) -> Outcome:
    cancel_merge = service_function("cancel_merge")
    if cancel_merge is None:
        return _missing()
    return cancel_merge(inv.session.event, inv.session.number, requested_by=inv.session.actor)
