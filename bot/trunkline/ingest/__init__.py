"""Webhook ingest: verify, dedupe, persist, enqueue — and answer GitHub fast."""

from trunkline.ingest.app import WEBHOOK_PATH, create_ingest_app
from trunkline.ingest.signature import sign, verify

__all__ = ["WEBHOOK_PATH", "create_ingest_app", "sign", "verify"]
