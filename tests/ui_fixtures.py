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


def add_kubernetes(store: Store) -> None:
    """A Kubernetes environment beside the Docker ones: a rollout, a crash loop, events."""
    from console.model import Environment, EnvironmentKind, EventRecorded, WorkloadKey, WorkloadSpec

    store.add_environment(Environment("prod-k8s", EnvironmentKind.KUBERNETES, "prod (shop)", protected=True))
    web = WorkloadKey("prod-k8s", "shop", "web")
    pay = WorkloadKey("prod-k8s", "shop", "payments")
    store.apply(
        SnapshotReplaced(
            "prod-k8s",
            (
                replica("web-7d9f-abcde", env="prod-k8s", workload="web", reason="Running, Ready", image="shop/web:1.5.0", version="1.5.0"),
                replica("web-7d9f-fghij", env="prod-k8s", workload="web", health=Health.PROGRESSING, reason="ContainerCreating", image="shop/web:1.5.0", version="1.5.0"),
                replica("web-5c4b-klmno", env="prod-k8s", workload="web", reason="Running, Ready", image="shop/web:1.4.2", version="1.4.2"),
                replica("payments-66f-pqrst", env="prod-k8s", workload="payments", health=Health.FAILED, state="CrashLoopBackOff", reason="CrashLoopBackOff (exit 1, 7 restarts)", image="shop/payments:2.1.0-broken", version="2.1.0-broken", restarts=7),
            ),
            specs=(
                WorkloadSpec(web, "Deployment", 2, revision=4, rollout="rollout: 2/2 updated, 1/2 ready, 1/2 available, 1 old terminating", image="shop/web:1.5.0"),
                WorkloadSpec(pay, "Deployment", 1, revision=2, problem="ProgressDeadlineExceeded: ReplicaSet \"payments-66f\" has timed out progressing.", image="shop/payments:2.1.0-broken"),
            ),
        )
    )
    store.apply(ConnectionChanged("prod-k8s", ConnectionState(True, since=FIXED_TIME)))
    for n, (kind, reason, message) in enumerate(
        [
            ("Normal", "ScalingReplicaSet", "Scaled up replica set web-7d9f to 2"),
            ("Normal", "Pulled", "Container image \"shop/web:1.5.0\" already present on machine"),
            ("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
        ]
    ):
        store.apply(EventRecorded(web, datetime(2026, 11, 25, 14, 0, n * 7, tzinfo=UTC), kind, reason, message))
    store.set_metrics_note("prod-k8s", "no metrics API (metrics.k8s.io) in this cluster")


def fixture_app(theme: str = "dark", *, kubernetes: bool = False) -> WatchfloorApp:
    store = fixture_store()
    if kubernetes:
        add_kubernetes(store)
    return WatchfloorApp([], theme=theme, start_backends=False, store=store, clock=lambda: NOW)


PROMETHEUS_QUERIES = (
    ("request_rate", 'sum(rate(http_requests_total{workload="{workload}"}[1m]))', "req/s", "Requests"),
    ("error_ratio", 'sum(rate(http_requests_total{workload="{workload}",code=~"5.."}[1m])) / sum(rate(http_requests_total{workload="{workload}"}[1m]))', "", "Errors"),
    ("p95_latency", 'histogram_quantile(0.95, sum by (le) (rate(http_request_seconds_bucket{workload="{workload}"}[1m])))', "s", "p95"),
)


def add_prometheus(store: Store, *, env: str = "local", simulated: bool = False) -> None:
    """A Prometheus for ``env`` as the metrics poller leaves it in the store: named queries,
    30 minutes of shop/web series, two deploy markers, and alerts (one with hostile text)."""
    from console.model import Alert, DeployMarker, NamedQuery, WorkloadKey

    web = WorkloadKey(env, "shop", "web")
    store.set_prometheus(env, [NamedQuery(*q) for q in PROMETHEUS_QUERIES], simulated=simulated, window=1800.0)
    store.set_prometheus_connection(env, ConnectionState(True))
    steps = [NOW - 1800 + 15 * n for n in range(121)]
    store.put_series(web, "request_rate", [Sample(ts, 40 + (n * 13 % 17)) for n, ts in enumerate(steps)], replace=True)
    store.put_series(
        web, "error_ratio", [Sample(ts, 0.002 if n < 70 or n > 95 else 0.08) for n, ts in enumerate(steps)], replace=True
    )
    store.put_series(web, "p95_latency", [Sample(ts, 0.120 + (n % 9) * 0.01) for n, ts in enumerate(steps)], replace=True)
    store.set_markers(
        {
            web: (
                DeployMarker(NOW - 745, "deploy", "20261125T145735Z-aaaaaa", "1.4.2"),
                DeployMarker(NOW - 355, "rollback", "20261125T150405Z-bbbbbb", "1.4.1"),
            )
        }
    )
    active = datetime.fromtimestamp(NOW - 600, tz=UTC)
    store.set_alerts(
        env,
        (
            Alert(env, "HighErrorRate", "firing", (("severity", "page"), ("workload", "web")),
                  (("summary", "5xx above 5% for 5 minutes"),), active, 0.08),
            Alert(env, "LatencyCreeping", "pending", (("namespace", "shop"), ("service", "api"), ("severity", "ticket")),
                  (("summary", "p95 above 300 ms"),), datetime.fromtimestamp(NOW - 90, tz=UTC), 0.31),
            Alert(env, "[bold red]Evil[/]", "firing", (("severity", "[link=http://x]page"), ("workload", "nobody")),
                  (("summary", "\x1b[2J\x1b]52;c;ZXZpbA==\x07[b]not markup[/b]"),), datetime.fromtimestamp(NOW - 7200, tz=UTC), 1.0),
        ),
    )


def prometheus_app(theme: str = "dark") -> WatchfloorApp:
    """`fixture_app` with a Prometheus on ``local`` (see `add_prometheus`)."""
    store = fixture_store()
    add_prometheus(store)
    return WatchfloorApp([], theme=theme, start_backends=False, store=store, clock=lambda: NOW)
