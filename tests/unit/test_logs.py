"""Run logs over HTTP (``trunkline.logs``): signed, expiring links, only files inside a run's log folder,
and the routes of a real receiver (uvicorn on 127.0.0.1, real SQLite)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline.ingest.server import IngestServer
from trunkline.jobs.queue import JobQueue
from trunkline.logs import files, links
from trunkline.settings import Settings
from trunkline.store.agent_runs import AgentRunRepo
from trunkline.store.base import Store
from trunkline.store.gate_runs import GateRunRepo

SECRET = "logs-secret"
RUN = "20261122-041500-1a2b3c4d"
KEY = links.derive_key(SECRET)


# ---------------------------------------------------------------------------------------------- links

def test_a_link_verifies_only_for_its_own_path_and_until_it_expires() -> None:
    assert KEY is not None and links.derive_key("") is None
    assert links.derive_key(SECRET) != SECRET.encode() and links.derive_key(SECRET, "dedicated") != KEY
    signer = links.Signer("https://bot.example", KEY, ttl=3600)
    url = signer.link("/logs/agents/x/plan-1.log", now=1000.0)
    parts = urlsplit(url)
    assert url.startswith("https://bot.example/logs/agents/x/plan-1.log?")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert int(q["expires"]) >= 1000 + 3600 and int(q["expires"]) % links.EXPIRY_STEP == 0
    assert links.refusal(KEY, parts.path, q["expires"], q["sig"], 1000.0) is None
    # another path, an altered expiry or signature, another key: refused, saying why
    assert "signature" in links.refusal(KEY, "/logs/agents/x/plan-2.log", q["expires"], q["sig"], 1000.0)
    assert "signature" in links.refusal(KEY, parts.path, str(int(q["expires"]) + 3600), q["sig"], 1000.0)
    assert "signature" in links.refusal(KEY, parts.path, q["expires"], "0" * 64, 1000.0)
    assert "signature" in links.refusal(links.derive_key("other"), parts.path, q["expires"], q["sig"], 1000.0)
    # expired: after its time, a genuine link says so (with the date)
    why = links.refusal(KEY, parts.path, q["expires"], q["sig"], float(q["expires"]))
    assert why is not None and why.startswith("this log link expired on ") and "UTC" in why
    assert "not signed" in links.refusal(KEY, parts.path, None, q["sig"], 1000.0)
    assert "malformed" in links.refusal(KEY, parts.path, "12x", q["sig"], 1000.0)
    assert "malformed" in links.refusal(KEY, parts.path, q["expires"] + "\n", q["sig"], 1000.0)
    assert "not enabled" in links.refusal(None, parts.path, q["expires"], q["sig"], 1000.0)


def test_links_are_stable_within_an_expiry_step() -> None:
    signer = links.Signer("http://h", KEY, ttl=7 * 86400)
    t = 1_800_000_000.0 - 1_800_000_000.0 % links.EXPIRY_STEP + 1
    assert signer.link("/logs/gates/1", t) == signer.link("/logs/gates/1", t + links.EXPIRY_STEP - 2)
    assert signer.link("/logs/gates/1", t) != signer.link("/logs/gates/1", t + links.EXPIRY_STEP)


def test_settings_decide_whether_links_are_made() -> None:
    assert links.signer_from_settings(Settings(webhook_secret=SECRET)) is None  # no public URL
    assert links.signer_from_settings(Settings(public_url="http://h:1")) is None  # no key
    signer = links.signer_from_settings(Settings(webhook_secret=SECRET, public_url="http://h:1/", logs_link_ttl=60))
    assert signer is not None and signer.base_url == "http://h:1" and signer.ttl == 60


@given(path=st.text(min_size=1, max_size=60), expires=st.integers(1, 10**11), other=st.text(min_size=1, max_size=60))
def test_a_signature_never_opens_another_path(path: str, expires: int, other: str) -> None:
    sig = links.signature(KEY, path, expires)
    assert links.refusal(KEY, path, str(expires), sig, 0.0) is None
    if other != path:
        assert links.refusal(KEY, other, str(expires), sig, 0.0) is not None


# ---------------------------------------------------------------------------------------------- files

@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/{acme/calc/<run>/logs/plan-1.log, secret.txt, link-out -> ../outside.txt}, outside.txt next to root."""
    base = tmp_path_factory.mktemp("tree")
    root = base / "root"
    logs = root / "acme" / "calc" / RUN / "logs"
    logs.mkdir(parents=True)
    (logs / "plan-1.log").write_text("planned\n")
    (root / "acme" / "calc" / RUN / "run.json").write_text("{}")
    (base / "outside.txt").write_text("outside\n")
    (logs / "link-out.log").symlink_to(base / "outside.txt")
    (logs / "dir.log").mkdir()
    return root


