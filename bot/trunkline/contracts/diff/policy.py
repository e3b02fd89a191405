"""Breaking-change policy: level overrides, an ignore list with reasons, and the fail threshold.

The config section (``contracts:`` in ``.github/trunkline.yml``) builds a :class:`DiffPolicy`; the CLI
builds one from flags. :func:`apply_policy` is pure.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Finding, Level

FAIL_ON = ("ERR", "WARN", "never")


@dataclass(frozen=True)
class IgnoreEntry:
    """Drop findings with this ``id`` (shell-style wildcards allowed), optionally only those whose API
    path / operation matches ``path`` or whose JSON pointer starts with ``pointer``. ``reason`` is
    mandatory: an ignore without a why is how contracts rot."""

    id: str
    reason: str
    path: str | None = None
    pointer: str | None = None
    source: str | None = None  # only findings in this contract file

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("ignore entry needs an `id`")
        if not (self.reason or "").strip():
            raise ValueError(f"ignore entry for {self.id!r} needs a `reason`")

    @classmethod
    def from_obj(cls, obj: IgnoreEntry | Mapping[str, Any]) -> IgnoreEntry:
        if isinstance(obj, IgnoreEntry):
            return obj
        if hasattr(obj, "model_dump"):  # the config section's pydantic model
            obj = obj.model_dump()
        if not isinstance(obj, Mapping):
            raise ValueError(f"ignore entry must be a mapping with id and reason, got {obj!r}")
        unknown = set(obj) - {"id", "reason", "path", "pointer", "source"}
        if unknown:
            raise ValueError(f"ignore entry {obj.get('id')!r}: unknown keys {sorted(unknown)}")
        return cls(id=str(obj.get("id") or ""), reason=str(obj.get("reason") or ""),
                   path=obj.get("path"), pointer=obj.get("pointer"), source=obj.get("source"))

    def matches(self, f: Finding) -> bool:
        if not fnmatch.fnmatchcase(f.id, self.id):
            return False
        if self.source is not None and self.source not in {f.source.file, f.base_source.file if f.base_source
                                                              else None}:
            return False
        if self.path is not None:
            candidates = [c for c in (f.path, f.operation) if c]
            if not any(c == self.path or fnmatch.fnmatchcase(c, self.path) for c in candidates):
                return False
        if self.pointer is not None:
            ptr = f.source.pointer
            base_ptr = f.base_source.pointer if f.base_source else None
            if not any(p is not None and (p == self.pointer or p.startswith(self.pointer.rstrip("/") + "/"))
                       for p in (ptr, base_ptr)):
                return False
        return True


@dataclass(frozen=True)
class DiffPolicy:
    fail_on: str = "ERR"  # ERR | WARN | never
    overrides: Mapping[str, str | Level] = field(default_factory=dict)
    ignore: tuple[IgnoreEntry, ...] | list[Any] = ()

    def __post_init__(self) -> None:
        fail = str(self.fail_on)
        norm = "never" if fail.lower() == "never" else fail.upper()
        if norm not in FAIL_ON:
            raise ValueError(f"fail_on must be one of ERR, WARN, never (got {self.fail_on!r})")
        object.__setattr__(self, "fail_on", norm)
        object.__setattr__(self, "overrides", {str(k): Level.parse(v) for k, v in dict(self.overrides).items()})
        object.__setattr__(self, "ignore", tuple(IgnoreEntry.from_obj(e) for e in self.ignore))


def apply_policy(findings: Iterable[Finding], policy: DiffPolicy) -> list[Finding]:
    """Findings after level overrides, without ignored ones (order kept)."""
    out: list[Finding] = []
    for f in findings:
        if any(entry.matches(f) for entry in policy.ignore):
            continue
        level = policy.overrides.get(f.id)
        out.append(f.with_level(level) if level is not None and level != f.level else f)
    return out


def is_breaking(findings: Iterable[Finding], fail_on: str = "ERR") -> bool:
    """Does any finding reach the ``fail_on`` level?"""
    fail = "never" if str(fail_on).lower() == "never" else str(fail_on).upper()
    if fail == "never":
        return False
    threshold = Level.parse(fail).rank
    return any(f.level.rank >= threshold for f in findings)


def exit_code(findings: Iterable[Finding], policy: DiffPolicy) -> int:
    return 1 if is_breaking(findings, policy.fail_on) else 0
