"""In-process caches that keep REST calls per pull request low: branch protection and the resolved config.

Both are read for every evaluation of every pull request but change rarely, so each is kept for a
short time (``TTL`` seconds) per repository (and base branch), and dropped early when this process
sees something that may have changed it.

Why a stale entry cannot cause an unsafe merge:

* **protection** — GitHub itself enforces branch protection when merging: a merge the stale
  protection allowed is refused with 405, after which the entry is dropped and the pull request is
  evaluated again with fresh protection (see ``service``).
* **config** — ``merge.required_checks`` are enforced only by Trunkline, so the config entry is
  dropped whenever the default branch's configuration may have changed: a push to the default branch
  that touches the config file (or whose file list is unknown), and every merge Trunkline makes of a
  pull request that changes the config file (the ``trunkline/config`` check notes, per head SHA,
  whether the pull request changes it; unknown counts as "changes it"). Other processes (scale-out
  workers) only see the TTL, which bounds how long a config change can go unnoticed there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trunkline.config.model import CONFIG_PATH

TTL = 60.0
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
protection_cache = TTLCache()
#: repo full name lower -> (ResolvedConfig, text of the repository's own config file or None)
config_cache = TTLCache()
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


def after_merge(owner: str, repo: str, head_sha: str) -> None:
    """Trunkline merged the pull request whose head was ``head_sha``."""
    if _changes_config.get((_repo(owner, repo), head_sha)) is not False:
        forget_config(owner, repo)


def after_push(owner: str, repo: str, to_default_branch: bool, touched: list[str] | None) -> None:
    """Someone pushed; ``touched`` = files the push changed (None when unknown, e.g. a forced push)."""
    if not to_default_branch:
        return
    if touched is None or CONFIG_PATH in touched:
        forget_config(owner, repo)


def clear_all() -> None:
    protection_cache.clear()
    config_cache.clear()
    _changes_config.clear()


def resolved_config(client: Any, owner: str, repo: str) -> tuple[Any, str | None]:
    """``(ResolvedConfig, own config text)`` for ``owner/repo`` (cached; see the module docstring).

    ``client`` is the installation client (``trunkline.github.InstallationClient``). The text of the
    repository's own ``.github/trunkline.yml`` on the default branch comes back too, so a caller
    comparing it with a pull request's version needs no second request."""
    from trunkline.config.resolve import resolve_config
    from trunkline.github.contents import default_branch_fetch

    key = _repo(owner, repo)
    hit = config_cache.get(key)
    if hit is not None:
        return hit
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
    value = (resolved, own["text"])
    config_cache.put(key, value)
    return value
