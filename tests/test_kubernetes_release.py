"""Canary and blue-green releases on Kubernetes, and Argo Rollouts' verbs, against the
embedded emulator over real HTTP (DESIGN §8).

The emulator's controller runs the canary and colour Deployments like any other
(ReplicaSets, pods, crash loops for ``*-broken`` images, logs, metrics); its Service
objects take selector patches as a real API server does. It stores Argo ``Rollout``
objects but runs no Argo controller: where a test needs a Rollout's status, it writes
it over HTTP the way that controller would.
"""

from __future__ import annotations

import time

import pytest

from adapters.base import AdapterError, ErrorKind, ReleaseAdapter
from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes_release import argo_promote_patches
from console.model import Health, WorkloadKey
from tests.test_kubernetes_adapter import deployment_object
from tests.test_kubernetes_write import WEB, make_adapter, wait_healthy

STABLE = "registry.test/web:1.0"
NEW = "registry.test/web:1.1"
NEWER = "registry.test/web:1.2"
MERGE = "application/merge-patch+json"
ROLLOUT = WorkloadKey("cluster", "shop", "checkout")


def service_object(name: str = "web", selector: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": selector or {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def rollout_object(*, paused: bool = False) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "replicas": 5,
            "paused": paused,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{"name": "checkout", "image": "registry.test/checkout:2.0"}]},
            },
            "strategy": {
                "canary": {
                    "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10m"}}],
                },
            },
        },
    }


PAUSED_AT_STEP_1 = {
    "status": {
        "phase": "Paused",
        "message": "CanaryPauseStep",
        "currentStepIndex": 1,
        "currentPodHash": "6d8f9c7b5",
        "stableRS": "5b7c4d9f8",
        "updatedReplicas": 1,
        "readyReplicas": 5,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2025-05-01T10:00:00Z"}],
        "controllerPause": True,
    }
}


@pytest.fixture
def emulator():
    with KubernetesEmulator(time_scale=0.05, seed=7, argo_rollouts=True) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=4, image=STABLE))
        running.apply(service_object())
        yield running


@pytest.fixture
def adapter(emulator, tmp_path):
    adapter = make_adapter(emulator, tmp_path)
    wait_healthy(adapter, STABLE)
    yield adapter
    adapter.close()


def deployment(emulator, name: str) -> dict | None:
    return emulator.get_object("apps/v1", "Deployment", name, "shop")


def service(emulator, name: str = "web") -> dict:
    return emulator.get_object("v1", "Service", name, "shop")


def rollout(emulator) -> dict:
    return emulator.get_object("argoproj.io/v1alpha1", "Rollout", "checkout", "shop")


