"""The ratchets chapter of ``trunkline demo``: a tiny real Python package measured by the bot.

A pull request adding an untested function fails ``trunkline/ratchets`` on patch coverage; a tested one
passes, and once merged the bot raises the coverage floor in ``.github/trunkline-ratchets.yml`` with a
commit that changes that one number (comments intact).
"""

from __future__ import annotations

from typing import Any

REPO = "acme/calc"
BASELINE_PATH = ".github/trunkline-ratchets.yml"
CONFIG = """\
version: 1
ratchets:
  commands:
    - PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m coverage run --branch --source=calc -m pytest -q -p no:cacheprovider
    - python -m coverage json -q -o coverage.json
    - python -m coverage xml -q -o coverage.xml
    - diff-cover coverage.xml --compare-branch="$TRUNKLINE_BASE_REF" --format json:diff-cover.json
"""
BASELINE = """\
# Floors only move up; Trunkline raises them after merges.
version: 1
metrics:
  coverage:
    kind: coverage
    floor: 25        # lines + branches
  patch_coverage:
    kind: patch_coverage
    floor: 80        # fixed: every changed line tested
"""
CALC = "def add(a, b):\n    return a + b\n\n\ndef div(a, b):\n    if b == 0:\n        raise ZeroDivisionError\n    return a / b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
MEAN = "\n\ndef mean(values):\n    if not values:\n        return 0.0\n    return sum(values) / len(values)\n"
GOOD_TESTS = TESTS.replace("from calc import add", "import pytest\n\nfrom calc import add, div, mean") + (
    "\n\ndef test_div():\n    assert div(6, 3) == 2\n    with pytest.raises(ZeroDivisionError):\n        div(1, 0)\n"
    "\n\ndef test_mean():\n    assert mean([]) == 0.0 and mean([1, 3]) == 2\n")


def _rows(check: Any) -> list[str]:
    return [line for line in check.output.get("summary", "").splitlines() if line.startswith("| `")]


def chapter_ratchets(run: Any) -> None:
    from trunkline.sandbox import git

    sb, h = run.sandbox, run.harness
    run.step("acme/calc: a tiny package with pytest + coverage.py; `ratchets:` runs them, diff-cover against the base")
    sb.create_repo("acme", "calc", files={".github/trunkline.yml": CONFIG, BASELINE_PATH: BASELINE,
                                          "calc/__init__.py": CALC, "tests/test_calc.py": TESTS})
    sb.grant(REPO, "dev", "write")

    run.step("dev opens a pull request adding `mean()` without a test")
    sha = sb.push(REPO, "add-mean", {"calc/__init__.py": CALC + MEAN}, "Add mean()", as_user="dev")
    number = sb.open_pr(REPO, head="add-mean", title="Add mean()", as_user="dev")
    check = h.wait_for_check(REPO, sha, "trunkline/ratchets", timeout=120)
    run.record(f"PR #{number}: trunkline/ratchets → {check.conclusion}: {check.output.get('title')}",
               check.conclusion == "failure" and check.output.get("title") == "Ratchets broken: patch_coverage 25 < 80")
    for row in _rows(check):
        run.console.print(f"    {row}")

    run.step("dev adds the tests; the pull request passes and dev merges it")
    sha = sb.push(REPO, "add-mean", {"tests/test_calc.py": GOOD_TESTS}, "Test mean() and div()", as_user="dev")
    check = h.wait_for_check(REPO, sha, "trunkline/ratchets", timeout=120)
    run.record(f"PR #{number}: trunkline/ratchets → {check.conclusion}: {check.output.get('title')}",
               check.conclusion == "success")
    sb.merge(REPO, number, as_user="dev")
    repo = sb.repo(REPO)

    def raised() -> str | None:
        text = git.out(repo, "show", f"main:{BASELINE_PATH}")
        return text if text != BASELINE else None

    text = h.wait_for(raised, 120, what="the coverage floor raised on main")
    changed = [(a, b) for a, b in zip(BASELINE.splitlines(), text.splitlines(), strict=False) if a != b]
    same_shape = len(text.splitlines()) == len(BASELINE.splitlines()) and len(changed) == 1
    run.record(f"merged → the bot raised the floor in {BASELINE_PATH}: "
               + ("; ".join(f"`{a.strip()}` → `{b.strip()}`" for a, b in changed) or "no change"),
               same_shape and "# lines + branches" in changed[0][1], "only that number changed; comments kept")
