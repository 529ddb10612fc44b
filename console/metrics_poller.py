"""Prometheus into the store: sparkline series, alerts, connection state, deploy markers.

Prometheus has no push (DESIGN §2), so one `MetricsPoller` per environment with a
Prometheus polls it at the sparkline step, in a thread of its own:

- one range query per (named query, workload) **series that is on screen**: the
  selected workload and the visible rows of the workload table, as the screen last
  told the app (`MetricsPoller.want`), never every workload of a large cluster;
- the first query of a series fetches the whole sparkline window, later ones only
  the steps that are new since, and a series is never queried twice in one step
  (a workload that comes into view mid-step is fetched at once, the others wait for
  the next step);
- ``/api/v1/alerts`` once per step;
- the outcome as the environment's Prometheus connection state: connected, or
  "unreachable since 12:03:04, retrying in 8 s" with backoff. The series already
  fetched stay in the store while it is down.

`DeployMarkerReader` reads the run journals on disk (so markers survive a console
restart) for the moments a run deployed, rolled back or promoted a workload, and
`watch_markers` keeps the store's markers current. Both run off the UI thread; the
UI reads the store.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from adapters.base import AdapterError, ErrorKind, StopSignal
from console.model import (
    Alert,
    ConnectionState,
    DeployMarker,
    NamedQuery,
    Sample,
    WorkloadKey,
)
from console.store import Store
from console.watcher import Backoff

log = structlog.get_logger("watchfloor.metrics")

STEP_SECONDS = 15.0
"""The sparkline step: Prometheus is asked once per step, and series have a point per step."""
WINDOW_SECONDS = 30 * 60.0
"""How far back a sparkline reaches."""
MAX_WORKLOADS = 40
"""Workloads whose series are polled per environment: the selected one and the visible rows."""
FORGET_STEPS = 4
"""Steps a workload may be off screen before its series are dropped (scrolling back
within them costs one incremental query, not the whole window again)."""
STEPS_COUNTED = 8
"""Steps whose per-series query counts are kept (for `MetricsPoller.most_queries_in_a_step`)."""

MARKER_VERBS = frozenset({"deploy", "rollback", "canary.promote", "bluegreen.switch"})
"""Adapter calls that change what serves: each successful one is a deploy marker."""


@dataclass(slots=True)
class _SeriesState:
    step: int = -1
    """The step in which the series was last queried."""
    end: float | None = None
    """The last evaluation time fetched (aligned to the step); None before the first fetch."""


class MetricsPoller:
    """Polls one environment's Prometheus for the series on screen and for alerts.

    Args:
        env: The environment's name.
        make_source: Returns a new ``adapters.prometheus.PrometheusSource``; may raise
            `AdapterError` (a token reference that cannot be resolved).
        queries: The environment's named queries, drawn in this order.
        store: Where series, alerts and the connection state go.
        step: Seconds between polls and between a series' points.
        window: Seconds of history per sparkline.
        clock: Wall clock (seconds since the epoch).
        max_workloads: Workloads polled at most (the first of what `want` is given).
    """

    def __init__(
        self,
        env: str,
        make_source: Callable[[], object],
        queries: Sequence[NamedQuery],
        store: Store,
        *,
        step: float | None = None,
        window: float | None = None,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        max_workloads: int = MAX_WORKLOADS,
    ) -> None:
        self.env = env
        self.make_source = make_source
        self.queries = tuple(queries)
        self.store = store
        self.step = float(step if step is not None else STEP_SECONDS)
        self.window = float(window if window is not None else WINDOW_SECONDS)
        self.clock = clock
        self.max_workloads = max_workloads
        self.range_queries = 0
        """Range queries sent so far (tests and the benchmark read it)."""
        self._backoff = backoff or Backoff(2.0, 60.0)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._wanted: tuple[WorkloadKey, ...] = ()
        self._state: dict[tuple[WorkloadKey, str], _SeriesState] = {}
        self._alerts_step = -1
        self._off_screen: dict[WorkloadKey, int] = {}
        """Workload → the step it left the screen in (its series are kept a while)."""
        self._counts: dict[int, Counter] = {}
        """Step → (workload, query) → range queries sent in that step."""

    # -- what the UI asks for (any thread) ------------------------------------------------

    def want(self, keys: Iterable[WorkloadKey]) -> None:
        """Poll these workloads' series (the selected one first, then the visible rows).

        Cheap when nothing changed; a workload new to the list is fetched at once.
        """
        chosen = tuple(dict.fromkeys(k for k in keys if k.env == self.env))[: self.max_workloads]
        with self._lock:
            if chosen == self._wanted:
                return
            new = set(chosen) - set(self._wanted)
            self._wanted = chosen
        if new and self.queries:
            self._wake.set()

    @property
    def wanted(self) -> tuple[WorkloadKey, ...]:
        with self._lock:
            return self._wanted

    def most_queries_in_a_step(self) -> int:
        """The most range queries any one series got in any one step (of the last few): ≤ 1."""
        with self._lock:
            return max((n for counts in self._counts.values() for n in counts.values()), default=0)

    def queries_per_step(self) -> dict[int, Counter]:
        """Step number → (workload, query name) → range queries sent in it (the last few steps)."""
        with self._lock:
            return {step: Counter(counts) for step, counts in self._counts.items()}

    # -- the loop ----------------------------------------------------------------------------

    def start(self, stop: StopSignal) -> threading.Thread:
        """Run in a daemon thread of its own until ``stop`` is set.

        Not a Textual thread worker: those share asyncio's default executor (six threads
        on a two-core machine), and a loop that never ends would hold one of them for
        good, leaving a runbook's worker waiting for a free thread.
        """
        thread = threading.Thread(target=self.run, args=(stop,), name=f"metrics-{self.env}", daemon=True)
        thread.start()
        return thread

    def run(self, stop: StopSignal) -> None:
        """Poll at every step until ``stop`` is set; a Prometheus that fails is retried with backoff."""
        stop.on_set(self._wake.set)
        source = None
        down_since: datetime | None = None
        try:
            while not stop.is_set():
                now = self.clock()
                try:
                    if source is None:
                        source = self.make_source()
                    self.poll(source, now)
                except AdapterError as error:
                    down_since = down_since or datetime.now(UTC)
                    delay = self._backoff.next() if error.kind is not ErrorKind.BAD_INPUT else self._backoff.cap
                    self._report_down(error.summary, error.admin_detail, down_since, delay, error.kind.value, error.developer_detail)
                    if source is not None:
                        source.close()
                    stop.wait(delay)
                    continue
                except Exception as error:  # noqa: BLE001 - a bug here must not end the polling
                    log.exception("metrics poll crashed", environment_name=self.env)
                    down_since = down_since or datetime.now(UTC)
                    delay = self._backoff.next()
                    self._report_down(f"internal error: {error}", "", down_since, delay)
                    stop.wait(delay)
                    continue
                down_since = None
                self._backoff.reset()
                self.store.set_prometheus_connection(self.env, ConnectionState(True))
                # Sleep to the next step boundary, or until a new workload comes on screen.
                boundary = (int(now // self.step) + 1) * self.step
                self._wake.wait(max(0.0, boundary - self.clock()) + 0.01)
                self._wake.clear()
        finally:
            if source is not None:
                source.close()

    def _report_down(self, error: str, detail: str, since: datetime, delay: float, kind: str = "", developer: str = "") -> None:
        log.warning("prometheus unavailable", environment_name=self.env, error=error, retry_in=round(delay, 1))
        self.store.set_prometheus_connection(
            self.env,
            ConnectionState(
                False, error=error, since=since, retry_at=time.monotonic() + delay, detail=detail, kind=kind, developer_detail=developer
            ),
        )

    def poll(self, source, now: float) -> None:
        """One poll at ``now``: alerts if this step has not had them, then every wanted series
        not yet queried in this step.

        Raises:
            AdapterError: Prometheus did not answer (or refused): the caller reports it.
        """
        step_index = int(now // self.step)
        if step_index != self._alerts_step:
            alerts = source.alerts()
            self.store.set_alerts(self.env, tuple(_alert(self.env, a) for a in alerts))
            self._alerts_step = step_index
        wanted = self.wanted
        self._forget_off_screen(set(wanted), step_index)
        end = step_index * self.step
        for key in wanted:
            for query in self.queries:
                state = self._state.setdefault((key, query.name), _SeriesState())
                if state.step == step_index:
                    continue
                self._fetch(source, key, query, state, step_index, end)

    def _forget_off_screen(self, wanted: set[WorkloadKey], step_index: int) -> None:
        """Drop the series of workloads off screen for `FORGET_STEPS` steps: memory stays
        bounded by what is on screen, however far the operator scrolls."""
        for key in wanted:
            self._off_screen.pop(key, None)
        for key in {key for key, _ in self._state} - wanted:
            left = self._off_screen.setdefault(key, step_index)
            if step_index - left >= FORGET_STEPS:
                for query in self.queries:
                    self._state.pop((key, query.name), None)
                del self._off_screen[key]
                self.store.forget_series(key)

    def _fetch(self, source, key: WorkloadKey, query: NamedQuery, state: _SeriesState, step_index: int, end: float) -> None:
        from adapters.prometheus import named_query

        state.step = step_index
        window_start = end - self.window
        replace = state.end is None or state.end + self.step < window_start
        start = window_start if replace else state.end + self.step  # type: ignore[operator]
        if start > end:
            return
        try:
            promql = named_query(query.query, workload=key.name, namespace=key.group, service=key.name)
        except ValueError as error:
            self.store.put_series(key, query.name, (), replace=True, note=f"query {query.name}: {error}")
            return
        self._count(step_index, key, query.name)
        try:
            result = source.range(promql, start, end, self.step)
        except AdapterError as error:
            if error.kind in (ErrorKind.BAD_INPUT, ErrorKind.BACKEND):
                # Prometheus answered: this query is wrong (or too costly), not Prometheus down.
                self.store.put_series(key, query.name, (), replace=True, note=error.summary)
                state.end = None
                return
            state.step = -1  # not fetched after all: the next poll tries again
            raise
        note = None
        if not result:
            points: list[Sample] = []
            if replace:
                note = "no data"
        else:
            ordered = sorted(result, key=lambda series: sorted(series[0].items()))
            if len(ordered) > 1:
                note = f"{len(ordered)} series, the first drawn: aggregate the query (sum, avg, max)"
            points = [Sample(ts, value) for ts, value in ordered[0][1]]
        if not replace and not points:
            state.end = end
            return
        self.store.put_series(key, query.name, points, replace=replace, since=window_start, note=note)
        state.end = end

    def _count(self, step_index: int, key: WorkloadKey, query: str) -> None:
        with self._lock:
            self.range_queries += 1
            self._counts.setdefault(step_index, Counter())[(key, query)] += 1
            for old in [s for s in self._counts if s <= step_index - STEPS_COUNTED]:
                del self._counts[old]


def _alert(env: str, alert) -> Alert:
    """The console's `Alert` from the adapter's (same fields, labels as sorted pairs)."""
    return Alert(
        env=env,
        name=alert.name,
        state=alert.state,
        labels=tuple(sorted(alert.labels.items())),
        annotations=tuple(sorted(alert.annotations.items())),
        active_at=alert.active_at,
        value=alert.value,
    )


# --- deploy markers from the run journals ---------------------------------------------------


def workload_key(env: str, label: str) -> WorkloadKey:
    """The key of a workload named as journals name it: ``NAME`` or ``GROUP/NAME``."""
    group, _, name = label.rpartition("/")
    return WorkloadKey(env, group, name)


def markers_of(entries: Iterable[dict]) -> list[tuple[WorkloadKey, DeployMarker]]:
    """The deploy markers of one run: each successful deploy, rollback, canary promote or
    blue-green switch, and the run's end when it made any of them."""
    found: list[tuple[WorkloadKey, DeployMarker]] = []
    for entry in entries:
        event = entry.get("event")
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        ts = _timestamp(entry.get("ts"))
        env, label, run_id = entry.get("environment_name"), entry.get("workload"), entry.get("run_id")
        if ts is None or not isinstance(env, str) or not isinstance(label, str) or not label:
            continue
        key = workload_key(env, label)
        request = data.get("request") if isinstance(data.get("request"), dict) else {}
        verb = request.get("verb")
        if event == "adapter.call" and verb in MARKER_VERBS and "result" in data:
            result = data.get("result") if isinstance(data.get("result"), dict) else {}
            version = result.get("to_version") or request.get("image") or ""
            found.append((key, DeployMarker(ts, verb, str(run_id or ""), str(version))))
        elif event == "run.finished" and found:
            found.append((key, DeployMarker(ts, "finished", str(run_id or ""), str(data.get("outcome") or ""))))
    return found


