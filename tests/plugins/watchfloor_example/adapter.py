"""A read-only backend over a JSON file: the example ``watchfloor.adapters`` plugin.

Not a real backend: it exists to show (and test) the plugin contract. The file lists
workloads and their replicas::

    {"workloads": [{"group": "shop", "name": "web", "kind": "service", "version": "1.2",
                    "replicas": [{"name": "web-1", "state": "running", "health": "healthy"}]}]}

Config (``kind: jsonfile``)::

    - kind: jsonfile
      name: inventory
      path: /srv/inventory.json

Writes are refused: it has no deploy, rollback or lock methods, so runbooks that
write cannot run against it, while gates, waits and plugin steps can.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from adapters.base import AdapterError, ErrorKind, Observation
from console.model import Environment, Health, Replica, SnapshotReplaced, WorkloadKey


class JsonFileOptions(BaseModel):
    """The ``kind: jsonfile`` environment's own keys.

    Attributes:
        path: The JSON file to read.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path


class JsonFileAdapter:
    """Reads workloads and replicas from a JSON file; re-reads it on every snapshot."""

    config_model = JsonFileOptions

    def __init__(self, environment: Environment, options: JsonFileOptions) -> None:
        self.environment = environment
        self.path = options.path

    @staticmethod
    def describe(options: JsonFileOptions) -> str:
        """Where the environment lives, for the environment list."""
        return f"file {options.path}"

    def connect(self) -> None:
        self._read()

    def close(self) -> None:
        pass

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AdapterError(ErrorKind.UNREACHABLE, f"{self.path} does not exist") from None
        except (OSError, ValueError) as error:
            raise AdapterError(ErrorKind.BACKEND, f"cannot read {self.path}: {error}") from None

    def snapshot(self, *, detailed: bool = False) -> SnapshotReplaced:
        replicas = []
        kinds = []
        for workload in self._read().get("workloads", []):
            key = WorkloadKey(self.environment.name, workload.get("group", ""), workload["name"])
            kinds.append((key, workload.get("kind", "service")))
            for index, replica in enumerate(workload.get("replicas", [])):
                replicas.append(
                    Replica(
                        workload=key,
                        id=f"{key.label}/{index}",
                        name=replica["name"],
                        state=replica.get("state", "running"),
                        health=Health(replica.get("health", "unknown")),
                        reason=replica.get("reason", ""),
                        image=workload.get("image", ""),
                        version=workload.get("version", ""),
                    )
                )
        return SnapshotReplaced(self.environment.name, tuple(replicas), tuple(kinds))

    def watch(self, stop) -> Iterator:
        # A file has no events: one snapshot, then nothing until stopped.
        yield self.snapshot()
        while not stop.is_set():
            threading.Event().wait(0.5)

    def logs(self, replica, follow=False, since=None, tail=None, previous=False, stop=None) -> Iterator:
        return iter(())

    def stats(self, replica, stop) -> Iterator:
        return iter(())

    def observe(self, key: WorkloadKey) -> Observation:
        raise AdapterError(ErrorKind.BAD_INPUT, "the jsonfile backend is read-only")
