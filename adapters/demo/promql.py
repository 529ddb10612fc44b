"""A small PromQL engine over a bounded in-memory series store, for the demo's Prometheus.

The demo's simulated Prometheus (:mod:`adapters.demo.prometheus_api`) answers the
queries a console, a runbook gate or an operator would ask of request metrics. This
module parses and evaluates that subset of PromQL, with Prometheus's semantics where
they show (extrapolated ``rate``, ``histogram_quantile``'s interpolation, one-to-one
vector matching, the 5-minute lookback, staleness), and refuses everything else by
name: "offset is not supported by the watchfloor demo endpoint …", never a wrong
answer.

Supported:

- number literals (``1``, ``0.5``, ``1e3``, ``0x1f``, ``Inf``, ``NaN``), strings;
- instant vector selectors with ``=``, ``!=``, ``=~``, ``!~`` matchers, and range
  selectors ``[30s]``, ``[1m]``, ``[5m]``, ``[1h30m]`` …;
- ``rate``, ``irate``, ``increase``, ``delta``, ``avg_over_time``, ``min_over_time``,
  ``max_over_time``, ``sum_over_time``, ``count_over_time``, ``histogram_quantile``,
  ``vector``, ``scalar``, ``time``, ``abs``, ``clamp_min``, ``clamp_max``;
- ``sum``, ``avg``, ``min``, ``max``, ``count``, ``group`` with ``by (…)`` or
  ``without (…)``, before or after the argument;
- ``+ - * / % ^`` and comparisons (``== != > < >= <=``, with ``bool``) between
  scalars and vectors, ``and``/``or``/``unless``, ``on (…)``/``ignoring (…)``;
  unary minus; parentheses.

Not supported (a ``bad_data`` error naming it): ``offset``, ``@``, subqueries,
``group_left``/``group_right``, ``topk``/``bottomk``/``quantile``/``stddev``/
``stdvar``/``count_values``, and the functions not listed above.

Why not a PromQL parser from PyPI: ``promql-parser`` (Rust, PyO3) installs here as a
1.5 MB binary wheel and parses all of PromQL, but it is a 0.x API and evaluation would
still be ours to write; the subset's parser is a few hundred lines of Python we
control, with error messages that say what the demo does not do. Regular expressions
run on Python's ``re`` (not RE2): a pattern RE2 refuses (a backreference) is accepted
here, and label values are short simulated names, so backtracking cannot run away.
"""

from __future__ import annotations

import math
import re
from array import array
from bisect import bisect_right
from decimal import Decimal
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

__all__ = [
    "ExecutionError",
    "Labels",
    "Matcher",
    "MemoryTSDB",
    "Query",
    "QueryError",
    "Series",
    "parse",
]

Labels = tuple[tuple[str, str], ...]
"""A series' labels: ``(name, value)`` pairs sorted by name, ``__name__`` included."""

LOOKBACK = 300.0
"""Seconds an instant selector looks back for a sample (Prometheus's default)."""
MAX_DEPTH = 100
"""Deepest expression tree accepted; deeper would exhaust Python's stack."""
MAX_SAMPLES = 5_000_000
"""Samples one query may read before it is stopped (Prometheus's ``query.max-samples`` idea)."""
DOCS = "docs/demo-metrics.md"

UNSUPPORTED_SUFFIX = f"is not supported by the watchfloor demo endpoint (simulated data, a PromQL subset: see {DOCS})"


class QueryError(Exception):
    """A query that cannot be evaluated: Prometheus answers ``bad_data`` (HTTP 400)."""

    error_type = "bad_data"
    status = 400


class ExecutionError(QueryError):
    """A query that parsed but failed on the data (duplicate series, too many samples): HTTP 422."""

    error_type = "execution"
    status = 422


def unsupported(what: str) -> QueryError:
    """The error for valid PromQL outside the demo's subset."""
    return QueryError(f"{what} {UNSUPPORTED_SUFFIX}")


# --- the series store ------------------------------------------------------------------


class Series:
    """One series' samples in a ring of at most ``capacity`` entries, oldest first.

    Two ``array('d')`` (16 bytes a sample, not a tuple's ~100) that grow up to
    ``capacity`` and then wrap. A NaN value is a staleness marker, as in Prometheus:
    the series ended there (the simulator never produces a real NaN).
    """

    __slots__ = ("labels", "label_map", "_t", "_v", "_start", "_capacity")

    def __init__(self, labels: Labels, capacity: int) -> None:
        self.labels = labels
        self.label_map = dict(labels)
        self._t = array("d")
        self._v = array("d")
        self._start = 0
        self._capacity = capacity

    def __len__(self) -> int:
        return len(self._t)

    def append(self, t: float, value: float) -> None:
        """Add a sample newer than the last one (older ones are ignored)."""
        if self._t and t <= self.last_time:
            return
        if len(self._t) < self._capacity:
            self._t.append(t)
            self._v.append(value)
            return
        self._t[self._start] = t
        self._v[self._start] = value
        self._start = (self._start + 1) % self._capacity

    @property
    def last_time(self) -> float:
        """Time of the newest sample (``-inf`` if none)."""
        if not self._t:
            return -math.inf
        return self._t[(self._start + len(self._t) - 1) % len(self._t)]

    @property
    def last_value(self) -> float:
        """Value of the newest sample (NaN if none, or if it is a staleness marker)."""
        if not self._t:
            return math.nan
        return self._v[(self._start + len(self._t) - 1) % len(self._t)]

    def _after(self, t: float) -> int:
        """Logical index of the first sample newer than ``t``."""
        n = len(self._t)
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if self._t[(self._start + mid) % n] <= t:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def at(self, t: float, lookback: float = LOOKBACK) -> float | None:
        """The value an instant selector sees at ``t``: the newest sample within the lookback, unless stale."""
        n = len(self._t)
        i = self._after(t) - 1
        if i < 0:
            return None
        physical = (self._start + i) % n
        if self._t[physical] <= t - lookback:
            return None
        value = self._v[physical]
        return None if math.isnan(value) else value

    def export(self, since: float) -> tuple[list[float], list[float]]:
        """Samples newer than ``since`` as two plain lists (times, values), oldest first, markers kept.

        A query copies each series it reads once, then finds every step's window with
        :func:`bisect.bisect_right` on the copy: C-speed, instead of a Python loop per step.
        """
        first = self._after(since)
        times = (self._t[self._start :] + self._t[: self._start]) if self._start else self._t
        values = (self._v[self._start :] + self._v[: self._start]) if self._start else self._v
        return times[first:].tolist(), values[first:].tolist()

    def window(self, start: float, end: float) -> list[tuple[float, float]]:
        """Samples with ``start < time <= end``, staleness markers left out."""
        n = len(self._t)
        if not n:
            return []
        first, last = self._after(start), self._after(end)
        out = []
        for i in range(first, last):
            physical = (self._start + i) % n
            value = self._v[physical]
            if not math.isnan(value):
                out.append((self._t[physical], value))
        return out


