"""The run executor against the Kubernetes emulator over real HTTP.

The emulator's controller rolls Deployments out the way the real one does and
crash-loops ``*-broken`` images, so every run here makes real writes and observes
their real effect; the journal is a real file in a temporary directory.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from console.runbook.actor import actor
from console.runbook.executor import RunExecutor, RunOptions, RunRefused
from console.runbook.journal import Journal, RunHeader, new_run_id, read_journal, replay
from console.runbook.loader import LoadedRunbook, load_runbook_file
from console.runbook.run_view import Outcome, Phase, StepState
from console.runbook.templating import bind_params, render
from tests.backends import wait_for
from tests.test_kubernetes_adapter import deployment_object

WEB = WorkloadKey("cluster", "shop", "web")
BUILTIN = Path(__file__).resolve().parent.parent / "runbooks"


@pytest.fixture
def emulator():
    with KubernetesEmulator(time_scale=0.05, seed=7) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=2, image="registry.test/web:1.0"))
        yield running


def connect(emulator, tmp_path, *, protected=False, read_only=False) -> KubernetesAdapter:
    kubeconfig = emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx")
    environment = Environment("cluster", EnvironmentKind.KUBERNETES, "ctx", protected=protected, read_only=read_only)
    adapter = KubernetesAdapter(environment, kubeconfig=str(kubeconfig), context="ctx", watch_seconds=5)
    adapter.connect()
    wait_for(lambda: adapter.observe(WEB).health == Health.HEALTHY or None, "web healthy", timeout=20)
    return adapter


@pytest.fixture
def adapter(emulator, tmp_path):
    adapter = connect(emulator, tmp_path)
    yield adapter
    adapter.close()


def make_run(
    adapter,
    tmp_path,
    runbook: str | Path,
    params: dict[str, str] | None = None,
    *,
    auto_answer=True,
    interactive=False,
    allow_command_steps=False,
    views: list | None = None,
) -> RunExecutor:
    if isinstance(runbook, Path):
        loaded = load_runbook_file(runbook, source="builtin")
    else:
        path = tmp_path / "runbook.yaml"
        path.write_text(runbook)
        loaded = load_runbook_file(path)
    values = bind_params(loaded.runbook, params or {})
    observed = adapter.observe(WEB)
    run_id = new_run_id()
    builtins = {
        "workload": WEB.name,
        "environment": adapter.environment.name,
        "current_version": observed.version,
        "current_image": observed.image,
        "run_id": run_id,
        "actor": "tester@host",
    }
    rendered = render(loaded.runbook, {**builtins, **values})
    journal = Journal.create(
        run_id, RunHeader(runbook=loaded.ref, environment_name="cluster", workload=WEB.label, actor=actor()), tmp_path
    )
    return RunExecutor(
        _Loaded(rendered),
        values,
        adapter=adapter,
        environment=adapter.environment,
        key=WEB,
        journal=journal,
        options=RunOptions(
            allow_command_steps=allow_command_steps, auto_answer=auto_answer, interactive=interactive, poll_seconds=0.2
        ),
        on_update=views.append if views is not None else None,
    )


class _Loaded:
    def __init__(self, runbook) -> None:
        self.runbook = runbook


def events(executor: RunExecutor) -> list[tuple[str, str | None]]:
    read = read_journal(executor.journal.path)
    return [(e["event"], e["step"]) for e in read.entries]


def in_thread(executor: RunExecutor) -> threading.Thread:
    thread = threading.Thread(target=executor.run, daemon=True)
    thread.start()
    return thread


def test_deploy_of_a_good_image_succeeds_and_records_the_new_revision(adapter, tmp_path):
    executor = make_run(adapter, tmp_path, BUILTIN / "deploy.yaml", {"image": "registry.test/web:1.1", "soak": "1s"})

    view = executor.run()

    assert view.outcome == Outcome.SUCCEEDED and view.phase == Phase.HEALTHY
    assert [s.state for s in view.steps] == [StepState.PASSED] * 3
    assert (view.from_version, view.to_version) == ("1.0", "1.1")
    assert adapter.observe(WEB).image == "registry.test/web:1.1"
    record = replay(read_journal(executor.journal.path).entries)
    assert record.outcome == "succeeded"
    calls = [e for e in read_journal(executor.journal.path).entries if e["event"] == "adapter.call"]
    assert calls[0]["data"]["sent"] is True, "the request is journaled before it is sent"
    assert calls[1]["data"]["result"]["revision"] == 2
    assert adapter.lock_holder(WEB) is None, "the lock is released at the end"


def test_deploy_of_a_broken_image_rolls_back_and_the_journal_says_why(adapter, tmp_path):
    executor = make_run(adapter, tmp_path, BUILTIN / "deploy.yaml", {"image": "registry.test/web:1.1-broken"})

    view = executor.run()

    assert view.outcome == Outcome.ROLLED_BACK and view.phase == Phase.ROLLED_BACK
    assert "CrashLoopBackOff" in view.message
    observed = adapter.observe(WEB)
    assert observed.image == "registry.test/web:1.0" and observed.health == Health.HEALTHY
    steps = {s.id: s.state for s in view.steps}
    assert steps["roll-out"] == StepState.FAILED and steps["rollback"] == StepState.PASSED
    assert steps["healthy"] == StepState.PENDING
    entries = read_journal(executor.journal.path).entries
    failed = [e for e in entries if e["event"] == "step.finished" and e["step"] == "roll-out"][0]
    assert "CrashLoopBackOff" in failed["data"]["message"]
    assert entries[-1]["event"] == "run.finished" and entries[-1]["data"]["outcome"] == "rolled_back"


def test_a_second_run_on_the_same_workload_is_refused_naming_the_holder(adapter, tmp_path):
    slow = """
