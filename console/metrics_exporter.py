"""``--metrics-port``: the console's figures and its own health as Prometheus metrics.

One custom collector reads, at scrape time, what is already in memory: the store
(workload health, environment connections), the availability recorder's published
figures and the run board. A scrape does no I/O and takes no UI time; it runs in the
exporter's own HTTP thread (``prometheus_client``'s WSGI server).

Bound to 127.0.0.1 unless ``--metrics-host`` says otherwise: the page names every
workload and environment, and it has no authentication.

No Textual here.
"""

from __future__ import annotations

import platform
import time
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import metadata

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from console.model import Health

HEALTH_STATES = tuple(health.value for health in Health)


def _version() -> str:
    try:
        return metadata.version("watchfloor")
    except metadata.PackageNotFoundError:
        return "unknown"


class ConsoleCollector(Collector):
    """Metrics of one running console.

    Args:
        store: The console's ``console.store.Store``.
        availability: Its ``AvailabilityRecorder``, or None when it records none.
        runs: Returns the run views of this console (``RunBoard.runs``).
        started_at: When the console started (seconds since the epoch).
    """

    def __init__(self, store, *, availability=None, runs: Callable[[], list] | None = None, started_at: float | None = None) -> None:
        self.store = store
        self.availability = availability
        self.runs = runs or (lambda: [])
        self.started_at = started_at if started_at is not None else time.time()
        self.version = _version()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("watchfloor_up", "1 while the console runs and answers scrapes.")
        up.add_metric([], 1)
        yield up
        info = GaugeMetricFamily(
            "watchfloor_build_info", "The console's version and Python, as labels; the value is 1.", labels=["version", "python"]
        )
        info.add_metric([self.version, platform.python_version()], 1)
        yield info
        start = GaugeMetricFamily("watchfloor_start_time_seconds", "When the console started, seconds since the epoch.")
        start.add_metric([], self.started_at)
        yield start

        connected = GaugeMetricFamily(
            "watchfloor_environment_connected", "1 while the environment's backend answers, else 0.", labels=["env"]
        )
        health = GaugeMetricFamily(
            "watchfloor_workload_health",
            "1 for the workload's current health state, 0 for the others (one series per state).",
            labels=["env", "workload", "state"],
        )
        for env in self.store.environment_names():
            connected.add_metric([env], 1 if self.store.connection(env).connected else 0)
        for workload in self.store.workloads():
            for state in HEALTH_STATES:
                health.add_metric([workload.env, workload.key.label, state], 1 if workload.health.value == state else 0)
        yield connected
        yield health

        yield from self._availability()
        yield from self._runs()

    def _availability(self) -> Iterator[Metric]:
        ratio = GaugeMetricFamily(
            "watchfloor_workload_availability_ratio",
            "Up time over known time in the window (0..1); unknown time is left out (docs/availability.md).",
            labels=["env", "workload", "window"],
        )
        coverage = GaugeMetricFamily(
            "watchfloor_workload_availability_coverage_ratio",
            "The share of the window whose health the console knew (0..1).",
            labels=["env", "workload", "window"],
        )
        target = GaugeMetricFamily(
            "watchfloor_slo_target_ratio", "The workload's availability target from the config (0..1).", labels=["env", "workload"]
        )
        budget = GaugeMetricFamily(
            "watchfloor_slo_error_budget_remaining_ratio",
            "Error budget left over the SLO window: 1 untouched, 0 spent, below 0 overspent.",
            labels=["env", "workload", "window"],
        )
        recording = GaugeMetricFamily(
            "watchfloor_availability_recording",
            "1 while this console records the environment's health transitions; 0 when another console does, "
            "or recording failed.",
            labels=["env"],
        )
        if self.availability is not None:
            failed = self.availability.failed is not None
            for env, owned in self.availability.recording().items():
                recording.add_metric([env], 1 if owned and not failed else 0)
            for item in self.availability.all_figures().values():
                for window, tally in item.windows:
                    coverage.add_metric([item.env, item.workload, window], tally.coverage)
                    if tally.availability is not None:
                        ratio.add_metric([item.env, item.workload, window], tally.availability)
                if item.slo is not None:
                    target.add_metric([item.env, item.workload], item.slo / 100)
                if item.budget is not None and item.budget.left_ratio is not None:
                    budget.add_metric([item.env, item.workload, item.budget.window], item.budget.left_ratio)
        yield recording
        yield ratio
        yield coverage
        yield target
        yield budget

    def _runs(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "watchfloor_runs", "Runbook runs this console finished, by runbook and outcome.", labels=["runbook", "outcome"]
        )
        counts = Counter(
            (view.runbook, view.outcome.value) for view in self.runs() if getattr(view, "outcome", None) is not None
        )
        for (runbook, outcome), count in sorted(counts.items()):
            runs.add_metric([runbook, outcome], count)
        yield runs


class MetricsExporter:
    """The HTTP endpoint: ``/metrics`` (any path answers) on ``host:port``.

    Raises:
        OSError: From the constructor, when the address cannot be bound (in use,
            not an address of this machine).
    """

    def __init__(self, collector: Collector, *, host: str = "127.0.0.1", port: int = 9464, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        if process:
            # The console's own resource use: memory, CPU seconds, open files.
            ProcessCollector(registry=self.registry)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.host = host
        self.port = self._server.server_port
        """The bound port (the one asked for, or the one picked for port 0)."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
