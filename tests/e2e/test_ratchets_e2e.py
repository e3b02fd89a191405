"""Ratchets end to end: sandbox GitHub + a real ``trunkline serve`` measuring a tiny real Python package.

The bot runs the repository's ``ratchets.commands`` — real pytest under coverage.py (branch coverage),
then diff-cover against the base commit — in a git checkout it builds from the base and head trees, and
publishes ``trunkline/ratchets``. Floors come from the default branch's ``.github/trunkline-ratchets.yml``;
after a merge the bot raises them in that file (a commit, or a PR where the branch is protected) with
every comment intact.

The package's numbers, as coverage.py counts them (statements; branch arcs):

- base: 35 statements (32 run), 6 arcs (4 taken) → (32 + 4) / (35 + 6) = 87.80 %; floor 85
- "lowers coverage": a clamp test removed → 31/35, 3/6 → 82.93 % (< 85); no source line changed, so
  patch coverage does not apply
- "untested function": ``mean`` added without a test → 33/37, 4/6 → 86.05 % (above the floor, which lags the
  base's 87.80: the seeded floor was never raised), but of its changed
  lines only the ``def`` runs (at import) → 1 of 2 → 50 % patch coverage (< 80)
- good: ``mean`` with a test, and ``div`` tested → 37/37, 6/6 → 100 %, patch 100 % → floor 85 → 100
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from trunkline.demo.harness import BotHarness
from trunkline.sandbox import git as sgit

pytestmark = pytest.mark.slow

REPO = "acme/calc"
BASELINE_PATH = ".github/trunkline-ratchets.yml"

CONFIG = """\
version: 1
ratchets:
  commands:
    # plugin autoload off: the tiny suite needs none, and the bot's environment has plenty
    - PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m coverage run --branch --source=calc -m pytest -q -p no:cacheprovider tests
    - python -m coverage json -q -o coverage.json
    - python -m coverage xml -q -o coverage.xml
    - diff-cover coverage.xml --compare-branch="$TRUNKLINE_BASE_REF" --format json:diff-cover.json
  timeout_minutes: 5
"""

BASELINE = """\
# Quality ratchets for calc. Floors only move up:
# Trunkline raises them after each merge to main.
version: 1

metrics:
  # Lines + branches, coverage.py JSON.
  coverage:
    kind: coverage
    file: coverage.json
    floor: 85          # raised by Trunkline

  # Every changed line should be tested.
  patch_coverage:
    kind: patch_coverage
    file: diff-cover.json
    floor: 80          # a fixed threshold
"""

SHAPES = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(10))
CALC = """\
from calc.shapes import *  # noqa: F403


def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


def div(a, b):
    if b == 0:
        raise ZeroDivisionError("b must not be 0")
    return a / b
"""
MEAN = "\n\ndef mean(values):\n    return sum(values) / len(values)\n"
TESTS = """\
from calc import add, clamp, sub
from calc.shapes import *  # noqa: F403


def test_add_sub():
    assert add(2, 3) == 5 and sub(2, 3) == -1


def test_clamp_low():
    assert clamp(-1, 0, 10) == 0


def test_clamp_high():
    assert clamp(11, 0, 10) == 10


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_shapes():
    assert [globals()[f"f{i}"](1) for i in range(10)] == list(range(1, 11))
"""
NO_HIGH_TEST = TESTS.replace("def test_clamp_high():\n    assert clamp(11, 0, 10) == 10\n\n\n", "")
GOOD_TESTS = TESTS.replace("from calc import add, clamp, sub", "import pytest\n\nfrom calc import add, clamp, div, mean, sub") + """

def test_div():
    assert div(6, 3) == 2
    with pytest.raises(ZeroDivisionError):
        div(1, 0)


def test_mean():
    assert mean([1, 2, 3]) == 2
