"""The main screen: environments on the left, workloads, and the selected workload below."""

from __future__ import annotations

from collections import Counter
import time
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from console.log_feed import LogFeed, LogRequest
from console.model import Health, WorkloadKey
from console.runbook.estimate import maintenance_sentence, maintenance_short, maintenance_state, remaining_seconds
from console.store import Delta
from widgets.environment_list import EnvironmentList, EnvironmentSummary, connection_sentence
from widgets.metric_panel import MetricPanelData
from widgets.safe_text import safe_text
from widgets.status_bar import StatusBar
from widgets.workload_panel import WorkloadPanel
from widgets.workload_table import WorkloadRow, WorkloadTable

NARROW = 110
"""Below this many columns the environment list folds away (``e`` brings it back)."""
REPAINT_SECONDS = 0.5
"""Shortest gap between two repaints of the tables under a burst of changes."""
DETAIL_SECONDS = 0.5
"""Cursor moves closer together than this are a run: the selected workload's pane shows
the first move at once, then follows the run at the table's repaint rate."""
TAIL_SECONDS = 0.3
"""How long the cursor rests on a workload before its log tail is opened."""
POLL_SECONDS = 0.2
"""Period of the poll that reads the log tail and catches up the deferred pane refresh."""


def metric_panel_data(store, key: WorkloadKey, now: float) -> MetricPanelData:
    """What the detail pane's Prometheus part shows for ``key`` (also the workload screen's)."""
    prometheus = store.prometheus(key.env)
    if prometheus is None:
        return MetricPanelData(end=float(int(now)))
    return MetricPanelData(
        has_prometheus=True,
        queries=prometheus.queries,
        series=tuple(store.metric_series(key, q.name) for q in prometheus.queries),
        markers=store.markers(key),
        connection=prometheus.connection,
        simulated=prometheus.simulated,
        end=float(int(now)),
        window=prometheus.window,
    )


