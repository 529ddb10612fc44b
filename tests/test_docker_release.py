"""Canary and blue-green releases on a real Docker engine (adapters/docker_release.py).

Compose projects come from the real ``docker-compose`` (tests/backends.py); the web test
image has a health check every second, web:2-broken never passes it, web:3-errors
answers 500 to every ``/cgi-bin/work``. Services use ``network_mode: none`` (each
replica its own loopback, so sets run side by side), a Compose network (for the
blue-green aliases), or the host network with ``PORT=auto`` where Prometheus scrapes them.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from adapters.base import AdapterError, ErrorKind, ReleaseAdapter
from adapters.docker import DockerAdapter
from adapters.prometheus import PrometheusSource
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from tests.backends import wait_for
from tests.prometheus_backend import free_port, prometheus, scraped_web  # noqa: F401 - fixtures

pytestmark = pytest.mark.docker

WEB1 = "watchfloor-test/web:1"
WEB2 = "watchfloor-test/web:2"
BROKEN = "watchfloor-test/web:2-broken"
ERRORS = "watchfloor-test/web:3-errors"


def _adapter(tmp_path, read_only: bool = False) -> DockerAdapter:
    environment = Environment(name="local", kind=EnvironmentKind.DOCKER, target="", read_only=read_only)
    adapter = DockerAdapter(environment, state_dir=tmp_path / "state")
    adapter.connect()
    return adapter


@pytest.fixture
def adapter(docker_engine, tmp_path):
    adapter = _adapter(tmp_path)
    yield adapter
    adapter.close()


@pytest.fixture
def read_only_adapter(docker_engine, tmp_path):
    adapter = _adapter(tmp_path, read_only=True)
    yield adapter
    adapter.close()


class Stack:
    """One Compose project with one service ``web``, and what its containers look like."""

    def __init__(self, compose_project, engine, adapter) -> None:
        self.compose_project = compose_project
        self.engine = engine
        self.adapter = adapter
        self.project = ""

    def up(
        self, replicas: int = 2, *, image: str = WEB1, network: str = "network_mode: none", extra: str = ""
    ) -> WorkloadKey:
        self.project = self.compose_project(
            f"""
