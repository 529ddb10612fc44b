"""The simulated scheduler and kubelet: what happens to a pod once it exists.

A pod goes Pending (scheduled onto one of the simulated nodes, ``PodScheduled``) →
ContainerCreating (sandbox ready, image pulling) → Running, not Ready → Ready, over
about 1.5 s times ``time_scale``. What a container does is read from its image tag or
from the pod's ``watchfloor.demo/fault`` annotation:

============  ==========================================================================
``-broken``   exits with code 1 shortly after starting: ``CrashLoopBackOff``,
              ``lastState.terminated`` (``Error``, exit 1), ``restartCount`` rising
``-oom``      becomes Ready, then is ``OOMKilled`` (exit 137) and crash-loops
``-slow``     takes 20 s to become Ready
``-badimage`` never pulls: ``ErrImagePull`` then ``ImagePullBackOff``, pod stays Pending
``-flaky``    the first pod of each ReplicaSet/StatefulSet/DaemonSet is OOMKilled
              repeatedly, the others are fine (one bad replica of several)
============  ==========================================================================

Crash restarts back off 10 s, 20 s, 40 s … up to 300 s (times ``time_scale``), as the
kubelet does, emitting ``BackOff`` events. A pod whose status a client writes through
``pods/status`` (or that carries ``watchfloor.demo/kubelet: manual``) is left alone:
tests craft pod states that way.

Everything is driven by ``loop.call_later`` timers, one per pod step or container: no
task per pod, nothing kept after a pod is gone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from adapters.demo.events import EventRecorder
from adapters.demo.objects import rfc3339
from adapters.demo.resources import PODS
from adapters.demo.store import ApiError, Change, ObjectStore

log = logging.getLogger("watchfloor.demo.kubelet")

FAULT_ANNOTATION = "watchfloor.demo/fault"
KUBELET_ANNOTATION = "watchfloor.demo/kubelet"
BEHAVIOURS = ("broken", "slow", "oom", "badimage", "flaky")

# Seconds at time_scale 1.0.
SCHEDULE_DELAY = 0.1
SANDBOX_DELAY = 0.3
PULL_DELAY = 0.4
READY_DELAY = 0.6
SLOW_READY_DELAY = 20.0
BROKEN_RUN = 0.8
OOM_RUN = 2.5
FLAKY_RUN = 4.0
RESTART_DELAY = 0.1
IMAGE_PULL_BACKOFF_DELAY = 1.0
BACKOFF_BASE = 10.0
BACKOFF_CAP = 300.0

_CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def behaviour_of(image: str, annotation: str | None = None) -> str:
    """How a container with this image behaves (``normal`` unless told otherwise)."""
    last = image.rsplit("/", 1)[-1].split("@", 1)[0]
    tag = last.split(":", 1)[1] if ":" in last else ""
    for name in BEHAVIOURS:
        if tag.endswith(f"-{name}"):
            return name
    if annotation in BEHAVIOURS:
        return annotation
    return "normal"


def image_id(image: str) -> str:
    """A stable ``imageID`` for an image reference (``repo@sha256:…``)."""
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"{image.rsplit(':', 1)[0] if ':' in image.rsplit('/', 1)[-1] else image}@sha256:{digest}"


@dataclass
class ContainerSim:
    """The kubelet's view of one container of a pod."""

    name: str
    image: str
    behaviour: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str | None = "ContainerCreating"
    message: str | None = None
    started_at: float | None = None
    ready: bool = False
    pulled: bool = False
    restart_count: int = 0
    failures: int = 0
    last_terminated: dict[str, Any] | None = None
    container_id: str | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass
