"""The demo's simulated Argo Rollouts controller (adapters/demo/argo.py).

Against the embedded emulator over real HTTP, driven by the console's own Kubernetes
adapter (``canary_start`` changes the image, ``rollout_promote``/``rollout_abort``/
``rollout_retry`` send the patches the ``kubectl argo rollouts`` CLI sends): the step
machine answers with Argo's status words and ReplicaSet sizes. Then end to end through
the CLI on ``--demo``: the built-in canary runbook on the demo's ``shop/checkout``
Rollout, with the demo Prometheus judging the canary.
"""

from __future__ import annotations

import json
import time

import pytest

from adapters.argo import rollout_status
from adapters.demo import DemoCluster
from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from adapters.kubernetes_write import MERGE
from adapters.prometheus import PrometheusSource
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from tests.test_canary_cli import FAST
from tests.test_cli import watchfloor
from tests.test_kubernetes_adapter import adapter_for

CHECKOUT = WorkloadKey("cluster", "shop", "checkout")
STABLE = "registry.demo/shop/checkout:3.2.0"
NEW = "registry.demo/shop/checkout:3.3.0"
STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}]
"""A timed last pause, so the step machine is seen promoting itself (the demo seed ends
with ``pause: {}`` instead, so that the runbook's promote is the real gate)."""
TIME_SCALE = 0.05  # the 30 s pause lasts 1.5 s, a 20 s progress deadline 1 s


def rollout_body(*, image: str = STABLE, routed: bool = False, deadline: int | None = None, deadline_abort: bool = False) -> dict:
    canary: dict = {"steps": STEPS}
    if routed:
        canary["trafficRouting"] = {"nginx": {"stableIngress": "checkout"}}
    spec: dict = {
        "replicas": 4,
        "selector": {"matchLabels": {"app": "checkout"}},
        "template": {
            "metadata": {"labels": {"app": "checkout"}},
            "spec": {"containers": [{"name": "checkout", "image": image, "ports": [{"containerPort": 8080}]}]},
        },
        "strategy": {"canary": canary},
    }
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    if deadline_abort:
        spec["progressDeadlineAbort"] = True
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "checkout", "namespace": "shop"}, "spec": spec}


