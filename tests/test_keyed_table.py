"""Pilot tests of the Line-API keyed table on its own: keys, cursor by key, row-level repaint."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.geometry import Region

from widgets.keyed_table import KeyedTable
from widgets.safe_text import safe_text

HEIGHT = 12
"""Rows of the table widget: a header line and 11 body lines."""
BODY = HEIGHT - 1


def rows_for(keys, *, suffix: str = "") -> dict[str, tuple[Text, ...]]:
    return {key: (Text(key), Text(f"value of {key}{suffix}")) for key in keys}


class TableApp(App):
    CSS = f"KeyedTable {{ height: {HEIGHT}; }}"

    def __init__(self, keys) -> None:
        super().__init__()
        self.keys = list(keys)
        self.highlighted: list = []
        self.selected: list = []

    def compose(self) -> ComposeResult:
        yield KeyedTable()

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.add_column("Name")
        table.add_column("Value", width=20)
        table.sync(rows_for(self.keys), self.keys)
        table.focus()

    def on_keyed_table_highlighted(self, event: KeyedTable.Highlighted) -> None:
        self.highlighted.append(event.key)

    def on_keyed_table_selected(self, event: KeyedTable.Selected) -> None:
        self.selected.append(event.key)


def names(count: int) -> list[str]:
    return [f"row-{n:02d}" for n in range(count)]


def screen_text(table: KeyedTable) -> str:
    width, height = table.outer_size
    return "\n".join(strip.text for strip in table.render_lines(Region(0, 0, width, height)))


async def test_arrow_page_home_and_end_keys_move_the_cursor_and_scroll_it_into_view():
    app = TableApp(names(40))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)

        await pilot.press("down", "down")
        assert table.key_at_cursor() == "row-02"
        await pilot.press("up")
        assert table.key_at_cursor() == "row-01"
        await pilot.press("pagedown")
        assert table.key_at_cursor() == f"row-{1 + BODY:02d}"
        await pilot.press("pageup")
        assert table.key_at_cursor() == "row-01"
        await pilot.press("end")
        await pilot.pause()
        assert table.key_at_cursor() == "row-39"
        assert table.scroll_offset.y == 40 - BODY, "the last row is on screen"
        await pilot.press("home")
        await pilot.pause()
        assert table.key_at_cursor() == "row-00"
        assert table.scroll_offset.y == 0


async def test_cursor_stops_at_the_first_and_last_rows():
    app = TableApp(names(3))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)

        await pilot.press("up")
        assert table.key_at_cursor() == "row-00"
        await pilot.press("down", "down", "down", "down")
        assert table.key_at_cursor() == "row-02"


async def test_enter_chooses_the_row_under_the_cursor():
    app = TableApp(names(5))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("down", "enter")
        await pilot.pause()

        assert app.selected == ["row-01"]


async def test_moving_the_cursor_announces_each_new_row_once():
    app = TableApp(names(5))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "up")
        await pilot.pause()

        assert app.highlighted == ["row-00", "row-01", "row-02", "row-01"]


async def test_cursor_stays_on_its_key_when_rows_are_resorted():
    app = TableApp(names(5))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.press("down", "down")
        assert table.key_at_cursor() == "row-02"

        reversed_order = list(reversed(names(5)))
        table.sync(rows_for(reversed_order), reversed_order)
        await pilot.pause()

        assert table.keys() == reversed_order
        assert table.key_at_cursor() == "row-02"
        assert table.cursor_row == 2
        assert "row-04" in screen_text(table).splitlines()[1]


async def test_cursor_stays_on_its_key_when_a_row_above_is_removed():
    app = TableApp(names(5))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.press("down", "down", "down")

        remaining = [key for key in names(5) if key != "row-00"]
        table.sync(rows_for(remaining), remaining)
        await pilot.pause()

        assert table.key_at_cursor() == "row-03"
        assert table.cursor_row == 2


async def test_when_the_cursors_own_row_goes_the_cursor_keeps_its_place():
    app = TableApp(names(5))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.press("down", "down")

        remaining = [key for key in names(5) if key != "row-02"]
        table.sync(rows_for(remaining), remaining)
        await pilot.pause()

        assert table.key_at_cursor() == "row-03"
        assert app.highlighted[-1] == "row-03"


async def test_an_update_to_one_row_re_renders_only_that_row():
    app = TableApp(names(8))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()
        before = table.rows_rendered
        rows = rows_for(names(8))
        rows["row-05"] = (Text("row-05"), Text("changed"))

        changed = table.sync(rows, names(8))
        await pilot.pause()

        assert changed
        assert table.rows_rendered - before == 1
        assert "changed" in screen_text(table)


async def test_an_update_to_a_row_off_screen_renders_nothing():
    app = TableApp(names(40))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()
        before = table.rows_rendered
        rows = rows_for(names(40))
        rows["row-30"] = (Text("row-30"), Text("changed"))

        table.sync(rows, names(40))
        await pilot.pause()

        assert table.rows_rendered == before
        assert table.row_cells("row-30")[1].plain == "changed"


async def test_syncing_the_same_rows_changes_nothing():
    app = TableApp(names(5))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()
        before = table.rows_rendered

        changed = table.sync(rows_for(names(5)), names(5))
        await pilot.pause()

        assert not changed
        assert table.rows_rendered == before


async def test_a_style_only_change_counts_as_a_change():
    app = TableApp(names(3))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        rows = rows_for(names(3))
        rows["row-01"] = (Text("row-01", style="bold red"), rows["row-01"][1])

        assert table.sync(rows, names(3))
        await pilot.pause()
        assert table.row_cells("row-01")[0].style == "bold red"


async def test_untrusted_text_is_shown_literally():
    app = TableApp([])
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)

        table.sync({"evil": (safe_text("[bold]x[/]"), safe_text("[@click=app.quit]boom[/]"))})
        await pilot.pause()

        text = screen_text(table)
        assert "[bold]x[/]" in text
        assert "[@click=app.quit]bo…" in text, "cut to its column's width with an ellipsis"
        assert app.is_running


async def test_a_content_sized_column_follows_its_widest_cell():
    app = TableApp(names(3))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        assert table.columns[0].width == len("row-00")

        table.sync({**rows_for(names(3)), "a-much-longer-name": (Text("a-much-longer-name"), Text(""))})
        assert table.columns[0].width == len("a-much-longer-name")
        table.sync(rows_for(names(3)))
        assert table.columns[0].width == len("row-00")
        assert table.columns[1].width == 20, "a fixed width never changes"


async def test_clicking_a_row_moves_the_cursor_and_clicking_it_again_chooses_it():
    app = TableApp(names(5))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)

        await pilot.click(KeyedTable, offset=(2, 3))  # header on line 0, so row 2
        assert table.key_at_cursor() == "row-02"
        assert app.selected == []

        await pilot.click(KeyedTable, offset=(2, 3))
        await pilot.pause()
        assert app.selected == ["row-02"]


async def test_the_cursor_row_takes_its_colours_from_the_component_class():
    app = TableApp(names(3))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()

        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            expected = table.get_component_rich_style("keyed-table--cursor").bgcolor
            cursor_line = table.render_line(1)
            other_line = table.render_line(2)
            assert {segment.style.bgcolor for segment in cursor_line} == {expected}
            assert expected not in {segment.style.bgcolor for segment in other_line}


def scrollbar_column(table: KeyedTable) -> list:
    """Background colour of the last cell of each body line, as the table draws it."""
    width, height = table.outer_size
    strips = table.render_lines(Region(0, 0, width, height))
    return [strip.crop(width - 1, width).__iter__().__next__().style.bgcolor for strip in strips[1:]]


async def test_a_long_table_draws_a_scrollbar_whose_thumb_follows_the_view():
    app = TableApp(names(40))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()
        thumb = table.get_component_rich_style("keyed-table--scrollbar-thumb").bgcolor
        track = table.get_component_rich_style("keyed-table--scrollbar").bgcolor
        assert thumb != track

        at_top = scrollbar_column(table)
        await pilot.press("end")
        await pilot.pause()
        at_end = scrollbar_column(table)

        assert at_top[0] == thumb and at_top[-1] == track
        assert at_end[0] == track and at_end[-1] == thumb


async def test_a_short_table_has_no_scrollbar():
    app = TableApp(names(3))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()

        assert "row-00" in screen_text(table)
        assert table.get_component_rich_style("keyed-table--scrollbar-thumb").bgcolor not in scrollbar_column(table)


async def test_the_mouse_wheel_scrolls_without_moving_the_cursor():
    app = TableApp(names(40))
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()

        # Pilot has no public wheel helper (Textual 8.2); this is what click() uses.
        await pilot._post_mouse_events([events.MouseScrollDown], KeyedTable, offset=(5, 5))
        await pilot.pause()

        assert table.scroll_offset.y > 0
        assert table.key_at_cursor() == "row-00"
