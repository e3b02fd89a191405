"""What a worker runs for one delivery: the injected :data:`Processor`.

The bot's real processor (parse payload, dispatch to handlers) is built by
``trunkline.runtime:build_processor(settings)``. Until that module exists, and whenever
``TRUNKLINE_PROCESSOR=module:factory`` (or ``Settings.processor``) names another factory, that one
is used instead — tests and the ingest benchmark inject theirs this way.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable

from trunkline.settings import Settings
from trunkline.store.deliveries import DeliveryRecord

log = logging.getLogger(__name__)

Processor = Callable[[DeliveryRecord], None]
ProcessorFactory = Callable[[Settings], Processor]

DEFAULT_FACTORY = "trunkline.runtime:build_processor"


class PermanentError(Exception):
    """Raise from a processor when retrying cannot help: the delivery is marked failed at once."""


def logging_processor(record: DeliveryRecord) -> None:
    log.info("delivery %s: %s%s for %s (no processor configured, logged only)", record.guid, record.event,
             f".{record.action}" if record.action else "", record.repo or "-")


def build_logging_processor(settings: Settings) -> Processor:
    return logging_processor


def build_noop_processor(settings: Settings) -> Processor:
    """A processor that does nothing (the ingest benchmark)."""
    return lambda record: None


def import_factory(spec: str) -> ProcessorFactory:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, attr or "build_processor", None)
    if not callable(factory):
        raise ValueError(f"processor factory {spec!r}: {module_name} has no callable {attr or 'build_processor'}")
    return factory


def processor_spec(settings: Settings) -> str | None:
    # The explicit override; TRUNKLINE_PROCESSOR is read here until Settings.from_env learns it.
    return settings.processor or os.environ.get("TRUNKLINE_PROCESSOR") or None


def load_processor(settings: Settings) -> Processor:
    spec = processor_spec(settings)
    if spec:
        return import_factory(spec)(settings)
    try:
        factory = import_factory(DEFAULT_FACTORY)
    except ModuleNotFoundError as exc:
        if exc.name != "trunkline.runtime":
            raise
        log.warning("trunkline.runtime is not available: deliveries are only logged")
        return logging_processor
    return factory(settings)
