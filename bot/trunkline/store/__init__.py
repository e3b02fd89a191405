"""Persistent state: one :class:`Store` (engine + sessions) and one module per table group.

``deliveries`` (webhook inbox + worker state machine) and ``locks`` (lease locks) live here; later
capabilities add ``store/<group>.py`` declaring tables on :data:`trunkline.store.base.metadata`.
"""

from trunkline.store.base import Store, make_engine, metadata
from trunkline.store.deliveries import DONE, FAILED, QUEUED, RUNNING, DeliveryRecord, DeliveryRepo, new_row
from trunkline.store.locks import LockRepo

__all__ = [
    "DONE", "FAILED", "QUEUED", "RUNNING", "DeliveryRecord", "DeliveryRepo", "LockRepo", "Store",
    "make_engine", "metadata", "new_row",
]
