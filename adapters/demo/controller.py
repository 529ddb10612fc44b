"""The simulated control plane: Deployment, ReplicaSet, StatefulSet and DaemonSet
controllers, the garbage collector, and (through :class:`~adapters.demo.kubelet.Kubelet`)
the scheduler and kubelet.

It behaves like the real controllers where the console looks:

- A Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``; the hash is
  computed like kube-controller-manager's (FNV-32a of the template, "safe-encoded"), so
  names look right. A template change creates a new ReplicaSet with
  ``deployment.kubernetes.io/revision`` one higher; going back to an old template
  (``kubectl rollout undo``) reuses that ReplicaSet and gives it the next revision.
  Old ReplicaSets are scaled to 0 and kept up to ``revisionHistoryLimit``.
- Rolling updates honour ``maxSurge``/``maxUnavailable`` (percentages rounded as the
  real controller rounds them); ``Recreate`` scales old to 0 first; ``paused`` stops.
- Deployment ``status`` carries replicas, updatedReplicas, readyReplicas,
  availableReplicas, unavailableReplicas and observedGeneration (zero values omitted,
  as the server's ``omitempty`` does), and the ``Available`` and ``Progressing``
  conditions with the real reasons: ``NewReplicaSetCreated``, ``ReplicaSetUpdated``,
  ``NewReplicaSetAvailable``, ``ProgressDeadlineExceeded`` (after
  ``progressDeadlineSeconds`` × ``time_scale`` without progress), ``DeploymentPaused``.
- StatefulSets create ``<name>-0 … <name>-(n-1)`` one at a time (OrderedReady) and
  roll in reverse ordinal order; DaemonSets run one pod per simulated node.
- Deleting an owner deletes its dependents (background propagation) or strips their
  ``ownerReferences`` (``Orphan``).

Everything runs on the emulator's event loop, driven by store changes: a change marks
objects dirty and a ``call_soon`` pass reconciles them; a slow tick re-checks rollouts
in progress for their deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from typing import Any

from adapters.demo.events import DEFAULT_EVENT_TTL, DEFAULT_MAX_EVENTS, EventRecorder
from adapters.demo.kubelet import Kubelet, Node
from adapters.demo.objects import SAFE_ALPHABET, parse_time, random_suffix, rfc3339
from adapters.demo.resources import DAEMONSETS, DEPLOYMENTS, PODS, REPLICASETS, RESOURCE_TYPES, STATEFULSETS, ResourceType
from adapters.demo.store import ApiError, Change, ObjectStore

log = logging.getLogger("watchfloor.demo.controller")

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
# Deployment annotations the real controller does not copy onto its ReplicaSets.
_NOT_COPIED = {REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, "kubectl.kubernetes.io/last-applied-configuration"}

_KIND_TO_RT = {rt.kind: rt for rt in (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS)}
_RT_BY_KEY = {rt.key: rt for rt in RESOURCE_TYPES}
_WORKLOADS = (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS)

# Reconcile at most this many objects per loop turn, so HTTP requests keep flowing.
_BATCH = 200


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash, which kube-controller-manager uses for template hashes."""
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: map each byte onto the vowel-free alphabet."""
    return "".join(SAFE_ALPHABET[ord(char) % len(SAFE_ALPHABET)] for char in text)


def template_hash(template: dict[str, Any], collision_count: int = 0) -> str:
    """The ``pod-template-hash`` of a pod template (looks like ``5d4f7b9c6``)."""
    data = json.dumps(_strip_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def _strip_hash(template: dict[str, Any] | None) -> dict[str, Any]:
    template = json.loads(json.dumps(template or {}))
    labels = template.get("metadata", {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH, None)
    return template


def templates_equal(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Equal ignoring ``pod-template-hash`` (``EqualIgnoreHash`` in the real code)."""
    return _strip_hash(a) == _strip_hash(b)


