"""Signed, expiring links to run logs (pure, plus the process-wide signer).

A link is ``<public url><path>?expires=<unix seconds>&sig=<hex>``, where ``sig`` is the HMAC-SHA256 of
``<path>\\n<expires>`` under the links' key. The key is ``TRUNKLINE_LOGS_KEY`` when set, otherwise
derived from the App's webhook secret (never the secret itself); without either, no links are made and
every log request is refused. Repositories may be private: whoever has a link reads that one log (or
that run's index) until it expires, and nothing else.

Expiry times are rounded up to :data:`EXPIRY_STEP`, so a comment rendered twice within that step
carries the same links (and an unchanged comment is not edited again).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

log = logging.getLogger(__name__)

DEFAULT_TTL = 7 * 86400.0
EXPIRY_STEP = 3600
MAX_EXPIRES = 10**11  # a year in the 5000s: anything larger is not a time we issued
_CONTEXT = b"trunkline/log-links/v1"
_SIG_RE = re.compile(r"^[0-9a-f]{64}$")
_EXPIRES_RE = re.compile(r"^[0-9]{1,12}$")


def derive_key(webhook_secret: str, explicit: str = "") -> bytes | None:
    """The links' HMAC key: from ``explicit`` (``TRUNKLINE_LOGS_KEY``) or the webhook secret; None when
    there is neither (links are then off)."""
    base = explicit or webhook_secret
    if not base:
        return None
    return hmac.new(base.encode(), _CONTEXT, hashlib.sha256).digest()


def signature(key: bytes, path: str, expires: int) -> str:
    return hmac.new(key, f"{path}\n{int(expires)}".encode(), hashlib.sha256).hexdigest()


def expiry(now: float, ttl: float, step: int = EXPIRY_STEP) -> int:
    """``now + ttl`` rounded up to a multiple of ``step`` (stable links within a step)."""
    at = int(now + max(ttl, 1.0))
    return -(-at // step) * step if step > 0 else at


def refusal(key: bytes | None, path: str, expires: str | None, sig: str | None, now: float) -> str | None:
    """Why a request for ``path`` with these query values is refused, or None when the link is good."""
    if key is None:
        return "log links are not enabled on this Trunkline server (it has no webhook secret or TRUNKLINE_LOGS_KEY)"
    if not expires or not sig:
        return "this log link is not signed: open the link from the progress comment or check run"
    if not _EXPIRES_RE.fullmatch(expires) or not _SIG_RE.fullmatch(sig):
        return "this log link is malformed: open the link from the progress comment or check run again"
    at = int(expires)
    if not hmac.compare_digest(signature(key, path, at), sig):
        return "this log link's signature does not match (altered link, or the server's key changed)"
    if at <= now:
        when = dt.datetime.fromtimestamp(min(at, MAX_EXPIRES), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"this log link expired on {when}; links to logs are valid for a limited time (TRUNKLINE_LOGS_LINK_TTL)"
    return None


@dataclass(frozen=True)
class Signer:
    """Makes links under ``base_url`` (no trailing slash) valid for ``ttl`` seconds."""

    base_url: str
    key: bytes
    ttl: float = DEFAULT_TTL

    def query(self, path: str, now: float | None = None) -> str:
        at = expiry(time.time() if now is None else now, self.ttl)
        return urlencode({"expires": at, "sig": signature(self.key, path, at)})

    def link(self, path: str, now: float | None = None) -> str:
        return f"{self.base_url}{path}?{self.query(path, now)}"


def agent_index_path(run_id: str) -> str:
    return f"/logs/agents/{quote(run_id, safe='')}"


def agent_log_path(run_id: str, name: str) -> str:
    return f"{agent_index_path(run_id)}/{quote(name, safe='')}"


def gate_log_path(run_id: int) -> str:
    return f"/logs/gates/{int(run_id)}"


def tier_log_link(run_id: int, executor: str) -> str | None:
    """The check run's ``details_url`` for a tier run: its log here (local runs; None for Actions runs,
    which link their workflow run, or when links are off)."""
    return link(gate_log_path(run_id)) if executor == "local" else None


def signer_from_settings(settings: object) -> Signer | None:
    base = (getattr(settings, "public_url", None) or "").rstrip("/")
    key = derive_key(str(getattr(settings, "webhook_secret", "") or ""), str(getattr(settings, "logs_key", "") or ""))
    if not base or key is None:
        return None
    return Signer(base, key, float(getattr(settings, "logs_link_ttl", DEFAULT_TTL) or DEFAULT_TTL))


# ---------------------------------------------------------------------------------------------- process-wide

_signer: Signer | None = None
_configured = False
_lock = threading.Lock()


def configure(signer: Signer | None) -> None:
    """Set this process's signer (``trunkline serve`` does, with its public URL)."""
    global _signer, _configured
    with _lock:
        _signer, _configured = signer, True


def reset() -> None:
    """Forget the configured signer (the next :func:`current` reads the environment again)."""
    global _signer, _configured
    with _lock:
        _signer, _configured = None, False


def current() -> Signer | None:
    """This process's signer; unless configured, from the environment (``TRUNKLINE_PUBLIC_URL`` must be
    set then: a ``trunkline worker`` does not know where ``trunkline serve`` is reached)."""
    global _signer, _configured
    with _lock:
        if not _configured:
            from trunkline.settings import Settings

            try:
                _signer = signer_from_settings(Settings.from_env())
            except (OSError, ValueError):
                log.warning("log links are off: the settings could not be read", exc_info=True)
                _signer = None
            _configured = True
        return _signer


def link(path: str, now: float | None = None) -> str | None:
    """A signed link to ``path``, or None when links are off in this process."""
    signer = current()
    return signer.link(path, now) if signer is not None else None
