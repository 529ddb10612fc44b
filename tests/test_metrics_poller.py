"""The metrics poller (console/metrics_poller.py) against a real Prometheus, and deploy
markers read from real journal files.

Prometheus is Debian's binary on loopback (tests/prometheus_backend.py) scraping real
HTTP endpoints; where a test counts what reached Prometheus, a real counting proxy
(tests/prometheus_counting.py) forwards every request to it. Nothing is mocked.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import StopSignal
from adapters.prometheus import PrometheusSource
from console.metrics_poller import FORGET_STEPS, DeployMarkerReader, MetricsPoller, markers_of
from console.model import Environment, EnvironmentKind, NamedQuery, WorkloadKey
from console.runbook.actor import actor
from console.runbook.journal import Journal, RunHeader, new_run_id
from console.store import Store
from console.watcher import Backoff
from tests.backends import wait_for
from tests.prometheus_backend import (  # noqa: F401 - fixtures are found by name in this module
    FIRING_ALERT,
    PENDING_ALERT,
    MetricsEndpoint,
    PrometheusServer,
    metrics_endpoint,
    private_prometheus,
    prometheus,
)
from tests.prometheus_counting import CountingProxy

ENV = "cluster"
WEB = WorkloadKey(ENV, "shop", "web")
API = WorkloadKey(ENV, "shop", "api")
RATIO = NamedQuery("ratio", 'wf_test_ratio{job="fixed",workload="{workload}"}', "", "Ratio")
DOUBLED = NamedQuery("doubled", '2 * wf_test_ratio{job="fixed",workload="{workload}"}', "", "Doubled")


def make_store(queries=(RATIO, DOUBLED)) -> Store:
    store = Store([Environment(ENV, EnvironmentKind.KUBERNETES, "ctx")])
    store.set_prometheus(ENV, queries)
    return store


@pytest.fixture
def proxy(prometheus: PrometheusServer):
    counting = CountingProxy(prometheus.url)
    yield counting
    counting.close()


def run_in_thread(poller: MetricsPoller) -> tuple[StopSignal, threading.Thread]:
    stop = StopSignal()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def raw_range(url: str, query: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
    """The range query straight from Prometheus's HTTP API, without the adapter."""
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=5) as response:
        result = json.loads(response.read())["data"]["result"]
    return [(float(ts), float(value)) for ts, value in result[0]["values"]] if result else []


# ------------------------------------------------------------------------ queries per step


def test_each_series_gets_at_most_one_range_query_per_step_while_the_screen_changes(proxy, metrics_endpoint):
    store = make_store()
    poller = MetricsPoller(ENV, lambda: PrometheusSource(proxy.url), [RATIO, DOUBLED], store, step=1.0, window=60.0)
    stop, thread = run_in_thread(poller)
    try:
        # The operator scrolls: workloads come into view and leave, many times a step.
        for tick in range(40):
            others = [WorkloadKey(ENV, "shop", f"other-{tick % 3}")] if tick % 2 else []
            poller.want([WEB, *others, API] if tick % 4 else [API, WEB])
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(5)

    per_series_step = proxy.per_series_per_step(1.0)
    assert per_series_step, "no range query reached Prometheus"
    assert max(per_series_step.values()) == 1
    assert poller.most_queries_in_a_step() == 1
    assert len(proxy.range_queries()) == poller.range_queries
    # Every step of the 4 s had its queries for the two on-screen workloads' series.
    steps = {step for (query, step) in per_series_step if 'workload="web"' in query}
    assert len(steps) >= 3


def test_after_the_first_fetch_only_the_new_steps_are_asked_for(proxy, metrics_endpoint):
    store = make_store((RATIO,))
    poller = MetricsPoller(ENV, lambda: PrometheusSource(proxy.url), [RATIO], store, step=1.0, window=30.0)
    poller.want([WEB])
    source = PrometheusSource(proxy.url)
    now = int(time.time()) - 3 + 0.2  # a step (second) and a fifth

    poller.poll(source, now)
    poller.poll(source, now + 1)
    poller.poll(source, now + 1.5)  # same step: nothing asked
    poller.poll(source, now + 3)

    first, second, third = proxy.range_queries()
    end = int(now) * 1.0
    assert (float(first.params["start"]), float(first.params["end"])) == (end - 30, end)
    assert (float(second.params["start"]), float(second.params["end"])) == (end + 1, end + 1)
    assert (float(third.params["start"]), float(third.params["end"])) == (end + 2, end + 3)


