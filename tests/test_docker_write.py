"""The Docker adapter's writes against a real engine (adapters/docker_write.py).

Test images run busybox httpd with a health check every second (tests/images/web);
web:2-broken's health check always fails. Containers use ``network_mode: none`` (side
by side is possible) or the host network on a free loopback port (it is not).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from adapters.base import AdapterError, ErrorKind, LockHolder, WritableAdapter
from adapters.docker import DockerAdapter
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from tests.backends import container_health, wait_for, wait_for_health

pytestmark = pytest.mark.docker


def _environment(read_only: bool = False) -> Environment:
    return Environment(name="local", kind=EnvironmentKind.DOCKER, target="", read_only=read_only)


def _connected(read_only: bool, state_dir) -> DockerAdapter:
    adapter = DockerAdapter(_environment(read_only), state_dir=state_dir)
    adapter.connect()
    return adapter


@pytest.fixture
def adapter(docker_engine, tmp_path):
    adapter = _connected(False, tmp_path / "state")
    yield adapter
    adapter.close()


@pytest.fixture
def read_only_adapter(docker_engine, tmp_path):
    adapter = _connected(True, tmp_path / "state")
    yield adapter
    adapter.close()


class Service:
    """Containers of one workload made for a test, found afterwards by their name prefix."""

    def __init__(self, factory, engine) -> None:
        self.factory = factory
        self.engine = engine

    def run(self, image_key: str, name: str = "web", **kw):
        container = self.factory(image_key, name=name, **kw)
        return container, WorkloadKey("local", "", container.name)

    def healthy(self, image_key: str, name: str = "web", **kw):
        container, key = self.run(image_key, name, **kw)
        wait_for_health(container, "healthy", timeout=20)
        return container, key

    def containers(self) -> dict[str, object]:
        """Every container of the test by name (clones and retained ones included)."""
        found = self.engine.containers.list(all=True, filters={"name": self.factory.prefix})
        return {c.name: c for c in found}

    def remove_all(self) -> None:
        for container in self.engine.containers.list(all=True, filters={"name": self.factory.prefix}):
            container.remove(force=True, v=True)


@pytest.fixture
def service(container_factory, docker_engine):
    made = Service(container_factory, docker_engine)
    yield made
    made.remove_all()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _served_version(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/cgi-bin/metrics", timeout=5) as response:
        body = response.read().decode()
    return re.search(r'app_version_info\{version="([^"]+)"\}', body).group(1)


def _state(service) -> set[tuple[str, str, str]]:
    return {(c.id, name, c.status) for name, c in service.containers().items()}


# -- deploy ------------------------------------------------------------------------------


def test_adapter_implements_the_writable_protocol(adapter):
    assert isinstance(adapter, WritableAdapter)


def test_rolling_deploy_runs_the_new_image_healthy_and_keeps_the_old_container_stopped(adapter, service):
    old, key = service.healthy("web:1", environment={"GREETING": "hi"})
    said: list[str] = []

    result = adapter.deploy(key, service.factory.images["web:2"], change_cause="release 2", progress=said.append)

    containers = service.containers()
    new = containers[old.name]
    retained = containers[f"{old.name}-rev1"]
    assert (result.strategy, result.revision, result.from_version, result.to_version) == ("rolling", 2, "1", "2")
    assert new.id != old.id and container_health(new) == "healthy"
    assert new.labels["watchfloor.revision"] == "2"
    assert new.labels["watchfloor.change-cause"] == "release 2"
    assert new.labels["org.opencontainers.image.version"] == "2"  # the old image's label did not ride along
    assert "GREETING=hi" in new.attrs["Config"]["Env"]
    assert retained.id == old.id and retained.status == "exited"
    assert set(containers) == {old.name, f"{old.name}-rev1"}
    assert "now runs 2 (revision 2)" in result.message
    assert any("ready" in line for line in said)


def test_deploy_of_an_image_that_never_gets_healthy_removes_it_and_leaves_the_old_one_serving(adapter, service):
    old, key = service.healthy("web:1")

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(key, service.factory.images["web:2-broken"], timeout=30)

    error = caught.value
    assert error.kind is ErrorKind.BACKEND
    assert "unhealthy" in error.summary and "removed the new replicas" in error.summary
    assert "health check exit 1" in error.admin_detail
    assert set(service.containers()) == {old.name}
    assert container_health(old) == "healthy" and old.status == "running"


def test_deploy_stopped_by_the_operator_removes_the_new_replica(adapter, service):
    old, key = service.healthy("web:1")
    stop = threading.Event()

    def progress(line: str) -> None:
        if line.startswith("waiting for"):
            stop.set()

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(key, service.factory.images["web:2"], progress=progress, stop=stop)

    assert "stopped by the operator" in caught.value.summary
    assert set(service.containers()) == {old.name}
    assert container_health(old) == "healthy"


def test_auto_deploy_of_a_host_network_service_recreates_it_and_says_so(adapter, service):
    port = _free_port()
    old, key = service.healthy("web:1", network_mode="host", environment={"PORT": str(port)})

    result = adapter.deploy(key, service.factory.images["web:2"])

    assert result.strategy == "recreate"
    assert f"recreate: {old.name} uses the host network" in result.message
    assert result.detail["recreate_reason"] == f"{old.name} uses the host network"
    assert _served_version(port) == "2"
    assert service.containers()[f"{old.name}-rev1"].status == "exited"


def test_failed_recreate_puts_the_old_replica_back_serving(adapter, service):
    port = _free_port()
    old, key = service.healthy("web:1", network_mode="host", environment={"PORT": str(port)})

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(key, service.factory.images["web:2-broken"], timeout=30)

    assert "restarted the old replicas, 1 serving again" in caught.value.summary
    assert set(service.containers()) == {old.name}
    assert container_health(old) == "healthy"
    assert _served_version(port) == "1"


def test_rolling_deploy_of_a_host_network_service_is_refused_before_anything_changes(adapter, service):
    _, key = service.healthy("web:1", network_mode="host", environment={"PORT": str(_free_port())})
    before = _state(service)

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(key, service.factory.images["web:2"], strategy="rolling")

    assert caught.value.kind is ErrorKind.BAD_INPUT
    assert "uses the host network" in caught.value.summary
    assert _state(service) == before


def test_deploy_of_an_image_the_engine_cannot_get_changes_nothing(adapter, service):
    _, key = service.healthy("web:1")
    before = _state(service)

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(key, "127.0.0.1:9/watchfloor-test/missing:1")

    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert "nothing was changed" in caught.value.summary
    assert _state(service) == before


def test_deploy_without_a_health_check_waits_for_a_settled_start_and_says_so(adapter, service):
    _, key = service.run("logger", name="quiet")

    result = adapter.deploy(key, service.factory.images["logger"])

    assert "no health check" in result.message
    assert service.containers()[key.name].status == "running"


# -- rollback ------------------------------------------------------------------------------


def test_rollback_starts_the_retained_container_of_the_previous_revision(adapter, service):
    old, key = service.healthy("web:1")
    adapter.deploy(key, service.factory.images["web:2"])

    started = time.monotonic()
    result = adapter.rollback(key)
    took = time.monotonic() - started

    containers = service.containers()
    assert result.revision == 1 and result.to_version == "1" and result.detail["instant"] is True
    assert containers[old.name].id == old.id  # the very container that served before
    assert container_health(containers[old.name]) == "healthy"
    assert containers[f"{old.name}-rev2"].status == "exited"
    assert took < 10


def test_rollback_twice_goes_back_to_the_revision_that_served_last(adapter, service):
    _, key = service.healthy("web:1")
    adapter.deploy(key, service.factory.images["web:2"])
    adapter.rollback(key)

    result = adapter.rollback(key)

    assert (result.revision, result.to_version) == (2, "2")


def test_rollback_with_no_earlier_revision_is_not_found(adapter, service):
    _, key = service.healthy("web:1")

    with pytest.raises(AdapterError) as caught:
        adapter.rollback(key)

    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert "no previous revision" in caught.value.summary


def test_rollback_to_an_unknown_revision_is_not_found(adapter, service):
    _, key = service.healthy("web:1")

    with pytest.raises(AdapterError) as unknown:
        adapter.rollback(key, to_revision=7)

    assert unknown.value.kind is ErrorKind.NOT_FOUND and "known revisions: 1" in unknown.value.summary


def test_rollback_to_the_revision_already_serving_succeeds_and_changes_nothing(adapter, service):
    old, key = service.healthy("web:1")
    before = _state(service)

    result = adapter.rollback(key, to_revision=1)

    assert (result.revision, result.from_version, result.to_version) == (1, "1", "1")
    assert "already runs revision 1" in result.message
    assert _state(service) == before


def test_rollback_to_the_serving_revision_removes_the_running_replica_an_interrupted_deploy_left(adapter, service):
    old, key = service.healthy("web:1", restart_policy={"Name": "always"})
    # What a deploy cut off by an engine kill leaves once the engine restarts it: the new
    # replica, named and labelled as deploy creates it, running beside the serving one.
    leftover = service.engine.containers.run(
        service.factory.images["web:2"],
        name=f"{old.name}-rev2",
        network_mode="none",
        detach=True,
        labels={"watchfloor.workload": old.name, "watchfloor.revision": "2", "watchfloor.change-cause": ""},
        restart_policy={"Name": "always"},
    )
    assert adapter.observe(key).rollout_complete is False

    result = adapter.rollback(key, to_revision=1)

    observed = adapter.observe(key)
    assert set(service.containers()) == {old.name}
    assert service.containers()[old.name].id == old.id
    assert (observed.revision, observed.version, observed.health, observed.rollout_complete) == (
        1,
        "1",
        Health.HEALTHY,
        True,
    )
    assert (result.revision, result.to_version) == (1, "1")
    assert result.detail["leftovers_removed"] == [leftover.name]
    assert "left over from an interrupted write" in result.message


def test_rollback_to_the_serving_revision_starts_its_replica_when_the_engine_left_it_stopped(adapter, service):
    old, key = service.healthy("web:1")
    old.stop(timeout=1)

    result = adapter.rollback(key, to_revision=1)

    old.reload()
    assert old.status == "running" and container_health(old) == "healthy"
    assert result.detail["started"] == [old.id]


def test_only_two_revisions_are_retained_and_a_pruned_one_is_recreated_from_its_recorded_image(adapter, service):
    old, key = service.healthy("web:1")
    images = service.factory.images
    for image in (images["web:2"], images["web:1"], images["web:2"]):
        adapter.deploy(key, image)

    names_after_deploys = set(service.containers())
    result = adapter.rollback(key, to_revision=1)

    assert names_after_deploys == {old.name, f"{old.name}-rev3", f"{old.name}-rev2"}
    assert (result.revision, result.to_version, result.detail["instant"]) == (1, "1", False)
    serving = service.containers()[old.name]
    assert serving.labels["watchfloor.revision"] == "1"
    assert container_health(serving) == "healthy"


# -- restart, scale --------------------------------------------------------------------------


def test_restart_restarts_every_replica_one_at_a_time_and_waits_for_health(adapter, service):
    labels = {"watchfloor.workload": f"{service.factory.prefix}-pool"}
    first, _ = service.healthy("web:1", name="a", labels=labels)
    second, _ = service.healthy("web:1", name="b", labels=labels)
    key = WorkloadKey("local", "", labels["watchfloor.workload"])
    started_before = {c.id: c.attrs["State"]["StartedAt"] for c in (first, second)}
    said: list[str] = []

    result = adapter.restart(key, progress=said.append)

    for container in (first, second):
        container.reload()
        assert container.attrs["State"]["StartedAt"] != started_before[container.id]
        assert container_health(container) == "healthy"
    assert result.message.endswith("2/2 healthy")
    restarting = [line for line in said if line.startswith("restarting")]
    assert restarting == [f"restarting {first.name} (1/2)", f"restarting {second.name} (2/2)"]


def test_scale_of_a_compose_service_adds_numbered_replicas_and_removes_the_newest(
    adapter, compose_project, docker_engine
):
    project = compose_project(
        """
