"""Deploy commands end to end: ``/deploy canary`` (on a PR, with a SHA), ``/promote`` through manual gates,
``/abort``, ``/rollback [sha]`` with no deploy running, and who may use them — people comment through the
sandbox, a real ``trunkline serve`` acts, the real local deployer runs the example service.

Shares the harness and helpers of ``test_deploy_e2e`` (one bot for this module; tiny steps, 0.3 s probes).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from test_deploy_e2e import Env, config, env  # noqa: F401 - the module-scoped fixture

from trunkline.deploy.demo import changed_files

pytestmark = pytest.mark.slow

GATED = "[{weight: 30, duration: 1}, {pause: manual}, {weight: 60, duration: 1}]"


def answered(e: Env, repo: str, comment_id: int) -> str:
    """The bot's reply to a comment, once its final reaction is there too."""
    r = e.sb.repo(repo)

    def done() -> str | None:
        with e.sb.world.lock:
            replies = [c.body for c in r.comments.values()
                       if f"<!-- trunkline:commands comment={comment_id} -->" in c.body]
            final = {x.content for x in r.comments[comment_id].reactions if x.user.endswith("[bot]")}
        return replies[0] if replies and final & {"rocket", "confused"} else None

    return e.h.wait_for(done, 40, what=f"reply to comment {comment_id}")


def say(e: Env, repo: str, number: int, body: str, as_user: str = "dev") -> str:
    return answered(e, repo, e.sb.comment(repo, number, body, as_user=as_user))


def wait_record(e: Env, repo: str, what: str, predicate: Callable[[Any], bool], timeout: float = 90.0) -> Any:
    """The newest run of ``repo`` once ``predicate(row)`` holds."""
    def found() -> Any:
        runs = e.runs(repo)
        return runs[-1] if runs and predicate(runs[-1]) else None

    try:
        return e.h.wait_for(found, timeout, what=what)
    except TimeoutError:
        runs = e.runs(repo)
        raise AssertionError(f"{repo}: {what}: {[r.state for r in runs]}\n"
                             + "\n".join(runs[-1].data["run"]["history"] if runs else []) + "\n"
                             + e.h.bot_log()[-3000:]) from None


def finished(e: Env, repo: str, trigger: str = "") -> Any:
    return wait_record(e, repo, f"a finished run ({trigger or 'any'})",
                       lambda r: r.done and r.trigger.startswith(trigger))


def production(e: Env, repo: str) -> tuple[str | None, list[str]]:
    """What GitHub says production runs (newest deployment whose latest status is success), and the
    statuses of the newest production deployment."""
    r = e.sb.repo(repo)
    with e.sb.world.lock:
        ds = sorted((d for d in r.deployments.values() if d.environment == "production"), key=lambda d: -d.id)
        good = next((d.sha for d in ds if d.statuses and max(d.statuses, key=lambda s: s.id).state == "success"),
                    None)
        return good, [s.state for s in sorted(ds[0].statuses, key=lambda s: s.id)] if ds else []


def checkpoint_tags(e: Env, repo: str, sha: str) -> list[str]:
    r = e.sb.repo(repo)
    return subprocess.run(["git", "--git-dir", str(r.path), "tag", "--list", "checkpoint-*", "--points-at", sha],
                          capture_output=True, text=True).stdout.split()


def kinds(e: Env, name: str) -> list[str]:
    return [c.split()[1] for c in e.calls(name)]


def test_deploy_canary_on_a_pr_stops_at_every_manual_gate_until_promote(env: Env) -> None:  # noqa: F811
    repo, old = env.make("gated", steps=GATED)
    head = env.sb.push(repo, "feature", changed_files("good2"), "widgets 1.0.1", as_user="dev")
    number = env.sb.open_pr(repo, head="feature", title="widgets 1.0.1", as_user="dev")
    assert f"Deploying `{head[:7]}` as a canary" in say(env, repo, number, "/deploy canary")

    run = wait_record(env, repo, "paused at the configured gate", lambda r: r.state == "paused")
    rec = run.data["run"]
    assert run.sha == head and rec["paused"] == "manual" and rec["step"] == 1 and rec["weight"] == 30
    assert rec["rollback_sha"] == old and rec["pr_number"] == number
    status = env.local("gated", "status")
    assert status["canary"]["sha"] == head and status["weight"] == 30 and status["stable"]["sha"] == old

    assert "Promoting deploy run" in say(env, repo, number, "/promote")
    # past the gate: 60% for its step, then the last gate every hand-made canary has
    run = wait_record(env, repo, "paused at the final gate", lambda r: r.state == "paused"
                      and r.data["run"]["step"] == 3)
    assert run.data["run"]["weight"] == 60 and env.local("gated", "status")["weight"] == 60
    assert kinds(env, "gated") == ["canary", "weight"]  # nothing promoted without a person

    say(env, repo, number, "/promote")
    run = finished(env, repo)
    assert run.state == "succeeded", run.data["run"]["history"]
    history = "\n".join(run.data["run"]["history"])
    assert history.count("/promote by @dev at the manual gate") == 2
    assert kinds(env, "gated") == ["canary", "weight", "promote"]
    assert env.local("gated", "status")["stable"]["sha"] == head
    assert production(env, repo)[0] == head
    assert checkpoint_tags(env, repo, head)


