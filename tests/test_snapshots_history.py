"""Snapshot tests of the delivery History screen (``H``) and the satisfaction question.

The figures come from crafted journals (real files, tests/journal_fixtures.py) read
with ``list_runs`` and computed at the fixture app's pinned clock; nothing on screen
depends on the run ids' random part or the temporary directory. Update after an
intended change with ``--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from console.runbook import list_runs
from console.runbook.dora import delivery_report
from console.runbook.run_view import Phase, StepState
from screens.run import RunScreen
from tests.journal_fixtures import failed_step, gate_failure, healthy, rollback_seen_healthy, write_run
from tests.test_snapshots_runs import fixture_run
from tests.ui_fixtures import NOW, fixture_app

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
CLOCK = datetime.fromtimestamp(NOW, UTC)
DAY = timedelta(days=1)


def fixture_report(directory):
    """A month of runs in two environments: failures, a revert, recoveries, answers,
    and a workload whose name is markup (it must show literally)."""
    for days in (1, 2, 4, 5, 8, 9, 12, 15, 16, 20, 26):
        write_run(directory, CLOCK - days * DAY, environment="prod-k8s", workload="shop/web", seconds=60 + days * 7, feedback="up" if days < 6 else None)
    write_run(directory, CLOCK - 3 * DAY, environment="prod-k8s", workload="shop/web", outcome="rolled_back", seconds=150,
              events=[gate_failure(40), failed_step(70), *rollback_seen_healthy(100)], feedback="down")
    write_run(directory, CLOCK - 6 * DAY, environment="prod-k8s", workload="shop/payments", outcome="failed", seconds=400, events=[failed_step(380)])
    write_run(directory, CLOCK - 6 * DAY + timedelta(minutes=20), environment="prod-k8s", workload="shop/payments", runbook="rollback",
              seconds=45, events=[healthy(30)])
    write_run(directory, CLOCK - 7 * DAY, environment="staging", workload="shop/web", seconds=80)
    write_run(directory, CLOCK - 7 * DAY + timedelta(minutes=30), environment="staging", workload="shop/web", runbook="rollback", seconds=35)
    write_run(directory, CLOCK - 10 * DAY, environment="staging", workload="[bold red]evil[/]", seconds=90, outcome="aborted")
    write_run(directory, CLOCK - 11 * DAY, environment="staging", workload="[bold red]evil[/]", seconds=95)
    return delivery_report(list_runs(directory), now=CLOCK)


@pytest.mark.parametrize("size", list(SIZES))
def test_delivery_screen(snap_compare, size, tmp_path):
    report = fixture_report(tmp_path)
    app = fixture_app("dark", kubernetes=True)
    app.load_delivery = lambda done: done(report)

    async def open_delivery(pilot):
        await pilot.press("H")
        await pilot.pause()
        await pilot.press("down", "down")  # the trends follow the cursor to prod-k8s/shop/payments
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=open_delivery)


@pytest.mark.parametrize("size", list(SIZES))
def test_satisfaction_question_after_a_run(snap_compare, size):
    app = fixture_app("dark", kubernetes=True)
    live = fixture_run()
    app.run_board.update(live)
    ended = replace(
        live,
        phase=Phase.HEALTHY,
        message="all steps passed — web runs 1.5.0, 2/2 ready",
        steps=tuple(replace(s, state=StepState.PASSED) for s in live.steps),
        current=None,
        ready=2,
        finished=CLOCK,
    )

    async def end_the_run(pilot):
        app.push_screen(RunScreen(live.run_id))
        await pilot.pause()
        app.run_board.update(ended)
        await pilot.pause(0.2)
        assert isinstance(app.screen, RunScreen) and app.screen.feedback == "asking"

    assert snap_compare(app, terminal_size=SIZES[size], run_before=end_the_run)
