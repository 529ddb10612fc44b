"""Pilot and property tests of the log view and the logs screen.

The screen reads from a real `console.log_feed.LogFeed`. `FeedSource` opens a fresh
one per request and the tests `push` synthetic `LogLine`s into it, exactly as a
stream thread would: that is test data fed through the production queue, not a mock
of a backend. Every key is pressed for real through `Pilot.press`, at 80x24.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text
from textual.app import App
from textual.pilot import Pilot

from console.log_feed import LogFeed, LogRequest
from console.model import LogLine, Stream
from console.terminal_text import neutralise
from screens.logs import LogsScreen
from widgets.log_view import LogView, MatchPosition, compile_pattern

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
"""Fixed time for line timestamps and for the screen's "now"."""


def log_line(
    number: int,
    text: str | None = None,
    *,
    stream: Stream = Stream.STDOUT,
    replica: str = "web-1",
) -> LogLine:
    """A synthetic line ``number`` milliseconds after `T0`."""
    return LogLine(T0 + timedelta(milliseconds=number), replica, stream, text or f"line {number}")


class FeedSource:
    """A `LogSource` whose feeds are real `LogFeed`s the test pushes lines into."""

    def __init__(
        self,
        title: str = "shop/web",
        replica_count: int = 1,
        initial: Iterable[LogLine] = (),
        max_pending: int = 200_000,
        containers: tuple[str, ...] = (),
    ) -> None:
        self.title = title
        self.replica_count = replica_count
        self.containers = containers
        self.requests: list[LogRequest] = []
        self.feeds: list[LogFeed] = []
        self._initial = list(initial)
        self._max_pending = max_pending

    def open(self, request: LogRequest) -> LogFeed:
        self.requests.append(request)
        feed = LogFeed(max_pending=self._max_pending)
        if self._initial:
            feed.push(self._initial)
        self.feeds.append(feed)
        return feed

    @property
    def feed(self) -> LogFeed:
        """The feed opened last."""
        return self.feeds[-1]


class LogsApp(App[None]):
    """Shows a `LogsScreen` over the default screen, with fixed clocks."""

    def __init__(self, source: FeedSource, **screen_options) -> None:
        super().__init__()
        self.animation_level = "none"
        self.source = source
        self.screen_options = screen_options

    def on_mount(self) -> None:
        self.push_screen(LogsScreen(self.source, now=lambda: T0, clock=lambda: 0.0, **self.screen_options))


def screen_text(app: App) -> list[str]:
    """The screen as plain text rows, as the terminal would show it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text().splitlines()


async def wait_until(pilot: Pilot, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Let the app run until ``predicate()`` holds (the feed is drained every 100 ms)."""
    for _ in range(int(timeout / 0.02)):
        if predicate():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


async def start(pilot: Pilot) -> LogsScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LogsScreen))
    return pilot.app.screen  # type: ignore[return-value]


async def push(pilot: Pilot, screen: LogsScreen, lines: list[LogLine]) -> None:
    """Push lines into the feed and wait until the view has drained them."""
    expected = screen.view.appended_count + len(lines)
    screen.feed.push(lines)
    await wait_until(pilot, lambda: screen.view.appended_count >= expected)


def chip(screen: LogsScreen, name: str) -> str:
    label = screen.query_one(f"#{name}")
    return "" if label.has_class("-hidden") else str(label.render())


# --- following, scrolling, pausing ----------------------------------------------------------


async def test_pushed_lines_are_shown_and_the_view_follows_the_end() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(pilot, screen, [log_line(i) for i in range(200)])
        view = screen.view
        assert view.line_count == 200
        assert view.is_vertical_scroll_end
        rows = screen_text(pilot.app)
        assert any("line 199" in row for row in rows)
        assert not any("line 100 " in row for row in rows)
        assert "200 lines" in chip(screen, "count")
        assert chip(screen, "mode") == "FOLLOW"

        await push(pilot, screen, [log_line(i) for i in range(200, 300)])
        assert view.is_vertical_scroll_end
        assert any("line 299" in row for row in screen_text(pilot.app))


