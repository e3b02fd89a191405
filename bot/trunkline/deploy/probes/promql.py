"""The query a Prometheus probe evaluates on one scrape of a metrics endpoint (pure).

Grammar (a tiny, PromQL-shaped subset — one scrape has no time range)::

    query      := [aggregate "("] selector [")"] op number
    aggregate  := sum | min | max | avg | count          (default: sum)
    selector   := metric_name ["{" matcher ("," matcher)* "}"]
    matcher    := label ("=" | "!=" | "=~" | "!~") "string"
    op         := < | <= | > | >= | == | !=

The selector matches *samples* by name, so counters are written with their ``_total`` suffix and
histogram series as ``x_bucket{le="0.5"}`` / ``x_sum`` / ``x_count``. Regex matchers are anchored, as
in PromQL. ``count`` of no series is 0; the other aggregates of no series have no value (the probe's
``absent`` setting decides: fail, or 0).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

_QUERY = re.compile(
    r"""^\s*(?:(?P<agg>sum|min|max|avg|count)\s*\(\s*)?
    (?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*
    (?:\{(?P<matchers>[^}]*)\})?\s*
    (?P<close>\))?\s*
    (?P<op><=|>=|==|!=|<|>)\s*
    (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN)\s*$""",
    re.VERBOSE,
)
_MATCHER = re.compile(r"""\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)""")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class Query:
    aggregate: str
    metric: str
    matchers: tuple[Matcher, ...]
    op: str
    threshold: float

    def __str__(self) -> str:
        inner = ",".join(f'{m.label}{m.op}"{m.value}"' for m in self.matchers)
        selector = self.metric + (f"{{{inner}}}" if inner else "")
        return f"{self.aggregate}({selector}) {self.op} {self.threshold:g}"


def parse_query(text: str) -> Query:
    """The parsed query, or ``ValueError`` saying what is wrong."""
    match = _QUERY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not `metric{{label=\"value\"}} OP number` (OP one of < <= > >= == !=), "
                         "optionally inside sum/min/max/avg/count(...)")
    if bool(match.group("agg")) != bool(match.group("close")):
        raise ValueError(f"{text!r}: unbalanced parentheses")
    matchers: list[Matcher] = []
    raw = (match.group("matchers") or "").strip()
    pos = 0
    while pos < len(raw):
        found = _MATCHER.match(raw, pos)
        if not found:
            raise ValueError(f"{text!r}: bad label matcher near {raw[pos:pos + 20]!r} (write label=\"value\")")
        label, op, value = found.group(1), found.group(2), re.sub(r"\\(.)", r"\1", found.group(3))
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{text!r}: bad regex {value!r} ({exc})") from None
        matchers.append(Matcher(label, op, value))
        pos = found.end()
    number = match.group("number")
    threshold = float(number.replace("Inf", "inf"))
    return Query(match.group("agg") or "sum", match.group("metric"), tuple(matchers), match.group("op"), threshold)


Sample = tuple[str, Mapping[str, str], float]  # name, labels, value


def parse_exposition(text: str) -> list[Sample]:
    """Samples of a Prometheus text exposition (``ValueError`` when it is not one)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return [(s.name, s.labels, float(s.value)) for family in text_string_to_metric_families(text)
                for s in family.samples]
    except Exception as exc:  # the parser raises ValueError, IndexError... on garbage
        raise ValueError(f"not Prometheus text format ({exc})") from None


@dataclass(frozen=True)
class QueryResult:
    passed: bool
    value: float | None  # None: no series matched (and absent = fail)
    series: int
    detail: str


def evaluate_query(query: Query, samples: Iterable[Sample], absent: str = "fail") -> QueryResult:
    """Apply ``query`` to scraped ``samples``."""
    values = [v for name, labels, v in samples
              if name == query.metric and all(m.matches(labels) for m in query.matchers)]
    if query.aggregate == "count":
        value: float | None = float(len(values))
    elif not values:
        value = 0.0 if absent == "zero" else None
    elif query.aggregate == "sum":
        value = math.fsum(values)
    elif query.aggregate == "min":
        value = min(values)
    elif query.aggregate == "max":
        value = max(values)
    else:
        value = math.fsum(values) / len(values)
    if value is None:
        return QueryResult(False, None, 0, f"no series matches {query}")
    passed = OPERATORS[query.op](value, query.threshold)
    shown = f"{value:g}" + ("" if values or query.aggregate == "count" else " (no series, absent = zero)")
    verdict = "holds" if passed else "does not hold"
    return QueryResult(passed, value, len(values), f"{query} {verdict}: value {shown} over {len(values)} series")


__all__ = ["Matcher", "OPERATORS", "Query", "QueryResult", "evaluate_query", "parse_exposition", "parse_query"]
