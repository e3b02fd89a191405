"""The loop guard (``is_own_event``) on real octokit examples sent as our bot: what our bot says and labels
is dropped, while new code it pushed and the results of work it started (a workflow run it dispatched,
a pull request it merged) are still handled."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.corpus import webhook_examples_dir
from trunkline.events.context import NEW_CODE_EVENTS, OWN_RESULT_EVENTS, handled_when_ours, is_own_event
from trunkline.events.payloads import EVENT_MODELS, parse_payload

EXAMPLES = webhook_examples_dir()
if not EXAMPLES.is_dir():  # pragma: no cover - the corpus is part of the environment
    pytest.skip(f"octokit webhook examples not found at {EXAMPLES}", allow_module_level=True)

BOT = "trunkline[bot]"


def as_bot(event: str, name: str) -> Any:
    raw = json.loads((EXAMPLES / event / name).read_text())
    raw["sender"] = {**raw["sender"], "login": BOT, "type": "Bot"}
    return parse_payload(event, raw)


@pytest.mark.parametrize("name", ["requested.payload.json", "completed.payload.json",
                                  "completed.with-pull-requests.payload.json"])
def test_a_workflow_run_our_bot_dispatched_is_handled(name: str) -> None:
    assert not is_own_event(as_bot("workflow_run", name), BOT, 1)


def test_a_pull_request_our_bot_merged_is_handled_but_its_labels_and_comments_are_not() -> None:
    assert not is_own_event(as_bot("pull_request", "closed.payload.json"), BOT, 1)
    assert not is_own_event(as_bot("pull_request", "synchronize.payload.json"), BOT, 1)
    assert is_own_event(as_bot("pull_request", "labeled.payload.json"), BOT, 1)
    assert is_own_event(as_bot("pull_request", "unlabeled.payload.json"), BOT, 1)
    assert is_own_event(as_bot("issue_comment", "created.payload.json"), BOT.upper(), None)
    assert not is_own_event(as_bot("issue_comment", "created.payload.json"), "someone-else[bot]", None)


@given(event=st.sampled_from(sorted(EVENT_MODELS)), action=st.none() | st.text(max_size=20))
def test_only_the_listed_events_of_our_bot_are_handled(event: str, action: str | None) -> None:
    expected = (event, action) in NEW_CODE_EVENTS or (event, action) in OWN_RESULT_EVENTS \
        or (event, None) in OWN_RESULT_EVENTS
    assert handled_when_ours(event, action) == expected
    assert handled_when_ours("workflow_run", action)