version: "2.4"
services:
  web:
    image: watchfloor-test/web:1
    network_mode: none
"""
    )
    key = WorkloadKey("local", project, "web")

    up = adapter.scale(key, 3)
    replicas_up = [r for r in adapter.snapshot().replicas if r.workload == key]
    down = adapter.scale(key, 1)

    numbers = sorted(dict(r.labels)["com.docker.compose.container-number"] for r in replicas_up)
    assert numbers == ["1", "2", "3"]
    assert {r.name for r in replicas_up} == {f"{project}_web_1", f"{project}_web_2", f"{project}_web_3"}
    assert all(r.health is Health.HEALTHY for r in replicas_up)
    assert "now has 3 replicas (was 1)" in up.message
    remaining = docker_engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    assert [c.name for c in remaining] == [f"{project}_web_1"]
    assert down.detail["names"] == [f"{project}_web_3", f"{project}_web_2"]


def test_scale_to_zero_is_refused(adapter, service):
    _, key = service.healthy("web:1")

    with pytest.raises(AdapterError) as caught:
        adapter.scale(key, 0)

    assert caught.value.kind is ErrorKind.BAD_INPUT


# -- history, observe ---------------------------------------------------------------------------


def test_history_lists_each_revision_with_its_image_and_change_cause(adapter, service):
    _, key = service.healthy("web:1")
    images = service.factory.images
    adapter.deploy(key, images["web:2"], change_cause="ship 2")

    history = adapter.history(key)

    assert [(r.number, r.image, r.change_cause) for r in history] == [
        (1, images["web:1"], ""),
        (2, images["web:2"], "ship 2"),
    ]
    assert history[0].created_at < history[1].created_at <= datetime.now(UTC)


def test_observe_reads_the_live_state_and_sees_a_rollout_under_way(adapter, service):
    _, key = service.healthy("web:1")
    during = []

    def progress(line: str) -> None:
        if line.startswith("waiting for"):
            during.append(adapter.observe(key))

    before = adapter.observe(key)
    adapter.deploy(key, service.factory.images["web:2"], progress=progress)
    after = adapter.observe(key)

    assert (before.exists, before.revision, before.version, before.ready, before.health) == (
        True,
        1,
        "1",
        1,
        Health.HEALTHY,
    )
    assert during[0].rollout_complete is False and during[0].health is Health.PROGRESSING
    assert (after.revision, after.version, after.desired, after.updated, after.rollout_complete) == (2, "2", 1, 1, True)


def test_observe_of_a_missing_workload_says_it_does_not_exist(adapter):
    observation = adapter.observe(WorkloadKey("local", "", "wf-test-never-was"))

    assert observation.exists is False


# -- locks, read-only ----------------------------------------------------------------------------


def _holder(run_id: str, user: str) -> LockHolder:
    host = socket.gethostname()
    return LockHolder(holder=f"{user}@{host}", run_id=run_id, pid=os.getpid(), host=host, started=datetime.now(UTC))


def test_second_operator_taking_the_lock_gets_a_conflict_naming_the_first(docker_engine, tmp_path):
    key = WorkloadKey("local", "shop", "web")
    alice, bob = _connected(False, tmp_path), _connected(False, tmp_path)
    alice.acquire_lock(key, _holder("run-a", "alice"))

    with pytest.raises(AdapterError) as caught:
        bob.acquire_lock(key, _holder("run-b", "bob"))
    broken = bob.break_lock(key)

    assert caught.value.kind is ErrorKind.CONFLICT and "alice@" in caught.value.summary
    assert broken.run_id == "run-a"
    assert alice.lock_holder(key) is None
    assert (tmp_path / "locks").is_dir()


_VERBS = {
    "deploy": lambda a, key: a.deploy(key, "watchfloor-test/web:2"),
    "rollback": lambda a, key: a.rollback(key),
    "restart": lambda a, key: a.restart(key),
    "scale": lambda a, key: a.scale(key, 2),
    "acquire_lock": lambda a, key: a.acquire_lock(key, _holder("run-x", "x")),
    "break_lock": lambda a, key: a.break_lock(key),
}


@pytest.mark.parametrize("verb", sorted(_VERBS))
def test_every_write_is_refused_on_a_read_only_environment_before_the_engine_changes(
    verb, read_only_adapter, service, tmp_path
):
    _, key = service.run("web:1")
    before = _state(service)

    with pytest.raises(AdapterError) as caught:
        _VERBS[verb](read_only_adapter, key)

    assert caught.value.kind is ErrorKind.READ_ONLY
    assert "read-only" in caught.value.summary
    assert _state(service) == before
    assert not (tmp_path / "state" / "locks").exists()


def test_deploy_of_a_compose_service_keeps_its_compose_name_and_labels(adapter, compose_project):
    project = compose_project(
        """
