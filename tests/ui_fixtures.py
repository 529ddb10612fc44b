"""A console fed from fixture data, for pilot and snapshot tests (no backend, by design:
these tests pin layout and keys; the real engine is exercised in test_docker_adapter)."""

from __future__ import annotations

from datetime import UTC, datetime

from console.app import WatchfloorApp
from console.model import (
    ConnectionChanged,
    ConnectionState,
    Health,
    Sample,
    SampleAdded,
    SnapshotReplaced,
)
from console.store import Store
from tests.factories import FIXED_TIME, docker_environment, replica

NOW = FIXED_TIME.timestamp() + 3 * 3600


def fixture_store() -> Store:
    local = docker_environment("local")
    staging = docker_environment("staging", protected=True)
    store = Store([local, staging])
    store.apply(
        SnapshotReplaced(
            "local",
            (
                replica("shop-web-1", workload="web", env_vars=(("DB_PASSWORD", "hunter2"), ("PORT", "8080"))),
                replica("shop-web-2", workload="web", restarts=1),
                replica(
                    "shop-api-1",
                    workload="api",
                    health=Health.DEGRADED,
                    reason="unhealthy (health check failing: 500)",
                    image="shop/api:2.0.1",
                    version="2.0.1",
                    restarts=3,
                ),
                replica("shop-api-2", workload="api", image="shop/api:2.0.1", version="2.0.1"),
                replica(
                    "worker",
                    group="",
                    workload="worker",
                    health=Health.FAILED,
                    state="exited",
                    reason="exited with code 3",
                    image="jobs/worker:0.9",
                    version="0.9",
                ),
                replica(
                    "[bold red]evil[/]",
                    group="",
                    workload="[bold red]evil[/]",
                    health=Health.DEGRADED,
                    reason="\x1b]52;c;ZXZpbA==\x07 osc52 \x1b[2J",
                    image="x:[link=http://x]y",
                    version="[/]",
                ),
            ),
        )
    )
    store.apply(ConnectionChanged("local", ConnectionState(True, since=FIXED_TIME)))
    for second in range(120):
        ts = NOW - 120 + second
        value = 5.0 + (second * 7 % 23)
        store.apply(SampleAdded("local", "id-local-shop-web-1", "cpu", Sample(ts, value)))
        store.apply(SampleAdded("local", "id-local-shop-web-1", "memory", Sample(ts, 40e6 + second * 1e5)))
    store.apply(
        ConnectionChanged(
            "staging",
            ConnectionState(
                False,
                error="cannot reach the Docker engine at tcp://10.0.0.9:2376",
                since=datetime(2026, 11, 25, 14, 3, 4, tzinfo=UTC),
                retry_at=None,
            ),
        )
    )
    return store


def fixture_app(theme: str = "dark") -> WatchfloorApp:
    return WatchfloorApp([], theme=theme, start_backends=False, store=fixture_store(), clock=lambda: NOW)
