"""One probe result (plain, JSON-serialisable data)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["ok", "fail", "error"]
OUTCOMES: tuple[str, ...] = ("ok", "fail", "error")
#: Target labels the rules know: measurements labelled ``stable`` are the baseline; every other label
#: (``canary``, or ``production`` for a post-promotion check) is the version being judged.
CANARY = "canary"
STABLE = "stable"


@dataclass(frozen=True)
class Measurement:
    """One run of one probe against one target.

    ``outcome``: ``ok``; ``fail`` — the target answered, wrongly (bad status, body, query, too slow, read
    timeout or a dropped connection after connecting); ``error`` — it could not be probed at all (bad
    URL, DNS, connection refused, connect timeout, a secret missing from the environment). An error says
    nothing about the version being deployed, so the rules never count it as a failure.
    """

    probe: str
    target: str
    at: float  # epoch seconds when the probe started
    outcome: Outcome
    latency_ms: float | None
    detail: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {self.outcome!r}")
        if self.latency_ms is not None and (not math.isfinite(self.latency_ms) or self.latency_ms < 0):
            raise ValueError(f"latency_ms must be a finite number >= 0, not {self.latency_ms!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "target": self.target, "at": self.at, "outcome": self.outcome,
                "latency_ms": self.latency_ms, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        latency = data.get("latency_ms")
        return cls(probe=str(data["probe"]), target=str(data["target"]), at=float(data["at"]),
                   outcome=data["outcome"], latency_ms=None if latency is None else float(latency),
                   detail=str(data.get("detail", "")))


__all__ = ["CANARY", "Measurement", "OUTCOMES", "Outcome", "STABLE"]
