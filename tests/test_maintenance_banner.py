"""While a run works on a workload, its row and the status bar say so, with an estimate
from past runs — and both forget it when the run ends.

Real parts: the console's Kubernetes adapter talks to the emulator over HTTP, the run
writes to it and journals to a real file, and the estimate reads a real past journal
from the same state directory. 80 columns: the size the row's words must fit.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from console.app import WatchfloorApp
from console.config import parse_config
from console.locations import runs_dir
from console.runbook.actor import Actor
from console.runbook.journal import Journal, RunHeader
from screens.main import MainScreen
from console.model import WorkloadKey
from tests.test_kubernetes_adapter import deployment_object
from tests.test_run_screen import WEB, backend_for, emulator, healthy_in_store, until  # noqa: F401 - emulator is a fixture
from widgets.status_bar import StatusBar
from widgets.workload_table import WorkloadTable

RUNBOOK = """
name: settle-and-soak
title: Settle, then soak
steps:
  - {id: settle, kind: wait, title: Let it settle, duration: 6s}
  - {id: soak, kind: wait, title: Soak, duration: 4s}
"""
PAST_SOAK_SECONDS = 60
"""How long the soak took in the past run (an operator let it run long): far from its
declared 4 s, so the estimate on screen shows which of the two it used."""


def console_with_history(emulator, tmp_path) -> WatchfloorApp:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "settle-and-soak.yaml").write_text(RUNBOOK)
    write_past_run()
    config = parse_config(f"runbooks_dir: {runbooks}\n")
    return WatchfloorApp([backend_for(emulator, tmp_path)], config=config)


def write_past_run() -> None:
    """A finished run of the runbook on the same workload, as the executor journals one."""
    moment = [datetime(2026, 11, 20, 10, 0, tzinfo=UTC)]
    header = RunHeader("settle-and-soak@0", "cluster", WEB.label, Actor("alice", "bastion"))
    with Journal.create("20261120T100000Z-aaaaaa", header, runs_dir(), clock=lambda: moment[0]) as journal:
        journal.append("run.started", data={"steps": ["settle", "soak"], "params": {}})
        for step, seconds in (("settle", 6), ("soak", PAST_SOAK_SECONDS)):
            journal.append("step.started", step=step, data={"kind": "wait"})
            moment[0] += timedelta(seconds=seconds)
            journal.append("step.finished", step=step, data={"state": "passed"})
        journal.append("run.finished", data={"outcome": "succeeded", "phase": "Healthy"})


def web_row(app) -> str:
    """The web row as the screen draws it (80 columns, clipped like the operator sees it)."""
    table = app.screen.query_one(WorkloadTable)
    lines = [table.render_line(y).text for y in range(table.size.height)]
    return next((line for line in lines if "shop/web" in line), "")


def status_line(app) -> str:
    return str(app.screen.query_one(StatusBar).render())


def test_a_running_maintenance_shows_on_its_row_and_the_status_bar_then_goes_away(emulator, tmp_path):
    async def scenario():
        app = console_with_history(emulator, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await healthy_in_store(app, pilot)
            healthy_row = web_row(app)

            app.start_runbook("settle-and-soak", WEB)
            await until(pilot, lambda: app.run_board.for_workload(WEB), "the run to start")
            await until(pilot, lambda: not isinstance(app.screen, MainScreen), "the run screen")
            await pilot.press("escape")  # back to the workloads; the run goes on
            # Step 1: the rest of the 6 s settle plus the soak's 60 s from the past run.
            status = await until(
                pilot,
                lambda: isinstance(app.screen, MainScreen) and "~2 min left" in (s := status_line(app)) and s,
                "the estimate from history in the status bar",
                timeout=5,
            )
            row = web_row(app)
            reason = app.screen.query_one(WorkloadTable).row_cells(WEB)[-1].plain

            ended = await until(
                pilot, lambda: (v := app.run_board.for_workload(WEB)) and v.phase.finished and v, "the run to end", timeout=60
            )
            await until(pilot, lambda: "maintenance" not in status_line(app), "the status bar to forget the run", timeout=3)
            after_row = web_row(app)
            after_status = status_line(app)

        assert "shop/web: maintenance in progress — step 1/2, ~2 min left" in status
        assert re.search(r"● ▶ 1/2 ~2m\s+shop/web", row), row
        assert reason.startswith("maintenance in progress")  # the Reason column, seen on wider terminals
        assert ended.outcome is not None and ended.outcome.value == "succeeded"
        assert "maintenance" not in after_status and "▶" not in after_status
        assert "▶" not in after_row and "healthy" in after_row
        assert after_row.split()[:3] == healthy_row.split()[:3] == ["●", "healthy", "shop/web"]

    asyncio.run(scenario())


def test_without_history_the_estimate_is_the_declared_wait(emulator, tmp_path):
    async def scenario():
        runbooks = tmp_path / "runbooks"
        runbooks.mkdir()
        (runbooks / "settle-and-soak.yaml").write_text(RUNBOOK)
        app = WatchfloorApp([backend_for(emulator, tmp_path)], config=parse_config(f"runbooks_dir: {runbooks}\n"))
        async with app.run_test(size=(80, 24)) as pilot:
            await healthy_in_store(app, pilot)
            app.start_runbook("settle-and-soak", WEB)
            await until(pilot, lambda: not isinstance(app.screen, MainScreen), "the run screen")
            await pilot.press("escape")
            status = await until(
                pilot,
                lambda: isinstance(app.screen, MainScreen) and "maintenance" in (s := status_line(app)) and s,
                "the run in the status bar",
                timeout=5,
            )
            await until(pilot, lambda: (v := app.run_board.for_workload(WEB)) and v.phase.finished, "the run to end", timeout=60)

        # At most 6 s of settle and 4 s of soak are left: never the past run's minutes.
        assert re.search(r"maintenance in progress — step [12]/2, ~(5|10) s left", status), status

    asyncio.run(scenario())


def test_two_runs_at_once_are_counted_in_the_status_bar_and_marked_on_both_rows(emulator, tmp_path):
    api = WorkloadKey("cluster", "shop", "api")
    emulator.apply(deployment_object("api", replicas=1, image="registry.test/api:1.0"))

    async def scenario():
        app = console_with_history(emulator, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await healthy_in_store(app, pilot)
            await until(pilot, lambda: app.store.workload(api) is not None, "api in the store")
            for key in (WEB, api):
                app.start_runbook("settle-and-soak", key)
                await until(pilot, lambda: app.run_board.for_workload(key), f"the run on {key.label}")
            await until(pilot, lambda: len(app.run_board.active()) == 2, "both runs going on")
            while not isinstance(app.screen, MainScreen):
                await pilot.press("escape")
                await pilot.pause(0.1)
            status = await until(pilot, lambda: "runs in progress" in (s := status_line(app)) and s, "the count", timeout=5)
            table = app.screen.query_one(WorkloadTable)
            marks = {key.name: table.row_cells(key)[0].plain for key in (WEB, api)}
            for key in (WEB, api):
                await until(pilot, lambda: (v := app.run_board.for_workload(key)) and v.phase.finished, "the runs to end", timeout=60)

        assert "▶ 2 runs in progress" in status
        assert all(mark.split()[1] == "▶" for mark in marks.values()), marks

    asyncio.run(scenario())


# -- how it looks ---------------------------------------------------------------------------

SNAPSHOT_SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


def snapshot_app():
    """The fixture console (pinned clock) with a deploy of local shop/web at step 3 of 4.

    The run board gets the run's view through a stand-in for the executor — a snapshot
    needs a run frozen mid-step, which a real executor never holds still for.
    """
    from types import SimpleNamespace

    from console.runbook.estimate import Expectation
    from console.runbook.run_view import Phase, RunView, StepState, StepView
    from tests.ui_fixtures import NOW, fixture_app

    t0 = datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=180)
    steps = (
        StepView("confirm", "Confirm", "confirm", StepState.PASSED, started=t0, finished=t0 + timedelta(seconds=9)),
        StepView("roll-out", "Roll out", "action", StepState.PASSED, started=t0 + timedelta(seconds=9), finished=t0 + timedelta(seconds=71)),
        StepView("healthy", "Healthy", "gate", StepState.RUNNING, started=t0 + timedelta(seconds=71)),
        StepView("notify", "Tell #deploys", "manual"),
    )
    key = WorkloadKey("local", "shop", "web")
    view = RunView("20261126T010000Z-ab12cd", "deploy", "Deploy", "local", key, phase=Phase.PROGRESSING, steps=steps, current=2, started=t0)
    app = fixture_app("dark")
    app.run_board.attach(SimpleNamespace(view=view, send=lambda *_: None))  # closing sends it detach
    # 130 s expected for the gate, 109 s of it gone, then 30 s of notify: 51 s left.
    app.run_board.expect(view.run_id, Expectation({"confirm": 9.0, "roll-out": 62.0, "healthy": 130.0, "notify": 30.0}))
    return app


@pytest.mark.parametrize("size", list(SNAPSHOT_SIZES))
def test_main_screen_during_maintenance(snap_compare, size):
    async def settle(pilot):
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZES[size], run_before=settle)
