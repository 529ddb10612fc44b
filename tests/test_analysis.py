"""Gate semantics (console.runbook.analysis): conditions, verdicts and every limit.

Pure code, no backend: tables of inputs and the verdict or phase Argo Rollouts'
rules give for them, and hypothesis over condition text.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.runbook import analysis
from console.runbook.analysis import (
    AnalysisState,
    Condition,
    ConditionError,
    ConditionSyntaxError,
    Counts,
    Measurement,
    Phase,
    Verdict,
    evaluate_measurement,
    measure,
    parse_condition,
)

NAN, INF = math.nan, math.inf
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
VERDICT_LETTERS = {"P": Verdict.PASS, "F": Verdict.FAIL, "I": Verdict.INCONCLUSIVE, "E": Verdict.ERROR}


def measurements(letters: str) -> list[Measurement]:
    return [Measurement(T0 + timedelta(seconds=i), None if c == "E" else (1.0,), VERDICT_LETTERS[c]) for i, c in enumerate(letters)]


def phases_after(state: AnalysisState, letters: str) -> str:
    """The phase after each measurement, one letter each: r(unning) s f i e."""
    letter = {Phase.RUNNING: "r", Phase.SUCCESSFUL: "s", Phase.FAILED: "f", Phase.INCONCLUSIVE: "i", Phase.ERROR: "e"}
    return "".join(letter[state.record(m)] for m in measurements(letters))


# ---------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("result[0] < 0.05", [0.01], True),
        ("result[0] < 0.05", [0.05], False),
        ("result < 0.1", [0.05], True),
        ("result[0] >= 0.95 and len(result) > 0", [0.97], True),
        ("result[0] >= 0.95 and len(result) > 0", [0.90], False),
        ("result[0] < 0.05 && result[1] < 0.5", [0.01, 0.4], True),
        ("result[0] > 1 || result[1] > 1", [0.0, 2.0], True),
        ("result[-1] == 3", [1, 2, 3], True),
        ("not (result[0] > 1)", [0.5], True),
        ("!(result[0] > 1)", [2.0], False),
        ("-result[0] < 0", [2.0], True),
        ("1e-3 < result[0]", [0.002], True),
        ("result[0] <= .5", [0.5], True),
        ("result[0] != 2", [3.0], True),
        ("(result[0] > 1) == false", [0.5], True),
        ("true", [0.0], True),
        ("not false", [0.0], True),
        # precedence: not > and > or
        ("true or false and false", [0.0], True),
        ("not true or true", [0.0], True),
        ("(true or false) and false", [0.0], False),
        # or stops at the first true operand: no error for the missing value
        ("len(result) == 0 or result[0] > 1", [], True),
        ("len(result) > 0 and result[0] > 1", [], False),
        # NaN and infinities follow IEEE, as Go does for Argo
        ("result[0] < 0.05", [NAN], False),
        ("result[0] >= 0.05", [NAN], False),
        ("result[0] != result[0]", [NAN], True),
        ("isNaN(result[0])", [NAN], True),
        ("isNaN(result[0])", [0.0], False),
        ("isInf(result[0])", [-INF], True),
        ("result[0] > 1e300", [INF], True),
        # default() replaces a missing or NaN value
        ("default(result[0], 0) < 0.05", [NAN], True),
        ("default(result[3], 7) == 7", [1.0], True),
        ("default(result, 7) == 7", [1.0, 2.0], True),
        ("default(result[0], 7) == 1", [1.0], True),
        ("len(result) > result", [0.5], True),
    ],
)
def test_a_condition_evaluates_as_written(text, result, expected):
    assert parse_condition(text).evaluate(result) is expected


@pytest.mark.parametrize(
    ("text", "result", "problem"),
    [
        ("result[1] < 1", [0.5], "result[1] does not exist: the query returned 1 value"),
        ("result[-2] < 1", [0.5], "result[-2] does not exist"),
        ("result < 1", [0.5, 0.7], "the query returned 2"),
        ("result < 1", [], "the query returned 0"),
        ("result[99999999999999999999] < 1", [0.5], "does not exist"),
    ],
)
def test_a_value_the_result_does_not_have_is_a_condition_error(text, result, problem):
    condition = parse_condition(text)

    with pytest.raises(ConditionError, match=re.escape(problem)):
        condition.evaluate(result)


@pytest.mark.parametrize(
    ("text", "problem", "position"),
    [
        ("", "the condition is empty", 1),
        ("   ", "the condition is empty", 4),
        ("result", "must be true or false", 1),
        ("result[0]", "must be true or false", 1),
        ("result[0] <", "ends too early", 12),
        ("result[0] < 1 < 2", "comparisons cannot be chained", 15),
        ("result[0] = 1", "use ==", 11),
        ("result.__class__", "attribute access is not allowed", 7),
        ("__import__('os').system('id')", "strings are not allowed", 12),
        ("__import__(os)", "unknown name '__import__'", 1),
        ("open(result)", "unknown name 'open'", 1),
        ("eval(1)", "unknown name 'eval'", 1),
        ("lambda x: x", "not part of the condition language", 9),
        ("[r for r in result]", "expected a value, found '['", 1),
        ("result[0] < 1 if true else false", "unexpected 'if'", 15),
        ("len(result", "expected ')', found the end", 11),
        ("len(1) > 0", "expected 'result'", 5),
        ("isNaN() ", "expected a value, found ')'", 7),
        ("isNaN(true)", "isNaN() needs a number", 7),
        ("default(result[0]) > 1", "expected ','", 18),
        ("1 < 2)", "unexpected ')'", 6),
        ("((result[0] < 1)", "expected ')', found the end", 17),
        ("result[0.5] < 1", "an index must be a whole number", 8),
        ("result[x] < 1", "an index must be a whole number", 8),
        ("not 1", "not needs a truth value, got a number", 5),
        ("1 and true", "'and' needs a truth value", 1),
        ("true < 1", "'<' needs a number, got a truth value", 1),
        ("1e999 > result[0]", "number too large", 1),
        ("result[0] < 1 # comment", "not part of the condition language", 15),
    ],
)
def test_a_condition_that_does_not_parse_names_the_problem_and_position(text, problem, position):
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)

    assert isinstance(caught.value, ValueError)
    assert problem in str(caught.value)
    assert caught.value.position + 1 == position
    assert f"at position {position} " in str(caught.value)


def test_nesting_is_refused_before_python_recursion_could_be():
    deep = "(" * 60 + "true" + ")" * 60

    with pytest.raises(ConditionSyntaxError, match="nested more than"):
        parse_condition(deep)
    assert parse_condition("(" * 40 + "true" + ")" * 40).evaluate([]) is True
    with pytest.raises(ConditionSyntaxError, match="nested more than"):
        parse_condition("not " * 60 + "true")


def test_a_long_chain_evaluates_without_deep_recursion():
    text = "||".join(["result[0]>5"] * 75)

    assert parse_condition(text).evaluate([1.0]) is False


def test_overlong_conditions_are_refused():
    with pytest.raises(ConditionSyntaxError, match="longer than 1000"):
        parse_condition("true and " * 120 + "true")


def test_the_condition_module_never_calls_eval_exec_or_compile():
    source = Path(analysis.__file__).read_text()

    for forbidden in ("eval(", "exec(", "__import__", "import ast", "getattr(", "builtins"):
        assert forbidden not in source, forbidden
    assert not re.search(r"(?<![.\w])compile\(", source)  # re.compile is fine


# hypothesis: arbitrary text, and token soups that reach deep into the grammar

_TOKENS = [
    "result", "result[0]", "result[1]", "result[-1]", "len(result)", "isNaN(", "isInf(", "default(", ",",
    "(", ")", "[", "]", "<", "<=", ">", ">=", "==", "!=", "and", "or", "not", "&&", "||", "!", "-",
    "0", "1", "0.5", "1e3", "true", "false", "__import__", "os", ".", "'x'", "lambda", "for", "in", ":",
    "__class__", "system", "=", "*", "+",
]  # fmt: skip
_ALLOWED_NAMES = {"result", "len", "isNaN", "isInf", "default", "and", "or", "not", "true", "false"}
token_soup = st.lists(st.sampled_from(_TOKENS), max_size=25).map(" ".join)
results = st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4)


@settings(max_examples=400)
@given(text=st.one_of(st.text(max_size=200), token_soup), result=results)
def test_any_text_parses_or_raises_value_error_and_never_anything_else(text, result):
    try:
        condition = parse_condition(text)
    except ValueError as error:
        assert isinstance(error, ConditionSyntaxError)
        assert 0 <= error.position <= len(text)
        return
    # Whatever parsed uses only the language's own names, and evaluates to a truth
    # value or a ConditionError, nothing else.
    without_numbers = re.sub(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", " ", text)
    assert set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", without_numbers)) <= _ALLOWED_NAMES
    assert isinstance(condition, Condition)
    try:
        assert condition.evaluate(result) in (True, False)
    except ConditionError:
        pass


# hypothesis: well-formed conditions, built as trees, evaluate as a plain reference does


class _Missing(Exception):
    pass


def _numbers() -> st.SearchStrategy:
    leaves = st.one_of(
        st.integers(0, 9).map(lambda n: (str(n), lambda r, n=n: float(n))),
        st.integers(-4, 3).map(lambda i: (f"result[{i}]", lambda r, i=i: _reference_item(r, i))),
        st.just(("len(result)", lambda r: float(len(r)))),
    )

    def extend(inner):
        return st.one_of(
            inner.map(lambda a: (f"-({a[0]})", lambda r, a=a: -a[1](r))),
            st.tuples(inner, inner).map(lambda ab: (f"default({ab[0][0]}, {ab[1][0]})", lambda r, ab=ab: _reference_default(ab, r))),
        )

    return st.recursive(leaves, extend, max_leaves=4)


def _reference_item(result, index):
    if not -len(result) <= index < len(result):
        raise _Missing
    return result[index]


def _reference_default(pair, result):
    (_, value), (_, fallback) = pair
    try:
        number = value(result)
    except _Missing:
        return fallback(result)
    return fallback(result) if math.isnan(number) else number


_PYTHON_COMPARE = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "==": float.__eq__, "!=": float.__ne__}


def _conditions() -> st.SearchStrategy:
    comparisons = st.tuples(_numbers(), st.sampled_from(sorted(_PYTHON_COMPARE)), _numbers()).map(
        lambda t: (f"{t[0][0]} {t[1]} {t[2][0]}", lambda r, t=t: _PYTHON_COMPARE[t[1]](float(t[0][1](r)), float(t[2][1](r))))
    )
    leaves = st.one_of(comparisons, st.sampled_from([("true", lambda r: True), ("false", lambda r: False)]))

    def extend(inner):
        return st.one_of(
            st.tuples(inner, inner, st.sampled_from(["and", "&&"])).map(
                lambda t: (f"({t[0][0]}) {t[2]} ({t[1][0]})", lambda r, t=t: t[0][1](r) and t[1][1](r))
            ),
            st.tuples(inner, inner, st.sampled_from(["or", "||"])).map(
                lambda t: (f"({t[0][0]}) {t[2]} ({t[1][0]})", lambda r, t=t: t[0][1](r) or t[1][1](r))
            ),
            st.tuples(inner, st.sampled_from(["not ", "!"])).map(lambda t: (f"{t[1]}({t[0][0]})", lambda r, t=t: not t[0][1](r))),
        )

    return st.recursive(leaves, extend, max_leaves=6)


@settings(max_examples=300)
@given(condition=_conditions(), result=st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0, NAN, INF]), max_size=4))
def test_well_formed_conditions_evaluate_like_the_reference(condition, result):
    text, reference = condition
    try:
        expected: bool | None = reference(result)
    except _Missing:
        expected = None

    parsed = parse_condition(text)

    if expected is None:
        with pytest.raises(ConditionError):
            parsed.evaluate(result)
    else:
        assert parsed.evaluate(result) is expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "result.__class__.__base__.__subclasses__()",
        "(lambda: 1)() == 1",
        "[x for x in result] == result",
        "{x: 1 for x in result}",
        "open('/etc/passwd').read() != ''",
        "globals()['__builtins__']",
        "result[0] if True else 1",
        "f'{result}' == ''",
        "result[0:1] == result",
        "result[0] < 1; import os",
        "exec('1')",
        "result @ result",
        "result[0] ** 2 < 1",
    ],
)
def test_code_that_python_would_run_is_rejected(text):
    with pytest.raises(ConditionSyntaxError):
        parse_condition(text)


# ------------------------------------------------------------------------------ verdicts


@pytest.mark.parametrize(
    ("result", "success", "failure", "verdict"),
    [
        # empty result: inconclusive, whatever the conditions (ours; see the module docstring)
        ([], "result[0] < 1", None, Verdict.INCONCLUSIVE),
        ([], None, "result[0] > 1", Verdict.INCONCLUSIVE),
        ([], None, None, Verdict.INCONCLUSIVE),
        # the query failed
        (None, "result[0] < 1", None, Verdict.ERROR),
        # no condition: pass unless error (Argo's EvaluateResult)
        ([0.5], None, None, Verdict.PASS),
        # success only: fail when it does not hold
        ([0.5], "result[0] < 1", None, Verdict.PASS),
        ([2.0], "result[0] < 1", None, Verdict.FAIL),
        # failure only: pass when it does not hold
        ([0.5], None, "result[0] > 1", Verdict.PASS),
        ([2.0], None, "result[0] > 1", Verdict.FAIL),
        # both
        ([0.5], "result[0] < 1", "result[0] > 2", Verdict.PASS),
        ([3.0], "result[0] < 1", "result[0] > 2", Verdict.FAIL),
        ([1.5], "result[0] < 1", "result[0] > 2", Verdict.INCONCLUSIVE),
        ([0.5], "result[0] < 1", "result[0] < 2", Verdict.FAIL),  # both hold: failure wins
        # a condition that cannot be evaluated is an error, either one
        ([0.5], "result[1] < 1", None, Verdict.ERROR),
        ([0.5], None, "result[3] > 1", Verdict.ERROR),
        ([0.5], "result[0] < 1", "result[3] > 1", Verdict.ERROR),
        ([0.5, 0.7], "result < 1", None, Verdict.ERROR),
        # NaN (0/0: no traffic): comparisons are false
        ([NAN], "result[0] < 0.05", None, Verdict.FAIL),
        ([NAN], None, "result[0] > 0.05", Verdict.PASS),
        ([NAN], "result[0] < 0.05", "result[0] > 0.05", Verdict.INCONCLUSIVE),
        ([NAN], "isNaN(result[0]) || result[0] < 0.05", None, Verdict.PASS),
        ([NAN], "default(result[0], 0) < 0.05", None, Verdict.PASS),
        ([INF], None, "isInf(result[0])", Verdict.FAIL),
    ],
)
def test_one_measurement_gets_argo_verdict(result, success, failure, verdict):
    assert measure(result, success, failure) is verdict
    assert measure(
        result,
        parse_condition(success) if success else None,
        parse_condition(failure) if failure else None,
    ) is verdict


def test_a_measurement_says_why_and_stores_nan_as_json_text():
    measurement = evaluate_measurement(T0, [NAN, INF, -INF, 0.5], "result[3] < 1", "result[0] > 1")

    assert measurement.verdict is Verdict.PASS
    assert measurement.message == "success condition holds: result[3] < 1"
    assert measurement.to_json() == {
        "ts": T0.isoformat(),
        "value": ["NaN", "+Inf", "-Inf", 0.5],
        "verdict": "pass",
        "message": "success condition holds: result[3] < 1",
    }


def test_an_error_measurement_carries_the_problem():
    failed_query = Measurement.error(T0, "Prometheus at http://p:9090 does not answer")
    bad_index = evaluate_measurement(T0, [1.0], "result[2] < 1")

    assert failed_query.verdict is Verdict.ERROR and failed_query.value is None
    assert failed_query.to_json()["value"] is None
    assert bad_index.verdict is Verdict.ERROR
    assert "result[2] does not exist" in bad_index.message


def test_verdicts_have_the_run_screen_glyphs():
    assert [v.glyph for v in Verdict] == ["✔", "✖", "?", "⚠"]
    assert str(Counts(3, 1, 0, 2)) == "✔ 3  ✖ 1  ? 0  ⚠ 2"


# ------------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("spec", "letters", "phases"),
    [
        # count reached with failures within failure_limit: successful
        ({"count": 3}, "PPP", "rrs"),
        ({"count": 3, "failure_limit": 1}, "FPP", "rrs"),
        # failures beyond failure_limit: failed at once, count or not
        ({"count": 3}, "PF", "rf"),
        ({"count": 3, "failure_limit": 1}, "FPF", "rrf"),
        ({"count": 5, "failure_limit": 2}, "FFF", "rrf"),
        # inconclusive beyond inconclusive_limit
        ({"count": 5}, "PI", "ri"),
        ({"count": 5, "inconclusive_limit": 1}, "IPI", "rri"),
        ({"count": 3, "inconclusive_limit": 1}, "IPP", "rrs"),
        # errors beyond consecutive_error_limit (default 4): error on the fifth in a row
        ({"count": 2}, "EEEEE", "rrrre"),
        ({"count": 2, "consecutive_error_limit": 0}, "E", "e"),
        ({"count": 2, "consecutive_error_limit": 1}, "EE", "re"),
        # any other verdict resets the error streak; errors never count toward count
        ({"count": 5}, "EEEEPEEEEP", "rrrrrrrrrr"),
        ({"count": 2}, "EPEP", "rrrs"),
        ({"count": 2, "inconclusive_limit": 5}, "EIEEEEI", "rrrrrrs"),
        # decided gates ignore later measurements
        ({"count": 3}, "FPP", "fff"),
        ({"count": 1}, "PF", "ss"),
        # count None/0 and no interval: one measurement (Argo's EffectiveCount)
        ({}, "P", "s"),
        ({}, "F", "f"),
        ({}, "I", "i"),
        ({}, "EP", "rs"),
        ({"count": 0}, "P", "s"),
        # an interval and no count: until stopped
        ({"interval": 5}, "PPPPPPPPPP", "rrrrrrrrrr"),
        ({"interval": 5, "count": 0}, "PPPF", "rrrf"),
        # consecutive_success only (failure_limit -1): wait for N passes in a row
        ({"interval": 5, "failure_limit": -1, "consecutive_success": 2}, "PFPFPP", "rrrrrs"),
        ({"interval": 5, "failure_limit": -1, "consecutive_success": 2}, "FFFFFFFPP", "rrrrrrrrs"),
        ({"count": 4, "failure_limit": -1, "consecutive_success": 2}, "PFPF", "rrrf"),
        ({"count": 4, "failure_limit": -1, "consecutive_success": 2, "inconclusive_limit": 5}, "PIPP", "rrrs"),
        # both: whichever limit comes first decides
        ({"count": 6, "failure_limit": 1, "consecutive_success": 3}, "PPFPPP", "rrrrrs"),
        ({"count": 10, "failure_limit": 1, "consecutive_success": 3}, "FPF", "rrf"),
        # both, count reached with neither decided: inconclusive
        ({"count": 4, "failure_limit": 2, "consecutive_success": 3}, "PPFP", "rrri"),
        # an error or an inconclusive breaks a run of passes (ours: "in a row")
        ({"interval": 5, "failure_limit": -1, "consecutive_success": 2}, "PEPP", "rrrs"),
        ({"interval": 5, "failure_limit": -1, "consecutive_success": 2, "inconclusive_limit": 9}, "PIPP", "rrrs"),
    ],
)
def test_measurements_fold_into_the_argo_phase(spec, letters, phases):
    state = AnalysisState(**spec)

    assert phases_after(state, letters) == phases


def test_the_state_counts_every_verdict_and_explains_its_phase():
    state = AnalysisState(count=10, failure_limit=1, inconclusive_limit=3)

    phases_after(state, "PEIPEF")
    running = (state.phase, state.counts, state.measured, state.consecutive_errors)
    state.record(measurements("F")[0])

    assert running == (Phase.RUNNING, Counts(successful=2, failed=1, inconclusive=1, error=2), 4, 0)
    assert state.phase is Phase.FAILED and state.done
    assert state.message == "failed (2) > failure_limit (1)"
    assert [m.verdict for m in state.measurements] == [Verdict(v) for v in ("pass", "error", "inconclusive", "pass", "error", "fail", "fail")]


@pytest.mark.parametrize(
    ("spec", "letters", "message"),
    [
        ({"count": 5}, "PI", "inconclusive (1) > inconclusive_limit (0)"),
        ({"count": 5, "consecutive_error_limit": 2}, "EEE", "consecutive errors (3) > consecutive_error_limit (2)"),
        ({"count": 2}, "PP", "count (2) reached"),
        ({"interval": 1, "failure_limit": -1, "consecutive_success": 2}, "PP", "2 passes in a row (consecutive_success 2)"),
        ({"count": 2, "failure_limit": -1, "consecutive_success": 2}, "PF", "count (2) reached without 2 passes in a row"),
        ({"count": 1, "consecutive_success": 2}, "P", "count (1) reached with neither failure_limit nor consecutive_success decided"),
    ],
)
def test_each_ending_says_which_limit_decided(spec, letters, message):
    state = AnalysisState(**spec)

    phases_after(state, letters)

    assert state.message == message


@pytest.mark.parametrize(
    ("spec", "letters", "phase", "message"),
    [
        ({"interval": 5}, "", Phase.SUCCESSFUL, "run finished"),  # stopped before any measurement
        ({"interval": 5, "failure_limit": 2}, "PFPF", Phase.SUCCESSFUL, "run finished"),  # within the limit
        ({"interval": 5}, "EEE", Phase.SUCCESSFUL, "run finished"),
        ({"interval": 5, "failure_limit": -1, "consecutive_success": 3}, "PF", Phase.SUCCESSFUL, "run finished"),  # as Argo
        ({"interval": 5}, "PF", Phase.FAILED, "failed (1) > failure_limit (0)"),  # already decided: stays
    ],
)
def test_terminating_a_gate_ends_it_as_argo_does(spec, letters, phase, message):
    state = AnalysisState(**spec)
    phases_after(state, letters)

    ended = state.terminate("run finished")

    assert ended is phase and state.phase is phase and state.done
    assert state.message == message
    assert state.next_delay() is None


@pytest.mark.parametrize(
    ("spec", "letters", "delay"),
    [
        ({"interval": 60, "initial_delay": 30}, "", 30.0),
        ({"interval": 60}, "", 0.0),
        ({"interval": timedelta(minutes=1), "initial_delay": timedelta(seconds=15)}, "", 15.0),
        ({"interval": 60}, "P", 60.0),
        ({"interval": 60}, "PE", 10.0),  # Argo's error retry
        ({"interval": 2}, "PE", 2.0),  # ours: never longer than the interval
        ({}, "E", 10.0),  # a single measurement that erred is retried
        ({"count": 3}, "PP", 0.0),  # a count without interval: back to back
        ({}, "P", None),  # decided
    ],
)
def test_next_delay_tells_the_caller_when_to_measure(spec, letters, delay):
    state = AnalysisState(**spec)
    phases_after(state, letters)

    assert state.next_delay() == delay


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"failure_limit": -1}, "set consecutive_success"),
        ({"failure_limit": -2}, "failure_limit must be -1"),
        ({"count": -1}, "count must be 0 or more"),
        ({"inconclusive_limit": -1}, "must be 0 or more"),
        ({"consecutive_error_limit": -1}, "must be 0 or more"),
        ({"consecutive_success": -1}, "consecutive_success must be 0 or more"),
        ({"interval": -5}, "cannot be negative"),
        ({"initial_delay": timedelta(seconds=-1)}, "cannot be negative"),
    ],
)
def test_impossible_limits_are_refused(spec, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        AnalysisState(**spec)


def test_kept_measurements_are_bounded_but_counts_are_not():
    state = AnalysisState(interval=1, failure_limit=-1, consecutive_success=10**9)

    for m in measurements("F" * (analysis.KEPT_MEASUREMENTS + 50)):
        state.record(m)

    assert len(state.measurements) == analysis.KEPT_MEASUREMENTS
    assert state.counts.failed == analysis.KEPT_MEASUREMENTS + 50
    assert state.measurements[-1].ts == T0 + timedelta(seconds=analysis.KEPT_MEASUREMENTS + 49)
