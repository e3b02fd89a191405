"""pytest plugin: re-run failing tests and record every attempt (``-p trunkline.flaky.plugin``).

JUnit XML and pytest's own reports show one result per test, so a test that failed and then passed on
a re-run looks like any passing test. This plugin runs each test's protocol itself: a failing attempt
(test failure or setup/teardown error) is run again, up to ``--flaky-reruns`` times, and *every*
attempt is appended as one JSON line to ``--flaky-record``::

    {"nodeid": "tests/test_x.py::test_y", "attempt": 1, "outcome": "failed", "duration": 0.012,
     "quarantined": false, "message": "AssertionError: ...", "worker": "gw0"}

``outcome`` is what the code did — passed, failed, error, skipped, xfailed, xpassed — even for a
quarantined test, whose result pytest itself reports as an expected failure. Only the last attempt
reaches pytest's reporting (terminal, JUnit, exit status), so a test that passes on a re-run does not
fail the session.

Quarantine (``--flaky-quarantine PATTERN``, node ids or globs over them): the test still runs, and
re-runs, but carries a non-strict ``xfail`` marker, so its failure does not fail the session and shows
as ``x`` with the reason. Works with pytest-xdist (each worker appends whole lines to the same file).
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

QUARANTINE_REASON = "quarantined by trunkline flaky"
FAILING = frozenset({"failed", "error"})
_QUARANTINED = pytest.StashKey[bool]()
_RECORDER = pytest.StashKey["Recorder"]()


def matches(nodeid: str, patterns: Iterable[str]) -> bool:
    """Whether a node id is one of the patterns (exact, or an ``fnmatch`` glob, or a file/dir prefix)."""
    for pattern in patterns:
        if nodeid == pattern or fnmatch.fnmatchcase(nodeid, pattern):
            return True
        if "::" not in pattern and (nodeid.startswith(pattern.rstrip("/") + "/") or
                                    nodeid.split("::", 1)[0] == pattern):
            return True
    return False


def attempt_outcome(phases: Sequence[tuple[str, str, str | None]], quarantined: bool) -> str:
    """The outcome of one attempt from its reports' ``(when, outcome, wasxfail)`` (pure).

    A quarantined test's failure arrives as pytest's "skipped + wasxfail"; it is a failure here.
    """
    result = "passed"
    for when, outcome, wasxfail in phases:
        ours = quarantined and wasxfail is not None and QUARANTINE_REASON in wasxfail
        if outcome == "failed" or (outcome == "skipped" and ours):
            return "failed" if when == "call" else "error"
        if outcome == "skipped" and wasxfail is not None:
            result = "xfailed"
        elif outcome == "skipped":
            result = "skipped"
        elif outcome == "passed" and wasxfail is not None and not ours and when == "call":
            result = "xpassed"
    return result


class Recorder:
    """Appends attempts to a JSON-lines file; one ``write`` per line, so xdist workers never interleave."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.worker = os.environ.get("PYTEST_XDIST_WORKER")

    def write(self, record: dict[str, Any]) -> None:
        os.write(self.fd, (json.dumps({**record, "worker": self.worker}) + "\n").encode())

    def close(self) -> None:
        os.close(self.fd)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trunkline-flaky", "trunkline flaky: re-run failing tests, record every attempt")
    group.addoption("--flaky-reruns", type=int, default=0, help="re-run a failing test up to N times")
    group.addoption("--flaky-record", default=None, help="append every attempt as a JSON line to this file")
    group.addoption("--flaky-quarantine", action="append", default=[], metavar="PATTERN",
                    help="node id or glob of a quarantined test (runs, but its failure does not fail the run)")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("flaky_record")
    if path:
        config.stash[_RECORDER] = Recorder(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    patterns = config.getoption("flaky_quarantine")
    if not patterns:
        return
    for item in items:
        if matches(item.nodeid, patterns):
            item.add_marker(pytest.mark.xfail(reason=QUARANTINE_REASON, strict=False))
            item.stash[_QUARANTINED] = True


def _message(reports: Iterable[pytest.TestReport]) -> str | None:
    for report in reports:
        if report.failed or (report.skipped and getattr(report, "wasxfail", None) is not None
                             and report.longrepr is not None and not isinstance(report.longrepr, tuple)):
            text = report.longreprtext.strip()
            if text:
                lines = [line for line in text.splitlines() if line.strip()]
                errors = [line for line in lines if line.startswith("E ")]
                return (errors[0][1:].strip() if errors else lines[-1])[:500]
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    reruns = max(0, item.config.getoption("flaky_reruns"))
    recorder = item.config.stash.get(_RECORDER, None)
    if reruns == 0 and recorder is None:
        return None  # pytest's own protocol
    quarantined = item.stash.get(_QUARANTINED, False)
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        outcome = attempt_outcome([(r.when, r.outcome, getattr(r, "wasxfail", None)) for r in reports], quarantined)
        if recorder is not None:
            recorder.write({"nodeid": item.nodeid, "attempt": attempt, "outcome": outcome,
                            "duration": round(time.perf_counter() - started, 6), "quarantined": quarantined,
                            "message": _message(reports) if outcome in FAILING else None})
        if outcome not in FAILING or attempt > reruns or item.session.shouldstop or item.session.shouldfail:
            break
    # only the last attempt reaches pytest's reports (terminal, JUnit, exit status)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
