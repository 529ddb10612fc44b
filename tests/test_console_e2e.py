"""The console end to end against the real engine: a Compose stack appears grouped, a
container turning unhealthy shows as degraded, the engine's log lines reach the screen."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import structlog

from console.app import WatchfloorApp
from console.backends import backends_for
from console.config import default_config
from console.model import Health, WorkloadKey
from console.structured_log import configure
from screens.logs import LogsScreen
from widgets.workload_table import WorkloadTable
from tests.backends import wait_for_health

pytestmark = pytest.mark.docker


async def until(pilot, check, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def real_app() -> WatchfloorApp:
    return WatchfloorApp(backends_for(default_config()))


async def test_compose_stack_shows_grouped_and_unhealthy_turns_degraded(docker_engine, compose_project):
    project = compose_project(
        """
version: "2.4"
services:
  web:
    image: watchfloor-test/web:1
    network_mode: none
    scale: 2
"""
    )
    key = WorkloadKey("local", project, "web")
    app = real_app()
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one(WorkloadTable)
        await until(pilot, lambda: key in table.visible_keys(), "compose service row")
        await until(pilot, lambda: table.row_cells(key)[0].plain == "● healthy", "healthy row", timeout=30)
        assert table.row_cells(key)[2].plain == "2/2"

        container = docker_engine.containers.list(filters={"label": f"com.docker.compose.project={project}"})[0]
        container.exec_run(["/bin/touch", "/tmp/unhealthy"])
        await asyncio.to_thread(wait_for_health, container, "unhealthy", 20)

        await until(pilot, lambda: table.row_cells(key)[0].plain == "▲ degraded", "degraded row", timeout=2.5)
        assert table.row_cells(key)[2].plain == "1/2"
        assert app.store.workload(key).health is Health.DEGRADED


async def test_logs_screen_shows_the_containers_lines(docker_engine, container_factory):
    logger = container_factory("logger", name="chatty", labels={"watchfloor.workload": "chatty"}, environment={"RATE": "20"})
    key = WorkloadKey("local", "", "chatty")
    app = real_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(WorkloadTable)
        await until(pilot, lambda: key in table.visible_keys(), "chatty row")
        table.move_cursor_to_key(key)
        await pilot.pause()

        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen), "logs screen")
        view = app.screen.query_one("LogView")

        await until(pilot, lambda: view.line_count >= 10, "ten log lines on screen")
        assert view.visible_line(0).text.startswith("line ")
    assert logger.status in ("running", "created")


def test_structured_log_records_environment_name_for_a_lost_engine(tmp_path):
    import threading

    from adapters.base import StopSignal
    from adapters.docker import DockerAdapter
    from console.model import Environment, EnvironmentKind
    from console.store import Store
    from console.watcher import Backoff, watch_environment
    from tests.backends import wait_for

    log_file = configure(tmp_path / "watchfloor.log", "info")
    environment = Environment("far-away", EnvironmentKind.DOCKER, "unix:///tmp/wf-nope.sock")
    store = Store([environment])
    stop = StopSignal()
    thread = threading.Thread(
        target=watch_environment,
        args=(DockerAdapter(environment, host="unix:///tmp/wf-nope.sock"), store, stop),
        kwargs={"backoff": Backoff(0.1, 0.2)},
        daemon=True,
    )
    thread.start()
    try:
        wait_for(lambda: log_file.exists() and log_file.read_text().strip(), "a log line")
    finally:
        stop.set()
        thread.join(5)
        structlog.reset_defaults()

    entry = json.loads(log_file.read_text().splitlines()[0])
    assert entry["environment_name"] == "far-away"
    assert entry["event"] == "environment disconnected"
    assert entry["level"] == "warning"
