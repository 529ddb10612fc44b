"""Delivery history of every environment (``H``): DORA's four keys, durations, satisfaction.

A table of scopes (all environments, each environment, each workload) with the
figures of docs/delivery-metrics.md, and sparklines (one point per day) of the
scope under the cursor: deployments, change failure rate, median deploy duration.
The app reads the journals in a thread and hands over a ``DeliveryReport``; this
screen only draws it. Enter on a workload opens its own history (``h``).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.model import Sample, WorkloadKey
from console.runbook.dora import DeliveryFigures, DeliveryReport, percent, short
from widgets.safe_text import safe_content, safe_text
from widgets.sparkline_panel import SparklinePanel

COLUMNS = (
    ("Scope", 17),
    ("Dep", 3),
    ("/wk", 4),
    ("Succ", 4),
    ("CFR", 4),
    ("Recov", 5),
    ("Deploy", 6),
    ("Rollb", 5),
    ("👍", 9),
)
"""Narrow enough for 80 columns; on a wider screen the scope column takes what is left."""


def figures_row(figures: DeliveryFigures) -> tuple[Text, ...]:
    """The table cells of one scope (workload names are untrusted: never markup)."""
    if figures.environment is None:
        scope = Text(figures.label, style="bold")
    elif figures.workload is None:
        scope = safe_text(figures.environment, style="bold")
    else:
        scope = safe_text(f"  {figures.workload}")
    satisfied = f"{percent(figures.satisfaction_rate)} ({figures.answered})" if figures.answered else "-"
    return (
        scope,
        Text(str(figures.deployments), justify="right"),
        Text(f"{figures.per_week:.1f}", justify="right"),
        Text(percent(figures.success_rate), justify="right"),
        Text(percent(figures.change_failure_rate), justify="right"),
        Text(short(figures.recovery_median), justify="right"),
        Text(short(figures.deploy_median), justify="right"),
        Text(short(figures.rollback_median), justify="right"),
        Text(satisfied, justify="right"),
    )


def scope_key(figures: DeliveryFigures) -> str:
    if figures.environment is None:
        return "*"
    return figures.environment if figures.workload is None else f"{figures.environment}\x00{figures.workload}"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _percent(value: float | None) -> str:
    return percent(value)


def _seconds(value: float | None) -> str:
    from datetime import timedelta

    return short(None if value is None else timedelta(seconds=value))


class DeliveryScreen(Screen):
    """Delivery figures per environment and workload, with daily sparklines."""

    CSS_PATH = Path(__file__).with_name("delivery.tcss")

    BINDINGS = [
        Binding("enter", "open", "Workload history"),
        Binding("g", "reload", "Reload"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report: DeliveryReport | None = None
        """The figures shown; None until the app's worker has read the journals."""
        self._scopes: dict[str, DeliveryFigures] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static(Text("delivery figures — reading the journals…", style="dim"), id="delivery-summary")
        with Horizontal(id="delivery-trends", classes="pane"):
            yield SparklinePanel("Deploys", _count, id="trend-deployments")
            yield SparklinePanel("Failures", _percent, id="trend-failures")
            yield SparklinePanel("Duration", _seconds, id="trend-durations")
        yield DataTable(id="delivery-table", cursor_type="row", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#delivery-table", DataTable)
        table.border_title = "Per environment and workload"
        spare = max(0, self.app.size.width - 80)
        for label, width in COLUMNS:
            table.add_column(label, width=width + min(spare, 30) if label == "Scope" else width)
        table.focus()
        self.action_reload()

    def on_resize(self) -> None:
        # Side by side, a panel's label and sparkline share one row below 120 columns.
        compact = self.size.width < 120
        for panel in self.query(SparklinePanel):
            panel.set_compact(compact)
        self.query_one("#delivery-trends").set_class(compact, "-compact")

    def action_reload(self) -> None:
        self.app.load_delivery(self.show)

    def show(self, report: DeliveryReport) -> None:
        """Draw a report (called by the app on the UI thread)."""
        self.report = report
        overall = report.overall
        summary = Text()
        summary.append("All environments: ", style="bold")
        summary.append(overall.line(), style="dim")
        if not overall.deployments and not overall.answered and not report.workloads:
            summary.append("\nno finished runs in the journals yet", style="bold")
        self.query_one("#delivery-summary", Static).update(summary)
        table = self.query_one("#delivery-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        self._scopes = {}
        ordered = [overall]
        for environment in report.environments:
            ordered.append(environment)
            ordered.extend(w for w in report.workloads if w.environment == environment.environment)
        for figures in ordered:
            key = scope_key(figures)
            self._scopes[key] = figures
            table.add_row(*figures_row(figures), key=key)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self._show_trends(self.selected() or overall)

    def selected(self) -> DeliveryFigures | None:
        """The scope under the table's cursor."""
        table = self.query_one("#delivery-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key((table.cursor_row, 0))
        return self._scopes.get(str(row_key.value))

    @on(DataTable.RowHighlighted, "#delivery-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        figures = self.selected()
        if figures is not None:
            self._show_trends(figures)

    def _show_trends(self, figures: DeliveryFigures) -> None:
        days = figures.days
        trends = self.query_one("#delivery-trends")
        trends.border_title = safe_content(f"{figures.label} — a point a day, oldest first")
        self.query_one("#trend-deployments", SparklinePanel).show(
            [Sample(i, d.deployments) for i, d in enumerate(days)], window=len(days)
        )
        self.query_one("#trend-failures", SparklinePanel).show(
            [Sample(i, d.failure_rate or 0.0) for i, d in enumerate(days)], window=len(days)
        )
        self.query_one("#trend-durations", SparklinePanel).show(
            [Sample(i, d.deploy_median.total_seconds() if d.deploy_median else 0.0) for i, d in enumerate(days)],
            window=len(days),
        )

    @on(DataTable.RowSelected, "#delivery-table")
    def _selected(self, _event: DataTable.RowSelected) -> None:
        # The table takes Enter for itself and says so with RowSelected.
        self.action_open()

    def action_open(self) -> None:
        figures = self.selected()
        if figures is None or figures.environment is None or figures.workload is None:
            return
        group, _, name = figures.workload.rpartition("/")
        self.app.show_history(WorkloadKey(figures.environment, group, name))
