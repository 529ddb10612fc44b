"""Loops that keep the store fed from an adapter: the watch, with reconnects, and stats.

These are plain blocking functions; the app runs them in Textual thread workers and the
tests run them in threads. A lost backend becomes a ``ConnectionState`` in the store —
"disconnected since 12:03:04, retrying in 4 s" — never an exception in the UI.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from adapters.base import Adapter, AdapterError, StopSignal
from console.model import ConnectionChanged, ConnectionState, Replica, SampleAdded
from console.store import Store

log = structlog.get_logger("watchfloor.watcher")


class Backoff:
    """Exponential backoff with full jitter, reset after a success."""

    def __init__(self, first: float = 1.0, cap: float = 30.0, *, rng: random.Random | None = None) -> None:
        self.first = first
        self.cap = cap
        self._attempt = 0
        self._rng = rng or random.Random()  # nosec B311 # backoff jitter, not secrets

    def reset(self) -> None:
        self._attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * (2**self._attempt))
        self._attempt += 1
        # Half fixed, half random: never zero (no hot loop), never synchronised.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def watch_environment(
    adapter: Adapter,
    store: Store,
    stop: StopSignal,
    *,
    backoff: Backoff | None = None,
) -> None:
    """Connect, follow the adapter's changes into the store, reconnect when it drops.

    Runs until ``stop`` is set. Each change is applied as it arrives: the store
    coalesces them for the UI, so there is nothing to gain by holding them here.
    """
    env = adapter.environment.name
    backoff = backoff or Backoff()
    down_since: datetime | None = None
    stop.on_set(adapter.close)
    while not stop.is_set():
        error = "the backend closed the connection"
        detail = kind = developer = ""
        try:
            adapter.connect()
            for change in adapter.watch(stop):
                if isinstance(change, ConnectionChanged) and change.state.connected:
                    down_since = None
                    backoff.reset()
                store.apply(change)
        except AdapterError as failure:
            error = failure.summary
            detail = failure.admin_detail
            kind, developer = failure.kind.value, failure.developer_detail
        except Exception as failure:  # noqa: BLE001 - a bug in a backend must not kill the loop
            log.exception("watch crashed", environment_name=env)
            error = f"internal error: {failure}"
            developer = "".join(traceback.format_exception(failure)).rstrip()
        if stop.is_set():
            break
        adapter.close()
        down_since = down_since or datetime.now(UTC)
        delay = backoff.next()
        log.warning("environment disconnected", environment_name=env, error=error, retry_in=round(delay, 1))
        store.apply(
            ConnectionChanged(
                env,
                ConnectionState(
                    False,
                    error=error,
                    since=down_since,
                    retry_at=time.monotonic() + delay,
                    detail=detail,
                    kind=kind,
                    developer_detail=developer,
                ),
            )
        )
        stop.wait(delay)


class StatsManager:
    """Keeps one stats stream open per running replica the console cares about.

    Docker has one stats stream per container and each costs the engine a goroutine and
    a cgroup read per second, so streams are capped; the selected workload's replicas
    come first, then the rest in name order.
    """

    def __init__(self, env: str, make_adapter: Callable[[], Adapter], store: Store, *, limit: int = 48) -> None:
        self.make_adapter = make_adapter
        self.adapter: Adapter | None = None
        self.store = store
        self.limit = limit
        self._wake = threading.Event()
        self._streams: dict[str, StopSignal] = {}
        self._priority: Callable[[Replica], bool] = lambda replica: False
        self._env = env
        store.on_replicas_changed(self._wake.set)

    def prefer(self, predicate: Callable[[Replica], bool]) -> None:
        """Give replicas matching ``predicate`` streams first (the selected workload)."""
        self._priority = predicate
        self._wake.set()

    def run(self, stop: StopSignal) -> None:
        """Reconcile wanted vs open streams whenever replicas change, until stopped.

        Backends whose adapter offers ``samples`` (Kubernetes' metrics API: one list
        for every pod per step) are polled in bulk instead.
        """
        stop.on_set(self._wake.set)
        probe = self.make_adapter()
        if hasattr(probe, "samples"):
            self._run_bulk(stop)
            return
        try:
            while not stop.is_set():
                self._reconcile()
                self._wake.wait(5.0)
                self._wake.clear()
        finally:
            for signal in self._streams.values():
                signal.set()
            self._streams.clear()
            if self.adapter is not None:
                self.adapter.close()
                self.adapter = None

    def _reconcile(self) -> None:
        env = self.env
        wanted: list[Replica] = []
        if self.store.connection(env).connected and self._ensure_adapter():
            running = [r for r in self.store.all_replicas() if r.workload.env == env and r.state == "running"]
            running.sort(key=lambda r: (not self._priority(r), r.workload.group, r.workload.name, r.name))
            wanted = running[: self.limit]
        wanted_ids = {r.id for r in wanted}
        for replica_id in [rid for rid in self._streams if rid not in wanted_ids]:
            self._streams.pop(replica_id).set()
        if not wanted and self.adapter is not None and not self.store.connection(env).connected:
            self.adapter.close()
            self.adapter = None
        for replica in wanted:
            if replica.id not in self._streams:
                signal = StopSignal()
                self._streams[replica.id] = signal
                threading.Thread(
                    target=self._follow,
                    args=(replica, signal),
                    name=f"stats-{replica.name}",
                    daemon=True,
                ).start()

    def _run_bulk(self, stop: StopSignal, *, backoff: Backoff | None = None) -> None:
        backoff = backoff or Backoff(2.0, 60.0)
        while not stop.is_set():
            if not self.store.connection(self.env).connected:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            adapter = self.make_adapter()
            try:
                adapter.connect()
                for batch in adapter.samples(stop, replica_ids=self._replica_ids):
                    self.store.apply_many(batch)
                    self.store.set_metrics_note(self.env, None)
                    backoff.reset()
            except AdapterError as error:
                self.store.set_metrics_note(self.env, error.summary)
                log.info("metrics unavailable", environment_name=self.env, error=error.summary)
            except Exception:  # noqa: BLE001
                log.exception("metrics loop crashed", environment_name=self.env)
            finally:
                adapter.close()
            stop.wait(backoff.next())

    @property
    def env(self) -> str:
        return self._env

    def _replica_ids(self) -> dict[tuple[str, str], str]:
        """(group, name) → replica id of this environment's replicas, from the store.

        Bulk metrics name pods by namespace and name; without this the adapter would
        have to list every pod again to find their uids.
        """
        return {(r.workload.group, r.name): r.id for r in self.store.all_replicas() if r.workload.env == self._env}

    def _ensure_adapter(self) -> bool:
        if self.adapter is not None:
            return True
        adapter = self.make_adapter()
        try:
            adapter.connect()
        except AdapterError:
            return False
        self.adapter = adapter
        return True

    def _follow(self, replica: Replica, signal: StopSignal) -> None:
        batch: list[SampleAdded] = []
        adapter = self.adapter
        if adapter is None:
            return
        try:
            for change in adapter.stats(replica, signal):
                batch.append(change)
                if len(batch) >= 2:  # cpu + memory arrive together
                    self.store.apply_many(batch)
                    batch = []
            self.store.apply_many(batch)
        except AdapterError:
            pass
        except Exception:  # noqa: BLE001
            log.exception("stats stream crashed", environment_name=replica.workload.env, replica=replica.name)
        finally:
            # The stream ended by itself (container stopped): forget it so a restart
            # of the same container gets a fresh stream at the next reconcile.
            if self._streams.get(replica.id) is signal and not signal.is_set():
                self._streams.pop(replica.id, None)
                self._wake.set()

    @property
    def open_streams(self) -> int:
        return len(self._streams)
