"""The demo's PromQL engine (adapters.demo.promql), checked against real Prometheus.

The oracle is Debian's ``promtool test rules``: the same input series are given to
Prometheus's own engine and to ours, and every supported construct must evaluate to
the same series and values (to 1e-9: the two sum floats in different orders).
"""

from __future__ import annotations

import math
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.demo.promql import MAX_DEPTH, ExecutionError, MemoryTSDB, Query, QueryError, Series, format_value, parse
from tests.backends import backend_unavailable

INTERVAL = 5.0
# Instants between samples: Prometheus 2.42 (Debian's) includes a sample exactly at the
# window's start, Prometheus 3 and the demo do not; off-grid times make both agree.
EVAL_TIMES = (102, 147)

SUPPORTED = [
    "rate(http_requests_total[1m])",
    "irate(http_requests_total[1m])",
    "increase(http_requests_total[30s])",
    "delta(http_requests_total[30s])",
    "sum by (pod) (rate(http_requests_total[1m]))",
    'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))',
    "avg(rate(http_requests_total[1m]))",
    "max by (code) (rate(http_requests_total[1m]))",
    "min without (pod) (rate(http_requests_total[1m]))",
    "count(http_requests_total)",
    "group by (code) (http_requests_total)",
    "sum(rate(http_requests_total[1m])) by (code)",
    "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
    "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[1m]))",
    'sum(rate(http_requests_total{code="404"}[1m])) or vector(0)',
    "rate(http_requests_total[1m]) > 10",
    "rate(http_requests_total[1m]) > bool 10",
    "0.5 < rate(http_requests_total[1m])",
    "2 * rate(http_requests_total[30s]) - 1",
    "-rate(http_requests_total[1m])",
    'sum by (pod) (rate(http_requests_total{code="500"}[1m])) / on(pod) sum by (pod, workload) (rate(http_requests_total[1m]))',
    'rate(http_requests_total{code="500"}[1m]) / ignoring(code) rate(http_requests_total{code="200"}[1m])',
    "max_over_time(http_requests_total[1m])",
    "min_over_time(http_requests_total[1m])",
    "avg_over_time(http_requests_total[1m])",
    "count_over_time(http_requests_total[1m])",
    "sum_over_time(http_requests_total[20s])",
    "clamp_min(rate(http_requests_total[1m]), 5)",
    "clamp_max(rate(http_requests_total[1m]), 5)",
    "abs(-rate(http_requests_total[1m]))",
    'http_requests_total and on(pod) rate(http_requests_total{code="500",pod="web-1"}[1m])',
    'http_requests_total unless on(code) http_requests_total{code="500"}',
    "sum without (code) (rate(http_requests_total[1m]))",
    "vector(1) + vector(2)",
    "scalar(sum(rate(http_requests_total[1m])))",
    "1 + 2 * 3 ^ 2 ^ 0.5",
    "-2 ^ 2",
    "(1 > bool 0) + 1",
    "time()",
    "rate(http_requests_total[1m]) % 7",
    'http_requests_total{pod!~"web-1",code!="200"}',
    '{__name__="http_requests_total",code="500"} / 2',
]


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _request_data() -> dict[tuple[tuple[str, str], ...], list[float]]:
    """Two pods' counters every 5 s for 150 s, one with a counter reset, and their histograms."""
    rng = random.Random(3)
    data: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for pod in ("web-1", "web-2"):
        for code, rate in (("200", 40), ("500", 2)):
            value, values = 0, []
            for k in range(31):
                if pod == "web-2" and k == 15:
                    value = 0  # the container restarted
                value += rng.randint(0, rate * 10)
                values.append(float(value))
            data[_labels(__name__="http_requests_total", namespace="shop", workload="web", pod=pod, code=code)] = values
        bounds = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
        cumulative = [0.0] * len(bounds)
        rows: list[list[float]] = [[] for _ in bounds]
        for _ in range(31):
            parts = [rng.random() for _ in bounds]
            total, running = rng.randint(50, 100), 0.0
            for i, part in enumerate(parts):
                running += total * part / sum(parts)
                cumulative[i] += running
                rows[i].append(round(cumulative[i], 3))
        for le, values in zip(bounds, rows, strict=True):
            data[_labels(__name__="http_request_duration_seconds_bucket", namespace="shop", workload="web", pod=pod, le=le)] = values
    return data


