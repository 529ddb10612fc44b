"""Availability from recorded health transitions, against per-workload SLO targets.

The console records, per environment, an append-only JSON Lines file in the state dir
(``availability/<env>.jsonl``) holding only *transitions*: a workload's health going
from one value to another, and the console's own watch of the environment starting
(``on``), ending (``off``) or still going (``alive``, a heartbeat). Availability over
24 h / 7 d / 30 d is folded from that file, so the history survives restarts.

How time counts (docs/availability.md says it for operators):

- *up*: healthy, progressing, or degraded while at least one replica is ready
  (degraded time is also reported on its own: it still serves, partly);
- *down*: failed, or degraded with no replica ready (nothing serves);
- *unknown*: the health is unknown (stopped, no replicas, removed), or the console
  was not watching (not running, the environment disconnected, or it crashed: from
  its last line to its next start). Unknown time is left out of the denominator.

Lines are written by one background thread (never the UI thread), batched and
flushed within a second of the change; a torn last line (a crash mid-write) is
skipped on read and never glued to the next one. Only one process records an
environment at a time (an ``flock`` on ``<env>.lock``); another console reads the
file but does not write it. History older than 31 days is compacted away: the state
at the cut is kept as synthetic lines, so figures stay exact.

No Textual here: the headless ``watchfloor availability`` command imports it.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

try:  # POSIX only; without it every process records (there is no second one to race on Windows' consoles)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from console.model import Health, Workload, WorkloadKey

log = structlog.get_logger("watchfloor.availability")

SUFFIX = ".jsonl"
DAY = 86400.0
WINDOWS: tuple[tuple[str, float], ...] = (("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
"""The windows figures are given for, shortest first; the last one is the SLO window."""
BUDGET_WINDOW = "30d"
RETENTION_SECONDS = 31 * DAY
"""History kept: the longest window plus a day."""
COMPACT_SLACK_SECONDS = DAY
"""Compact only when the oldest line is this much past the retention: at most one rewrite a day."""
HEARTBEAT_SECONDS = 60.0
GAP_SECONDS = 2 * HEARTBEAT_SECONDS + 5.0
"""Two lines of a watched environment further apart than this mean the console was not
there in between (it died, or the machine slept): that stretch is unknown."""
FLUSH_SECONDS = 1.0
"""Changes are written at most this long after they happen (the most a crash loses)."""
BATCH_SECONDS = 0.25
"""After the first change, wait this long for more before a pass (one pass per burst)."""
REFRESH_SECONDS = 30.0
"""Published figures are recomputed at least this often."""
MAX_REASON = 200
_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")

UP_STATES = frozenset({Health.HEALTHY.value, Health.PROGRESSING.value, Health.DEGRADED.value})
# Plain strings: the recorder compares them per workload per pass, and enum lookups cost.
_FAILED = Health.FAILED.value
_DEGRADED = Health.DEGRADED.value


# --- the file --------------------------------------------------------------------------


def log_path(directory: Path, env: str) -> Path:
    """The environment's transition file in ``directory``.

    Raises:
        ValueError: The name could escape the directory (environment names are
            validated by the config, so this is a guard, not a message for people).
    """
    if not _SAFE_NAME.fullmatch(env):
        raise ValueError(f"environment name {env!r} cannot name a file")
    return Path(directory) / f"{env}{SUFFIX}"


def read_records(path: Path) -> tuple[list[dict], int]:
    """Every well-formed record of a transition file, in file order.

    Returns:
        The records, and how many lines were skipped (a torn last line after a
        crash; anything else that is not a JSON object with a numeric ``ts``).
    """
    records: list[dict] = []
    skipped = 0
    try:
        with open(path, "rb") as stream:
            for line in stream:
                record = _parse(line)
                if record is None:
                    skipped += line.strip() != b""
                else:
                    records.append(record)
    except FileNotFoundError:
        return [], 0
    return records, skipped


def _parse(line: bytes) -> dict | None:
    if not line.endswith(b"\n"):
        return None  # torn: the writer died mid-line; what it held is not to be trusted
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    ts = record.get("ts")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not math.isfinite(ts):
        return None
    return record


def encode(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def health_record(ts: float, env: str, workload: str, old: str, new: str, reason: str = "", ready: int = 0) -> dict:
    return {
        "ts": round(ts, 3),
        "env": env,
        "workload": workload,
        "from": old,
        "to": new,
        "reason": reason[:MAX_REASON],
        "ready": ready,
    }


def watch_record(ts: float, env: str, watch: str, reason: str = "") -> dict:
    """``watch`` is ``on`` (the console starts watching), ``off`` (stops), ``alive`` (heartbeat)."""
    return {"ts": round(ts, 3), "env": env, "watch": watch, "reason": reason[:MAX_REASON]}


# --- folding records into a timeline ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    """A workload's recorded state from a moment on."""

    health: str
    ready: int = 0
    reason: str = ""

    @property
    def kind(self) -> str:
        """``up``, ``down`` or ``unknown`` (see the module docstring)."""
        health = self.health
        if health == _FAILED:
            return "down"
        if health == _DEGRADED:
            return "up" if self.ready > 0 else "down"
        return "up" if health in UP_STATES else "unknown"