def pods(adapter, **labels) -> list[dict]:
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    items = adapter.request("GET", "/api/v1/namespaces/shop/pods", query={"labelSelector": selector} if selector else {})["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def pod_uids(adapter) -> set[str]:
    return {p["metadata"]["uid"] for p in adapter.request("GET", "/api/v1/namespaces/shop/pods")["items"]}


def replicasets_of(emulator, adapter, name: str) -> dict[str, int]:
    """uid → spec.replicas of the ReplicaSets the Deployment ``name`` owns."""
    uid = deployment(emulator, name)["metadata"]["uid"]
    items = adapter.request("GET", "/apis/apps/v1/namespaces/shop/replicasets")["items"]
    return {
        rs["metadata"]["uid"]: rs["spec"]["replicas"]
        for rs in items
        if any(o["uid"] == uid for o in rs["metadata"].get("ownerReferences") or [])
    }


def wait_until(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fingerprint(emulator) -> dict:
    """resourceVersion of every Deployment, Service and Rollout, and the pod names."""

    def collect():
        from adapters.demo.resources import DEPLOYMENTS, PODS, ROLLOUTS, SERVICES

        store = emulator.store
        found = {
            (rt.kind, o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for rt in (DEPLOYMENTS, SERVICES, ROLLOUTS)
            for o in store.objects(rt, "shop")
        }
        found["pods"] = tuple(sorted(p["metadata"]["name"] for p in store.objects(PODS, "shop")))
        return found

    return emulator.call(collect)


def set_rollout_status(adapter, status_patch: dict) -> None:
    """Write a Rollout's status as Argo's controller would (the emulator runs none)."""
    adapter.request("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout/status", body=status_patch, content_type=MERGE)


def comparable(obj: dict) -> dict:
    obj = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}
    return obj


# -- canary ------------------------------------------------------------------------------


def test_the_kubernetes_adapter_is_a_release_adapter(adapter):
    assert isinstance(adapter, ReleaseAdapter)


@pytest.mark.parametrize(("weight", "replicas", "achieved"), [(10, 1, 20), (25, 1, 20), (50, 4, 50)])
def test_canary_start_runs_the_nearest_replica_count_beside_four_stable(emulator, adapter, weight, replicas, achieved):
    result = adapter.canary_start(WEB, NEW, weight, change_cause="run 42 by alice", timeout=30)

    canary = deployment(emulator, "web-canary")
    assert canary["spec"]["replicas"] == replicas
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "web", "track": "canary"}
    assert canary["spec"]["template"]["metadata"]["labels"] == {"app": "web", "track": "canary"}
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    assert canary["metadata"]["annotations"]["kubernetes.io/change-cause"] == "run 42 by alice"
    assert (result.detail["canary_replicas"], result.detail["weight"], result.detail["weight_asked"]) == (replicas, achieved, weight)
    assert f"({achieved} %" in result.message
    state = adapter.release_state(WEB)
    assert (state.kind, state.weight, state.new_replicas, state.new_ready) == ("canary", achieved, replicas, replicas)
    assert (state.stable_image, state.new_image, state.stable_replicas) == (STABLE, NEW, 4)


def test_the_stable_deployment_neither_counts_nor_owns_the_canary_pods(emulator, adapter):
    stable_sets = replicasets_of(emulator, adapter, "web")

    adapter.canary_start(WEB, NEW, 50, timeout=30)

    observation = adapter.observe(WEB)
    assert (observation.desired, observation.ready, observation.image) == (4, 4, STABLE)
    assert replicasets_of(emulator, adapter, "web") == stable_sets
    canary_pods = pods(adapter, app="web", track="canary")
    stable_pods = [p for p in pods(adapter, app="web") if "track" not in p["metadata"]["labels"]]
    assert len(canary_pods) == 4 and len(stable_pods) == 4
    # The stable selector (app=web) matches canary pods; owners and the template hash keep them apart.
    assert {p["metadata"]["ownerReferences"][0]["uid"] for p in canary_pods}.isdisjoint(stable_sets)
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in canary_pods}.isdisjoint(
        {p["metadata"]["labels"]["pod-template-hash"] for p in stable_pods}
    )


