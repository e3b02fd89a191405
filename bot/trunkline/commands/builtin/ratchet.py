"""``/ratchet``: post the ratchet table (metric | base | head | floor | verdict) for the pull request.

Engine interface (issue 5): ``trunkline.ratchets.service.ratchet_report(inv) -> Outcome`` whose
``details`` is the Markdown table.
"""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, load_engine, not_available
from trunkline.commands.registry import command

ENGINE = ("trunkline.ratchets.service", "ratchet_report")


@command("ratchet", summary="Show the quality ratchets (coverage, mutation, latency...) for this pull request.",
         level="read", pr_only=True)
def ratchet(inv: Invocation) -> Outcome:
    engine = load_engine(*ENGINE)
    if engine is None:
        return not_available("ratchet table", "the ratchets engine (issue 5) is not part of this Trunkline "
                                              "installation, so there are no measurements to show.")
    return engine(inv)
