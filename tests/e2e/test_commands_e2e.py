"""PR comment commands end to end: sandbox GitHub + a real ``trunkline serve`` process.

People comment through the sandbox's REST API; the bot receives signed ``issue_comment`` webhooks,
asks GitHub for the commenter's permission, acts, reacts and replies — all visible in the sandbox.
"Nothing happened" is checked with a sentinel: deliveries of one repository are handled in order,
so once a later comment has its reply, the earlier event has been handled (and ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from trunkline.commands.builtin import ratchet as ratchet_module
from trunkline.commands.builtin import retest as retest_module
from trunkline.commands.builtin import verify as verify_module
from trunkline.commands.feedback import split_sections
from trunkline.commands.invocation import load_engine
from trunkline.commands.registry import load_builtin
from trunkline.config.model import PERMISSION_ORDER
from trunkline.demo.harness import BotHarness
from trunkline.sandbox import git as sandbox_git

pytestmark = pytest.mark.slow

REPO = "acme/widgets"
QUEUE = "acme/queue"
CUSTOM = "acme/custom"
BROKEN = "acme/broken"
CUSTOM_CONFIG = ("version: 1\ncommands:\n  prefix: '!'\n  ignore_edited: false\n"
                 "  permissions:\n    hold: write\n")
BROKEN_CONFIG = "version: 1\nmerge:\n  method: squosh\n"
PRIVILEGED = [s for s in load_builtin().specs() if PERMISSION_ORDER.index(s.level) > PERMISSION_ORDER.index("triage")]


def user(level: str) -> str:
    return f"u-{level}"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotHarness]:
    with BotHarness(tmp_path_factory.mktemp("commands")) as harness:
        sb = harness.sandbox
        sb.create_repo("acme", "widgets", files={"README.md": "# widgets\n"})
        sb.create_repo("acme", "queue", files={"README.md": "# queue\n"})
        sb.create_repo("acme", "custom", files={"README.md": "# custom\n", ".github/trunkline.yml": CUSTOM_CONFIG})
        sb.create_repo("acme", "broken", files={"README.md": "# broken\n", ".github/trunkline.yml": BROKEN_CONFIG})
        harness.install("acme")
        for repo in (REPO, QUEUE, CUSTOM, BROKEN):
            for level in PERMISSION_ORDER:
                sb.grant(repo, user(level), level)
        yield harness


# ---------------------------------------------------------------------------------------- helpers

_branches = iter(range(1, 10_000))


def new_pr(h: BotHarness, repo: str = REPO) -> tuple[int, str]:
    branch = f"topic-{next(_branches)}"
    sha = h.sandbox.push(repo, branch, {f"{branch}.txt": "work\n"}, f"work on {branch}", as_user=user("write"))
    return h.sandbox.open_pr(repo, head=branch, title=branch, as_user=user("write")), sha


def say(h: BotHarness, number: int, body: str, level: str = "write", repo: str = REPO) -> int:
    return h.sandbox.comment(repo, number, body, as_user=user(level))


def replies_to(h: BotHarness, comment_id: int, repo: str = REPO) -> list[Any]:
    r = h.sandbox.repo(repo)
    with h.sandbox.world.lock:
        return [c for c in r.comments.values() if f"<!-- trunkline:commands comment={comment_id} -->" in c.body]


def bot_reactions(h: BotHarness, comment_id: int, repo: str = REPO) -> list[str]:
    r = h.sandbox.repo(repo)
    with h.sandbox.world.lock:
        return [x.content for x in r.comments[comment_id].reactions if x.user == "trunkline[bot]"]


def answered(h: BotHarness, comment_id: int, repo: str = REPO) -> str:
    """The bot's reply to the comment, once its final reaction is there too."""
    def done() -> str | None:
        found = replies_to(h, comment_id, repo)
        final = {"rocket", "confused"} & set(bot_reactions(h, comment_id, repo))
        return found[0].body if found and final else None

    return h.wait_for(done, 30, what=f"reply to comment {comment_id}")


def settle(h: BotHarness, number: int, repo: str = REPO) -> None:
    """Wait until everything sent before now has been handled (see module docstring)."""
    answered(h, say(h, number, "/help", "read", repo), repo)


def labels(h: BotHarness, number: int, repo: str = REPO) -> list[str]:
    r = h.sandbox.repo(repo)
    with h.sandbox.world.lock:
        return list(r.issues[number].labels)


