"""Settings come from the environment only, with safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.settings import Settings


def test_defaults_are_sqlite_under_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("TRUNKLINE_"):
            monkeypatch.delenv(key)
    s = Settings.from_env()
    assert s.database_url == "sqlite:///.trunkline/trunkline.db"
    assert s.queue_url == "sqlite:///.trunkline/queue.db"
    assert s.webhook_secret == ""  # no secret: every delivery is refused (safe default)
    assert s.app_id is None and s.processor is None
    assert (s.max_attempts, s.retry_base_delay, s.recovery_interval) == (5, 5.0, 30.0)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text("PEM")
    monkeypatch.setenv("TRUNKLINE_APP_ID", "42")
    monkeypatch.setenv("TRUNKLINE_PRIVATE_KEY_PATH", str(key))
    monkeypatch.setenv("TRUNKLINE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("TRUNKLINE_PROCESSOR", "tests.e2e._processors:build")
    monkeypatch.setenv("TRUNKLINE_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("TRUNKLINE_RETRY_BASE_DELAY", "0.5")
    monkeypatch.setenv("TRUNKLINE_RECOVERY_INTERVAL", "3")
    s = Settings.from_env()
    assert s.app_id == 42 and s.private_key_pem == "PEM"
    assert s.database_url == f"sqlite:///{tmp_path / 'd'}/trunkline.db"
    assert s.processor == "tests.e2e._processors:build"
    assert (s.max_attempts, s.retry_base_delay, s.recovery_interval) == (2, 0.5, 3.0)
