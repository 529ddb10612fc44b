"""Full-screen logs of one replica or a whole workload.

The screen does no I/O: a `LogSource` opens a `LogFeed` (whose stream threads do
the reading), and the screen drains that feed on a 100 ms interval, appending each
batch to a `LogView` in one call (STYLE conventions 3, 4 and 6).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label

from console.log_feed import FeedStatus, LogFeed, LogRequest
from widgets.log_view import LogView
from widgets.safe_text import safe_content, safe_text

__all__ = ["LogSource", "LogsScreen", "SearchPrompt", "SINCE_CHOICES", "TAIL_CHOICES"]

SINCE_CHOICES: tuple[timedelta | None, ...] = (
    None,
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
)
"""What ``s`` cycles through; None is "from the start"."""

TAIL_CHOICES: tuple[int | None, ...] = (100, 1000, 10_000, None)
"""What ``T`` cycles through; None is "every line"."""

RATE_WINDOW = 2.0
"""Seconds of history behind the lines/s figure."""

DRAIN_CHUNK = 5_000
"""Most lines appended in one go; a bigger backlog is drained in several turns of the
event loop, so keys pressed meanwhile are handled between chunks."""


class LogSource(Protocol):
    """Where a `LogsScreen` gets its lines: one replica, or every replica of a workload."""

    title: str
    """What the logs are of, for the top bar (shown literally, never as markup)."""
    replica_count: int
    """How many replicas are merged; above 1 the view prefixes each line with its replica."""
    containers: tuple[str, ...]
    """Containers to choose from (``c``); empty when the backend has no such thing."""

    def open(self, request: LogRequest) -> LogFeed:
        """Start streaming into a new feed; the caller closes it.

        Must not block: the streaming happens in the feed's threads.
        """
        ...


class SearchPrompt(Input):
    """The one-line search prompt: Enter applies (`Input.Submitted`), Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    class Cancelled(Message):
        """The operator pressed Escape: keep the previous search."""

    def action_cancel(self) -> None:
        """Post `Cancelled`."""
        self.post_message(self.Cancelled())


def _short_count(value: float) -> str:
    if value < 1_000:
        return f"{value:.0f}"
    if value < 10_000:
        return f"{value / 1_000:.1f}".removesuffix(".0") + "k"
    if value < 1_000_000:
        return f"{value / 1_000:.0f}k"
    return f"{value / 1_000_000:.1f}M"