def bot_comments(h: BotHarness, number: int, repo: str = REPO) -> list[Any]:
    r = h.sandbox.repo(repo)
    with h.sandbox.world.lock:
        return [c for c in r.comments.values() if c.issue_number == number and c.user == "trunkline[bot]"]


# ---------------------------------------------------------------------------------------- hold / unhold

def test_hold_then_unhold_toggles_the_label(h: BotHarness) -> None:
    number, _ = new_pr(h)
    held = say(h, number, "Infra is flaky.\n/hold \"flaky runners\" until fixed", "triage")
    body = answered(h, held)
    assert labels(h, number) == ["do-not-merge"]
    assert bot_reactions(h, held) == ["eyes", "rocket"]
    assert "@u-triage: Done." in body
    assert "🚀 `/hold \"flaky runners\" until fixed` — on hold: added label `do-not-merge`" in body
    assert "Reason: `\"flaky runners\" until fixed`." in body

    again = say(h, number, "/hold", "write")
    assert "already on hold (label `do-not-merge`)" in answered(h, again)

    released = say(h, number, "/UNHOLD", "write")
    body = answered(h, released)
    assert labels(h, number) == []
    assert bot_reactions(h, released) == ["eyes", "rocket"]
    assert "removed `do-not-merge`; merging is no longer held." in body


def test_unhold_removes_every_hold_label(h: BotHarness) -> None:
    number, _ = new_pr(h)
    h.sandbox.label(REPO, number, "hold", "do-not-merge", "bug", as_user=user("write"))
    body = answered(h, say(h, number, "/unhold"))
    assert labels(h, number) == ["bug"]
    assert "removed `hold`, `do-not-merge`" in body or "removed `do-not-merge`, `hold`" in body


# ---------------------------------------------------------------------------------------- help / unknown

def test_help_replies_with_the_table(h: BotHarness) -> None:
    number, _ = new_pr(h)
    cid = say(h, number, "/help", "read")
    body = answered(h, cid)
    assert bot_reactions(h, cid) == ["eyes", "rocket"]
    rows = [line for line in body.splitlines() if line.startswith("| `/")]
    assert len(rows) == len(load_builtin().specs())
    assert "| `/merge cancel` | write or above | pull requests |" in body
    assert "| `/hold [<reason...>]` | triage or above | pull requests |" in body


def test_unknown_command_gets_help_and_confused(h: BotHarness) -> None:
    number, _ = new_pr(h)
    cid = say(h, number, "/frobnicate the widgets", "read")
    body = answered(h, cid)
    assert bot_reactions(h, cid) == ["eyes", "confused"]
    assert "😕 `/frobnicate the widgets` — unknown command `/frobnicate`" in body
    assert "| Command | Who can run it | Where | What it does |" in body


def test_several_commands_get_one_reply_in_order(h: BotHarness) -> None:
    number, _ = new_pr(h)
    cid = say(h, number, "/hold first\nsome words\n/unhold\n\n/nope\n/hold second", "write")
    body = answered(h, cid)
    assert len(replies_to(h, cid)) == 1
    items = [line for line in body.splitlines() if line.startswith("- ")]
    assert [line.split(" — ")[0] for line in items] == [
        "- 🚀 `/hold first`", "- 🚀 `/unhold`", "- 😕 `/nope`", "- 🚀 `/hold second`"]
    assert labels(h, number) == ["do-not-merge"]
    assert bot_reactions(h, cid) == ["eyes", "confused"]  # one command failed


# ---------------------------------------------------------------------------------------- ignored comments

def test_edited_comment_is_ignored(h: BotHarness) -> None:
    number, _ = new_pr(h)
    cid = say(h, number, "Looks fine to me.")
    h.sandbox.edit_comment(REPO, cid, "Looks fine to me.\n/hold", as_user=user("write"))
    settle(h, number)
    assert labels(h, number) == []
    assert bot_reactions(h, cid) == [] and replies_to(h, cid) == []


def test_bot_comments_are_ignored(h: BotHarness) -> None:
    number, _ = new_pr(h)
    h.sandbox.world.user("helper[bot]", type="Bot")
    h.sandbox.world.user("robo-account", type="Bot")
    for login in ("helper[bot]", "robo-account"):
        h.sandbox.grant(REPO, login, "admin")
    ids = [h.sandbox.comment(REPO, number, "/hold", as_user=login) for login in ("helper[bot]", "robo-account")]
    settle(h, number)
    assert labels(h, number) == []
    assert all(bot_reactions(h, cid) == [] and replies_to(h, cid) == [] for cid in ids)