def test_canary_pods_are_a_workload_with_logs_and_metrics_like_any_other(emulator, adapter):
    adapter.canary_start(WEB, NEW, 25, timeout=30)

    snapshot = adapter.snapshot()
    replicas = [r for r in snapshot.replicas if r.workload.name == "web-canary"]
    lines = wait_until(lambda: [line for batch in adapter.logs(replicas[0], follow=False, tail=20) for line in batch], "canary log lines")
    metrics = wait_until(
        lambda: {m["metadata"]["name"] for m in adapter.request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods")["items"]},
        "pod metrics",
    )

    assert len(replicas) == 1 and replicas[0].image == NEW and replicas[0].health == Health.HEALTHY
    assert lines
    assert replicas[0].name in metrics


def test_set_weight_scales_the_canary_and_says_what_was_achieved(emulator, adapter):
    adapter.canary_start(WEB, NEW, 10, timeout=30)

    up = adapter.canary_set_weight(WEB, 50, timeout=30)
    down = adapter.canary_set_weight(WEB, 0, timeout=30)

    assert (up.detail["canary_replicas"], up.detail["weight"]) == (4, 50)
    assert (down.detail["canary_replicas"], down.detail["weight"]) == (0, 0)
    assert deployment(emulator, "web-canary")["spec"]["replicas"] == 0
    wait_until(lambda: not pods(adapter, track="canary"), "the canary pods to go")


def test_set_weight_without_a_canary_is_not_found(adapter):
    with pytest.raises(AdapterError) as caught:
        adapter.canary_set_weight(WEB, 25)

    assert caught.value.kind == ErrorKind.NOT_FOUND


def test_promote_rolls_stable_to_the_canary_image_and_removes_the_canary(emulator, adapter):
    adapter.canary_start(WEB, NEW, 25, timeout=30)
    said: list[str] = []

    result = adapter.canary_promote(WEB, change_cause="run 42: promote", progress=said.append, timeout=30)

    observation = adapter.observe(WEB)
    assert (observation.image, observation.ready, observation.revision) == (NEW, 4, 2)
    assert deployment(emulator, "web-canary") is None
    assert not pods(adapter, track="canary")
    assert (result.from_version, result.to_version, result.revision) == ("1.0", "1.1", 2)
    assert adapter.history(WEB)[-1].change_cause == "run 42: promote"
    assert adapter.release_state(WEB).kind == ""
    assert any("rollout complete" in s for s in said)


def test_abort_removes_the_canary_and_leaves_stable_on_the_same_replicaset(emulator, adapter):
    stable_sets = replicasets_of(emulator, adapter, "web")
    stable_pods = {p["metadata"]["uid"] for p in pods(adapter, app="web")}
    adapter.canary_start(WEB, NEW, 50, timeout=30)

    result = adapter.canary_abort(WEB, timeout=30)

    assert deployment(emulator, "web-canary") is None
    assert not pods(adapter, track="canary")
    assert replicasets_of(emulator, adapter, "web") == stable_sets
    assert {p["metadata"]["uid"] for p in pods(adapter, app="web")} == stable_pods
    assert adapter.observe(WEB).image == STABLE
    assert "removed" in result.message and result.detail["canary"] == "web-canary"


def test_abort_without_a_canary_is_a_no_op_that_says_so(emulator, adapter):
    before = fingerprint(emulator)

    result = adapter.canary_abort(WEB)

    assert "no canary" in result.message and result.detail["canary"] is None
    assert fingerprint(emulator) == before


def test_a_crash_looping_canary_fails_fast_and_is_removed(emulator, adapter):
    started = time.monotonic()

    with pytest.raises(AdapterError) as caught:
        adapter.canary_start(WEB, "registry.test/web:1.1-broken", 25, timeout=60)

    assert "CrashLoopBackOff" in caught.value.summary and "canary was removed" in caught.value.summary
    assert time.monotonic() - started < 30, "fail fast, not at the timeout"
    assert deployment(emulator, "web-canary") is None
    assert not pods(adapter, track="canary")
    assert adapter.observe(WEB).health == Health.HEALTHY


def test_starting_the_same_canary_again_only_sets_its_weight_and_another_image_is_refused(emulator, adapter):
    adapter.canary_start(WEB, NEW, 10, timeout=30)
    uid = deployment(emulator, "web-canary")["metadata"]["uid"]

    again = adapter.canary_start(WEB, NEW, 50, timeout=30)
    with pytest.raises(AdapterError) as caught:
        adapter.canary_start(WEB, NEWER, 10, timeout=30)

    assert deployment(emulator, "web-canary")["metadata"]["uid"] == uid
    assert again.detail["canary_replicas"] == 4
    assert caught.value.kind == ErrorKind.CONFLICT and "1.1" in caught.value.summary


@pytest.mark.parametrize("weight", [-1, 101, 0])
def test_a_canary_start_weight_outside_1_to_100_is_bad_input(emulator, adapter, weight):
    with pytest.raises(AdapterError) as caught:
        adapter.canary_start(WEB, NEW, weight)

    assert caught.value.kind == ErrorKind.BAD_INPUT
    assert deployment(emulator, "web-canary") is None


# -- blue-green --------------------------------------------------------------------------


def test_blue_green_deploy_labels_the_live_pods_once_pins_the_service_and_starts_green(emulator, adapter):
    said: list[str] = []

    result = adapter.bluegreen_deploy(WEB, NEW, change_cause="run 7", progress=said.append, timeout=30)

    assert service(emulator)["spec"]["selector"] == {"app": "web", "color": "blue"}
    green = deployment(emulator, "web-green")
    assert green["spec"]["selector"]["matchLabels"] == {"app": "web", "color": "green"}
    assert green["spec"]["replicas"] == 4 and green["status"]["readyReplicas"] == 4
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    assert all(p["metadata"]["labels"].get("color") == "blue" for p in pods(adapter, app="web") if "green" not in p["metadata"]["name"])
    assert (result.detail["live"], result.detail["idle"], result.detail["labelled_live"], result.detail["created"]) == ("blue", "green", True, True)
    state = adapter.release_state(WEB)
    assert (state.kind, state.live, state.idle_scaled_up, state.stable_image, state.new_image) == ("blue-green", "blue", True, STABLE, NEW)
    assert any("color=blue" in s for s in said)


def test_switch_and_switch_back_are_one_service_patch_each_and_start_no_pod(emulator, adapter):
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)
    before = pod_uids(adapter)
    emulator.reset_request_counts()

    switched = adapter.bluegreen_switch(WEB, timeout=30)
    selector_after_switch = service(emulator)["spec"]["selector"]
    back = adapter.bluegreen_switch_back(WEB, timeout=30)

    assert selector_after_switch == {"app": "web", "color": "green"}
    assert service(emulator)["spec"]["selector"] == {"app": "web", "color": "blue"}
    assert pod_uids(adapter) == before, "a switch starts and stops no pod"
    assert emulator.request_count("patch", "services") == 2
    assert emulator.request_count("patch", "deployments") == 0 and emulator.request_count("create", "deployments") == 0
    assert (switched.detail["from"], switched.detail["to"], back.detail["to"]) == ("blue", "green", "blue")


