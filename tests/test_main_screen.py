"""Pilot tests: every key of the main screen, pressed for real, on fixture data."""

from __future__ import annotations

from console.model import Health, WorkloadKey
from screens.help import HelpScreen
from screens.logs import LogsScreen
from screens.main import MainScreen
from screens.workload import WorkloadScreen
from widgets.environment_list import EnvironmentList
from widgets.workload_table import WorkloadTable
from tests.ui_fixtures import fixture_app

WEB = WorkloadKey("local", "shop", "web")


def table(app) -> WorkloadTable:
    return app.screen.query_one(WorkloadTable)


async def test_main_screen_lists_the_first_environments_workloads():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()

        assert isinstance(app.screen, MainScreen)
        labels = [k.label for k in table(app).visible_keys()]
        assert labels == ["[bold red]evil[/]", "worker", "shop/api", "shop/web"]


async def test_untrusted_names_are_shown_literally():
    app = fixture_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()

        row = table(app).row_cells(WorkloadKey("local", "", "[bold red]evil[/]"))
        assert row[1].plain == "[bold red]evil[/]"
        assert "\x1b" not in row[8].plain and "osc52" in row[8].plain


async def test_slash_filters_and_escape_clears():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", "a", "p", "i")
        await pilot.pause()
        assert table(app).visible_keys() == [WorkloadKey("local", "shop", "api")]

        await pilot.press("enter")
        assert table(app).has_focus
        assert table(app).row_count == 1

        await pilot.press("escape")
        await pilot.pause()
        assert table(app).row_count == 4


async def test_enter_opens_the_workload_screen_and_escape_returns():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table(app).move_cursor_to_key(WEB)
        await pilot.pause()

        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WorkloadScreen)
        assert app.screen.key == WEB

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_workload_screen_redacts_secret_env_values():
    app = fixture_app()
    async with app.run_test(size=(160, 48)) as pilot:
        table(app).move_cursor_to_key(WEB)
        await pilot.press("enter")
        await pilot.pause()

        facts = str(app.screen.query_one("#replica-facts").render())
        assert "DB_PASSWORD" in facts
        assert "hunter2" not in facts
        assert "PORT=8080" in facts


async def test_l_opens_logs_of_the_selected_workload():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table(app).move_cursor_to_key(WEB)
        await pilot.pause()

        await pilot.press("l")
        await pilot.pause()

        assert isinstance(app.screen, LogsScreen)
        assert "shop/web" in app.screen.source.title

        await pilot.press("q")
        assert isinstance(app.screen, MainScreen)


async def test_e_shows_and_hides_the_environment_list_when_narrow():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        environments = app.screen.query_one(EnvironmentList)
        assert not environments.display

        await pilot.press("e")
        assert environments.display and environments.has_focus

        await pilot.press("e")
        assert not environments.display
        assert table(app).has_focus


async def test_environment_list_is_always_shown_when_wide():
    app = fixture_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(EnvironmentList).display


async def test_brackets_switch_environment_and_show_disconnected_banner():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right_square_bracket")
        await pilot.pause()

        assert app.screen.current_env == "staging"
        banner = app.screen.query_one("#env-banner")
        assert banner.display
        assert "disconnected since" in str(banner.render())

        await pilot.press("left_square_bracket")
        assert app.screen.current_env == "local"
        assert not banner.display


async def test_question_mark_shows_help_and_closes_it():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = [key for key, _ in app.screen.keys]
        assert "/" in keys and "l" in keys

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_colon_opens_the_palette_and_jumps_to_a_workload():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press(*"workload local/shop/api")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()

        assert isinstance(app.screen, MainScreen)
        assert table(app).key_at_cursor() == WorkloadKey("local", "shop", "api")


async def test_ctrl_t_cycles_themes():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "dark"
        await pilot.press("ctrl+t")
        assert app.theme == "light"
        await pilot.press("ctrl+t", "ctrl+t", "ctrl+t")
        assert app.theme == "dark"


async def test_q_quits():
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_store_change_updates_a_single_row_without_moving_the_cursor():
    from console.model import ReplicaUpserted
    from tests.factories import replica

    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table(app).move_cursor_to_key(WEB)
        await pilot.pause()

        app.store.apply(ReplicaUpserted(replica("shop-web-2", workload="web", health=Health.FAILED, state="exited", reason="exited with code 1")))
        app.tick()
        await pilot.pause(0.6)  # bursts are repainted at most every 0.5 s

        assert table(app).key_at_cursor() == WEB
        row = table(app).row_cells(WEB)
        assert row[0].plain == "▲ degraded"
        assert row[2].plain == "1/2"


async def test_a_store_change_re_renders_only_its_workloads_row_and_keeps_its_unchanged_cells():
    from console.model import ReplicaUpserted
    from tests.factories import replica

    app = fixture_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.6)
        workloads = table(app)
        before_cells = workloads.row_cells(WEB)
        before_renders = workloads.rows_rendered

        app.store.apply(ReplicaUpserted(replica("shop-web-2", workload="web", health=Health.FAILED, state="exited", reason="exited with code 1")))
        app.tick()
        await pilot.pause(0.6)

        after_cells = workloads.row_cells(WEB)
        assert workloads.rows_rendered - before_renders == 1
        assert after_cells[0] is not before_cells[0], "the health changed"
        assert after_cells[3] is before_cells[3], "the version did not"


async def test_kubernetes_environment_beside_docker_shows_rollout_events_and_metrics_note():
    from tests.ui_fixtures import fixture_app as make

    app = make(kubernetes=True)
    async with app.run_test(size=(160, 48)) as pilot:
        environments = app.screen.query_one(EnvironmentList)
        assert [o.id for o in environments._options] == ["local", "staging", "prod-k8s"]

        await pilot.press("right_square_bracket", "right_square_bracket")
        table(app).move_cursor_to_key(WorkloadKey("prod-k8s", "shop", "web"))
        await pilot.pause()

        web = table(app).row_cells(WorkloadKey("prod-k8s", "shop", "web"))
        assert web[0].plain == "◐ progressing" and "rollout: 2/2 updated" in web[8].plain
        pay = table(app).row_cells(WorkloadKey("prod-k8s", "shop", "payments"))
        assert pay[0].plain == "✖ failed" and "CrashLoopBackOff" in pay[8].plain
        events = str(app.screen.query_one("#panel-events").render())
        assert events.index("Unhealthy") < events.index("ScalingReplicaSet"), "newest first"
        assert "no metrics API" in str(app.screen.query_one("#panel-cpu").query_one("Label").render())


def headline(app) -> str:
    return str(app.screen.query_one("#panel-headline").render())


async def test_a_lone_cursor_move_shows_its_workload_in_the_detail_pane_at_once():
    app = fixture_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.6)

        await pilot.press("down")
        await pilot.pause()

        assert "worker" in headline(app)


async def test_a_quick_run_of_cursor_moves_ends_with_the_detail_pane_on_its_last_row():
    app = fixture_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.6)

        await pilot.press("down", "down", "down")
        await pilot.pause(0.8)  # the pane follows a run at most every 0.5 s

        assert table(app).key_at_cursor() == WEB
        assert "shop/web" in headline(app)
