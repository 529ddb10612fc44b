"""Durations as operators type them: ``30s``, ``5m``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``-style text; a bare number means seconds.

    Raises:
        ValueError: with a message that says what is accepted.
    """
    value = text.strip().lower()
    if re.fullmatch(r"\d+", value):
        seconds = int(value)
    elif not value or not re.fullmatch(r"(?:\d+(?:ms|s|m|h|d))+", value):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m, 2d)")
    else:
        seconds = sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(value))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration too long: {text!r} (at most {timedelta.max.days} days)") from None


def format_age(seconds: float) -> str:
    """A compact age the way kubectl prints it: 45s, 12m, 3h, 4d."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
