"""The selected workload at a glance: reason, replicas, CPU/memory and Prometheus
sparklines, last logs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from console.model import EventRecorded, LogLine, Replica, Sample, Workload
from widgets.health_badge import health_text
from widgets.metric_panel import MetricPanel, MetricPanelData
from widgets.replica_table import ReplicaTable
from widgets.safe_text import safe_text
from widgets.sparkline_panel import SparklinePanel
from widgets.workload_table import format_bytes, format_cpu


def _percent(value: float | None) -> str:
    return format_cpu(value)


class WorkloadPanel(Vertical):
    """Composite shown under the workload table and on the workload screen."""

    DEFAULT_CSS = """
    WorkloadPanel { height: 1fr; }
    WorkloadPanel > #panel-headline { height: 1; }
    WorkloadPanel > #panel-backend { height: 1; color: $text-muted; }
    WorkloadPanel > #panel-body { height: 1fr; }
    WorkloadPanel #panel-replicas { width: 1fr; height: 1fr; }
    WorkloadPanel #panel-metrics { width: 36; height: auto; padding: 0 0 0 1; }
    WorkloadPanel #panel-logs { height: 6; background: $background; }
    WorkloadPanel #panel-events { height: auto; max-height: 6; color: $text-muted; }
    """

    MIN_LOG_ROWS = 3
    """The log tail gives up rows to the Prometheus sparklines down to this many."""

    def __init__(self, *, log_lines: int = 500, **kwargs) -> None:
        super().__init__(**kwargs)
        self._log_lines = log_lines
        self._log_rows: int | None = None
        """The log tail's height from the stylesheet, when it is a number of rows."""

    def compose(self) -> ComposeResult:
        from widgets.log_view import LogView

        yield Static(Text("no workload selected", style="dim"), id="panel-headline")
        # The backend's own account (an Argo Rollout's phase and step); most workloads have none.
        backend = Static(id="panel-backend")
        backend.display = False
        yield backend
        with Horizontal(id="panel-body"):
            yield ReplicaTable(id="panel-replicas")
            with Vertical(id="panel-metrics"):
                yield SparklinePanel("CPU", _percent, id="panel-cpu")
                yield SparklinePanel("Mem", format_bytes, id="panel-memory")
                yield MetricPanel(id="panel-prometheus")
                events = Static(id="panel-events")
                events.display = False
                yield events
        log_view = LogView(max_lines=self._log_lines, id="panel-logs")
        log_view.can_focus = False
        yield log_view

    def show(
        self,
        workload: Workload | None,
        replicas: Sequence[Replica],
        cpu: Sequence[Sample],
        memory: Sequence[Sample],
        *,
        events: Sequence[EventRecorded] = (),
        metrics_note: str | None = None,
    ) -> None:
        headline = self.query_one("#panel-headline", Static)
        backend = self.query_one("#panel-backend", Static)
        if workload is None:
            headline.update(Text("no workload selected", style="dim"), layout=False)
            backend.display = False
            self.query_one(ReplicaTable).show([])
            return
        text = Text()
        text.append_text(health_text(workload.health, self.app.theme_variables))
        text.append("  ")
        text.append_text(safe_text(workload.key.label, style="bold"))
        text.append(f"  {workload.ready}/{workload.desired} ready  ")
        text.append_text(safe_text(workload.image, style="dim"))
        text.append("  — ")
        text.append_text(safe_text(workload.reason))
        # One line by CSS: no need to lay the screen out again (the caller runs per key).
        headline.update(text, layout=False)
        if backend.display != bool(workload.backend_status):
            backend.display = bool(workload.backend_status)
        if workload.backend_status:
            backend.update(safe_text(workload.backend_status), layout=False)
        self.query_one(ReplicaTable).show(replicas)
        self.query_one("#panel-cpu", SparklinePanel).show(cpu, note=metrics_note)
        self.query_one("#panel-memory", SparklinePanel).show(memory, note=metrics_note)
        self._show_events(events)

    def _show_events(self, events: Sequence[EventRecorded]) -> None:
        """Backend events (Kubernetes), newest first; hidden when there are none."""
        pane = self.query_one("#panel-events", Static)
        pane.display = bool(events)
        if not events:
            return
        text = Text()
        for index, event in enumerate(events[:6]):
            if index:
                text.append("\n")
            when = event.ts.astimezone().strftime("%H:%M:%S") if event.ts else "--:--:--"
            warning = event.type == "Warning"
            text.append(f"{when} ")
            text.append("⚠ " if warning else "  ", style="bold" if warning else "")
            text.append_text(safe_text(event.reason, style="bold" if warning else ""))
            text.append(" ")
            text.append_text(safe_text(event.message))
            if event.count > 1:
                text.append(f" ×{event.count}")
        pane.update(text)

    def show_metrics(self, data: MetricPanelData) -> None:
        """The Prometheus sparklines (or why there are none); fitted to the pane's height."""
        panel = self.query_one(MetricPanel)
        lines_before = panel.line_count()
        panel.show(data)
        if panel.line_count() != lines_before or (data.has_prometheus and data.queries and not self._fitted):
            self.call_after_refresh(self._fit_metrics)

    _fitted = False

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_metrics)

    def _fit_metrics(self) -> None:
        """Full sparklines (label over bars) when the pane is tall enough; else one row each
        (CPU and memory too), taking rows from a fixed-height log tail if still short."""
        body = self.query_one("#panel-body")
        logs = self.query_one("#panel-logs")
        panel = self.query_one(MetricPanel)
        cpu = self.query_one("#panel-cpu", SparklinePanel)
        memory = self.query_one("#panel-memory", SparklinePanel)
        if not body.size.height:
            return
        self._fitted = True
        if self._log_rows is None:
            height = logs.styles.height
            self._log_rows = int(height.value) if height is not None and height.is_cells else 0
        data = panel.data
        queries = len(data.queries) if data.has_prometheus else 0
        status = panel.line_count() - (queries * (1 if panel.compact else 2))
        full = 4 + status + 2 * queries
        if self._log_rows:
            shared = body.size.height + logs.outer_size.height
            compact = queries > 0 and shared - self._log_rows < full
            rows = self._log_rows
            if compact:
                rows = max(self.MIN_LOG_ROWS, min(self._log_rows, shared - (2 + status + queries)))
            if logs.styles.height is None or logs.styles.height.value != rows:
                logs.styles.height = rows
        else:
            # The log tail shares the height by fractions: keep the body tall enough for
            # one row per sparkline instead.
            compact = queries > 0 and body.size.height < full
            need = 2 + status + queries if compact else None
            if (body.styles.min_height.value if body.styles.min_height is not None else None) != need:
                body.styles.min_height = need
        panel.set_compact(compact)
        cpu.set_compact(compact)
        memory.set_compact(compact)

    def clear_logs(self) -> None:
        self.query_one("#panel-logs").clear()

    def append_logs(self, lines: list[LogLine]) -> None:
        if lines:
            self.query_one("#panel-logs").append(lines)