def resolve_fraction(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent (``maxSurge: 25%``) against ``total``, rounded like the controller."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            fraction = float(value[:-1]) / 100 * total
        except ValueError:
            return 0
        return math.ceil(fraction) if round_up else math.floor(fraction)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def revision_of(obj: dict[str, Any]) -> int:
    """The ``deployment.kubernetes.io/revision`` of a ReplicaSet, 0 if absent."""
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _pod_ready(pod: dict[str, Any]) -> bool:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _pod_available(pod: dict[str, Any], min_ready_seconds: int, now: float) -> bool:
    if not _pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            since = parse_time(condition.get("lastTransitionTime")) or now
            return now - since >= min_ready_seconds
    return False


def _active(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


def _deletion_rank(pod: dict[str, Any]) -> tuple:
    """Sort key: pods to delete first come first (unscheduled, pending, unready, restarts, newest)."""
    status = pod.get("status", {})
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return (
        bool(pod.get("spec", {}).get("nodeName")),
        status.get("phase") != "Pending",
        _pod_ready(pod),
        -restarts,
        # Newer first: creationTimestamps compare as strings.
        "".join(chr(0x10FFFF - ord(c)) for c in pod["metadata"].get("creationTimestamp", "")),
    )


def _without_zeros(status: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Drop zero counters, as Go's ``omitempty`` does on the wire."""
    return {k: v for k, v in status.items() if k in keep or not (isinstance(v, int) and not isinstance(v, bool) and v == 0)}


class Controller:
    """The control plane of one emulated cluster.

    Args:
        store: The cluster's objects.
        nodes: The simulated nodes (pods are scheduled onto them; DaemonSets cover them).
        time_scale: Multiplies every simulated duration (0.05 → twenty times faster).
        seed: Seeds generated pod names and other choices.
        event_ttl: Seconds an Event lives after its last update.
        max_events: Most Events kept in the cluster.
        argo_rollouts: Also run the simulated Argo Rollouts controller (:mod:`adapters.demo.argo`).
    """

    def __init__(
        self,
        store: ObjectStore,
        nodes: list[Node],
        *,
        time_scale: float = 1.0,
        seed: int | None = None,
        event_ttl: float = DEFAULT_EVENT_TTL,
        max_events: int = DEFAULT_MAX_EVENTS,
        argo_rollouts: bool = False,
    ) -> None:
        self._store = store
        self._nodes = nodes
        self.time_scale = time_scale
        self._rng = random.Random(seed)  # nosec B311 # simulated cluster behaviour, not secrets
        self.events = EventRecorder(store, ttl=event_ttl, max_events=max_events)
        self.kubelet = Kubelet(store, self.events, nodes, time_scale=time_scale, rng=self._rng)
        # owner uid -> dependents as (resource key, namespace, name)
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}
        self._dirty: dict[tuple[str, str, str], None] = {}
        self._pass: asyncio.Handle | None = None
        self._tick_task: asyncio.Task | None = None
        # Deployment uid -> when it last made progress (for progressDeadlineSeconds).
        self._progress_at: dict[str, float] = {}
        self._rolling: set[tuple[str, str]] = set()
        self._started = False
        self.argo = None
        if argo_rollouts:
            # Imported here: the Argo controller builds on this module's helpers.
            from adapters.demo.argo import ArgoRollouts

            self.argo = ArgoRollouts(store, self.events, self._owned, time_scale=time_scale)

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Begin reacting to changes (call on the emulator's loop)."""
        if self._started:
            return
        self._started = True
        if self.argo is not None:
            self.argo.start()
        self._store.subscribe(self._on_change)
        for rt in RESOURCE_TYPES:
            for obj in self._store.objects(rt):
                self._on_change(Change(rt, "ADDED", obj, None))
        self._tick_task = asyncio.get_running_loop().create_task(self._tick(), name="demo-controller-tick")

    def stop(self) -> None:
        """Stop every timer and task."""
        self._started = False
        if self.argo is not None:
            self.argo.stop()
        self.kubelet.stop()
        if self._pass:
            self._pass.cancel()
            self._pass = None
        if self._tick_task:
            self._tick_task.cancel()
            self._tick_task = None

    def stats(self) -> dict[str, int]:
        """Sizes of the controller's own bookkeeping (all bounded by object counts)."""
        return {
            "owners_indexed": len(self._dependents),
            "dirty": len(self._dirty),
            "rolling": len(self._rolling),
            "progress_clocks": len(self._progress_at),
            "kubelet_pods": self.kubelet.tracked(),
            "events_tracked": len(self.events),
        }

    async def _tick(self) -> None:
        interval = max(0.05, min(1.0, 0.5 * self.time_scale))
        while True:
            await asyncio.sleep(interval)
            try:
                for namespace, name in list(self._rolling):
                    self._mark(DEPLOYMENTS, namespace, name)
                if self.argo is not None:
                    self.argo.tick()
                self.events.prune()
            except Exception:  # keep ticking: one bad object must not stop every rollout
                log.exception("controller tick failed")

    # --- change routing -----------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        rt, obj = change.rt, change.obj
        meta = obj["metadata"]
        namespace = meta.get("namespace") or ""
        ref = (rt.key, namespace, meta["name"])
        old_owners = {o.get("uid") for o in (change.old or {}).get("metadata", {}).get("ownerReferences") or []}
        new_owners = set() if change.type == "DELETED" else {o.get("uid") for o in meta.get("ownerReferences") or []}
        for uid in old_owners - new_owners:
            dependents = self._dependents.get(uid)
            if dependents is not None:
                dependents.discard(ref)
                if not dependents:
                    del self._dependents[uid]
        for uid in new_owners - old_owners:
            self._dependents.setdefault(uid, set()).add(ref)
        self.kubelet.on_change(change)
        if change.type == "DELETED":
            uid = meta.get("uid", "")
            self._progress_at.pop(uid, None)
            if rt is DEPLOYMENTS:
                self._rolling.discard((namespace, meta["name"]))
            if uid in self._dependents:
                asyncio.get_running_loop().call_soon(self._collect, uid, change.propagation)
        if rt in _WORKLOADS and change.type != "DELETED":
            self._mark(rt, namespace, meta["name"])
        for owner in meta.get("ownerReferences") or []:
            owner_rt = _KIND_TO_RT.get(owner.get("kind", ""))
            if owner_rt is not None and owner.get("controller"):
                self._mark(owner_rt, namespace, owner.get("name", ""))
        if self.argo is not None:
            self.argo.on_change(change)

    def _mark(self, rt: ResourceType, namespace: str, name: str) -> None:
        self._dirty[(rt.key, namespace, name)] = None
        if self._pass is None and self._started:
            self._pass = asyncio.get_running_loop().call_soon(self._run_pass)

    def _run_pass(self) -> None:
        self._pass = None
        batch = []
        for key in self._dirty:
            batch.append(key)
            if len(batch) >= _BATCH:
                break
        for key in batch:
            del self._dirty[key]
        for rt_key, namespace, name in batch:
            rt = _RT_BY_KEY[rt_key]
            try:
                if rt is DEPLOYMENTS:
                    self._sync_deployment(namespace, name)
                elif rt is REPLICASETS:
                    self._sync_replicaset(namespace, name)
                elif rt is STATEFULSETS:
                    self._sync_statefulset(namespace, name)
                elif rt is DAEMONSETS:
                    self._sync_daemonset(namespace, name)
            except ApiError as error:
                # Usually a race with a client write (409) or a deletion (404): retry soon.
                log.debug("reconcile %s %s/%s: %s", rt_key, namespace, name, error.message)
                asyncio.get_running_loop().call_later(0.05, self._mark, rt, namespace, name)
            except Exception:  # a bug in one reconcile must not stop the others
                log.exception("reconcile %s %s/%s failed", rt_key, namespace, name)
        if self._dirty and self._pass is None and self._started:
            self._pass = asyncio.get_running_loop().call_soon(self._run_pass)

    def _owned(self, owner_uid: str, rt: ResourceType) -> list[dict[str, Any]]:
        out = []
        for key, namespace, name in self._dependents.get(owner_uid, ()):
            if key == rt.key:
                obj = self._store.find(rt, namespace, name)
                if obj is not None:
                    out.append(obj)
        return out

    def _collect(self, owner_uid: str, propagation: str | None) -> None:
        """Garbage-collect the dependents of a deleted owner."""
        for key, namespace, name in list(self._dependents.pop(owner_uid, ())):
            rt = _RT_BY_KEY[key]
            try:
                if propagation == "Orphan":
                    obj = self._store.get_copy(rt, namespace or None, name)
                    if obj is None:
                        continue
                    obj["metadata"]["ownerReferences"] = [
                        o for o in obj["metadata"].get("ownerReferences") or [] if o.get("uid") != owner_uid
                    ]
                    if not obj["metadata"]["ownerReferences"]:
                        del obj["metadata"]["ownerReferences"]
                    self._store.write(rt, obj)
                elif self._store.find(rt, namespace or None, name) is not None:
                    self._store.delete(rt, namespace or None, name)
            except ApiError as error:
                log.debug("garbage collection of %s %s/%s: %s", key, namespace, name, error.message)

    # --- helpers ------------------------------------------------------------------

    @staticmethod
    def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _create_pod(
        self, owner: dict[str, Any], template: dict[str, Any], name: str, *, labels: dict[str, str] | None = None, node: str | None = None, extra_spec: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        template_meta = template.get("metadata") or {}
        meta: dict[str, Any] = {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": {**(template_meta.get("labels") or {}), **(labels or {})},
            "ownerReferences": [self._owner_ref(owner)],
        }
        if owner["kind"] in ("ReplicaSet", "DaemonSet"):
            meta["generateName"] = name[: name.rfind("-") + 1]
        if template_meta.get("annotations"):
            meta["annotations"] = dict(template_meta["annotations"])
        spec = json.loads(json.dumps(template.get("spec") or {}))
        spec.update(extra_spec or {})
        if node:
            spec["nodeName"] = node
        try:
            return self._store.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}, meta["namespace"])
        except ApiError as error:
            log.debug("pod %s not created: %s", name, error.message)
            if error.code == 409:
                return None
            self.events.record(owner, "Warning", "FailedCreate", f"Error creating: {error.message}", component=f"{owner['kind'].lower()}-controller")
            return None

    def _delete_pod(self, owner: dict[str, Any], pod: dict[str, Any]) -> None:
        try:
            self._store.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        except ApiError as error:
            log.debug("pod %s not deleted: %s", pod["metadata"]["name"], error.message)
            return
        self.events.record(
            owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", component=f"{owner['kind'].lower()}-controller"
        )

    def _write_status(self, rt: ResourceType, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        if obj.get("status") == status:
            return obj
        copy = self._store.get_copy(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if copy is None:
            return obj
        copy["status"] = status
        return self._store.write(rt, copy)

    # --- ReplicaSet ---------------------------------------------------------------

    def _sync_replicaset(self, namespace: str, name: str) -> None:
        rs = self._store.find(REPLICASETS, namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        spec = rs["spec"]
        want = spec.get("replicas", 1)
        pods = [p for p in self._owned(rs["metadata"]["uid"], PODS) if _active(p)]
        template = spec.get("template")
        if len(pods) < want and template:
            for _ in range(want - len(pods)):
                pod_name = f"{name}-{random_suffix(self._rng)}"
                pod = self._create_pod(rs, template, pod_name)
                if pod is not None:
                    pods.append(pod)
                    self.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}", component="replicaset-controller")
        elif len(pods) > want:
            pods.sort(key=_deletion_rank)
            surplus, pods = pods[: len(pods) - want], pods[len(pods) - want :]
            for pod in surplus:
                self._delete_pod(rs, pod)
        now = time.time()
        min_ready = spec.get("minReadySeconds", 0)
        ready = sum(1 for p in pods if _pod_ready(p))
        available = sum(1 for p in pods if _pod_available(p, min_ready, now))
        status = _without_zeros(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": available,
                "observedGeneration": rs["metadata"].get("generation", 1),
            },
            keep=("replicas",),
        )
        self._write_status(REPLICASETS, rs, status)

    # --- Deployment ---------------------------------------------------------------

    def _pod_counts(self, rs: dict[str, Any], min_ready: int, now: float) -> tuple[int, int, int]:
        pods = [p for p in self._owned(rs["metadata"]["uid"], PODS) if _active(p)]
        return (
            len(pods),
            sum(1 for p in pods if _pod_ready(p)),
            sum(1 for p in pods if _pod_available(p, min_ready, now)),
        )

    def _scale(self, deployment: dict[str, Any], rs: dict[str, Any], replicas: int, max_surge: int) -> dict[str, Any]:
        copy = self._store.get_copy(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if copy is None:
            return rs
        before = copy["spec"].get("replicas", 0)
        desired = deployment["spec"].get("replicas", 1)
        copy["spec"]["replicas"] = replicas
        annotations = copy["metadata"].setdefault("annotations", {})
        annotations[DESIRED_REPLICAS] = str(desired)
        annotations[MAX_REPLICAS] = str(desired + max_surge)
        written = self._store.write(REPLICASETS, copy)
        if before != replicas:
            direction = "up" if replicas > before else "down"
            self.events.record(
                deployment,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {replicas}",
                component="deployment-controller",
            )
        return written

    def _new_replicaset(self, deployment: dict[str, Any], revision: int, replicas: int, max_surge: int) -> dict[str, Any] | None:
        template = json.loads(json.dumps(deployment["spec"]["template"]))
        pod_hash = template_hash(template, deployment.get("status", {}).get("collisionCount", 0))
        template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = pod_hash
        selector = json.loads(json.dumps(deployment["spec"]["selector"]))
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pod_hash
        meta = deployment["metadata"]
        desired = deployment["spec"].get("replicas", 1)
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOT_COPIED}
        annotations.update({REVISION: str(revision), DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + max_surge)})
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [self._owner_ref(deployment)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": deployment["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = self._store.create(REPLICASETS, rs, meta["namespace"])
        except ApiError as error:
            log.warning("replica set for %s/%s not created: %s", meta["namespace"], meta["name"], error.message)
            return None
        self.events.record(
            deployment,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {rs['metadata']['name']} from 0 to {replicas}",
            component="deployment-controller",
        )
        return created

    def _sync_deployment(self, namespace: str, name: str) -> None:
        deployment = self._store.find(DEPLOYMENTS, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            self._rolling.discard((namespace, name))
            return
        spec = deployment["spec"]
        uid = deployment["metadata"]["uid"]
        desired = spec.get("replicas", 1)
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        max_surge = resolve_fraction(rolling.get("maxSurge", "25%"), desired, round_up=True) if strategy.get("type") != "Recreate" else 0
        max_unavailable = resolve_fraction(rolling.get("maxUnavailable", "25%"), desired, round_up=False) if strategy.get("type") != "Recreate" else desired
        if max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        paused = bool(spec.get("paused"))
        now = time.time()
        min_ready = spec.get("minReadySeconds", 0)

        replicasets = sorted(self._owned(uid, REPLICASETS), key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        new_rs = next((rs for rs in replicasets if templates_equal(rs["spec"].get("template"), spec["template"])), None)
        olds = [rs for rs in replicasets if rs is not new_rs]
        max_revision = max((revision_of(rs) for rs in replicasets), default=0)
        created = False
        if new_rs is None and not paused:
            total = sum(rs["spec"].get("replicas", 0) for rs in olds)
            if strategy.get("type") == "Recreate" or not olds:
                initial = desired if not olds else 0
            else:
                initial = max(0, min(desired, desired + max_surge - total))
            new_rs = self._new_replicaset(deployment, max_revision + 1, initial, max_surge)
            created = new_rs is not None
        elif new_rs is not None and revision_of(new_rs) < max_revision:
            # A rollback to an old template: that ReplicaSet becomes the newest revision.
            copy = self._store.get_copy(REPLICASETS, namespace, new_rs["metadata"]["name"])
            if copy is not None:
                annotations = copy["metadata"].setdefault("annotations", {})
                old_revision = annotations.get(REVISION, "")
                history = [r for r in annotations.get(REVISION_HISTORY, "").split(",") if r]
                annotations[REVISION_HISTORY] = ",".join(history + [old_revision])
                annotations[REVISION] = str(max_revision + 1)
                new_rs = self._store.write(REPLICASETS, copy)
        if new_rs is not None:
            new_rs = self._sync_rs_annotations(deployment, new_rs)

        # Fresh pod counts per ReplicaSet (the ReplicaSets' own status may lag a pass).
        counts = {rs["metadata"]["uid"]: self._pod_counts(rs, min_ready, now) for rs in olds + ([new_rs] if new_rs else [])}
        spec_replicas = {rs["metadata"]["uid"]: rs["spec"].get("replicas", 0) for rs in olds + ([new_rs] if new_rs else [])}

        def available(rs: dict[str, Any]) -> int:
            uid_ = rs["metadata"]["uid"]
            return min(counts[uid_][2], spec_replicas[uid_])

        if not paused and new_rs is not None:
            new_uid = new_rs["metadata"]["uid"]
            if strategy.get("type") == "Recreate":
                if any(spec_replicas[o["metadata"]["uid"]] for o in olds):
                    for old in olds:
                        if spec_replicas[old["metadata"]["uid"]]:
                            self._scale(deployment, old, 0, max_surge)
                            spec_replicas[old["metadata"]["uid"]] = 0
                elif not any(counts[o["metadata"]["uid"]][0] for o in olds) and spec_replicas[new_uid] != desired:
                    self._scale(deployment, new_rs, desired, max_surge)
                    spec_replicas[new_uid] = desired
            else:
                total = sum(spec_replicas.values())
                if spec_replicas[new_uid] < desired:
                    step = min(desired + max_surge - total, desired - spec_replicas[new_uid])
                    if step > 0:
                        spec_replicas[new_uid] += step
                        self._scale(deployment, new_rs, spec_replicas[new_uid], max_surge)
                elif spec_replicas[new_uid] > desired:
                    spec_replicas[new_uid] = desired
                    self._scale(deployment, new_rs, desired, max_surge)
                min_available = desired - max_unavailable
                new_unavailable = spec_replicas[new_uid] - available(new_rs)
                all_pods = sum(spec_replicas.values())
                room = all_pods - min_available - new_unavailable
                # First take away old replicas that are not available anyway…
                for old in olds:
                    old_uid = old["metadata"]["uid"]
                    if room <= 0:
                        break
                    unhealthy = spec_replicas[old_uid] - available(old)
                    if spec_replicas[old_uid] == 0 or unhealthy <= 0:
                        continue
                    cut = min(room, unhealthy)
                    spec_replicas[old_uid] -= cut
                    room -= cut
                    self._scale(deployment, old, spec_replicas[old_uid], max_surge)
                # …then available ones, as far as minAvailable allows.
                spare = sum(available(rs) for rs in olds + [new_rs]) - min_available
                for old in olds:
                    old_uid = old["metadata"]["uid"]
                    if spare <= 0:
                        break
                    if spec_replicas[old_uid] == 0:
                        continue
                    cut = min(spec_replicas[old_uid], spare)
                    spec_replicas[old_uid] -= cut
                    spare -= cut
                    self._scale(deployment, old, spec_replicas[old_uid], max_surge)
            self._cleanup_history(deployment, olds, counts, spec_replicas)

        self._update_deployment(deployment, new_rs, olds, counts, spec_replicas, max_unavailable, created, paused, now)

    def _sync_rs_annotations(self, deployment: dict[str, Any], rs: dict[str, Any]) -> dict[str, Any]:
        wanted = {k: v for k, v in (deployment["metadata"].get("annotations") or {}).items() if k not in _NOT_COPIED}
        current = rs["metadata"].get("annotations") or {}
        if all(current.get(k) == v for k, v in wanted.items()):
            return rs
        copy = self._store.get_copy(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if copy is None:
            return rs
        copy["metadata"].setdefault("annotations", {}).update(wanted)
        return self._store.write(REPLICASETS, copy)

    def _cleanup_history(
        self, deployment: dict[str, Any], olds: list[dict[str, Any]], counts: dict[str, tuple[int, int, int]], spec_replicas: dict[str, int]
    ) -> None:
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        idle = [o for o in olds if spec_replicas[o["metadata"]["uid"]] == 0 and counts[o["metadata"]["uid"]][0] == 0]
        idle.sort(key=revision_of)
        for old in idle[: max(0, len(idle) - limit)]:
            try:
                self._store.delete(REPLICASETS, old["metadata"]["namespace"], old["metadata"]["name"])
            except ApiError as error:
                log.debug("old replica set %s not deleted: %s", old["metadata"]["name"], error.message)

    def _update_deployment(
        self,
        deployment: dict[str, Any],
        new_rs: dict[str, Any] | None,
        olds: list[dict[str, Any]],
        counts: dict[str, tuple[int, int, int]],
        spec_replicas: dict[str, int],
        max_unavailable: int,
        created: bool,
        paused: bool,
        now: float,
    ) -> None:
        meta = deployment["metadata"]
        uid = meta["uid"]
        namespace, name = meta["namespace"], meta["name"]
        desired = deployment["spec"].get("replicas", 1)
        everything = olds + ([new_rs] if new_rs else [])
        replicas = sum(counts[rs["metadata"]["uid"]][0] for rs in everything)
        ready = sum(counts[rs["metadata"]["uid"]][1] for rs in everything)
        available = sum(counts[rs["metadata"]["uid"]][2] for rs in everything)
        updated = counts[new_rs["metadata"]["uid"]][0] if new_rs else 0
        unavailable = max(sum(spec_replicas.values()) - available, 0)
        previous = deployment.get("status") or {}
        status: dict[str, Any] = _without_zeros(
            {
                "observedGeneration": meta.get("generation", 1),
                "replicas": replicas,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": available,
                "unavailableReplicas": unavailable,
            }
        )
        if previous.get("collisionCount"):
            status["collisionCount"] = previous["collisionCount"]
        conditions = {c.get("type"): c for c in previous.get("conditions") or []}
        stamp = rfc3339(now)

        def condition(type_: str, status_: str, reason: str, message: str, *, touch: bool) -> dict[str, Any]:
            old = conditions.get(type_)
            changed = old is None or old.get("status") != status_
            same_words = old is not None and old.get("reason") == reason and old.get("message") == message
            return {
                "type": type_,
                "status": status_,
                "lastUpdateTime": old["lastUpdateTime"] if old and same_words and not touch and not changed else stamp,
                "lastTransitionTime": stamp if changed else old.get("lastTransitionTime", stamp),
                "reason": reason,
                "message": message,
            }

        if available >= desired - max_unavailable:
            available_condition = condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", touch=False)
        else:
            available_condition = condition(
                "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", touch=False
            )

        rs_name = new_rs["metadata"]["name"] if new_rs else name
        complete = new_rs is not None and updated == desired and replicas == desired and available == desired
        old_progressing = conditions.get("Progressing")
        progressed = (
            created
            or updated > previous.get("updatedReplicas", 0)
            or ready > previous.get("readyReplicas", 0)
            or available > previous.get("availableReplicas", 0)
            or (replicas - updated) < (previous.get("replicas", 0) - previous.get("updatedReplicas", 0))
        )
        deadline = deployment["spec"].get("progressDeadlineSeconds", 600) * self.time_scale
        if progressed or uid not in self._progress_at:
            self._progress_at[uid] = now
        # Like the real controller: once the latest rollout completed and no old pods
        # remain, the condition is left alone (a pod dying later is not a rollout).
        settled = (
            old_progressing is not None
            and old_progressing.get("reason") == "NewReplicaSetAvailable"
            and replicas == updated
            and not created
        )
        if paused:
            progressing = condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", touch=False)
        elif created:
            progressing = condition("Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"', touch=True)
        elif settled:
            progressing = old_progressing
        elif complete:
            progressing = condition(
                "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.', touch=True
            )
        elif progressed:
            progressing = condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.', touch=True)
        elif now - self._progress_at[uid] > deadline:
            progressing = condition(
                "Progressing", "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.', touch=False
            )
        elif old_progressing is not None:
            progressing = old_progressing
        else:
            progressing = condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.', touch=False)
        status["conditions"] = [available_condition, progressing]

        if complete or paused:
            self._rolling.discard((namespace, name))
        else:
            self._rolling.add((namespace, name))

        wanted_revision = str(revision_of(new_rs)) if new_rs else None
        annotations = meta.get("annotations") or {}
        if previous == status and (wanted_revision is None or annotations.get(REVISION) == wanted_revision):
            return
        copy = self._store.get_copy(DEPLOYMENTS, namespace, name)
        if copy is None:
            return
        if copy["metadata"].get("resourceVersion") != meta.get("resourceVersion"):
            # The deployment changed while this pass ran; the next pass sees the change.
            self._mark(DEPLOYMENTS, namespace, name)
            return
        if wanted_revision is not None:
            copy["metadata"].setdefault("annotations", {})[REVISION] = wanted_revision
        copy["status"] = status
        self._store.write(DEPLOYMENTS, copy)

    # --- StatefulSet --------------------------------------------------------------

    def _sync_statefulset(self, namespace: str, name: str) -> None:
        sts = self._store.find(STATEFULSETS, namespace, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts["spec"]
        want = spec.get("replicas", 1)
        revision = f"{name}-{template_hash(spec['template'])}"
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        pods = {p["metadata"]["name"]: p for p in self._owned(sts["metadata"]["uid"], PODS)}
        busy = False
        for ordinal in range(want):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name)
            if pod is None:
                labels = {
                    CONTROLLER_REVISION_HASH: revision,
                    "statefulset.kubernetes.io/pod-name": pod_name,
                    "apps.kubernetes.io/pod-index": str(ordinal),
                }
                extra = {"hostname": pod_name}
                if spec.get("serviceName"):
                    extra["subdomain"] = spec["serviceName"]
                created = self._create_pod(sts, spec["template"], pod_name, labels=labels, extra_spec=extra)
                if created is not None:
                    pods[pod_name] = created
                    self.events.record(
                        sts, "Normal", "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {name} successful", component="statefulset-controller"
                    )
                busy = True
                if ordered:
                    break
            elif ordered and (not _active(pod) or not _pod_ready(pod)):
                busy = True
                break
        for pod_name, pod in sorted(pods.items(), key=lambda item: -int(item[0].rsplit("-", 1)[1]) if item[0].rsplit("-", 1)[1].isdigit() else 0):
            ordinal = pod_name.rsplit("-", 1)[1]
            if ordinal.isdigit() and int(ordinal) >= want and _active(pod):
                self._delete_pod(sts, pod)
                busy = True
                if ordered:
                    break
        if not busy:
            # Rolling update: replace the highest-ordinal pod still on an old revision.
            stale = [
                p for p in pods.values()
                if _active(p) and (p["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) != revision
            ]
            if stale:
                stale.sort(key=lambda p: p["metadata"]["name"], reverse=True)
                self._delete_pod(sts, stale[0])
        active = [p for p in pods.values() if _active(p)]
        updated = sum(1 for p in active if (p["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) == revision)
        previous = sts.get("status") or {}
        current_revision = revision if updated == len(active) == want else previous.get("currentRevision", revision)
        ready = sum(1 for p in active if _pod_ready(p))
        status = _without_zeros(
            {
                "observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(active),
                "readyReplicas": ready,
                "currentReplicas": updated if current_revision == revision else len(active) - updated,
                "updatedReplicas": updated,
                "availableReplicas": ready,
                "currentRevision": current_revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
            keep=("replicas", "availableReplicas", "collisionCount"),
        )
        self._write_status(STATEFULSETS, sts, status)

    # --- DaemonSet ----------------------------------------------------------------

    def _sync_daemonset(self, namespace: str, name: str) -> None:
        ds = self._store.find(DAEMONSETS, namespace, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        spec = ds["spec"]
        revision = template_hash(spec["template"])
        generation = str(ds["metadata"].get("generation", 1))
        pods = [p for p in self._owned(ds["metadata"]["uid"], PODS) if _active(p)]
        by_node: dict[str, list[dict[str, Any]]] = {}
        for pod in pods:
            by_node.setdefault(pod["spec"].get("nodeName", ""), []).append(pod)
        max_unavailable = resolve_fraction(
            (spec.get("updateStrategy") or {}).get("rollingUpdate", {}).get("maxUnavailable", 1), len(self._nodes), round_up=True
        ) or 1
        unavailable = sum(1 for node in self._nodes if not any(_pod_ready(p) for p in by_node.get(node.name, [])))
        for node in self._nodes:
            on_node = by_node.get(node.name, [])
            if not on_node:
                pod_name = f"{name}-{random_suffix(self._rng)}"
                labels = {CONTROLLER_REVISION_HASH: revision, "pod-template-generation": generation}
                if self._create_pod(ds, spec["template"], pod_name, labels=labels, node=node.name) is not None:
                    self.events.record(ds, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}", component="daemonset-controller")
                continue
            for extra in on_node[1:]:
                self._delete_pod(ds, extra)
            pod = on_node[0]
            stale = (pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) != revision
            if stale and unavailable < max_unavailable:
                self._delete_pod(ds, pod)
                unavailable += 1
        pods = [p for p in self._owned(ds["metadata"]["uid"], PODS) if _active(p)]
        scheduled = {p["spec"].get("nodeName") for p in pods}
        ready = sum(1 for p in pods if _pod_ready(p))
        updated = sum(1 for p in pods if (p["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) == revision)
        status = _without_zeros(
            {
                "currentNumberScheduled": len(scheduled),
                "desiredNumberScheduled": len(self._nodes),
                "numberMisscheduled": 0,
                "numberReady": ready,
                "numberAvailable": ready,
                "numberUnavailable": max(len(self._nodes) - ready, 0),
                "updatedNumberScheduled": updated,
                "observedGeneration": ds["metadata"].get("generation", 1),
            },
            keep=("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady"),
        )
        self._write_status(DAEMONSETS, ds, status)