async def test_g_and_home_go_to_the_top_and_the_view_stays_there_as_lines_arrive() -> None:
    for key in ("g", "home"):
        async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
            screen = await start(pilot)
            await push(pilot, screen, [log_line(i) for i in range(200)])
            await pilot.press(key)
            view = screen.view
            assert view.scroll_y == 0
            await push(pilot, screen, [log_line(i) for i in range(200, 400)])
            assert view.scroll_y == 0, key
            assert not view.is_vertical_scroll_end
            assert any("line 0" in row for row in screen_text(pilot.app))


async def test_g_shift_and_end_jump_to_the_end_and_resume_following() -> None:
    for key in ("G", "end"):
        async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
            screen = await start(pilot)
            await push(pilot, screen, [log_line(i) for i in range(200)])
            await pilot.press("g")
            await pilot.press(key)
            view = screen.view
            assert view.is_vertical_scroll_end, key
            await push(pilot, screen, [log_line(i) for i in range(200, 260)])
            assert view.is_vertical_scroll_end, key
            assert any("line 259" in row for row in screen_text(pilot.app))


async def test_scrolled_up_view_keeps_its_lines_while_the_ring_evicts() -> None:
    async with LogsApp(FeedSource(), max_lines=300).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        view = screen.view
        await push(pilot, screen, [log_line(i) for i in range(300)])
        await pilot.press("up", "up", "up", "up", "up")
        top_before = screen_text(pilot.app)[1]
        await push(pilot, screen, [log_line(i) for i in range(300, 350)])
        assert view.line_count == 300
        assert view.visible_line(0).text == "line 50"
        assert screen_text(pilot.app)[1] == top_before


async def test_space_and_p_pause_the_display_and_the_lines_wait_in_the_feed() -> None:
    for key in ("space", "p"):
        async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
            screen = await start(pilot)
            await push(pilot, screen, [log_line(i) for i in range(10)])
            await pilot.press(key)
            assert screen.paused
            assert chip(screen, "mode") == "PAUSED"
            screen.feed.push([log_line(i) for i in range(10, 30)])
            await pilot.pause(0.35)  # several drain ticks
            assert screen.view.line_count == 10
            assert screen.feed.pending() == 20
            await pilot.press(key)
            await wait_until(pilot, lambda: screen.view.line_count == 30)
            assert screen.feed.pending() == 0
            assert chip(screen, "mode") == "FOLLOW"


async def test_the_view_keeps_following_across_a_terminal_resize() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(pilot, screen, [log_line(i) for i in range(200)])
        await pilot.resize_terminal(100, 40)
        await wait_until(pilot, lambda: screen.view.size.height > 30)
        assert screen.view.is_vertical_scroll_end
        assert any("line 199" in row for row in screen_text(pilot.app))


async def test_dropped_lines_and_stream_errors_show_in_the_top_bar() -> None:
    source = FeedSource(max_pending=50)
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await pilot.press("space")
        screen.feed.push([log_line(i) for i in range(80)])

        def broken_stream():
            yield [log_line(1000, "last words")]
            raise RuntimeError("connection reset [bold]by peer[/]")

        screen.feed.start([("web-1", broken_stream)])
        await wait_until(pilot, lambda: chip(screen, "errors") == "1 error")
        notes = [str(note.message) for note in pilot.app._notifications]
        assert "web-1: connection reset [bold]by peer[/]" in notes  # literally, not as markup
        assert chip(screen, "dropped") == "dropped 31"  # 81 lines into a feed that holds 50
        await pilot.press("space")
        await wait_until(pilot, lambda: screen.view.line_count == 50)
        assert screen.view.visible_line(49).text == "last words"