UNKNOWN = State(Health.UNKNOWN.value)


class Timeline:
    """One environment's history: when the console watched it, and each workload's states.

    Feed it records in file order (``feed``), then ask for figures. Memory is one
    entry per transition and one per watched stretch, not one per heartbeat.
    """

    def __init__(self, *, gap: float = GAP_SECONDS) -> None:
        self.gap = gap
        self.watched: list[list[float]] = []
        """[start, end] stretches the console watched, oldest first; the last one is
        open (its end moves) while ``watching``."""
        self.changes: dict[str, tuple[list[float], list[State]]] = {}
        """Per workload label: change times and the state from each on."""
        self.watching = False
        self.last_ts: float | None = None

    # -- building

    def feed(self, record: dict) -> None:
        ts = float(record["ts"])
        if self.last_ts is not None and ts < self.last_ts:
            ts = self.last_ts  # a clock stepped back: keep time monotonic rather than reorder history
        if self.watching and self.last_ts is not None and ts - self.last_ts > self.gap:
            # Same process, silent too long (it hung, the machine slept): that stretch
            # is unknown, but its states carry on after it (its next lines are relative to them).
            self.watched[-1][1] = self.last_ts
            self.watched.append([ts, ts])
        watch = record.get("watch")
        if watch == "on":
            if self.watching:
                # "on" without an "off": the previous process died after its last line.
                self.watched[-1][1] = self.last_ts if self.last_ts is not None else ts
            self._forget_states(ts)
            self.watched.append([ts, ts])
            self.watching = True
        elif watch == "off":
            if self.watching:
                self.watched[-1][1] = ts
                self.watching = False
            self._forget_states(ts)
        elif isinstance(record.get("workload"), str) and isinstance(record.get("to"), str):
            if not self.watching:
                # A transition proves a console is watching even if its "on" was lost.
                self.watched.append([ts, ts])
                self.watching = True
            ready = record.get("ready")
            state = State(record["to"], ready if isinstance(ready, int) and not isinstance(ready, bool) else 0, str(record.get("reason") or ""))
            self._set(record["workload"], ts, state)
        if self.watching:
            self.watched[-1][1] = ts
        self.last_ts = ts

    def _set(self, label: str, ts: float, state: State) -> None:
        times, states = self.changes.setdefault(label, ([], []))
        if states and states[-1] == state:
            return
        if times and times[-1] == ts:
            states[-1] = state
        else:
            times.append(ts)
            states.append(state)

    def _forget_states(self, ts: float) -> None:
        for label, (_, states) in self.changes.items():
            if states and states[-1] != UNKNOWN:
                self._set(label, ts, UNKNOWN)

    # -- asking

    def watched_until(self, now: float) -> list[tuple[float, float]]:
        """The watched stretches, the open one ending at ``now`` if the console is still there."""
        stretches = [(start, end) for start, end in self.watched]
        if self.watching and stretches and self.last_ts is not None and now - self.last_ts <= self.gap:
            stretches[-1] = (stretches[-1][0], max(stretches[-1][1], now))
        return stretches

    def state_at(self, label: str, ts: float) -> State:
        times, states = self.changes.get(label, ((), ()))
        index = bisect_right(times, ts) - 1
        return states[index] if index >= 0 else UNKNOWN

    def labels(self) -> list[str]:
        return sorted(self.changes)

    def tally(
        self, label: str, start: float, end: float, now: float, stretches: list[tuple[float, float]] | None = None
    ) -> WindowTally:
        """Seconds up, down, degraded and unknown of one workload in ``[start, end)``.

        Args:
            stretches: ``watched_until(now)``, when the caller has it (one per environment,
                not one per workload and window).
        """
        up = down = degraded = 0.0
        times, states = self.changes.get(label, ([], []))
        for w_start, w_end in stretches if stretches is not None else self.watched_until(now):
            a, b = max(w_start, start), min(w_end, end)
            if b <= a:
                continue
            index = bisect_right(times, a) - 1
            moment = a
            while moment < b:
                state = states[index] if index >= 0 else UNKNOWN
                following = times[index + 1] if index + 1 < len(times) else math.inf
                until = min(b, following)
                span = until - moment
                kind = state.kind
                if kind == "up":
                    up += span
                    if state.health == _DEGRADED:
                        degraded += span
                elif kind == "down":
                    down += span
                moment = until
                index += 1
        total = max(0.0, end - start)
        return WindowTally(total, up, down, degraded, max(0.0, total - up - down))

    def snapshot_records(self, env: str, ts: float, reason: str) -> list[dict]:
        """Records that restore this timeline's state at ``ts`` (compaction's synthetic head)."""
        watching = any(start <= ts <= end for start, end in self.watched) or (
            self.watching and self.last_ts is not None and ts - self.last_ts <= self.gap
        )
        if not watching:
            return [watch_record(ts, env, "off", reason)]
        records = [watch_record(ts, env, "on", reason)]
        for label in self.labels():
            state = self.state_at(label, ts)
            if state != UNKNOWN:
                records.append(health_record(ts, env, label, UNKNOWN.health, state.health, state.reason, state.ready))
        return records


