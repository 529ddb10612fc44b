"""Pilot tests: the workload screen's keys, pressed for real, on fixture data."""

from __future__ import annotations

from console.model import WorkloadKey
from screens.logs import LogsScreen
from screens.main import MainScreen
from screens.workload import WorkloadScreen
from widgets.replica_table import ReplicaTable
from widgets.workload_table import WorkloadTable
from tests.ui_fixtures import fixture_app

WEB = WorkloadKey("local", "shop", "web")


async def open_web(pilot) -> WorkloadScreen:
    pilot.app.screen.query_one(WorkloadTable).move_cursor_to_key(WEB)
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    return pilot.app.screen


async def test_workload_screen_lists_every_replica():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_web(pilot)

        replicas = screen.query_one(ReplicaTable)
        assert replicas.row_count == 2
        assert replicas.has_focus


async def test_l_opens_merged_logs_of_all_replicas():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_web(pilot)

        await pilot.press("l")
        await pilot.pause()

        assert isinstance(app.screen, LogsScreen)
        assert app.screen.source.replica_id is None
        assert app.screen.source.replica_count == 2


async def test_enter_on_a_replica_opens_that_replicas_logs():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_web(pilot)
        await pilot.press("down")

        await pilot.press("enter")
        await pilot.pause()

        assert isinstance(app.screen, LogsScreen)
        assert app.screen.source.replica_id == "id-local-shop-web-2"
        assert app.screen.source.title.endswith("shop-web-2")


async def test_moving_between_replicas_shows_each_ones_facts():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_web(pilot)
        first = str(screen.query_one("#replica-facts").render())

        await pilot.press("down")
        await pilot.pause()
        second = str(screen.query_one("#replica-facts").render())

        assert "shop-web-1" in first and "shop-web-2" in second


async def test_escape_and_q_go_back():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_web(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

        await open_web(pilot)
        await pilot.press("q")
        assert isinstance(app.screen, MainScreen)
