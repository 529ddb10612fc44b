"""Pod statuses for every health reason the console shows, as a cluster reports them.

For tests that need a pod in a given state at once, without waiting for the simulated
kubelet: create the pod (with ``watchfloor.demo/kubelet: manual`` so the kubelet never
touches it, or on an emulator without controller), then write one of these through the
``pods/status`` subresource. Each status is what a real kubelet writes for that
situation, field for field, so the official client reads it and an adapter sees the
backend's own words.

Example:
    >>> pod = crafted_pod("web-1", "shop", {"app": "web"})  # doctest: +SKIP
    >>> core.create_namespaced_pod("shop", pod)
    >>> core.patch_namespaced_pod_status("web-1", "shop", {"status": pod_status("CrashLoopBackOff")})
"""

from __future__ import annotations

import time
from typing import Any

from adapters.demo.kubelet import KUBELET_ANNOTATION
from adapters.demo.objects import rfc3339

IMAGE = "registry.demo/shop/web:1.5.0"
IMAGE_ID = "registry.demo/shop/web@sha256:" + "ab" * 32
CONTAINER_ID = "containerd://" + "cd" * 32

REASONS = (
    "Running",
    "RunningNotReady",
    "Unschedulable",
    "ContainerCreating",
    "CrashLoopBackOff",
    "OOMKilled",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InitCrashLoopBackOff",
    "Evicted",
    "Completed",
)