def timeline_of(records: Iterable[dict], *, gap: float = GAP_SECONDS) -> Timeline:
    timeline = Timeline(gap=gap)
    for record in records:
        timeline.feed(record)
    return timeline


# --- figures ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowTally:
    """Seconds of one window, split by how they count."""

    seconds: float
    up: float
    down: float
    degraded: float
    """Part of ``up``: degraded but serving."""
    unknown: float

    @property
    def known(self) -> float:
        return self.up + self.down

    @property
    def availability(self) -> float | None:
        """up / (up + down), 0…1; None when no time of the window is known."""
        return self.up / self.known if self.known > 0 else None

    @property
    def coverage(self) -> float:
        """The share of the window the console knew the health (0…1)."""
        return self.known / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Budget:
    """The error budget of an SLO over its window.

    Allowed downtime is ``(1 - target) × known time`` (unknown time has no budget, as it
    has no availability); left = allowed - spent, negative when overspent.
    """

    target: float
    """Percent, e.g. 99.9."""
    window: str
    allowed: float
    spent: float

    @property
    def left(self) -> float:
        return self.allowed - self.spent

    @property
    def left_ratio(self) -> float | None:
        """left / allowed (1 untouched, 0 spent, negative overspent); None without known time."""
        return self.left / self.allowed if self.allowed > 0 else None


