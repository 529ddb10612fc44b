"""The sparkline drawing, the store's metric series and alerts, and the Prometheus parts
of the screens on fixture data (no backend, by design: these pin drawing and keys; the
poller is tested against a real Prometheus in test_metrics_poller.py)."""

from __future__ import annotations

import math

from console.model import Alert, ConnectionState, NamedQuery, Sample, SnapshotReplaced, WorkloadKey
from console.store import Store
from screens.alerts import AlertsScreen
from tests.factories import docker_environment, replica
from tests.ui_fixtures import fixture_app, prometheus_app
from widgets.keyed_table import KeyedTable
from widgets.metric_panel import MARKER, MetricPanel, format_value, sparkline_text
from widgets.workload_table import WorkloadTable

WEB = WorkloadKey("local", "shop", "web")
API = WorkloadKey("local", "shop", "api")


# ------------------------------------------------------------------------ drawing


def test_each_column_holds_its_slice_of_time_and_empty_slices_stay_blank():
    points = [(0.0, 1.0), (1.0, 3.0), (5.0, 2.0), (9.0, 8.0)]

    text = sparkline_text(points, start=0.0, end=10.0, width=5)

    # Slices of 2 s: [0,2) holds 1 and 3 (the highest, 3, is drawn), [2,4) none, [4,6) 2,
    # [6,8) none, [8,10) 8; bars scale from the lowest drawn (2) to the highest (8).
    assert text.plain == "▂ ▁ █"


def test_a_marker_replaces_its_column_and_markers_outside_the_window_are_not_drawn():
    points = [(float(t), 1.0) for t in range(10)]

    text = sparkline_text(points, start=0.0, end=10.0, width=10, markers=[4.5, -3.0, 12.0])

    assert text.plain == "▁▁▁▁│▁▁▁▁▁"


def test_nan_and_infinities_are_not_drawn_and_a_flat_line_sits_low():
    points = [(0.0, math.nan), (1.0, math.inf), (2.0, 5.0), (3.0, 5.0)]

    assert sparkline_text(points, start=0.0, end=4.0, width=4).plain == "  ▁▁"


def test_values_read_short_with_their_unit():
    assert format_value(53.25, "req/s") == "53.2 req/s"
    assert format_value(0.002) == "0.002"
    assert format_value(12345.0, "B") == "12.3k B"
    assert format_value(45.0, "%") == "45%"
    assert format_value(math.nan, "s") == "NaN s"
    assert format_value(None, "s") == "-"


# ------------------------------------------------------------------------ store


def make_store() -> Store:
    store = Store([docker_environment("local")])
    store.set_prometheus("local", [NamedQuery("rate", 'x{job="{workload}"}')])
    store.drain()
    return store


def test_an_incremental_answer_extends_the_series_and_the_window_drops_old_points():
    store = make_store()
    store.put_series(WEB, "rate", [Sample(t, t) for t in (10.0, 20.0, 30.0)], replace=True)

    store.put_series(WEB, "rate", [Sample(30.0, 31.0), Sample(40.0, 40.0)], replace=False, since=20.0)

    assert [(p.ts, p.value) for p in store.metric_series(WEB, "rate").points] == [(20.0, 20.0), (30.0, 31.0), (40.0, 40.0)]
    assert store.drain().series == {WEB}


def test_the_same_answer_again_changes_nothing():
    store = make_store()
    store.put_series(WEB, "rate", [Sample(10.0, 1.0)], replace=True)
    store.drain()

    store.put_series(WEB, "rate", [Sample(10.0, 1.0)], replace=True)
    store.put_series(WEB, "rate", [], replace=False)

    assert not store.drain()


def test_alerts_mark_the_workloads_their_labels_name_and_the_rows_are_redrawn():
    store = make_store()
    store.apply(SnapshotReplaced("local", (replica("web-1", workload="web"), replica("api-1", workload="api"))))
    store.drain()

    store.set_alerts(
        "local",
        [
            Alert("local", "A", "pending", (("deployment", "web"),)),
            Alert("local", "B", "firing", (("namespace", "shop"), ("service", "web"))),
            Alert("local", "C", "firing", (("namespace", "elsewhere"), ("workload", "api"))),
        ],
    )

    assert store.alert_state(WEB) == "firing"
    assert store.alert_state(API) is None  # its alert is about another namespace's api
    delta = store.drain()
    assert delta.workloads == {WEB} and delta.alerts == {"local"}


# ------------------------------------------------------------------------ screens


async def test_an_environment_without_prometheus_says_so_where_the_sparklines_would_be():
    app = fixture_app()
    async with app.run_test(size=(160, 48)) as pilot:
        app.screen.query_one(WorkloadTable).move_cursor_to_key(WEB)
        await pilot.pause(0.3)

        assert app.screen.query_one(MetricPanel).render().plain == "no Prometheus configured"


async def test_simulated_data_is_labelled_so():
    app = prometheus_app()
    app.store.set_prometheus("local", app.store.prometheus("local").queries, simulated=True)
    async with app.run_test(size=(160, 48)) as pilot:
        app.screen.query_one(WorkloadTable).move_cursor_to_key(WEB)
        await pilot.pause(0.3)

        first = app.screen.query_one(MetricPanel).render().plain.splitlines()[0]
        assert first.startswith("simulated data")
        assert f"{MARKER} 14:47 deploy" in first


async def test_untrusted_alert_names_labels_and_annotations_are_shown_literally():
    app = prometheus_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)

        table = app.screen.query_one(KeyedTable)
        rows = [[c.plain for c in table.row_cells(key)] for key in table.keys()]
        evil = next(row for row in rows if row[1] == "[bold red]Evil[/]")
        assert evil[2] == "[link=http://x]page"
        assert evil[6] == "[b]not markup[/b]"  # the escape sequences are gone, the text stays


async def test_the_alerts_panel_says_when_a_prometheus_is_down_and_keeps_the_alerts():
    app = prometheus_app()
    app.store.set_prometheus_connection("local", ConnectionState(False, error="Prometheus at http://p:9090 does not answer"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("A")
        await pilot.pause()

        status = str(app.screen.query_one("#alerts-status").render())
        assert "local: Prometheus unreachable" in status and "(alerts as last seen)" in status
        assert app.screen.query_one(KeyedTable).row_count == 3


async def test_the_palette_opens_the_alerts_panel_and_escape_goes_back():
    app = prometheus_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("colon", *"alerts", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)

        await pilot.press("escape")
        assert not isinstance(app.screen, AlertsScreen)
