"""A log view for very long, fast histories (STYLE convention 6, toolong style).

`LogView` keeps up to ``max_lines`` lines in a ring (`collections.deque` with
``maxlen``, one per field of `LogLine`, so the garbage collector has nothing to walk)
and draws only the rows that are on screen, through `render_line`. Rendered lines
and rows are kept in LRU caches, so a frame after an append costs the few rows that
are new, not the whole screen.

Everything that would be O(history) is done once per operator action (a new
filter, a new search, a new width) and then kept up to date per appended line:

- the lines shown (all of them, or those matching the filter),
- the lines matching the search, for ``n`` / ``N``,
- in wrap mode, prefix sums of row heights, so row → line is a bisect.

Log text is untrusted (DESIGN §7): it reaches the screen only through
`widgets.safe_text.safe_log_text` (SGR colours kept, every other escape removed)
and is never parsed as markup.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate, islice
from typing import TypeVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Resize
from textual.geometry import Region, Size
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.model import LogLine, Stream
from console.terminal_text import neutralise
from widgets.safe_text import safe_log_text, safe_text

__all__ = ["LogView", "MatchPosition", "TimestampFormatter", "compile_pattern", "format_utc_timestamp", "line_test"]

T = TypeVar("T")

TimestampFormatter = Callable[[datetime], str]
"""Turns a line's timestamp into its prefix (without the trailing space)."""

TAB_SIZE = 8
REPLICA_WIDTH_CAP = 20
STDERR_MARK = "\u258c"  # ▌
REPLICA_SEPARATOR = " \u2502 "  # " │ "

_SURROGATES = re.compile("[\ud800-\udfff]")


