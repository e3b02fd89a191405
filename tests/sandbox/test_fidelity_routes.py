"""Every route the sandbox serves is one of GitHub's, and the minimum set from our issue is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.corpus import rest_description_path

pytestmark = pytest.mark.skipif(not rest_description_path().exists(),
                                reason=f"GitHub REST description missing at {rest_description_path()}")

fidelity = pytest.importorskip("trunkline.sandbox.fidelity")

from trunkline.sandbox.server import create_app, list_routes  # noqa: E402
from trunkline.sandbox.world import World  # noqa: E402

# The routes Trunkline's bot, actions and demo rely on (our issue's list), in GitHub's spelling.
REQUIRED_ROUTES = {
    # apps, installations, tokens, hook deliveries
    ("GET", "/app"),
    ("GET", "/app/installations"),
    ("GET", "/app/installations/{installation_id}"),
    ("POST", "/app/installations/{installation_id}/access_tokens"),
    ("GET", "/repos/{owner}/{repo}/installation"),
    ("GET", "/installation/repositories"),
    ("GET", "/app/hook/deliveries"),
    ("GET", "/app/hook/deliveries/{delivery_id}"),
    ("POST", "/app/hook/deliveries/{delivery_id}/attempts"),
    # repositories, branches, protection, contents
    ("GET", "/repos/{owner}/{repo}"),
    ("GET", "/repos/{owner}/{repo}/branches"),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}"),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection"),
    ("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection"),
    ("GET", "/repos/{owner}/{repo}/contents/{path}"),
    ("PUT", "/repos/{owner}/{repo}/contents/{path}"),
    # git data
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("POST", "/repos/{owner}/{repo}/git/refs"),
    ("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("POST", "/repos/{owner}/{repo}/git/commits"),
    ("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("POST", "/repos/{owner}/{repo}/git/trees"),
    ("GET", "/repos/{owner}/{repo}/compare/{basehead}"),
    # pulls
    ("GET", "/repos/{owner}/{repo}/pulls"),
    ("POST", "/repos/{owner}/{repo}/pulls"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/update-branch"),
    # issues, labels, comments, reactions
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/reactions"),
    # checks
    ("POST", "/repos/{owner}/{repo}/check-runs"),
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-suites"),
    ("GET", "/repos/{owner}/{repo}/check-suites/{check_suite_id}"),
    # statuses
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/status"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
    # collaborators
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    # deployments
    ("POST", "/repos/{owner}/{repo}/deployments"),
    ("GET", "/repos/{owner}/{repo}/deployments"),
    ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    # actions
    ("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"),
    ("GET", "/repos/{owner}/{repo}/actions/runs"),
    ("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
    ("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    app = create_app(World(Path(tmp_path_factory.mktemp("routes"))))
    return list_routes(app)


def test_the_required_routes_are_themselves_githubs() -> None:
    # Guards the list above against typos: a misspelt template would make the next test meaningless.
    assert fidelity.unknown_routes(sorted(REQUIRED_ROUTES)) == []


def test_every_served_route_is_a_github_route(served: list[tuple[str, str]]) -> None:
    assert served, "the sandbox serves no routes"
    unknown = fidelity.unknown_routes(served)
    assert unknown == [], "routes GitHub does not have:\n" + "\n".join(f"{m} {t}" for m, t in unknown)


def test_the_minimum_route_set_is_served(served: list[tuple[str, str]]) -> None:
    missing = sorted(REQUIRED_ROUTES - set(served), key=lambda mt: (mt[1], mt[0]))
    assert missing == [], "required routes not served:\n" + "\n".join(f"{m} {t}" for m, t in missing)


def test_control_routes_are_not_listed_as_github_routes(served: list[tuple[str, str]]) -> None:
    assert not [t for _, t in served if t.startswith("/_sandbox")]


def test_unknown_routes_does_catch_a_route_github_lacks() -> None:
    # The check above can fail: a made-up route and a wrong method are both reported.
    bogus = [("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/frobnicate"),
             ("DELETE", "/repos/{owner}/{repo}/pulls/{pull_number}")]
    assert fidelity.unknown_routes(bogus) == bogus


def test_unknown_routes_answer_with_githubs_error_shape(sandbox) -> None:
    import httpx

    missing = httpx.get(f"{sandbox.url}/repos/acme/nothing/frobnicate")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not Found"
    assert "documentation_url" in missing.json()
    wrong_method = httpx.delete(f"{sandbox.url}/app/installations")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["message"] == "Method Not Allowed"
