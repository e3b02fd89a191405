"""GitHub access for the bot: App JWT, cached installation tokens, retrying and counting PyGithub clients.

``AppClient`` is the App (JWT-authenticated) side: installation tokens, installations, hook
deliveries. ``AppClient.installation(id)`` returns an ``InstallationClient`` whose ``github`` is a
plain ``github.Github`` authenticated as that installation; its token comes from the App's cache on
every request, so a long-lived client keeps working across token expiry.

Every ``github.Github`` made here has PyGithub's request throttling switched off (its defaults sleep
0.25 s between requests and 1 s between writes — latency we cannot afford in a webhook handler) and
uses :class:`trunkline.github.retry.GitHubRetry`, which retries what is safe to retry and reports each
HTTP attempt, feeding ``AppClient.request_counts`` and the ``on_request`` hook.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import github
import jwt
from github import Consts
from github.GithubException import UnknownObjectException

from .retry import ALL_METHODS, IDEMPOTENT_METHODS, GitHubRetry, RetryOptions

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
TOKEN_REFRESH_MARGIN = 60.0  # refresh an installation token this long before it expires
JWT_ISSUED_AT = Consts.DEFAULT_JWT_ISSUED_AT  # -60: GitHub recommends iat 60 s in the past (clock drift)
JWT_EXPIRY = Consts.DEFAULT_JWT_EXPIRY  # 300 s; GitHub allows at most 600
USER_AGENT = "trunkline"

# on_request(installation_id or None for App-level calls, METHOD, status (0 = no response), remaining)
RequestHook = Callable[[int | None, str, int, int | None], None]


@dataclass(frozen=True)
class InstallationInfo:
    """One installation of the App (``installation`` shape), the fields the bot uses plus ``raw``."""

    id: int
    app_id: int | None
    account_login: str | None
    account_type: str | None
    repository_selection: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstallationInfo:
        account = data.get("account") or {}
        return cls(id=int(data["id"]), app_id=data.get("app_id"), account_login=account.get("login"),
                   account_type=account.get("type"), repository_selection=data.get("repository_selection"),
                   raw=dict(data))


class DeliveryPage(list):  # list[dict[str, Any]]
    """A page of ``hook-delivery-item`` dicts (newest first) and the cursor of the next page, if any."""

    def __init__(self, items: list[dict[str, Any]], next_cursor: str | None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: float  # epoch seconds
    permissions: dict[str, str] = field(default_factory=dict)
    repository_selection: str | None = None


def parse_github_time(value: str) -> float:
    """``2026-11-22T10:00:00Z`` (or with an offset) -> epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of a ``link`` header (GitHub pagination), if any."""
    for part in (headers.get("link") or "").split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


class _AppJwtAuth(github.Auth.AppAuth):
    """PyGithub's App auth (so ``GithubIntegration`` and ``Installation`` objects accept it), with the
    JWT made and cached by :meth:`AppClient.jwt` on the client's clock."""

    def __init__(self, app: AppClient) -> None:
        super().__init__(app.app_id, sign_func=app._sign)
        self._app = app

    @property
    def token(self) -> str:
        return self._app.jwt()

    def create_jwt(self, expiration: int | None = None) -> str:
        return self._app.jwt() if expiration is None else self._app._new_jwt(expiration)[0]

    @property
    def _masked_token(self) -> str:
        return "Bearer (app jwt removed)"


class _InstallationTokenAuth(github.Auth.Auth):
    def __init__(self, app: AppClient, installation_id: int) -> None:
        self._app = app
        self._installation_id = installation_id

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._app.installation_token(self._installation_id)

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"


class InstallationClient:
    """PyGithub access as one installation. ``github`` is a ``github.Github``; use it freely."""

    def __init__(self, app: AppClient, installation_id: int) -> None:
        self.app = app
        self.installation_id = installation_id
        self.github = app._make_github(_InstallationTokenAuth(app, installation_id), installation_id)

    @property
    def requester(self) -> Any:
        return self.github.requester

    def token(self) -> str:
        return self.app.installation_token(self.installation_id)

    def invalidate_token(self) -> None:
        """Forget the cached token (e.g. after a 401); the next request mints a new one."""
        self.app.invalidate_token(self.installation_id)

    def repo(self, owner: str, name: str) -> Any:
        """A lazy ``github.Repository.Repository`` (no request until an attribute is needed)."""
        return self.github.get_repo(f"{owner}/{name}", lazy=True)

    def request_json(self, verb: str, url: str, *, parameters: dict[str, Any] | None = None,
                     input: Any = None, headers: dict[str, str] | None = None) -> tuple[dict[str, Any], Any]:
        """A raw REST call (for endpoints PyGithub lacks): ``(response headers, parsed JSON)``."""
        return self.requester.requestJsonAndCheck(verb, url, parameters=parameters, input=input, headers=headers)

    @property
    def request_count(self) -> int:
        return self.app.request_counts.get(self.installation_id, 0)


