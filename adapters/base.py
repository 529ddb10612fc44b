"""The one protocol every backend adapter implements, and its error family.

Adapters are synchronous: the console calls them only from thread workers, so they
may block (DESIGN §2). They never import Textual; they speak ``console.model``.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from console.model import Change, Environment, LogLine, Replica, SnapshotReplaced, WorkloadKey


class ErrorKind(str, enum.Enum):
    """What sort of trouble, so the UI can say the right thing and link the right doc."""

    UNREACHABLE = "unreachable"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    BAD_INPUT = "bad_input"
    READ_ONLY = "read_only"
    BACKEND = "backend"


class AdapterError(Exception):
    """A backend call failed. Carries text for each reader: operator, admin, developer."""

    def __init__(
        self,
        kind: ErrorKind,
        summary: str,
        *,
        admin_detail: str = "",
        developer_detail: str = "",
    ) -> None:
        super().__init__(summary)
        self.kind = kind
        self.summary = summary
        self.admin_detail = admin_detail
        self.developer_detail = developer_detail


class StopFlag(Protocol):
    """Anything with ``is_set()`` — a ``threading.Event`` or a ``StopSignal``."""

    def is_set(self) -> bool: ...


class StopSignal(threading.Event):
    """A stop flag that can also interrupt a blocking read.

    A stream that blocks in ``recv`` never looks at a flag, so adapters register a
    callback (usually the response's ``close``) that runs when the signal is set.
    """

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list = []
        self._callbacks_lock = threading.Lock()

    def on_set(self, callback) -> None:
        """Run ``callback()`` when the signal is set (at once if it already is)."""
        with self._callbacks_lock:
            if not self.is_set():
                self._callbacks.append(callback)
                return
        _quietly(callback)

    def set(self) -> None:
        super().set()
        for callback in self._take_callbacks():
            _quietly(callback)

    def set_soon(self) -> None:
        """Set the flag now; run the callbacks in a short-lived thread.

        Closing a streamed HTTP response waits for its reader's ``recv`` to return,
        which the UI thread must never do.
        """
        super().set()
        callbacks = self._take_callbacks()
        if callbacks:
            threading.Thread(target=lambda: [_quietly(c) for c in callbacks], name="stop", daemon=True).start()

    def _take_callbacks(self) -> list:
        with self._callbacks_lock:
            callbacks, self._callbacks = self._callbacks, []
        return callbacks


def _quietly(callback) -> None:
    try:
        callback()
    except Exception:  # noqa: BLE001 - closing an already-broken stream may fail; nothing to do
        pass


def on_stop(stop: StopFlag | None, callback) -> None:
    """Register ``callback`` on ``stop`` when it supports interruption."""
    if isinstance(stop, StopSignal):
        stop.on_set(callback)


@runtime_checkable
class Adapter(Protocol):
    """Read side of a backend, one instance per environment (DESIGN §4)."""

    environment: Environment

    def connect(self) -> None:
        """Open the client and check the backend answers; raise AdapterError if not."""

    def close(self) -> None:
        """Release connections; streams in other threads end soon after."""

    def snapshot(self, *, detailed: bool = False) -> SnapshotReplaced:
        """The full current state of the environment.

        ``detailed`` asks for everything the backend can tell (restart counts, OOM
        kills) even where that costs one call per replica.
        """

    def watch(self, stop: StopFlag) -> Iterator[Change]:
        """Yield changes as the backend reports them until ``stop`` is set or the stream ends.

        Ending (or raising AdapterError) means the connection was lost; the caller
        reconnects with backoff and takes a fresh snapshot.
        """

    def logs(
        self,
        replica: Replica,
        *,
        follow: bool,
        since: datetime | None = None,
        tail: int | None = None,
        stop: StopFlag | None = None,
        container: str | None = None,
        previous: bool = False,
    ) -> Iterator[list[LogLine]]:
        """Yield batches of log lines of one replica, oldest first.

        ``container`` picks one container of a multi-container replica; ``previous``
        asks for the instance before the last restart. Backends without either ignore
        them (Docker keeps a restarted container's earlier output in the same log).
        """

    def stats(self, replica: Replica, stop: StopFlag) -> Iterator[Change]:
        """Yield CPU and memory samples for one running replica until stopped."""


__all__ = [
    "Adapter",
    "AdapterError",
    "ErrorKind",
    "StopFlag",
    "StopSignal",
    "WorkloadKey",
    "on_stop",
]
