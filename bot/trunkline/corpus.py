"""Where the shared reference corpus lives (GitHub's REST description, octokit webhooks, ...)."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path:
    """``$TRUNKLINE_CORPUS``, else ``../shared/corpus`` beside the repository root."""
    env = os.environ.get("TRUNKLINE_CORPUS")
    if env:
        return Path(env)
    return (_REPO_ROOT.parent / "shared" / "corpus").resolve()


def rest_description_path() -> Path:
    return corpus_dir() / "github-rest" / "api.github.com.json"


def webhook_schemas_dir() -> Path:
    return corpus_dir() / "octokit-webhooks" / "payload-schemas" / "api.github.com"


def webhook_examples_dir() -> Path:
    return corpus_dir() / "octokit-webhooks" / "payload-examples" / "api.github.com"
