"""Snapshot tests of the error panel, over a run that rolled back.

Fixture data with a pinned clock (tests/ui_fixtures.py); the run is a fixed ``RunView``
on the app's run board, as an executor thread would leave it, with hostile text in a
step message. Update after an intended change with ``--snapshot-update`` and look at
the SVGs before committing them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.runbook.run_view import Phase, RunView, StepState, StepView, TimelineEntry
from screens.run import RunScreen
from tests.test_snapshots_runs import SIZES, T0, WEB
from tests.ui_fixtures import fixture_app


def rolled_back_run() -> RunView:
    steps = (
        StepView("confirm", "Confirm the deploy", "confirm", StepState.PASSED, "confirmed by alice@bastion", T0, T0 + timedelta(seconds=9)),
        StepView(
            "roll-out",
            "Roll out shop/web:1.5.0",
            "action",
            StepState.FAILED,
            "new replicas crash-loop: web-7d9f-abcde CrashLoopBackOff (exit 1, 4 restarts) [red]not markup[/]",
            T0 + timedelta(seconds=9),
            T0 + timedelta(seconds=70),
            ("web-7d9f-abcde: CrashLoopBackOff — DB_PASSWORD=hunter2hunter2 missing?", "web-7d9f-fghij: Running, not ready"),
        ),
        StepView("healthy", "New version healthy and stable", "gate"),
        StepView("rollback", "Roll back to the version before the run", "action", StepState.PASSED, "web runs shop/web:1.4.2 (revision 5), 2/2 ready", T0 + timedelta(seconds=70), T0 + timedelta(seconds=95)),
    )
    timeline = tuple(
        TimelineEntry(T0 + timedelta(seconds=s), event, step, text)
        for s, event, step, text in [
            (0, "run.started", None, "run started by alice@bastion"),
            (10, "adapter.call", "roll-out", "deploy sent"),
            (70, "step.finished", "roll-out", "roll-out: failed — CrashLoopBackOff"),
            (71, "adapter.call", "rollback", "rollback sent"),
            (95, "run.finished", None, "rolled back"),
        ]
    )
    return RunView(
        run_id="20261126T010000Z-ab12cd",
        runbook="deploy",
        title="Deploy a new image",
        environment="prod-k8s",
        workload=WEB,
        phase=Phase.ROLLED_BACK,
        message="roll-out failed: new replicas crash-loop — rolled back to 1.4.2",
        steps=steps,
        from_version="1.4.2",
        to_version="1.5.0",
        from_image="shop/web:1.4.2",
        to_image="shop/web:1.5.0",
        desired=2,
        updated=2,
        ready=2,
        journal="/var/lib/watchfloor/runs/20261126T010000Z-ab12cd.jsonl",
        protected=True,
        timeline=timeline,
        started=T0,
        finished=T0 + timedelta(seconds=95),
    )


def panel_app(*keys: str):
    app = fixture_app("dark", kubernetes=True)
    view = rolled_back_run()
    app.run_board.update(view)

    async def open_panel(pilot):
        app.push_screen(RunScreen(view.run_id))
        await pilot.pause()
        await pilot.press("E", *keys)
        await pilot.pause()

    return app, open_panel


@pytest.mark.parametrize("size", list(SIZES))
def test_error_panel_shows_the_summary_first(snap_compare, size):
    app, open_panel = panel_app()
    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_panel)


@pytest.mark.parametrize("size", list(SIZES))
def test_error_panel_with_every_detail_level_open(snap_compare, size):
    app, open_panel = panel_app("enter", "enter")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_panel)