class MemoryTSDB:
    """Series by label set, each a bounded ring; series older than the retention are dropped.

    Args:
        capacity: Samples kept per series.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._series: dict[Labels, Series] = {}
        self._by_name: dict[str, dict[Labels, Series]] = {}

    def __len__(self) -> int:
        return len(self._series)

    def series(self) -> Iterator[Series]:
        """Every series held."""
        return iter(self._series.values())

    def append(self, labels: Labels, t: float, value: float) -> None:
        """Add a sample, creating the series on first use."""
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = Series(labels, self.capacity)
            self._by_name.setdefault(dict(labels).get("__name__", ""), {})[labels] = series
        series.append(t, value)

    def mark_stale(self, labels: Labels, t: float) -> None:
        """End a series at ``t`` (its target went away), unless it has ended already."""
        series = self._series.get(labels)
        if series is not None and not math.isnan(series.last_value):
            series.append(t, math.nan)

    def drop_older_than(self, t: float) -> int:
        """Forget series whose newest sample is older than ``t``; returns how many."""
        old = [labels for labels, series in self._series.items() if series.last_time < t]
        for labels in old:
            del self._series[labels]
            name = dict(labels).get("__name__", "")
            by_name = self._by_name.get(name)
            if by_name is not None:
                by_name.pop(labels, None)
                if not by_name:
                    del self._by_name[name]
        return len(old)

    def select(self, name: str | None, matchers: Iterable[Matcher]) -> list[Series]:
        """Series whose name is ``name`` (any if None) and that every matcher accepts."""
        candidates = self._series.values() if name is None else self._by_name.get(name, {}).values()
        matchers = tuple(matchers)
        return [s for s in candidates if all(m.matches(s.label_map.get(m.name, "")) for m in matchers)]


# --- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: ``name op "value"``."""

    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(value) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True, slots=True, eq=False)
class NumberLiteral:
    value: float


@dataclass(frozen=True, slots=True, eq=False)
class StringLiteral:
    value: str


@dataclass(frozen=True, slots=True, eq=False)
class VectorSelector:
    name: str | None
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True, slots=True, eq=False)
class MatrixSelector:
    vector: VectorSelector
    range: float


@dataclass(frozen=True, slots=True, eq=False)
class Call:
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Aggregate:
    op: str
    expr: Node
    grouping: tuple[str, ...]
    without: bool


@dataclass(frozen=True, slots=True, eq=False)
class Unary:
    op: str
    expr: Node


@dataclass(frozen=True, slots=True, eq=False)
class Binary:
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    on: bool = False
    matching: tuple[str, ...] = ()


Node = Union[NumberLiteral, StringLiteral, VectorSelector, MatrixSelector, Call, Aggregate, Unary, Binary]

SCALAR, VECTOR, MATRIX, STRING = "scalar", "instant vector", "range vector", "string"

# name → (argument types, result type)
FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "rate": ((MATRIX,), VECTOR),
    "irate": ((MATRIX,), VECTOR),
    "increase": ((MATRIX,), VECTOR),
    "delta": ((MATRIX,), VECTOR),
    "avg_over_time": ((MATRIX,), VECTOR),
    "min_over_time": ((MATRIX,), VECTOR),
    "max_over_time": ((MATRIX,), VECTOR),
    "sum_over_time": ((MATRIX,), VECTOR),
    "count_over_time": ((MATRIX,), VECTOR),
    "histogram_quantile": ((SCALAR, VECTOR), VECTOR),
    "vector": ((SCALAR,), VECTOR),
    "scalar": ((VECTOR,), SCALAR),
    "time": ((), SCALAR),
    "abs": ((VECTOR,), VECTOR),
    "clamp_min": ((VECTOR, SCALAR), VECTOR),
    "clamp_max": ((VECTOR, SCALAR), VECTOR),
}
# Real PromQL functions the demo does not evaluate (anything else is "unknown").
OTHER_FUNCTIONS = frozenset(
    "absent absent_over_time acos acosh asin asinh atan atanh ceil changes clamp cos cosh deg "
    "day_of_month day_of_week day_of_year days_in_month deriv exp floor histogram_count "
    "histogram_fraction histogram_sum holt_winters hour idelta label_join label_replace "
    "last_over_time ln log10 log2 minute month pi predict_linear present_over_time "
    "quantile_over_time rad resets round sgn sin sinh sort sort_desc sqrt stddev_over_time "
    "stdvar_over_time tan tanh timestamp year".split()
)
AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "count", "group"})
OTHER_AGGREGATIONS = frozenset({"stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"})
ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})
PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, ">": 3, "<": 3, ">=": 3, "<=": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6}
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"})