def test_after_a_switch_observe_judges_the_live_colour_and_after_a_switch_back_blue_again(emulator, adapter):
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)

    adapter.bluegreen_switch(WEB, timeout=30)
    switched = adapter.observe(WEB)
    adapter.bluegreen_switch_back(WEB, timeout=30)
    back = adapter.observe(WEB)

    assert switched.workload == WEB and switched.image == NEW and "live colour: web-green" in switched.reason
    assert back.image == STABLE and "live colour" not in back.reason


def test_repeating_a_switch_changes_nothing(emulator, adapter):
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)
    adapter.bluegreen_switch(WEB, timeout=30)
    before = fingerprint(emulator)

    again = adapter.bluegreen_switch(WEB, timeout=30)

    assert again.detail["switched"] is False and "already" in again.message
    assert fingerprint(emulator) == before


def test_scale_down_keeps_the_old_colour_and_a_switch_back_scales_it_up_first(emulator, adapter):
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)
    adapter.bluegreen_switch(WEB, timeout=30)

    scaled = adapter.bluegreen_scale_down(WEB, timeout=30)
    state = adapter.release_state(WEB)
    blue = deployment(emulator, "web")
    back = adapter.bluegreen_switch_back(WEB, timeout=30)

    assert (scaled.detail["colour"], scaled.detail["from"], scaled.detail["to"]) == ("blue", 4, 0)
    assert blue["spec"]["replicas"] == 0 and blue["spec"]["template"]["spec"]["containers"][0]["image"] == STABLE
    assert (state.kind, state.live, state.idle_scaled_up) == ("", "green", False), "scaled down: no release under way"
    assert back.detail["scaled_up"] is True
    assert service(emulator)["spec"]["selector"]["color"] == "blue"
    assert deployment(emulator, "web")["status"]["readyReplicas"] == 4


def test_blue_green_abort_before_the_switch_removes_green_and_keeps_traffic_on_blue(emulator, adapter):
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)
    blue_sets = replicasets_of(emulator, adapter, "web")

    result = adapter.bluegreen_abort(WEB, timeout=30)

    assert deployment(emulator, "web-green") is None
    assert not pods(adapter, color="green")
    assert service(emulator)["spec"]["selector"] == {"app": "web", "color": "blue"}
    assert "watchfloor.io/bluegreen-deployed" not in (service(emulator)["metadata"].get("annotations") or {})
    assert replicasets_of(emulator, adapter, "web") == blue_sets
    assert "removed" in result.message


def test_abort_after_the_switch_is_refused(emulator, adapter):
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)
    adapter.bluegreen_switch(WEB, timeout=30)
    before = fingerprint(emulator)

    with pytest.raises(AdapterError) as caught:
        adapter.bluegreen_abort(WEB)

    assert caught.value.kind == ErrorKind.CONFLICT and "switch back" in caught.value.summary
    assert fingerprint(emulator) == before