@dataclass(frozen=True, slots=True)
class Figures:
    """A workload's availability per window, its SLO target and budget, and its state now."""

    env: str
    workload: str
    """The label: ``NAME`` or ``GROUP/NAME``."""
    windows: tuple[tuple[str, WindowTally], ...]
    slo: float | None = None
    budget: Budget | None = None
    current: str = Health.UNKNOWN.value

    def window(self, name: str) -> WindowTally | None:
        return next((tally for key, tally in self.windows if key == name), None)


def figures(
    timeline: Timeline,
    env: str,
    label: str,
    now: float,
    *,
    slo: float | None = None,
    windows: tuple[tuple[str, float], ...] = WINDOWS,
    budget_window: str = BUDGET_WINDOW,
    stretches: list[tuple[float, float]] | None = None,
) -> Figures:
    stretches = stretches if stretches is not None else timeline.watched_until(now)
    tallies = tuple((name, timeline.tally(label, now - seconds, now, now, stretches)) for name, seconds in windows)
    budget = None
    if slo is not None:
        tally = next((t for name, t in tallies if name == budget_window), tallies[-1][1])
        budget = Budget(slo, budget_window, (1 - slo / 100) * tally.known, tally.down)
    watched_now = bool(stretches) and stretches[-1][0] <= now <= stretches[-1][1]
    current = timeline.state_at(label, now).health if watched_now else Health.UNKNOWN.value
    return Figures(env, label, tallies, slo, budget, current)


def slo_target(slos: Mapping[str, float], key: WorkloadKey | str) -> float | None:
    """The SLO target of a workload: its ``GROUP/NAME`` entry, else ``NAME``, else ``default``."""
    if isinstance(key, WorkloadKey):
        label, name = key.label, key.name
    else:
        label, name = key, key.rpartition("/")[2]
    for candidate in (label, name, "default"):
        if candidate in slos:
            return float(slos[candidate])
    return None


def environment_figures(
    timeline: Timeline, env: str, now: float, slos: Mapping[str, float] | None = None
) -> list[Figures]:
    slos = slos or {}
    stretches = timeline.watched_until(now)
    return [figures(timeline, env, label, now, slo=slo_target(slos, label), stretches=stretches) for label in timeline.labels()]


def load_figures(directory: Path, env: str, now: float, slos: Mapping[str, float] | None = None) -> tuple[list[Figures], int]:
    """Figures of every workload recorded for ``env``, read from its file (I/O: not on the UI thread).

    Returns:
        The figures, by label, and the number of skipped (torn or damaged) lines.
    """
    records, skipped = read_records(log_path(directory, env))
    return environment_figures(timeline_of(records), env, now, slos), skipped


def recorded_environments(directory: Path) -> list[str]:
    try:
        return sorted(p.name[: -len(SUFFIX)] for p in Path(directory).iterdir() if p.name.endswith(SUFFIX))
    except OSError:
        return []


# --- words ----------------------------------------------------------------------------------


def format_percent(ratio: float | None) -> str:
    """99.95% style, rounded down (99.999 % shows 99.99 %, never 100 %); ``—`` when unknown."""
    if ratio is None:
        return "—"
    hundredths = math.floor(ratio * 10000 + 1e-9)
    text = f"{hundredths / 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def format_span(seconds: float) -> str:
    """45s, 31m, 3h12m, 2d4h: budget amounts, to the minute where it matters."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def summary_line(item: Figures) -> str:
    """One line: ``availability 24h 99.95% · 7d 99.7% · 30d 99.8% · SLO 99.9% · budget left 31m (72%)``."""
    parts = [f"{name} {format_percent(tally.availability)}" for name, tally in item.windows]
    text = "availability " + " · ".join(parts)
    if item.slo is not None:
        text += f" · SLO {item.slo:g}%"
        budget = item.budget
        if budget is not None and budget.left_ratio is not None:
            share = f"{budget.left_ratio * 100:.0f}%"
            if budget.left >= 0:
                text += f" · budget left {format_span(budget.left)} ({share})"
            else:
                text += f" · budget overspent by {format_span(budget.left)} ({share})"
    return text


def figures_document(item: Figures) -> dict:
    """The JSON form of one workload's figures (``watchfloor availability --json``)."""
    group, _, name = item.workload.rpartition("/")
    windows = {
        window: {
            "availability": tally.availability,
            "up_seconds": round(tally.up, 3),
            "down_seconds": round(tally.down, 3),
            "degraded_seconds": round(tally.degraded, 3),
            "unknown_seconds": round(tally.unknown, 3),
            "coverage": round(tally.coverage, 6),
        }
        for window, tally in item.windows
    }
    budget = None
    if item.budget is not None:
        budget = {
            "window": item.budget.window,
            "allowed_seconds": round(item.budget.allowed, 3),
            "spent_seconds": round(item.budget.spent, 3),
            "left_seconds": round(item.budget.left, 3),
            "left_ratio": item.budget.left_ratio,
        }
    return {
        "name": name,
        "group": group,
        "health": item.current,
        "windows": windows,
        "slo": item.slo,
        "budget": budget,
    }


