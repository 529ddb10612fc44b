"""Argo Rollouts in the console: listed and watched as workloads with their pods, their
phase, step and weight on the row and in the detail pane, and the canary runbook's
verbs mapped onto Argo's (image change, promote, promote --full, abort).

Against the embedded emulator over real HTTP with Argo's CRD served. No Argo
controller runs there (none can be installed here), so each test writes the Rollout's
status the way Argo's controller does, through the ``status`` subresource.
"""

from __future__ import annotations

import time

import pytest

from adapters.base import AdapterError, ErrorKind
from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from adapters.kubernetes_write import MERGE
from console.app import WatchfloorApp
from console.backends import Backend
from console.model import Health, WorkloadKey
from tests.test_kubernetes_adapter import adapter_for, watching  # noqa: F401 - fixture
from tests.test_kubernetes_release import PAUSED_AT_STEP_1, rollout_object, wait_until

ROLLOUT = WorkloadKey("cluster", "shop", "checkout")
STABLE_HASH = "5b7c4d9f8"
CANARY_HASH = "6d8f9c7b5"


def replicaset_of_rollout(rollout: dict, pod_hash: str, replicas: int, image: str) -> dict:
    """A ReplicaSet as Argo's controller makes it: owned by the Rollout, hash-labelled."""
    labels = {"app": "checkout", "rollouts-pod-template-hash": pod_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"checkout-{pod_hash}",
            "namespace": "shop",
            "labels": labels,
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "checkout", "uid": rollout["metadata"]["uid"], "controller": True}
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "checkout", "image": image}]}},
        },
    }


def stored_rollout(emulator) -> dict:
    return emulator.get_object("argoproj.io/v1alpha1", "Rollout", "checkout", "shop")


def set_status(adapter: KubernetesAdapter, status: dict) -> None:
    """Write the status as Argo's controller would (the emulator runs none)."""
    adapter.request("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout/status", body={"status": status}, content_type=MERGE)


def paused_canary(emulator, adapter) -> None:
    """checkout mid-canary as Argo leaves it at its first pause: 4 stable pods and 1
    canary pod, paused at step 1 of 4 with 20 % of traffic."""
    emulator.apply(rollout_object())
    rollout = stored_rollout(emulator)
    emulator.apply(replicaset_of_rollout(rollout, STABLE_HASH, 4, "registry.test/checkout:1.0"))
    emulator.apply(replicaset_of_rollout(rollout, CANARY_HASH, 1, "registry.test/checkout:2.0"))
    set_status(adapter, PAUSED_AT_STEP_1["status"])


@pytest.fixture
def emulator():
    with KubernetesEmulator(time_scale=0.05, seed=11, argo_rollouts=True) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        yield running


@pytest.fixture
def adapter(emulator, tmp_path):
    made = adapter_for(emulator, tmp_path)
    made.connect()
    yield made
    made.close()


# -- read side -------------------------------------------------------------------------


def test_a_paused_canary_rollout_is_one_progressing_workload_with_its_step_and_weight(emulator, adapter, watching, tmp_path):
    paused_canary(emulator, adapter)
    watcher = watching(adapter_for(emulator, tmp_path, name="watch"))

    row = wait_until(lambda: (w := watcher.workload("shop", "checkout")) and watcher_replicas(watcher) == 5 and w, "5 pods filed under the rollout")

    assert row.kind == "Rollout" and row.desired == 5
    assert row.health is Health.PROGRESSING
    assert row.reason == "Argo canary Paused, step 1/4, weight 20 %: CanaryPauseStep"
    assert row.backend_status == "Argo Rollout canary · Paused, step 1/4 · weight 20 % · CanaryPauseStep"
    # The ReplicaSets are the Rollout's, not workloads of their own.
    assert watcher.workload("shop", f"checkout-{STABLE_HASH}") is None