name: slow
title: Hold the lock a while
steps:
  - {id: hold, kind: wait, duration: 30s}
"""
    first = make_run(adapter, tmp_path, slow)
    thread = in_thread(first)
    wait_for(lambda: adapter.lock_holder(WEB), "the first run holds the lock")
    second = make_run(adapter, tmp_path, slow)

    with pytest.raises(RunRefused) as refused:
        second.run()

    assert first.view.run_id in str(refused.value)
    assert refused.value.holder is not None and refused.value.holder.run_id == first.view.run_id
    assert second.view.outcome == Outcome.ABORTED
    first.send("abort", "test over")
    thread.join(10)
    assert first.view.phase == Phase.ABORTED


def test_pause_holds_between_steps_until_resume(adapter, tmp_path):
    runbook = """
name: two-waits
title: Two waits
steps:
  - {id: one, kind: wait, duration: 1s}
  - {id: two, kind: wait, duration: 1s}
"""
    executor = make_run(adapter, tmp_path, runbook, interactive=True)
    executor.send("pause")
    thread = in_thread(executor)

    wait_for(lambda: executor.view.phase == Phase.PAUSED or None, "paused")
    time.sleep(1.5)
    assert executor.view.steps[0].state == StepState.PENDING, "nothing runs while paused"
    executor.send("note", "looking at dashboards first")
    executor.send("resume")
    thread.join(15)

    assert executor.view.outcome == Outcome.SUCCEEDED
    journal = events(executor)
    assert ("operator.pause", None) in journal and ("operator.resume", None) in journal
    assert ("operator.note", None) in journal


def test_skip_with_a_reason_and_skip_wait(adapter, tmp_path):
    runbook = """
name: waits
title: Waits
steps:
  - {id: long, kind: wait, duration: 60s}
  - {id: longer, kind: wait, duration: 60s}
"""
    executor = make_run(adapter, tmp_path, runbook, interactive=True)
    thread = in_thread(executor)

    wait_for(lambda: executor.view.steps[0].state == StepState.WAITING_TIMER or None, "first wait")
    executor.send("skip_wait")
    wait_for(lambda: executor.view.steps[1].state == StepState.WAITING_TIMER or None, "second wait")
    executor.send("skip", "dashboards already green")
    thread.join(10)

    assert executor.view.outcome == Outcome.SUCCEEDED
    assert executor.view.steps[0].message == "wait skipped by the operator"
    assert executor.view.steps[1].state == StepState.SKIPPED and "dashboards already green" in executor.view.steps[1].message


def test_undo_mid_run_rolls_back_to_the_version_the_run_started_from(adapter, tmp_path):
    runbook = """
name: deploy-and-watch
title: Deploy and watch
params:
  image: {type: image}
steps:
  - {id: ship, kind: action, verb: deploy, image: "{{ image }}"}
  - {id: watch, kind: wait, duration: 60s}
"""
    executor = make_run(adapter, tmp_path, runbook, {"image": "registry.test/web:1.1"}, interactive=True)
    thread = in_thread(executor)
    wait_for(lambda: executor.view.steps[1].state == StepState.WAITING_TIMER or None, "watching", timeout=30)

    executor.send("undo", "error rate up")
    thread.join(30)

    assert executor.view.outcome == Outcome.ROLLED_BACK
    assert adapter.observe(WEB).image == "registry.test/web:1.0"
    assert executor.view.steps[1].state == StepState.CANCELLED


def test_on_fail_continue_and_goto(adapter, tmp_path):
    runbook = """
