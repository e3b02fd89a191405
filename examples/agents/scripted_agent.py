#!/usr/bin/env python3
"""A deterministic agent for Trunkline's agent pipelines (no model needed): it does real work from a
task written in the issue.

Usage (as stage commands in ``agents.pipelines``)::

    python scripted_agent.py plan        # writes $TRUNKLINE_AGENT_OUTPUT/plan.md
    python scripted_agent.py test        # writes the test files the issue gives
    python scripted_agent.py implement   # applies the issue's ```diff blocks with git apply
    python scripted_agent.py verify      # byte-compiles the changed Python files, writes verify.md
    python scripted_agent.py implement --sleep 30   # a slow agent (for cancel tests)

The task is read only from the frozen input files (``$TRUNKLINE_AGENT_INPUT/issue.json``), never from the
command line. In the issue body (or an ``/agent`` instruction):

* a fenced block whose info string is ``diff`` holds a unified diff, applied by ``implement``;
* a fenced ``diff retry`` block is applied instead when the run is retrying (``$TRUNKLINE_AGENT_FAILURE``
  exists) — the agent "learns" from the failure, which it copies to the output folder;
* a fenced block ``python <path>`` (e.g. ```` ```python tests/test_sub.py ````) is a test file written by
  ``test``.
"""

from __future__ import annotations

import json
import os
import py_compile
import re
import subprocess
import sys
import time
from pathlib import Path

FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([^\n`]*)\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def task_texts(data: dict) -> list[str]:
    texts = [data.get("body") or ""]
    if data.get("instruction"):
        texts.append(data["instruction"])
    texts += [c.get("body") or "" for c in data.get("comments") or []]
    return texts


def blocks(data: dict) -> list[tuple[str, str]]:
    """(info string, content) of every fenced block in the task, in order."""
    out = []
    for text in task_texts(data):
        for match in FENCE.finditer(text.replace("\r\n", "\n")):
            out.append((match.group(2).strip(), match.group(3)))
    return out


def load() -> tuple[dict, Path, Path | None]:
    data = json.loads((Path(os.environ["TRUNKLINE_AGENT_INPUT"]) / "issue.json").read_text(encoding="utf-8"))
    out = Path(os.environ["TRUNKLINE_AGENT_OUTPUT"])
    out.mkdir(parents=True, exist_ok=True)
    failure = Path(os.environ.get("TRUNKLINE_AGENT_FAILURE", "/nonexistent"))
    return data, out, failure if failure.is_file() else None


def log(out: Path, line: str) -> None:
    with open(out / "agent.log", "a", encoding="utf-8") as handle:
        handle.write(f"[{os.environ.get('TRUNKLINE_AGENT_STAGE')} #{os.environ.get('TRUNKLINE_AGENT_ITERATION')}] "
                     f"{line}\n")
    print(line)


def plan(data: dict, out: Path) -> int:
    diffs = [c for info, c in blocks(data) if info.split()[:1] == ["diff"]]
    files = sorted({m for d in diffs for m in re.findall(r"^\+\+\+ b/(\S+)", d, re.MULTILINE)})
    tests = [info.split(None, 1)[1] for info, _ in blocks(data) if info.startswith("python ") and " " in info]
    lines = [f"# Plan for #{data.get('number')}: {data.get('title')}", ""]
    if data.get("instruction"):
        lines += [f"Follow-up instruction: {data['instruction'].strip()}", ""]
    lines += ["1. Write the tests: " + (", ".join(f"`{t}`" for t in tests) or "none given"),
              "2. Change: " + (", ".join(f"`{f}`" for f in files) or "nothing (no diff in the issue)"),
              "3. Trunkline runs tier-0; on failure, apply the `diff retry` fix", ""]
    (out / "plan.md").write_text("\n".join(lines), encoding="utf-8")
    log(out, f"plan: {len(diffs)} diff block(s), {len(tests)} test file(s)")
    return 0


def write_tests(data: dict, out: Path) -> int:
    count = 0
    for info, content in blocks(data):
        parts = info.split(None, 1)
        if len(parts) == 2 and parts[0] == "python":
            path = Path(parts[1])
            if path.is_absolute() or ".." in path.parts:
                log(out, f"refusing to write outside the checkout: {path}")
                return 2
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            count += 1
    log(out, f"test: wrote {count} test file(s)")
    return 0


def implement(data: dict, out: Path, failure: Path | None) -> int:
    iteration = os.environ.get("TRUNKLINE_AGENT_ITERATION", "1")
    kind = "diff"
    if failure is not None:
        text = failure.read_text(encoding="utf-8")
        (out / f"seen-failure-{iteration}.md").write_text(text, encoding="utf-8")
        log(out, f"retrying after: {text.strip().splitlines()[0] if text.strip() else 'a failure'}")
        if any(info == "diff retry" for info, _ in blocks(data)):
            kind = "diff retry"
    diffs = [content for info, content in blocks(data) if info == kind]
    for diff in diffs:
        done = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], input=diff, text=True,
                              capture_output=True, check=False)
        if done.returncode != 0:
            log(out, f"git apply failed: {done.stderr.strip()}")
            return 1
    log(out, f"implement: applied {len(diffs)} `{kind}` block(s)")
    return 0


def verify(out: Path) -> int:
    changed = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    files = [line[3:] for line in changed.splitlines() if line[3:].endswith(".py")]
    for name in files:
        if Path(name).is_file():
            try:
                py_compile.compile(name, doraise=True, cfile=os.devnull)
            except py_compile.PyCompileError as exc:
                log(out, f"verify: {exc.msg}")
                return 1
    (out / "verify.md").write_text(f"Byte-compiled {len(files)} file(s) since the last checkpoint.\n",
                                   encoding="utf-8")
    log(out, f"verify: {len(files)} file(s) compile")
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    stage = argv[0]
    if "--sleep" in argv:
        time.sleep(float(argv[argv.index("--sleep") + 1]))
    data, out, failure = load()
    if stage == "plan":
        return plan(data, out)
    if stage == "test":
        return write_tests(data, out)
    if stage == "implement":
        return implement(data, out, failure)
    if stage == "verify":
        return verify(out)
    print(f"unknown stage {stage!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
