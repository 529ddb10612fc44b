"""Canary runs through the headless CLI (`watchfloor runbook run`, a real subprocess).

- On ``--demo``: the built-in ``canary`` runbook against the embedded cluster and its
  simulated Prometheus — a good image is promoted (exit 0), an ``-errors`` image fails a
  gate and its canary is removed (exit 1, rolled back).
- Against the emulator in this test process: a canary run SIGKILLed at every step
  boundary, then resumed — it finishes, and the canary was started exactly once.
"""

from __future__ import annotations

import json
import signal

import pytest

from console.model import WorkloadKey
from console.runbook.journal import read_journal
from tests.test_cli import watchfloor
from tests.test_runbook_cli import WEB, cluster, run_json  # noqa: F401 - fixture

FAST = ["--set", "interval=2s", "--set", "warmup=8s", "--set", "measurements=2", "--set", "health_timeout=60s"]


def demo_canary(image: str, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_STATE_HOME": str(tmp_path / "state"), "WATCHFLOOR_CONFIG": ""}
    completed = watchfloor(
        "runbook", "run", "canary", "--demo", "--env", "demo-staging", "--workload", "shop/web",
        "--set", f"image={image}", *FAST, "--yes", "--json", env=env, timeout=240,
    )
    document = json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None
    return completed, document


def test_a_demo_canary_of_a_good_image_passes_its_gates_and_is_promoted(tmp_path):
    completed, document = demo_canary("registry.demo/shop/web:1.6.0", tmp_path)

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert document["outcome"] == "succeeded"
    states = {s["id"]: s["state"] for s in document["steps"]}
    assert states["errors-10"] == states["errors-50"] == states["promote"] == "passed"
    assert document["to_version"] == "1.6.0"


def test_a_demo_canary_that_answers_errors_is_removed_and_the_run_ends_rolled_back(tmp_path):
    completed, document = demo_canary("registry.demo/shop/web:1.6.0-errors", tmp_path)

    assert completed.returncode == 1, completed.stderr[-3000:]
    assert document["outcome"] == "rolled_back"
    states = {s["id"]: s["state"] for s in document["steps"]}
    assert states["promote"] == "pending"
    assert "failed" in (states["errors-10"], states["latency"])
    assert "canary" in document["message"] and "removed" in document["message"]


CANARY_LITE = """\
name: canary-lite
title: Canary without metrics
steps:
  - id: start
    kind: action
    verb: canary.start
    image: registry.test/web:1.1
    weight: 25
    on_fail: rollback
  - id: more
    kind: action
    verb: canary.set_weight
    weight: 50
    on_fail: rollback
  - id: promote
    kind: action
    verb: canary.promote
    on_fail: rollback
  - id: healthy
    kind: gate
    type: health
    within: 60s
    on_fail: rollback
"""

BOUNDARIES = [
    "adapter.call:start",
    "step.finished:start",
    "adapter.call:more",
    "step.finished:more",
    "adapter.call:promote",
    "step.finished:promote",
]


@pytest.fixture
def lite(cluster, tmp_path):
    adapter, env, runs = cluster
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "canary-lite.yaml").write_text(CANARY_LITE)
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text() + f"runbooks_dir: {tmp_path / 'runbooks'}\n")
    return adapter, env, runs


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_canary_killed_at_any_boundary_resumes_to_the_end_and_starts_the_canary_once(lite, boundary):
    adapter, env, runs = lite

    killed = watchfloor(
        "runbook", "run", "canary-lite", "--env", "cluster", "--workload", "web", "--yes", "--json",
        env={**env, "WATCHFLOOR_FAULT_KILL_AFTER": boundary}, timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    journal = next(runs.glob("*.jsonl"))
    assert not read_journal(journal).problems, "every entry was fsynced before the kill"

    resumed, document = run_json("runbook", "resume", journal.stem, "--yes", "--json", env=env)

    assert resumed.returncode == 0, resumed.stderr
    assert document["outcome"] == "succeeded"
    observed = adapter.observe(WEB)
    assert observed.image == "registry.test/web:1.1" and observed.ready == observed.desired
    assert adapter.release_state(WEB).kind == ""
    entries = read_journal(journal).entries
    starts = [
        e for e in entries
        if e["event"] == "adapter.call" and e["data"].get("request", {}).get("verb") == "canary.start" and "result" in e["data"]
    ]
    assert len(starts) == 1, "the canary was started exactly once"
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert adapter.lock_holder(WorkloadKey("cluster", "shop", "web")) is None


def demo_blue_green(image: str, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_STATE_HOME": str(tmp_path / "state"), "WATCHFLOOR_CONFIG": ""}
    completed = watchfloor(
        "runbook", "run", "blue-green", "--demo", "--env", "demo-staging", "--workload", "shop/web",
        "--set", f"image={image}", "--set", "interval=2s", "--set", "measurements=2", "--set", "rollback_window=2s",
        "--yes", "--json", env=env, timeout=240,
    )
    document = json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None
    return completed, document


def test_a_demo_blue_green_release_switches_and_scales_the_old_colour_down(tmp_path):
    completed, document = demo_blue_green("registry.demo/shop/web:1.6.0", tmp_path)

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert document["outcome"] == "succeeded"
    assert [s["state"] for s in document["steps"]] == ["passed"] * len(document["steps"])
    assert "web runs 1.6.0" in document["message"]  # observed through the live colour


def test_a_demo_blue_green_release_of_a_failing_image_never_takes_traffic(tmp_path):
    completed, document = demo_blue_green("registry.demo/shop/web:1.6.0-errors", tmp_path)

    assert completed.returncode == 1, completed.stderr[-3000:]
    assert document["outcome"] == "rolled_back"
    states = {s["id"]: s["state"] for s in document["steps"]}
    assert states["pre-switch"] == "failed" and states["switch"] == "pending"
    assert "web runs 1.5.0" in document["message"]


PAUSING = """\
name: pausing
title: Pausing
steps:
  - id: check
    kind: manual
    instructions: Look at the dashboards first.
    on_fail: pause
  - id: grow
    kind: action
    verb: scale
    replicas: 3
"""


def test_a_headless_run_that_pauses_stays_resumable_and_resumes_with_the_operators_choice(cluster, tmp_path):
    adapter, env, runs = cluster
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "pausing.yaml").write_text(PAUSING)
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text() + f"runbooks_dir: {tmp_path / 'runbooks'}\n")

    paused, first = run_json("runbook", "run", "pausing", "--env", "cluster", "--workload", "web", "--json", env=env)
    journal = next(runs.glob("*.jsonl"))
    resumed, second = run_json("runbook", "resume", journal.stem, "--choice", "skip", "--yes", "--json", env=env)

    assert paused.returncode == 3 and first["outcome"] == "aborted", paused.stderr
    assert f"watchfloor runbook resume {first['run_id']}" in first["message"]
    assert resumed.returncode == 0, resumed.stderr
    assert second["outcome"] == "succeeded"
    assert [s["state"] for s in second["steps"]] == ["skipped", "passed"]
    assert adapter.observe(WEB).desired == 3
    assert [e["event"] for e in read_journal(journal).entries].count("run.finished") == 1
