"""Plain data for the breaking-change diff: levels, source locations and findings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    """Severity, ordered INFO < WARN < ERR (oasdiff's three levels)."""

    INFO = "INFO"
    WARN = "WARN"
    ERR = "ERR"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, value: str | Level) -> Level:
        if isinstance(value, Level):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            raise ValueError(f"unknown level {value!r}: expected ERR, WARN or INFO") from None


_RANK = {Level.INFO: 0, Level.WARN: 1, Level.ERR: 2}


@dataclass(frozen=True)
class Source:
    """Where a finding points: a file, a 1-based line (None when unknown) and a JSON pointer."""

    file: str
    line: int | None
    pointer: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "pointer": self.pointer}


@dataclass(frozen=True)
class Finding:
    """One rule hit.

    ``source`` points into the head (revision) document where the change is visible; for removals it
    points at the nearest head ancestor that still exists. ``base_source`` points into the base.
    ``operation`` names the API operation ("GET /pets", "send lightMeasured") when there is one.
    """

    id: str
    level: Level
    message: str
    source: Source
    operation: str | None = None
    path: str | None = None
    direction: str | None = None
    area: str | None = None
    base_source: Source | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def with_level(self, level: Level) -> Finding:
        return replace(self, level=level)

    def to_json(self) -> dict[str, Any]:
        """Exactly the public JSON shape: ``{"id", "level", "message", "source": {file, line, pointer}}``."""
        return {
            "id": self.id,
            "level": self.level.value,
            "message": self.message,
            "source": self.source.to_json(),
        }


def sort_key(f: Finding) -> tuple:
    return (-f.level.rank, f.source.file, f.source.line or 0, f.id, f.message)
