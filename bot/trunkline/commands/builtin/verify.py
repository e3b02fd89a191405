"""``/verify [tier]``: run the verify tiers (issue 5's gates) on the pull request's head — or, on an issue,
a scheduled tier (nightly, weekly) on the default branch's head.

Engine interface (provided by the gates work, issue 5): ``trunkline.gates.service.request_verify(inv)``
taking the :class:`~trunkline.commands.invocation.Invocation` (``inv.params["tier"]`` is the tier
name or None for every tier that runs on pull requests; ``inv.session.pull()`` the fresh PR) and
returning an :class:`~trunkline.commands.invocation.Outcome`; on an issue
``trunkline.gates.trunk.request_verify_on_issue(inv)`` (the tier must run on ``schedule``). Until they
exist the command refuses.
"""

from __future__ import annotations

from trunkline.commands.invocation import Invocation, Outcome, load_engine, not_available
from trunkline.commands.registry import Param, command

ENGINE = ("trunkline.gates.service", "request_verify")
ISSUE_ENGINE = ("trunkline.gates.trunk", "request_verify_on_issue")


@command("verify", summary="Run the verify tiers (all pull-request tiers, or the one named) on the head commit; "
                           "on an issue, a scheduled tier (e.g. nightly) on the default branch.",
         level="write", params=[Param("tier", "tier name from `tiers:` in the configuration")])
def verify(inv: Invocation) -> Outcome:
    engine = load_engine(*(ENGINE if inv.session.is_pr else ISSUE_ENGINE))
    if engine is None:
        return not_available("verify tiers", "the tiered verify gates (issue 5) are not part of this "
                                             "Trunkline installation, so nothing was started.")
    return engine(inv)
