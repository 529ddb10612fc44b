"""Durations as operators type them, and ages as kubectl prints them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.durations import format_age, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("90", 90), (" 15M ", 900), ("500ms", 0.5)],
)
def test_parse_duration_accepts_operator_forms(text, expected):
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("text", ["", "m", "5x", "-5m", "1.5h", "yesterday", "5m 3s"])
def test_parse_duration_rejects_other_text_with_a_hint(text):
    with pytest.raises(ValueError, match="use e.g. 30s, 5m"):
        parse_duration(text)


@given(st.text(max_size=40))
def test_parse_duration_never_fails_other_than_value_error(text):
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert result >= timedelta(0)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["s", "m", "h", "d"]))
def test_parse_duration_round_trips_single_units(number, unit):
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit] * number

    assert parse_duration(f"{number}{unit}") == timedelta(seconds=seconds)


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (119, "119s"), (600, "10m"), (7200, "2h"), (3 * 86400, "3d"), (-4, "0s")])
def test_format_age_is_compact(seconds, text):
    assert format_age(seconds) == text
