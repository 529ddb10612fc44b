"""The Docker adapter and watcher against a real engine (Debian docker.io, FROM scratch images)."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.base import AdapterError, ErrorKind, StopSignal
from adapters.docker import DockerAdapter
from console.log_feed import LogRequest, open_feed
from console.model import Environment, EnvironmentKind, Health, Stream, WorkloadKey
from console.store import Store
from console.watcher import Backoff, StatsManager, watch_environment
from tests.backends import wait_for, wait_for_health

pytestmark = pytest.mark.docker


def _environment(name: str = "local", target: str = "") -> Environment:
    return Environment(name=name, kind=EnvironmentKind.DOCKER, target=target)


@pytest.fixture
def adapter(docker_engine):
    adapter = DockerAdapter(_environment())
    adapter.connect()
    yield adapter
    adapter.close()


class Watching:
    """A store fed by a real watch loop in a thread, stopped at teardown."""

    def __init__(self, host: str | None = None, *, backoff: Backoff | None = None) -> None:
        self.environment = _environment(target=host or "")
        self.store = Store([self.environment])
        self.stop = StopSignal()
        self.adapter = DockerAdapter(self.environment, host=host)
        self.thread = threading.Thread(
            target=watch_environment,
            args=(self.adapter, self.store, self.stop),
            kwargs={"backoff": backoff or Backoff(0.2, 1.0)},
            daemon=True,
        )
        self.thread.start()

    def workload(self, key: WorkloadKey):
        return self.store.workload(key)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def watching(docker_engine):
    made: list[Watching] = []

    def start(host: str | None = None, **kw) -> Watching:
        watcher = Watching(host, **kw)
        made.append(watcher)
        return watcher

    yield start
    for watcher in made:
        watcher.close()


def _key_of(container, env: str = "local") -> WorkloadKey:
    name = container.name
    return WorkloadKey(env, "", name)


def test_compose_services_are_grouped_by_project_and_service(adapter, compose_project):
    project = compose_project(
        """
version: "2.4"
services:
  web:
    image: watchfloor-test/web:1
    network_mode: none
    scale: 2
  worker:
    image: watchfloor-test/logger
    network_mode: none
    environment: {RATE: "1"}
