"""Acceptance: a whole PR lifecycle with PyGithub as the client, and every response it got is GitHub's.

The lifecycle itself (``pr_lifecycle.py``) asserts what a client observes at each step (409 on a
stale-sha merge that changes nothing, update-branch, merge, deployments, workflow runs, hook
deliveries + redelivery, ...). Here we check the trace it left: every REST response the sandbox
produced validates against GitHub's REST description for its (method, route, status).

The share of responses validated is written to ``.bench/fidelity.json`` (gitignored) for the closing note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trunkline.corpus import rest_description_path

pytestmark = pytest.mark.skipif(not rest_description_path().exists(),
                                reason=f"GitHub REST description missing at {rest_description_path()}")

REPO_ROOT = Path(__file__).resolve().parents[2]


def _github_entries(log: list[Any]) -> list[Any]:
    return [e for e in log if not e.path.startswith("/_sandbox")]


def test_every_response_of_the_lifecycle_matches_githubs_schema(pr_lifecycle: Any) -> None:
    from trunkline.sandbox import fidelity
    from trunkline.sandbox.server import list_routes

    sb = pr_lifecycle.sandbox
    entries = _github_entries(sb.request_log)
    report = fidelity.check_log(entries)
    assert report.failed == 0, report.summary()

    with_json = [e for e in entries if e.response_body is not None and not e.fault]
    share = report.validated / len(with_json)
    routes_seen = sorted({(e.method, e.route or e.path) for e in entries})
    figures = {
        "scenario": "pr_lifecycle (PyGithub client)",
        "requests": len(entries),
        "responses_with_json_body": len(with_json),
        "responses_validated": report.validated,
        "share_validated": round(share, 4),
        "responses_without_declared_schema": report.skipped_no_schema,
        "distinct_schemas_validated": len(report.covered),
        "route_schema_share": round(report.schema_share(list_routes(sb.app_server)), 4),
        "distinct_routes_called": len(routes_seen),
    }
    out = REPO_ROOT / ".bench" / "fidelity.json"
    out.parent.mkdir(exist_ok=True)
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing["rest"] = figures
    out.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    print("REST fidelity:", json.dumps(figures))

    # Nearly everything the lifecycle received is a JSON body GitHub declares a schema for; a drop
    # here means routes answered with statuses or bodies GitHub does not declare.
    assert report.validated >= 100
    assert share >= 0.95, figures


def test_the_lifecycle_used_the_routes_it_claims(pr_lifecycle: Any) -> None:
    # The scenario is the acceptance test of the whole route set: make sure it really went through
    # the REST routes (a refactor that quietly short-circuits to the World would be caught here).
    from trunkline.sandbox import fidelity

    called = set()
    for e in _github_entries(pr_lifecycle.sandbox.request_log):
        route = e.route or fidelity.match_path(e.method, e.path) or e.path
        # GitHub describes compare twice ({basehead} and {base}...{head}); path matching may pick either.
        called.add((e.method, route.replace("{base}...{head}", "{basehead}"), e.status))
    expected = {
        ("POST", "/app/installations/{installation_id}/access_tokens", 201),
        ("GET", "/repos/{owner}/{repo}/contents/{path}", 200),
        ("POST", "/repos/{owner}/{repo}/check-runs", 201),
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", 200),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 201),
        ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", 201),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", 200),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", 200),
        ("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection", 200),
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}", 201),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/status", 200),
        ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", 409),
        ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/update-branch", 202),
        ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", 200),
        ("POST", "/repos/{owner}/{repo}/deployments", 201),
        ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", 201),
        ("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", 204),
        ("GET", "/repos/{owner}/{repo}/actions/runs", 200),
        ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", 200),
        ("GET", "/repos/{owner}/{repo}/compare/{basehead}", 200),
        ("GET", "/repos/{owner}/{repo}/git/ref/{ref}", 200),
        ("GET", "/app/hook/deliveries", 200),
        ("POST", "/app/hook/deliveries/{delivery_id}/attempts", 202),
    }
    assert expected - called == set()


def test_requests_are_counted_per_installation(pr_lifecycle: Any) -> None:
    sb = pr_lifecycle.sandbox
    inst = pr_lifecycle.lifecycle.installation_id
    by_log = sum(1 for e in sb.request_log if e.installation_id == inst)
    assert by_log > 20
    assert sb.requests_by_installation[inst] == by_log
