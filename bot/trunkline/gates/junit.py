"""JUnit XML reports → test counts and failing tests with the file and line to annotate.

Pure: :func:`parse_junit` takes text. :func:`read_junit` is the thin shell that globs files.

Formats: pytest's (``xunit2``, its default, and ``xunit1``, which adds ``file``/``line`` attributes),
and the common ``<testsuites><testsuite><testcase>`` dialect other tools write. Counts come from the
``<testcase>`` elements themselves, not from the suites' attributes (which some tools get wrong).

Where a failure is: ``file``/``line`` attributes when present, else the traceback in the failure
text (pytest ends it with ``path/to/test_x.py:12: AssertionError``), preferring frames in the test's
own file, else the file named by ``classname`` (``tests.test_x`` → ``tests/test_x.py``). Absolute
paths under the checkout become repository-relative, so annotations land on the right file.

Documents with a DTD are refused (JUnit never needs one; entity expansion is a classic XML attack).
"""

from __future__ import annotations

import glob
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TEXT = 4000  # characters of a failure's text kept per test

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"

_FRAME = re.compile(r"^(?P<file>[^\s:<>\"'][^:\n<>\"]*?\.py):(?P<line>\d+)(?::|$)", re.MULTILINE)


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest test class

    name: str
    classname: str = ""
    outcome: str = PASSED  # passed | failed | error | skipped
    message: str = ""
    text: str = ""
    file: str | None = None
    line: int | None = None
    time: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name


@dataclass(frozen=True)
class JUnitReport:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0
    failing: tuple[TestCase, ...] = ()  # failed and errored cases, in file order
    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())  # unreadable/invalid files

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.errors == 0

    @property
    def found(self) -> bool:
        return bool(self.files)


class JUnitError(ValueError):
    pass


def _float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def module_file(classname: str) -> str | None:
    """``tests.unit.test_x`` (or ``tests.unit.test_x.TestClass``) → ``tests/unit/test_x.py``."""
    parts = [p for p in classname.split(".") if p]
    if not parts:
        return None
    # Drop trailing CamelCase class names (pytest: module.Class), keep the module path.
    while len(parts) > 1 and parts[-1][:1].isupper():
        parts.pop()
    return "/".join(parts) + ".py"


def relative_path(path: str, roots: Sequence[str] = ()) -> str | None:
    """``path`` relative to the repository: roots stripped from absolute paths, ``./`` removed.
    None for absolute paths outside every root and for paths that climb out (``..``)."""
    path = path.replace("\\", "/")
    for root in roots:
        root = root.rstrip("/") + "/"
        if path.startswith(root):
            path = path[len(root):]
            break
    if path.startswith("/"):
        return None
    parts = [p for p in PurePosixPath(path).parts if p != "."]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def locate(case: TestCase, roots: Sequence[str] = ()) -> tuple[str | None, int | None]:
    """(repository-relative file, 1-based line) of a failing test, as well as can be told."""
    guess = module_file(case.classname)
    attr_file = relative_path(case.file, roots) if case.file else None
    frames = []
    for match in _FRAME.finditer(case.text or ""):
        rel = relative_path(match.group("file"), roots)
        if rel is not None:
            frames.append((rel, int(match.group("line"))))
    own = attr_file or guess
    for rel, line in reversed(frames):  # the innermost frame in the test's own file
        if own and rel == own:
            return rel, line
    if frames and own is None:
        return frames[-1]
    if attr_file:
        # pytest's xunit1 ``line`` is the 0-based line of the test function
        return attr_file, (case.line + 1 if case.line is not None else 1)
    if frames:
        return frames[-1]
    return (guess, 1) if guess else (None, None)


def parse_junit(text: str | bytes, source: str = "", roots: Sequence[str] = ()) -> JUnitReport:
    """Parse one JUnit XML document; raises :class:`JUnitError` for documents that are not JUnit."""
    raw = text.encode() if isinstance(text, str) else text
    head = raw[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in raw.lower():
        raise JUnitError(f"{source or 'report'}: DTDs and entities are not allowed in JUnit XML")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise JUnitError(f"{source or 'report'}: not well-formed XML ({exc})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"{source or 'report'}: root element is <{root.tag}>, not <testsuites> or <testsuite>")
    counts = {PASSED: 0, FAILED: 0, ERROR: 0, SKIPPED: 0}
    failing: list[TestCase] = []
    total_time = 0.0
    for case_el in root.iter("testcase"):
        case = _case(case_el)
        counts[case.outcome] += 1
        total_time += case.time
        if case.outcome in (FAILED, ERROR):
            file, line = locate(case, roots)
            failing.append(replace(case, file=file, line=line))
    tests = sum(counts.values())
    return JUnitReport(tests, counts[FAILED], counts[ERROR], counts[SKIPPED], round(total_time, 3),
                       tuple(failing), (source,) if source else ())


def _case(el: ET.Element) -> TestCase:
    outcome, message, text = PASSED, "", ""
    for child in el:
        tag = child.tag
        if tag in ("failure", "error") and outcome in (PASSED, SKIPPED):
            outcome = FAILED if tag == "failure" else ERROR
            message = child.get("message") or ""
            text = (child.text or "")[-MAX_TEXT:]
        elif tag == "skipped" and outcome == PASSED:
            outcome = SKIPPED
            message = child.get("message") or ""
    line_attr = el.get("line")
    return TestCase(name=el.get("name") or "?", classname=el.get("classname") or "", outcome=outcome,
                    message=message.strip(), text=text, file=el.get("file"),
                    line=int(line_attr) if line_attr and line_attr.isdigit() else None,
                    time=_float(el.get("time")))


def merge_reports(reports: Iterable[JUnitReport]) -> JUnitReport:
    out = JUnitReport()
    for r in reports:
        out = JUnitReport(out.tests + r.tests, out.failures + r.failures, out.errors + r.errors,
                          out.skipped + r.skipped, round(out.time + r.time, 3), out.failing + r.failing,
                          out.files + r.files, out.problems + r.problems)
    return out


def read_junit(root: str | Path, pattern: str) -> JUnitReport:
    """Every JUnit file matching ``pattern`` (relative to ``root``), merged; unreadable ones are listed
    in ``problems`` rather than raised (a broken report must not hide the commands' verdict)."""
    base = Path(root).resolve()
    reports = []
    for name in sorted(glob.glob(pattern, root_dir=str(base), recursive=True)):
        path = (base / name).resolve()
        if not path.is_file() or not path.is_relative_to(base):
            continue
        rel = path.relative_to(base).as_posix()
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise JUnitError(f"{rel}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
            reports.append(parse_junit(path.read_bytes(), rel, roots=(str(base), str(Path(root)))))
        except (JUnitError, OSError) as exc:
            reports.append(JUnitReport(files=(rel,), problems=(str(exc),)))
    return merge_reports(reports)
