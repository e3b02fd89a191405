"""Local executor: a temporary checkout of the commit on the worker, the tier run there.

The checkout is materialised through the REST API (no git transport needed, so the sandbox and any
GitHub Enterprise work the same): ``GET /repos/{o}/{r}/git/trees/{sha}?recursive=1`` lists every file,
``GET /repos/{o}/{r}/git/blobs/{sha}`` fetches each one. Blobs are verified against their git SHA and
kept in a content-addressed cache, so the next commit of the same repository only fetches what changed.
File modes are kept (executables, symlinks — created last and never followed); submodules are not
fetched (noted in the result); paths that would leave the checkout, or write into ``.git``, are refused.

:func:`execute_tier` is shared with ``trunkline verify``: commands under the budget, then JUnit.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO
from urllib.parse import quote

from ..config import Tier
from ..junit import JUnitReport, read_junit
from ..result import TierResult, error_result, result_from_run
from ..runner import CancelToken, run_commands

FETCH_THREADS = 4
MAX_FILES = 100_000


class CheckoutError(RuntimeError):
    pass


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: str
    type: str
    sha: str


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's object id)


def safe_relpath(path: str) -> str | None:
    """``path`` if it is a plain relative path inside the checkout (no ``..``, not absolute, no ``.git``)."""
    if not path or "\0" in path or path.startswith("/") or "\\" in path:
        return None
    parts = PurePosixPath(path).parts
    if any(p in ("..", ".") or p.lower() == ".git" for p in parts):
        return None
    return "/".join(parts)


def _q(value: str) -> str:
    return quote(value, safe="")


def list_tree(client: Any, owner: str, repo: str, sha: str) -> list[TreeEntry]:
    """Every entry of the commit's tree (recursive; walks sub-trees when GitHub truncates the list)."""
    base = f"/repos/{_q(owner)}/{_q(repo)}/git/trees"
    _, data = client.request_json("GET", f"{base}/{_q(sha)}", parameters={"recursive": "1"})
    entries = [TreeEntry(e["path"], e["mode"], e["type"], e["sha"]) for e in data.get("tree", [])]
    if not data.get("truncated"):
        return entries
    # Truncated (very large trees): walk level by level.
    out: list[TreeEntry] = []
    todo = [("", data.get("sha") or sha)]
    while todo:
        prefix, tree_sha = todo.pop()
        _, level = client.request_json("GET", f"{base}/{_q(tree_sha)}")
        for e in level.get("tree", []):
            path = f"{prefix}{e['path']}"
            if e["type"] == "tree":
                todo.append((path + "/", e["sha"]))
            else:
                out.append(TreeEntry(path, e["mode"], e["type"], e["sha"]))
        if len(out) > MAX_FILES:
            raise CheckoutError(f"more than {MAX_FILES} files: too large for the local executor")
    return out