def test_the_next_release_goes_to_the_idle_colour_and_its_abort_puts_the_old_image_back(emulator, adapter):
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)
    adapter.bluegreen_switch(WEB, timeout=30)
    adapter.bluegreen_scale_down(WEB, timeout=30)

    second = adapter.bluegreen_deploy(WEB, NEWER, timeout=30)
    blue_during = deployment(emulator, "web")
    aborted = adapter.bluegreen_abort(WEB, timeout=30)
    blue_after = deployment(emulator, "web")
    third = adapter.bluegreen_deploy(WEB, NEWER, timeout=30)
    adapter.bluegreen_switch(WEB, timeout=30)

    assert (second.detail["idle"], second.detail["deployment"], second.detail["created"], second.detail["labelled_live"]) == ("blue", "web", False, False)
    assert blue_during["spec"]["replicas"] == 4 and blue_during["spec"]["template"]["spec"]["containers"][0]["image"] == NEWER
    assert blue_after["spec"]["replicas"] == 0 and blue_after["spec"]["template"]["spec"]["containers"][0]["image"] == STABLE
    assert "back on" in aborted.message
    assert third.detail["deployment"] == "web"
    state = adapter.release_state(WEB)
    assert (state.live, state.stable_image, state.new_image) == ("blue", NEWER, NEW)
    assert service(emulator)["spec"]["selector"] == {"app": "web", "color": "blue"}


def test_a_crash_looping_green_fails_fast_and_is_taken_down(emulator, adapter):
    with pytest.raises(AdapterError) as caught:
        adapter.bluegreen_deploy(WEB, "registry.test/web:1.1-broken", timeout=60)

    assert "CrashLoopBackOff" in caught.value.summary and "traffic stays on blue" in caught.value.summary
    assert deployment(emulator, "web-green") is None
    assert service(emulator)["spec"]["selector"]["color"] == "blue"


def test_blue_green_without_a_service_is_refused_before_anything_changes(emulator, adapter):
    adapter.request("DELETE", "/api/v1/namespaces/shop/services/web")
    before = fingerprint(emulator)

    with pytest.raises(AdapterError) as caught:
        adapter.bluegreen_deploy(WEB, NEW, timeout=30)

    assert caught.value.kind == ErrorKind.BAD_INPUT
    assert "needs a Service selecting shop/web's pods" in caught.value.summary
    assert fingerprint(emulator) == before


def test_two_services_selecting_the_workload_and_none_named_like_it_are_refused(emulator, adapter):
    adapter.request("DELETE", "/api/v1/namespaces/shop/services/web")
    emulator.apply(service_object("web-public"))
    emulator.apply(service_object("web-internal"))

    with pytest.raises(AdapterError) as caught:
        adapter.bluegreen_deploy(WEB, NEW, timeout=30)

    assert caught.value.kind == ErrorKind.BAD_INPUT
    assert "web-internal, web-public" in caught.value.summary


def test_a_service_not_named_like_the_workload_is_used_when_it_is_the_only_one(emulator, adapter):
    adapter.request("DELETE", "/api/v1/namespaces/shop/services/web")
    emulator.apply(service_object("storefront"))

    result = adapter.bluegreen_deploy(WEB, NEW, timeout=30)

    assert result.detail["service"] == "storefront"
    assert service(emulator, "storefront")["spec"]["selector"] == {"app": "web", "color": "blue"}


def test_canary_and_blue_green_do_not_mix_on_one_workload(emulator, adapter):
    adapter.canary_start(WEB, NEW, 25, timeout=30)

    with pytest.raises(AdapterError) as blue_green:
        adapter.bluegreen_deploy(WEB, NEWER, timeout=30)
    adapter.canary_abort(WEB, timeout=30)
    adapter.bluegreen_deploy(WEB, NEW, timeout=30)
    with pytest.raises(AdapterError) as canary:
        adapter.canary_start(WEB, NEWER, 25, timeout=30)

    assert blue_green.value.kind == canary.value.kind == ErrorKind.CONFLICT


# -- read-only ------------------------------------------------------------------------


