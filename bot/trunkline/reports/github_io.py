"""GitHub side of the nightly report (the imperative shell): the run's artifact in, the issue out.

* ``GET /repos/{o}/{r}/actions/runs/{run_id}/artifacts?name=trunkline-report`` finds the results;
* ``GET /repos/{o}/{r}/actions/artifacts/{id}/zip`` answers ``302`` with a short-lived signed URL
  outside the API, fetched without our token (GitHub's documented way to download an artifact);
* ``GET /repos/{o}/{r}/issues?labels=trunkline-report&state=all&creator=<bot>`` finds the report issue;
  ``POST``/``PATCH`` ``/issues`` and ``POST .../comments`` carry out the :class:`~.report.Plan`.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any
from urllib.parse import quote

import httpx

from .report import ARTIFACT, LABEL, IssueInfo, Plan

MAX_ARCHIVE_BYTES = 20 * 1024 * 1024
MAX_MEMBER_BYTES = 5 * 1024 * 1024


class ArtifactError(Exception):
    """The results could not be fetched or read (the message says why, for the log and the issue)."""


def _q(value: str) -> str:
    return quote(value, safe="")


def find_artifact(client: Any, owner: str, repo: str, run_id: int, name: str = ARTIFACT) -> dict[str, Any] | None:
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/actions/runs/{int(run_id)}/artifacts",
                                  parameters={"name": name, "per_page": 10})
    found = [a for a in (data or {}).get("artifacts") or [] if a.get("name") == name]
    return found[0] if found else None


def download_artifact(client: Any, owner: str, repo: str, artifact_id: int, *, timeout: float = 30.0) -> bytes:
    """The artifact's zip: the API redirects (302) to a signed URL, which is fetched without our token."""
    url = f"/repos/{_q(owner)}/{_q(repo)}/actions/artifacts/{int(artifact_id)}/zip"
    headers, _ = client.request_json("GET", url)
    location = (headers or {}).get("location")
    if not location:
        raise ArtifactError(f"GitHub gave no download location for artifact {artifact_id}")
    with httpx.Client(timeout=timeout, follow_redirects=True) as http:
        with http.stream("GET", location) as response:
            if response.status_code != 200:
                raise ArtifactError(f"downloading artifact {artifact_id} failed: HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_ARCHIVE_BYTES:
                    raise ArtifactError(f"artifact {artifact_id} is larger than {MAX_ARCHIVE_BYTES} bytes")
                chunks.append(chunk)
    return b"".join(chunks)


def unzip(data: bytes, wanted: frozenset[str] | set[str] | None = None) -> dict[str, bytes]:
    """path -> content of the archive's files (only names in ``wanted`` when given; small files only)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"the artifact is not a zip archive ({exc})") from exc
    out: dict[str, bytes] = {}
    with archive:
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or (wanted is not None and name not in wanted):
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise ArtifactError(f"{info.filename} in the artifact is larger than {MAX_MEMBER_BYTES} bytes")
            out[info.filename] = archive.read(info)
    return out


def report_issues(client: Any, owner: str, repo: str, bot_login: str | None) -> list[IssueInfo]:
    params: dict[str, Any] = {"labels": LABEL, "state": "all", "per_page": 100}
    if bot_login:
        params["creator"] = bot_login
    _, data = client.request_json("GET", f"/repos/{_q(owner)}/{_q(repo)}/issues", parameters=params)
    return [IssueInfo.from_json(i) for i in data or [] if "pull_request" not in i]


def apply(client: Any, owner: str, repo: str, plan: Plan) -> int | None:
    """Carry the plan out; returns the issue number (None when nothing exists or was created)."""
    base = f"/repos/{_q(owner)}/{_q(repo)}/issues"
    number = plan.number
    if plan.action == "none":
        return None
    if plan.action == "create":
        _, created = client.request_json("POST", base, input={"title": plan.title, "body": plan.body,
                                                                "labels": [LABEL]})
        number = int(created["number"])
    elif plan.action == "update":
        client.request_json("PATCH", f"{base}/{number}", input={"title": plan.title, "body": plan.body})
    elif plan.action in ("reopen", "close"):
        client.request_json("PATCH", f"{base}/{number}", input={"title": plan.title, "body": plan.body})
    # the comment says why before the state changes: once the issue is reopened/closed, everything is there
    if plan.comment and number is not None:
        client.request_json("POST", f"{base}/{number}/comments", input={"body": plan.comment})
    if plan.action == "reopen":
        client.request_json("PATCH", f"{base}/{number}", input={"state": "open"})
    elif plan.action == "close":
        client.request_json("PATCH", f"{base}/{number}", input={"state": "closed", "state_reason": "completed"})
    for dup in plan.duplicates:
        client.request_json("POST", f"{base}/{dup}/comments", input={"body": f"Duplicate of #{number}."})
        client.request_json("PATCH", f"{base}/{dup}", input={"state": "closed", "state_reason": "not_planned"})
    return number
