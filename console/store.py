"""The store: the one place adapters and the UI meet (DESIGN §2).

Adapter threads call ``apply()`` with pure ``Change`` objects; the UI calls ``drain()``
once per frame tick and gets only what changed since the last tick, then reads the
model with the query methods. Everything is guarded by one lock and every value handed
out is immutable, so neither side can see the other half-way through an update.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from console.health import aggregate
from console.redact import redact_text
from console.model import (
    Alert,
    Change,
    ConnectionChanged,
    ConnectionState,
    Environment,
    EnvironmentView,
    EventRecorded,
    DeployMarker,
    MetricSeries,
    NamedQuery,
    Replica,
    ReplicaRemoved,
    ReplicaUpserted,
    Sample,
    SampleAdded,
    SnapshotReplaced,
    Workload,
    WorkloadKey,
    WorkloadSpec,
    WorkloadSpecRemoved,
    WorkloadSpecUpserted,
)

SAMPLE_WINDOW = 600
"""Samples kept per series: ten minutes at the engine's one-second stats step."""
EVENTS_PER_WORKLOAD = 50
"""Backend events kept per workload, newest first."""


def _sample_time(sample: Sample) -> float:
    return sample.ts


@dataclass(frozen=True, slots=True)
class PrometheusView:
    """An environment's Prometheus as the UI sees it: its named queries and its state."""

    queries: tuple[NamedQuery, ...] = ()
    simulated: bool = False
    connection: ConnectionState | None = None
    """None until the first poll has answered or failed."""
    window: float = 1800.0
    """Seconds of history a sparkline spans."""


@dataclass(slots=True)
class Delta:
    """What changed since the previous ``drain()``."""

    environments: set[str] = field(default_factory=set)
    """Environments whose connection state or workload list changed."""
    workloads: set[WorkloadKey] = field(default_factory=set)
    """Workloads added or changed (health, replicas, version)."""
    removed: set[WorkloadKey] = field(default_factory=set)
    """Workloads that no longer exist."""
    metrics: set[WorkloadKey] = field(default_factory=set)
    """Workloads with new CPU/memory samples."""
    events: set[WorkloadKey] = field(default_factory=set)
    """Workloads with new backend events."""
    series: set[WorkloadKey] = field(default_factory=set)
    """Workloads with new Prometheus metric points or deploy markers."""
    alerts: set[str] = field(default_factory=set)
    """Environments whose alerts or Prometheus connection state changed."""

    def __bool__(self) -> bool:
        return bool(
            self.environments or self.workloads or self.removed or self.metrics or self.events or self.series or self.alerts
        )

    def merge(self, other: Delta) -> None:
        """Fold ``other`` into this delta (a screen collecting ticks between repaints)."""
        self.environments |= other.environments
        self.workloads |= other.workloads
        self.removed |= other.removed
        self.metrics |= other.metrics
        self.events |= other.events
        self.series |= other.series
        self.alerts |= other.alerts