class AppClient:
    """The GitHub App: JWT auth, installation-token cache, App-level REST calls, request accounting.

    Thread-safe: one instance serves all worker threads. ``clock`` is injectable for tests and is
    used for JWT times and token expiry.
    """

    def __init__(self, app_id: int, private_key_pem: str, base_url: str = DEFAULT_BASE_URL, *,
                 clock: Callable[[], float] = time.time, on_request: RequestHook | None = None,
                 retry: RetryOptions = RetryOptions(), timeout: int = 15, per_page: int = 100,
                 user_agent: str = USER_AGENT) -> None:
        if not app_id or not private_key_pem:
            raise ValueError("a GitHub App needs an app id and a private key (TRUNKLINE_APP_ID, "
                             "TRUNKLINE_PRIVATE_KEY or TRUNKLINE_PRIVATE_KEY_PATH)")
        self.app_id = int(app_id)
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.on_request = on_request
        self.retry_options = retry
        self.timeout = timeout
        self.per_page = per_page
        self.user_agent = user_agent
        self.request_counts: dict[int, int] = {}
        self._private_key = private_key_pem
        self._lock = threading.Lock()
        self._jwt: tuple[str, float] | None = None
        self._tokens: dict[int, CachedToken] = {}
        self._token_locks: dict[int, threading.Lock] = {}
        self._clients: dict[int, InstallationClient] = {}
        self._app_info: dict[str, Any] | None = None
        auth = _AppJwtAuth(self)
        self.github = self._make_github(auth, None)
        # Minting a token twice is harmless, so that POST may be retried on 5xx like an idempotent call.
        self._minting = self._make_github(auth, None, idempotent_methods=ALL_METHODS)

    @classmethod
    def from_settings(cls, settings: Any, **kw: Any) -> AppClient:
        """From ``trunkline.settings.Settings``; requests are reported to Prometheus by default."""
        if "on_request" not in kw:
            from trunkline.metrics import observe_github_request

            kw["on_request"] = observe_github_request
        return cls(settings.app_id, settings.private_key_pem, settings.github_url, **kw)

    # ---- plumbing ---------------------------------------------------------------------------------
    def _make_github(self, auth: github.Auth.Auth, installation_id: int | None,
                     idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS) -> github.Github:
        def observe(method: str, status: int, headers: Mapping[str, str]) -> None:
            self._record(installation_id, method, status, headers)

        retry = GitHubRetry(observer=observe, options=self.retry_options, idempotent_methods=idempotent_methods)
        return github.Github(auth=auth, base_url=self.base_url, timeout=self.timeout, user_agent=self.user_agent,
                             per_page=self.per_page, retry=retry, seconds_between_requests=None,
                             seconds_between_writes=None)

    def _record(self, installation_id: int | None, method: str, status: int, headers: Mapping[str, str]) -> None:
        if status and installation_id is not None:
            with self._lock:
                self.request_counts[installation_id] = self.request_counts.get(installation_id, 0) + 1
        if self.on_request is not None:
            raw = headers.get("x-ratelimit-remaining")
            remaining = int(raw) if raw is not None and raw.strip().isdigit() else None
            self.on_request(installation_id, method, status, remaining)

    def _app_request(self, verb: str, url: str, **kw: Any) -> tuple[dict[str, Any], Any]:
        return self.github.requester.requestJsonAndCheck(verb, url, **kw)

    # ---- App authentication -------------------------------------------------------------------------
    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._private_key, algorithm="RS256")

    def _new_jwt(self, expiry: int = JWT_EXPIRY) -> tuple[str, float]:
        issued = int(self.clock())
        claims = {"iat": issued + JWT_ISSUED_AT, "exp": issued + expiry, "iss": str(self.app_id)}
        return self._sign(claims), float(claims["exp"])

    def jwt(self) -> str:
        """The App's JWT (RS256; iat 60 s in the past, exp 5 min ahead), reused until 60 s before exp."""
        with self._lock:
            if self._jwt is None or self.clock() >= self._jwt[1] - 60:
                self._jwt = self._new_jwt()
            return self._jwt[0]

    def installation_token(self, installation_id: int) -> str:
        """A valid installation token, from the cache unless it expires within 60 s."""
        return self.cached_token(installation_id).token

    def cached_token(self, installation_id: int) -> CachedToken:
        installation_id = int(installation_id)
        with self._lock:
            lock = self._token_locks.setdefault(installation_id, threading.Lock())
        with lock:  # one mint per installation at a time; other installations are not blocked
            cached = self._tokens.get(installation_id)
            if cached is not None and self.clock() < cached.expires_at - TOKEN_REFRESH_MARGIN:
                return cached
            _, data = self._minting.requester.requestJsonAndCheck(
                "POST", f"/app/installations/{installation_id}/access_tokens")
            fresh = CachedToken(token=data["token"], expires_at=parse_github_time(data["expires_at"]),
                                permissions=dict(data.get("permissions") or {}),
                                repository_selection=data.get("repository_selection"))
            self._tokens[installation_id] = fresh
            return fresh

    def invalidate_token(self, installation_id: int) -> None:
        with self._lock:
            self._tokens.pop(int(installation_id), None)

    def installation(self, installation_id: int) -> InstallationClient:
        """The (cached) client acting as ``installation_id``. No request is made until it is used."""
        installation_id = int(installation_id)
        with self._lock:
            client = self._clients.get(installation_id)
            if client is None:
                client = self._clients[installation_id] = InstallationClient(self, installation_id)
            return client

    # ---- App-level REST calls -------------------------------------------------------------------------
    def app_info(self) -> dict[str, Any]:
        """``GET /app`` (cached: an App's slug never changes)."""
        if self._app_info is None:
            _, data = self._app_request("GET", "/app")
            self._app_info = data
        return self._app_info

    def bot_login(self) -> str:
        """The login of the App's bot user, ``<slug>[bot]``."""
        return f"{self.app_info()['slug']}[bot]"

    def list_installations(self) -> list[InstallationInfo]:
        """Every installation of the App (follows pagination)."""
        out: list[InstallationInfo] = []
        url: str | None = "/app/installations"
        params: dict[str, Any] | None = {"per_page": self.per_page}
        while url:
            headers, data = self._app_request("GET", url, parameters=params)
            out += [InstallationInfo.from_json(item) for item in data]
            url, params = next_link(headers), None
        return out

    def installation_for_repo(self, owner: str, repo: str) -> InstallationInfo | None:
        """The installation covering ``owner/repo``, or None when the App is not installed there."""
        try:
            _, data = self._app_request("GET", f"/repos/{owner}/{repo}/installation")
        except UnknownObjectException:
            return None
        return InstallationInfo.from_json(data)

    def list_hook_deliveries(self, per_page: int = 100, cursor: str | None = None) -> DeliveryPage:
        """One page of ``GET /app/hook/deliveries`` (newest first); ``.next_cursor`` continues it."""
        params: dict[str, Any] = {"per_page": per_page}
        if cursor:
            params["cursor"] = cursor
        headers, data = self._app_request("GET", "/app/hook/deliveries", parameters=params)
        nxt = next_link(headers)
        next_cursor = parse_qs(urlparse(nxt).query).get("cursor", [None])[0] if nxt else None
        return DeliveryPage(list(data), next_cursor)

    def iter_hook_deliveries(self, per_page: int = 100, max_pages: int | None = None) -> Iterator[dict[str, Any]]:
        """Deliveries newest first across pages (at most ``max_pages``)."""
        cursor: str | None = None
        pages = 0
        while True:
            page = self.list_hook_deliveries(per_page=per_page, cursor=cursor)
            yield from page
            pages += 1
            cursor = page.next_cursor
            if not cursor or (max_pages is not None and pages >= max_pages):
                return

    def redeliver(self, delivery_id: int) -> None:
        """``POST /app/hook/deliveries/{delivery_id}/attempts`` (GitHub answers 202 and redelivers)."""
        self._app_request("POST", f"/app/hook/deliveries/{int(delivery_id)}/attempts")
