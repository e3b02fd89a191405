"""A deploy run's page (``trunkline.deploy.page``): the pure rendering from the record, and
``GET /logs/deploy/{run_id}`` on a real receiver (uvicorn on 127.0.0.1, real SQLite) behind signed links."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from trunkline.deploy import controller as c
from trunkline.deploy.page import page_path, render_page, steps_rows, when
from trunkline.logs import links
from trunkline.settings import Settings
from trunkline.store.base import Store
from trunkline.store.deploy_runs import DeployRunRepo

SHA = "a" * 40
OLD = "b" * 40
SECRET = "page-secret"
PLAN = c.Plan(steps=(c.Step(10, 3.0), c.Step(0, 0.0, manual=True), c.Step(50, 3.0)),
              rules={"window_seconds": 300, "rollback_failures": 3}, probes=("health",))
ROW = {"id": 12, "repo": "acme/shop", "sha": SHA, "trigger": "merge", "state": "analysing", "done": False,
       "created_at": 1_795_000_000.0, "updated_at": 1_795_000_060.0, "lease_owner": "vm:42:abc"}


def record(**changes: object) -> dict:
    rec = c.new_record("acme/shop", SHA, PLAN, now=1_795_000_000.0, pr_number=7)
    values: dict = {"state": c.ANALYSING, "step": 0, **changes}
    rec = replace(rec, weight=10, rollback_sha=OLD,
                    deployments={"canary": 301, "production@rollback": 302},
                    verdict={"action": "alert", "failures": 2, "errors": 0, "latency": "nodata",
                             "reasons": ["2 failure(s) in 300s"]},
                    window=({"probe": "health", "target": "canary", "at": 1_795_000_030.5, "outcome": "fail",
                             "latency_ms": 12.25, "detail": "status 500 <script>alert(1)</script>"},
                            {"probe": "health", "target": "stable", "at": 1_795_000_030.6, "outcome": "ok",
                             "latency_ms": 3.0, "detail": "200"}),
                    **values)
    return c.to_dict(rec)


def test_the_page_shows_state_steps_weight_verdict_window_shas_deployments_and_times() -> None:
    page = render_page(ROW, record(), repo_url="https://github.example/acme/shop")
    assert page.startswith("<!doctype html>") and "Deploy run 12: acme/shop aaaaaaa (analysing)" in page
    for text in ("Step</td><td>1 of 3", "10%", "manual gate (/promote)", "50%", "current", "pending",
                 "alert", "2 failure(s) in 300s", "nodata", "canary: 301", "production@rollback: 302",
                 f"https://github.example/acme/shop/commit/{OLD}", f"<code>{SHA}</code>", "PR #7",
                 "12.2 ms", "3.0 ms", "2026-11-18 ", " UTC", "vm:42:abc", "Measurements (2 in the window)",
                 "queued (merge)"):
        assert text in page, text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # details are escaped
    assert when(1_795_000_030.5) in page


def test_a_finished_run_shows_where_it_stopped() -> None:
    rolled = render_page({**ROW, "state": "rolled_back", "done": True},
                         record(state=c.ROLLED_BACK, step=2, rollback_target=OLD, reason="3 failure(s)"))
    assert "rolled back</strong> — 3 failure(s)" in rolled and "(done)" in rolled
    assert [r[3] for r in steps_rows(record(state=c.ROLLED_BACK, step=2))] == ["passed", "passed",
                                                                                 "stopped (rolled back)"]
    assert [r[3] for r in steps_rows(record(state=c.SUCCEEDED, step=2))] == ["passed"] * 3
    assert [r[3] for r in steps_rows(record(state=c.ABORTED, step=0))] == ["stopped (aborted)", "skipped",
                                                                             "skipped"]
    assert [r[3] for r in steps_rows(record(state=c.QUEUED))] == ["pending"] * 3
    evidence = [{"probe": "health", "target": "canary", "at": 5.0, "outcome": "fail", "detail": "status 500"}]
    page = render_page(ROW, {**record(state=c.ROLLED_BACK), "window": [], "evidence": evidence})
    assert "Measurements (0 in the window)" in page and "before the last switch (1:" in page
    assert '<tr class="fail"><td>1970-01-01 00:00:05.000 UTC</td>' in page
    # an empty record (a run just created by an older version) still renders
    assert "Deploy run 12" in render_page(ROW, {})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    from trunkline.ingest.server import IngestServer
    from trunkline.jobs.queue import JobQueue

    tmp: Path = tmp_path_factory.mktemp("page")
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp}/t.db", queue_url=f"sqlite:///{tmp}/q.db",
                   public_url="http://bot.example")
    store = Store.from_settings(cfg)
    store.create_all()
    row = DeployRunRepo(store).create(repo="acme/shop", installation_id=1, sha=SHA, trigger="merge",
                                      state="analysing", record={"run": record(), "html_url": ""}, now=1.0)
    assert row is not None
    try:
        with IngestServer(cfg, store, JobQueue.from_url(cfg.queue_url)) as srv:
            yield srv.url, row.id
    finally:
        links.reset()
        store.dispose()


@pytest.mark.slow  # a real receiver (uvicorn)
def test_a_signed_link_opens_the_run_page_and_nothing_else_does(served: tuple[str, int]) -> None:
    base, run_id = served
    signer = links.current()
    assert signer is not None
    link = signer.link(page_path(run_id))
    assert link.startswith(f"http://bot.example/logs/deploy/{run_id}?expires=")
    page = httpx.get(base + link.removeprefix("http://bot.example"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"Deploy run {run_id}: acme/shop" in page.text and page.headers["cache-control"] == "private, no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    query = link.partition("?")[2]
    for url, status in ((f"/logs/deploy/{run_id}", 403),  # unsigned
                        (f"/logs/deploy/{run_id + 1}?{query}", 403),  # another run with this link
                        (f"/logs/deploy/x{run_id}?{query}", 403)):  # malformed id
        response = httpx.get(base + url)
        assert response.status_code == status and "acme/shop" not in response.text, url
    key = links.derive_key(SECRET)
    assert key is not None
    expires = int(time.time()) + 60
    missing = httpx.get(f"{base}{page_path(999)}?expires={expires}&sig={links.signature(key, page_path(999), expires)}")
    assert missing.status_code == 404 and missing.json()["message"] == "no deploy run 999 on this server"
