"""The fault campaign of issue E: each fault injected into a real run, each survived with
no journal entry lost and no write applied twice.

The faults already covered elsewhere (a dropped or expired watch, a 5xx storm while
watching, Prometheus down before a gate, SIGKILL at every boundary of deploy and canary,
a full disk) are listed in docs/reliability.md with their tests; this file holds the rest:

- the Docker engine SIGKILLed and restarted in the middle of a deploy (a private dockerd);
- the Kubernetes API answering every call 2 s late, and a 30 s storm of 5xx, during runs
  (the emulator's fault hooks, over real HTTP);
- Prometheus stopped while a canary gate measures (a private Prometheus);
- the console SIGKILLed at every step boundary of the rollback runbook;
- the terminal shrunk to 40x12 and back, with 1,000 log lines/s, while a run goes on.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from console.runbook.journal import read_journal
from console.runbook.run_view import Outcome, Phase, StepState
from tests.backends import wait_for
from tests.prometheus_backend import MetricsEndpoint, private_prometheus  # noqa: F401 - fixture
from tests.test_cli import ROOT, watchfloor
from tests.test_prometheus_gate import gate_run, source_of
from tests.test_runbook_cli import WEB, cluster, run_json  # noqa: F401 - fixture
from tests.test_runbook_executor import BUILTIN, adapter, emulator, in_thread, make_run  # noqa: F401 - fixtures


def entries_of(path) -> list[dict]:
    """The journal's entries, after proving the file whole: chain intact, seq without gaps."""
    read = read_journal(Path(path))
    assert not read.problems, read.problems
    entries = read.entries
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    return entries


def applied(entries: list[dict], verb: str) -> list[dict]:
    """Adapter calls of ``verb`` that the backend answered with a result (applied writes)."""
    return [
        e for e in entries
        if e["event"] == "adapter.call" and e["data"].get("request", {}).get("verb") == verb and "result" in e["data"]
    ]


def every_step_recorded(entries: list[dict], step_ids) -> None:
    for step_id in step_ids:
        started = [e for e in entries if e["event"] == "step.started" and e["step"] == step_id]
        finished = [e for e in entries if e["event"] == "step.finished" and e["step"] == step_id]
        assert started and finished, f"step {step_id}: started {len(started)}, finished {len(finished)}"


# -- 2. Kubernetes API: 2 s per call; a 30 s storm of 5xx ---------------------------------------------


def test_a_deploy_with_every_api_call_2s_late_completes_and_patches_the_deployment_once(adapter, emulator, tmp_path):
    executor = make_run(
        adapter, tmp_path, BUILTIN / "deploy.yaml", {"image": "registry.test/web:1.1", "soak": "1s", "health_timeout": "3m"}
    )
    emulator.reset_request_counts()
    emulator.inject_latency(2.0)
    try:
        started = time.monotonic()
        view = executor.run()
        took = time.monotonic() - started
    finally:
        emulator.clear_faults()

    assert view.outcome is Outcome.SUCCEEDED, view.message
    assert took >= 4.0, "the latency was really there"
    assert emulator.request_count("patch", "deployments") == 1, "one patch, no retry that applied it twice"
    assert adapter.observe(WEB).image == "registry.test/web:1.1"
    entries = entries_of(executor.journal.path)
    assert len(applied(entries, "deploy")) == 1
    every_step_recorded(entries, ["confirm", "roll-out", "healthy"])


STORM_DEPLOY = """\
name: storm-deploy
title: Deploy, pausing on failure
params:
  image: {type: image}
steps:
  - {id: confirm, kind: confirm, prompt: "Deploy?"}
  - {id: settle, kind: wait, duration: 1s}
  - {id: roll-out, kind: action, verb: deploy, image: "{{ image }}", timeout: 2m, on_fail: pause}
  - {id: healthy, kind: gate, type: health, within: 2m, stable_for: 1s, on_fail: pause}
"""


