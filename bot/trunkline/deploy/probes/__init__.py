"""Synthetic probes: HTTP, Prometheus metrics, WebSocket and TCP checks of a deployed version.

``ProbeSpec`` (config model) + ``run_probe`` / ``run_probes`` -> ``Measurement`` (plain data). The rules
(:mod:`trunkline.deploy.rules`) turn a window of measurements into a verdict.
"""

from .measurement import CANARY, OUTCOMES, STABLE, Measurement, Outcome
from .runners import run_probe, run_probes
from .spec import JsonAssertion, ProbeKind, ProbeSpec

__all__ = ["CANARY", "OUTCOMES", "STABLE", "JsonAssertion", "Measurement", "Outcome", "ProbeKind", "ProbeSpec",
           "run_probe", "run_probes"]