SEGMENT = st.one_of(st.sampled_from(["..", ".", "", "/", "acme", "calc", RUN, "logs", "plan-1.log", "link-out.log",
                                     "dir.log", "run.json", "..%2f", "%2e%2e", "\x00", "a/../..", "/etc/passwd",
                                     "outside.txt", "~"]),
                    st.text(max_size=12))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(parts=st.lists(SEGMENT, min_size=1, max_size=7))
def test_only_regular_files_inside_the_root_are_ever_served(tree: Path, parts: list[str]) -> None:
    found = files.inside(tree, *parts)
    if found is not None:
        assert found.is_file() and found.is_relative_to(tree.resolve())
        assert found.read_text() != "outside\n"
        assert all(p not in ("", ".", "..") and "/" not in p for p in parts)


def test_inside_finds_the_log_and_refuses_links_dirs_and_escapes(tree: Path) -> None:
    assert files.inside(tree, "acme", "calc", RUN, "logs", "plan-1.log") is not None
    assert files.inside(tree, "acme", "calc", RUN, "logs", "link-out.log") is None  # points outside
    assert files.inside(tree, "acme", "calc", RUN, "logs", "dir.log") is None
    assert files.inside(tree, "acme", "calc", RUN, "logs", "..", "run.json") is None
    assert files.inside(tree, "acme/calc") is None
    assert [p.name for p in files.list_logs(tree / "acme" / "calc" / RUN / "logs")] == ["plan-1.log"]


# ---------------------------------------------------------------------------------------------- HTTP

@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Store]]:
    tmp = tmp_path_factory.mktemp("served")
    saved = {k: os.environ.get(k) for k in ("TRUNKLINE_AGENTS_DIR", "TRUNKLINE_GATES_DIR")}
    os.environ["TRUNKLINE_AGENTS_DIR"] = str(tmp / "agents")
    os.environ["TRUNKLINE_GATES_DIR"] = str(tmp / "gates")
    cfg = Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp}/t.db", queue_url=f"sqlite:///{tmp}/q.db",
                   public_url="http://logs.example")
    store = Store.from_settings(cfg)
    store.create_all()
    AgentRunRepo(store).create(id=RUN, repo="acme/calc", installation_id=1, issue=7, label="agent:implement",
                               actor="dev", trigger="label:1", backend="local", executor="local",
                               branch=f"trunkline/7-{RUN}", created_at=1.0, steps=[])
    logs = tmp / "agents" / "acme" / "calc" / RUN / "logs"
    logs.mkdir(parents=True)
    (logs / "plan-1.log").write_text("$ agent plan\nplanned <b>it</b>\n")
    (logs / "implement-2.log").write_text("$ agent implement\n" + "x" * 200_000 + "\nend\n")
    (tmp / "agents" / "acme" / "calc" / RUN / "input").mkdir()
    (tmp / "agents" / "acme" / "calc" / RUN / "input" / "body.md").write_text("private issue text\n")
    gate = GateRunRepo(store).create(repo="acme/calc", head_sha="a" * 40, tier="tier-0", executor="local",
                                     trigger="t", created_at=1.0)
    assert gate is not None
    gate_dir = files.gate_log_dir(tmp / "gates", gate.repo, gate.id)
    gate_dir.mkdir(parents=True)
    (gate_dir / files.GATE_LOG).write_text("$ pytest\n1 passed\n")
    try:
        with IngestServer(cfg, store, JobQueue.from_url(cfg.queue_url)) as srv:
            yield srv.url, tmp, store
    finally:
        links.reset()
        store.dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def local(url: str, base: str) -> str:
    """A link made with the public URL, fetched from the test server."""
    return base + url.removeprefix("http://logs.example")


