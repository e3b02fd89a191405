"""Webhook events that (re-)evaluate auto-merge.

Every handler first decides from the payload and the queue table alone whether an evaluation is
needed, so events about pull requests nobody asked to merge cost no REST call at all:

* ``pull_request`` opened/reopened/synchronize/ready_for_review/converted_to_draft/labeled/
  unlabeled/edited (base changed): evaluate when the pull request is queued, carries the trigger
  label, or matches a ``merge.rules`` entry; ``labeled`` with the trigger label is an explicit request;
  ``closed``: drop it from the queue (and let the queue move on if it held the slot);
* ``pull_request_review`` submitted/dismissed, ``check_run``/``check_suite`` completed, ``status``:
  evaluate the queued pull requests with that head SHA (check events also name their pull requests);
* ``push`` to a base branch with a queue: evaluate the **head of that queue only** — a moved base
  never fans out into updating every open pull request.

:func:`on_startup` starts the slot-timeout sweep of this process (``trunkline.merge.timeouts``).

Events Trunkline caused itself never reach these handlers (the runtime's loop guard); after our own
check runs, :func:`trunkline.merge.service.after_own_check` is called directly instead.
"""

from __future__ import annotations

from trunkline.events.context import Context
from trunkline.events.payloads import (
    CheckRunEvent,
    CheckSuiteEvent,
    PullRequestEvent,
    PullRequestReviewEvent,
    PushEvent,
    StatusEvent,
)
from trunkline.events.registry import registry

from . import cache, service
from .model import Policy
from .service import evaluated_in, rule_matches


def on_startup(runtime: object) -> None:
    from .timeouts import start_sweeper

    app = getattr(runtime, "app", None)
    if app is not None:
        start_sweeper(app, service.default_store())


PR_ACTIONS = ("opened", "reopened", "synchronize", "ready_for_review", "converted_to_draft", "labeled",
              "unlabeled", "edited", "closed")


def _queue(store: object):  # noqa: ANN202 - MergeQueueRepo
    from trunkline.store.merge_queue import MergeQueueRepo

    return MergeQueueRepo(store)


def _repo_key(ctx: Context) -> str:
    return f"{ctx.repo_owner}/{ctx.repo_name}".lower()


def _policy_and_rules(ctx: Context) -> tuple[Policy, object]:
    resolved, _ = cache.resolved_config(ctx.github, ctx.repo_owner or "", ctx.repo_name or "",
                                        cache.default_sha_hint(ctx.payload))
    if not resolved.ok or resolved.config is None:
        return Policy(), ()
    return Policy.from_config(resolved.config.merge), getattr(resolved.config.merge, "rules", ())


def _evaluate(ctx: Context, number: int, head_sha: str | None, **kw: object) -> None:
    done = evaluated_in(ctx)
    if head_sha is not None and (number, head_sha) in done:
        return  # already evaluated during this delivery (e.g. right after our own check run)
    result = service.evaluate_for_event(ctx, number, **kw)  # type: ignore[arg-type]
    if head_sha is not None:
        done.add((number, head_sha))
    ctx.log.info("merge #%d: %s — %s", number, result.outcome, result.message)


@registry.on("pull_request", *PR_ACTIONS)
def on_pull_request(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PullRequestEvent)
    pr = payload.pull_request
    store = ctx.store
    row = _queue(store).get(_repo_key(ctx), pr.number)
    active = row is not None and row.active
    if ctx.action == "closed":
        if active:
            held = row.state == "updating"
            _queue(store).remove(_repo_key(ctx), pr.number)
            if held:  # the slot is free: the next pull request of this queue may go
                engine = service.MergeEngine(ctx.github, store, ctx.repo_owner or "", ctx.repo_name or "",
                                             default_sha=cache.default_sha_hint(payload), log_=ctx.log)
                engine.run_queue(row.base, exclude={pr.number})
        return
    if ctx.action == "edited" and not ((payload.model_extra or {}).get("changes") or {}).get("base"):
        return  # a new title or body changes nothing for merging; a new base does
    policy, rules = _policy_and_rules(ctx)
    labels = pr.label_names
    explicit = None
    if ctx.action == "labeled" and payload.label is not None and payload.label.name == policy.label:
        explicit = "label"
    timed_out = row is not None and row.state == "timed_out"  # a new head queues it again
    wanted = active or timed_out or policy.label in labels or rule_matches(rules, pr.user.login, pr.head.ref)
    if not wanted:
        return
    requested_by = payload.sender_login if explicit else None
    _evaluate(ctx, pr.number, pr.head.sha if explicit is None else None, explicit=explicit,
              requested_by=requested_by, pr=service.payload_pull(pr))


@registry.on("pull_request_review", "submitted", "dismissed")
def on_review(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PullRequestReviewEvent)
    row = _queue(ctx.store).get(_repo_key(ctx), payload.pull_request.number)
    if row is not None and row.active:
        _evaluate(ctx, payload.pull_request.number, payload.pull_request.head.sha)


def _evaluate_head(ctx: Context, head_sha: str, numbers: set[int]) -> None:
    queue = _queue(ctx.store)
    key = _repo_key(ctx)
    rows = {row.number: row for row in queue.by_head(key, head_sha)}
    for number in numbers - set(rows):
        row = queue.get(key, number)
        if row is not None and row.active:
            rows[number] = row
    for number in sorted(rows):
        _evaluate(ctx, number, head_sha)


@registry.on("check_run", "completed")
def on_check_run(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, CheckRunEvent)
    run = payload.check_run
    _evaluate_head(ctx, run.head_sha, {p.number for p in run.pull_requests})


@registry.on("check_suite", "completed")
def on_check_suite(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, CheckSuiteEvent)
    suite = payload.check_suite
    _evaluate_head(ctx, suite.head_sha, {p.number for p in suite.pull_requests})


@registry.on("status")
def on_status(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, StatusEvent)
    if payload.state == "pending":
        return  # a status that starts running changes nothing the queue can act on
    _evaluate_head(ctx, payload.sha, set())


@registry.on("push")
def on_push(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PushEvent)
    branch = payload.branch
    if branch is None:
        return
    owner, name = ctx.repo_owner or "", ctx.repo_name or ""
    if payload.forced or payload.deleted or len(payload.commits) >= 20:
        touched = None  # GitHub lists at most 20 commits: beyond that the file list is unknown
    else:
        touched = [f for c in payload.commits for f in (*c.added, *c.modified, *c.removed)]
    cache.after_push(owner, name, branch == payload.repository.default_branch, touched, payload.before,
                     payload.after)
    store = ctx.store
    if payload.deleted or branch not in _queue(store).bases(_repo_key(ctx)):
        return
    engine = service.MergeEngine(ctx.github, store, owner, name, log_=ctx.log)
    results = engine.run_queue(branch, budget=1 if not _strict_queue(engine) else service.QUEUE_BUDGET)
    for result in results:
        ctx.log.info("merge #%d after push to %s: %s — %s", result.number, branch, result.outcome, result.message)


def _strict_queue(engine: service.MergeEngine) -> bool:
    # With up-to-date branches required every queued pull request is now behind; run_queue stops at
    # the first one it updates, so a bigger budget only skips blocked ones in front of it.
    return engine.policy.require_up_to_date