def test_quoted_merge_does_nothing(h: BotHarness) -> None:
    number, sha = new_pr(h)
    cid = say(h, number, "> /merge\n\nShould we really do that?\n\n```\n/hold\n```\n<!-- /unhold -->", "admin")
    settle(h, number)
    assert bot_reactions(h, cid) == [] and replies_to(h, cid) == []
    assert labels(h, number) == []
    assert h.check_runs(REPO, sha, "trunkline/merge") == []  # not queued


def test_deleted_comment_does_nothing(h: BotHarness) -> None:
    number, _ = new_pr(h)
    cid = say(h, number, "/hold", "write")
    answered(h, cid)
    h.sandbox.github_as(user("write")).get_repo(REPO).get_issue(number).get_comment(cid).delete()
    settle(h, number)
    assert len([c for c in bot_comments(h, number) if "comment=" + str(cid) in c.body]) == 1


# ---------------------------------------------------------------------------------------- permissions

@pytest.mark.parametrize("level", ["read", "triage"])
@pytest.mark.parametrize("spec", PRIVILEGED, ids=lambda s: s.name.replace(" ", "-"))
def test_privileged_commands_are_refused_visibly(h: BotHarness, spec: Any, level: str) -> None:
    number, sha = new_pr(h)
    h.sandbox.label(REPO, number, "do-not-merge", as_user=user("write"))
    cid = say(h, number, f"/{spec.name}", level)
    body = answered(h, cid)
    assert bot_reactions(h, cid) == ["eyes", "confused"]
    assert (f"😕 `/{spec.name}` — refused — `/{spec.name}` needs **{spec.level}** permission on this "
            f"repository; @{user(level)} has **{level}**.") in body
    # and nothing happened
    assert labels(h, number) == ["do-not-merge"]
    assert h.check_runs(REPO, sha, "trunkline/merge") == []
    with h.sandbox.world.lock:
        r = h.sandbox.repo(REPO)
        assert r.pulls[number].head_sha == sha and not r.pulls[number].merged


def test_pr_only_commands_refuse_on_issues_and_help_works(h: BotHarness) -> None:
    issue = h.sandbox.open_issue(REPO, "A bug", as_user=user("read"))
    cid = say(h, issue, "/hold\n/help", "admin")
    body = answered(h, cid)
    assert f"😕 `/hold` — `/hold` works on pull requests only; #{issue} is an issue." in body
    assert "🚀 `/help` — the commands are listed below." in body
    assert labels(h, issue) == []


# ---------------------------------------------------------------------------------------- engines

@pytest.mark.parametrize("module", [verify_module, retest_module, ratchet_module], ids=lambda m: m.__name__)
def test_engine_commands_answer_honestly(h: BotHarness, module: Any) -> None:
    """Without its engine a command says "not available yet" (never a fake success); with it, the
    engine answers (its own behaviour is tested with the engine)."""
    name = module.__name__.rsplit(".", 1)[1]
    number, _ = new_pr(h)
    cid = say(h, number, f"/{name}", "admin")
    body = answered(h, cid)
    if load_engine(*module.ENGINE) is None:
        assert bot_reactions(h, cid) == ["eyes", "confused"]
        assert f"😕 `/{name}` — not available yet: " in body
    else:
        assert "not available yet" not in body and f"`/{name}` — " in body
        assert "error while running it" not in body


def make_fork(h: BotHarness, parent_name: str, owner: str) -> None:
    """A fork of ``parent_name`` owned by ``owner`` (the sandbox has no fork endpoint yet)."""
    sb = h.sandbox
    parent = sb.repo(parent_name)
    fork = sb.create_repo(owner, parent.name)
    with sb.world.lock:
        fork.fork_of = parent.id
        sandbox_git.run(fork, "fetch", "--no-tags", "-q", "--force", str(sandbox_git.git_dir(parent)),
                        f"+refs/heads/{parent.default_branch}:refs/heads/{fork.default_branch}")


