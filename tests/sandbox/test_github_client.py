"""trunkline.github against a running sandbox: App JWT, token cache, retries, request accounting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from github import GithubIntegration
from github.GithubException import GithubException, RateLimitExceededExceedsMaxWait

from trunkline.github import AppClient, RetryOptions
from trunkline.sandbox.routes import apps as app_routes
from trunkline.sandbox.routes.apps import install_app, register_app
from trunkline.sandbox.server import ServerHandle
from trunkline.sandbox.world import AppReg, HookDelivery, Installation, World

FAST = RetryOptions(total=4, backoff_factor=0.05, backoff_max=0.2, max_wait=5.0, secondary_rate_wait=0.3)
TOKENS = "/app/installations/{installation_id}/access_tokens"


@dataclass
class Shifted:
    """A clock that is real time plus an adjustable offset (the sandbox checks JWTs on real time)."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Env:
    world: World
    url: str
    app: AppReg
    inst: Installation
    clock: Shifted
    client: AppClient
    seen: list[tuple[int | None, str, int, int | None]] = field(default_factory=list)
    templates_resolved: bool = True

    def template(self, template: str) -> str:
        """Fault path: the exact route template, or "*" (same method) while the sandbox server cannot
        resolve templates (FastAPI 0.165's _IncludedRouter hides them from server._route_template)."""
        return template if self.templates_resolved else "*"

    def log(self, method: str, path: str) -> list[Any]:
        return [e for e in self.world.request_log if e.method == method and e.path == path]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    world = World(tmp_path / "world")
    app = register_app(world, "trunkline-test", "acme-corp", None, "s3cret")
    for name in ("widgets", "gadgets", "gizmos"):
        world.add_repo("acme", name)
    inst = install_app(world, app, "acme")
    clock = Shifted()
    seen: list[tuple[int | None, str, int, int | None]] = []
    with ServerHandle(world) as handle:
        client = AppClient(app.id, app.private_key_pem or "", handle.url, clock=clock, retry=FAST,
                           on_request=lambda *args: seen.append(args))
        e = Env(world=world, url=handle.url, app=app, inst=inst, clock=clock, client=client, seen=seen)
        client.app_info()
        e.templates_resolved = world.request_log[-1].route == "/app"
        world.reset_accounting()
        seen.clear()
        yield e


# ---- App JWT ------------------------------------------------------------------------------------------

def test_jwt_claims_and_reuse(env: Env) -> None:
    token = env.client.jwt()
    claims = jwt.decode(token, env.app.public_key_pem, algorithms=["RS256"], options={"verify_exp": False})
    now = env.clock()
    assert claims["iss"] == str(env.app.id)
    assert now - 62 <= claims["iat"] <= now - 58
    assert claims["exp"] - claims["iat"] <= 600 and claims["exp"] > now
    assert env.client.jwt() == token
    env.clock.offset = claims["exp"] - 59 - time.time()  # within 60 s of exp: a new one
    renewed = env.client.jwt()
    assert renewed != token
    assert jwt.decode(renewed, env.app.public_key_pem, algorithms=["RS256"],
                      options={"verify_exp": False, "verify_iat": False})["iat"] > claims["iat"]


def test_bot_login_is_slug_bot_and_cached(env: Env) -> None:
    env.client._app_info = None
    assert env.client.bot_login() == "trunkline-test[bot]"
    assert env.client.bot_login() == "trunkline-test[bot]"
    assert len(env.log("GET", "/app")) == 1


def test_pygithub_app_objects_accept_the_auth(env: Env) -> None:
    integration = GithubIntegration(**env.client.github.requester.kwargs)
    assert integration.get_app().slug == "trunkline-test"
    assert [i.id for i in integration.get_installations()] == [env.inst.id]


# ---- installation tokens --------------------------------------------------------------------------------

def test_token_is_cached(env: Env) -> None:
    gh = env.client.installation(env.inst.id)
    assert env.client.installation(env.inst.id) is gh
    for _ in range(3):
        _, body = gh.request_json("GET", "/installation/repositories")
        assert body["total_count"] == 3
    minted = env.log("POST", f"/app/installations/{env.inst.id}/access_tokens")
    assert len(minted) == 1 and minted[0].status == 201
    listed = env.log("GET", "/installation/repositories")
    assert [e.principal for e in listed] == [f"installation:{env.inst.id}"] * 3


