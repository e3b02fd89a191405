"""Typed webhook payloads for the events Trunkline handles.

Models are pydantic v2 with ``extra="allow"``: only the fields the bot reads are declared (so a new
field GitHub adds never breaks parsing, and ``model_extra`` still holds everything else), and a
field is optional wherever GitHub omits it or sends ``null`` (checked against octokit's schemas and
every example payload in the corpus).

:func:`parse_payload` is the entry point: the typed model for a known event, a generic
:class:`BaseEventPayload` for any other event (never raising), and :class:`PayloadError` with a
readable list of problems when a known event's body does not have the shape we rely on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ---- common sub-models ---------------------------------------------------------------------------

class User(Model):
    login: str
    id: int
    type: str | None = None  # "User" | "Bot" | "Organization"


class InstallationLite(Model):
    id: int


class Repository(Model):
    id: int
    name: str
    full_name: str
    owner: User
    default_branch: str | None = None
    private: bool = False
    fork: bool | None = None
    html_url: str | None = None
    clone_url: str | None = None
    archived: bool | None = None


class RefRepository(Model):
    """The ``repo`` of a branch ref: a full repository in pull requests, only ``{id, url, name}`` in
    check runs' pull requests; ``null`` when a fork was deleted."""

    id: int
    name: str
    full_name: str | None = None
    owner: User | None = None
    fork: bool | None = None
    url: str | None = None


class Ref(Model):
    ref: str
    sha: str
    repo: RefRepository | None = None
    label: str | None = None
    user: User | None = None


class Label(Model):
    name: str
    id: int | None = None
    color: str | None = None
    description: str | None = None


class App(Model):
    id: int
    slug: str | None = None
    name: str | None = None
    owner: User | None = None


class PullRequest(Model):
    """``pull-request`` (full, in pull_request events) and ``simple-pull-request`` (in reviews)."""

    number: int
    id: int | None = None
    state: str
    title: str | None = None
    body: str | None = None
    draft: bool = False
    head: Ref
    base: Ref
    user: User
    labels: list[Label] = Field(default_factory=list)
    merged: bool | None = None
    mergeable: bool | None = None
    mergeable_state: str | None = None
    rebaseable: bool | None = None
    maintainer_can_modify: bool | None = None
    merge_commit_sha: str | None = None
    merged_by: User | None = None
    merged_at: str | None = None
    closed_at: str | None = None
    auto_merge: dict[str, Any] | None = None
    html_url: str | None = None
    author_association: str | None = None

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def from_fork(self) -> bool:
        """Head lives in another repository (or in a deleted one)."""
        return self.head.repo is None or self.base.repo is None or self.head.repo.id != self.base.repo.id


class IssuePullRequestLink(Model):
    url: str | None = None
    html_url: str | None = None
    merged_at: str | None = None


class Issue(Model):
    number: int
    id: int | None = None
    title: str
    body: str | None = None
    user: User
    labels: list[Label] = Field(default_factory=list)
    state: str | None = None
    locked: bool | None = None
    assignees: list[User] = Field(default_factory=list)
    author_association: str | None = None
    html_url: str | None = None
    pull_request: IssuePullRequestLink | None = None

    @property
    def is_pull_request(self) -> bool:
        return self.pull_request is not None

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


class Comment(Model):
    id: int
    body: str
    user: User
    html_url: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    author_association: str | None = None
    performed_via_github_app: App | None = None


class Review(Model):
    id: int
    state: str  # approved | changes_requested | commented | dismissed (lower-case in webhooks)
    body: str | None = None
    user: User
    commit_id: str | None = None
    submitted_at: str | None = None
    author_association: str | None = None


class CheckPullRequest(Model):
    """A pull request as listed by check runs/suites and workflow runs: number and refs only."""

    number: int
    id: int | None = None
    head: Ref
    base: Ref


class CheckSuite(Model):
    id: int
    head_sha: str
    head_branch: str | None = None
    status: str | None = None
    conclusion: str | None = None
    before: str | None = None
    after: str | None = None
    app: App | None = None
    pull_requests: list[CheckPullRequest] = Field(default_factory=list)


class CheckRunOutput(Model):
    title: str | None = None
    summary: str | None = None
    text: str | None = None


