"""The config/protection caches: when an entry is reused, moved along, or dropped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trunkline.merge import cache

CONFIG = "version: 1\nmerge:\n  required_checks: [ci]\n"


class Client:
    """An installation client whose only use here is ``default_branch_fetch(client.github)``."""

    def __init__(self, files: dict[tuple[str, str], str]) -> None:
        self.files = files
        self.reads: list[tuple[str, str, str]] = []
        outer = self

        class Repo:
            def __init__(self, full: str) -> None:
                self.full = full

            def get_contents(self, path: str, ref: str | None = None):  # noqa: ANN201
                from github.GithubException import UnknownObjectException

                outer.reads.append((self.full, path, ref or ""))
                text = outer.files.get((self.full, path))
                if text is None:
                    raise UnknownObjectException(404, {"message": "Not Found"}, {})
                return SimpleNamespace(decoded_content=text.encode())

        self.github = SimpleNamespace(get_repo=lambda full, lazy=True: Repo(full))


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch):
    cache.clear_all()
    now = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    yield now
    cache.clear_all()


def test_reused_within_ttl_then_refetched(_clean) -> None:
    client = Client({("acme/w", ".github/trunkline.yml"): CONFIG})
    resolved, text = cache.resolved_config(client, "acme", "w")
    assert resolved.ok and resolved.config.merge.required_checks == ["ci"] and text == CONFIG
    reads = len(client.reads)
    assert reads >= 2  # the org defaults (acme/.github) and the repository's own file
    cache.resolved_config(client, "acme", "w")
    assert len(client.reads) == reads
    _clean[0] += cache.CONFIG_TTL + 1
    cache.resolved_config(client, "acme", "w")
    assert len(client.reads) == 2 * reads


def test_pinned_to_the_default_branch_head_and_moved_along_unrelated_changes(_clean) -> None:
    client = Client({("acme/w", ".github/trunkline.yml"): CONFIG})
    cache.resolved_config(client, "acme", "w", "sha1")
    reads = len(client.reads)
    _clean[0] += cache.CONFIG_TTL + 1
    cache.resolved_config(client, "acme", "w", "sha1")  # same head: still valid past the short TTL
    assert len(client.reads) == reads
    cache.note_head_changes_config("acme", "w", "head-a", False)
    cache.after_merge("acme", "w", "head-a", "sha1", "sha2")  # our merge did not touch the file
    cache.after_push("acme", "w", True, ["src/x.py"], "sha2", "sha3")  # neither did this push
    cache.resolved_config(client, "acme", "w", "sha3")
    assert len(client.reads) == reads
    cache.resolved_config(client, "acme", "w", "sha-unknown")  # moved in a way we did not see
    assert len(client.reads) == 2 * reads
    _clean[0] += cache.CONFIG_TTL_PINNED + 1
    cache.resolved_config(client, "acme", "w", "sha-unknown")  # the pinned entry has a cap too
    assert len(client.reads) == 3 * reads


@pytest.mark.parametrize("how", ["merge-changes-config", "merge-unknown", "push-touches", "push-unknown",
                                 "org-push"])
def test_dropped_when_the_config_may_have_changed(_clean, how: str) -> None:
    client = Client({("acme/w", ".github/trunkline.yml"): CONFIG})
    cache.resolved_config(client, "acme", "w", "sha1")
    reads = len(client.reads)
    if how == "merge-changes-config":
        cache.note_head_changes_config("acme", "w", "head-b", True)
        cache.after_merge("acme", "w", "head-b", "sha1", "sha2")
    elif how == "merge-unknown":
        cache.after_merge("acme", "w", "head-never-checked", "sha1", "sha2")
    elif how == "push-touches":
        cache.after_push("acme", "w", True, [".github/trunkline.yml"], "sha1", "sha2")
    elif how == "push-unknown":
        cache.after_push("acme", "w", True, None, "sha1", "sha2")
    else:
        cache.after_push("acme", ".github", True, None, "x", "y")
    cache.resolved_config(client, "acme", "w", "sha1")
    assert len(client.reads) == 2 * reads


def test_pushes_to_other_branches_change_nothing(_clean) -> None:
    client = Client({("acme/w", ".github/trunkline.yml"): CONFIG})
    cache.resolved_config(client, "acme", "w", "sha1")
    reads = len(client.reads)
    cache.after_push("acme", "w", False, None, "a", "b")
    cache.resolved_config(client, "acme", "w", "sha1")
    assert len(client.reads) == reads


def test_default_sha_hint_only_for_pull_requests_into_the_default_branch() -> None:
    def payload(base_ref: str) -> SimpleNamespace:
        return SimpleNamespace(repository=SimpleNamespace(default_branch="main"),
                               pull_request=SimpleNamespace(base=SimpleNamespace(ref=base_ref, sha="s1")))

    assert cache.default_sha_hint(payload("main")) == "s1"
    assert cache.default_sha_hint(payload("release")) is None
    run = SimpleNamespace(repository=SimpleNamespace(default_branch="main"), check_run=SimpleNamespace(
        pull_requests=[SimpleNamespace(base=SimpleNamespace(ref="main", sha="s2"))]))
    assert cache.default_sha_hint(run) == "s2"
    assert cache.default_sha_hint(SimpleNamespace(repository=None)) is None