# ------------------------------------------------------------------------ values


def test_sparkline_points_are_the_values_prometheus_holds(prometheus):
    endpoint = MetricsEndpoint("wf_wobble{workload=\"web\"} 1\n")
    target = prometheus.scrape(endpoint.address, labels={"job": "wobble"})
    stop_changing = threading.Event()

    def change() -> None:
        n = 0
        while not stop_changing.wait(0.3):
            n += 1
            endpoint.text = f'wf_wobble{{workload="web"}} {(n * 7) % 11 + 0.5}\n'

    changer = threading.Thread(target=change, daemon=True)
    changer.start()
    try:
        prometheus.wait_for_result('wf_wobble{job="wobble"}')
        time.sleep(6)
        query = NamedQuery("wobble", 'wf_wobble{job="wobble",workload="{workload}"}', "req/s", "Wobble")
        store = make_store((query,))
        poller = MetricsPoller(ENV, lambda: PrometheusSource(prometheus.url), [query], store, step=1.0, window=20.0)
        poller.want([WEB])
        source = PrometheusSource(prometheus.url)
        now = time.time() - 2
        poller.poll(source, now)
        poller.poll(source, now + 2)  # and an incremental fetch on top

        series = store.metric_series(WEB, "wobble")
        end = int(now + 2)
        held = raw_range(prometheus.url, 'wf_wobble{job="wobble",workload="web"}', end - 20, end, 1)
        assert [(p.ts, p.value) for p in series.points] == held
        assert len({value for _, value in held}) > 3  # the values did move
    finally:
        stop_changing.set()
        changer.join(2)
        prometheus.unscrape(target)
        endpoint.close()


def test_a_query_prometheus_rejects_is_a_note_on_its_series_not_an_outage(prometheus, metrics_endpoint):
    broken = NamedQuery("broken", 'sum(rate(x{workload="{workload}"}[1m]', "", "Broken")
    store = make_store((RATIO, broken))
    poller = MetricsPoller(ENV, lambda: PrometheusSource(prometheus.url), [RATIO, broken], store, step=1.0, window=10.0)
    poller.want([WEB])

    poller.poll(PrometheusSource(prometheus.url), time.time())

    assert "rejected the query" in store.metric_series(WEB, "broken").note
    assert store.metric_series(WEB, "ratio").points[-1].value == 0.25


def test_series_of_a_workload_off_screen_are_dropped_after_a_few_steps(prometheus, metrics_endpoint):
    store = make_store((RATIO,))
    poller = MetricsPoller(ENV, lambda: PrometheusSource(prometheus.url), [RATIO], store, step=1.0, window=10.0)
    source = PrometheusSource(prometheus.url)
    now = time.time()
    poller.want([WEB, API])
    poller.poll(source, now)
    assert store.metric_series(API, "ratio").points

    poller.want([WEB])
    for step in range(1, FORGET_STEPS + 1):
        poller.poll(source, now + step)
    kept = store.metric_series(API, "ratio")
    poller.poll(source, now + FORGET_STEPS + 1)

    assert kept is not None and kept.points
    assert store.metric_series(API, "ratio") is None
    assert store.metric_series(WEB, "ratio") is not None


# ------------------------------------------------------------------------ alerts and outages


def test_alerts_land_in_the_store_and_mark_the_workloads_they_name(prometheus):
    store = make_store(())
    poller = MetricsPoller(ENV, lambda: PrometheusSource(prometheus.url), [], store, step=1.0)
    source = PrometheusSource(prometheus.url)

    def both_listed():
        poller.poll(source, time.time())  # alerts are asked once per (1 s) step
        names = {a.name: a for a in store.alerts(ENV)}
        return names if {FIRING_ALERT, PENDING_ALERT} <= set(names) else None

    alerts = wait_for(both_listed, "both test alerts", timeout=20)

    assert alerts[FIRING_ALERT].state == "firing" and alerts[PENDING_ALERT].state == "pending"
    assert alerts[FIRING_ALERT].active_at is not None
    assert alerts[FIRING_ALERT].summary == "always firing, for the tests"
    assert store.alert_state(WEB) == "firing"
    assert store.alert_state(API) == "pending"
    assert store.alert_state(WorkloadKey(ENV, "shop", "db")) is None