def test_a_30s_5xx_storm_during_a_deploy_pauses_the_run_never_passes_it_and_a_retry_after_it_finishes(
    adapter, emulator, tmp_path
):
    executor = make_run(adapter, tmp_path, STORM_DEPLOY, {"image": "registry.test/web:1.1"}, interactive=True)
    thread = in_thread(executor)
    wait_for(lambda: executor.view.steps[1].state is StepState.WAITING_TIMER or None, "the run under way", timeout=20)
    emulator.fail_for(30.0, 503)
    storm_ends = time.monotonic() + 30.0

    paused = wait_for(lambda: executor.view.phase is Phase.PAUSED and executor.view, "the run to pause", timeout=40)
    during = executor.view.steps[2]
    still_1_0 = emulator.get_object("apps/v1", "Deployment", "web", "shop")["spec"]["template"]["spec"]["containers"][0]["image"]
    wait_for(lambda: time.monotonic() >= storm_ends or None, "the storm to end", timeout=40)
    executor.send("retry", actor="oncall")
    thread.join(timeout=90)

    assert during.state is StepState.FAILED, during
    assert "503" in during.message or "unavailable" in during.message.lower(), during.message
    assert paused.outcome is None, "a paused run is not finished, and never a success"
    assert still_1_0 == "registry.test/web:1.0", "nothing was written during the storm"
    view = executor.view
    assert view.outcome is Outcome.SUCCEEDED, view.message
    assert adapter.observe(WEB).image == "registry.test/web:1.1"
    entries = entries_of(executor.journal.path)
    assert len(applied(entries, "deploy")) == 1, "the retry applied the deploy once"
    failures = [e for e in entries if e["event"] == "adapter.call" and "error" in e["data"]]
    assert failures and all(e["error_context"] for e in failures)
    assert [e["event"] for e in entries].count("operator.retry") == 1
    every_step_recorded(entries, ["confirm", "settle", "roll-out", "healthy"])


# -- 3. Prometheus down during a canary gate ----------------------------------------------------------


CANARY_GATE = """\
name: gated-canary
title: Canary judged by Prometheus
steps:
  - {id: start, kind: action, verb: canary.start, image: registry.test/web:1.1, weight: 50, on_fail: rollback}
  - id: errors
    kind: gate
    type: prometheus
    query: 'wf_fault_ratio{job="JOB"}'
    success: "result[0] < 0.05"
    interval: 300ms
    count: 200
    consecutive_error_limit: 2
    on_fail: rollback
  - {id: promote, kind: action, verb: canary.promote, on_fail: rollback}
"""


def test_prometheus_stopping_mid_gate_gives_error_verdicts_ends_the_gate_error_and_removes_the_canary(
    adapter, tmp_path, private_prometheus
):
    endpoint = MetricsEndpoint("wf_fault_ratio 0.01\n")
    job = "fault-campaign"
    private_prometheus.scrape(endpoint.address, labels={"job": job})
    private_prometheus.wait_for_result(f'wf_fault_ratio{{job="{job}"}}')
    executor = gate_run(adapter, tmp_path, CANARY_GATE.replace("JOB", job), source=source_of(private_prometheus))
    thread = in_thread(executor)
    wait_for(lambda: (g := executor.view.steps[1].gate) and g.passed >= 2 or None, "passing measurements", timeout=60)
    canary_was_up = adapter.release_state(WEB).kind == "canary"

    private_prometheus.stop()
    thread.join(timeout=90)
    endpoint.close()

    view = executor.view
    assert canary_was_up
    assert view.outcome is Outcome.ROLLED_BACK, view.message
    gate = view.steps[1]
    assert gate.state is StepState.FAILED and gate.message.startswith("error:"), gate.message
    assert gate.gate.errors == 3, "the limit (2) tolerated two, the third decided"
    assert view.steps[2].state is StepState.PENDING, "never promoted"
    assert adapter.release_state(WEB).kind == "", "the canary is gone"
    observed = adapter.observe(WEB)
    assert observed.image == "registry.test/web:1.0" and observed.health is Health.HEALTHY
    entries = entries_of(executor.journal.path)
    verdicts = [e["data"]["verdict"] for e in entries if e["event"] == "gate.measurement" and e["step"] == "errors"]
    first_error = verdicts.index("error")
    assert set(verdicts[:first_error]) == {"pass"} and verdicts[first_error:] == ["error"] * 3, verdicts
    errors = [e for e in entries if e["event"] == "gate.measurement" and e["step"] == "errors" and e["data"]["verdict"] == "error"]
    assert all(e["data"]["value"] is None and e["error_context"] for e in errors)
    assert len(applied(entries, "canary.start")) == 1 and len(applied(entries, "canary.abort")) == 1
    assert not applied(entries, "canary.promote")


# -- 4. SIGKILL at every step boundary of the rollback runbook ----------------------------------------

ROLLBACK_BOUNDARIES = [
    "run.started:",
    "lock.acquired:",
    "step.finished:confirm",
    "step.started:roll-back",
    "adapter.call:roll-back",
    "step.finished:roll-back",
    "step.started:healthy",
    "gate.measurement:healthy",
    "step.finished:healthy",
    "lock.released:",
]


