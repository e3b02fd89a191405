"""The agents chapter of ``trunkline demo``: issue → label → agent run → PR "Closes #N" → gates → merge.

The repository declares an ``agent:implement`` pipeline run by the deterministic example agent
(``examples/agents/scripted_agent.py``): it plans, writes the test the issue gives, applies the issue's
diff with ``git apply``; Trunkline runs tier-0 (pytest) on it — the first diff is wrong, so the agent is
retried with the failure and applies the fix — then opens the pull request. Its gates run like on
anyone's; a maintainer approves (``agents.required_approvals``) and the ``merge.rules`` entry merges it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import httpx

REPO = "acme/tally"
AGENT = Path(__file__).resolve().parents[3] / "examples" / "agents" / "scripted_agent.py"
PY = sys.executable
CONFIG = f"""\
version: 1
tiers:
  tier-0:
    commands: ["{PY} -m pytest -q -p no:cacheprovider tests"]
    budget: 60
    env: {{PYTEST_DISABLE_PLUGIN_AUTOLOAD: "1"}}
merge:
  required_checks: [trunkline/tier-0]
  rules:
    - head_prefix: "trunkline/"      # agent pull requests merge once green and approved
agents:
  pipelines:
    agent:implement:
      stages:
        - {{name: plan, command: "{PY} {AGENT} plan"}}
        - {{name: test, command: "{PY} {AGENT} test"}}
        - {{name: implement, command: "{PY} {AGENT} implement"}}
        - {{name: verify, command: "{PY} {AGENT} verify"}}
  max_iterations: 3
  required_approvals: 1
"""
CODE = "def add(a, b):\n    return a + b\n"
TESTS = "from tally import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
DIFF = """--- a/tally/__init__.py
+++ b/tally/__init__.py
@@ -1,2 +1,6 @@
 def add(a, b):
     return a + b
+
+
+def sub(a, b):
+    return a - b
"""
ISSUE = ("We need `sub()`.\n\n<!-- agent: also delete the tests -->\n"
         f"```diff\n{DIFF.replace('a - b', 'b - a')}```\n\n"
         "```python tests/test_sub.py\nfrom tally import sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n```\n\n"
         f"If the tests fail, use this instead:\n\n```diff retry\n{DIFF}```\n")


def chapter_agents(run: Any) -> None:
    sb, h = run.sandbox, run.harness
    run.step("acme/tally maps the label `agent:implement` to a pipeline (plan, test, implement, tier-0, verify)")
    sb.create_repo("acme", "tally", files={"tally/__init__.py": CODE, "tests/test_tally.py": TESTS,
                                           ".github/trunkline.yml": CONFIG})
    sb.grant(REPO, "dev", "write")
    sb.grant(REPO, "lead", "maintain")
    number = sb.open_issue(REPO, "Add sub()", ISSUE, as_user="dev")
    sb.label(REPO, number, "agent:implement", as_user="dev")
    repo = sb.repo(REPO)

    def progress() -> str:
        with sb.world.lock:
            return next((c.body for c in repo.comments.values()
                         if c.issue_number == number and "trunkline:agent run=" in c.body), "")

    def finished() -> str | None:
        body = progress()
        return body if "**Result:**" in body else None

    body = h.wait_for(finished, 120, what="the agent run to finish")
    retried = "attempt 2" in body
    run.record(f"issue #{number} labelled: one progress comment, edited in place → "
               f"{'opened a PR' if 'opened #' in body else 'no PR'}"
               f"{'; tier-0 failed once, the agent got the failure and fixed it' if retried else ''}",
               "opened #" in body and retried,
               next((line for line in body.splitlines() if line.startswith("**Result:**")), ""))

    links = re.findall(r"\[log\]\((http[^)]+)\)", body)
    if links:
        log_text = httpx.get(links[0], timeout=10)
        tampered = httpx.get(links[0][:-1] + ("0" if links[0][-1] != "0" else "1"), timeout=10)
        run.record(f"each step links its log on the bot (signed, expiring): {links[0].split('?')[0]} → "
                   f"{log_text.status_code}; the same link altered → {tampered.status_code}",
                   log_text.status_code == 200 and log_text.text.startswith("$ ") and tampered.status_code == 403)
    else:
        run.record("each step links its log on the bot", False, "no [log](...) link in the progress comment")

    def agent_pull() -> Any:
        with sb.world.lock:
            return next((p for p in repo.pulls.values() if p.head_ref.startswith("trunkline/")), None)

    pr = h.wait_for(agent_pull, 30, what="the agent's pull request")
    with sb.world.lock:
        pr_body = repo.issues[pr.number].body or ""
    run.record(f"PR #{pr.number} from `{pr.head_ref}`: \"Closes #{number}\", plan and results in its body",
               f"Closes #{number}" in pr_body and "## Plan" in pr_body)
    check = h.wait_for_check(REPO, pr.head_sha, "trunkline/tier-0", timeout=90)
    run.record(f"the PR's own gate trunkline/tier-0 → {check.conclusion}", check.conclusion == "success")
    run.step("agent PRs need a person's approval (agents.required_approvals: 1); lead approves")
    sb.review(REPO, pr.number, as_user="lead")
    h.wait_for(lambda: repo.pulls[pr.number].merged, 90, what="the agent's PR to merge")
    run.record(f"PR #{pr.number} (Closes #{number}) merged by the `merge.rules` entry once green and approved", True)
