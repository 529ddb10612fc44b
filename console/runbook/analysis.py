"""Analysis (gate) semantics after Argo Rollouts' AnalysisRun: conditions, verdicts, limits.

Pure: no I/O, no clock. The caller queries Prometheus, times the measurements and
hands each result here; this module says what a result means and where the gate stands.

Three parts:

- **Conditions** (`parse_condition`): a small, safe expression language over
  ``result``, the list of values a query returned. It is parsed once, at load time,
  by a recursive-descent parser of its own; nothing is ever given to ``eval``::

      result[0] < 0.05
      result < 0.1                      # shorthand: the one value of a one-value result
      result[0] >= 0.95 and len(result) > 0
      isNaN(result[0]) || result[0] < 0.05
      default(result[1], 0) <= 2.5
      not (result[-1] > 3e2)

  Grammar (``and``/``&&``, ``or``/``||``, ``not``/``!`` are the same operators)::

      condition  := or
      or         := and (("or" | "||") and)*
      and        := not (("and" | "&&") not)*
      not        := ("not" | "!") not | comparison
      comparison := value [("<" | "<=" | ">" | ">=" | "==" | "!=") value]
      value      := "-" value | number | "true" | "false" | "result" ["[" ["-"] integer "]"]
                  | "len" "(" "result" ")" | "isNaN" "(" value ")" | "isInf" "(" value ")"
                  | "default" "(" value "," value ")" | "(" condition ")"

  Types are checked at parse time: a condition must be true or false, comparisons
  take numbers (``==``/``!=`` also two truth values), ``and``/``or``/``not`` take
  truth values. Chained comparisons (``a < b < c``), attribute access, strings,
  calls of anything else and names other than the ones above are rejected with a
  ``ValueError`` that names the position.

- **Verdicts** (`measure`): one result against the ``success`` and ``failure``
  conditions gives ``pass``, ``fail``, ``inconclusive`` or ``error``.

- **Limits** (`AnalysisState`): measurements folded into the gate's phase with
  ``count``, ``interval``, ``initial_delay``, ``failure_limit``,
  ``inconclusive_limit``, ``consecutive_error_limit`` and ``consecutive_success``.

Argo Rollouts semantics, and where ours differ (Argo: ``utils/evaluate/evaluate.go``,
``analysis/analysis.go``, ``docs/features/analysis.md``):

- Verdict of one measurement, as Argo's ``EvaluateResult``: no condition at all →
  pass; only ``success`` → fail when it is false; only ``failure`` → pass when it is
  false; both → fail if ``failure`` holds (even when ``success`` holds too), pass if
  only ``success`` holds, inconclusive if neither. A condition that cannot be
  evaluated (index out of range) → error.
- **Differs**: an empty result is *inconclusive* before any condition is looked at
  (Argo evaluates the conditions on ``[]``, where ``result[0]`` is an error). A query
  that matches nothing usually means the workload has no traffic yet, which is
  neither a pass nor a broken gate.
- NaN and ±Inf stay IEEE floats, as in Argo: every comparison with NaN is false, so
  ``result[0] < 0.05`` fails on a NaN (Prometheus's 0/0 when there is no traffic).
  Write ``isNaN(result[0]) || result[0] < 0.05`` or ``default(result[0], 0) < 0.05``
  where no traffic should pass.
- **Differs**: ``default(x, d)`` is ``d`` when ``x`` is missing (index out of range,
  or the ``result`` shorthand on a result without exactly one value) or NaN. Argo's
  ``default`` only replaces a nil result.
- **Differs**: ``result`` used as a number is the shorthand for a one-value result
  (Argo passes a Prometheus *scalar* as a bare number, a vector as a list).
- Limits, as Argo's ``assessMetricStatus``: the gate fails when failed measurements
  exceed ``failure_limit``, is inconclusive when inconclusive ones exceed
  ``inconclusive_limit``, errs when consecutive errors exceed
  ``consecutive_error_limit``, checked in that order with the later one winning (so
  too many errors is *error* even if failures also passed their limit). An error
  does not count as a measurement (``count`` waits for a real one) and does not
  reset anything but itself; any other verdict resets the error streak.
- ``consecutive_success`` is Argo 1.8's ``consecutiveSuccessLimit``: the gate
  succeeds as soon as that many passes come in a row. ``failure_limit = -1``
  switches the failure limit off (then ``consecutive_success`` is required). When
  ``count`` is reached without either limit deciding: only ``failure_limit`` →
  successful; only ``consecutive_success`` → failed; both → inconclusive.
- **Ours, where Argo's docs are silent**: an error breaks a run of passes (a streak
  is passes *in a row*, and a measurement that could not be taken is not a pass).
- ``count`` as Argo's ``EffectiveCount``: None or 0 with no ``interval`` means one
  measurement; None or 0 with an ``interval`` means until stopped (`terminate`).
- Stopping, as Argo's terminate: a gate stopped before any measurement, or one that
  runs until stopped and has not failed, ends *successful*.
- **Differs**: after an error Argo retries in 10 s whatever the interval; we retry
  after ``min(interval, 10 s)`` so short test intervals stay short.
"""

