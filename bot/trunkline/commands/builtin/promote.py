"""``/promote``: pass the manual gate of the running canary (or, outside a gate, promote it now)."""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, load_engine, not_available
from trunkline.commands.registry import command

ENGINE = ("trunkline.deploy.commands", "promote")


@command("promote", summary="Let the running canary past its manual gate (elsewhere: skip the remaining "
                            "steps and promote it now).", level="maintain")
def promote(inv: Invocation) -> Outcome:
    engine = load_engine(*ENGINE)
    if engine is None:
        return not_available("canary deploys", "this Trunkline installation has no deploy controller.")
    return engine(inv)
