"""The sandbox's whole state: users, apps, installations, repositories and everything in them.

One ``World`` per sandbox. Plain dataclasses; git data lives in a bare repository per repo
(``Repo.path``) and is read through ``trunkline.sandbox.git``. Every mutation happens under
``World.lock`` (an RLock) so route handlers running in FastAPI's thread pool stay consistent.

Webhooks: code that changes state calls ``world.emit(event, payload, repo=...)``; the sender
installed by the server (``trunkline.sandbox.hooks``) signs, posts and logs the delivery.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PERMISSION_LEVELS = ("none", "read", "triage", "write", "maintain", "admin")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


@dataclass
class User:
    id: int
    login: str
    type: str = "User"  # User | Bot | Organization
    name: str | None = None
    email: str | None = None
    site_admin: bool = False


@dataclass
class AppReg:
    id: int
    slug: str
    name: str
    owner: str  # login of the owning user/org
    public_key_pem: str
    private_key_pem: str | None  # kept only so the demo/tests can hand it to the bot
    webhook_url: str | None
    webhook_secret: str
    permissions: dict[str, str]
    events: list[str]
    created_at: datetime = field(default_factory=now)

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    app_id: int
    account: str  # login
    repository_ids: set[int] | None = None  # None = all repositories of the account
    created_at: datetime = field(default_factory=now)


@dataclass
class Token:
    token: str
    kind: str  # "installation" | "user"
    expires_at: float | None  # epoch seconds
    installation_id: int | None = None
    user: str | None = None  # login for user tokens; "<slug>[bot]" for installation tokens


@dataclass
class Protection:
    branch: str
    required_checks: list[str] = field(default_factory=list)  # contexts (check run names / status contexts)
    strict: bool = False  # require branches to be up to date before merging
    required_approving_review_count: int = 0
    dismiss_stale_reviews: bool = False
    enforce_admins: bool = False


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Reaction:
    id: int
    user: str
    content: str  # +1 -1 laugh confused heart hooray rocket eyes
    created_at: datetime = field(default_factory=now)


@dataclass
class Issue:
    """An issue or the issue half of a pull request (GitHub shares the number space)."""

    id: int
    number: int
    title: str
    body: str | None
    user: str
    state: str = "open"  # open | closed
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    locked: bool = False
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None
    closed_by: str | None = None
    reactions: list[Reaction] = field(default_factory=list)
    is_pull: bool = False


@dataclass
class Pull:
    number: int  # same as the Issue's number
    id: int
    head_ref: str
    base_ref: str
    head_repo_id: int  # == repo id unless from a fork
    head_sha: str
    base_sha: str  # base branch tip when last computed
    draft: bool = False
    maintainer_can_modify: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    requested_reviewers: list[str] = field(default_factory=list)


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    reactions: list[Reaction] = field(default_factory=list)
    performed_via_app_id: int | None = None


@dataclass
class Review:
    id: int
    pull_number: int
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    body: str | None
    commit_id: str
    submitted_at: datetime = field(default_factory=now)


@dataclass
class CheckSuite:
    id: int
    head_sha: str
    head_branch: str | None
    app_id: int | None
    status: str = "queued"
    conclusion: str | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class CheckRun:
    id: int
    check_suite_id: int
    head_sha: str
    name: str
    app_id: int | None
    status: str = "queued"  # queued | in_progress | completed | waiting | requested | pending
    conclusion: str | None = None
    started_at: datetime | None = field(default_factory=now)
    completed_at: datetime | None = None
    external_id: str | None = None
    details_url: str | None = None
    output: dict[str, Any] = field(default_factory=dict)  # title, summary, text
    annotations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Status:
    id: int
    sha: str
    state: str  # error | failure | pending | success
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class DeploymentStatus:
    id: int
    deployment_id: int
    state: str  # error failure inactive in_progress queued pending success
    creator: str
    description: str = ""
    environment: str = ""
    log_url: str = ""
    environment_url: str = ""
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    task: str
    environment: str
    payload: Any
    description: str | None
    creator: str
    original_environment: str = ""
    transient_environment: bool = False
    production_environment: bool = False
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class Workflow:
    id: int
    name: str
    path: str  # .github/workflows/x.yml
    state: str = "active"
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class WorkflowRun:
    id: int
    workflow_id: int
    name: str
    head_branch: str
    head_sha: str
    event: str  # workflow_dispatch | push | pull_request ...
    actor: str
    inputs: dict[str, Any] = field(default_factory=dict)
    status: str = "queued"  # queued | in_progress | completed
    conclusion: str | None = None
    run_number: int = 1
    run_attempt: int = 1
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    run_started_at: datetime = field(default_factory=now)
    display_title: str = ""  # the evaluated ``run-name:`` (GitHub: else the workflow's name)


@dataclass
class Artifact:
    """A workflow run's artifact: a zip archive (GitHub keeps it in blob storage, we keep the bytes)."""

    id: int
    run_id: int
    name: str
    data: bytes  # the zip archive
    digest: str  # sha256:<hex> of the archive, like upload-artifact v4
    created_at: datetime = field(default_factory=now)
    expires_at: datetime | None = None
    expired: bool = False


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    path: Path  # bare git repository
    default_branch: str = "main"
    private: bool = False
    description: str | None = None
    fork_of: int | None = None  # repo id of the parent when this is a fork
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    pushed_at: datetime = field(default_factory=now)
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> permission level
    protections: dict[str, Protection] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    next_number: int = 1
    comments: dict[int, Comment] = field(default_factory=dict)
    reviews: dict[int, Review] = field(default_factory=dict)
    check_suites: dict[int, CheckSuite] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    deployments: dict[int, Deployment] = field(default_factory=dict)
    workflows: dict[int, Workflow] = field(default_factory=dict)
    workflow_runs: dict[int, WorkflowRun] = field(default_factory=dict)
    artifacts: dict[int, Artifact] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def take_number(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number


@dataclass
class HookDelivery:
    """One attempt to deliver a webhook (GitHub's ``hook-delivery``)."""

    id: int
    guid: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    payload: bytes
    headers: dict[str, str]
    delivered_at: datetime
    redelivery: bool = False
    status_code: int = 0  # 0 = not delivered (connection error / dropped)
    status: str = "pending"  # "OK" or the reason it failed
    duration: float = 0.0
    response_body: str = ""
    throttled_at: datetime | None = None


@dataclass
class FaultRule:
    """Make matching requests fail (or slow down) ``times`` times (None = forever)."""

    method: str  # "*" or an HTTP method
    path: str  # a route template ("/repos/{owner}/{repo}/pulls/{pull_number}/merge") or "*"
    status: int | None = None  # None = no error, only latency
    times: int | None = 1
    latency: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class RequestLogEntry:
    at: float
    method: str
    path: str  # concrete path
    route: str | None  # route template, GitHub spelling
    status: int
    principal: str | None  # "app:<id>", "installation:<id>", "user:<login>" or None
    installation_id: int | None
    response_body: Any  # parsed JSON (or None)
    request_body: Any = None
    fault: bool = False


class NotFound(LookupError):
    pass


class World:
    """All sandbox state. Thread-safe through ``lock``; ids come from one global counter."""

    def __init__(self, root: Path, base_url: str = "http://127.0.0.1:0"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/")  # REST API root, set by the server once bound
        self.lock = threading.RLock()
        self._ids = itertools.count(1000)
        self.users: dict[str, User] = {}
        self.apps: dict[int, AppReg] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.repos: dict[str, Repo] = {}  # "owner/name" (lower-case) -> Repo
        self.deliveries: list[HookDelivery] = []
        self.faults: list[FaultRule] = []
        self.dropped_webhooks: int = 0  # the next N webhooks are "lost" (logged as failed, not sent)
        self.request_log: list[RequestLogEntry] = []
        self.requests_by_installation: dict[int, int] = {}
        # Installed by trunkline.sandbox.hooks; called for every emitted webhook.
        self.webhook_sink: Callable[[str, dict[str, Any], Repo | None], None] | None = None
        # Installed by trunkline.sandbox.hooks; re-sends a logged delivery (same GUID, new delivery id).
        self.redeliver_sink: Callable[[HookDelivery], HookDelivery] | None = None
        # Called after every push (ref update) so pulls/checks can react: (repo, ref, before, after, pusher)
        self.push_listeners: list[Callable[[Repo, str, str, str, str], None]] = []

    # ---- ids and time ---------------------------------------------------------------
    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    # ---- URLs -----------------------------------------------------------------------
    @property
    def web_url(self) -> str:
        """The "html_url" root (GitHub's github.com): the server serves /{owner}/{repo} pages there."""
        return self.base_url

    def api(self, path: str) -> str:
        return f"{self.base_url}{path}"

    # ---- users ----------------------------------------------------------------------
    def user(self, login: str, *, type: str = "User") -> User:
        """Get or create a user (sandbox users spring into existence when first named)."""
        with self.lock:
            existing = self.users.get(login.lower())
            if existing:
                return existing
            created = User(id=self.next_id(), login=login, type=type)
            self.users[login.lower()] = created
            return created

    def user_token(self, login: str) -> str:
        """A personal access token acting as ``login`` (for actors: people pushing, commenting)."""
        with self.lock:
            self.user(login)
            for tok in self.tokens.values():
                if tok.kind == "user" and tok.user == login:
                    return tok.token
            value = "ghp_" + secrets.token_hex(18)
            self.tokens[value] = Token(token=value, kind="user", expires_at=None, user=login)
            return value

    # ---- repos ----------------------------------------------------------------------
    def repo(self, owner: str, name: str) -> Repo:
        found = self.repos.get(f"{owner}/{name}".lower())
        if not found:
            raise NotFound(f"{owner}/{name}")
        return found

    def repo_by_id(self, repo_id: int) -> Repo:
        for repo in self.repos.values():
            if repo.id == repo_id:
                return repo
        raise NotFound(str(repo_id))

    def add_repo(self, owner: str, name: str, *, default_branch: str = "main", private: bool = False,
                 description: str | None = None) -> Repo:
        """Register a repo whose bare git repository is created by ``trunkline.sandbox.git``."""
        with self.lock:
            key = f"{owner}/{name}".lower()
            if key in self.repos:
                raise ValueError(f"repository {owner}/{name} exists")
            self.user(owner)
            repo = Repo(id=self.next_id(), owner=owner, name=name,
                        path=self.root / "git" / owner / f"{name}.git",
                        default_branch=default_branch, private=private, description=description)
            repo.collaborators[owner] = "admin"
            self.repos[key] = repo
            return repo

    def permission(self, repo: Repo, login: str) -> str:
        """The effective permission of ``login`` on ``repo`` (GitHub's collaborator permission)."""
        level = repo.collaborators.get(login)
        if level:
            return level
        return "none" if repo.private else "read"

    # ---- apps -----------------------------------------------------------------------
    def installation_for_repo(self, repo: Repo, app_id: int | None = None) -> Installation | None:
        for inst in self.installations.values():
            if app_id is not None and inst.app_id != app_id:
                continue
            if inst.account.lower() != repo.owner.lower():
                continue
            if inst.repository_ids is None or repo.id in inst.repository_ids:
                return inst
        return None

    def app_for_installation(self, installation_id: int) -> AppReg:
        return self.apps[self.installations[installation_id].app_id]

    # ---- webhooks -------------------------------------------------------------------
    def emit(self, event: str, payload: dict[str, Any], repo: Repo | None = None) -> None:
        """Queue a webhook for every app installed on ``repo`` (or every app when no repo)."""
        sink = self.webhook_sink
        if sink is not None:
            sink(event, payload, repo)

    def notify_push(self, repo: Repo, ref: str, before: str, after: str, pusher: str) -> None:
        """Tell listeners (pulls, push webhook) that ``ref`` moved from ``before`` to ``after``."""
        with self.lock:
            repo.pushed_at = now()
            for listener in list(self.push_listeners):
                listener(repo, ref, before, after, pusher)

    # ---- accounting -----------------------------------------------------------------
    def log_request(self, entry: RequestLogEntry) -> None:
        with self.lock:
            self.request_log.append(entry)
            if entry.installation_id is not None:
                self.requests_by_installation[entry.installation_id] = (
                    self.requests_by_installation.get(entry.installation_id, 0) + 1)

    def take_fault(self, method: str, route: str | None) -> FaultRule | None:
        """The first fault rule matching this request, consuming one of its ``times``."""
        with self.lock:
            for rule in self.faults:
                if rule.method not in ("*", method):
                    continue
                if rule.path not in ("*", route):
                    continue
                if rule.times is not None:
                    if rule.times <= 0:
                        continue
                    rule.times -= 1
                return rule
            return None

    def inject(self, method: str, path: str, status: int | None = None, *, times: int | None = 1,
               latency: float = 0.0, headers: dict[str, str] | None = None,
               body: dict[str, Any] | None = None) -> FaultRule:
        rule = FaultRule(method=method.upper() if method != "*" else "*", path=path, status=status,
                         times=times, latency=latency, headers=dict(headers or {}), body=body)
        with self.lock:
            self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self.dropped_webhooks = 0

    def reset_accounting(self) -> None:
        with self.lock:
            self.request_log.clear()
            self.requests_by_installation.clear()

    @staticmethod
    def clock() -> float:
        return time.time()
