"""The backend fixtures work: images build and behave, Compose labels, a private dockerd survives a crash."""

from __future__ import annotations

import re
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from tests.backends import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    TEST_LABEL,
    VERSION_LABEL,
    ComposeProjects,
    ContainerFactory,
    PrivateDockerd,
    build_test_images,
    container_health,
    wait_for,
    wait_for_health,
)

pytestmark = pytest.mark.docker


def http_get(container: Container, path: str, port: int = 8080) -> tuple[int, str]:
    """GET a path inside the container's own network namespace; returns (wget exit code, output)."""
    exit_code, output = container.exec_run(["wget", "-q", "-O", "-", f"http://127.0.0.1:{port}{path}"])
    return exit_code, output.decode()


def metric(text: str, name: str) -> float:
    """The value of one sample, e.g. ``http_requests_total{code="200"}``, in Prometheus text format."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics:\n{text}"
    return float(match.group(1))


def log_lines(container: Container, stdout: bool = True, stderr: bool = True) -> list[str]:
    return container.logs(stdout=stdout, stderr=stderr).decode().splitlines()


# ----------------------------------------------------------------------------- images


def test_images_are_tagged_and_carry_their_version_label(
    docker_engine: docker.DockerClient, test_images: dict[str, str]
) -> None:
    expected = {
        "web:1": "watchfloor-test/web:1",
        "web:2": "watchfloor-test/web:2",
        "web:2-broken": "watchfloor-test/web:2-broken",
        "web:3-errors": "watchfloor-test/web:3-errors",
        "logger": "watchfloor-test/logger:latest",
        "crasher": "watchfloor-test/crasher:latest",
    }

    web_keys = ("web:1", "web:2", "web:2-broken", "web:3-errors")
    versions = {key: docker_engine.images.get(test_images[key]).labels.get(VERSION_LABEL) for key in web_keys}

    assert test_images == expected
    assert versions == {"web:1": "1", "web:2": "2", "web:2-broken": "2-broken", "web:3-errors": "3-errors"}


def test_images_are_reused_when_their_context_is_unchanged(
    docker_engine: docker.DockerClient, test_images: dict[str, str]
) -> None:
    ids_before = {key: docker_engine.images.get(tag).id for key, tag in test_images.items()}

    build_test_images(docker_engine)

    ids_after = {key: docker_engine.images.get(tag).id for key, tag in test_images.items()}
    assert ids_after == ids_before


# -------------------------------------------------------------------------------- web


def test_web_becomes_healthy_and_its_health_endpoint_answers_ok(container_factory: ContainerFactory) -> None:
    web = container_factory("web:1")

    wait_for_health(web, "healthy", timeout=10)

    assert http_get(web, "/cgi-bin/health") == (0, "ok\n")


def test_web_health_check_follows_the_port_from_env(container_factory: ContainerFactory) -> None:
    web = container_factory("web:2", environment={"PORT": "9191"})

    wait_for_health(web, "healthy", timeout=10)

    assert http_get(web, "/cgi-bin/health", port=9191) == (0, "ok\n")


def test_web_becomes_unhealthy_when_tmp_unhealthy_is_touched(container_factory: ContainerFactory) -> None:
    web = container_factory("web:1")
    wait_for_health(web, "healthy", timeout=10)

    touched = web.exec_run(["touch", "/tmp/unhealthy"])

    assert touched.exit_code == 0, touched.output
    wait_for_health(web, "unhealthy", timeout=10)


def test_web_health_endpoint_answers_500_when_fail_health_is_set(container_factory: ContainerFactory) -> None:
    web = container_factory("web:1", environment={"FAIL_HEALTH": "1"})

    exit_code, output = wait_for(lambda: _answered(http_get(web, "/cgi-bin/health")), "httpd to answer")

    assert exit_code != 0
    assert "500" in output


def test_broken_web_image_never_becomes_healthy(container_factory: ContainerFactory) -> None:
    web = container_factory("web:2-broken", environment={"FAIL_HEALTH": "0"})
    seen: list[str | None] = []

    def unhealthy() -> bool:
        seen.append(container_health(web))
        return seen[-1] == "unhealthy"

    wait_for(unhealthy, "web:2-broken to be reported unhealthy", timeout=10, interval=0.2)

    assert "healthy" not in seen
    exit_code, output = http_get(web, "/cgi-bin/health")
    assert exit_code != 0 and "500" in output


def test_web_error_rate_fails_that_share_of_work_and_metrics_count_it(container_factory: ContainerFactory) -> None:
    web = container_factory("web:1", environment={"ERROR_RATE": "25"})
    wait_for(lambda: _answered(http_get(web, "/cgi-bin/health")), "httpd to answer")

    results = [http_get(web, "/cgi-bin/work")[0] for _ in range(8)]

    assert results.count(0) == 6, results
    exit_code, metrics = http_get(web, "/cgi-bin/metrics")
    assert exit_code == 0, metrics
    assert metric(metrics, 'http_requests_total{code="200"}') == 6
    assert metric(metrics, 'http_requests_total{code="500"}') == 2
    assert metric(metrics, "http_request_duration_seconds_count") == 8
    assert metric(metrics, 'http_request_duration_seconds_bucket{le="+Inf"}') == 8
    assert metric(metrics, 'app_version_info{version="1"}') == 1


def test_web_logs_one_stdout_line_per_request(container_factory: ContainerFactory) -> None:
    web = container_factory("web:1")
    wait_for(lambda: _answered(http_get(web, "/cgi-bin/health")), "httpd to answer")

    for _ in range(3):
        http_get(web, "/cgi-bin/work")
    http_get(web, "/cgi-bin/metrics")

    stdout = log_lines(web, stderr=False)
    assert sum(line.endswith("response:200 GET /cgi-bin/work") for line in stdout) == 3, stdout
    assert sum(line.endswith("response:200 GET /cgi-bin/metrics") for line in stdout) == 1, stdout
    assert log_lines(web, stdout=False) == []


def _answered(result: tuple[int, str]) -> tuple[int, str] | None:
    """The wget result once httpd answered at all (a refused connection means it is still starting)."""
    exit_code, output = result
    return None if exit_code != 0 and "refused" in output else result


# ----------------------------------------------------------------------------- logger


def test_logger_writes_numbered_lines_in_order_with_every_nth_on_stderr(container_factory: ContainerFactory) -> None:
    logger = container_factory("logger", environment={"RATE": "20", "COUNT": "20", "STDERR_EVERY": "5", "TEXT": "hi"})

    wait_for(lambda: len(log_lines(logger)) >= 20, "20 log lines", timeout=10)

    assert log_lines(logger) == [f"line {n} hi" for n in range(1, 21)]
    assert log_lines(logger, stdout=False) == [f"line {n} hi" for n in (5, 10, 15, 20)]
    assert log_lines(logger, stderr=False) == [f"line {n} hi" for n in range(1, 21) if n % 5]
    logger.reload()
    assert logger.status == "running"  # idles after COUNT lines instead of exiting


def test_logger_with_rate_zero_writes_as_fast_as_it_can(container_factory: ContainerFactory) -> None:
    logger = container_factory("logger", environment={"RATE": "0", "COUNT": "5000", "STDERR_EVERY": "0"})

    stdout = wait_for(lambda: len(lines := log_lines(logger)) >= 5000 and lines, "5000 log lines", timeout=5)

    assert stdout[0] == "line 1 hello from logger"
    assert stdout[-1] == "line 5000 hello from logger"


# ---------------------------------------------------------------------------- crasher


def test_crasher_prints_its_fatal_message_and_exits_with_the_configured_code(
    container_factory: ContainerFactory,
) -> None:
    crasher = container_factory("crasher", environment={"EXIT_CODE": "7", "MESSAGE": "disk on fire"})

    result = crasher.wait(timeout=10)

    assert result["StatusCode"] == 7
    assert log_lines(crasher, stdout=False) == ["starting", "fatal: disk on fire"]
    assert log_lines(crasher, stderr=False) == []


def test_crasher_exits_with_code_3_by_default(container_factory: ContainerFactory) -> None:
    crasher = container_factory("crasher")

    result = crasher.wait(timeout=10)

    assert result["StatusCode"] == 3


# ------------------------------------------------------------------ container_factory


def test_container_factory_names_labels_and_removes_its_containers(
    docker_engine: docker.DockerClient, container_factory: ContainerFactory
) -> None:
    logger = container_factory("logger", name="tail", labels={"team": "ops"}, environment={"RATE": "1"})

    assert logger.name == f"{container_factory.prefix}-tail"
    assert logger.name.startswith("wf-test-")
    assert logger.labels[TEST_LABEL] == "1"
    assert logger.labels["team"] == "ops"
    assert logger.attrs["HostConfig"]["NetworkMode"] == "none"

    container_factory.remove_all()

    with pytest.raises(docker.errors.NotFound):
        docker_engine.containers.get(logger.id)


# -------------------------------------------------------------------- compose_project

COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    image: watchfloor-test/web:1
    network_mode: none
  logger:
    image: watchfloor-test/logger:latest
    network_mode: none
    environment:
      RATE: "1"
"""

