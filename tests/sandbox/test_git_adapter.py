"""The git adapter against real bare repositories: plumbing writes, ref guards, diffs, merges."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.sandbox import git


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "r.git"
    git.init(path, "main")
    return path


def show(repo: Path, rev: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", "show", rev], capture_output=True, text=True,
                          check=True).stdout


def test_init_commit_files_and_read_back(bare: Path) -> None:
    first = git.commit_files(bare, "main", {"README.md": "hi\n", "src/app.py": "print(1)\n"}, "init", "alice")
    assert git.branches(bare) == {"main": first}
    assert git.blob_at(bare, "main", "src/app.py")[1] == b"print(1)\n"
    assert git.entry_at(bare, "main", "src").type == "tree"
    assert git.blob_at(bare, "main", "src") is None and git.blob_at(bare, "main", "nope") is None
    info = git.commit_info(bare, first)
    assert info.parents == () and info.message == "init"
    assert (info.author.name, info.author.email) == ("alice", "alice@users.noreply.github.com")
    second = git.commit_files(bare, "main", {"src/app.py": None, "docs/x.md": "x"}, "move", "bob")
    assert git.commit_info(bare, second).parents == (first,)
    assert [e.path for e in git.ls_tree(bare, second, recursive=True)] == ["README.md", "docs", "docs/x.md"]
    assert git.entry_at(bare, second, "src") is None  # an emptied directory disappears
    assert git.commit_changes(bare, second) == (["docs/x.md"], ["src/app.py"], [])
    assert git.resolve(bare, first[:8]) == first and git.resolve(bare, "main") == second
    assert git.resolve(bare, "no-such-branch") is None and git.resolve(bare, "--help") is None


def test_new_branch_starts_from_base_and_detached_parent(bare: Path) -> None:
    root = git.commit_files(bare, "main", {"a": "1"}, "root", "alice")
    feat = git.commit_files(bare, "feature", {"b": "2"}, "feat", "bob", base="main")
    assert git.commit_info(bare, feat).parents == (root,)
    with pytest.raises(git.GitError):
        git.commit_files(bare, "other", {"c": "3"}, "x", "bob", base="missing")
    loose = git.commit_files(bare, root, {"c": "3"}, "detached", "bob")
    assert git.commit_info(bare, loose).parents == (root,)
    assert git.branches(bare) == {"main": root, "feature": feat}  # no ref moved


def test_update_ref_guards_against_lost_updates(bare: Path) -> None:
    a = git.commit_files(bare, "main", {"a": "1"}, "a", "alice")
    b = git.commit_files(bare, "main", {"a": "2"}, "b", "alice")
    with pytest.raises(git.RefConflict):
        git.update_ref(bare, "refs/heads/main", a, a)  # stale old value
    with pytest.raises(git.RefConflict):
        git.update_ref(bare, "refs/heads/main", a, None)  # must not exist, but does
    git.update_ref(bare, "refs/heads/main", a, b)
    assert git.branch_sha(bare, "main") == a
    with pytest.raises(git.RefConflict):
        git.delete_ref(bare, "refs/heads/main", b)
    git.delete_ref(bare, "refs/heads/main", a)
    assert git.branch_sha(bare, "main") is None


def test_write_tree_nested_changes_and_replacements(bare: Path) -> None:
    blob = git.write_blob(bare, b"data")
    t1 = git.write_tree(bare, None, {"a/b/c.txt": ("100644", "blob", blob), "run.sh": ("100755", "blob", blob)})
    assert {(e.path, e.mode) for e in git.ls_tree(bare, t1, recursive=True) if e.type == "blob"} == {
        ("a/b/c.txt", "100644"), ("run.sh", "100755")}
    # A file replaces a directory, a directory replaces a file, None deletes a whole directory.
    t2 = git.write_tree(bare, t1, {"a/b": ("100644", "blob", blob), "run.sh/inner": ("100644", "blob", blob)})
    assert sorted(e.path for e in git.ls_tree(bare, t2, recursive=True) if e.type == "blob") == [
        "a/b", "run.sh/inner"]
    t3 = git.write_tree(bare, t2, {"run.sh": None})
    assert [e.path for e in git.ls_tree(bare, t3, recursive=True)] == ["a", "a/b"]
    sub = git.resolve(bare, t1 + ":a", "tree")
    t4 = git.write_tree(bare, t3, {"copy": ("040000", "tree", sub)})
    assert git.entry_at(bare, t4, "copy/b/c.txt").sha == blob
    assert git.write_tree(bare, t4, {"a": None, "copy": None}) == git.EMPTY_TREE


def test_init_from_folder_honours_gitignore(bare: Path, tmp_path: Path) -> None:
    folder = tmp_path / "src"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "mod.py").write_text("x = 1\n")
    (folder / ".gitignore").write_text("*.log\n")
    (folder / "debug.log").write_text("noise")
    sha = git.init_from_folder(bare, folder, "alice")
    paths = {e.path for e in git.ls_tree(bare, sha, recursive=True) if e.type == "blob"}
    assert paths == {".gitignore", "pkg/mod.py"}
    (folder / "pkg" / "mod.py").write_text("x = 2\n")
    again = git.init_from_folder(bare, folder, "alice", "update")
    assert git.commit_info(bare, again).parents == (sha,)


def test_diff_reports_status_counts_and_patch(bare: Path) -> None:
    a = git.commit_files(bare, "main", {"keep.txt": "1\n2\n3\n", "gone.txt": "bye\n", "old.txt": "same\n" * 10},
                         "a", "alice")
    b = git.commit_files(bare, "main", {"keep.txt": "1\ntwo\n3\n4\n", "gone.txt": None, "old.txt": None,
                                        "new.txt": "same\n" * 10, "bin.dat": b"\x00\x01\x02"}, "b", "alice")
    files = {f.filename: f for f in git.diff(bare, a, b)}
    assert files["keep.txt"].status == "modified"
    assert (files["keep.txt"].additions, files["keep.txt"].deletions) == (2, 1)
    assert files["keep.txt"].patch.startswith("@@ -1,3 +1,4 @@")
    assert files["gone.txt"].status == "removed" and files["gone.txt"].deletions == 1
    assert files["new.txt"].status == "renamed" and files["new.txt"].previous_filename == "old.txt"
    assert files["bin.dat"].binary and files["bin.dat"].patch is None and files["bin.dat"].status == "added"
    assert files["keep.txt"].sha == git.blob_at(bare, b, "keep.txt")[0]


def test_merge_squash_rebase_and_conflicts(bare: Path) -> None:
    base = git.commit_files(bare, "main", {"f": "1\n2\n3\n", "g": "x\n"}, "base", "alice")
    git.commit_files(bare, "feature", {"f": "1\nF\n3\n"}, "feature edits f", "bob", base="main")
    head = git.commit_files(bare, "feature", {"h": "new\n"}, "feature adds h", "bob")
    main = git.commit_files(bare, "main", {"g": "y\n"}, "main edits g", "alice")
    assert git.ahead_behind(bare, main, head) == (2, 1)
    assert git.merge_base(bare, main, head) == base
    result = git.merge_trees(bare, main, head)
    assert result.clean
    who = git.Ident("carol", "carol@example.com")
    merged = git.merge_commit(bare, main, head, "merge", who)
    assert git.commit_info(bare, merged).parents == (main, head)
    assert git.commit_info(bare, merged).tree == result.tree
    squashed = git.squash_commit(bare, main, head, "squash", who)
    assert git.commit_info(bare, squashed).parents == (main,) and git.commit_info(bare, squashed).tree == result.tree
    assert git.rebaseable(bare, main, head)
    rebased = git.rebase(bare, main, head)
    chain = git.log(bare, [f"{main}..{rebased}"], reverse=True)
    assert [c.message for c in chain] == ["feature edits f", "feature adds h"]
    assert all(c.author.name == "bob" and c.committer.name == "GitHub" for c in chain)
    assert chain[0].parents == (main,)
    assert git.commit_info(bare, rebased).tree == result.tree
    # A conflicting change on main.
    clash = git.commit_files(bare, "main", {"f": "1\nM\n3\n"}, "main edits f", "alice")
    conflicted = git.merge_trees(bare, clash, head)
    assert conflicted.conflicts == ("f",)
    with pytest.raises(git.MergeConflict) as info:
        git.merge_commit(bare, clash, head, "merge", who)
    assert info.value.files == ("f",)
    assert not git.rebaseable(bare, clash, head)
    with pytest.raises(git.MergeConflict):
        git.rebase(bare, clash, head)
    assert git.branch_sha(bare, "main") == clash  # nothing moved


def test_caches_do_not_leak_between_repositories_at_the_same_path(tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "same.git"
    when = git.Ident("alice", "alice@example.com", "2026-01-01T00:00:00Z")

    def build() -> tuple[str, str]:
        git.init(path, "main")
        base = git.write_tree(path, None, {"f": ("100644", "blob", git.write_blob(path, b"1\n"))})
        root = git.commit_tree(path, base, [], "root", when)
        left = git.write_tree(path, base, {"g": ("100644", "blob", git.write_blob(path, b"2\n"))})
        right = git.write_tree(path, base, {"h": ("100644", "blob", git.write_blob(path, b"3\n"))})
        return (git.commit_tree(path, left, [root], "b", when), git.commit_tree(path, right, [root], "c", when))

    b, c = build()
    tree = git.merge_trees(path, b, c).tree
    shutil.rmtree(path)
    assert build() == (b, c)  # deterministic: the very same commits in a new repository
    again = git.merge_trees(path, b, c)
    assert again.tree == tree and git.object_type(path, again.tree) == "tree"


@settings(max_examples=30, deadline=None)
@given(files=st.dictionaries(st.from_regex(r"[a-z]{1,3}(/[a-z]{1,3}){0,2}", fullmatch=True),
                             st.text(max_size=20), min_size=1, max_size=5))
def test_commit_files_round_trips_contents(files: dict[str, str]) -> None:
    import tempfile

    # Drop paths that are a prefix-directory of another path (a file and a directory cannot share a name).
    names = sorted(files)
    files = {p: c for p, c in files.items() if not any(o.startswith(p + "/") for o in names)}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "r.git"
        git.init(repo, "main")
        sha = git.commit_files(repo, "main", files, "m", "alice")
        for path, content in files.items():
            assert git.blob_at(repo, sha, path)[1] == content.encode()
        blobs = {e.path for e in git.ls_tree(repo, sha, recursive=True) if e.type == "blob"}
        assert blobs == set(files)
