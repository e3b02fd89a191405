"""``/generate``: regenerate code from the contracts and push one commit to the pull request's branch.

* Same-repository pull requests only: the App cannot (and must not) push to a fork.
* The engine is the contracts work's ``trunkline.contracts.generate.regenerate(repo_root, config)``; it
  runs in a child process (generators are not written for a bot's worker threads, and a hung one is
  stopped after ``ENGINE_TIMEOUT``) on a copy of the PR head taken through the Git Data API, with
  the **default branch's** configuration (a pull request does not choose how the bot runs generators).
* Whatever the engine changed is pushed as exactly one commit on top of the head it ran on, and only
  if the branch still points there (see :mod:`trunkline.commands.gitdata`); otherwise nothing is
  pushed and the reply says to run it again.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trunkline.commands.builtin._merge_api import reevaluate
from trunkline.commands.feedback import inline_code
from trunkline.commands.gitdata import (
    BranchMoved,
    TooLarge,
    fetch_tree,
    push_commit,
    read_worktree,
    tree_changes,
)
from trunkline.commands.invocation import Invocation, Outcome, failed, load_engine, not_available, ok, refused
from trunkline.commands.registry import command
from trunkline.config.model import TrunklineConfig

ENGINE = ("trunkline.contracts.generate", "regenerate")
ENGINE_TIMEOUT = 600.0
LISTED = 10  # changed paths named in the reply


class EngineFailed(RuntimeError):
    """The contracts engine reported an error (its message is for the reply)."""


def isolated(root: Path, config: TrunklineConfig, timeout: float = ENGINE_TIMEOUT) -> None:
    """Run the contracts engine on ``root`` in a child process (see ``_generate_child``)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "trunkline.commands.builtin._generate_child", str(root)],
                              input=config.model_dump_json(), capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=root, env=child_env(os.environ))
    except subprocess.TimeoutExpired as exc:
        raise EngineFailed(f"code generation took longer than {timeout:.0f} s and was stopped") from exc
    lines = proc.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if proc.returncode == 0 and answer.get("ok"):
        return
    raise EngineFailed(answer.get("error") or f"the generator process exited with {proc.returncode}:\n"
                       f"{proc.stderr.strip()[-2000:]}")


def child_env(environ: Any) -> dict[str, str]:
    """The generator's environment: the bot's, without its credentials (the App key, webhook secret,
    database URLs or any token) — the generator works on files a pull request controls."""
    secret = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|DATABASE_URL|QUEUE_URL)", re.IGNORECASE)
    return {k: v for k, v in environ.items()
            if not secret.search(k) and (not k.startswith("TRUNKLINE_") or k == "TRUNKLINE_NODE_PREFIX")}


#: How the engine is run; tests substitute an in-process stand-in.
RUNNER: Callable[[Path, TrunklineConfig], None] = isolated


def code_block(text: str, limit: int = 4000) -> str:
    """``text`` in a fenced block whose fence nothing inside it can close."""
    text = text if len(text) <= limit else text[:limit] + "\n…"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAX_REF_FILES = 200


