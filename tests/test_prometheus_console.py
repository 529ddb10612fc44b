"""Prometheus in the console, end to end: the app's own poller against a real Prometheus,
the workloads from the Kubernetes emulator over real HTTP, journals as real files.

What is on screen is read from the widgets (the sparkline panel's rendered text, the
tables' cells, the banner); the keys are pressed for real. Prometheus is Debian's binary
on loopback (tests/prometheus_backend.py); its query counts are taken by a real proxy
in front of it (tests/prometheus_counting.py). Nothing is mocked.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.demo.emulator import KubernetesEmulator
from console import metrics_poller
from console.app import WatchfloorApp
from console.backends import backends_for
from console.config import Config, KubernetesEnvironmentConfig, NamedQueryConfig, PrometheusConfig
from console.model import WorkloadKey
from screens.alerts import AlertsScreen
from screens.main import MainScreen
from tests.prometheus_backend import (  # noqa: F401 - fixtures are found by name in this module
    FIRING_ALERT,
    PENDING_ALERT,
    MetricsEndpoint,
    metrics_endpoint,
    private_prometheus,
    prometheus,
)
from tests.prometheus_counting import CountingProxy
from tests.test_kubernetes_adapter import deployment_object
from tests.test_metrics_poller import write_run
from widgets.keyed_table import KeyedTable
from widgets.metric_panel import MARKER, MetricPanel
from widgets.workload_table import WorkloadTable

ENV = "cluster"
WEB = WorkloadKey(ENV, "shop", "web")
API = WorkloadKey(ENV, "shop", "api")
QUERIES = {
    "ratio": NamedQueryConfig(query='wf_test_ratio{job="fixed",workload="{workload}"}', title="Ratio"),
    "doubled": NamedQueryConfig(query='2 * wf_test_ratio{job="fixed",workload="{workload}"}', unit="req/s", title="Doubled"),
}
HOSTILE_RULES = r"""groups:
  - name: hostile
    rules:
      - alert: HostileText
        expr: vector(1)
        labels: {severity: "[link=http://evil.example]page[/link]", workload: "[b]web[/b]"}
        annotations: {summary: "[bold red]boom[/] \e]52;c;ZXZpbA==\a \e[2J done"}
"""


@pytest.fixture(autouse=True)
def quick_steps(monkeypatch, tmp_path):
    """A one-second sparkline step, and a state directory (journals) of the test's own."""
    monkeypatch.setattr(metrics_poller, "STEP_SECONDS", 1.0)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def kubeconfig(tmp_path) -> Path:
    with KubernetesEmulator(time_scale=0.05, seed=7) as emulator:
        emulator.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        emulator.apply(deployment_object("web", replicas=1, image="registry.test/web:1.0"))
        emulator.apply(deployment_object("api", replicas=1, image="registry.test/api:1.0"))
        yield emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx")


def console_app(kubeconfig: Path, prometheus_url: str) -> WatchfloorApp:
    config = Config(
        environments=[
            KubernetesEnvironmentConfig(
                kind="kubernetes",
                name=ENV,
                kubeconfig=str(kubeconfig),
                context="ctx",
                namespaces=["shop"],
                prometheus=PrometheusConfig(url=prometheus_url, timeout=1, queries=QUERIES),
            )
        ]
    )
    return WatchfloorApp(backends_for(config), config=config)


