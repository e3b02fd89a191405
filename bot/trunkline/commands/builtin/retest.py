"""``/retest``: re-run the failed gates on the pull request's head.

Why not just "rerequest" failed check runs: GitHub only lets a check's own App rerequest it, and the
``check_run.rerequested`` event that follows would come from our own bot (which the runtime ignores,
to avoid loops) — so re-running has to go through the gates engine itself, which knows how to run a
tier locally or re-dispatch its workflow.

Engine interface (issue 5): ``trunkline.gates.service.retest_failed(inv) -> Outcome``.
"""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, load_engine, not_available
from trunkline.commands.registry import command

ENGINE = ("trunkline.gates.service", "retest_failed")


@command("retest", summary="Re-run the gates that failed on the head commit.", level="write", pr_only=True)
def retest(inv: Invocation) -> Outcome:
    engine = load_engine(*ENGINE)
    if engine is None:
        return not_available("re-running gates", "the tiered verify gates (issue 5) are not part of this "
                                                 "Trunkline installation, so there is nothing to re-run.")
    return engine(inv)