async def test_a_source_that_fails_to_open_is_reported_not_fatal() -> None:
    class FailingSource(FeedSource):
        def open(self, request: LogRequest) -> LogFeed:
            raise RuntimeError("no such replica [red]x[/]")

    async with LogsApp(FailingSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await pilot.pause(0.3)
        assert pilot.app.screen is screen
        assert screen.feed is None
        assert any("no such replica [red]x[/]" in str(n.message) for n in pilot.app._notifications)
        await pilot.press("f")  # reopening tries again, still without crashing
        assert pilot.app.screen is screen


async def test_E_shows_a_broken_stream_in_the_error_panel_with_its_replica() -> None:
    from adapters.base import AdapterError, ErrorKind
    from screens.error_panel import ErrorPanel

    class BreakingSource(FeedSource):
        def open(self, request: LogRequest) -> LogFeed:
            feed = super().open(request)

            def broken():
                raise AdapterError(ErrorKind.UNREACHABLE, "cannot reach the Kubernetes API of prod")
                yield []  # pragma: no cover - a generator that fails at once

            feed.start([("web-7d9f-abcde", broken)])
            return feed

    class ConsoleLikeApp(LogsApp):
        # The console's E binding and its panel, without the rest of the console.
        BINDINGS = [("E", "error_details", "Error details")]

        def action_error_details(self) -> None:
            report = self.screen.current_error()
            if report is not None:
                self.push_screen(ErrorPanel(report))

    async with ConsoleLikeApp(BreakingSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await wait_until(pilot, lambda: bool(screen.current_error()))
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ErrorPanel))
        panel = pilot.app.screen

        assert "a log stream broke: web-7d9f-abcde: cannot reach the Kubernetes API of prod" in panel.report.summary
        assert panel.report.context.workload == "shop/web"


# --- reopening the feed ----------------------------------------------------------------------


async def test_f_reopens_the_feed_with_follow_toggled_and_clears_the_view() -> None:
    source = FeedSource()
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(pilot, screen, [log_line(i) for i in range(10)])
        first = source.feed
        await pilot.press("f")
        assert source.requests == [LogRequest(), LogRequest(follow=False, since=None, tail=1000)]
        assert first.stop.is_set()
        assert screen.view.line_count == 0
        assert chip(screen, "mode") == "NO FOLLOW"
        await pilot.press("f")
        assert source.requests[-1] == LogRequest(follow=True, since=None, tail=1000)


async def test_s_cycles_since_and_reopens_with_now_minus_the_choice() -> None:
    source = FeedSource()
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        labels = []
        for _ in range(5):
            await pilot.press("s")
            labels.append(chip(screen, "since"))
        assert [request.since for request in source.requests[1:]] == [
            T0 - timedelta(minutes=1),
            T0 - timedelta(minutes=5),
            T0 - timedelta(minutes=15),
            T0 - timedelta(hours=1),
            None,
        ]
        assert labels == ["since 1m", "since 5m", "since 15m", "since 1h", "since all"]
        assert all(request.follow and request.tail == 1000 for request in source.requests)
        assert all(feed.stop.is_set() for feed in source.feeds[:-1])


async def test_shift_t_cycles_tail_and_reopens() -> None:
    source = FeedSource()
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(pilot, screen, [log_line(i) for i in range(10)])
        for _ in range(4):
            await pilot.press("T")
        assert [request.tail for request in source.requests] == [1000, 10_000, None, 100, 1000]
        assert screen.view.line_count == 0
        assert chip(screen, "tail") == "tail 1k"


async def test_q_and_escape_leave_the_screen_and_close_the_feed() -> None:
    for key in ("q", "escape"):
        source = FeedSource()
        async with LogsApp(source).run_test(size=(80, 24)) as pilot:
            await start(pilot)
            await pilot.press(key)
            await wait_until(pilot, lambda: not isinstance(pilot.app.screen, LogsScreen))
            assert source.feed.stop.is_set(), key


# --- display options ------------------------------------------------------------------------


