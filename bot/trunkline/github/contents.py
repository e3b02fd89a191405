"""Reading files from a repository's default branch (config, baselines) through PyGithub."""

from __future__ import annotations

from collections.abc import Callable

import github
from github.GithubException import GithubException, UnknownObjectException

Fetch = Callable[[str, str, str], str | None]


def default_branch_fetch(gh: github.Github) -> Fetch:
    """``fetch(owner, repo, path)`` -> the file's text on the default branch, or None when absent.

    No ``ref`` is passed, so GitHub answers from the default branch: a pull request can never
    change the configuration that gates it.
    """

    def fetch(owner: str, repo: str, path: str) -> str | None:
        return file_text(gh, owner, repo, path, ref=None)

    return fetch


def file_text(gh: github.Github, owner: str, repo: str, path: str, ref: str | None) -> str | None:
    """A file's decoded text at ``ref`` (default branch when None); None when it does not exist."""
    try:
        repository = gh.get_repo(f"{owner}/{repo}", lazy=True)
        content = repository.get_contents(path, ref=ref) if ref else repository.get_contents(path)
    except UnknownObjectException:
        return None
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    if isinstance(content, list):  # a directory
        return None
    return content.decoded_content.decode("utf-8", errors="replace")