from __future__ import annotations

import enum
import math
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "ERROR_RETRY_SECONDS",
    "AnalysisState",
    "Condition",
    "ConditionError",
    "ConditionSyntaxError",
    "Counts",
    "Measurement",
    "Phase",
    "Verdict",
    "evaluate_measurement",
    "measure",
    "parse_condition",
]

MAX_CONDITION_LENGTH = 1000
"""Longer condition text is refused: a gate condition is one line an operator reads."""
MAX_DEPTH = 48
"""Nesting (parentheses, ``not``, unary minus, calls) deeper than this is refused, so
no input can exhaust Python's recursion limit."""
ERROR_RETRY_SECONDS = 10.0
"""Argo's retry interval after an error, used when the gate's own interval is longer."""
KEPT_MEASUREMENTS = 500
"""Measurements kept for display (sparkline); the counts cover all of them."""


# --- verdicts and phases ------------------------------------------------------------------


class Verdict(str, enum.Enum):
    """What one measurement says."""

    PASS = "pass"  # nosec B105 # a verdict, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"

    @property
    def glyph(self) -> str:
        """✔ ✖ ? ⚠ — the mark the run screen shows beside each measurement."""
        return _GLYPHS[self]


_GLYPHS = {Verdict.PASS: "✔", Verdict.FAIL: "✖", Verdict.INCONCLUSIVE: "?", Verdict.ERROR: "⚠"}


class Phase(str, enum.Enum):
    """Where a gate stands after the measurements so far."""

    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"

    @property
    def done(self) -> bool:
        """Every phase but ``running`` is final."""
        return self is not Phase.RUNNING


# --- the condition language --------------------------------------------------------------


class ConditionSyntaxError(ValueError):
    """A condition that does not parse; the message names the position (1-based)."""

    def __init__(self, problem: str, text: str, position: int) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        """0-based offset into ``text`` where the problem was found."""
        shown = text if len(text) <= 120 else text[:117] + "..."
        super().__init__(f"{problem} at position {position + 1} of condition {shown!r}")


class ConditionError(Exception):
    """A condition that parsed but cannot be evaluated on this result (an *error* measurement)."""