def _series_text(labels: tuple[tuple[str, str], ...]) -> str:
    name = dict(labels).get("__name__", "")
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels if k != "__name__") + "}"


def _samples(text: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"((?:[a-zA-Z_:]+)?\{[^}]*\}) (\S+?)(?:,|$)", text.strip())}


def test_the_engine_agrees_with_prometheus_on_every_supported_construct(tmp_path: Path):
    promtool = shutil.which("promtool")
    if promtool is None:
        backend_unavailable("promtool (Debian's prometheus package)")
    data = _request_data()
    db = MemoryTSDB(1000)
    for labels, values in data.items():
        for k, value in enumerate(values):
            db.append(labels, k * INTERVAL, value)
    tests = []
    for expr in SUPPORTED:
        for t in EVAL_TIMES:
            value = Query(expr, db).instant(float(t))
            samples = [("{}", value)] if isinstance(value, float) else [(_series_text(labels), v) for labels, v in value]
            tests.append({"expr": expr, "eval_time": f"{t}s", "exp_samples": [{"labels": lab, "value": v} for lab, v in samples]})
    document = {
        "evaluation_interval": "5s",
        "tests": [
            {
                "interval": "5s",
                "input_series": [{"series": _series_text(k), "values": " ".join(format_value(v) for v in vs)} for k, vs in data.items()],
                "promql_expr_test": tests,
            }
        ],
    }
    path = tmp_path / "engine.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=10_000))

    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)

    # promtool compares floats exactly; a difference in the last bits is summation order.
    output = result.stdout + result.stderr
    blocks = re.findall(r'expr: "(.*?)", time: (\S+),\n\s+exp: (.*)\n\s+got: (.*)', output)
    assert result.returncode == 0 or blocks, output
    for expr, when, expected_text, got_text in blocks:
        expected, got = _samples(expected_text), _samples(got_text)
        assert expected.keys() == got.keys(), f"{expr} at {when}: series differ\nours:       {expected_text}\nPrometheus: {got_text}"
        for key, value in expected.items():
            assert math.isclose(value, got[key], rel_tol=1e-9, abs_tol=1e-12), f"{expr} at {when}: {key} {value} != {got[key]}"
    assert len(blocks) < len(tests)  # most agree to the bit; the ones listed differ only in rounding


_SELECTORS = ("m", 'm{code="500"}', 'm{le=~".*"}', '{__name__="m",code!="200"}', 'm{pod!~"x"}')
_NUMBERS = ("0", "1", "0.5", "-1", "NaN", "Inf", "1e308", "0x10")


