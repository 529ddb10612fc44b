"""Snapshot tests: main, workload, logs and help screens at 80x24 and 160x48, every theme.

Fed from fixture data (tests/ui_fixtures.py) with a pinned clock, so frames are stable.
Update after an intended change with ``./run test tests/test_snapshots.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.app import WorkloadLogSource
from console.log_feed import LogFeed, LogRequest
from console.model import LogLine, Stream, WorkloadKey
from tests.factories import FIXED_TIME
from tests.ui_fixtures import fixture_app
from screens.logs import LogsScreen
from themes import THEMES
from widgets.workload_table import WorkloadTable

WEB = WorkloadKey("local", "shop", "web")
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


def fixture_lines() -> list[LogLine]:
    lines = []
    for n in range(60):
        replica = "shop-web-1" if n % 2 else "shop-web-2"
        stream = Stream.STDERR if n % 7 == 0 else Stream.STDOUT
        text = f"GET /api/orders/{n} 200 {n * 3}ms" if stream is Stream.STDOUT else f"error: upstream timeout after {n}s"
        if n == 30:
            text = "\x1b[31mred via SGR\x1b[0m then [bold]not markup[/bold] \x1b]0;title\x07"
        lines.append(LogLine(FIXED_TIME + timedelta(seconds=n), replica, stream, text))
    return lines


def snapshot_app(theme: str, *, kubernetes: bool = False):
    app = fixture_app(theme, kubernetes=kubernetes)

    def open_logs(key, request: LogRequest, *, replica_id=None) -> LogFeed:
        feed = LogFeed()
        feed.push(fixture_lines())
        feed.start([])
        return feed

    def show_logs(key, *, replica_id=None) -> None:
        # Pinned clocks: the lines/s chip and "since" must not depend on timing.
        source = WorkloadLogSource(app, key, replica_id)
        app.push_screen(LogsScreen(source, now=lambda: FIXED_TIME, clock=lambda: 0.0))

    app.open_logs = open_logs
    app.show_logs = show_logs
    return app


async def _select_web(pilot) -> None:
    """Select shop/web and wait until its log tail (opened after a debounce) has arrived."""
    screen = pilot.app.screen
    screen.query_one(WorkloadTable).move_cursor_to_key(WEB)
    tail = screen.query_one("#panel-logs")
    for _ in range(100):
        await pilot.pause(0.05)
        if tail.line_count == len(fixture_lines()):
            break
    await pilot.pause()


@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("size", list(SIZES))
def test_main_screen(snap_compare, theme, size):
    assert snap_compare(snapshot_app(theme), terminal_size=SIZES[size], run_before=_select_web)


@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("size", list(SIZES))
def test_workload_screen(snap_compare, theme, size):
    assert snap_compare(snapshot_app(theme), terminal_size=SIZES[size], run_before=_select_web, press=["enter", "_"])


@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("size", list(SIZES))
def test_logs_screen(snap_compare, theme, size):
    assert snap_compare(snapshot_app(theme), terminal_size=SIZES[size], run_before=_select_web, press=["l", "_", "_"])


@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("size", list(SIZES))
def test_help_screen(snap_compare, theme, size):
    assert snap_compare(snapshot_app(theme), terminal_size=SIZES[size], press=["question_mark", "_"])


async def _select_k8s_web(pilot) -> None:
    await pilot.press("right_square_bracket", "right_square_bracket")
    screen = pilot.app.screen
    screen.query_one(WorkloadTable).move_cursor_to_key(WorkloadKey("prod-k8s", "shop", "web"))
    await pilot.pause(0.3)
    for _ in range(100):
        await pilot.pause(0.05)
        if screen.query_one("#panel-logs").line_count == len(fixture_lines()):
            break


@pytest.mark.parametrize("size", list(SIZES))
def test_docker_and_kubernetes_side_by_side(snap_compare, size):
    press = ["e"] if size == "80x24" else []
    assert snap_compare(snapshot_app("dark", kubernetes=True), terminal_size=SIZES[size], run_before=_select_k8s_web, press=press)