def wait_until(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Cluster:
    """The emulator with the simulated Argo controller, and the console's adapter on it."""

    def __init__(self, emulator: KubernetesEmulator, adapter) -> None:
        self.emulator = emulator
        self.adapter = adapter

    def rollout(self) -> dict:
        return self.emulator.get_object("argoproj.io/v1alpha1", "Rollout", "checkout", "shop")

    def status(self) -> dict:
        return self.rollout().get("status") or {}

    def replicasets(self) -> dict[str, int]:
        """The Rollout's ReplicaSets: pod-template-hash → spec.replicas."""
        found = self.adapter.request("GET", "/apis/apps/v1/namespaces/shop/replicasets")["items"]
        return {
            rs["metadata"]["labels"]["rollouts-pod-template-hash"]: rs["spec"]["replicas"]
            for rs in found
            if any(o.get("kind") == "Rollout" for o in rs["metadata"].get("ownerReferences") or [])
        }

    def settled(self, phase: str, **fields) -> dict:
        """Wait until the status has ``phase`` and every field given, and return it."""
        return wait_until(
            lambda: (s := self.status()).get("phase") == phase and all(s.get(k) == v for k, v in fields.items()) and s,
            f"phase {phase} with {fields}",
        )

    def start(self, image: str = NEW) -> tuple[str, str]:
        """Change the image the way the canary runbook does; (stable hash, canary hash)."""
        stable = self.status()["stableRS"]
        self.adapter.canary_start(CHECKOUT, image, 25)
        status = self.settled("Paused", currentStepIndex=1)
        return stable, status["currentPodHash"]


def make_cluster(tmp_path, body: dict):
    emulator = KubernetesEmulator(time_scale=TIME_SCALE, seed=5, argo_rollouts=True, argo_controller=True)
    emulator.start()
    emulator.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    emulator.apply(body)
    adapter = adapter_for(emulator, tmp_path)
    adapter.connect()
    return emulator, adapter


@pytest.fixture
def cluster(tmp_path):
    emulator, adapter = make_cluster(tmp_path, rollout_body())
    made = Cluster(emulator, adapter)
    made.settled("Healthy", availableReplicas=4)
    yield made
    adapter.close()
    emulator.stop()


# -- the step machine ------------------------------------------------------------------------


def test_a_new_rollout_is_stable_at_once_with_one_hash_labelled_replicaset(cluster):
    status = cluster.status()
    rollout = cluster.rollout()

    assert status["stableRS"] == status["currentPodHash"]
    assert status["currentStepIndex"] == len(STEPS)
    assert status["observedGeneration"] == "1"  # Argo writes it as a string
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (4, 4, 4)
    assert cluster.replicasets() == {status["stableRS"]: 4}
    assert rollout["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "1"
    assert rollout_status(rollout).settled


def test_a_template_change_pauses_at_the_first_pause_with_a_quarter_on_the_canary(cluster):
    stable, canary = cluster.start()

    status = cluster.status()
    assert canary != stable and status["stableRS"] == stable
    assert status["message"] == "CanaryPauseStep"
    assert [c["reason"] for c in status["pauseConditions"]] == ["CanaryPauseStep"]
    assert status["controllerPause"] is True
    # No traffic router: replica counts are the weight, so stable gives up what the canary takes.
    wait_until(lambda: cluster.replicasets() == {stable: 3, canary: 1}, "3 stable + 1 canary")
    state = cluster.adapter.release_state(CHECKOUT)
    assert (state.kind, state.weight, state.phase) == ("canary", 25, "Paused, step 1/4")
    assert "weights" not in status["canary"], "Argo writes weights only with traffic routing"


def test_promote_moves_past_the_pause_and_the_timed_pause_continues_by_itself_to_healthy(cluster):
    stable, canary = cluster.start()

    cluster.adapter.rollout_promote(CHECKOUT)
    timed = cluster.settled("Paused", currentStepIndex=3)
    halves = wait_until(lambda: (r := cluster.replicasets()) == {stable: 2, canary: 2} and r, "2 + 2 at setWeight 50")
    healthy = cluster.settled("Healthy", stableRS=canary)

    assert timed["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    assert halves == {stable: 2, canary: 2}
    assert healthy["currentStepIndex"] == 4 and healthy["updatedReplicas"] == 4
    assert cluster.replicasets() == {stable: 0, canary: 4}
    assert "pauseConditions" not in healthy and "controllerPause" not in healthy


def test_promote_full_skips_every_remaining_step_to_healthy_on_the_new_hash(cluster):
    stable, canary = cluster.start()

    cluster.adapter.rollout_promote(CHECKOUT, full=True)
    healthy = cluster.settled("Healthy", stableRS=canary)

    assert healthy["currentStepIndex"] == 4
    assert "promoteFull" not in healthy, "cleared once the new ReplicaSet is stable"
    assert cluster.replicasets() == {stable: 0, canary: 4}
    assert cluster.rollout()["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "2"


def test_abort_scales_the_canary_to_zero_and_degrades_then_retry_runs_the_steps_again(cluster):
    stable, canary = cluster.start()

    cluster.adapter.rollout_abort(CHECKOUT)
    aborted = cluster.settled("Degraded", abort=True)
    after_abort = wait_until(lambda: (r := cluster.replicasets()) == {stable: 4, canary: 0} and r, "stable back to 4")
    reading = rollout_status(cluster.rollout())
    cluster.adapter.rollout_retry(CHECKOUT)
    retried = cluster.settled("Paused", currentStepIndex=1)

    assert aborted["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert aborted["currentStepIndex"] == 0 and aborted["stableRS"] == stable
    assert after_abort == {stable: 4, canary: 0}
    assert (reading.aborted, reading.weight, reading.summary) == (True, 0, "Degraded, step 0/4, aborted")
    assert "abort" not in retried
    wait_until(lambda: cluster.replicasets() == {stable: 3, canary: 1}, "the canary back at 25 %")


def test_a_manually_paused_rollout_holds_its_step(cluster):
    stable, canary = cluster.start()
    cluster.adapter.request(
        "PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout/status", body={"status": {"pauseConditions": None}}, content_type=MERGE
    )
    cluster.adapter.request("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout", body={"spec": {"paused": True}}, content_type=MERGE)

    held = cluster.settled("Paused", message="manually paused")
    time.sleep(0.5)

    assert cluster.status()["currentStepIndex"] == held["currentStepIndex"] <= 2
    assert cluster.status()["stableRS"] == stable


def test_with_traffic_routing_the_stable_side_stays_whole_and_the_weights_are_written(tmp_path):
    emulator, adapter = make_cluster(tmp_path, rollout_body(routed=True))
    cluster = Cluster(emulator, adapter)
    try:
        cluster.settled("Healthy", availableReplicas=4)
        stable, canary = cluster.start()
        status = cluster.status()
        sizes = wait_until(lambda: r if (r := cluster.replicasets()).get(canary) == 1 else None, "the canary pod")
    finally:
        adapter.close()
        emulator.stop()

    assert status["canary"]["weights"]["canary"] == {"podTemplateHash": canary, "weight": 25}
    assert status["canary"]["weights"]["stable"] == {"podTemplateHash": stable, "weight": 75}
    assert sizes == {stable: 4, canary: 1}


@pytest.mark.parametrize("deadline_abort", [False, True], ids=["degraded", "aborted"])
def test_a_crash_looping_canary_turns_degraded_at_its_progress_deadline(tmp_path, deadline_abort):
    emulator, adapter = make_cluster(tmp_path, rollout_body(deadline=20, deadline_abort=deadline_abort))
    cluster = Cluster(emulator, adapter)
    try:
        cluster.settled("Healthy", availableReplicas=4)
        stable = cluster.status()["stableRS"]
        adapter.canary_start(CHECKOUT, "registry.demo/shop/checkout:3.3.0-broken", 25)
        degraded = cluster.settled("Degraded")
        sizes = wait_until(lambda: r if (r := cluster.replicasets()).get(stable) in (3, 4) else None, "the sizes")
    finally:
        adapter.close()
        emulator.stop()

    canary = degraded["currentPodHash"]
    if deadline_abort:
        assert degraded["message"].startswith("RolloutAborted: Rollout aborted update to revision 2: ReplicaSet")
        assert degraded["abort"] is True
    else:
        assert degraded["message"] == f'ProgressDeadlineExceeded: ReplicaSet "checkout-{canary}" has timed out progressing.'
        assert "abort" not in degraded and sizes[canary] == 1, "Argo leaves the canary running"
    assert degraded["stableRS"] == stable


# -- the demo --------------------------------------------------------------------------------


def test_the_demo_staging_cluster_runs_checkout_as_a_rollout_whose_canary_pods_are_measured_apart(tmp_path):
    with DemoCluster(tmp_path, time_scale=TIME_SCALE) as demo:
        endpoint = demo.endpoints["demo-staging"]
        adapter = KubernetesAdapter(Environment("demo-staging", EnvironmentKind.KUBERNETES, endpoint.context), kubeconfig=str(endpoint.kubeconfig_path), context=endpoint.context)
        adapter.connect()
        key = WorkloadKey("demo-staging", "shop", "checkout")
        try:
            wait_until(lambda: adapter.observe(key).health is Health.HEALTHY, "checkout healthy", timeout=30)
            adapter.canary_start(key, NEW, 25)
            source = PrometheusSource(endpoint.prometheus_url, timeout=10)
            query = 'count by (track, version) (http_requests_total{namespace="shop",workload="checkout",code="200"})'
            tracks = wait_until(lambda: {(s[0]["track"], s[0]["version"]): s[1] for s in source.instant(query)} if len(source.instant(query)) == 2 else None, "both tracks", timeout=30)
        finally:
            adapter.close()

    assert tracks == {("stable", "3.2.0"): 3, ("canary", "3.3.0"): 1}


def demo_canary(image: str, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_STATE_HOME": str(tmp_path / "state"), "WATCHFLOOR_CONFIG": ""}
    completed = watchfloor(
        "runbook", "run", "canary", "--demo", "--env", "demo-staging", "--workload", "shop/checkout",
        "--set", f"image={image}", *FAST, "--yes", "--json", env=env, timeout=300,
    )
    document = json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None
    return completed, document


def test_the_canary_runbook_promotes_a_good_image_through_argos_steps_to_healthy(tmp_path):
    completed, document = demo_canary(NEW, tmp_path)

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert document["outcome"] == "succeeded" and document["to_version"] == "3.3.0"
    steps = {s["id"]: s for s in document["steps"]}
    assert all(s["state"] == "passed" for s in steps.values())
    # The runbook's 10/25/50 % meet Argo's own steps: 25 % first, then one promote to 50 %.
    assert "Argo's first step sends 25 %" in steps["canary-10"]["message"]
    assert "nothing sent" in steps["weight-25"]["message"]
    assert "the next step sends 50 %" in steps["weight-50"]["message"]
    assert "checkout runs 3.3.0, 4/4 ready" in document["message"]


@pytest.fixture(scope="module")
def errors_run(tmp_path_factory):
    return demo_canary(f"{NEW}-errors", tmp_path_factory.mktemp("errors"))


def test_an_errors_canary_fails_its_gate_and_the_run_rolls_argo_back_to_the_stable_image(errors_run):
    """The gate fails; the rollback aborts the Rollout and sets its template back to the
    stable image, which Argo takes as a rollback to stable: Healthy on 3.2.0, 4/4."""
    completed, document = errors_run

    steps = {s["id"]: s for s in document["steps"]}
    assert steps["errors-10"]["state"] == "failed" and steps["promote"]["state"] == "pending"
    assert completed.returncode == 1 and document["outcome"] == "rolled_back", completed.stderr[-3000:]
    assert "set back to registry.demo/shop/checkout:3.2.0" in steps["rollback"]["message"]
    assert "3.2.0" in document["message"], document["message"]
