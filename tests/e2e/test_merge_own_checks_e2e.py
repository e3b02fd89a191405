"""Auto-merge produces our own missing ``trunkline/<tier>`` checks by their prefix, in a process that never
registered the tier's exact name (a separate worker, a restarted bot): in-process against the sandbox,
with a real App client, SQLite store and the gates' local executor running the tier in a checkout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trunkline.gates import service as gates
from trunkline.github.client import AppClient
from trunkline.merge import cache
from trunkline.merge import service as merge
from trunkline.sandbox.actors import Sandbox
from trunkline.store.base import Store

pytestmark = pytest.mark.slow

CONFIG = "version: 1\ntiers:\n  tier-0:\n    commands: ['true']\n    budget: 60\n"


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # a fresh process's registries: the prefix family only (what importing the gates handlers does)
    monkeypatch.setattr(merge, "OWN_CHECKS", {"trunkline/config": merge.OWN_CHECKS["trunkline/config"]})
    monkeypatch.setattr(merge, "OWN_CHECK_PREFIXES", {})
    gates.register_merge_producers()
    cache.clear_all()
    with Sandbox(tmp_path / "sandbox") as sb:
        app = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="s")
        installation = sb.install(app, "acme")
        client = AppClient(app.id, app.private_key_pem or "", sb.url).installation(installation.id)
        store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
        store.create_all()
        service = gates.GateService(store, work_root=tmp_path / "gates", concurrency=1, poll_interval=3600)
        gates.set_service(service)
        merge.set_default_store(store)
        try:
            yield sb, client, store
        finally:
            service.shutdown(wait=True)  # the tier thread finishes (its merge evaluation too)
            gates.set_service(None)
            merge.set_default_store(None)
            store.dispose()
            cache.clear_all()


def test_a_required_tier_check_missing_on_the_head_is_started_through_the_prefix(world) -> None:
    sb, client, store = world
    sb.create_repo("acme", "tiers", files={"README.md": "# t\n", ".github/trunkline.yml": CONFIG})
    sb.grant("acme/tiers", "dev", "write")
    sb.protect("acme/tiers", required_checks=["trunkline/tier-0", "trunkline/tier-9"], strict=False)
    sha = sb.push("acme/tiers", "feature", {"f.txt": "x\n"}, "feature", as_user="dev")
    number = sb.open_pr("acme/tiers", head="feature", title="Feature", as_user="dev")  # no bot saw it
    assert "trunkline/tier-0" not in merge.OWN_CHECKS

    result = merge.request_merge(client, store, "acme", "tiers", number, "dev")
    assert result.outcome == "waiting"
    repo = sb.repo("acme/tiers")

    def runs(name: str) -> list:
        with sb.world.lock:
            return [r for r in repo.check_runs.values() if r.head_sha == sha and r.name == name]

    assert runs("trunkline/tier-0"), "the producer started tier-0 on the head"
    assert runs("trunkline/tier-9") == [], "a tier the repository does not configure is not ours to report"
    assert any(r.tier == "tier-0" for r in gates.GateRunRepo(store).for_head("acme/tiers", sha))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(r.status == "completed" for r in runs("trunkline/tier-0")):
        time.sleep(0.1)
    assert [r.conclusion for r in runs("trunkline/tier-0") if r.status == "completed"] == ["success"]