_NUM, _BOOL, _RESULT = "number", "truth value", "result"

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|&&|\|\||[<>!()\[\],-])
    """,
    re.VERBOSE,
)
_WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!"}
_FUNCTIONS = ("len", "isNaN", "isInf", "default")
_KNOWN_NAMES = ("result", "true", "false", "and", "or", "not", *_FUNCTIONS)
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    """number, name, op or end."""
    text: str
    """Normalised: ``and``/``or``/``not`` become ``&&``/``||``/``!``."""
    position: int
    raw: str = ""
    """As written, for messages."""


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            hint = {
                ".": "attribute access is not allowed",
                "'": "strings are not allowed",
                '"': "strings are not allowed",
                "=": "use == to compare",
                "&": "use and (or &&)",
                "|": "use or (or ||)",
            }.get(char, "not part of the condition language")
            raise ConditionSyntaxError(f"unexpected character {char!r} ({hint})", text, position)
        kind = match.lastgroup or ""
        if kind != "space":
            raw = value = match.group()
            if kind == "name" and value in _WORD_OPERATORS:
                kind, value = "op", _WORD_OPERATORS[value]
            tokens.append(_Token(kind, value, position, raw))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# Nodes are small tuples: (evaluator, type). Each evaluator takes the result list.
_Eval = Callable[[Sequence[float]], Any]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    # -- helpers

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, problem: str, token: _Token | None = None) -> ConditionSyntaxError:
        token = token or self.token
        return ConditionSyntaxError(problem, self.text, token.position)

    def describe(self, token: _Token) -> str:
        return "the end" if token.kind == "end" else repr(token.raw or token.text)

    def take(self, kind: str, text: str | None = None) -> _Token:
        token = self.token
        if token.kind != kind or (text is not None and token.text != text):
            wanted = repr(text) if text is not None else f"a {kind}"
            raise self.fail(f"expected {wanted}, found {self.describe(token)}")
        self.index += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        if self.token.kind == kind and self.token.text == text:
            self.index += 1
            return True
        return False

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep")

    def expect_type(self, node: tuple[_Eval, str], wanted: str, token: _Token, role: str) -> _Eval:
        evaluate, kind = node
        if kind == _RESULT and wanted == _NUM:
            return _result_as_number
        if kind != wanted:
            shown = "a list (result)" if kind == _RESULT else f"a {kind}"
            raise self.fail(f"{role} needs a {wanted}, got {shown}", token)
        return evaluate

    # -- grammar

    def parse(self) -> _Eval:
        if self.token.kind == "end":
            raise self.fail("the condition is empty")
        start = self.token
        node = self.or_()
        if self.token.kind != "end":
            if self.token.text in _COMPARISONS:
                raise self.fail("comparisons cannot be chained; join them with and")
            raise self.fail(f"unexpected {self.describe(self.token)}")
        evaluate, kind = node
        if kind != _BOOL:
            raise self.fail(f"a condition must be true or false, but this is a {kind}; compare it, e.g. result[0] < 0.05", start)
        return evaluate

    def or_(self) -> tuple[_Eval, str]:
        return self._chain(self.and_, "||", any)

    def and_(self) -> tuple[_Eval, str]:
        return self._chain(self.not_, "&&", all)

    def _chain(self, operand, operator: str, combine) -> tuple[_Eval, str]:
        # Operands are kept in one flat list, not nested closures, so a long chain
        # never deepens the evaluation's recursion.
        first = self.token
        node = operand()
        if self.token.kind != "op" or self.token.text != operator:
            return node
        spelled = f"'{self.token.raw}'"
        operands = [self.expect_type(node, _BOOL, first, spelled)]
        while self.token.kind == "op" and self.token.text == operator:
            spelled = f"'{self.token.raw}'"
            self.index += 1
            token = self.token
            operands.append(self.expect_type(operand(), _BOOL, token, spelled))
        return (lambda r: combine(f(r) for f in operands)), _BOOL

    def not_(self) -> tuple[_Eval, str]:
        if self.accept("op", "!"):
            self.deeper()
            token = self.token
            operand = self.expect_type(self.not_(), _BOOL, token, "not")
            self.depth -= 1
            return (lambda r: not operand(r)), _BOOL
        return self.comparison()

    def comparison(self) -> tuple[_Eval, str]:
        first = self.token
        left_node = self.value()
        if not (self.token.kind == "op" and self.token.text in _COMPARISONS):
            return left_node
        operator = self.take("op").text
        second = self.token
        right_node = self.value()
        left_kind = _NUM if left_node[1] == _RESULT else left_node[1]
        right_kind = _NUM if right_node[1] == _RESULT else right_node[1]
        if left_kind == right_kind == _BOOL and operator in ("==", "!="):
            wanted = _BOOL
        else:
            wanted = _NUM
        left = self.expect_type(left_node, wanted, first, f"'{operator}'")
        right = self.expect_type(right_node, wanted, second, f"'{operator}'")
        compare = _COMPARE[operator]
        return (lambda r: compare(left(r), right(r))), _BOOL

    def value(self) -> tuple[_Eval, str]:
        token = self.token
        if self.accept("op", "-"):
            self.deeper()
            operand = self.expect_type(self.value(), _NUM, self.tokens[self.index - 1], "'-'")
            self.depth -= 1
            return (lambda r: -operand(r)), _NUM
        if token.kind == "number":
            self.index += 1
            number = float(token.text)
            if math.isinf(number):
                raise self.fail("number too large", token)
            return (lambda r: number), _NUM
        if self.accept("op", "("):
            self.deeper()
            node = self.or_()
            self.take("op", ")")
            self.depth -= 1
            return node
        if token.kind == "name":
            return self.name(token)
        if token.kind == "end":
            raise self.fail("the condition ends too early; a value is missing")
        raise self.fail(f"expected a value, found {self.describe(token)}")

    def name(self, token: _Token) -> tuple[_Eval, str]:
        name = token.text
        self.index += 1
        if name == "true":
            return (lambda r: True), _BOOL
        if name == "false":
            return (lambda r: False), _BOOL
        if name == "result":
            if not self.accept("op", "["):
                return (lambda r: r), _RESULT
            negative = self.accept("op", "-")
            index_token = self.token
            if index_token.kind != "number" or not index_token.text.isdigit():
                raise self.fail("an index must be a whole number, e.g. result[0]", index_token)
            self.index += 1
            self.take("op", "]")
            index = -int(index_token.text) if negative else int(index_token.text)
            return (lambda r: _item(r, index)), _NUM
        if name not in _FUNCTIONS:
            known = ", ".join(_KNOWN_NAMES)
            raise self.fail(f"unknown name {name!r} (known: {known})", token)
        self.deeper()
        self.take("op", "(")
        if name == "len":
            self.take("name", "result")
            self.take("op", ")")
            self.depth -= 1
            return (lambda r: float(len(r))), _NUM
        first = self.token
        argument = self.or_()
        if name in ("isNaN", "isInf"):
            number = self.expect_type(argument, _NUM, first, f"{name}()")
            self.take("op", ")")
            self.depth -= 1
            test = math.isnan if name == "isNaN" else math.isinf
            return (lambda r: test(number(r))), _BOOL
        value = self.expect_type(argument, _NUM, first, "default()")
        self.take("op", ",")
        second = self.token
        fallback = self.expect_type(self.or_(), _NUM, second, "default()")
        self.take("op", ")")
        self.depth -= 1
        return (lambda r: _default(value, fallback, r)), _NUM


def _item(result: Sequence[float], index: int) -> float:
    try:
        return float(result[index])
    except IndexError:
        raise ConditionError(f"result[{index}] does not exist: the query returned {len(result)} value(s)") from None


def _result_as_number(result: Sequence[float]) -> float:
    if len(result) != 1:
        raise ConditionError(
            f"result stands for one value, but the query returned {len(result)}; use result[0], result[1] …"
        )
    return float(result[0])


def _default(value: _Eval, fallback: _Eval, result: Sequence[float]) -> float:
    try:
        number = value(result)
    except ConditionError:
        return fallback(result)
    return fallback(result) if math.isnan(number) else number


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Condition:
    """A parsed ``success`` or ``failure`` condition. Make one with `parse_condition`."""

    text: str
    """The condition as written."""
    _evaluate: _Eval = field(repr=False, compare=False)

    def evaluate(self, result: Sequence[float]) -> bool:
        """Whether the condition holds for ``result``.

        Raises:
            ConditionError: The condition cannot be evaluated on this result (an index
                beyond its end, the ``result`` shorthand on several values).
        """
        return bool(self._evaluate(result))

    def __str__(self) -> str:
        return self.text


def parse_condition(text: str) -> Condition:
    """Parse a condition once, when the runbook is loaded.

    Raises:
        ConditionSyntaxError: (a ``ValueError``) naming the problem and its 1-based
            position, e.g. ``unknown name 'os' … at position 1 of condition 'os'``.
    """
    if not isinstance(text, str):
        raise ConditionSyntaxError(f"a condition is text, not {type(text).__name__}", repr(text), 0)
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionSyntaxError(f"longer than {MAX_CONDITION_LENGTH} characters", text, MAX_CONDITION_LENGTH)
    return Condition(text.strip(), _Parser(text).parse())


# --- one measurement ---------------------------------------------------------------------


def _as_condition(value: Condition | str | None) -> Condition | None:
    if value is None or isinstance(value, Condition):
        return value
    return parse_condition(value)


def measure(
    result: Sequence[float] | None,
    success: Condition | str | None = None,
    failure: Condition | str | None = None,
) -> Verdict:
    """The verdict of one query result (see the module docstring for the rules).

    Args:
        result: The values the query returned; None when the query itself failed.
        success: The condition a good result meets (text is parsed here).
        failure: The condition a bad result meets.
    """
    return _judge(result, _as_condition(success), _as_condition(failure))[0]


def _judge(result: Sequence[float] | None, success: Condition | None, failure: Condition | None) -> tuple[Verdict, str]:
    if result is None:
        return Verdict.ERROR, "no result"
    if len(result) == 0:
        return Verdict.INCONCLUSIVE, "the query returned no values"
    try:
        succeeded = success.evaluate(result) if success is not None else None
        failed = failure.evaluate(result) if failure is not None else None
    except ConditionError as error:
        return Verdict.ERROR, str(error)
    if succeeded is None and failed is None:
        return Verdict.PASS, "no condition to check"
    if failed is None:
        return (Verdict.PASS, f"success condition holds: {success}") if succeeded else (
            Verdict.FAIL,
            f"success condition does not hold: {success}",
        )
    if failed:
        return Verdict.FAIL, f"failure condition holds: {failure}"
    if succeeded is None:
        return Verdict.PASS, f"failure condition does not hold: {failure}"
    if succeeded:
        return Verdict.PASS, f"success condition holds: {success}"
    return Verdict.INCONCLUSIVE, f"neither condition holds ({success} / {failure})"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement of a gate, as journaled (``gate.measurement``) and drawn.

    Attributes:
        ts: When the query was evaluated.
        value: The values the query returned (NaN and ±Inf kept as floats); None when
            the query failed.
        verdict: pass, fail, inconclusive or error.
        message: One sentence: which condition held, or what went wrong.
    """

    ts: datetime
    value: tuple[float, ...] | None
    verdict: Verdict
    message: str = ""

    @classmethod
    def error(cls, ts: datetime, message: str) -> Measurement:
        """A measurement that could not be taken (Prometheus unreachable, bad answer)."""
        return cls(ts, None, Verdict.ERROR, message)

    def to_json(self) -> dict[str, Any]:
        """JSON-able form. NaN and ±Inf become the strings ``"NaN"``, ``"+Inf"``, ``"-Inf"``
        (Prometheus's own spelling), because JSON has no such numbers."""
        return {
            "ts": self.ts.isoformat(),
            "value": None if self.value is None else [_json_number(v) for v in self.value],
            "verdict": self.verdict.value,
            "message": self.message,
        }


