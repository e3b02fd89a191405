"""The example service (``examples/service``) in a throwaway git repository, with bad versions.

``seed_repo(path)`` builds a repository whose ``main`` holds the good service, plus one branch per
change in :data:`CHANGES`, each a real code change on top of ``main``:

``good2``       a harmless release (VERSION 1.0.1): a canary that should promote;
``bad-health``  the build expects storage schema 3, which no migration creates: ``/health`` answers 500;
``slow``        audit records are flushed before answering: every request takes ``slow_ms`` longer.

Tests, the demo and ``bench/canary.py`` deploy these; :func:`apply_change` makes the same edit in
any checkout (e.g. to commit it on a sandbox pull request).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

#: examples/ in the Trunkline checkout this package is installed from (editable installs).
EXAMPLES_DIR = Path(__file__).resolve().parents[4] / "examples"
SERVICE_FILES = ("__init__.py", "app.py", "audit.py", "health.py", "store.py", "openapi.yaml", "asyncapi.yaml")
GIT_IDENTITY = ("-c", "user.name=Trunkline Example", "-c", "user.email=example@trunkline.invalid",
                "-c", "commit.gpgsign=false")


def service_dir() -> Path:
    path = EXAMPLES_DIR / "service"
    if not (path / "app.py").exists():
        raise FileNotFoundError(f"the example service is not at {path} (it ships in Trunkline's source "
                                "checkout, not in the wheel)")
    return path


def copy_service(root: Path) -> None:
    """Write examples/__init__.py and examples/service/ into the checkout at ``root``."""
    source = service_dir()
    target = Path(root) / "examples" / "service"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLES_DIR / "__init__.py", target.parent / "__init__.py")
    for name in SERVICE_FILES:
        shutil.copyfile(source / name, target / name)


def _replace(root: Path, relative: str, old: str, new: str) -> None:
    path = Path(root) / relative
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise ValueError(f"{relative} does not contain {old!r}: the example service changed, update CHANGES")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _good2(root: Path, **_: object) -> None:
    _replace(root, "examples/service/__init__.py", 'VERSION = "1.0.0"', 'VERSION = "1.0.1"')


def _bad_health(root: Path, **_: object) -> None:
    _replace(root, "examples/service/health.py", "EXPECTED_SCHEMA = 2", "EXPECTED_SCHEMA = 3")


def _slow(root: Path, slow_ms: int = 80, **_: object) -> None:
    _replace(root, "examples/service/audit.py", "FLUSH_DELAY_MS = 0", f"FLUSH_DELAY_MS = {int(slow_ms)}")


#: name -> (branch, commit message, edit)
CHANGES: dict[str, tuple[str, str, Callable[..., None]]] = {
    "good2": ("good2", "widgets 1.0.1", _good2),
    "bad_health": ("bad-health", "health: require storage schema 3", _bad_health),
    "slow": ("slow", "audit: flush each record before answering", _slow),
}


def apply_change(root: Path, name: str, *, slow_ms: int = 80) -> str:
    """Make change ``name`` (a key of :data:`CHANGES`) in the checkout at ``root``; its commit message."""
    if name not in CHANGES:
        raise KeyError(f"unknown change {name!r}; known: {', '.join(CHANGES)}")
    _branch, message, edit = CHANGES[name]
    edit(Path(root), slow_ms=slow_ms)
    return message


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *GIT_IDENTITY, *args], cwd=root, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def seed_repo(path: Path, *, slow_ms: int = 80) -> dict[str, str]:
    """A new git repository at ``path`` with the good service on ``main`` and a branch per change.

    Returns ``{"good": sha, "good2": sha, "bad_health": sha, "slow": sha}`` (branches ``main``,
    ``good2``, ``bad-health``, ``slow``).
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "--quiet", "--initial-branch=main")
    copy_service(root)
    (root / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    _git(root, "add", "--all")
    _git(root, "commit", "--quiet", "-m", "widgets example service 1.0.0")
    shas = {"good": _git(root, "rev-parse", "HEAD")}
    for name, (branch, message, edit) in CHANGES.items():
        _git(root, "checkout", "--quiet", "-b", branch, "main")
        edit(root, slow_ms=slow_ms)
        _git(root, "commit", "--quiet", "--all", "-m", message)
        shas[name] = _git(root, "rev-parse", "HEAD")
        _git(root, "checkout", "--quiet", "main")
    return shas


__all__ = ["CHANGES", "EXAMPLES_DIR", "apply_change", "copy_service", "seed_repo", "service_dir"]
