"""The workload screen: one workload in full — replicas, metrics, labels, env, logs."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.log_feed import LogFeed, LogRequest
from console.model import Replica, WorkloadKey
from console.redact import redact_pairs
from console.store import Delta
from widgets.replica_table import ReplicaTable
from widgets.safe_text import safe_text
from widgets.workload_panel import WorkloadPanel


def replica_facts(replica: Replica | None) -> Text:
    """Labels and environment variables of a replica, secrets redacted."""
    if replica is None:
        return Text("no replica selected", style="dim")
    text = Text()
    text.append("replica ", style="dim")
    text.append_text(safe_text(replica.name, style="bold"))
    text.append("  image ", style="dim")
    text.append_text(safe_text(replica.image))
    if replica.host_or_node:
        text.append("  on ", style="dim")
        text.append_text(safe_text(replica.host_or_node))
    if replica.exit_code is not None:
        text.append(f"  exit code {replica.exit_code}", style="bold")
    for title, pairs in (("labels", replica.labels), ("env", replica.env)):
        if not pairs:
            continue
        text.append(f"\n{title}:", style="dim")
        for name, value in redact_pairs(pairs):
            text.append("\n  ")
            text.append_text(safe_text(name, style="bold"))
            text.append("=")
            text.append_text(safe_text(value))
    return text


class WorkloadScreen(Screen):
    """Everything about one workload; Enter on a replica opens its logs."""

    CSS_PATH = Path(__file__).with_name("workload.tcss")

    BINDINGS = [
        Binding("l", "logs", "Logs (all replicas)"),
        Binding("enter", "replica_logs", "Replica logs", show=False),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, key: WorkloadKey) -> None:
        super().__init__()
        self.key = key
        self._feed: LogFeed | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield WorkloadPanel(id="workload-panel", classes="pane", log_lines=2000)
        yield Static(id="replica-facts", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#workload-panel").border_title = Text.assemble(
            safe_text(self.key.env), " / ", safe_text(self.key.label, style="bold")
        )
        self.query_one("#replica-facts").border_title = "Replica"
        self.full_sync()
        self.query_one(ReplicaTable).focus()
        self._feed = self.app.open_logs(self.key, LogRequest(follow=True, tail=200))
        self.set_interval(0.2, self._poll_logs)
        self.app.prefer_stats(self.key)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.full_sync())

    def on_unmount(self) -> None:
        if self._feed is not None:
            self._feed.close()

    def full_sync(self) -> None:
        store = self.app.store
        self.query_one(WorkloadPanel).show(
            store.workload(self.key),
            store.replicas(self.key),
            store.workload_series(self.key, "cpu"),
            store.workload_series(self.key, "memory"),
            events=store.events(self.key),
            metrics_note=store.metrics_note(self.key.env),
        )
        self._show_metrics()
        self._show_facts()

    def _show_metrics(self) -> None:
        from screens.main import metric_panel_data

        self.query_one(WorkloadPanel).show_metrics(metric_panel_data(self.app.store, self.key, self.app.clock()))

    def apply_delta(self, delta: Delta) -> None:
        if (
            self.key in delta.workloads
            or self.key in delta.metrics
            or self.key in delta.removed
            or self.key in delta.events
            or self.key.env in delta.environments
        ):
            self.full_sync()
        elif self.key in delta.series or self.key.env in delta.alerts:
            self._show_metrics()

    def _selected_replica(self) -> Replica | None:
        replica_id = self.query_one(ReplicaTable).key_at_cursor()
        return self.app.store.replica(self.key.env, replica_id) if replica_id else None

    def _show_facts(self) -> None:
        self.query_one("#replica-facts", Static).update(replica_facts(self._selected_replica()))

    @on(ReplicaTable.Highlighted)
    def _replica_highlighted(self, event: ReplicaTable.Highlighted) -> None:
        self._show_facts()

    @on(ReplicaTable.Chosen)
    def _replica_chosen(self, event: ReplicaTable.Chosen) -> None:
        self.app.show_logs(self.key, replica_id=event.replica_id)

    def _poll_logs(self) -> None:
        if self._feed is not None:
            lines = self._feed.take()
            if lines:
                self.query_one(WorkloadPanel).append_logs(lines[-2000:])

    def action_logs(self) -> None:
        self.app.show_logs(self.key)

    def action_replica_logs(self) -> None:
        replica = self._selected_replica()
        if replica is not None:
            self.app.show_logs(self.key, replica_id=replica.id)