"""


@pytest.fixture
def harness(tmp_path: Path):
    with BotHarness(tmp_path) as h:
        h.sandbox.create_repo("acme", "calc", files={
            "README.md": "# calc\n", ".github/trunkline.yml": CONFIG, BASELINE_PATH: BASELINE,
            "calc/__init__.py": CALC, "calc/shapes.py": SHAPES, "tests/test_calc.py": TESTS,
        })
        h.install("acme")
        h.sandbox.grant(REPO, "dev", "write")
        yield h


def table_rows(run) -> list[str]:  # noqa: ANN001 - sandbox CheckRun
    return [line for line in run.output["summary"].splitlines() if line.startswith("| `")]


def open_pr(h: BotHarness, branch: str, files: dict[str, str], title: str):  # noqa: ANN201
    sha = h.sandbox.push(REPO, branch, files, title, as_user="dev")
    number = h.sandbox.open_pr(REPO, head=branch, title=title, as_user="dev")
    return number, h.wait_for_check(REPO, sha, "trunkline/ratchets", timeout=120)


def file_on_main(h: BotHarness, path: str) -> str:
    repo = h.sandbox.repo(REPO)
    return sgit.out(repo, "show", f"{repo.default_branch}:{path}")


def test_bad_prs_fail_a_good_pr_passes_and_its_merge_raises_the_floor(harness: BotHarness) -> None:
    h = harness
    _, lowered = open_pr(h, "drop-test", {"tests/test_calc.py": NO_HIGH_TEST}, "Drop a clamp test")
    assert lowered.conclusion == "failure", lowered.output
    assert lowered.output["title"] == "Ratchets broken: coverage 82.93 < 85"
    assert table_rows(lowered) == [
        "| `coverage` | 87.8 % | 82.93 % (−4.88) | ≥ 85 % | ❌ below floor by 2.07 |",
        "| `patch_coverage` | — | n/a | ≥ 80 % fixed | ➖ no changed lines with coverage data |",
    ]

    _, untested = open_pr(h, "add-mean", {"calc/__init__.py": CALC + MEAN}, "Add mean")
    assert untested.conclusion == "failure", untested.output
    assert untested.output["title"] == "Ratchets broken: patch_coverage 50 < 80"
    assert table_rows(untested) == [
        "| `coverage` | 87.8 % | 86.05 % (−1.76) | ≥ 85 % | ⬆️ floor rises to 86.04 after merge |",
        "| `patch_coverage` | — | 50 % | ≥ 80 % fixed | ❌ below floor by 30 |",
    ]
    assert "1 of 2 changed lines covered" in untested.output["summary"]

    number, good = open_pr(h, "mean-tested", {"calc/__init__.py": CALC + MEAN, "tests/test_calc.py": GOOD_TESTS},
                           "Add mean, with tests")
    assert good.conclusion == "success", good.output
    assert table_rows(good) == [
        "| `coverage` | 87.8 % | 100 % (+12.2) | ≥ 85 % | ⬆️ floor rises to 100 after merge |",
        "| `patch_coverage` | — | 100 % | ≥ 80 % fixed | ✅ holds |",
    ]

    # `/ratchet` posts the same table (the head and base are remembered: nothing runs again)
    comment = h.sandbox.comment(REPO, number, "/ratchet", as_user="dev")
    reply = h.wait_for(lambda: next((c.body for c in list(h.sandbox.repo(REPO).comments.values())
                                     if f"comment={comment} -->" in c.body), None), 60, what="the /ratchet reply")
    assert "Ratchets hold (2 metrics); improves coverage" in reply
    assert "| `coverage` | 87.8 % | 100 % (+12.2) | ≥ 85 % | ⬆️ floor rises to 100 after merge |" in reply

    merge_sha = h.sandbox.merge(REPO, number, as_user="dev")
    raised = h.wait_for(lambda: (text := file_on_main(h, BASELINE_PATH)) != BASELINE and text, timeout=120,
                        what="the floor raised on main")
    # only the floor number changed; the comments, blank lines and order are the same bytes
    diff = [line for line in difflib.unified_diff(BASELINE.splitlines(), raised.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert diff == ["-    floor: 85          # raised by Trunkline", "+    floor: 100         # raised by Trunkline"]
    repo = h.sandbox.repo(REPO)
    head = sgit.branch_sha(repo, "main")
    assert sgit.out(repo, "rev-parse", f"{head}^").strip() == merge_sha  # a bot commit right on top of the merge
    assert sgit.out(repo, "log", "-1", "--format=%s", head).strip() == f"ratchets: raise floors after {merge_sha[:7]}"
    assert "coverage: floor 85 → 100 (achieved value)" in sgit.out(repo, "log", "-1", "--format=%b", head)
    # the bot's own floor commit is a push too: it changes only the baseline, so nothing is measured
    h.wait_for(lambda: f"only {BASELINE_PATH} changed at {head[:7]}; nothing to measure" in h.bot_log(),
               what="the floor commit's push skipped")

    # the next pull request is held to the raised floor (base measured after the merge: no re-run needed)
    _, later = open_pr(h, "drop-div-test", {"tests/test_calc.py": TESTS}, "Back to the old tests")
    assert later.conclusion == "failure"
    # mean and div untested again: 33/37 lines, 4/6 arcs, as in "untested function"
    assert table_rows(later)[0] == "| `coverage` | 100 % | 86.05 % (−13.95) | ≥ 100 % | ❌ below floor by 13.95 |"


def test_protected_default_branch_gets_a_pull_request_that_auto_merge_takes(harness: BotHarness) -> None:
    h = harness
    h.sandbox.protect(REPO, "main")  # no required checks: the bot's own PR can merge once it says so
    number, good = open_pr(h, "mean-tested", {"calc/__init__.py": CALC + MEAN, "tests/test_calc.py": GOOD_TESTS},
                           "Add mean, with tests")
    assert good.conclusion == "success"
    merge_sha = h.sandbox.merge(REPO, number, as_user="dev")
    repo = h.sandbox.repo(REPO)

    def raised_on_main() -> str | None:
        text = file_on_main(h, BASELINE_PATH)
        return text if text != BASELINE else None

    raised = h.wait_for(raised_on_main, timeout=120, what="the ratchets PR merged into main")
    assert "    floor: 100         # raised by Trunkline" in raised
    assert raised.replace("floor: 100         #", "floor: 85          #") == BASELINE
    pulls = [p for p in repo.pulls.values() if p.head_ref == f"trunkline/ratchets-{merge_sha[:12]}"]
    assert len(pulls) == 1 and pulls[0].merged, pulls
    assert "auto-merge" in repo.issues[pulls[0].number].labels
    ratchets_check = h.wait_for_check(REPO, pulls[0].head_sha, "trunkline/ratchets")
    assert ratchets_check.conclusion == "success"
