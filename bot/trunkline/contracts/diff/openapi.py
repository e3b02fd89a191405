"""OpenAPI 3.0/3.1 document comparison: paths, operations, parameters, bodies, responses, security.

Schemas are handed to :class:`~.schema.SchemaComparer` and anchored with the place they sit in
(request body / parameter / response / header), so the same component yields ``request-body-*`` in
one operation and ``response-property-*`` in another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .refs import Node, escape
from .report import Anchor, Reporter, Side, anchor
from .schema import Loc, SchemaComparer, _types_of, render

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
STABILITY = ("draft", "alpha", "beta", "stable")
_PARAM_RE = re.compile(r"\{[^}/]*\}")


@dataclass(frozen=True)
class DiffOptions:
    """Knobs of the pure diff. ``today`` makes sunset checks deterministic; ``deprecation_days`` is
    oasdiff's ``--deprecation-days``: >0 requires deprecations to carry an ``x-sunset`` that far away."""

    today: date | None = None
    deprecation_days: int = 0


def loc(node: Node | None) -> Loc | None:
    return (node.doc, node.pointer) if node is not None else None


def _sunset(value: Any) -> tuple[date | None, bool]:
    """(date, parse_ok) for an ``x-sunset`` value; (None, True) when absent."""
    if value is None:
        return None, True
    if isinstance(value, datetime):
        return value.date(), True
    if isinstance(value, date):
        return value, True
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt).date(), True
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date(), True
    except ValueError:
        return None, False


def _media_essence(mt: str) -> tuple[str, str, str]:
    """(type, subtype, params) of a media-type key, lowercased."""
    main, _, params = mt.partition(";")
    t, _, sub = main.strip().lower().partition("/")
    return t, sub, params.strip().lower()


def _media_relation(old: str, new: str) -> str | None:
    """How a response media type changed: name-changed (params), generalized, specialized, or None."""
    ot, osub, op = _media_essence(old)
    nt, nsub, np_ = _media_essence(new)
    if (ot, osub) == (nt, nsub):
        return "changed" if op != np_ else None
    if op != np_:
        # a parameter changed too: what it constrains is unknown, so only "changed" can be said
        return "changed" if _media_relation(old.split(";")[0], new.split(";")[0]) else None

    def covers(gt: str, gsub: str, st: str, ssub: str) -> bool:
        if gt == "*":
            return True
        if gt != st:
            return False
        return gsub == "*" or ("+" in ssub and ssub.rsplit("+", 1)[1] == gsub)

    if covers(nt, nsub, ot, osub):
        return "generalized"
    if covers(ot, osub, nt, nsub):
        return "specialized"
    return None


