"""Deployment history of one workload: revisions, who deployed what and when, outcomes.

Revisions come from the backend (ReplicaSets, or Docker's revision labels), runs
from the journals; the app loads both in a thread and hands them over. ``r`` on a
revision rolls back to it through the rollback runbook (with its confirmation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.model import Revision, WorkloadKey
from console.runbook.dora import delivery_report, sparkline
from widgets.availability_line import AvailabilityLine
from widgets.safe_text import safe_content, safe_text


@dataclass(frozen=True)
class HistoryData:
    key: WorkloadKey
    revisions: list[Revision] = field(default_factory=list)
    runs: list = field(default_factory=list)
    """``journal.RunSummary`` of this workload, newest first."""
    error: str | None = None
    availability: object = None
    """``console.availability.Figures`` of the workload, when the console records them."""


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def _took(run) -> str:
    return f"{int(run.duration.total_seconds())}s" if run.duration else "-"


def _deployer(revision: Revision, runs: list):
    """The newest journaled run that put this revision's version in place."""
    version = revision.image.rsplit(":", 1)[-1] if ":" in revision.image.rsplit("/", 1)[-1] else ""
    for run in runs:
        if run.to_version and run.to_version == version:
            return run
    return None


class HistoryScreen(Screen):
    """Revisions (newest first) and the runbook runs of one workload."""

    DEFAULT_CSS = """
    HistoryScreen #history-dora { height: auto; padding: 0 1; }
    HistoryScreen #revisions { height: 1fr; overflow-x: hidden; }
    HistoryScreen #runs { height: 1fr; overflow-x: hidden; }
    """

    BINDINGS = [
        Binding("r", "rollback_to", "Roll back to this"),
        Binding("g", "reload", "Reload"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, key: WorkloadKey) -> None:
        super().__init__()
        self.key = key
        self.data: HistoryData | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static(safe_content(f"history of {self.key.label} in {self.key.env} — loading…"), id="history-dora")
        yield AvailabilityLine(id="history-availability")
        yield DataTable(id="revisions", cursor_type="row", classes="pane")
        yield DataTable(id="runs", cursor_type="row", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        revisions = self.query_one("#revisions", DataTable)
        revisions.border_title = "Revisions"
        for label, width in (("Rev", 3), ("Version", 14), ("Outcome", 11), ("Deployed by", 14), ("When", 16), ("Change cause", 48)):
            revisions.add_column(label, width=width)
        runs = self.query_one("#runs", DataTable)
        runs.border_title = "Runs (journals)"
        for label, width in (("When", 16), ("Runbook", 10), ("Status", 11), ("From → to", 16), ("Took", 5), ("By", 14), ("Run", 24)):
            runs.add_column(label, width=width)
        revisions.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.app.load_history(self.key, self.show)

    def current_error(self):
        """Why the history could not be read, for the error panel (``E``)."""
        from console.errors import ErrorContext, from_messages

        if self.data is None or not self.data.error:
            return None
        return from_messages(
            [self.data.error],
            what="the history could not be read",
            context=ErrorContext(environment=self.key.env, workload=self.key.label),
            done="the runs from the journals are still shown",
        )

    def show(self, data: HistoryData) -> None:
        self.data = data
        summary = Text()
        summary.append_text(safe_text(f"{self.key.label} in {self.key.env}", style="bold"))
        summary.append("  ")
        figures = delivery_report(data.runs, now=datetime.fromtimestamp(self.app.clock(), UTC)).workload(self.key.env, self.key.label)
        if figures is None:
            summary.append("no finished runs in the last 30 days", style="dim")
        else:
            summary.append(figures.line(), style="dim")
            summary.append("\ndeployments a day, 30 days: ", style="dim")
            summary.append(sparkline([day.deployments for day in figures.days]))
        if data.error:
            summary.append("\nrevisions unavailable: ", style="bold")
            summary.append_text(safe_text(data.error))
        self.query_one("#history-dora", Static).update(summary)
        self.query_one(AvailabilityLine).show(data.availability)
        revisions = self.query_one("#revisions", DataTable)
        revisions.clear()
        for revision in sorted(data.revisions, key=lambda r: r.number, reverse=True):
            run = _deployer(revision, data.runs)
            revisions.add_row(
                Text(str(revision.number)),
                safe_text(revision.image.rsplit("/", 1)[-1]),
                safe_text(run.status if run else "-"),
                safe_text(run.actor if run else "-"),
                Text(_when(revision.created_at)),
                safe_text(revision.change_cause or "-"),
                key=str(revision.number),
            )
        runs = self.query_one("#runs", DataTable)
        runs.clear()
        for run in data.runs:
            versions = f"{run.from_version or '?'} → {run.to_version}" if run.to_version else (run.from_version or "-")
            runs.add_row(
                Text(_when(run.started)),
                safe_text(run.runbook or "?"),
                safe_text(run.status),
                safe_text(versions),
                Text(_took(run)),
                safe_text(run.actor or "-"),
                safe_text(run.run_id),
                key=run.run_id,
            )

    def action_rollback_to(self) -> None:
        revisions = self.query_one("#revisions", DataTable)
        if self.data is None or not revisions.row_count:
            return
        row_key, _ = revisions.coordinate_to_cell_key((revisions.cursor_row, 0))
        self.app.start_runbook("rollback", self.key, preset={"to_revision": str(row_key.value)})