def test_generate_refuses_fork_pull_requests(h: BotHarness) -> None:
    make_fork(h, REPO, "outsider")
    h.sandbox.push("outsider/widgets", "patch", {"fix.txt": "fix\n"}, "fork work", as_user="outsider")
    number = h.sandbox.open_pr(REPO, head="outsider:patch", title="From a fork", as_user="outsider")
    cid = say(h, number, "/generate", "write")
    body = answered(h, cid)
    assert bot_reactions(h, cid) == ["eyes", "confused"]
    assert ("this pull request comes from `outsider/widgets`; Trunkline only pushes to branches of "
            "`acme/widgets`.") in body


CONTRACTS_CONFIG = """version: 1
contracts:
  sources:
    - path: contracts/api.yaml
      targets:
        - {language: python, output: app/models.py}
"""
API_V1 = """openapi: 3.0.3
info: {title: Widgets, version: "1"}
paths: {}
components:
  schemas:
    Widget:
      type: object
      required: [id]
      properties:
        id: {type: integer}
"""
API_V2 = API_V1 + "        name: {type: string}\n"


def test_generate_pushes_one_commit_with_regenerated_code(h: BotHarness) -> None:
    if load_engine("trunkline.contracts.generate", "regenerate") is None:
        pytest.skip("the contracts engine is not installed")
    sb = h.sandbox
    sb.create_repo("acme", "api", files={".github/trunkline.yml": CONTRACTS_CONFIG, "contracts/api.yaml": API_V1})
    for level in PERMISSION_ORDER:
        sb.grant("acme/api", user(level), level)
    head = sb.push("acme/api", "add-name", {"contracts/api.yaml": API_V2}, "add name", as_user=user("write"))
    number = sb.open_pr("acme/api", head="add-name", title="Add name", as_user=user("write"))
    cid = say(h, number, "/generate", "write", "acme/api")
    body = answered(h, cid, "acme/api")
    assert bot_reactions(h, cid, "acme/api") == ["eyes", "rocket"], body
    r = sb.repo("acme/api")
    with sb.world.lock:
        new_head = r.pulls[number].head_sha
        assert sandbox_git.rev_list(r, f"{head}..{new_head}") == [new_head]  # exactly one commit
        generated = sandbox_git.blob_at(r, new_head, "app/models.py")[1].decode()
        info = sandbox_git.commit_info(r, new_head)
    assert f"pushed {new_head[:7]} to `add-name`: 1 file regenerated (`app/models.py`)." in body
    assert "source: contracts/api.yaml" in generated and "class Widget" in generated and "name" in generated
    assert info.message.startswith("Regenerate code from contracts")
    again = say(h, number, "/generate", "write", "acme/api")
    assert "already matches the contracts; nothing to commit." in answered(h, again, "acme/api")
    with sb.world.lock:
        assert r.pulls[number].head_sha == new_head


# ---------------------------------------------------------------------------------------- merge

def merge_service_installed() -> bool:
    return load_engine("trunkline.merge.service", "request_merge") is not None


def test_merge_by_a_write_user_queues_the_pull_request(h: BotHarness) -> None:
    h.sandbox.protect(QUEUE, required_checks=["ci/test"])
    number, sha = new_pr(h, QUEUE)
    cid = say(h, number, "/merge", "write", QUEUE)
    body = answered(h, cid, QUEUE)
    if not merge_service_installed():
        assert "😕 `/merge` — not available yet: auto-merge" in body
        return
    assert bot_reactions(h, cid, QUEUE) == ["eyes", "rocket"]
    assert "🚀 `/merge` — queued for auto-merge — Waiting: check `ci/test`." in body
    [run] = h.check_runs(QUEUE, sha, "trunkline/merge")  # the service's standing, published before the reply
    assert run.conclusion != "success" and "ci/test" in run.output["title"]  # says what it waits for
    with h.sandbox.world.lock:
        assert not h.sandbox.repo(QUEUE).pulls[number].merged
    h.sandbox.ci(QUEUE, sha, "ci/test", "success")

    def merged() -> bool:
        with h.sandbox.world.lock:
            return h.sandbox.repo(QUEUE).pulls[number].merged

    h.wait_for(merged, 30, what="the queued pull request to merge")