async def test_t_toggles_the_timestamp_prefix() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(pilot, screen, [log_line(i) for i in range(5)])
        assert any(" 12:00:00.004 line 4" in row for row in screen_text(pilot.app))
        assert chip(screen, "flags") == "ts"
        await pilot.press("t")
        assert not screen.view.show_timestamps
        assert not any("12:00:00.004" in row for row in screen_text(pilot.app))
        assert any(row.startswith(" line 4") for row in screen_text(pilot.app))
        assert chip(screen, "flags") == ""


async def test_w_wraps_long_lines_and_back() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        view = screen.view
        long_text = "start " + "abcdefghij" * 30 + " finish"
        await push(pilot, screen, [log_line(0, long_text), log_line(1, "short")])
        assert view.virtual_size.height == 2
        assert not any("finish" in row for row in screen_text(pilot.app))
        await pilot.press("w")
        assert view.wrap
        assert chip(screen, "flags") == "wrap ts"
        rows = screen_text(pilot.app)
        assert view.virtual_size.height > 2
        assert any("finish" in row for row in rows)
        assert sum("abcdefghij" in row for row in rows) == view.virtual_size.height - 1
        await pilot.press("w")
        assert view.virtual_size.height == 2


async def test_horizontal_scroll_without_wrap_keeps_the_prefix() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        view = screen.view
        await push(pilot, screen, [log_line(0, "0123456789" * 20 + "TAIL")])
        assert view.max_scroll_x > 0
        view.scroll_to(x=view.max_scroll_x, animate=False)
        await pilot.pause()
        row = screen_text(pilot.app)[1]
        assert row.startswith(" 12:00:00.000 ")
        assert "TAIL" in row


async def test_stderr_lines_carry_a_gutter_marker_and_stdout_lines_a_space() -> None:
    source = FeedSource(replica_count=2)
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(
            pilot,
            screen,
            [
                log_line(0, "to stdout", replica="web-1"),
                log_line(1, "to stderr", stream=Stream.STDERR, replica="web-22"),
            ],
        )
        rows = screen_text(pilot.app)
        assert rows[1].startswith(" 12:00:00.000 web-1  │ to stdout")
        assert rows[2].startswith("\u258c12:00:00.001 web-22 │ to stderr")
        stderr_strip = screen.view.line_strips(1)[0]
        marker = next(iter(stderr_strip))
        assert marker.text == "\u258c"
        assert marker.style == screen.view.get_component_rich_style("log-view--stderr", partial=True)


# --- search and filter ---------------------------------------------------------------------


def lines_with_errors() -> list[LogLine]:
    """100 lines; every 10th (0, 10, …, 90) says ERROR."""
    return [log_line(i, f"request {i} " + ("ERROR boom" if i % 10 == 0 else "ok")) for i in range(100)]


async def search_for(pilot: Pilot, text: str) -> None:
    await pilot.press("slash", *text, "enter")


async def test_slash_searches_highlights_and_jumps_to_the_newest_match_when_following() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        view = screen.view
        await push(pilot, screen, lines_with_errors())
        await pilot.press("slash")
        assert screen.has_class("-searching")
        assert screen.focused is screen.query_one("#prompt")
        await pilot.press(*"error", "enter")
        assert not screen.has_class("-searching")
        assert screen.focused is view
        assert view.search == "error"
        assert view.match_position == MatchPosition(10, 10)
        assert view.cursor_line.text == "request 90 ERROR boom"
        assert chip(screen, "pattern") == "/error 10/10"
        strip = view.line_strips(view.cursor)[0]
        match_style = view.get_component_rich_style("log-view--match", partial=True)
        highlighted = "".join(segment.text for segment in strip if segment.style and match_style.bgcolor == segment.style.bgcolor)
        assert highlighted == "ERROR"