async def until(pilot, check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def select(pilot, key: WorkloadKey) -> None:
    table = pilot.app.screen.query_one(WorkloadTable)
    await until(pilot, lambda: key in table.visible_keys(), f"{key.label} row")
    table.move_cursor_to_key(key)
    await pilot.pause()


def panel_lines(app) -> list[str]:
    return app.screen.query_one(MetricPanel).render().plain.splitlines()


def has_points(app) -> bool:
    data = app.screen.query_one(MetricPanel).data
    return bool(data.series) and all(s is not None and s.points for s in data.series)


# ------------------------------------------------------------------------ sparklines


async def test_the_detail_pane_draws_each_named_query_with_what_prometheus_holds(prometheus, metrics_endpoint, kubeconfig):
    proxy = CountingProxy(prometheus.url)
    app = console_app(kubeconfig, proxy.url)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await select(pilot, WEB)
            await until(pilot, lambda: has_points(app), "sparkline points")

            lines = panel_lines(app)
            assert lines[0].startswith("Ratio 0.25 · min 0.25 · max 0.25")
            assert lines[2].startswith("Doubled 0.5 req/s · min 0.5 · max")
            assert set(lines[1].strip()) == {"▁"}  # a flat line, drawn to the window's end
            # The operator moves through the table for a few steps.
            for _ in range(15):
                await pilot.press("up")
                await pilot.pause(0.1)
                await pilot.press("down")
                await pilot.pause(0.1)
    finally:
        proxy.close()

    per_series_step = proxy.per_series_per_step(1.0)
    assert max(per_series_step.values()) == 1
    assert {q for q, _ in per_series_step} == {
        'wf_test_ratio{job="fixed",workload="web"}',
        '2 * wf_test_ratio{job="fixed",workload="web"}',
        'wf_test_ratio{job="fixed",workload="api"}',
        '2 * wf_test_ratio{job="fixed",workload="api"}',
    }


async def test_prometheus_stopped_is_a_state_on_screen_with_the_last_data_kept_then_it_recovers(private_prometheus, kubeconfig):
    endpoint = MetricsEndpoint()
    target = private_prometheus.scrape(endpoint.address, labels={"job": "fixed"})
    app = console_app(kubeconfig, private_prometheus.url)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await select(pilot, WEB)
            await until(pilot, lambda: has_points(app), "sparkline points")
            banner = app.screen.query_one("#env-banner")
            assert not banner.display

            private_prometheus.stop()
            await until(pilot, lambda: banner.display, "the banner", timeout=15)
            text = str(banner.render())
            assert re.search(r"cluster: Prometheus unreachable since \d\d:\d\d:\d\d — retrying (in \d+s|now)", text)
            assert "does not answer" in text
            assert panel_lines(app)[0].startswith("Prometheus unreachable since")
            assert any(line.startswith("Ratio 0.25") for line in panel_lines(app))  # the last data stays

            private_prometheus.start()
            await until(pilot, lambda: not banner.display, "recovery", timeout=40)
            assert not panel_lines(app)[0].startswith("Prometheus unreachable")
            assert isinstance(app.screen, MainScreen) and app.return_code is None
    finally:
        private_prometheus.unscrape(target)
        endpoint.close()


# ------------------------------------------------------------------------ alerts


def alert_rows(app) -> list[list[str]]:
    table = app.screen.query_one(KeyedTable)
    return [[cell.plain for cell in table.row_cells(key)] for key in table.keys()]


async def test_the_alerts_panel_lists_firing_and_pending_alerts_with_their_age_and_filters(prometheus, kubeconfig):
    app = console_app(kubeconfig, prometheus.url)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("A")
        assert isinstance(app.screen, AlertsScreen)
        await until(pilot, lambda: {FIRING_ALERT, PENDING_ALERT} <= {row[1] for row in alert_rows(app)}, "both alerts")

        rows = {row[1]: row for row in alert_rows(app)}
        assert rows[FIRING_ALERT][:5] == ["● firing", FIRING_ALERT, "page", ENV, "web"]
        assert rows[PENDING_ALERT][:5] == ["◐ pending", PENDING_ALERT, "ticket", ENV, "api"]
        assert all(re.fullmatch(r"\d+[smhd]", row[5]) for row in rows.values())
        assert rows[FIRING_ALERT][6] == "always firing, for the tests"
        assert "Prometheus connected · 1 firing, 1 pending" in str(app.screen.query_one("#alerts-status").render())

        await pilot.press("slash", *"api", "enter")
        await pilot.pause()
        assert [row[1] for row in alert_rows(app)] == [PENDING_ALERT]

        await pilot.press("escape")
        await pilot.pause()
        assert len(alert_rows(app)) == 2

        await pilot.press("home", "enter")  # the firing one, on top: go to its workload
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "main screen")
        assert app.screen.focused_key == WEB


async def test_an_alert_on_a_workload_marks_its_row(prometheus, kubeconfig):
    app = console_app(kubeconfig, prometheus.url)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(WorkloadTable)
        await until(pilot, lambda: WEB in table.visible_keys() and API in table.visible_keys(), "both rows")

        web = await until(pilot, lambda: (cell := table.row_cells(WEB)[1]).plain.endswith(" !") and cell, "the mark on web")
        api = await until(pilot, lambda: (cell := table.row_cells(API)[1]).plain.endswith(" !") and cell, "the mark on api")

        assert web.plain == "shop/web !" and api.plain == "shop/api !"
        # Firing is bold, pending is dim: the mark of the firing alert is not the pending one's.
        assert "bold" in str(web.spans[-1].style) and "dim" in str(api.spans[-1].style)


async def test_untrusted_alert_text_from_prometheus_is_shown_literally(private_prometheus, kubeconfig):
    private_prometheus.stop()
    (private_prometheus.directory / "rules.yml").write_text(HOSTILE_RULES)
    private_prometheus.start()
    app = console_app(kubeconfig, private_prometheus.url)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("A")
        await until(pilot, lambda: alert_rows(app), "the hostile alert")

        [row] = alert_rows(app)
        assert row[2] == "[link=http://evil.example]page[/link]"
        assert row[4] == "[b]web[/b]"
        assert row[6].startswith("[bold red]boom[/]") and row[6].endswith("done")
        assert not any(ch in "".join(row) for ch in "\x1b\x07")


# ------------------------------------------------------------------------ deploy markers


async def test_deploy_markers_from_the_journals_are_drawn_and_survive_a_restart(prometheus, metrics_endpoint, kubeconfig, tmp_path):
    runs = tmp_path / "state" / "watchfloor" / "runs"
    runs.mkdir(parents=True)
    deployed = datetime.now(UTC) - timedelta(minutes=10)
    write_run(runs, "shop/web", [("deploy", {"result": {"to_version": "1.1"}})], at=deployed)
    marked_at = (deployed + timedelta(seconds=30)).astimezone().strftime("%H:%M")

    for _ in ("first start", "after a restart"):
        app = console_app(kubeconfig, prometheus.url)
        async with app.run_test(size=(160, 48)) as pilot:
            await select(pilot, WEB)
            await until(pilot, lambda: has_points(app) and app.screen.query_one(MetricPanel).data.markers, "points and markers")

            lines = panel_lines(app)
            assert lines[0] == f"{MARKER} {marked_at} deploy"
            # On every sparkline of the workload, in the same column.
            columns = {line.index(MARKER) for line in (lines[2], lines[4])}
            assert len(columns) == 1
            await pilot.press("q")