def test_token_refreshed_before_expiry(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_routes, "TOKEN_LIFETIME", 90)  # the sandbox mints 90-second tokens
    first = env.client.cached_token(env.inst.id)
    assert first.expires_at == pytest.approx(time.time() + 90, abs=3)
    env.clock.offset = 25  # 65 s left: still fresh
    assert env.client.installation_token(env.inst.id) == first.token
    env.clock.offset = 31  # 59 s left: inside the 60 s margin -> refresh
    second = env.client.installation_token(env.inst.id)
    assert second != first.token
    assert len(env.log("POST", f"/app/installations/{env.inst.id}/access_tokens")) == 2
    _, body = env.client.installation(env.inst.id).request_json("GET", "/installation/repositories")
    assert body["total_count"] == 3
    assert env.log("GET", "/installation/repositories")[-1].status == 200


def test_token_minted_once_under_concurrency(env: Env) -> None:
    tokens: list[str] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        tokens.append(env.client.installation_token(env.inst.id))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert len(env.log("POST", f"/app/installations/{env.inst.id}/access_tokens")) == 1


def test_token_mint_retried_on_5xx_because_it_is_safe(env: Env) -> None:
    env.world.inject("POST", env.template(TOKENS), 502, times=1)
    assert env.client.installation_token(env.inst.id).startswith("ghs_")
    statuses = [e.status for e in env.log("POST", f"/app/installations/{env.inst.id}/access_tokens")]
    assert statuses == [502, 201]


def test_invalidate_token_mints_a_new_one(env: Env) -> None:
    first = env.client.installation_token(env.inst.id)
    env.client.installation(env.inst.id).invalidate_token()
    assert env.client.installation_token(env.inst.id) != first


# ---- retries --------------------------------------------------------------------------------------------

def test_retry_after_is_honoured(env: Env) -> None:
    env.world.inject("GET", env.template("/app/installations"), 403, times=1, headers={"Retry-After": "1"})
    started = time.monotonic()
    installations = env.client.list_installations()
    elapsed = time.monotonic() - started
    assert [i.id for i in installations] == [env.inst.id]
    attempts = env.log("GET", "/app/installations")
    assert [e.status for e in attempts] == [403, 200]
    assert elapsed >= 0.95
    assert attempts[1].at - attempts[0].at >= 0.95


def test_429_is_retried(env: Env) -> None:
    env.world.inject("GET", env.template("/app/installations"), 429, times=1)
    assert [i.id for i in env.client.list_installations()] == [env.inst.id]
    assert [e.status for e in env.log("GET", "/app/installations")] == [429, 200]


def test_rate_limited_post_is_retried(env: Env) -> None:
    """A rate-limited request was not processed by GitHub, so even a POST may be sent again."""
    delivery = _delivery(env.world, env.app, env.inst)
    calls: list[int] = []
    env.world.redeliver_sink = lambda d: calls.append(d.id)  # type: ignore[assignment,return-value]
    env.world.inject("POST", env.template("/app/hook/deliveries/{delivery_id}/attempts"), 429, times=1,
                     headers={"Retry-After": "0"})
    env.client.redeliver(delivery.id)
    assert calls == [delivery.id]
    assert [e.status for e in env.log("POST", f"/app/hook/deliveries/{delivery.id}/attempts")] == [429, 202]