class MainScreen(Screen):
    """Environments, workloads, and the selected workload's replicas, metrics and logs."""

    CSS_PATH = Path(__file__).with_name("main.tcss")
    AUTO_FOCUS = "#workloads"

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("enter", "open", "Open", show=False),
        Binding("l", "logs", "Logs"),
        Binding("e", "environments", "Envs"),
        Binding("right_square_bracket", "next_environment", "Next env", show=False),
        Binding("left_square_bracket", "previous_environment", "Prev env", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.current_env: str | None = None
        """The environment whose workloads the table shows."""
        self.focused_key: WorkloadKey | None = None
        self._tail_feed: LogFeed | None = None
        self._tail_key: WorkloadKey | None = None
        self._tail_due = 0.0
        """When the log tail of ``_tail_key`` may open (the cursor rested long enough)."""
        self._width_applied = False
        self._pending = Delta()
        self._last_repaint = 0.0
        self._last_detail = 0.0
        self._last_cursor_move = 0.0
        self._detail_pending = False
        self._shown_title: tuple | None = None
        self._shown_status: Text | None = None
        self._summaries: list[EnvironmentSummary] = []
        self._wanted_metrics: tuple[WorkloadKey, ...] = ()
        """What the metrics poller was last asked for (selected workload, rows in view)."""
        self._maintenance: dict[WorkloadKey, tuple[str, str]] = {}
        """Workloads a run of this console works on: ("▶ 3/7 ~40s", "maintenance in progress") for their rows."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Horizontal(id="body"):
            yield EnvironmentList(id="environments", classes="pane")
            with Vertical(id="main"):
                yield Static("", id="env-banner")
                yield Input(placeholder="filter workloads by name — Enter keeps it, Esc clears", id="filter")
                yield WorkloadTable(id="workloads", classes="pane")
                yield WorkloadPanel(id="detail", classes="pane")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def host(self):
        return self.app

    @property
    def store(self):
        return self.app.store

    def on_mount(self) -> None:
        self.query_one("#environments").border_title = "Environments"
        self.query_one("#detail").border_title = "Selected"
        self.query_one("#filter").display = False
        names = self.store.environment_names()
        if names:
            self.current_env = names[0]
        self._apply_width(self.app.size.width)
        # No full_sync here: ScreenResume follows the first push and does it.
        self.query_one(WorkloadTable).focus()
        self.set_interval(POLL_SECONDS, self._poll)
        self.set_interval(REPAINT_SECONDS, self._flush)
        self.set_interval(1.0, self._tick_second)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme) -> None:
        # Health colours live in cell styles, not CSS: re-render them.
        self.query_one(WorkloadTable).refresh_styles()
        self.full_sync()

    def on_resize(self, event) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        narrow = width < NARROW
        if narrow == self.has_class("-narrow") and self.is_mounted and self._width_applied:
            return
        self._width_applied = True
        self.set_class(narrow, "-narrow")
        environments = self.query_one("#environments")
        environments.display = not narrow
        if narrow and environments.has_focus:
            self.query_one(WorkloadTable).focus()

    # -- data ------------------------------------------------------------------------

    def full_sync(self) -> None:
        """Show everything the store holds (on mount, on resume, on environment change)."""
        self._maintenance = self._maintenance_now()
        self._sync_environments()
        self._sync_workloads(None)
        self._sync_detail()

    def apply_delta(self, delta: Delta) -> None:
        """Fold one tick's changes in; repaint at most every ``REPAINT_SECONDS``.

        A lone change shows at once (leading edge); a burst — hundreds of pod changes a
        second — is coalesced, because every table update re-renders the visible
        cells and a UI thread busy painting is a UI thread that does not read keys.
        """
        self._pending.merge(delta)
        if time.monotonic() - self._last_repaint >= REPAINT_SECONDS:
            self._flush()

    def _flush(self) -> None:
        delta, self._pending = self._pending, Delta()
        if not delta:
            return
        self._last_repaint = time.monotonic()
        if delta.environments or delta.workloads or delta.removed or delta.alerts:
            self._sync_environments()
        if self.current_env is not None:
            mine = {k for k in delta.workloads | delta.metrics if k.env == self.current_env}
            removed = [k for k in delta.removed if k.env == self.current_env]
            if mine or removed:
                self._sync_workloads(mine, removed)
        focused = self.focused_key
        if focused is not None and (
            focused in delta.workloads
            or focused in delta.metrics
            or focused in delta.removed
            or focused in delta.events
            or focused.env in delta.environments
        ):
            self._detail_pending = True
        if self._detail_pending:
            # Also what a running cursor left for later: in the same frame as the rows.
            self._sync_detail()
        elif focused is not None and (focused in delta.series or focused.env in delta.alerts):
            self._sync_metrics()

    def _sync_environments(self) -> None:
        summaries = []
        for name in self.store.environment_names():
            counts = Counter(w.health for w in self.store.workloads(name))
            summaries.append(EnvironmentSummary(self.store.environment(name), self.store.connection(name), counts))
        self.query_one(EnvironmentList).show(summaries)
        self._sync_banner()
        self._sync_status(summaries)

    def _sync_banner(self) -> None:
        banner = self.query_one("#env-banner", Static)
        table = self.query_one(WorkloadTable)
        if self.current_env is None:
            banner.display = False
            return
        environment = self.store.environment(self.current_env)
        connection = self.store.connection(self.current_env)
        count = table.row_count
        shown = (self.current_env, environment.kind.value, count, table.filter_text)
        if shown != self._shown_title:
            # Setting a border title repaints the whole table, even when it is the same.
            self._shown_title = shown
            title = Text.assemble(safe_text(self.current_env, style="bold"), f" · {environment.kind.value} · {count} workloads")
            if table.filter_text:
                title.append(" · filter: ")
                title.append_text(safe_text(table.filter_text))
            table.border_title = title
        prometheus = self.store.prometheus(self.current_env)
        metrics_down = prometheus is not None and prometheus.connection is not None and not prometheus.connection.connected
        if connection.connected and not metrics_down:
            banner.display = False
        else:
            text = Text(f"{self.current_env}: ", style="bold")
            if not connection.connected:
                text.append(connection_sentence(connection))
                if connection.error:
                    text.append(" — ")
                    text.append_text(safe_text(connection.error))
            else:
                # Prometheus is a backend like the engine: its outage is a state on screen.
                text.append("Prometheus " + connection_sentence(prometheus.connection).replace("disconnected", "unreachable", 1))
                if prometheus.connection.error:
                    text.append(" — ")
                    text.append_text(safe_text(prometheus.connection.error))
            banner.update(text)
            banner.display = True

    def apply_runs(self, changed: set[str]) -> None:
        """A run changed: its workload's row and the status bar show the active ones."""
        if not self.query(WorkloadTable):
            return  # the app is closing and took the widgets down; the app's tick still fires
        self._sync_maintenance()
        self._sync_status(self._summaries)

    def _maintenance_now(self) -> dict[WorkloadKey, tuple[str, str]]:
        board = self.app.run_board
        now = self.app.clock()
        return {
            view.workload: (
                maintenance_short(view, remaining_seconds(view, board.expectation(view.run_id), now)),
                maintenance_state(view),
            )
            for view in board.active()
        }

    def _sync_maintenance(self) -> None:
        """Rows whose run started, moved on or ended; the others are not touched."""
        before, self._maintenance = self._maintenance, self._maintenance_now()
        changed = {
            key for key in before.keys() | self._maintenance.keys()
            if key.env == self.current_env and before.get(key) != self._maintenance.get(key)
        }
        if changed:
            self.query_one(WorkloadTable).update_rows(self._rows(sorted(changed, key=lambda k: (k.group, k.name))))

    def _sync_status(self, summaries: list[EnvironmentSummary]) -> None:
        self._summaries = summaries
        text = Text()
        active = self.app.run_board.active()
        if len(active) == 1:
            # Runs go on off-screen; this line is where the operator sees them.
            run = active[0]
            remaining = remaining_seconds(run, self.app.run_board.expectation(run.run_id), self.app.clock())
            text.append(f" ▶ {run.runbook} ", style="bold reverse")
            text.append(" ")
            text.append_text(safe_text(run.workload.label, style="bold"))
            text.append(f": {maintenance_sentence(run, remaining)}")
            if run.waiting_for:
                text.append(f" — waits for {run.waiting_for}", style="bold")
            text.append("  ")
        elif active:
            text.append(f" ▶ {len(active)} runs in progress ", style="bold reverse")
            text.append("  ")
        for summary in summaries:
            name = summary.environment.name
            if summary.connection.connected:
                bad = summary.counts.get(Health.FAILED, 0) + summary.counts.get(Health.DEGRADED, 0)
                text.append_text(safe_text(name))
                text.append(f" {'▲' + str(bad) if bad else '●'}  ", style="bold" if bad else "")
            else:
                text.append_text(safe_text(name))
                text.append(" ○ down  ", style="bold")
        if getattr(self.app, "demo", False):
            text.append(" DEMO ", style="bold reverse")
            text.append("  ")
        if self.app.read_only:
            text.append("READ-ONLY  ", style="bold reverse")
        text.append("? help  : commands", style="dim")
        previous = self._shown_status
        if previous is None or text.plain != previous.plain or text.spans != previous.spans:
            # Updating a Static lays the whole screen out again: only when it changed.
            self._shown_status = text
            self.query_one(StatusBar).show(text)

    def _rows(self, keys) -> list[WorkloadRow]:
        rows = []
        for key in keys:
            workload = self.store.workload(key)
            if workload is None:
                continue
            cpu, memory = self.store.workload_usage(key)
            progress, state = self._maintenance.get(key, ("", ""))
            rows.append(WorkloadRow(workload, cpu, memory, self.store.alert_state(key), progress, state))
        return rows

    def _sync_workloads(self, changed: set[WorkloadKey] | None, removed=()) -> None:
        table = self.query_one(WorkloadTable)
        if changed is None:
            workloads = self.store.workloads(self.current_env) if self.current_env else []
            table.show(self._rows(w.key for w in workloads))
        else:
            table.update_rows(self._rows(sorted(changed, key=lambda k: (k.group, k.name))), removed)
        if self.focused_key is None or self.focused_key.env != self.current_env:
            self.focused_key = table.key_at_cursor()
            self._focus_changed()
        self._want_metrics()
        self._sync_banner()

    def _sync_detail(self) -> None:
        self._detail_pending = False
        self._last_detail = time.monotonic()
        panel = self.query_one(WorkloadPanel)
        key = self.focused_key
        workload = self.store.workload(key) if key else None
        if workload is None:
            panel.show(None, [], [], [])
            return
        panel.show(
            workload,
            self.store.replicas(key),
            self.store.workload_series(key, "cpu"),
            self.store.workload_series(key, "memory"),
            events=self.store.events(key),
            metrics_note=self.store.metrics_note(key.env),
        )
        self._sync_metrics()

    def _sync_metrics(self) -> None:
        """The selected workload's Prometheus sparklines, from the store."""
        key = self.focused_key
        if key is None:
            return
        self.query_one(WorkloadPanel).show_metrics(metric_panel_data(self.store, key, self.app.clock()))

    def _want_metrics(self) -> None:
        """Tell the metrics poller what is on screen: the selected workload, then the rows in view."""
        keys = tuple(dict.fromkeys(([self.focused_key] if self.focused_key else []) + self.query_one(WorkloadTable).keys_in_view()))
        if keys != self._wanted_metrics:
            self._wanted_metrics = keys
            watch = getattr(self.host, "watch_metrics", None)
            if watch is not None:
                watch(keys)

    def _cursor_detail(self) -> None:
        """Refresh the detail pane after a cursor move: at once, or later when the cursor runs.

        Each refresh re-renders the replica table and the sparklines and repaints half
        the screen. A move that starts a run shows at once; while the operator holds a
        key down the pane follows with the next table repaint (``_flush``) or, on a
        quiet cluster, every ``DETAIL_SECONDS`` (``_poll``), and ends where the cursor
        stopped.
        """
        now = time.monotonic()
        starts_run = now - self._last_cursor_move >= DETAIL_SECONDS
        self._last_cursor_move = now
        if starts_run:
            self._sync_detail()
        else:
            self._detail_pending = True

    def _tick_second(self) -> None:
        self.query_one(WorkloadTable).refresh_ages()
        if self._maintenance or self.app.run_board.active():
            # The estimate counts down with the clock; a run's own updates may be minutes apart.
            self._sync_maintenance()
            self._sync_status(self._summaries)
        if self.current_env and not self.store.connection(self.current_env).connected:
            self._sync_environments()
        elif self.current_env and self.store.prometheus(self.current_env) is not None:
            self._sync_banner()  # a Prometheus countdown, when it is down
        # The sparklines' window moves on with the clock.
        self._sync_metrics()

    # -- log tail of the selected workload -----------------------------------------------

    def _focus_changed(self, *, from_cursor: bool = False) -> None:
        if from_cursor:
            self._cursor_detail()
        else:
            self._sync_detail()
        self.host.prefer_stats(self.focused_key)
        self._want_metrics()
        if self._tail_key != self.focused_key:
            self._close_tail()
            panel = self.query_one(WorkloadPanel)
            if panel.query_one("#panel-logs").line_count:
                # Clearing repaints the log pane; a cursor run would repaint it per key.
                panel.clear_logs()
            self._tail_key = self.focused_key
            # Debounced (by ``_poll``): scrolling through the table must not open a
            # stream per row.
            self._tail_due = time.monotonic() + TAIL_SECONDS

    def _open_tail(self) -> None:
        if self._tail_feed is None and self._tail_key is not None and self._tail_key == self.focused_key:
            self._tail_feed = self.host.open_logs(self._tail_key, LogRequest(follow=True, tail=20))

    def _close_tail(self) -> None:
        if self._tail_feed is not None:
            self._tail_feed.close()
            self._tail_feed = None

    def _poll(self) -> None:
        """Catch up what was deferred while the cursor ran; read the log tail."""
        now = time.monotonic()
        if self._detail_pending and now - self._last_detail >= DETAIL_SECONDS:
            self._sync_detail()
        if self._tail_feed is None and self._tail_key is not None and now >= self._tail_due:
            self._open_tail()
        if self._tail_feed is not None:
            lines = self._tail_feed.take()
            if lines:
                self.query_one(WorkloadPanel).append_logs(lines[-500:])

    def on_screen_suspend(self) -> None:
        self._close_tail()
        self._tail_key = None

    def on_screen_resume(self) -> None:
        self.full_sync()
        self._focus_changed()

    # -- events ----------------------------------------------------------------------

    @on(EnvironmentList.Picked)
    def _environment_picked(self, event: EnvironmentList.Picked) -> None:
        self.select_environment(event.name)

    def select_environment(self, name: str) -> None:
        if name == self.current_env or name not in self.store.environment_names():
            return
        self.current_env = name
        self.focused_key = None
        self._sync_workloads(None)
        self._sync_banner()

    @on(WorkloadTable.Focused)
    def _workload_focused(self, event: WorkloadTable.Focused) -> None:
        if event.key != self.focused_key:
            self.focused_key = event.key
            self._focus_changed(from_cursor=True)

    @on(WorkloadTable.Chosen)
    def _workload_chosen(self, event: WorkloadTable.Chosen) -> None:
        self.host.show_workload(event.key)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(WorkloadTable).set_filter(event.value)
        self._sync_banner()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#filter").display = False
        self.query_one(WorkloadTable).focus()

    # -- actions ---------------------------------------------------------------------

    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.display = True
        filter_input.focus()

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.value = ""
        filter_input.display = False
        self.query_one(WorkloadTable).set_filter("")
        environments = self.query_one("#environments")
        if self.has_class("-narrow"):
            environments.display = False
        self.query_one(WorkloadTable).focus()
        self._sync_banner()

    def action_open(self) -> None:
        if self.focused_key is not None:
            self.host.show_workload(self.focused_key)

    def action_logs(self) -> None:
        if self.focused_key is not None:
            self.host.show_logs(self.focused_key)

    def action_environments(self) -> None:
        environments = self.query_one("#environments", EnvironmentList)
        if environments.has_focus:
            if self.has_class("-narrow"):
                environments.display = False
            self.query_one(WorkloadTable).focus()
            return
        environments.display = True
        environments.focus()

    def _step_environment(self, step: int) -> None:
        names = self.store.environment_names()
        if not names:
            return
        index = names.index(self.current_env) if self.current_env in names else 0
        name = names[(index + step) % len(names)]
        self.query_one(EnvironmentList).highlighted = (index + step) % len(names)
        self.select_environment(name)

    def action_next_environment(self) -> None:
        self._step_environment(1)

    def action_previous_environment(self) -> None:
        self._step_environment(-1)

    def current_error(self):
        """The selected environment's trouble for the error panel (``E``): its backend, then its Prometheus."""
        from console.errors import from_connection, from_prometheus_connection

        if self.current_env is None:
            return None
        environment = self.store.environment(self.current_env)
        connection = self.store.connection(self.current_env)
        if not connection.connected:
            return from_connection(environment, connection)
        prometheus = self.store.prometheus(self.current_env)
        if prometheus is not None and prometheus.connection is not None and not prometheus.connection.connected:
            return from_prometheus_connection(environment, prometheus.connection)
        return None

    def focus_workload(self, key: WorkloadKey) -> None:
        """Jump to a workload (from the command palette)."""
        self.select_environment(key.env)
        table = self.query_one(WorkloadTable)
        if table.filter_text and table.filter_text.lower() not in key.label.lower():
            self.action_clear_filter()
        table.move_cursor_to_key(key)
        table.focus()
