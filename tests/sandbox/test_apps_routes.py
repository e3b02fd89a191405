"""The sandbox's GitHub App routes, exercised over real HTTP against a running sandbox server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trunkline.sandbox.routes.apps import install_app, register_app
from trunkline.sandbox.server import ServerHandle
from trunkline.sandbox.world import AppReg, HookDelivery, Installation, World

try:  # written in parallel; assert fidelity as soon as it is importable
    from trunkline.sandbox.fidelity import validate_response, validate_webhook
except ImportError:  # pragma: no cover - depends on another helper's progress
    validate_response = None  # type: ignore[assignment]
    validate_webhook = None  # type: ignore[assignment]


def assert_fidelity(method: str, template: str, response: requests.Response) -> None:
    if validate_response is None:
        return
    body = response.json() if response.content else None
    errors = validate_response(method, template, response.status_code, body)
    assert errors == [], errors


def app_jwt(app: AppReg, *, iat_offset: int = -60, exp_offset: int = 300, key: str | None = None,
            iss: Any = None) -> str:
    now = int(time.time())
    claims = {"iat": now + iat_offset, "exp": now + exp_offset, "iss": str(app.id) if iss is None else iss}
    return jwt.encode(claims, key or app.private_key_pem, algorithm="RS256")


@dataclass
class Env:
    world: World
    url: str
    app: AppReg
    other: AppReg
    inst: Installation  # app on "acme", all repos
    webhooks: list[tuple[str, dict[str, Any]]]

    def call(self, method: str, path: str, *, auth: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Accept": "application/vnd.github+json"}
        if auth:
            headers["Authorization"] = auth
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kw)

    def as_app(self, app: AppReg | None = None) -> str:
        return "Bearer " + app_jwt(app or self.app)

    def token(self, inst: Installation | None = None, **body: Any) -> str:
        r = self.call("POST", f"/app/installations/{(inst or self.inst).id}/access_tokens",
                      auth=self.as_app(self.world.apps[(inst or self.inst).app_id]), json=body or None)
        assert r.status_code == 201, r.text
        return "token " + r.json()["token"]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    world = World(tmp_path / "world")
    webhooks: list[tuple[str, dict[str, Any]]] = []
    world.webhook_sink = lambda event, payload, repo: webhooks.append((event, payload))
    app = register_app(world, "trunkline-test", "acme-corp", "http://127.0.0.1:9/hook", "s3cret",
                       {"checks": "write", "contents": "read", "metadata": "read", "issues": "write"},
                       ["check_run", "pull_request"])
    other = register_app(world, "someone-else", "other-corp", None, "", None, None)
    for name in ("widgets", "gadgets", "gizmos"):
        world.add_repo("acme", name)
    inst = install_app(world, app, "acme")
    with ServerHandle(world) as handle:
        yield Env(world=world, url=handle.url, app=app, other=other, inst=inst, webhooks=webhooks)


# ---- world helpers ------------------------------------------------------------------------------------

def test_register_app_makes_a_signing_key_and_a_bot_user(env: Env) -> None:
    app = env.app
    assert app.bot_login == "trunkline-test[bot]"
    assert env.world.users["trunkline-test[bot]"].type == "Bot"
    key = serialization.load_pem_private_key(app.private_key_pem.encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert public == app.public_key_pem
    assert env.other.public_key_pem != app.public_key_pem
    with pytest.raises(ValueError):
        register_app(env.world, "trunkline-test", "x")


def test_install_app_emits_installation_created(env: Env) -> None:
    event, payload = env.webhooks[0]
    assert event == "installation" and payload["action"] == "created"
    assert payload["installation"]["id"] == env.inst.id
    assert payload["installation"]["app_id"] == env.app.id
    assert sorted(r["name"] for r in payload["repositories"]) == ["gadgets", "gizmos", "widgets"]
    if validate_webhook is not None:
        assert validate_webhook("installation", payload) == []


# ---- GET /app and JWT enforcement -------------------------------------------------------------------------

def test_get_app_with_jwt(env: Env) -> None:
    r = env.call("GET", "/app", auth=env.as_app())
    assert r.status_code == 200
    body = r.json()
    assert (body["id"], body["slug"], body["owner"]["login"]) == (env.app.id, "trunkline-test", "acme-corp")
    assert body["permissions"]["checks"] == "write" and body["installations_count"] == 1
    assert_fidelity("GET", "/app", r)


JWT_ONLY = [
    ("GET", "/app"),
    ("GET", "/app/installations"),
    ("GET", "/app/installations/{inst}"),
    ("POST", "/app/installations/{inst}/access_tokens"),
    ("GET", "/repos/acme/widgets/installation"),
    ("GET", "/app/hook/deliveries"),
]


@pytest.mark.parametrize(("method", "path"), JWT_ONLY, ids=[f"{m} {p}" for m, p in JWT_ONLY])
def test_jwt_only_routes_refuse_tokens(env: Env, method: str, path: str) -> None:
    path = path.replace("{inst}", str(env.inst.id))
    installation_token = env.token()
    user_token = "token " + env.world.user_token("acme")
    for auth in (installation_token, user_token, None):
        r = env.call(method, path, auth=auth)
        assert r.status_code == 401, (auth, r.text)
        assert "JSON web token" in r.json()["message"]


@pytest.mark.parametrize("case", ["wrong-key", "expired", "too-long", "future-iat", "unknown-app", "not-a-number"])
def test_bad_jwts_are_refused(env: Env, case: str) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    token = {
        "wrong-key": lambda: app_jwt(env.app, key=stranger),
        "expired": lambda: app_jwt(env.app, iat_offset=-700, exp_offset=-120),
        "too-long": lambda: app_jwt(env.app, iat_offset=-60, exp_offset=600),
        "future-iat": lambda: app_jwt(env.app, iat_offset=300, exp_offset=500),
        "unknown-app": lambda: app_jwt(env.app, iss="999999"),
        "not-a-number": lambda: app_jwt(env.app, iss="abc"),
    }[case]()
    r = env.call("GET", "/app", auth="Bearer " + token)
    assert r.status_code == 401, r.text
    # the same JWT signed by the right key with sane times works (the test is not vacuous)
    assert env.call("GET", "/app", auth=env.as_app()).status_code == 200


def test_jwt_of_another_app_sees_only_its_own(env: Env) -> None:
    r = env.call("GET", f"/app/installations/{env.inst.id}", auth=env.as_app(env.other))
    assert r.status_code == 404
    r = env.call("POST", f"/app/installations/{env.inst.id}/access_tokens", auth=env.as_app(env.other))
    assert r.status_code == 404
    r = env.call("GET", "/repos/acme/widgets/installation", auth=env.as_app(env.other))
    assert r.status_code == 404
    assert env.call("GET", "/app/installations", auth=env.as_app(env.other)).json() == []


# ---- installations ----------------------------------------------------------------------------------

def test_list_installations_paginates(env: Env) -> None:
    for account in ("beta", "gamma", "delta", "epsilon"):
        install_app(env.world, env.app, account)
    install_app(env.world, env.other, "zeta")
    seen: list[int] = []
    url = "/app/installations?per_page=2"
    pages = 0
    while url:
        r = env.call("GET", url, auth=env.as_app())
        assert r.status_code == 200
        assert_fidelity("GET", "/app/installations", r)
        seen += [i["id"] for i in r.json()]
        pages += 1
        nxt = r.links.get("next", {}).get("url")
        url = nxt.removeprefix(env.url) if nxt else ""
    mine = sorted(i.id for i in env.world.installations.values() if i.app_id == env.app.id)
    assert seen == mine and len(mine) == 5 and pages == 3


def test_get_installation(env: Env) -> None:
    r = env.call("GET", f"/app/installations/{env.inst.id}", auth=env.as_app())
    assert r.status_code == 200
    body = r.json()
    assert (body["id"], body["app_id"], body["account"]["login"]) == (env.inst.id, env.app.id, "acme")
    assert body["repository_selection"] == "all" and body["app_slug"] == "trunkline-test"
    assert_fidelity("GET", "/app/installations/{installation_id}", r)
    r = env.call("GET", "/app/installations/424242", auth=env.as_app())
    assert r.status_code == 404
    assert_fidelity("GET", "/app/installations/{installation_id}", r)


def test_repo_installation(env: Env) -> None:
    r = env.call("GET", "/repos/acme/widgets/installation", auth=env.as_app())
    assert r.status_code == 200 and r.json()["id"] == env.inst.id
    assert_fidelity("GET", "/repos/{owner}/{repo}/installation", r)
    env.world.add_repo("nobody", "thing")
    assert env.call("GET", "/repos/nobody/thing/installation", auth=env.as_app()).status_code == 404
    assert env.call("GET", "/repos/acme/missing/installation", auth=env.as_app()).status_code == 404


# ---- installation tokens --------------------------------------------------------------------------------

def test_access_token_is_registered_and_usable(env: Env) -> None:
    before = time.time()
    r = env.call("POST", f"/app/installations/{env.inst.id}/access_tokens", auth=env.as_app())
    assert r.status_code == 201, r.text
    assert_fidelity("POST", "/app/installations/{installation_id}/access_tokens", r)
    body = r.json()
    assert body["token"].startswith("ghs_") and body["repository_selection"] == "all"
    assert body["permissions"] == env.app.permissions and "repositories" not in body
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert before + 3600 - 2 <= expires <= time.time() + 3600
    tok = env.world.tokens[body["token"]]
    assert (tok.kind, tok.installation_id, tok.user) == ("installation", env.inst.id, "trunkline-test[bot]")
    r = env.call("GET", "/installation/repositories", auth="token " + body["token"])
    assert r.status_code == 200
    assert r.json()["total_count"] == 3


def test_expired_installation_token_is_refused(env: Env) -> None:
    auth = env.token()
    env.world.tokens[auth.split()[1]].expires_at = time.time() - 1
    assert env.call("GET", "/installation/repositories", auth=auth).status_code == 401


def test_access_token_narrowed_to_repositories_and_permissions(env: Env) -> None:
    widgets = env.world.repo("acme", "widgets")
    r = env.call("POST", f"/app/installations/{env.inst.id}/access_tokens", auth=env.as_app(),
                 json={"repositories": ["gadgets"], "repository_ids": [widgets.id], "permissions": {"checks": "read"}})
    assert r.status_code == 201, r.text
    assert_fidelity("POST", "/app/installations/{installation_id}/access_tokens", r)
    body = r.json()
    assert body["permissions"] == {"checks": "read"} and body["repository_selection"] == "selected"
    assert sorted(x["name"] for x in body["repositories"]) == ["gadgets", "widgets"]


@pytest.mark.parametrize("request_body", [
    {"permissions": {"administration": "write"}},  # not granted at all
    {"permissions": {"contents": "write"}},  # granted only read
    {"repositories": ["no-such-repo"]},
    {"repository_ids": [1]},
])
def test_access_token_refuses_more_than_the_installation_has(env: Env, request_body: dict[str, Any]) -> None:
    r = env.call("POST", f"/app/installations/{env.inst.id}/access_tokens", auth=env.as_app(), json=request_body)
    assert r.status_code == 422, r.text
    assert_fidelity("POST", "/app/installations/{installation_id}/access_tokens", r)


def test_installation_repositories_of_a_selected_installation(env: Env) -> None:
    gizmos = env.world.repo("acme", "gizmos")
    other_app = register_app(env.world, "picky", "acme-corp")
    picky = install_app(env.world, other_app, "acme", repository_ids=[gizmos.id])
    r = env.call("GET", "/installation/repositories", auth=env.token(picky))
    assert r.status_code == 200
    assert_fidelity("GET", "/installation/repositories", r)
    body = r.json()
    assert body["repository_selection"] == "selected"
    assert [x["full_name"] for x in body["repositories"]] == ["acme/gizmos"]
    # the token of a "selected" installation lists exactly those repositories
    tok = env.call("POST", f"/app/installations/{picky.id}/access_tokens", auth=env.as_app(other_app)).json()
    assert [x["name"] for x in tok["repositories"]] == ["gizmos"]


def test_installation_repositories_paginates(env: Env) -> None:
    r = env.call("GET", "/installation/repositories?per_page=2", auth=env.token())
    assert len(r.json()["repositories"]) == 2 and r.json()["total_count"] == 3 and "next" in r.links


def test_installation_repositories_needs_an_installation_token(env: Env) -> None:
    assert env.call("GET", "/installation/repositories", auth=env.as_app()).status_code == 403
    user = "token " + env.world.user_token("acme")
    assert env.call("GET", "/installation/repositories", auth=user).status_code == 403
    assert env.call("GET", "/installation/repositories").status_code == 401


# ---- webhook deliveries ---------------------------------------------------------------------------------

def add_delivery(world: World, inst: Installation | None, *, status_code: int = 200, event: str = "push",
                 action: str | None = None, guid: str | None = None, redelivery: bool = False,
                 app: AppReg | None = None) -> HookDelivery:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid or str(uuid.uuid4()),
               "content-type": "application/json"}
    if app is not None:  # app-level events (no installation) are attributed through GitHub's header
        headers["X-GitHub-Hook-Installation-Target-Type"] = "integration"
        headers["X-GitHub-Hook-Installation-Target-ID"] = str(app.id)
    delivery = HookDelivery(
        id=world.next_id(), guid=headers["X-GitHub-Delivery"], event=event, action=action,
        installation_id=inst.id if inst else None, repository_id=None,
        payload=b'{"zen": "Keep it logically awesome.", "hook_id": 1}', headers=headers,
        delivered_at=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1), redelivery=redelivery,
        status_code=status_code, status="OK" if 200 <= status_code < 400 else "Invalid HTTP Response: 500",
        duration=0.0123, response_body='{"ok": true}' if status_code else "")
    with world.lock:
        world.deliveries.append(delivery)
    return delivery


def test_deliveries_newest_first_with_cursor_pagination(env: Env) -> None:
    made = [add_delivery(env.world, env.inst, status_code=200 if i % 3 else 500) for i in range(7)]
    made.append(add_delivery(env.world, None, event="ping", app=env.app))
    other_inst = install_app(env.world, env.other, "zeta")
    add_delivery(env.world, other_inst)  # another app's delivery: invisible
    seen: list[int] = []
    url = "/app/hook/deliveries?per_page=3"
    while url:
        r = env.call("GET", url, auth=env.as_app())
        assert r.status_code == 200, r.text
        assert_fidelity("GET", "/app/hook/deliveries", r)
        assert len(r.json()) <= 3
        seen += [d["id"] for d in r.json()]
        nxt = r.links.get("next", {}).get("url")
        url = nxt.removeprefix(env.url) if nxt else ""
    assert seen == sorted((d.id for d in made), reverse=True)
    failures = env.call("GET", "/app/hook/deliveries?status=failure", auth=env.as_app()).json()
    assert {d["id"] for d in failures} == {d.id for d in made if d.status_code >= 400}
    successes = env.call("GET", "/app/hook/deliveries?status=success", auth=env.as_app()).json()
    assert {d["id"] for d in successes} == {d.id for d in made if d.status_code < 400}


def test_delivery_item_fields(env: Env) -> None:
    d = add_delivery(env.world, env.inst, status_code=0, event="pull_request", action="opened")
    item = env.call("GET", "/app/hook/deliveries", auth=env.as_app()).json()[0]
    assert item["id"] == d.id and item["guid"] == d.guid and item["status_code"] == 0
    assert (item["event"], item["action"], item["installation_id"]) == ("pull_request", "opened", env.inst.id)
    assert item["redelivery"] is False and item["throttled_at"] is None
    failures = env.call("GET", "/app/hook/deliveries?status=failure", auth=env.as_app()).json()
    assert [x["id"] for x in failures] == [d.id]  # never answered counts as a failure


def test_bad_cursor_is_400(env: Env) -> None:
    r = env.call("GET", "/app/hook/deliveries?cursor=garbage", auth=env.as_app())
    assert r.status_code == 400
    assert_fidelity("GET", "/app/hook/deliveries", r)


def test_get_one_delivery(env: Env) -> None:
    d = add_delivery(env.world, env.inst, event="ping")
    r = env.call("GET", f"/app/hook/deliveries/{d.id}", auth=env.as_app())
    assert r.status_code == 200
    assert_fidelity("GET", "/app/hook/deliveries/{delivery_id}", r)
    body = r.json()
    assert body["request"]["payload"]["zen"] == "Keep it logically awesome."
    assert body["request"]["headers"]["X-GitHub-Delivery"] == d.guid
    assert body["response"]["payload"] == '{"ok": true}' and body["url"] == env.app.webhook_url
    assert env.call("GET", "/app/hook/deliveries/999999", auth=env.as_app()).status_code == 404
    assert env.call("GET", f"/app/hook/deliveries/{d.id}", auth=env.as_app(env.other)).status_code == 404


def test_redeliver_calls_the_sink(env: Env) -> None:
    d = add_delivery(env.world, env.inst, status_code=500)
    calls: list[HookDelivery] = []

    def sink(delivery: HookDelivery) -> HookDelivery:
        calls.append(delivery)
        return add_delivery(env.world, env.inst, guid=delivery.guid, redelivery=True)

    env.world.redeliver_sink = sink
    r = env.call("POST", f"/app/hook/deliveries/{d.id}/attempts", auth=env.as_app())
    assert r.status_code == 202, r.text
    assert_fidelity("POST", "/app/hook/deliveries/{delivery_id}/attempts", r)
    assert calls == [d]
    newest = env.call("GET", "/app/hook/deliveries", auth=env.as_app()).json()[0]
    assert newest["guid"] == d.guid and newest["redelivery"] is True
    assert env.call("POST", "/app/hook/deliveries/999999/attempts", auth=env.as_app()).status_code == 404
    assert env.call("POST", f"/app/hook/deliveries/{d.id}/attempts", auth=env.token()).status_code == 401
    assert calls == [d]


def test_routes_exist_in_the_rest_description() -> None:
    fidelity = pytest.importorskip("trunkline.sandbox.fidelity")
    from trunkline.sandbox.routes import apps
    from trunkline.sandbox.server import github_template

    served = {(m, github_template(r.path)) for r in apps.router.routes for m in r.methods}
    assert served == {
        ("GET", "/app"), ("GET", "/app/installations"), ("GET", "/app/installations/{installation_id}"),
        ("POST", "/app/installations/{installation_id}/access_tokens"),
        ("GET", "/repos/{owner}/{repo}/installation"), ("GET", "/installation/repositories"),
        ("GET", "/app/hook/deliveries"), ("GET", "/app/hook/deliveries/{delivery_id}"),
        ("POST", "/app/hook/deliveries/{delivery_id}/attempts")}
    assert fidelity.unknown_routes(sorted(served)) == []


# These tests feed the webhook log made-up payloads to exercise delivery mechanics (signing, order,
# redelivery, pagination); their REST responses are still audited against GitHub's description.
pytestmark = pytest.mark.synthetic_webhooks
