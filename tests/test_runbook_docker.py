"""Runbooks on the real Docker engine, headless, as a pipeline runs them.

The busybox test image web:2-broken's health check always fails, so its deploy
fails the health wait: the adapter removes the new replica and the old one keeps
serving, which the run reports as rolled back.
"""

from __future__ import annotations

import json

import pytest

from tests.backends import wait_for_health
from tests.test_cli import watchfloor

pytestmark = pytest.mark.docker


@pytest.fixture
def docker_env(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("environments:\n  - name: local\n    kind: docker\n")
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "WATCHFLOOR_CONFIG": str(config),
    }


def deploy(env, workload: str, image: str):
    completed = watchfloor(
        "runbook", "run", "deploy", "--env", "local", "--workload", workload,
        "--set", f"image={image}", "--set", "soak=1s", "--yes", "--json", env=env, timeout=180,
    )
    return completed, json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None


def serving(docker_engine, name: str):
    return docker_engine.containers.get(name)


def test_deploy_of_a_good_image_is_healthy_with_a_new_revision(docker_engine, container_factory, test_images, docker_env):
    old = container_factory("web:1", name="web", network_mode="none")
    wait_for_health(old, "healthy", timeout=20)

    completed, document = deploy(docker_env, old.name, test_images["web:2"])

    assert completed.returncode == 0, completed.stderr
    assert document["outcome"] == "succeeded"
    current = serving(docker_engine, old.name)
    assert current.id != old.id and current.image.tags == [test_images["web:2"]]
    assert current.labels.get("watchfloor.revision") == "2"
    history = watchfloor("history", "--json", env=docker_env)
    assert json.loads(history.stdout)[0]["to_version"] == document["to_version"]


def test_deploy_of_a_broken_image_leaves_the_old_version_serving(docker_engine, container_factory, test_images, docker_env):
    old = container_factory("web:1", name="web", network_mode="none")
    wait_for_health(old, "healthy", timeout=20)

    completed, document = deploy(docker_env, old.name, test_images["web:2-broken"])

    assert completed.returncode == 1, completed.stderr
    assert document["outcome"] == "rolled_back"
    current = serving(docker_engine, old.name)
    assert current.id == old.id and current.status == "running"
    assert [s["state"] for s in document["steps"] if s["id"] == "roll-out"] == ["failed"]
    journal = [json.loads(line) for line in open(document["journal"])]
    failure = next(e for e in journal if e["event"] == "step.finished" and e["step"] == "roll-out")
    assert "health" in failure["data"]["message"].lower()


def test_two_concurrent_runs_the_second_is_refused_naming_the_first(docker_engine, container_factory, test_images, docker_env):
    import subprocess
    import sys
    import time

    from tests.test_cli import ROOT

    old = container_factory("web:1", name="web", network_mode="none")
    wait_for_health(old, "healthy", timeout=20)
    first = subprocess.Popen(
        [sys.executable, "-m", "console", "runbook", "run", "deploy", "--env", "local", "--workload", old.name,
         "--set", f"image={test_images['web:2']}", "--set", "soak=20s", "--yes", "--json"],
        cwd=ROOT, env={**__import__("os").environ, **docker_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        locks = None
        deadline = time.monotonic() + 60
        from pathlib import Path

        lock_dir = Path(docker_env["XDG_STATE_HOME"]) / "watchfloor" / "locks"
        while time.monotonic() < deadline:
            locks = list(lock_dir.glob("*")) if lock_dir.exists() else []
            if locks:
                break
            time.sleep(0.2)
        assert locks, "the first run took its lock"

        second = watchfloor("runbook", "run", "restart", "--env", "local", "--workload", old.name, "--yes", env=docker_env)

        assert second.returncode == 3
        assert "locked by" in second.stderr
    finally:
        first.terminate()
        first.wait(30)
