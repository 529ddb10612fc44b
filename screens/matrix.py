"""The environments matrix: every workload × every environment, with the version each runs.

A row per workload name, a column per environment in config order; cells whose
version differs from the row's first environment are drift and are highlighted.
``p`` on a cell promotes that version to the next environment to the right by
running the deploy runbook there (with its confirmation).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.model import Workload
from console.store import Delta
from widgets.health_badge import GLYPHS, health_colour
from widgets.safe_text import safe_content, safe_text


def matrix_rows(workloads: list[Workload], environments: list[str]) -> dict[str, dict[str, Workload]]:
    """Workload name → environment → workload (the first of that name there)."""
    rows: dict[str, dict[str, Workload]] = {}
    for workload in workloads:
        if workload.env in environments:
            rows.setdefault(workload.name, {}).setdefault(workload.env, workload)
    return dict(sorted(rows.items()))


def drift(cells: dict[str, Workload], environments: list[str]) -> set[str]:
    """Environments whose version differs from the first environment that runs the workload."""
    present = [env for env in environments if env in cells]
    if len(present) < 2:
        return set()
    reference = cells[present[0]].version
    return {env for env in present if cells[env].version != reference}


class MatrixScreen(Screen):
    """Versions across environments; drift highlighted; ``p`` promotes to the next."""

    DEFAULT_CSS = """
    MatrixScreen #matrix-note { height: auto; padding: 0 1; }
    MatrixScreen DataTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("p", "promote", "Promote →"),
        Binding("enter", "open", "Open", show=False),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.environments: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static(id="matrix-note")
        yield DataTable(id="matrix", cursor_type="cell", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        self.environments = self.app.store.environment_names()
        table = self.query_one(DataTable)
        table.border_title = "Versions by environment"
        table.add_column("Workload", key="workload", width=20)
        for env in self.environments:
            table.add_column(safe_text(env), key=env, width=16)
        self.full_sync()
        table.focus()

    def apply_delta(self, delta: Delta) -> None:
        if self.is_mounted and self.environments and (delta.workloads or delta.removed or delta.environments):
            self.full_sync()

    def full_sync(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_coordinate
        rows = matrix_rows(self.app.store.workloads(), self.environments)
        table.clear()
        drifting = 0
        styles = self.app.theme_variables
        for name, cells in rows.items():
            drifted = drift(cells, self.environments)
            drifting += bool(drifted)
            row = [safe_text(name, style="bold" if drifted else "")]
            for env in self.environments:
                workload = cells.get(env)
                if workload is None:
                    row.append(Text("—", style="dim"))
                    continue
                glyph = GLYPHS.get(workload.health, "?")
                colour = styles.get("warning", "yellow") if env in drifted else ""
                cell = Text(f"{glyph} ", style=health_colour(workload.health, styles))
                cell.append_text(safe_text(workload.version or "?", style=f"bold {colour}".strip() if colour else ""))
                if env in drifted:
                    cell.append(" ≠", style=colour)
                row.append(cell)
            table.add_row(*row, key=name)
        if rows:
            table.move_cursor(row=min(cursor.row, len(rows) - 1), column=max(1, cursor.column), animate=False)
        note = f"{len(rows)} workloads · {drifting} with drift (≠: differs from the first environment) · p promotes the cell's version to the next environment"
        self.query_one("#matrix-note", Static).update(safe_content(note))

    def _cell(self):
        table = self.query_one(DataTable)
        if not table.row_count:
            return None, None
        row_key, column_key = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value, column_key.value

    def action_promote(self) -> None:
        name, env = self._cell()
        if name is None or env not in self.environments:
            self.notify("choose a cell with a version: the version there is promoted to the next environment", markup=False)
            return
        index = self.environments.index(env)
        if index + 1 >= len(self.environments):
            self.notify(f"{env} is the last environment: nothing to promote to", markup=False)
            return
        source = next((w for w in self.app.store.workloads(env) if w.name == name), None)
        target_env = self.environments[index + 1]
        target = next((w for w in self.app.store.workloads(target_env) if w.name == name), None)
        if source is None or target is None:
            self.notify(f"{name} does not run in both {env} and {target_env}", markup=False)
            return
        if not source.image:
            self.notify(f"{name} in {env} has no image to promote", markup=False)
            return
        self.app.start_runbook("deploy", target.key, preset={"image": source.image})

    def action_open(self) -> None:
        name, env = self._cell()
        if name is None or env not in self.environments:
            return
        workload = next((w for w in self.app.store.workloads(env) if w.name == name), None)
        if workload is not None:
            self.app.show_workload(workload.key)

