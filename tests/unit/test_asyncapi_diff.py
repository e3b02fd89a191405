"""AsyncAPI 2.x/3.x diff: payload direction semantics, structural rules, and the spec's own examples."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.contracts.diff import Document, Level, diff
from trunkline.contracts.diff.asyncapi import build_model
from trunkline.contracts.diff.refs import Resolver
from trunkline.contracts.diff.rules import RULES
from trunkline.contracts.sources import load_source, parse_text
from trunkline.corpus import corpus_dir

EXAMPLES = corpus_dir() / "asyncapi-spec-examples"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.rglob("*.y*ml") if "asyncapi" in p.read_text()[:200]) \
    if EXAMPLES.exists() else []

PAYLOAD = {"type": "object", "required": ["id"],
           "properties": {"id": {"type": "string"}, "note": {"type": "string"},
                          "kind": {"type": "string", "enum": ["a", "b"]}}}


def v3(*, action: str = "send", payload: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
       address: str = "users/signedup", content_type: str | None = None, extra_ops: dict[str, Any] | None = None,
       messages: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"payload": copy.deepcopy(payload or PAYLOAD)}
    if headers is not None:
        msg["headers"] = headers
    if content_type is not None:
        msg["contentType"] = content_type
    msgs = messages if messages is not None else {"userSignedUp": {"$ref": "#/components/messages/UserSignedUp"}}
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0", "info": {"title": "t", "version": "1"},
        "channels": {"userSignedUp": {"address": address, "messages": msgs}},
        "operations": {"onUserSignedUp": {"action": action, "channel": {"$ref": "#/channels/userSignedUp"},
                                          "messages": [{"$ref": f"#/channels/userSignedUp/messages/{m}"}
                                                       for m in msgs]}},
        "components": {"messages": {"UserSignedUp": msg}},
    }
    doc["operations"].update(extra_ops or {})
    return doc


def v2(*, verb: str = "subscribe", payload: dict[str, Any] | None = None, channel: str = "user/signedup",
       headers: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"name": "UserSignedUp", "payload": copy.deepcopy(payload or PAYLOAD)}
    if headers is not None:
        msg["headers"] = headers
    return {"asyncapi": "2.6.0", "info": {"title": "t", "version": "1"},
            "channels": {channel: {verb: {"operationId": "userSignedUp", "message": msg}}}}


def ids(base: dict[str, Any], head: dict[str, Any]) -> set[str]:
    return {f.id for f in diff(base, head)}


def errs(base: dict[str, Any], head: dict[str, Any]) -> set[str]:
    return {f.id for f in diff(base, head) if f.level is Level.ERR}


def without_required_id(doc: dict[str, Any], version: int) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    payload = (out["components"]["messages"]["UserSignedUp"]["payload"] if version == 3
               else next(iter(out["channels"].values()))[_verb(out)]["message"]["payload"])
    del payload["properties"]["id"]
    payload["required"] = []
    return out


def _verb(doc: dict[str, Any]) -> str:
    ch = next(iter(doc["channels"].values()))
    return "subscribe" if "subscribe" in ch else "publish"


# -- direction semantics ----------------------------------------------------------------------------
@pytest.mark.parametrize("version", [2, 3])
def test_sent_message_follows_response_rules(version: int) -> None:
    base = v3(action="send") if version == 3 else v2(verb="subscribe")  # 2.x subscribe = the app sends
    assert errs(base, without_required_id(base, version)) == {"response-required-property-removed"}
    head = copy.deepcopy(base)
    p = _payload(head, version)
    p["required"] = ["id", "note"]
    assert errs(base, head) == set()  # a sent field becoming required only adds a guarantee
    p2 = _payload(copy.deepcopy(base), version)
    assert p2 is not None
    head = copy.deepcopy(base)
    _payload(head, version)["properties"]["kind"]["enum"].append("c")
    assert {f.level for f in diff(base, head)} == {Level.WARN}  # consumers may not know "c"


@pytest.mark.parametrize("version", [2, 3])
def test_received_message_follows_request_rules(version: int) -> None:
    base = v3(action="receive") if version == 3 else v2(verb="publish")  # 2.x publish = the app receives
    head = copy.deepcopy(base)
    _payload(head, version)["required"] = ["id", "note"]
    assert errs(base, head) == {"request-property-became-required"}
    removed = without_required_id(base, version)
    assert errs(base, removed) == set()  # the app no longer needs a field producers still send
    head = copy.deepcopy(base)
    _payload(head, version)["properties"]["kind"]["enum"].remove("b")
    assert errs(base, head) == {"request-property-enum-value-removed"}


def _payload(doc: dict[str, Any], version: int) -> dict[str, Any]:
    if version == 3:
        return doc["components"]["messages"]["UserSignedUp"]["payload"]
    return next(iter(doc["channels"].values()))[_verb(doc)]["message"]["payload"]


def test_header_schemas_follow_the_same_direction() -> None:
    hdr = {"type": "object", "required": ["x-trace"], "properties": {"x-trace": {"type": "string"}}}
    base = v3(action="send", headers=hdr)
    head = v3(action="send", headers={"type": "object", "properties": {"x-trace": {"type": "string"}}})
    found = diff(base, head)
    assert [(f.id, f.level) for f in found] == [("response-property-became-optional", Level.ERR)]
    assert "headers/x-trace" in found[0].message
    recv_b = v3(action="receive", headers={"type": "object", "properties": {"x-trace": {"type": "string"}}})
    recv_h = v3(action="receive", headers=hdr)
    assert errs(recv_b, recv_h) == {"request-property-became-required"}


# -- structural rules, 3.x --------------------------------------------------------------------------
def test_v3_structural_rules() -> None:
    base = v3()
    assert ids(base, v3(address="users/registered")) == {"asyncapi-channel-address-changed"}
    assert ids(base, v3(action="receive")) == {"asyncapi-operation-action-changed"}
    no_op = copy.deepcopy(base)
    del no_op["operations"]["onUserSignedUp"]
    assert ids(base, no_op) == {"asyncapi-operation-removed"}
    assert ids(no_op, base) == {"asyncapi-operation-added"}
    no_channel = copy.deepcopy(no_op)
    del no_channel["channels"]["userSignedUp"]
    assert ids(no_op, no_channel) == {"asyncapi-channel-removed"}
    assert ids(no_channel, no_op) == {"asyncapi-channel-added"}
    assert ids(base, v3(content_type="application/xml")) == set()  # default content type unset in base
    assert ids(v3(content_type="application/json"), v3(content_type="application/avro")) == {
        "asyncapi-message-content-type-changed"}


def test_v3_messages_and_channel_moves() -> None:
    two = {"userSignedUp": {"$ref": "#/components/messages/UserSignedUp"},
           "userDeleted": {"payload": {"type": "object", "properties": {"id": {"type": "string"}}}}}
    base = v3(action="send")
    sent_more = v3(action="send", messages=two)
    assert {(f.id, f.level) for f in diff(base, sent_more)} == {("asyncapi-sent-message-added", Level.WARN)}
    assert {(f.id, f.level) for f in diff(sent_more, base)} == {("asyncapi-message-removed", Level.ERR)}
    recv_more = v3(action="receive", messages=two)
    assert {(f.id, f.level) for f in diff(v3(action="receive"), recv_more)} == {("asyncapi-message-added", Level.INFO)}
    moved = copy.deepcopy(base)
    moved["channels"]["other"] = copy.deepcopy(moved["channels"]["userSignedUp"])
    moved["operations"]["onUserSignedUp"]["channel"] = {"$ref": "#/channels/other"}
    moved["operations"]["onUserSignedUp"]["messages"] = [{"$ref": "#/channels/other/messages/userSignedUp"}]
    assert ids(base, moved) == {"asyncapi-operation-channel-changed", "asyncapi-channel-added"}
    no_payload = copy.deepcopy(base)
    del no_payload["components"]["messages"]["UserSignedUp"]["payload"]
    assert ids(base, no_payload) == {"asyncapi-message-payload-removed"}
    hdr = {"type": "object", "properties": {"x": {"type": "string"}}}
    assert ids(v3(headers=hdr), base) == {"asyncapi-message-headers-removed"}
    assert ids(v3(action="receive"), v3(action="receive", headers=hdr)) == {"asyncapi-message-headers-added"}


def test_v3_reply_is_an_operation_with_the_opposite_action() -> None:
    base = v3(action="receive")
    base["channels"]["replies"] = {"address": "users/replies",
                                   "messages": {"ack": {"payload": copy.deepcopy(PAYLOAD)}}}
    base["operations"]["onUserSignedUp"]["reply"] = {"channel": {"$ref": "#/channels/replies"}}
    head = copy.deepcopy(base)
    del head["channels"]["replies"]["messages"]["ack"]["payload"]["properties"]["id"]
    found = diff(base, head)
    assert [(f.id, f.operation) for f in found] == [
        ("response-required-property-removed", "send onUserSignedUp (reply)")]


def test_message_traits_are_applied() -> None:
    base = v3(action="send")
    base["components"]["messages"]["UserSignedUp"]["traits"] = [{"$ref": "#/components/messageTraits/T"}]
    base["components"]["messageTraits"] = {"T": {"headers": {"type": "object", "required": ["x"],
                                                             "properties": {"x": {"type": "string"}}}}}
    head = copy.deepcopy(base)
    head["components"]["messageTraits"]["T"]["headers"]["required"] = []
    assert errs(base, head) == {"response-property-became-optional"}


# -- structural rules, 2.x --------------------------------------------------------------------------
def test_v2_structural_rules() -> None:
    base = v2(verb="subscribe")
    assert ids(base, v2(verb="subscribe", channel="user/registered")) == {
        "asyncapi-channel-removed", "asyncapi-channel-added", "asyncapi-operation-channel-changed"}
    both = copy.deepcopy(base)
    both["channels"]["user/signedup"]["publish"] = copy.deepcopy(both["channels"]["user/signedup"]["subscribe"])
    both["channels"]["user/signedup"]["publish"]["operationId"] = "signUpUser"
    assert ids(both, base) == {"asyncapi-operation-removed"}
    one_of = copy.deepcopy(base)
    msg = one_of["channels"]["user/signedup"]["subscribe"]["message"]
    one_of["channels"]["user/signedup"]["subscribe"]["message"] = {
        "oneOf": [msg, {"name": "UserDeleted", "payload": {"type": "object"}}]}
    assert ids(base, one_of) == {"asyncapi-sent-message-added"}
    assert ids(one_of, base) == {"asyncapi-message-removed"}


def _v2_msg(doc: dict[str, Any]) -> dict[str, Any]:
    return next(iter(doc["channels"].values()))[_verb(doc)]["message"]


def _v2_with(verb: str = "subscribe", **msg: Any) -> dict[str, Any]:
    doc = v2(verb=verb)
    _v2_msg(doc).update(msg)
    return doc


def _v2_two_messages(verb: str) -> dict[str, Any]:
    doc = v2(verb=verb)
    op = next(iter(doc["channels"].values()))[verb]
    op["message"] = {"oneOf": [op["message"], {"name": "UserDeleted", "payload": {"type": "object"}}]}
    return doc


def _v2_no_payload() -> dict[str, Any]:
    doc = v2()
    del _v2_msg(doc)["payload"]
    return doc


def _v3_no_payload() -> dict[str, Any]:
    doc = v3()
    del doc["components"]["messages"]["UserSignedUp"]["payload"]
    return doc


def _v3_moved() -> dict[str, Any]:
    doc = v3()
    doc["channels"]["other"] = copy.deepcopy(doc["channels"]["userSignedUp"])
    doc["operations"]["onUserSignedUp"]["channel"] = {"$ref": "#/channels/other"}
    return doc


def _v2_moved() -> dict[str, Any]:
    doc = v2()
    doc["channels"]["user/registered"] = doc["channels"].pop("user/signedup")
    return doc


def _v3_without(key: str, name: str) -> dict[str, Any]:
    doc = v3()
    del doc[key][name]
    if key == "channels":
        doc["operations"] = {}
    return doc


_HDR = {"type": "object", "properties": {"x": {"type": "string"}}}
_TWO = {"userSignedUp": {"$ref": "#/components/messages/UserSignedUp"},
        "userDeleted": {"payload": {"type": "object"}}}

# (version, rule id, base, head) -- one hand-written pair per AsyncAPI rule and version
CASES: list[tuple[int, str, Any, Any]] = [
    (3, "asyncapi-channel-removed", lambda: v3(), lambda: _v3_without("channels", "userSignedUp")),
    (2, "asyncapi-channel-removed", lambda: v2(), lambda: {**v2(), "channels": {}}),
    (3, "asyncapi-channel-added", lambda: _v3_without("channels", "userSignedUp"), lambda: v3()),
    (2, "asyncapi-channel-added", lambda: {**v2(), "channels": {}}, lambda: v2()),
    (3, "asyncapi-channel-address-changed", lambda: v3(), lambda: v3(address="users/registered")),
    (3, "asyncapi-operation-removed", lambda: v3(), lambda: _v3_without("operations", "onUserSignedUp")),
    (2, "asyncapi-operation-removed", lambda: v2(), lambda: {**v2(), "channels": {"user/signedup": {}}}),
    (3, "asyncapi-operation-added", lambda: _v3_without("operations", "onUserSignedUp"), lambda: v3()),
    (2, "asyncapi-operation-added", lambda: {**v2(), "channels": {"user/signedup": {}}}, lambda: v2()),
    (3, "asyncapi-operation-action-changed", lambda: v3(action="send"), lambda: v3(action="receive")),
    (2, "asyncapi-operation-action-changed", lambda: v2(verb="subscribe"), lambda: v2(verb="publish")),
    (3, "asyncapi-operation-channel-changed", lambda: v3(), _v3_moved),
    (2, "asyncapi-operation-channel-changed", lambda: v2(), _v2_moved),
    (3, "asyncapi-message-removed", lambda: v3(messages=_TWO), lambda: v3()),
    (2, "asyncapi-message-removed", lambda: _v2_two_messages("subscribe"), lambda: v2()),
    (3, "asyncapi-message-added", lambda: v3(action="receive"), lambda: v3(action="receive", messages=_TWO)),
    (2, "asyncapi-message-added", lambda: v2(verb="publish"), lambda: _v2_two_messages("publish")),
    (3, "asyncapi-sent-message-added", lambda: v3(), lambda: v3(messages=_TWO)),
    (2, "asyncapi-sent-message-added", lambda: v2(), lambda: _v2_two_messages("subscribe")),
    (3, "asyncapi-message-content-type-changed", lambda: v3(content_type="application/json"),
     lambda: v3(content_type="application/avro")),
    (2, "asyncapi-message-content-type-changed", lambda: _v2_with(contentType="application/json"),
     lambda: _v2_with(contentType="application/avro")),
    (3, "asyncapi-message-payload-removed", lambda: v3(), _v3_no_payload),
    (2, "asyncapi-message-payload-removed", lambda: v2(), _v2_no_payload),
    (3, "asyncapi-message-headers-removed", lambda: v3(headers=_HDR), lambda: v3()),
    (2, "asyncapi-message-headers-removed", lambda: v2(headers=_HDR), lambda: v2()),
    (3, "asyncapi-message-headers-added", lambda: v3(action="receive"), lambda: v3(action="receive", headers=_HDR)),
    (2, "asyncapi-message-headers-added", lambda: v2(verb="publish"), lambda: v2(verb="publish", headers=_HDR)),
]


@pytest.mark.parametrize("version,rule_id,base,head", CASES, ids=[f"{c[1]}-v{c[0]}" for c in CASES])
def test_asyncapi_rule_pairs(version: int, rule_id: str, base: Any, head: Any) -> None:
    b, h = base(), head()
    assert b["asyncapi"].startswith(str(version)) and h["asyncapi"].startswith(str(version))
    found = {f.id: f for f in diff(b, h)}
    assert rule_id in found, sorted(found)
    assert found[rule_id].level is RULES[rule_id].level
    assert found[rule_id].source.pointer.startswith("/")


def test_every_asyncapi_rule_has_pairs_in_both_versions() -> None:
    covered = {(v, rid) for v, rid, _b, _h in CASES}
    for rid in (r for r in RULES if r.startswith("asyncapi-")):
        assert (3, rid) in covered, rid
        # 2.x channels are keyed by their address, so an address change is a channel removal + addition
        if rid != "asyncapi-channel-address-changed":
            assert (2, rid) in covered, rid


def test_v2_model_directions() -> None:
    model = build_model(Resolver(v2(verb="publish")))
    (op,) = model.operations.values()
    assert op.action == "receive" and list(op.messages) == ["UserSignedUp"]
    model = build_model(Resolver(v2(verb="subscribe")))
    assert next(iter(model.operations.values())).action == "send"


# -- the spec's examples ----------------------------------------------------------------------------
needs_examples = pytest.mark.skipif(not EXAMPLE_FILES, reason=f"AsyncAPI examples not found at {EXAMPLES}")


@needs_examples
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_against_itself_is_clean(path: Path) -> None:
    assert diff(load_source(str(path)), load_source(str(path))) == []


def _docs(path: Path) -> tuple[Document, dict[str, Any]]:
    """A Document over an in-memory copy of the example and every file it references (mutable)."""
    files: dict[str, Any] = {}
    root_data, _ = parse_text(path.read_text(), path.name)

    def external(name: str) -> Document | None:
        if name not in files:
            target = (path.parent / name).resolve()
            if not target.is_file():
                return None
            files[name] = parse_text(target.read_text(), name)[0]
        return Document(files[name], name)

    # load every referenced file now so mutations can reach them
    doc = Document(root_data, str(path.name), external=external)
    files[""] = root_data
    return doc, files


def _candidates(doc: Document, action: str) -> list[tuple[str, str, Any]]:
    """(operation, message, resolved payload dict) for messages with an object payload."""
    res = Resolver(doc.data, external=lambda n: doc.external(n).data if doc.external(n) else None)
    out = []
    for ao in build_model(res).operations.values():
        if ao.action != action:
            continue
        for mk, msg in ao.messages.items():
            p = msg.parts.get("payload")
            if p is None:
                continue
            pv = res.deref(p).value
            if isinstance(pv, dict) and isinstance(pv.get("properties"), dict) and pv["properties"]:
                out.append((ao.key, mk, pv))
    return out


SENT = [p for p in EXAMPLE_FILES if _candidates(_docs(p)[0], "send")]
RECEIVED = [p for p in EXAMPLE_FILES if _candidates(_docs(p)[0], "receive")]


@needs_examples
@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SENT or [None]), st.data())
def test_removing_a_required_field_from_a_sent_message_is_always_err(path: Path | None, data: Any) -> None:
    if path is None:
        pytest.skip("no example sends an object payload")
    base, _ = _docs(path)
    head, _ = _docs(path)
    cands = _candidates(base, "send")
    i = data.draw(st.integers(0, len(cands) - 1))
    _op, _mk, bpayload = cands[i]
    hpayload = _candidates(head, "send")[i][2]
    name = data.draw(st.sampled_from(sorted(bpayload["properties"])))
    bpayload["required"] = sorted(set(bpayload.get("required") or []) | {name})
    hpayload["required"] = [r for r in (hpayload.get("required") or []) if r != name]
    del hpayload["properties"][name]
    found = diff(base, head)
    assert any(f.id == "response-required-property-removed" and f.level is Level.ERR for f in found)


@needs_examples
@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SENT or [None]), st.data(), st.text(alphabet="xyz", min_size=1, max_size=5))
def test_adding_an_optional_field_to_a_sent_message_is_never_err(path: Path | None, data: Any, name: str) -> None:
    if path is None:
        pytest.skip("no example sends an object payload")
    base, _ = _docs(path)
    head, _ = _docs(path)
    cands = _candidates(head, "send")
    i = data.draw(st.integers(0, len(cands) - 1))
    payload = cands[i][2]
    payload["properties"][f"new_{name}"] = {"type": "string"}
    found = diff(base, head)
    assert found and all(f.level is not Level.ERR for f in found)


@needs_examples
@settings(max_examples=40, deadline=None)
@given(st.sampled_from(RECEIVED or [None]), st.data())
def test_making_a_received_optional_field_required_is_err(path: Path | None, data: Any) -> None:
    if path is None:
        pytest.skip("no example receives an object payload")
    base, _ = _docs(path)
    head, _ = _docs(path)
    cands = _candidates(base, "receive")
    i = data.draw(st.integers(0, len(cands) - 1))
    bpayload = cands[i][2]
    hpayload = _candidates(head, "receive")[i][2]
    name = data.draw(st.sampled_from(sorted(bpayload["properties"])))
    bpayload["required"] = [r for r in (bpayload.get("required") or []) if r != name]
    hpayload["required"] = sorted(set(hpayload.get("required") or []) | {name})
    found = diff(base, head)
    assert any(f.id == "request-property-became-required" and f.level is Level.ERR for f in found)
