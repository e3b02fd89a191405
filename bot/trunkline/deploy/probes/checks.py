"""What a probe's answer must look like (pure: answers in, ``(ok, detail)`` out)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .jsonpath import MISSING, lookup
from .promql import evaluate_query, parse_exposition, parse_query
from .spec import JsonAssertion, ProbeSpec

SNIPPET = 120


def _snippet(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= SNIPPET else text[: SNIPPET - 3] + "..."


def check_json_assertion(document: Any, assertion: JsonAssertion) -> str | None:
    """``None`` when ``assertion`` holds on ``document``, else why not."""
    value = lookup(document, assertion.path)
    if value is MISSING:
        return None if not assertion.exists else f"{assertion.path} is missing"
    if not assertion.exists:
        return f"{assertion.path} exists (= {_snippet(value)}) but must not"
    fields = assertion.model_fields_set
    if "equals" in fields and not _same(value, assertion.equals):
        return f"{assertion.path} = {_snippet(value)}, expected {_snippet(assertion.equals)}"
    if assertion.one_of is not None and not any(_same(value, v) for v in assertion.one_of):
        return f"{assertion.path} = {_snippet(value)}, expected one of {_snippet(assertion.one_of)}"
    if assertion.matches is not None:
        text = value if isinstance(value, str) else json.dumps(value)
        if re.search(assertion.matches, text) is None:
            return f"{assertion.path} = {_snippet(value)} does not match /{assertion.matches}/"
    for bound, limit, ok in (("at_most", assertion.at_most, lambda v, lim: v <= lim),
                             ("at_least", assertion.at_least, lambda v, lim: v >= lim)):
        if limit is None:
            continue
        if not _is_number(value):
            return f"{assertion.path} = {_snippet(value)} is not a number ({bound} {limit:g})"
        if not ok(value, limit):
            return f"{assertion.path} = {value:g}, expected {bound.replace('_', ' ')} {limit:g}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _same(actual: Any, expected: Any) -> bool:
    # JSON has one number type (1 == 1.0) but true is not 1
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    return actual == expected


def check_http(spec: ProbeSpec, status: int, content: bytes, content_type: str | None) -> tuple[bool, str]:
    if status not in spec.statuses:
        expected = " or ".join(str(s) for s in spec.statuses)
        body = content[:SNIPPET].decode("utf-8", "replace").strip()
        return False, f"expected status {expected}" + (f" (body: {body!r})" if body else "")
    if not spec.expect_json:
        return True, "ok"
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        kind = content_type or "no content type"
        return False, f"body is not JSON ({kind}: {content[:60].decode('utf-8', 'replace')!r})"
    problems = [p for a in spec.expect_json if (p := check_json_assertion(document, a)) is not None]
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(spec.expect_json)} JSON assertion(s) hold"


def check_latency(spec: ProbeSpec, latency_ms: float, head: str) -> tuple[bool, str]:
    budget = spec.latency_budget_ms
    if budget is not None and latency_ms > budget:
        return False, f"{head}: over the latency budget of {budget:g} ms"
    return True, head


def check_prometheus(spec: ProbeSpec, status: int, text: str) -> tuple[bool, str]:
    if status != 200:
        return False, "expected status 200 from the metrics endpoint"
    try:
        samples = parse_exposition(text)
    except ValueError as exc:
        return False, str(exc)
    assert spec.query is not None  # the model requires it for prometheus probes
    result = evaluate_query(parse_query(spec.query), samples, spec.absent)
    return result.passed, result.detail


def check_websocket_message(spec: ProbeSpec, received: str | None) -> tuple[bool, str]:
    if spec.expect is None or received is None:
        return True, "ok"
    if spec.expect in received:
        return True, "ok"
    return False, f"received {_snippet(received)}, expected it to contain {_snippet(spec.expect)}"


__all__ = ["check_http", "check_json_assertion", "check_latency", "check_prometheus", "check_websocket_message"]