name: branches
title: Branches
steps:
  - {id: shell, kind: command, run: "false", on_fail: continue}
  - {id: check, kind: command, run: "exit 3", on_fail: "goto:recover"}
  - {id: never, kind: wait, duration: 60s}
  - {id: recover, kind: wait, duration: 0s}
"""
    executor = make_run(adapter, tmp_path, runbook, allow_command_steps=True)

    view = executor.run()

    states = {s.id: s.state for s in view.steps}
    assert states == {
        "shell": StepState.FAILED,
        "check": StepState.FAILED,
        "never": StepState.PENDING,
        "recover": StepState.PASSED,
    }
    assert view.outcome == Outcome.SUCCEEDED
    assert "exited 3" in view.steps[1].message


def test_command_steps_are_refused_unless_the_config_allows_them(adapter, tmp_path):
    runbook = """
name: shell
title: Shell
steps:
  - {id: touch, kind: command, run: "touch {{ run_id }}.ran"}
"""
    executor = make_run(adapter, tmp_path, runbook, allow_command_steps=False)

    view = executor.run()

    assert view.outcome == Outcome.FAILED and view.phase == Phase.DEGRADED
    assert "allow_command_steps" in view.steps[0].message
    assert not list(Path.cwd().glob("*.ran"))


def test_a_protected_environment_needs_the_typed_name_to_confirm(emulator, tmp_path):
    adapter = connect(emulator, tmp_path, protected=True)
    runbook = """
name: ask
title: Ask
steps:
  - {id: sure, kind: confirm, prompt: "Really?"}
"""
    try:
        refused = make_run(adapter, tmp_path, runbook, auto_answer=False, interactive=True)
        thread = in_thread(refused)
        wait_for(lambda: refused.view.waiting_for == "confirm" or None, "asked")
        refused.send("answer", {"yes": True, "typed": "prod"})
        thread.join(10)
        accepted = make_run(adapter, tmp_path, runbook, auto_answer=False, interactive=True)
        thread = in_thread(accepted)
        wait_for(lambda: accepted.view.waiting_for == "confirm" or None, "asked")
        accepted.send("answer", {"yes": True, "typed": "cluster"})
        thread.join(10)
    finally:
        adapter.close()

    assert refused.view.outcome == Outcome.FAILED and "type its name" in refused.view.steps[0].message
    assert accepted.view.outcome == Outcome.SUCCEEDED


def test_a_headless_run_with_a_pause_policy_ends_resumable_instead_of_hanging(adapter, tmp_path):
    runbook = """
name: pausing
title: Pausing
steps:
  - {id: fail, kind: command, run: "exit 1", on_fail: pause}
"""
    executor = make_run(adapter, tmp_path, runbook, allow_command_steps=True, interactive=False)

    view = executor.run()

    assert view.outcome == Outcome.ABORTED
    assert f"watchfloor runbook resume {view.run_id}" in view.message


def test_progress_is_published_as_frozen_views(adapter, tmp_path):
    views: list = []
    executor = make_run(adapter, tmp_path, BUILTIN / "restart.yaml", views=views)

    executor.run()

    phases = [v.phase for v in views]
    assert Phase.PROGRESSING in phases and phases[-1] == Phase.HEALTHY
    assert any(v.steps and v.steps[0].state == StepState.RUNNING for v in views)


def test_every_builtin_parses(tmp_path):
    for path in sorted(BUILTIN.glob("*.yaml")):
        loaded = load_runbook_file(path, source="builtin")
        assert isinstance(loaded, LoadedRunbook) and loaded.runbook.steps




def test_a_write_without_a_confirm_step_still_asks_first(adapter, tmp_path):
    runbook = """
name: bare-restart
title: Restart without asking
steps:
  - {id: go, kind: action, verb: restart}
"""
    declined = make_run(adapter, tmp_path, runbook, auto_answer=False, interactive=True)
    thread = in_thread(declined)
    wait_for(lambda: declined.view.waiting_for == "confirm" or None, "the implicit confirmation")
    prompt = declined.view.steps[0].detail[0]
    declined.send("answer", {"yes": False})
    thread.join(10)
    headless = make_run(adapter, tmp_path, runbook, auto_answer=False, interactive=False)

    headless_view = headless.run()

    assert "restart every replica of shop/web in cluster" in prompt
    assert declined.view.outcome == Outcome.ABORTED
    assert headless_view.outcome == Outcome.ABORTED and "needs an operator" in headless_view.message
    assert adapter.observe(WEB).revision == 1, "nothing was restarted"
