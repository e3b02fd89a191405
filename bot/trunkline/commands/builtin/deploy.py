"""``/deploy canary [sha]``: send a commit out as a canary by hand (maintain level).

On a pull request the default commit is its head; elsewhere name a SHA. The run follows the
``deploy:`` steps and probes like a merge does, plus a last manual gate: a hand-made canary reaches
production only with ``/promote``. The engine is :mod:`trunkline.deploy.commands`.
"""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, load_engine, not_available
from trunkline.commands.registry import Param, command

ENGINE = ("trunkline.deploy.commands", "deploy_canary")


@command("deploy", summary="Deploy a commit as a canary (`/deploy canary [sha]`; the PR head by default); "
                           "it goes to production only after `/promote`.", level="maintain",
         params=[Param("target", "what to deploy", required=True, choices=("canary",)),
                 Param("sha", "commit to deploy (default: the pull request's head)")])
def deploy(inv: Invocation) -> Outcome:
    engine = load_engine(*ENGINE)
    if engine is None:
        return not_available("canary deploys", "this Trunkline installation has no deploy controller.")
    return engine(inv)
