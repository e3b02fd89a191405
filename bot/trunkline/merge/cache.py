"""In-process caches that keep REST calls per pull request low: branch protection and the resolved config.

Both are read for every evaluation of every pull request but change rarely.

**Protection** is kept :data:`PROTECTION_TTL` seconds per repository and base branch. A stale entry
cannot cause an unsafe merge: GitHub itself enforces branch protection when merging, so a merge the
stale entry allowed is refused with 405, after which the entry is dropped and the pull request is
evaluated again with fresh protection (see ``service``).

**Config** (``merge.required_checks`` is enforced only by Trunkline) is kept per repository together
with the default branch's head SHA it was read at, when the caller knows it (webhooks about pull
requests into the default branch carry it as ``base.sha``):

* an entry is used while it is younger than :data:`CONFIG_TTL`, or — when the caller knows the
  default branch's current head SHA and it is the entry's — younger than :data:`CONFIG_TTL_PINNED`
  (the repository's own file cannot differ at the same commit; the longer cap only bounds changes
  to the organisation's ``<owner>/.github`` defaults that this process did not see);
* it is dropped when this process sees the default branch move with a change to the config file (a
  push touching it, or with an unknown file list), and when Trunkline merges a pull request that
  changes the file (the ``trunkline/config`` check notes, per head SHA, whether the pull request
  changes it; unknown counts as "changes it");
* when the default branch moves *without* touching the file (a push whose commits do not touch it,
  or our merge of a pull request that does not), the entry moves along to the new head SHA.

Another process's changes are noticed through the head SHA no longer matching, or the TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trunkline.config.model import CONFIG_PATH

TTL = 60.0
PROTECTION_TTL = 300.0
CONFIG_TTL = 60.0
CONFIG_TTL_PINNED = 600.0
_MAX_ENTRIES = 4096


@dataclass
class _Entry:
    value: Any
    at: float


class TTLCache:
    """A small thread-safe map whose entries expire ``ttl`` seconds after they were stored."""

    def __init__(self, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._data: dict[Any, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if self.clock() - entry.at >= self.ttl:
                del self._data[key]
                return None
            return entry.value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._data) >= _MAX_ENTRIES:  # bounded: drop the oldest half
                for old in sorted(self._data, key=lambda k: self._data[k].at)[: _MAX_ENTRIES // 2]:
                    del self._data[old]
            self._data[key] = _Entry(value, self.clock())

    def drop(self, predicate: Callable[[Any], bool]) -> int:
        with self._lock:
            keys = [k for k in self._data if predicate(k)]
            for key in keys:
                del self._data[key]
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


#: (repo full name lower, base branch) -> ProtectionInfo
protection_cache = TTLCache(ttl=PROTECTION_TTL)
#: repo full name lower -> _ConfigEntry (expiry decided by _config_valid, not by the TTLCache)
config_cache = TTLCache(ttl=CONFIG_TTL_PINNED)


@dataclass
class _ConfigEntry:
    resolved: Any
    text: str | None  # the repository's own .github/trunkline.yml on the default branch (None: absent)
    branch_sha: str | None  # default branch head it was read at, when known
    at: float


def _config_valid(entry: _ConfigEntry, default_sha: str | None, now: float) -> bool:
    age = now - entry.at
    if age < CONFIG_TTL:
        return True
    return default_sha is not None and entry.branch_sha == default_sha and age < CONFIG_TTL_PINNED
#: (repo full name lower, head sha) -> whether that pull request head changes the config file
_changes_config = TTLCache(ttl=24 * 3600.0)


def _repo(owner: str, repo: str) -> str:
    return f"{owner}/{repo}".lower()


def forget_protection(owner: str, repo: str, base: str | None = None) -> None:
    key = _repo(owner, repo)
    protection_cache.drop(lambda k: k[0] == key and (base is None or k[1] == base))


def forget_config(owner: str, repo: str) -> None:
    key = _repo(owner, repo)
    # An org-wide config (<owner>/.github) change affects every repository of that owner.
    if repo.lower() == ".github":
        prefix = owner.lower() + "/"
        config_cache.drop(lambda k: k.startswith(prefix))
    config_cache.drop(lambda k: k == key)


def note_head_changes_config(owner: str, repo: str, head_sha: str, changes: bool) -> None:
    """Recorded by the ``trunkline/config`` check: does this pull request head change the config file?"""
    _changes_config.put((_repo(owner, repo), head_sha), bool(changes))


def after_merge(owner: str, repo: str, head_sha: str, base_sha: str | None = None,
                merge_sha: str | None = None) -> None:
    """Trunkline merged the pull request whose head was ``head_sha`` onto ``base_sha``, making ``merge_sha``."""
    if _changes_config.get((_repo(owner, repo), head_sha)) is not False:
        forget_config(owner, repo)
    elif base_sha and merge_sha:
        _move_config(owner, repo, base_sha, merge_sha)


def after_push(owner: str, repo: str, to_default_branch: bool, touched: list[str] | None,
               before: str | None = None, after: str | None = None) -> None:
    """Someone pushed; ``touched`` = files the push changed (None when unknown, e.g. a forced push)."""
    if not to_default_branch:
        return
    if touched is None or CONFIG_PATH in touched:
        forget_config(owner, repo)
    elif before and after:
        _move_config(owner, repo, before, after)


def _move_config(owner: str, repo: str, before: str, after: str) -> None:
    entry = config_cache.get(_repo(owner, repo))
    if entry is not None and entry.branch_sha == before:
        entry.branch_sha = after


def clear_all() -> None:
    protection_cache.clear()
    config_cache.clear()
    _changes_config.clear()


def resolved_config(client: Any, owner: str, repo: str, default_sha: str | None = None) -> tuple[Any, str | None]:
    """``(ResolvedConfig, own config text)`` for ``owner/repo`` (cached; see the module docstring).

    ``client`` is the installation client (``trunkline.github.InstallationClient``); ``default_sha``
    the default branch's head SHA when the caller knows it (see :func:`default_sha_hint`). The text of
    the repository's own ``.github/trunkline.yml`` on the default branch comes back too, so a caller
    comparing it with a pull request's version needs no second request."""
    from trunkline.config.resolve import resolve_config
    from trunkline.github.contents import default_branch_fetch

    key = _repo(owner, repo)
    entry = config_cache.get(key)
    if entry is not None and _config_valid(entry, default_sha, time.monotonic()):
        return entry.resolved, entry.text
    fetch = default_branch_fetch(client.github)
    own: dict[str, str | None] = {}

    def recording(o: str, r: str, path: str) -> str | None:
        text = fetch(o, r, path)
        if (o.lower(), r.lower(), path) == (owner.lower(), repo.lower(), CONFIG_PATH):
            own["text"] = text
        return text

    resolved = resolve_config(owner, repo, recording)
    if "text" not in own:  # the resolver did not read the repository's own file (it always should)
        own["text"] = fetch(owner, repo, CONFIG_PATH)
    config_cache.put(key, _ConfigEntry(resolved, own["text"], default_sha, time.monotonic()))
    return resolved, own["text"]


def default_sha_hint(payload: Any) -> str | None:
    """The default branch's head SHA as a webhook payload states it, when it does: the ``base.sha`` of
    a pull request (or of a check run's/suite's pull requests) whose base is the default branch."""
    repository = getattr(payload, "repository", None)
    default = getattr(repository, "default_branch", None)
    if not default:
        return None
    pulls = []
    if getattr(payload, "pull_request", None) is not None:
        pulls.append(payload.pull_request)
    for holder in ("check_run", "check_suite"):
        obj = getattr(payload, holder, None)
        pulls.extend(getattr(obj, "pull_requests", None) or [])
    for pull in pulls:
        base = getattr(pull, "base", None)
        if base is not None and base.ref == default and base.sha:
            return str(base.sha)
    return None
