"""Handler registry lookup and the handler Context."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.corpus import webhook_examples_dir
from trunkline.events import registry as registry_module
from trunkline.events.context import Context
from trunkline.events.payloads import PayloadError, PullRequestEvent, parse_payload
from trunkline.events.registry import Registry


def h_opened(ctx: Any) -> None: ...
def h_any_pr(ctx: Any) -> None: ...
def h_sync(ctx: Any) -> None: ...
def h_push(ctx: Any) -> None: ...


@pytest.fixture
def reg() -> Registry:
    r = Registry()
    r.on("pull_request", "opened", "reopened")(h_opened)
    r.on("pull_request")(h_any_pr)
    r.on("pull_request", "synchronize", "opened")(h_sync)
    r.on("push")(h_push)
    return r


def test_lookup_by_event_and_action_in_registration_order(reg: Registry) -> None:
    assert reg.handlers_for("pull_request", "opened") == [h_opened, h_any_pr, h_sync]
    assert reg.handlers_for("pull_request", "reopened") == [h_opened, h_any_pr]
    assert reg.handlers_for("pull_request", "synchronize") == [h_any_pr, h_sync]
    assert reg.handlers_for("pull_request", "closed") == [h_any_pr]
    assert reg.handlers_for("push", None) == [h_push]
    assert reg.handlers_for("issues", "opened") == []
    assert reg.events() == {"pull_request", "push"}


def test_action_specific_handlers_skip_actionless_events(reg: Registry) -> None:
    assert reg.handlers_for("pull_request", None) == [h_any_pr]


def test_decorator_returns_the_function_and_dedupes() -> None:
    r = Registry()
    assert r.on("issues", "opened")(h_opened) is h_opened
    r.on("issues", "opened")(h_opened)  # e.g. a module imported twice
    assert len(r) == 1 and r.handlers_for("issues", "opened") == [h_opened]
    r.remove(h_opened)
    assert r.handlers_for("issues", "opened") == []


@pytest.mark.parametrize("bad", [("",), ("pull_request.opened",), ("pull_request", "")])
def test_bad_registrations_are_refused(bad: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        Registry().on(*bad)(h_opened)


def test_module_level_registry_exists() -> None:
    assert isinstance(registry_module.registry, Registry)
    assert registry_module.on.__self__ is registry_module.registry  # type: ignore[attr-defined]


names = st.sampled_from(["pull_request", "issues", "push", "check_run"])
acts = st.sampled_from(["opened", "closed", "created", "completed"])


@given(regs=st.lists(st.tuples(names, st.lists(acts, max_size=2, unique=True)), max_size=8),
       event=names, action=st.none() | acts)
def test_lookup_matches_a_straightforward_model(regs: list[tuple[str, list[str]]], event: str,
                                                action: str | None) -> None:
    r = Registry()
    handlers = []
    for i, (ev, actions) in enumerate(regs):
        def handler(ctx: Any, _i: int = i) -> None: ...
        handler.__qualname__ = f"handler{i}"
        r.on(ev, *actions)(handler)
        handlers.append((handler, ev, set(actions)))
    expected = [h for h, ev, actions in handlers
                if ev == event and (not actions or (action is not None and action in actions))]
    assert r.handlers_for(event, action) == expected


# ---- Context -----------------------------------------------------------------------------------------

def _example(event: str, name: str) -> dict[str, Any]:
    return json.loads((webhook_examples_dir() / event / name).read_text())


def test_context_from_a_real_payload_is_lazy() -> None:
    raw = _example("pull_request", "converted_to_draft.with-installation.payload.json")
    made: list[int] = []
    loads: list[int] = []

    def factory(installation_id: int) -> object:
        made.append(installation_id)
        return object()

    ctx = Context.build("pull_request", "guid-1", raw, github_factory=factory,
                        config_loader=lambda: loads.append(1) or {"checks": []})
    assert isinstance(ctx.payload, PullRequestEvent)
    assert (ctx.event, ctx.action, ctx.delivery_id) == ("pull_request", raw["action"], "guid-1")
    assert ctx.installation_id == raw["installation"]["id"]
    assert (ctx.repo_owner, ctx.repo_name) == (raw["repository"]["owner"]["login"], raw["repository"]["name"])
    assert ctx.repo_full_name == raw["repository"]["full_name"]
    assert made == [] and loads == []  # nothing happens until asked
    client = ctx.github
    assert ctx.github is client and made == [raw["installation"]["id"]]
    assert ctx.config() == {"checks": []} and ctx.config() == {"checks": []} and loads == [1]


def test_context_without_repository_or_installation() -> None:
    raw = _example("ping", "payload.json")
    raw.pop("repository", None)
    ctx = Context.build("ping", "guid-2", raw, github_factory=lambda i: i)
    assert ctx.repo_owner is None and ctx.repo_name is None and ctx.repo_full_name is None
    assert ctx.installation_id is None
    with pytest.raises(RuntimeError, match="no installation"):
        _ = ctx.github
    with pytest.raises(RuntimeError, match="config loader"):
        ctx.config()


def test_context_accepts_a_parsed_payload_and_refuses_a_malformed_one() -> None:
    raw = _example("push", "with-installation.payload.json")
    typed = parse_payload("push", raw)
    assert Context.build("push", "g", typed).payload is typed
    raw.pop("ref")
    with pytest.raises(PayloadError):
        Context.build("push", "g", raw)


def test_context_log_is_bound_to_the_delivery(caplog: pytest.LogCaptureFixture) -> None:
    raw = _example("issues", "opened.payload.json")
    ctx = Context.build("issues", "guid-3", raw, logger=logging.getLogger("trunkline.test.handlers"))
    with caplog.at_level(logging.INFO, logger="trunkline.test.handlers"):
        ctx.log.info("labelled %s", "bug", extra={"extra_key": 1})
    record = caplog.records[-1]
    assert record.getMessage() == f"[guid-3 issues.opened {raw['repository']['full_name']}] labelled bug"
    assert record.delivery_id == "guid-3" and record.event == "issues"  # type: ignore[attr-defined]
    assert record.extra_key == 1  # type: ignore[attr-defined]