def test_deploy_canary_of_a_named_sha_then_abort_sends_traffic_back_to_stable(env: Env) -> None:  # noqa: F811
    repo, old = env.make("aborted", steps="[{weight: 30, duration: 120}]")
    sha = env.sb.push(repo, "next", changed_files("good2"), "next version", as_user="dev")
    issue = env.sb.open_issue(repo, "Try the next version", as_user="dev")
    assert f"Deploying `{sha[:7]}` as a canary" in say(env, repo, issue, f"/deploy canary {sha[:10]}")
    run = wait_record(env, repo, "analysing", lambda r: r.state == "analysing")
    assert run.sha == sha and run.data["run"]["pr_number"] is None
    assert env.local("aborted", "status")["canary"]["sha"] == sha

    assert "Aborting deploy run" in say(env, repo, issue, "/abort")
    run = finished(env, repo)
    assert run.state == "aborted", run.data["run"]["history"]
    assert "/abort by @dev" in "\n".join(run.data["run"]["history"])
    status = env.local("aborted", "status")
    assert status["stable"]["sha"] == old and (status["canary"] is None or status["weight"] == 0)
    assert kinds(env, "aborted") == ["canary", "rollback"]
    r = env.sb.repo(repo)
    with env.sb.world.lock:
        assert not [i for i in r.issues.values() if "trunkline-rollback" in i.labels]  # an abort is no incident
        canary = [d for d in r.deployments.values() if d.environment == "canary"]
        assert [max(d.statuses, key=lambda s: s.id).state for d in canary] == ["inactive"]
    assert production(env, repo)[0] == old  # production never changed
    # nothing runs any more: /promote and /abort say so
    assert "no deploy is running" in say(env, repo, issue, "/promote")
    assert "no deploy is running" in say(env, repo, issue, "/abort")


def test_rollback_with_no_deploy_running_moves_production_to_a_named_sha_then_to_the_last_checkpoint(
        env: Env) -> None:  # noqa: F811
    repo, old = env.make("undo", steps="[{weight: 30, duration: 1}]")
    new = env.merge_change(repo, "good2", changed_files("good2"))
    run = finished(env, repo, "merge")
    assert run.state == "succeeded", run.data["run"]["history"]
    assert production(env, repo)[0] == new and checkpoint_tags(env, repo, new)
    issue = env.sb.open_issue(repo, "Checkout is broken since the release", as_user="dev")

    # an earlier good SHA, named (abbreviated)
    body = say(env, repo, issue, f"/rollback {old[:9]}")
    assert f"Rolling production back from `{new[:7]}` to `{old[:7]}`" in body, body
    run = finished(env, repo, "rollback:")
    assert run.state == "rolled_back", run.data["run"]["history"]
    assert run.data["run"]["rollback_target"] == old and run.data["run"]["rollback_sha"] == new
    status = env.local("undo", "status")
    assert status["stable"]["sha"] == old and status["canary"] is None
    # GitHub knows: a production deployment of the target, in progress then success (the next run pins it)
    assert production(env, repo) == (old, ["in_progress", "success"])
    r = env.sb.repo(repo)
    with env.sb.world.lock:
        issues = [i for i in r.issues.values() if "trunkline-rollback" in i.labels]
        pr_comments = [c.body for c in r.comments.values() if c.issue_number == 1 and c.user.endswith("[bot]")]
    assert len(issues) == 1 and "/rollback by @dev" in issues[0].body and "chosen by `/rollback`" in issues[0].body
    assert any("rolled this change back" in b for b in pr_comments), pr_comments

    # no SHA: the last checkpoint (production runs a commit that has none)
    body = say(env, repo, issue, "/rollback")
    assert f"to `{new[:7]}` (the last checkpoint (`checkpoint-" in body, body
    run = finished(env, repo, "rollback:")
    assert run.state == "rolled_back" and run.data["run"]["rollback_target"] == new, run.data["run"]["history"]
    assert env.local("undo", "status")["stable"]["sha"] == new
    assert production(env, repo) == (new, ["in_progress", "success"])
    assert kinds(env, "undo") == ["canary", "promote", "rollback", "rollback"]

    # naming what production runs already does nothing
    assert "already" in say(env, repo, issue, f"/rollback {new}")
    assert len(env.runs(repo)) == 3


def test_write_users_may_not_deploy_or_roll_back_and_bad_requests_are_refused(env: Env) -> None:  # noqa: F811
    name = "guarded"
    repo = f"acme/{name}"
    env.sb.create_repo("acme", name, files={"README.md": "# guarded\n",
                                             ".github/trunkline.yml": config(name, env.root)})
    if not env.sb.world.installations:
        env.h.install("acme")
    env.sb.grant(repo, "dev", "maintain")
    env.sb.grant(repo, "writer", "write")
    head = env.sb.push(repo, "topic", {"x.txt": "x\n"}, "topic", as_user="writer")
    number = env.sb.open_pr(repo, head="topic", title="topic", as_user="writer")
    for command in ("/deploy canary", f"/deploy canary {head}", "/rollback", f"/rollback {head}", "/promote",
                    "/abort"):
        name_ = command.split()[0].lstrip("/")
        body = say(env, repo, number, command, as_user="writer")
        assert (f"refused — `/{name_}` needs **maintain** permission on this repository; @writer has "
                "**write**.") in body, body
    issue = env.sb.open_issue(repo, "deploys", as_user="dev")
    assert "name the commit" in say(env, repo, issue, "/deploy canary")
    assert "is not a commit of" in say(env, repo, issue, "/deploy canary 0123456789abcdef")
    assert "name the commit, `/rollback <sha>`" in say(env, repo, issue, "/rollback")  # no production known
    assert env.runs(repo) == []