def _random_query(rng: random.Random, depth: int = 0) -> str:
    """A random query of the supported subset, nesting up to four levels."""
    if depth >= 4 or rng.random() < 0.2:
        return rng.choice(_SELECTORS)
    inner = lambda: _random_query(rng, depth + 1)  # noqa: E731
    form = rng.randrange(10)
    if form == 0:
        func = rng.choice(("rate", "irate", "increase", "delta", "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time"))
        return f"{func}({rng.choice(_SELECTORS)}{rng.choice(('[30s]', '[1m]', '[5m]'))})"
    if form == 1:
        op, by = rng.choice(("sum", "avg", "min", "max", "count", "group")), rng.choice(("code", "le", "pod", "code, le", ""))
        return f"{op} by ({by}) ({inner()})" if rng.random() < 0.5 else f"{op}({inner()}) without ({by})"
    if form == 2:
        return f"histogram_quantile({rng.choice(_NUMBERS)}, {inner()})"
    if form == 3:
        op = rng.choice(("+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "> bool", "or", "and", "unless"))
        matching = rng.choice(("", "on(code)", "ignoring(le)", "on()", "ignoring(code, le)"))
        return f"({inner()}) {op} {matching} ({inner()})"
    if form == 4:
        return f"({inner()}) {rng.choice(('+', '/', '^', '%', '>', '< bool', '=='))} {rng.choice(_NUMBERS)}"
    if form == 5:
        return f"{rng.choice(_NUMBERS)} {rng.choice(('-', '/', '^', '>', '<= bool'))} ({inner()})"
    if form == 6:
        return f"-({inner()})"
    if form == 7:
        return f"{rng.choice(('clamp_min', 'clamp_max'))}({inner()}, {rng.choice(_NUMBERS)})"
    if form == 8:
        return f"abs({inner()})"
    return f"vector(scalar({inner()}))"


def test_generated_queries_evaluate_and_fail_as_in_prometheus(tmp_path: Path):
    promtool = shutil.which("promtool")
    if promtool is None:
        backend_unavailable("promtool (Debian's prometheus package)")
    db = MemoryTSDB(50)
    for k in range(20):
        for code in ("200", "500"):
            for le in ("0.1", "+Inf"):
                db.append(_labels(__name__="m", code=code, le=le, pod="p"), k * INTERVAL, float(k * (2 if code == "200" else 1)))
    rng = random.Random(11)
    queries = sorted({_random_query(rng) for _ in range(500)})
    answered, refused = [], []
    for query in queries:
        try:
            value = Query(query, db).instant(77.0)
        except ExecutionError:
            refused.append(query)
            continue
        samples = [("{}", value)] if isinstance(value, float) else [(_series_text(labels), v) for labels, v in value]
        answered.append({"expr": query, "eval_time": "77s", "exp_samples": [{"labels": lab, "value": v} for lab, v in samples]})
    series = [{"series": _series_text(s.labels), "values": " ".join(format_value(v) for _, v in s.window(-1, 1e9))} for s in db.series()]
    expect_errors = [{"expr": query, "eval_time": "77s", "exp_samples": []} for query in refused]
    # evaluation_interval must match the data's 5 s: promtool evaluates on its grid.
    (tmp_path / "answers.yml").write_text(
        yaml.safe_dump({"evaluation_interval": "5s", "tests": [{"interval": "5s", "input_series": series, "promql_expr_test": answered}]}, width=100_000)
    )
    (tmp_path / "errors.yml").write_text(
        yaml.safe_dump({"evaluation_interval": "5s", "tests": [{"interval": "5s", "input_series": series, "promql_expr_test": expect_errors}]}, width=100_000)
    )

    answers = subprocess.run([promtool, "test", "rules", str(tmp_path / "answers.yml")], capture_output=True, text=True, timeout=60)
    errors = subprocess.run([promtool, "test", "rules", str(tmp_path / "errors.yml")], capture_output=True, text=True, timeout=60)

    assert len(answered) > 300 and refused
    for expr, when, expected_text, got_text in re.findall(r'expr: "(.*?)", time: (\S+),\n\s+exp: (.*)\n\s+got: (.*)', answers.stdout + answers.stderr):
        expected, got = _samples(expected_text), _samples(got_text)
        assert expected.keys() == got.keys(), f"{expr}: series differ\nours:       {expected_text}\nPrometheus: {got_text}"
        for key, value in expected.items():
            same = math.isnan(value) and math.isnan(got[key]) or math.isclose(value, got[key], rel_tol=1e-9, abs_tol=1e-12)
            assert same, f"{expr}: {key} {value} != Prometheus's {got[key]}"
    assert "unmarshal" not in answers.stdout + answers.stderr
    assert (errors.stdout + errors.stderr).count("err: ") == len(refused), errors.stderr[-3000:]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("http_requests_total offset 5m", "offset"),
        ("http_requests_total @ 1700000000", "@ modifier"),
        ("rate(http_requests_total[5m:1m])", "subquery"),
        ("topk(3, http_requests_total)", "topk"),
        ('label_replace(http_requests_total, "a", "$1", "pod", "(.*)")', "label_replace"),
        ("a / on(pod) group_left b", "group_left"),
        ("quantile(0.9, http_requests_total)", "quantile"),
    ],
)
def test_valid_promql_outside_the_subset_is_refused_by_name(query: str, named: str):
    with pytest.raises(QueryError) as refused:
        parse(query)

    assert named in str(refused.value)
    assert "not supported by the watchfloor demo endpoint" in str(refused.value)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sum(", "1:5: parse error: unexpected end of input"),
        ("rate(http_requests_total)", 'expected type range vector in call to function "rate", got instant vector'),
        ("nope(x)", 'unknown function with name "nope"'),
        ("{}", "vector selector must contain at least one non-empty matcher"),
        ('x{a=~"("}', "invalid regular expression"),
        ("1 > 2", "comparisons between scalars must use BOOL modifier"),
        ("x[5q]", "bad duration syntax"),
        ("sum(x) +", "unexpected end of input"),
        ("", "no expression found in input"),
        ("x\n  + )", "2:5: parse error"),
    ],
)
def test_a_bad_query_is_a_parse_error_with_its_position(query: str, message: str):
    with pytest.raises(QueryError) as refused:
        parse(query)

    assert message in str(refused.value)


