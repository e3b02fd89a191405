"""What happens when a ref moves: the ``push`` webhook and pull request synchronisation.

``install(world)`` registers ``on_push`` in ``world.push_listeners``; everything that moves a
ref calls ``world.notify_push(repo, ref, before, after, pusher)`` (routes, merges, actors).
On a push:

* the ``push`` event is emitted (octokit ``push/event`` schema);
* every open pull request whose head branch moved gets its ``head_sha`` updated and a
  ``pull_request.synchronize`` event (approvals are dismissed first when the base
  branch's protection says ``dismiss_stale_reviews``);
* pull requests whose base branch moved get no event (as on GitHub) — their mergeability
  is recomputed from git whenever it is read;
* a deleted head branch closes nothing: the pull request stays open with its last head sha.

The helpers at the bottom (``push_files``, ``move_branch``, ``delete_branch``, ``seed_repo``)
are for actors: they change git and announce it exactly like a real ``git push`` would.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import git
from .shapes.common import repository, user
from .shapes.pulls import pull_request, review, webhook_clean
from .shapes.repos import push_commit, push_repository, pusher
from .world import Repo, World, now

MAX_PUSH_COMMITS = 2048
FORK_HEADS = "refs/sandbox/fork-heads"  # where a parent repository keeps its forks' pull request heads
_INSTALLED = "_trunkline_pushes_installed"


def install(world: World) -> None:
    """Register the push listener on ``world`` (idempotent)."""
    with world.lock:
        if getattr(world, _INSTALLED, False):
            return
        setattr(world, _INSTALLED, True)

        def listener(repo: Repo, ref: str, before: str, after: str, who: str) -> None:
            on_push(world, repo, ref, before, after, who)

        world.push_listeners.append(listener)


def event_envelope(world: World, repo: Repo, sender: str, **payload: Any) -> dict[str, Any]:
    """``payload`` plus ``repository`` (webhook flavour) and ``sender``, cleaned for octokit's schemas.

    ``installation`` is added per receiving App by ``trunkline.sandbox.hooks``.
    """
    out = dict(payload)
    out.setdefault("repository", repository(world, repo, flavour="webhook"))
    out["sender"] = user(world, sender)
    return webhook_clean(out)


# ---- the push event ---------------------------------------------------------------------

def _pushed_commits(repo: Repo, ref: str, before: str, after: str) -> list[git.CommitInfo]:
    if after == git.ZERO_SHA:
        return []
    if before == git.ZERO_SHA:
        # A new ref lists the commits no other branch already has.
        others = [sha for name, sha in git.refs(repo, "refs/heads/").items() if name != ref]
        revs = [after] + [f"^{sha}" for sha in others]
    else:
        revs = [f"{before}..{after}"]
    return git.log(repo, revs, max_count=MAX_PUSH_COMMITS, reverse=True)


def push_payload(world: World, repo: Repo, ref: str, before: str, after: str, who: str) -> dict[str, Any]:
    """The ``push`` event for ``ref`` moving ``before`` -> ``after`` (ZERO_SHA = absent)."""
    created, deleted = before == git.ZERO_SHA, after == git.ZERO_SHA
    forced = not created and not deleted and not git.is_ancestor(repo, before, after)
    web = f"{world.web_url}/{repo.full_name}"
    if created:
        compare = f"{web}/compare/{quote(ref.split('/', 2)[-1])}"
    else:
        compare = f"{web}/compare/{before[:12]}...{after[:12]}"
    commits = _pushed_commits(repo, ref, before, after)
    head = None if deleted else push_commit(world, repo, git.commit_info(repo, after))
    return event_envelope(
        world, repo, who,
        ref=ref, before=before, after=after, created=created, deleted=deleted, forced=forced,
        base_ref=None, compare=compare,
        commits=[push_commit(world, repo, c) for c in commits],
        head_commit=head,
        repository=push_repository(world, repo),
        pusher=pusher(world, who),
    )


# ---- the listener -----------------------------------------------------------------------

def on_push(world: World, repo: Repo, ref: str, before: str, after: str, who: str) -> None:
    with world.lock:
        if git.object_type(repo, after) is not None or after == git.ZERO_SHA:
            world.emit("push", push_payload(world, repo, ref, before, after, who), repo=repo)
        if not ref.startswith("refs/heads/") or after == git.ZERO_SHA:
            return
        branch = ref[len("refs/heads/"):]
        for target in list(world.repos.values()):
            for pull in list(target.pulls.values()):
                issue = target.issues.get(pull.number)
                if issue is None or issue.state != "open" or pull.merged:
                    continue
                if pull.head_repo_id == repo.id and pull.head_ref == branch and pull.head_sha != after:
                    synchronize(world, target, pull.number, after, who)
                if target.id == repo.id and pull.base_ref == branch:
                    pull.base_sha = after


def mirror_fork_head(repo: Repo, pull: Any, src: Repo) -> None:
    """Fetch a fork's head branch into the parent repository (hidden ref) so git can compare it."""
    git.run(repo, "fetch", "--no-tags", "-q", str(src.path),
            f"+refs/heads/{pull.head_ref}:{FORK_HEADS}/{src.id}/{pull.head_ref}")


