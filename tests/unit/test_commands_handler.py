"""The comment handler's pure decisions and its run loop (with commands that need no GitHub)."""

from __future__ import annotations

from typing import Any

import pytest

from trunkline.commands.handler import (
    Step,
    ignore_reason,
    is_bot,
    levels_for,
    new_commands,
    plan,
    reply_for,
    run_steps,
)
from trunkline.commands.invocation import Invocation, Outcome, Session, ok
from trunkline.commands.parser import parse_commands
from trunkline.commands.registry import CommandRegistry, Param, command, load_builtin
from trunkline.config.model import CommandsSection, TrunklineConfig
from trunkline.events.payloads import IssueCommentEvent, parse_payload

APP_ID = 42


def event(action: str = "created", body: str = "/hold", *, login: str = "dev", user_type: str = "User",
          sender: str | None = None, sender_type: str = "User", via_app: int | None = None,
          changes: dict[str, Any] | None = None, pr: bool = True) -> IssueCommentEvent:
    user = {"login": login, "id": 1, "type": user_type}
    payload: dict[str, Any] = {
        "action": action,
        "issue": {"number": 5, "title": "t", "user": user, "labels": [],
                  **({"pull_request": {"url": "u"}} if pr else {})},
        "comment": {"id": 99, "body": body, "user": user,
                    "performed_via_github_app": {"id": via_app} if via_app else None},
        "repository": {"id": 3, "name": "widgets", "full_name": "acme/widgets",
                       "owner": {"login": "acme", "id": 2}},
        "sender": {"login": sender or login, "id": 4, "type": sender_type},
        "installation": {"id": 7},
    }
    if changes is not None:
        payload["changes"] = changes
    parsed = parse_payload("issue_comment", payload)
    assert isinstance(parsed, IssueCommentEvent)
    return parsed


# ---------------------------------------------------------------------------------------- what is ignored

def test_plain_comment_is_handled() -> None:
    assert ignore_reason(event(), app_id=APP_ID, ignore_edited=True) is None


@pytest.mark.parametrize(("kwargs", "ignore_edited", "reason"), [
    ({"action": "deleted"}, True, "comment deleted"),
    ({"action": "edited"}, True, "edited comment (commands.ignore_edited is on)"),
    ({"login": "renovate[bot]"}, True, "comment by bot renovate[bot]"),
    ({"login": "Dependabot", "user_type": "Bot"}, True, "comment by bot Dependabot"),
    ({"sender": "ci[bot]", "sender_type": "Bot"}, True, "sent by bot ci[bot]"),
    ({"via_app": APP_ID}, True, "our own comment"),
    ({"body": "<!-- trunkline:commands comment=3 -->\n/hold"}, True, "a Trunkline reply"),
])
def test_ignored(kwargs: dict[str, Any], ignore_edited: bool, reason: str) -> None:
    assert ignore_reason(event(**kwargs), app_id=APP_ID, ignore_edited=ignore_edited) == reason


def test_edited_comments_are_handled_when_configured() -> None:
    assert ignore_reason(event("edited"), app_id=APP_ID, ignore_edited=False) is None


def test_another_apps_comment_by_a_user_token_is_not_ours() -> None:
    assert ignore_reason(event(via_app=APP_ID + 1), app_id=APP_ID, ignore_edited=True) is None


def test_is_bot() -> None:
    assert is_bot("x[bot]", "User") and is_bot("X[BOT]", None) and is_bot("dependabot", "Bot")
    assert not is_bot("robot", "User") and not is_bot(None, None)


def test_new_commands_in_an_edit() -> None:
    before = parse_commands("/hold a\n/verify\n/verify")
    after = parse_commands("fixed typo\n/hold a\n/verify\n/verify\n/verify\n/merge")
    assert [(c.name, c.line_no) for c in new_commands(after, before)] == [("verify", 5), ("merge", 6)]
    assert new_commands(before, before) == []
    # a changed argument is a new command
    assert [c.text for c in new_commands(parse_commands("/hold b"), parse_commands("/hold a"))] == ["b"]


# ---------------------------------------------------------------------------------------- planning

def test_plan_answers_what_needs_no_github() -> None:
    reg = load_builtin()
    body = "/frobnicate\n/verify a b\n/verify tier=x tier=y\n/merge\n/help\n/hold why not"
    steps = plan(parse_commands(body), reg, is_pr=False, number=5, prefix="/")
    answers = [(s.command.name, s.outcome.status if s.outcome else None) for s in steps]
    assert answers == [("frobnicate", "refused"), ("verify", "refused"), ("verify", "refused"),
                       ("merge", "refused"), ("help", None), ("hold", "refused")]
    assert steps[0].unknown
    assert steps[1].outcome is not None and steps[1].outcome.message == \
        "unexpected argument: b. Usage: `/verify [<tier>]`"
    assert steps[2].outcome is not None and "option 'tier' is given twice" in steps[2].outcome.message
    assert steps[3].outcome is not None and steps[3].outcome.message == \
        "`/merge` works on pull requests only; #5 is an issue."


def test_plan_binds_parameters_on_pull_requests() -> None:
    steps = plan(parse_commands('/hold "flaky" infra\n/merge cancel'), load_builtin(), is_pr=True, number=5,
                 prefix="/")
    assert [(s.spec.name if s.spec else None, s.params, s.outcome) for s in steps] == [
        ("hold", {"reason": '"flaky" infra'}, None), ("merge cancel", {}, None)]


def test_levels_apply_config_overrides() -> None:
    config = TrunklineConfig(commands=CommandsSection(permissions={"hold": "write", "merge-cancel": "admin"}))
    levels = levels_for(load_builtin(), config)
    assert levels["hold"] == "write" and levels["merge cancel"] == "admin"
    assert levels["merge"] == "write" and levels["help"] == "read"


# ---------------------------------------------------------------------------------------- running

class Probe:
    def __init__(self) -> None:
        self.reg = CommandRegistry()
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.level_calls = 0

        @command("look", summary="Read-only.", level="read", into=self.reg)
        def look(inv: Invocation) -> Outcome:
            self.ran.append(("look", inv.params))
            return ok("looked")

        @command("poke", summary="Needs write.", level="write", into=self.reg, params=[Param("n")])
        def poke(inv: Invocation) -> Outcome:
            self.ran.append(("poke", inv.params))
            return ok(f"poked {inv.params['n']}")

        @command("boom", summary="Breaks.", level="triage", into=self.reg)
        def boom(inv: Invocation) -> Outcome:
            raise RuntimeError("disk full\nsecond line")

    def session(self, config: TrunklineConfig | None = None) -> Session:
        config = config or TrunklineConfig()
        return Session(owner="acme", repo="widgets", number=5, is_pr=True, actor="dev", comment_id=99,
                       config=config, registry=self.reg, levels=levels_for(self.reg, config))

    def run(self, body: str, level: str, session: Session | None = None) -> tuple[list[Step], list[Any], Session]:
        session = session or self.session()
        steps = plan(parse_commands(body), self.reg, is_pr=True, number=5, prefix="/")

        def level_of() -> str:
            self.level_calls += 1
            return level

        return steps, run_steps(session, steps, level_of), session


def test_read_commands_do_not_ask_github_for_the_level() -> None:
    probe = Probe()
    _, entries, _ = probe.run("/look\n/look", "none")
    assert [e.outcome.status for e in entries] == ["success", "success"]
    assert probe.level_calls == 0


def test_level_is_fetched_once_and_refusals_name_levels() -> None:
    probe = Probe()
    _, entries, session = probe.run("/poke 1\n/look\n/poke 2\n/boom", "read")
    assert probe.level_calls == 1 and session.actor_level == "read"
    assert [e.outcome.status for e in entries] == ["refused", "success", "refused", "refused"]
    assert entries[0].outcome.message == \
        "refused — `/poke` needs **write** permission on this repository; @dev has **read**."
    assert entries[3].outcome.message.endswith("needs **triage** permission on this repository; @dev has **read**.")
    assert probe.ran == [("look", {})]


def test_commands_run_in_order_and_errors_become_failures() -> None:
    probe = Probe()
    _, entries, _ = probe.run("/poke 1\n/boom\n/poke 2", "write")
    assert [e.shown for e in entries] == ["/poke 1", "/boom", "/poke 2"]
    assert [e.outcome.status for e in entries] == ["success", "failure", "success"]
    assert entries[1].outcome.message == "error while running it (RuntimeError: disk full); see the bot's log."
    assert probe.ran == [("poke", {"n": "1"}), ("poke", {"n": "2"})]


def test_config_override_raises_the_bar() -> None:
    probe = Probe()
    config = TrunklineConfig(commands=CommandsSection(permissions={"look": "admin"}))
    _, entries, _ = probe.run("/look", "maintain", probe.session(config))
    assert entries[0].outcome.status == "refused" and "needs **admin**" in entries[0].outcome.message


def test_reply_adds_help_for_unknown_commands_once() -> None:
    probe = Probe()
    steps, entries, session = probe.run("/nope\n/nah\n/look", "write")
    body = reply_for(session, entries, steps)
    assert body.count("| Command | Who can run it |") == 1
    assert "unknown command `/nope`" in body and "unknown command `/nah`" in body
    assert "| `/poke [<n>]` | write or above | issues and pull requests | Needs write. |" in body


def test_reply_notes_broken_config() -> None:
    probe = Probe()
    session = probe.session()
    session.config_ok = False
    steps, entries, _ = probe.run("/look", "write", session)
    assert "configuration has errors" in reply_for(session, entries, steps)