def test_long_chains_and_deep_nesting_are_refused_before_the_stack_runs_out():
    chain = "+".join(["1"] * (MAX_DEPTH * 3))
    nested = "(" * 5000 + "1" + ")" * 5000

    for query in (chain, nested, "-" * 5000 + "1"):
        with pytest.raises(QueryError, match="nested more than"):
            parse(query)


def test_duplicate_series_on_the_matching_side_is_an_execution_error():
    db = MemoryTSDB(10)
    db.append(_labels(__name__="a", pod="p"), 1.0, 1.0)
    db.append(_labels(__name__="b", pod="p", code="1"), 1.0, 1.0)
    db.append(_labels(__name__="b", pod="p", code="2"), 1.0, 1.0)

    with pytest.raises(ExecutionError, match="many-to-many matching not allowed"):
        Query("a / on(pod) b", db).instant(1.0)


def test_a_staleness_marker_ends_a_series_at_once_instead_of_after_the_lookback():
    db = MemoryTSDB(10)
    labels = _labels(__name__="up", pod="p")
    db.append(labels, 10.0, 1.0)
    db.mark_stale(labels, 15.0)

    before, after = Query("up", db).instant(12.0), Query("up", db).instant(16.0)

    assert before == [(labels, 1.0)]
    assert after == []


def test_a_series_ring_keeps_only_its_newest_samples_in_order():
    series = Series(_labels(__name__="x"), capacity=5)

    for t in range(12):
        series.append(float(t), float(t * 10))

    assert len(series) == 5
    assert series.window(-1, 100) == [(7.0, 70.0), (8.0, 80.0), (9.0, 90.0), (10.0, 100.0), (11.0, 110.0)]
    assert series.at(8.5) == 80.0


def test_a_range_query_answers_at_every_step_from_start_to_end():
    db = MemoryTSDB(100)
    for k in range(50):
        db.append(_labels(__name__="c"), k * 5.0, k * 10.0)

    matrix = Query("rate(c[1m])", db).range(100.0, 200.0, 15.0)

    [(labels, points)] = matrix
    assert labels == ()
    assert [t for t, _ in points] == [100.0, 115.0, 130.0, 145.0, 160.0, 175.0, 190.0]
    assert all(v == pytest.approx(2.0) for _, v in points)


_TOKENS = st.sampled_from(
    [
        "sum", "rate", "by", "(", ")", "{", "}", "[", "]", "[1m]", "[5m:1m]", ",", "=", "=~", "!~", '"5.."',
        '"x"', "http_requests_total", "code", "le", "0.95", "1e3", "-", "+", "*", "/", "^", "%", "or", "and",
        "unless", "bool", ">", "==", "on", "ignoring", "group_left", "offset", "@", "histogram_quantile",
        "vector", "scalar", "time", "avg", "count", "NaN", "Inf", "'", "`", "\\", "#", "\n", "0x1f", "5m",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_TOKENS, max_size=25).map(" ".join)))
def test_any_text_either_parses_or_is_a_query_error(text: str):
    db = MemoryTSDB(5)
    db.append(_labels(__name__="http_requests_total", code="500", le="0.1"), 1.0, 3.0)

    try:
        query = Query(text, db)
        query.instant(2.0)
        if query.type in ("scalar", "instant vector"):
            query.range(0.0, 4.0, 1.0)
    except QueryError as error:
        assert str(error)
