"""Pull requests: GitHub's REST routes and the world-level operations behind them.

The operations (``open_pull``, ``edit_pull``, ``set_pull_state``, ``mark_ready``,
``convert_to_draft``, ``submit_review``, ``merge_pull``, ``update_branch``) hold the
behaviour and emit the webhooks; routes parse, authorise and call them. Actors that do not go
through HTTP may call them directly (they take ``world.lock`` themselves). They raise
``GitHubError`` with GitHub's status and message when GitHub would refuse.

Merging is all-or-nothing: the new commit is built first, then the base ref moves with an
old-value guard while ``world.lock`` is held, so a merge racing with a push to the base
either lands on the tip it was computed from or fails with 409 — never loses a commit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from .. import git, pushes
from ..http import (
    GitHubError,
    actor_login,
    get_repo,
    not_found,
    paginate,
    principal_of,
    require_write,
    validation_failed,
    world_of,
)
from ..pushes import event_envelope
from ..shapes import pulls as shapes
from ..shapes import repos as repo_shapes
from ..world import Issue, Pull, Repo, Review, World, now
from .repos import _body, ensure_git

router = APIRouter()

MERGE_METHODS = ("merge", "squash", "rebase")
HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."
EXPECTED_HEAD = "expected head sha didn't match current head ref."
MAX_PULL_COMMITS = 250
MAX_PULL_FILES = 3000


# ============================================================================ world-level behaviour

def _emit_pull(world: World, repo: Repo, pull: Pull, action: str, sender: str, *, pending: bool = False,
               **extra: Any) -> None:
    pr = shapes.pull_request(world, repo, pull, "webhook", mergeability_pending=pending)
    world.emit("pull_request", event_envelope(world, repo, sender, action=action, number=pull.number,
                                              pull_request=pr, **extra), repo=repo)


def _custom(message: str) -> GitHubError:
    """422 "Validation Failed" with one custom error, as GitHub refuses a pull request it cannot open."""
    return GitHubError(422, "Validation Failed", errors=[{"resource": "PullRequest", "code": "custom",
                                                          "message": message}])


def get_pull(repo: Repo, number: int) -> Pull:
    pull = repo.pulls.get(number)
    if pull is None or number not in repo.issues:
        raise not_found()
    return pull


def _head_repo(world: World, repo: Repo, head: str) -> tuple[Repo, str]:
    """``branch`` or ``owner:branch`` -> (repository holding the branch, branch name)."""
    if ":" not in head:
        return repo, head
    owner, branch = head.split(":", 1)
    if owner.lower() == repo.owner.lower():
        return repo, branch
    for candidate in world.repos.values():
        if candidate.owner.lower() == owner.lower() and candidate.fork_of == repo.id:
            return candidate, branch
    raise validation_failed(resource="PullRequest", field="head", code="invalid")


def open_pull(world: World, repo: Repo, user: str, *, head: str, base: str, title: str,
              body: str | None = None, draft: bool = False, maintainer_can_modify: bool = False) -> Pull:
    """Open a pull request ``head`` -> ``base`` as ``user``; emits ``pull_request.opened``."""
    with world.lock:
        ensure_git(world, repo)
        if not title:
            raise validation_failed(resource="PullRequest", field="title", code="missing_field")
        src, branch = _head_repo(world, repo, head)
        base_sha = git.branch_sha(repo, base)
        if base_sha is None:
            raise validation_failed(resource="PullRequest", field="base", code="invalid")
        head_sha = git.branch_sha(src, branch)
        if head_sha is None:
            raise validation_failed(resource="PullRequest", field="head", code="invalid")
        for other in repo.pulls.values():
            if (other.head_repo_id == src.id and other.head_ref == branch and other.base_ref == base
                    and repo.issues[other.number].state == "open"):
                raise _custom(f"A pull request already exists for {src.owner}:{branch}.")
        if src is not repo:
            # A fork's commits must be in the parent repository to be compared and merged.
            git.run(repo, "fetch", "--no-tags", "-q", str(src.path), f"+refs/heads/{branch}:{pushes.FORK_HEADS}/{src.id}/{branch}")
        if git.merge_base(repo, base_sha, head_sha) is None:
            raise _custom(f"The {base} branch has no history in common with {branch}")
        ahead, _ = git.ahead_behind(repo, base_sha, head_sha)
        if ahead == 0:
            raise _custom(f"No commits between {base} and {head}")
        world.user(user)
        number = repo.take_number()
        issue = Issue(id=world.next_id(), number=number, title=title, body=body, user=user, is_pull=True)
        pull = Pull(number=number, id=world.next_id(), head_ref=branch, base_ref=base, head_repo_id=src.id,
                    head_sha=head_sha, base_sha=base_sha, draft=bool(draft),
                    maintainer_can_modify=bool(maintainer_can_modify))
        repo.issues[number] = issue
        repo.pulls[number] = pull
        _emit_pull(world, repo, pull, "opened", user, pending=True)
        return pull


def edit_pull(world: World, repo: Repo, number: int, user: str, *, title: str | None = None,
              body: str | None = None, base: str | None = None) -> Pull:
    """Change title/body/base; one ``pull_request.edited`` with the ``changes`` made."""
    with world.lock:
        pull = get_pull(repo, number)
        issue = repo.issues[number]
        changes: dict[str, Any] = {}
        if title is not None and title != issue.title:
            if not title:
                raise validation_failed(resource="PullRequest", field="title", code="missing_field")
            changes["title"] = {"from": issue.title}
            issue.title = title
        if body is not None and body != issue.body:
            changes["body"] = {"from": issue.body or ""}
            issue.body = body
        if base is not None and base != pull.base_ref:
            tip = git.branch_sha(repo, base)
            if tip is None or issue.state != "open":
                raise validation_failed(resource="PullRequest", field="base", code="invalid")
            changes["base"] = {"ref": {"from": pull.base_ref}, "sha": {"from": pull.base_sha}}
            pull.base_ref, pull.base_sha = base, tip
        if changes:
            issue.updated_at = now()
            _emit_pull(world, repo, pull, "edited", user, changes=changes)
        return pull


def set_pull_state(world: World, repo: Repo, number: int, user: str, state: str) -> Pull:
    """Close or reopen; emits ``pull_request.closed`` / ``pull_request.reopened``."""
    if state not in ("open", "closed"):
        raise validation_failed(resource="PullRequest", field="state", code="invalid")
    with world.lock:
        pull = get_pull(repo, number)
        issue = repo.issues[number]
        if issue.state == state:
            return pull
        if state == "open":
            if pull.merged:
                raise validation_failed("state cannot be changed. The pull request has been merged.",
                                        resource="PullRequest", field="state", code="invalid")
            tip = git.branch_sha(shapes.head_repo(world, repo, pull) or repo, pull.head_ref)
            if tip is None:
                raise validation_failed("state cannot be changed. The head branch was deleted.",
                                        resource="PullRequest", field="state", code="invalid")
            issue.state, issue.closed_at, issue.closed_by, issue.state_reason = "open", None, None, None
            issue.updated_at = now()
            if tip != pull.head_sha:
                if pull.head_repo_id != repo.id:
                    pushes.mirror_fork_head(repo, pull, shapes.head_repo(world, repo, pull) or repo)
                pull.head_sha = tip
            _emit_pull(world, repo, pull, "reopened", user, pending=True)
        else:
            shapes.base_tip(repo, pull)  # freeze the base sha the closed pull request is measured against
            issue.state, issue.closed_at, issue.closed_by = "closed", now(), user
            issue.updated_at = issue.closed_at
            _emit_pull(world, repo, pull, "closed", user)
        return pull


def mark_ready(world: World, repo: Repo, number: int, user: str) -> Pull:
    """Draft -> ready for review (GraphQL-only on GitHub); emits ``pull_request.ready_for_review``."""
    with world.lock:
        pull = get_pull(repo, number)
        if repo.issues[number].state != "open":
            raise validation_failed("Pull request is closed", resource="PullRequest", field="draft", code="invalid")
        if pull.draft:
            pull.draft = False
            repo.issues[number].updated_at = now()
            _emit_pull(world, repo, pull, "ready_for_review", user)
        return pull


def convert_to_draft(world: World, repo: Repo, number: int, user: str) -> Pull:
    """Ready -> draft (GraphQL-only on GitHub); emits ``pull_request.converted_to_draft``."""
    with world.lock:
        pull = get_pull(repo, number)
        if repo.issues[number].state != "open":
            raise validation_failed("Pull request is closed", resource="PullRequest", field="draft", code="invalid")
        if not pull.draft:
            pull.draft = True
            repo.issues[number].updated_at = now()
            _emit_pull(world, repo, pull, "converted_to_draft", user)
        return pull


_REVIEW_STATES = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


def _unprocessable(*errors: str) -> GitHubError:
    """422 in ``validation-error-simple`` form (errors are plain strings), as the reviews API answers."""
    return GitHubError(422, "Unprocessable Entity", errors=list(errors))  # type: ignore[arg-type]


def submit_review(world: World, repo: Repo, number: int, user: str, *, event: str | None,
                  body: str | None = None, commit_id: str | None = None) -> Review:
    """Create a review; APPROVE/REQUEST_CHANGES/COMMENT submit it (``pull_request_review.submitted``)."""
    with world.lock:
        pull = get_pull(repo, number)
        issue = repo.issues[number]
        if event is not None and event not in _REVIEW_STATES:
            raise _unprocessable(f"Unknown review event {event!r}: use APPROVE, REQUEST_CHANGES or COMMENT")
        if event in ("REQUEST_CHANGES", "COMMENT") and not body:
            raise _unprocessable(f"Body is required for {event} events")
        if user.lower() == issue.user.lower() and event == "APPROVE":
            raise _unprocessable("Can not approve your own pull request")
        if user.lower() == issue.user.lower() and event == "REQUEST_CHANGES":
            raise _unprocessable("Can not request changes on your own pull request")
        if commit_id is not None and (not git.is_sha(commit_id) or git.object_type(repo, commit_id) != "commit"):
            raise _unprocessable("Commit id is not part of the pull request")
        world.user(user)
        rv = Review(id=world.next_id(), pull_number=number, user=user,
                    state=_REVIEW_STATES.get(event or "", "PENDING"), body=body,
                    commit_id=commit_id or pull.head_sha)
        repo.reviews[rv.id] = rv
        if rv.state != "PENDING":
            if user in pull.requested_reviewers:
                pull.requested_reviewers.remove(user)
            world.emit("pull_request_review", event_envelope(
                world, repo, user, action="submitted", review=shapes.review(world, repo, rv, "webhook"),
                pull_request=shapes.pull_request(world, repo, pull, "webhook_simple")), repo=repo)
        return rv


def _is_admin_bypass(world: World, repo: Repo, pull: Pull, user: str, is_user_token: bool) -> bool:
    """Admins merge past branch protection unless it enforces admins (GitHub's classic protection)."""
    prot = repo.protections.get(pull.base_ref)
    if prot is None or prot.enforce_admins or not is_user_token:
        return False
    return world.permission(repo, user) == "admin"


def merge_pull(world: World, repo: Repo, number: int, user: str, *, merge_method: str = "merge",
               sha: str | None = None, commit_title: str | None = None, commit_message: str | None = None,
               admin_bypass: bool = False) -> str:
    """Merge like ``PUT /pulls/{n}/merge``; returns the new base tip. Emits push + ``closed``."""
    if merge_method not in MERGE_METHODS:
        raise validation_failed(f"Invalid merge_method {merge_method!r}", resource="PullRequest",
                                field="merge_method", code="invalid")
    with world.lock:
        pull = get_pull(repo, number)
        issue = repo.issues[number]
        if pull.merged or issue.state != "open":
            raise GitHubError(405, "Pull Request is not mergeable")
        if sha is not None and sha != pull.head_sha:
            raise GitHubError(409, HEAD_MODIFIED)
        facts = shapes.pull_facts(repo, pull)
        refusal = shapes.verdict(world, repo, pull, facts).refusal(bypass_protection=admin_bypass)
        if refusal is not None:
            raise GitHubError(405, refusal)
        base = facts.base_sha
        assert base is not None  # a verdict without refusal has known git facts
        src = shapes.head_repo(world, repo, pull) or repo
        author = git.Ident(user, world.user(user).email or git.noreply_email(user), git.now_iso())
        committer = git.Ident(*git.GITHUB_COMMITTER, git.now_iso())
        try:
            if merge_method == "merge":
                title = commit_title or f"Merge pull request #{number} from {src.owner}/{pull.head_ref}"
                message = issue.title if commit_message is None else commit_message
                new = git.merge_commit(repo, base, pull.head_sha, _join(title, message), author, committer)
            elif merge_method == "squash":
                title = commit_title or f"{issue.title} (#{number})"
                message = _squash_message(repo, base, pull.head_sha) if commit_message is None else commit_message
                new = git.squash_commit(repo, base, pull.head_sha, _join(title, message), author, committer)
            else:
                new = git.rebase(repo, base, pull.head_sha, committer)
        except git.MergeConflict as exc:
            raise GitHubError(405, "Pull Request is not mergeable") from exc
        ref = f"refs/heads/{pull.base_ref}"
        try:
            git.update_ref(repo, ref, new, base)
        except git.RefConflict as exc:
            raise GitHubError(409, BASE_MODIFIED) from exc
        stamp = now()
        pull.merged, pull.merged_at, pull.merged_by, pull.merge_commit_sha = True, stamp, user, new
        pull.base_sha = base
        issue.state, issue.closed_at, issue.closed_by, issue.updated_at = "closed", stamp, user, stamp
        world.notify_push(repo, ref, base, new, user)
        _emit_pull(world, repo, pull, "closed", user)
        return new


def _join(title: str, message: str) -> str:
    return f"{title}\n\n{message}" if message else title


def _squash_message(repo: Repo, base: str, head: str) -> str:
    """GitHub's default squash body (COMMIT_MESSAGES): one bullet per squashed commit."""
    infos = git.log(repo, [f"{base}..{head}"], reverse=True, max_count=MAX_PULL_COMMITS)
    if len(infos) == 1:
        return infos[0].message.partition("\n")[2].strip()
    return "\n\n".join(f"* {i.message}" for i in infos)


def update_branch(world: World, repo: Repo, number: int, user: str, *, expected_head_sha: str | None = None) -> str:
    """Merge the base branch into the head branch (``PUT /pulls/{n}/update-branch``); new head sha.

    The head ref moves with an old-value guard and the push is announced, so the pull request
    gets ``pull_request.synchronize`` like after any push.
    """
    with world.lock:
        pull = get_pull(repo, number)
        if repo.issues[number].state != "open" or pull.merged:
            raise validation_failed("Pull request is closed", resource="PullRequest", code="invalid")
        if expected_head_sha is not None and expected_head_sha != pull.head_sha:
            raise validation_failed(EXPECTED_HEAD, resource="PullRequest", field="expected_head_sha",
                                    code="invalid")
        src = shapes.head_repo(world, repo, pull) or repo
        tip = git.branch_sha(src, pull.head_ref)
        if tip is None:
            raise validation_failed("Head branch does not exist", resource="PullRequest", field="head",
                                    code="invalid")
        if tip != pull.head_sha:
            raise validation_failed(EXPECTED_HEAD, resource="PullRequest", field="expected_head_sha",
                                    code="invalid")
        base = git.branch_sha(repo, pull.base_ref)
        if base is None:
            raise validation_failed("Base branch does not exist", resource="PullRequest", field="base",
                                    code="invalid")
        _, behind = git.ahead_behind(repo, base, tip)
        if behind == 0:
            raise validation_failed("There are no new commits on the base branch.", resource="PullRequest",
                                    code="invalid")
        author = git.Ident(user, world.user(user).email or git.noreply_email(user), git.now_iso())
        committer = git.Ident(*git.GITHUB_COMMITTER, git.now_iso())
        message = f"Merge branch '{pull.base_ref}' into {pull.head_ref}"
        try:
            new = git.merge_commit(repo, tip, base, message, author, committer)
        except git.MergeConflict as exc:
            raise validation_failed("merge conflict between base and head", resource="PullRequest",
                                    code="invalid") from exc
        if src is not repo:
            pushes.copy_commit(repo, src, new)
        ref = f"refs/heads/{pull.head_ref}"
        try:
            git.update_ref(src, ref, new, tip)
        except git.RefConflict as exc:
            raise validation_failed(EXPECTED_HEAD, resource="PullRequest", field="expected_head_sha",
                                    code="invalid") from exc
        world.notify_push(src, ref, tip, new, user)
        return new


# ============================================================================ routes

@router.get("/repos/{owner}/{repo}/pulls")
def list_pulls(owner: str, repo: str, request: Request, state: str = "open", head: str | None = None,
               base: str | None = None, sort: str = "created", direction: str | None = None) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    if state not in ("open", "closed", "all"):
        raise validation_failed(resource="PullRequest", field="state", code="invalid")
    if sort not in ("created", "updated", "popularity", "long-running"):
        raise validation_failed(resource="PullRequest", field="sort", code="invalid")
    with world.lock:
        ensure_git(world, r)
        selected: list[Pull] = []
        for pull in r.pulls.values():
            issue = r.issues[pull.number]
            if state != "all" and issue.state != state:
                continue
            if base is not None and pull.base_ref != base:
                continue
            if head is not None:
                src = shapes.head_repo(world, r, pull)
                owner_part, _, branch = head.rpartition(":")
                if branch != pull.head_ref or (owner_part and (src is None or src.owner.lower() != owner_part.lower())):
                    continue
            selected.append(pull)

        def key(p: Pull) -> Any:
            issue = r.issues[p.number]
            if sort == "updated":
                return (issue.updated_at, p.number)
            if sort == "popularity":
                return (sum(1 for c in r.comments.values() if c.issue_number == p.number), p.number)
            if sort == "long-running":
                return (now() - issue.created_at, p.number)
            return (issue.created_at, p.number)

        # GitHub: desc by default when sorting by creation, asc otherwise.
        desc = (direction or ("desc" if sort == "created" else "asc")) == "desc"
        if direction not in (None, "asc", "desc"):
            raise validation_failed(resource="PullRequest", field="direction", code="invalid")
        selected.sort(key=key, reverse=desc)
        items = [shapes.pull_request(world, r, p, "simple") for p in selected]
    return paginate(request, items)


@router.post("/repos/{owner}/{repo}/pulls", status_code=201)
def create_pull(owner: str, repo: str, request: Request, payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    user = actor_login(request)
    body = _body(payload)
    for name in ("head", "base"):
        if not isinstance(body.get(name), str) or not body.get(name):
            raise validation_failed(resource="PullRequest", field=name, code="missing_field")
    if body.get("issue") is not None:
        raise validation_failed("Converting issues to pull requests is not supported by the sandbox",
                                resource="PullRequest", field="issue", code="invalid")
    pull = open_pull(world, r, user, head=body["head"], base=body["base"], title=body.get("title") or "",
                     body=body.get("body"), draft=bool(body.get("draft", False)),
                     maintainer_can_modify=bool(body.get("maintainer_can_modify", False)))
    with world.lock:
        shaped = shapes.pull_request(world, r, pull, "rest")
    return JSONResponse(shaped, status_code=201,
                        headers={"location": world.api(f"/repos/{r.full_name}/pulls/{pull.number}")})


@router.get("/repos/{owner}/{repo}/pulls/{pull_number:int}")
def get_pull_request(owner: str, repo: str, pull_number: int, request: Request) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        ensure_git(world, r)
        return shapes.pull_request(world, r, get_pull(r, pull_number), "rest")


def _may_edit(world: World, repo: Repo, request: Request, pull_number: int) -> str:
    """The acting login, if it wrote the pull request or has write access (403 otherwise)."""
    user = actor_login(request)
    issue = repo.issues.get(pull_number)
    if issue is not None and issue.user.lower() == user.lower():
        return user
    return require_write(request, repo)


@router.patch("/repos/{owner}/{repo}/pulls/{pull_number:int}")
def update_pull(owner: str, repo: str, pull_number: int, request: Request, payload: Any = Body(None)) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    body = _body(payload)
    with world.lock:
        get_pull(r, pull_number)
        user = _may_edit(world, r, request, pull_number)
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise validation_failed(resource="PullRequest", field="state", code="invalid")
        # Reopen first so a base change applies to an open pull request; close last.
        if state == "open":
            set_pull_state(world, r, pull_number, user, "open")
        edit_pull(world, r, pull_number, user, title=body.get("title"), body=body.get("body"),
                  base=body.get("base"))
        if "maintainer_can_modify" in body:
            r.pulls[pull_number].maintainer_can_modify = bool(body["maintainer_can_modify"])
        if state == "closed":
            set_pull_state(world, r, pull_number, user, "closed")
        # "draft" is deliberately ignored: GitHub's REST API cannot change it (GraphQL only).
        return shapes.pull_request(world, r, r.pulls[pull_number], "rest")


@router.get("/repos/{owner}/{repo}/pulls/{pull_number:int}/files")
def list_pull_files(owner: str, repo: str, pull_number: int, request: Request) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        pull = get_pull(r, pull_number)
        facts = shapes.pull_facts(r, pull)
        files = git.diff(r, facts.merge_base, pull.head_sha)[:MAX_PULL_FILES] if facts.merge_base else []
        items = [repo_shapes.diff_entry(world, r, f, pull.head_sha) for f in files]
    return paginate(request, items)


@router.get("/repos/{owner}/{repo}/pulls/{pull_number:int}/commits")
def list_pull_commits(owner: str, repo: str, pull_number: int, request: Request) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        pull = get_pull(r, pull_number)
        facts = shapes.pull_facts(r, pull)
        infos = git.log(r, [f"{facts.base_sha}..{pull.head_sha}"], reverse=True) if facts.merge_base else []
        items = [repo_shapes.commit(world, r, i) for i in infos[:MAX_PULL_COMMITS]]
    return paginate(request, items)


@router.get("/repos/{owner}/{repo}/pulls/{pull_number:int}/reviews")
def list_reviews(owner: str, repo: str, pull_number: int, request: Request) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        get_pull(r, pull_number)
        viewer = principal_of(request).login
        items = [shapes.review(world, r, rv) for rv in sorted(r.reviews.values(), key=lambda x: x.id)
                 if rv.pull_number == pull_number and (rv.state != "PENDING" or rv.user == viewer)]
    return paginate(request, items)


@router.post("/repos/{owner}/{repo}/pulls/{pull_number:int}/reviews")
def create_review(owner: str, repo: str, pull_number: int, request: Request, payload: Any = Body(None)) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    user = actor_login(request)
    body = _body(payload)
    rv = submit_review(world, r, pull_number, user, event=body.get("event"), body=body.get("body"),
                       commit_id=body.get("commit_id"))
    with world.lock:
        return shapes.review(world, r, rv)


@router.get("/repos/{owner}/{repo}/pulls/{pull_number:int}/merge", status_code=204)
def check_merged(owner: str, repo: str, pull_number: int, request: Request) -> Response:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    with world.lock:
        pull = get_pull(r, pull_number)
        # GitHub's description declares both answers without a body.
        return Response(status_code=204 if pull.merged else 404)


@router.put("/repos/{owner}/{repo}/pulls/{pull_number:int}/merge")
def merge(owner: str, repo: str, pull_number: int, request: Request, payload: Any = Body(None)) -> dict[str, Any]:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    user = require_write(request, r)
    body = _body(payload)
    with world.lock:
        pull = get_pull(r, pull_number)
        bypass = _is_admin_bypass(world, r, pull, user, principal_of(request).kind == "user")
    new = merge_pull(world, r, pull_number, user, merge_method=body.get("merge_method") or "merge",
                     sha=body.get("sha"), commit_title=body.get("commit_title"),
                     commit_message=body.get("commit_message"), admin_bypass=bypass)
    return {"sha": new, "merged": True, "message": "Pull Request successfully merged"}


@router.put("/repos/{owner}/{repo}/pulls/{pull_number:int}/update-branch", status_code=202)
def update_pull_branch(owner: str, repo: str, pull_number: int, request: Request,
                       payload: Any = Body(None)) -> JSONResponse:
    world = world_of(request)
    r = get_repo(request, owner, repo)
    body = _body(payload)
    with world.lock:
        get_pull(r, pull_number)
        user = _may_edit(world, r, request, pull_number)
    update_branch(world, r, pull_number, user, expected_head_sha=body.get("expected_head_sha"))
    return JSONResponse({"message": "Updating pull request branch.",
                         "url": f"{world.web_url}/{r.full_name}/pull/{pull_number}"}, status_code=202)