"""
    )

    snapshot = adapter.snapshot()

    groups = {}
    for replica in snapshot.replicas:
        if replica.workload.group == project:
            groups.setdefault(replica.workload.name, []).append(replica.name)
    assert sorted(groups) == ["web", "worker"]
    assert len(groups["web"]) == 2
    assert dict(snapshot.kinds)[WorkloadKey("local", project, "web")] == "service"


def test_plain_containers_group_by_workload_label_or_name(adapter, container_factory):
    labelled = [container_factory("logger", name=f"q{i}", labels={"watchfloor.workload": "queue"}) for i in (1, 2)]
    plain = container_factory("logger", name="solo")

    snapshot = adapter.snapshot()

    keys = {r.name: r.workload for r in snapshot.replicas}
    assert {keys[c.name] for c in labelled} == {WorkloadKey("local", "", "queue")}
    assert keys[plain.name] == WorkloadKey("local", "", plain.name)


def test_version_comes_from_the_image_version_label(adapter, container_factory):
    web = container_factory("web:2")

    replica = next(r for r in adapter.snapshot().replicas if r.id == web.id)

    assert replica.version == "2"


def test_crashed_container_is_failed_with_its_exit_code(adapter, container_factory):
    crasher = container_factory("crasher", environment={"EXIT_CODE": "7"})
    wait_for(lambda: crasher.reload() or crasher.status == "exited", "crasher to exit")

    replica = adapter.inspect(crasher.id)

    assert replica.health is Health.FAILED
    assert replica.exit_code == 7
    assert "exited with code 7" in replica.reason


def test_oom_killed_container_says_oomkilled(adapter, container_factory):
    hog = container_factory(
        "logger",
        name="hog",
        mem_limit="16m",
        memswap_limit="16m",
        entrypoint=["/bin/sh", "-c", "head -c 200000000 /dev/zero | tail > /dev/null"],
    )
    wait_for(lambda: hog.reload() or hog.status == "exited", "memory hog to be killed", timeout=30)

    replica = adapter.inspect(hog.id)

    assert replica.health is Health.FAILED
    assert replica.reason == "OOMKilled"


def test_unhealthy_container_is_degraded_within_two_seconds_of_docker_saying_so(watching, container_factory):
    web = container_factory("web:1", name="web")
    wait_for_health(web, "healthy", timeout=20)
    watcher = watching()
    key = _key_of(web)
    wait_for(lambda: (w := watcher.workload(key)) and w.health is Health.HEALTHY, "workload healthy in the store")

    web.exec_run(["/bin/touch", "/tmp/unhealthy"])
    wait_for_health(web, "unhealthy", timeout=20, )
    docker_said = time.monotonic()
    wait_for(
        lambda: (w := watcher.workload(key)) and w.health is Health.DEGRADED,
        "workload degraded in the store",
        timeout=2.0,
        interval=0.02,
    )

    assert time.monotonic() - docker_said < 2.0
    assert "unhealthy" in watcher.workload(key).reason


def test_removed_container_disappears_and_new_one_appears(watching, container_factory, docker_engine):
    watcher = watching()
    wait_for(lambda: watcher.store.connection("local").connected, "connected")
    fresh = container_factory("logger", name="fresh")
    key = _key_of(fresh)
    wait_for(lambda: watcher.workload(key) is not None, "new container in the store")

    fresh.remove(force=True)

    wait_for(lambda: watcher.workload(key) is None, "removed container gone from the store")


def test_logs_tell_stdout_from_stderr(container_factory):
    logger = container_factory("logger", environment={"RATE": "0", "COUNT": "30", "STDERR_EVERY": "10"})
    adapter = DockerAdapter(_environment())
    replica_seen = []

    def replicas():
        adapter.connect()
        found = [r for r in adapter.snapshot().replicas if r.id == logger.id]
        adapter.close()
        return found

    replica_seen = wait_for(replicas, "logger replica")
    wait_for(lambda: logger.logs().count(b"\n") >= 30 or None, "30 lines logged")

    feed = open_feed(lambda: DockerAdapter(_environment()), replica_seen, LogRequest(follow=False, tail=None))
    wait_for(lambda: feed.status().ended or None, "log stream to end")
    lines = feed.take()

    assert len(lines) == 30
    assert [line.stream for line in lines].count(Stream.STDERR) == 3
    assert all(line.ts is not None for line in lines)
    assert lines[0].text.startswith("line 1")


def test_follow_stream_of_a_vanishing_container_just_ends(container_factory):
    logger = container_factory("logger", environment={"RATE": "20"})
    adapter = DockerAdapter(_environment())
    adapter.connect()
    replica = next(r for r in adapter.snapshot().replicas if r.id == logger.id)
    adapter.close()
    feed = open_feed(lambda: DockerAdapter(_environment()), [replica], LogRequest(follow=True, tail=0))
    wait_for(lambda: feed.take() or None, "some followed lines")

    logger.remove(force=True)

    status = wait_for(lambda: (s := feed.status()).ended and s, "stream to end after removal")
    assert status.errors == ()


def test_stats_stream_produces_cpu_and_memory_samples(watching, container_factory):
    logger = container_factory("logger", name="busy", environment={"RATE": "50"})
    watcher = watching()
    key = _key_of(logger)
    wait_for(lambda: watcher.workload(key), "workload in store")
    manager = StatsManager("local", lambda: DockerAdapter(watcher.environment), watcher.store)
    stop = StopSignal()
    thread = threading.Thread(target=manager.run, args=(stop,), daemon=True)
    thread.start()
    try:
        cpu, memory = wait_for(
            lambda: u if None not in (u := watcher.store.workload_usage(key)) else None,
            "cpu and memory samples",
            timeout=15,
        )
    finally:
        stop.set()
        thread.join(5)

    assert cpu >= 0.0
    assert memory > 0


def test_unreachable_engine_raises_a_typed_error():
    adapter = DockerAdapter(_environment(), host="unix:///tmp/wf-no-such-engine.sock")

    with pytest.raises(AdapterError) as caught:
        adapter.connect()

    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert "wf-no-such-engine" in caught.value.summary


def test_engine_down_at_start_then_up_shows_data_without_restart(watching, private_dockerd, test_images):
    private_dockerd.load_image(test_images["logger"])
    private_dockerd.stop()
    watcher = watching(private_dockerd.host)

    down = wait_for(
        lambda: (c := watcher.store.connection("local")).error and c, "disconnected state", timeout=10
    )
    assert not down.connected and down.retry_at is not None

    private_dockerd.start()
    client = private_dockerd.client()
    container = client.containers.run(test_images["logger"], name="late", network_mode="none", detach=True)

    wait_for(lambda: watcher.store.connection("local").connected, "reconnected", timeout=20)
    wait_for(lambda: watcher.workload(WorkloadKey("local", "", "late")), "data after the engine came up", timeout=10)
    container.remove(force=True)


def test_engine_killed_while_watching_is_a_state_and_recovers(watching, private_dockerd, test_images):
    private_dockerd.load_image(test_images["logger"])
    client = private_dockerd.client()
    client.containers.run(test_images["logger"], name="survivor", network_mode="none", detach=True, restart_policy={"Name": "always"})
    watcher = watching(private_dockerd.host)
    key = WorkloadKey("local", "", "survivor")
    wait_for(lambda: watcher.workload(key), "container seen")

    private_dockerd.kill()
    lost = wait_for(lambda: (c := watcher.store.connection("local")) and not c.connected and c, "disconnected", timeout=10)
    assert lost.since is not None
    assert watcher.workload(key) is not None, "last known state is kept while disconnected"

    private_dockerd.start()
    wait_for(lambda: watcher.store.connection("local").connected, "reconnected", timeout=30)
    wait_for(lambda: (w := watcher.workload(key)) and w.health is Health.HEALTHY, "running again", timeout=30)
