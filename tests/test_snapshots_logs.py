"""Snapshot tests of the logs screen at 80x24 and 160x48 (STYLE convention 13).

Deterministic by construction: fixture lines with fixed timestamps go through a real
`LogFeed` (see `tests.test_log_view.FeedSource`), the screen's clocks are fixed, the
timestamp prefix is UTC, animations are off and the prompt's cursor does not blink.
Update the baselines with ``pytest tests/test_snapshots_logs.py --snapshot-update``
and look at them before committing.
"""

from __future__ import annotations

from datetime import timedelta

from textual.pilot import Pilot

from console.model import LogLine, Stream
from screens.logs import LogsScreen
from tests.test_log_view import T0, FeedSource, LogsApp

_MESSAGES = [
    ("web-7f9c4-abcde", Stream.STDOUT, "GET /healthz 200 1ms"),
    ("web-7f9c4-fghij", Stream.STDOUT, "GET /api/orders?page=2 200 48ms user=alice"),
    ("web-7f9c4-abcde", Stream.STDERR, "WARN slow query: SELECT * FROM orders WHERE status = 'open' took 1834ms"),
    ("web-7f9c4-fghij", Stream.STDOUT, "\x1b[32mINFO\x1b[0m cache warmed: 1204 keys in 310ms"),
    ("web-7f9c4-abcde", Stream.STDERR, "ERROR payment gateway timeout after 30s (attempt 3/3) order=88412"),
    ("web-7f9c4-fghij", Stream.STDOUT, "POST /api/checkout 502 30012ms [bold]not markup[/]"),
    ("web-7f9c4-abcde", Stream.STDOUT, "GET /healthz 200 1ms"),
    ("web-7f9c4-fghij", Stream.STDERR, "ERROR upstream reset by peer\x1b[2J while reading response headers"),
]


def fixture_lines(count: int) -> list[LogLine]:
    """``count`` lines from two replicas, 250 ms apart from `T0`, stdout and stderr."""
    lines = []
    for number in range(count):
        replica, stream, text = _MESSAGES[number % len(_MESSAGES)]
        lines.append(LogLine(T0 + timedelta(milliseconds=250 * number), replica, stream, f"{text} #{number}"))
    return lines


def logs_app(count: int = 60) -> LogsApp:
    return LogsApp(FeedSource(title="prod / shop/web", replica_count=2, initial=fixture_lines(count)))


async def drained(pilot: Pilot, count: int = 60) -> LogsScreen:
    for _ in range(200):
        screen = pilot.app.screen
        # Drained *and* scrolled to the end: under load the scroll lags a frame, and
        # search then starts from wherever the view happens to be.
        if (
            isinstance(screen, LogsScreen)
            and screen.view.line_count == count
            and screen.view.scroll_offset.y >= screen.view.max_scroll_y
        ):
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("fixture lines never reached the view")
    screen.query_one("#prompt").cursor_blink = False
    await pilot.pause()
    return screen


async def search_error(pilot: Pilot) -> None:
    await drained(pilot)
    await pilot.press("slash", *"error", "enter")


async def search_error_and_go_to_previous(pilot: Pilot) -> None:
    await search_error(pilot)
    await pilot.press("N")


async def wrapped_and_filtered(pilot: Pilot) -> None:
    await search_error(pilot)
    await pilot.press("ampersand", "w")


async def prompt_open(pilot: Pilot) -> None:
    await drained(pilot)
    await pilot.press("slash", *"timeout")


def test_logs_following_with_search_80x24(snap_compare) -> None:
    """Two replicas merged, stderr gutter marks, "error" highlighted, cursor on the newest match."""
    assert snap_compare(logs_app(), terminal_size=(80, 24), run_before=search_error)


def test_logs_following_with_search_160x48(snap_compare) -> None:
    """The same at 160x48: every chip of the top bar and the whole footer fit."""
    assert snap_compare(logs_app(), terminal_size=(160, 48), run_before=search_error_and_go_to_previous)


def test_logs_filtered_and_wrapped_80x24(snap_compare) -> None:
    """``&`` keeps only the matching lines; ``w`` wraps them under a hanging indent."""
    assert snap_compare(logs_app(), terminal_size=(80, 24), run_before=wrapped_and_filtered)


def test_logs_search_prompt_80x24(snap_compare) -> None:
    """The prompt takes the footer's row, so the view keeps its size and place."""
    assert snap_compare(logs_app(), terminal_size=(80, 24), run_before=prompt_open)
