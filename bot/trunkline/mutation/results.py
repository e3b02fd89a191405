"""mutmut's verdicts → Stryker's mutation score (pure).

mutmut 3 exits 0 whether or not mutants survive, so the verdicts come from its result files: one
``mutants/<source path>.meta`` JSON per mutated file, whose ``exit_code_by_key`` maps each mutant name
to the exit code of the test run against it (``null`` = not tested yet). :data:`STATUS_BY_EXIT_CODE`
is mutmut 3's own table (``mutmut.stats.status_by_exit_code``; a test keeps the two in step).

Stryker's score (https://stryker-mutator.io/docs/mutation-testing-elements/mutant-states-and-metrics/):

    score = (killed + timeout) / (killed + timeout + survived + no_tests)

Mutants that never ran a valid test — a crash of the test process ("segfault"), an unknown exit code
("suspicious"), one caught by the type checker (Stryker's "compile error") or skipped — are *invalid*
in Stryker's terms: left out of the score and reported next to it. A mutant still ``not checked`` (or
interrupted) after the run means the run did not finish: the report says so and the run fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .scope import mangled_of, split_mangled

#: mutmut 3's exit code → status (mutmut.stats.status_by_exit_code); other codes are "suspicious".
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: "killed", 3: "killed",  # 3: internal pytest error, which mutmut counts as a kill
    0: "survived",
    5: "no tests", 33: "no tests",
    2: "check was interrupted by user",
    None: "not checked",
    34: "skipped",
    35: "suspicious",
    36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",  # SIGXCPU / wall clock
    37: "caught by type check",
    -11: "segfault", -9: "segfault",
}

#: mutmut status → the bucket it counts in.
BUCKET: dict[str, str] = {
    "killed": "killed",
    "timeout": "timeout",
    "survived": "survived",
    "no tests": "no_tests",
    "segfault": "error",
    "suspicious": "error",
    "caught by type check": "invalid",
    "skipped": "ignored",
    "not checked": "pending",
    "check was interrupted by user": "pending",
}
SCORED = ("killed", "timeout", "survived", "no_tests")
UNSCORED = ("error", "invalid", "ignored", "pending")


def status_of(exit_code: int | None) -> str:
    return STATUS_BY_EXIT_CODE.get(exit_code, "suspicious")


@dataclass(frozen=True)
class Verdict:
    """One mutant's outcome."""

    name: str  # pkg.mod.x_f__mutmut_3
    status: str  # mutmut's status name
    path: str  # source path inside the mutmut project (e.g. src/pkg/mod.py)

    @property
    def bucket(self) -> str:
        return BUCKET.get(self.status, "error")

    @property
    def mangled(self) -> str:
        return mangled_of(self.name)

    @property
    def module(self) -> str:
        return split_mangled(self.mangled)[0]

    @property
    def key(self) -> str:
        return split_mangled(self.mangled)[1]


def verdicts_from_meta(path: str, meta: Mapping[str, Any]) -> list[Verdict]:
    """Verdicts in one parsed ``.meta`` file (``path``: the source file it describes)."""
    codes = meta.get("exit_code_by_key")
    if not isinstance(codes, Mapping):
        raise ValueError(f"{path}.meta: no exit_code_by_key object (not a mutmut 3 result file?)")
    return [Verdict(str(name), status_of(code if isinstance(code, int) or code is None else -1), path)
            for name, code in codes.items()]


@dataclass(frozen=True)
class Counts:
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    no_tests: int = 0
    error: int = 0
    invalid: int = 0
    ignored: int = 0
    pending: int = 0

    @classmethod
    def of(cls, verdicts: Iterable[Verdict]) -> Counts:
        buckets = Counter(v.bucket for v in verdicts)
        return cls(**{name: buckets.get(name, 0) for name in SCORED + UNSCORED})

    @property
    def total(self) -> int:
        """Mutants that count in the score (Stryker's "valid" mutants)."""
        return self.killed + self.timeout + self.survived + self.no_tests

    @property
    def detected(self) -> int:
        return self.killed + self.timeout

    @property
    def score(self) -> float | None:
        """Stryker's mutation score in percent; None when no valid mutant exists."""
        return None if self.total == 0 else 100.0 * self.detected / self.total

    @property
    def complete(self) -> bool:
        return self.pending == 0


def rounded_score(counts: Counts) -> float | None:
    score = counts.score
    return None if score is None else round(score, 2)


@dataclass(frozen=True)
class FunctionResult:
    """The verdicts of one function's mutants."""

    mangled: str
    path: str  # repository path of the source file
    counts: Counts
    survivors: tuple[str, ...]

    @property
    def module(self) -> str:
        return split_mangled(self.mangled)[0]

    @property
    def key(self) -> str:
        return split_mangled(self.mangled)[1]


def by_function(verdicts: Iterable[Verdict], repo_path: Mapping[str, str] | None = None) -> list[FunctionResult]:
    """Group verdicts per function; ``repo_path`` maps project paths to repository paths."""
    groups: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        groups.setdefault(verdict.mangled, []).append(verdict)
    results = []
    for mangled, items in sorted(groups.items()):
        path = items[0].path
        survivors = tuple(sorted((v.name for v in items if v.status == "survived"), key=_mutant_order))
        results.append(FunctionResult(mangled, (repo_path or {}).get(path, path), Counts.of(items), survivors))
    return results


def _mutant_order(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("_")
    return (head, int(number)) if number.isdigit() else (name, 0)


__all__ = [
    "BUCKET", "Counts", "FunctionResult", "STATUS_BY_EXIT_CODE", "Verdict", "by_function", "rounded_score",
    "status_of", "verdicts_from_meta",
]
