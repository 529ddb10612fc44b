"""The console's long-lived backend loops never take the threads its short jobs need.

Textual runs thread workers on the event loop's default executor: min(32, CPUs + 4)
threads — 6 on a 2-core bastion. A watch and a stats loop per environment held two of
them for the console's life, so with three environments the pool was full and every
later thread worker (loading runbooks, starting a run, the History screen) waited
forever. Real engines are not needed to show it: an engine that does not answer keeps
its loops retrying just the same (dead sockets, on purpose).
"""

from __future__ import annotations

import time

from adapters.docker import DockerAdapter
from console.app import WatchfloorApp
from console.backends import Backend
from console.model import Environment, EnvironmentKind


def dead_engine(name: str, tmp_path) -> Backend:
    socket = f"unix://{tmp_path}/{name}-nobody-listens.sock"
    environment = Environment(name, EnvironmentKind.DOCKER, socket)
    return Backend(environment, lambda: DockerAdapter(environment, host=socket, timeout=1.0))


async def test_short_thread_jobs_run_beside_the_loops_of_many_environments(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    backends = [dead_engine(f"engine-{n}", tmp_path) for n in range(6)]
    app = WatchfloorApp(backends)
    reports = []

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)  # every environment's loops are up (and failing over and over)
        app.load_delivery(reports.append)
        deadline = time.monotonic() + 15
        while not reports and time.monotonic() < deadline:
            await pilot.pause(0.1)

        assert reports, "the delivery figures' worker never ran: the thread pool is held by backend loops"