EVERY_VERB = {
    "canary_start": lambda a: a.canary_start(WEB, NEW, 25),
    "canary_set_weight": lambda a: a.canary_set_weight(WEB, 50),
    "canary_promote": lambda a: a.canary_promote(WEB),
    "canary_abort": lambda a: a.canary_abort(WEB),
    "bluegreen_deploy": lambda a: a.bluegreen_deploy(WEB, NEW),
    "bluegreen_switch": lambda a: a.bluegreen_switch(WEB),
    "bluegreen_switch_back": lambda a: a.bluegreen_switch_back(WEB),
    "bluegreen_scale_down": lambda a: a.bluegreen_scale_down(WEB),
    "bluegreen_abort": lambda a: a.bluegreen_abort(WEB),
    "rollout_promote": lambda a: a.rollout_promote(ROLLOUT),
    "rollout_promote_full": lambda a: a.rollout_promote(ROLLOUT, full=True),
    "rollout_abort": lambda a: a.rollout_abort(ROLLOUT),
    "rollout_retry": lambda a: a.rollout_retry(ROLLOUT),
}


@pytest.mark.parametrize("verb", list(EVERY_VERB))
def test_a_read_only_environment_refuses_every_release_verb_with_the_cluster_unchanged(emulator, adapter, tmp_path, verb):
    adapter.canary_start(WEB, NEW, 25, timeout=30)
    emulator.apply(rollout_object(paused=True))
    set_rollout_status(adapter, PAUSED_AT_STEP_1)
    read_only = make_adapter(emulator, tmp_path, read_only=True)
    try:
        before = fingerprint(emulator)

        with pytest.raises(AdapterError) as caught:
            EVERY_VERB[verb](read_only)

        assert caught.value.kind == ErrorKind.READ_ONLY
        assert fingerprint(emulator) == before
    finally:
        read_only.close()


# -- Argo Rollouts ----------------------------------------------------------------------


def test_release_state_of_a_rollout_shows_its_phase_step_and_weight(emulator, adapter):
    emulator.apply(rollout_object())
    set_rollout_status(adapter, PAUSED_AT_STEP_1)

    state = adapter.release_state(ROLLOUT)

    assert (state.kind, state.phase, state.weight) == ("canary", "Paused, step 1/4", 20)
    assert state.new_image == "registry.test/checkout:2.0" and state.stable_replicas == 5
    assert "CanaryPauseStep" in state.message


def test_promote_of_a_paused_rollout_clears_its_pause_conditions_through_the_status_subresource(emulator, adapter):
    emulator.apply(rollout_object())
    set_rollout_status(adapter, PAUSED_AT_STEP_1)
    before = rollout(emulator)
    emulator.reset_request_counts()

    result = adapter.rollout_promote(ROLLOUT)

    after = rollout(emulator)
    expected = comparable(before)
    del expected["status"]["pauseConditions"]
    assert comparable(after) == expected
    assert emulator.request_count("patch", "rollouts/status") == 1 and emulator.request_count("patch", "rollouts") == 0
    assert result.verb == "rollout.promote" and result.detail["patches"] == [{"subresource": "status", "patch": {"status": {"pauseConditions": None}}}]


def test_promote_of_a_spec_paused_rollout_also_unpauses_its_spec(emulator, adapter):
    emulator.apply(rollout_object(paused=True))
    set_rollout_status(adapter, PAUSED_AT_STEP_1)
    before = rollout(emulator)

    adapter.rollout_promote(ROLLOUT)

    after = rollout(emulator)
    expected = comparable(before)
    del expected["status"]["pauseConditions"]
    expected["spec"]["paused"] = False
    expected["metadata"]["generation"] = before["metadata"]["generation"] + 1
    assert comparable(after) == expected


def test_promote_of_a_rollout_in_a_step_without_a_pause_moves_to_the_next_step(emulator, adapter):
    emulator.apply(rollout_object())
    set_rollout_status(adapter, {"status": {"phase": "Progressing", "currentStepIndex": 2, "pauseConditions": None, "controllerPause": None}})
    before = rollout(emulator)

    adapter.rollout_promote(ROLLOUT)

    expected = comparable(before)
    expected["status"]["currentStepIndex"] = 3
    assert comparable(rollout(emulator)) == expected


