"""Snapshot tests of the Prometheus parts: the detail pane's metric sparklines with deploy
markers, the alerts panel, and Prometheus down, at 80x24 and 160x48.

Fed from fixture data (tests/ui_fixtures.py `add_prometheus`: what the metrics poller
leaves in the store) with a pinned clock, so frames are stable; the poller itself is
tested against a real Prometheus in test_metrics_poller.py and test_prometheus_console.py.
Update after an intended change with ``--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.model import ConnectionState
from tests.test_snapshots import SIZES, _select_web, snapshot_app
from tests.ui_fixtures import add_prometheus


def metrics_app(theme: str = "dark", *, down: bool = False):
    app = snapshot_app(theme)
    add_prometheus(app.store)
    if down:
        app.store.set_prometheus_connection(
            "local",
            ConnectionState(
                False,
                error="Prometheus at http://127.0.0.1:9090 does not answer (connection refused)",
                since=datetime(2026, 11, 25, 14, 58, 2, tzinfo=UTC),
            ),
        )
    return app


@pytest.mark.parametrize("theme", ["dark", "high-contrast"])
@pytest.mark.parametrize("size", list(SIZES))
def test_detail_pane_with_metric_sparklines_and_deploy_markers(snap_compare, theme, size):
    assert snap_compare(metrics_app(theme), terminal_size=SIZES[size], run_before=_select_web)


@pytest.mark.parametrize("size", list(SIZES))
def test_detail_pane_with_prometheus_down(snap_compare, size):
    assert snap_compare(metrics_app(down=True), terminal_size=SIZES[size], run_before=_select_web)


@pytest.mark.parametrize("size", list(SIZES))
def test_alerts_panel(snap_compare, size):
    assert snap_compare(metrics_app(), terminal_size=SIZES[size], run_before=_select_web, press=["A", "_"])


@pytest.mark.parametrize("size", list(SIZES))
def test_workload_screen_with_metric_sparklines(snap_compare, size):
    assert snap_compare(metrics_app(), terminal_size=SIZES[size], run_before=_select_web, press=["enter", "_"])
