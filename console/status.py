"""Headless ``watchfloor status``: the same model the console shows, as text or JSON.

Exit codes (DESIGN §6): 0 everything healthy, 1 something degraded or failed,
2 bad input, 3 an environment unreachable.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from adapters.base import AdapterError
from console.backends import Backend
from console.model import ConnectionChanged, ConnectionState, Health
from console.redact import redact_data
from console.store import Store
from console.terminal_text import neutralise

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


def collect(backends: list[Backend]) -> Store:
    """Connect to every environment at once, take a detailed snapshot, close."""
    store = Store(b.environment for b in backends)

    def one(backend: Backend) -> None:
        env = backend.environment.name
        adapter = backend.make_adapter()
        try:
            adapter.connect()
            store.apply(adapter.snapshot(detailed=True))
            store.apply(ConnectionChanged(env, ConnectionState(True, since=datetime.now(UTC))))
        except AdapterError as error:
            store.apply(ConnectionChanged(env, ConnectionState(False, error=error.summary, detail=error.admin_detail)))
        finally:
            adapter.close()

    with ThreadPoolExecutor(max_workers=max(1, len(backends))) as pool:
        list(pool.map(one, backends))
    store.drain()
    return store


def as_json(store: Store) -> dict[str, Any]:
    """The ``status --json`` document; keys are a stable interface (DESIGN §6)."""
    environments = []
    for name in store.environment_names():
        environment = store.environment(name)
        connection = store.connection(name)
        workloads = []
        for workload in store.workloads(name):
            replicas = [
                {
                    "name": r.name,
                    "state": r.state,
                    "health": r.health.value,
                    "restarts": r.restarts,
                    "reason": r.reason,
                    "image": r.image,
                }
                for r in store.replicas(workload.key)
            ]
            workloads.append(
                {
                    "name": workload.name,
                    "group": workload.group,
                    "kind": workload.kind,
                    "health": workload.health.value,
                    "reason": workload.reason,
                    "ready": workload.ready,
                    "desired": workload.desired,
                    "version": workload.version,
                    "image": workload.image,
                    "restarts": workload.restarts,
                    "replicas": replicas,
                }
            )
        environments.append(
            {
                "name": name,
                "kind": environment.kind.value,
                "target": environment.target,
                "connected": connection.connected,
                "error": connection.error,
                "workloads": workloads,
            }
        )
    return redact_data({"environments": environments})


def exit_code(store: Store) -> int:
    names = store.environment_names()
    if any(not store.connection(name).connected for name in names):
        return EXIT_UNREACHABLE
    if any(w.health in (Health.DEGRADED, Health.FAILED) for w in store.workloads()):
        return EXIT_UNHEALTHY
    return EXIT_HEALTHY


_GLYPH = {"healthy": "●", "progressing": "◐", "degraded": "▲", "failed": "✖", "unknown": "?"}


def as_text(document: dict[str, Any]) -> str:
    """A plain table for people: no markup, untrusted text neutralised."""
    lines: list[str] = []
    for environment in document["environments"]:
        state = "connected" if environment["connected"] else f"UNREACHABLE: {environment['error']}"
        lines.append(f"{_safe(environment['name'])} ({environment['kind']}, {_safe(environment['target'])}) — {state}")
        if not environment["workloads"] and environment["connected"]:
            lines.append("  (no workloads)")
        width = max((len(_label(w)) for w in environment["workloads"]), default=8)
        for workload in environment["workloads"]:
            glyph = _GLYPH.get(workload["health"], "?")
            lines.append(
                f"  {glyph} {workload['health']:<11} {_safe(_label(workload)):<{width}}  "
                f"{workload['ready']}/{workload['desired']:<3} {_safe(workload['version']):<12} "
                f"{_safe(workload['reason'])}"
            )
    return "\n".join(lines)


def _label(workload: dict[str, Any]) -> str:
    return f"{workload['group']}/{workload['name']}" if workload["group"] else workload["name"]


def _safe(value: object) -> str:
    return neutralise(str(value), keep_sgr=False)