def test_merge_cancel_takes_it_out_of_the_queue(h: BotHarness) -> None:
    h.sandbox.protect(QUEUE, required_checks=["ci/test"])
    number, sha = new_pr(h, QUEUE)
    answered(h, say(h, number, "/merge", "maintain", QUEUE), QUEUE)
    cid = say(h, number, "/merge cancel", "maintain", QUEUE)
    body = answered(h, cid, QUEUE)
    if not merge_service_installed():
        assert "not available yet: auto-merge" in body
        return
    assert bot_reactions(h, cid, QUEUE) == ["eyes", "rocket"]
    assert f"Cancelled the merge of #{number}." in body
    h.sandbox.ci(QUEUE, sha, "ci/test", "success")
    settle(h, number, QUEUE)
    with h.sandbox.world.lock:
        assert not h.sandbox.repo(QUEUE).pulls[number].merged


def test_hold_blocks_a_queued_merge_and_unhold_releases_it(h: BotHarness) -> None:
    """The bot's own label changes come back as events it ignores, so /hold and /unhold ask the merge
    service directly: held, the PR does not merge when CI passes; released, it merges at once."""
    if not merge_service_installed():
        pytest.skip("the merge service is not installed")
    h.sandbox.protect(QUEUE, required_checks=["ci/test"])
    number, sha = new_pr(h, QUEUE)
    answered(h, say(h, number, "/merge", "write", QUEUE), QUEUE)
    body = answered(h, say(h, number, "/hold wait for the release", "triage", QUEUE), QUEUE)
    assert "on hold: added label `do-not-merge`" in body
    h.sandbox.ci(QUEUE, sha, "ci/test", "success")
    settle(h, number, QUEUE)
    with h.sandbox.world.lock:
        assert not h.sandbox.repo(QUEUE).pulls[number].merged
    runs = h.check_runs(QUEUE, sha, "trunkline/merge")
    title = max(runs, key=lambda r: r.id).output["title"]
    assert title.startswith("Blocked") and "hold" in title, title
    body = answered(h, say(h, number, "/unhold", "write", QUEUE), QUEUE)
    assert "removed `do-not-merge`" in body and "Merge: Merged" in body
    with h.sandbox.world.lock:
        assert h.sandbox.repo(QUEUE).pulls[number].merged


# ---------------------------------------------------------------------------------------- configuration

def test_config_prefix_levels_and_edits(h: BotHarness) -> None:
    number, _ = new_pr(h, CUSTOM)
    ignored = say(h, number, "/hold", "admin", CUSTOM)  # wrong prefix for this repository
    refused = say(h, number, "!hold", "triage", CUSTOM)  # hold needs write here
    body = answered(h, refused, CUSTOM)
    assert "`!hold` needs **write** permission on this repository; @u-triage has **triage**." in body
    assert replies_to(h, ignored, CUSTOM) == [] and bot_reactions(h, ignored, CUSTOM) == []
    # ignore_edited: false — an edit that adds a command runs it (and only it)
    cid = say(h, number, "!unhold", "write", CUSTOM)
    answered(h, cid, CUSTOM)
    h.sandbox.edit_comment(CUSTOM, cid, "!unhold\n!hold edited in", as_user=user("write"))

    def held() -> bool:
        return labels(h, number, CUSTOM) == ["do-not-merge"]

    h.wait_for(held, 30, what="the edit's !hold to run")
    h.wait_for(lambda: "`!hold edited in`" in replies_to(h, cid, CUSTOM)[0].body, 30, what="reply edit")
    [reply] = replies_to(h, cid, CUSTOM)  # the same reply, with a section for the edit
    first, second = [text for _, text in split_sections(reply.body)]
    assert "🚀 `!unhold` — not on hold" in first
    assert second.startswith("@u-write: After your edit: done.")
    assert "🚀 `!hold edited in` — on hold" in second and "`!unhold` —" not in second


def test_broken_config_still_allows_hold_with_defaults(h: BotHarness) -> None:
    number, _ = new_pr(h, BROKEN)
    body = answered(h, say(h, number, "/hold", "triage", BROKEN), BROKEN)
    assert labels(h, number, BROKEN) == ["do-not-merge"]
    assert "configuration has errors" in body


def test_no_command_crashed(h: BotHarness) -> None:
    """Every command above answered through its outcome; none died with a traceback in the bot."""
    log = h.log_path.read_text(errors="replace")
    assert re.search(r"command \S+ failed", log) is None
    for chunk in log.split("Traceback (most recent call last)")[1:]:
        assert "/trunkline/commands/" not in "\n".join(chunk.splitlines()[:60])
