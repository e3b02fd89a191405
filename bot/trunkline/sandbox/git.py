"""A thin adapter over the ``git`` CLI for the sandbox's bare repositories.

Every repository in the sandbox is a real bare git repository at ``Repo.path``. Nothing here
needs a work tree: objects are written with plumbing (``hash-object``, ``update-index`` on a
throw-away index file, ``write-tree``, ``commit-tree``), refs move with ``update-ref`` and an
old-value guard (so two writers can never silently overwrite each other), and merges are
computed with ``git merge-tree --write-tree`` (git >= 2.38).

git 2.39 has no ``merge-tree --merge-base``, so a cherry-pick of commit C (parent P) onto O is
computed by merging two synthetic commits that share P as their only parent: one carrying
O's tree, one carrying C's tree. Their merge base is exactly P, which is what a cherry-pick
does. The synthetic commits are dangling objects that ``git gc`` eventually drops.

The process environment is pinned (no system or global config, C locale, no prompts, fixed
identity) so results never depend on the machine's git configuration, and nothing touches
the network.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ZERO_SHA = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
GITHUB_COMMITTER = ("GitHub", "noreply@github.com")
NOREPLY_DOMAIN = "users.noreply.github.com"
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# A fixed identity/date for the synthetic commits used by cherry-picks: deterministic, so
# repeating a computation reuses the same objects instead of writing new ones.
_SYNTHETIC_ENV = {"GIT_AUTHOR_NAME": "sandbox", "GIT_AUTHOR_EMAIL": "sandbox@localhost",
                  "GIT_AUTHOR_DATE": "@0 +0000", "GIT_COMMITTER_NAME": "sandbox",
                  "GIT_COMMITTER_EMAIL": "sandbox@localhost", "GIT_COMMITTER_DATE": "@0 +0000"}


class GitError(RuntimeError):
    """A git command failed (the message carries its stderr)."""


class RefConflict(GitError):
    """``update-ref`` refused: the ref no longer holds the expected old value."""


class MergeConflict(GitError):
    """A merge, squash or replayed commit would leave conflicts in these files."""

    def __init__(self, files: Sequence[str], message: str = "merge conflict"):
        super().__init__(f"{message}: {', '.join(files)}")
        self.files = tuple(files)


@dataclass(frozen=True)
class Ident:
    """An author or committer. ``date`` is ISO 8601 (``None`` = now)."""

    name: str
    email: str
    date: str | None = None


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Ident
    committer: Ident
    message: str


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str  # blob | tree | commit
    sha: str
    path: str
    size: int | None = None


@dataclass(frozen=True)
class FileDiff:
    filename: str
    status: str  # added | removed | modified | renamed | copied | changed
    additions: int
    deletions: int
    sha: str | None  # blob sha of the new side (old side for removals)
    patch: str | None = None
    previous_filename: str | None = None
    binary: bool = False

    @property
    def changes(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True)
class MergeResult:
    tree: str
    conflicts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def clean(self) -> bool:
        return not self.conflicts


# ---- running git ------------------------------------------------------------------------

def git_dir(repo: Any) -> Path:
    """A ``Repo`` (anything with ``.path``) or a path -> the bare repository's directory."""
    return Path(getattr(repo, "path", repo))


def _key(repo: Any) -> str:
    """Cache key for a repository: its path plus the identity of its HEAD file (inode and change
    time), so a repository re-created at the same path never sees results (e.g. merge trees)
    computed with another one's objects."""
    path = git_dir(repo)
    try:
        st = (path / "HEAD").stat()
        return f"{path}\0{st.st_ino}:{st.st_ctime_ns}"
    except OSError:
        return f"{path}\0"


def _path(key: str) -> str:
    return key.split("\0", 1)[0]


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "sandbox",
        "GIT_AUTHOR_EMAIL": "sandbox@localhost",
        "GIT_COMMITTER_NAME": "sandbox",
        "GIT_COMMITTER_EMAIL": "sandbox@localhost",
    }
    if extra:
        env.update(extra)
    return env