def test_prometheus_stopped_is_a_connection_state_with_the_data_kept_and_it_recovers(private_prometheus):
    endpoint = MetricsEndpoint()
    target = private_prometheus.scrape(endpoint.address, labels={"job": "fixed"})
    store = make_store((RATIO,))
    poller = MetricsPoller(
        ENV, lambda: PrometheusSource(private_prometheus.url, timeout=1), [RATIO], store,
        step=0.5, window=10.0, backoff=Backoff(0.2, 1.0),
    )
    poller.want([WEB])
    stop, thread = run_in_thread(poller)
    try:
        private_prometheus.wait_for_result('wf_test_ratio{job="fixed"}')
        wait_for(lambda: (s := store.metric_series(WEB, "ratio")) is not None and s.points, "first points", timeout=15)
        assert store.prometheus(ENV).connection.connected

        private_prometheus.stop()
        down = wait_for(lambda: (c := store.prometheus(ENV).connection) and not c.connected and c, "down state", timeout=10)
        assert "does not answer" in down.error and down.since is not None and down.retry_at is not None
        assert store.metric_series(WEB, "ratio").points  # the last data stays

        private_prometheus.start()
        wait_for(lambda: store.prometheus(ENV).connection.connected, "recovered", timeout=20)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
        private_prometheus.unscrape(target)
        endpoint.close()


# ------------------------------------------------------------------------ deploy markers


def write_run(directory, workload: str, calls: list[tuple[str, dict]], *, at: datetime, outcome: str = "succeeded") -> str:
    """A journal as the executor writes it: run.started, adapter calls (request, then answer), run.finished."""
    clock = [at]
    run_id = new_run_id(at)
    header = RunHeader(runbook="deploy@" + "0" * 64, environment_name=ENV, workload=workload, actor=actor())
    with Journal.create(run_id, header, directory, clock=lambda: clock[0]) as journal:
        journal.append("run.started", data={"params": {}, "steps": ["act"]})
        for verb, answer in calls:
            clock[0] += timedelta(seconds=10)
            journal.append("adapter.call", step="act", data={"request": {"verb": verb}, "sent": True})
            clock[0] += timedelta(seconds=20)
            journal.append("adapter.call", step="act", data={"request": {"verb": verb}, **answer})
        clock[0] += timedelta(seconds=5)
        journal.append("run.finished", data={"outcome": outcome})
    return run_id


def test_deploy_markers_are_the_successful_release_calls_of_each_workload(tmp_path):
    at = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    run_id = write_run(
        tmp_path,
        "shop/web",
        [
            ("deploy", {"result": {"to_version": "1.5.0"}}),
            ("restart", {"result": {}}),
            ("canary.promote", {"error": {"kind": "backend", "summary": "no"}}),
            ("rollback", {"result": {"to_version": "1.4.2"}}),
        ],
        at=at,
    )
    write_run(tmp_path, "api", [("scale", {"result": {}})], at=at)
    (tmp_path / "20261125T000000Z-broken.jsonl").write_text("not json\n")

    markers = DeployMarkerReader(tmp_path).read()

    assert set(markers) == {WEB}
    assert [(m.verb, m.detail) for m in markers[WEB]] == [("deploy", "1.5.0"), ("rollback", "1.4.2"), ("finished", "succeeded")]
    assert markers[WEB][0].ts == (at + timedelta(seconds=30)).timestamp()
    assert {m.run_id for m in markers[WEB]} == {run_id}


def test_a_run_written_after_the_first_read_shows_at_the_next(tmp_path):
    reader = DeployMarkerReader(tmp_path)
    assert reader.read() == {}

    write_run(tmp_path, "web", [("bluegreen.switch", {"result": {}})], at=datetime(2026, 11, 25, 15, 0, tzinfo=UTC))

    assert [m.verb for m in reader.read()[WorkloadKey(ENV, "", "web")]] == ["bluegreen.switch", "finished"]


def test_markers_of_ignores_entries_without_time_or_workload():
    entries = [
        {"event": "adapter.call", "ts": "nonsense", "environment_name": ENV, "workload": "web", "data": {"request": {"verb": "deploy"}, "result": {}}},
        {"event": "adapter.call", "ts": "2026-11-25T14:00:00.000Z", "environment_name": ENV, "workload": "", "data": {"request": {"verb": "deploy"}, "result": {}}},
        {"event": "run.finished", "ts": "2026-11-25T14:00:00.000Z", "environment_name": ENV, "workload": "web", "data": {}},
    ]

    assert markers_of(entries) == []