def test_full_promotion_sets_promote_full_and_is_a_no_op_once_stable(emulator, adapter):
    emulator.apply(rollout_object())
    set_rollout_status(adapter, PAUSED_AT_STEP_1)

    first = adapter.rollout_promote(ROLLOUT, full=True)
    promoted = rollout(emulator)
    set_rollout_status(adapter, {"status": {"stableRS": "6d8f9c7b5", "promoteFull": None}})
    emulator.reset_request_counts()
    second = adapter.rollout_promote(ROLLOUT, full=True)

    assert promoted["status"]["promoteFull"] is True
    assert first.detail["patches"] == [{"subresource": "status", "patch": {"status": {"promoteFull": True}}}]
    assert second.detail["patches"] == [] and "already" in second.message
    assert emulator.request_count("patch") == 0


def test_abort_and_retry_set_status_abort_and_nothing_else(emulator, adapter):
    emulator.apply(rollout_object())
    set_rollout_status(adapter, PAUSED_AT_STEP_1)
    before = rollout(emulator)

    adapter.canary_abort(ROLLOUT)
    aborted = rollout(emulator)
    adapter.rollout_retry(ROLLOUT)
    retried = rollout(emulator)

    expected = comparable(before)
    assert comparable(aborted) == {**expected, "status": {**expected["status"], "abort": True}}
    assert comparable(retried) == {**expected, "status": {**expected["status"], "abort": False}}


def test_a_cluster_without_argo_rollouts_does_not_serve_them(tmp_path):
    with KubernetesEmulator(time_scale=0.05, seed=7) as plain:
        plain.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        adapter = make_adapter(plain, tmp_path)
        try:
            groups = {g["name"] for g in adapter.request("GET", "/apis")["groups"]}
            with pytest.raises(AdapterError) as caught:
                adapter.release_state(ROLLOUT)
        finally:
            adapter.close()

    assert "argoproj.io" not in groups
    assert caught.value.kind == ErrorKind.NOT_FOUND


def test_a_cluster_with_argo_rollouts_lists_them_in_discovery(emulator, adapter):
    resources = adapter.request("GET", "/apis/argoproj.io/v1alpha1")["resources"]

    assert {r["name"] for r in resources} == {"rollouts", "rollouts/status"}


PAUSE = [{"reason": "CanaryPauseStep"}]
STEPS = {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]}}


@pytest.mark.parametrize(
    ("spec", "status", "full", "expected"),
    [
        ({"strategy": STEPS}, {"currentStepIndex": 1, "pauseConditions": PAUSE}, False, (None, {"status": {"pauseConditions": None}})),
        (
            {"strategy": STEPS, "paused": True},
            {"currentStepIndex": 1, "pauseConditions": PAUSE},
            False,
            ({"spec": {"paused": False}}, {"status": {"pauseConditions": None}}),
        ),
        ({"strategy": STEPS}, {"currentStepIndex": 2}, False, (None, {"status": {"pauseConditions": None, "currentStepIndex": 3}})),
        ({"strategy": STEPS}, {}, False, (None, {"status": {"pauseConditions": None, "currentStepIndex": 1}})),
        ({"strategy": STEPS}, {"currentStepIndex": 3}, False, (None, {"status": {"pauseConditions": None, "currentStepIndex": 3}})),
        (
            {"strategy": STEPS},
            {"currentStepIndex": 1, "pauseConditions": PAUSE, "controllerPause": True, "canary": {"currentStepAnalysisRunStatus": {"status": "Inconclusive"}}},
            False,
            (None, {"status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": 2}}),
        ),
        ({"strategy": {"blueGreen": {}}}, {"pauseConditions": [{"reason": "BlueGreenPause"}]}, False, (None, {"status": {"pauseConditions": None}})),
        ({"strategy": {"blueGreen": {}}}, {}, False, (None, None)),
        ({"strategy": STEPS}, {"currentPodHash": "a", "stableRS": "b"}, True, (None, {"status": {"promoteFull": True}})),
        ({"strategy": STEPS}, {"currentPodHash": "a", "stableRS": "a"}, True, (None, None)),
    ],
    ids=[
        "paused-step",
        "spec-paused",
        "mid-step",
        "no-index-yet",
        "past-last-step",
        "inconclusive-analysis",
        "bluegreen-paused",
        "bluegreen-running",
        "full",
        "full-already-stable",
    ],
)
def test_promote_patches_are_the_argo_clis(spec, status, full, expected):
    spec_patch, status_patch, _unified = argo_promote_patches({"spec": spec, "status": status}, full=full)

    assert (spec_patch, status_patch) == expected
