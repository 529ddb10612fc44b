"""The demo's simulated Prometheus (adapters.demo.prometheus_api), through the real adapter.

Every test talks HTTP on loopback to a started :class:`DemoCluster` (its emulators
and their simulated control plane run for real) with the production
:class:`PrometheusSource`, or with urllib3 where the raw HTTP answer is the point.
Canaries are real Deployments created in the emulator; the controller and kubelet
bring their pods up. Nothing is mocked.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import urllib3
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, ErrorKind
from adapters.demo import DemoCluster
from adapters.demo.promql import MemoryTSDB, Query
from adapters.demo.resources import DEPLOYMENTS
from adapters.demo.prometheus_api import (
    CANARY_GATE_QUERIES,
    HISTORY,
    NAMED_QUERIES,
    PodView,
    RequestSimulator,
)
from adapters.prometheus import PrometheusSource, named_query
from tests.backends import wait_for

TIME_SCALE = 0.05  # scrapes every 0.25 s; alerts hold 6 scrapes (1.5 s) before firing
NAMESPACE = "shop"
RUNBOOK = Path(__file__).parent.parent / "runbooks" / "canary.yaml"


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoCluster]:
    with DemoCluster(time_scale=TIME_SCALE) as cluster:
        # Staging also runs checkout, an Argo Rollout.
        serving = {"demo-staging": 5, "demo-prod": 4}
        for endpoint in cluster.endpoints.values():
            source = PrometheusSource(endpoint.prometheus_url)
            wait_for(
                lambda source=source, n=serving[endpoint.context]: len(source.instant("count by (workload) (http_requests_total)")) == n,
                f"the seeded workloads of {endpoint.context} to serve",
                timeout=30,
            )
        yield cluster


@pytest.fixture(scope="module")
def prod(demo: DemoCluster) -> PrometheusSource:
    return PrometheusSource(demo.endpoints["demo-prod"].prometheus_url, timeout=10)


@pytest.fixture(scope="module")
def staging(demo: DemoCluster) -> PrometheusSource:
    return PrometheusSource(demo.endpoints["demo-staging"].prometheus_url, timeout=10)


@pytest.fixture(scope="module")
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False, timeout=10)


def canary(demo: DemoCluster, environment: str, app: str, image: str, replicas: int = 1) -> None:
    """Create ``<app>-canary`` in the emulator, as the Kubernetes adapter's canary.start does."""
    labels = {"app": app, "track": "canary"}
    demo.emulators[environment].apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{app}-canary", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": app, "image": f"registry.demo/shop/{app}:{image}"}]},
                },
            },
        }
    )


def one_value(source: PrometheusSource, query: str) -> float | None:
    result = source.instant(query)
    return result[0][1] if len(result) == 1 else None


def test_buildinfo_and_every_series_say_the_data_is_simulated(staging: PrometheusSource):
    who = staging.check()
    series = staging.instant("http_requests_total")

    assert "simulated" in who and "watchfloor-demo" in who
    assert series, "no request series"
    assert all(labels["simulated"] == "true" for labels, _ in series)
    assert {"namespace", "workload", "pod", "track", "version", "code"} <= set(series[0][0])


def test_each_environment_has_its_own_prometheus_url(demo: DemoCluster):
    urls = {env: endpoint.prometheus_url for env, endpoint in demo.endpoints.items()}

    assert urls["demo-staging"].endswith("/demo-staging") and urls["demo-prod"].endswith("/demo-prod")
    assert PrometheusSource(urls["demo-staging"]).instant('count(http_requests_total{version="1.5.0"})')
    assert not PrometheusSource(urls["demo-prod"]).instant('count(http_requests_total{version="1.5.0"})')


def test_a_demo_cluster_without_prometheus_names_no_url(tmp_path):
    with DemoCluster(tmp_path, time_scale=TIME_SCALE, prometheus=False) as cluster:
        urls = [endpoint.prometheus_url for endpoint in cluster.endpoints.values()]

    assert urls == ["", ""]


