"""The Textual app: owns the store, the adapter workers and the frame tick.

Adapters run in thread workers and feed the store; once per tick (150 ms) the app
drains the store and hands the delta to the screen on top. Screens never do I/O; they
ask the app (``open_logs``, ``prefer_stats``) which starts work in threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding

from adapters.base import StopSignal
from console.backends import Backend
from console.log_feed import LogFeed, LogRequest, open_feed
from console.model import WorkloadKey
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
    ]

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
        """
        super().__init__()
        self.clock = clock
        self.demo = demo
        self.backends = {b.environment.name: b for b in backends}
        self.store = store or Store(b.environment for b in backends)
        self.read_only = all(b.environment.read_only for b in backends) if backends else False
        self._config_source = config_source
        self._start_backends = start_backends
        self._stop = StopSignal()
        self._stats: dict[str, StatsManager] = {}
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
                self._run_stats(manager)
        self.set_interval(TICK_SECONDS, self.tick)

    def on_unmount(self) -> None:
        self._stop.set()

    # -- workers ---------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="watch", description="watch an environment")
    def _watch(self, backend: Backend) -> None:
        watch_environment(backend.make_adapter(), self.store, self._stop)

    @work(thread=True, exit_on_error=False, group="stats", description="stats streams")
    def _run_stats(self, manager: StatsManager) -> None:
        manager.run(self._stop)

    # -- the frame tick ----------------------------------------------------------------

    def tick(self) -> Delta:
        """Drain the store and let the visible screen apply what changed."""
        delta = self.store.drain()
        if delta:
            screen = self.screen
            apply = getattr(screen, "apply_delta", None)
            if apply is not None:
                apply(delta)
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

    def show_logs(self, key: WorkloadKey, *, replica_id: str | None = None) -> None:
        self.push_screen(LogsScreen(WorkloadLogSource(self, key, replica_id)))

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

    def set_theme(self, name: str) -> None:
        self.theme = name

    # -- actions -----------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        screen = self.screen
        self.push_screen(HelpScreen(type(screen).__name__.replace("Screen", "") or "Main", screen_keys(screen)))

    def action_next_theme(self) -> None:
        names = self.watchfloor_themes
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2, markup=False)