COMPOSE_FILE_ONE_SERVICE = """\
version: "2.4"
services:
  logger:
    image: watchfloor-test/logger:latest
    network_mode: none
"""


def test_compose_project_containers_carry_project_and_service_labels(
    docker_engine: docker.DockerClient, compose_project: ComposeProjects
) -> None:
    project = compose_project(COMPOSE_FILE)

    containers = docker_engine.containers.list(filters={"label": f"{COMPOSE_PROJECT_LABEL}={project}"})

    assert project.startswith("wf-test-")
    assert sorted(c.labels[COMPOSE_SERVICE_LABEL] for c in containers) == ["logger", "web"]
    web = next(c for c in containers if c.labels[COMPOSE_SERVICE_LABEL] == "web")
    wait_for_health(web, "healthy", timeout=10)  # the image's HEALTHCHECK works under Compose


def test_compose_project_down_removes_its_containers(
    docker_engine: docker.DockerClient, compose_project: ComposeProjects
) -> None:
    project = compose_project(COMPOSE_FILE_ONE_SERVICE)

    compose_project.down(project)

    left = docker_engine.containers.list(all=True, filters={"label": f"{COMPOSE_PROJECT_LABEL}={project}"})
    assert left == []


# -------------------------------------------------------------------- private_dockerd


