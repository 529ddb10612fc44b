"""Replicas (containers or pods) of one workload."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual.message import Message

from console.durations import format_age
from console.model import Replica
from widgets.health_badge import health_text
from widgets.keyed_table import KeyedTable
from widgets.safe_text import safe_text

COLUMNS = ("Replica", "Health", "State", "Rst", "Age", "Reason")


class ReplicaTable(KeyedTable):
    """Replica rows keyed by replica id."""

    DEFAULT_CSS = """
    ReplicaTable { height: auto; max-height: 100%; overflow-x: hidden; }
    """

    class Chosen(Message):
        """The operator pressed Enter on a replica (or clicked the one under the cursor)."""

        def __init__(self, replica_id: str) -> None:
            super().__init__()
            self.replica_id = replica_id

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.add_column(label, key=label.lower())

    def show(self, replicas: Sequence[Replica]) -> None:
        variables = self.app.theme_variables
        now = getattr(self.app, "clock", time.time)()
        rows = {}
        for replica in replicas:
            started = replica.started_at or replica.created_at
            rows[replica.id] = (
                safe_text(replica.name),
                health_text(replica.health, variables),
                safe_text(replica.state),
                Text(str(replica.restarts)),
                Text(format_age(now - started.timestamp()) if started else "-"),
                safe_text(replica.reason, style="dim"),
            )
        self.sync(rows, [r.id for r in replicas])

    def _selected_message(self, key: str) -> Message:
        return self.Chosen(key)