def ref_problem(file: str, ref: str) -> str | None:
    """Why a ``$ref`` in ``file`` (repository-relative) must not be followed by the bot, or None.
    Only references inside the repository are allowed: no URLs (the bot would fetch them), no
    absolute paths and no ``..`` out of the repository (the bot would read its own host's files)."""
    target = ref.split("#", 1)[0]
    if not target:
        return None
    if _SCHEME.match(target) or target.startswith(("/", "~")) or "\\" in target:
        return f"`{file}` refers to `{target}`, outside the repository"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(file), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"`{file}` refers to `{target}`, outside the repository"
    return None


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.append(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def unsafe_refs(root: Path, sources: list[str]) -> list[str]:
    """Problems with the ``$ref``s reachable from the contract ``sources`` in the copy at ``root``."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    problems: list[str] = []
    queue, seen = list(sources), set()
    while queue and len(seen) < MAX_REF_FILES:
        file = queue.pop(0)
        if file in seen or not (root / file).is_file():
            continue
        seen.add(file)
        try:
            data = yaml.load((root / file).read_text(encoding="utf-8", errors="replace"))
        except Exception:  # noqa: BLE001 - not ours to report: the engine says what is wrong with it
            continue
        for ref in _refs(data):
            problem = ref_problem(file, ref)
            if problem:
                problems.append(problem)
            elif ref.split("#", 1)[0]:
                queue.append(posixpath.normpath(posixpath.join(posixpath.dirname(file), ref.split("#", 1)[0])))
    return sorted(set(problems))


def same_repository(head_repo_id: int | None, base_repo_id: int | None) -> bool:
    return head_repo_id is not None and head_repo_id == base_repo_id


@command("generate", summary="Regenerate code from the contracts and push one commit to this pull request's "
                             "branch (pull requests from this repository only, not forks).",
         level="write", pr_only=True)
def generate(inv: Invocation) -> Outcome:
    session = inv.session
    pr = session.pull()
    if pr.state != "open":
        return refused(f"#{session.number} is {pr.state}; nothing was pushed.")
    head_repo, base_repo = pr.head.repo, pr.base.repo
    if not same_repository(getattr(head_repo, "id", None), getattr(base_repo, "id", None)):
        where = inline_code(head_repo.full_name) if head_repo is not None else "a deleted fork"
        return refused(f"this pull request comes from {where}; Trunkline only pushes to branches of "
                       f"{inline_code(session.full_name)}. Run `trunkline contracts generate` locally and push.")
    if load_engine(*ENGINE) is None:
        return not_available("code generation", "the contracts engine (`trunkline.contracts.generate`) is not "
                                                "part of this Trunkline installation, so nothing was pushed.")
    contracts = getattr(session.config, "contracts", None)
    if contracts is not None and not getattr(contracts, "sources", None):
        return refused("no contracts are configured (`contracts.sources` is empty), so there is nothing to generate.")
    head_sha, branch = pr.head.sha, pr.head.ref
    repository = session.repository()
    with tempfile.TemporaryDirectory(prefix="trunkline-generate-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        try:
            tree, before = fetch_tree(repository, head_sha, root)
        except TooLarge as exc:
            return refused(f"the repository is too large to regenerate through the API ({exc}).")
        problems = unsafe_refs(root, [getattr(src, "path", src) for src in getattr(contracts, "sources", None) or []])
        if problems:
            return refused("the contracts refer to files outside the repository, which the bot does not read; "
                           "nothing was generated.", details="\n".join(f"- {p}" for p in problems))
        try:
            RUNNER(root, session.config)
        except Exception as exc:  # the engine's message is what the person needs to see
            session.log.warning("contracts engine failed: %s", exc)
            return failed(f"the contracts engine failed on {head_sha[:7]}; nothing was pushed.",
                          details=code_block(str(exc) or type(exc).__name__))
        changes = tree_changes(before, read_worktree(root))
    if not changes:
        return ok(f"generated code on {inline_code(branch)} ({head_sha[:7]}) already matches the contracts; "
                  "nothing to commit.")
    message = (f"Regenerate code from contracts\n\nRequested by @{session.actor} with "
               f"{session.prefix}generate on #{session.number}.")
    try:
        new_sha = push_commit(repository, branch, head_sha, tree, changes, message)
    except BranchMoved as exc:
        return failed(f"{exc}; nothing was pushed. Run {inline_code(session.prefix + 'generate')} again.")
    # The synchronize event for our own push is dropped by the loop guard: let the merge service look
    # at the new head now (it publishes Trunkline's own missing required checks on it).
    note = reevaluate(session, "generate")
    paths = ", ".join(inline_code(c.path) for c in changes[:LISTED])
    more = f" and {len(changes) - LISTED} more" if len(changes) > LISTED else ""
    return ok(f"pushed {new_sha[:7]} to {inline_code(branch)}: {len(changes)} file"
              f"{'s' if len(changes) != 1 else ''} regenerated ({paths}{more}).{note}")
