"""``workflow_run`` completed -> the sticky "Nightly report" issue (thin; decisions in :mod:`.report`).

How results reach the bot: the nightly and weekly workflows (``.github/workflows/nightly.yml`` /
``weekly.yml``, or a repository's own workflow calling them) upload their result files as the
``trunkline-report`` artifact, even when a step failed. When a run on the default branch completes,
the bot lists that run's artifacts; a run without ``trunkline-report`` is not a report run and costs
that one request. Otherwise the zip is downloaded, :func:`.results.collect` reads the files and
:func:`.report.plan` decides create / update / reopen / close of the one report issue.

Runs on other branches (``/verify nightly`` on a pull request runs the nightly tier on the PR's head;
its ``trunkline/nightly`` check run reports that) and pull-request events never touch the report;
``/verify nightly`` on an issue dispatches it on the default branch (:mod:`trunkline.gates.trunk`), so that
run's report does.
A run that failed before writing any result still counts: its conclusion makes the report red.
"""

from __future__ import annotations

from typing import Any

from trunkline.events.context import Context
from trunkline.events.payloads import WorkflowRunEvent
from trunkline.events.registry import registry

from . import github_io
from .report import Plan, RunInfo, plan
from .results import PARSERS, Results, Section, collect

PR_EVENTS = frozenset({"pull_request", "pull_request_target", "pull_request_review", "merge_group"})


def run_info(run: Any, workflow_name: str | None = None) -> RunInfo:
    return RunInfo(workflow=str(workflow_name or run.name or "workflow"), conclusion=str(run.conclusion or "?"),
                   url=str(run.html_url or ""), sha=run.head_sha, number=run.run_number,
                   at=str(getattr(run, "updated_at", "") or ""))


def update_report(client: Any, owner: str, repo: str, run_id: int, info: RunInfo, *,
                  bot_login: str | None, log: Any) -> Plan | None:
    """The whole step for one completed run; None when the run has no report artifact."""
    artifact = github_io.find_artifact(client, owner, repo, run_id)
    if artifact is None:
        return None
    try:
        if artifact.get("expired"):
            raise github_io.ArtifactError("the artifact has expired")
        files = github_io.unzip(github_io.download_artifact(client, owner, repo, int(artifact["id"])),
                                set(PARSERS))
        results = collect(files)
    except github_io.ArtifactError as exc:
        log.warning("nightly report: artifact %s of run %s unreadable: %s", artifact.get("id"), run_id, exc)
        results = Results({"artifact": Section("artifact", "problem", f"the `trunkline-report` artifact of "
                                                                       f"this run could not be read: {exc}")})
    decided = plan(github_io.report_issues(client, owner, repo, bot_login), results, info, bot_login)
    number = github_io.apply(client, owner, repo, decided)
    log.info("nightly report: %s issue %s (%d problems) after run %s", decided.action, number or "-",
             len(decided.state.problems()), run_id)
    return decided


def _bot_login(client: Any) -> str | None:
    app = getattr(client, "app", None)
    try:
        return app.bot_login() if app is not None else None
    except Exception:  # noqa: BLE001 - the creator filter is an optimisation; the marker decides
        return None


@registry.on("workflow_run", "completed")
def report_after_run(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, WorkflowRunEvent)
    run = payload.workflow_run
    default = payload.repository.default_branch
    if run.event in PR_EVENTS or not default or run.head_branch != default:
        return
    name = payload.workflow.name if payload.workflow is not None else None
    update_report(ctx.github, ctx.repo_owner or "", ctx.repo_name or "", run.id, run_info(run, name),
                  bot_login=_bot_login(ctx.github), log=ctx.log)
