"""Property tests: the sandbox's git answers agree with git itself, run independently here.

Each example builds a small random history in a fresh bare repository: a ``main`` and a
``feature`` branch forked from a root commit, each getting commits that touch a few files
(sometimes the same lines, so some histories conflict), and sometimes ``main`` merged into
``feature``. Then:

* ahead/behind, ``mergeable`` and ``mergeable_state`` agree with ``git rev-list --count`` and
  ``git merge-tree --write-tree`` run directly by the test;
* a merge with a stale ``sha`` never changes the base branch and leaves the pull request open;
* merge / squash / rebase produce the right parents, and the tree git itself produces
  (``merge-tree`` for merge and squash, a real ``git rebase`` in a scratch clone for rebase);
* update-branch followed by a merge lands exactly the updated head's tree.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trunkline.sandbox import git
from trunkline.sandbox.http import GitHubError
from trunkline.sandbox.routes.pulls import merge_pull, open_pull, update_branch
from trunkline.sandbox.shapes.pulls import pull_facts, verdict
from trunkline.sandbox.world import Protection, Repo, World

FILES = ("a.txt", "b.txt", "c.txt")
# Few distinct line values so that both branches often touch the same line (conflicts).
LINES = st.sampled_from(["x", "y", "z"])
CONTENT = st.lists(LINES, min_size=3, max_size=3).map(lambda ls: "\n".join(ls) + "\n")
CHANGE = st.dictionaries(st.sampled_from(FILES), st.one_of(CONTENT, st.none()), min_size=1, max_size=2)
STEP = st.one_of(
    st.tuples(st.just("main"), CHANGE),
    st.tuples(st.just("feature"), CHANGE),
    st.tuples(st.just("sync"), st.just({})),  # merge main into feature (when clean)
)
HISTORY = st.lists(STEP, min_size=1, max_size=7)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INITIAL = {"a.txt": "1\n2\n3\n", "b.txt": "p\nq\nr\n", "c.txt": "k\nl\nm\n"}


def raw_git(repo: Path, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    """git run by the test itself (the oracle), not through trunkline.sandbox.git."""
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "HOME": str(repo), "GIT_AUTHOR_NAME": "oracle", "GIT_AUTHOR_EMAIL": "oracle@example.com",
           "GIT_COMMITTER_NAME": "oracle", "GIT_COMMITTER_EMAIL": "oracle@example.com"}
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode in ok, (args, proc.stderr)
    return proc


def rev(repo: Path, name: str) -> str:
    return raw_git(repo, "rev-parse", name).stdout.strip()


def oracle_counts(repo: Path, base: str, head: str) -> tuple[int, int]:
    behind, ahead = raw_git(repo, "rev-list", "--left-right", "--count", f"{base}...{head}").stdout.split()
    return int(ahead), int(behind)


def oracle_merge(repo: Path, ours: str, theirs: str) -> tuple[str, bool]:
    """(tree, conflicted) from ``git merge-tree --write-tree``."""
    proc = raw_git(repo, "merge-tree", "--write-tree", ours, theirs, ok=(0, 1))
    return proc.stdout.splitlines()[0].strip(), proc.returncode == 1


def oracle_rebase_tree(repo: Path, base: str, head: str) -> str | None:
    """The tree a real ``git rebase`` of ``head`` onto ``base`` produces (None when it conflicts)."""
    scratch = Path(tempfile.mkdtemp(prefix="oracle-rebase-"))
    try:
        raw_git(scratch, "clone", "-q", str(repo), "w")
        work = scratch / "w"
        raw_git(work, "checkout", "-q", "-b", "work", head)
        proc = raw_git(work, "rebase", "-q", base, ok=(0, 1, 128))
        if proc.returncode != 0:
            return None
        return rev(work, "HEAD^{tree}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Built:
    world: World
    repo: Repo
    path: Path


@contextmanager
def built(history: list[tuple[str, dict[str, str | None]]], *, strict: bool = False) -> Iterator[Built]:
    """A world with ``acme/widgets`` whose ``main``/``feature`` follow ``history``."""
    root = Path(tempfile.mkdtemp(prefix="git-prop-"))
    try:
        world = World(root)
        repo = world.add_repo("acme", "widgets")
        git.init_repo(repo, INITIAL, "acme")
        path = repo.path
        raw_git(path, "update-ref", "refs/heads/feature", "refs/heads/main")
        for n, (branch, change) in enumerate(history):
            if branch == "sync":
                tree, conflicted = oracle_merge(path, "refs/heads/feature", "refs/heads/main")
                if conflicted:
                    continue
                commit = raw_git(path, "commit-tree", tree, "-p", "refs/heads/feature", "-p", "refs/heads/main",
                                 "-m", f"sync {n}").stdout.strip()
                raw_git(path, "update-ref", "refs/heads/feature", commit)
                continue
            git.commit_files(repo, branch, change, f"{branch} step {n}", "dev")
        if strict:
            repo.protections["main"] = Protection(branch="main", strict=True)
        yield Built(world, repo, path)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def open_or_skip(b: Built) -> int | None:
    """Open feature -> main; None when GitHub would refuse (no commits between them)."""
    try:
        return open_pull(b.world, b.repo, "dev", head="feature", base="main", title="Feature").number
    except GitHubError as exc:
        assert exc.status == 422
        ahead, _ = oracle_counts(b.path, "refs/heads/main", "refs/heads/feature")
        assert ahead == 0, "open_pull refused a pull request that has commits"
        return None


@SETTINGS
@given(history=HISTORY, strict=st.booleans())
def test_mergeability_agrees_with_git(history: list, strict: bool) -> None:
    with built(history, strict=strict) as b:
        number = open_or_skip(b)
        if number is None:
            return
        pull = b.repo.pulls[number]
        facts = pull_facts(b.repo, pull)
        ahead, behind = oracle_counts(b.path, "refs/heads/main", "refs/heads/feature")
        _, conflicted = oracle_merge(b.path, "refs/heads/main", "refs/heads/feature")
        assert (facts.ahead_by, facts.behind_by) == (ahead, behind)
        assert facts.conflicts == conflicted
        event(f"conflicted={conflicted} behind={behind > 0}")
        v = verdict(b.world, b.repo, pull, facts)
        assert v.mergeable is (not conflicted)
        if conflicted:
            expected = "dirty"
        elif strict and behind > 0:
            expected = "behind"
        else:
            expected = "clean"
        assert v.mergeable_state == expected
        assert (v.refusal() is None) == (expected == "clean")


@SETTINGS
@given(history=HISTORY, method=st.sampled_from(["merge", "squash", "rebase"]))
def test_stale_sha_never_moves_the_base(history: list, method: str) -> None:
    with built(history) as b:
        number = open_or_skip(b)
        if number is None:
            return
        base_before = rev(b.path, "refs/heads/main")
        stale = rev(b.path, "refs/heads/feature~1")
        with pytest.raises(GitHubError) as info:
            merge_pull(b.world, b.repo, number, "acme", merge_method=method, sha=stale)
        assert info.value.status == 409
        assert info.value.message == "Head branch was modified. Review and try the merge again."
        assert rev(b.path, "refs/heads/main") == base_before
        assert b.repo.issues[number].state == "open" and not b.repo.pulls[number].merged


@SETTINGS
@given(history=HISTORY, method=st.sampled_from(["merge", "squash", "rebase"]))
def test_merge_methods_produce_gits_result(history: list, method: str) -> None:
    with built(history) as b:
        number = open_or_skip(b)
        if number is None:
            return
        base = rev(b.path, "refs/heads/main")
        head = rev(b.path, "refs/heads/feature")
        merged_tree, conflicted = oracle_merge(b.path, base, head)
        rebased_tree = oracle_rebase_tree(b.path, base, head) if method == "rebase" else None
        try:
            new = merge_pull(b.world, b.repo, number, "acme", merge_method=method, sha=head)
        except GitHubError as exc:
            event(f"{method}: refused")
            assert exc.status == 405
            assert conflicted or (method == "rebase" and rebased_tree is None)
            assert rev(b.path, "refs/heads/main") == base
            return
        event(f"{method}: merged")
        assert not conflicted
        assert rev(b.path, "refs/heads/main") == new
        parents = raw_git(b.path, "rev-list", "--parents", "-n1", new).stdout.split()[1:]
        tree = rev(b.path, f"{new}^{{tree}}")
        pull = b.repo.pulls[number]
        assert pull.merged and pull.merge_commit_sha == new and b.repo.issues[number].state == "closed"
        if method == "merge":
            assert parents == [base, head]
            assert tree == merged_tree
        elif method == "squash":
            assert parents == [base]
            assert tree == merged_tree
        else:
            assert rebased_tree is not None, "sandbox rebased what git rebase could not"
            assert tree == rebased_tree
            # Linear history on top of the old base: every new commit has exactly one parent.
            chain = raw_git(b.path, "rev-list", "--parents", f"{base}..{new}").stdout.splitlines()
            assert all(len(line.split()) == 2 for line in chain)
            assert raw_git(b.path, "merge-base", "--is-ancestor", base, new, ok=(0, 1)).returncode == 0


@SETTINGS
@given(history=HISTORY)
def test_update_branch_then_merge(history: list) -> None:
    with built(history, strict=True) as b:
        number = open_or_skip(b)
        if number is None:
            return
        base = rev(b.path, "refs/heads/main")
        head = rev(b.path, "refs/heads/feature")
        _, behind = oracle_counts(b.path, base, head)
        updated_tree, conflicted = oracle_merge(b.path, head, base)
        try:
            new_head = update_branch(b.world, b.repo, number, "dev", expected_head_sha=head)
        except GitHubError as exc:
            event("update refused: " + ("conflict" if conflicted else "not behind"))
            assert exc.status == 422
            assert conflicted or behind == 0
            assert rev(b.path, "refs/heads/feature") == head
            return
        event("updated")
        assert not conflicted and behind > 0
        assert rev(b.path, "refs/heads/feature") == new_head
        assert raw_git(b.path, "rev-list", "--parents", "-n1", new_head).stdout.split()[1:] == [head, base]
        assert rev(b.path, f"{new_head}^{{tree}}") == updated_tree
        pull = b.repo.pulls[number]
        assert pull.head_sha == new_head  # synchronised by the push the update announced
        v = verdict(b.world, b.repo, pull)
        assert v.mergeable_state == "clean"
        merged = merge_pull(b.world, b.repo, number, "acme", merge_method="merge", sha=new_head)
        assert rev(b.path, f"{merged}^{{tree}}") == updated_tree
        assert oracle_counts(b.path, merged, new_head) == (0, 1)
