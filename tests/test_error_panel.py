"""The error panel, driven by real keys, on errors from real backends.

A Docker environment pointed at a socket nobody listens on (the real adapter and
watcher report it), and a deploy of a crash-looping image against the Kubernetes
emulator over HTTP that rolls back for real, with its journal in a private state
directory.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.docker import DockerAdapter
from console.app import WatchfloorApp
from console.backends import Backend
from console.errors import ErrorClass, ErrorReport
from console.model import Environment, EnvironmentKind
from console.redact import REDACTED
from console.runbook.run_view import Phase
from screens.error_panel import ErrorPanel
from screens.help import GLOBAL_KEYS
from screens.run import RunScreen
from screens.run_dialogs import ConfirmDialog, ParamsDialog
from tests.test_run_screen import WEB, backend_for, emulator, healthy_in_store, until  # noqa: F401 - emulator is a fixture

DEAD_SOCKET = "unix:///tmp/wf-error-panel-no-engine.sock"


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def dead_docker() -> Backend:
    environment = Environment("far-away", EnvironmentKind.DOCKER, DEAD_SOCKET)
    return Backend(environment, lambda: DockerAdapter(environment, host=DEAD_SOCKET))


def shown(panel: ErrorPanel, selector: str) -> str:
    return str(panel.query_one(selector).render())


def test_an_unreachable_engine_opens_summary_first_then_admin_then_developer_detail(state_dir):
    async def scenario():
        app = WatchfloorApp([dead_docker()])
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.store.connection("far-away").error, "the engine reported down")

            await pilot.press("E")
            panel = app.screen
            summary_only = (panel.query_one("#error-level-1").display, panel.query_one("#error-level-2").display)
            await pilot.press("enter")
            admin = (panel.query_one("#error-level-1").display, panel.query_one("#error-level-2").display)
            await pilot.press("enter")
            developer = (panel.query_one("#error-level-1").display, panel.query_one("#error-level-2").display)

            assert isinstance(panel, ErrorPanel)
            assert panel.report.error_class is ErrorClass.ENVIRONMENT
            assert "far-away: the Docker engine does not answer" in shown(panel, "#error-summary")
            assert "keeps retrying" in shown(panel, "#error-summary")
            assert summary_only == (False, False)
            assert admin == (True, False)
            assert developer == (True, True)
            assert DEAD_SOCKET in shown(panel, "#error-level-1")
            assert "docs/troubleshooting.md#docker-engine-unreachable" in shown(panel, "#error-footer")

    asyncio.run(scenario())


def test_c_copies_a_redacted_incident_snippet_and_says_so(state_dir):
    async def scenario():
        app = WatchfloorApp([dead_docker()])
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.store.connection("far-away").error, "the engine reported down")
            await pilot.press("E")

            await pilot.press("c")
            await pilot.pause()

            copied = app.clipboard
            notes = [str(note.message) for note in app._notifications]
            assert copied.startswith("watchfloor incident — environment problem\nenvironment: far-away\n")
            assert "details (admin):" in copied and "developer details" not in copied
            assert copied.endswith("troubleshooting: docs/troubleshooting.md#docker-engine-unreachable")
            assert any("copied" in note for note in notes)

    asyncio.run(scenario())


def test_escape_closes_the_panel_and_returns_to_the_screen_below(state_dir):
    async def scenario():
        app = WatchfloorApp([dead_docker()])
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.store.connection("far-away").error, "the engine reported down")
            below = app.screen
            await pilot.press("E")
            opened = isinstance(app.screen, ErrorPanel)

            await pilot.press("escape")

            assert opened and app.screen is below

    asyncio.run(scenario())


def test_a_rolled_back_run_opens_on_the_run_screen_with_what_the_console_did(emulator, tmp_path):
    async def scenario():
        app = WatchfloorApp([backend_for(emulator, tmp_path)])
        async with app.run_test(size=(100, 30)) as pilot:
            await healthy_in_store(app, pilot)
            app.start_runbook("deploy", WEB)
            await until(pilot, lambda: isinstance(app.screen, ParamsDialog), "the params form")
            await pilot.press(*"registry.test/web:1.1-broken", "ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            await pilot.press("y")
            run = await until(pilot, lambda: (v := app.run_board.for_workload(WEB)) and v.phase.finished and v, "the run to end", timeout=90)
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")

            await pilot.press("E")
            panel = app.screen
            await pilot.press("c")
            await pilot.pause()

            assert run.phase is Phase.ROLLED_BACK
            assert isinstance(panel, ErrorPanel) and panel.report.error_class is ErrorClass.DEPLOYMENT
            summary = shown(panel, "#error-summary")
            assert summary.startswith("Deploy a new image of shop/web in cluster failed:")
            assert "rolled back to 1.0" in summary
            assert f"run: {run.run_id}" in app.clipboard and "phase: RolledBack" in app.clipboard
            assert "versions: 1.0 → 1.1-broken" in app.clipboard

    asyncio.run(scenario())


def test_untrusted_text_in_a_report_is_shown_literally_and_redacted(state_dir):
    report = ErrorReport(
        ErrorClass.DEPLOYMENT,
        "[bold red]pod[/] said [@click=app.quit]x[/] \x1b]52;c;ZXZpbA==\x07 token=Sx9hunter2hunter2",
        admin_detail="[/]\n[link=http://x]y[/link]",
    )

    async def scenario():
        app = WatchfloorApp([dead_docker()], start_backends=False)
        async with app.run_test(size=(80, 24)) as pilot:
            app.report_error(report)
            await pilot.press("E")
            panel = app.screen
            await pilot.press("enter")
            summary = shown(panel, "#error-summary")
            admin = shown(panel, "#error-level-1")

            assert isinstance(panel, ErrorPanel), "the markup did not crash or quit the app"
            assert "[bold red]pod[/] said [@click=app.quit]x[/]" in summary
            assert "\x1b" not in summary and "Sx9hunter2hunter2" not in summary and f"token={REDACTED}" in summary
            assert "[link=http://x]y[/link]" in admin

    asyncio.run(scenario())


def test_e_without_an_error_says_there_is_none(state_dir):
    async def scenario():
        app = WatchfloorApp([], start_backends=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("E")
            await pilot.pause()

            assert not isinstance(app.screen, ErrorPanel)
            assert any("no error to show here" in str(n.message) for n in app._notifications)

    asyncio.run(scenario())


def test_the_help_screen_lists_the_error_key():
    keys = dict(GLOBAL_KEYS)

    assert keys["E"].startswith("error details")


def test_a_runbook_file_that_does_not_load_is_announced_and_opens_in_the_panel(state_dir, tmp_path):
    from console.config import parse_config

    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "broken.yaml").write_text("name: broken\nsteps:\n  - {id: a, kind: wait, duration: 5}\n")
    config = parse_config(f"runbooks_dir: {runbooks}\nenvironments:\n  - kind: docker\n    name: far-away\n    host: {DEAD_SOCKET}\n")

    async def scenario():
        app = WatchfloorApp([dead_docker()], config=config)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.last_error is not None, "the skipped runbook announced")
            await pilot.press("E")
            panel = app.screen

            assert isinstance(panel, ErrorPanel) and panel.report.error_class is ErrorClass.BAD_INPUT
            assert "broken.yaml" in shown(panel, "#error-summary")
            assert "runbook-file-errors" in shown(panel, "#error-footer")
            assert any("E: details" in str(n.message) for n in app._notifications)

    asyncio.run(scenario())