def test_a_healthy_workload_fails_under_one_percent_of_its_requests(prod: PrometheusSource):
    ratio = one_value(prod, named_query(NAMED_QUERIES["error ratio"], workload="web", namespace=NAMESPACE))
    rate = one_value(prod, named_query(NAMED_QUERIES["request rate"], workload="web", namespace=NAMESPACE))

    assert ratio is not None and 0 <= ratio < 0.01
    assert rate is not None and 30 < rate < 100  # web's simulated demand is about 60 req/s


def test_p95_latency_of_a_healthy_workload_is_tens_of_milliseconds(prod: PrometheusSource):
    p95 = one_value(prod, named_query(NAMED_QUERIES["p95 latency"], workload="api", namespace=NAMESPACE))

    assert p95 is not None and 0.02 < p95 < 0.5


def test_an_errors_canary_fails_a_fifth_of_its_requests_and_its_alert_goes_pending_then_firing(
    demo: DemoCluster, prod: PrometheusSource
):
    canary_ratio = named_query(CANARY_GATE_QUERIES["error ratio"], workload="api", namespace=NAMESPACE)
    stable_ratio = named_query(NAMED_QUERIES["error ratio"].replace('workload="{workload}"', 'workload="{workload}",track="stable"'), workload="api", namespace=NAMESPACE)
    assert prod.instant(canary_ratio) == []  # no canary yet: nothing to judge

    canary(demo, "demo-prod", "api", "2.4.0-errors")
    states: list[tuple[str, object]] = []

    def firing() -> bool:
        for alert in prod.alerts():
            if alert.name == "HighErrorRatio" and alert.labels.get("workload") == "api" and alert.labels.get("track") == "canary":
                states.append((alert.state, alert.active_at))
                return alert.state == "firing"
        return False

    wait_for(firing, "HighErrorRatio to fire for the api canary", timeout=30, interval=0.05)
    ratio = one_value(prod, canary_ratio)
    stable = one_value(prod, stable_ratio)
    [(labels, _)] = prod.instant('count by (version, track) (http_requests_total{workload="api",track="canary"})')

    assert ratio is not None and ratio > 0.2
    assert stable is not None and stable < 0.01
    assert labels == {"version": "2.4.0-errors", "track": "canary"}
    assert states[0][0] == "pending" and states[-1][0] == "firing"
    assert states[0][1] == states[-1][1]  # activeAt stays when it was first pending
    alert = next(a for a in prod.alerts() if a.name == "HighErrorRatio" and a.labels.get("workload") == "api")
    assert alert.labels["severity"] == "critical" and alert.labels["namespace"] == NAMESPACE
    assert "simulated" in alert.annotations["description"].lower()


def test_the_canary_runbooks_own_queries_fail_an_errors_canary_and_pass_stable(demo: DemoCluster, prod: PrometheusSource):
    params = yaml.safe_load(RUNBOOK.read_text())["params"]
    canary(demo, "demo-prod", "api", "2.4.0-errors")  # the same canary as above: apply is idempotent

    def filled(name: str, version: str) -> str:
        return params[name]["default"].replace("{workload}", "api").replace("{version}", version)

    bad = wait_for(lambda: one_value(prod, filled("error_query", "2.4.0-errors")), "the canary's error ratio", timeout=30)
    good = one_value(prod, filled("error_query", "2.3.1"))
    bad_p95 = one_value(prod, filled("latency_query", "2.4.0-errors"))
    good_p95 = one_value(prod, filled("latency_query", "2.3.1"))

    assert bad > 0.2 and good is not None and good < 0.01
    assert bad_p95 is not None and good_p95 is not None and bad_p95 > 2 * good_p95