def value_type(node: Node) -> str:
    """The PromQL type an expression evaluates to."""
    if isinstance(node, NumberLiteral):
        return SCALAR
    if isinstance(node, StringLiteral):
        return STRING
    if isinstance(node, MatrixSelector):
        return MATRIX
    if isinstance(node, Call):
        return FUNCTIONS[node.func][1]
    if isinstance(node, Unary):
        return value_type(node.expr)
    if isinstance(node, Binary):
        return SCALAR if value_type(node.lhs) == SCALAR and value_type(node.rhs) == SCALAR else VECTOR
    return VECTOR


# --- lexer -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
   |(?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
   |(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
   |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
   |(?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE,
)
_DURATION = re.compile(r"(?:(\d+)(ms|s|m|h|d|w|y))+")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number | ident | string | op | eof
    text: str
    pos: int
    end: int


def _position(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{column}"


def _lex(text: str) -> list[_Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            ch = text[pos]
            if ch in "\"'`":
                raise QueryError(f"{_position(text, pos)}: parse error: unterminated quoted string")
            raise QueryError(f"{_position(text, pos)}: parse error: unexpected character: {ch!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos, match.end()))
        pos = match.end()
    tokens.append(_Token("eof", "", len(text), len(text)))
    return tokens


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


def _unquote(token: _Token, text: str) -> str:
    """A string literal's value, with Go's escapes read as PromQL's lexer reads them."""
    quote, body = token.text[0], token.text[1:-1]
    if quote == "`":
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = body[i + 1]  # the lexer guarantees a character after each backslash
        where = f"{_position(text, token.pos + 1 + i)}: parse error"
        if kind in _ESCAPES:
            if kind in "'\"" and kind != quote:
                raise QueryError(f"{where}: unknown escape sequence \\{kind}")
            out.append(_ESCAPES[kind])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(kind)
        if width is not None:
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise QueryError(f"{where}: invalid escape sequence \\{kind}{digits}")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise QueryError(f"{where}: escape sequence is an invalid Unicode code point")
            out.append(chr(code))
            i += 2 + width
            continue
        if kind in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                raise QueryError(f"{where}: invalid octal escape sequence \\{digits}")
            out.append(chr(int(digits, 8)))
            i += 4
            continue
        raise QueryError(f"{where}: unknown escape sequence \\{kind}")
    return "".join(out)


def parse_duration(text: str) -> float:
    """Seconds in a PromQL duration (``30s``, ``1m``, ``1h30m``).

    Raises:
        QueryError: Not a duration, or zero.
    """
    if not _DURATION.fullmatch(text):
        raise QueryError(f"not a valid duration string: {text!r}")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise QueryError(f"duration must be greater than 0: {text!r}")
    return float(seconds)


def _number(text: str) -> float:
    lowered = text.lower()
    if lowered.startswith("0x"):
        return float(int(lowered, 16))
    return float(text)


# --- parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.i = 0
        self.depth = 0

    # tokens

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def error(self, message: str, token: _Token | None = None) -> QueryError:
        token = token or self.peek()
        return QueryError(f"{_position(self.text, token.pos)}: parse error: {message}")

    def unexpected(self, context: str, token: _Token | None = None) -> QueryError:
        token = token or self.peek()
        what = "end of input" if token.kind == "eof" else f"{_describe(token)}"
        return self.error(f"unexpected {what} {context}".rstrip(), token)

    def expect(self, text: str, context: str) -> _Token:
        if self.peek().text != text or self.peek().kind not in ("op",):
            raise self.unexpected(context)
        return self.take()

    def keyword(self, ahead: int = 0) -> str | None:
        token = self.peek(ahead)
        return token.text.lower() if token.kind == "ident" else None

    # grammar

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise self.error("no expression found in input")
        node = self.expression(0)
        if self.peek().kind != "eof":
            raise self.unexpected("")
        return node

    def expression(self, min_precedence: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the query is nested more than {MAX_DEPTH} levels deep")
        try:
            lhs = self.unary()
            while True:
                op = self.binary_operator()
                if op is None or PRECEDENCE[op] < min_precedence:
                    return lhs
                op_token = self.take()
                return_bool, on, matching = self.binary_modifiers(op)
                # ^ is right-associative; everything else binds to the left.
                rhs = self.expression(PRECEDENCE[op] if op == "^" else PRECEDENCE[op] + 1)
                lhs = self.binary(op, lhs, rhs, return_bool, on, matching, op_token)
        finally:
            self.depth -= 1

    def binary_operator(self) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.text in PRECEDENCE:
            return token.text
        if token.kind == "ident" and token.text.lower() in SET_OPERATORS:
            return token.text.lower()
        if token.kind == "ident" and token.text.lower() == "atan2":
            raise unsupported("the atan2 operator")
        return None

    def binary_modifiers(self, op: str) -> tuple[bool, bool, tuple[str, ...] | None]:
        return_bool = False
        if self.keyword() == "bool":
            if op not in COMPARISON:
                raise self.error("bool modifier can only be used on comparison operators")
            self.take()
            return_bool = True
        on, matching = False, None
        if self.keyword() in ("on", "ignoring"):
            on = self.take().text.lower() == "on"
            matching = self.label_list("in on/ignoring clause")
            if self.keyword() in ("group_left", "group_right"):
                raise unsupported(f"{self.keyword()} (many-to-one matching)")
        return return_bool, on, matching

    def binary(
        self, op: str, lhs: Node, rhs: Node, return_bool: bool, on: bool, matching: tuple[str, ...] | None, token: _Token
    ) -> Node:
        lt, rt = value_type(lhs), value_type(rhs)
        for side in (lt, rt):
            if side not in (SCALAR, VECTOR):
                raise self.error("binary expression must contain only scalar and instant vector types", token)
        if op in SET_OPERATORS and (lt == SCALAR or rt == SCALAR):
            raise self.error(f'set operator "{op}" not allowed in binary scalar expression', token)
        if op in COMPARISON and lt == SCALAR and rt == SCALAR and not return_bool:
            raise self.error("comparisons between scalars must use BOOL modifier", token)
        if matching is not None and (lt == SCALAR or rt == SCALAR):
            raise self.error("vector matching only allowed between instant vectors", token)
        node = Binary(op, lhs, rhs, return_bool, on, matching or ())
        self.check_depth(node, token)
        return node

    def check_depth(self, node: Node, token: _Token) -> None:
        # A long chain (1+1+1+…) is built by a loop, not recursion, so it needs its own limit.
        if _depth(node) > MAX_DEPTH:
            raise self.error(f"the query is nested more than {MAX_DEPTH} levels deep", token)

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text in "+-":
            self.take()
            operand = self.expression(PRECEDENCE["^"])
            kind = value_type(operand)
            if kind not in (SCALAR, VECTOR):
                raise self.error(f"unary expression only allowed on expressions of type scalar or instant vector, got {kind}", token)
            if token.text == "+":
                return operand
            if isinstance(operand, NumberLiteral):
                return NumberLiteral(-operand.value)
            return Unary("-", operand)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.peek()
            if token.kind == "op" and token.text == "[":
                node = self.range_suffix(node)
            elif token.kind == "ident" and token.text.lower() == "offset":
                raise unsupported("the offset modifier")
            elif token.kind == "op" and token.text == "@":
                raise unsupported("the @ modifier")
            else:
                return node

    def range_suffix(self, node: Node) -> Node:
        open_token = self.take()
        close = self.i
        while self.tokens[close].kind != "eof" and self.tokens[close].text != "]":
            close += 1
        if self.tokens[close].kind == "eof":
            raise self.error("unclosed left bracket", open_token)
        raw = self.text[open_token.end : self.tokens[close].pos].strip()
        if ":" in raw:
            raise unsupported("a subquery ([range:step])")
        if not isinstance(node, VectorSelector):
            raise self.error("ranges only allowed for vector selectors", open_token)
        if not raw:
            raise self.error("missing unit character in duration", open_token)
        try:
            seconds = parse_duration(raw)
        except QueryError:
            raise self.error(f"bad duration syntax: {raw!r}", open_token) from None
        self.i = close + 1
        return MatrixSelector(node, seconds)

    def primary(self) -> Node:
        token = self.peek()
        if token.kind == "number":
            self.take()
            return NumberLiteral(_number(token.text))
        if token.kind == "string":
            self.take()
            return StringLiteral(_unquote(token, self.text))
        if token.kind == "op" and token.text == "(":
            self.take()
            node = self.expression(0)
            self.expect(")", "in paren expression; expected right paren")
            return node
        if token.kind == "op" and token.text == "{":
            return self.selector(None, token)
        if token.kind == "ident":
            lowered = token.text.lower()
            if lowered in ("inf", "nan"):
                self.take()
                return NumberLiteral(math.inf if lowered == "inf" else math.nan)
            if lowered in AGGREGATIONS or lowered in OTHER_AGGREGATIONS:
                following = self.peek(1)
                if following.text == "(" or following.text.lower() in ("by", "without"):
                    return self.aggregation()
            if self.peek(1).kind == "op" and self.peek(1).text == "(":
                return self.call()
            if lowered in _KEYWORDS or lowered in SET_OPERATORS:
                raise self.unexpected("")
            self.take()
            if self.peek().kind == "op" and self.peek().text == "{":
                return self.selector(token.text, token)
            return self.make_selector(token.text, (), token)
        raise self.unexpected("")

    def call(self) -> Node:
        name_token = self.take()
        name = name_token.text
        if name not in FUNCTIONS:
            if name in OTHER_FUNCTIONS:
                raise unsupported(f"the function {name}()")
            raise self.error(f'unknown function with name "{name}"', name_token)
        self.take()  # (
        args: list[Node] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            while True:
                args.append(self.expression(0))
                if self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    continue
                break
        self.expect(")", "in function call; expected comma or right paren")
        expected, _ = FUNCTIONS[name]
        if len(args) != len(expected):
            raise self.error(f'expected {len(expected)} argument(s) in call to "{name}", got {len(args)}', name_token)
        for arg, kind in zip(args, expected, strict=True):
            actual = value_type(arg)
            if actual != kind:
                raise self.error(f'expected type {kind} in call to function "{name}", got {actual}', name_token)
        node = Call(name, tuple(args))
        self.check_depth(node, name_token)
        return node

    def aggregation(self) -> Node:
        op_token = self.take()
        op = op_token.text.lower()
        if op in OTHER_AGGREGATIONS:
            raise unsupported(f"the {op} aggregation")
        grouping: tuple[str, ...] = ()
        without = False
        modifier = False
        if self.keyword() in ("by", "without"):
            without = self.take().text.lower() == "without"
            grouping = self.label_list("in grouping opts")
            modifier = True
        self.expect("(", "in aggregation; expected left paren")
        if self.peek().kind == "op" and self.peek().text == ")":
            raise self.error("no arguments for aggregate expression provided", op_token)
        expr = self.expression(0)
        if self.peek().kind == "op" and self.peek().text == ",":
            raise self.error("wrong number of arguments for aggregate expression provided, expected 1, got 2", op_token)
        self.expect(")", "in aggregation; expected right paren")
        if self.keyword() in ("by", "without"):
            if modifier:
                raise self.unexpected("in aggregation")
            without = self.take().text.lower() == "without"
            grouping = self.label_list("in grouping opts")
        kind = value_type(expr)
        if kind != VECTOR:
            raise self.error(f"expected type instant vector in aggregation expression, got {kind}", op_token)
        node = Aggregate(op, expr, grouping, without)
        self.check_depth(node, op_token)
        return node

    def label_list(self, context: str) -> tuple[str, ...]:
        self.expect("(", f"{context}; expected left paren")
        labels: list[str] = []
        while True:
            token = self.peek()
            if token.kind == "op" and token.text == ")":
                self.take()
                return tuple(labels)
            if token.kind != "ident" or not _LABEL_NAME.fullmatch(token.text):
                raise self.unexpected(f"{context}; expected label")
            labels.append(self.take().text)
            if self.peek().kind == "op" and self.peek().text == ",":
                self.take()
            elif not (self.peek().kind == "op" and self.peek().text == ")"):
                raise self.unexpected(f"{context}; expected comma or right paren")

    def selector(self, name: str | None, start: _Token) -> Node:
        self.take()  # {
        matchers: list[Matcher] = []
        while True:
            token = self.peek()
            if token.kind == "op" and token.text == "}":
                self.take()
                break
            if token.kind != "ident" or not _LABEL_NAME.fullmatch(token.text):
                raise self.unexpected("in label matching, expected label")
            label = self.take().text
            op_token = self.peek()
            if op_token.kind != "op" or op_token.text not in ("=", "!=", "=~", "!~"):
                raise self.unexpected("in label matching, expected label matching operator")
            self.take()
            value_token = self.peek()
            if value_token.kind != "string":
                raise self.unexpected("in label matching, expected string")
            self.take()
            matchers.append(self.matcher(label, op_token.text, _unquote(value_token, self.text), value_token))
            if self.peek().kind == "op" and self.peek().text == ",":
                self.take()
            elif not (self.peek().kind == "op" and self.peek().text == "}"):
                raise self.unexpected("in label matching, expected comma or right brace")
        return self.make_selector(name, tuple(matchers), start)

    def matcher(self, label: str, op: str, value: str, token: _Token) -> Matcher:
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(f"(?:{value})")
            except (re.error, RecursionError, OverflowError, ValueError) as error:
                raise self.error(f"invalid regular expression {value!r}: {error}", token) from None
            return Matcher(label, op, value, pattern)
        return Matcher(label, op, value)

    def make_selector(self, name: str | None, matchers: tuple[Matcher, ...], token: _Token) -> VectorSelector:
        for m in matchers:
            if m.name == "__name__":
                if name is not None:
                    raise self.error(f"metric name must not be set twice: {name!r} or {m.value!r}", token)
        # The name as an equality matcher lets the store look series up by name.
        named = [m for m in matchers if m.name == "__name__" and m.op == "="]
        if name is None and len(named) == 1:
            name = named[0].value
        elif name is not None:
            matchers = (Matcher("__name__", "=", name), *matchers)
        if all(m.matches("") for m in matchers):
            raise self.error("vector selector must contain at least one non-empty matcher", token)
        return VectorSelector(name, matchers)


def _describe(token: _Token) -> str:
    if token.kind == "number":
        return f"number {token.text!r}"
    if token.kind == "string":
        return f"string {token.text!r}"
    if token.kind == "ident":
        return f"identifier {token.text!r}"
    return f"{token.text!r}"


def _depth(node: Node) -> int:
    """Height of an expression tree, without recursion."""
    best = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        best = max(best, depth)
        for child in _children(current):
            stack.append((child, depth + 1))
    return best


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Binary):
        return (node.lhs, node.rhs)
    if isinstance(node, (Unary, Aggregate)):
        return (node.expr,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, MatrixSelector):
        return (node.vector,)
    return ()


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(_children(current))


def parse(text: str) -> Node:
    """Parse a query of the supported subset.

    Raises:
        QueryError: A syntax or type error (with ``line:column``), or PromQL the demo
            does not evaluate (naming it).
    """
    return _Parser(text).parse()


# --- evaluation --------------------------------------------------------------------------

Vector = list[tuple[Labels, float]]
Matrix = list[tuple[Labels, list[tuple[float, float]]]]
Value = Union[float, str, Vector, Matrix]


@lru_cache(maxsize=8192)
def _drop_name(labels: Labels) -> Labels:
    return tuple(pair for pair in labels if pair[0] != "__name__")


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)
    except ValueError:
        return math.nan


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        odd = b == int(b) and int(b) % 2 == 1 if math.isfinite(b) else False
        return -math.inf if a < 0 and odd else math.inf
    except ValueError:
        if a == 0 and b < 0:
            return math.inf
        return math.nan


def _go_max(a: float, b: float) -> float:
    """Go's ``math.Max``: +Inf wins over NaN, NaN over any number (Python's ``max`` depends on order)."""
    if math.inf in (a, b):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def _go_min(a: float, b: float) -> float:
    """Go's ``math.Min``: -Inf wins over NaN, NaN over any number."""
    if -math.inf in (a, b):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return min(a, b)


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "%": _mod,
    "^": _pow,
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


@dataclass(slots=True)
class _Samples:
    """One selected series, copied for one query: parallel lists, oldest first.

    ``resets`` (range selectors only) holds prefix sums of counter drops:
    ``resets[i]`` is what the counter lost at resets up to sample ``i``, so a window's
    reset correction is one subtraction.
    """

    labels: Labels
    times: list[float]
    values: list[float]
    resets: list[float]


Window = tuple[Labels, _Samples, int, int]
"""A range selector's result for one series at one step: samples ``[lo, hi)`` of a copy."""


def _extrapolated(window: Window, t: float, span: float, counter: bool, per_second: bool) -> float | None:
    """Prometheus's ``extrapolatedRate``: rate/increase/delta over ``span`` seconds ending at ``t``."""
    _, samples, lo, hi = window
    count = hi - lo
    if count < 2:
        return None
    times, values = samples.times, samples.values
    first_t, first_v = times[lo], values[lo]
    last_t, last_v = times[hi - 1], values[hi - 1]
    result = last_v - first_v
    if counter:
        result += samples.resets[hi - 1] - samples.resets[lo]  # a reset: the counter restarted from zero
    sampled = last_t - first_t
    if sampled <= 0:
        return None
    to_start = first_t - (t - span)
    to_end = t - last_t
    average_gap = sampled / (count - 1)
    if counter and result > 0 and first_v >= 0:
        # A counter cannot have been below zero: do not extrapolate past where it was 0.
        to_start = min(to_start, sampled * (first_v / result))
    threshold = average_gap * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average_gap / 2
    interval += to_end if to_end < threshold else average_gap / 2
    result *= interval / sampled
    return result / span if per_second else result


def _irate(window: Window) -> float | None:
    _, samples, lo, hi = window
    if hi - lo < 2:
        return None
    t0, t1 = samples.times[hi - 2], samples.times[hi - 1]
    v0, v1 = samples.values[hi - 2], samples.values[hi - 1]
    if t1 <= t0:
        return None
    delta = v1 if v1 < v0 else v1 - v0
    return delta / (t1 - t0)


def _sum(values: list[float]) -> float:
    """An exact sum where it can be (fsum), a plain one where fsum cannot (±Inf, NaN, overflow)."""
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):
        return sum(values)


_OVER_TIME: dict[str, Callable[[list[float]], float]] = {
    "avg_over_time": lambda vs: _sum(vs) / len(vs),
    "min_over_time": lambda vs: min(vs, key=lambda v: (math.isnan(v), v)),
    "max_over_time": lambda vs: max(vs, key=lambda v: (not math.isnan(v), v)),
    "sum_over_time": lambda vs: _sum(vs),
    "count_over_time": lambda vs: float(len(vs)),
}


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's ``bucketQuantile`` over ``(upper bound, cumulative count)`` pairs."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for upper, count in buckets:
        merged[upper] = merged.get(upper, 0.0) + count
    ordered = sorted(merged.items())
    if len(ordered) < 2 or ordered[-1][0] != math.inf:
        return math.nan
    # Counts read at slightly different times can dip; Prometheus makes them monotonic.
    highest = -math.inf
    monotonic = []
    for upper, count in ordered:
        if count > highest:
            highest = count
        elif count < highest:
            count = highest
        monotonic.append((upper, count))  # NaN counts pass through, as in Prometheus
    observations = monotonic[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i, (_, count) in enumerate(monotonic[:-1]) if count >= rank), len(monotonic) - 1)
    if b == len(monotonic) - 1:
        return monotonic[-2][0]
    if b == 0 and monotonic[0][0] <= 0:
        return monotonic[0][0]
    start, end, count = 0.0, monotonic[b][0], monotonic[b][1]
    if b > 0:
        start = monotonic[b - 1][0]
        count -= monotonic[b - 1][1]
        rank -= monotonic[b - 1][1]
    return start + (end - start) * _div(rank, count)


class Query:
    """A parsed query, evaluated against a :class:`MemoryTSDB`.

    Series selection does not depend on the evaluation time, so each evaluation
    (:meth:`instant` or :meth:`range`) selects and copies the series it reads once,
    then reads every step's samples from the copies.

    Args:
        text: The PromQL text.
        db: Where the series are.
        lookback: How far back an instant selector looks for a sample.

    Raises:
        QueryError: The text does not parse, or is outside the supported subset.
    """

    def __init__(self, text: str, db: MemoryTSDB, *, lookback: float = LOOKBACK) -> None:
        self.node = parse(text)
        self.type = value_type(self.node)
        self._db = db
        self._lookback = lookback
        # How far before an evaluation time any selector of this query reads.
        self._reach = lookback + max((n.range for n in _walk(self.node) if isinstance(n, MatrixSelector)), default=0.0)
        self._since = -math.inf
        self._copies: dict[tuple[int, bool], list[_Samples]] = {}
        self._samples = 0

    def instant(self, t: float) -> Value:
        """The value at ``t``: a float, a string, a vector or (for a range selector) a matrix.

        Raises:
            ExecutionError: Duplicate series where one-to-one matching needs unique ones,
                or too many samples.
        """
        self._start(t - self._reach)
        value = self._eval(self.node, t)
        if self.type == VECTOR:
            _check_unique(value)  # type: ignore[arg-type]
            return sorted(value)  # type: ignore[arg-type]
        if self.type == MATRIX:
            return sorted(
                (labels, list(zip(s.times[lo:hi], s.values[lo:hi], strict=True)))
                for labels, s, lo, hi in value  # type: ignore[misc, union-attr]
            )
        return value

    def range(self, start: float, end: float, step: float) -> Matrix:
        """Points every ``step`` seconds from ``start`` to ``end``, one series per label set.

        Raises:
            QueryError: The query returns a range vector or a string.
            ExecutionError: As :meth:`instant`.
        """
        if self.type not in (SCALAR, VECTOR):
            raise QueryError(f'invalid expression type "{self.type}" for range query, must be Scalar or instant Vector')
        self._start(start - self._reach)
        out: dict[Labels, list[tuple[float, float]]] = {}
        steps = int(math.floor((end - start) / step + 1e-9)) + 1
        for k in range(steps):
            t = round(start + k * step, 3)
            value = self._eval(self.node, t)
            if self.type == SCALAR:
                out.setdefault((), []).append((t, value))  # type: ignore[arg-type]
                continue
            _check_unique(value)  # type: ignore[arg-type]
            for labels, v in value:  # type: ignore[union-attr]
                out.setdefault(labels, []).append((t, v))
        return sorted(out.items())

    # evaluation of one node at one time

    def _start(self, since: float) -> None:
        """Begin an evaluation: forget the copies and the sample count of any earlier one."""
        self._since = since
        self._copies = {}
        self._samples = 0

    def _copy(self, selector: VectorSelector, for_range: bool) -> list[_Samples]:
        """The selector's series, copied once per query (selection does not depend on the time)."""
        key = (id(selector), for_range)
        found = self._copies.get(key)
        if found is None:
            found = []
            for series in self._db.select(selector.name, selector.matchers):
                times, values = series.export(self._since)
                resets: list[float] = []
                if for_range:
                    if any(map(math.isnan, values)):  # range selectors skip staleness markers
                        kept = [(ts, v) for ts, v in zip(times, values, strict=True) if not math.isnan(v)]
                        times, values = [ts for ts, _ in kept], [v for _, v in kept]
                    resets = list(accumulate((p if c < p else 0.0 for p, c in zip(values, values[1:])), initial=0.0))
                found.append(_Samples(series.labels, times, values, resets))
            self._copies[key] = found
        return found

    def _count(self, n: int) -> None:
        self._samples += n
        if self._samples > MAX_SAMPLES:
            raise ExecutionError("query processing would load too many samples into memory in query execution")

    def _eval(self, node: Node, t: float) -> Value:
        if isinstance(node, NumberLiteral):
            return node.value
        if isinstance(node, StringLiteral):
            return node.value
        if isinstance(node, VectorSelector):
            out: Vector = []
            oldest = t - self._lookback
            for samples in self._copy(node, for_range=False):
                i = bisect_right(samples.times, t) - 1
                if i < 0 or samples.times[i] <= oldest:
                    continue
                value = samples.values[i]
                if value == value:  # not a staleness marker (NaN)
                    out.append((samples.labels, value))
            self._count(len(out))
            return out
        if isinstance(node, MatrixSelector):
            windows: list[Window] = []
            start = t - node.range
            for samples in self._copy(node.vector, for_range=True):
                lo, hi = bisect_right(samples.times, start), bisect_right(samples.times, t)
                if hi > lo:
                    self._count(hi - lo)
                    windows.append((samples.labels, samples, lo, hi))
            return windows  # type: ignore[return-value]
        if isinstance(node, Call):
            return self._call(node, t)
        if isinstance(node, Aggregate):
            return self._aggregate(node, self._eval(node.expr, t))  # type: ignore[arg-type]
        if isinstance(node, Unary):
            value = self._eval(node.expr, t)
            if isinstance(value, float):
                return -value
            return [(_drop_name(labels), -v) for labels, v in value]  # type: ignore[union-attr, misc]
        if isinstance(node, Binary):
            return self._binary(node, self._eval(node.lhs, t), self._eval(node.rhs, t))
        raise AssertionError(f"unknown node {node!r}")

    def _call(self, node: Call, t: float) -> Value:
        name = node.func
        if name == "time":
            return float(t)
        if name == "vector":
            return [((), self._eval(node.args[0], t))]  # type: ignore[list-item]
        if name == "scalar":
            vector = self._eval(node.args[0], t)
            return vector[0][1] if len(vector) == 1 else math.nan  # type: ignore[index, return-value, arg-type]
        if name == "histogram_quantile":
            q = self._eval(node.args[0], t)
            return _histogram_quantile(q, self._eval(node.args[1], t))  # type: ignore[arg-type]
        if name in ("abs", "clamp_min", "clamp_max"):
            vector = self._eval(node.args[0], t)
            if name == "abs":
                return [(_drop_name(labels), abs(v)) for labels, v in vector]  # type: ignore[union-attr, misc]
            bound = self._eval(node.args[1], t)
            pick = _go_max if name == "clamp_min" else _go_min
            return [(_drop_name(labels), pick(v, bound)) for labels, v in vector]  # type: ignore[union-attr, misc, arg-type]
        windows: list[Window] = self._eval(node.args[0], t)  # type: ignore[assignment]
        span = node.args[0].range  # type: ignore[union-attr]
        out: Vector = []
        for window in windows:
            if name == "rate":
                value = _extrapolated(window, t, span, counter=True, per_second=True)
            elif name == "increase":
                value = _extrapolated(window, t, span, counter=True, per_second=False)
            elif name == "delta":
                value = _extrapolated(window, t, span, counter=False, per_second=False)
            elif name == "irate":
                value = _irate(window)
            else:
                _, samples, lo, hi = window
                value = _OVER_TIME[name](samples.values[lo:hi])
            if value is not None:
                out.append((_drop_name(window[0]), value))
        return out

    def _aggregate(self, node: Aggregate, vector: Vector) -> Vector:
        groups: dict[Labels, list[float]] = {}
        for labels, value in vector:
            groups.setdefault(_group_key(labels, node.grouping, node.without), []).append(value)
        out: Vector = []
        for key, values in groups.items():
            if node.op == "sum":
                result = _sum(values)
            elif node.op == "avg":
                result = _sum(values) / len(values)
            elif node.op in ("min", "max"):
                numbers = [v for v in values if not math.isnan(v)]
                result = (min if node.op == "min" else max)(numbers) if numbers else math.nan
            elif node.op == "count":
                result = float(len(values))
            else:  # group
                result = 1.0
            out.append((key, result))
        return out

    def _binary(self, node: Binary, lhs: Value, rhs: Value) -> Value:
        op = node.op
        if isinstance(lhs, float) and isinstance(rhs, float):
            if op in COMPARISON:
                return 1.0 if _COMPARE[op](lhs, rhs) else 0.0
            return _ARITHMETIC[op](lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            return self._vector_scalar(node, lhs, rhs)
        if op in SET_OPERATORS:
            return self._set_operation(node, lhs, rhs)  # type: ignore[arg-type]
        return self._vector_vector(node, lhs, rhs)  # type: ignore[arg-type]

    @staticmethod
    def _vector_scalar(node: Binary, lhs: Value, rhs: Value) -> Vector:
        swap = isinstance(lhs, float)
        vector, scalar = (rhs, lhs) if swap else (lhs, rhs)
        out: Vector = []
        for labels, v in vector:  # type: ignore[union-attr, misc]
            a, b = (scalar, v) if swap else (v, scalar)
            if node.op in COMPARISON:
                keep = _COMPARE[node.op](a, b)  # type: ignore[arg-type]
                if node.return_bool:
                    out.append((_drop_name(labels), 1.0 if keep else 0.0))
                elif keep:
                    out.append((labels, v))  # a filter keeps the vector's own value
            else:
                out.append((_drop_name(labels), _ARITHMETIC[node.op](a, b)))  # type: ignore[arg-type]
        return out

    @staticmethod
    def _signature(node: Binary, labels: Labels) -> Labels:
        if node.on:
            return tuple(p for p in labels if p[0] in node.matching)
        return tuple(p for p in labels if p[0] not in node.matching and p[0] != "__name__")

    def _set_operation(self, node: Binary, lhs: Vector, rhs: Vector) -> Vector:
        right = {self._signature(node, labels) for labels, _ in rhs}
        if node.op == "and":
            return [(labels, v) for labels, v in lhs if self._signature(node, labels) in right]
        if node.op == "unless":
            return [(labels, v) for labels, v in lhs if self._signature(node, labels) not in right]
        left = {self._signature(node, labels) for labels, _ in lhs}
        return lhs + [(labels, v) for labels, v in rhs if self._signature(node, labels) not in left]

    def _vector_vector(self, node: Binary, lhs: Vector, rhs: Vector) -> Vector:
        if not lhs or not rhs:
            return []  # nothing can match; Prometheus skips the duplicate checks too
        right: dict[Labels, tuple[Labels, float]] = {}
        for labels, value in rhs:
            signature = self._signature(node, labels)
            if signature in right:
                raise ExecutionError(
                    f"found duplicate series for the match group {_format_labels(signature)} on the right hand-side "
                    f"of the operation: [{_format_labels(right[signature][0])}, {_format_labels(labels)}];"
                    "many-to-many matching not allowed: matching labels must be unique on one side"
                )
            right[signature] = (labels, value)
        out: dict[Labels, float] = {}
        for labels, lv in lhs:
            match = right.get(self._signature(node, labels))
            if match is None:
                continue
            rv = match[1]
            if node.op in COMPARISON:
                keep = _COMPARE[node.op](lv, rv)
                if not keep and not node.return_bool:
                    continue
                value = (1.0 if keep else 0.0) if node.return_bool else lv
                result = _drop_name(labels) if node.return_bool else labels
            else:
                value = _ARITHMETIC[node.op](lv, rv)
                result = _drop_name(labels)
            if node.on:
                result = tuple(p for p in result if p[0] in node.matching)
            else:
                result = tuple(p for p in result if p[0] not in node.matching)
            if result in out:
                raise ExecutionError(
                    f"multiple matches for labels: many-to-one matching must be explicit (group_left/group_right); "
                    f"duplicate series {_format_labels(result)}"
                )
            out[result] = value
        return list(out.items())


# Both run for every series at every step of a range query, on the same few label sets:
# memoised, a step costs a dict lookup instead of rebuilding a tuple.
@lru_cache(maxsize=8192)
def _group_key(labels: Labels, grouping: tuple[str, ...], without: bool) -> Labels:
    if without:
        return tuple(p for p in labels if p[0] not in grouping and p[0] != "__name__")
    return tuple(p for p in labels if p[0] in grouping and p[1] != "")


@lru_cache(maxsize=8192)
def _bucket_of(labels: Labels) -> tuple[Labels, float] | None:
    """``(labels without le and name, upper bound)`` of a bucket series; None if it has no usable ``le``."""
    le = dict(labels).get("le")
    if le is None:
        return None
    try:
        upper = float(le)
    except ValueError:
        return None
    return tuple(p for p in labels if p[0] not in ("le", "__name__")), upper


def _histogram_quantile(q: float, vector: Vector) -> Vector:
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for labels, value in vector:
        bucket = _bucket_of(labels)
        if bucket is not None:
            groups.setdefault(bucket[0], []).append((bucket[1], value))
    return [(key, bucket_quantile(q, buckets)) for key, buckets in groups.items()]


def _check_unique(vector: Vector) -> None:
    seen: set[Labels] = set()
    for labels, _ in vector:
        if labels in seen:
            raise ExecutionError(f"vector cannot contain metrics with the same labelset {_format_labels(labels)}")
        seen.add(labels)


def _format_labels(labels: Labels) -> str:
    name = dict(labels).get("__name__", "")
    body = ", ".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return f"{name}{{{body}}}"


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: ``"0.25"``, ``"3"``, ``"NaN"``, ``"+Inf"``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