async def test_n_and_shift_n_move_between_matches_and_wrap_around() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        view = screen.view
        await push(pilot, screen, lines_with_errors())
        await search_for(pilot, "error")
        await pilot.press("n")
        assert str(view.match_position) == "match 1/10"
        assert view.cursor_line.text == "request 0 ERROR boom"
        assert view.scroll_y == 0
        await pilot.press("n", "n")
        assert str(view.match_position) == "match 3/10"
        assert chip(screen, "pattern") == "/error 3/10"
        await pilot.press("N", "N", "N")
        assert str(view.match_position) == "match 10/10"
        assert view.cursor_line.text == "request 90 ERROR boom"
        row_of_cursor = next(i for i, row in enumerate(screen_text(pilot.app)) if "request 90 " in row)
        assert 1 <= row_of_cursor <= 22


async def test_escape_in_the_prompt_cancels_without_leaving_the_screen() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(pilot, screen, lines_with_errors())
        await search_for(pilot, "boom")
        await pilot.press("slash", "backspace", "backspace", "backspace", "backspace", *"zzz", "escape")
        assert pilot.app.screen is screen
        assert screen.view.search == "boom"
        assert not screen.has_class("-searching")


async def test_invalid_regex_is_searched_as_literal_text() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        await push(pilot, screen, [log_line(0, "fine"), log_line(1, "got [error( here"), log_line(2, "fine")])
        await search_for(pilot, "[error(")
        assert screen.view.match_position == MatchPosition(1, 1)
        assert screen.view.cursor_line.text == "got [error( here"


async def test_ampersand_filters_to_matching_lines_incrementally_and_back() -> None:
    async with LogsApp(FeedSource()).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)
        view = screen.view
        await push(pilot, screen, lines_with_errors())
        await pilot.press("ampersand")  # no search yet: nothing happens
        assert not view.filter_only
        await search_for(pilot, "error")
        await pilot.press("ampersand")
        assert view.filter_only
        assert view.visible_count == 10
        assert all("ERROR" in line.text for line in view.visible_lines())
        assert chip(screen, "count") == "10/100"
        assert chip(screen, "pattern").startswith("&error")
        rows = [row for row in screen_text(pilot.app)[1:] if "request" in row]
        assert len(rows) == 10
        await push(pilot, screen, [log_line(100, "late ERROR"), log_line(101, "late ok")])
        assert view.visible_count == 11
        assert view.visible_lines()[-1].text == "late ERROR"
        await search_for(pilot, "request 5")  # in filter mode a new search refilters
        assert [line.text for line in view.visible_lines()] == ["request 5 ok"] + [
            f"request {i} {'ERROR boom' if i == 50 else 'ok'}" for i in range(50, 60)
        ]
        await pilot.press("ampersand")
        assert not view.filter_only
        assert view.visible_count == 102


# --- the widget on its own -----------------------------------------------------------------


class ViewApp(App[None]):
    def __init__(self, **options) -> None:
        super().__init__()
        self.options = options

    def compose(self):
        yield LogView(**self.options)


async def test_append_renders_only_the_rows_on_screen(monkeypatch) -> None:
    import widgets.log_view as module

    calls = 0
    real = module.safe_log_text

    def counting(text):
        nonlocal calls
        calls += 1
        return real(text)

    monkeypatch.setattr(module, "safe_log_text", counting)
    async with ViewApp(max_lines=50_000).run_test(size=(80, 24)) as pilot:
        view = pilot.app.query_one(LogView)
        view.append([log_line(i) for i in range(20_000)])
        await pilot.pause()
        view.append([log_line(i) for i in range(20_000, 40_000)])
        await pilot.pause()
        assert calls <= 2 * 24
        assert view.line_count == 40_000


