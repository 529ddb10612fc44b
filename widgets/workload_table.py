"""The workload table: one row per workload of the chosen environment."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message

from console.durations import format_age
from console.model import Health, Workload, WorkloadKey
from widgets.health_badge import health_text
from widgets.keyed_table import KeyedTable
from widgets.safe_text import safe_text

COLUMNS = ("Health", "Workload", "Ready", "Version", "Rst", "Age", "CPU", "Mem", "Reason")
WIDTHS = {"Health": 13, "Ready": 5, "Version": 10, "Rst": 3, "Age": 4, "CPU": 5, "Mem": 5, "Reason": 60}
"""Fixed widths for every column whose cells change; Workload sizes to content, but a
row's label never changes, so no update re-measures it."""
AGE = COLUMNS.index("Age")


def format_cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%" if value >= 10 else f"{value:.1f}%"


def format_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.0f}G"


ALERT_MARK = "!"
"""After a workload's name: a Prometheus alert on it (bold: firing; dim: pending only)."""


@dataclass(frozen=True, slots=True)
class WorkloadRow:
    workload: Workload
    cpu: float | None = None
    memory: float | None = None
    alert: str | None = None
    """``firing`` or ``pending`` when a Prometheus alert is about this workload."""
    run_progress: str = ""
    """"▶ 3/7 ~40s" while a run of this console works on the workload: it takes the
    health word's place (the glyph stays), so it shows at 80 columns."""
    run_state: str = ""
    """"maintenance in progress" (or paused) at the same time: it leads the Reason cell."""


def health_cell(health: Health, run_progress: str, variables: Mapping[str, str]) -> Text:
    """The Health cell: glyph and word, or the glyph and the run's progress while one goes on."""
    if not run_progress:
        return health_text(health, variables)
    # The glyph keeps the health's colour; the run's words are not a health and keep the text's.
    return Text.assemble(health_text(health, variables, word=False), " ", (run_progress, "bold"))


def reason_text(reason: str, bad: bool, run_state: str) -> Text:
    """The Reason cell: a run going on first (it explains the rest), then the backend's words."""
    text = safe_text(reason, style="" if bad else "dim")
    if not run_state:
        return text
    lead = Text(run_state, style="bold")
    if reason:
        lead.append(" · ", style="dim")
        lead.append_text(text)
    return lead


def workload_label(label: str, bad: bool, alert: str | None, variables: Mapping[str, str]) -> Text:
    """The workload cell: its name, and the alert mark when an alert is about it."""
    text = safe_text(label, style="bold" if bad else "")
    if alert is not None:
        firing = alert == "firing"
        text.append(" ")
        text.append(ALERT_MARK, style=f"bold {variables.get('health-bad', '')}" if firing else "dim")
    return text


