"""Pod and workload health from crafted Kubernetes objects, in the API server's words."""

from __future__ import annotations

import time

import pytest

from adapters.kubernetes import (
    NOT_READY_GRACE,
    PODS,
    REPLICASETS,
    _ClusterState,
    parse_bytes,
    parse_cpu,
    pod_health,
    workload_spec,
)
from console.model import Health, WorkloadKey

NOW = time.time()
OLD_START = "2026-01-01T00:00:00Z"


def pod(phase="Running", *, ready=True, containers=None, init=None, conditions=None, deleting=False, start=OLD_START, **status):
    cond = conditions if conditions is not None else [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", **({"deletionTimestamp": OLD_START} if deleting else {})},
        "spec": {"containers": [{"name": "web", "image": "shop/web:1.4.2"}]},
        "status": {
            "phase": phase,
            "startTime": start,
            "conditions": cond,
            "containerStatuses": containers or [],
            "initContainerStatuses": init or [],
            **status,
        },
    }


def waiting(reason, message="", restarts=0, last=None):
    return {"name": "web", "restartCount": restarts, "state": {"waiting": {"reason": reason, "message": message}}, "lastState": {"terminated": last} if last else {}}


CASES = [
    ("ready pod", pod(), Health.HEALTHY, "Running, Ready"),
    ("unschedulable", pod("Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]), Health.FAILED, "Pending (Unschedulable: 0/3 nodes are available)"),
    ("container creating", pod("Pending", ready=False, containers=[waiting("ContainerCreating")]), Health.PROGRESSING, "ContainerCreating"),
    ("running not ready, young", pod(ready=False, start=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 5))), Health.PROGRESSING, "Running, not Ready yet"),
    ("running not ready, old", pod(ready=False), Health.DEGRADED, "Running, not Ready (readiness probe failing)"),
    ("crash loop", pod(ready=False, containers=[waiting("CrashLoopBackOff", restarts=5, last={"exitCode": 1, "reason": "Error"})]), Health.FAILED, "CrashLoopBackOff (exit 1, 5 restarts)"),
    ("crash loop oom", pod(ready=False, containers=[waiting("CrashLoopBackOff", restarts=2, last={"exitCode": 137, "reason": "OOMKilled"})]), Health.FAILED, "CrashLoopBackOff (OOMKilled, 2 restarts)"),
    ("image pull backoff", pod("Pending", ready=False, containers=[waiting("ImagePullBackOff", 'Back-off pulling image "x:9"')]), Health.FAILED, 'ImagePullBackOff: Back-off pulling image "x:9"'),
    ("err image pull", pod("Pending", ready=False, containers=[waiting("ErrImagePull")]), Health.FAILED, "ErrImagePull"),
    ("config error", pod("Pending", ready=False, containers=[waiting("CreateContainerConfigError", 'secret "db" not found')]), Health.FAILED, 'CreateContainerConfigError: secret "db" not found'),
    ("oom killed now", pod(ready=False, containers=[{"name": "web", "restartCount": 0, "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]), Health.FAILED, "OOMKilled"),
    ("evicted", pod("Failed", reason="Evicted", message="The node was low on resource: memory."), Health.FAILED, "Evicted: The node was low on resource: memory."),
    ("terminating", pod(deleting=True), Health.PROGRESSING, "Terminating"),
    ("init failing", pod("Pending", ready=False, init=[waiting("CrashLoopBackOff", restarts=3, last={"exitCode": 2})]), Health.FAILED, "init container web failing: CrashLoopBackOff (exit 2, 3 restarts)"),
    ("completed", pod("Succeeded"), Health.UNKNOWN, "Completed"),
    ("between two crashes", pod(ready=False, start=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 5)), containers=[{"name": "web", "restartCount": 4, "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}]), Health.DEGRADED, "Running, not Ready, restarted 4 times (last exit 1)"),
]


@pytest.mark.parametrize(("obj", "health", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pod_health_says_why_in_kubernetes_words(obj, health, reason):
    verdict, sentence, _state = pod_health(obj, now=NOW)

    assert verdict is health
    assert sentence == reason


def deployment(**status):
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "generation": 3, "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "shop/web:1.5.0"}]}}},
        "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3, **status},
    }


def test_settled_deployment_has_no_rollout_sentence():
    spec = workload_spec("prod", deployment())

    assert (spec.kind, spec.desired, spec.revision, spec.rollout, spec.problem) == ("Deployment", 3, 3, None, None)
    assert spec.image == "shop/web:1.5.0"


def test_rollout_in_progress_says_updated_ready_available():
    spec = workload_spec("prod", deployment(replicas=4, updatedReplicas=1, readyReplicas=3, availableReplicas=3))

    assert spec.rollout.startswith("rollout: 1/3 updated, 3/3 ready, 3/3 available")


def test_unobserved_generation_is_a_rollout_waiting_for_the_controller():
    spec = workload_spec("prod", deployment(observedGeneration=2))

    assert "waiting for the controller" in spec.rollout


def test_progress_deadline_exceeded_is_a_problem():
    conditions = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": 'ReplicaSet "web-7d9" has timed out progressing.'}]

    spec = workload_spec("prod", deployment(conditions=conditions))

    assert spec.problem == 'ProgressDeadlineExceeded: ReplicaSet "web-7d9" has timed out progressing.'


@pytest.mark.parametrize(("text", "cores"), [("250m", 0.25), ("1", 1.0), ("1200000n", 0.0012), ("15u", 0.000015), ("junk", 0.0)])
def test_parse_cpu(text, cores):
    assert parse_cpu(text) == pytest.approx(cores)


@pytest.mark.parametrize(("text", "size"), [("128Mi", 128 * 1024**2), ("512Ki", 512 * 1024), ("1G", 1e9), ("100", 100), ("x", 0)])
def test_parse_bytes(text, size):
    assert parse_bytes(text) == size


# -- what the adapter keeps of pods and files them under -----------------------------------


def owned_pod(name: str, rs_uid: str, **kwargs) -> dict:
    obj = pod(**kwargs)
    obj["metadata"] = {
        "name": name,
        "namespace": "shop",
        "uid": f"uid-{name}",
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9", "uid": rs_uid}],
    }
    return obj


REPLICASET = {
    "kind": "ReplicaSet",
    "metadata": {"name": "web-7d9", "namespace": "shop", "uid": "rs-1", "ownerReferences": [{"kind": "Deployment", "name": "web"}]},
}


def test_a_pod_seen_before_its_replicaset_is_refiled_under_the_deployment():
    state = _ClusterState("prod")

    first = list(state.apply(PODS, "ADDED", owned_pod("web-1", "rs-1"), NOW))
    refiled = list(state.apply(REPLICASETS, "ADDED", REPLICASET, NOW))

    assert [c.replica.workload.name for c in first] == ["web-7d9"]
    assert [(c.replica.id, c.replica.workload.name) for c in refiled] == [("uid-web-1", "web")]
    assert state.snapshot(NOW).kinds == ((WorkloadKey("prod", "shop", "web"), "Deployment"),)


def test_a_refiled_pod_that_stayed_not_ready_past_the_grace_counts_as_degraded():
    state = _ClusterState("prod")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 5))

    (young,) = list(state.apply(PODS, "ADDED", owned_pod("web-1", "rs-1", ready=False, start=started), NOW))
    (later,) = list(state.apply(REPLICASETS, "ADDED", REPLICASET, NOW + NOT_READY_GRACE))

    assert (young.replica.health, young.replica.reason) == (Health.PROGRESSING, "Running, not Ready yet")
    assert (later.replica.health, later.replica.reason) == (Health.DEGRADED, "Running, not Ready (readiness probe failing)")


def test_deleting_a_pod_forgets_its_name_and_reports_its_id():
    state = _ClusterState("prod")
    obj = owned_pod("web-1", "rs-1")
    list(state.apply(PODS, "ADDED", obj, NOW))

    removed = list(state.apply(PODS, "DELETED", obj, NOW))

    assert [c.replica_id for c in removed] == ["uid-web-1"]
    assert state.pod_names == {} and state.pods == {}
