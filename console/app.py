"""The Textual app: owns the store, the adapter workers and the frame tick.

Adapters run in thread workers and feed the store; once per tick (150 ms) the app
drains the store and hands the delta to the screen on top. Screens never do I/O; they
ask the app (``open_logs``, ``prefer_stats``) which starts work in threads.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from textual import work
from textual.app import App
from textual.binding import Binding

from adapters.base import StopSignal
from console.backends import Backend
from console.log_feed import LogFeed, LogRequest, open_feed
from console.metrics_poller import WINDOW_SECONDS, MetricsPoller, start_marker_watch
from console.model import WorkloadKey
from console.run_board import RunBoard
from console.store import Delta, Store
from console.watcher import StatsManager, watch_environment
from screens.commands import WatchfloorCommands
from screens.help import HelpScreen, screen_keys
from screens.logs import LogsScreen
from screens.main import MainScreen
from screens.workload import WorkloadScreen
from themes import CSS_PATH as THEME_CSS
from themes import THEMES

TICK_SECONDS = 0.15
log = structlog.get_logger("watchfloor.app")
ERROR_NOTICE_SECONDS = 10
"""How long an error notice shows; while it does, ``E`` opens that error."""


class WorkloadLogSource:
    """What the logs screen streams from: a workload's replicas, or one of them."""

    def __init__(self, app: WatchfloorApp, key: WorkloadKey, replica_id: str | None) -> None:
        self._app = app
        self.key = key
        self.replica_id = replica_id
        replicas = self._replicas()
        self.replica_count = len(replicas)
        self.containers = tuple(dict.fromkeys(name for r in replicas for name in r.containers))
        """Container names across the replicas, for the logs screen's container choice."""
        if replica_id is not None and replicas:
            self.title = f"{key.env} / {replicas[0].name}"
        else:
            self.title = f"{key.env} / {key.label} ({self.replica_count} replicas)"

    def _replicas(self):
        replicas = self._app.store.replicas(self.key)
        if self.replica_id is not None:
            replicas = [r for r in replicas if r.id == self.replica_id]
        return replicas

    def open(self, request: LogRequest) -> LogFeed:
        return self._app.open_logs(self.key, request, replica_id=self.replica_id)


