"""The progress comment of an agent run against the sandbox: links to the logs, the elapsed time
refreshed during a long step at the configured rate, and no edit when the body would not change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trunkline.agents.core import log_name
from trunkline.agents.progress import RunView, render_progress
from trunkline.agents.service import AgentService
from trunkline.agents.spec import RunSpec
from trunkline.gates.runner import CancelToken
from trunkline.logs import links
from trunkline.store.agent_runs import AgentRunRepo
from trunkline.store.base import Store

REPO = "acme/calc"
RUN = "20261122-041500-1a2b3c4d"
T0 = 1_800_000_000.0 - 1_800_000_000.0 % links.EXPIRY_STEP + 5


@dataclass
class World:
    sb: Any
    service: AgentService
    runs: AgentRunRepo
    issue: int
    comment_id: int
    now: list[float]

    def edits(self) -> list[Any]:
        path = f"/repos/{REPO}/issues/comments/{self.comment_id}"
        return [e for e in self.sb.world.request_log if e.method == "PATCH" and e.path == path]

    def body(self) -> str:
        with self.sb.world.lock:
            return self.sb.repo(REPO).comments[self.comment_id].body


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    from trunkline.agents import github_io as gh
    from trunkline.github.client import AppClient
    from trunkline.sandbox.actors import Sandbox

    sb = Sandbox(tmp_path / "sandbox").start()
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.create_all()
    service = AgentService(store, work_root=tmp_path / "agents", slots=1, progress_every=30.0)
    links.configure(links.Signer("http://bot.example", links.derive_key("s") or b"", ttl=7 * 86400))
    try:
        app = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="s")
        sb.create_repo("acme", "calc", files={"README.md": "# calc\n"})
        sb.install(app, "acme")
        client = AppClient(app.id, app.private_key_pem or "", sb.url)
        service.app = client
        installation = sb.installation_of(app, REPO)
        issue = sb.open_issue(REPO, "Add sub()", "please", as_user="dev")
        comment_id = gh.post_comment(client.installation(installation.id), "acme", "calc", issue, "starting")
        spec = RunSpec(label="agent:implement", stages=(("plan", "true", 60), ("implement", "true", 60)))
        runs = AgentRunRepo(store)
        runs.create(id=RUN, repo=REPO, installation_id=installation.id, issue=issue, label=spec.label, actor="dev",
                    trigger="label:1", backend="local", executor="local", branch=f"trunkline/{issue}-{RUN}",
                    created_at=T0, comment_id=comment_id, trigger_text="label `agent:implement`",
                    steps=[{"name": "plan", "status": "passed", "attempts": 1},
                           {"name": "implement", "status": "running", "attempts": 1}])
        assert runs.claim_slot(RUN, service.me, service.host, T0, limit=1)
        folder = service.work_root / "acme" / "calc" / RUN
        (folder / "logs").mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(spec.to_json()))
        for name in (log_name("plan", 1), log_name("implement", 1), log_name("implement", 2)):
            (folder / "logs" / name).write_text("$ true\n")
        now = [T0]
        service.clock = lambda: now[0]
        service.tokens[RUN] = CancelToken()  # as if this process ran the run
        yield World(sb, service, runs, issue, comment_id, now)
    finally:
        links.reset()
        service.pool.shutdown(wait=False)
        store.dispose()
        sb.stop()


@pytest.mark.slow  # the sandbox GitHub
def test_the_progress_comment_links_each_step_log_and_the_run_index(world: World) -> None:
    assert world.service._publish(world.runs.get(RUN), None)
    body = world.body()
    assert f"http://bot.example/logs/agents/{RUN}/plan-1.log?expires=" in body
    assert f"http://bot.example/logs/agents/{RUN}/implement-2.log?expires=" in body  # the latest attempt
    assert "implement-1.log" not in body
    assert f"Logs: [all logs of this run](http://bot.example/logs/agents/{RUN}?expires=" in body
    assert "on the Trunkline host" not in body
    # without a public URL (a worker that does not know it), the folder on the bot's host is named instead
    links.configure(None)
    world.now[0] += 60
    world.service._publish(world.runs.get(RUN), None)
    assert f"`agents/acme/calc/{RUN}/logs/` on the Trunkline host" in world.body() and "http://" not in world.body()


@pytest.mark.slow  # the sandbox GitHub
def test_elapsed_time_is_refreshed_during_a_step_at_the_configured_rate(world: World) -> None:
    s = world.service
    world.now[0] = T0 + 1
    assert s._publish(world.runs.get(RUN), None)  # a step boundary
    before = len(world.edits())
    assert "elapsed 1s" in world.body()
    assert s.refresh_progress(T0 + 1) == 0  # the boundary just published it
    world.now[0] = T0 + 20
    assert s.refresh_progress(T0 + 20) == 0 and len(world.edits()) == before  # not yet: every 30 s
    world.now[0] = T0 + 95
    assert s.refresh_progress(T0 + 95) == 1
    assert len(world.edits()) == before + 1 and "elapsed 1m 35s" in world.body()
    # nothing changed (same elapsed text, same links): no API call at all
    assert s.refresh_progress(T0 + 200) == 0 and len(world.edits()) == before + 1
    assert not s._publish(world.runs.get(RUN), None) and len(world.edits()) == before + 1
    # a run this process does not run is not refreshed; 0 turns refreshing off
    world.now[0] = T0 + 400
    s.tokens.clear()
    assert s.refresh_progress(T0 + 400) == 0
    s.tokens[RUN] = CancelToken()
    s.progress_every = 0
    assert s.refresh_progress(T0 + 1000) == 0 and len(world.edits()) == before + 1


@pytest.mark.slow  # the sandbox GitHub
def test_over_an_hour_the_elapsed_text_moves_by_minutes_so_most_refreshes_send_nothing(world: World) -> None:
    s = world.service
    s.progress_every = 1.0
    sent = 0
    for second in range(3600 + 5, 3600 + 5 + 120, 10):  # two minutes of refreshes every 10 s
        world.now[0] = T0 + second
        sent += s.refresh_progress(T0 + second)
    assert sent <= 3  # "1h 00m", "1h 01m", "1h 02m": the rest were identical and skipped


def test_render_is_pure_and_shows_step_log_links() -> None:
    from trunkline.agents.core import StepState

    view = RunView(run_id=RUN, issue=3, trigger="label `x`", actor="dev", branch="b", backend="local",
                   state="running", outcome=None, steps=(StepState("plan", "passed", 1),), elapsed=61,
                   step_logs={"plan": "http://h/l"}, logs="[all logs of this run](http://h/i)")
    assert render_progress(view) == render_progress(view)
    assert "**plan** — [log](http://h/l)" in render_progress(view) and "elapsed 1m 01s" in render_progress(view)