def test_private_dockerd_answers_again_after_a_kill_and_a_start(private_dockerd: PrivateDockerd) -> None:
    assert private_dockerd.answers()

    private_dockerd.kill()
    answered_while_down = private_dockerd.answers()
    private_dockerd.start()

    assert not answered_while_down
    assert private_dockerd.answers()


def test_private_dockerd_runs_loaded_images_and_keeps_them_across_a_restart(
    private_dockerd: PrivateDockerd, test_images: dict[str, str]
) -> None:
    private_dockerd.load_image(test_images["logger"])
    private_dockerd.stop()
    private_dockerd.start()
    client = private_dockerd.client()

    try:
        logger = client.containers.run(
            test_images["logger"], environment={"RATE": "0", "COUNT": "3"}, network_mode="none", detach=True
        )
        lines = wait_for(lambda: len(found := log_lines(logger)) >= 3 and found, "3 log lines on the private dockerd")
    finally:
        client.close()

    assert lines == [f"line {n} hello from logger" for n in (1, 2, 3)]


def test_private_dockerd_close_after_a_kill_leaves_no_process_mount_or_directory(
    private_dockerd: PrivateDockerd, test_images: dict[str, str]
) -> None:
    private_dockerd.load_image(test_images["logger"])
    client = private_dockerd.client()
    try:
        client.containers.run(test_images["logger"], network_mode="none", detach=True)
    finally:
        client.close()
    private_dockerd.kill()

    private_dockerd.close()

    root = str(private_dockerd.root)
    assert not private_dockerd.root.exists()
    assert root not in Path("/proc/self/mountinfo").read_text()
    assert [pid for pid in _pids() if root.encode() in _cmdline(pid)] == []


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
