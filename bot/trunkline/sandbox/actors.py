"""The sandbox's front door: play the people and systems around a repository.

``Sandbox`` runs a sandbox GitHub (World + HTTP server + webhook sender + push handling) and offers
one method per thing somebody does on GitHub: a maintainer creates a repository and protects a
branch, a developer pushes and opens a pull request, a reviewer approves, a CI system reports a
check run, a deploy target reports deployment statuses.

Every action goes through the sandbox's REST API with the acting user's (or App installation's)
token wherever GitHub offers a route, so it is authorised, logged, shaped and announced (webhooks)
exactly like the same action from a real client. Only what GitHub does *not* expose over REST is
done on the World directly, the way GitHub does it internally: registering/installing an App
(a web flow), ``git push`` (the git layer, then ``world.notify_push``), marking a draft ready
(GraphQL-only on GitHub) and a runner finishing a workflow run.

``Actors`` holds the actions and needs only a World whose server is running (``world.base_url``);
``Sandbox`` adds the lifecycle. The control routes (``/_sandbox/...``) expose the same actions over
HTTP and ``RemoteSandbox`` calls them from another process.
"""

from __future__ import annotations

import inspect
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from .world import AppReg, HookDelivery, Installation, Repo, World

PERMISSION_CHOICES = ("read", "triage", "write", "maintain", "admin")

# What ``events=("*",)`` subscribes an App to: every event the sandbox emits. Real Apps list events
# explicitly (and the ``installation`` payload shows the list), so "*" is expanded, not stored.
ALL_EVENTS = (
    "check_run", "check_suite", "create", "delete", "deployment", "deployment_status", "issue_comment", "issues",
    "label", "member", "pull_request", "pull_request_review", "pull_request_review_comment", "push",
    "repository", "status", "workflow_dispatch", "workflow_job", "workflow_run",
)

CI_APP_SLUG = "sandbox-ci"
CI_APP_PERMISSIONS = {"checks": "write", "statuses": "write", "contents": "read", "metadata": "read"}


class ActorError(RuntimeError):
    """An action the sandbox refused, with GitHub's answer (status + message) attached."""

    def __init__(self, action: str, status: int, message: str, body: Any = None):
        super().__init__(f"{action}: HTTP {status}: {message}")
        self.action = action
        self.status = status
        self.message = message
        self.body = body


# Control routes find the Sandbox that owns a World here (for flushing its webhook sender).
_SANDBOXES: weakref.WeakKeyDictionary[World, Sandbox] = weakref.WeakKeyDictionary()
_ACTORS: weakref.WeakKeyDictionary[World, Actors] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def actors_for(world: World) -> Actors:
    """The actor API for ``world``: its running ``Sandbox`` if there is one, else a cached ``Actors``."""
    with _registry_lock:
        found = _SANDBOXES.get(world)
        if found is not None:
            return found
        actors = _ACTORS.get(world)
        if actors is None:
            actors = _ACTORS[world] = Actors(world)
        return actors