version: "2.4"
services:
  web:
    image: {image}
    {network}
    scale: {replicas}
{extra}"""
        )
        key = WorkloadKey("local", self.project, "web")
        wait_for(lambda: self.adapter.observe(key).ready == replicas, f"{replicas} healthy web replicas", timeout=60)
        return key

    def containers(self) -> list:
        found = self.engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={self.project}"})
        return sorted(found, key=lambda c: c.name)

    def state(self) -> set[tuple[str, str, str]]:
        return {(c.id, c.name, c.status) for c in self.containers()}

    def serving(self) -> dict[str, object]:
        """Running containers that are not canaries, by name."""
        return {
            c.name: c
            for c in self.containers()
            if c.status == "running" and c.labels.get("watchfloor.track") != "canary"
        }

    def canaries(self) -> list:
        return [c for c in self.containers() if c.labels.get("watchfloor.track") == "canary"]


@pytest.fixture
def stack(compose_project, docker_engine, adapter):
    return Stack(compose_project, docker_engine, adapter)


def _aliases(container, network: str) -> set[str]:
    container.reload()
    return set(container.attrs["NetworkSettings"]["Networks"][network].get("Aliases") or [])


def test_adapter_implements_the_release_protocol(adapter):
    assert isinstance(adapter, ReleaseAdapter)


# -- canary ------------------------------------------------------------------------------


def test_canary_at_25_percent_beside_3_stable_is_1_healthy_labelled_replica_of_the_same_workload(adapter, stack):
    key = stack.up(replicas=3)
    stable_before = stack.state()

    result = adapter.canary_start(key, WEB2, 25, change_cause="try 2")

    [canary] = stack.canaries()
    assert result.message == "canary 2: 1 of 4 replicas = 25 %, asked 25 %"
    assert (result.detail["weight"], result.detail["asked_weight"]) == (25, 25)
    assert canary.name == f"{stack.project}-web-canary-1"
    assert canary.attrs["State"]["Health"]["Status"] == "healthy"
    assert canary.labels["com.docker.compose.project"] == stack.project
    assert canary.labels["com.docker.compose.service"] == "web"
    assert canary.labels["watchfloor.change-cause"] == "try 2"
    assert stable_before <= stack.state(), "the stable replicas are untouched"
    in_workload = [r for r in adapter.snapshot().replicas if r.workload == key]
    assert sorted(r.name for r in in_workload) == [c.name for c in stack.containers()]
    assert len(in_workload) == 4


def test_during_a_canary_observe_describes_the_stable_set_and_release_state_the_canary(adapter, stack):
    key = stack.up(replicas=3)
    adapter.canary_start(key, WEB2, 25)

    observed = adapter.observe(key)
    state = adapter.release_state(key)

    assert (observed.version, observed.desired, observed.ready) == ("1", 3, 3)
    assert observed.health is Health.HEALTHY and observed.rollout_complete
    assert "canary 2: 1 of 4 replicas (25 %)" in observed.reason
    assert (state.kind, state.stable_replicas, state.new_replicas, state.new_ready) == ("canary", 3, 1, 1)
    assert state.weight == 25
    assert (state.stable_image, state.new_image) == (WEB1, WEB2)
    assert state.message == "canary 2: 1 of 4 replicas (25 %), 1 ready"


def test_set_weight_adds_canaries_up_and_removes_the_newest_down_saying_what_was_achieved(adapter, stack):
    key = stack.up(replicas=3)
    first = adapter.canary_start(key, WEB2, 25).detail["started"][0]

    up = adapter.canary_set_weight(key, 40)
    ids_up = {c.id for c in stack.canaries()}
    down = adapter.canary_set_weight(key, 10)

    assert up.message == "canary 2: 2 of 5 replicas = 40 %, asked 40 %"
    assert len(ids_up) == 2 and first in ids_up
    assert down.message == "canary 2: 1 of 4 replicas = 25 %, asked 10 %"
    assert [c.id for c in stack.canaries()] == [first], "the newest canary went first"
    assert down.detail["removed"] == [i for i in ids_up if i != first]


def test_promote_rolls_every_stable_replica_to_the_canary_image_and_removes_the_canary(adapter, stack):
    key = stack.up(replicas=2)
    adapter.canary_start(key, WEB2, 34, change_cause="release 2")

    result = adapter.canary_promote(key)

    serving = [r for r in adapter.snapshot().replicas if r.workload == key]
    assert sorted(r.name for r in serving) == [f"{stack.project}_web_1", f"{stack.project}_web_2"]
    assert {r.image for r in serving} == {WEB2} and all(r.health is Health.HEALTHY for r in serving)
    assert stack.canaries() == []
    assert (result.from_version, result.to_version, result.revision, result.strategy) == ("1", "2", 2, "rolling")
    assert len(result.detail["canary_removed"]) == 1
    assert adapter.history(key)[-1].change_cause == "release 2"
    assert adapter.release_state(key).kind == ""


def test_abort_removes_the_canaries_and_leaves_the_stable_replicas_untouched(adapter, stack):
    key = stack.up(replicas=2)
    stable = {c.id: c.attrs["State"]["StartedAt"] for c in stack.containers()}
    adapter.canary_start(key, WEB2, 50)

    result = adapter.canary_abort(key)
    again = adapter.canary_abort(key)

    assert {c.id: c.attrs["State"]["StartedAt"] for c in stack.containers()} == stable
    assert all(c.status == "running" for c in stack.containers())
    assert result.message == f"canary 2 aborted: removed 2 canary replica(s); 2 stable replica(s) of 1 untouched"
    assert again.message == f"{key.label} has no canary: nothing to abort" and again.detail["removed"] == []


def test_canary_of_an_image_that_never_gets_healthy_fails_and_leaves_nothing_behind(adapter, stack):
    key = stack.up(replicas=2)
    before = stack.state()

    with pytest.raises(AdapterError) as caught:
        adapter.canary_start(key, BROKEN, 50, timeout=30)

    assert caught.value.kind is ErrorKind.BACKEND
    assert "unhealthy" in caught.value.summary and "removed the new canary replicas" in caught.value.summary
    assert "2 stable replica(s) of 1" in caught.value.summary
    assert stack.state() == before
    assert adapter.release_state(key).kind == ""


def test_canary_start_stopped_by_the_operator_removes_the_canaries_it_started(adapter, stack):
    key = stack.up(replicas=1)
    before = stack.state()
    stop = threading.Event()

    def progress(line: str) -> None:
        if line.startswith("waiting for"):
            stop.set()

    with pytest.raises(AdapterError) as caught:
        adapter.canary_start(key, WEB2, 50, progress=progress, stop=stop)

    assert "stopped by the operator" in caught.value.summary
    assert stack.state() == before


def test_set_weight_promote_of_no_canary_is_a_conflict_and_a_weight_outside_1_to_100_bad_input(adapter, stack):
    key = stack.up(replicas=1)

    with pytest.raises(AdapterError) as no_canary:
        adapter.canary_set_weight(key, 50)
    with pytest.raises(AdapterError) as no_promote:
        adapter.canary_promote(key)
    with pytest.raises(AdapterError) as zero:
        adapter.canary_start(key, WEB2, 0)

    assert no_canary.value.kind is ErrorKind.CONFLICT and no_promote.value.kind is ErrorKind.CONFLICT
    assert zero.value.kind is ErrorKind.BAD_INPUT and "abort" in zero.value.summary


def test_a_plain_deploy_during_a_canary_rolls_the_stable_replicas_and_leaves_the_canary(adapter, stack):
    key = stack.up(replicas=1)
    adapter.canary_start(key, WEB2, 50)
    [canary] = stack.canaries()

    adapter.deploy(key, ERRORS, change_cause="hotfix")

    assert [c.id for c in stack.canaries()] == [canary.id]
    assert [c.attrs["Config"]["Image"] for c in stack.serving().values()] == [ERRORS]


# -- blue-green --------------------------------------------------------------------------

# A Compose network, so the idle colour's missing service alias can be seen.
ON_A_NETWORK = "networks: [front]"
NETWORK = "networks:\n  front: {}\n"


def test_bluegreen_deploy_runs_the_idle_colour_healthy_beside_live_without_the_service_alias(adapter, stack):
    key = stack.up(replicas=2, network=ON_A_NETWORK, extra=NETWORK)
    live = {c.name: c.id for c in stack.containers()}

    result = adapter.bluegreen_deploy(key, WEB2, change_cause="release 2")

    green = [c for c in stack.containers() if c.labels.get("watchfloor.color") == "green"]
    network = f"{stack.project}_front"
    assert sorted(c.name for c in green) == sorted(f"{name}-rev2" for name in live)
    assert all(c.attrs["State"]["Health"]["Status"] == "healthy" for c in green)
    assert all("web" not in _aliases(c, network) for c in green)
    assert all("web" in _aliases(c, network) for c in stack.containers() if c.name in live)
    assert {c.name: c.id for c in stack.containers() if c.name in live} == live
    assert result.message.startswith("green 2 deployed beside live blue 1: 2/2 healthy")
    state = adapter.release_state(key)
    assert (state.kind, state.phase, state.live, state.idle_scaled_up, state.new_ready) == (
        "blue-green",
        "deployed",
        "blue",
        True,
        2,
    )
    assert adapter.observe(key).desired == 2, "observe describes the live colour"


def test_bluegreen_abort_removes_the_idle_colour_and_leaves_live_untouched(adapter, stack):
    key = stack.up(replicas=1)
    before = stack.state()
    adapter.bluegreen_deploy(key, WEB2)

    result = adapter.bluegreen_abort(key)
    again = adapter.bluegreen_abort(key)

    assert stack.state() == before
    assert result.message == "green 2 aborted: removed 1 green container(s); live blue 1 untouched"
    assert "nothing to abort" in again.message
    assert adapter.release_state(key).kind == ""


def test_bluegreen_switch_makes_the_new_colour_live_and_keeps_the_old_one_stopped_and_hidden(adapter, stack):
    key = stack.up(replicas=2, network=ON_A_NETWORK, extra=NETWORK)
    blue = {c.name: c.id for c in stack.containers()}
    green = adapter.bluegreen_deploy(key, WEB2).detail["started"]

    result = adapter.bluegreen_switch(key)

    serving = stack.serving()
    assert sorted(serving) == sorted(blue)
    assert sorted(c.id for c in serving.values()) == sorted(green)
    assert all("web" in _aliases(c, f"{stack.project}_front") for c in serving.values())
    kept = {c.name: c for c in stack.containers() if c.status == "exited"}
    assert sorted(c.id for c in kept.values()) == sorted(blue.values())
    assert sorted(kept) == sorted(f"{name}-rev1" for name in blue)
    assert {r.id for r in adapter.snapshot().replicas if r.workload == key} == set(green)
    assert result.message == "traffic on green 2 (revision 2); blue 1 stopped and kept for a switch back"
    state = adapter.release_state(key)
    assert (state.kind, state.phase, state.live, state.idle_scaled_up) == ("blue-green", "switched", "green", False)


def test_bluegreen_switch_back_starts_the_kept_containers_again_and_creates_none(adapter, stack):
    key = stack.up(replicas=2)
    blue = {c.name: c.id for c in stack.containers()}
    adapter.bluegreen_deploy(key, WEB2)
    adapter.bluegreen_switch(key)
    every_id = {c.id for c in stack.containers()}

    result = adapter.bluegreen_switch_back(key)

    assert {c.id for c in stack.containers()} == every_id, "no container created or removed"
    assert {name: c.id for name, c in stack.serving().items()} == blue
    assert all(c.attrs["State"]["Health"]["Status"] == "healthy" for c in stack.serving().values())
    assert result.detail["instant"] is True and result.detail["live"] == "blue"
    assert result.message.startswith("traffic on blue 1 (revision 1): started its kept containers")
    state = adapter.release_state(key)
    assert (state.kind, state.live, state.phase) == ("blue-green", "blue", "switched-back")


def test_bluegreen_abort_after_a_switch_back_removes_the_new_colour_kept_stopped(adapter, stack):
    key = stack.up(replicas=1)
    [blue] = stack.containers()
    green = adapter.bluegreen_deploy(key, WEB2).detail["started"]
    adapter.bluegreen_switch(key)
    adapter.bluegreen_switch_back(key)

    result = adapter.bluegreen_abort(key)

    assert result.detail["removed"] == green
    assert [(c.id, c.name, c.status) for c in stack.containers()] == [(blue.id, blue.name, "running")]
    assert adapter.release_state(key).kind == ""


def test_bluegreen_scale_down_removes_the_kept_colour_and_a_rollback_recreates_it(adapter, stack):
    key = stack.up(replicas=1)
    [blue] = stack.containers()
    adapter.bluegreen_deploy(key, WEB2)
    adapter.bluegreen_switch(key)

    result = adapter.bluegreen_scale_down(key)
    left = {c.id for c in stack.containers()}
    state = adapter.release_state(key)
    rolled = adapter.rollback(key)

    assert blue.id not in left and len(left) == 1
    assert result.detail["removed"] == [blue.id]
    assert "a rollback to revision 1 re-creates it" in result.message
    assert (state.kind, state.live) == ("", "green")
    assert (rolled.revision, rolled.to_version, rolled.detail["instant"]) == (1, "1", False)


def test_switch_back_before_a_switch_and_a_second_deploy_are_conflicts(adapter, stack):
    key = stack.up(replicas=1)
    adapter.bluegreen_deploy(key, WEB2)
    before = stack.state()

    with pytest.raises(AdapterError) as back:
        adapter.bluegreen_switch_back(key)
    with pytest.raises(AdapterError) as second:
        adapter.bluegreen_deploy(key, WEB2)
    with pytest.raises(AdapterError) as canary:
        adapter.canary_start(key, WEB2, 50)

    assert back.value.kind is ErrorKind.CONFLICT and "takes no traffic yet" in back.value.summary
    assert second.value.kind is ErrorKind.CONFLICT and "switch to it or abort it first" in second.value.summary
    assert canary.value.kind is ErrorKind.CONFLICT
    assert stack.state() == before


# -- refusals ----------------------------------------------------------------------------

_VERBS = {
    "canary_start": lambda a, k: a.canary_start(k, WEB2, 25),
    "canary_set_weight": lambda a, k: a.canary_set_weight(k, 50),
    "canary_promote": lambda a, k: a.canary_promote(k),
    "canary_abort": lambda a, k: a.canary_abort(k),
    "bluegreen_deploy": lambda a, k: a.bluegreen_deploy(k, WEB2),
    "bluegreen_switch": lambda a, k: a.bluegreen_switch(k),
    "bluegreen_switch_back": lambda a, k: a.bluegreen_switch_back(k),
    "bluegreen_scale_down": lambda a, k: a.bluegreen_scale_down(k),
    "bluegreen_abort": lambda a, k: a.bluegreen_abort(k),
}


@pytest.mark.parametrize("verb", sorted(_VERBS))
def test_every_release_verb_is_refused_on_a_read_only_environment_before_the_engine_changes(
    verb, read_only_adapter, container_factory, docker_engine
):
    web = container_factory("web:1", name="web")
    key = WorkloadKey("local", "", web.name)
    mine = {"name": container_factory.prefix}
    before = {(c.id, c.name, c.status) for c in docker_engine.containers.list(all=True, filters=mine)}

    with pytest.raises(AdapterError) as caught:
        _VERBS[verb](read_only_adapter, key)

    assert caught.value.kind is ErrorKind.READ_ONLY and "read-only" in caught.value.summary
    assert {(c.id, c.name, c.status) for c in docker_engine.containers.list(all=True, filters=mine)} == before


def test_a_service_publishing_a_fixed_host_port_is_refused_naming_the_port_and_the_way_out(adapter, stack):
    port = free_port()
    key = stack.up(replicas=1, network="", extra=f'    ports: ["127.0.0.1:{port}:8080"]\n')
    before = stack.state()

    with pytest.raises(AdapterError) as canary:
        adapter.canary_start(key, WEB2, 50)
    with pytest.raises(AdapterError) as bluegreen:
        adapter.bluegreen_deploy(key, WEB2)

    for caught in (canary, bluegreen):
        assert caught.value.kind is ErrorKind.BAD_INPUT
        assert f"binds host port {port}" in caught.value.summary
        assert "Deploy instead" in caught.value.summary and "watchfloor.port=auto" in caught.value.summary
    assert stack.state() == before


def test_a_host_network_service_without_the_auto_port_label_is_refused(adapter, stack):
    key = stack.up(replicas=1, network="network_mode: host", extra=f'    environment: {{PORT: "{free_port()}"}}\n')
    before = stack.state()

    with pytest.raises(AdapterError) as caught:
        adapter.canary_start(key, WEB2, 50)

    assert caught.value.kind is ErrorKind.BAD_INPUT and "uses the host network" in caught.value.summary
    assert stack.state() == before


# -- the self-registering test service and a real Prometheus --------------------------------


def test_auto_port_replicas_pick_their_own_ports_register_and_deregister_when_stopped(scraped_web, docker_engine):
    service = scraped_web.up("web:1", replicas=2, traffic_rps=1)

    def registered() -> dict[str, dict]:
        found = {}
        for path in scraped_web.prometheus.targets_dir.glob("*.json"):
            [group] = json.loads(path.read_text())
            if group["labels"].get("workload") == service.workload:
                found[path.name] = group
        return found

    targets = wait_for(lambda: len(registered()) == 2 and registered(), "two target files", timeout=30)
    [first, *_] = docker_engine.containers.list(filters={"label": f"com.docker.compose.project={service.project}"})
    first.stop(timeout=5)

    ports = sorted(int(name.removesuffix(".json")) for name in targets)
    assert len(set(ports)) == 2 and all(port >= scraped_web.PORT_BASE for port in ports)
    assert {group["labels"]["version"] for group in targets.values()} == {"1"}
    assert all(group["targets"] == [f"127.0.0.1:{name.removesuffix('.json')}"] for name, group in targets.items())
    assert len(registered()) == 1, "the stopped replica removed its target file"


def test_prometheus_sees_a_canary_of_the_error_image_fail_and_the_stable_version_succeed(adapter, scraped_web):
    service = scraped_web.up("web:1", replicas=1)
    key = service.key("local")
    wait_for(lambda: adapter.observe(key).ready == 1, "the stable replica to be healthy", timeout=60)
    adapter.canary_start(key, ERRORS, 50)
    scraped_web.wait_scraped(service.workload, replicas=2)
    source = PrometheusSource(scraped_web.prometheus.url)

    def ratios() -> dict[str, float] | None:
        found = {}
        for version in ("1", "3-errors"):
            answer = source.instant(scraped_web.error_ratio(service.workload, version=version))
            if not answer or answer[0][1] != answer[0][1]:  # nothing yet, or NaN: no requests counted yet
                return None
            found[version] = answer[0][1]
        return found

    seen = wait_for(ratios, "error ratios of both versions", timeout=30, interval=0.5)

    assert seen["3-errors"] > 0.5
    assert seen["1"] == 0.0


def test_fail_work_makes_every_request_of_the_running_service_answer_500(scraped_web, docker_engine):
    service = scraped_web.up("web:1", traffic_rps=0)
    [web] = docker_engine.containers.list(filters={"label": f"com.docker.compose.project={service.project}"})
    port = wait_for(lambda: web.exec_run(["cat", "/tmp/port"]).output.decode().strip(), "the chosen port", timeout=20)

    def work() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/cgi-bin/work", timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as answer:
            return answer.code

    before = wait_for(work, "httpd to answer", timeout=20)
    service.fail_work(True)
    failing = work()
    service.fail_work(False)

    assert (before, failing, work()) == (200, 500, 200)


def test_a_host_network_service_labelled_auto_port_deploys_rolling_beside_itself(adapter, scraped_web):
    service = scraped_web.up("web:1", traffic_rps=0)
    key = service.key("local")
    wait_for(lambda: adapter.observe(key).ready == 1, "the replica to be healthy", timeout=60)

    result = adapter.deploy(key, WEB2)

    assert (result.strategy, result.detail["recreate_reason"]) == ("rolling", "")
