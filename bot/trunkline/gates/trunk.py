"""``/verify <tier>`` on an issue: run a scheduled tier (nightly, weekly) on the default branch's head now.

On a pull request ``/verify`` runs tiers on the PR's head (:func:`trunkline.gates.service.request_verify`).
On an issue there is no head of its own; the only tiers that make sense there are the ones that run on
trunk anyway — those whose ``on`` includes ``schedule``. Such a tier is started like a scheduled run
would be, on the default branch's head commit: an ``actions`` tier dispatches its workflow on the default
branch (ref = the branch, inputs ``tier`` + ``sha``), so its ``workflow_run`` completed event — let through
by the loop guard although our bot dispatched it — completes the ``trunkline/<tier>`` check run and,
when the run uploaded the ``trunkline-report`` artifact, updates the sticky "Nightly report" issue
(:mod:`trunkline.reports.handlers`). A ``local`` tier runs in the bot and reports as a check run only.

:func:`issue_tier` decides (pure); :func:`request_verify_on_issue` is the command engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .config import Tier, effective_tiers

#: A tier runs from an issue when its ``on`` includes this trigger.
ISSUE_TRIGGER = "schedule"


def issue_tiers(tiers: Mapping[str, Tier]) -> list[Tier]:
    """The tiers ``/verify`` may run from an issue (pure): the scheduled ones, in configuration order."""
    return [t for t in tiers.values() if ISSUE_TRIGGER in t.on]


def issue_tier(tiers: Mapping[str, Tier], name: str | None, number: int) -> Tier | str:
    """The tier to run for ``/verify [name]`` on issue ``number``, or the refusal to reply (pure)."""
    allowed = issue_tiers(tiers)
    names = ", ".join(f"`{t.name}`" for t in allowed)
    if not allowed:
        return (f"on an issue `/verify` runs a scheduled tier on the default branch, and no configured tier runs "
                f"on `schedule`; #{number} is an issue — comment on a pull request to verify its changes.")
    if not name:
        return (f"on an issue name the tier to run on the default branch: {names} "
                f"(e.g. `/verify {allowed[0].name}`).")
    chosen = next((t for t in allowed if t.name == name), None)
    if chosen is None:
        what = "is not a configured tier" if name not in tiers else "does not run on `schedule`"
        return (f"`{name}` cannot run from an issue ({what}): on an issue `/verify` runs only the tiers that run "
                f"on a schedule, on the default branch's head: {names}. Comment on a pull request to run "
                f"`{name}` on its changes.")
    return chosen


def default_head(client: Any, owner: str, repo: str) -> tuple[str, str]:
    """(default branch, its head SHA), from GitHub."""
    base = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
    _, data = client.request_json("GET", base)
    branch = str(data.get("default_branch") or "main")
    _, data = client.request_json("GET", f"{base}/branches/{quote(branch, safe='')}")
    return branch, str((data.get("commit") or {}).get("sha"))


def request_verify_on_issue(inv: Any) -> Any:
    """``/verify <tier>`` on an issue: the scheduled tier on the default branch's head; returns an Outcome."""
    from trunkline.commands.invocation import failed, ok, refused

    from .service import Target, client_of, get_service, start_tiers

    s = inv.session
    if not s.config_ok or s.config is None:
        return refused("the configuration on the default branch has errors (see the `trunkline/config` check); "
                       "no tier was started.")
    tier = issue_tier(effective_tiers(s.config), inv.params.get("tier"), s.number)
    if isinstance(tier, str):
        return refused(tier)
    ctx = s.event if s.event is not None else s.github
    branch, sha = default_head(client_of(ctx), s.owner, s.repo)
    target = Target(sha, None, branch, False, branch)
    service = get_service()
    result = start_tiers(ctx, s.owner, s.repo, [tier], target, trigger=f"issue:{s.number}:{s.comment_id}",
                         reason=f"/verify by @{s.actor} on #{s.number}", service=service)[0]
    where = f"`{branch}` at `{sha[:7]}`"
    row = service.runs.get(result.run_id) if result.run_id is not None else None
    link = f" — [the workflow run]({row.run_url})" if row is not None and row.run_url else ""
    report = (" When it completes, its results update the Nightly report issue."
              if tier.executor == "actions" else "")
    if result.status == "started":
        how = f"dispatched `{tier.workflow}` on" if tier.executor == "actions" else "started on"
        return ok(f"`{tier.name}`: {how} {where}{link}; it reports as the `trunkline/{tier.name}` check run.{report}")
    if result.status in ("running", "duplicate"):
        return ok(f"`{tier.name}` is already running on {where}{link}; nothing new was started.{report}")
    return failed(f"`{tier.name}` did not start on {where}: {result.message}")