def test_a_watched_rollout_follows_argo_through_promotion_and_an_abort(emulator, adapter, watching, tmp_path):
    paused_canary(emulator, adapter)
    watcher = watching(adapter_for(emulator, tmp_path, name="watch"))
    wait_until(lambda: (w := watcher.workload("shop", "checkout")) and w.health is Health.PROGRESSING, "paused canary seen")
    lists_before = watcher.adapter.list_calls

    set_status(adapter, {"phase": "Healthy", "message": None, "currentStepIndex": 4, "pauseConditions": None, "controllerPause": None, "stableRS": CANARY_HASH})
    healthy = wait_until(lambda: (w := watcher.workload("shop", "checkout")) and w.health is Health.HEALTHY and w, "healthy after promotion")
    set_status(adapter, {"phase": "Degraded", "message": "RolloutAborted: Rollout aborted update to revision 2", "abort": True})
    aborted = wait_until(lambda: (w := watcher.workload("shop", "checkout")) and w.health is Health.DEGRADED and w, "degraded after abort")

    assert healthy.reason == "5/5 replicas healthy"
    assert healthy.backend_status == "Argo Rollout canary · Healthy, step 4/4 · weight 100 %"
    assert aborted.reason.startswith("Argo canary Degraded, step 4/4, aborted, weight 0 %: RolloutAborted")
    assert watcher.adapter.list_calls == lists_before, "status changes arrive by watch, not by relisting"


def test_a_cluster_without_argo_is_watched_as_before_without_asking_for_rollouts(tmp_path, watching):
    with KubernetesEmulator(time_scale=0.05, seed=11) as plain:
        plain.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        plain.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "registry.test/web:1.0"}]}},
                },
            }
        )
        plain.reset_request_counts()
        watcher = watching(adapter_for(plain, tmp_path))

        wait_until(lambda: (w := watcher.workload("shop", "web")) and w.health is Health.HEALTHY, "web healthy")

        assert plain.request_count("list", "rollouts") == 0 and plain.request_count("watch", "rollouts") == 0


def test_observe_judges_a_rollout_by_argo_phase(emulator, adapter):
    paused_canary(emulator, adapter)
    paused = adapter.observe(ROLLOUT)
    set_status(adapter, {"phase": "Healthy", "message": None, "currentStepIndex": 4, "pauseConditions": None, "availableReplicas": 5, "readyReplicas": 5})
    healthy = adapter.observe(ROLLOUT)

    assert (paused.exists, paused.health, paused.rollout_complete) == (True, Health.PROGRESSING, False)
    assert "step 1/4" in paused.reason
    assert (healthy.health, healthy.rollout_complete, healthy.image) == (Health.HEALTHY, True, "registry.test/checkout:2.0")


# -- the canary runbook's verbs on a Rollout --------------------------------------------


def test_canary_start_on_a_rollout_changes_its_image_and_nothing_else(emulator, adapter):
    emulator.apply({**rollout_object(), "spec": {**rollout_object()["spec"], "template": {"metadata": {"labels": {"app": "checkout"}}, "spec": {"containers": [{"name": "checkout", "image": "registry.test/checkout:1.0"}]}}}})
    set_status(adapter, {"phase": "Healthy", "currentStepIndex": 4})
    before = stored_rollout(emulator)
    emulator.reset_request_counts()

    result = adapter.canary_start(ROLLOUT, "registry.test/checkout:2.0", 10)
    again = adapter.canary_start(ROLLOUT, "registry.test/checkout:2.0", 10)

    after = stored_rollout(emulator)
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.test/checkout:2.0"
    assert after["spec"]["strategy"] == before["spec"]["strategy"] and after["status"] == before["status"]
    assert emulator.request_count("create", "deployments") == 0, "no -canary Deployment beside a Rollout"
    assert result.detail["weight"] == 20 and "asked 10 %" in result.message
    assert again.detail["patches"] == [], "a resumed start sends nothing twice"