# --- the recorder ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Env:
    name: str
    path: Path
    owned: bool
    """This process holds the lock and writes the file."""
    timeline: Timeline
    lock_fd: int | None = None
    stream: object | None = None
    watching: bool = False
    """This process's view: it has written "on" and not yet "off"."""
    started: bool = False
    """This process has written an "on" (the next one is a reconnection)."""
    states: dict[str, State] = field(default_factory=dict)
    """Last written state per workload label, while watching."""
    seen: dict = field(default_factory=dict)
    """The store's workload objects at the last pass, by key (unchanged ones are skipped)."""
    file_stamp: tuple[int, int] | None = None
    """For files another process writes: re-read only when they changed."""


class AvailabilityRecorder:
    """Records health transitions from a store into the state dir and publishes figures.

    Call ``start(store, environments)``; it runs a daemon thread that wakes when the
    store's model changes (``Store.on_model_changed``), batches, diffs workload health
    against what it last wrote, appends and flushes. ``stop_soon()`` asks it to write
    ``off`` lines and close; ``join()`` waits for that (call it off the UI thread).

    Args:
        directory: Where the files go (``console.locations.availability_dir()``).
        slos: Per environment, its ``slo`` mapping from the config.
        clock: Wall clock (tests pin it).
    """

    def __init__(
        self,
        directory: Path,
        *,
        slos: Mapping[str, Mapping[str, float]] | None = None,
        clock: Callable[[], float] = time.time,
        heartbeat: float = HEARTBEAT_SECONDS,
        batch: float = BATCH_SECONDS,
        refresh: float = REFRESH_SECONDS,
        retention: float = RETENTION_SECONDS,
    ) -> None:
        self.directory = Path(directory)
        self.slos = {env: dict(values) for env, values in (slos or {}).items()}
        self.clock = clock
        self.heartbeat = heartbeat
        self.batch = batch
        self.refresh = refresh
        self.retention = retention
        self._store = None
        self._envs: dict[str, _Env] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._changed_at: float | None = None
        self._thread: threading.Thread | None = None
        self._figures: dict[WorkloadKey, Figures] = {}
        self._figures_lock = threading.Lock()
        self._pending: dict[str, list[bytes]] = {}
        self.failed: str | None = None
        """Why recording stopped (a full disk …), for the console's own health; None while fine."""

    # -- lifecycle

    def start(self, store, environments: Iterable[str]) -> threading.Thread:
        """Start recording ``environments`` of ``store`` in a daemon thread."""
        self._store = store
        names = list(environments)
        store.on_model_changed(self._note_change)
        self._thread = threading.Thread(target=self._run, args=(names,), name="availability", daemon=True)
        self._thread.start()
        return self._thread

    def stop_soon(self) -> None:
        """Ask the thread to write its ``off`` lines and close (returns at once)."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float | None = 5.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _note_change(self) -> None:
        if self._changed_at is None:
            self._changed_at = self.clock()
        self._wake.set()

    # -- what the UI and the exporter read (memory only)

    def figures_of(self, key: WorkloadKey) -> Figures | None:
        with self._figures_lock:
            return self._figures.get(key)

    def all_figures(self) -> dict[WorkloadKey, Figures]:
        with self._figures_lock:
            return dict(self._figures)

    def recording(self) -> dict[str, bool]:
        """Per environment: whether this process writes its file (False: another console does)."""
        return {name: env.owned for name, env in self._envs.items()}

    # -- the thread

    def _run(self, names: list[str]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for name in names:
                self._envs[name] = self._open(name)
        except OSError as error:
            self._fail(error)
            return
        next_heartbeat = self.clock() + self.heartbeat
        next_refresh = 0.0
        while True:
            now = self.clock()
            timeout = max(0.0, min(next_heartbeat, next_refresh) - now)
            self._wake.wait(timeout)
            stopping = self._stop.is_set()
            if self._wake.is_set() and not stopping and self.batch > 0:
                self._stop.wait(self.batch)  # let a burst of changes land: one pass for all of it
                stopping = self._stop.is_set()
            self._wake.clear()
            changed_at, self._changed_at = self._changed_at, None
            now = self.clock()
            wrote = self._pass(changed_at if changed_at is not None else now)
            beat = now >= next_heartbeat
            if beat:
                for env in self._envs.values():
                    if env.owned and env.watching:
                        self._append(env, watch_record(now, env.name, "alive"))
                next_heartbeat = now + self.heartbeat
            if stopping:
                for env in self._envs.values():
                    if env.owned and env.watching:
                        self._watch_off(env, now, "console stopped")
            # fsync with the heartbeat and at the end, not per line: a crash of the
            # process loses nothing flushed; one of the machine, at most a heartbeat.
            self._flush(durable=stopping or beat)
            if wrote or stopping or now >= next_refresh:
                self._publish(now)
                next_refresh = now + self.refresh
            if stopping:
                self._close_all()
                return

    def _fail(self, error: OSError) -> None:
        self.failed = f"{error.filename or self.directory}: {error.strerror or error}"
        log.error("availability recording stopped", error=self.failed)
        self._close_all()

    def _open(self, name: str) -> _Env:
        path = log_path(self.directory, name)
        lock_fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        owned = True
        if fcntl is not None:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owned = False
        if not owned:
            os.close(lock_fd)
            env = _Env(name, path, False, Timeline())
            self._reload(env)
            log.info("availability recorded by another console", environment_name=name)
            return env
        records, skipped = read_records(path)
        if skipped:
            log.warning("availability: skipped damaged lines", environment_name=name, skipped=skipped)
        now = self.clock()
        if records and records[0]["ts"] < now - self.retention - COMPACT_SLACK_SECONDS:
            records = compact(path, name, records, now - self.retention)
        env = _Env(name, path, True, timeline_of(records), lock_fd=lock_fd)
        env.stream = _open_for_append(path)
        return env

    def _reload(self, env: _Env) -> None:
        try:
            status = env.path.stat()
        except OSError:
            return
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != env.file_stamp:
            env.timeline = timeline_of(read_records(env.path)[0])
            env.file_stamp = stamp

    def _pass(self, ts: float) -> bool:
        """Diff the store against what was written; queue the transitions. True if any."""
        store = self._store
        wrote = False
        for env in self._envs.values():
            if not env.owned:
                continue
            connection = store.connection(env.name)
            if not connection.connected:
                if env.watching:
                    self._watch_off(env, ts, f"disconnected: {connection.error or 'no answer'}")
                    wrote = True
                continue
            if not env.watching:
                reason = "connection regained" if env.started else "console started"
                self._append(env, watch_record(ts, env.name, "on", reason))
                env.watching = True
                env.started = True
                env.states = {}
                env.seen = {}
                wrote = True
            current = store.workload_map(env.name)
            last = env.seen
            for key, workload in current.items():
                # The store replaces a workload object only when it changed: skip the rest
                # (thousands of workloads, one of which flipped).
                if last.get(key) is not workload:
                    wrote |= self._transition(env, key.label, ts, _state_of(workload))
            for key in [key for key in last if key not in current]:
                wrote |= self._transition(env, key.label, ts, State(Health.UNKNOWN.value, 0, "removed"))
                env.states.pop(key.label, None)
            env.seen = current
        return wrote

    def _transition(self, env: _Env, label: str, ts: float, state: State) -> bool:
        old = env.states.get(label, UNKNOWN)
        # A new reason alone is no transition; a change of serving (ready 0 ↔ >0) is one
        # for degraded, where it decides up or down.
        if old.health == state.health and old.kind == state.kind:
            return False
        if old == UNKNOWN and state.health == Health.UNKNOWN.value:
            env.states[label] = state
            return False
        self._append(env, health_record(ts, env.name, label, old.health, state.health, state.reason, state.ready))
        env.states[label] = state
        return True

    def _watch_off(self, env: _Env, ts: float, reason: str) -> None:
        self._append(env, watch_record(ts, env.name, "off", reason))
        env.watching = False
        env.states = {}
        env.seen = {}

    def _append(self, env: _Env, record: dict) -> None:
        env.timeline.feed(record)
        self._pending.setdefault(env.name, []).append(encode(record))

    def _flush(self, *, durable: bool) -> None:
        for name, lines in list(self._pending.items()):
            env = self._envs[name]
            if not lines or env.stream is None:
                continue
            try:
                # One write per batch: a crash tears at most the batch's last line.
                env.stream.write(b"".join(lines))
                env.stream.flush()
                if durable:
                    os.fsync(env.stream.fileno())
            except OSError as error:
                self._pending.clear()
                self._fail(error)
                return
            lines.clear()
        if not durable:
            return
        now = self.clock()
        for env in self._envs.values():
            if env.owned and env.timeline.watched and env.timeline.watched[0][0] < now - self.retention - COMPACT_SLACK_SECONDS:
                try:
                    self._compact_open(env, now)
                except OSError as error:
                    self._fail(error)
                    return

    def _compact_open(self, env: _Env, now: float) -> None:
        env.stream.close()
        records, _ = read_records(env.path)
        records = compact(env.path, env.name, records, now - self.retention)
        env.timeline = timeline_of(records)
        env.stream = _open_for_append(env.path)

    def _publish(self, now: float) -> None:
        fresh: dict[WorkloadKey, Figures] = {}
        for env in self._envs.values():
            if not env.owned:
                self._reload(env)
            for item in environment_figures(env.timeline, env.name, now, self.slos.get(env.name)):
                group, _, name = item.workload.rpartition("/")
                fresh[WorkloadKey(env.name, group, name)] = item
        with self._figures_lock:
            self._figures = fresh

    def _close_all(self) -> None:
        for env in self._envs.values():
            if env.stream is not None:
                try:
                    env.stream.close()
                except OSError:
                    pass
                env.stream = None
            if env.lock_fd is not None:
                os.close(env.lock_fd)  # closing drops the flock
                env.lock_fd = None
            env.owned = False


def _state_of(workload: Workload) -> State:
    return State(workload.health.value, workload.ready, workload.reason)


def _open_for_append(path: Path):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    stream = os.fdopen(fd, "ab")
    if stream.tell() > 0:
        with open(path, "rb") as reader:
            reader.seek(-1, os.SEEK_END)
            if reader.read(1) != b"\n":
                # A torn last line: end it, so the first new line is not glued onto it.
                stream.write(b"\n")
                stream.flush()
    return stream


def compact(path: Path, env: str, records: list[dict], cut: float) -> list[dict]:
    """Rewrite ``path`` without the records before ``cut``, keeping the state at ``cut``.

    The state at the cut (watched or not, each workload's state) becomes synthetic lines
    stamped ``cut``, so figures of the kept part are the same as before. The new file is
    written beside the old one, fsynced and renamed over it: a crash leaves either file.

    Returns:
        The records now in the file.
    """
    older = [r for r in records if r["ts"] < cut]
    if not older:
        return records
    head = timeline_of(older).snapshot_records(env, cut, "compacted: older history dropped")
    kept = head + [r for r in records if r["ts"] >= cut]
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as stream:
        stream.write(b"".join(encode(r) for r in kept))
        stream.flush()
        os.fsync(stream.fileno())
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return kept
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return kept


# --- ``watchfloor availability`` ------------------------------------------------------------


def slos_of(config) -> dict[str, dict[str, float]]:
    """Per environment, its ``slo`` targets from the config."""
    return {spec.name: dict(spec.slo) for spec in getattr(config, "environments", ()) if getattr(spec, "slo", None)}


def report(directory: Path, environments: Iterable[str], now: float, slos: Mapping[str, Mapping[str, float]]) -> dict:
    """The ``watchfloor availability --json`` document.

    ``{"generated_at", "windows": [...], "budget_window", "environments": [{"name",
    "recorded", "skipped_lines", "workloads": [{"name", "group", "health", "windows":
    {"24h": {"availability", "up_seconds", "down_seconds", "degraded_seconds",
    "unknown_seconds", "coverage"}, …}, "slo", "budget": {"window", "allowed_seconds",
    "spent_seconds", "left_seconds", "left_ratio"} | null}]}]}``
    """
    from datetime import UTC, datetime

    documents = []
    for env in environments:
        path = log_path(directory, env)
        items, skipped = load_figures(directory, env, now, slos.get(env))
        documents.append(
            {
                "name": env,
                "recorded": path.exists(),
                "skipped_lines": skipped,
                "workloads": [figures_document(item) for item in items],
            }
        )
    return {
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "windows": [name for name, _ in WINDOWS],
        "budget_window": BUDGET_WINDOW,
        "environments": documents,
    }


def report_text(document: dict) -> str:
    """The plain-text form: one line per workload, no markup; names neutralised."""
    from console.terminal_text import neutralise

    lines: list[str] = []
    for env in document["environments"]:
        name = neutralise(env["name"], keep_sgr=False)
        if not env["recorded"]:
            lines.append(f"{name} — nothing recorded yet (the console records while it runs)")
            continue
        note = f" ({env['skipped_lines']} damaged line(s) skipped)" if env["skipped_lines"] else ""
        lines.append(f"{name}{note}")
        if not env["workloads"]:
            lines.append("  (no workload recorded)")
        width = max((len(_doc_label(w)) for w in env["workloads"]), default=8)
        for workload in env["workloads"]:
            item = _figures_from_document(env["name"], workload)
            label = neutralise(_doc_label(workload), keep_sgr=False)
            lines.append(f"  {label:<{width}}  {workload['health']:<11} {summary_line(item)}")
    return "\n".join(lines)


def overspent(document: dict) -> bool:
    """Whether any workload of the document has spent more than its error budget."""
    return any(
        (w.get("budget") or {}).get("left_seconds", 0) < 0 for env in document["environments"] for w in env["workloads"]
    )


def _doc_label(workload: dict) -> str:
    return f"{workload['group']}/{workload['name']}" if workload["group"] else workload["name"]


def _figures_from_document(env: str, workload: dict) -> Figures:
    windows = tuple(
        (
            name,
            WindowTally(
                0.0,
                values["up_seconds"],
                values["down_seconds"],
                values["degraded_seconds"],
                values["unknown_seconds"],
            ),
        )
        for name, values in workload["windows"].items()
    )
    budget = workload.get("budget")
    return Figures(
        env,
        _doc_label(workload),
        windows,
        workload.get("slo"),
        Budget(workload["slo"], budget["window"], budget["allowed_seconds"], budget["spent_seconds"]) if budget else None,
        workload["health"],
    )
