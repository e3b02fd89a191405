"""The ``flaky:`` section of ``.github/trunkline.yml`` (model only; logic is in ``trunkline.flaky``).

Example::

    flaky:
      reruns: 2                      # re-run a failing test up to twice; every attempt is recorded
      quarantine:                    # still run and reported, but their failures do not fail the run
        - tests/e2e/test_worker_kill.py::test_kill_during_claim
        - test: tests/e2e/test_scaleout.py::*
          reason: "Redis container restarts under load (#41)"
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from trunkline.config.model import Section

TestPattern = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^\S(.*\S)?$")]


class QuarantineEntry(Section):
    """A quarantined test with the reason it is quarantined."""

    key_hints: ClassVar[dict[str, str]] = {"nodeid": "test", "id": "test", "pattern": "test", "why": "reason"}

    test: TestPattern = Field(description="pytest node id, or a glob over node ids (tests/e2e/test_x.py::*).")
    reason: Annotated[str, StringConstraints(max_length=500)] = Field(
        "", description="Why it is quarantined (an issue link), shown in the reports.")


class FlakySection(Section):
    """Flaky-test detection by trunkline flaky: reruns, and tests whose failures do not fail the run."""

    key_hints: ClassVar[dict[str, str]] = {"retries": "reruns", "rerun": "reruns", "quarantined": "quarantine",
                                           "ignore": "quarantine"}

    reruns: int = Field(2, ge=0, le=10, description="Times a failing test is re-run (every attempt is recorded).")
    quarantine: list[TestPattern | QuarantineEntry] = Field(
        default=[],
        description="Tests that still run and are reported, but whose failures do not fail the run: pytest "
                    "node ids or globs over them, or {test, reason}.")

    def quarantine_entries(self) -> list[QuarantineEntry]:
        return [e if isinstance(e, QuarantineEntry) else QuarantineEntry(test=e) for e in self.quarantine]
