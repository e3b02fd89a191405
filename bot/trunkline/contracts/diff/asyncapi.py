"""AsyncAPI 2.x / 3.x comparison with payload semantics.

Both versions are converted to one operation model: an operation has an *action* from the
application's point of view — ``send`` (it produces messages) or ``receive`` (it consumes them) — a
channel, and messages. Messages the application **sends** are compared with response rules (a
consumer must keep understanding them: removing a required field is ERR), messages it **receives**
with request rules (a producer must stay valid: a new required field is ERR).

* 3.x: ``operations.<id>.action`` is ``send``/``receive``; ``channel`` and ``messages`` are refs into
  ``channels``; an operation ``reply`` is a second operation with the opposite action.
* 2.x: the verbs are named from the *client's* side: ``subscribe`` documents messages the application
  sends (clients subscribe to them), ``publish`` messages it receives (clients publish them).

Payload and header findings reuse the schema rule ids (``response-*`` = sent message, ``request-*`` =
received message); structural findings are ``asyncapi-*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .openapi import DiffOptions, loc
from .refs import Node, Resolver
from .report import Anchor, Reporter, Side, anchor
from .schema import SchemaComparer


@dataclass
class AMessage:
    key: str
    node: Node  # the message object (dereferenced)
    parts: dict[str, Node]  # payload / headers / contentType ... after traits


@dataclass
class AOperation:
    key: str
    label: str
    action: str  # send | receive
    channel: str | None
    address: str | None
    node: Node
    messages: dict[str, AMessage] = field(default_factory=dict)


@dataclass
class AChannel:
    key: str
    address: str | None
    node: Node


@dataclass
class AModel:
    version: int  # 2 or 3
    channels: dict[str, AChannel]
    operations: dict[str, AOperation]
    default_content_type: str | None


def _major(doc: Any) -> int:
    text = str(doc.get("asyncapi", "3")) if isinstance(doc, dict) else "3"
    try:
        return int(text.split(".", 1)[0])
    except ValueError:
        return 3


def _message(res: Resolver, raw: Node, key: str, version: int) -> AMessage:
    node = res.deref(raw)
    parts: dict[str, Node] = {}
    v = node.value if isinstance(node.value, dict) else {}
    for k in v:
        parts[k] = node.child(k)
    traits = node.child("traits")
    if traits is not None and isinstance(traits.value, list):
        for i in range(len(traits.value)):
            t = res.deref(traits.child(i))
            if not isinstance(t.value, dict):
                continue
            for k in t.value:
                # 3.x: the message's own value wins; 2.x: traits are applied over the message
                if version >= 3 and k in parts:
                    continue
                parts[k] = t.child(k)
    payload = parts.get("payload")
    if payload is not None:
        pv = res.deref(payload)
        # multi-format schema object {schemaFormat, schema}
        if isinstance(pv.value, dict) and "schemaFormat" in pv.value and "schema" in pv.value:
            parts["payload"] = pv.child("schema")
            parts["schemaFormat"] = pv.child("schemaFormat")
    return AMessage(key, node, parts)


def _message_key(res: Resolver, raw: Node, fallback: str) -> str:
    ref = res.ref_name(raw)
    if ref is not None:
        return ref.rsplit("/", 1)[-1]
    v = raw.value if isinstance(raw.value, dict) else {}
    for k in ("messageId", "name"):
        if isinstance(v.get(k), str):
            return v[k]
    return fallback


def build_model(res: Resolver) -> AModel:
    root = res.root
    doc = root.value
    version = _major(doc)
    channels: dict[str, AChannel] = {}
    operations: dict[str, AOperation] = {}
    ch_node = root.child("channels")
    ch_map = ch_node.value if ch_node is not None and isinstance(ch_node.value, dict) else {}
    dct = doc.get("defaultContentType") if isinstance(doc, dict) else None
    for name in ch_map:
        cn = res.deref(ch_node.child(name))
        cv = cn.value if isinstance(cn.value, dict) else {}
        address = cv.get("address", name) if version >= 3 else name
        channels[str(name)] = AChannel(str(name), None if address is None else str(address), cn)
        if version < 3:
            # subscribe = the application sends; publish = the application receives
            for verb, action in (("subscribe", "send"), ("publish", "receive")):
                op = cn.child(verb)
                if op is None or not isinstance(op.value, dict):
                    continue
                op = res.deref(op)
                opid = op.value.get("operationId")
                # operationId is the operation's identity (so a verb flip or a channel move is a change
                # of that operation, not a removal plus an addition); without one, channel + verb
                key = str(opid) if isinstance(opid, str) and opid else f"{name} {verb}"
                if key in operations:  # duplicate operationId (invalid, but seen): keep both
                    key = f"{name} {verb}"
                label = f"{action} {opid or name}"
                ao = AOperation(key, label, action, str(name), str(name), op)
                msg = op.child("message")
                if msg is not None:
                    mref = res.deref(msg)
                    if isinstance(mref.value, dict) and isinstance(mref.value.get("oneOf"), list):
                        for i in range(len(mref.value["oneOf"])):
                            raw = mref.child("oneOf", i)
                            mk = _message_key(res, raw, f"#{i}")
                            ao.messages[mk] = _message(res, raw, mk, version)
                    else:
                        mk = _message_key(res, msg, "message")
                        ao.messages[mk] = _message(res, msg, mk, version)
                operations[key] = ao
    if version >= 3:
        op_node = root.child("operations")
        op_map = op_node.value if op_node is not None and isinstance(op_node.value, dict) else {}
        for opid in op_map:
            op = res.deref(op_node.child(opid))
            ov = op.value if isinstance(op.value, dict) else {}
            action = str(ov.get("action", ""))
            ch_key, address, ch_target = _channel_of(res, op.child("channel"), channels)
            ao = AOperation(str(opid), f"{action} {opid}", action, ch_key, address, op)
            _collect_messages(res, ao, op.child("messages"), ch_target, version)
            operations[str(opid)] = ao
            reply = op.child("reply")
            if reply is not None and isinstance(res.deref(reply).value, dict):
                reply = res.deref(reply)
                r_action = "receive" if action == "send" else "send"
                rk, raddr, rtarget = _channel_of(res, reply.child("channel"), channels)
                rk = rk or ch_key
                ro = AOperation(f"{opid}#reply", f"{r_action} {opid} (reply)", r_action, rk, raddr, reply)
                _collect_messages(res, ro, reply.child("messages"), rtarget or ch_target if rk == ch_key
                                  else rtarget, version)
                operations[ro.key] = ro
    return AModel(version, channels, operations, dct if isinstance(dct, str) else None)


def _channel_of(res: Resolver, ref: Node | None, channels: dict[str, AChannel]
                ) -> tuple[str | None, str | None, Node | None]:
    if ref is None:
        return None, None, None
    target = res.deref(ref)
    r = res.ref_name(ref)
    key = r.rsplit("/", 1)[-1] if r else None
    if key is not None and key in channels:
        return key, channels[key].address, channels[key].node
    address = target.value.get("address") if isinstance(target.value, dict) else None
    return key, None if address is None else str(address), target


def _collect_messages(res: Resolver, ao: AOperation, msgs: Node | None, channel: Node | None, version: int) -> None:
    if msgs is not None and isinstance(msgs.value, list):
        for i in range(len(msgs.value)):
            raw = msgs.child(i)
            mk = _message_key(res, raw, f"#{i}")
            ao.messages[mk] = _message(res, raw, mk, version)
        return
    if channel is None:
        return
    cm = channel.child("messages")
    if cm is not None and isinstance(cm.value, dict):
        for name in cm.value:
            ao.messages[str(name)] = _message(res, cm.child(name), str(name), version)


class AsyncAPIDiff:
    def __init__(self, base: Side, head: Side, reporter: Reporter, comparer: SchemaComparer,
                 options: DiffOptions) -> None:
        self.base, self.head = base, head
        self.r = reporter
        self.cmp = comparer
        self.opts = options

    def run(self) -> None:
        bm = build_model(self.base.resolver)
        hm = build_model(self.head.resolver)
        hroot = self.head.resolver.root
        channels_loc = loc(hroot.child("channels")) or loc(hroot)
        for key, bc in bm.channels.items():
            hc = hm.channels.get(key)
            if hc is None:
                self.r.add("asyncapi-channel-removed", head=channels_loc, base=loc(bc.node), name=key,
                           address=bc.address, path=bc.address)
            elif bc.address != hc.address and bm.version >= 3 and hm.version >= 3:
                self.r.add("asyncapi-channel-address-changed", head=loc(hc.node.child("address")) or loc(hc.node),
                           base=loc(bc.node), name=key, old=bc.address, new=hc.address, path=hc.address)
        for key, hc in hm.channels.items():
            if key not in bm.channels:
                self.r.add("asyncapi-channel-added", head=loc(hc.node), name=key, address=hc.address,
                           path=hc.address)
        ops_loc = loc(hroot.child("operations")) or channels_loc
        for key, bo in bm.operations.items():
            ho = hm.operations.get(key)
            if ho is None:
                self.r.add("asyncapi-operation-removed", head=ops_loc, base=loc(bo.node), operation=bo.label,
                           path=bo.address)
                continue
            self._operation(bo, ho, bm, hm)
        for key, ho in hm.operations.items():
            if key not in bm.operations:
                self.r.add("asyncapi-operation-added", head=loc(ho.node), operation=ho.label, path=ho.address)

    def _operation(self, bo: AOperation, ho: AOperation, bm: AModel, hm: AModel) -> None:
        op = ho.label
        if bo.action != ho.action:
            self.r.add("asyncapi-operation-action-changed", head=loc(ho.node.child("action")) or loc(ho.node),
                       base=loc(bo.node), operation=op, path=ho.address, name=ho.key, old=bo.action, new=ho.action)
            return  # everything about its messages changed meaning; the action change says it all
        if bo.channel is not None and ho.channel is not None and bo.channel != ho.channel:
            self.r.add("asyncapi-operation-channel-changed", head=loc(ho.node.child("channel")) or loc(ho.node),
                       base=loc(bo.node), operation=op, path=ho.address, old=bo.channel, new=ho.channel)
        direction = "response" if ho.action == "send" else "request"
        msgs_loc = loc(ho.node.child("messages")) or loc(ho.node.child("message")) or loc(ho.node)
        for mk, bmsg in bo.messages.items():
            hmsg = ho.messages.get(mk)
            if hmsg is None:
                self.r.add("asyncapi-message-removed", head=msgs_loc, base=loc(bmsg.node), operation=op,
                           path=ho.address, name=mk)
                continue
            self._message(op, ho.address, direction, bmsg, hmsg, bm, hm)
        for mk, hmsg in ho.messages.items():
            if mk not in bo.messages:
                rid = "asyncapi-sent-message-added" if direction == "response" else "asyncapi-message-added"
                self.r.add(rid, head=loc(hmsg.node), operation=op, path=ho.address, name=mk)

    def _message(self, op: str, address: str | None, direction: str, bmsg: AMessage, hmsg: AMessage,
                 bm: AModel, hm: AModel) -> None:
        bct = _value(bmsg.parts.get("contentType")) or bm.default_content_type
        hct = _value(hmsg.parts.get("contentType")) or hm.default_content_type
        if bct and hct and str(bct).lower() != str(hct).lower():
            self.r.add("asyncapi-message-content-type-changed", head=loc(hmsg.parts.get("contentType"))
                       or loc(hmsg.node), operation=op, path=address, name=hmsg.key, old=bct, new=hct)
        bp, hp = bmsg.parts.get("payload"), hmsg.parts.get("payload")
        if bp is not None and hp is None:
            self.r.add("asyncapi-message-payload-removed", head=loc(hmsg.node), base=loc(bp), operation=op,
                       path=address, name=hmsg.key)
        elif bp is not None and hp is not None:
            where = Anchor(direction, "body", f"payload of message `{hmsg.key}` ({op})", op, address)
            xml = "xml" in str(hct or "").lower()
            anchor(self.r, self.cmp.compare(bp, hp, direction, xml=xml), where)
        bh, hh = bmsg.parts.get("headers"), hmsg.parts.get("headers")
        if bh is not None and hh is None and direction == "response":
            self.r.add("asyncapi-message-headers-removed", head=loc(hmsg.node), base=loc(bh), operation=op,
                       path=address, name=hmsg.key)
        elif bh is None and hh is not None and direction == "request":
            self.r.add("asyncapi-message-headers-added", head=loc(hh), operation=op, path=address, name=hmsg.key)
        elif bh is not None and hh is not None:
            where = Anchor(direction, "body", f"message `{hmsg.key}` ({op})", op, address, root_path=("headers",))
            anchor(self.r, self.cmp.compare(bh, hh, direction), where)


def _value(node: Node | None) -> Any:
    return node.value if node is not None else None
