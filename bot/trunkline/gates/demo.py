"""The verify-tiers chapter of ``trunkline demo``: tier-0 runs a real pytest on a tiny package.

A pull request that breaks ``add()`` gets a failing ``trunkline/tier-0`` check with an annotation on the
failing assert; pushing the fix makes the new head pass. The bot checks each commit out through the API
and runs the tier in its own process tree within the tier's budget.
"""

from __future__ import annotations

import sys
from typing import Any

REPO = "acme/abacus"
CONFIG = f"""\
version: 1
tiers:
  tier-0:
    commands:
      - {sys.executable} -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests
    budget: 60
    artifacts: {{junit: reports/*.xml}}
    env: {{PYTEST_DISABLE_PLUGIN_AUTOLOAD: "1"}}
"""
CODE = "def add(a, b):\n    return a + b\n"
TESTS = "from abacus import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def chapter_gates(run: Any) -> None:
    sb, h = run.sandbox, run.harness
    run.step("acme/abacus declares `tiers: tier-0` (pytest with JUnit); dev opens a PR that breaks add()")
    sb.create_repo("acme", "abacus", files={"abacus/__init__.py": CODE, "tests/test_abacus.py": TESTS,
                                            ".github/trunkline.yml": CONFIG})
    sb.grant(REPO, "dev", "write")
    bad = sb.push(REPO, "subtract", {"abacus/__init__.py": CODE.replace("a + b", "a - b")}, "Use minus",
                  as_user="dev")
    number = sb.open_pr(REPO, head="subtract", title="Use minus", as_user="dev")
    check = h.wait_for_check(REPO, bad, "trunkline/tier-0", timeout=60)
    note = check.annotations[0] if check.annotations else {}
    where = f"{note.get('path')}:{note.get('start_line')}" if note else "no annotation"
    run.record(f"PR #{number}: trunkline/tier-0 → {check.conclusion} ({check.output.get('title')}), annotation at "
               f"{where}", check.conclusion == "failure" and where == "tests/test_abacus.py:5",
               (note.get("message") or "").splitlines()[0] if note else "")
    run.step("dev pushes the fix to the same PR")
    good = sb.push(REPO, "subtract", {"abacus/__init__.py": CODE}, "Back to plus", as_user="dev")
    check = h.wait_for_check(REPO, good, "trunkline/tier-0", timeout=60)
    run.record(f"new head {good[:7]}: trunkline/tier-0 → {check.conclusion} ({check.output.get('title')})",
               check.conclusion == "success")