async def test_wrapped_row_index_matches_a_recount_after_appends_evictions_and_filters() -> None:
    async with ViewApp(max_lines=500, wrap=True, show_replica=True).run_test(size=(60, 20)) as pilot:
        view = pilot.app.query_one(LogView)
        number = 0
        for batch in range(12):
            view.append(
                [
                    log_line(number + i, "w" * ((number + i) * 37 % 150), replica=f"r{(number + i) % (batch + 1)}")
                    for i in range(97)
                ]
            )
            number += 97
            if batch == 5:
                view.filter, view.filter_only = "w{40}", True
            await pilot.pause()
            text_width = view.scrollable_content_region.width - view._prefix_width()
            expected = sum(max(1, -(-len(line.text) // text_width)) for line in view.visible_lines())
            assert view.virtual_size.height == expected
        assert view.line_count == 500


def test_compile_pattern_falls_back_to_literal_and_ignores_case() -> None:
    assert compile_pattern("") is None
    assert compile_pattern("a+b").search("xAAB")
    assert compile_pattern("a+(").search("A+(")
    assert compile_pattern("[").search("[")


# --- untrusted text: the property ------------------------------------------------------------

HOSTILE = [
    "[bold red]x[/]",
    "[link=x]",
    "[/]",
    "[@click=app.quit]q",
    "\x1b]52;c;aGVsbG8=\x07",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "\x1b]0;title\x07",
    "\x1b[2J",
    "\x1b[H",
    "\x1b[10;5H",
    "\x1b[3A",
    "\x1b[?1049h",
    "\x1bP1;2|data\x1b\\",
    "\x1bc",
    "\x1b(0",
    "\x9b31m",
    "\x9d0;x\x07",
    "\x1b[31m",
    "\x1b[1;38;5;196m",
    "\x1b[38:2:10:20:30m",
    "\x1b[0m",
    "\x1b[",
    "\x1b",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x07",
    "\x7f",
    "\u202e",
    "\u2066",
    "\ud800",
    "\udfff",
    "\u4e16\u754c",
    "e\u0301",
]

untrusted_text = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE)), max_size=10).map("".join)

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def expected_plain(text: str) -> str:
    """What the view must show: the neutralised text, surrogates replaced, tabs expanded."""
    shown = Text(neutralise(_SURROGATE.sub("\ufffd", text), keep_sgr=False))
    shown.expand_tabs(8)
    return shown.plain


async def test_untrusted_text_never_reaches_the_terminal_as_markup_or_escapes() -> None:
    async with ViewApp(show_replica=True).run_test(size=(100, 10)) as pilot:
        view = pilot.app.query_one(LogView)
        await pilot.pause()

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(text=untrusted_text, replica=untrusted_text, stderr=st.booleans(), search=st.sampled_from(["", "x", "[", "\\"]))
        def check(text: str, replica: str, stderr: bool, search: str) -> None:
            view.clear()
            view.search = search
            view.show_replica = False
            view.append([LogLine(T0, replica, Stream.STDERR if stderr else Stream.STDOUT, text)])
            (strip,) = view.line_strips(0)
            assert strip.text[1:] == expected_plain(text)
            view.show_replica = True
            strips = [view.line_strips(0)[0], *(view.render_line(y) for y in range(10))]
            for strip in strips:
                for segment in strip:
                    assert "\x1b" not in segment.text
                    assert not _CONTROL.search(segment.text), repr(segment.text)
                    assert not _SURROGATE.search(segment.text)

        check()


async def test_c_cycles_the_containers_of_a_multi_container_pod() -> None:
    source = FeedSource(containers=("app", "sidecar"))
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)

        await pilot.press("c")
        assert source.requests[-1].container == "app"
        assert chip(screen, "source") == "[app]"
        await pilot.press("c")
        assert source.requests[-1].container == "sidecar"
        await pilot.press("c")
        assert source.requests[-1].container is None
        assert chip(screen, "source") == ""


async def test_c_with_one_container_says_so_and_keeps_the_feed() -> None:
    source = FeedSource(containers=("app",))
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        await start(pilot)

        await pilot.press("c")

        assert len(source.requests) == 1


async def test_shift_p_shows_the_previous_instance_and_back() -> None:
    source = FeedSource()
    async with LogsApp(source).run_test(size=(80, 24)) as pilot:
        screen = await start(pilot)

        await pilot.press("P")
        assert source.requests[-1].previous is True
        assert source.requests[-1].follow is False
        assert chip(screen, "source") == "PREVIOUS"
        await pilot.press("P")
        assert source.requests[-1].previous is False
        assert source.requests[-1].follow is True
