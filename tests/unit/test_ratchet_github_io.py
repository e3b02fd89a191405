"""Writing raised floors through PyGithub against the sandbox GitHub: guarded commits, update PRs, checkouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.ratchets.github_io import branch_protected, commit_file, open_update_pr, update_branch_name
from trunkline.ratchets.workspace import BASE_BRANCH, materialise
from trunkline.sandbox import git as sgit
from trunkline.sandbox.actors import Sandbox

pytestmark = pytest.mark.slow  # subprocesses / servers / node: tier 1 (make verify-fast skips it)

PATH = ".github/trunkline-ratchets.yml"
TEXT = "# floors\nversion: 1\nmetrics:\n  coverage:\n    kind: coverage\n    floor: 80   # raised\n"


@pytest.fixture
def sandbox(tmp_path: Path):
    with Sandbox(tmp_path / "sandbox") as sb:
        sb.create_repo("acme", "calc", files={PATH: TEXT, "calc/__init__.py": "X = 1\n"})
        app = sb.create_app("tl", owner="acme", webhook_url=None, secret="s")
        sb.install(app, "acme")
        sb.grant("acme/calc", "dev", "write")
        yield sb, sb.github_for_installation(app, "acme/calc").get_repo("acme/calc")


def tip(sb: Sandbox) -> str:
    return sgit.branch_sha(sb.repo("acme/calc"), "main")


def test_commit_on_top_of_the_measured_commit_only(sandbox) -> None:  # noqa: ANN001
    sb, repository = sandbox
    measured = tip(sb)
    raised = TEXT.replace("floor: 80 ", "floor: 85 ")
    result = commit_file(repository, "main", measured, PATH, raised, "ratchets: raise floors after x")
    assert result.outcome == "committed" and tip(sb) == result.sha
    assert sgit.out(sb.repo("acme/calc"), "rev-parse", f"{result.sha}^").strip() == measured
    assert sgit.out(sb.repo("acme/calc"), "show", f"main:{PATH}") == raised
    assert sgit.out(sb.repo("acme/calc"), "show", "main:calc/__init__.py") == "X = 1\n"

    # the branch moved on since `measured`: nothing is written
    again = commit_file(repository, "main", measured, PATH, TEXT.replace("80", "90"), "late")
    assert again.outcome == "moved" and tip(sb) == result.sha


def test_update_pull_request_is_opened_once_with_the_label(sandbox) -> None:  # noqa: ANN001
    sb, repository = sandbox
    assert not branch_protected(repository, "main")
    sb.protect("acme/calc", "main")
    assert branch_protected(repository, "main")
    # an existing label (the sandbox lists auto-created labels with a null description, which GitHub's
    # REST description does not allow in pull request listings)
    repository.create_label("auto-merge", "0e8a16", description="merge when green")
    measured = tip(sb)
    raised = TEXT.replace("floor: 80 ", "floor: 85 ")
    first = open_update_pr(repository, "main", measured, PATH, raised, "ratchets: raise floors", "body", "auto-merge")
    assert first.outcome == "pull_request" and first.number is not None
    pull = sb.repo("acme/calc").pulls[first.number]
    assert pull.head_ref == update_branch_name(measured) and pull.base_ref == "main"
    assert "auto-merge" in sb.repo("acme/calc").issues[first.number].labels
    assert tip(sb) == measured  # main itself untouched
    second = open_update_pr(repository, "main", measured, PATH, raised, "ratchets: raise floors", "body", "auto-merge")
    assert (second.outcome, second.number, second.sha) == ("exists", first.number, first.sha)


def test_materialise_builds_base_and_head_commits(sandbox, tmp_path: Path) -> None:  # noqa: ANN001
    sb, repository = sandbox
    base = tip(sb)
    head = sb.push("acme/calc", "topic", {"calc/__init__.py": "X = 2\n", "calc/new.py": "Y = 1\n"}, "work",
                   as_user="dev")
    root = tmp_path / "checkout"
    materialise(repository, root, base_sha=base, head_sha=head)
    diff = sgit_run(root, "diff", "--name-only", f"{BASE_BRANCH}...HEAD")
    assert diff.split() == ["calc/__init__.py", "calc/new.py"]
    assert (root / "calc/__init__.py").read_text() == "X = 2\n" and (root / PATH).read_text() == TEXT


def sgit_run(root: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout
