"""Workflow-run artifacts in the sandbox, read the way the bot reads them (``trunkline.reports.github_io``
through the real ``AppClient``) and the way PyGithub does: list, get, ``302`` to a signed URL, the zip."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from trunkline.github.client import AppClient
from trunkline.reports import github_io
from trunkline.sandbox.actors import Sandbox
from trunkline.sandbox.routes.actions import BLOB_URL_SECONDS, blob_url

NIGHTLY = """\
name: Trunkline nightly
on:
  schedule:
    - cron: "0 3 * * *"
  workflow_dispatch:
"""


@pytest.fixture
def env(tmp_path: Path):
    with Sandbox(tmp_path / "sandbox") as sb:
        sb.create_repo("acme", "app", files={".github/workflows/nightly.yml": NIGHTLY})
        app = sb.create_app("tl", owner="acme", webhook_url=None, secret="s")
        inst = sb.install(app, "acme")
        client = AppClient(app.id, app.private_key_pem or "", sb.url).installation(int(inst.id))
        yield sb, client


def test_a_runs_artifact_is_listed_and_downloaded(env) -> None:  # noqa: ANN001
    sb, client = env
    run_id = sb.schedule_workflow("acme/app", "nightly.yml")
    run = sb.repo("acme/app").workflow_runs[run_id]
    assert (run.event, run.head_branch, run.status) == ("schedule", "main", "queued")
    art_id = sb.upload_artifact("acme/app", run_id, "trunkline-report",
                                {"flaky.json": '{"flaky": []}', "sub/perf.json": b"{}"})
    sb.upload_artifact("acme/app", run_id, "logs", {"log.txt": "x"})
    with pytest.raises(ValueError, match="already exists"):
        sb.upload_artifact("acme/app", run_id, "logs", {"log.txt": "y"})

    found = github_io.find_artifact(client, "acme", "app", run_id)
    assert found["id"] == art_id and found["name"] == "trunkline-report" and not found["expired"]
    assert found["workflow_run"]["id"] == run_id and found["digest"].startswith("sha256:")
    assert github_io.find_artifact(client, "acme", "app", run_id, "nope") is None

    data = github_io.download_artifact(client, "acme", "app", art_id)
    assert github_io.unzip(data) == {"flaky.json": b'{"flaky": []}', "sub/perf.json": b"{}"}
    assert github_io.unzip(data, {"perf.json"}) == {"sub/perf.json": b"{}"}
    with pytest.raises(github_io.ArtifactError, match="not a zip"):
        github_io.unzip(b"plain text")

    # PyGithub sees the same artifacts
    from github import Auth, Github

    gh = Github(auth=Auth.Token(client.token()), base_url=sb.url)
    repo = gh.get_repo("acme/app")
    names = sorted(a.name for a in repo.get_workflow_run(run_id).get_artifacts())
    assert names == ["logs", "trunkline-report"]
    assert repo.get_artifact(art_id).size_in_bytes == len(data)


def test_download_is_a_redirect_to_a_signed_short_lived_url(env) -> None:  # noqa: ANN001
    sb, client = env
    run_id = sb.schedule_workflow("acme/app", "nightly.yml")
    art_id = sb.upload_artifact("acme/app", run_id, "trunkline-report", {"a.json": "{}"})
    token = client.token()
    api = f"{sb.url}/repos/acme/app/actions/artifacts/{art_id}"
    with httpx.Client(headers={"authorization": f"token {token}"}) as http:
        answer = http.get(f"{api}/zip")
        assert answer.status_code == 302
        location = answer.headers["location"]
        assert "/_sandbox/blobs/artifacts/" in location and "sig=" in location
        assert http.get(f"{api}/tar").status_code == 404
        assert http.get(f"{sb.url}/repos/acme/app/actions/runs/999999/artifacts").status_code == 404
    blob = httpx.get(location)  # no token: the signature is the key
    assert blob.status_code == 200 and blob.headers["content-type"] == "application/zip"
    assert httpx.get(location.replace("sig=", "sig=0")).status_code == 403
    stale = blob_url(sb.world, art_id, now_s=time.time() - BLOB_URL_SECONDS - 5)
    assert httpx.get(stale).status_code == 403

    sb.repo("acme/app").artifacts[art_id].expired = True
    with httpx.Client(headers={"authorization": f"token {token}"}) as http:
        gone = http.get(f"{api}/zip")
        assert gone.status_code == 410 and gone.json()["message"] == "Artifact has expired"


def test_scheduling_needs_a_schedule_trigger(env) -> None:  # noqa: ANN001
    sb, _ = env
    sb.push("acme/app", "main", {".github/workflows/ci.yml": "name: CI\non: [push]\n"}, "ci", as_user="acme")
    with pytest.raises(ValueError, match="no schedule"):
        sb.schedule_workflow("acme/app", "ci.yml")
    with pytest.raises(LookupError):
        sb.schedule_workflow("acme/app", "missing.yml")