class WorkloadTable(KeyedTable):
    """Workloads by key, updated row by row; ``/`` filters by name."""

    DEFAULT_CSS = """
    WorkloadTable { height: 1fr; overflow-x: hidden; }
    """

    class Chosen(Message):
        """The operator pressed Enter on a workload (or clicked the one under the cursor)."""

        def __init__(self, key: WorkloadKey) -> None:
            super().__init__()
            self.key = key

    class Focused(Message):
        """The cursor moved to a workload."""

        def __init__(self, key: WorkloadKey | None) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filter_text = ""
        """Case-insensitive substring the workload label must contain."""
        self._rows: dict[WorkloadKey, WorkloadRow] = {}
        self._cell_cache: dict[WorkloadKey, tuple[Text, ...]] = {}
        self._cell_sources: dict[WorkloadKey, tuple] = {}
        """What each row's cells were made from, so a changed row keeps its unchanged cells."""
        self._stale: set[WorkloadKey] = set()
        """Rows whose workload changed since their cells were made."""

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.add_column(label, key=label.lower(), width=WIDTHS.get(label))

    def show(self, rows: Sequence[WorkloadRow]) -> None:
        """Show exactly these workloads (already sorted), after the filter."""
        self._rows = {row.workload.key: row for row in rows}
        self._render_rows()

    def update_rows(self, rows: Sequence[WorkloadRow], removed: Sequence[WorkloadKey] = ()) -> None:
        """Change some rows; the others keep their rendered cells."""
        for key in removed:
            self._rows.pop(key, None)
            self._cell_cache.pop(key, None)
            self._cell_sources.pop(key, None)
            self._stale.discard(key)
        for row in rows:
            self._rows[row.workload.key] = row
            self._stale.add(row.workload.key)
        self._render_rows(keep_cache=True)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._render_rows(keep_cache=True)

    def refresh_ages(self) -> None:
        """Move the Age column on; only cells whose text changed are touched."""
        now = getattr(self.app, "clock", time.time)()
        for key, cells in self._cell_cache.items():
            created = self._rows[key].workload.created_at
            age = format_age(now - created.timestamp()) if created else "-"
            if cells[AGE].plain != age:
                self._cell_cache[key] = cells[:AGE] + (Text(age),) + cells[AGE + 1 :]
                sources = self._cell_sources[key]
                self._cell_sources[key] = sources[:AGE] + (age,) + sources[AGE + 1 :]
        self._render_rows(keep_cache=True)

    def refresh_styles(self) -> None:
        """Re-colour after a theme change."""
        self._render_rows()

    def visible_keys(self) -> list[WorkloadKey]:
        return [k for k in self._sorted_keys() if self._matches(k)]

    def _matches(self, key: WorkloadKey) -> bool:
        return not self.filter_text or self.filter_text.lower() in key.label.lower()

    def _sorted_keys(self) -> list[WorkloadKey]:
        return sorted(self._rows, key=lambda k: (k.group, k.name))

    def _render_rows(self, *, keep_cache: bool = False) -> None:
        if not keep_cache:
            self._cell_cache.clear()
            self._cell_sources.clear()
        variables = self.app.theme_variables
        now = getattr(self.app, "clock", time.time)()
        order = self.visible_keys()
        cells = {}
        stale = self._stale
        for key in order:
            cached = self._cell_cache.get(key)
            if cached is None or key in stale:
                stale.discard(key)
                cached = self._cell_cache[key] = self._cells_for(self._rows[key], variables, now)
            cells[key] = cached
        self.sync(cells, order)

    def _cells_for(self, row: WorkloadRow, variables: Mapping[str, str], now: float) -> tuple[Text, ...]:
        workload = row.workload
        age = format_age(now - workload.created_at.timestamp()) if workload.created_at else "-"
        bad = workload.health in (Health.DEGRADED, Health.FAILED)
        short = workload.ready < workload.desired
        sources = (
            (workload.health, row.run_progress),
            (workload.key.label, bad, row.alert),
            (workload.ready, workload.desired, short),
            workload.version,
            workload.restarts,
            age,
            format_cpu(row.cpu),
            format_bytes(row.memory),
            (workload.reason, bad, row.run_state),
        )
        key = workload.key
        before = self._cell_sources.get(key)
        old = self._cell_cache.get(key)
        self._cell_sources[key] = sources
        makers = (
            lambda: health_cell(workload.health, row.run_progress, variables),
            lambda: workload_label(workload.key.label, bad, row.alert, variables),
            lambda: Text(f"{workload.ready}/{workload.desired}", style="bold " + variables.get("health-warn", "") if short else ""),
            lambda: safe_text(workload.version),
            lambda: Text(str(workload.restarts), style="bold" if workload.restarts else ""),
            lambda: Text(age),
            lambda: Text(sources[6]),
            lambda: Text(sources[7]),
            lambda: reason_text(workload.reason, bad, row.run_state),
        )
        if before is None or old is None:
            return tuple(make() for make in makers)
        # Unchanged cells stay the same objects: the table compares them by identity
        # and reuses their rendered segments.
        return tuple(
            old[index] if before[index] == source else makers[index]() for index, source in enumerate(sources)
        )

    def _highlighted_message(self, key: WorkloadKey) -> Message:
        return self.Focused(key)

    def _selected_message(self, key: WorkloadKey) -> Message:
        return self.Chosen(key)