class OpenAPIDiff:
    def __init__(self, base: Side, head: Side, reporter: Reporter, comparer: SchemaComparer,
                 options: DiffOptions) -> None:
        self.base, self.head = base, head
        self.r = reporter
        self.cmp = comparer
        self.opts = options
        self.today = options.today or date.today()

    # -- entry ---------------------------------------------------------------------------------------
    def run(self) -> None:
        broot, hroot = self.base.resolver.root, self.head.resolver.root
        self._paths(broot.child("paths"), hroot.child("paths"), hroot)
        self._webhooks(broot.child("webhooks"), hroot.child("webhooks"), hroot)
        self._global_security(broot, hroot)
        self._components(broot, hroot)

    # -- paths and operations ------------------------------------------------------------------------
    def _path_items(self, side: Side, paths: Node | None) -> dict[str, tuple[str, Node]]:
        out: dict[str, tuple[str, Node]] = {}
        if paths is None or not isinstance(paths.value, dict):
            return out
        for p in paths.value:
            if not isinstance(p, str) or p.startswith("x-"):
                continue
            item = side.resolver.deref(paths.child(p))
            out[_PARAM_RE.sub("{}", p)] = (p, item)
        return out

    def _paths(self, bpaths: Node | None, hpaths: Node | None, hroot: Node) -> None:
        b_items = self._path_items(self.base, bpaths)
        h_items = self._path_items(self.head, hpaths)
        paths_loc = loc(hpaths) or loc(hroot)
        for key, (bp, bitem) in b_items.items():
            if key not in h_items:
                for method, bop in self._operations(self.base, bitem):
                    self._removed_op(bp, method, bop, whole_path=True, at=paths_loc)
                continue
            hp, hitem = h_items[key]
            bops = dict(self._operations(self.base, bitem))
            hops = dict(self._operations(self.head, hitem))
            for method, bop in bops.items():
                if method not in hops:
                    self._removed_op(hp, method, bop, whole_path=False, at=loc(hitem))
            for method, hop in hops.items():
                op = f"{method.upper()} {hp}"
                if method not in bops:
                    self.r.add("endpoint-added", head=loc(hop), operation=op, path=hp)
                    continue
                self._operation(op, hp, bp, bitem, bops[method], hitem, hop, existing_path=True)
        for key, (hp, hitem) in h_items.items():
            if key not in b_items:
                for method, hop in self._operations(self.head, hitem):
                    self.r.add("endpoint-added", head=loc(hop), operation=f"{method.upper()} {hp}", path=hp)

    def _operations(self, side: Side, item: Node) -> list[tuple[str, Node]]:
        if not isinstance(item.value, dict):
            return []
        return [(m, side.resolver.deref(item.child(m))) for m in METHODS
                if isinstance(item.value.get(m), dict)]

    def _removed_op(self, path: str, method: str, bop: Node, *, whole_path: bool, at: Loc | None) -> None:
        op = f"{method.upper()} {path}"
        pre = "api-path" if whole_path else "api"
        v = bop.value
        if str(v.get("x-stability-level", "")).lower() in ("draft", "alpha"):
            return  # draft/alpha endpoints may change freely (oasdiff's stability levels)
        if v.get("deprecated") is True:
            when, ok = _sunset(v.get("x-sunset"))
            if not ok:
                self.r.add(f"{pre}-sunset-parse" if whole_path else "api-path-sunset-parse", head=at,
                           base=loc(bop), operation=op, path=path, date=v.get("x-sunset"))
            elif when is not None and self.today < when:
                self.r.add(f"{pre}-removed-before-sunset", head=at, base=loc(bop), operation=op, path=path,
                           date=when.isoformat())
            else:
                self.r.add(f"{pre}-removed-with-deprecation", head=at, base=loc(bop), operation=op, path=path)
        else:
            self.r.add(f"{pre}-removed-without-deprecation", head=at, base=loc(bop), operation=op, path=path)

    def _operation(self, op: str, path: str, bpath: str, bitem: Node, bop: Node, hitem: Node, hop: Node,
                   *, existing_path: bool, flip: bool = False) -> None:
        start = len(self.r.findings)
        b, h = bop.value, hop.value
        self._lifecycle(op, path, bop, hop)
        self._operation_meta(op, path, bop, hop)
        self._parameters(op, path, bpath, bitem, bop, hitem, hop, flip=flip)
        self._request_body(op, path, bop, hop, flip=flip)
        self._responses(op, path, bop, hop, flip=flip)
        self._security_list(bop.child("security"), hop.child("security"), op, path, scope="api")
        # draft/alpha endpoints may change freely: keep only what is said about the level itself
        if str(b.get("x-stability-level", "")).lower() in ("draft", "alpha"):
            kept = [f for f in self.r.findings[start:]
                    if f.level.value == "INFO" or f.id.startswith("api-stability") or f.id == "api-invalid-stability-level"]
            del self.r.findings[start:]
            self.r.findings.extend(kept)
        del h

    def _lifecycle(self, op: str, path: str, bop: Node, hop: Node) -> None:
        b, h = bop.value, hop.value
        bs, hs = b.get("x-stability-level"), h.get("x-stability-level")
        if hs is not None and str(hs).lower() not in STABILITY:
            self.r.add("api-invalid-stability-level", head=loc(hop.child("x-stability-level")), operation=op,
                       path=path, new=hs)
        elif bs is not None and hs is not None and str(bs).lower() in STABILITY and bs != hs:
            bi, hi = STABILITY.index(str(bs).lower()), STABILITY.index(str(hs).lower())
            rid = "api-stability-decreased" if hi < bi else "api-stability-increased"
            self.r.add(rid, head=loc(hop.child("x-stability-level")), operation=op, path=path, old=bs, new=hs)
        bdep, hdep = b.get("deprecated") is True, h.get("deprecated") is True
        at = loc(hop.child("deprecated")) or loc(hop)
        if hdep and not bdep:
            when, ok = _sunset(h.get("x-sunset"))
            days = self.opts.deprecation_days
            if not ok:
                self.r.add("api-deprecated-sunset-parse", head=at, operation=op, path=path, date=h.get("x-sunset"))
            elif days > 0 and when is None:
                self.r.add("api-deprecated-sunset-missing", head=at, operation=op, path=path, days=days)
            elif days > 0 and when is not None and (when - self.today).days < days:
                self.r.add("api-sunset-date-too-small", head=at, operation=op, path=path, date=when.isoformat(),
                           days=days)
            elif when is not None:
                self.r.add("endpoint-deprecated-with-sunset", head=at, operation=op, path=path,
                           date=when.isoformat())
            else:
                self.r.add("endpoint-deprecated", head=at, operation=op, path=path)
        elif bdep and not hdep:
            self.r.add("endpoint-reactivated", head=loc(hop), operation=op, path=path)
        elif bdep and hdep:
            bw, _ = _sunset(b.get("x-sunset"))
            hw, ok = _sunset(h.get("x-sunset"))
            if bw is not None and h.get("x-sunset") is None:
                self.r.add("sunset-deleted", head=loc(hop), operation=op, path=path)
            elif bw is not None and hw is not None and hw < bw:
                self.r.add("api-sunset-date-changed-too-small", head=loc(hop.child("x-sunset")), operation=op,
                           path=path, old=bw.isoformat(), new=hw.isoformat())

    def _operation_meta(self, op: str, path: str, bop: Node, hop: Node) -> None:
        b, h = bop.value, hop.value
        bid, hid = b.get("operationId"), h.get("operationId")
        if bid != hid:
            if bid is not None:
                self.r.add("api-operation-id-removed", head=loc(hop.child("operationId")) or loc(hop), operation=op,
                           path=path, old=bid, new=hid if hid is not None else "(none)")
            elif hid is not None:
                self.r.add("api-operation-id-added", head=loc(hop.child("operationId")), operation=op, path=path,
                           new=hid)
        btags = [t for t in b.get("tags", []) or [] if isinstance(t, str)]
        htags = [t for t in h.get("tags", []) or [] if isinstance(t, str)]
        for t in btags:
            if t not in htags:
                self.r.add("api-tag-removed", head=loc(hop.child("tags")) or loc(hop), operation=op, path=path, value=t)
        for t in htags:
            if t not in btags:
                self.r.add("api-tag-added", head=loc(hop.child("tags")) or loc(hop), operation=op, path=path, value=t)

    # -- parameters ----------------------------------------------------------------------------------
    def _params(self, side: Side, path: str, item: Node, op: Node) -> dict[tuple, tuple[Node, str]]:
        """Effective parameters: path-level merged with operation-level (operation wins)."""
        positions = {name[1:-1]: i for i, name in enumerate(_PARAM_RE.findall(path))}
        out: dict[tuple, tuple[Node, str]] = {}
        for origin, owner in (("path", item), ("op", op)):
            plist = owner.child("parameters")
            if plist is None or not isinstance(plist.value, list):
                continue
            for i in range(len(plist.value)):
                pn = side.resolver.deref(plist.child(i))
                v = pn.value
                if not isinstance(v, dict) or "name" not in v or "in" not in v:
                    continue
                where, name = str(v["in"]), str(v["name"])
                if where == "path" and name in positions:
                    key: tuple = ("path", positions[name])
                elif where == "header":
                    key = ("header", name.lower())
                else:
                    key = (where, name)
                out[key] = (pn, origin)
        return out

    def _form_array_widening(self, param: dict[str, Any], bs: Node, hs: Node) -> bool:
        """A form/explode query or cookie parameter going from a scalar to an array of compatible,
        unconstrained items: ``?x=1`` is still a valid one-element array, so nothing breaks."""
        if param.get("in") not in ("query", "cookie") or param.get("style", "form") != "form" \
                or param.get("explode", True) is not True:
            return False
        bv = self.base.resolver.deref(bs).value
        hnode = self.head.resolver.deref(hs)
        if not isinstance(bv, dict) or not isinstance(hnode.value, dict):
            return False
        old, _ = _types_of(bv)
        new, _ = _types_of(hnode.value)
        if not old or not old <= {"string", "integer", "number", "boolean"} or new != {"array"}:
            return False
        items = hnode.child("items")
        iv = self.head.resolver.deref(items).value if items is not None else {}
        if not isinstance(iv, dict) or set(iv) - {"type", "title", "description", "example", "examples"}:
            return False
        itypes, _ = _types_of(iv)
        return itypes is None or "string" in itypes or old <= itypes

    def _param_schema(self, pn: Node) -> Node | None:
        s = pn.child("schema")
        if s is not None:
            return s
        content = pn.child("content")
        if content is not None and isinstance(content.value, dict) and content.value:
            first = next(iter(content.value))
            return content.child(first, "schema")
        return None

    def _parameters(self, op: str, path: str, bpath: str, bitem: Node, bop: Node, hitem: Node, hop: Node,
                    *, flip: bool) -> None:
        bparams = self._params(self.base, bpath, bitem, bop)
        hparams = self._params(self.head, path, hitem, hop)
        direction = "response" if flip else "request"
        for key, (bp, _origin) in bparams.items():
            v = bp.value
            name, where = v["name"], v["in"]
            if key not in hparams:
                at = loc(hop.child("parameters")) or loc(hop)
                if v.get("deprecated") is True:
                    when, ok = _sunset(v.get("x-sunset"))
                    if not ok:
                        self.r.add("request-parameter-sunset-parse", head=at, base=loc(bp), operation=op, path=path,
                                   name=name, date=v.get("x-sunset"), **{"in": where})
                    elif when is not None and self.today < when:
                        self.r.add("request-parameter-removed-before-sunset", head=at, base=loc(bp), operation=op,
                                   path=path, name=name, date=when.isoformat(), **{"in": where})
                    else:
                        self.r.add("request-parameter-removed-with-deprecation", head=at, base=loc(bp),
                                   operation=op, path=path, name=name, **{"in": where})
                else:
                    self.r.add("request-parameter-removed", head=at, base=loc(bp), operation=op, path=path,
                               name=name, **{"in": where})
                continue
            hpn, _ = hparams[key]
            h = hpn.value
            breq = v.get("required") is True or where == "path"
            hreq = h.get("required") is True or h.get("in") == "path"
            if breq != hreq:
                rid = "request-parameter-became-required" if hreq else "request-parameter-became-optional"
                self.r.add(rid, head=loc(hpn.child("required")) or loc(hpn), base=loc(bp), operation=op, path=path,
                           name=h["name"], **{"in": h["in"]})
            bdep, hdep = v.get("deprecated") is True, h.get("deprecated") is True
            if bdep != hdep:
                rid = "request-parameter-deprecated" if hdep else "request-parameter-reactivated"
                self.r.add(rid, head=loc(hpn), operation=op, path=path, name=h["name"], **{"in": h["in"]})
            elif bdep and hdep:
                bw, _ = _sunset(v.get("x-sunset"))
                hw, _ = _sunset(h.get("x-sunset"))
                if bw is not None and h.get("x-sunset") is None:
                    self.r.add("request-parameter-sunset-deleted", head=loc(hpn), operation=op, path=path,
                               name=h["name"], **{"in": h["in"]})
                elif bw is not None and hw is not None and hw < bw:
                    self.r.add("request-parameter-sunset-date-changed-too-small", head=loc(hpn), operation=op,
                               path=path, name=h["name"], old=bw.isoformat(), new=hw.isoformat(), **{"in": h["in"]})
            bs, hs = self._param_schema(bp), self._param_schema(hpn)
            if bs is not None and hs is not None and self._form_array_widening(h, bs, hs):
                self.r.add("request-parameter-type-generalized", head=loc(hs), base=loc(bs), operation=op, path=path,
                           subject=f"{h['in']} parameter `{h['name']}`", what="type",
                           old=render(_types_of(self.base.resolver.deref(bs).value)[0] or "any"), new="array")
            elif bs is not None and hs is not None:
                where_ = Anchor(direction, "parameter", f"{h['in']} parameter `{h['name']}`", op, path,
                                param_in=str(h["in"]))
                anchor(self.r, self.cmp.compare(bs, hs, direction), where_)
        base_path_keys = set(bparams)
        for key, (hpn, origin) in hparams.items():
            if key in bparams:
                continue
            h = hpn.value
            name, where = h["name"], h["in"]
            if where == "path":
                self.r.add("new-request-path-parameter", head=loc(hpn), operation=op, path=path, name=name)
                continue
            required = h.get("required") is True
            if origin == "path" and key not in base_path_keys:
                rid = ("new-required-request-default-parameter-to-existing-path" if required
                       else "new-optional-request-default-parameter-to-existing-path")
            else:
                rid = "new-required-request-parameter" if required else "new-optional-request-parameter"
            self.r.add(rid, head=loc(hpn), operation=op, path=path, name=name, **{"in": where})

    # -- request body --------------------------------------------------------------------------------
    def _request_body(self, op: str, path: str, bop: Node, hop: Node, *, flip: bool) -> None:
        bb, hb = bop.child("requestBody"), hop.child("requestBody")
        bb = self.base.resolver.deref(bb) if bb is not None else None
        hb = self.head.resolver.deref(hb) if hb is not None else None
        direction = "response" if flip else "request"
        if bb is None and hb is None:
            return
        if bb is None:
            required = hb.value.get("required") is True
            self.r.add("request-body-added-required" if required else "request-body-added-optional",
                       head=loc(hb), operation=op, path=path)
            return
        if hb is None:
            self.r.add("request-body-removed", head=loc(hop), base=loc(bb), operation=op, path=path)
            return
        breq, hreq = bb.value.get("required") is True, hb.value.get("required") is True
        if breq != hreq:
            self.r.add("request-body-became-required" if hreq else "request-body-became-optional",
                       head=loc(hb.child("required")) or loc(hb), operation=op, path=path)
        bc, hc = bb.child("content"), hb.child("content")
        bmap = bc.value if bc is not None and isinstance(bc.value, dict) else {}
        hmap = hc.value if hc is not None and isinstance(hc.value, dict) else {}
        for mt in bmap:
            if mt not in hmap:
                self.r.add("request-body-media-type-removed", head=loc(hc) or loc(hb), base=loc(bc.child(mt)),
                           operation=op, path=path, media=mt)
        for mt in hmap:
            if mt not in bmap:
                self.r.add("request-body-media-type-added", head=loc(hc.child(mt)), operation=op, path=path, media=mt)
                continue
            bs, hs = bc.child(mt, "schema"), hc.child(mt, "schema")
            if bs is not None and hs is not None:
                label = f"request body ({mt})" if not flip else f"webhook request body ({mt}, sent by the API)"
                where = Anchor(direction, "body", label, op, path)
                anchor(self.r, self.cmp.compare(bs, hs, direction, xml="xml" in mt.lower()), where)

    # -- responses -----------------------------------------------------------------------------------
    def _responses(self, op: str, path: str, bop: Node, hop: Node, *, flip: bool) -> None:
        br, hr = bop.child("responses"), hop.child("responses")
        bmap = br.value if br is not None and isinstance(br.value, dict) else {}
        hmap = hr.value if hr is not None and isinstance(hr.value, dict) else {}
        direction = "request" if flip else "response"
        for status in bmap:
            if str(status).startswith("x-"):
                continue
            success = str(status).startswith("2")
            if status not in hmap:
                rid = "response-success-status-removed" if success else "response-non-success-status-removed"
                self.r.add(rid, head=loc(hr) or loc(hop), base=loc(br.child(status)), operation=op, path=path,
                           status=status)
                continue
            self._response(op, path, str(status), self.base.resolver.deref(br.child(status)),
                           self.head.resolver.deref(hr.child(status)), direction)
        for status in hmap:
            if str(status).startswith("x-") or status in bmap:
                continue
            success = str(status).startswith("2")
            rid = "response-success-status-added" if success else "response-non-success-status-added"
            self.r.add(rid, head=loc(hr.child(status)), operation=op, path=path, status=status)

    def _response(self, op: str, path: str, status: str, bresp: Node, hresp: Node, direction: str) -> None:
        bc, hc = bresp.child("content"), hresp.child("content")
        bmap = bc.value if bc is not None and isinstance(bc.value, dict) else {}
        hmap = hc.value if hc is not None and isinstance(hc.value, dict) else {}
        removed = [mt for mt in bmap if mt not in hmap]
        added = [mt for mt in hmap if mt not in bmap]
        for old in list(removed):
            for new in added:
                rel = _media_relation(old, new)
                if rel is None:
                    continue
                rid = {"changed": "response-media-type-name-changed",
                       "generalized": "response-media-type-name-generalized",
                       "specialized": "response-media-type-name-specialized"}[rel]
                self.r.add(rid, head=loc(hc.child(new)), base=loc(bc.child(old)), operation=op, path=path,
                           status=status, old=old, new=new)
                removed.remove(old)
                added.remove(new)
                bs, hs = bc.child(old, "schema"), hc.child(new, "schema")
                if bs is not None and hs is not None:
                    self._response_schema(op, path, status, new, bs, hs, direction)
                break
        for mt in removed:
            self.r.add("response-media-type-removed", head=loc(hc) or loc(hresp), base=loc(bc.child(mt)),
                       operation=op, path=path, status=status, media=mt)
        for mt in added:
            self.r.add("response-media-type-added", head=loc(hc.child(mt)), operation=op, path=path,
                       status=status, media=mt)
        for mt in hmap:
            if mt in bmap:
                bs, hs = bc.child(mt, "schema"), hc.child(mt, "schema")
                if bs is not None and hs is not None:
                    self._response_schema(op, path, status, mt, bs, hs, direction)
        self._headers(op, path, status, bresp, hresp, direction)

    def _response_schema(self, op: str, path: str, status: str, mt: str, bs: Node, hs: Node, direction: str) -> None:
        where = Anchor(direction, "body", f"response {status} ({mt})", op, path)
        anchor(self.r, self.cmp.compare(bs, hs, direction, xml="xml" in mt.lower()), where)

    def _headers(self, op: str, path: str, status: str, bresp: Node, hresp: Node, direction: str) -> None:
        bh, hh = bresp.child("headers"), hresp.child("headers")
        bmap = {str(k).lower(): k for k in (bh.value if bh is not None and isinstance(bh.value, dict) else {})}
        hmap = {str(k).lower(): k for k in (hh.value if hh is not None and isinstance(hh.value, dict) else {})}
        for low, name in bmap.items():
            bnode = self.base.resolver.deref(bh.child(name))
            breq = isinstance(bnode.value, dict) and bnode.value.get("required") is True
            if low not in hmap:
                rid = "required-response-header-removed" if breq else "optional-response-header-removed"
                self.r.add(rid, head=loc(hh) or loc(hresp), base=loc(bnode), operation=op, path=path, status=status,
                           name=name)
                continue
            hnode = self.head.resolver.deref(hh.child(hmap[low]))
            hreq = isinstance(hnode.value, dict) and hnode.value.get("required") is True
            if breq and not hreq:
                self.r.add("response-header-became-optional", head=loc(hnode), operation=op, path=path,
                           status=status, name=name)
            bs, hs = bnode.child("schema"), hnode.child("schema")
            if bs is not None and hs is not None:
                where = Anchor(direction, "header", f"response header `{hmap[low]}` ({status})", op, path)
                anchor(self.r, self.cmp.compare(bs, hs, direction), where)
        for low, name in hmap.items():
            if low not in bmap:
                self.r.add("response-header-added", head=loc(hh.child(name)), operation=op, path=path, status=status,
                           name=name)

    # -- security ------------------------------------------------------------------------------------
    @staticmethod
    def _requirements(node: Node | None) -> dict[str, tuple[int, dict[str, list[str]]]]:
        out: dict[str, tuple[int, dict[str, list[str]]]] = {}
        if node is None or not isinstance(node.value, list):
            return out
        for i, req in enumerate(node.value):
            if not isinstance(req, dict):
                continue
            name = " + ".join(sorted(map(str, req))) or "(anonymous)"
            out[name] = (i, {str(k): [str(s) for s in (v or [])] for k, v in req.items()})
        return out

    def _security_list(self, bnode: Node | None, hnode: Node | None, op: str | None, path: str | None,
                       *, scope: str) -> None:
        pre = "api" if scope == "api" else "api-global"
        breqs, hreqs = self._requirements(bnode), self._requirements(hnode)
        for name, (_i, schemes) in breqs.items():
            if name not in hreqs:
                self.r.add(f"{pre}-security-removed", head=loc(hnode), base=loc(bnode), operation=op, path=path,
                           name=name)
                continue
            hi, hschemes = hreqs[name]
            for scheme, scopes in hschemes.items():
                for s in scopes:
                    if s not in schemes.get(scheme, []):
                        self.r.add(f"{pre}-security-scope-added", head=loc(hnode.child(hi)), operation=op, path=path,
                                   name=scheme, value=s)
                for s in schemes.get(scheme, []):
                    if s not in scopes:
                        self.r.add(f"{pre}-security-scope-removed", head=loc(hnode.child(hi)), operation=op,
                                   path=path, name=scheme, value=s)
        for name, (hi, _s) in hreqs.items():
            if name not in breqs:
                self.r.add(f"{pre}-security-added", head=loc(hnode.child(hi)), operation=op, path=path, name=name)

    def _global_security(self, broot: Node, hroot: Node) -> None:
        self._security_list(broot.child("security"), hroot.child("security"), None, None, scope="global")

    def _components(self, broot: Node, hroot: Node) -> None:
        bs = broot.child("components", "securitySchemes")
        hs = hroot.child("components", "securitySchemes")
        bmap = bs.value if bs is not None and isinstance(bs.value, dict) else {}
        hmap = hs.value if hs is not None and isinstance(hs.value, dict) else {}
        for name in bmap:
            if name not in hmap:
                self.r.add("api-security-component-removed", head=loc(hs) or loc(hroot), base=loc(bs.child(name)),
                           name=name)
                continue
            b = self.base.resolver.deref(bs.child(name))
            h = self.head.resolver.deref(hs.child(name))
            self._security_scheme(str(name), b, h)
        for name in hmap:
            if name not in bmap:
                self.r.add("api-security-component-added", head=loc(hs.child(name)), name=name)
        bsch = broot.child("components", "schemas")
        hsch = hroot.child("components", "schemas")
        if bsch is not None and isinstance(bsch.value, dict):
            hkeys = hsch.value if hsch is not None and isinstance(hsch.value, dict) else {}
            for name in bsch.value:
                if name not in hkeys:
                    self.r.add("api-schema-removed", head=loc(hsch) or loc(hroot), base=loc(bsch.child(name)),
                               name=name)

    def _security_scheme(self, name: str, b: Node, h: Node) -> None:
        bv, hv = b.value if isinstance(b.value, dict) else {}, h.value if isinstance(h.value, dict) else {}
        if bv.get("type") != hv.get("type"):
            self.r.add("api-security-component-type-changed", head=loc(h.child("type")) or loc(h), name=name,
                       old=bv.get("type"), new=hv.get("type"))
        bflows = bv.get("flows") if isinstance(bv.get("flows"), dict) else {}
        hflows = hv.get("flows") if isinstance(hv.get("flows"), dict) else {}
        for flow in set(bflows) & set(hflows):
            bf, hf = bflows[flow] or {}, hflows[flow] or {}
            at = loc(h.child("flows", flow)) or loc(h)
            if bf.get("authorizationUrl") != hf.get("authorizationUrl"):
                self.r.add("api-security-component-oauth-url-changed", head=at, name=name,
                           old=bf.get("authorizationUrl"), new=hf.get("authorizationUrl"))
            if bf.get("tokenUrl") != hf.get("tokenUrl"):
                self.r.add("api-security-component-oauth-token-url-changed", head=at, name=name,
                           old=bf.get("tokenUrl"), new=hf.get("tokenUrl"))
            bsc = bf.get("scopes") if isinstance(bf.get("scopes"), dict) else {}
            hsc = hf.get("scopes") if isinstance(hf.get("scopes"), dict) else {}
            for s in bsc:
                if s not in hsc:
                    self.r.add("api-security-component-oauth-scope-removed", head=at, name=name, value=s)
                elif bsc[s] != hsc[s]:
                    self.r.add("api-security-component-oauth-scope-changed", head=at, name=name, value=s)
            for s in hsc:
                if s not in bsc:
                    self.r.add("api-security-component-oauth-scope-added", head=at, name=name, value=s)

    # -- webhooks (3.1) ------------------------------------------------------------------------------
    def _webhooks(self, bw: Node | None, hw: Node | None, hroot: Node) -> None:
        bmap = bw.value if bw is not None and isinstance(bw.value, dict) else {}
        hmap = hw.value if hw is not None and isinstance(hw.value, dict) else {}
        for name in bmap:
            if name not in hmap:
                self.r.add("webhook-removed", head=loc(hw) or loc(hroot), base=loc(bw.child(name)), name=name)
                continue
            bitem = self.base.resolver.deref(bw.child(name))
            hitem = self.head.resolver.deref(hw.child(name))
            bops = dict(self._operations(self.base, bitem))
            hops = dict(self._operations(self.head, hitem))
            for method in bops:
                if method not in hops:
                    self.r.add("webhook-removed", head=loc(hitem), base=loc(bops[method]),
                               name=f"{name} ({method.upper()})")
            for method, hop in hops.items():
                if method not in bops:
                    self.r.add("webhook-added", head=loc(hop), name=f"{name} ({method.upper()})")
                    continue
                # the API sends webhook requests and reads the receiver's responses: directions flip
                self._operation(f"webhook {name} {method.upper()}", f"webhook:{name}", f"webhook:{name}", bitem,
                                bops[method], hitem, hop, existing_path=True, flip=True)
        for name in hmap:
            if name not in bmap:
                self.r.add("webhook-added", head=loc(hw.child(name)), name=name)


def pointer_of(*tokens: str) -> str:
    return "".join(f"/{escape(t)}" for t in tokens)