class WatchfloorApp(App):
    """watchfloor: one console for Docker and Kubernetes environments."""

    TITLE = "watchfloor"
    CSS_PATH = [THEME_CSS]
    COMMANDS = App.COMMANDS | {WatchfloorCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"

    BINDINGS = [
        Binding("colon", "command_palette", "Commands", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+t", "next_theme", "Theme", show=False),
        # Workload verbs, wherever a workload is selected (main and workload screens);
        # screens that bind these keys themselves (logs: s, r …) keep them.
        Binding("d", "runbook('deploy')", "Deploy", show=False),
        Binding("r", "runbook('rollback')", "Rollback", show=False),
        Binding("R", "runbook('restart')", "Restart", show=False),
        Binding("s", "runbook('scale')", "Scale", show=False),
        Binding("h", "history", "History", show=False),
        Binding("H", "delivery", "Delivery history", show=False),
        Binding("M", "matrix", "Matrix", show=False),
        Binding("A", "alerts", "Alerts", show=False),
        Binding("E", "error_details", "Error details", show=False),
    ]

    WORKLOAD_KEYS = [
        ("d", "deploy a new image (deploy runbook)"),
        ("r", "roll back (rollback runbook)"),
        ("R", "rolling restart (restart runbook)"),
        ("s", "scale (scale runbook)"),
        ("h", "deployment history and DORA figures"),
        ("M", "versions by environment; p promotes"),
    ]
    """Shown by the help screen on screens that have a selected workload."""

    def __init__(
        self,
        backends: list[Backend],
        *,
        theme: str = "dark",
        config_source: Path | None = None,
        start_backends: bool = True,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        demo: bool = False,
        config=None,
        availability=None,
    ) -> None:
        """Build the app.

        Args:
            backends: Environments and their adapter factories.
            theme: One of ``themes.THEMES``.
            config_source: The config file in use, shown in the header.
            start_backends: Start watch/stats workers (tests with a prepared store don't).
            store: A store to use instead of a fresh one (tests feed it fixtures).
            clock: Wall clock for ages (snapshot tests pin it).
            demo: The environments are the embedded, simulated demo clusters.
            config: The loaded config (runbooks_dir, allow_command_steps); None for defaults.
            availability: A ``console.availability.AvailabilityRecorder`` to record health
                transitions with while the backends are watched; None records nothing.
        """
        super().__init__()
        self.clock = clock
        self.demo = demo
        self.backends = {b.environment.name: b for b in backends}
        self.store = store or Store(b.environment for b in backends)
        self.config = config
        self.run_board = RunBoard()
        self.availability = availability
        self._runbooks = None
        self._interrupted: list = []
        self.last_error = None
        """The last error this app announced in a notice (a refused run…): ``E`` shows it in full."""
        self._last_error_at = 0.0
        self.read_only = all(b.environment.read_only for b in backends) if backends else False
        self._config_source = config_source
        self._start_backends = start_backends
        self._stop = StopSignal()
        self._stats: dict[str, StatsManager] = {}
        self._metrics: dict[str, MetricsPoller] = {}
        for backend in backends:
            if backend.make_prometheus is not None:
                self.store.set_prometheus(
                    backend.environment.name, backend.queries, simulated=backend.metrics_simulated, window=WINDOW_SECONDS
                )
        self.watchfloor_themes = list(THEMES)
        for registered in THEMES.values():
            self.register_theme(registered)
        self.theme = theme if theme in THEMES else "dark"

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Textual's own themes lack our health colours; without defaults a switch to
        # one of them from the palette would break every stylesheet using them.
        return dict(THEMES["dark"].variables)

    def on_mount(self) -> None:
        if self.demo:
            self.sub_title = "DEMO — simulated clusters, not real"
        elif self._config_source:
            self.sub_title = str(self._config_source)
        else:
            self.sub_title = "local engine (no config file)"
        self.push_screen(MainScreen())
        if self._start_backends:
            for backend in self.backends.values():
                self._watch(backend)
                manager = StatsManager(backend.environment.name, backend.make_adapter, self.store)
                self._stats[backend.environment.name] = manager
                self._run_stats(backend.environment.name, manager)
                if backend.make_prometheus is not None:
                    poller = MetricsPoller(backend.environment.name, backend.make_prometheus, backend.queries, self.store)
                    self._metrics[backend.environment.name] = poller
                    poller.start(self._stop)
            if self._metrics:
                start_marker_watch(self.store, self._stop)
            if self.availability is not None:
                self.availability.start(self.store, list(self.backends))
        self.set_interval(TICK_SECONDS, self.tick)
        if self._start_backends:
            self._preload_runbooks()
        # Everything alive after the first frame (modules, stylesheets, widgets) lives as
        # long as the app: out of the collector's sight, gen-2 pauses halve (measured
        # under churn, benchmarks/RESULTS.md) and they were the key-latency maximum.
        self.call_after_refresh(gc.freeze)

    def on_unmount(self) -> None:
        # set_soon: closing a Kubernetes watch's response waits for its reader's recv
        # (up to the watch timeout, a minute), which the UI thread must not do.
        self._stop.set_soon()
        if self.availability is not None:
            self.availability.stop_soon()  # it writes its "off" lines in its own thread
        for view in self.run_board.active():
            # The run stays unfinished in its journal: `watchfloor runbook resume` takes it up.
            self.run_board.send(view.run_id, "detach")

    async def action_quit(self) -> None:
        active = self.run_board.active()
        if not active:
            self.exit()
            return
        from screens.run_dialogs import ConfirmDialog

        names = ", ".join(f"{v.runbook} on {v.workload.label} ({v.run_id})" for v in active)
        self.push_screen(
            ConfirmDialog(
                f"{len(active)} run(s) in progress: {names}. Quit anyway? They stop where they are and "
                "can be resumed with `watchfloor runbook resume RUN_ID`."
            ),
            lambda answer: answer is not None and answer.get("yes") and self.exit(),
        )

    # -- workers ---------------------------------------------------------------------

    # The loops that live as long as the console get threads of their own: Textual's
    # thread workers share the event loop's default executor (CPUs + 4 threads, 6 on a
    # 2-core bastion), and two loops per environment filled it at three environments,
    # leaving runs, runbook loading and the History screen waiting forever.

    def _watch(self, backend: Backend) -> None:
        name = backend.environment.name
        self._daemon(f"watch-{name}", lambda: watch_environment(backend.make_adapter(), self.store, self._stop))

    def _run_stats(self, name: str, manager: StatsManager) -> None:
        self._daemon(f"stats-{name}", lambda: manager.run(self._stop))

    def _daemon(self, name: str, loop: Callable[[], None]) -> None:
        def run() -> None:
            try:
                loop()
            except Exception:  # noqa: BLE001 - a loop's bug must not pass silently, nor kill the console
                log.exception("backend loop crashed", thread=name)

        threading.Thread(target=run, name=name, daemon=True).start()

    # -- the frame tick ----------------------------------------------------------------

    def tick(self) -> Delta:
        """Drain the store and let the visible screen apply what changed."""
        delta = self.store.drain()
        if not self.screen_stack:
            return delta  # starting up or shutting down: nothing to show it on
        screen = self.screen
        if delta:
            apply = getattr(screen, "apply_delta", None)
            if apply is not None:
                apply(delta)
        runs = self.run_board.drain()
        if runs:
            apply_runs = getattr(screen, "apply_runs", None)
            if apply_runs is not None:
                apply_runs(runs)
        return delta

    # -- what screens may ask for (screens.host.ConsoleHost) ---------------------------

    def open_logs(self, key: WorkloadKey, request: LogRequest, *, replica_id: str | None = None) -> LogFeed:
        replicas = self.store.replicas(key)
        if replica_id is not None:
            replicas = [r for r in replicas if r.id == replica_id]
        backend = self.backends.get(key.env)
        if backend is None or not replicas:
            feed = LogFeed()
            feed.start([])
            return feed
        return open_feed(backend.make_adapter, replicas, request)

    def prefer_stats(self, key: WorkloadKey | None) -> None:
        if key is None:
            return
        manager = self._stats.get(key.env)
        if manager is not None:
            manager.prefer(lambda replica: replica.workload == key)

    def watch_metrics(self, keys) -> None:
        """Poll Prometheus for these workloads' sparklines: the selected one first, then the rows in view."""
        keys = tuple(keys)
        for poller in self._metrics.values():
            poller.want(keys)

    def show_logs(self, key: WorkloadKey, *, replica_id: str | None = None) -> None:
        self.push_screen(LogsScreen(WorkloadLogSource(self, key, replica_id)))

    def show_alerts(self) -> None:
        from screens.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def show_workload(self, key: WorkloadKey) -> None:
        self.push_screen(WorkloadScreen(key))

    def go_environment(self, name: str) -> None:
        self._to_main().select_environment(name)

    def go_workload(self, key: WorkloadKey) -> None:
        self._to_main().focus_workload(key)

    def _to_main(self) -> MainScreen:
        while not isinstance(self.screen, MainScreen) and len(self.screen_stack) > 1:
            self.pop_screen()
        return self.screen  # type: ignore[return-value]

    # -- runbooks ------------------------------------------------------------------------

    def runbooks(self):
        """The runbook set (built-ins and the config's runbooks_dir), loaded once."""
        if self._runbooks is None:
            from console.runbook.session import runbook_set

            self._runbooks = runbook_set(self.config)
        return self._runbooks

    @work(thread=True, exit_on_error=False, group="runbooks", description="load runbooks")
    def _preload_runbooks(self) -> None:
        # Off the UI thread: the palette and the workload keys read them later.
        from console.errors import from_runbook_problems
        from console.runbook.journal import list_runs

        skipped = from_runbook_problems(self.runbooks().problems)
        if skipped is not None:
            self.call_from_thread(self.report_error, skipped)
        try:
            self._interrupted = [run for run in list_runs() if run.status == "interrupted"]
        except OSError:
            self._interrupted = []
        if self._interrupted:
            count = len(self._interrupted)
            self.call_from_thread(
                self.notify,
                f"{count} interrupted run(s) can be resumed: press : and type resume",
                markup=False,
                timeout=8,
            )

    def start_runbook(self, name: str, key: WorkloadKey, preset: dict[str, str] | None = None) -> None:
        """Ask for the runbook's parameters, then run it against ``key`` (DESIGN §5)."""
        from console.runbook.templating import ParamError, bind_params
        from screens.run_dialogs import ParamField, ParamsDialog

        backend = self.backends.get(key.env)
        if backend is None:
            self.notify(f"no environment {key.env}", severity="error", markup=False)
            return
        if backend.environment.read_only:
            self.notify(f"{key.env} is read-only: runbooks that write are refused", severity="warning", markup=False)
            return
        active = self.run_board.for_workload(key)
        if active is not None and not active.phase.finished:
            self.show_run(active.run_id)
            return
        loaded = self.runbooks().runbooks.get(name)
        if loaded is None:
            self.notify(f"no runbook named {name}", severity="error", markup=False)
            return
        runbook = loaded.runbook
        preset = preset or {}
        fields = [
            ParamField(
                name=param_name,
                kind=str(param.type),
                default=str(preset.get(param_name, "" if param.default is None else param.default)),
                help=param.help or "",
                choices=tuple(str(c) for c in (param.choices or ())),
            )
            for param_name, param in runbook.params.items()
        ]

        def check(values: dict[str, str]) -> str | None:
            try:
                bind_params(runbook, values)
            except ParamError as error:
                return str(error)
            return None

        def launch(values: dict[str, str] | None) -> None:
            if values is not None:
                self._launch_run(name, key, values)

        if not fields:
            launch({})
            return
        title = f"{runbook.title or runbook.name} — {key.label} in {key.env}"
        self.push_screen(ParamsDialog(title, runbook.description or "", fields, check), launch)

    @work(thread=True, exit_on_error=False, group="runs", description="a runbook run")
    def _launch_run(self, name: str, key: WorkloadKey, values: dict[str, str], break_stale_lock: bool = False) -> None:
        from console.runbook.session import RunSetupError, prepare_run

        try:
            session = prepare_run(
                self.config,
                runbook_name=name,
                env_name=key.env,
                workload=key.label,
                raw_params=values,
                on_update=self.run_board.update,
                key=key,
                backend=self.backends[key.env],
                break_stale_lock=break_stale_lock,
            )
        except RunSetupError as error:
            from console.errors import ErrorContext, from_refusal

            context = ErrorContext(environment=key.env, workload=key.label)
            self.call_from_thread(self.report_error, from_refusal(error, context=context), str(error))
            return
        self._execute(session, retry=lambda: self._launch_run(name, key, values, True))

    def _execute(self, session, retry: Callable[[], object]) -> None:
        """Run a prepared session in this (worker) thread; refusals become notices."""
        from console.errors import from_exception, from_refusal, run_context
        from console.runbook.executor import RunRefused

        self.run_board.attach(session.executor)
        self.call_from_thread(self._load_expectation, session)  # workers start on the UI thread
        self.call_from_thread(self.show_run, session.view.run_id)
        try:
            session.execute()
        except RunRefused as refused:
            if refused.stale_reason:
                self.call_from_thread(self._offer_break, str(refused), retry)
            else:
                report = from_refusal(refused, context=run_context(session.view))
                self.call_from_thread(self.report_error, report, str(refused))
        except Exception as error:  # noqa: BLE001 - a run's failure is a state on screen, never a crash
            report = from_exception(error, context=run_context(session.view), done="the run stopped where it was")
            self.call_from_thread(self.report_error, report, f"run failed: {error}")

    @work(thread=True, exit_on_error=False, group="estimates", description="estimate a run from past journals")
    def _load_expectation(self, session) -> None:
        # Beside the run, not before it: reading past journals must not delay the first step.
        try:
            expectation = session.expectation()
        except OSError:
            return  # no history to read is no estimate, never a failed run
        self.run_board.expect(session.view.run_id, expectation)

    def _offer_break(self, message: str, retry: Callable[[], object]) -> None:
        from screens.run_dialogs import ConfirmDialog

        self.push_screen(
            ConfirmDialog(f"{message}\n\nBreak that lock and start again? (journaled)"),
            lambda answer: answer is not None and answer.get("yes") and retry(),
        )

    def interrupted_runs(self) -> list:
        """Runs whose journal ended without a finish and that no process is running (resumable)."""
        return list(self._interrupted)

    def resume_run(self, run_id: str) -> None:
        self._resume_run(run_id)

    @work(thread=True, exit_on_error=False, group="runs", description="resume a run")
    def _resume_run(self, run_id: str, break_stale_lock: bool = False) -> None:
        from console.runbook.session import RunSetupError, prepare_resume

        env_name = next((r.environment_name for r in self._interrupted if r.run_id == run_id), None)
        try:
            session = prepare_resume(
                self.config,
                run_id=run_id,
                on_update=self.run_board.update,
                backend=self.backends.get(env_name) if env_name else None,
                break_stale_lock=break_stale_lock,
            )
        except RunSetupError as error:
            from console.errors import ErrorContext, from_refusal

            context = ErrorContext(environment=env_name or "", run_id=run_id)
            self.call_from_thread(self.report_error, from_refusal(error, context=context), str(error))
            return
        self._interrupted = [r for r in self._interrupted if r.run_id != run_id]
        self._execute(session, retry=lambda: self._resume_run(run_id, True))

    def load_history(self, key: WorkloadKey, done: Callable) -> None:
        """Read a workload's revisions (backend) and runs (journals) in a thread; ``done(HistoryData)``."""
        self._load_history(key, done)

    @work(thread=True, exit_on_error=False, group="history", description="deployment history")
    def _load_history(self, key: WorkloadKey, done: Callable) -> None:
        from adapters.base import AdapterError
        from console.runbook.journal import list_runs
        from screens.history import HistoryData

        revisions, error = [], None
        backend = self.backends.get(key.env)
        if backend is not None:
            adapter = backend.make_adapter()
            try:
                adapter.connect()
                revisions = adapter.history(key)
            except AdapterError as failure:
                error = failure.summary
            except AttributeError:
                error = "this backend keeps no revisions"
            finally:
                adapter.close()
        runs = [r for r in list_runs() if r.environment_name == key.env and r.workload == key.label]
        figures = self.availability.figures_of(key) if self.availability is not None else None
        self.call_from_thread(done, HistoryData(key, revisions, runs, error, availability=figures))

    def load_delivery(self, done: Callable) -> None:
        """Read every journal and compute the delivery figures in a thread; ``done(DeliveryReport)``."""
        self._load_delivery(done)

    @work(thread=True, exclusive=True, exit_on_error=False, group="delivery", description="delivery figures")
    def _load_delivery(self, done: Callable) -> None:
        from datetime import UTC, datetime

        from console.runbook.dora import delivery_report
        from console.runbook.journal import list_runs

        try:
            runs = list_runs()
        except OSError as error:
            self.call_from_thread(self.notify, f"cannot read the run journals: {error}", severity="error", markup=False)
            return
        self.call_from_thread(done, delivery_report(runs, now=datetime.fromtimestamp(self.clock(), UTC)))

    def show_delivery(self) -> None:
        from screens.delivery import DeliveryScreen

        if not isinstance(self.screen, DeliveryScreen):
            self.push_screen(DeliveryScreen())

    def record_feedback(self, journal: str, answer: str) -> None:
        """Journal the operator's answer to "Is the system reliable and available?" (in a thread)."""
        self._record_feedback(journal, answer)

    @work(thread=True, exit_on_error=False, group="feedback", description="journal the operator's answer")
    def _record_feedback(self, journal: str, answer: str) -> None:
        from console.runbook.feedback import GLYPHS, FeedbackRefused, record_feedback
        from console.runbook.journal import JournalCorrupt

        try:
            record_feedback(journal, answer)
        except (FeedbackRefused, JournalCorrupt, OSError) as refused:
            self.call_from_thread(self.notify, f"answer not journaled: {refused}", severity="warning", markup=False, timeout=5)
            return
        self.call_from_thread(self.notify, f"{GLYPHS[answer]} journaled — thank you", markup=False, timeout=3)

    def show_history(self, key: WorkloadKey) -> None:
        from screens.history import HistoryScreen

        self.push_screen(HistoryScreen(key))

    def show_matrix(self) -> None:
        from screens.matrix import MatrixScreen

        self.push_screen(MatrixScreen())

    def show_run(self, run_id: str) -> None:
        from screens.run import RunScreen

        if isinstance(self.screen, RunScreen) and self.screen.run_id == run_id:
            return
        self.push_screen(RunScreen(run_id))

    def set_theme(self, name: str) -> None:
        self.theme = name

    # -- actions -----------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        screen = self.screen
        keys = screen_keys(screen)
        if isinstance(screen, (MainScreen, WorkloadScreen)):
            keys = keys + self.WORKLOAD_KEYS
        self.push_screen(HelpScreen(type(screen).__name__.replace("Screen", "") or "Main", keys))

    def selected_workload(self) -> WorkloadKey | None:
        """The workload the visible screen is about, if any."""
        screen = self.screen
        key = getattr(screen, "focused_key", None) or getattr(screen, "key", None)
        return key if isinstance(key, WorkloadKey) else None

    def action_runbook(self, name: str) -> None:
        key = self.selected_workload()
        if key is None:
            self.notify("select a workload first", markup=False, timeout=3)
            return
        self.start_runbook(name, key)

    def action_history(self) -> None:
        key = self.selected_workload()
        if key is not None:
            self.show_history(key)

    def action_delivery(self) -> None:
        self.show_delivery()

    def action_matrix(self) -> None:
        from screens.matrix import MatrixScreen

        if not isinstance(self.screen, MatrixScreen):
            self.show_matrix()

    def action_alerts(self) -> None:
        self.show_alerts()

    def report_error(self, report, message: str | None = None) -> None:
        """Announce an error in a notice and keep it for ``E`` (the error panel)."""
        self.last_error = report
        self._last_error_at = time.monotonic()
        self.notify(f"{message or report.summary} — E: details", severity="error", markup=False, timeout=ERROR_NOTICE_SECONDS)

    def action_error_details(self) -> None:
        """Open the error panel on the visible screen's error, else the last one announced."""
        from screens.error_panel import ErrorPanel

        if isinstance(self.screen, ErrorPanel):
            return
        current = getattr(self.screen, "current_error", None)
        if self.last_error is not None and time.monotonic() - self._last_error_at < ERROR_NOTICE_SECONDS:
            report = self.last_error  # the notice on screen says "E: details": it means this one
        else:
            report = (current() if current is not None else None) or self.last_error
        if report is None:
            self.notify("no error to show here", timeout=3, markup=False)
            return
        self.push_screen(ErrorPanel(report))

    def action_next_theme(self) -> None:
        names = self.watchfloor_themes
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2, markup=False)