def crafted_pod(name: str, namespace: str = "default", labels: dict[str, str] | None = None, *, container: str = "app", image: str = IMAGE, node: str | None = "demo-node-1", init_container: bool = False) -> dict[str, Any]:
    """A pod manifest the simulated kubelet leaves alone.

    Args:
        name: Pod name.
        namespace: Its namespace.
        labels: Its labels (for selectors and grouping).
        container: The container's name.
        image: The container's image.
        node: ``spec.nodeName`` (``None`` for a pod the scheduler has not placed).
        init_container: Add an init container named ``init`` (for init failures).
    """
    spec: dict[str, Any] = {"containers": [{"name": container, "image": image}]}
    if node:
        spec["nodeName"] = node
    if init_container:
        spec["initContainers"] = [{"name": "init", "image": "registry.demo/shop/migrate:1.0"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": {KUBELET_ANNOTATION: "manual"}},
        "spec": spec,
    }


def _condition(type_: str, status: str, since: str, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def pod_status(
    reason: str,
    *,
    container: str = "app",
    image: str = IMAGE,
    restarts: int = 4,
    exit_code: int = 1,
    node_ip: str = "172.18.0.2",
    pod_ip: str = "10.244.1.7",
    now: float | None = None,
) -> dict[str, Any]:
    """The ``status`` a cluster reports for a pod in the situation ``reason`` names.

    Args:
        reason: One of :data:`REASONS`.
        container: The container's name (must match the pod's spec).
        image: The container's image.
        restarts: ``restartCount`` for crash loops.
        exit_code: Exit code of the last crash (``CrashLoopBackOff``, init failures).
        node_ip: ``hostIP``.
        pod_ip: ``podIP``.
        now: The clock, for timestamps.

    Raises:
        ValueError: Unknown reason.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}; choose one of {', '.join(REASONS)}")
    now = time.time() if now is None else now
    started, recent, a_minute_ago = rfc3339(now - 600), rfc3339(now - 5), rfc3339(now - 60)
    unready = [container]

    def container_status(state: dict[str, Any], *, ready: bool = False, restart_count: int = 0, last: dict[str, Any] | None = None, pulled: bool = True) -> dict[str, Any]:
        status = {
            "name": container,
            "state": state,
            "lastState": {"terminated": last} if last else {},
            "ready": ready,
            "restartCount": restart_count,
            "image": image,
            "imageID": IMAGE_ID if pulled else "",
            "started": "running" in state,
        }
        if pulled:
            status["containerID"] = CONTAINER_ID
        return status

    def scheduled(phase: str, ready: bool, statuses: list[dict[str, Any]], *, initialized: bool = True, init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        message = None if ready else f"containers with unready status: [{' '.join(unready)}]"
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": [
                _condition("PodReadyToStartContainers", "True", started),
                _condition("Initialized", "True" if initialized else "False", started, None if initialized else "ContainersNotInitialized",
                           None if initialized else "containers with incomplete status: [init]"),
                _condition("Ready", "True" if ready else "False", recent, None if ready else "ContainersNotReady", message),
                _condition("ContainersReady", "True" if ready else "False", recent, None if ready else "ContainersNotReady", message),
                _condition("PodScheduled", "True", started),
            ],
            "hostIP": node_ip,
            "hostIPs": [{"ip": node_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": started,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        }
        if init is not None:
            status["initContainerStatuses"] = init
        return status

    crash = {"exitCode": exit_code, "reason": "Error", "startedAt": a_minute_ago, "finishedAt": recent, "containerID": CONTAINER_ID}
    if reason == "Running":
        return scheduled("Running", True, [container_status({"running": {"startedAt": started}}, ready=True)])
    if reason == "RunningNotReady":
        return scheduled("Running", False, [container_status({"running": {"startedAt": recent}})])
    if reason == "Unschedulable":
        return {
            "phase": "Pending",
            "conditions": [
                _condition("PodScheduled", "False", recent, "Unschedulable",
                           "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."),
            ],
            "qosClass": "Burstable",
        }
    if reason == "ContainerCreating":
        return scheduled("Pending", False, [container_status({"waiting": {"reason": "ContainerCreating"}}, pulled=False)])
    if reason == "CrashLoopBackOff":
        waiting = {"reason": "CrashLoopBackOff", "message": f"back-off 2m40s restarting failed container={container} pod=crafted_default(0)"}
        return scheduled("Running", False, [container_status({"waiting": waiting}, restart_count=restarts, last=crash)])
    if reason == "OOMKilled":
        oom = {**crash, "exitCode": 137, "reason": "OOMKilled"}
        waiting = {"reason": "CrashLoopBackOff", "message": f"back-off 40s restarting failed container={container} pod=crafted_default(0)"}
        return scheduled("Running", False, [container_status({"waiting": waiting}, restart_count=restarts, last=oom)])
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        message = (
            f'Back-off pulling image "{image}"'
            if reason == "ImagePullBackOff"
            else f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found'
        )
        return scheduled("Pending", False, [container_status({"waiting": {"reason": reason, "message": message}}, pulled=False)])
    if reason == "CreateContainerConfigError":
        waiting = {"reason": "CreateContainerConfigError", "message": 'secret "payments-db" not found'}
        return scheduled("Pending", False, [container_status({"waiting": waiting}, pulled=True)])
    if reason == "InitCrashLoopBackOff":
        init = [{
            "name": "init",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=init"}},
            "lastState": {"terminated": crash},
            "ready": False,
            "restartCount": restarts,
            "image": "registry.demo/shop/migrate:1.0",
            "imageID": IMAGE_ID,
            "containerID": CONTAINER_ID,
            "started": False,
        }]
        return scheduled("Pending", False, [container_status({"waiting": {"reason": "PodInitializing"}}, pulled=False)], initialized=False, init=init)
    if reason == "Evicted":
        return {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91Mi. Container app was using 1.2Gi, request is 0, has larger consumption of memory.",
            "conditions": [_condition("DisruptionTarget", "True", recent, "TerminationByKubelet", "The node was low on resource: memory."),
                           _condition("PodScheduled", "True", started)],
            "hostIP": node_ip,
            "hostIPs": [{"ip": node_ip}],
            "startTime": started,
            "containerStatuses": [container_status({"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown", "message": "The container could not be located when the pod was terminated", "startedAt": started, "finishedAt": recent}})],
            "qosClass": "BestEffort",
        }
    # Completed
    done = {"exitCode": 0, "reason": "Completed", "startedAt": a_minute_ago, "finishedAt": recent, "containerID": CONTAINER_ID}
    status = scheduled("Succeeded", False, [container_status({"terminated": done})])
    return status
