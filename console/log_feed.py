"""Log streams of one or more replicas, merged into one thread-safe feed for a view.

Stream threads ``push`` batches; the view ``take``s everything pending once per tick.
The pending queue is bounded: if the view falls behind (or is paused for long), the
oldest pending lines are dropped and counted, so memory stays flat under any rate.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import structlog

from adapters.base import AdapterError, StopSignal
from console.model import LogLine, Replica

log = structlog.get_logger("watchfloor.logs")


@dataclass(frozen=True, slots=True)
class LogRequest:
    """What a log view asks for."""

    follow: bool = True
    since: datetime | None = None
    tail: int | None = 1000
    container: str | None = None
    """One container of a multi-container pod; None is the pod's default one."""
    previous: bool = False
    """The previous (crashed) instance of the container, where the backend keeps it."""


@dataclass(frozen=True, slots=True)
class FeedStatus:
    streams_open: int
    dropped: int
    errors: tuple[str, ...]
    ended: bool
    """Every stream has ended (not following, or the replicas are gone)."""


class LogFeed:
    """A bounded, thread-safe queue of log lines between stream threads and a view."""

    def __init__(self, *, max_pending: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._pending: deque[LogLine] = deque()
        self._max_pending = max_pending
        self._dropped = 0
        self._errors: list[str] = []
        self._open = 0
        self._started = False
        self.stop = StopSignal()

    def push(self, lines: Iterable[LogLine]) -> None:
        with self._lock:
            self._pending.extend(lines)
            overflow = len(self._pending) - self._max_pending
            if overflow > 0:
                for _ in range(overflow):
                    self._pending.popleft()
                self._dropped += overflow

    def take(self, limit: int | None = None) -> list[LogLine]:
        """Everything pending (or the oldest ``limit``), ordered by timestamp within the batch."""
        with self._lock:
            if limit is None or limit >= len(self._pending):
                batch = list(self._pending)
                self._pending.clear()
            else:
                batch = [self._pending.popleft() for _ in range(limit)]
        if len(batch) > 1 and all(line.ts is not None for line in batch):
            # Merged replicas arrive interleaved by thread timing; order by time
            # (sort is stable, so one replica's lines keep their own order).
            batch.sort(key=_line_time)  # datetimes compare directly; no per-line conversion
        return batch

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def status(self) -> FeedStatus:
        with self._lock:
            return FeedStatus(self._open, self._dropped, tuple(self._errors), self._started and self._open == 0)

    def close(self) -> None:
        """Stop every stream; returns at once (the caller is usually the UI thread)."""
        self.stop.set_soon()

    def start(self, readers: Iterable[tuple[str, Callable[[], Iterator[list[LogLine]]]]]) -> None:
        """Run each reader in its own daemon thread, pushing into this feed."""
        readers = list(readers)
        with self._lock:
            self._started = True
            self._open += len(readers)
        if len(readers) <= 1:
            for name, reader in readers:
                threading.Thread(target=self._run, args=(name, reader), name=f"logs-{name}", daemon=True).start()
            return
        # Thread.start() waits until the new thread runs, which on a busy machine is one
        # GIL hand-over per thread: 25 pods cost the (UI) caller hundreds of ms. One
        # starter thread does the waiting instead.
        threading.Thread(target=self._start_all, args=(readers,), name="logs-starter", daemon=True).start()

    def _start_all(self, readers: list[tuple[str, Callable[[], Iterator[list[LogLine]]]]]) -> None:
        for index, (name, reader) in enumerate(readers):
            if self.stop.is_set():
                # Closed while starting (the operator moved on): the rest never connect.
                with self._lock:
                    self._open -= len(readers) - index
                return
            threading.Thread(target=self._run, args=(name, reader), name=f"logs-{name}", daemon=True).start()

    def _run(self, name: str, reader: Callable[[], Iterator[list[LogLine]]]) -> None:
        try:
            for batch in reader():
                if self.stop.is_set():
                    break
                self.push(batch)
        except AdapterError as error:
            with self._lock:
                self._errors.append(f"{name}: {error.summary}")
        except Exception as error:  # noqa: BLE001 - a broken stream is a message, not a crash
            log.exception("log stream crashed", replica=name)
            with self._lock:
                self._errors.append(f"{name}: {error}")
        finally:
            with self._lock:
                self._open -= 1


def _line_time(line: LogLine) -> datetime:
    return line.ts  # type: ignore[return-value] - only called when every line has one


def open_feed(make_adapter: Callable[[], object], replicas: Iterable[Replica], request: LogRequest) -> LogFeed:
    """Start streaming the logs of ``replicas`` into a new feed; returns at once.

    Each replica gets its own thread and its own adapter connection (made and
    connected inside that thread, so the caller — often the UI thread — never
    blocks on the network).
    """
    feed = LogFeed()

    def reader_for(replica: Replica) -> Callable[[], Iterator[list[LogLine]]]:
        def read() -> Iterator[list[LogLine]]:
            adapter = make_adapter()
            feed.stop.on_set(adapter.close)
            try:
                adapter.connect()
                yield from adapter.logs(
                    replica,
                    follow=request.follow,
                    since=request.since,
                    tail=request.tail,
                    stop=feed.stop,
                    container=request.container,
                    previous=request.previous,
                )
            finally:
                adapter.close()

        return read

    feed.start((replica.name, reader_for(replica)) for replica in replicas)
    return feed