def test_a_slow_canary_has_a_p95_latency_above_a_second_and_goes_stale_when_removed(
    demo: DemoCluster, staging: PrometheusSource
):
    p95_query = named_query(CANARY_GATE_QUERIES["p95 latency"], workload="web", namespace=NAMESPACE)
    canary(demo, "demo-staging", "web", "1.6.0-slow")

    p95 = wait_for(lambda: one_value(staging, p95_query), "the slow canary to serve", timeout=30)
    emulator = demo.emulators["demo-staging"]
    emulator.call(lambda: emulator.store.delete(DEPLOYMENTS, NAMESPACE, "web-canary", propagation="Background"))
    gone = wait_for(
        lambda: staging.instant('http_requests_total{workload="web",track="canary"}') == [],
        "the canary's series to end",
        timeout=30,
    )

    assert 1.0 < p95 < 5.0
    assert gone


def test_query_range_answers_at_the_step_asked_and_only_within_the_history(staging: PrometheusSource, demo: DemoCluster):
    end = time.time()
    start = end - 3600
    step = 2.0
    interval = demo.prometheus.scrape_interval  # type: ignore[union-attr]

    [(labels, points)] = staging.range(named_query(NAMED_QUERIES["request rate"], workload="api", namespace=NAMESPACE), start, end, step)

    times = [t for t, _ in points]
    assert labels == {}
    assert 2 < len(points) <= (end - start) / step + 1
    assert all(math.isclose(b - a, step, abs_tol=0.002) for a, b in zip(times, times[1:]))
    assert all(math.isclose((t - start) / step, round((t - start) / step), abs_tol=0.001) for t in times)
    assert times[0] >= end - HISTORY * interval - step - 1  # nothing older than the ring holds
    assert times[-1] <= end + 0.001  # the adapter sends times to the millisecond


def test_query_range_refuses_more_than_eleven_thousand_points(staging: PrometheusSource):
    now = time.time()

    with pytest.raises(AdapterError) as refused:
        staging.range("sum(http_requests_total)", now - 20_000, now, 1)

    assert refused.value.kind is ErrorKind.BAD_INPUT
    assert "11,000 points" in refused.value.summary


def test_an_unsupported_query_is_bad_input_with_the_servers_message(staging: PrometheusSource):
    with pytest.raises(AdapterError) as refused:
        staging.instant("rate(http_requests_total[5m] offset 1h)")

    assert refused.value.kind is ErrorKind.BAD_INPUT
    assert "offset" in refused.value.summary
    assert "not supported by the watchfloor demo endpoint" in refused.value.summary


