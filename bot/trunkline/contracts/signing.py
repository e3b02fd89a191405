"""schemathesis hooks that sign requests the way GitHub signs webhook deliveries.

Load with ``contracts.tests.hooks: trunkline.contracts.signing`` (``trunkline contracts test`` passes
it to schemathesis as ``SCHEMATHESIS_HOOKS``). The secret comes from
``TRUNKLINE_CONTRACTS_SIGNING_SECRET``, else ``TRUNKLINE_WEBHOOK_SECRET``.

A service that checks ``X-Hub-Signature-256`` answers 401 to anything unsigned, so without signing
a contract test would only ever exercise the 401 path. The hook signs a request only when the
generated case carries the signature header (the contract declares it as an ``apiKey`` security
scheme): cases schemathesis builds without credentials, and its "is auth enforced?" probes (which
bypass ``before_call``), still go out unsigned and must be refused.

The body is serialized here, exactly once, and sent as those bytes, so the signature covers what
the server receives.

Links to run logs (``GET /logs/...``, security scheme ``sig`` in the query) are signed the way the bot
signs them (:mod:`trunkline.logs.links`): ``expires`` an hour ahead, ``sig`` over the case's path —
so the cases reach the routes' real answers (a 404 for runs the server does not have) instead of 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any

import schemathesis

SIGNATURE_HEADER = "X-Hub-Signature-256"
LINK_SIGNATURE = "sig"


def secret() -> str | None:
    return os.environ.get("TRUNKLINE_CONTRACTS_SIGNING_SECRET") or os.environ.get("TRUNKLINE_WEBHOOK_SECRET")


def signature(key: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def body_bytes(serialized: dict[str, Any]) -> bytes | None:
    """The bytes a serialized request sends (None when it is not a plain body we can sign)."""
    if "json" in serialized:
        try:
            return json.dumps(serialized["json"], allow_nan=False).encode("utf-8")
        except (TypeError, ValueError):
            return None
    data = serialized.get("data")
    if data is None:
        return None if "files" in serialized else b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return None


def _case_body(case: Any) -> bytes | None:
    try:
        return body_bytes(case.as_transport_kwargs())
    except Exception:  # noqa: BLE001 - a case the transport cannot serialize is left unsigned
        return None


@schemathesis.auth(refresh_interval=None, retry_on=[])
class GitHubWebhookSignature:
    """Sets ``X-Hub-Signature-256`` on each generated case that carries it (schemathesis then treats
    the credentials as explicit, and its auth probes send the case without / with a wrong signature)."""

    def get(self, case: Any, context: Any) -> str | None:
        key = secret()
        if not key or (SIGNATURE_HEADER.lower() not in _security_headers(case)
                       and LINK_SIGNATURE not in _security_params(case, "query")):
            return None
        return key

    def set(self, case: Any, data: str, context: Any) -> None:
        if LINK_SIGNATURE in _security_params(case, "query"):
            sign_link(case, data)
            return
        body = _case_body(case)
        if body is not None:
            case.headers = {**(case.headers or {}), SIGNATURE_HEADER: signature(data, body)}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Send exactly the bytes that were signed (the transport would serialize the body again)."""
    key = secret()
    if not key or any(k in kwargs for k in ("data", "json", "content", "files")):
        return
    sent = next((v for k, v in (case.headers or {}).items() if str(k).lower() == SIGNATURE_HEADER.lower()), None)
    body = _case_body(case)
    if body is not None and sent == signature(key, body):
        kwargs["data"] = body


def sign_link(case: Any, webhook_secret: str) -> None:
    """Set ``expires`` (an hour ahead) and ``sig`` on a case of a ``/logs/`` route."""
    from trunkline.logs import links

    key = links.derive_key(webhook_secret, os.environ.get("TRUNKLINE_LOGS_KEY", ""))
    if key is None:
        return
    expires = int(time.time()) + 3600
    case.query = {**(case.query or {}), "expires": str(expires),
                  LINK_SIGNATURE: links.signature(key, case.formatted_path, expires)}


def _security_params(case: Any, location: str) -> set[str]:
    """Lower-cased names of the operation's security schemes' parameters in ``location``."""
    try:
        return {p.name.lower() for p in case.operation.security.iter_parameters() if p.location.value == location}
    except Exception:  # noqa: BLE001 - other spec kinds: nothing to sign
        return set()


def _security_headers(case: Any) -> set[str]:
    return _security_params(case, "header")
