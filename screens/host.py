"""What screens may ask of the app: the store to read, and streams to open.

Screens never do I/O; they call these methods, which start the work in threads and
hand back objects the screen polls (DESIGN §1).
"""

from __future__ import annotations

from typing import Protocol

from console.log_feed import LogFeed, LogRequest
from console.model import WorkloadKey
from console.store import Store


class ConsoleHost(Protocol):
    store: Store

    def open_logs(self, key: WorkloadKey, request: LogRequest, *, replica_id: str | None = None) -> LogFeed:
        """Stream the logs of a workload (all replicas merged) or of one replica."""

    def prefer_stats(self, key: WorkloadKey | None) -> None:
        """Give this workload's replicas stats streams first."""

    def show_logs(self, key: WorkloadKey, *, replica_id: str | None = None) -> None:
        """Push the logs screen for a workload or one replica."""

    def show_workload(self, key: WorkloadKey) -> None:
        """Push the workload screen."""