class PodSim:
    """The kubelet's view of one pod."""

    uid: str
    namespace: str
    name: str
    containers: list[ContainerSim]
    init_containers: list[str] = field(default_factory=list)
    node: str | None = None
    pod_ip: str | None = None
    host_ip: str | None = None
    start_time: float | None = None
    sandbox_ready: bool = False
    conditions: dict[str, tuple[str, float]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None

    def set_condition(self, type_: str, status: str, now: float) -> None:
        previous = self.conditions.get(type_)
        if previous is None or previous[0] != status:
            self.conditions[type_] = (status, now)

    def cancel(self) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None
        for container in self.containers:
            if container.timer:
                container.timer.cancel()
                container.timer = None


@dataclass(frozen=True)
class Node:
    """A simulated node: its name, its IP and its pod subnet's third octet."""

    name: str
    ip: str
    subnet: int


class Kubelet:
    """Schedules pods onto the simulated nodes and runs their containers' lifecycle.

    Args:
        store: The cluster's objects.
        recorder: Where Events go.
        nodes: The simulated nodes.
        time_scale: Multiplies every delay (0.05 runs twenty times faster).
        rng: Seeded randomness (node choice, container ids are random anyway).
    """

    def __init__(
        self,
        store: ObjectStore,
        recorder: EventRecorder,
        nodes: list[Node],
        *,
        time_scale: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._events = recorder
        self._nodes = {node.name: node for node in nodes}
        self._time_scale = time_scale
        self._rng = rng or random.Random()  # nosec B311 # simulated pod behaviour, not secrets
        self._pods: dict[str, PodSim] = {}
        self._pods_per_node: dict[str, int] = {node.name: 0 for node in nodes}
        self._ip_counter: dict[str, int] = {node.name: 1 for node in nodes}
        self._writing = False
        # Owners whose first pod already came up as the flaky one; capped, oldest out.
        self._flaky_owners: OrderedDict[str, None] = OrderedDict()
        self._stopped = False

    # --- lifecycle ----------------------------------------------------------------

    def stop(self) -> None:
        """Cancel every timer; the kubelet does nothing after this."""
        self._stopped = True
        for sim in self._pods.values():
            sim.cancel()
        self._pods.clear()

    def tracked(self) -> int:
        """How many pods the kubelet is running (for boundedness checks)."""
        return len(self._pods)

    def on_change(self, change: Change) -> None:
        """React to a pod change (called from the store listener)."""
        if self._stopped or change.rt is not PODS:
            return
        pod = change.obj
        uid = pod["metadata"]["uid"]
        if change.type == "ADDED":
            annotations = pod["metadata"].get("annotations") or {}
            if annotations.get(KUBELET_ANNOTATION) != "manual":
                self._admit(pod)
        elif change.type == "DELETED":
            sim = self._pods.pop(uid, None)
            if sim:
                sim.cancel()
                if sim.node:
                    self._pods_per_node[sim.node] -= 1
        else:
            sim = self._pods.get(uid)
            if sim is None:
                return
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate(sim, pod)
            elif not self._writing and change.old is not None and pod.get("status") != change.old.get("status"):
                # A client wrote this pod's status: it is theirs to drive now.
                log.debug("pod %s/%s status written by a client; kubelet lets go", sim.namespace, sim.name)
                self._forget(sim)

    def _forget(self, sim: PodSim) -> None:
        sim.cancel()
        self._pods.pop(sim.uid, None)
        if sim.node:
            self._pods_per_node[sim.node] -= 1

    def _after(self, delay: float, callback, *args: Any) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay * self._time_scale, callback, *args)

    # --- steps --------------------------------------------------------------------

    def _admit(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        fault = annotations.get(FAULT_ANNOTATION)
        containers = []
        for spec in pod["spec"].get("containers", []):
            behaviour = behaviour_of(spec.get("image", ""), fault)
            if behaviour == "flaky":
                behaviour = "oom" if self._first_of_owner(meta) else "normal"
            containers.append(ContainerSim(spec["name"], spec.get("image", ""), behaviour))
        sim = PodSim(
            uid=meta["uid"],
            namespace=meta.get("namespace", "default"),
            name=meta["name"],
            containers=containers,
            init_containers=[c["name"] for c in pod["spec"].get("initContainers") or []],
        )
        self._pods[sim.uid] = sim
        sim.timer = self._after(SCHEDULE_DELAY, self._schedule, sim.uid)

    def _first_of_owner(self, meta: dict[str, Any]) -> bool:
        owners = meta.get("ownerReferences") or []
        if not owners:
            return True
        owner = owners[0].get("uid", "")
        if owner in self._flaky_owners:
            return False
        self._flaky_owners[owner] = None
        while len(self._flaky_owners) > 4096:
            self._flaky_owners.popitem(last=False)
        return True

    def _schedule(self, uid: str) -> None:
        sim = self._pods.get(uid)
        pod = self._store.get_copy(PODS, sim.namespace, sim.name) if sim else None
        if sim is None or pod is None:
            return
        node_name = pod["spec"].get("nodeName")
        if node_name not in self._nodes:
            node_name = min(self._pods_per_node, key=lambda n: (self._pods_per_node[n], n))
        node = self._nodes[node_name]
        self._pods_per_node[node_name] += 1
        sim.node = node_name
        sim.host_ip = node.ip
        pod["spec"]["nodeName"] = node_name
        now = time.time()
        sim.set_condition("PodScheduled", "True", now)
        self._write(sim, pod)
        self._events.record(
            pod, "Normal", "Scheduled", f"Successfully assigned {sim.namespace}/{sim.name} to {node_name}", component="default-scheduler"
        )
        sim.timer = self._after(SANDBOX_DELAY, self._sandbox, uid)

    def _sandbox(self, uid: str) -> None:
        sim = self._pods.get(uid)
        if sim is None:
            return
        node = self._nodes[sim.node or ""]
        counter = self._ip_counter[node.name]
        self._ip_counter[node.name] = counter % 250 + 1
        sim.pod_ip = f"10.244.{node.subnet}.{counter + 1}"
        now = time.time()
        sim.start_time = now
        sim.sandbox_ready = True
        sim.set_condition("PodReadyToStartContainers", "True", now)
        sim.set_condition("Initialized", "True", now)
        sim.set_condition("Ready", "False", now)
        sim.set_condition("ContainersReady", "False", now)
        pod = self._write(sim)
        for container in sim.containers:
            self._container_event(sim, pod, container, "Normal", "Pulling", f'Pulling image "{container.image}"')
        sim.timer = self._after(PULL_DELAY, self._pulled, uid)

    def _pulled(self, uid: str) -> None:
        sim = self._pods.get(uid)
        if sim is None:
            return
        sim.timer = None
        for container in sim.containers:
            self._pull(sim, container)
        self._write(sim)

    def _pull(self, sim: PodSim, container: ContainerSim) -> None:
        pod = self._store.find(PODS, sim.namespace, sim.name) or {}
        if container.behaviour == "badimage":
            container.failures += 1
            container.state, container.reason = "waiting", "ErrImagePull"
            repo = container.image.rsplit(":", 1)[0]
            container.message = (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{container.image}": '
                f'failed to resolve reference "{container.image}": {repo}: not found'
            )
            self._container_event(sim, pod, container, "Warning", "Failed", f'Failed to pull image "{container.image}": {container.message}')
            self._container_event(sim, pod, container, "Warning", "Failed", "Error: ErrImagePull")
            container.timer = self._after(IMAGE_PULL_BACKOFF_DELAY, self._image_backoff, sim.uid, container.name)
            return
        elapsed = int(self._rng.uniform(300, 1500))
        if container.pulled:
            message = f'Container image "{container.image}" already present on machine'
        else:
            message = f'Successfully pulled image "{container.image}" in {elapsed}ms ({elapsed}ms including waiting). Image size: {self._rng.randint(20, 300) * 1_048_576} bytes.'
        container.pulled = True
        self._container_event(sim, pod, container, "Normal", "Pulled", message)
        self._start(sim, container, pod)

    def _image_backoff(self, uid: str, name: str) -> None:
        sim, container = self._container(uid, name)
        if container is None:
            return
        delay = min(BACKOFF_BASE * 2 ** (container.failures - 1), BACKOFF_CAP)
        container.reason = "ImagePullBackOff"
        container.message = f'Back-off pulling image "{container.image}"'
        pod = self._write(sim)
        self._container_event(sim, pod, container, "Normal", "BackOff", f'Back-off pulling image "{container.image}"')
        self._container_event(sim, pod, container, "Warning", "Failed", "Error: ImagePullBackOff")
        container.timer = self._after(delay, self._retry_pull, uid, name)

    def _retry_pull(self, uid: str, name: str) -> None:
        sim, container = self._container(uid, name)
        if container is None:
            return
        self._pull(sim, container)
        self._write(sim)

    def _start(self, sim: PodSim, container: ContainerSim, pod: dict[str, Any]) -> None:
        now = time.time()
        container.state, container.reason, container.message = "running", None, None
        container.started_at = now
        container.container_id = f"containerd://{secrets.token_hex(32)}"
        self._container_event(sim, pod, container, "Normal", "Created", f"Created container: {container.name}")
        self._container_event(sim, pod, container, "Normal", "Started", f"Started container {container.name}")
        behaviour = container.behaviour
        if behaviour == "broken":
            container.timer = self._after(BROKEN_RUN, self._crash, sim.uid, container.name, 1, "Error")
        elif behaviour == "slow":
            container.timer = self._after(SLOW_READY_DELAY, self._ready, sim.uid, container.name)
        else:
            container.timer = self._after(READY_DELAY, self._ready, sim.uid, container.name)

    def _ready(self, uid: str, name: str) -> None:
        sim, container = self._container(uid, name)
        if container is None or container.state != "running":
            return
        container.ready = True
        self._write(sim)
        if container.behaviour == "oom":
            container.timer = self._after(OOM_RUN - READY_DELAY, self._crash, uid, name, 137, "OOMKilled")

    def _crash(self, uid: str, name: str, exit_code: int, reason: str) -> None:
        sim, container = self._container(uid, name)
        if container is None:
            return
        now = time.time()
        container.last_terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": rfc3339(container.started_at),
            "finishedAt": rfc3339(now),
            "containerID": container.container_id,
        }
        container.restart_count += 1
        container.failures += 1
        container.ready = False
        container.started_at = None
        pod = self._store.find(PODS, sim.namespace, sim.name) or {}
        if container.failures == 1:
            # The kubelet restarts a container the first time at once; back-off starts after.
            container.state, container.reason, container.message = "terminated", reason, None
            self._write(sim)
            container.timer = self._after(RESTART_DELAY, self._restart, uid, name)
            return
        delay = min(BACKOFF_BASE * 2 ** (container.failures - 2), BACKOFF_CAP)
        container.state, container.reason = "waiting", "CrashLoopBackOff"
        container.message = f"back-off {int(delay)}s restarting failed container={name} pod={sim.name}_{sim.namespace}({uid})"
        pod = self._write(sim)
        self._container_event(
            sim, pod, container, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod {sim.name}_{sim.namespace}({uid})"
        )
        container.timer = self._after(delay, self._restart, uid, name)

    def _restart(self, uid: str, name: str) -> None:
        sim, container = self._container(uid, name)
        if container is None:
            return
        pod = self._store.find(PODS, sim.namespace, sim.name) or {}
        self._container_event(sim, pod, container, "Normal", "Pulled", f'Container image "{container.image}" already present on machine')
        self._start(sim, container, pod)
        self._write(sim)

    def _terminate(self, sim: PodSim, pod: dict[str, Any]) -> None:
        """The pod is being deleted: stop its containers; the store removes it after the grace."""
        sim.cancel()
        for container in sim.containers:
            if container.state == "running":
                self._container_event(sim, pod, container, "Normal", "Killing", f"Stopping container {container.name}")
        self._forget(sim)

    # --- helpers ------------------------------------------------------------------

    def _container(self, uid: str, name: str) -> tuple[PodSim | None, ContainerSim | None]:
        """The pod and container a timer fired for; ``None`` if the pod went meanwhile."""
        sim = self._pods.get(uid)
        if sim is None:
            return None, None
        for container in sim.containers:
            if container.name == name:
                container.timer = None
                return sim, container
        return sim, None

    def _container_event(
        self, sim: PodSim, pod: dict[str, Any], container: ContainerSim, type_: str, reason: str, message: str
    ) -> None:
        if not pod:
            return
        self._events.record(
            pod, type_, reason, message, component="kubelet", host=sim.node, field_path=f"spec.containers{{{container.name}}}"
        )

    def _write(self, sim: PodSim, pod: dict[str, Any] | None = None) -> dict[str, Any]:
        """Render the pod's status from the simulation and store it."""
        if pod is None:
            pod = self._store.get_copy(PODS, sim.namespace, sim.name)
            if pod is None:
                return {}
        now = time.time()
        ready = sim.sandbox_ready and all(c.ready for c in sim.containers)
        if sim.sandbox_ready:
            sim.set_condition("ContainersReady", "True" if ready else "False", now)
            sim.set_condition("Ready", "True" if ready else "False", now)
        pod["status"] = self._render_status(sim, pod, ready)
        self._writing = True
        try:
            return self._store.write(PODS, pod)
        except ApiError as error:
            log.debug("pod %s/%s status not written: %s", sim.namespace, sim.name, error.message)
            return {}
        finally:
            self._writing = False

    def _render_status(self, sim: PodSim, pod: dict[str, Any], ready: bool) -> dict[str, Any]:
        unready = [c.name for c in sim.containers if not c.ready]
        conditions = []
        for type_ in _CONDITION_ORDER:
            if type_ not in sim.conditions:
                continue
            status, since = sim.conditions[type_]
            condition: dict[str, Any] = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": rfc3339(since)}
            if type_ in ("Ready", "ContainersReady") and status == "False":
                condition["reason"] = "ContainersNotReady"
                condition["message"] = f"containers with unready status: [{' '.join(unready)}]"
            conditions.append(condition)
        started_once = all(c.container_id is not None for c in sim.containers)
        status: dict[str, Any] = {
            "phase": "Running" if started_once else "Pending",
            "conditions": conditions,
            "qosClass": pod.get("status", {}).get("qosClass", "BestEffort"),
        }
        if sim.host_ip:
            status["hostIP"] = sim.host_ip
            status["hostIPs"] = [{"ip": sim.host_ip}]
        if sim.pod_ip:
            status["podIP"] = sim.pod_ip
            status["podIPs"] = [{"ip": sim.pod_ip}]
        if sim.start_time:
            status["startTime"] = rfc3339(sim.start_time)
        if sim.sandbox_ready:
            if sim.init_containers:
                status["initContainerStatuses"] = [
                    {
                        "name": name,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(sim.start_time), "finishedAt": rfc3339(sim.start_time)}},
                        "lastState": {},
                        "ready": True,
                        "restartCount": 0,
                        "image": next((c.get("image", "") for c in pod["spec"].get("initContainers", []) if c.get("name") == name), ""),
                        "imageID": "",
                        "started": False,
                    }
                    for name in sim.init_containers
                ]
            status["containerStatuses"] = [self._container_status(c) for c in sim.containers]
        return status

    @staticmethod
    def _container_status(container: ContainerSim) -> dict[str, Any]:
        if container.state == "running":
            state: dict[str, Any] = {"running": {"startedAt": rfc3339(container.started_at)}}
        elif container.state == "terminated" and container.last_terminated:
            state = {"terminated": container.last_terminated}
        else:
            waiting: dict[str, Any] = {"reason": container.reason or "ContainerCreating"}
            if container.message:
                waiting["message"] = container.message
            state = {"waiting": waiting}
        status: dict[str, Any] = {
            "name": container.name,
            "state": state,
            "lastState": {"terminated": container.last_terminated} if container.last_terminated and container.state != "terminated" else {},
            "ready": container.ready,
            "restartCount": container.restart_count,
            "image": container.image,
            "imageID": image_id(container.image) if container.pulled else "",
            "started": container.state == "running",
        }
        if container.container_id:
            status["containerID"] = container.container_id
        return status