def run(repo: Any, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None,
        ok: Iterable[int] = (0,), cwd: str | Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``git --git-dir=<repo> args``; raise GitError unless the exit code is in ``ok``."""
    cmd = ["git", f"--git-dir={git_dir(repo)}", *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, env=_env(env), check=False, cwd=cwd)
    if proc.returncode not in tuple(ok):
        raise GitError(f"git {' '.join(args[:3])} failed ({proc.returncode}): "
                       f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def out(repo: Any, *args: str, **kw: Any) -> str:
    return run(repo, *args, **kw).stdout.decode("utf-8", errors="replace")


def is_sha(value: str) -> bool:
    return bool(_SHA_RE.match(value or ""))


def ident_env(author: Ident | None = None, committer: Ident | None = None) -> dict[str, str]:
    env: dict[str, str] = {}
    for role, who in (("AUTHOR", author), ("COMMITTER", committer)):
        if who is None:
            continue
        env[f"GIT_{role}_NAME"] = who.name
        env[f"GIT_{role}_EMAIL"] = who.email
        if who.date:
            env[f"GIT_{role}_DATE"] = who.date
    return env


def noreply_email(login: str) -> str:
    """The email GitHub gives a user who keeps theirs private."""
    return f"{login}@{NOREPLY_DOMAIN}"


def login_from_email(email: str | None) -> str | None:
    """Reverse of ``noreply_email`` (also accepts GitHub's ``<id>+<login>@`` form)."""
    if not email or not email.endswith("@" + NOREPLY_DOMAIN):
        return None
    local = email.split("@", 1)[0]
    return local.split("+", 1)[1] if "+" in local else local


# ---- repositories and refs --------------------------------------------------------------

def init(repo: Any, default_branch: str | None = None) -> None:
    """Create the bare repository (no-op if it exists)."""
    path = git_dir(repo)
    if (path / "HEAD").exists():
        return
    path.mkdir(parents=True, exist_ok=True)
    branch = default_branch or getattr(repo, "default_branch", "main")
    proc = subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(path)], capture_output=True,
                          env=_env(), check=False)
    if proc.returncode:
        raise GitError(proc.stderr.decode(errors="replace"))


def refs(repo: Any, prefix: str = "refs/") -> dict[str, str]:
    """Full ref name -> sha for every ref under ``prefix``."""
    text = out(repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    result: dict[str, str] = {}
    for line in text.splitlines():
        name, _, sha = line.rpartition(" ")
        result[name] = sha
    return result


def branches(repo: Any) -> dict[str, str]:
    return {name[len("refs/heads/"):]: sha for name, sha in refs(repo, "refs/heads/").items()}


def ref_sha(repo: Any, ref: str) -> str | None:
    """The sha a full ref (``refs/heads/main``) points at, or None."""
    if not ref.startswith("refs/"):
        return None
    return refs(repo, ref).get(ref)


def branch_sha(repo: Any, branch: str) -> str | None:
    return refs(repo, f"refs/heads/{branch}").get(f"refs/heads/{branch}")


def resolve(repo: Any, rev: str, kind: str = "commit") -> str | None:
    """A revision (sha, short sha, branch, tag, ref) -> full sha of a ``kind`` object, or None."""
    if not rev or rev.startswith("-"):
        return None
    if ":" in rev:
        # "<tree-ish>:<path>": everything after the colon is a path, so no ^{kind} peeling.
        proc = run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", rev, ok=(0, 1, 128))
        text = proc.stdout.decode().strip()
        return text if proc.returncode == 0 and is_sha(text) and object_type(repo, text) == kind else None
    proc = run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{{kind}}}",
               ok=(0, 1, 128))
    text = proc.stdout.decode().strip()
    return text if proc.returncode == 0 and is_sha(text) else None


