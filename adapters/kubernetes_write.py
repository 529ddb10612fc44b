"""The Kubernetes adapter's write side: deploy, rollback, restart, scale, history, locks.

Deploy patches the Deployment's container image (with ``kubernetes.io/change-cause``)
and follows the rollout, failing fast on the pod reasons that never fix themselves
(ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError …) and on
``ProgressDeadlineExceeded``. Rollback copies an older ReplicaSet's pod template
forward as a new revision — what ``kubectl rollout undo`` does. Run locks are
``coordination.k8s.io/v1`` Leases, one per workload.

Everything goes through ``request(method, path, query=…, body=…, content_type=…)``,
the adapter's HTTP call (auth, TLS and error translation live there).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from adapters import argo
from adapters.base import (
    AdapterError,
    ErrorKind,
    LockHolder,
    Observation,
    Progress,
    StopFlag,
    WriteResult,
    refuse_if_read_only,
)
from adapters.wire import parse_rfc3339
from console.model import Environment, Health, Revision, WorkloadKey

CHANGE_CAUSE = "kubernetes.io/change-cause"
REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
TEMPLATE_HASH = "pod-template-hash"
LEASE_PREFIX = "watchfloor-lock-"
LOCK_ANNOTATION = "watchfloor.io/lock"
POLL_SECONDS = 0.5
FATAL_REASONS = ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName", "OOMKilled")
"""Pod reasons that fail a rollout at once: waiting longer never fixes them."""
MERGE = "application/merge-patch+json"

Request = Callable[..., dict]


class KubernetesWriter:
    """Writes for one environment; ``request`` is the adapter's JSON call."""

    def __init__(self, environment: Environment, request: Request) -> None:
        self.environment = environment
        self._request = request

    # -- reading what a write needs ---------------------------------------------------------

    def _deployment(self, key: WorkloadKey) -> dict:
        try:
            return self._request("GET", _path("apps/v1", "deployments", key.group, key.name))
        except AdapterError as error:
            if error.kind == ErrorKind.NOT_FOUND:
                if self._is_rollout(key):
                    raise AdapterError(
                        ErrorKind.BAD_INPUT,
                        f"{key.label} is an Argo Rollout: release it with the canary runbook, which Argo takes through its own steps",
                        admin_detail="deploy, rollback and history work on Deployments; on a Rollout, canary start/promote/abort "
                        "map to Argo's image change, promote and abort (docs/progressive-delivery.md#argo-rollouts)",
                    ) from error
                raise AdapterError(
                    ErrorKind.NOT_FOUND,
                    f"{key.label} is not a Deployment in {self.environment.name}",
                    admin_detail="deploy, rollback and history work on Deployments; restart and scale also on StatefulSets",
                ) from error
            raise

    def _is_rollout(self, key: WorkloadKey) -> bool:
        try:
            self._request("GET", _path(argo.GROUP_VERSION, argo.PLURAL, key.group, key.name))
        except AdapterError:
            return False  # no Argo in this cluster, no such Rollout, or not ours to read
        return True

    def _workload(self, key: WorkloadKey) -> tuple[str, dict]:
        """The Deployment, StatefulSet, DaemonSet or Argo Rollout named ``key``: (plural, object)."""
        for plural in ("deployments", "statefulsets", "daemonsets", argo.PLURAL):
            try:
                return plural, self._request("GET", _path(_api(plural), plural, key.group, key.name))
            except AdapterError as error:
                # A cluster without Argo answers 404 for its group; a role without it, 403.
                if error.kind != ErrorKind.NOT_FOUND and not (plural == argo.PLURAL and error.kind == ErrorKind.FORBIDDEN):
                    raise
        raise AdapterError(ErrorKind.NOT_FOUND, f"no Deployment, StatefulSet, DaemonSet or Rollout {key.label} in {self.environment.name}")

    def _replicasets(self, deployment: dict) -> list[dict]:
        metadata = deployment.get("metadata") or {}
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))} if selector else {}
        listed = self._request("GET", _path("apps/v1", "replicasets", metadata.get("namespace", ""), None), query=query)
        uid = metadata.get("uid")
        owned = [
            rs
            for rs in listed.get("items") or []
            if any(o.get("uid") == uid for o in (rs.get("metadata") or {}).get("ownerReferences") or [])
        ]
        return sorted(owned, key=_revision_of)

    def _pods(self, namespace: str, selector: dict) -> list[dict]:
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))} if selector else {}
        return self._request("GET", _path("v1", "pods", namespace, None), query=query).get("items") or []

    # -- writes -------------------------------------------------------------------------

    def deploy(
        self,
        key: WorkloadKey,
        image: str,
        *,
        strategy: str = "auto",
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "deploy", key)
        deployment = self._deployment(key)
        containers = _template_containers(deployment)
        index = _main_container(containers, key.name)
        before = containers[index].get("image", "")
        if before == image:
            observation = self.observe(key)
            if observation.rollout_complete:
                return self._result("deploy", key, before, image, deployment, f"{key.name} already runs {image}")
        containers = [dict(c) for c in containers]
        containers[index]["image"] = image
        patch = {
            "metadata": {
                "resourceVersion": (deployment.get("metadata") or {}).get("resourceVersion"),
                "annotations": {CHANGE_CAUSE: change_cause or f"deploy {image}"},
            },
            "spec": {"template": {"spec": {"containers": containers}}},
        }
        patched = self._patch_deployment(key, patch)
        _say(progress, f"patched {key.name}: {containers[index].get('name')} → {image}")
        done = self._follow(key, patched, timeout=timeout, progress=progress, stop=stop, verb="deploy", target=image)
        message = f"{key.name} now runs {image} (revision {_revision_of(done)}), {_ready_words(done)}"
        return self._result("deploy", key, before, image, done, message, detail={"container": containers[index].get("name")})

    def rollback(
        self,
        key: WorkloadKey,
        to_revision: int | None = None,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "rollback", key)
        deployment = self._deployment(key)
        current = _revision_of(deployment)
        replicasets = self._replicasets(deployment)
        if to_revision is None:
            older = [rs for rs in replicasets if _revision_of(rs) < current]
            if not older:
                raise AdapterError(ErrorKind.NOT_FOUND, f"{key.label} has no revision before {current} to roll back to")
            target = older[-1]
        else:
            matches = [rs for rs in replicasets if _revision_of(rs) == to_revision]
            if not matches:
                known = ", ".join(str(_revision_of(rs)) for rs in replicasets) or "none"
                raise AdapterError(ErrorKind.NOT_FOUND, f"{key.label} has no revision {to_revision} (kept: {known})")
            target = matches[0]
        target_revision = _revision_of(target)
        before = _image_of(deployment)
        template = json.loads(json.dumps((target.get("spec") or {}).get("template") or {}))
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(TEMPLATE_HASH, None)
        if target_revision == current:
            observation = self.observe(key)
            if observation.rollout_complete:
                return self._result("rollback", key, before, before, deployment, f"{key.name} already is at revision {current}")
        # A whole-template replace, as `kubectl rollout undo` sends: a merge would keep
        # fields the old template did not have.
        metadata = deployment.get("metadata") or {}
        cause = f"rollback to revision {target_revision}"
        annotation = (
            {"op": "add", "path": f"/metadata/annotations/{_escape(CHANGE_CAUSE)}", "value": cause}
            if metadata.get("annotations")
            else {"op": "add", "path": "/metadata/annotations", "value": {CHANGE_CAUSE: cause}}
        )
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": metadata.get("resourceVersion")},
            {"op": "replace", "path": "/spec/template", "value": template},
            annotation,
        ]
        patched = self._patch_deployment(key, patch, content_type="application/json-patch+json")
        image = _image_of(patched)
        _say(progress, f"rolling {key.name} back to revision {target_revision} ({image})")
        done = self._follow(key, patched, timeout=timeout, progress=progress, stop=stop, verb="rollback", target=image)
        message = f"{key.name} rolled back to revision {target_revision}: runs {image} (now revision {_revision_of(done)}), {_ready_words(done)}"
        return self._result("rollback", key, before, image, done, message, detail={"from_revision": target_revision})

    def restart(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "restart", key)
        plural, obj = self._workload(key)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # A Rollout restarts through spec.restartAt (``kubectl argo rollouts restart``):
        # touching its template would start a canary.
        patch = {"spec": {"restartAt": stamp}} if plural == argo.PLURAL else {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        patched = self._request("PATCH", _path(_api(plural), plural, key.group, key.name), body=patch, content_type=MERGE)
        _say(progress, f"restart of {key.name} requested ({stamp})")
        image = _image_of(obj)
        if plural == "deployments":
            done = self._follow(key, patched, timeout=timeout, progress=progress, stop=stop, verb="restart", target=image)
        else:
            done = self._wait_generic(key, plural, timeout=timeout, progress=progress, stop=stop)
        return self._result("restart", key, image, image, done, f"{key.name} restarted, {_ready_words(done)}")

    def scale(
        self,
        key: WorkloadKey,
        replicas: int,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        refuse_if_read_only(self.environment, "scale", key)
        if replicas < 0:
            raise AdapterError(ErrorKind.BAD_INPUT, f"cannot scale {key.label} to {replicas} replicas")
        plural, obj = self._workload(key)
        if plural == "daemonsets":
            raise AdapterError(ErrorKind.BAD_INPUT, f"{key.label} is a DaemonSet: it runs one pod per node and cannot be scaled")
        before = int((obj.get("spec") or {}).get("replicas") or 0)
        self._request("PATCH", _path(_api(plural), plural, key.group, key.name), body={"spec": {"replicas": replicas}}, content_type=MERGE)
        _say(progress, f"scaling {key.name} from {before} to {replicas}")
        done = self._wait_generic(key, plural, timeout=timeout, progress=progress, stop=stop)
        image = _image_of(obj)
        return self._result("scale", key, image, image, done, f"{key.name} scaled {before} → {replicas}, {_ready_words(done)}", detail={"from": before, "to": replicas})

    def _patch_deployment(self, key: WorkloadKey, patch, *, content_type: str = MERGE) -> dict:
        try:
            return self._request("PATCH", _path("apps/v1", "deployments", key.group, key.name), body=patch, content_type=content_type)
        except AdapterError as error:
            if error.kind in (ErrorKind.CONFLICT, ErrorKind.BAD_INPUT) and ("resourceVersion" in error.summary or "test" in error.summary or "409" in error.summary):
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"{key.label} changed while watchfloor was patching it; nothing was applied — try again",
                    admin_detail=error.summary,
                    developer_detail=error.developer_detail,
                ) from error
            raise

    # -- following a rollout ------------------------------------------------------------

    def _follow(self, key: WorkloadKey, patched: dict, *, timeout: float, progress, stop, verb: str, target: str) -> dict:
        deadline = time.monotonic() + timeout
        generation = int((patched.get("metadata") or {}).get("generation") or 0)
        last_words = ""
        while True:
            if stop is not None and stop.is_set():
                raise AdapterError(ErrorKind.BACKEND, f"{verb} of {key.label} stopped by the operator; the rollout may still be under way")
            deployment = self._deployment(key)
            status = deployment.get("status") or {}
            fatal = self._fatal_pod_reason(deployment)
            if fatal:
                raise AdapterError(
                    ErrorKind.BACKEND,
                    f"{verb} of {key.label} to {target} failed: {fatal}",
                    admin_detail=_status_words(deployment),
                )
            for condition in status.get("conditions") or []:
                if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
                    raise AdapterError(
                        ErrorKind.BACKEND,
                        f"{verb} of {key.label} to {target} failed: ProgressDeadlineExceeded",
                        admin_detail=str(condition.get("message") or ""),
                    )
            if _rollout_complete(deployment, generation):
                _say(progress, f"rollout complete: {_ready_words(deployment)}")
                return deployment
            words = _status_words(deployment)
            if words != last_words:
                last_words = words
                _say(progress, words)
            if time.monotonic() >= deadline:
                raise AdapterError(ErrorKind.BACKEND, f"{verb} of {key.label} to {target} did not finish within {timeout:.0f}s", admin_detail=words)
            time.sleep(POLL_SECONDS)

    def _fatal_pod_reason(self, deployment: dict) -> str | None:
        """A reason from a pod of the newest template that no amount of waiting fixes."""
        from adapters.kubernetes import pod_health

        spec = deployment.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        namespace = (deployment.get("metadata") or {}).get("namespace", "")
        replicasets = self._replicasets(deployment)
        if not replicasets:
            return None
        newest = replicasets[-1]
        template_hash = ((newest.get("metadata") or {}).get("labels") or {}).get(TEMPLATE_HASH)
        if not template_hash:
            return None
        now = time.time()
        for pod in self._pods(namespace, {**selector, TEMPLATE_HASH: template_hash}):
            health, reason, _state = pod_health(pod, now=now)
            if health == Health.FAILED and any(word in reason for word in FATAL_REASONS):
                return f"{reason} in pod {(pod.get('metadata') or {}).get('name')}"
        return None

    def _wait_generic(self, key: WorkloadKey, plural: str, *, timeout: float, progress, stop) -> dict:
        deadline = time.monotonic() + timeout
        last_words = ""
        while True:
            if stop is not None and stop.is_set():
                raise AdapterError(ErrorKind.BACKEND, f"waiting for {key.label} stopped by the operator")
            obj = self._request("GET", _path(_api(plural), plural, key.group, key.name))
            generation = int((obj.get("metadata") or {}).get("generation") or 0)
            if _complete(plural, obj, generation):
                return obj
            words = _status_words(obj)
            if words != last_words:
                last_words = words
                _say(progress, words)
            if time.monotonic() >= deadline:
                raise AdapterError(ErrorKind.BACKEND, f"{key.label} did not settle within {timeout:.0f}s", admin_detail=words)
            time.sleep(POLL_SECONDS)

    # -- reading ---------------------------------------------------------------------------

    def history(self, key: WorkloadKey) -> list[Revision]:
        deployment = self._deployment(key)
        revisions = []
        for rs in self._replicasets(deployment):
            metadata = rs.get("metadata") or {}
            revisions.append(
                Revision(
                    workload=key,
                    number=_revision_of(rs),
                    image=_image_of(rs),
                    created_at=parse_rfc3339(metadata.get("creationTimestamp")),
                    change_cause=str((metadata.get("annotations") or {}).get(CHANGE_CAUSE) or ""),
                )
            )
        return revisions

    def observe(self, key: WorkloadKey) -> Observation:
        try:
            plural, obj = self._workload(key)
        except AdapterError as error:
            if error.kind == ErrorKind.NOT_FOUND:
                return Observation(key, exists=False, health=Health.UNKNOWN, reason=error.summary)
            raise
        from adapters.kubernetes import workload_spec

        obj.setdefault("kind", {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet", argo.PLURAL: argo.KIND}[plural])
        spec = workload_spec(self.environment.name, obj)
        status = obj.get("status") or {}
        generation = int((obj.get("metadata") or {}).get("generation") or 0)
        complete = _complete(plural, obj, generation)
        ready = int(status.get("readyReplicas") or status.get("numberReady") or 0)
        fatal = self._fatal_pod_reason(obj) if plural == "deployments" else None
        if fatal:
            health, reason = Health.FAILED, fatal
        elif spec.problem:
            health, reason = Health.DEGRADED, spec.problem
        elif complete and ready >= spec.desired:
            health, reason = Health.HEALTHY, f"{ready}/{spec.desired} ready"
        elif spec.rollout:
            health, reason = Health.PROGRESSING, spec.rollout
        else:
            health, reason = Health.DEGRADED, f"{ready}/{spec.desired} ready"
        from adapters.kubernetes import image_version

        return Observation(
            workload=key,
            exists=True,
            image=spec.image,
            version=image_version(spec.image, {}),
            revision=spec.revision,
            desired=spec.desired,
            updated=int(status.get("updatedReplicas") or status.get("updatedNumberScheduled") or 0),
            ready=ready,
            available=int(status.get("availableReplicas") or status.get("numberAvailable") or 0),
            health=health,
            reason=reason,
            rollout_complete=complete,
        )

    def _result(self, verb, key, before, after, obj, message, *, detail=None) -> WriteResult:
        from adapters.kubernetes import image_version

        return WriteResult(
            verb=verb,
            workload=key,
            message=message,
            from_version=image_version(before, {}) if before else "",
            to_version=image_version(after, {}) if after else "",
            revision=_revision_of(obj) or None,
            detail={"image_before": before, "image_after": after, **(detail or {})},
        )

    # -- locks: one Lease per workload ----------------------------------------------------

    def _lease_path(self, key: WorkloadKey, name: bool = True) -> str:
        return _path("coordination.k8s.io/v1", "leases", key.group, _lease_name(key) if name else None)

    def acquire_lock(self, key: WorkloadKey, holder: LockHolder) -> LockHolder:
        refuse_if_read_only(self.environment, "lock", key)
        now = _micro(datetime.now(UTC))
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": _lease_name(key),
                "namespace": key.group,
                "annotations": {LOCK_ANNOTATION: json.dumps(holder.to_json())},
                "labels": {"app.kubernetes.io/managed-by": "watchfloor"},
            },
            "spec": {
                "holderIdentity": holder.holder,
                "leaseDurationSeconds": holder.ttl_seconds,
                "acquireTime": now,
                "renewTime": now,
            },
        }
        try:
            self._request("POST", self._lease_path(key, name=False), body=lease)
        except AdapterError as error:
            if error.kind != ErrorKind.CONFLICT:
                raise
            current = self.lock_holder(key)
            raise _held(key, current) from error
        return holder

    def renew_lock(self, key: WorkloadKey, holder: LockHolder) -> None:
        lease = self._request("GET", self._lease_path(key))
        current = _holder_of(lease)
        if current is None or current.run_id != holder.run_id:
            raise _held(key, current)
        patch = {"metadata": {"resourceVersion": (lease.get("metadata") or {}).get("resourceVersion")}, "spec": {"renewTime": _micro(datetime.now(UTC))}}
        self._request("PATCH", self._lease_path(key), body=patch, content_type=MERGE)

    def release_lock(self, key: WorkloadKey, holder: LockHolder) -> None:
        try:
            lease = self._request("GET", self._lease_path(key))
        except AdapterError as error:
            if error.kind == ErrorKind.NOT_FOUND:
                return
            raise
        current = _holder_of(lease)
        if current is not None and current.run_id == holder.run_id:
            self._delete_lease(key)

    def lock_holder(self, key: WorkloadKey) -> LockHolder | None:
        try:
            return _holder_of(self._request("GET", self._lease_path(key)))
        except AdapterError as error:
            if error.kind == ErrorKind.NOT_FOUND:
                return None
            raise

    def break_lock(self, key: WorkloadKey) -> LockHolder | None:
        refuse_if_read_only(self.environment, "break lock", key)
        current = self.lock_holder(key)
        self._delete_lease(key)
        return current

    def _delete_lease(self, key: WorkloadKey) -> None:
        try:
            self._request("DELETE", self._lease_path(key))
        except AdapterError as error:
            if error.kind != ErrorKind.NOT_FOUND:
                raise


# -- helpers ------------------------------------------------------------------------------


def _path(group_version: str, plural: str, namespace: str, name: str | None) -> str:
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    path = f"{base}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def _lease_name(key: WorkloadKey) -> str:
    return (LEASE_PREFIX + key.name)[:253]


def _escape(pointer: str) -> str:
    return pointer.replace("~", "~0").replace("/", "~1")


def _micro(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _holder_of(lease: dict) -> LockHolder | None:
    metadata = lease.get("metadata") or {}
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return None
    try:
        recorded = json.loads((metadata.get("annotations") or {}).get(LOCK_ANNOTATION) or "{}")
    except ValueError:
        recorded = {}
    started = parse_rfc3339(spec.get("acquireTime")) or datetime.now(UTC)
    return LockHolder(
        holder=str(spec.get("holderIdentity")),
        run_id=str(recorded.get("run_id") or ""),
        pid=int(recorded.get("pid") or 0),
        host=str(recorded.get("host") or ""),
        started=started,
        renewed=parse_rfc3339(spec.get("renewTime")),
        ttl_seconds=int(spec.get("leaseDurationSeconds") or 60),
    )


def _held(key: WorkloadKey, current: LockHolder | None) -> AdapterError:
    from adapters.lock_file import LockConflict

    if current is None:
        return AdapterError(ErrorKind.CONFLICT, f"{key.label} is locked by another run (the lock vanished while reading it; try again)")
    renewed = current.renewed or current.started
    idle = (datetime.now(UTC) - renewed).total_seconds()
    stale = f"not renewed for {idle:.0f}s, its ttl is {current.ttl_seconds}s" if idle > current.ttl_seconds else None
    return LockConflict(key, current, stale)


def _template_containers(obj: dict) -> list[dict]:
    return list(((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or [])


def _main_container(containers: list[dict], workload: str) -> int:
    if not containers:
        raise AdapterError(ErrorKind.BAD_INPUT, f"{workload} has no containers to deploy an image to")
    for index, container in enumerate(containers):
        if container.get("name") == workload:
            return index
    return 0


def _image_of(obj: dict) -> str:
    containers = _template_containers(obj)
    return containers[_main_container(containers, (obj.get("metadata") or {}).get("name", ""))].get("image", "") if containers else ""


def _revision_of(obj: dict) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0")
    return int(value) if str(value).isdigit() else 0


def _api(plural: str) -> str:
    return argo.GROUP_VERSION if plural == argo.PLURAL else "apps/v1"


def _complete(plural: str, obj: dict, generation: int) -> bool:
    """The workload has finished changing: for a Rollout, Argo says Healthy about its
    latest spec (its observedGeneration is a string, once a hash); else the counts."""
    if plural == argo.PLURAL:
        status = obj.get("status") or {}
        desired = (obj.get("spec") or {}).get("replicas")
        desired = desired if isinstance(desired, int) else 1
        return argo.rollout_status(obj).settled and int(status.get("availableReplicas") or 0) >= desired
    return _rollout_complete(obj, generation)


def _rollout_complete(obj: dict, generation: int) -> bool:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < generation:
        return False
    if "desiredNumberScheduled" in status:
        desired = int(status.get("desiredNumberScheduled") or 0)
        return int(status.get("updatedNumberScheduled") or 0) >= desired and int(status.get("numberAvailable") or 0) >= desired
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    if "currentRevision" in status or "updateRevision" in status:  # StatefulSet
        return ready >= desired and status.get("currentRevision") == status.get("updateRevision") and total == desired
    return updated >= desired and total == updated and available >= desired and ready >= desired


def _ready_words(obj: dict) -> str:
    status = obj.get("status") or {}
    desired = (obj.get("spec") or {}).get("replicas")
    desired = status.get("desiredNumberScheduled", desired if desired is not None else 1)
    ready = status.get("readyReplicas", status.get("numberReady", 0)) or 0
    return f"{ready}/{desired} ready"


def _status_words(obj: dict) -> str:
    status = obj.get("status") or {}
    desired = (obj.get("spec") or {}).get("replicas", 1)
    return (
        f"{status.get('updatedReplicas') or 0}/{desired} updated, {status.get('readyReplicas') or 0}/{desired} ready, "
        f"{status.get('availableReplicas') or 0}/{desired} available, {status.get('replicas') or 0} total"
    )


def _say(progress: Progress | None, sentence: str) -> None:
    if progress is not None:
        progress(sentence)


class KubernetesWrites:
    """The write methods of ``KubernetesAdapter`` (DESIGN §4), mixed into it.

    Needs ``self.environment`` and ``self.request`` from the adapter.
    """

    environment: Environment

    def request(self, method: str, path: str, **kwargs) -> dict:  # pragma: no cover - the adapter's
        raise NotImplementedError

    @property
    def _writer(self) -> KubernetesWriter:
        return KubernetesWriter(self.environment, self.request)

    def deploy(self, key, image, **kwargs) -> WriteResult:
        return self._writer.deploy(key, image, **kwargs)

    def rollback(self, key, to_revision=None, **kwargs) -> WriteResult:
        return self._writer.rollback(key, to_revision, **kwargs)

    def restart(self, key, **kwargs) -> WriteResult:
        return self._writer.restart(key, **kwargs)

    def scale(self, key, replicas, **kwargs) -> WriteResult:
        return self._writer.scale(key, replicas, **kwargs)

    def history(self, key) -> list[Revision]:
        return self._writer.history(key)

    def observe(self, key) -> Observation:
        return self._writer.observe(key)

    def acquire_lock(self, key, holder) -> LockHolder:
        return self._writer.acquire_lock(key, holder)

    def renew_lock(self, key, holder) -> None:
        self._writer.renew_lock(key, holder)

    def release_lock(self, key, holder) -> None:
        self._writer.release_lock(key, holder)

    def lock_holder(self, key) -> LockHolder | None:
        return self._writer.lock_holder(key)

    def break_lock(self, key) -> LockHolder | None:
        return self._writer.break_lock(key)