class BlobCache:
    """Blobs by git SHA under ``root`` (content-addressed, so sharing it between runs is safe)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def get(self, sha: str) -> bytes | None:
        if self.root is None:
            return None
        path = self.root / sha[:2] / sha
        try:
            data = path.read_bytes()
            os.utime(path)  # recently used: kept by prune()
        except OSError:
            return None
        return data if git_blob_sha(data) == sha else None

    def prune(self, max_age: float, now: float | None = None) -> int:
        """Remove blobs not used for ``max_age`` seconds; returns how many."""
        if self.root is None or not self.root.is_dir():
            return 0
        now = now if now is not None else time.time()
        removed = 0
        for path in self.root.glob("*/*"):
            try:
                if now - path.stat().st_mtime > max_age:
                    path.unlink()
                    removed += 1
            except OSError:
                pass
        return removed

    def put(self, sha: str, data: bytes) -> None:
        if self.root is None:
            return
        folder = self.root / sha[:2]
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{sha}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_bytes(data)
        os.replace(tmp, folder / sha)


def prune_checkouts(root: Path, max_age: float, now: float | None = None) -> int:
    """Remove checkout directories older than ``max_age`` (left by a worker that was killed mid-run;
    with ``max_age`` above the longest budget, no live run can own one)."""
    if not root.is_dir():
        return 0
    now = now if now is not None else time.time()
    removed = 0
    for path in root.iterdir():
        try:
            if path.is_dir() and now - path.stat().st_mtime > max_age:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except OSError:
            pass
    return removed


def materialise(client: Any, owner: str, repo: str, sha: str, dest: Path, *,
                cache: BlobCache | None = None, client_factory: Callable[[], Any] | None = None,
                cancel: CancelToken | None = None) -> list[str]:
    """Write the tree of commit ``sha`` into ``dest``; returns notes (e.g. skipped submodules).

    ``client_factory`` makes one client per fetching thread (HTTP clients are not shared between
    threads); without it blobs are fetched one after the other with ``client``."""
    cache = cache or BlobCache(None)
    notes: list[str] = []
    entries = list_tree(client, owner, repo, sha)
    files: list[tuple[TreeEntry, str]] = []
    for e in entries:
        rel = safe_relpath(e.path)
        if e.type == "tree":
            continue
        if e.type == "commit" or e.mode == "160000":
            notes.append(f"submodule {e.path} was not checked out")
            continue
        if rel is None:
            notes.append(f"skipped unsafe path {e.path!r}")
            continue
        files.append((e, rel))
    local = threading.local()

    def fetch(entry: TreeEntry) -> bytes:
        if cancel is not None and cancel.is_set():
            raise CheckoutError("cancelled")
        data = cache.get(entry.sha)
        if data is not None:
            return data
        c = client
        if client_factory is not None:
            c = getattr(local, "client", None) or client_factory()
            local.client = c
        _, blob = c.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/git/blobs/{_q(entry.sha)}")
        content = blob.get("content") or ""
        data = base64.b64decode(content) if blob.get("encoding", "base64") == "base64" else content.encode()
        if git_blob_sha(data) != entry.sha:
            raise CheckoutError(f"blob {entry.sha} for {entry.path} does not match its SHA")
        cache.put(entry.sha, data)
        return data

    threads = FETCH_THREADS if client_factory is not None else 1
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="trunkline-checkout") as pool:
        contents = list(pool.map(fetch, [e for e, _ in files]))
    root = dest.resolve()
    symlinks = []
    for (entry, rel), data in zip(files, contents, strict=True):
        target = root / rel
        if entry.mode == "120000":
            symlinks.append((target, data.decode("utf-8", errors="replace")))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(root):
            raise CheckoutError(f"{rel} would be written outside the checkout")
        target.write_bytes(data)
        if entry.mode == "100755":
            target.chmod(0o755)
    for target, link in symlinks:  # last: no file is ever written through a symlink
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent.resolve().is_relative_to(root) and not target.exists():
            target.symlink_to(link)
    return notes


def execute_tier(tier: Tier, cwd: str | Path, *, env: Mapping[str, str], cancel: CancelToken | None = None,
                 grace: float = 5.0, echo: TextIO | None = None, log_path: str | Path | None = None,
                 on_start: Callable[[int], None] | None = None, marker: str | None = None,
                 sha: str | None = None, notes: list[str] | None = None) -> TierResult:
    """Run the tier's commands in ``cwd`` within its budget and read its JUnit reports."""
    run_env = {**env, **tier.env}
    outcome = run_commands(tier.commands, cwd=cwd, budget=tier.budget, env=run_env, cancel=cancel, grace=grace,
                           log_path=log_path, echo=echo, marker=marker, on_start=on_start)
    notes = list(notes or [])
    junit: JUnitReport | None = None
    if tier.junit:
        junit = read_junit(cwd, tier.junit)
        if not junit.found and outcome.stopped is None:
            notes.append(f"no JUnit report matched `{tier.junit}`")
    artifacts = {}
    for kind in ("coverage", "benchmark"):
        path = getattr(tier, kind)
        if path:
            if (Path(cwd) / path).is_file():
                artifacts[kind] = path
            elif outcome.stopped is None:
                notes.append(f"{kind} artifact `{path}` was not produced")
    return result_from_run(tier, outcome, junit, sha=sha, notes=notes, artifacts=artifacts)


def run_in_checkout(tier: Tier, client: Any, owner: str, repo: str, sha: str, *, env: Mapping[str, str],
                    cancel: CancelToken, work_root: Path, cache_dir: Path | None = None, grace: float = 5.0,
                    on_start: Callable[[int], None] | None = None, marker: str | None = None,
                    client_factory: Callable[[], Any] | None = None, log_path: Path | None = None) -> TierResult:
    """Check ``sha`` out in a fresh temporary directory, run the tier, remove the directory (the log
    goes to ``log_path``, which is kept, or into the directory)."""
    work_root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    checkout = Path(tempfile.mkdtemp(prefix=f"{tier.name}-{sha[:8]}-", dir=work_root))
    try:
        try:
            notes = materialise(client, owner, repo, sha, checkout / "src", cache=BlobCache(cache_dir),
                                client_factory=client_factory, cancel=cancel)
        except CheckoutError as exc:
            if cancel.is_set():
                return _cancelled(tier, sha, cancel, time.monotonic() - started)
            return error_result(tier, f"checkout of {sha[:12]} failed: {exc}", sha=sha,
                                duration=time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - GitHub errors, disk errors: the check must say so
            return error_result(tier, f"checkout of {sha[:12]} failed: {type(exc).__name__}: {exc}", sha=sha,
                                duration=time.monotonic() - started)
        if cancel.is_set():
            return _cancelled(tier, sha, cancel, time.monotonic() - started)
        home = checkout / "home"
        home.mkdir()
        run_env = {**env, "HOME": str(home), "TMPDIR": str(checkout / "tmp"), "CI": "true",
                   "TRUNKLINE_TIER": tier.name, "TRUNKLINE_SHA": sha}
        (checkout / "tmp").mkdir()
        return execute_tier(tier, checkout / "src", env=run_env, cancel=cancel, grace=grace,
                            log_path=log_path or checkout / "tier.log", on_start=on_start, marker=marker, sha=sha,
                            notes=notes)
    finally:
        shutil.rmtree(checkout, ignore_errors=True)


def _cancelled(tier: Tier, sha: str, cancel: CancelToken, duration: float) -> TierResult:
    return TierResult(tier.name, "cancelled", tier.required, tier.budget, round(duration, 3), sha=sha,
                      reason=cancel.reason or "cancelled")
