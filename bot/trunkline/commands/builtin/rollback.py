"""``/rollback [sha]``: roll production back (to the pinned last good deployment, or to ``sha``).

With no deploy running it rolls production itself back: to ``sha``, or to the last checkpoint tag that is
not what production runs (see :func:`trunkline.deploy.controller.previous_good`)."""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, load_engine, not_available
from trunkline.commands.registry import Param, command

ENGINE = ("trunkline.deploy.commands", "rollback")


@command("rollback", summary="Roll the running deploy back (with none running: production, to the last "
                             "checkpoint); `/rollback <sha>` rolls back to that commit.", level="maintain",
         params=[Param("sha", "commit to roll back to")])
def rollback(inv: Invocation) -> Outcome:
    engine = load_engine(*ENGINE)
    if engine is None:
        return not_available("canary deploys", "this Trunkline installation has no deploy controller.")
    return engine(inv)
