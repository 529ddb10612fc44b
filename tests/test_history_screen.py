"""The delivery History screen (``H``) and the satisfaction question after a run, by real keys.

The History screen reads real journal files (written through the journal API into a
private state dir); the satisfaction tests run a real restart against the Kubernetes
emulator over HTTP and check what lands in the run's journal.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from console.app import WatchfloorApp
from console.runbook import list_runs, read_journal
from console.runbook.feedback import QUESTION
from screens.delivery import DeliveryScreen
from screens.history import HistoryScreen
from screens.main import MainScreen
from screens.run import RunScreen
from screens.run_dialogs import ConfirmDialog
from tests.journal_fixtures import failed_step, write_run
from tests.test_run_screen import WEB, backend_for, emulator, healthy_in_store, until  # noqa: F401 - emulator is a fixture
from tests.ui_fixtures import NOW, fixture_app

CLOCK = datetime.fromtimestamp(NOW, UTC)


def write_history(runs_dir) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_run(runs_dir, CLOCK - timedelta(days=1), environment="prod", workload="shop/web", feedback="up")
    write_run(runs_dir, CLOCK - timedelta(days=2), environment="prod", workload="shop/web", outcome="failed", events=[failed_step(30)])
    write_run(runs_dir, CLOCK - timedelta(days=3), environment="staging", workload="shop/api", seconds=200)


def test_h_opens_the_delivery_figures_and_the_sparklines_follow_the_cursor(tmp_path, monkeypatch):
    # Arrange
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    write_history(tmp_path / "state" / "watchfloor" / "runs")

    async def scenario():
        app = fixture_app("dark")
        async with app.run_test(size=(80, 24)) as pilot:
            # Act
            await pilot.press("H")
            screen = await until(pilot, lambda: isinstance(app.screen, DeliveryScreen) and app.screen.report and app.screen, "the figures")
            table = screen.query_one("#delivery-table")
            rows = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
            overall = screen.report.overall
            await pilot.press("down", "down")
            selected = screen.selected()
            title = str(screen.query_one("#delivery-trends").border_title)
            await pilot.press("enter")
            await pilot.pause(0.2)
            opened = app.screen

            # Assert
            assert rows == ["all environments", "prod", "  shop/web", "staging", "  shop/api"]
            assert (overall.deployments, overall.change_failures, overall.answered, overall.satisfied) == (3, 1, 1, 1)
            assert (selected.environment, selected.workload) == ("prod", "shop/web")
            assert title.startswith("prod/shop/web")
            assert isinstance(opened, HistoryScreen) and opened.key.label == "shop/web" and opened.key.env == "prod"

    asyncio.run(scenario())


def test_the_palette_offers_the_delivery_history(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    async def scenario():
        app = fixture_app("dark")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("colon", *"delivery figures")
            await pilot.pause(0.5)
            await pilot.press("enter")
            screen = await until(pilot, lambda: isinstance(app.screen, DeliveryScreen) and app.screen.report and app.screen, "the figures")

            assert screen.report.overall.deployments == 0
            assert "no finished runs" in str(screen.query_one("#delivery-summary").render())

    asyncio.run(scenario())


# --- the satisfaction question --------------------------------------------------------------


async def restart_to_the_end(app, pilot):
    await healthy_in_store(app, pilot)
    app.start_runbook("restart", WEB)
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
    await pilot.press("y")
    await until(pilot, lambda: (v := app.run_board.for_workload(WEB)) and v.phase.finished, "the run to end", timeout=60)
    return await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.feedback == "asking" and app.screen, "the question")


def test_plus_after_a_run_journals_a_thumbs_up_with_the_actor(emulator, tmp_path):  # noqa: F811
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await restart_to_the_end(app, pilot)
            prompt = str(screen.query_one("#run-feedback").render())

            await pilot.press("plus")
            await until(pilot, lambda: list_runs()[0].feedback, "the answer in the journal", timeout=10)

            assert QUESTION in prompt and "+" in prompt and "-" in prompt
            assert screen.feedback == "up" and isinstance(app.screen, RunScreen), "the key only answers"

    asyncio.run(scenario())
    run = list_runs()[0]
    entries = read_journal(run.path).entries  # the chain still verifies
    assert (run.feedback, run.outcome) == ("up", "succeeded")
    assert [e["event"] for e in entries[-2:]] == ["run.finished", "operator.feedback"]
    assert entries[-1]["data"] == {"answer": "up", "question": QUESTION} and entries[-1]["actor"]["user"]


def test_any_other_key_skips_the_question_and_still_does_its_job(emulator, tmp_path):  # noqa: F811
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await restart_to_the_end(app, pilot)

            await pilot.press("escape")
            await pilot.pause(0.3)

            assert screen.feedback == "skipped"
            assert isinstance(app.screen, MainScreen), "escape still went back"

    asyncio.run(scenario())
    run = list_runs()[0]
    assert run.feedback is None and read_journal(run.path).entries[-1]["event"] == "run.finished"
