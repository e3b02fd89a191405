"""Parallel walk of a base and a head JSON Schema, producing direction-aware *changes*.

A :class:`Change` is a schema rule *kind* (``max-length-decreased``, ``property-added``, ...) found at a
property path relative to the schemas compared, with the head/base positions and arguments. Changes
do not yet carry an id: the same component may be a request body in one operation and a nested
property in another, so the caller (:mod:`.anchor`) turns kinds into rule ids per use site.

The walk resolves ``$ref`` (local and relative files, via :class:`~.refs.Resolver`), merges ``allOf``,
compares ``oneOf``/``anyOf`` branch-wise, understands nullable in the 3.0 (``nullable: true``) and 3.1
(``type: [x, "null"]``, ``oneOf: [{type: "null"}, x]``) styles, and tags ``readOnly``/``writeOnly``.
Results are memoized per (base node, head node, direction, xml) — GitHub's description reuses its
components thousands of times — and recursion is cut on a (base ref, head ref) pair already being
compared, so recursive schemas terminate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .refs import Node, Resolver, escape

Loc = tuple[str, str]  # (document name, JSON pointer)

# keywords that never change what validates: an allOf branch made only of these is "annotation only"
ANNOTATIONS = frozenset({
    "title", "description", "example", "examples", "deprecated", "readOnly", "writeOnly", "default",
    "externalDocs", "xml", "$comment", "x-go-name", "x-ms-enum", "nullable",
})
_SIMPLE_BRANCH_KEYS = frozenset({"type", "format", "enum", "title", "description", "nullable", "example",
                                 "examples", "default", "const"})


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    path: tuple[str, ...]
    head: Loc | None
    base: Loc | None
    args: tuple[tuple[str, Any], ...] = ()
    read_only: bool = False
    write_only: bool = False

    def arg(self, name: str, default: Any = None) -> Any:
        for k, v in self.args:
            if k == name:
                return v
        return default

    def prefixed(self, seg: str) -> Change:
        return Change(self.kind, (seg, *self.path), self.head, self.base, self.args, self.read_only,
                      self.write_only)


@dataclass(slots=True)
class View:
    """A schema normalised for comparison (allOf merged, nullable unwrapped)."""

    node: Node  # the (dereferenced) schema node changes are reported at
    value: dict[str, Any]  # merged keywords
    types: frozenset[str] | None  # None = unconstrained
    nullable: bool
    props: dict[str, Node]
    required: frozenset[str]
    all_of: list[Node]
    one_of: list[Node] | None
    any_of: list[Node] | None
    read_only: bool
    write_only: bool


def _canon(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def render(value: Any) -> str:
    """A short, stable rendering of a schema value for messages."""
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, (frozenset, set)):
        return "[" + ", ".join(sorted(map(str, value))) + "]"
    text = _canon(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _types_of(value: dict[str, Any]) -> tuple[frozenset[str] | None, bool]:
    t = value.get("type")
    nullable = value.get("nullable") is True
    if t is None:
        return None, nullable
    if isinstance(t, str):
        return (frozenset() if t == "null" else frozenset({t})), nullable or t == "null"
    if isinstance(t, list):
        names = frozenset(str(x) for x in t)
        return names - {"null"}, nullable or "null" in names
    return None, nullable


class SchemaComparer:
    """Compares schemas of two sides; one instance per diff (it owns the memo)."""

    def __init__(self, base: Resolver, head: Resolver) -> None:
        self.base = base
        self.head = head
        self._memo: dict[tuple, tuple[Change, ...]] = {}
        self._active: set[tuple] = set()
        self._views: dict[tuple[int, str, str], View] = {}

    # -- public --------------------------------------------------------------------------------------
    def compare(self, b: Node, h: Node, direction: str, *, xml: bool = False) -> tuple[Change, ...]:
        rb = self.base.deref(b)
        rh = self.head.deref(h)
        key = (rb.doc, rb.pointer, rh.doc, rh.pointer, direction, xml)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if key in self._active:  # recursive schema: this pair is already being compared higher up
            return ()
        self._active.add(key)
        try:
            out = tuple(self._compare(rb, rh, direction, xml))
        finally:
            self._active.discard(key)
        self._memo[key] = out
        return out

    # -- views ---------------------------------------------------------------------------------------
    def view(self, side: Resolver, node: Node) -> View:
        key = (id(side), node.doc, node.pointer)
        hit = self._views.get(key)
        if hit is not None:
            return hit
        v = self._build_view(side, node, depth=0)
        self._views[key] = v
        return v

    def _build_view(self, side: Resolver, node: Node, depth: int) -> View:
        node = side.deref(node)
        value = node.value if isinstance(node.value, dict) else {}
        types, nullable = _types_of(value)
        one_of = _branches(node, "oneOf")
        any_of = _branches(node, "anyOf")
        # 3.1 nullable wrapping: oneOf/anyOf [{type: null}, X] is X made nullable
        for lst in (one_of, any_of):
            if lst is not None and len(lst) == 2 and depth < 8:
                kinds = [self._is_null_schema(side, n) for n in lst]
                if kinds.count(True) == 1:
                    other = lst[kinds.index(False)]
                    inner = self._build_view(side, other, depth + 1)
                    inner.nullable = True
                    # keep annotations of the wrapper (readOnly etc.) when the inner lacks them
                    inner.read_only = inner.read_only or value.get("readOnly") is True
                    inner.write_only = inner.write_only or value.get("writeOnly") is True
                    return inner
        props: dict[str, Node] = {}
        pnode = node.child("properties")
        if pnode is not None and isinstance(pnode.value, dict):
            for name in pnode.value:
                props[str(name)] = Node(pnode.value[name], pnode.doc, f"{pnode.pointer}/{escape(str(name))}")
        required = frozenset(str(x) for x in value.get("required", ()) if isinstance(x, str)) \
            if isinstance(value.get("required"), list) else frozenset()
        all_of = _branches(node, "allOf") or []
        merged = value
        if all_of and depth < 16:
            merged = {k: v for k, v in value.items() if k != "allOf"}
            for br in all_of:
                bv = self._build_view(side, br, depth + 1)
                for name, pn in bv.props.items():
                    props.setdefault(name, pn)
                required = required | bv.required
                for k, v in bv.value.items():
                    if k in ("properties", "required", "allOf"):
                        continue
                    merged.setdefault(k, v)
                if types is None and bv.types is not None:
                    types = bv.types
                nullable = nullable or bv.nullable
                if one_of is None and bv.one_of is not None:
                    one_of = bv.one_of
                if any_of is None and bv.any_of is not None:
                    any_of = bv.any_of
        if types is None:
            # infer the obvious: properties imply an object, items an array
            if props or "additionalProperties" in merged:
                types = frozenset({"object"}) if "type" not in merged else None
            elif "items" in merged:
                types = frozenset({"array"})
        return View(node, merged, types, nullable, props, required, all_of, one_of, any_of,
                    merged.get("readOnly") is True, merged.get("writeOnly") is True)

    def _is_null_schema(self, side: Resolver, node: Node) -> bool:
        v = side.deref(node).value
        if not isinstance(v, dict):
            return False
        t = v.get("type")
        return (t == "null" or t == ["null"]) and not (set(v) - ANNOTATIONS - {"type"})

    # -- the walk ------------------------------------------------------------------------------------
    def _compare(self, bn: Node, hn: Node, direction: str, xml: bool) -> list[Change]:
        if not isinstance(bn.value, dict) or not isinstance(hn.value, dict):
            return self._compare_non_objects(bn, hn)
        b = self.view(self.base, bn)
        h = self.view(self.head, hn)
        out: list[Change] = []
        hloc: Loc = (h.node.doc, h.node.pointer)
        bloc: Loc = (b.node.doc, b.node.pointer)
        ro, wo = h.read_only or b.read_only, h.write_only or b.write_only

        def emit(kind: str, at: Loc | None = hloc, **args: Any) -> None:
            out.append(Change(kind, (), at, bloc, tuple(args.items()), ro, wo))

        # composition first: a body re-structured into a oneOf is reported as such, not as a diff of
        # each keyword against the first alternative
        collapsed_b = self._collapse_simple(self.base, b)
        collapsed_h = self._collapse_simple(self.head, h)
        if collapsed_b is not None:
            b = collapsed_b
        if collapsed_h is not None:
            h = collapsed_h
        if b.one_of is None and h.one_of is not None and not b.any_of:
            same = any(self._equal(self.base, b.node, self.head, br) for br in h.one_of)
            emit("wrapped-in-one-of-original-preserved" if same else "wrapped-in-one-of")
            return out
        out.extend(self._compare_branches(b, h, "oneOf", direction, xml))
        out.extend(self._compare_branches(b, h, "anyOf", direction, xml))
        out.extend(self._compare_all_of(b, h))

        self._compare_type(b, h, emit, xml)
        self._compare_values(b, h, emit)
        self._compare_bounds(b.value, h.value, emit)
        self._compare_pattern(b.value, h.value, emit)
        self._compare_discriminator(b.value, h.value, emit)
        out.extend(self._compare_keywords(b, h, direction, xml, emit))
        out.extend(self._compare_properties(b, h, direction, xml))
        for kw in ("items", "additionalProperties", "not"):
            bc, hc = b.node.child(kw), h.node.child(kw)
            if kw in b.value and kw in h.value and bc is None:
                bc = Node(b.value[kw], b.node.doc, f"{b.node.pointer}/{kw}")
            if kw in b.value and kw in h.value and hc is None:
                hc = Node(h.value[kw], h.node.doc, f"{h.node.pointer}/{kw}")
            if bc is not None and hc is not None and isinstance(bc.value, dict) and isinstance(hc.value, dict):
                out.extend(c.prefixed(kw) for c in self.compare(bc, hc, direction, xml=xml))
        return out

    def _compare_non_objects(self, bn: Node, hn: Node) -> list[Change]:
        return []  # boolean schemas: no rule covers true <-> false outside the keywords handled below

    # -- type, nullable, format --------------------------------------------------------------------
    def _compare_type(self, b: View, h: View, emit: Any, xml: bool) -> None:
        bt, ht = b.types, h.types
        if bt is not None and ht is not None and bt != ht:
            old, new = render(bt) if len(bt) != 1 else next(iter(bt)), render(ht) if len(ht) != 1 else next(iter(ht))
            if xml:
                emit("type-compatible", what="type", old=old, new=new)
            elif len(bt) == 1 and len(ht) == 1:
                if bt == {"integer"} and ht == {"number"}:
                    emit("type-generalized", what="type", old=old, new=new)
                elif bt == {"number"} and ht == {"integer"}:
                    emit("type-specialized", what="type", old=old, new=new, fallback="type-changed")
                else:
                    emit("type-changed", what="type", old=old, new=new)
            elif ht > bt:
                emit("list-of-types-widened", old=old, new=new)
            elif ht < bt:
                emit("list-of-types-narrowed", old=old, new=new)
            else:
                emit("type-changed", what="type", old=old, new=new)
        elif bt is not None and ht is not None and bt == ht:
            bf, hf = b.value.get("format"), h.value.get("format")
            if bf != hf:
                _format_change(bf, hf, emit, xml)
        if b.nullable != h.nullable:
            emit("became-nullable" if h.nullable else "became-not-nullable")

    # -- enum, const, default ------------------------------------------------------------------------
    def _compare_values(self, b: View, h: View, emit: Any) -> None:
        bv, hv = b.value, h.value
        be, he = bv.get("enum"), hv.get("enum")
        if isinstance(be, list) and isinstance(he, list):
            bset = {_canon(x): x for x in be if not (x is None and b.nullable)}
            hset = {_canon(x): x for x in he if not (x is None and h.nullable)}
            for k, val in bset.items():
                if k not in hset:
                    emit("enum-value-removed", value=render(val))
            for k, val in hset.items():
                if k not in bset:
                    emit("enum-value-added", value=render(val))
        elif be is None and isinstance(he, list) and "const" not in bv:
            emit("became-enum", new=render(he))
        bx, hx = bv.get("x-extensible-enum"), hv.get("x-extensible-enum")
        if isinstance(bx, list) and isinstance(hx, list):
            hkeys = {_canon(x) for x in hx}
            for val in bx:
                if _canon(val) not in hkeys:
                    emit("x-extensible-enum-value-removed", value=render(val))
        for kw, label in (("const", "const"), ("default", "default-value")):
            if kw in bv and kw in hv:
                if _canon(bv[kw]) != _canon(hv[kw]):
                    emit(f"{label}-changed", old=render(bv[kw]), new=render(hv[kw]))
            elif kw in hv:
                emit(f"{label}-added", new=render(hv[kw]))
            elif kw in bv:
                emit(f"{label}-removed", old=render(bv[kw]))

    # -- numeric and size bounds -------------------------------------------------------------------
    def _compare_bounds(self, bv: dict[str, Any], hv: dict[str, Any], emit: Any) -> None:
        # upper bounds: lower is narrower
        for kw, name in (("maximum", "max"), ("maxLength", "max-length"), ("maxItems", "max-items"),
                         ("maxProperties", "max-properties")):
            _upper(bv.get(kw), hv.get(kw), name, emit)
        _upper(_num(bv.get("exclusiveMaximum")), _num(hv.get("exclusiveMaximum")), "exclusive-max", emit)
        # lower bounds: higher is narrower; absent minLength/minProperties mean 0
        _lower(bv.get("minimum"), hv.get("minimum"), "min", emit, set_kind=True)
        _lower(_num(bv.get("exclusiveMinimum")), _num(hv.get("exclusiveMinimum")), "exclusive-min", emit,
               set_kind=True)
        _lower(bv.get("minLength", 0), hv.get("minLength", 0), "min-length", emit)
        _lower(bv.get("minItems"), hv.get("minItems"), "min-items", emit, set_kind=True, unset_kind=True)
        _lower(bv.get("minProperties", 0), hv.get("minProperties", 0), "min-properties", emit)
        if "contains" in bv or "contains" in hv:
            _lower(bv.get("minContains", 1), hv.get("minContains", 1), "min-contains", emit)
            _upper(bv.get("maxContains"), hv.get("maxContains"), "max-contains", emit, set_kind=False)
        bu, hu = bv.get("uniqueItems") is True, hv.get("uniqueItems") is True
        if bu != hu:
            emit("unique-items-set" if hu else "unique-items-unset")
        bm, hm = _num(bv.get("multipleOf")), _num(hv.get("multipleOf"))
        if bm is None and hm is not None:
            emit("multiple-of-set", new=hm)
        elif bm is not None and hm is None:
            emit("multiple-of-unset", old=bm)
        elif bm is not None and hm is not None and bm != hm:
            if hm and _divides(hm, bm):  # every old multiple is still a multiple: wider
                emit("multiple-of-generalized", old=bm, new=hm, fallback="multiple-of-changed")
            elif bm and _divides(bm, hm):  # narrower
                emit("multiple-of-specialized", old=bm, new=hm, fallback="multiple-of-changed")
            else:
                emit("multiple-of-changed", old=bm, new=hm)

    def _compare_pattern(self, bv: dict[str, Any], hv: dict[str, Any], emit: Any) -> None:
        bp, hp = bv.get("pattern") or None, hv.get("pattern") or None  # "" matches everything
        if bp in _UNIVERSAL and hp in _UNIVERSAL:
            return
        if bp in _UNIVERSAL:
            bp = None
        if bp == hp:
            return
        if bp is None:
            emit("pattern-added", new=hp)
        elif hp is None:
            emit("pattern-removed", old=bp)
        elif hp in _UNIVERSAL:
            emit("pattern-generalized", old=bp, new=hp)
        else:
            emit("pattern-changed", old=bp, new=hp)

    def _compare_discriminator(self, bv: dict[str, Any], hv: dict[str, Any], emit: Any) -> None:
        bd, hd = bv.get("discriminator"), hv.get("discriminator")
        if not isinstance(bd, dict) and not isinstance(hd, dict):
            return
        if not isinstance(bd, dict):
            emit("discriminator-added")
            return
        if not isinstance(hd, dict):
            emit("discriminator-removed")
            return
        if bd.get("propertyName") != hd.get("propertyName"):
            emit("discriminator-property-name-changed", old=bd.get("propertyName"), new=hd.get("propertyName"))
        bm = bd.get("mapping") if isinstance(bd.get("mapping"), dict) else {}
        hm = hd.get("mapping") if isinstance(hd.get("mapping"), dict) else {}
        added = sorted(set(hm) - set(bm))
        removed = sorted(set(bm) - set(hm))
        if added:
            emit("discriminator-mapping-added", keys=render(added))
        if removed:
            emit("discriminator-mapping-deleted", keys=render(removed))
        for key in sorted(set(bm) & set(hm)):
            if bm[key] != hm[key]:
                emit("discriminator-mapping-changed", key=key, old=bm[key], new=hm[key])

    # -- JSON Schema 2020-12 applicators -------------------------------------------------------------
    def _compare_keywords(self, b: View, h: View, direction: str, xml: bool, emit: Any) -> list[Change]:
        out: list[Change] = []
        bv, hv = b.value, h.value
        for kw, kind in (("if", "if"), ("then", "then"), ("else", "else"), ("contains", "contains"),
                         ("propertyNames", "property-names"), ("contentSchema", "content-schema"),
                         ("unevaluatedItems", "unevaluated-items"),
                         ("unevaluatedProperties", "unevaluated-properties")):
            bin_, hin = kw in bv and bv[kw] is not True, kw in hv and hv[kw] is not True
            if hin and not bin_:
                emit(f"{kind}-added")
            elif bin_ and not hin:
                emit(f"{kind}-removed")
            elif bin_ and hin:
                bc, hc = b.node.child(kw), h.node.child(kw)
                if bc is not None and hc is not None and isinstance(bc.value, dict) and isinstance(hc.value, dict):
                    out.extend(c.prefixed(kw) for c in self.compare(bc, hc, direction, xml=xml))
        for kw, kind in (("contentMediaType", "content-media-type"), ("contentEncoding", "content-encoding")):
            if bv.get(kw) != hv.get(kw):
                emit(f"{kind}-changed", old=bv.get(kw), new=hv.get(kw))
        bdr = bv.get("dependentRequired") if isinstance(bv.get("dependentRequired"), dict) else {}
        hdr = hv.get("dependentRequired") if isinstance(hv.get("dependentRequired"), dict) else {}
        for key in sorted(set(bdr) | set(hdr)):
            if key not in bdr:
                emit("dependent-required-added", key=key)
            elif key not in hdr:
                emit("dependent-required-removed", key=key)
            elif sorted(map(str, bdr[key] or [])) != sorted(map(str, hdr[key] or [])):
                emit("dependent-required-changed", key=key, old=render(bdr[key]), new=render(hdr[key]))
        for kw, kind in (("dependentSchemas", "dependent-schema"), ("patternProperties", "pattern-property")):
            bd = b.node.child(kw)
            hd = h.node.child(kw)
            bmap = bd.value if bd is not None and isinstance(bd.value, dict) else {}
            hmap = hd.value if hd is not None and isinstance(hd.value, dict) else {}
            for key in sorted(set(bmap) | set(hmap)):
                if key not in bmap:
                    emit(f"{kind}-added", key=key)
                elif key not in hmap:
                    emit(f"{kind}-removed", key=key)
                else:
                    bc, hc = bd.child(key), hd.child(key)
                    if bc is not None and hc is not None:
                        out.extend(c.prefixed(f"{kw}[{key}]") for c in self.compare(bc, hc, direction, xml=xml))
        bpi = b.node.child("prefixItems")
        hpi = h.node.child("prefixItems")
        bl = bpi.value if bpi is not None and isinstance(bpi.value, list) else []
        hl = hpi.value if hpi is not None and isinstance(hpi.value, list) else []
        for i in range(max(len(bl), len(hl))):
            if i >= len(bl):
                emit("prefix-items-added", key=i)
            elif i >= len(hl):
                emit("prefix-items-removed", key=i)
            else:
                bc, hc = bpi.child(i), hpi.child(i)
                if bc is not None and hc is not None:
                    out.extend(c.prefixed(f"prefixItems[{i}]") for c in self.compare(bc, hc, direction, xml=xml))
        return out

    # -- properties ----------------------------------------------------------------------------------
    def _compare_properties(self, b: View, h: View, direction: str, xml: bool) -> list[Change]:
        out: list[Change] = []
        if not b.props and not h.props:
            return out
        bloc = (b.node.doc, b.node.pointer)
        hparent = h.node.child("properties")
        hparent_loc = (hparent.doc, hparent.pointer) if hparent is not None else (h.node.doc, h.node.pointer)
        for name in list(b.props) + [n for n in h.props if n not in b.props]:
            bp, hp = b.props.get(name), h.props.get(name)
            if hp is None and bp is not None:
                pv = self.view(self.base, bp)
                out.append(Change("prop:removed", (name,), hparent_loc, (pv.node.doc, pv.node.pointer),
                                  (("required", name in b.required),), pv.read_only, pv.write_only))
                continue
            hv = self.view(self.head, hp)
            hloc = (hp.doc, hp.pointer)
            if bp is None:
                out.append(Change("prop:added", (name,), hloc, bloc,
                                  (("required", name in h.required), ("default", "default" in hv.value)),
                                  hv.read_only, hv.write_only))
                continue
            bv = self.view(self.base, bp)
            ro, wo = hv.read_only or bv.read_only, hv.write_only or bv.write_only
            breq, hreq = name in b.required, name in h.required
            if breq != hreq:
                out.append(Change("prop:required" if hreq else "prop:optional", (name,), hloc,
                                  (bp.doc, bp.pointer), (), ro, wo))
            req = "required" if hreq else "optional"
            for flag, label in (("read_only", "read-only"), ("write_only", "write-only")):
                old, new = getattr(bv, flag), getattr(hv, flag)
                if old != new:
                    what = label if new else f"not-{label}"
                    out.append(Change("prop:access", (name,), hloc, (bp.doc, bp.pointer),
                                      (("required", req), ("what", what)), ro, wo))
            bdep, hdep = bv.value.get("deprecated") is True, hv.value.get("deprecated") is True
            if bdep != hdep:
                sunset = hv.value.get("x-sunset")
                kind = "prop:reactivated" if not hdep else (
                    "prop:deprecated-with-sunset" if sunset else "prop:deprecated")
                out.append(Change(kind, (name,), hloc, (bp.doc, bp.pointer),
                                  (("date", str(sunset)),) if sunset else (), ro, wo))
            out.extend(c.prefixed(name) for c in self.compare(bp, hp, direction, xml=xml))
        return out

    # -- oneOf / anyOf / allOf -----------------------------------------------------------------------
    def _compare_branches(self, b: View, h: View, comb: str, direction: str, xml: bool) -> list[Change]:
        bl = b.one_of if comb == "oneOf" else b.any_of
        hl = h.one_of if comb == "oneOf" else h.any_of
        if not bl and not hl:
            return []
        bl, hl = bl or [], hl or []
        kind = "one-of" if comb == "oneOf" else "any-of"
        pairs, removed, added = self._match(bl, hl)
        out: list[Change] = []
        hloc = (h.node.doc, h.node.pointer)
        bloc = (b.node.doc, b.node.pointer)
        ro, wo = h.read_only or b.read_only, h.write_only or b.write_only
        for bn in removed:
            out.append(Change(f"{kind}-removed", (), hloc, (bn.doc, bn.pointer),
                              (("branch", self._label(self.base, bn)),), ro, wo))
        for hn in added:
            out.append(Change(f"{kind}-added", (), (hn.doc, hn.pointer), bloc,
                              (("branch", self._label(self.head, hn)),), ro, wo))
        for bn, hn in pairs:
            seg = f"{comb}[{self._label(self.head, hn)}]"
            out.extend(c.prefixed(seg) for c in self.compare(bn, hn, direction, xml=xml))
        return out

    def _compare_all_of(self, b: View, h: View) -> list[Change]:
        if not b.all_of and not h.all_of:
            return []
        _, removed, added = self._match(b.all_of, h.all_of)
        out: list[Change] = []
        hloc = (h.node.doc, h.node.pointer)
        bloc = (b.node.doc, b.node.pointer)
        ro, wo = h.read_only or b.read_only, h.write_only or b.write_only
        for bn in removed:
            kind = "all-of-removed-annotation-only" if self._annotation_only(self.base, bn) else "all-of-removed"
            out.append(Change(kind, (), hloc, (bn.doc, bn.pointer), (("branch", self._label(self.base, bn)),),
                              ro, wo))
        for hn in added:
            kind = "all-of-added-annotation-only" if self._annotation_only(self.head, hn) else "all-of-added"
            out.append(Change(kind, (), (hn.doc, hn.pointer), bloc, (("branch", self._label(self.head, hn)),),
                              ro, wo))
        return out

    def _annotation_only(self, side: Resolver, node: Node) -> bool:
        v = side.deref(node).value
        return isinstance(v, dict) and not {k for k in v if k not in ANNOTATIONS and not k.startswith("x-")}

    def _match(self, bl: list[Node], hl: list[Node]) -> tuple[list[tuple[Node, Node]], list[Node], list[Node]]:
        """Pair branches: same $ref target, then same title, then equal content, then same position
        among the remaining inline branches of the same type."""
        pairs: list[tuple[Node, Node]] = []
        rest_b = list(bl)
        rest_h = list(hl)

        def take(keyf_b: Any, keyf_h: Any) -> None:
            index: dict[Any, list[Node]] = {}
            for n in rest_h:
                k = keyf_h(n)
                if k is not None:
                    index.setdefault(k, []).append(n)
            for n in list(rest_b):
                k = keyf_b(n)
                if k is not None and index.get(k):
                    hn = index[k].pop(0)
                    pairs.append((n, hn))
                    rest_b.remove(n)
                    rest_h.remove(hn)

        take(lambda n: self._ref_key(self.base, n), lambda n: self._ref_key(self.head, n))
        take(lambda n: self._title(self.base, n), lambda n: self._title(self.head, n))
        take(lambda n: self._content_key(self.base, n), lambda n: self._content_key(self.head, n))
        # inline branches keep their relative order: pair them by type
        take(lambda n: self._inline_type_key(self.base, n, rest_b),
             lambda n: self._inline_type_key(self.head, n, rest_h))
        return pairs, rest_b, rest_h

    def _ref_key(self, side: Resolver, node: Node) -> str | None:
        ref = side.ref_name(node)
        if ref is None:
            return None
        _doc, pointer = side.target(ref, node.doc)
        return pointer.rsplit("/", 1)[-1] or ref

    def _title(self, side: Resolver, node: Node) -> str | None:
        if side.ref_name(node) is not None:
            return None
        v = node.value
        t = v.get("title") if isinstance(v, dict) else None
        return t if isinstance(t, str) and t else None

    def _content_key(self, side: Resolver, node: Node) -> str | None:
        if side.ref_name(node) is not None:
            return None
        return _canon(node.value)

    def _inline_type_key(self, side: Resolver, node: Node, siblings: list[Node]) -> Any:
        if side.ref_name(node) is not None or not isinstance(node.value, dict):
            return None
        t = node.value.get("type")
        same = [n for n in siblings if isinstance(n.value, dict) and n.value.get("type") == t
                and side.ref_name(n) is None]
        return (_canon(t), same.index(node)) if node in same else None

    def _label(self, side: Resolver, node: Node) -> str:
        ref = side.ref_name(node)
        if ref is not None:
            return ref.rsplit("/", 1)[-1]
        title = self._title(side, node)
        if title:
            return title
        return "#" + node.pointer.rsplit("/", 1)[-1]

    def _equal(self, bside: Resolver, bnode: Node, hside: Resolver, hnode: Node) -> bool:
        bv, hv = bside.deref(bnode).value, hside.deref(hnode).value
        return _canon(bv) == _canon(hv)

    def _collapse_simple(self, side: Resolver, v: View) -> View | None:
        """``oneOf``/``anyOf`` of bare typed scalars is a list of types (oasdiff's 'transition')."""
        for comb in ("one_of", "any_of"):
            lst = getattr(v, comb)
            if not lst or len(lst) < 2 or v.props:
                continue
            types: set[str] = set()
            nullable = v.nullable
            for br in lst:
                bv = side.deref(br).value
                if not isinstance(bv, dict) or set(bv) - _SIMPLE_BRANCH_KEYS or "enum" in bv or "const" in bv:
                    return None
                t, n = _types_of(bv)
                if t is None or not t or any(x in ("object", "array") for x in t):
                    if not (n and t == frozenset()):
                        return None
                types |= set(t)
                nullable = nullable or n
            new = View(v.node, v.value, frozenset(types), nullable, v.props, v.required, v.all_of,
                       None if comb == "one_of" else v.one_of, None if comb == "any_of" else v.any_of,
                       v.read_only, v.write_only)
            return new
        return None


def _branches(node: Node, kw: str) -> list[Node] | None:
    v = node.value
    if not isinstance(v, dict) or not isinstance(v.get(kw), list):
        return None
    return [Node(x, node.doc, f"{node.pointer}/{kw}/{i}") for i, x in enumerate(v[kw])]


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _divides(d: float, n: float) -> bool:
    try:
        q = n / d
    except ZeroDivisionError:
        return False
    return abs(q - round(q)) < 1e-9


def _upper(old: Any, new: Any, name: str, emit: Any, *, set_kind: bool = True) -> None:
    old, new = _num(old), _num(new)
    if old == new:
        return
    if old is None:
        if set_kind:
            emit(f"{name}-set", new=new)
    elif new is None:
        emit(f"{name}-unset", old=old)
    elif new < old:
        emit(f"{name}-decreased", old=old, new=new)
    else:
        emit(f"{name}-increased", old=old, new=new)


def _lower(old: Any, new: Any, name: str, emit: Any, *, set_kind: bool = False, unset_kind: bool = False) -> None:
    old, new = _num(old), _num(new)
    if old == new:
        return
    if old is None:
        if set_kind:
            emit(f"{name}-set", new=new)
        else:
            emit(f"{name}-increased", old=0, new=new)
    elif new is None:
        if unset_kind:
            emit(f"{name}-unset", old=old)
        else:
            emit(f"{name}-decreased", old=old, new=0)
    elif new > old:
        emit(f"{name}-increased", old=old, new=new)
    else:
        emit(f"{name}-decreased", old=old, new=new)


_UNIVERSAL = (None, ".*", "^.*$", ".*$", "^.*", "(.*)", "^(.*)$")
_WIDER_FORMATS = {("int32", "int64"), ("float", "double"), ("date", "date-time")}


def _format_change(bf: Any, hf: Any, emit: Any, xml: bool) -> None:
    old, new = render(bf) if bf is not None else "(none)", render(hf) if hf is not None else "(none)"
    if xml:
        emit("type-compatible", what="format", old=old, new=new)
    elif bf is not None and hf is None:
        emit("type-generalized", what="format", old=old, new=new)
    elif bf is None:
        emit("type-specialized", what="format", old=old, new=new, fallback="type-changed")
    elif (bf, hf) in _WIDER_FORMATS:
        emit("type-generalized", what="format", old=old, new=new)
    elif (hf, bf) in _WIDER_FORMATS:
        emit("type-specialized", what="format", old=old, new=new, fallback="type-changed")
    else:
        emit("type-changed", what="format", old=old, new=new)