class Store:
    """Holds the model; thread-safe; coalesces changes between UI ticks."""

    def __init__(self, environments: Iterable[Environment] = (), *, sample_window: int = SAMPLE_WINDOW) -> None:
        self._lock = threading.RLock()
        self._sample_window = sample_window
        self._views: dict[str, EnvironmentView] = {}
        self._replicas: dict[str, dict[str, Replica]] = defaultdict(dict)
        """Per environment: replica id → replica."""
        self._members: dict[WorkloadKey, set[str]] = defaultdict(set)
        self._kinds: dict[WorkloadKey, str] = {}
        self._specs: dict[WorkloadKey, WorkloadSpec] = {}
        self._metrics_notes: dict[str, str] = {}
        self._events: dict[WorkloadKey, deque[EventRecorded]] = {}
        self._workloads: dict[WorkloadKey, Workload] = {}
        self._series: dict[tuple[str, str], deque[Sample]] = {}
        self._prometheus: dict[str, PrometheusView] = {}
        """Environments that have a Prometheus."""
        self._metric_series: dict[tuple[WorkloadKey, str], MetricSeries] = {}
        self._alerts: dict[str, tuple[Alert, ...]] = {}
        self._alert_index: dict[str, dict[str, list[tuple[str, str]]]] = {}
        """Per environment: workload name → (namespace label or "", state) of its alerts."""
        self._markers: dict[WorkloadKey, tuple[DeployMarker, ...]] = {}
        self._pending = Delta()
        self._dirty_keys: set[WorkloadKey] = set()
        self._listeners: list = []
        self._model_listeners: list = []
        for environment in environments:
            self.add_environment(environment)

    # -- set-up ---------------------------------------------------------------------

    def add_environment(self, environment: Environment) -> None:
        with self._lock:
            self._views[environment.name] = EnvironmentView(environment)
            self._pending.environments.add(environment.name)

    def on_replicas_changed(self, callback) -> None:
        """Call ``callback()`` (from the adapter thread) when the set of replicas changes."""
        self._listeners.append(callback)

    def on_model_changed(self, callback) -> None:
        """Call ``callback()`` (from the adapter thread) after any change that may move a
        workload's health or an environment's connection (not samples, not events).

        The callback must be quick (set an event): it runs under no lock but on the
        adapter's thread.
        """
        self._model_listeners.append(callback)

    # -- adapter side ---------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Fold one change into the model. Called from adapter threads."""
        self.apply_many((change,))

    def apply_many(self, changes: Iterable[Change]) -> None:
        membership_changed = model_changed = False
        with self._lock:
            for change in changes:
                membership_changed |= self._apply(change)
                model_changed = model_changed or not isinstance(change, (SampleAdded, EventRecorded))
        if membership_changed:
            for listener in self._listeners:
                listener()
        if model_changed:
            for listener in self._model_listeners:
                listener()

    def _apply(self, change: Change) -> bool:
        if isinstance(change, SampleAdded):
            series = self._series.get((change.replica_id, change.metric))
            if series is None:
                series = self._series[(change.replica_id, change.metric)] = deque(maxlen=self._sample_window)
            series.append(change.sample)
            replica = self._replicas[change.env].get(change.replica_id)
            if replica is not None:
                self._pending.metrics.add(replica.workload)
            return False
        if isinstance(change, ReplicaUpserted):
            self._put(change.replica)
            return True
        if isinstance(change, ReplicaRemoved):
            self._remove(change.env, change.replica_id)
            return True
        if isinstance(change, SnapshotReplaced):
            known = self._replicas[change.env]
            fresh = {r.id for r in change.replicas}
            for replica_id in [rid for rid in known if rid not in fresh]:
                self._remove(change.env, replica_id)
            for key, kind in change.kinds:
                self._kinds[key] = kind
            if change.specs is not None:
                fresh_specs = {spec.key: spec for spec in change.specs}
                for key in [k for k in self._specs if k.env == change.env and k not in fresh_specs]:
                    del self._specs[key]
                    self._dirty_keys.add(key)
                for key, spec in fresh_specs.items():
                    if self._specs.get(key) != spec:
                        self._specs[key] = spec
                        self._dirty_keys.add(key)
            for replica in change.replicas:
                if known.get(replica.id) != replica:
                    self._put(replica)
            self._pending.environments.add(change.env)
            return True
        if isinstance(change, WorkloadSpecUpserted):
            key = change.spec.key
            if self._specs.get(key) != change.spec:
                self._specs[key] = change.spec
                self._dirty_keys.add(key)
            return False
        if isinstance(change, WorkloadSpecRemoved):
            if self._specs.pop(change.key, None) is not None:
                self._dirty_keys.add(change.key)
            return False
        if isinstance(change, EventRecorded):
            change = replace(change, message=redact_text(change.message))
            events = self._events.get(change.key)
            if events is None:
                events = self._events[change.key] = deque(maxlen=EVENTS_PER_WORKLOAD)
            events.append(change)
            self._pending.events.add(change.key)
            return False
        if isinstance(change, ConnectionChanged):
            view = self._views.get(change.env)
            if view is not None and view.connection != change.state:
                view.connection = change.state
                self._pending.environments.add(change.env)
            return False
        raise TypeError(f"unknown change {change!r}")

    def _put(self, replica: Replica) -> None:
        # Reasons quote the backend (a failing health check's output, a pull error
        # with the registry URL): every view and copy of them starts here.
        reason = redact_text(replica.reason)
        if reason is not replica.reason:
            replica = replace(replica, reason=reason)
        env = replica.workload.env
        old = self._replicas[env].get(replica.id)
        if old is not None and old.workload != replica.workload:
            self._members[old.workload].discard(old.id)
            self._dirty_keys.add(old.workload)
        self._replicas[env][replica.id] = replica
        self._members[replica.workload].add(replica.id)
        self._dirty_keys.add(replica.workload)

    def _remove(self, env: str, replica_id: str) -> None:
        old = self._replicas[env].pop(replica_id, None)
        if old is None:
            return
        self._members[old.workload].discard(replica_id)
        self._dirty_keys.add(old.workload)
        self._series.pop((replica_id, "cpu"), None)
        self._series.pop((replica_id, "memory"), None)

    # -- UI side --------------------------------------------------------------------

    def drain(self) -> Delta:
        """Everything that changed since the last call; recomputes dirty workloads."""
        with self._lock:
            self._refresh_workloads()
            delta, self._pending = self._pending, Delta()
            return delta

    def _refresh_workloads(self) -> None:
        for key in self._dirty_keys:
            members = [self._replicas[key.env][rid] for rid in self._members.get(key, ())]
            spec = self._specs.get(key)
            if not members and spec is None:
                self._members.pop(key, None)
                if self._workloads.pop(key, None) is not None:
                    self._pending.removed.add(key)
                    self._pending.environments.add(key.env)
                self._pending.workloads.discard(key)
                continue
            workload = aggregate(
                key, members, kind=self._kinds.get(key, "service" if key.group else "container"), spec=spec
            )
            if self._workloads.get(key) != workload:
                if key not in self._workloads:
                    self._pending.environments.add(key.env)
                self._workloads[key] = workload
                self._pending.workloads.add(key)
                self._pending.removed.discard(key)
        self._dirty_keys.clear()

    # -- queries (any thread) -----------------------------------------------------------

    def environment_names(self) -> list[str]:
        with self._lock:
            return list(self._views)

    def environment(self, name: str) -> Environment | None:
        with self._lock:
            view = self._views.get(name)
            return view.environment if view else None

    def connection(self, name: str) -> ConnectionState:
        with self._lock:
            view = self._views.get(name)
            return view.connection if view else ConnectionState(False, "unknown environment")

    def workloads(self, env: str | None = None) -> list[Workload]:
        """Workloads sorted by environment order, group, name."""
        with self._lock:
            self._refresh_workloads()
            order = {name: index for index, name in enumerate(self._views)}
            chosen = [w for w in self._workloads.values() if env is None or w.key.env == env]
        return sorted(chosen, key=lambda w: (order.get(w.key.env, 0), w.key.group, w.key.name))

    def workload_map(self, env: str) -> dict[WorkloadKey, Workload]:
        """An environment's workloads by key, unsorted: for a background diff that skips
        the objects it saw last time (a workload object is replaced only when it changes)."""
        with self._lock:
            self._refresh_workloads()
            return {key: workload for key, workload in self._workloads.items() if key.env == env}

    def workload(self, key: WorkloadKey) -> Workload | None:
        with self._lock:
            self._refresh_workloads()
            return self._workloads.get(key)

    def replicas(self, key: WorkloadKey) -> list[Replica]:
        with self._lock:
            members = [self._replicas[key.env][rid] for rid in self._members.get(key, ())]
        return sorted(members, key=lambda r: r.name)

    def replica(self, env: str, replica_id: str) -> Replica | None:
        with self._lock:
            return self._replicas[env].get(replica_id)

    def all_replicas(self) -> list[Replica]:
        with self._lock:
            return [r for replicas in self._replicas.values() for r in replicas.values()]

    def series(self, replica_id: str, metric: str) -> list[Sample]:
        with self._lock:
            return list(self._series.get((replica_id, metric), ()))

    def latest(self, replica_id: str, metric: str) -> float | None:
        with self._lock:
            series = self._series.get((replica_id, metric))
            return series[-1].value if series else None

    def workload_usage(self, key: WorkloadKey) -> tuple[float | None, float | None]:
        """Latest CPU percent and memory bytes summed over the workload's replicas."""
        with self._lock:
            cpu = memory = None
            for rid in self._members.get(key, ()):
                c = self._series.get((rid, "cpu"))
                m = self._series.get((rid, "memory"))
                if c:
                    cpu = (cpu or 0.0) + c[-1].value
                if m:
                    memory = (memory or 0.0) + m[-1].value
            return cpu, memory

    def set_metrics_note(self, env: str, note: str | None) -> None:
        """Why an environment has no CPU/memory samples ("no metrics API …"), or None."""
        with self._lock:
            if self._metrics_notes.get(env) == note:
                return
            if note is None:
                self._metrics_notes.pop(env, None)
            else:
                self._metrics_notes[env] = note
            self._pending.environments.add(env)

    def metrics_note(self, env: str) -> str | None:
        with self._lock:
            return self._metrics_notes.get(env)

    def events(self, key: WorkloadKey) -> list[EventRecorded]:
        """The workload's recent backend events, newest first."""
        with self._lock:
            return list(reversed(self._events.get(key, ())))

    def workload_series(self, key: WorkloadKey, metric: str) -> list[Sample]:
        """A workload's series: its replicas' samples summed per whole second."""
        with self._lock:
            buckets: dict[int, float] = defaultdict(float)
            for rid in self._members.get(key, ()):
                for sample in self._series.get((rid, metric), ()):
                    buckets[int(sample.ts)] += sample.value
        return [Sample(float(ts), value) for ts, value in sorted(buckets.items())]

    # -- Prometheus: sparklines, alerts, deploy markers (metrics_poller.py feeds these) --

    def set_prometheus(
        self, env: str, queries: Iterable[NamedQuery] = (), *, simulated: bool = False, window: float = 1800.0
    ) -> None:
        """Say that ``env`` has a Prometheus with these named queries (sparklines of ``window`` seconds)."""
        with self._lock:
            old = self._prometheus.get(env)
            self._prometheus[env] = PrometheusView(tuple(queries), simulated, old.connection if old else None, window)
            self._pending.alerts.add(env)

    def set_prometheus_connection(self, env: str, state: ConnectionState) -> None:
        with self._lock:
            view = self._prometheus.get(env)
            if view is None or view.connection == state:
                return
            self._prometheus[env] = PrometheusView(view.queries, view.simulated, state, view.window)
            self._pending.alerts.add(env)

    def prometheus(self, env: str) -> PrometheusView | None:
        """The environment's Prometheus, or None when it has none."""
        with self._lock:
            return self._prometheus.get(env)

    def put_series(
        self,
        key: WorkloadKey,
        query: str,
        points: Iterable[Sample],
        *,
        replace: bool,
        since: float | None = None,
        note: str | None = None,
    ) -> None:
        """Store a range query's answer for a workload's named query.

        Args:
            points: Oldest first.
            replace: The points are the whole window; otherwise they extend what is
                held (an incremental fetch of the newest part).
            since: Drop points older than this (the window's start).
            note: Why the series is empty or partial; None clears the note.
        """
        new = tuple(points)
        with self._lock:
            old = self._metric_series.get((key, query))
            if replace or old is None:
                merged = new
            else:
                # Points are oldest first: cut by bisection, not by a pass over every point
                # (50 series of a few hundred points, every step).
                cut = bisect_left(old.points, new[0].ts, key=_sample_time) if new else len(old.points)
                merged = old.points[:cut] + new
            if since is not None and merged and merged[0].ts < since:
                merged = merged[bisect_left(merged, since, key=_sample_time) :]
            if old is not None and old.note == note and (old.points is merged or old.points == merged):
                return
            self._metric_series[(key, query)] = MetricSeries(key, query, merged, note)
            self._pending.series.add(key)

    def forget_series(self, key: WorkloadKey) -> None:
        """Drop every metric series of a workload (no longer on screen)."""
        with self._lock:
            gone = [pair for pair in self._metric_series if pair[0] == key]
            for pair in gone:
                del self._metric_series[pair]
            if gone:
                self._pending.series.add(key)

    def metric_series(self, key: WorkloadKey, query: str) -> MetricSeries | None:
        with self._lock:
            return self._metric_series.get((key, query))

    def series_count(self) -> int:
        """How many metric series are held (bounded by what is on screen)."""
        with self._lock:
            return len(self._metric_series)

    def set_alerts(self, env: str, alerts: Iterable[Alert]) -> None:
        """Replace the environment's pending and firing alerts; rows whose mark changes are redrawn."""
        fresh = tuple(alerts)
        with self._lock:
            if self._alerts.get(env) == fresh:
                return
            before = {k: self._alert_state(k) for k in self._workloads if k.env == env}
            self._alerts[env] = fresh
            index: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for alert in fresh:
                for name in alert.workload_names:
                    index[name].append((alert.label("namespace"), alert.state))
            self._alert_index[env] = dict(index)
            for key, state in before.items():
                if self._alert_state(key) != state:
                    self._pending.workloads.add(key)
            self._pending.alerts.add(env)

    def alerts(self, env: str | None = None) -> list[Alert]:
        """Pending and firing alerts, of one environment or all, in environment order."""
        with self._lock:
            envs = [env] if env is not None else list(self._views)
            return [alert for name in envs for alert in self._alerts.get(name, ())]

    def alert_state(self, key: WorkloadKey) -> str | None:
        """``firing`` when an alert on the workload fires, ``pending`` when one is pending, else None."""
        with self._lock:
            return self._alert_state(key)

    def _alert_state(self, key: WorkloadKey) -> str | None:
        entries = self._alert_index.get(key.env, {}).get(key.name)
        if not entries:
            return None
        states = {state for namespace, state in entries if not namespace or namespace == key.group}
        if "firing" in states:
            return "firing"
        return "pending" if states else None

    def set_markers(self, markers: dict[WorkloadKey, tuple[DeployMarker, ...]]) -> None:
        """Replace every workload's deploy markers (read from the run journals)."""
        with self._lock:
            for key in set(self._markers) | set(markers):
                if self._markers.get(key, ()) != markers.get(key, ()):
                    self._pending.series.add(key)
            self._markers = {key: value for key, value in markers.items() if value}

    def markers(self, key: WorkloadKey) -> tuple[DeployMarker, ...]:
        """The workload's deploy markers, oldest first."""
        with self._lock:
            return self._markers.get(key, ())