version: "2.4"
services:
  web:
    image: watchfloor-test/web:1
    network_mode: none
"""
    )
    key = WorkloadKey("local", project, "web")
    wait_for(lambda: adapter.observe(key).ready == 1, "the compose service to be healthy", timeout=20)

    result = adapter.deploy(key, "watchfloor-test/web:2")

    serving = [r for r in adapter.snapshot().replicas if r.workload == key and r.state == "running"]
    assert result.revision == 2
    assert [(r.name, r.version) for r in serving] == [(f"{project}_web_1", "2")]
    labels = dict(serving[0].labels)
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.service"] == "web"


def test_deploy_that_times_out_removes_the_new_replica_and_says_which_one(adapter, service):
    old, key = service.healthy("web:1")

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(key, service.factory.images["web:2"], timeout=0.3)

    assert f"{old.name}-rev2 not ready before the timeout" in caught.value.summary
    assert set(service.containers()) == {old.name}


def test_retained_container_has_restart_policy_no_until_a_rollback_gives_its_policy_back(adapter, service):
    old, key = service.healthy("web:1", restart_policy={"Name": "unless-stopped"})

    adapter.deploy(key, service.factory.images["web:2"])
    retained_policy = service.containers()[f"{old.name}-rev1"].attrs["HostConfig"]["RestartPolicy"]["Name"]
    serving_policy = service.containers()[old.name].attrs["HostConfig"]["RestartPolicy"]["Name"]
    adapter.rollback(key)

    old.reload()
    assert (retained_policy, serving_policy) == ("no", "unless-stopped")
    assert old.name.endswith("web") and old.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_after_a_deploy_the_kept_container_is_no_replica_of_anything(adapter, service, test_images):
    _old, key = service.healthy("web:1", network_mode="none")
    adapter.deploy(key, test_images["web:2"], timeout=60)

    snapshot = adapter.snapshot(detailed=True)

    mine = [r for r in snapshot.replicas if r.name.startswith(service.factory.prefix)]
    assert {r.workload for r in mine} == {key}, "no web-rev1 workload"
    assert [r.health for r in mine] == [Health.HEALTHY], "the stopped one does not make web degraded"
    assert any(name.endswith("-rev1") for name in service.containers()), "it is still kept for rollback"
