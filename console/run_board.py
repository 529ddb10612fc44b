"""Live runs, for the UI: the latest ``RunView`` of each run and a way to talk to it.

Executor threads call ``update()``; the UI tick calls ``drain()`` and reads views, the
same way it meets adapters at the store (DESIGN §2). Operator verbs go the other way
through ``send()``, which only queues them (the executor thread acts on them).
"""

from __future__ import annotations

import threading

from console.model import WorkloadKey
from console.runbook.estimate import Expectation
from console.runbook.run_view import RunView


class RunBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: dict[str, RunView] = {}
        self._executors: dict[str, object] = {}
        self._changed: set[str] = set()
        self._order: list[str] = []
        self._expectations: dict[str, Expectation] = {}

    # -- executor side --------------------------------------------------------------------

    def attach(self, executor) -> None:
        view = executor.view
        with self._lock:
            self._executors[view.run_id] = executor
            self._views[view.run_id] = view
            if view.run_id not in self._order:
                self._order.append(view.run_id)
            self._changed.add(view.run_id)

    def update(self, view: RunView) -> None:
        with self._lock:
            self._views[view.run_id] = view
            self._changed.add(view.run_id)

    def expect(self, run_id: str, expectation: Expectation) -> None:
        """How long the run's steps should take (read from past journals by a worker)."""
        with self._lock:
            self._expectations[run_id] = expectation
            self._changed.add(run_id)

    # -- UI side ------------------------------------------------------------------------

    def drain(self) -> set[str]:
        with self._lock:
            changed, self._changed = self._changed, set()
        return changed

    def get(self, run_id: str) -> RunView | None:
        with self._lock:
            return self._views.get(run_id)

    def expectation(self, run_id: str) -> Expectation:
        """The run's step estimates; empty (no time to say) until the worker has read them."""
        with self._lock:
            return self._expectations.get(run_id) or Expectation()

    def runs(self) -> list[RunView]:
        with self._lock:
            return [self._views[run_id] for run_id in self._order]

    def active(self) -> list[RunView]:
        return [view for view in self.runs() if not view.phase.finished]

    def for_workload(self, key: WorkloadKey) -> RunView | None:
        """The newest run of a workload started in this console, if any."""
        for view in reversed(self.runs()):
            if view.workload == key:
                return view
        return None

    def send(self, run_id: str, verb: str, arg=None, actor: str = "") -> bool:
        with self._lock:
            executor = self._executors.get(run_id)
        if executor is None:
            return False
        executor.send(verb, arg, actor)
        return True
