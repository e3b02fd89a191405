"""Access to the auto-merge service (``trunkline.merge.service``) for the commands that use it.

* ``/merge`` → ``request_merge``, ``/merge cancel`` → ``cancel_merge``;
* ``/hold`` / ``/unhold`` change a label and then call ``evaluate_pr`` directly: the
  ``pull_request.labeled`` event of a label *we* changed is sent by our bot, and the runtime's loop
  guard drops those, so the merge service would otherwise not notice until the next event.

The configuration is passed on only when it is valid: with a broken configuration the service loads
it itself and blocks merging, instead of merging under built-in defaults.
"""

from __future__ import annotations

from typing import Any

from trunkline.commands.invocation import Outcome, Session, failed, load_engine, ok

SERVICE = "trunkline.merge.service"
#: ``MergeResult.outcome`` values meaning the request stands (queued, merging, merged...).
ACCEPTED = frozenset({"merged", "updating", "waiting", "blocked", "cancelled"})
QUEUED = frozenset({"updating", "waiting", "blocked"})


def service_function(name: str) -> Any | None:
    return load_engine(SERVICE, name)


def config_for(session: Session) -> Any:
    return session.config if session.config_ok else None


def as_outcome(result: Any) -> Outcome:
    """A ``MergeResult`` as a command outcome: the request stands → success; closed / not queued →
    failure. The service's own sentence is the message."""
    outcome = getattr(result, "outcome", None)
    message = str(getattr(result, "message", "") or outcome)
    if outcome in QUEUED:
        message = f"queued for auto-merge — {message}"
    return ok(message) if outcome in ACCEPTED else failed(message)


def target(session: Session) -> Any:
    """What the service calls ``ctx_or_client``: the delivery's Context, else the installation client."""
    return session.event if session.event is not None else session.github


def reevaluate(session: Session, why: str) -> str:
    """Ask the merge service to re-evaluate this PR now; returns a note for the reply ('' when the
    service is not installed or the PR is not queued). A failing evaluation never fails the command
    that changed the label: the next event evaluates again."""
    evaluate = service_function("evaluate_pr")
    if evaluate is None or not session.is_pr:
        return ""
    try:
        result = evaluate(target(session), None, session.owner, session.repo, session.number,
                          config=config_for(session), reason=f"{why} by @{session.actor}")
    except Exception:  # noqa: BLE001 - logged; the label change itself succeeded
        session.log.exception("merge re-evaluation after %s failed", why)
        return " (The merge status could not be refreshed now; it will be on the next event.)"
    if getattr(result, "outcome", "not-queued") in ("not-queued", None):
        return ""
    return f" Merge: {getattr(result, 'message', '')}".rstrip()
