"""Typed webhook payloads: every octokit example of every handled event parses, and reads back right."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.corpus import webhook_examples_dir
from trunkline.events import payloads as p
from trunkline.events.context import is_own_event
from trunkline.events.payloads import EVENT_MODELS, BaseEventPayload, PayloadError, parse_payload

EXAMPLES = webhook_examples_dir()
if not EXAMPLES.is_dir():  # pragma: no cover - the corpus is part of the environment
    pytest.skip(f"octokit webhook examples not found at {EXAMPLES}", allow_module_level=True)


def _cases(events: list[str]) -> list[Any]:
    return [pytest.param(event, path, id=f"{event}/{path.name}")
            for event in events for path in sorted((EXAMPLES / event).glob("*.json"))]


HANDLED = _cases(sorted(EVENT_MODELS))
UNHANDLED = _cases(sorted(d.name for d in EXAMPLES.iterdir() if d.is_dir() and d.name not in EVENT_MODELS))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _labels(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def _pr(m: p.PullRequest, raw: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [
        (m.number, raw["number"]), (m.state, raw["state"]), (m.user.login, raw["user"]["login"]),
        (m.head.sha, raw["head"]["sha"]), (m.head.ref, raw["head"]["ref"]),
        (m.base.sha, raw["base"]["sha"]), (m.base.ref, raw["base"]["ref"]),
        (m.head.repo.id if m.head.repo else None, (raw["head"].get("repo") or {}).get("id")),
        (m.label_names, _labels(raw.get("labels", []))), (m.draft, raw.get("draft", False)),
        (m.merged, raw.get("merged")), (m.mergeable, raw.get("mergeable")),
        (m.maintainer_can_modify, raw.get("maintainer_can_modify")),
    ]


def _check_prs(models: list[p.CheckPullRequest], raw: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [([(x.number, x.head.sha, x.base.ref) for x in models],
             [(x["number"], x["head"]["sha"], x["base"]["ref"]) for x in raw])]


SPECIFIC: dict[str, Callable[[Any, dict[str, Any]], list[tuple[Any, Any]]]] = {
    "pull_request": lambda m, r: [(m.number, r["number"]), *_pr(m.pull_request, r["pull_request"]),
                                  (m.label.name if m.label else None, (r.get("label") or {}).get("name"))],
    "issues": lambda m, r: [
        (m.issue.number, r["issue"]["number"]), (m.issue.title, r["issue"]["title"]),
        (m.issue.body, r["issue"].get("body")), (m.issue.user.login, r["issue"]["user"]["login"]),
        (m.issue.label_names, _labels(r["issue"].get("labels", []))),
        (m.issue.is_pull_request, "pull_request" in r["issue"])],
    "issue_comment": lambda m, r: [
        (m.comment.id, r["comment"]["id"]), (m.comment.body, r["comment"]["body"]),
        (m.comment.user.login, r["comment"]["user"]["login"]), (m.issue.number, r["issue"]["number"]),
        (m.issue.is_pull_request, "pull_request" in r["issue"])],
    "pull_request_review": lambda m, r: [
        (m.review.id, r["review"]["id"]), (m.review.state, r["review"]["state"]),
        (m.review.user.login, r["review"]["user"]["login"]), (m.review.commit_id, r["review"]["commit_id"]),
        *_pr(m.pull_request, r["pull_request"])],
    "check_run": lambda m, r: [
        (m.check_run.id, r["check_run"]["id"]), (m.check_run.name, r["check_run"]["name"]),
        (m.check_run.head_sha, r["check_run"]["head_sha"]), (m.check_run.status, r["check_run"]["status"]),
        (m.check_run.conclusion, r["check_run"]["conclusion"]), (m.check_run.app.id, r["check_run"]["app"]["id"]),
        (m.check_run.check_suite.id, r["check_run"]["check_suite"]["id"]),
        *_check_prs(m.check_run.pull_requests, r["check_run"]["pull_requests"]),
        (m.requested_action.identifier if m.requested_action else None,
         (r.get("requested_action") or {}).get("identifier"))],
    "check_suite": lambda m, r: [
        (m.check_suite.id, r["check_suite"]["id"]), (m.check_suite.head_sha, r["check_suite"]["head_sha"]),
        (m.check_suite.head_branch, r["check_suite"]["head_branch"]),
        (m.check_suite.conclusion, r["check_suite"]["conclusion"]),
        (m.check_suite.app.id, r["check_suite"]["app"]["id"]),
        *_check_prs(m.check_suite.pull_requests, r["check_suite"]["pull_requests"])],
    "status": lambda m, r: [
        (m.id, r["id"]), (m.sha, r["sha"]), (m.state, r["state"]), (m.context, r["context"]),
        (m.target_url, r["target_url"]), ([b.name for b in m.branches], _labels(r["branches"]))],
    "push": lambda m, r: [
        (m.ref, r["ref"]), (m.before, r["before"]), (m.after, r["after"]), (m.forced, r["forced"]),
        (m.created, r["created"]), (m.deleted, r["deleted"]), ([c.id for c in m.commits], [c["id"] for c in r["commits"]]),
        (m.head_commit.id if m.head_commit else None, (r["head_commit"] or {}).get("id")),
        (m.branch, r["ref"][len("refs/heads/"):] if r["ref"].startswith("refs/heads/") else None)],
    "deployment": lambda m, r: [
        (m.deployment.id, r["deployment"]["id"]), (m.deployment.sha, r["deployment"]["sha"]),
        (m.deployment.environment, r["deployment"]["environment"]), (m.deployment.ref, r["deployment"]["ref"]),
        (m.deployment.creator.login, r["deployment"]["creator"]["login"])],
    "deployment_status": lambda m, r: [
        (m.deployment_status.id, r["deployment_status"]["id"]),
        (m.deployment_status.state, r["deployment_status"]["state"]),
        (m.deployment_status.environment, r["deployment_status"].get("environment")),
        (m.deployment.id, r["deployment"]["id"]), (m.deployment.sha, r["deployment"]["sha"])],
    "workflow_run": lambda m, r: [
        (m.workflow_run.id, r["workflow_run"]["id"]), (m.workflow_run.head_sha, r["workflow_run"]["head_sha"]),
        (m.workflow_run.conclusion, r["workflow_run"]["conclusion"]), (m.workflow_run.event, r["workflow_run"]["event"]),
        (m.workflow_run.workflow_id, r["workflow_run"]["workflow_id"]), (m.workflow.path, r["workflow"]["path"]),
        *_check_prs(m.workflow_run.pull_requests, r["workflow_run"]["pull_requests"])],
    "installation": lambda m, r: [
        (m.installation.id, r["installation"]["id"]), (m.installation.app_id, r["installation"]["app_id"]),
        (m.installation.account.login, r["installation"]["account"]["login"]),
        (m.installation.permissions, r["installation"]["permissions"]),
        ([x.full_name for x in m.repositories or []], [x["full_name"] for x in r.get("repositories") or []])],
    "installation_repositories": lambda m, r: [
        (m.installation.id, r["installation"]["id"]), (m.repository_selection, r["repository_selection"]),
        ([x.full_name for x in m.repositories_added], [x["full_name"] for x in r["repositories_added"]]),
        ([x.full_name for x in m.repositories_removed], [x["full_name"] for x in r["repositories_removed"]])],
    "ping": lambda m, r: [(m.zen, r["zen"]), (m.hook_id, r["hook_id"]), (m.hook.id, r["hook"]["id"]),
                          (m.hook.app_id, r["hook"].get("app_id"))],
}


def test_every_handled_event_has_examples_and_checks() -> None:
    assert set(SPECIFIC) == set(EVENT_MODELS)
    for event in EVENT_MODELS:
        assert list((EXAMPLES / event).glob("*.json")), event
    assert len(HANDLED) > 100


@pytest.mark.parametrize(("event", "path"), HANDLED)
def test_example_parses_to_its_typed_model(event: str, path: Path) -> None:
    raw = load(path)
    model = parse_payload(event, raw)
    assert type(model) is EVENT_MODELS[event]
    assert model.event == event
    assert model.action == raw.get("action")
    if "repository" in raw:
        assert model.repository is not None
        assert model.repository.full_name == raw["repository"]["full_name"]
        assert (model.repo_owner, model.repo_name) == (raw["repository"]["owner"]["login"], raw["repository"]["name"])
        assert model.repository.default_branch == raw["repository"].get("default_branch")
        assert model.repository.private == raw["repository"]["private"]
    else:
        assert model.repository is None and model.repo_owner is None
    assert model.sender_login == (raw.get("sender") or {}).get("login")
    assert model.installation_id == (raw.get("installation") or {}).get("id")
    for got, expected in SPECIFIC[event](model, raw):
        assert got == expected
    # nothing is lost: the extras round-trip to the original JSON
    assert model.model_dump(mode="json", exclude_unset=True) == raw


@pytest.mark.parametrize(("event", "path"), UNHANDLED)
def test_unhandled_events_give_the_generic_model(event: str, path: Path) -> None:
    raw = load(path)
    model = parse_payload(event, raw)
    assert type(model) is BaseEventPayload and model.event == event
    assert model.action == raw.get("action")
    assert model.sender_login == (raw.get("sender") or {}).get("login")
    assert model.repo_name == (raw.get("repository") or {}).get("name")


def test_unknown_event_never_raises() -> None:
    for body in (None, [], "text", 3, {}, {"action": 5}, {"repository": "nonsense", "action": "x"}):
        model = parse_payload("never_heard_of_it", body)
        assert isinstance(model, BaseEventPayload) and model.event == "never_heard_of_it"
    assert parse_payload("x", {"repository": "nonsense", "action": "made"}).action == "made"


def test_top_level_event_key_is_kept() -> None:
    model = parse_payload("deployment_protection_rule", {"action": "requested", "event": "push"})
    assert model.event == "deployment_protection_rule" and model.model_extra == {"event": "push"}


@pytest.mark.parametrize(("event", "example", "mutate", "field"), [
    ("pull_request", "opened.payload.json", lambda b: b["pull_request"].pop("number"), "pull_request.number"),
    ("pull_request", "opened.payload.json", lambda b: b["pull_request"]["head"].update(sha=None),
     "pull_request.head.sha"),
    ("issue_comment", "created.payload.json", lambda b: b["comment"].update(body=["x"]), "comment.body"),
    ("check_run", "created.payload.json", lambda b: b["check_run"].update(id="not-a-number"), "check_run.id"),
    ("push", "payload.json", lambda b: b.pop("ref"), "ref"),
    ("installation", "created.payload.json", lambda b: b["installation"].pop("id"), "installation.id"),
])
def test_malformed_known_event_raises_a_clear_error(event: str, example: str, mutate: Callable[[dict], Any],
                                                    field: str) -> None:
    body = copy.deepcopy(load(EXAMPLES / event / example))
    mutate(body)
    with pytest.raises(PayloadError) as info:
        parse_payload(event, body)
    assert info.value.event == event
    assert any(problem.startswith(field + ":") for problem in info.value.problems), info.value.problems
    assert field in str(info.value) and "malformed" in str(info.value)


def test_known_event_with_a_non_object_body() -> None:
    with pytest.raises(PayloadError, match="expected a JSON object"):
        parse_payload("push", ["not", "an", "object"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(["action", "repository", "installation", "sender", "number",
                                          "pull_request", "ref", "zen", "check_run"]), json_values, max_size=5)


@given(event=st.sampled_from(sorted(EVENT_MODELS)) | st.text(max_size=12), body=bodies | json_values)
def test_parse_either_succeeds_or_raises_payload_error(event: str, body: Any) -> None:
    try:
        model = parse_payload(event, body)
    except PayloadError:
        assert event in EVENT_MODELS  # only known events may be refused
        return
    assert model.event == event


# ---- is_own_event, on real examples ---------------------------------------------------------------------

def example(event: str, name: str) -> BaseEventPayload:
    return parse_payload(event, load(EXAMPLES / event / name))


def test_events_sent_by_our_bot_are_own() -> None:
    comment = example("issue_comment", "created.payload.json")
    assert comment.sender_login
    assert is_own_event(comment, comment.sender_login, None)
    assert is_own_event(comment, comment.sender_login.upper(), 1)
    assert not is_own_event(comment, "trunkline[bot]", 1)
    assert not is_own_event(comment, None, None)


def test_check_runs_we_created_or_completed_are_own() -> None:
    for name in ("created.payload.json", "completed.payload.json"):
        run = example("check_run", name)
        assert isinstance(run, p.CheckRunEvent) and run.check_run.app
        ours = run.check_run.app.id
        assert is_own_event(run, "trunkline[bot]", ours)
        assert not is_own_event(run, "trunkline[bot]", ours + 1)


def test_people_asking_our_app_to_act_are_not_own() -> None:
    for event, name in (("check_run", "rerequested.payload.json"), ("check_run", "requested_action.payload.json"),
                        ("check_suite", "requested.payload.json"), ("check_suite", "rerequested.payload.json")):
        payload = example(event, name)
        app = payload.check_run.app if isinstance(payload, p.CheckRunEvent) else payload.check_suite.app  # type: ignore[attr-defined]
        assert app is not None
        assert not is_own_event(payload, "trunkline[bot]", app.id), name


def test_suite_completed_by_our_runs_is_own() -> None:
    suite = example("check_suite", "completed.payload.json")
    assert isinstance(suite, p.CheckSuiteEvent) and suite.check_suite.app
    assert is_own_event(suite, "trunkline[bot]", suite.check_suite.app.id)
    assert not is_own_event(suite, "trunkline[bot]", suite.check_suite.app.id + 1)


def test_other_events_are_not_own_by_app_id_alone() -> None:
    push = example("push", "payload.json")
    assert not is_own_event(push, "trunkline[bot]", 29310)


def test_new_code_our_bot_pushed_or_opened_is_still_gated() -> None:
    # update-branch, /generate and agent runs make our bot the sender of these; gates must run on them.
    for event, name in (("pull_request", "synchronize.payload.json"), ("pull_request", "opened.payload.json"),
                        ("pull_request", "reopened.payload.json"), ("push", "payload.json")):
        path = EXAMPLES / event / name
        if not path.exists():
            path = sorted((EXAMPLES / event).glob("*.json"))[0]
        payload = parse_payload(event, load(path))
        assert payload.sender_login
        assert not is_own_event(payload, payload.sender_login, 1), (event, name)
    # ...while what our bot says or labels stays ours (reacting to it would loop)
    for event, name in (("pull_request", "labeled.payload.json"), ("issues", "labeled.payload.json")):
        payload = example(event, name)
        assert is_own_event(payload, payload.sender_login, 1), (event, name)
