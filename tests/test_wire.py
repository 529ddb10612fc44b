"""Wire formats both backends share: RFC 3339 with nanoseconds, log timestamps, image tags."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.wire import image_version, parse_rfc3339, split_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T12:00:00Z", datetime(2026, 11, 25, 12, tzinfo=UTC)),
        ("2026-11-25T12:00:00.123456789Z", datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-25T13:00:00+01:00", datetime(2026, 11, 25, 12, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_rfc3339(text, expected):
    assert parse_rfc3339(text) == expected


def test_split_timestamp_takes_the_prefix_off():
    ts, rest = split_timestamp("2026-11-25T12:00:00.5Z GET / 200")

    assert ts == datetime(2026, 11, 25, 12, 0, 0, 500000, tzinfo=UTC)
    assert rest == "GET / 200"


def test_split_timestamp_leaves_lines_without_one_alone():
    assert split_timestamp("2026 was a good year") == (None, "2026 was a good year")


@given(st.text(max_size=80))
def test_split_timestamp_never_raises_and_keeps_the_text(text):
    ts, rest = split_timestamp(text)

    assert rest == text or text.endswith(rest)


@pytest.mark.parametrize(
    ("image", "labels", "version"),
    [
        ("shop/web:1.4.2", {}, "1.4.2"),
        ("registry:5000/shop/web:2", {}, "2"),
        ("registry:5000/shop/web", {}, "latest"),
        ("shop/web@sha256:abcdef0123456789", {}, "abcdef012345"),
        ("registry:5000/shop/web:1.5@sha256:abcdef0123456789", {}, "1.5"),
        ("sha256:0123456789abcdef", {}, "0123456789ab"),
        ("shop/web:1", {"v": "1.0.0-rc1"}, "1.0.0-rc1"),
    ],
)
def test_image_version(image, labels, version):
    assert image_version(image, labels, ("v",)) == version
