"""Missed deliveries end to end: the sandbox GitHub loses a webhook (GitHub never retries it); the
poller inside a real ``trunkline serve`` finds it in GET /app/hook/deliveries through the App
client and asks for a redelivery, and the delivery ends up stored exactly once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from trunkline.demo.harness import BotHarness

pytestmark = pytest.mark.slow


def _stored(db: Path, guid: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM deliveries WHERE guid = ?", (guid,)).fetchone()[0]
    finally:
        conn.close()


def test_lost_webhook_is_redelivered_by_the_poller(tmp_path: Path) -> None:
    with BotHarness(tmp_path, env={"TRUNKLINE_MISSED_DELIVERY_INTERVAL": "1"}) as h:
        sb = h.sandbox
        repo = sb.create_repo("acme", "widgets")
        h.install("acme", [repo])
        sb.wait_for_webhooks()
        db = tmp_path / "bot" / "trunkline.db"

        sb.drop_webhooks(1)
        sb.open_issue(repo, "this webhook gets lost", as_user="acme")
        sb.wait_for_webhooks()
        lost = [d for d in sb.deliveries("issues") if d.status != "OK"]
        assert len(lost) == 1 and lost[0].status_code == 0
        guid = lost[0].guid
        assert _stored(db, guid) == 0

        h.wait_for(lambda: _stored(db, guid) == 1, 30, "the poller to get the lost delivery redelivered")
        time.sleep(2.5)  # two more poll rounds: nothing is asked for again
        attempts = [d for d in sb.deliveries("issues") if d.guid == guid]
        assert [(d.redelivery, d.status) for d in attempts] == [(False, lost[0].status), (True, "OK")]
        assert _stored(db, guid) == 1