class CheckRun(Model):
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None = None
    external_id: str | None = None
    details_url: str | None = None
    html_url: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    output: CheckRunOutput | None = None
    app: App | None = None
    pull_requests: list[CheckPullRequest] = Field(default_factory=list)
    check_suite: CheckSuite | None = None


class RequestedAction(Model):
    identifier: str | None = None


class StatusBranch(Model):
    name: str
    protected: bool | None = None


class Committer(Model):
    name: str | None = None
    email: str | None = None
    username: str | None = None


class PushCommit(Model):
    id: str
    message: str
    timestamp: str | None = None
    author: Committer | None = None
    committer: Committer | None = None
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)


class Deployment(Model):
    id: int
    sha: str
    ref: str
    task: str | None = None
    environment: str
    original_environment: str | None = None
    payload: Any = None
    description: str | None = None
    creator: User | None = None
    transient_environment: bool | None = None
    production_environment: bool | None = None


class DeploymentStatus(Model):
    id: int
    state: str
    description: str | None = None
    environment: str | None = None
    target_url: str | None = None
    log_url: str | None = None
    environment_url: str | None = None
    creator: User | None = None


class Workflow(Model):
    id: int
    name: str
    path: str
    state: str | None = None


class WorkflowRun(Model):
    id: int
    name: str | None = None
    display_title: str | None = None
    head_branch: str | None = None
    head_sha: str
    status: str | None = None
    conclusion: str | None = None
    event: str
    workflow_id: int
    path: str | None = None
    run_number: int | None = None
    run_attempt: int | None = None
    html_url: str | None = None
    actor: User | None = None
    triggering_actor: User | None = None
    pull_requests: list[CheckPullRequest] = Field(default_factory=list)


class Installation(InstallationLite):
    """The full installation (installation / installation_repositories events)."""

    app_id: int | None = None
    account: User | None = None  # an enterprise account has no login
    repository_selection: str | None = None
    permissions: dict[str, str] = Field(default_factory=dict)
    events: list[str] = Field(default_factory=list)
    target_type: str | None = None
    suspended_at: str | None = None


class InstallationRepository(Model):
    id: int
    name: str
    full_name: str
    private: bool | None = None


class Hook(Model):
    id: int
    type: str | None = None
    app_id: int | None = None
    events: list[str] = Field(default_factory=list)
    active: bool | None = None


# ---- event payloads ------------------------------------------------------------------------------

class BaseEventPayload(Model):
    """What every webhook may carry; the generic model for events without a typed one.

    ``event`` is the ``X-GitHub-Event`` name given to :func:`parse_payload` (it is not part of the
    body, which may have its own top-level ``event`` key — kept untouched in ``model_extra``).
    """

    action: str | None = None
    repository: Repository | None = None
    installation: InstallationLite | None = None
    sender: User | None = None

    _event: str = PrivateAttr(default="")

    @property
    def event(self) -> str:
        return self._event

    @property
    def repo_owner(self) -> str | None:
        return self.repository.owner.login if self.repository else None

    @property
    def repo_name(self) -> str | None:
        return self.repository.name if self.repository else None

    @property
    def installation_id(self) -> int | None:
        return self.installation.id if self.installation else None

    @property
    def sender_login(self) -> str | None:
        return self.sender.login if self.sender else None


class PullRequestEvent(BaseEventPayload):
    action: str
    number: int
    pull_request: PullRequest
    repository: Repository
    before: str | None = None  # synchronize
    after: str | None = None  # synchronize
    label: Label | None = None  # labeled / unlabeled
    requested_reviewer: User | None = None


class IssuesEvent(BaseEventPayload):
    action: str
    issue: Issue
    repository: Repository
    label: Label | None = None
    changes: dict[str, Any] | None = None


class IssueCommentEvent(BaseEventPayload):
    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    changes: dict[str, Any] | None = None


class PullRequestReviewEvent(BaseEventPayload):
    action: str
    review: Review
    pull_request: PullRequest
    repository: Repository


class CheckRunEvent(BaseEventPayload):
    action: str
    check_run: CheckRun
    repository: Repository
    requested_action: RequestedAction | None = None


class CheckSuiteEvent(BaseEventPayload):
    action: str
    check_suite: CheckSuite
    repository: Repository


class StatusEvent(BaseEventPayload):
    id: int
    sha: str
    name: str | None = None  # repository full name
    context: str
    state: str  # error | failure | pending | success
    description: str | None = None
    target_url: str | None = None
    branches: list[StatusBranch] = Field(default_factory=list)
    repository: Repository