class Actors:
    """Every action a person or system performs on GitHub, performed through the sandbox."""

    def __init__(self, world: World):
        self.world = world
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()
        self._inst_tokens: dict[int, tuple[str, float]] = {}  # installation id -> (token, expires_at)
        self._sender: Any = None  # hooks.WebhookSender when owned by a Sandbox

    # ---- plumbing ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.world.base_url

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None or self._http.base_url != httpx.URL(self.url + "/"):
                self._http = httpx.Client(base_url=self.url + "/", timeout=30.0)
            return self._http

    def _call(self, action: str, method: str, path: str, token: str, json_body: Any = None,
              params: Mapping[str, Any] | None = None, ok: Iterable[int] = (200, 201, 202, 204)) -> Any:
        headers = {"authorization": f"token {token}" if not token.count(".") == 2 else f"Bearer {token}",
                   "accept": "application/vnd.github+json", "x-github-api-version": "2022-11-28"}
        response = self._client().request(method, path.lstrip("/"), json=json_body, params=params,
                                          headers=headers)
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        if response.status_code not in tuple(ok):
            message = str(body.get("message") or body.get("detail") or body) if isinstance(body, dict) else str(body)
            if isinstance(body, dict) and body.get("errors"):
                message += f" {body['errors']}"
            raise ActorError(action, response.status_code, f"{message} ({method} {path})", body)
        return body

    def repo(self, repo: Repo | str) -> Repo:
        """A Repo from a Repo or "owner/name"."""
        if isinstance(repo, Repo):
            return repo
        owner, _, name = str(repo).partition("/")
        if not name:
            raise ValueError(f"repository must be 'owner/name', got {repo!r}")
        return self.world.repo(owner, name)

    def app(self, app: AppReg | str | int) -> AppReg:
        """An AppReg from an AppReg, its slug or its id."""
        if isinstance(app, AppReg):
            return app
        for reg in self.world.apps.values():
            if reg.slug == app or str(reg.id) == str(app):
                return reg
        raise LookupError(f"no app {app!r} registered in the sandbox")

    @staticmethod
    def _repo_path(repo: Repo) -> str:
        return f"/repos/{repo.owner}/{repo.name}"

    # ---- tokens and clients ----------------------------------------------------------------
    def token_for(self, login: str) -> str:
        """A personal access token acting as ``login`` (created on first use)."""
        return self.world.user_token(login)

    def app_jwt(self, app: AppReg | str | int) -> str:
        """An App JWT (RS256, iss = app id, 9 minutes), as an App's backend would mint it."""
        reg = self.app(app)
        if not reg.private_key_pem:
            raise ActorError("app_jwt", 401, f"the private key of {reg.slug} is not kept")
        issued = int(time.time()) - 30
        return jwt.encode({"iat": issued, "exp": issued + 540, "iss": str(reg.id)}, reg.private_key_pem,
                          algorithm="RS256")

    def installation_of(self, app: AppReg | str | int, repo: Repo | str | None = None) -> Installation:
        reg = self.app(app)
        for inst in self.world.installations.values():
            if inst.app_id != reg.id:
                continue
            if repo is None:
                return inst
            found = self.world.installation_for_repo(self.repo(repo), reg.id)
            if found is not None:
                return found
        where = f" on {self.repo(repo).full_name}" if repo is not None else ""
        raise LookupError(f"app {reg.slug} is not installed{where}")

    def installation_token(self, app: AppReg | str | int, repo: Repo | str | None = None) -> str:
        """An installation access token via ``POST /app/installations/{id}/access_tokens`` (App JWT)."""
        inst = self.installation_of(app, repo)
        cached = self._inst_tokens.get(inst.id)
        if cached and cached[1] - time.time() > 300:
            return cached[0]
        body = self._call("installation_token", "POST", f"/app/installations/{inst.id}/access_tokens",
                          self.app_jwt(app))
        token = body["token"]
        tok = self.world.tokens.get(token)
        expires = tok.expires_at if tok and tok.expires_at else time.time() + 3600
        self._inst_tokens[inst.id] = (token, expires)
        return token

    def github_as(self, login: str) -> Any:
        """A PyGithub client acting as user ``login``."""
        from github import Auth, Github

        return Github(auth=Auth.Token(self.token_for(login)), base_url=self.url,
                      seconds_between_requests=0, seconds_between_writes=0, retry=None)

    def github_for_installation(self, app: AppReg | str | int, repo: Repo | str | None = None) -> Any:
        """A PyGithub client acting as an App installation (its bot user)."""
        from github import Auth, Github

        return Github(auth=Auth.Token(self.installation_token(app, repo)), base_url=self.url,
                      seconds_between_requests=0, seconds_between_writes=0, retry=None)

    # ---- apps (GitHub: web flows, no REST) ----------------------------------------------------
    def create_app(self, slug: str, owner: str, webhook_url: str | None, secret: str,
                   events: Iterable[str] = ("*",), permissions: Mapping[str, str] | None = None) -> AppReg:
        """Register a GitHub App (what the "New GitHub App" page does); its private key is kept.

        ``permissions`` default to what Trunkline's bot asks for (``routes.apps.DEFAULT_PERMISSIONS``);
        ``events`` default to every event the sandbox emits (``ALL_EVENTS``)."""
        from .routes.apps import register_app

        wanted = list(events)
        if "*" in wanted:
            wanted = list(ALL_EVENTS)
        return register_app(self.world, slug, owner, webhook_url, secret,
                            None if permissions is None else dict(permissions), wanted)

    def install(self, app: AppReg | str | int, account: str, repos: Iterable[Repo | str] | None = None
                ) -> Installation:
        """Install ``app`` on ``account`` (all its repositories, or only ``repos``)."""
        from .routes.apps import install_app

        reg = self.app(app)
        repository_ids = None if repos is None else {self.repo(r).id for r in repos}
        return install_app(self.world, reg, account, repository_ids=repository_ids)

    # ---- repositories --------------------------------------------------------------------------
    def create_repo(self, owner: str, name: str, folder: Path | str | None = None,
                    files: Mapping[str, str | bytes] | None = None, default_branch: str = "main",
                    private: bool = False) -> Repo:
        """Create ``owner/name`` with an initial commit from ``folder`` and/or ``files`` (a README when
        neither is given). As on GitHub, the initial content arrives without a push webhook."""
        from .pushes import seed_repo

        if folder is not None and not Path(folder).is_dir():
            raise ActorError("create_repo", 422, f"folder {folder} does not exist")
        if folder is None and not files:
            files = {"README.md": f"# {name}\n"}
        try:
            return seed_repo(self.world, owner, name, files=files, folder=folder, default_branch=default_branch,
                             private=private)
        except ValueError as exc:  # the repository exists
            raise ActorError("create_repo", 422, f"name already exists on this account: {exc}") from exc

    def grant(self, repo: Repo | str, login: str, level: str = "write") -> None:
        """Give ``login`` a permission on the repo (the owner adds a collaborator over REST)."""
        if level not in PERMISSION_CHOICES:
            raise ActorError("grant", 422, f"permission must be one of {', '.join(PERMISSION_CHOICES)}")
        r = self.repo(repo)
        self.world.user(login)
        self._call("grant", "PUT", f"{self._repo_path(r)}/collaborators/{login}", self.token_for(r.owner),
                   {"permission": level})

    def protect(self, repo: Repo | str, branch: str | None = None, required_checks: Iterable[str] = (),
                strict: bool = True, approvals: int = 0, enforce_admins: bool = False) -> dict[str, Any]:
        """Branch protection as an admin sets it: required checks (+ up-to-date), approvals."""
        r = self.repo(repo)
        branch = branch or r.default_branch
        body = {
            "required_status_checks": {"strict": strict, "contexts": list(required_checks)},
            "enforce_admins": enforce_admins,
            "required_pull_request_reviews": (
                {"required_approving_review_count": approvals} if approvals else None),
            "restrictions": None,
        }
        return self._call("protect", "PUT", f"{self._repo_path(r)}/branches/{branch}/protection",
                          self.token_for(r.owner), body)

    # ---- git -----------------------------------------------------------------------------------
    def push(self, repo: Repo | str, branch: str, files: Mapping[str, str | bytes | None], message: str,
             as_user: str) -> str:
        """``git push`` of one commit changing ``files`` (None deletes) on ``branch``; returns its sha.

        The branch is created from the default branch when missing. Needs write permission, like a
        real push; announced like one (``push`` webhook, pull requests synchronised)."""
        from .pushes import push_files
        from .world import PERMISSION_LEVELS

        r = self.repo(repo)
        if PERMISSION_LEVELS.index(self.world.permission(r, as_user)) < PERMISSION_LEVELS.index("write"):
            raise ActorError("push", 403, f"Permission to {r.full_name}.git denied to {as_user}.")
        return push_files(self.world, r, branch, dict(files), message, as_user)

    # ---- pull requests -------------------------------------------------------------------------
    def open_pr(self, repo: Repo | str, head: str, base: str | None = None, title: str = "", body: str = "",
                as_user: str = "", draft: bool = False) -> int:
        r = self.repo(repo)
        created = self._call("open_pr", "POST", f"{self._repo_path(r)}/pulls", self.token_for(as_user),
                             {"head": head, "base": base or r.default_branch, "title": title or head,
                              "body": body, "draft": draft})
        return int(created["number"])

    def close_pr(self, repo: Repo | str, number: int, as_user: str) -> None:
        r = self.repo(repo)
        self._call("close_pr", "PATCH", f"{self._repo_path(r)}/pulls/{number}", self.token_for(as_user),
                   {"state": "closed"})

    def reopen_pr(self, repo: Repo | str, number: int, as_user: str) -> None:
        r = self.repo(repo)
        self._call("reopen_pr", "PATCH", f"{self._repo_path(r)}/pulls/{number}", self.token_for(as_user),
                   {"state": "open"})

    def ready_for_review(self, repo: Repo | str, number: int, as_user: str) -> None:
        """Mark a draft ready (GitHub does this through GraphQL only, so the sandbox does it directly)."""
        from .routes.pulls import mark_ready

        mark_ready(self.world, self.repo(repo), number, as_user)

    def review(self, repo: Repo | str, number: int, as_user: str, event: str = "APPROVE", body: str = ""
               ) -> int:
        r = self.repo(repo)
        payload: dict[str, Any] = {"event": event}
        if body:
            payload["body"] = body
        created = self._call("review", "POST", f"{self._repo_path(r)}/pulls/{number}/reviews",
                             self.token_for(as_user), payload)
        return int(created["id"])

    def merge(self, repo: Repo | str, number: int, as_user: str, sha: str | None = None,
              method: str = "merge") -> str:
        r = self.repo(repo)
        payload: dict[str, Any] = {"merge_method": method}
        if sha:
            payload["sha"] = sha
        done = self._call("merge", "PUT", f"{self._repo_path(r)}/pulls/{number}/merge",
                          self.token_for(as_user), payload)
        return str(done["sha"])

    def update_branch(self, repo: Repo | str, number: int, as_user: str) -> None:
        r = self.repo(repo)
        self._call("update_branch", "PUT", f"{self._repo_path(r)}/pulls/{number}/update-branch",
                   self.token_for(as_user), {})

    # ---- issues, comments, labels ----------------------------------------------------------------
    def open_issue(self, repo: Repo | str, title: str, body: str = "", as_user: str = "",
                   labels: Iterable[str] = ()) -> int:
        r = self.repo(repo)
        payload: dict[str, Any] = {"title": title, "body": body}
        if labels:
            payload["labels"] = list(labels)
        created = self._call("open_issue", "POST", f"{self._repo_path(r)}/issues", self.token_for(as_user),
                             payload)
        return int(created["number"])

    def close_issue(self, repo: Repo | str, number: int, as_user: str) -> None:
        r = self.repo(repo)
        self._call("close_issue", "PATCH", f"{self._repo_path(r)}/issues/{number}", self.token_for(as_user),
                   {"state": "closed"})

    def comment(self, repo: Repo | str, number: int, body: str, as_user: str) -> int:
        r = self.repo(repo)
        created = self._call("comment", "POST", f"{self._repo_path(r)}/issues/{number}/comments",
                             self.token_for(as_user), {"body": body})
        return int(created["id"])

    def edit_comment(self, repo: Repo | str, comment_id: int, body: str, as_user: str) -> None:
        r = self.repo(repo)
        self._call("edit_comment", "PATCH", f"{self._repo_path(r)}/issues/comments/{comment_id}",
                   self.token_for(as_user), {"body": body})

    def label(self, repo: Repo | str, number: int, *labels: str, as_user: str) -> list[str]:
        r = self.repo(repo)
        now_on = self._call("label", "POST", f"{self._repo_path(r)}/issues/{number}/labels",
                            self.token_for(as_user), {"labels": list(labels)})
        return [lab["name"] for lab in now_on]

    def unlabel(self, repo: Repo | str, number: int, label: str, as_user: str) -> None:
        r = self.repo(repo)
        self._call("unlabel", "DELETE", f"{self._repo_path(r)}/issues/{number}/labels/{quote(label, safe='')}",
                   self.token_for(as_user))

    # ---- CI and deploy targets ---------------------------------------------------------------------
    def ci_app(self) -> AppReg:
        """The sandbox's stand-in CI system (an App with checks:write), created on first use."""
        try:
            return self.app(CI_APP_SLUG)
        except LookupError:
            return self.create_app(CI_APP_SLUG, owner="sandbox-ci-org", webhook_url=None,
                                   secret="sandbox-ci", events=(), permissions=CI_APP_PERMISSIONS)

    def _ensure_installed(self, app: AppReg, repo: Repo) -> None:
        if self.world.installation_for_repo(repo, app.id) is None:
            self.install(app, repo.owner)

    def ci(self, repo: Repo | str, sha: str, name: str, conclusion: str | None = None,
           status: str = "completed", as_app: AppReg | str | None = None, summary: str = "",
           details_url: str | None = None) -> int:
        """Play a CI system reporting check run ``name`` on ``sha``: creates it, or updates the run
        this App already has for (sha, name). ``status="completed"`` needs a ``conclusion``."""
        r = self.repo(repo)
        app = self.app(as_app) if as_app is not None else self.ci_app()
        self._ensure_installed(app, r)
        if status == "completed" and not conclusion:
            raise ActorError("ci", 422, "a completed check run needs a conclusion")
        token = self.installation_token(app, r)
        existing = self._call("ci", "GET", f"{self._repo_path(r)}/commits/{sha}/check-runs", token,
                              params={"check_name": name, "filter": "latest", "app_id": app.id})
        body: dict[str, Any] = {"status": status}
        if conclusion:
            body["conclusion"] = conclusion
        if summary:
            body["output"] = {"title": name, "summary": summary}
        if details_url:
            body["details_url"] = details_url
        runs = [run for run in existing.get("check_runs", []) if (run.get("app") or {}).get("id") == app.id]
        if runs:
            done = self._call("ci", "PATCH", f"{self._repo_path(r)}/check-runs/{runs[0]['id']}", token, body)
        else:
            done = self._call("ci", "POST", f"{self._repo_path(r)}/check-runs", token,
                              {"name": name, "head_sha": sha, **body})
        return int(done["id"])

    def status(self, repo: Repo | str, sha: str, context: str, state: str, as_user: str,
               description: str | None = None, target_url: str | None = None) -> int:
        """A commit status (the older CI API) posted with a user's token."""
        r = self.repo(repo)
        payload: dict[str, Any] = {"state": state, "context": context}
        if description is not None:
            payload["description"] = description
        if target_url is not None:
            payload["target_url"] = target_url
        created = self._call("status", "POST", f"{self._repo_path(r)}/statuses/{sha}",
                             self.token_for(as_user), payload)
        return int(created["id"])

    def deploy(self, repo: Repo | str, ref: str, environment: str = "production", as_user: str = "",
               task: str = "deploy", payload: Any = None, description: str | None = None,
               auto_merge: bool = False, required_contexts: Iterable[str] | None = ()) -> int:
        """Create a deployment (what a bot or a person asking for a deploy does)."""
        r = self.repo(repo)
        body: dict[str, Any] = {"ref": ref, "environment": environment, "task": task, "auto_merge": auto_merge}
        if required_contexts is not None:
            body["required_contexts"] = list(required_contexts)
        if payload is not None:
            body["payload"] = payload
        if description is not None:
            body["description"] = description
        created = self._call("deploy", "POST", f"{self._repo_path(r)}/deployments", self.token_for(as_user),
                             body)
        return int(created["id"])

    def deploy_target(self, repo: Repo | str, deployment_id: int, state: str = "success",
                      as_user: str | None = None, as_app: AppReg | str | None = None,
                      environment_url: str | None = None, log_url: str | None = None,
                      description: str | None = None) -> int:
        """Play a deploy target reporting a deployment status (in_progress, success, failure, ...)."""
        r = self.repo(repo)
        if as_app is not None:
            app = self.app(as_app)
            self._ensure_installed(app, r)
            token = self.installation_token(app, r)
        else:
            token = self.token_for(as_user or r.owner)
        body: dict[str, Any] = {"state": state}
        for key, value in (("environment_url", environment_url), ("log_url", log_url),
                           ("description", description)):
            if value is not None:
                body[key] = value
        created = self._call("deploy_target", "POST", f"{self._repo_path(r)}/deployments/{deployment_id}/statuses",
                             token, body)
        return int(created["id"])

    def dispatch_workflow(self, repo: Repo | str, workflow: str | int, ref: str, as_user: str,
                          inputs: Mapping[str, Any] | None = None) -> None:
        r = self.repo(repo)
        self._call("dispatch_workflow", "POST",
                   f"{self._repo_path(r)}/actions/workflows/{workflow}/dispatches", self.token_for(as_user),
                   {"ref": ref, "inputs": dict(inputs or {})})

    def schedule_workflow(self, repo: Repo | str, workflow: str) -> int:
        """Play GitHub's scheduler: the workflow's ``schedule:`` fires on the default branch; returns the run id."""
        from .routes.actions import schedule

        return schedule(self.world, self.repo(repo), workflow).id

    def start_workflow_run(self, repo: Repo | str, run_id: int) -> None:
        """Play the runner picking a queued run up (``workflow_run.in_progress``)."""
        from .routes.actions import start_run

        start_run(self.world, self.repo(repo), run_id)

    def finish_workflow_run(self, repo: Repo | str, run_id: int, conclusion: str = "success") -> None:
        """Play the runner: a queued run is started, then completed with ``conclusion`` (GitHub has no
        REST route for this; its runners do it)."""
        from .routes.actions import complete_run, start_run

        r = self.repo(repo)
        run = r.workflow_runs.get(run_id)
        if run is None:
            raise LookupError(f"no workflow run {run_id} in {r.full_name}")
        if run.status == "queued":
            start_run(self.world, r, run_id)
        complete_run(self.world, r, run_id, conclusion)

    def upload_artifact(self, repo: Repo | str, run_id: int, name: str, files: Mapping[str, str | bytes]) -> int:
        """Play the runner's ``actions/upload-artifact`` (no REST route on GitHub): a zip of ``files``
        (path -> content) attached to the run as ``name``; returns the artifact id."""
        from .routes.actions import upload_artifact

        return upload_artifact(self.world, self.repo(repo), run_id, name, files).id

    # ---- webhooks, faults, accounting ------------------------------------------------------------
    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every emitted webhook has been attempted; True when the queue drained."""
        sender = self._sender
        if sender is None:  # a World served without a Sandbox: use whichever sender it has installed
            sender = getattr(self.world.webhook_sink, "__self__", None)
        if sender is not None and hasattr(sender, "flush"):
            return bool(sender.flush(timeout))
        return True

    def deliveries(self, event: str | None = None, action: str | None = None) -> list[HookDelivery]:
        with self.world.lock:
            return [d for d in self.world.deliveries
                    if (event is None or d.event == event) and (action is None or d.action == action)]

    def inject(self, method: str, path: str, status: int | None = None, *, times: int | None = 1,
               latency: float = 0.0, headers: Mapping[str, str] | None = None,
               body: dict[str, Any] | None = None) -> Any:
        """Make matching REST calls fail/slow down (``path`` is a GitHub route template or "*")."""
        return self.world.inject(method, path, status, times=times, latency=latency,
                                 headers=dict(headers or {}), body=body)

    def drop_webhooks(self, count: int = 1) -> None:
        """Lose the next ``count`` webhooks (logged as failed deliveries, never sent)."""
        with self.world.lock:
            self.world.dropped_webhooks += count

    def clear_faults(self) -> None:
        self.world.clear_faults()

    @property
    def request_log(self) -> list[Any]:
        return self.world.request_log

    @property
    def requests_by_installation(self) -> dict[int, int]:
        return self.world.requests_by_installation


class Sandbox(Actors):
    """A running sandbox GitHub: ``with Sandbox(tmp) as sb: sb.create_repo(...)``."""

    def __init__(self, root: Path | str, host: str = "127.0.0.1", port: int = 0):
        super().__init__(World(Path(root)))
        self.host = host
        self.port = port
        self._server: Any = None

    def start(self) -> Sandbox:
        from . import hooks, pushes
        from .routes import checks
        from .server import ServerHandle

        self._server = ServerHandle(self.world, host=self.host, port=self.port)
        self._sender = hooks.WebhookSender(self.world)
        self._sender.install()
        pushes.install(self.world)  # push webhook + PR synchronize first, as on GitHub
        checks.install(self.world)  # then check_suite.requested for Apps with checks permission
        with _registry_lock:
            _SANDBOXES[self.world] = self
        self._server.start()
        return self

    def stop(self) -> None:
        with _registry_lock:
            _SANDBOXES.pop(self.world, None)
        if self._sender is not None:
            self._sender.flush(2.0)
            self._sender.stop()
        if self._server is not None:
            self._server.stop()
        if self._http is not None:
            self._http.close()

    @property
    def app_server(self) -> Any:
        """The FastAPI application (for ``server.list_routes``)."""
        return self._server.app

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Names the control routes (and RemoteSandbox) may call; each maps JSON kwargs onto the method.
CONTROL_ACTIONS = (
    "create_app", "install", "create_repo", "grant", "protect", "push", "open_pr", "close_pr", "reopen_pr",
    "ready_for_review", "review", "merge", "update_branch", "open_issue", "close_issue", "comment",
    "edit_comment", "label", "unlabel", "ci", "status", "deploy", "deploy_target", "dispatch_workflow",
    "schedule_workflow", "start_workflow_run", "finish_workflow_run", "upload_artifact", "token_for", "installation_token", "wait_for_webhooks", "drop_webhooks",
)


def call_action(actors: Actors, name: str, kwargs: Mapping[str, Any]) -> Any:
    """Run action ``name`` with JSON ``kwargs`` (positional-only names like ``labels`` included)."""
    if name not in CONTROL_ACTIONS:
        raise LookupError(f"unknown action {name!r}; one of: {', '.join(CONTROL_ACTIONS)}")
    method = getattr(actors, name)
    sig = inspect.signature(method)
    args: list[Any] = []
    kw = dict(kwargs)
    for param in sig.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            args_extra = kw.pop(param.name, [])
            if isinstance(args_extra, str):
                args_extra = [args_extra]
            positional = [kw.pop(p.name) for p in sig.parameters.values()
                          if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name in kw]
            args = positional + list(args_extra)
            break
    unknown = set(kw) - set(sig.parameters)
    if unknown:
        raise TypeError(f"{name}: unexpected argument(s) {', '.join(sorted(unknown))}")
    sig.bind(*args, **kw)  # a TypeError with a clear message when something required is missing
    return to_json(method(*args, **kw))


def to_json(value: Any) -> Any:
    """Plain JSON for action results (AppReg keeps its private key: the bot needs it)."""
    if isinstance(value, AppReg):
        return {"id": value.id, "slug": value.slug, "name": value.name, "owner": value.owner,
                "webhook_url": value.webhook_url, "webhook_secret": value.webhook_secret,
                "private_key_pem": value.private_key_pem, "permissions": value.permissions,
                "events": value.events}
    if isinstance(value, Installation):
        return {"id": value.id, "app_id": value.app_id, "account": value.account,
                "repository_ids": sorted(value.repository_ids) if value.repository_ids is not None else None}
    if isinstance(value, Repo):
        return {"id": value.id, "full_name": value.full_name, "default_branch": value.default_branch,
                "private": value.private, "git_dir": str(value.path)}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


class RemoteSandbox:
    """The actor API of a sandbox running in another process, through its ``/_sandbox`` routes.

    ``RemoteSandbox("http://127.0.0.1:8765").open_pr(repo="acme/widgets", head="feat", as_user="dev")``
    Results are JSON (an App is a dict with ``id``, ``slug``, ``private_key_pem``, ...)."""

    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        response = self._http.request(method, path, **kw)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            message = body.get("message", "") if isinstance(body, dict) else response.text
            raise ActorError(path, response.status_code, message, body)
        return body

    def action(self, action_name: str, /, **kwargs: Any) -> Any:
        return self._request("POST", f"/_sandbox/actions/{action_name}", json=kwargs)["result"]

    def __getattr__(self, name: str) -> Any:
        if name in CONTROL_ACTIONS:
            return lambda **kwargs: self.action(name, **kwargs)
        raise AttributeError(name)

    def state(self) -> dict[str, Any]:
        return self._request("GET", "/_sandbox/state")

    def deliveries(self, event: str | None = None) -> list[dict[str, Any]]:
        return self._request("GET", "/_sandbox/deliveries", params={"event": event} if event else None)

    def requests(self) -> dict[str, Any]:
        return self._request("GET", "/_sandbox/requests")

    def inject(self, method: str, path: str, status: int | None = None, **kw: Any) -> dict[str, Any]:
        return self._request("POST", "/_sandbox/faults", json={"method": method, "path": path,
                                                               "status": status, **kw})

    def clear_faults(self) -> None:
        self._request("DELETE", "/_sandbox/faults")
