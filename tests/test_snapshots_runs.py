"""Snapshot tests of the run screen, the environments matrix and the history screen.

Fixture data with a pinned clock (tests/ui_fixtures.py); a run is a fixed ``RunView``
on the app's run board, as an executor thread would leave it. Update after an intended
change with ``--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.model import Revision, WorkloadKey
from console.runbook.run_view import GateView, Phase, RunView, StepState, StepView, TimelineEntry
from screens.history import HistoryData, HistoryScreen
from screens.matrix import MatrixScreen
from screens.run import RunScreen
from tests.ui_fixtures import NOW, fixture_app

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
T0 = datetime.fromtimestamp(NOW, UTC) - timedelta(minutes=3)
WEB = WorkloadKey("prod-k8s", "shop", "web")


def fixture_run() -> RunView:
    steps = (
        StepView("confirm", "Confirm the deploy", "confirm", StepState.PASSED, "confirmed by alice@bastion", T0, T0 + timedelta(seconds=9)),
        StepView("roll-out", "Roll out shop/web:1.5.0", "action", StepState.PASSED, "web now runs shop/web:1.5.0 (revision 4), 2/2 ready", T0 + timedelta(seconds=9), T0 + timedelta(seconds=71)),
        StepView(
            "healthy",
            "New version healthy and stable",
            "gate",
            StepState.RUNNING,
            "",
            T0 + timedelta(seconds=71),
            None,
            ("progressing, 1/2 ready, 1.5.0 — rollout: 2/2 updated, 1/2 ready", "[bold]not markup[/] from a pod"),
            NOW + 49,
        ),
        StepView("notify", "Tell #deploys", "manual"),
    )
    timeline = tuple(
        TimelineEntry(T0 + timedelta(seconds=s), event, step, text)
        for s, event, step, text in [
            (0, "run.started", None, "run started by alice@bastion"),
            (1, "lock.acquired", None, "lock acquired"),
            (9, "step.finished", "confirm", "confirm: passed — confirmed by alice@bastion"),
            (10, "adapter.call", "roll-out", "deploy sent"),
            (71, "adapter.call", "roll-out", "web now runs shop/web:1.5.0 (revision 4), 2/2 ready"),
            (72, "gate.measurement", "healthy", "gate.measurement"),
        ]
    )
    return RunView(
        run_id="20261126T010000Z-ab12cd",
        runbook="deploy",
        title="Deploy a new image",
        environment="prod-k8s",
        workload=WEB,
        phase=Phase.PROGRESSING,
        message="running Deploy a new image on shop/web",
        steps=steps,
        current=2,
        from_version="1.4.2",
        to_version="1.5.0",
        from_image="shop/web:1.4.2",
        to_image="shop/web:1.5.0",
        desired=2,
        updated=2,
        ready=1,
        journal="/var/lib/watchfloor/runs/20261126T010000Z-ab12cd.jsonl",
        protected=True,
        timeline=timeline,
        started=T0,
    )


def run_app():
    app = fixture_app("dark", kubernetes=True)
    view = fixture_run()
    app.run_board.update(view)

    async def open_run(pilot):
        app.push_screen(RunScreen(view.run_id))
        await pilot.pause()

    return app, open_run


@pytest.mark.parametrize("size", list(SIZES))
def test_run_screen(snap_compare, size):
    app, open_run = run_app()
    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_run)


def fixture_canary_run() -> RunView:
    """A canary at 25 % whose error-ratio gate is measuring, one measurement over the line,
    one Prometheus outage, and a background latency gate."""
    errors = GateView(
        query='sum(rate(http_requests_total{workload="web",version="1.5.0",code=~"5.."}[1m])) / …',
        values=(0.004, 0.006, 0.011, 0.009, 0.07, float("nan"), 0.012, 0.01, 0.008),
        verdicts=("pass", "pass", "pass", "pass", "fail", "error", "pass", "pass", "pass"),
        threshold=0.05,
        unit="ratio",
        passed=7,
        failed=1,
        errors=1,
        message="✔ 0.008 ratio — success condition holds: result[0] < 0.05",
    )
    latency = GateView(query="p95", values=(0.21, 0.22, 0.2, 0.24), verdicts=("pass",) * 4, threshold=0.5, unit="s", passed=4, background=True)
    steps = (
        StepView("preflight", "Stable is healthy", "gate", StepState.PASSED, "healthy: 3/3 ready", T0, T0 + timedelta(seconds=4)),
        StepView("confirm", "Start the canary?", "confirm", StepState.PASSED, "confirmed by alice@bastion", T0, T0 + timedelta(seconds=9)),
        StepView("canary-10", "Canary at 10 %", "action", StepState.PASSED, "canary 1.5.0: 1 of 4 replicas (25 %), asked 10 %", T0, T0 + timedelta(seconds=30)),
        StepView("latency", "p95 latency stays under 500 ms", "gate", StepState.RUNNING, "measuring in the background every 10s", T0, None, gate=latency),
        StepView("errors-10", "Error ratio under 5 %", "gate", StepState.RUNNING, "", T0 + timedelta(seconds=30), None, gate=errors),
        StepView("canary-25", "Canary at 25 %", "action"),
        StepView("promote", "Promote", "action"),
    )
    return RunView(
        run_id="20261126T020000Z-ca11ee",
        runbook="canary",
        title="Canary release",
        environment="demo-staging",
        workload=WorkloadKey("demo-staging", "shop", "web"),
        phase=Phase.PROGRESSING,
        message="running Canary release on shop/web",
        steps=steps,
        current=4,
        from_version="1.4.2",
        to_version="1.5.0",
        from_image="shop/web:1.4.2",
        to_image="shop/web:1.5.0",
        desired=3,
        updated=1,
        ready=4,
        release="canary",
        started=T0,
    )


@pytest.mark.parametrize("size", list(SIZES))
def test_run_screen_with_prometheus_gates(snap_compare, size):
    app = fixture_app("dark", kubernetes=True)
    view = fixture_canary_run()
    app.run_board.update(view)

    async def open_run(pilot):
        app.push_screen(RunScreen(view.run_id))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_run)


@pytest.mark.parametrize("size", list(SIZES))
def test_matrix_screen(snap_compare, size):
    app = fixture_app("dark", kubernetes=True)

    async def open_matrix(pilot):
        app.show_matrix()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_matrix)


def fixture_history(key: WorkloadKey) -> HistoryData:
    from console.runbook.journal import RunSummary

    revisions = [
        Revision(key, 2, "shop/web:1.4.2", T0 - timedelta(days=2), "deploy shop/web:1.4.2"),
        Revision(key, 3, "shop/web:1.5.0-rc1", T0 - timedelta(days=1), "deploy shop/web:1.5.0-rc1"),
        Revision(key, 4, "shop/web:1.5.0", T0, "watchfloor deploy 20261126T010000Z-ab12cd by alice@bastion"),
    ]

    def run(run_id, when, outcome, from_version, to_version, seconds, actor):
        return RunSummary(
            run_id, "deploy", "deploy@0", key.env, key.label, actor, when, when + timedelta(seconds=seconds), outcome,
            "Healthy", from_version, to_version, timedelta(seconds=seconds), False, None,
        )

    runs = [
        run("20261126T010000Z-ab12cd", T0, "succeeded", "1.4.2", "1.5.0", 95, "alice@bastion"),
        run("20261125T090000Z-cd34ef", T0 - timedelta(days=1), "rolled_back", "1.4.2", "1.5.0-rc1", 140, "bob@laptop"),
        run("20261124T090000Z-ef56ab", T0 - timedelta(days=2), "succeeded", "1.4.1", "1.4.2", 80, "[red]mallory[/]"),
    ]
    return HistoryData(key, revisions, runs)


@pytest.mark.parametrize("size", list(SIZES))
def test_history_screen(snap_compare, size):
    app = fixture_app("dark", kubernetes=True)
    app.load_history = lambda key, done: done(fixture_history(key))

    async def open_history(pilot):
        app.show_history(WEB)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_history)
