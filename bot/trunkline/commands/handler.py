"""The ``issue_comment`` handler: find commands in a comment, check who may run them, run them in
order, and answer with reactions and one reply.

Decisions are pure functions here and in :mod:`.feedback` / :mod:`.permissions` / :mod:`.registry`
(:func:`ignore_reason`, :func:`new_commands`, :func:`plan`); :func:`handle_comment` is the shell.

What is ignored (no reaction, no reply): deleted comments; edited comments unless
``commands.ignore_edited: false`` (then only commands that the edit *added* run, so fixing a typo in
``/mrege`` works but an edit never re-runs a command); comments by bots (user type ``Bot`` or a login
ending in ``[bot]``), including our own (our App's comments and replies); comments without commands.

When the repository's configuration is broken, commands still run with the built-in defaults
(prefix ``/``, default levels, default labels) and the reply says so: ``/hold`` must keep working
while someone fixes the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from trunkline.config.model import TrunklineConfig
from trunkline.events.context import Context
from trunkline.events.payloads import IssueCommentEvent
from trunkline.events.registry import registry as events

from . import feedback
from .feedback import Entry
from .github_io import add_reaction, post_reply
from .invocation import Invocation, Outcome, Session, failed, refused
from .parser import Command, parse_commands
from .permissions import allowed, fetch_level, required_level
from .registry import CommandRegistry, CommandSpec, UsageError, bind, load_builtin

HANDLED_ACTIONS = ("created", "edited")


# ---------------------------------------------------------------------------------------- pure decisions

def is_bot(login: str | None, user_type: str | None) -> bool:
    return (user_type or "").lower() == "bot" or (login or "").lower().endswith("[bot]")


def ignore_reason(payload: IssueCommentEvent, *, app_id: int | None, ignore_edited: bool) -> str | None:
    """Why this comment event must not run commands, or None when it should."""
    if payload.action == "deleted":
        return "comment deleted"
    if payload.action not in HANDLED_ACTIONS:
        return f"action {payload.action!r}"
    if payload.action == "edited" and ignore_edited:
        return "edited comment (commands.ignore_edited is on)"
    comment = payload.comment
    via = comment.performed_via_github_app
    if app_id is not None and via is not None and via.id == app_id:
        return "our own comment"
    if feedback.replied_to(comment.body) is not None:
        return "a Trunkline reply"
    if is_bot(comment.user.login, comment.user.type):
        return f"comment by bot {comment.user.login}"
    sender = payload.sender
    if sender is not None and is_bot(sender.login, sender.type):
        return f"sent by bot {sender.login}"
    return None


def _identity(command: Command) -> tuple[Any, ...]:
    return command.name, tuple(command.args), tuple(sorted(command.kwargs.items())), command.text


def new_commands(current: Sequence[Command], previous: Sequence[Command]) -> list[Command]:
    """Commands of an edited comment that were not in its previous version (multiset difference, in
    order): an edit that adds ``/merge`` runs it; an edit elsewhere re-runs nothing."""
    before = Counter(_identity(c) for c in previous)
    out = []
    for command in current:
        key = _identity(command)
        if before[key]:
            before[key] -= 1
        else:
            out.append(command)
    return out


@dataclass
class Step:
    """A parsed command after the checks that need no GitHub call: either ready to run (``spec`` and
    ``params`` set, ``outcome`` None) or already answered (``outcome`` set)."""

    command: Command
    spec: CommandSpec | None
    params: dict[str, Any]
    outcome: Outcome | None = None
    unknown: bool = False


def plan(commands: Sequence[Command], reg: CommandRegistry, *, is_pr: bool, number: int,
         prefix: str) -> list[Step]:
    """Resolve and bind every command; answer unknown ones, bad arguments and PR-only commands on
    issues without asking GitHub anything."""
    steps: list[Step] = []
    for command in commands:
        res = reg.resolve(command)
        spec = res.spec
        if spec is None:
            steps.append(Step(command, None, {}, refused(
                f"unknown command {feedback.inline_code(prefix + command.name)}; the commands are listed below."),
                unknown=True))
            continue
        usage = f"Usage: {feedback.inline_code(spec.usage(prefix))}"
        if command.error and not any(p.rest for p in spec.params):
            steps.append(Step(command, spec, {}, refused(f"could not read the arguments: {command.error}. {usage}")))
            continue
        try:
            params = bind(spec, res.args, {} if command.error else command.kwargs, res.text)
        except UsageError as exc:
            steps.append(Step(command, spec, {}, refused(f"{exc}. {usage}")))
            continue
        if spec.pr_only and not is_pr:
            steps.append(Step(command, spec, params, refused(
                f"{feedback.inline_code(prefix + spec.name)} works on pull requests only; #{number} is an issue.")))
            continue
        steps.append(Step(command, spec, params))
    return steps


def levels_for(reg: CommandRegistry, config: TrunklineConfig) -> dict[str, str]:
    overrides = config.commands.permissions
    return {spec.name: required_level(spec.name, spec.config_key, spec.level, overrides) for spec in reg.specs()}


# ---------------------------------------------------------------------------------------- running

def run_steps(session: Session, steps: Sequence[Step], level_of: Callable[[], str]) -> list[Entry]:
    """Check permissions and run the ready steps in order. ``level_of`` asks GitHub for the actor's
    level; it is called at most once, and only when some command needs more than read."""
    entries: list[Entry] = []
    for step in steps:
        shown = step.command.display(session.prefix)
        if step.spec is None:  # unknown command
            entries.append(Entry(shown, step.outcome or refused("unknown command")))
            continue
        # Permission first: someone who may not run a command learns that, not its usage.
        needed = session.levels.get(step.spec.name, step.spec.level)
        if needed != "read":  # everyone who can comment can read (public repos: anyone)
            if session.actor_level is None:
                session.actor_level = level_of()
            if not allowed(session.actor_level, needed):
                entries.append(Entry(shown, refused(feedback.refusal_for_level(
                    session.prefix + step.spec.name, needed, session.actor_level, session.actor))))
                continue
        if step.outcome is not None:  # bad arguments, PR-only command on an issue
            entries.append(Entry(shown, step.outcome))
            continue
        entries.append(Entry(shown, _run(session, step)))
    return entries


def _run(session: Session, step: Step) -> Outcome:
    assert step.spec is not None
    invocation = Invocation(spec=step.spec, command=step.command, params=step.params, session=session)
    try:
        return step.spec.run(invocation)
    except Exception as exc:  # a broken command must still answer the person who asked
        session.log.exception("command %s failed", step.spec.name)
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        return failed(f"error while running it ({type(exc).__name__}{': ' + detail if detail else ''}); "
                      "see the bot's log.")


def reply_for(session: Session, entries: Sequence[Entry], steps: Sequence[Step], *, edited: bool = False) -> str:
    """This handling's section of the reply (see :func:`feedback.updated_reply`)."""
    notes = []
    if not session.config_ok:
        notes.append("The repository's Trunkline configuration has errors (see the `trunkline/config` check); "
                     "these commands ran with the built-in defaults.")
    shows_help = any(s.spec is not None and s.spec.name == "help" and s.outcome is None for s in steps)
    table = None
    if any(s.unknown for s in steps) and not shows_help:
        table = feedback.help_table(session.registry.specs(), session.levels, session.prefix)
    return feedback.render_section(session.actor, entries, help_table=table, notes=notes, edited=edited)