def format_utc_timestamp(ts: datetime) -> str:
    """Format a timestamp as ``HH:MM:SS.mmm`` in UTC (naive times are taken as UTC).

    UTC rather than local time so that every operator of a shared incident, and every
    snapshot test, sees the same prefix.

    Args:
        ts: The line's timestamp.

    Returns:
        A 12-cell string such as ``"12:00:01.250"``.
    """
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    return f"{ts:%H:%M:%S}.{ts.microsecond // 1000:03d}"


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compile a search or filter pattern, case-insensitively; never raises.

    A pattern that is not a valid regular expression is matched as a literal
    substring instead, so an operator typing ``[error`` finds ``[error``.

    Args:
        pattern: A regular expression or plain text; empty means "no pattern".

    Returns:
        The compiled pattern, or None for an empty one.
    """
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError, ValueError):
        return re.compile(re.escape(pattern), re.IGNORECASE)


_REGEX_SYNTAX = frozenset(".^$*+?{}[]\\|()")


def line_test(pattern: str) -> Callable[[str], object] | None:
    """A fast yes/no test of a line against a pattern, same semantics as `compile_pattern`.

    Filtering 100,000 lines runs this 100,000 times: a plain ASCII word is tested
    with ``in`` on the lowered line, about five times faster than a
    case-insensitive regex.

    Args:
        pattern: A regular expression or plain text; empty means "no pattern".

    Returns:
        A callable returning something truthy for matching lines, or None.
    """
    compiled = compile_pattern(pattern)
    if compiled is None:
        return None
    literal = compiled.pattern != pattern or not (_REGEX_SYNTAX & set(pattern))
    if literal and pattern.isascii():
        needle = pattern.lower()
        return lambda text: needle in text.lower()
    return compiled.search


@dataclass(frozen=True, slots=True)
class MatchPosition:
    """Where the cursor is among the search matches."""

    current: int
    """1-based position of the cursor's match, or 0 when the cursor is not on one."""
    total: int
    """How many shown lines match the search."""

    def __str__(self) -> str:
        if self.current:
            return f"match {self.current}/{self.total}"
        return f"{self.total} matches" if self.total != 1 else "1 match"


def _expand_tabs(text: str) -> str:
    # Cell-based, like rich's Text.expand_tabs, so widths and match offsets computed
    # here agree with what is rendered.
    parts = text.split("\t")
    out: list[str] = []
    position = 0
    for part in parts[:-1]:
        position += cell_len(part)
        spaces = TAB_SIZE - position % TAB_SIZE
        out.append(part + " " * spaces)
        position += spaces
    out.append(parts[-1])
    return "".join(out)


def _without_surrogates(text: str) -> str:
    # A lone surrogate cannot be encoded for the terminal; show U+FFFD instead.
    if text.isascii() or _SURROGATES.search(text) is None:
        return text
    return _SURROGATES.sub("\ufffd", text)


def _plain_and_width(text: object) -> tuple[str, int]:
    """What a line shows without colours (tabs expanded), and how many cells that takes."""
    plain = neutralise(_without_surrogates(text if isinstance(text, str) else str(text)), keep_sgr=False)
    if "\t" in plain:
        plain = _expand_tabs(plain)
    return plain, len(plain) if plain.isascii() else cell_len(plain)


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_RUN = 512


def _plains_and_widths(texts: list[str]) -> tuple[list[str], list[int]]:
    """`_plain_and_width` of a batch, checking runs of lines at once.

    Nearly every log line is printable ASCII, the one kind of text `neutralise`
    never changes. A run of such lines is recognised in C at a few ns per character
    (``isascii`` and a bytes ``translate`` that deletes the printable bytes), and
    its lines are their own plain text; a run with anything else in it goes line
    by line.
    """
    plains: list[str] = []
    widths: list[int] = []
    for start in range(0, len(texts), _RUN):
        run = texts[start : start + _RUN]
        try:
            joined = "".join(run)
        except TypeError:
            joined = None
        if joined is not None and joined.isascii() and not joined.encode("ascii").translate(None, _PRINTABLE_ASCII):
            plains.extend(run)
            widths.extend(map(len, run))
        else:
            for text in run:
                plain, width = _plain_and_width(text)
                plains.append(plain)
                widths.append(width)
    return plains, widths


class _Window:
    """A sorted list appended on the right and trimmed on the left, both amortised O(1)."""

    __slots__ = ("items", "head")

    def __init__(self, items: Iterable[int] = ()) -> None:
        self.items: list[int] = list(items)
        self.head = 0

    def __len__(self) -> int:
        return len(self.items) - self.head

    def __getitem__(self, position: int) -> int:
        if position < 0:
            position += len(self)
        return self.items[self.head + position]

    def __iter__(self) -> Iterator[int]:
        return islice(self.items, self.head, None)

    def append(self, value: int) -> None:
        self.items.append(value)

    def drop_front(self, count: int) -> None:
        self.head += count
        # Compact only when the dead prefix dominates, so trimming stays amortised O(1).
        if self.head > 1024 and self.head * 2 > len(self.items):
            del self.items[: self.head]
            self.head = 0

    def bisect_left(self, value: int) -> int:
        return bisect_left(self.items, value, self.head) - self.head

    def bisect_right(self, value: int) -> int:
        return bisect_right(self.items, value, self.head) - self.head


_MIN_CACHE = 256
"""Lines (and rows) of rendered strips kept at least; grown to three screens."""


class _Ring:
    """The held lines, as parallel rings (`deque` with ``maxlen``) of plain values.

    Not a ring of `LogLine`s: 100,000 held instances (or a tuple per line) are
    objects the garbage collector tracks and walks, and made full collections take
    100-200 ms mid-stream. Strings, datetimes and bools are not tracked, and the
    columns allocate nothing per line. For clean lines ``plains`` holds the line's
    own string, shared with ``texts``.
    """

    __slots__ = ("stamps", "replicas", "stderr", "texts", "plains", "widths")

    def __init__(self, capacity: int) -> None:
        self.stamps: deque[datetime | None] = deque(maxlen=capacity)
        self.replicas: deque[str] = deque(maxlen=capacity)
        self.stderr: deque[bool] = deque(maxlen=capacity)
        self.texts: deque[str] = deque(maxlen=capacity)
        """The untrusted text as received (what `safe_log_text` is given)."""
        self.plains: deque[str] = deque(maxlen=capacity)
        """What each line shows without colours: filters and searches match this."""
        self.widths: deque[int] = deque(maxlen=capacity)
        """Cells each plain text takes."""

    def extend(self, lines: Sequence[LogLine], texts: list[str], plains: list[str], widths: list[int]) -> None:
        stderr = Stream.STDERR
        self.stamps.extend([line.ts for line in lines])
        self.replicas.extend([line.replica for line in lines])
        self.stderr.extend([line.stream == stderr for line in lines])
        self.texts.extend(texts)
        self.plains.extend(plains)
        self.widths.extend(widths)

    def clear(self) -> None:
        for column in (self.stamps, self.replicas, self.stderr, self.texts, self.plains, self.widths):
            column.clear()

    def log_line(self, index: int) -> LogLine:
        """The held line at ``index`` (0 is the oldest), as a `LogLine` equal to the one appended."""
        return LogLine(
            self.stamps[index],
            self.replicas[index],
            Stream.STDERR if self.stderr[index] else Stream.STDOUT,
            self.texts[index],
        )


@dataclass(frozen=True, slots=True)
class _Frame:
    """What every row of one frame shares."""

    width: int
    scroll_x: int
    scroll_y: int
    base: Style
    options: tuple
    text_width: int
    """Cells per row for text in wrap mode; 0 without wrap."""


class LogView(ScrollView, can_focus=True):
    """A scrollable, searchable, filterable view of up to ``max_lines`` log lines.

    Lines are appended in batches with `append`. While the view is at the end and
    `auto_scroll` is on, it follows new lines; once the operator scrolls up, it stays
    where it is (and keeps showing the same lines while old ones fall out of the ring).

    Each row is ``[gutter][timestamp ][replica │ ]text``. The gutter is ``▌`` for
    stderr and a space for stdout, so the stream shows without relying on colour.
    """

    COMPONENT_CLASSES = {
        "log-view--stderr",
        "log-view--match",
        "log-view--cursor",
        "log-view--timestamp",
        "log-view--replica",
    }

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow-x: auto;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        &:focus {
            background-tint: $foreground 3%;
        }
        &.-wrap {
            overflow-x: hidden;
        }
        & > .log-view--stderr {
            color: $error;
        }
        & > .log-view--match {
            background: $warning;
            color: $background;
            text-style: bold;
        }
        & > .log-view--cursor {
            background: $accent 35%;
        }
        & > .log-view--timestamp {
            color: $text-muted;
        }
        & > .log-view--replica {
            color: $accent;
        }
    }
    """

    BINDINGS = [
        # Override the container's home/end so they also resume following.
        Binding("home", "jump_to_start", "Top", show=False),
        Binding("end", "jump_to_end", "End", show=False),
    ]

    show_timestamps: var[bool] = var(False)
    """Prefix each line with its timestamp (see `timestamp_formatter`)."""
    show_replica: var[bool] = var(False)
    """Prefix each line with its replica name (for merged views)."""
    wrap: var[bool] = var(False, toggle_class="-wrap")
    """Wrap long lines to the width; without wrap, scroll horizontally."""
    filter: var[str] = var("")
    """Regex (or literal, if invalid) selecting the lines shown while `filter_only` is on."""
    filter_only: var[bool] = var(False)
    """Show only the lines that match `filter`."""
    search: var[str] = var("")
    """Regex (or literal, if invalid) whose matches are highlighted; `next_match` moves to them."""
    auto_scroll: var[bool] = var(True)
    """Follow new lines while the view is at the end."""

    def __init__(
        self,
        *,
        max_lines: int = 100_000,
        auto_scroll: bool = True,
        show_timestamps: bool = False,
        show_replica: bool = False,
        wrap: bool = False,
        timestamp_formatter: TimestampFormatter = format_utc_timestamp,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name for it
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """Create a log view.

        Args:
            max_lines: How many lines to keep; the oldest go first.
            auto_scroll: Follow new lines while at the end.
            show_timestamps: Start with the timestamp prefix on.
            show_replica: Start with the replica prefix on.
            wrap: Start wrapping long lines.
            timestamp_formatter: Formats timestamps for the prefix; its output for a
                sample time fixes the prefix width. Defaults to UTC ``HH:MM:SS.mmm``.
            name: The widget's name.
            id: The widget's DOM id.
            classes: CSS classes.
            disabled: Start disabled.
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        """The capacity of the ring."""
        self._timestamp_formatter = timestamp_formatter
        self._timestamp_width = cell_len(timestamp_formatter(datetime(2000, 1, 1, tzinfo=UTC)))
        self._ring = _Ring(max_lines)
        self._first = 0
        """Line number of the oldest held line; line numbers count appends since `clear`."""
        self._end = 0
        """Line number the next appended line gets."""
        self._shown: _Window | None = None
        """Line numbers shown while filtering; None means every held line."""
        self._matches = _Window()
        """Line numbers of shown lines matching the search."""
        self._row_ends: _Window | None = _Window() if wrap else None
        """Wrap mode: running total of rows per shown line (minus ``_row_base``)."""
        self._row_base = 0
        self._wrap_width = 0
        """The text width `_row_ends` was computed for."""
        self._max_text_width = 0
        self._replica_labels: dict[str, tuple[str, int]] = {}
        self._replica_width = 0
        self._cursor: int | None = None
        self._pinned = True
        """At the end as of the last scroll: kept across resizes, which move the end."""
        self._filter_test: Callable[[str], object] | None = None
        self._search_test: Callable[[str], object] | None = None
        self._search_re: re.Pattern[str] | None = None
        # Keyed by (line number, options): the width is deliberately not part of the
        # key, because wrapping and horizontal scrolling are crops of the cached strip.
        # Both caches are kept to a few screens: every Strip carries several internal
        # caches of its own, and thousands of them make each garbage collection slow.
        self._line_cache: LRUCache[tuple, tuple[Strip, Strip]] = LRUCache(_MIN_CACHE)
        # Finished rows, so a frame that only scrolled or appended re-joins nothing.
        self._row_cache: LRUCache[tuple, Strip] = LRUCache(_MIN_CACHE)
        self._continuations: dict[tuple, Strip] = {}
        self._frame: _Frame | None = None
        self._part_styles: dict[str, Style] | None = None
        self.set_reactive(LogView.auto_scroll, auto_scroll)
        self.set_reactive(LogView.show_timestamps, show_timestamps)
        self.set_reactive(LogView.show_replica, show_replica)
        self.set_reactive(LogView.wrap, wrap)
        self.set_class(wrap, "-wrap")

    # --- public API -----------------------------------------------------------------

    @property
    def line_count(self) -> int:
        """How many lines the ring holds (shown or not)."""
        return len(self._ring.texts)

    @property
    def visible_count(self) -> int:
        """How many lines are shown (all held lines, or those matching the filter)."""
        return len(self._ring.texts) if self._shown is None else len(self._shown)

    @property
    def appended_count(self) -> int:
        """How many lines were appended since the view was created or cleared."""
        return self._end

    @property
    def timestamp_formatter(self) -> TimestampFormatter:
        """Formats the timestamp prefix; setting it redraws every line."""
        return self._timestamp_formatter

    @timestamp_formatter.setter
    def timestamp_formatter(self, formatter: TimestampFormatter) -> None:
        self._timestamp_formatter = formatter
        self._timestamp_width = cell_len(formatter(datetime(2000, 1, 1, tzinfo=UTC)))
        self._line_cache.clear()
        self._row_cache.clear()
        self._layout_changed()

    @property
    def cursor(self) -> int | None:
        """Position of the selected line among the shown lines, or None."""
        if self._cursor is None or not self._is_shown(self._cursor):
            return None
        return self._position_of(self._cursor)

    @property
    def cursor_line(self) -> LogLine | None:
        """The selected line (moved by `next_match` / `previous_match`), or None."""
        if self._cursor is None or not self._is_shown(self._cursor):
            return None
        return self._ring.log_line(self._cursor - self._first)

    @property
    def match_position(self) -> MatchPosition | None:
        """Where the cursor is among the search matches; None without a search."""
        if self._search_re is None:
            return None
        total = len(self._matches)
        current = 0
        if self._cursor is not None and total:
            index = self._matches.bisect_left(self._cursor)
            if index < total and self._matches[index] == self._cursor:
                current = index + 1
        return MatchPosition(current, total)

    def visible_line(self, position: int) -> LogLine:
        """The shown line at ``position`` (0 is the oldest shown line).

        Raises:
            IndexError: If there is no such line.
        """
        if not 0 <= position < self.visible_count:
            raise IndexError(position)
        return self._ring.log_line(self._number_at(position) - self._first)

    def visible_lines(self) -> list[LogLine]:
        """Every shown line, oldest first (O(n): for tests and exports)."""
        ring = self._ring
        return [ring.log_line(number - self._first) for number, _ in self._iter_shown(ring.texts)]

    def append(self, lines: Sequence[LogLine]) -> None:
        """Add a batch of lines at the end, in O(len(lines)), and refresh once.

        If the batch overflows the ring, the oldest lines go. While following, the
        view stays at the end; otherwise the lines on screen stay on screen.

        Args:
            lines: The new lines, oldest first.
        """
        if not lines:
            return
        follow = self._following()
        count = len(lines)
        kept = lines[-self.max_lines :] if count > self.max_lines else lines
        new_end = self._end + count
        new_first = new_end - min(self.max_lines, len(self._ring.texts) + len(kept))
        removed_rows = self._forget_before(new_first)

        texts = [line.text for line in kept]
        plains, widths = _plains_and_widths(texts)
        widest_replica = self._note_replicas(kept)
        self._ring.extend(kept, texts, plains, widths)
        start = new_end - len(kept)
        self._end = new_end

        if widest_replica:
            # The prefix got wider: every row height may change, and redraws anyway.
            self._line_cache.clear()
            self._row_cache.clear()
            self._index_new(plains, widths, start, rows=False)
            if self._row_ends is not None:
                self._rebuild_rows()
        else:
            self._index_new(plains, widths, start, rows=True)

        self._update_virtual_size()
        if follow:
            self._scroll_to_end()
        elif removed_rows:
            self.scroll_to(y=max(0, self.scroll_y - removed_rows), animate=False)
        self.refresh()

    def clear(self) -> None:
        """Forget every line, the cursor and the line numbering."""
        self._ring.clear()
        self._first = self._end = 0
        self._shown = None if self._filter_test is None else _Window()
        self._matches = _Window()
        self._row_ends = _Window() if self.wrap else None
        self._row_base = 0
        self._wrap_width = self._text_width()
        self._max_text_width = 0
        self._replica_labels.clear()
        self._replica_width = 0
        self._cursor = None
        self._line_cache.clear()
        self._row_cache.clear()
        self._update_virtual_size()
        self.scroll_to(x=0, y=0, animate=False)
        self.refresh()

    def jump_to_end(self) -> None:
        """Scroll to the last line and follow new ones again."""
        self.auto_scroll = True
        self._scroll_to_end()

    def jump_to_start(self) -> None:
        """Scroll to the first line (new lines then no longer pull the view along)."""
        self.scroll_to(y=0, animate=False)

    def next_match(self) -> MatchPosition | None:
        """Move the cursor to the next line matching the search, wrapping around.

        Without a cursor, starts from the top row on screen.

        Returns:
            The new position ("match 3/17"), or None if nothing matches.
        """
        if not self._matches:
            return None
        if self._cursor is None:
            index = self._matches.bisect_left(self._number_at_row(int(self.scroll_y)))
        else:
            index = self._matches.bisect_right(self._cursor)
        if index >= len(self._matches):
            index = 0
        self._move_cursor(self._matches[index])
        return MatchPosition(index + 1, len(self._matches))

    def previous_match(self) -> MatchPosition | None:
        """Move the cursor to the previous line matching the search, wrapping around.

        Without a cursor, starts from the bottom row on screen.

        Returns:
            The new position ("match 3/17"), or None if nothing matches.
        """
        if not self._matches:
            return None
        if self._cursor is None:
            bottom = int(self.scroll_y) + max(1, self.scrollable_content_region.height) - 1
            index = self._matches.bisect_right(self._number_at_row(bottom)) - 1
        else:
            index = self._matches.bisect_left(self._cursor) - 1
        if index < 0:
            index = len(self._matches) - 1
        self._move_cursor(self._matches[index])
        return MatchPosition(index + 1, len(self._matches))

    def line_strips(self, position: int) -> list[Strip]:
        """The rows the shown line at ``position`` is drawn as, uncropped and unstyled by the widget.

        Without wrap this is one strip of the whole line; with wrap, one per row.
        Useful for exports and tests; `render_line` draws from the same cache.

        Raises:
            IndexError: If there is no such line.
        """
        if not 0 <= position < self.visible_count:
            raise IndexError(position)
        number = self._number_at(position)
        head, body = self._rendered(number, self._options())
        continuation = self._continuation(head)
        if not self.wrap:
            return [Strip.join([head, body])]
        width = self._text_width()
        rows = self._rows_for(self._ring.widths[number - self._first], width)
        return [
            Strip.join([head if row == 0 else continuation, body.crop(row * width, (row + 1) * width)])
            for row in range(rows)
        ]

    # --- actions ----------------------------------------------------------------------

    def action_jump_to_end(self) -> None:
        """Scroll to the end and follow."""
        self.jump_to_end()

    def action_jump_to_start(self) -> None:
        """Scroll to the first line."""
        self.jump_to_start()

    # --- watchers ---------------------------------------------------------------------

    def watch_show_timestamps(self) -> None:
        self._layout_changed()

    def watch_show_replica(self) -> None:
        self._layout_changed()

    def watch_wrap(self, wrap: bool) -> None:
        anchor = self._anchor()
        self.scroll_to(x=0, animate=False)
        if wrap:
            self._rebuild_rows()
        else:
            self._row_ends = None
        self._restore(anchor)

    def watch_filter(self, pattern: str) -> None:
        if self.filter_only:
            self._refilter()

    def watch_filter_only(self) -> None:
        self._refilter()

    def watch_search(self, pattern: str) -> None:
        self._search_re = compile_pattern(pattern)
        self._search_test = line_test(pattern)
        self._cursor = None
        self._rebuild_matches()
        self.refresh()

    def notify_style_update(self) -> None:
        """Drop cached strips when the theme or CSS changes."""
        super().notify_style_update()
        self._part_styles = None
        self._line_cache.clear()
        self._row_cache.clear()
        self._continuations.clear()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._pinned = round(new_value) >= self.max_scroll_y

    def on_resize(self, event: Resize) -> None:
        rows = max(_MIN_CACHE, 3 * event.size.height)
        self._line_cache.grow(rows)
        self._row_cache.grow(rows)
        anchor = (self._following(), self._number_at_row(int(self.scroll_y)))
        if self.wrap and self._text_width() != self._wrap_width:
            self._rebuild_rows()
        self._restore(anchor)

    def _scroll_to_end(self) -> None:
        self._pinned = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        # A scrollbar appearing in the coming layout moves the end; follow it there.
        self.call_after_refresh(self._settle_at_end)

    def _settle_at_end(self) -> None:
        if self._pinned and not self.is_vertical_scroll_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _following(self) -> bool:
        """Whether new lines (or a resize) should keep the view at the end."""
        if not self.auto_scroll or self.is_vertical_scrollbar_grabbed:
            return False
        return self._pinned or self.is_vertical_scroll_end

    # --- rendering --------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw the rows in ``crop``, computing what every row shares once per frame."""
        self._frame = self._new_frame()
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _new_frame(self) -> _Frame:
        if self.wrap and self._row_ends is not None and self._wrap_width != self._text_width():
            # Resized between events: heights must match the width drawn at.
            self._rebuild_rows()
            self._update_virtual_size()
        scroll_x, scroll_y = self.scroll_offset
        return _Frame(
            width=self.scrollable_content_region.width,
            scroll_x=0 if self.wrap else scroll_x,
            scroll_y=scroll_y,
            base=self.rich_style,
            options=self._options(),
            text_width=self._text_width() if self.wrap else 0,
        )

    def _options(self) -> tuple:
        """What a rendered line depends on besides its text (part of every cache key)."""
        return (self.show_timestamps, self.show_replica, self._replica_width, self._timestamp_width, self.search)

    def render_line(self, y: int) -> Strip:
        """Draw row ``y`` of the visible region from the caches."""
        frame = self._frame or self._new_frame()
        located = self._locate_row(frame.scroll_y + y)
        if located is None:
            return Strip.blank(frame.width, frame.base)
        number, sub_row = located
        is_cursor = number == self._cursor
        key = (number, sub_row, frame.scroll_x, frame.width, frame.text_width, is_cursor, frame.options, frame.base)
        row = self._row_cache.get(key)
        if row is not None:
            return row
        head, body = self._rendered(number, frame.options)
        if frame.text_width:
            start = sub_row * frame.text_width
            prefix = head if sub_row == 0 else self._continuation(head)
            strip = Strip.join([prefix, body.crop(start, start + frame.text_width)])
        else:
            # The prefix stays put while the text scrolls sideways.
            text_width = max(0, frame.width - head.cell_length)
            strip = Strip.join([head, body.crop_extend(frame.scroll_x, frame.scroll_x + text_width, None)])
        style = frame.base + self._styles()["log-view--cursor"] if is_cursor else frame.base
        row = strip.apply_style(style).adjust_cell_length(frame.width, style)
        self._row_cache[key] = row
        return row

    def _continuation(self, head: Strip) -> Strip:
        """The prefix of a wrapped line's later rows: the same gutter, then blanks."""
        gutter = next(iter(head))
        key = (gutter, head.cell_length)
        strip = self._continuations.get(key)
        if strip is None:
            strip = Strip([gutter, Segment(" " * (head.cell_length - 1))] if head.cell_length > 1 else [gutter])
            self._continuations[key] = strip
        return strip

    def _rendered(self, number: int, options: tuple) -> tuple[Strip, Strip]:
        """(prefix, text) of a held line, cached."""
        key = (number, options)
        cached = self._line_cache.get(key)
        if cached is not None:
            return cached
        ring = self._ring
        index = number - self._first
        ts, replica, stderr, raw = ring.stamps[index], ring.replicas[index], ring.stderr[index], ring.texts[index]
        styles = self._styles()
        stderr_style = styles["log-view--stderr"]
        prefix: list[Segment] = [Segment(STDERR_MARK, stderr_style) if stderr else Segment(" ")]
        if self.show_timestamps:
            stamp = self._timestamp_formatter(ts) if ts is not None else ""
            stamp = set_cell_size(safe_text(stamp).plain, self._timestamp_width)
            prefix.append(Segment(stamp + " ", styles["log-view--timestamp"]))
        if self.show_replica:
            label, label_width = self._replica_label(replica)
            padding = " " * (self._replica_width - label_width)
            prefix.append(Segment(label + padding, styles["log-view--replica"]))
            prefix.append(Segment(REPLICA_SEPARATOR, styles["log-view--timestamp"]))
        head = Strip(prefix)
        text = safe_log_text(_without_surrogates(raw if isinstance(raw, str) else str(raw)))
        text.expand_tabs(TAB_SIZE)
        if stderr:
            text.stylize_before(stderr_style)
        if self._search_re is not None:
            match_style = styles["log-view--match"]
            for match in self._search_re.finditer(text.plain):
                if match.end() > match.start():
                    text.stylize(match_style, match.start(), match.end())
        console = self.app.console
        body = Strip(text.render(console))
        rendered = (head, body)
        self._line_cache[key] = rendered
        return rendered

    def _styles(self) -> dict[str, Style]:
        if self._part_styles is None:
            self._part_styles = {
                name: self.get_component_rich_style(name, partial=True) for name in self.COMPONENT_CLASSES
            }
        return self._part_styles

    def _replica_label(self, replica: str) -> tuple[str, int]:
        label = self._replica_labels.get(replica)
        if label is None:
            # A tab would move the terminal cursor past the padding: one space instead.
            text = Text(safe_text(_without_surrogates(replica)).plain.replace("\t", " "))
            text.truncate(REPLICA_WIDTH_CAP, overflow="ellipsis")
            label = (text.plain, text.cell_len)
            self._replica_labels[replica] = label
        return label

    # --- geometry ---------------------------------------------------------------------

    def _prefix_width(self) -> int:
        width = 1
        if self.show_timestamps:
            width += self._timestamp_width + 1
        if self.show_replica:
            width += self._replica_width + len(REPLICA_SEPARATOR)
        return width

    def _text_width(self) -> int:
        """Cells left for text on a row, in wrap mode."""
        return max(1, self.scrollable_content_region.width - self._prefix_width())

    @staticmethod
    def _rows_for(text_cells: int, text_width: int) -> int:
        return max(1, -(-text_cells // text_width))

    def _row_total(self) -> int:
        if self._row_ends is None:
            return self.visible_count
        return self._row_ends[-1] - self._row_base if len(self._row_ends) else 0

    def _row_start(self, position: int) -> int:
        if self._row_ends is None:
            return position
        return (self._row_ends[position - 1] if position else self._row_base) - self._row_base

    def _locate_row(self, row: int) -> tuple[int, int] | None:
        """(line number, row within the line) drawn at virtual row ``row``."""
        if row < 0:
            return None
        if self._row_ends is None:
            if row >= self.visible_count:
                return None
            return self._number_at(row), 0
        position = self._row_ends.bisect_right(row + self._row_base)
        if position >= len(self._row_ends):
            return None
        return self._number_at(position), row - self._row_start(position)

    def _update_virtual_size(self) -> None:
        if self.wrap:
            width = self.scrollable_content_region.width
        else:
            width = self._prefix_width() + self._max_text_width
        self.virtual_size = Size(width, self._row_total())

    def _layout_changed(self) -> None:
        """The prefix changed: redo row heights (wrap) and the virtual size."""
        anchor = self._anchor()
        if self._row_ends is not None:
            self._rebuild_rows()
        self._restore(anchor)

    def _rebuild_rows(self) -> None:
        """O(n): row heights of every shown line at the current width."""
        width = self._text_width()
        column = self._ring.widths
        widths = column if self._shown is None else (cells for _, cells in self._iter_shown(column))
        # ceil(cells / width), at least one row; accumulate keeps the loop in C.
        self._row_ends = _Window(accumulate((cells + width - 1) // width or 1 for cells in widths))
        self._row_base = 0
        self._wrap_width = width

    # --- indexing ---------------------------------------------------------------------

    def _iter_shown(self, column: deque[T]) -> Iterator[tuple[int, T]]:
        """(line number, value in ``column``) of every shown line, oldest first, in O(held lines).

        ``column`` is one of the columns of `_ring`.
        """
        if self._shown is None:
            yield from enumerate(column, self._first)
            return
        wanted = iter(self._shown)
        target = next(wanted, None)
        for number, value in enumerate(column, self._first):
            if number == target:
                yield number, value
                target = next(wanted, None)

    def _number_at(self, position: int) -> int:
        return self._first + position if self._shown is None else self._shown[position]

    def _position_of(self, number: int) -> int:
        """Position among shown lines of the first shown line numbered ``number`` or later."""
        return number - self._first if self._shown is None else self._shown.bisect_left(number)

    def _is_shown(self, number: int) -> bool:
        if not self._first <= number < self._end:
            return False
        if self._shown is None:
            return True
        index = self._shown.bisect_left(number)
        return index < len(self._shown) and self._shown[index] == number

    def _number_at_row(self, row: int) -> int:
        located = self._locate_row(max(0, row))
        if located is not None:
            return located[0]
        return self._end if row > 0 else self._first

    def _note_replicas(self, lines: Sequence[LogLine]) -> bool:
        """Record replica label widths; True if the widest one grew."""
        widest = self._replica_width
        label = self._replica_label
        for replica in {line.replica for line in lines}:
            widest = max(widest, label(replica)[1])
        grew = widest > self._replica_width
        self._replica_width = widest
        return grew and self.show_replica

    def _index_new(self, plains: Sequence[str], widths: Sequence[int], start: int, *, rows: bool) -> None:
        """Fold appended lines into the filter, match and row indexes: O(len(entries))."""
        shown = self._shown
        matches = self._matches
        filter_re = self._filter_test
        search_re = self._search_test
        row_ends = self._row_ends if rows else None
        if row_ends is not None:
            width = self._text_width()
            total = row_ends[-1] if len(row_ends) else self._row_base
        widest = self._max_text_width
        if filter_re is None and search_re is None and row_ends is None:
            # The common case (no filter, no search, no wrap): only the width matters.
            self._max_text_width = max(widest, max(widths))
            return
        for number, plain, cells in zip(range(start, start + len(plains)), plains, widths):
            if filter_re is not None:
                if not filter_re(plain):
                    continue
                shown.append(number)
            if search_re is not None and search_re(plain):
                matches.append(number)
            if row_ends is not None:
                total += self._rows_for(cells, width)
                row_ends.append(total)
            if cells > widest:
                widest = cells
        self._max_text_width = widest

    def _forget_before(self, new_first: int) -> int:
        """Drop index entries for lines numbered below ``new_first``; returns rows removed."""
        if new_first <= self._first:
            return 0
        if self._shown is None:
            dropped = min(new_first, self._end) - self._first
        else:
            dropped = self._shown.bisect_left(new_first)
            self._shown.drop_front(dropped)
        removed_rows = dropped
        if self._row_ends is not None and dropped:
            new_base = self._row_ends[dropped - 1]
            removed_rows = new_base - self._row_base
            self._row_base = new_base
            self._row_ends.drop_front(dropped)
        self._matches.drop_front(self._matches.bisect_left(new_first))
        if self._cursor is not None and self._cursor < new_first:
            self._cursor = None
        self._first = new_first
        return removed_rows

    def _refilter(self) -> None:
        """O(n): recompute the shown lines after the filter changed."""
        anchor = self._anchor()
        self._filter_test = line_test(self.filter) if self.filter_only else None
        if self._filter_test is None:
            self._shown = None
        else:
            search = self._filter_test
            self._shown = _Window(
                number for number, plain in enumerate(self._ring.plains, self._first) if search(plain)
            )
        self._rebuild_matches()
        if self._row_ends is not None:
            self._rebuild_rows()
        self._restore(anchor)

    def _rebuild_matches(self) -> None:
        search = self._search_test
        if search is None:
            self._matches = _Window()
        else:
            self._matches = _Window(number for number, plain in self._iter_shown(self._ring.plains) if search(plain))

    # --- scrolling ----------------------------------------------------------------------

    def _anchor(self) -> tuple[bool, int]:
        """What to keep on screen across a relayout: (was at end, top line number)."""
        return self._following(), self._number_at_row(int(self.scroll_y))

    def _restore(self, anchor: tuple[bool, int]) -> None:
        at_end, top = anchor
        self._update_virtual_size()
        self.refresh()
        if at_end:
            self._scroll_to_end()
        elif self._cursor is not None and self._is_shown(self._cursor):
            self._scroll_to_line(self._cursor)
        else:
            self.scroll_to(y=self._row_start(min(self._position_of(top), self.visible_count)), animate=False)

    def _move_cursor(self, number: int) -> None:
        self._cursor = number
        self._scroll_to_line(number)
        self.refresh()

    def _scroll_to_line(self, number: int) -> None:
        """Bring a shown line into view, a third of the way down if it was off screen."""
        position = self._position_of(number)
        start = self._row_start(position)
        end = start + 1 if self._row_ends is None else self._row_ends[position] - self._row_base
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_y)
        if start < top or end > top + height:
            self.scroll_to(y=max(0, start - height // 3), animate=False)