def copy_commit(src: Repo, dest: Repo, sha: str) -> None:
    """Make commit ``sha`` (and its history) of ``src`` available in ``dest``."""
    tmp = f"refs/sandbox/transfer/{sha}"
    git.update_ref(src, tmp, sha, None)
    try:
        git.run(dest, "fetch", "--no-tags", "-q", str(src.path), tmp)
    finally:
        git.delete_ref(src, tmp, sha)


def synchronize(world: World, repo: Repo, number: int, after: str, who: str) -> None:
    """Move a pull request's head to ``after`` and announce ``pull_request.synchronize``."""
    pull = repo.pulls[number]
    issue = repo.issues[number]
    if pull.head_repo_id != repo.id:
        mirror_fork_head(repo, pull, world.repo_by_id(pull.head_repo_id))
    old = pull.head_sha
    pull.head_sha = after
    issue.updated_at = now()
    prot = repo.protections.get(pull.base_ref)
    if prot is not None and prot.dismiss_stale_reviews:
        for rv in repo.reviews.values():
            if rv.pull_number == number and rv.state == "APPROVED":
                rv.state = "DISMISSED"
                world.emit("pull_request_review", event_envelope(
                    world, repo, who, action="dismissed", review=review(world, repo, rv, "webhook"),
                    pull_request=pull_request(world, repo, pull, "webhook_simple")), repo=repo)
    world.emit("pull_request", event_envelope(
        world, repo, who, action="synchronize", number=number, before=old, after=after,
        pull_request=pull_request(world, repo, pull, "webhook", mergeability_pending=True)), repo=repo)


# ---- helpers for actors -----------------------------------------------------------------

def push_files(world: World, repo: Repo, branch: str, files: Mapping[str, str | bytes | None], message: str,
               author: str, *, author_email: str | None = None, base: str | None = None) -> str:
    """Commit ``files`` on ``branch`` (created from ``base`` if missing) and announce the push."""
    install(world)
    with world.lock:
        before = git.branch_sha(repo, branch) or git.ZERO_SHA
        sha = git.commit_files(repo, branch, files, message, author, author_email, base=base)
        world.notify_push(repo, f"refs/heads/{branch}", before, sha, author)
        return sha


def move_branch(world: World, repo: Repo, branch: str, sha: str, who: str, *, force: bool = False) -> None:
    """Point ``branch`` at ``sha`` (create it if missing), like ``git push [--force]``."""
    install(world)
    with world.lock:
        before = git.branch_sha(repo, branch)
        if before and not force and not git.is_ancestor(repo, before, sha):
            raise git.RefConflict(f"{branch}: non-fast-forward update rejected")
        git.update_ref(repo, f"refs/heads/{branch}", sha, before)
        world.notify_push(repo, f"refs/heads/{branch}", before or git.ZERO_SHA, sha, who)


def delete_branch(world: World, repo: Repo, branch: str, who: str) -> None:
    install(world)
    with world.lock:
        before = git.branch_sha(repo, branch)
        if before is None:
            raise git.GitError(f"branch {branch} does not exist")
        git.delete_ref(repo, f"refs/heads/{branch}", before)
        world.notify_push(repo, f"refs/heads/{branch}", before, git.ZERO_SHA, who)


def seed_repo(world: World, owner: str, name: str, *, files: Mapping[str, str | bytes] | None = None,
              folder: str | Path | None = None, default_branch: str = "main", private: bool = False,
              author: str | None = None, message: str = "Initial commit") -> Repo:
    """Create a repository with a bare git repo and (optionally) an initial commit. No push event:
    on GitHub, a repository's initial content does not arrive as a webhook either."""
    install(world)
    with world.lock:
        repo = world.add_repo(owner, name, default_branch=default_branch, private=private)
        git.init(repo)
        who = author or owner
        if folder is not None:
            git.init_from_folder(repo, folder, who, message)
        if files:
            git.commit_files(repo, default_branch, files, message if folder is None else "Add files", who)
        return repo
