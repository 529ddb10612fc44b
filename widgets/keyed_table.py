"""A table of rows identified by key, drawn line by line (Textual's Line API).

Textual's `DataTable` re-renders every visible cell whenever any cell changes (all its
render caches are keyed on one update counter); at 200 pod changes a second that was
most of a core. This table keeps one rendered `Strip` per row, keyed by the row's key
and version, the table width, the scroll offset and whether the cursor is on it, so:

- a change to one row re-renders that row and repaints that line only;
- a change to a row that is scrolled out of view costs no render at all;
- moving the cursor re-renders the two rows it leaves and reaches;
- a scroll step repaints the lines but re-renders only the row or two the scrollbar's
  thumb (drawn in the last column, not by Textual's scrollbar widget) moves past.

Rows are given as tuples of Rich `Text` cells (never strings: untrusted text is never
markup, see `widgets.safe_text`). Colours of the header and the cursor come from the
component classes below, i.e. from the app's theme.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cells = tuple[Text, ...]

CELL_PADDING = 1
"""Blank columns on each side of every cell."""
HEADER_HEIGHT = 1


@dataclass(slots=True)
class Column:
    """One column: a label and either a fixed width or one that follows its widest cell."""

    key: str
    label: Text
    fixed_width: int | None = None
    """Width of the cells, without padding; ``None`` sizes the column to its content."""
    width: int = 0
    """Current width of the cells, without padding."""
    justify: str = "left"

    @property
    def render_width(self) -> int:
        return self.width + 2 * CELL_PADDING


def _same_cell(before: Text, after: Text) -> bool:
    # Text.__eq__ ignores the Text's own style: a health colour that changed with the
    # theme must still count as a change.
    return before is after or (before.plain == after.plain and before.style == after.style and before.spans == after.spans)


def _same_cells(before: Cells, after: Cells) -> bool:
    return before is after or (len(before) == len(after) and all(map(_same_cell, before, after)))


class KeyedTable(ScrollView, can_focus=True):
    """Rows identified by a hashable key; ``sync`` applies only the differences.

    The cursor is a row cursor that stays on its row's key when rows are re-sorted,
    added or removed (it keeps its position when its own row goes).
    """

    ALLOW_SELECT = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "cursor_first", "First row", show=False),
        Binding("end,ctrl+end", "cursor_last", "Last row", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--cursor",
        "keyed-table--scrollbar",
        "keyed-table--scrollbar-thumb",
    }
    """
    | Class | Description |
    | :- | :- |
    | `keyed-table--header` | The header line. |
    | `keyed-table--cursor` | The row under the cursor. |
    | `keyed-table--scrollbar` | The track of the vertical scrollbar. |
    | `keyed-table--scrollbar-thumb` | The thumb of the vertical scrollbar. |
    """

    # The look of Textual's DataTable (which this table replaced), so the themes and
    # the snapshots keep their colours.
    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        /* The table draws its own one-column scrollbar in its last column: Textual's
           scrollbar widget re-renders whole on every scroll step and every layout. */
        overflow-y: hidden;

        &:focus {
            background-tint: $foreground 5%;
            & > .keyed-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .keyed-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .keyed-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .keyed-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .keyed-table--scrollbar {
            background: $scrollbar-background;
        }
        & > .keyed-table--scrollbar-thumb {
            background: $scrollbar;
        }
    }
    """

    class Highlighted(Message):
        """The cursor is on a different row now (by key, not by position)."""

        def __init__(self, table: KeyedTable, key: Hashable) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    class Selected(Message):
        """The operator pressed Enter on a row, or clicked the row under the cursor."""

        def __init__(self, table: KeyedTable, key: Hashable) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._columns: list[Column] = []
        self._row_keys: list[Hashable] = []
        """Row keys in display order."""
        self._row_index: dict[Hashable, int] = {}
        self._row_cells: dict[Hashable, Cells] = {}
        self._row_version: dict[Hashable, int] = {}
        """Bumped whenever a row's cells change; part of its strip's cache stamp."""
        self._row_strips: dict[Hashable, tuple[tuple, Strip]] = {}
        """Row key → (stamp, rendered line); the stamp says what the line was drawn for."""
        self._header_strip: tuple[tuple, Strip] | None = None
        self._cursor = 0
        self._highlighted: Hashable | None = None
        """The key the last ``Highlighted`` message named."""
        self._line_styles: tuple[Style, ...] | None = None
        """(base, header, cursor, scrollbar track, thumb) styles of the render pass in
        progress; a change clears the strips."""
        self._styles_stale = True
        """Styles changed since ``_line_styles`` was taken (see ``notify_style_update``)."""
        self._styles_memo: dict[tuple, Style] = {}
        """(line style, column, cell style, post style) → the style a segment is drawn in."""
        self._cell_memo: dict[tuple, list[Segment]] = {}
        """(column, width, text, text style, line style, post style) → the cell's segments."""
        self._line_geometry: tuple[int, int, int, tuple[int, int] | None] | None = None
        """What ``_geometry`` said for the render pass in progress."""
        self.rows_rendered = 0
        """How many row lines have been rendered so far (cache misses): for tests and benchmarks."""

    # -- columns and rows --------------------------------------------------------------

    def add_column(self, label: str | Text, *, key: str | None = None, width: int | None = None, justify: str = "left") -> None:
        """Add a column at the right; ``width=None`` makes it as wide as its widest cell or label."""
        text = label if isinstance(label, Text) else Text(label)
        column = Column(key or text.plain.lower(), text, width, justify=justify)
        column.width = width if width is not None else text.cell_len
        self._columns.append(column)
        if self._row_cells:
            self._measure(self._row_cells.values(), shrink=True)
        self._layout_changed()

    @property
    def columns(self) -> list[Column]:
        return list(self._columns)

    @property
    def row_count(self) -> int:
        return len(self._row_keys)

    @property
    def cursor_row(self) -> int:
        """Position of the cursor among the rows (0 when there are none)."""
        return self._cursor

    def keys(self) -> list[Hashable]:
        """Row keys in display order."""
        return list(self._row_keys)

    def row_cells(self, key: Hashable) -> Cells:
        """The cells the row shows; ``KeyError`` if there is no such row."""
        return self._row_cells[key]

    def key_at_cursor(self) -> Hashable | None:
        return self._row_keys[self._cursor] if self._row_keys else None

    def keys_in_view(self) -> list[Hashable]:
        """Keys of the rows on screen now, top to bottom."""
        top = self.scroll_offset.y
        return self._row_keys[top : top + self._body_height()]

    def sync(self, rows: Mapping[Hashable, Sequence[Text]], order: Sequence[Hashable] | None = None) -> bool:
        """Make the table show exactly ``rows`` (in ``order`` when given); returns True if anything changed.

        Rows whose cells are unchanged keep their rendered lines; a changed row is
        repainted only where it is on screen. Without ``order`` rows keep their places
        and new ones go to the end. The cursor stays on its row's key.
        """
        cursor_key = self.key_at_cursor()
        cells_now = self._row_cells
        removed = [key for key in cells_now if key not in rows]
        for key in removed:
            del cells_now[key]
            self._row_version.pop(key, None)
            self._row_strips.pop(key, None)
        measure: list[Cells] = []
        added = False
        changed_rows: list[Hashable] = []
        for key, cells in rows.items():
            cells = tuple(cells)
            old = cells_now.get(key)
            if old is None:
                added = True
                cells_now[key] = cells
                self._row_version[key] = 0
                measure.append(cells)
            elif not _same_cells(old, cells):
                cells_now[key] = cells
                self._row_version[key] += 1
                changed_rows.append(key)
                measure.append(cells)
        if order is not None:
            wanted = [key for key in order if key in cells_now]
            if len(wanted) < len(cells_now):
                listed = set(wanted)
                wanted += [key for key in rows if key not in listed]
        elif removed or added:
            wanted = [key for key in self._row_keys if key in cells_now]
            wanted += [key for key in rows if key not in self._row_index]
        else:
            wanted = self._row_keys
        reordered = wanted != self._row_keys
        if reordered:
            self._row_keys = list(wanted)
            self._row_index = {key: index for index, key in enumerate(self._row_keys)}
        widths_changed = self._measure(measure, shrink=bool(removed or changed_rows))
        if not (removed or added or changed_rows or reordered or widths_changed):
            return False
        if cursor_key is not None and cursor_key in self._row_index:
            self._cursor = self._row_index[cursor_key]
        else:
            self._cursor = max(0, min(self._cursor, len(self._row_keys) - 1))
        if reordered or widths_changed:
            self._layout_changed()
            if added or removed:
                # The table's own height may follow its rows: scroll again once laid out.
                self.call_after_refresh(self._scroll_cursor_into_view)
        else:
            self._refresh_rows(self._row_index[key] for key in changed_rows)
        self._scroll_cursor_into_view()
        self._announce_cursor()
        return True

    def move_cursor_to_key(self, key: Hashable) -> bool:
        """Put the cursor on ``key``'s row and scroll it into view; False if there is no such row."""
        index = self._row_index.get(key)
        if index is None:
            return False
        self._move_cursor(index)
        return True

    # -- measuring ---------------------------------------------------------------------

    def _measure(self, rows: Iterable[Cells], *, shrink: bool) -> bool:
        """Widen content-sized columns for ``rows``; with ``shrink``, re-measure them from every row."""
        changed = False
        for number, column in enumerate(self._columns):
            if column.fixed_width is not None:
                continue
            if shrink:
                width = max((cells[number].cell_len for cells in self._row_cells.values() if number < len(cells)), default=0)
            else:
                width = max((cells[number].cell_len for cells in rows if number < len(cells)), default=0)
                width = max(width, column.width)
            width = max(width, column.label.cell_len)
            if width != column.width:
                column.width = width
                changed = True
        return changed

    # -- cursor and scrolling ------------------------------------------------------------

    @property
    def allow_vertical_scroll(self) -> bool:
        """Wheel scrolling stays on although ``overflow-y`` hides Textual's scrollbar."""
        return not self._check_disabled() and self.max_scroll_y > 0

    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_HEIGHT)

    def _move_cursor(self, index: int) -> None:
        index = max(0, min(index, len(self._row_keys) - 1))
        if index != self._cursor:
            self._refresh_rows((self._cursor, index))
            self._cursor = index
        self._scroll_cursor_into_view()
        self._announce_cursor()

    def _scroll_cursor_into_view(self) -> None:
        if not self._row_keys:
            return
        top = self.scroll_offset.y
        body = self._body_height()
        if self._cursor < top:
            target = self._cursor
        elif self._cursor >= top + body:
            target = self._cursor - body + 1
        else:
            return
        self.scroll_to(y=target, animate=False, force=True)

    def _announce_cursor(self) -> None:
        key = self.key_at_cursor()
        if key is not None and key != self._highlighted:
            self._highlighted = key
            self.post_message(self._highlighted_message(key))
        elif key is None:
            self._highlighted = None

    def _highlighted_message(self, key: Hashable) -> Message:
        """The message that says the cursor reached ``key``; subclasses name it in their own words."""
        return self.Highlighted(self, key)

    def _selected_message(self, key: Hashable) -> Message:
        """The message that says the operator chose ``key``; subclasses name it in their own words."""
        return self.Selected(self, key)

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        step = self._body_height()
        self.scroll_to(y=max(0, self.scroll_offset.y - step), animate=False, force=True)
        self._move_cursor(self._cursor - step)

    def action_page_down(self) -> None:
        step = self._body_height()
        self.scroll_to(y=self.scroll_offset.y + step, animate=False, force=True)
        self._move_cursor(self._cursor + step)

    def action_cursor_first(self) -> None:
        self._move_cursor(0)

    def action_cursor_last(self) -> None:
        self._move_cursor(len(self._row_keys) - 1)

    def action_select_cursor(self) -> None:
        key = self.key_at_cursor()
        if key is not None:
            self.post_message(self._selected_message(key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_HEIGHT:
            return
        bar = self._geometry()[3]
        if bar is not None and offset.x >= self.size.width - 1:
            # The scrollbar's track: a page towards the click, as scrollbars do.
            event.stop()
            line = offset.y - HEADER_HEIGHT
            if not bar[0] <= line < bar[1]:
                step = self._body_height() if line >= bar[1] else -self._body_height()
                self.scroll_to(y=self.scroll_offset.y + step, animate=False, force=True)
            return
        index = self.scroll_offset.y + offset.y - HEADER_HEIGHT
        if not 0 <= index < len(self._row_keys):
            return
        event.stop()
        if index == self._cursor:
            self.action_select_cursor()
        else:
            self._move_cursor(index)

    # -- painting ----------------------------------------------------------------------

    def _layout_changed(self) -> None:
        """Rows were added, removed or re-ordered, or a column changed width: repaint the content."""
        self._header_strip = None
        width = sum(column.render_width for column in self._columns)
        self.virtual_size = Size(width, len(self._row_keys) + HEADER_HEIGHT)
        if self.is_mounted:
            self.refresh(self.size.region)

    def _refresh_rows(self, indexes: Iterable[int]) -> None:
        """Repaint the rows at ``indexes`` that are on screen (an off-screen row costs nothing).

        One ``refresh`` for all of them, with adjacent rows merged: each call to it
        clears several of the widget's caches.
        """
        if not self.is_mounted:
            return
        top = self.scroll_offset.y - HEADER_HEIGHT
        width, height = self.size
        lines = sorted({index - top for index in indexes if HEADER_HEIGHT <= index - top < height})
        if not lines:
            return
        width = max(width, self.virtual_size.width)
        regions = []
        start = previous = lines[0]
        for y in lines[1:]:
            if y != previous + 1:
                regions.append(Region(0, start, width, previous - start + 1))
                start = y
            previous = y
        regions.append(Region(0, start, width, previous - start + 1))
        self.refresh(*regions)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_stale = True

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._styles_stale or self._line_styles is None:
            # Looked up only after a style update (focus, theme, CSS): each lookup
            # resolves the component's CSS, which a pass per key cannot afford.
            self._styles_stale = False
            styles = (
                self.rich_style,
                self.get_component_rich_style("keyed-table--header"),
                self.get_component_rich_style("keyed-table--cursor"),
                self.get_component_rich_style("keyed-table--scrollbar"),
                self.get_component_rich_style("keyed-table--scrollbar-thumb"),
            )
            if styles != self._line_styles:
                # Every cached line has the old colours.
                self._line_styles = styles
                self._row_strips.clear()
                self._header_strip = None
                self._styles_memo.clear()
            self._cell_memo.clear()
        self._line_geometry = self._geometry()
        return super().render_lines(crop)

    def _geometry(self) -> tuple[int, int, int, tuple[int, int] | None]:
        """(scroll x, scroll y, width for the cells, the scrollbar thumb's body lines or None).

        Looked up once per render pass: each of these walks the DOM, and a pass renders
        many lines.
        """
        scroll_x, scroll_y = self.scroll_offset
        width, height = self.size
        body = height - HEADER_HEIGHT
        rows = len(self._row_keys)
        if body <= 0 or rows <= body or width < 2:
            return scroll_x, scroll_y, width, None
        size = max(1, round(body * body / rows))
        start = round(scroll_y * (body - size) / max(1, rows - body))
        return scroll_x, scroll_y, width - 1, (start, start + size)

    def render_line(self, y: int) -> Strip:
        if self._line_styles is None:
            plain = Style()
            self._line_styles = (self.rich_style, plain, plain, plain, plain)
        if self._line_geometry is None:
            self._line_geometry = self._geometry()
        base, header, cursor, track, thumb = self._line_styles
        scroll_x, scroll_y, width, bar = self._line_geometry
        if y < HEADER_HEIGHT:
            stamp = (width, scroll_x, bar is not None)
            cached = self._header_strip
            if cached is None or cached[0] != stamp:
                cells = tuple(column.label for column in self._columns)
                edge = None if bar is None else header
                cached = self._header_strip = (stamp, self._render_cells(cells, header, None, scroll_x, width, edge))
            return cached[1]
        line = y - HEADER_HEIGHT
        edge = None if bar is None else thumb if bar[0] <= line < bar[1] else track
        index = scroll_y + line
        if index >= len(self._row_keys):
            blank = Strip.blank(width, base)
            return blank if edge is None else Strip.join((blank, Strip([Segment(" ", edge)], 1)))
        key = self._row_keys[index]
        on_cursor = index == self._cursor
        # The scrollbar's cell is part of the line: a scroll step moves the thumb past
        # a row or two, so the other rows' lines are reused as they are.
        stamp = (self._row_version[key], on_cursor, width, scroll_x, edge)
        cached = self._row_strips.get(key)
        if cached is None or cached[0] != stamp:
            self.rows_rendered += 1
            if on_cursor:
                # As DataTable did: the cursor's colours win over the cells' own.
                post = Style.from_color(cursor.color, cursor.bgcolor)
                strip = self._render_cells(self._row_cells[key], base + cursor, post, scroll_x, width, edge)
            else:
                strip = self._render_cells(self._row_cells[key], base, None, scroll_x, width, edge)
            cached = self._row_strips[key] = (stamp, strip)
        return cached[1]

    def _style(self, line: Style, number: int, own: str | Style | None, post: Style | None) -> Style:
        """The final style of a cell's text (``own``) or padding (``own=None``) in column ``number``."""
        memo_key = (line, number, own, post)
        style = self._styles_memo.get(memo_key)
        if style is None:
            # A column's own meta keeps its cells apart: adjacent cells with equal styles
            # would otherwise merge into one run, which exported screenshots mis-space.
            style = line + Style.from_meta({"column": number})
            if own:
                style += self.app.console.get_style(own) if isinstance(own, str) else own
            if post is not None:
                style += post
            if len(self._styles_memo) > 4096:
                self._styles_memo.clear()
            self._styles_memo[memo_key] = style
        return style

    def _render_cells(
        self, cells: Cells, line: Style, post: Style | None, scroll_x: int, width: int, edge: Style | None = None
    ) -> Strip:
        """One line of ``width`` cells from ``scroll_x`` on: each cell padded, or cut with an
        ellipsis, to its column; the rest of the width in the line's style; then, with an
        ``edge`` style, one more cell: the scrollbar's."""
        right = scroll_x + width
        segments: list[Segment] = []
        memo = self._cell_memo
        x = 0
        for number, column in enumerate(self._columns):
            if x >= right:
                break
            end = x + column.render_width
            if end <= scroll_x:
                x = end
                continue
            text = cells[number] if number < len(cells) else Text()
            if text.spans:
                cell = self._render_cell(text, number, column, line, post)
            else:
                # Most cells repeat across rows and renders ("3h", "-", "● healthy"):
                # one dictionary look-up instead of measuring and styling them again.
                memo_key = (number, column.width, text.plain, text.style, line, post)
                cell = memo.get(memo_key)
                if cell is None:
                    if len(memo) > 8192:
                        memo.clear()
                    cell = memo[memo_key] = self._render_cell(text, number, column, line, post)
            if x < scroll_x or end > right:
                # The cell at an edge of the view: keep the part inside it.
                start, stop = max(0, scroll_x - x), min(end, right) - x
                cell = list(Segment.divide(cell, [start, stop, column.render_width]))[1]
            segments += cell
            x = end
        if x < right:
            segments.append(Segment(" " * (right - max(x, scroll_x)), line + post if post else line))
        if edge is None:
            return Strip(segments, width)
        segments.append(Segment(" ", edge))
        return Strip(segments, width + 1)

    def _render_cell(self, text: Text, number: int, column: Column, line: Style, post: Style | None) -> list[Segment]:
        """One cell, padded or cut with an ellipsis to its column, in its final styles."""
        pad = " " * CELL_PADDING
        plain = text.plain
        if "\t" in plain or "\n" in plain:
            # One cell, one line: a tab would move the terminal's cursor.
            plain = plain.replace("\t", " ").replace("\n", "⏎")
            text = Text(plain, style=text.style, spans=text.spans)
        length = text.cell_len
        if length > column.width:
            text = text.copy()
            text.truncate(column.width, overflow="ellipsis")
            plain = text.plain
            length = text.cell_len
        spare = " " * (column.width - length)
        before, after = (pad + spare, pad) if column.justify == "right" else (pad, spare + pad)
        padding = self._style(line, number, None, post)
        if text.spans:
            cell = [Segment(before, padding)]
            cell += [Segment(part.text, self._style(line, number, part.style, post)) for part in text.render(self.app.console)]
            cell.append(Segment(after, padding))
            return cell
        if text.style:
            return [Segment(before, padding), Segment(plain, self._style(line, number, text.style, post)), Segment(after, padding)]
        return [Segment(before + plain + after, padding)]
