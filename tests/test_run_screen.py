"""The run screen, driven by real keys, with runs against the Kubernetes emulator.

The console's adapter talks to the emulator over HTTP; the runs write to it for
real, and the journal is a real file in a private state directory.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from console.app import WatchfloorApp
from console.backends import Backend
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from console.runbook.journal import list_runs
from console.runbook.run_view import Phase
from screens.run import RunScreen
from screens.run_dialogs import ConfirmDialog, ParamsDialog
from tests.test_kubernetes_adapter import deployment_object

WEB = WorkloadKey("cluster", "shop", "web")


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with KubernetesEmulator(time_scale=0.05, seed=13) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=2, image="registry.test/web:1.0"))
        yield running


def backend_for(emulator, tmp_path, *, protected=False) -> Backend:
    kubeconfig = str(emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx"))
    environment = Environment("cluster", EnvironmentKind.KUBERNETES, "ctx", protected=protected)

    def make_adapter():
        return KubernetesAdapter(environment, kubeconfig=kubeconfig, context="ctx", watch_seconds=5)

    return Backend(environment, make_adapter)


async def until(pilot, check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def healthy_in_store(app, pilot):
    await until(
        pilot,
        lambda: (w := app.store.workload(WEB)) is not None and w.health == Health.HEALTHY,
        "web healthy in the store",
    )


def test_restart_from_the_palette_asks_then_runs_to_healthy(emulator, tmp_path):
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)

            app.start_runbook("restart", WEB)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            await pilot.press("y")
            run = await until(pilot, lambda: (v := app.run_board.for_workload(WEB)) and v.phase.finished and v, "the run to end", timeout=60)

            assert run.phase == Phase.HEALTHY
            assert isinstance(app.screen, RunScreen)
            await until(pilot, lambda: "Healthy" in str(app.screen.query_one("#run-header").render()), "the header to say Healthy", timeout=2)

    asyncio.run(scenario())
    runs = list_runs()
    assert runs[0].runbook == "restart" and runs[0].outcome == "succeeded"


def test_deploy_params_are_checked_before_the_run_starts(emulator, tmp_path):
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)

            app.start_runbook("deploy", WEB)
            await until(pilot, lambda: isinstance(app.screen, ParamsDialog), "the params form")
            await pilot.press(*"not an image!")
            await pilot.press("ctrl+s")
            await pilot.pause(0.2)
            error = str(app.screen.query_one("#params-error").render())

            assert isinstance(app.screen, ParamsDialog), "a bad value keeps the form open"
            assert "image" in error
            assert app.run_board.runs() == []

    asyncio.run(scenario())


def test_a_protected_environment_takes_only_its_typed_name(emulator, tmp_path):
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path, protected=True)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)
            app.start_runbook("restart", WEB)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")

            await pilot.press("y")  # typed into the name field: no yes-key here
            still_asking = isinstance(app.screen, ConfirmDialog)
            await pilot.press(*"prod", "enter")
            wrong_name = isinstance(app.screen, ConfirmDialog)
            await pilot.press(*["backspace"] * len("yprod"), *"cluster", "enter")
            run = await until(pilot, lambda: (v := app.run_board.for_workload(WEB)) and v.phase.finished and v, "the run", timeout=60)

            assert still_asking and wrong_name
            assert run.phase == Phase.HEALTHY

    asyncio.run(scenario())


def test_abort_from_the_run_screen_ends_the_run_aborted(emulator, tmp_path):
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)
            app.start_runbook("restart", WEB)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            await pilot.press("escape")  # decide later: back on the run screen, still waiting
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")

            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "abort confirmation")
            await pilot.press("y")
            run = await until(pilot, lambda: (v := app.run_board.for_workload(WEB)) and v.phase.finished and v, "the run", timeout=30)

            assert run.phase == Phase.ABORTED
            assert adapter_lock_free(emulator, tmp_path)

    asyncio.run(scenario())


def adapter_lock_free(emulator, tmp_path) -> bool:
    adapter = backend_for(emulator, tmp_path).make_adapter()
    adapter.connect()
    try:
        return adapter.lock_holder(WEB) is None
    finally:
        adapter.close()


def test_closing_the_console_mid_run_leaves_it_resumable(emulator, tmp_path):
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)
            app.start_runbook("restart", WEB)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")

            app.exit()

    asyncio.run(scenario())  # returns: the run's thread let go when the console closed

    run = list_runs()[0]
    assert run.status == "interrupted" and run.outcome is None
    from console.runbook.journal import read_journal

    assert read_journal(run.path).entries[-1]["event"] == "operator.detach"


def test_an_interrupted_run_resumes_from_the_console_with_the_recommended_choice(emulator, tmp_path):
    import signal

    from screens.run_dialogs import ResolveDialog
    from tests.test_cli import watchfloor

    kubeconfig = emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx")
    config = tmp_path / "config.yaml"
    config.write_text(f"environments:\n  - {{name: cluster, kind: kubernetes, kubeconfig: {kubeconfig}, context: ctx}}\n")
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "WATCHFLOOR_CONFIG": str(config), "WATCHFLOOR_FAULT_KILL_AFTER": "step.started:healthy"}
    killed = watchfloor(
        "runbook", "run", "deploy", "--env", "cluster", "--workload", "web",
        "--set", "image=registry.test/web:1.1", "--set", "soak=1s", "--yes", env=env, timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL
    run_id = list_runs()[0].run_id

    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.interrupted_runs(), "the interrupted run to be found")

            app.resume_run(run_id)
            await until(pilot, lambda: isinstance(app.screen, ResolveDialog), "the choice for the interrupted step")
            await pilot.press("enter")  # the recommended choice is highlighted: redo the health gate
            run = await until(pilot, lambda: (v := app.run_board.get(run_id)) and v.phase.finished and v, "the run", timeout=60)

            assert run.phase == Phase.HEALTHY

    asyncio.run(scenario())
    assert list_runs()[0].outcome == "succeeded"


def test_workload_keys_start_runbooks_and_open_history_and_matrix(emulator, tmp_path):
    from screens.history import HistoryScreen
    from screens.matrix import MatrixScreen

    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)
            app.go_workload(WEB)
            await pilot.pause()

            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ParamsDialog), "the deploy form")
            await pilot.press("escape")
            await pilot.press("h")
            await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
            await until(pilot, lambda: app.screen.data is not None, "the revisions")
            revisions = [r.number for r in app.screen.data.revisions]
            await pilot.press("escape", "M")
            await until(pilot, lambda: isinstance(app.screen, MatrixScreen), "the matrix")
            await pilot.press("escape", "R")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the restart confirmation")

            assert revisions == [1]

    asyncio.run(scenario())


def test_promote_from_the_matrix_deploys_stagings_version_to_prod_after_the_typed_name(tmp_path, monkeypatch):
    from adapters.demo import DemoCluster
    from console.backends import backends_for, demo_config
    from screens.matrix import MatrixScreen

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with DemoCluster(tmp_path, time_scale=0.05) as demo:
        config = demo_config(demo)
        staging_web = WorkloadKey("demo-staging", "shop", "web")
        prod_web = WorkloadKey("demo-prod", "shop", "web")

        async def scenario():
            app = WatchfloorApp(backends_for(config), config=config)
            async with app.run_test(size=(120, 30)) as pilot:
                await until(
                    pilot,
                    lambda: all((w := app.store.workload(k)) and w.health == Health.HEALTHY for k in (staging_web, prod_web)),
                    "web healthy in both",
                )
                staging_image = app.store.workload(staging_web).image
                assert app.store.workload(prod_web).version != app.store.workload(staging_web).version, "drift to promote"
                app.show_matrix()
                await until(pilot, lambda: isinstance(app.screen, MatrixScreen) and app.screen.query("DataTable") and app.screen.query_one("DataTable").row_count, "the matrix")
                table = app.screen.query_one("DataTable")
                row = list(table.rows).index(next(k for k in table.rows if k.value == "web"))
                column = [c.value for c in table.columns].index("demo-staging")
                table.move_cursor(row=row, column=column)

                await pilot.press("p")
                await until(pilot, lambda: isinstance(app.screen, ParamsDialog), "the deploy form")
                preset = app.screen.query_one("#param-image").value
                await pilot.press("ctrl+s")
                await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
                await pilot.press(*"demo-prod", "enter")
                run = await until(pilot, lambda: (v := app.run_board.for_workload(prod_web)) and v.phase.finished and v, "the promotion", timeout=90)

                assert preset == staging_image
                assert run.phase == Phase.HEALTHY, run.message
                await until(pilot, lambda: app.store.workload(prod_web).image == staging_image, "prod on staging's image")

        asyncio.run(scenario())


def test_an_active_run_shows_in_the_status_bar_after_leaving_its_screen(emulator, tmp_path):
    from screens.main import MainScreen
    from widgets.status_bar import StatusBar

    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)
            app.start_runbook("restart", WEB)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")

            await pilot.press("escape")  # answer later
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")
            await pilot.press("escape")  # leave the run screen; the run goes on
            await until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
            status = await until(
                pilot, lambda: "restart" in (t := str(app.screen.query_one(StatusBar).render())) and t, "the run in the status bar"
            )

            assert "▶ restart" in status and "shop/web" in status and "waits for confirm" in status

    asyncio.run(scenario())