def test_set_weight_promotes_a_paused_rollout_past_its_pause_only_when_more_is_asked(emulator, adapter):
    paused_canary(emulator, adapter)
    emulator.reset_request_counts()

    held = adapter.canary_set_weight(ROLLOUT, 20)
    patches_after_held = emulator.request_count("patch")
    moved = adapter.canary_set_weight(ROLLOUT, 50)

    assert patches_after_held == 0 and held.detail["patches"] == []
    assert stored_rollout(emulator)["status"].get("pauseConditions") is None
    assert moved.detail["weight"] == 50 and "next step sends 50 %" in moved.message


def test_the_runbooks_promote_is_argos_full_promotion_and_its_abort_rolls_back_to_the_stable_image(emulator, adapter):
    paused_canary(emulator, adapter)

    promoted = adapter.canary_promote(ROLLOUT)
    full = stored_rollout(emulator)["status"].get("promoteFull")
    aborted = adapter.canary_abort(ROLLOUT)

    after = stored_rollout(emulator)
    assert promoted.verb == "rollout.promote_full" and full is True
    assert aborted.verb == "canary.abort" and after["status"]["abort"] is True
    # Back to the stable ReplicaSet's image: Argo rolls back to stable without steps.
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.test/checkout:1.0"
    assert aborted.to_version == "1.0"


def test_a_blue_green_rollout_refuses_the_canary_start_with_the_reason(emulator, adapter):
    bluegreen = rollout_object()
    bluegreen["spec"]["strategy"] = {"blueGreen": {"activeService": "checkout"}}
    emulator.apply(bluegreen)

    with pytest.raises(AdapterError) as caught:
        adapter.canary_start(ROLLOUT, "registry.test/checkout:3.0", 10)

    assert caught.value.kind == ErrorKind.BAD_INPUT and "blue-green" in caught.value.summary
    assert stored_rollout(emulator)["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.test/checkout:2.0"


# -- the console ------------------------------------------------------------------------


async def test_the_console_shows_a_rollout_row_and_its_argo_line_in_the_detail_pane(emulator, adapter, tmp_path):
    from widgets.workload_table import WorkloadTable

    paused_canary(emulator, adapter)
    environment = adapter_for(emulator, tmp_path, name="cluster-ui", context="ui").environment
    kubeconfig = str(tmp_path / "cluster-ui.kubeconfig")
    app = WatchfloorApp([Backend(environment, lambda: KubernetesAdapter(environment, kubeconfig=kubeconfig, context="ui", watch_seconds=5))])
    key = WorkloadKey("cluster-ui", "shop", "checkout")
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one(WorkloadTable)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (key in table.visible_keys() and "step 1/4" in " ".join(c.plain for c in table.row_cells(key))):
            await pilot.pause(0.1)
        assert key in table.visible_keys()
        cells = " | ".join(cell.plain for cell in table.row_cells(key))

        table.focus()
        for _ in range(table.row_count):
            if table.key_at_cursor() == key:
                break
            await pilot.press("down")
        await pilot.pause(0.3)
        backend_line = app.screen.query_one("#panel-backend")

        assert "progressing" in cells and "Argo canary Paused, step 1/4" in cells
        assert backend_line.display and "Paused, step 1/4 · weight 20 %" in str(backend_line.render())


# -- helpers ----------------------------------------------------------------------------


def watcher_replicas(watcher) -> int:
    return len(watcher.store.replicas(WorkloadKey(watcher.adapter.environment.name, "shop", "checkout")))


def test_a_deploy_of_a_rollout_is_refused_naming_the_canary_runbook(emulator, adapter):
    paused_canary(emulator, adapter)
    before = stored_rollout(emulator)["metadata"]["resourceVersion"]

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(ROLLOUT, "registry.test/checkout:3.0")

    assert caught.value.kind == ErrorKind.BAD_INPUT
    assert "is an Argo Rollout" in caught.value.summary and "canary runbook" in caught.value.summary
    assert stored_rollout(emulator)["metadata"]["resourceVersion"] == before
