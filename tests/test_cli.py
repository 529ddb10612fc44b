"""The headless command line against the real engine: status, logs, check-config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import wait_for

ROOT = Path(__file__).resolve().parent.parent


def watchfloor(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=environment,
    )


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No user config, a private state dir."""
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "WATCHFLOOR_CONFIG": "",
    }
    return env


def _workload(document: dict, name: str, group: str = "") -> dict:
    environment = document["environments"][0]
    return next(w for w in environment["workloads"] if w["name"] == name and w["group"] == group)


@pytest.mark.docker
def test_status_json_reports_compose_services_with_stable_keys(isolated, compose_project):
    project = compose_project(
        """
version: "2.4"
services:
  web:
    image: watchfloor-test/web:1
    network_mode: none
    environment: {API_TOKEN: "tok-should-not-leak-123"}
"""
    )
    wait_for(lambda: b"healthy" in subprocess.run(["docker", "ps", "--filter", f"label=com.docker.compose.project={project}"], capture_output=True).stdout, "web healthy", timeout=20)

    result = watchfloor("status", "--json", env=isolated)

    document = json.loads(result.stdout)
    environment = document["environments"][0]
    assert {"name", "kind", "connected", "error", "workloads"} <= set(environment)
    assert environment["kind"] == "docker" and environment["connected"] is True
    web = _workload(document, "web", project)
    assert {"name", "group", "kind", "health", "reason", "ready", "desired", "version", "replicas"} <= set(web)
    assert web["health"] == "healthy" and web["version"] == "1"
    assert {"name", "state", "health", "restarts", "reason"} <= set(web["replicas"][0])
    assert "tok-should-not-leak-123" not in result.stdout


@pytest.mark.docker
def test_status_exits_1_when_a_workload_failed(isolated, container_factory):
    container_factory("crasher", name="boom")
    wait_for(lambda: b"Exited" in subprocess.run(["docker", "ps", "-a", "--filter", "name=boom"], capture_output=True).stdout, "crash")

    result = watchfloor("status", env=isolated)

    assert result.returncode == 1
    assert "✖ failed" in result.stdout
    assert "exited with code 3" in result.stdout


def test_status_exits_3_when_the_engine_is_unreachable(isolated):
    env = {**isolated, "DOCKER_HOST": "unix:///tmp/wf-nowhere.sock"}

    result = watchfloor("status", "--json", env=env)

    assert result.returncode == 3
    environment = json.loads(result.stdout)["environments"][0]
    assert environment["connected"] is False
    assert "wf-nowhere" in environment["error"]


def test_unknown_env_is_bad_input(isolated):
    result = watchfloor("status", "--env", "nope", env=isolated)

    assert result.returncode == 2
    assert "no environment named 'nope'" in result.stderr


def test_invalid_config_names_file_line_and_field_and_exits_2(isolated, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("environments:\n  - name: local\n    kind: docker\n    hosst: tcp://x:1\n")

    for args in (("check-config", str(config)), ("--config", str(config), "status")):
        result = watchfloor(*args, env=isolated)

        assert result.returncode == 2, args
        assert f"{config}:4" in result.stderr
        assert "hosst" in result.stderr and "host" in result.stderr


def test_check_config_accepts_a_valid_file(isolated, tmp_path):
    config = tmp_path / "good.yaml"
    config.write_text("theme: light\nenvironments:\n  - name: remote\n    kind: docker\n    host: tcp://127.0.0.1:2375\n")

    result = watchfloor("check-config", str(config), env=isolated)

    assert result.returncode == 0
    assert "remote" in result.stdout


@pytest.mark.docker
def test_logs_prints_merged_lines_neutralised_and_redacted(isolated, container_factory):
    evil = "\x1b]52;c;c2VjcmV0\x07 [bold]x[/] password=hunter2hunter2"
    container_factory(
        "logger",
        name="talker",
        labels={"watchfloor.workload": "talker"},
        entrypoint=["/bin/sh", "-c", f"printf '%s\\n' 'hello' '{evil}'; sleep 60"],
    )
    wait_for(lambda: "hello" in watchfloor("logs", "local/talker", env=isolated).stdout, "hello logged")

    result = watchfloor("logs", "local/talker", "--tail", "10", env=isolated)

    assert result.returncode == 0
    assert "hello" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[bold]x[/]" in result.stdout
    assert "hunter2hunter2" not in result.stdout


def test_logs_needs_env_slash_workload(isolated):
    result = watchfloor("logs", "justaname", env=isolated)

    assert result.returncode == 2
    assert "ENV/WORKLOAD" in result.stderr


def test_bad_since_is_bad_input(isolated):
    result = watchfloor("logs", "local/web", "--since", "yesterday", env=isolated)

    assert result.returncode == 2
    assert "not a duration" in result.stderr


@pytest.mark.docker
def test_configured_remote_engine_over_tcp_is_shown(isolated, private_dockerd, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    private_dockerd.stop()
    private_dockerd.extra_hosts = [f"tcp://127.0.0.1:{port}"]
    private_dockerd.start()
    config = tmp_path / "remote.yaml"
    config.write_text(
        f"environments:\n  - name: remote\n    kind: docker\n    host: tcp://127.0.0.1:{port}\n"
        "  - name: gone\n    kind: docker\n    host: tcp://127.0.0.1:1\n"
    )

    result = watchfloor("--config", str(config), "status", "--json", env=isolated)

    environments = {e["name"]: e for e in json.loads(result.stdout)["environments"]}
    assert environments["remote"]["connected"] is True
    assert environments["remote"]["target"] == f"tcp://127.0.0.1:{port}"
    assert environments["gone"]["connected"] is False
    assert result.returncode == 3


def test_demo_status_lists_both_demo_clusters_through_the_kubernetes_adapter(isolated):
    result = watchfloor("--demo", "status", "--json", env=isolated, timeout=120)

    environments = {e["name"]: e for e in json.loads(result.stdout)["environments"]}
    assert set(environments) == {"demo-staging", "demo-prod"}
    for environment in environments.values():
        assert environment["kind"] == "kubernetes" and environment["connected"] is True
        names = {w["name"] for w in environment["workloads"]}
        assert {"web", "api", "worker", "payments"} <= names
    versions = {name: next(w["version"] for w in e["workloads"] if w["name"] == "web") for name, e in environments.items()}
    assert versions == {"demo-staging": "1.5.0", "demo-prod": "1.4.2"}


def test_demo_logs_prints_a_pods_lines(isolated):
    result = watchfloor("--demo", "logs", "demo-prod/shop/web", "--tail", "5", env=isolated, timeout=120)

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) >= 5