# ---------------------------------------------------------------------------------------- the shell

@events.on("issue_comment", *HANDLED_ACTIONS)
def handle_comment(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, IssueCommentEvent)
    app_id = ctx.github.app.app_id if ctx.installation_id is not None else None
    # Cheap checks first: most comments are not for us, and loading the config costs requests.
    early = ignore_reason(payload, app_id=app_id, ignore_edited=False)
    if early is not None:
        ctx.log.debug("comment ignored: %s", early)
        return
    resolved = ctx.config()
    config_ok = resolved.config is not None and resolved.ok
    config = resolved.config if resolved.config is not None else TrunklineConfig()
    reason = ignore_reason(payload, app_id=app_id, ignore_edited=config.commands.ignore_edited)
    if reason is not None:
        ctx.log.info("comment ignored: %s", reason)
        return
    prefix = config.commands.prefix
    commands = parse_commands(payload.comment.body, prefix)
    if payload.action == "edited":
        before = ((payload.changes or {}).get("body") or {}).get("from")
        commands = new_commands(commands, parse_commands(before, prefix) if isinstance(before, str) else [])
    if not commands:
        return

    reg = load_builtin()
    owner, name = ctx.repo_owner or "", ctx.repo_name or ""
    issue = payload.issue
    session = Session(owner=owner, repo=name, number=issue.number, is_pr=issue.is_pull_request,
                      actor=payload.comment.user.login, comment_id=payload.comment.id, config=config,
                      registry=reg, prefix=prefix, config_ok=config_ok, levels=levels_for(reg, config),
                      labels=issue.label_names, github=ctx.github, event=ctx, log=ctx.log)
    client = ctx.github
    first_attempt = add_reaction(client, owner, name, session.comment_id, feedback.RECEIVED)
    steps = plan(commands, reg, is_pr=session.is_pr, number=session.number, prefix=prefix)
    entries = run_steps(session, steps, lambda: fetch_level(client, owner, name, session.actor))
    edited = payload.action == "edited"
    section = reply_for(session, entries, steps, edited=edited)
    # one section per handling: "created", or one per edit (keyed by the comment's edit time)
    key = f"edited-{payload.comment.updated_at or ctx.delivery_id}" if edited else "created"
    post_reply(session.repository(), session.number, session.comment_id,
               lambda existing: feedback.updated_reply(existing, session.comment_id, key, section),
               app_id=app_id, look_for_existing=edited or not first_attempt)
    final = feedback.final_reaction(e.outcome for e in entries)
    add_reaction(client, owner, name, session.comment_id, final)
    ctx.log.info("commands %s by %s: %s", ", ".join(c.name for c in commands), session.actor,
                 ", ".join(e.outcome.status for e in entries))