def object_type(repo: Any, sha: str) -> str | None:
    if not sha or sha.startswith("-"):
        return None
    proc = run(repo, "cat-file", "-t", sha, ok=(0, 1, 128))
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def update_ref(repo: Any, ref: str, new: str, old: str | None) -> None:
    """Point ``ref`` at ``new`` if it still holds ``old`` (None or ZERO_SHA = must not exist)."""
    proc = run(repo, "update-ref", "-m", "sandbox", ref, new, old or ZERO_SHA, ok=(0, 1, 128))
    if proc.returncode:
        raise RefConflict(proc.stderr.decode(errors="replace").strip())


def delete_ref(repo: Any, ref: str, old: str) -> None:
    proc = run(repo, "update-ref", "-d", ref, old, ok=(0, 1, 128))
    if proc.returncode:
        raise RefConflict(proc.stderr.decode(errors="replace").strip())


def is_ancestor(repo: Any, ancestor: str, descendant: str) -> bool:
    return run(repo, "merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1)).returncode == 0


def merge_base(repo: Any, a: str, b: str) -> str | None:
    proc = run(repo, "merge-base", a, b, ok=(0, 1))
    text = proc.stdout.decode().strip()
    return text if proc.returncode == 0 and text else None


@functools.lru_cache(maxsize=8192)
def _ahead_behind(key: str, base: str, head: str) -> tuple[int, int]:
    path = _path(key)
    text = out(path, "rev-list", "--left-right", "--count", f"{base}...{head}")
    behind, ahead = (int(x) for x in text.split())
    return ahead, behind


def ahead_behind(repo: Any, base: str, head: str) -> tuple[int, int]:
    """(ahead_by, behind_by) of ``head`` relative to ``base`` (commits only in head / only in base)."""
    return _ahead_behind(_key(repo), base, head)


def rev_list(repo: Any, *args: str) -> list[str]:
    return out(repo, "rev-list", *args).split()


# ---- objects ----------------------------------------------------------------------------

def read_object(repo: Any, sha: str) -> bytes:
    kind = object_type(repo, sha)
    if kind is None:
        raise GitError(f"no such object {sha}")
    return run(repo, "cat-file", kind, sha).stdout


def read_blob(repo: Any, sha: str) -> bytes:
    return run(repo, "cat-file", "blob", sha).stdout


def entry_at(repo: Any, rev: str, path: str) -> TreeEntry | None:
    """The tree entry at ``path`` in commit/tree ``rev`` ("" = the root tree itself)."""
    path = path.strip("/")
    if not path:
        tree = resolve(repo, rev, "tree")
        return TreeEntry("040000", "tree", tree, "") if tree else None
    proc = run(repo, "ls-tree", "-l", "-z", "--full-tree", rev, "--", path, ok=(0, 128))
    if proc.returncode:
        return None
    for entry in _parse_ls_tree(proc.stdout):
        if entry.path == path:
            return entry
    return None


def blob_at(repo: Any, rev: str, path: str) -> tuple[str, bytes] | None:
    """(blob sha, content) of the file at ``path`` in ``rev``, or None if absent / not a file."""
    entry = entry_at(repo, rev, path)
    if entry is None or entry.type != "blob":
        return None
    return entry.sha, read_blob(repo, entry.sha)


def _parse_ls_tree(raw: bytes) -> list[TreeEntry]:
    entries = []
    for record in raw.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        parts = meta.decode().split()
        mode, kind, sha = parts[0], parts[1], parts[2]
        size = int(parts[3]) if len(parts) > 3 and parts[3] != "-" else None
        entries.append(TreeEntry(mode, kind, sha, path.decode("utf-8", errors="surrogateescape"), size))
    return entries


def ls_tree(repo: Any, treeish: str, *, recursive: bool = False, path: str = "") -> list[TreeEntry]:
    """Entries of a tree (of a directory ``path`` inside it). Recursive lists trees too, like GitHub."""
    target = f"{treeish}:{path.strip('/')}" if path.strip("/") else treeish
    args = ["ls-tree", "-l", "-z"]
    if recursive:
        args += ["-r", "-t"]
    return _parse_ls_tree(run(repo, *args, target).stdout)


def write_blob(repo: Any, data: bytes) -> str:
    return out(repo, "hash-object", "-w", "--stdin", input=data).strip()


def write_tree(repo: Any, base_tree: str | None,
               changes: Mapping[str, tuple[str, str, str] | None]) -> str:
    """A new tree: ``base_tree`` (or empty) with ``changes`` applied.

    ``changes`` maps a path to ``(mode, type, sha)`` or None (delete the file or directory).
    A ``tree`` entry replaces the whole directory at that path with that tree's contents.
    """
    flat: dict[str, tuple[str, str]] = {}  # path -> (mode, sha) of every non-tree entry
    if base_tree:
        for e in ls_tree(repo, base_tree, recursive=True):
            if e.type != "tree":
                flat[e.path] = (e.mode, e.sha)
    for raw_path, change in changes.items():
        path = raw_path.strip("/")
        if not path:
            raise GitError("empty path in tree")
        _remove_under(flat, path)
        if change is None:
            continue
        mode, kind, sha = change
        # A file replaces any file standing where one of its parent directories must go.
        parts = path.split("/")
        for i in range(1, len(parts)):
            flat.pop("/".join(parts[:i]), None)
        if kind == "tree":
            for e in ls_tree(repo, sha, recursive=True):
                if e.type != "tree":
                    flat[f"{path}/{e.path}"] = (e.mode, e.sha)
        else:
            flat[path] = (mode, sha)
    return _tree_from_flat(repo, flat)


def _remove_under(flat: dict[str, tuple[str, str]], path: str) -> None:
    flat.pop(path, None)
    prefix = path + "/"
    for key in [k for k in flat if k.startswith(prefix)]:
        del flat[key]


def _tree_from_flat(repo: Any, flat: Mapping[str, tuple[str, str]]) -> str:
    if not flat:
        return out(repo, "mktree", input=b"").strip()
    with tempfile.TemporaryDirectory(prefix="sandbox-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        lines = b"".join(f"{mode} {sha}\t".encode() + path.encode("utf-8", errors="surrogateescape") + b"\0"
                         for path, (mode, sha) in sorted(flat.items()))
        run(repo, "update-index", "-z", "--index-info", input=lines, env=env)
        return out(repo, "write-tree", env=env).strip()


def commit_tree(repo: Any, tree: str, parents: Sequence[str], message: str, author: Ident,
                committer: Ident | None = None) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    env = ident_env(author, committer or author)
    return out(repo, *args, input=message.encode(), env=env).strip()


# ---- commits and history ----------------------------------------------------------------

_LOG_FORMAT = "%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B"


def _parse_log(raw: bytes) -> list[CommitInfo]:
    infos = []
    for record in raw.decode("utf-8", errors="replace").split("\0"):
        record = record.lstrip("\n")
        if not record:
            continue
        f = record.split("\x1f", 9)
        infos.append(CommitInfo(sha=f[0], tree=f[1], parents=tuple(f[2].split()),
                                author=Ident(f[3], f[4], f[5]), committer=Ident(f[6], f[7], f[8]),
                                message=f[9].rstrip("\n")))
    return infos


@functools.lru_cache(maxsize=8192)
def _commit_info(key: str, sha: str) -> CommitInfo:
    path = _path(key)
    infos = _parse_log(run(path, "log", "-z", "-1", "--no-walk", f"--format={_LOG_FORMAT}", sha,
                           "--").stdout)
    if not infos:
        raise GitError(f"no such commit {sha}")
    return infos[0]


def commit_info(repo: Any, sha: str) -> CommitInfo:
    """Metadata of one commit (``sha`` must be a full commit sha; use ``resolve`` first)."""
    return _commit_info(_key(repo), sha)


def log(repo: Any, revs: Sequence[str], *, paths: Sequence[str] = (), max_count: int | None = None,
        reverse: bool = False, topo: bool = True) -> list[CommitInfo]:
    """Commits reachable as ``git log revs -- paths`` (newest first unless ``reverse``)."""
    args = ["log", "-z", f"--format={_LOG_FORMAT}"]
    if topo:
        args.append("--topo-order")
    if reverse:
        args.append("--reverse")
    if max_count is not None:
        args.append(f"--max-count={max_count}")
    args += [*revs, "--", *paths]
    return _parse_log(run(repo, *args).stdout)


def commit_changes(repo: Any, sha: str) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, modified) paths of a commit against its first parent (push payloads)."""
    info = commit_info(repo, sha)
    base = info.parents[0] if info.parents else EMPTY_TREE
    raw = run(repo, "diff-tree", "-r", "-z", "--no-renames", "--name-status", base, sha).stdout
    items = [x.decode("utf-8", errors="replace") for x in raw.split(b"\0") if x]
    added, removed, modified = [], [], []
    for status, path in zip(items[::2], items[1::2], strict=False):
        {"A": added, "D": removed}.get(status[0], modified).append(path)
    return added, removed, modified


# ---- diffs ------------------------------------------------------------------------------

_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


@functools.lru_cache(maxsize=1024)
def _diff(key: str, a: str, b: str) -> tuple[FileDiff, ...]:
    path = _path(key)
    raw = run(path, "diff-tree", "-r", "-z", "-M", "--raw", a, b).stdout
    numstat = run(path, "diff-tree", "-r", "-z", "-M", "--numstat", a, b).stdout
    patch = run(path, "-c", "core.quotepath=false", "diff-tree", "-r", "-M", "-p", "--no-color",
                "--no-ext-diff", a, b).stdout.decode("utf-8", errors="replace")

    # --raw -z: ":m1 m2 s1 s2 STATUS\0path\0" (two paths for renames/copies)
    entries: list[tuple[str, str, str, str | None]] = []  # status, sha, path, old path
    fields = raw.split(b"\0")
    i = 0
    while i < len(fields) and fields[i]:
        meta = fields[i].decode().lstrip(":").split()
        status = meta[4][0]
        old_sha, new_sha = meta[2], meta[3]
        if status in "RC":
            old_path, new_path = fields[i + 1].decode(errors="replace"), fields[i + 2].decode(errors="replace")
            i += 3
        else:
            old_path, new_path = None, fields[i + 1].decode(errors="replace")
            i += 2
        sha = old_sha if status == "D" else new_sha
        entries.append((status, sha, new_path, old_path))

    # --numstat -z: "add\tdel\tpath\0" or "add\tdel\t\0old\0new\0"
    counts: list[tuple[int, int, bool]] = []
    fields = numstat.split(b"\0")
    i = 0
    while i < len(fields) and fields[i]:
        add, dele, rest = fields[i].decode(errors="replace").split("\t", 2)
        i += 1 if rest else 3
        binary = add == "-"
        counts.append((0 if binary else int(add), 0 if binary else int(dele), binary))

    sections = re.split(r"(?m)^(?=diff --git )", patch)
    sections = [s for s in sections if s.startswith("diff --git ")]
    diffs = []
    for n, (status, sha, new_path, old_path) in enumerate(entries):
        add, dele, binary = counts[n] if n < len(counts) else (0, 0, False)
        section = sections[n] if n < len(sections) else ""
        hunk_at = section.find("\n@@")
        hunk = section[hunk_at + 1:].rstrip("\n") if hunk_at >= 0 else None
        diffs.append(FileDiff(filename=new_path, status=_STATUS.get(status, "modified"), additions=add,
                              deletions=dele, sha=None if sha == ZERO_SHA else sha, patch=hunk,
                              previous_filename=old_path, binary=binary))
    return tuple(diffs)


def diff(repo: Any, a: str, b: str) -> list[FileDiff]:
    """Files changed from commit/tree ``a`` to ``b``, with line counts and per-file patches."""
    return list(_diff(_key(repo), a, b))


# ---- merges -----------------------------------------------------------------------------

@functools.lru_cache(maxsize=8192)
def _merge_trees(key: str, ours: str, theirs: str) -> MergeResult:
    path = _path(key)
    proc = run(path, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs,
               ok=(0, 1))
    parts = [p.decode("utf-8", errors="replace") for p in proc.stdout.split(b"\0") if p]
    tree = parts[0].strip()
    conflicts = tuple(dict.fromkeys(parts[1:])) if proc.returncode == 1 else ()
    return MergeResult(tree=tree, conflicts=conflicts or (("<unknown>",) if proc.returncode == 1 else ()))


def merge_trees(repo: Any, ours: str, theirs: str) -> MergeResult:
    """Three-way merge of two commits (their merge base is computed by git), no work tree."""
    return _merge_trees(_key(repo), ours, theirs)


def cherry_pick_tree(repo: Any, onto: str, commit: str) -> MergeResult:
    """The tree that replaying ``commit`` (a non-merge commit) on top of ``onto`` produces."""
    info = commit_info(repo, commit)
    if len(info.parents) != 1:
        raise GitError(f"cannot replay {commit}: it has {len(info.parents)} parents")
    parent = info.parents[0]
    onto_tree = commit_info(repo, onto).tree
    synth_env = dict(_SYNTHETIC_ENV)
    ours = out(repo, "commit-tree", onto_tree, "-p", parent, input=b"ours", env=synth_env).strip()
    theirs = out(repo, "commit-tree", info.tree, "-p", parent, input=b"theirs", env=synth_env).strip()
    return merge_trees(repo, ours, theirs)


def merge_commit(repo: Any, base: str, head: str, message: str, author: Ident,
                 committer: Ident | None = None) -> str:
    """A merge commit with parents (base, head); raises MergeConflict."""
    result = merge_trees(repo, base, head)
    if not result.clean:
        raise MergeConflict(result.conflicts)
    return commit_tree(repo, result.tree, [base, head], message, author, committer)


def squash_commit(repo: Any, base: str, head: str, message: str, author: Ident,
                  committer: Ident | None = None) -> str:
    """One commit on top of ``base`` whose tree is the merge of ``head``; raises MergeConflict."""
    result = merge_trees(repo, base, head)
    if not result.clean:
        raise MergeConflict(result.conflicts)
    return commit_tree(repo, result.tree, [base], message, author, committer)


def commits_to_replay(repo: Any, onto: str, head: str) -> list[str]:
    """Non-merge commits in ``onto..head``, oldest first (what ``git rebase onto`` replays)."""
    return rev_list(repo, "--reverse", "--topo-order", "--no-merges", f"{onto}..{head}")


def rebase(repo: Any, onto: str, head: str, committer: Ident | None = None) -> str:
    """Replay ``onto..head`` (merges dropped, like ``git rebase``) on ``onto``; new tip sha.

    Authors and messages are kept; the committer is ``committer`` (GitHub's web-flow identity
    by default). A commit that becomes empty is dropped, as ``git rebase`` does. Raises
    MergeConflict naming the files when a commit does not apply.
    """
    who = committer or Ident(*GITHUB_COMMITTER)
    tip = onto
    tip_tree = commit_info(repo, onto).tree
    for sha in commits_to_replay(repo, onto, head):
        info = commit_info(repo, sha)
        result = cherry_pick_tree(repo, tip, sha)
        if not result.clean:
            raise MergeConflict(result.conflicts, f"could not apply {sha[:7]}")
        if result.tree == tip_tree:
            continue
        tip = commit_tree(repo, result.tree, [tip], info.message, info.author, who)
        tip_tree = result.tree
    return tip


@functools.lru_cache(maxsize=4096)
def _rebaseable(key: str, onto: str, head: str) -> bool:
    path = _path(key)
    tip_tree = commit_info(path, onto).tree
    tip = onto
    synth_env = dict(_SYNTHETIC_ENV)
    for sha in commits_to_replay(path, onto, head):
        result = cherry_pick_tree(path, tip, sha)
        if not result.clean:
            return False
        if result.tree != tip_tree:
            tip = out(path, "commit-tree", result.tree, "-p", tip, input=b"replay", env=synth_env).strip()
            tip_tree = result.tree
    return True


def rebaseable(repo: Any, onto: str, head: str) -> bool:
    """Whether ``rebase(repo, onto, head)`` would succeed (computed without moving any ref)."""
    return _rebaseable(_key(repo), onto, head)


# ---- helpers for actors -----------------------------------------------------------------

def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def commit_files(repo: Any, branch: str, files: Mapping[str, str | bytes | None], message: str,
                 author_login: str | None = None, author_email: str | None = None, *, base: str | None = None,
                 author: str | None = None) -> str:
    """Commit ``files`` (path -> new content, None deletes) on top of ``branch``; returns the sha.

    Pure plumbing, no work tree. The branch moves with an old-value guard (RefConflict if
    someone else moved it meanwhile). A missing branch is created from ``base`` (a branch
    name or sha; default: the repository's default branch; a root commit if that is missing
    too). This does not announce the push: ``trunkline.sandbox.pushes.push_files`` does.

    ``branch`` may instead be a full commit sha: the commit is then made on top of it and no
    ref moves (the caller updates refs itself). ``author`` is an alias of ``author_login``.
    """
    login = author_login or author
    if not login:
        raise TypeError("commit_files() needs author_login")
    detached = is_sha(branch) and object_type(repo, branch) == "commit" and branch_sha(repo, branch) is None
    tip = branch if detached else branch_sha(repo, branch)
    if tip is None:
        start = base or getattr(repo, "default_branch", None)
        parent = resolve(repo, start) if start else None
        if base and parent is None:
            raise GitError(f"base {base!r} does not exist")
    else:
        parent = tip
    base_tree = commit_info(repo, parent).tree if parent else None
    changes: dict[str, tuple[str, str, str] | None] = {}
    for path, content in files.items():
        if content is None:
            changes[path] = None
            continue
        data = content.encode() if isinstance(content, str) else content
        changes[path] = ("100644", "blob", write_blob(repo, data))
    tree = write_tree(repo, base_tree, changes)
    who = Ident(login, author_email or noreply_email(login), now_iso())
    sha = commit_tree(repo, tree, [parent] if parent else [], message, who, who)
    if not detached:
        update_ref(repo, f"refs/heads/{branch}", sha, tip)
    return sha


def init_repo(repo: Any, files: Mapping[str, str | bytes], author: str, message: str = "Initial commit",
              branch: str | None = None) -> str:
    """Create the bare repository and commit ``files`` as the first commit of ``branch``."""
    init(repo)
    return commit_files(repo, branch or getattr(repo, "default_branch", "main"), files, message, author)


def init_from_folder(repo: Any, folder: str | Path, author: str | Ident,
                     message: str = "Initial commit", branch: str | None = None) -> str:
    """Commit every file under ``folder`` (honouring its .gitignore) to ``branch`` (default branch).

    Creates the bare repository if needed. If the branch exists the commit goes on top of it
    and replaces its whole tree with the folder's content.
    """
    init(repo)
    branch = branch or getattr(repo, "default_branch", "main")
    who = author if isinstance(author, Ident) else Ident(author, noreply_email(author), now_iso())
    with tempfile.TemporaryDirectory(prefix="sandbox-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        root = Path(folder).resolve()
        run(repo, f"--work-tree={root}", "add", "-A", "--", ".", env=env, cwd=root)
        tree = out(repo, "write-tree", env=env).strip()
    tip = branch_sha(repo, branch)
    sha = commit_tree(repo, tree, [tip] if tip else [], message, who, who)
    update_ref(repo, f"refs/heads/{branch}", sha, tip)
    return sha