def _timestamp(value) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class DeployMarkerReader:
    """Deploy markers of every workload, from the journals in the runs directory.

    Each journal is read again only when its size or modification time changed, so a
    refresh per step costs a ``stat`` per run.

    Args:
        directory: The runs directory; ``console.locations.runs_dir()`` when None.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._cache: dict[Path, tuple[tuple[int, int], list[tuple[WorkloadKey, DeployMarker]]]] = {}

    def read(self) -> dict[WorkloadKey, tuple[DeployMarker, ...]]:
        from console import locations
        from console.runbook.journal import JournalCorrupt, read_journal

        base = self.directory if self.directory is not None else locations.runs_dir()
        try:
            paths = [p for p in Path(base).iterdir() if p.suffix == ".jsonl"]
        except OSError:
            paths = []
        fresh: dict[Path, tuple[tuple[int, int], list]] = {}
        for path in paths:
            try:
                status = path.stat()
            except OSError:
                continue
            stamp = (status.st_mtime_ns, status.st_size)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == stamp:
                fresh[path] = cached
                continue
            try:
                found = markers_of(read_journal(path).entries)
            except (OSError, JournalCorrupt, ValueError):
                found = []  # a damaged journal: `watchfloor history` names it; no markers from it
            fresh[path] = (stamp, found)
        self._cache = fresh
        markers: dict[WorkloadKey, list[DeployMarker]] = {}
        for _, found in fresh.values():
            for key, marker in found:
                markers.setdefault(key, []).append(marker)
        return {key: tuple(sorted(found, key=lambda m: m.ts)) for key, found in markers.items()}


def start_marker_watch(store: Store, stop: StopSignal) -> threading.Thread:
    """`watch_markers` in a daemon thread of its own (see `MetricsPoller.start` for why not a worker)."""
    thread = threading.Thread(target=watch_markers, args=(store, stop), name="deploy-markers", daemon=True)
    thread.start()
    return thread


def watch_markers(store: Store, stop: StopSignal, *, reader: DeployMarkerReader | None = None, interval: float | None = None) -> None:
    """Keep the store's deploy markers current until ``stop`` is set (a refresh per step)."""
    reader = reader or DeployMarkerReader()
    every = interval if interval is not None else STEP_SECONDS
    while not stop.is_set():
        try:
            store.set_markers(reader.read())
        except Exception:  # noqa: BLE001 - markers are a nicety: never end the loop
            log.exception("reading deploy markers failed")
        stop.wait(every)