@pytest.fixture
def deployed(cluster, tmp_path):
    """The cluster fixture with web at revision 2 (1.1), so there is a revision to go back to.

    The rollback runbook is the built-in one with a 1 s soak instead of 10 s (a user runbook
    of the same name replaces the built-in), so ten kills and resumes fit the time budget.
    """
    adapter, env, runs = cluster
    text = (BUILTIN / "rollback.yaml").read_text()
    assert "stable_for: 10s" in text
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "rollback.yaml").write_text(text.replace("stable_for: 10s", "stable_for: 1s"))
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text() + f"runbooks_dir: {tmp_path / 'runbooks'}\n")
    adapter.deploy(WEB, "registry.test/web:1.1", timeout=60.0)
    wait_for(lambda: (o := adapter.observe(WEB)).image.endswith(":1.1") and o.health is Health.HEALTHY or None, "1.1 up", timeout=30)
    assert adapter.observe(WEB).revision == 2
    return adapter, env, runs


@pytest.mark.parametrize("boundary", ROLLBACK_BOUNDARIES)
def test_a_rollback_killed_at_any_boundary_resumes_to_the_end_and_rolls_back_exactly_once(deployed, boundary):
    adapter, env, runs = deployed

    killed = watchfloor(
        "runbook", "run", "rollback", "--env", "cluster", "--workload", "web", "--yes", "--json",
        env={**env, "WATCHFLOOR_FAULT_KILL_AFTER": boundary}, timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    journal = next(runs.glob("*.jsonl"))
    entries_of(journal)  # whole before the resume

    resumed, document = run_json("runbook", "resume", journal.stem, "--yes", "--json", env=env)

    assert resumed.returncode == 0, resumed.stderr
    assert document["outcome"] == "succeeded", document
    observed = adapter.observe(WEB)
    # A second rollback would have gone "back" again, to 1.1 at revision 4.
    assert observed.image == "registry.test/web:1.0" and observed.revision == 3, observed
    entries = entries_of(journal)
    assert len(applied(entries, "rollback")) == 1, "the rollback was applied exactly once"
    assert entries[-1]["event"] == "run.finished"
    assert adapter.lock_holder(WEB) is None


# -- 1. the Docker engine killed and restarted mid-deploy ---------------------------------------------


@pytest.mark.docker
def test_the_engine_killed_mid_deploy_fails_the_step_as_a_backend_error_and_nothing_is_applied_twice(
    private_dockerd, test_images, tmp_path
):
    import os

    from adapters.docker import DockerAdapter
    from tests.backends import wait_for_health

    for image in ("web:1", "web:2"):
        private_dockerd.load_image(test_images[image])
    client = private_dockerd.client()
    old = client.containers.run(
        test_images["web:1"], name="web", network_mode="none", detach=True, restart_policy={"Name": "always"}
    )
    wait_for_health(old, "healthy", timeout=30)
    config = tmp_path / "config.yaml"
    config.write_text(f"environments:\n  - name: local\n    kind: docker\n    host: {private_dockerd.host}\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_STATE_HOME": str(tmp_path / "state"), "WATCHFLOOR_CONFIG": str(config)}
    runs = tmp_path / "state" / "watchfloor" / "runs"
    run = subprocess.Popen(
        [sys.executable, "-m", "console", "runbook", "run", "deploy", "--env", "local", "--workload", "web",
         "--set", f"image={test_images['web:2']}", "--set", "soak=1s", "--yes", "--json"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Mid-deploy: the new replica exists and waits for its health check.
        wait_for(lambda: any(c.name.startswith("web-rev") for c in client.containers.list(all=True)), "the new replica", timeout=60, interval=0.05)
        private_dockerd.kill()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    client.close()

    assert run.returncode == 3, stderr
    assert "Traceback" not in stderr
    document = json.loads(stdout)
    assert document["outcome"] == "aborted" and "could not reach" in document["message"], document["message"]
    assert f"watchfloor runbook resume {document['run_id']}" in document["message"]
    journal = Path(document["journal"])
    killed = entries_of(journal)
    failed_deploy = [e for e in killed if e["event"] == "adapter.call" and e["step"] == "roll-out" and "error" in e["data"]]
    assert failed_deploy and failed_deploy[0]["data"]["error"]["kind"] == "unreachable", "a backend error, not a crash"
    assert not any(e["event"] == "run.finished" for e in killed), "left resumable"

    private_dockerd.start()
    adapter = DockerAdapter(Environment("local", EnvironmentKind.DOCKER, private_dockerd.host), host=private_dockerd.host)
    adapter.connect()
    key = WorkloadKey("local", "", "web")
    back = adapter.observe(key)  # the engine restarts replicas itself (restart policy "always")

    resumed, finished = run_json("runbook", "resume", journal.stem, "--yes", "--json", env=env, timeout=240)

    assert back.exists and back.image == test_images["web:1"], back
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr, resumed.stderr
    observed = adapter.observe(key)
    adapter.close()
    assert observed.image == test_images["web:1"], "the old version serves"
    # Depending on when the kill landed, the new replica was left created or exited (the
    # resume finds nothing to undo) or, restarted by the engine, running beside the old one
    # (the resumed rollback to revision 1 removes it). Either way: rolled back, and only
    # the old revision runs.
    assert finished["outcome"] == "rolled_back", finished["message"]
    assert observed.health is Health.HEALTHY and observed.rollout_complete, observed
    engine = private_dockerd.client()
    running = [c.name for c in engine.containers.list()]
    engine.close()
    assert running == ["web"], running
    entries = entries_of(journal)
    assert not applied(entries, "deploy") and len(applied(entries, "rollback")) <= 1, "nothing applied twice"
    assert entries[-1]["event"] == "run.finished"


# -- 6. the terminal shrunk to 40x12 and back, 1,000 log lines/s, during a run ------------------------

NOISY_RUN = """\
name: noisy-run
title: A run beside a noisy log
steps:
  - {id: confirm, kind: confirm, prompt: "Go?"}
  - {id: before, kind: wait, duration: 10s}
  - {id: restart, kind: action, verb: restart}
  - {id: after, kind: wait, duration: 3s}
"""


@pytest.mark.docker
def test_a_40x12_terminal_and_1000_log_lines_a_second_during_a_run_crash_nothing_and_lose_no_entry(
    docker_engine, container_factory, tmp_path, monkeypatch
):
    import asyncio

    from console.app import WatchfloorApp
    from console.backends import backends_for
    from console.config import load_config
    from screens.run import RunScreen
    from screens.run_dialogs import ConfirmDialog
    from tests.test_run_screen import until
    from widgets.log_view import LogView

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # The logger image writes "line <n>" at RATE lines/s (a ceiling: busybox sh paces it).
    workload = f"noisy-{container_factory.prefix[-8:]}"
    container_factory("logger", labels={"watchfloor.workload": workload}, environment={"RATE": "1500", "STDERR_EVERY": "0"})
    key = WorkloadKey("local", "", workload)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "noisy-run.yaml").write_text(NOISY_RUN)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(f"environments:\n  - {{name: local, kind: docker}}\nrunbooks_dir: {tmp_path / 'runbooks'}\n")
    config = load_config(config_path)
    seen: dict[str, float] = {}

    async def scenario():
        app = WatchfloorApp(backends_for(config), config=config)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.store.workload(key), "the noisy workload in the store", timeout=30)
            app.start_runbook("noisy-run", key)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            await pilot.press("y")
            screen = await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen, "the run screen")
            logs = screen.query_one("#run-logs", LogView)
            await until(pilot, lambda: logs.visible_count > 0, "log lines on the run screen", timeout=20)
            samples = [(time.monotonic(), newest(logs), step_of(app, key))]

            for _ in range(3):
                await pilot.resize_terminal(40, 12)
                await pilot.pause(0.5)
                await pilot.resize_terminal(100, 30)
                await pilot.pause(0.5)
                samples.append((time.monotonic(), newest(logs), step_of(app, key)))
            # Only while the wait before the restart runs: the restart resets the logger's count.
            before = [(t, n) for t, n, step in samples if step == "before"]
            seen["span"] = before[-1][0] - before[0][0]
            seen["rate"] = (before[-1][1] - before[0][1]) / seen["span"] if seen["span"] else 0.0
            await pilot.resize_terminal(40, 12)
            run = await until(pilot, lambda: (v := app.run_board.for_workload(key)) and v.phase.finished and v, "the run to end", timeout=90)
            await pilot.resize_terminal(100, 30)
            await pilot.pause(0.3)
            seen["journal"] = run.journal
            seen["phase"] = run.phase
            seen["screen"] = type(app.screen).__name__

    def step_of(app, key) -> str:
        view = app.run_board.for_workload(key)
        return view.current_step.id if view is not None and view.current_step is not None else ""

    def newest(logs: LogView) -> int:
        """The number of the newest line shown: the logger counts its lines, so this is how
        far the screen has kept up (the view holds 500 lines, so a count of appends is not)."""
        return int(logs.visible_line(logs.visible_count - 1).text.split()[1])

    asyncio.run(scenario())

    assert seen["span"] >= 1.0, "measured for at least a second before the restart"
    assert seen["phase"] is Phase.HEALTHY
    assert seen["screen"] == "RunScreen", "the console still shows the run"
    assert seen["rate"] >= 700, f"the run screen took {seen['rate']:.0f} lines/s"
    entries = entries_of(seen["journal"])
    every_step_recorded(entries, ["confirm", "before", "restart", "after"])
    assert len(applied(entries, "restart")) == 1
    assert entries[-1]["event"] == "run.finished" and entries[-1]["data"]["outcome"] == "succeeded"
    print(f"log lines/s on the run screen: {seen['rate']:.0f}")