def test_errors_keep_prometheus_json_shapes_and_status_codes(demo: DemoCluster, http: urllib3.PoolManager):
    base = demo.endpoints["demo-staging"].prometheus_url

    syntax = http.request("GET", f"{base}/api/v1/query?{urlencode({'query': 'sum('})}")
    execution = http.request("GET", f"{base}/api/v1/query?{urlencode({'query': 'http_requests_total / on(pod) http_requests_total'})}")
    missing = http.request("GET", f"{base}/api/v1/query_range?{urlencode({'query': 'up', 'start': '1', 'end': '2'})}")

    assert syntax.status == 400
    assert json.loads(syntax.data) == {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected end of input"}
    assert execution.status == 422 and json.loads(execution.data)["errorType"] == "execution"
    assert missing.status == 400 and "step" in json.loads(missing.data)["error"]


def test_query_and_query_range_take_a_post_form_like_prometheus(demo: DemoCluster, http: urllib3.PoolManager):
    base = demo.endpoints["demo-staging"].prometheus_url
    now = time.time()

    instant = http.request("POST", f"{base}/api/v1/query", fields={"query": "vector(2) * 3", "time": str(now)}, encode_multipart=False)
    ranged = http.request(
        "POST",
        f"{base}/api/v1/query_range",
        fields={"query": "time()", "start": str(now - 10), "end": str(now), "step": "5s"},
        encode_multipart=False,
    )

    assert json.loads(instant.data)["data"]["result"][0]["value"][1] == "6"
    [series] = json.loads(ranged.data)["data"]["result"]
    assert [float(v) for _, v in series["values"]] == pytest.approx([now - 10, now - 5, now], abs=0.002)


def test_the_endpoint_listens_on_loopback_only(demo: DemoCluster):
    url = urlsplit(demo.endpoints["demo-staging"].prometheus_url)
    assert url.hostname == "127.0.0.1"

    # Bound to 127.0.0.1, not 0.0.0.0: another loopback address on the same port is refused.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", url.port), timeout=5).close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=120))
def test_any_query_text_gets_an_answer_or_a_message_never_a_crash(demo: DemoCluster, http: urllib3.PoolManager, query: str):
    base = demo.endpoints["demo-prod"].prometheus_url

    response = http.request("POST", f"{base}/api/v1/query", fields={"query": query}, encode_multipart=False)

    body = json.loads(response.data)
    if response.status == 200:
        assert body["status"] == "success" and body["data"]["resultType"] in ("vector", "scalar", "matrix", "string")
    else:
        assert response.status in (400, 422)
        assert body["status"] == "error" and body["errorType"] in ("bad_data", "execution") and body["error"]


# --- the simulation itself, without HTTP ---------------------------------------------------------


def pod(name: str, version: str, behaviour: str = "normal", track: str = "stable") -> PodView:
    return PodView(NAMESPACE, name, f"uid-{name}", "web", track, version, "web", behaviour, 0)


def test_a_broken_image_that_does_serve_fails_a_third_of_its_requests_slowly():
    db = MemoryTSDB(HISTORY)
    simulator = RequestSimulator(db, seed=1, interval=5.0, backfill=0)
    pods = [pod("web-a", "1.4.2"), pod("web-b", "1.4.2"), pod("web-canary-a", "1.5.0-broken", "broken", "canary")]

    for k in range(30):
        simulator.scrape(1_000_000 + k * 5.0, pods)
    t = 1_000_000 + 29 * 5.0
    ratio = Query('sum by (track) (rate(http_requests_total{code=~"5.."}[1m])) / sum by (track) (rate(http_requests_total[1m]))', db).instant(t)
    p95 = Query("histogram_quantile(0.95, sum by (track, le) (rate(http_request_duration_seconds_bucket[1m])))", db).instant(t)

    by_track = {dict(labels)["track"]: value for labels, value in ratio}
    latency = {dict(labels)["track"]: value for labels, value in p95}
    assert by_track["canary"] > 0.2 and by_track["stable"] < 0.01
    assert latency["canary"] > 3 * latency["stable"]


def test_the_same_seed_simulates_the_same_requests():
    runs = []
    for _ in range(2):
        db = MemoryTSDB(HISTORY)
        simulator = RequestSimulator(db, seed=4, interval=5.0, backfill=60)
        for k in range(5):
            simulator.scrape(2_000_000 + k * 5.0, [pod("web-a", "1.4.2")])
        runs.append(sorted((s.labels, tuple(s.window(0, 1e12))) for s in db.series()))

    assert runs[0] == runs[1]


def test_series_of_pods_gone_longer_than_the_history_are_forgotten():
    db = MemoryTSDB(20)
    simulator = RequestSimulator(db, seed=1, interval=5.0, backfill=0)

    for k in range(400):  # a new pod every 10 scrapes, as a crash-looping canary would churn
        simulator.scrape(3_000_000 + k * 5.0, [pod("web-a", "1.4.2"), pod(f"web-canary-{k // 10}", "1.5.0", track="canary")])

    per_pod = len({dict(s.labels)["pod"] for s in db.series()})
    assert per_pod <= 1 + 3  # web-a and the canaries of the last 20 scrapes' span (plus one going)
    assert max(len(s) for s in db.series()) <= 20