def _json_number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def evaluate_measurement(
    ts: datetime,
    result: Sequence[float] | None,
    success: Condition | str | None = None,
    failure: Condition | str | None = None,
) -> Measurement:
    """`measure`, wrapped into a `Measurement` with its explaining message."""
    verdict, message = _judge(result, _as_condition(success), _as_condition(failure))
    value = None if result is None else tuple(float(v) for v in result)
    return Measurement(ts, value, verdict, message)


# --- folding measurements -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    """How many measurements gave each verdict."""

    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0

    def __str__(self) -> str:
        return f"✔ {self.successful}  ✖ {self.failed}  ? {self.inconclusive}  ⚠ {self.error}"


def _seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0 or math.isnan(seconds):
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


class AnalysisState:
    """The phase of one gate, folded from its measurements (Argo's MetricResult).

    Pure: `record` each measurement as it comes, ask `next_delay` how long to wait
    before the next one, `terminate` to stop a gate that runs until stopped.

    Args:
        count: Measurements to take; None or 0 means one when there is no
            ``interval``, and until stopped when there is.
        interval: Time between measurements (seconds or a timedelta).
        initial_delay: Time before the first measurement.
        failure_limit: Failed measurements tolerated; the gate fails on one more.
            ``-1`` switches the limit off (then ``consecutive_success`` must be set).
        inconclusive_limit: Inconclusive measurements tolerated.
        consecutive_error_limit: Errors in a row tolerated; the gate errs on one more.
        consecutive_success: Passes in a row that end the gate successfully; None
            (or 0) switches this off.

    Raises:
        ValueError: A limit below its minimum, or both ``failure_limit`` and
            ``consecutive_success`` switched off (nothing could decide the gate).
    """

    def __init__(
        self,
        *,
        count: int | None = None,
        interval: float | timedelta | None = None,
        initial_delay: float | timedelta | None = None,
        failure_limit: int = 0,
        inconclusive_limit: int = 0,
        consecutive_error_limit: int = 4,
        consecutive_success: int | None = None,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError(f"count must be 0 or more, got {count}")
        if failure_limit < -1:
            raise ValueError(f"failure_limit must be -1 (off) or more, got {failure_limit}")
        if inconclusive_limit < 0 or consecutive_error_limit < 0:
            raise ValueError("inconclusive_limit and consecutive_error_limit must be 0 or more")
        if consecutive_success is not None and consecutive_success < 0:
            raise ValueError(f"consecutive_success must be 0 or more, got {consecutive_success}")
        if failure_limit == -1 and not consecutive_success:
            raise ValueError("failure_limit -1 switches failures off: set consecutive_success, or nothing decides the gate")
        self.interval = _seconds(interval)
        """Seconds between measurements, or None."""
        self.initial_delay = _seconds(initial_delay) or 0.0
        """Seconds before the first measurement."""
        self.count = count if count else (1 if self.interval is None else None)
        """Measurements to take (Argo's effective count); None is until stopped."""
        self.failure_limit = failure_limit
        self.inconclusive_limit = inconclusive_limit
        self.consecutive_error_limit = consecutive_error_limit
        self.consecutive_success = consecutive_success or None
        self.measurements: deque[Measurement] = deque(maxlen=KEPT_MEASUREMENTS)
        """The latest measurements, oldest first (at most `KEPT_MEASUREMENTS`)."""
        self.measured = 0
        """Measurements that were not errors (what ``count`` counts)."""
        self.consecutive_errors = 0
        self.consecutive_successes = 0
        self.phase = Phase.RUNNING
        self.message = ""
        """Why the phase is what it is, e.g. ``failed (2) > failure_limit (1)``."""
        self.terminated = False
        self._counts = {verdict: 0 for verdict in Verdict}

    # -- reading

    @property
    def counts(self) -> Counts:
        """✔ ✖ ? ⚠ over every measurement recorded."""
        c = self._counts
        return Counts(c[Verdict.PASS], c[Verdict.FAIL], c[Verdict.INCONCLUSIVE], c[Verdict.ERROR])

    @property
    def done(self) -> bool:
        return self.phase.done

    def next_delay(self) -> float | None:
        """Seconds to wait before the next measurement; None once the gate is decided.

        The first waits ``initial_delay``; after an error, ``min(interval, 10 s)``;
        otherwise ``interval``.
        """
        if self.done:
            return None
        if not self.measurements:
            return self.initial_delay
        last = self.measurements[-1]
        if last.verdict is Verdict.ERROR:
            return min(self.interval, ERROR_RETRY_SECONDS) if self.interval is not None else ERROR_RETRY_SECONDS
        return self.interval if self.interval is not None else 0.0

    # -- folding

    def record(self, measurement: Measurement) -> Phase:
        """Fold one measurement in and return the new phase.

        A measurement that arrives after the gate was decided (a query in flight
        while the operator stopped the gate) is ignored.
        """
        if self.done:
            return self.phase
        verdict = measurement.verdict
        self.measurements.append(measurement)
        self._counts[verdict] += 1
        if verdict is Verdict.ERROR:
            self.consecutive_errors += 1
            self.consecutive_successes = 0
        else:
            self.measured += 1
            self.consecutive_errors = 0
            self.consecutive_successes = self.consecutive_successes + 1 if verdict is Verdict.PASS else 0
        self._assess()
        return self.phase

    def terminate(self, reason: str = "stopped") -> Phase:
        """Stop a gate (background gate at the end of a run, operator promote).

        Limits already passed still decide; otherwise the gate ends successful, as an
        Argo AnalysisRun does when it is terminated.
        """
        if self.done:
            return self.phase
        self.terminated = True
        self._assess()
        if not self.done:
            self.phase = Phase.SUCCESSFUL
            self.message = reason
        return self.phase

    def _assess(self) -> None:
        c = self._counts
        phase, message = Phase.RUNNING, ""
        if self.failure_limit >= 0 and c[Verdict.FAIL] > self.failure_limit:
            phase = Phase.FAILED
            message = f"failed ({c[Verdict.FAIL]}) > failure_limit ({self.failure_limit})"
        if c[Verdict.INCONCLUSIVE] > self.inconclusive_limit:
            phase = Phase.INCONCLUSIVE
            message = f"inconclusive ({c[Verdict.INCONCLUSIVE]}) > inconclusive_limit ({self.inconclusive_limit})"
        if self.consecutive_errors > self.consecutive_error_limit:
            phase = Phase.ERROR
            message = f"consecutive errors ({self.consecutive_errors}) > consecutive_error_limit ({self.consecutive_error_limit})"
        if phase is Phase.RUNNING and self.consecutive_success and self.consecutive_successes >= self.consecutive_success:
            phase = Phase.SUCCESSFUL
            message = f"{self.consecutive_successes} passes in a row (consecutive_success {self.consecutive_success})"
        if phase is Phase.RUNNING and self.count is not None and self.measured >= self.count:
            phase, message = self._count_reached()
        self.phase, self.message = phase, message

    def _count_reached(self) -> tuple[Phase, str]:
        failure_applies = self.failure_limit >= 0
        success_applies = bool(self.consecutive_success)
        if failure_applies and success_applies:
            return Phase.INCONCLUSIVE, (
                f"count ({self.count}) reached with neither failure_limit nor consecutive_success decided"
            )
        if success_applies:
            return Phase.FAILED, (
                f"count ({self.count}) reached without {self.consecutive_success} passes in a row"
            )
        return Phase.SUCCESSFUL, f"count ({self.count}) reached"