def _since_label(choice: timedelta | None) -> str:
    if choice is None:
        return "all"
    minutes = int(choice.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


class LogsScreen(Screen[None]):
    """Logs of a replica or a workload, followed live, with search, filter and paging."""

    CSS_PATH = "logs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "next_match", "Next"),
        Binding("N", "previous_match", "Prev"),
        Binding("ampersand", "toggle_filter", "Filter", key_display="&"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("space,p", "toggle_pause", "Pause", key_display="spc"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("t", "toggle_timestamps", "Time"),
        Binding("G,end", "jump_to_end", "End"),
        Binding("q,escape", "back", "Back"),
        # Below here the footer is cut off at 80 columns; the keys still work.
        Binding("s", "cycle_since", "Since"),
        Binding("T", "cycle_tail", "Tail"),
        Binding("g,home", "jump_to_start", "Top"),
        Binding("c", "cycle_container", "Container"),
        Binding("P", "toggle_previous", "Previous"),
    ]

    def __init__(
        self,
        source: LogSource,
        request: LogRequest | None = None,
        *,
        show_timestamps: bool = True,
        max_lines: int = 100_000,
        poll_interval: float = 0.1,
        now: Callable[[], datetime] | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name for it
        classes: str | None = None,
    ) -> None:
        """Create the screen; nothing is opened until it mounts.

        Args:
            source: Opens the feed.
            request: The first request (follow, since, tail); defaults to
                ``LogRequest()`` (follow, the last 1000 lines).
            show_timestamps: Start with the timestamp prefix on.
            max_lines: How many lines the view keeps.
            poll_interval: Seconds between drains of the feed.
            now: Wall clock for ``since`` (UTC); injectable for tests.
            clock: Monotonic clock for the lines/s figure; injectable for tests.
            name: The screen's name.
            id: The screen's DOM id.
            classes: CSS classes.
        """
        super().__init__(name=name, id=id, classes=classes)
        self.source = source
        """Where the lines come from."""
        self.request = request or LogRequest()
        """The request the current feed was opened with."""
        self.paused = False
        """Display paused: the feed keeps (a bounded number of) lines until resumed."""
        self._show_timestamps = show_timestamps
        self._max_lines = max_lines
        self._poll_interval = poll_interval
        self._now = now or (lambda: datetime.now(UTC))
        self._clock = clock
        self._since_index = 0 if self.request.since is None else -1
        self._feed: LogFeed | None = None
        self._status = FeedStatus(0, 0, (), False)
        self._errors_seen = 0
        self._opened_at = 0.0
        self._rate_samples: deque[tuple[float, int]] = deque()
        self._catching_up = False
        self._chips: dict[str, object] = {}

    @property
    def feed(self) -> LogFeed | None:
        """The feed being shown, if one is open."""
        return self._feed

    @property
    def view(self) -> LogView:
        """The log view."""
        return self.query_one("#log", LogView)

    def compose(self) -> ComposeResult:
        with Horizontal(id="bar"):
            yield Label(safe_content(self.source.title), id="title", markup=False)
            for chip in ("mode", "source", "since", "tail", "flags", "pattern", "count", "rate", "dropped", "errors"):
                yield Label("", id=chip, classes="chip", markup=False)
        yield LogView(
            id="log",
            max_lines=self._max_lines,
            show_timestamps=self._show_timestamps,
            show_replica=self.source.replica_count > 1,
        )
        yield SearchPrompt(id="prompt", placeholder="search: regex or text · Enter apply · Esc cancel")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.view.focus()
        self._open(self.request)
        self.set_interval(self._poll_interval, self._drain, name="logs-drain")

    def on_unmount(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    # --- the feed -----------------------------------------------------------------------

    def _open(self, request: LogRequest) -> None:
        """Close the current feed, clear the view and open a new one (an operator reset)."""
        if self._feed is not None:
            self._feed.close()
            self._feed = None
        self.request = request
        self.view.clear()
        self._rate_samples.clear()
        self._opened_at = self._clock()
        self._errors_seen = 0
        self._status = FeedStatus(0, 0, (), False)
        try:
            self._feed = self.source.open(request)
        except Exception as error:  # noqa: BLE001 - a source that fails to open is a message, not a crash
            self.notify(safe_text(f"Could not open logs: {error}").plain, severity="error", markup=False)
        self._update_bar()

    def _drain(self) -> None:
        """One tick: move what the feed holds into the view (unless paused), then the bar."""
        feed = self._feed
        if feed is None:
            return
        if not self.paused:
            batch = feed.take(DRAIN_CHUNK)
            if batch:
                self.view.append(batch)
                self._rate_samples.append((self._clock(), len(batch)))
            # Only a backlog bigger than a chunk is worth an extra turn; a trickle waits for the tick.
            if len(batch) == DRAIN_CHUNK and feed.pending() and not self._catching_up:
                self._catching_up = True
                self.call_later(self._catch_up)
        self._status = feed.status()
        for error in self._status.errors[self._errors_seen :]:
            self.notify(safe_text(error).plain, title="Log stream error", severity="error", markup=False)
        self._errors_seen = len(self._status.errors)
        self._update_bar()

    def _catch_up(self) -> None:
        self._catching_up = False
        self._drain()

    def _lines_per_second(self) -> float:
        now = self._clock()
        samples = self._rate_samples
        while samples and samples[0][0] < now - RATE_WINDOW:
            samples.popleft()
        window = max(self._poll_interval, min(RATE_WINDOW, now - self._opened_at))
        return sum(count for _, count in samples) / window

    # --- the top bar ----------------------------------------------------------------------

    def _set_chip(self, chip: str, text: str, *classes: str) -> None:
        """Update a chip only when it changed; an empty chip is hidden."""
        state = (text, classes)
        if self._chips.get(chip) == state:
            return
        self._chips[chip] = state
        label = self.query_one(f"#{chip}", Label)
        label.update(safe_content(text))
        label.set_class(not text, "-hidden")
        for name in ("-follow", "-paused", "-ended", "-filtering"):
            label.set_class(name in classes, name)

    def _update_bar(self) -> None:
        view = self.view
        request = self.request
        status = self._status
        if self.paused:
            self._set_chip("mode", "PAUSED", "-paused")
        elif status.ended:
            self._set_chip("mode", "ENDED", "-ended")
        elif request.follow:
            self._set_chip("mode", "FOLLOW", "-follow")
        else:
            self._set_chip("mode", "NO FOLLOW")
        if self._since_index >= 0:
            self._set_chip("since", f"since {_since_label(SINCE_CHOICES[self._since_index])}")
        else:
            since = request.since.astimezone(UTC) if request.since is not None else None
            self._set_chip("since", f"since {since:%H:%M}" if since else "since all")
        self._set_chip("tail", f"tail {_short_count(request.tail) if request.tail is not None else 'all'}")
        source = " ".join(
            part for part in (f"[{request.container}]" if request.container else "", "PREVIOUS" if request.previous else "") if part
        )
        self._set_chip("source", source)
        self._set_chip("flags", " ".join(flag for flag, on in (("wrap", view.wrap), ("ts", view.show_timestamps)) if on))
        if view.search:
            position = view.match_position
            where = ""
            if position is not None:
                where = f" {position.current}/{position.total}" if position.current else f" {position.total}"
            marker = "&" if view.filter_only else "/"
            self._set_chip("pattern", f"{marker}{view.search}{where}", *(("-filtering",) if view.filter_only else ()))
        else:
            self._set_chip("pattern", "")
        if view.filter_only and view.filter:
            self._set_chip("count", f"{view.visible_count:,}/{view.line_count:,}")
        else:
            self._set_chip("count", f"{view.line_count:,} lines")
        self._set_chip("rate", f"{_short_count(self._lines_per_second())}/s")
        self._set_chip("dropped", f"dropped {status.dropped:,}" if status.dropped else "")
        errors = len(status.errors)
        self._set_chip("errors", f"{errors} error{'s' if errors != 1 else ''}" if errors else "")

    # --- search prompt --------------------------------------------------------------------

    def _close_prompt(self) -> None:
        self.remove_class("-searching")
        self.view.focus()

    @on(Input.Submitted, "#prompt")
    def _apply_search(self, event: Input.Submitted) -> None:
        event.stop()
        view = self.view
        at_end = view.is_vertical_scroll_end
        view.search = event.value
        if view.filter_only:
            view.filter = event.value
        self._close_prompt()
        # Following: the newest match is the interesting one; otherwise read on from here.
        if at_end:
            view.previous_match()
        else:
            view.next_match()
        self._update_bar()

    @on(SearchPrompt.Cancelled)
    def _cancel_search(self, event: SearchPrompt.Cancelled) -> None:
        event.stop()
        self._close_prompt()

    # --- actions ----------------------------------------------------------------------------

    def action_search(self) -> None:
        """Open the search prompt with the current search."""
        prompt = self.query_one(SearchPrompt)
        prompt.value = self.view.search
        # The prompt takes the footer's row, so the view keeps its size (and its place).
        self.add_class("-searching")
        prompt.focus()

    def action_next_match(self) -> None:
        """Move to the next search match."""
        self._step_match(self.view.next_match)

    def action_previous_match(self) -> None:
        """Move to the previous search match."""
        self._step_match(self.view.previous_match)

    def _step_match(self, step: Callable[[], object]) -> None:
        if not self.view.search:
            self.notify("No search yet: press / to search.", markup=False)
            return
        if step() is None:
            self.notify("No line matches the search.", markup=False)
        self._update_bar()

    def action_toggle_filter(self) -> None:
        """Show only lines matching the search, or every line again."""
        view = self.view
        if view.filter_only:
            view.filter_only = False
        elif not view.search:
            self.notify("Search first (/), then & shows only the matching lines.", markup=False)
            return
        else:
            view.filter = view.search
            view.filter_only = True
        self._update_bar()

    def action_toggle_follow(self) -> None:
        """Reopen the feed with following switched on or off."""
        self._open(replace(self.request, follow=not self.request.follow))

    def action_toggle_pause(self) -> None:
        """Pause or resume the display; the feed keeps the lines meanwhile."""
        self.paused = not self.paused
        self._update_bar()

    def action_toggle_wrap(self) -> None:
        """Wrap long lines, or scroll sideways."""
        self.view.wrap = not self.view.wrap
        self._update_bar()

    def action_toggle_timestamps(self) -> None:
        """Show or hide the timestamp prefix."""
        self.view.show_timestamps = not self.view.show_timestamps
        self._update_bar()

    def action_cycle_since(self) -> None:
        """Reopen from 1m, 5m, 15m, 1h ago, or from the start."""
        self._since_index = (self._since_index + 1) % len(SINCE_CHOICES)
        choice = SINCE_CHOICES[self._since_index]
        self._open(replace(self.request, since=None if choice is None else self._now() - choice))

    def action_cycle_tail(self) -> None:
        """Reopen with the last 100, 1000, 10000 or all lines."""
        try:
            index = (TAIL_CHOICES.index(self.request.tail) + 1) % len(TAIL_CHOICES)
        except ValueError:
            index = 0
        self._open(replace(self.request, tail=TAIL_CHOICES[index]))

    def action_cycle_container(self) -> None:
        """Next container of a multi-container pod (then back to the default one)."""
        choices: list[str | None] = [None, *getattr(self.source, "containers", ())]
        if len(choices) <= 2:
            self.notify("only one container here", timeout=2, markup=False)
            return
        index = choices.index(self.request.container) if self.request.container in choices else 0
        self._open(replace(self.request, container=choices[(index + 1) % len(choices)]))

    def action_toggle_previous(self) -> None:
        """The crashed instance before the last restart, or back to the live one."""
        self._open(replace(self.request, previous=not self.request.previous, follow=self.request.previous))

    def action_jump_to_end(self) -> None:
        """Jump to the newest line and follow again."""
        self.view.jump_to_end()

    def action_jump_to_start(self) -> None:
        """Jump to the oldest line held."""
        self.view.jump_to_start()

    def current_error(self):
        """The log streams' errors for the error panel (``E``): the last one first."""
        from console.errors import ErrorContext, from_messages

        return from_messages(
            self._status.errors,
            what="a log stream broke",
            context=ErrorContext(workload=self.source.title),
            done="the streams of the other replicas go on",
        )

    def action_back(self) -> None:
        """Leave the logs (the feed is closed on unmount)."""
        self.app.pop_screen()
