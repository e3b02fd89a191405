"""Runtime settings for the bot, read from the environment (12-factor).

Every process (``trunkline serve``, ``trunkline worker``, tests, the demo) builds one
``Settings`` and passes it down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    # GitHub App identity
    app_id: int | None = None
    private_key_pem: str | None = None
    webhook_secret: str = ""
    # REST base URL: https://api.github.com, a GHES URL ending in /api/v3, or a sandbox URL
    github_url: str = "https://api.github.com"
    # Login of the App's bot user ("<slug>[bot]"); events it caused are ignored
    bot_login: str | None = None
    # Storage: any SQLAlchemy URL; SQLite by default
    database_url: str = "sqlite:///.trunkline/trunkline.db"
    # Queue: "sqlite:///path" (huey SqliteHuey, default) or "redis://host:port/db"
    queue_url: str = "sqlite:///.trunkline/queue.db"
    # Worker threads started by ``trunkline serve`` (``trunkline worker`` takes --workers)
    workers: int = 2
    # Poll GET /app/hook/deliveries for failed deliveries every N seconds (0 = off)
    missed_delivery_interval: float = 300.0
    # Seconds a claimed delivery may run without a heartbeat before another worker retakes it
    lease_seconds: float = 60.0
    max_body_bytes: int = 25 * 1024 * 1024
    data_dir: Path = field(default_factory=lambda: Path(".trunkline"))
    # --- jobs (appended by the ingest/jobs helper; env wiring in from_env still to do) ---
    # "module:factory" returning the Processor; default trunkline.runtime:build_processor
    processor: str | None = None
    # Attempts per delivery before it is marked failed; retry n waits retry_base_delay * 2**(n-1) s
    max_attempts: int = 5
    retry_base_delay: float = 5.0
    # Seconds between recovery sweeps (re-enqueue deliveries that are not done and not in flight)
    recovery_interval: float = 30.0
    # --- log links (trunkline.logs): signed, expiring links to run logs served by ``trunkline serve`` ---
    # Base URL people reach ``trunkline serve`` at (default: the address ``trunkline serve`` listens on)
    public_url: str | None = None
    # Key for the links' HMAC (default: derived from the webhook secret); how long a link is valid
    logs_key: str = ""
    logs_link_ttl: float = 7 * 86400.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        key = _env("TRUNKLINE_PRIVATE_KEY")
        key_path = _env("TRUNKLINE_PRIVATE_KEY_PATH")
        if key is None and key_path:
            key = Path(key_path).read_text()
        data_dir = Path(_env("TRUNKLINE_DATA_DIR", ".trunkline") or ".trunkline")
        values: dict[str, object] = dict(
            app_id=int(_env("TRUNKLINE_APP_ID")) if _env("TRUNKLINE_APP_ID") else None,
            private_key_pem=key,
            webhook_secret=_env("TRUNKLINE_WEBHOOK_SECRET", "") or "",
            github_url=_env("TRUNKLINE_GITHUB_URL", "https://api.github.com"),
            bot_login=_env("TRUNKLINE_BOT_LOGIN"),
            database_url=_env("TRUNKLINE_DATABASE_URL", f"sqlite:///{data_dir}/trunkline.db"),
            queue_url=_env("TRUNKLINE_QUEUE_URL", f"sqlite:///{data_dir}/queue.db"),
            workers=int(_env("TRUNKLINE_WORKERS", "2") or 2),
            missed_delivery_interval=float(_env("TRUNKLINE_MISSED_DELIVERY_INTERVAL", "300") or 300),
            lease_seconds=float(_env("TRUNKLINE_LEASE_SECONDS", "60") or 60),
            data_dir=data_dir,
            processor=_env("TRUNKLINE_PROCESSOR"),
            max_attempts=int(_env("TRUNKLINE_MAX_ATTEMPTS", "5") or 5),
            retry_base_delay=float(_env("TRUNKLINE_RETRY_BASE_DELAY", "5") or 5),
            recovery_interval=float(_env("TRUNKLINE_RECOVERY_INTERVAL", "30") or 30),
            public_url=_env("TRUNKLINE_PUBLIC_URL"),
            logs_key=_env("TRUNKLINE_LOGS_KEY", "") or "",
            logs_link_ttl=float(_env("TRUNKLINE_LOGS_LINK_TTL", str(7 * 86400)) or 7 * 86400),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
