"""Engines of ``/deploy canary``, ``/promote``, ``/rollback`` and ``/abort`` (modules in
``trunkline.commands.builtin``): they record a run or a request; the reconcile loop acts on it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from trunkline.commands.invocation import Invocation, Outcome, ok, refused

from . import controller as c
from .report import CHECKPOINT_PREFIX
from .service import get_service, section_of


def _q(value: str) -> str:
    return quote(value, safe="")


def _get(inv: Invocation, path: str) -> Any:
    s = inv.session
    _, data = s.github.request_json("GET", f"/repos/{_q(s.owner)}/{_q(s.repo)}{path}")
    return data


def _section(inv: Invocation) -> tuple[Any, Outcome | None]:
    s = inv.session
    if not s.config_ok or s.config is None:
        return None, refused("the configuration on the default branch has errors (see the `trunkline/config` "
                             "check); nothing was deployed.")
    section = section_of(s.config)
    if section is None:
        return None, refused("this repository has no `deploy:` section in `.github/trunkline.yml`.")
    return section, None


def _describe(row: Any) -> str:
    return f"deploy run {row.id} of `{row.sha[:7]}` ({row.state.replace('_', ' ')})"


def deploy_canary(inv: Invocation) -> Outcome:
    s = inv.session
    section, problem = _section(inv)
    if problem is not None:
        return problem
    wanted = inv.params.get("sha")
    if wanted:
        try:
            sha = str(_get(inv, f"/commits/{_q(str(wanted))}")["sha"])
        except Exception:  # noqa: BLE001 - GitHub says 404/422 for unknown refs
            return refused(f"`{wanted}` is not a commit of {s.full_name}.")
    elif s.is_pr:
        sha = str(_get(inv, f"/pulls/{s.number}")["head"]["sha"])
    else:
        return refused("name the commit: `/deploy canary <sha>` (on a pull request its head is the default).")
    repo = _get(inv, "")
    svc = get_service()
    svc.start()
    row = svc.create_run(repo=s.full_name, installation_id=getattr(s.github, "installation_id", None), sha=sha,
                         section=section, trigger=f"command:{s.comment_id}", default_branch=repo["default_branch"],
                         html_url=str(repo.get("html_url") or ""), pr_number=s.number if s.is_pr else None,
                         extra_gate=True)
    if row is None:
        return ok(f"`{sha[:7]}` is already being deployed for this comment.")
    active = svc.active_run(s.full_name)
    waiting = f" It waits for {_describe(active)}." if active is not None and active.id != row.id else ""
    return ok(f"Deploying `{sha[:7]}` as a canary (deploy run {row.id}): steps "
              f"{', '.join(f'{st.weight}%' if st.pause is None else 'gate' for st in section.steps) or 'none'}, "
              f"then `/promote` sends it to production.{waiting}")


def _active(inv: Invocation) -> Any:
    return get_service().active_run(inv.session.full_name)


def promote(inv: Invocation) -> Outcome:
    row = _active(inv)
    if row is None:
        return refused("no deploy is running in this repository.")
    if row.state not in (c.ANALYSING, c.PAUSED, c.DEPLOYING_CANARY):
        return refused(f"{_describe(row)} cannot be promoted now.")
    done = get_service().request(row.id, "promote", by=inv.session.actor)
    if done is None:
        return refused(f"{_describe(row)} finished meanwhile.")
    return ok(f"Promoting {_describe(row)}: past its manual gate, or straight to production when not at one.")


def _production(inv: Invocation, section: Any) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """(what production runs, the SHA pinned by the run that put it there, the checkpoint tags)."""
    from .service import GitHubIO

    s = inv.session
    svc = get_service()
    io = GitHubIO(s.github, s.owner, s.repo)
    current = io.production_sha(section.environments.production)
    runs = [r for r in svc.runs.for_repo(s.full_name.lower()) if r.state == c.SUCCEEDED]
    if current is None and runs:
        current = runs[-1].sha
    pinned = next((c.from_dict(r.data["run"]).rollback_sha for r in reversed(runs) if r.sha == current), None)
    refs = io.call("GET", f"/git/matching-refs/tags/{CHECKPOINT_PREFIX}") or []
    tags = [(str(r["ref"]).removeprefix("refs/tags/"), str(r["object"]["sha"])) for r in refs
            if isinstance(r, dict) and (r.get("object") or {}).get("type") == "commit"]
    return current, pinned, tags


def rollback(inv: Invocation) -> Outcome:
    s = inv.session
    sha = inv.params.get("sha")
    if sha:
        try:
            sha = str(_get(inv, f"/commits/{_q(str(sha))}")["sha"])
        except Exception:  # noqa: BLE001
            return refused(f"`{inv.params.get('sha')}` is not a commit of {s.full_name}.")
    svc = get_service()
    svc.start()
    row = _active(inv)
    if row is not None:
        if svc.request(row.id, "rollback", by=s.actor, sha=sha) is None:
            return refused(f"{_describe(row)} finished meanwhile; comment `/rollback` again.")
        target = f"`{sha[:7]}`" if sha else "the last good production deployment"
        return ok(f"Rolling back {_describe(row)} to {target}.")
    section, problem = _section(inv)
    if problem is not None:
        return problem
    current, pinned, tags = _production(inv, section)
    if sha:
        why = "named in the command"
    else:
        sha, why = c.previous_good(current, tags, pinned)
        if not sha:
            return refused(f"{why}: name the commit, `/rollback <sha>`.")
    if sha == current:
        return refused(f"production runs `{sha[:7]}` already; nothing to roll back.")
    repo = _get(inv, "")
    row = svc.create_run(repo=s.full_name, installation_id=getattr(s.github, "installation_id", None),
                         sha=current or sha, section=section, trigger=f"rollback:{s.comment_id}",
                         default_branch=repo["default_branch"], html_url=str(repo.get("html_url") or ""),
                         request={"kind": "rollback", "by": s.actor, "sha": sha}, pinned=current)
    if row is None:
        return ok("This rollback was already requested.")
    since = f" from `{current[:7]}`" if current else ""
    return ok(f"Rolling production back{since} to `{sha[:7]}` ({why}; deploy run {row.id}); probes verify it.")


def abort(inv: Invocation) -> Outcome:
    row = _active(inv)
    if row is None:
        return refused("no deploy is running in this repository.")
    if get_service().request(row.id, "abort", by=inv.session.actor) is None:
        return refused(f"{_describe(row)} finished meanwhile.")
    return ok(f"Aborting {_describe(row)}: traffic goes back to stable.")