@pytest.mark.slow  # a real receiver (uvicorn)
def test_signed_links_serve_the_stage_log_and_the_index(served: tuple[str, Path, Store]) -> None:
    base, _, _ = served
    signer = links.current()
    assert signer is not None and signer.base_url == "http://logs.example"  # configured by the app
    log = httpx.get(local(signer.link(links.agent_log_path(RUN, "plan-1.log")), base))
    assert log.status_code == 200 and log.text == "$ agent plan\nplanned <b>it</b>\n"
    assert log.headers["content-type"].startswith("text/plain") and log.headers["cache-control"] == "private, no-store"
    big = httpx.get(local(signer.link(links.agent_log_path(RUN, "implement-2.log")), base))
    assert big.status_code == 200 and big.text.endswith("\nend\n") and len(big.content) > 200_000
    index = httpx.get(local(signer.link(links.agent_index_path(RUN)), base))
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "plan-1.log" in index.text and "implement-2.log" in index.text and "body.md" not in index.text
    # the index's links are signed too and open the files
    hrefs = [h.split('"', 1)[0].replace("&amp;", "&") for h in index.text.split('href="')[1:]]
    assert len(hrefs) == 2
    opened = httpx.get(f"{base}/logs/agents/{hrefs[0]}")
    assert opened.status_code == 200 and opened.text.startswith("$ agent")
    gate = httpx.get(local(signer.link(links.gate_log_path(1)), base))
    assert gate.status_code == 200 and gate.text == "$ pytest\n1 passed\n"


@pytest.mark.slow  # a real receiver (uvicorn)
def test_tampered_expired_and_unsigned_links_are_refused(served: tuple[str, Path, Store]) -> None:
    base, _, _ = served
    assert KEY is not None
    good = links.Signer(base, KEY, ttl=3600).link(links.agent_log_path(RUN, "plan-1.log"))
    path, _, query = good.partition("?")
    q = {k: v[0] for k, v in parse_qs(query).items()}

    def get(url: str) -> httpx.Response:
        return httpx.get(url)

    cases = {
        "signature": f"{path}?expires={int(q['expires']) + 3600}&sig={q['sig']}",  # longer life: signature breaks
        "signature ": f"{path.replace('plan-1', 'implement-2')}?{query}",  # another file with this link
        "not signed": path,
        "malformed": f"{path}?expires=soon&sig={q['sig']}",
    }
    for why, url in cases.items():
        response = get(url)
        assert response.status_code == 403, url
        assert why.strip() in response.json()["message"] and "planned" not in response.text
    past = int(time.time()) - 10
    expired = f"{path}?expires={past}&sig={links.signature(KEY, links.agent_log_path(RUN, 'plan-1.log'), past)}"
    response = get(expired)
    assert response.status_code == 403 and response.json()["message"].startswith("this log link expired on")
    # a link signed with another key (another server, an old secret)
    other = links.Signer(base, links.derive_key("not-the-secret") or b"", 3600).link(links.agent_index_path(RUN))
    assert get(other).status_code == 403


@pytest.mark.slow  # a real receiver (uvicorn)
def test_path_tricks_never_reach_files_outside_the_run_logs(served: tuple[str, Path, Store]) -> None:
    base, tmp, _ = served
    assert KEY is not None
    signer = links.Signer(base, KEY, 3600)
    for name in ("..", ".", "../input/body.md", "..%2Finput%2Fbody.md", "%2e%2e", "body.md", "run.json"):
        # even correctly signed for exactly that path: nothing outside logs/ comes back
        url = signer.link(f"/logs/agents/{RUN}/{name}")
        response = httpx.get(url)
        assert response.status_code in (403, 404), (name, response.status_code)
        assert "private issue text" not in response.text
    with httpx.Client(base_url=base) as client:  # raw paths, not normalised by the client
        for raw in (f"/logs/agents/{RUN}/../input/body.md", f"/logs/agents/{RUN}/%2e%2e/input/body.md",
                    f"/logs/agents/{RUN}/..%2finput%2fbody.md", "/logs/agents/../../etc/passwd"):
            response = client.send(client.build_request("GET", httpx.URL(base + "/x").copy_with(raw_path=raw.encode())))
            assert response.status_code in (403, 404) and "private issue text" not in response.text
            assert "root:" not in response.text
    # correctly signed, but no such run / log / tier run: 404 saying so
    assert httpx.get(signer.link(links.agent_index_path("20200101-000000-00000000"))).status_code == 404
    missing = httpx.get(signer.link(links.agent_log_path(RUN, "plan-9.log")))
    assert missing.status_code == 404 and "has no log 'plan-9.log'" in missing.json()["message"]
    assert httpx.get(signer.link(links.gate_log_path(999))).status_code == 404
    assert httpx.get(f"{base}/logs/nothing/here").json()["message"].startswith("no such log")


def test_serve_makes_links_to_its_own_address_by_default() -> None:
    from trunkline.jobs.cli import public_url

    assert public_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert public_url("::1", 8080) == "http://[::1]:8080"
    assert public_url("0.0.0.0", 8080).endswith(":8080") and "0.0.0.0" not in public_url("0.0.0.0", 8080)