class PushEvent(BaseEventPayload):
    ref: str
    before: str
    after: str
    created: bool = False
    deleted: bool = False
    forced: bool = False
    base_ref: str | None = None
    compare: str | None = None
    commits: list[PushCommit] = Field(default_factory=list)
    head_commit: PushCommit | None = None
    pusher: Committer | None = None
    repository: Repository

    @property
    def branch(self) -> str | None:
        """The branch name for ``refs/heads/...`` pushes (None for tags)."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


class DeploymentEvent(BaseEventPayload):
    action: str
    deployment: Deployment
    repository: Repository
    workflow: dict[str, Any] | None = None
    workflow_run: dict[str, Any] | None = None


class DeploymentStatusEvent(BaseEventPayload):
    action: str
    deployment_status: DeploymentStatus
    deployment: Deployment
    repository: Repository
    check_run: dict[str, Any] | None = None
    workflow_run: dict[str, Any] | None = None


class WorkflowRunEvent(BaseEventPayload):
    action: str
    workflow_run: WorkflowRun
    workflow: Workflow | None = None
    repository: Repository


class InstallationEvent(BaseEventPayload):
    action: str
    installation: Installation
    repositories: list[InstallationRepository] | None = None
    requester: User | None = None


class InstallationRepositoriesEvent(BaseEventPayload):
    action: str
    installation: Installation
    repository_selection: str | None = None
    repositories_added: list[InstallationRepository] = Field(default_factory=list)
    repositories_removed: list[InstallationRepository] = Field(default_factory=list)
    requester: User | None = None


class PingEvent(BaseEventPayload):
    zen: str | None = None
    hook_id: int | None = None
    hook: Hook | None = None


EVENT_MODELS: dict[str, type[BaseEventPayload]] = {
    "pull_request": PullRequestEvent,
    "issues": IssuesEvent,
    "issue_comment": IssueCommentEvent,
    "pull_request_review": PullRequestReviewEvent,
    "check_run": CheckRunEvent,
    "check_suite": CheckSuiteEvent,
    "status": StatusEvent,
    "push": PushEvent,
    "deployment": DeploymentEvent,
    "deployment_status": DeploymentStatusEvent,
    "workflow_run": WorkflowRunEvent,
    "installation": InstallationEvent,
    "installation_repositories": InstallationRepositoriesEvent,
    "ping": PingEvent,
}


class PayloadError(ValueError):
    """A known event whose body lacks (or mistypes) fields the bot relies on."""

    def __init__(self, event: str, action: str | None, problems: list[str]):
        self.event = event
        self.action = action
        self.problems = problems
        name = f"{event}.{action}" if action else event
        super().__init__(f"malformed {name} payload: " + "; ".join(problems))


def _problems(exc: ValidationError, limit: int = 10) -> list[str]:
    out = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        out.append(f"{where}: {err['msg']}")
    if exc.error_count() > limit:
        out.append(f"... and {exc.error_count() - limit} more")
    return out


def _generic(event: str, body: Any) -> BaseEventPayload:
    """Best effort for an unknown event: typed common fields when they parse, else only ``action``."""
    if isinstance(body, dict):
        try:
            model = BaseEventPayload.model_validate(body)
        except ValidationError:
            action = body.get("action")
            model = BaseEventPayload(action=action if isinstance(action, str) else None)
    else:
        model = BaseEventPayload()
    model._event = event
    return model


def parse_payload(event: str, body: Any) -> BaseEventPayload:
    """The typed payload of ``event`` (the ``X-GitHub-Event`` header) with JSON ``body``.

    Unknown events give a :class:`BaseEventPayload` and never raise; a known event whose body does
    not fit raises :class:`PayloadError` naming the offending fields.
    """
    model_type = EVENT_MODELS.get(event)
    if model_type is None:
        return _generic(event, body)
    if not isinstance(body, dict):
        raise PayloadError(event, None, [f"(body): expected a JSON object, got {type(body).__name__}"])
    action = body.get("action") if isinstance(body.get("action"), str) else None
    try:
        model = model_type.model_validate(body)
    except ValidationError as exc:
        raise PayloadError(event, action, _problems(exc)) from None
    model._event = event
    return model