def test_wait_beyond_the_cap_fails_fast(env: Env) -> None:
    env.world.inject("GET", env.template("/app/installations"), 429, times=1, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(RateLimitExceededExceedsMaxWait) as info:
        env.client.list_installations()
    assert time.monotonic() - started < 2
    assert info.value.status == 429 and info.value.wait == pytest.approx(3600)
    assert len(env.log("GET", "/app/installations")) == 1


def test_secondary_rate_limit_403_without_retry_after_waits_and_retries(env: Env) -> None:
    # the sandbox's default 403 fault body is GitHub's secondary-rate-limit message
    env.world.inject("GET", env.template("/app/installations"), 403, times=1)
    started = time.monotonic()
    assert len(env.client.list_installations()) == 1
    assert time.monotonic() - started >= FAST.secondary_rate_wait - 0.05
    assert [e.status for e in env.log("GET", "/app/installations")] == [403, 200]


def test_plain_403_is_not_retried(env: Env) -> None:
    env.world.inject("GET", env.template("/app/installations"), 403, times=1,
                     body={"message": "Resource not accessible by integration", "documentation_url": "x"})
    with pytest.raises(GithubException) as info:
        env.client.list_installations()
    assert info.value.status == 403
    assert info.value.data["message"] == "Resource not accessible by integration"
    assert len(env.log("GET", "/app/installations")) == 1


def test_502_on_get_is_retried(env: Env) -> None:
    env.world.inject("GET", env.template("/app/installations"), 502, times=2)
    assert len(env.client.list_installations()) == 1
    assert [e.status for e in env.log("GET", "/app/installations")] == [502, 502, 200]


def test_persistent_5xx_gives_up_after_the_retry_budget(env: Env) -> None:
    env.world.inject("GET", env.template("/app/installations"), 503, times=None)
    with pytest.raises(GithubException) as info:
        env.client.list_installations()
    assert info.value.status == 503
    assert len(env.log("GET", "/app/installations")) == FAST.total + 1


def test_post_is_not_retried_on_5xx(env: Env) -> None:
    delivery = _delivery(env.world, env.app, env.inst)
    calls: list[int] = []
    env.world.redeliver_sink = lambda d: calls.append(d.id)  # type: ignore[assignment,return-value]
    env.world.inject("POST", env.template("/app/hook/deliveries/{delivery_id}/attempts"), 502, times=1)
    with pytest.raises(GithubException) as info:
        env.client.redeliver(delivery.id)
    assert info.value.status == 502
    assert len(env.log("POST", f"/app/hook/deliveries/{delivery.id}/attempts")) == 1
    assert calls == []
    env.client.redeliver(delivery.id)  # the caller decides to try again
    assert calls == [delivery.id]


# ---- accounting ---------------------------------------------------------------------------------------

def test_requests_are_counted_per_installation(env: Env) -> None:
    other_app = register_app(env.world, "other", "acme-corp")
    other_inst = install_app(env.world, other_app, "acme", emit=False)
    other = AppClient(other_app.id, other_app.private_key_pem or "", env.url, retry=FAST)
    env.world.inject("GET", env.template("/installation/repositories"), 502, times=1)
    gh = env.client.installation(env.inst.id)
    for _ in range(3):
        gh.request_json("GET", "/installation/repositories")
    # a Requester derived the way PyGithub does internally (withLazy/withAuth) is counted too
    gh.requester.withLazy(True).requestJsonAndCheck("GET", "/installation/repositories")
    other.installation(other_inst.id).request_json("GET", "/installation/repositories")
    assert env.client.request_counts == {env.inst.id: 5}  # 4 calls, one of them retried once
    assert env.client.request_counts[env.inst.id] == env.world.requests_by_installation[env.inst.id]
    assert gh.request_count == 5
    assert other.request_counts == {other_inst.id: 1} == {
        k: v for k, v in env.world.requests_by_installation.items() if k == other_inst.id}
    per_inst = [s for s in env.seen if s[0] == env.inst.id]
    assert [(m, st) for _, m, st, _ in per_inst] == [("GET", 502)] + [("GET", 200)] * 4
    assert all(isinstance(rem, int) for *_, rem in per_inst)
    app_level = [s for s in env.seen if s[0] is None]
    assert [(m, st) for _, m, st, _ in app_level] == [("POST", 201)]  # the token mint


def test_throttling_is_off(env: Env) -> None:
    for gh in (env.client.github, env.client.installation(env.inst.id).github):
        kwargs = gh.requester.kwargs
        assert kwargs["seconds_between_requests"] is None and kwargs["seconds_between_writes"] is None
    delivery = _delivery(env.world, env.app, env.inst)
    env.world.redeliver_sink = lambda d: d
    started = time.monotonic()
    for _ in range(5):  # PyGithub's defaults would sleep 1 s between these writes
        env.client.redeliver(delivery.id)
    assert time.monotonic() - started < 2.5


def test_base_url_variants() -> None:
    key = register_app(World(Path("/tmp") / f"tl-{time.time_ns()}"), "k", "o").private_key_pem or ""
    for url in ("https://api.github.com", "https://ghe.example.com/api/v3", "http://127.0.0.1:8080"):
        client = AppClient(1, key, url)
        assert client.github.requester.base_url == url
        assert client.installation(7).github.requester.base_url == url
    with pytest.raises(ValueError):
        AppClient(0, "", "https://api.github.com")


# ---- App-level calls ------------------------------------------------------------------------------------

def test_list_installations_follows_pages(env: Env) -> None:
    more = [install_app(env.world, env.app, f"org{i}", emit=False).id for i in range(4)]
    client = AppClient(env.app.id, env.app.private_key_pem or "", env.url, per_page=2, retry=FAST)
    found = client.list_installations()
    assert [i.id for i in found] == [env.inst.id, *more]
    assert found[0].account_login == "acme" and found[0].repository_selection == "all"
    assert len(env.log("GET", "/app/installations")) == 3


def test_installation_for_repo(env: Env) -> None:
    found = env.client.installation_for_repo("acme", "widgets")
    assert found is not None and found.id == env.inst.id and found.app_id == env.app.id
    env.world.add_repo("elsewhere", "thing")
    assert env.client.installation_for_repo("elsewhere", "thing") is None
    assert env.client.installation_for_repo("acme", "nope") is None


def test_hook_deliveries_pages_and_redelivery(env: Env) -> None:
    made = [_delivery(env.world, env.app, env.inst, status_code=500 if i % 2 else 200) for i in range(5)]
    page = env.client.list_hook_deliveries(per_page=2)
    assert [d["id"] for d in page] == [made[4].id, made[3].id] and page.next_cursor
    page2 = env.client.list_hook_deliveries(per_page=2, cursor=page.next_cursor)
    assert [d["id"] for d in page2] == [made[2].id, made[1].id]
    every = list(env.client.iter_hook_deliveries(per_page=2))
    assert [d["id"] for d in every] == [d.id for d in reversed(made)]
    assert len(list(env.client.iter_hook_deliveries(per_page=2, max_pages=2))) == 4
    redelivered: list[HookDelivery] = []
    env.world.redeliver_sink = lambda d: redelivered.append(d) or d  # type: ignore[func-returns-value]
    env.client.redeliver(made[1].id)
    assert [d.id for d in redelivered] == [made[1].id]
    with pytest.raises(GithubException) as info:
        env.client.redeliver(123456789)
    assert info.value.status == 404


def test_missed_delivery_poller_shape(env: Env) -> None:
    """``trunkline.jobs.missed`` iterates ``list_hook_deliveries()`` as mappings."""
    failed = _delivery(env.world, env.app, env.inst, status_code=0)
    items = list(env.client.list_hook_deliveries())
    assert items[0]["guid"] == failed.guid and items[0]["status_code"] == 0 and items[0]["status"] != "OK"


def _delivery(world: World, app: AppReg, inst: Installation, *, status_code: int = 200) -> HookDelivery:
    guid = f"guid-{world.next_id()}"
    d = HookDelivery(id=world.next_id(), guid=guid, event="push", action=None, installation_id=inst.id,
                     repository_id=None, payload=b"{}", delivered_at=datetime.now(UTC).replace(microsecond=0),
                     headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": guid,
                              "X-GitHub-Hook-Installation-Target-Type": "integration",
                              "X-GitHub-Hook-Installation-Target-ID": str(app.id)},
                     status_code=status_code, status="OK" if status_code == 200 else "failed")
    with world.lock:
        world.deliveries.append(d)
    return d


# These tests feed the webhook log made-up payloads to exercise delivery mechanics (signing, order,
# redelivery, pagination); their REST responses are still audited against GitHub's description.
pytestmark = pytest.mark.synthetic_webhooks
