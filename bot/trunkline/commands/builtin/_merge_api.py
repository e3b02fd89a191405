"""Access to the auto-merge service (``trunkline.merge.service``) for the commands that use it.

Label changes the bot makes itself come back as events sent by the bot, which the runtime drops (loop
guard); so after ``/hold`` or ``/unhold`` the commands ask the merge service to re-evaluate directly.
"""

from __future__ import annotations

from typing import Any

from trunkline.commands.invocation import Session, load_engine

SERVICE = "trunkline.merge.service"


def service_function(name: str) -> Any | None:
    return load_engine(SERVICE, name)


def reevaluate(session: Session, why: str) -> str:
    """Ask the merge service to re-evaluate this PR now; returns a note for the reply ('' when the
    service is not installed or it had nothing to say)."""
    evaluate = service_function("evaluate_pr")
    if evaluate is None or not session.is_pr:
        return ""
    evaluate(session.event, session.number)
    return ""
