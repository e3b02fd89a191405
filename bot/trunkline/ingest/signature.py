"""GitHub webhook signatures: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str | bytes, body: bytes) -> str:
    """The header value GitHub would send for ``body``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str | bytes | None) -> bool:
    """True iff ``header`` is the signature of ``body`` under a non-empty ``secret``.

    The comparison is constant-time (``hmac.compare_digest``) so response timing reveals nothing
    about how much of a forged signature was right.
    """
    if not secret or not header:
        return False
    given = header if isinstance(header, bytes) else header.encode("utf-8", "surrogateescape")
    expected = sign(secret, body).encode("ascii")
    # Hex digits are case-insensitive; lower-casing the (attacker-chosen) value leaks nothing.
    return hmac.compare_digest(expected, given.strip().lower())
