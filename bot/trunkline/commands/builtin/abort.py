"""``/abort``: stop the running deploy and send all traffic back to stable (no rollback report)."""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, load_engine, not_available
from trunkline.commands.registry import command

ENGINE = ("trunkline.deploy.commands", "abort")


@command("abort", summary="Stop the running deploy: traffic goes back to stable, the run ends `aborted`.",
         level="maintain")
def abort(inv: Invocation) -> Outcome:
    engine = load_engine(*ENGINE)
    if engine is None:
        return not_available("canary deploys", "this Trunkline installation has no deploy controller.")
    return engine(inv)
