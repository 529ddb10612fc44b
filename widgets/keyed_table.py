"""A DataTable that is updated by key, never cleared and refilled (STYLE §5)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

Cells = tuple[Text, ...]


class KeyedTable(DataTable):
    """Rows identified by a hashable key; ``sync`` applies only the differences.

    Row keys in Textual are strings; ``_keys`` maps them back to our keys.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        super().__init__(**kwargs)
        self._cells: dict[str, Cells] = {}
        self._keys: dict[str, Hashable] = {}
        self._order: list[str] = []

    @staticmethod
    def row_id(key: Hashable) -> str:
        return repr(key)

    def key_at_cursor(self) -> Hashable | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key((self.cursor_row, 0))
        except Exception:  # noqa: BLE001 - an empty or shrinking table has no cell there
            return None
        return self._keys.get(row_key.value)

    def key_for(self, row_key_value: str | None) -> Hashable | None:
        return self._keys.get(row_key_value) if row_key_value is not None else None

    def sync(self, rows: Mapping[Hashable, Sequence[Text]], order: Sequence[Hashable] | None = None) -> bool:
        """Make the table show exactly ``rows`` (in ``order`` when given); returns True if anything changed.

        Only cells whose text or style changed are updated; rows are sorted only
        when the order actually differs, and the cursor stays on its row's key.
        """
        wanted = {self.row_id(key): (key, tuple(cells)) for key, cells in rows.items()}
        changed = False
        cursor_key = self.key_at_cursor()
        with self.app.batch_update():
            for row_id in [rid for rid in self._cells if rid not in wanted]:
                try:
                    self.remove_row(row_id)
                except RowDoesNotExist:
                    pass
                del self._cells[row_id]
                self._keys.pop(row_id, None)
                changed = True
            columns = list(self.columns)
            for row_id, (key, cells) in wanted.items():
                old = self._cells.get(row_id)
                if old is None:
                    self.add_row(*cells, key=row_id)
                    self._cells[row_id] = cells
                    self._keys[row_id] = key
                    changed = True
                elif old != cells:
                    for index, (before, after) in enumerate(zip(old, cells, strict=False)):
                        if before != after:
                            column = self.columns[columns[index]]
                            # Re-measuring a column walks all its cells: only for columns
                            # that size to content.
                            self.update_cell(row_id, columns[index], after, update_width=column.auto_width)
                    self._cells[row_id] = cells
                    changed = True
            desired = [self.row_id(k) for k in order] if order is not None else None
            if desired is not None:
                desired = [rid for rid in desired if rid in self._cells]
                current = [row.key.value for row in self.ordered_rows]
                if current != desired:
                    # DataTable.sort hands the key function the row's cell values, not its
                    # key; our first cell objects are unique per row, so identity maps back.
                    position = {id(self._cells[rid][0]): index for index, rid in enumerate(desired)}
                    self.sort(key=lambda values: position.get(id(values[0]), len(position)))
                    changed = True
                self._order = desired
            else:
                self._order = list(self._cells)
        if changed and cursor_key is not None:
            self.move_cursor_to_key(cursor_key)
        return changed

    def move_cursor_to_key(self, key: Hashable) -> bool:
        row_id = self.row_id(key)
        if row_id not in self._cells:
            return False
        try:
            index = self.get_row_index(row_id)
        except RowDoesNotExist:
            return False
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False, scroll=True)
        return True
