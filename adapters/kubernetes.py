"""Kubernetes adapter (read side): Deployments, StatefulSets, DaemonSets and their pods.

Watched, not polled: one list per resource at (re)connect, then one watch per resource
resumed from its last ``resourceVersion``. A watch the server closes is resumed where
it stopped (no list); ``410 Gone`` relists that one resource and diffs it in; any
other failure ends ``watch()`` so the console reconnects with backoff and jitter.

Requests go through ``adapters.kube_http`` (urllib3, configured from the kubeconfig)
rather than the official client: its import alone is ≈ 0.3 s before the first frame,
and decoding 5,000 pods into its model classes costs more than the network does. The
adapter reads raw JSON and keeps, per pod, only the ``Replica`` it made and the owner
it needs to file it (``_Pod``), not the pod's JSON.
"""

from __future__ import annotations

import json
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache

from urllib3 import exceptions as urllib3_exceptions

from adapters import argo, wire
from adapters.base import AdapterError, ErrorKind, StopFlag, StopSignal, on_stop
from adapters.kube_http import KubeHTTP, iter_list_items, open_context
from adapters.kubernetes_release import KubernetesReleases
from adapters.kubernetes_write import KubernetesWrites
from adapters.wire import parse_rfc3339, split_timestamp
from console.model import (
    Change,
    ConnectionChanged,
    ConnectionState,
    Environment,
    EventRecorded,
    Health,
    LogLine,
    Replica,
    ReplicaRemoved,
    ReplicaUpserted,
    Sample,
    SampleAdded,
    SnapshotReplaced,
    Stream,
    WorkloadKey,
    WorkloadSpec,
    WorkloadSpecRemoved,
    WorkloadSpecUpserted,
)


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    group_path: str
    plural: str

    def path(self, namespace: str | None) -> str:
        if namespace is None:
            return f"{self.group_path}/{self.plural}"
        return f"{self.group_path}/namespaces/{namespace}/{self.plural}"


PODS = Resource("Pod", "/api/v1", "pods")
EVENTS = Resource("Event", "/api/v1", "events")
REPLICASETS = Resource("ReplicaSet", "/apis/apps/v1", "replicasets")
DEPLOYMENTS = Resource("Deployment", "/apis/apps/v1", "deployments")
STATEFULSETS = Resource("StatefulSet", "/apis/apps/v1", "statefulsets")
DAEMONSETS = Resource("DaemonSet", "/apis/apps/v1", "daemonsets")
ROLLOUTS = Resource(argo.KIND, f"/apis/{argo.GROUP_VERSION}", argo.PLURAL)
"""Argo Rollouts' CRD: watched only where the cluster serves it (see ``_watched``)."""
WATCHED = (REPLICASETS, DEPLOYMENTS, STATEFULSETS, DAEMONSETS, PODS, EVENTS)
WORKLOAD_RESOURCES = {r.kind: r for r in (DEPLOYMENTS, STATEFULSETS, DAEMONSETS, ROLLOUTS)}

_FAILING_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
}
NOT_READY_GRACE = 30.0
"""Seconds a Running-but-not-Ready pod counts as starting before it counts as degraded."""


class _Expired(Exception):
    """The server no longer has the resourceVersion a watch asked for (410)."""


# -- pods and workloads in the model's words -----------------------------------------------


def pod_health(pod: dict, *, now: float) -> tuple[Health, str, str]:
    """(health, reason, state) of a pod, in the API server's words."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if metadata.get("deletionTimestamp"):
        return Health.PROGRESSING, "Terminating", "terminating"
    if phase == "Failed":
        reason = status.get("reason") or "Failed"
        message = status.get("message") or ""
        return Health.FAILED, f"{reason}: {message}" if message else reason, reason.lower()
    if phase == "Succeeded":
        return Health.UNKNOWN, "Completed", "completed"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            message = condition.get("message") or ""
            return Health.FAILED, f"Pending ({reason}: {message})" if message else f"Pending ({reason})", "pending"
    for container in status.get("initContainerStatuses") or []:
        problem = _container_problem(container)
        if problem:
            return Health.FAILED, f"init container {container.get('name')} failing: {problem}", "init"
    problems = [p for p in (_container_problem(c) for c in status.get("containerStatuses") or []) if p]
    if problems:
        state = problems[0].split(" ", 1)[0]
        return Health.FAILED, problems[0], state
    if phase == "Pending":
        for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                return Health.PROGRESSING, waiting["reason"], waiting["reason"]
        return Health.PROGRESSING, "Pending", "pending"
    if phase == "Running":
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        if ready:
            return Health.HEALTHY, "Running, Ready", "running"
        crashed = [
            c for c in status.get("containerStatuses") or []
            if int(c.get("restartCount") or 0) > 0
            and (((c.get("lastState") or {}).get("terminated") or {}).get("exitCode") or 0) != 0
        ]
        if crashed:
            # Between two crashes of a crash loop the container runs for a moment;
            # that is not "starting", it is the loop.
            last = (crashed[0].get("lastState") or {}).get("terminated") or {}
            return (
                Health.DEGRADED,
                f"Running, not Ready, restarted {crashed[0].get('restartCount')} times (last exit {last.get('exitCode')})",
                "running",
            )
        started = _parse_time(status.get("startTime"))
        if started is not None and now - started.timestamp() < NOT_READY_GRACE:
            return Health.PROGRESSING, _NOT_READY_YET, "running"
        return _not_ready_for_long()
    return Health.UNKNOWN, f"phase {phase}", phase.lower()


_NOT_READY_YET = "Running, not Ready yet"


def _not_ready_for_long() -> tuple[Health, str, str]:
    return Health.DEGRADED, "Running, not Ready (readiness probe failing)", "running"


def _parse_time(value: object) -> datetime | None:
    """``parse_rfc3339``, remembered for text: a controller creates pods in bursts, so
    thousands of pods share a few hundred creation and start times."""
    return _parse_text_time(value) if isinstance(value, str) else parse_rfc3339(value)


_parse_text_time = lru_cache(maxsize=4096)(parse_rfc3339)


def pod_replica(pod: dict, key: WorkloadKey, now: float) -> tuple[Replica, float | None]:
    """The pod as a replica of ``key``, and when its health would change with time alone.

    That second value is set only for a Running pod that is not Ready yet: until then
    it counts as starting (``NOT_READY_GRACE``), after that as degraded.
    """
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    health, reason, state = pod_health(pod, now=now)
    containers = _containers(spec)
    image = containers[0].get("image", "") if containers else ""
    labels = metadata.get("labels") or {}
    restarts = 0
    exit_code = None
    for container in status.get("containerStatuses") or []:
        restarts += int(container.get("restartCount") or 0)
        last = (container.get("lastState") or {}).get("terminated") or {}
        if last.get("exitCode") is not None:
            exit_code = last.get("exitCode")
    started_at = _parse_time(status.get("startTime"))
    not_ready_until = None
    if reason == _NOT_READY_YET and started_at is not None:
        not_ready_until = started_at.timestamp() + NOT_READY_GRACE
    name = metadata.get("name", "")
    replica = Replica(
        workload=key,
        id=metadata.get("uid", "") or f"{key.group}/{name}",
        name=name,
        state=state,
        health=health,
        reason=reason,
        image=image,
        version=image_version(image, labels),
        restarts=restarts,
        started_at=started_at,
        created_at=_parse_time(metadata.get("creationTimestamp")),
        host_or_node=spec.get("nodeName") or "",
        exit_code=exit_code,
        labels=tuple(sorted(labels.items())),
        env=_env_pairs(spec),
        containers=tuple(c.get("name", "") for c in containers),
    )
    return replica, not_ready_until


def _container_problem(container: dict) -> str | None:
    state = container.get("state") or {}
    waiting = state.get("waiting") or {}
    last = (container.get("lastState") or {}).get("terminated") or {}
    restarts = int(container.get("restartCount") or 0)
    reason = waiting.get("reason")
    if reason in _FAILING_WAITING:
        if reason == "CrashLoopBackOff":
            cause = last.get("reason") if last.get("reason") == "OOMKilled" else f"exit {last.get('exitCode', '?')}"
            return f"CrashLoopBackOff ({cause}, {restarts} restarts)"
        message = waiting.get("message") or ""
        return f"{reason}: {message}" if message else reason
    terminated = state.get("terminated") or {}
    if terminated.get("reason") == "OOMKilled":
        return "OOMKilled"
    if terminated and terminated.get("exitCode") not in (None, 0):
        return f"terminated with exit code {terminated.get('exitCode')} ({terminated.get('reason') or 'Error'})"
    return None


def image_version(image: str, labels: dict[str, str]) -> str:
    return wire.image_version(image, labels, ("app.kubernetes.io/version",))


def _containers(spec: dict) -> list[dict]:
    return list((spec or {}).get("containers") or [])


def _env_pairs(spec: dict) -> tuple[tuple[str, str], ...]:
    pairs = []
    for container in _containers(spec):
        for item in container.get("env") or []:
            if "value" in item:
                pairs.append((item.get("name", ""), str(item.get("value", ""))))
            elif item.get("valueFrom"):
                source = next(iter(item["valueFrom"]), "valueFrom")
                pairs.append((item.get("name", ""), f"(from {source})"))
    return tuple(pairs)


def _template_image(spec: dict) -> str:
    containers = _containers((spec.get("template") or {}).get("spec") or {})
    return containers[0].get("image", "") if containers else ""


def _revision_annotation(metadata: dict, name: str) -> int | None:
    # isdigit() alone accepts "²", which int() refuses; anyone who may edit the
    # workload may write this annotation.
    value = (metadata.get("annotations") or {}).get(name)
    return int(value) if value and value.isascii() and value.isdigit() else None


def workload_spec(env: str, obj: dict) -> WorkloadSpec:
    """A Deployment, StatefulSet, DaemonSet or Argo Rollout as the console's WorkloadSpec."""
    kind = obj.get("kind") or "Deployment"
    if kind == argo.KIND:
        return rollout_spec(env, obj)
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    key = WorkloadKey(env, metadata.get("namespace", ""), metadata.get("name", ""))
    image = _template_image(spec)
    generation = metadata.get("generation") or 0
    observed = status.get("observedGeneration") or 0
    revision = None
    problem = None
    rollout = None
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        ready = int(status.get("numberReady") or 0)
        available = int(status.get("numberAvailable") or 0)
        total = int(status.get("currentNumberScheduled") or 0)
    else:
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        updated = int(status.get("updatedReplicas") or 0)
        ready = int(status.get("readyReplicas") or 0)
        available = int(status.get("availableReplicas") or ready)
        total = int(status.get("replicas") or 0)
    if kind == "Deployment":
        revision = _revision_annotation(metadata, "deployment.kubernetes.io/revision")
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
                problem = f"ProgressDeadlineExceeded: {condition.get('message') or 'rollout timed out'}"
            if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
                problem = f"ReplicaFailure: {condition.get('message') or condition.get('reason')}"
    if kind == "StatefulSet" and status.get("updateRevision") and status.get("currentRevision") == status.get(
        "updateRevision"
    ):
        updated = max(updated, total)
    if observed < generation:
        rollout = "rollout: waiting for the controller to see the change"
    elif updated < desired or total > desired or available < desired:
        rollout = (
            f"rollout: {updated}/{desired} updated, {ready}/{desired} ready, {available}/{desired} available"
            + (f", {total - updated} old terminating" if total > updated and updated >= desired else "")
        )
    return WorkloadSpec(key, kind, desired, revision, rollout, problem, image)


def rollout_spec(env: str, obj: dict) -> WorkloadSpec:
    """An Argo Rollout: its phase and step say whether a release is under way.

    Paused or Progressing is a release in progress (the row says where: "Argo canary
    Paused, step 1/4, weight 20 %"); Degraded — an abort, a failed analysis — is a
    problem; Healthy leaves the verdict to the pods.
    """
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    key = WorkloadKey(env, metadata.get("namespace", ""), metadata.get("name", ""))
    image = _template_image(spec)
    desired = spec.get("replicas", 1)
    desired = desired if isinstance(desired, int) and not isinstance(desired, bool) else 1
    revision = _revision_annotation(metadata, argo.REVISION)
    status = argo.rollout_status(obj)
    where = " ".join(part for part in ("Argo", status.strategy, status.summary) if part)
    if status.strategy == "canary":
        where += f", weight {status.weight} %"
    rollout = problem = None
    if status.phase == argo.DEGRADED or status.aborted:
        problem = where + (f": {status.message}" if status.message else "")
    elif not status.settled and status.phase:
        rollout = where + (f": {status.message}" if status.message and status.phase == argo.PAUSED else "")
    return WorkloadSpec(key, argo.KIND, desired, revision, rollout, problem, image, backend_status=status.line)


# -- the adapter ---------------------------------------------------------------------------


class KubernetesAdapter(KubernetesWrites, KubernetesReleases):
    """One kubeconfig context (and a set of namespaces, or all) as one environment."""

    def __init__(
        self,
        environment: Environment,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespaces: list[str] | str = "all",
        timeout: float = 10.0,
        watch_seconds: int = 240,
        metrics_step: float = 5.0,
    ) -> None:
        self.environment = environment
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespaces: list[str] | None = None if namespaces == "all" else list(namespaces)
        self._timeout = timeout
        self._watch_seconds = watch_seconds
        self._metrics_step = metrics_step
        self._http: KubeHTTP | None = None
        self._state: _ClusterState | None = None
        """What the running ``watch()`` knows; ``samples()`` maps pod names to uids with it."""
        self.list_calls = 0
        """Lists made since construction (tests assert zero in steady state)."""

    # -- connection ---------------------------------------------------------------------

    def observe(self, key: WorkloadKey):
        """The workload's live state; after a blue-green switch, that of the colour the
        Service sends traffic to (what serves is what a health gate must judge)."""
        live = self._releaser.live_key(key)
        observation = KubernetesWrites.observe(self, live)
        if live == key:
            return observation
        return replace(observation, workload=key, reason=f"{observation.reason} (live colour: {live.name})")

    def connect(self) -> None:
        self.close()
        try:
            http = open_context(self.kubeconfig, self.context)
        except Exception as error:  # noqa: BLE001 - a broken kubeconfig is "unreachable" with a reason
            raise AdapterError(
                ErrorKind.UNREACHABLE,
                f"cannot load kubeconfig context {self.context or '(current)'}",
                admin_detail=str(error).splitlines()[0] if str(error) else "",
                developer_detail=repr(error),
            ) from error
        self._http = http
        self._json("/version", {})

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            try:
                http.close()
            except Exception:  # noqa: BLE001 - closing a dead pool may fail # nosec B110
                pass

    @property
    def host(self) -> str:
        return self._http.host if self._http is not None else ""

    # -- raw HTTP (auth, TLS and proxies are set up in adapters.kube_http) ------------------

    def _call(
        self,
        path: str,
        query: dict,
        *,
        timeout,
        method: str = "GET",
        body: object = None,
        content_type: str | None = None,
    ):
        """The response of one request, unread; AdapterError for a failure or an error status."""
        if self._http is None:
            raise AdapterError(ErrorKind.UNREACHABLE, f"{self.environment.name} is not connected")
        try:
            response = self._http.request(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        except Exception as error:  # noqa: BLE001 - urllib3/ssl errors all mean "cannot reach"
            raise AdapterError(
                ErrorKind.UNREACHABLE,
                f"cannot reach the Kubernetes API of {self.environment.name}",
                admin_detail=str(error).splitlines()[0] if str(error) else "",
                developer_detail=repr(error),
            ) from error
        if response.status >= 400:
            try:
                body_text = response.read().decode("utf-8", "replace")
            finally:
                response.release_conn()
            raise _status_error(response.status, body_text, path)
        return response

    def _json(
        self,
        path: str,
        query: dict,
        *,
        method: str = "GET",
        body: object = None,
        content_type: str | None = None,
    ) -> dict:
        response = self._call(path, query, timeout=self._timeout, method=method, body=body, content_type=content_type)
        try:
            data = response.read()
        except Exception as error:  # noqa: BLE001 - the connection broke mid-body
            raise AdapterError(
                ErrorKind.UNREACHABLE,
                f"cannot reach the Kubernetes API of {self.environment.name}",
                admin_detail=str(error).splitlines()[0] if str(error) else "",
                developer_detail=repr(error),
            ) from error
        finally:
            response.release_conn()
        if not data.strip():
            return {}
        try:
            return json.loads(data)
        except ValueError as error:
            raise AdapterError(ErrorKind.BACKEND, f"{path}: the API answered something that is not JSON") from error

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict | None = None,
        body: object = None,
        content_type: str | None = None,
    ) -> dict:
        """One JSON request (the write side's call): the decoded answer, {} when empty.

        ``body`` is sent as JSON with ``content_type`` (``application/json`` unless a
        PATCH names its kind, e.g. ``application/strategic-merge-patch+json``).

        Raises:
            AdapterError: Unreachable, or the API's error status in its kind
                (404 NOT_FOUND, 409 CONFLICT, 422 BAD_INPUT, 401/403 FORBIDDEN …).
        """
        return self._json(path, query or {}, method=method, body=body, content_type=content_type)

    def _list(self, resource: Resource, namespace: str | None) -> tuple[list[dict], str]:
        """Every item of one list call, and the list's resourceVersion."""
        items: list[dict] = []
        rv = self._stream_list(resource, namespace, items.append)
        return items, rv

    def _stream_list(self, resource: Resource, namespace: str | None, take: Callable[[dict], None]) -> str:
        """One list call, each item handed to ``take`` as soon as it is decoded.

        Returns the list's resourceVersion. Items get their ``kind``, which list
        answers leave out.
        """
        self.list_calls += 1
        path = resource.path(namespace)
        response = self._call(path, {}, timeout=self._timeout)
        fields: dict = {}
        try:
            for item in iter_list_items(response.stream(65536, decode_content=True), fields):
                if isinstance(item, dict):
                    item.setdefault("kind", resource.kind)
                    take(item)
        except ValueError as error:
            raise AdapterError(ErrorKind.BACKEND, f"{path}: the API answered something that is not JSON") from error
        except (urllib3_exceptions.HTTPError, OSError) as error:
            raise AdapterError(
                ErrorKind.UNREACHABLE,
                f"cannot reach the Kubernetes API of {self.environment.name}",
                admin_detail=str(error).splitlines()[0] if str(error) else "",
                developer_detail=repr(error),
            ) from error
        finally:
            response.release_conn()
        return (fields.get("metadata") or {}).get("resourceVersion") or ""

    def _watched(self) -> tuple[Resource, ...]:
        """What to list and watch: the built-in kinds, and Rollouts where Argo's CRD is
        served (a cluster without it answers 404; a role without it, 403)."""
        try:
            document = self._json(f"/apis/{argo.GROUP_VERSION}", {})
        except AdapterError as error:
            if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.FORBIDDEN):
                return WATCHED
            raise
        served = any(r.get("name") == argo.PLURAL for r in document.get("resources") or [] if isinstance(r, dict))
        if not served:
            return WATCHED
        # ReplicaSets stay first: a pod is filed under its Rollout through them.
        return (REPLICASETS, DEPLOYMENTS, STATEFULSETS, DAEMONSETS, ROLLOUTS, PODS, EVENTS)

    def _scopes(self) -> list[str | None]:
        return [None] if self.namespaces is None else list(self.namespaces)

    # -- read side ------------------------------------------------------------------

    def snapshot(self, *, detailed: bool = False) -> SnapshotReplaced:
        """Every workload and pod (the list answers carry everything ``detailed`` asks for)."""
        state = _ClusterState(self.environment.name)
        for resource in self._watched():
            if resource is EVENTS:
                continue
            for scope in self._scopes():
                self._list_into(state, resource, scope)
        return state.snapshot(time.time())

    def _list_into(self, state: _ClusterState, resource: Resource, scope: str | None) -> str:
        """List one resource into ``state`` item by item; the list's resourceVersion.

        Each item's JSON dies as soon as ``state`` has kept what it needs of it, so a
        5,000-pod list never exists as a whole (see ``iter_list_items``).
        """
        now = time.time()
        state.forget_scope(resource, scope)
        return self._stream_list(resource, scope, lambda item: state.keep(resource, item, now))

    def watch(self, stop: StopFlag) -> Iterator[Change]:
        env = self.environment.name
        state = _ClusterState(env)
        self._state = state
        versions: dict[tuple[Resource, str | None], str] = {}
        for resource in self._watched():
            if resource is EVENTS:
                continue
            for scope in self._scopes():
                versions[(resource, scope)] = self._list_into(state, resource, scope)
        yield state.snapshot(time.time())
        yield ConnectionChanged(env, ConnectionState(True, since=datetime.now(UTC)))
        # Events come after the first frame's data: they fill the detail pane only.
        for scope in self._scopes():
            items, rv = self._list(EVENTS, scope)
            versions[(EVENTS, scope)] = rv
            state.events_seed(items)
        yield from state.drain_events()

        inbox: queue.Queue = queue.Queue(maxsize=10_000)
        local_stop = StopSignal()
        on_stop(stop, local_stop.set)
        threads = [
            threading.Thread(
                target=self._follow,
                args=(resource, scope, rv, inbox, local_stop),
                name=f"watch-{env}-{resource.plural}",
                daemon=True,
            )
            for (resource, scope), rv in versions.items()
        ]
        for thread in threads:
            thread.start()
        try:
            while not stop.is_set():
                try:
                    message = inbox.get(timeout=0.5)
                except queue.Empty:
                    continue
                kind = message[0]
                if kind == "error":
                    raise message[1]
                if kind == "event":
                    _, resource, event_type, obj = message
                    yield from state.apply(resource, event_type, obj, time.time())
                elif kind == "relist":
                    _, resource, scope, items = message
                    yield from state.replace_and_diff(resource, scope, items, time.time())
        finally:
            local_stop.set()

    def _follow(self, resource: Resource, scope: str | None, rv: str, inbox: queue.Queue, stop: StopSignal) -> None:
        """One watch, resumed from its last resourceVersion until stopped."""
        while not stop.is_set():
            try:
                rv = self._watch_once(resource, scope, rv, inbox, stop)
            except _Expired:
                try:
                    items, rv = self._list(resource, scope)
                except AdapterError as error:
                    inbox.put(("error", error))
                    return
                inbox.put(("relist", resource, scope, items))
            except AdapterError as error:
                if not stop.is_set():
                    inbox.put(("error", error))
                return
            except Exception as error:  # noqa: BLE001 - a broken stream is a lost connection
                if not stop.is_set():
                    inbox.put(("error", AdapterError(ErrorKind.UNREACHABLE, f"watch of {resource.plural} broke", developer_detail=repr(error))))
                return

    def _watch_once(self, resource: Resource, scope: str | None, rv: str, inbox: queue.Queue, stop: StopSignal) -> str:
        seconds = self._watch_seconds + random.randint(0, max(1, self._watch_seconds // 4))  # nosec B311 # spreads reconnects, not secrets
        response = self._call(
            resource.path(scope),
            {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": str(seconds)},
            timeout=(self._timeout, seconds + 30),
        )
        raw = response
        stop.on_set(lambda: interrupt(raw))
        try:
            for line in _until_dropped(_lines(raw)):
                if stop.is_set():
                    break
                event = json.loads(line)
                event_type = event.get("type")
                obj = event.get("object") or {}
                if event_type == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise AdapterError(ErrorKind.BACKEND, f"watch of {resource.plural}: {obj.get('message', 'error')}")
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = new_rv
                if event_type == "BOOKMARK":
                    continue
                obj.setdefault("kind", resource.kind)
                inbox.put(("event", resource, event_type, obj))
        finally:
            raw.close()
        return rv

    # -- logs and metrics -------------------------------------------------------------------

    def logs(
        self,
        replica: Replica,
        *,
        follow: bool,
        since: datetime | None = None,
        tail: int | None = None,
        stop: StopFlag | None = None,
        container: str | None = None,
        previous: bool = False,
    ) -> Iterator[list[LogLine]]:
        """Lines of one pod's container (the default one unless ``container`` says)."""
        namespace = replica.workload.group
        query: dict[str, object] = {"timestamps": "true", "follow": "true" if follow else "false"}
        if tail is not None:
            query["tailLines"] = str(max(0, tail))
        if since is not None:
            query["sinceSeconds"] = str(max(1, int(time.time() - since.timestamp())))
        if container:
            query["container"] = container
        if previous:
            query["previous"] = "true"
        path = f"/api/v1/namespaces/{namespace}/pods/{replica.name}/log"
        try:
            response = self._call(path, query, timeout=(self._timeout, None) if follow else self._timeout)
        except AdapterError as error:
            if error.kind is ErrorKind.NOT_FOUND:
                return
            raise
        raw = response
        on_stop(stop, lambda: interrupt(raw))
        try:
            for lines in _line_batches(raw):
                if stop is not None and stop.is_set():
                    return
                yield [_log_line(replica.name, line) for line in lines]
        except Exception:  # noqa: BLE001 - the pod went away or the stream was closed: end of logs
            return
        finally:
            raw.close()

    def stats(self, replica: Replica, stop: StopFlag) -> Iterator[Change]:
        """Per-pod streams do not exist on Kubernetes; ``samples`` polls them all at once."""
        return iter(())

    def samples(
        self,
        stop: StopFlag,
        *,
        replica_ids: Callable[[], Mapping[tuple[str, str], str]] | None = None,
    ) -> Iterator[list[Change]]:
        """CPU and memory of every pod from ``metrics.k8s.io``: one list call and one
        batch of samples per step.

        Metrics name pods by namespace and name; samples are kept by replica id (the
        pod's uid). ``replica_ids`` gives that mapping — the console passes one read
        from its store — else this adapter's own running ``watch()`` is asked; only an
        adapter with neither lists pods for it.

        Raises AdapterError(NOT_FOUND) when the cluster has no metrics API.
        """
        env = self.environment.name
        if replica_ids is None and self._state is not None:
            replica_ids = self._state.pod_names.copy
        lookup = replica_ids or self._pod_uids
        uids: Mapping[tuple[str, str], str] = {}
        while not stop.is_set():
            started = time.monotonic()
            batch: list[Change] = []
            looked_up = False
            for scope in self._scopes():
                path = (
                    "/apis/metrics.k8s.io/v1beta1/pods"
                    if scope is None
                    else f"/apis/metrics.k8s.io/v1beta1/namespaces/{scope}/pods"
                )
                try:
                    document = self._json(path, {})
                except AdapterError as error:
                    if error.kind is ErrorKind.NOT_FOUND:
                        raise AdapterError(ErrorKind.NOT_FOUND, "no metrics API (metrics.k8s.io) in this cluster") from error
                    raise
                for item in document.get("items") or []:
                    metadata = item.get("metadata") or {}
                    name = (metadata.get("namespace", ""), metadata.get("name", ""))
                    uid = uids.get(name)
                    if uid is None and not looked_up:
                        # A pod new since the last look (or the first step): look again,
                        # at most once per step.
                        uids = lookup()
                        looked_up = True
                        uid = uids.get(name)
                    if uid is None:
                        continue
                    ts = _parse_time(item.get("timestamp"))
                    when = ts.timestamp() if ts else time.time()
                    cpu = sum(parse_cpu((c.get("usage") or {}).get("cpu", "0")) for c in item.get("containers") or [])
                    memory = sum(parse_bytes((c.get("usage") or {}).get("memory", "0")) for c in item.get("containers") or [])
                    batch.append(SampleAdded(env, uid, "cpu", Sample(when, cpu * 100.0)))
                    batch.append(SampleAdded(env, uid, "memory", Sample(when, float(memory))))
                del document
            yield batch
            elapsed = time.monotonic() - started
            stop_wait = getattr(stop, "wait", None)
            if stop_wait is not None:
                stop_wait(max(0.0, self._metrics_step - elapsed))
            else:
                time.sleep(max(0.0, self._metrics_step - elapsed))

    def _pod_uids(self) -> dict[tuple[str, str], str]:
        """(namespace, name) → uid by listing pods: for an adapter that watches nothing."""
        uids = {}
        for scope in self._scopes():
            items, _ = self._list(PODS, scope)
            for pod in items:
                metadata = pod.get("metadata") or {}
                uids[(metadata.get("namespace", ""), metadata.get("name", ""))] = metadata.get("uid", "")
        return uids


_OWNER_KINDS = ("ReplicaSet", "StatefulSet", "DaemonSet", "Job")
"""Owners that file a pod under a workload (a ReplicaSet's own owner, its Deployment)."""


@dataclass(slots=True)
class _Pod:
    """What the adapter keeps of a pod: the replica it showed and what files it.

    The pod's JSON (≈ 10 KB of dicts each) is dropped once this is made: 5,000 pods
    would otherwise hold ≈ 48 MiB for fields nothing reads again. The ``Replica`` is
    the very object handed to the store, so keeping it costs nothing extra.
    """

    namespace: str
    name: str
    owner: tuple[str, str, str] | None
    """(kind, name, uid) of the first owner in ``_OWNER_KINDS``."""
    replica: Replica
    not_ready_until: float | None
    """When a Running-but-not-Ready pod stops counting as starting: the one part of
    its health that changes with time alone (see ``NOT_READY_GRACE``)."""


_RS_OWNER_KINDS = ("Deployment", argo.KIND)


@dataclass(frozen=True, slots=True)
class _ReplicaSet:
    namespace: str
    name: str
    owner: tuple[str, str] | None
    """(kind, name) of the owning Deployment or Rollout, None for a bare ReplicaSet."""


class _ClusterState:
    """What the adapter knows of the cluster; turns raw objects into model changes."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.pods: dict[str, _Pod] = {}
        self.replicasets: dict[str, _ReplicaSet] = {}
        self.workloads: dict[tuple[str, str, str], WorkloadSpec] = {}
        self.pod_names: dict[tuple[str, str], str] = {}
        """(namespace, name) → uid, so an event or a metric finds its pod without a scan."""
        self._pending_events: list[dict] = []

    # owners --------------------------------------------------------------------------

    def key_for(self, namespace: str, name: str, owner: tuple[str, str, str] | None) -> tuple[WorkloadKey, str]:
        """The workload a pod belongs to, and that workload's kind."""
        if owner is None:
            return WorkloadKey(self.env, namespace, name), "Pod"
        kind, owner_name, owner_uid = owner
        if kind == "ReplicaSet":
            rs = self.replicasets.get(owner_uid)
            if rs is not None and rs.owner is not None:
                return WorkloadKey(self.env, namespace, rs.owner[1]), rs.owner[0]
        return WorkloadKey(self.env, namespace, owner_name), kind

    def pod(self, obj: dict, now: float) -> _Pod:
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace", "")
        name = metadata.get("name", "")
        owner = next(
            (
                (o.get("kind"), o.get("name", ""), o.get("uid", ""))
                for o in metadata.get("ownerReferences") or []
                if o.get("kind") in _OWNER_KINDS
            ),
            None,
        )
        key, _kind = self.key_for(namespace, name, owner)
        replica, not_ready_until = pod_replica(obj, key, now)
        return _Pod(namespace, name, owner, replica, not_ready_until)

    def _refile(self, pod: _Pod, now: float) -> bool:
        """File ``pod`` under its owner as known now; True when that moved it."""
        key, _kind = self.key_for(pod.namespace, pod.name, pod.owner)
        if key == pod.replica.workload:
            return False
        replica = replace(pod.replica, workload=key)
        if pod.not_ready_until is not None and now >= pod.not_ready_until:
            health, reason, state = _not_ready_for_long()
            replica = replace(replica, health=health, reason=reason, state=state)
            pod.not_ready_until = None
        pod.replica = replica
        return True

    # whole lists ---------------------------------------------------------------------

    def forget_scope(self, resource: Resource, scope: str | None) -> None:
        """Drop what is kept of ``resource`` in ``scope`` (before a fresh list of it)."""
        store = self._bucket(resource)
        for uid in [u for u, kept in store.items() if _in_scope(self._namespace(resource, kept), scope)]:
            self._forget(resource, uid)

    def keep(self, resource: Resource, obj: dict, now: float) -> None:
        """Keep one listed object (its slim form)."""
        self._keep(resource, self._id(resource, obj), obj, now)

    def snapshot(self, now: float) -> SnapshotReplaced:
        specs = tuple(self.workloads.values())
        kinds = {spec.key: spec.kind for spec in specs}
        for pod in self.pods.values():
            # Lists come ReplicaSets first, so this moves nothing unless a pod got
            # ahead of its ReplicaSet.
            self._refile(pod, now)
            key, kind = self.key_for(pod.namespace, pod.name, pod.owner)
            kinds.setdefault(key, kind)
        replicas = tuple(pod.replica for pod in self.pods.values())
        return SnapshotReplaced(self.env, replicas, kinds=tuple(kinds.items()), specs=specs)

    def replace_and_diff(self, resource: Resource, scope: str | None, items: list[dict], now: float) -> Iterator[Change]:
        """A relist after 410: emit removals for what vanished and upserts for the rest."""
        store = self._bucket(resource)
        fresh = {self._id(resource, item): item for item in items}
        for uid in [u for u, kept in store.items() if _in_scope(self._namespace(resource, kept), scope) and u not in fresh]:
            yield from self._removed(resource, uid, now)
        for uid, item in fresh.items():
            yield from self._changed(resource, uid, item, now)

    # one event -----------------------------------------------------------------------

    def apply(self, resource: Resource, event_type: str, obj: dict, now: float) -> Iterator[Change]:
        if resource is EVENTS:
            if event_type != "DELETED":
                change = self._event(obj)
                if change is not None:
                    yield change
            return
        uid = self._id(resource, obj)
        if event_type == "DELETED":
            yield from self._removed(resource, uid, now)
        else:
            yield from self._changed(resource, uid, obj, now)

    def _changed(self, resource: Resource, uid, obj: dict, now: float) -> Iterator[Change]:
        self._keep(resource, uid, obj, now)
        if resource is PODS:
            yield ReplicaUpserted(self.pods[uid].replica)
        elif resource is REPLICASETS:
            yield from self._refile_owned(uid, now)
        else:
            yield WorkloadSpecUpserted(self.workloads[uid])

    def _removed(self, resource: Resource, uid, now: float) -> Iterator[Change]:
        self._forget(resource, uid)
        if resource is PODS:
            yield ReplicaRemoved(self.env, uid)
        elif resource is REPLICASETS:
            yield from self._refile_owned(uid, now)
        else:
            _kind, namespace, name = uid
            yield WorkloadSpecRemoved(WorkloadKey(self.env, namespace, name))

    def _refile_owned(self, rs_uid: str, now: float) -> Iterator[Change]:
        # Pods seen before their ReplicaSet were filed under the RS name; re-file them.
        for pod in self.pods.values():
            if pod.owner is not None and pod.owner[2] == rs_uid and self._refile(pod, now):
                yield ReplicaUpserted(pod.replica)

    def events_seed(self, items: list[dict]) -> None:
        self._pending_events = sorted(items, key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))[-500:]

    def drain_events(self) -> Iterator[Change]:
        for item in self._pending_events:
            change = self._event(item)
            if change is not None:
                yield change
        self._pending_events = []

    def _event(self, obj: dict) -> EventRecorded | None:
        involved = obj.get("involvedObject") or {}
        namespace = involved.get("namespace") or (obj.get("metadata") or {}).get("namespace", "")
        name = involved.get("name", "")
        kind = involved.get("kind")
        if kind == "Pod":
            pod = self.pods.get(self.pod_names.get((namespace, name), ""))
            if pod is None:
                return None
            key, _ = self.key_for(pod.namespace, pod.name, pod.owner)
        elif kind == "ReplicaSet":
            rs = next((r for r in self.replicasets.values() if r.name == name and r.namespace == namespace), None)
            key = WorkloadKey(self.env, namespace, rs.owner[1] if rs is not None and rs.owner is not None else name)
        elif kind in WORKLOAD_RESOURCES:
            key = WorkloadKey(self.env, namespace, name)
        else:
            return None
        return EventRecorded(
            key=key,
            ts=_event_time(obj),
            type=obj.get("type") or "Normal",
            reason=obj.get("reason") or "",
            message=obj.get("message") or "",
            count=int(obj.get("count") or 1),
        )

    # plumbing ------------------------------------------------------------------------

    def _keep(self, resource: Resource, uid, obj: dict, now: float) -> None:
        """Keep the slim form of ``obj`` under ``uid`` (replacing what was there)."""
        if resource is PODS:
            old = self.pods.get(uid)
            if old is not None and self.pod_names.get((old.namespace, old.name)) == uid:
                del self.pod_names[(old.namespace, old.name)]
            pod = self.pod(obj, now)
            self.pods[uid] = pod
            self.pod_names[(pod.namespace, pod.name)] = uid
        elif resource is REPLICASETS:
            metadata = obj.get("metadata") or {}
            owner = next(
                ((o["kind"], o.get("name", "")) for o in metadata.get("ownerReferences") or [] if o.get("kind") in _RS_OWNER_KINDS),
                None,
            )
            self.replicasets[uid] = _ReplicaSet(metadata.get("namespace", ""), metadata.get("name", ""), owner)
        else:
            self.workloads[uid] = workload_spec(self.env, obj)

    def _forget(self, resource: Resource, uid) -> None:
        if resource is PODS:
            pod = self.pods.pop(uid, None)
            if pod is not None and self.pod_names.get((pod.namespace, pod.name)) == uid:
                del self.pod_names[(pod.namespace, pod.name)]
        else:
            self._bucket(resource).pop(uid, None)

    def _bucket(self, resource: Resource) -> dict:
        if resource is PODS:
            return self.pods
        if resource is REPLICASETS:
            return self.replicasets
        return self.workloads

    @staticmethod
    def _namespace(resource: Resource, kept) -> str:
        if resource is PODS or resource is REPLICASETS:
            return kept.namespace
        return kept.key.group

    @staticmethod
    def _id(resource: Resource, obj: dict):
        metadata = obj.get("metadata") or {}
        if resource is PODS or resource is REPLICASETS:
            return metadata.get("uid") or f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
        return (resource.kind, metadata.get("namespace", ""), metadata.get("name", ""))


def interrupt(response) -> None:
    """Make a read blocked on ``response`` in another thread return now.

    Not ``close()``: the buffered reader's close waits for the lock the blocked read
    holds, so the stopping thread — the UI's, on quit — would wait for the next byte
    the server sends (up to a watch's whole timeout). Shutting the socket down wakes
    the reader at once; the reading thread closes the response itself.
    """
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing is blocked on it


def _in_scope(namespace: str, scope: str | None) -> bool:
    return scope is None or namespace == scope


def _event_time(obj: dict) -> datetime | None:
    return (
        parse_rfc3339(obj.get("lastTimestamp"))
        or parse_rfc3339(obj.get("eventTime"))
        or parse_rfc3339((obj.get("metadata") or {}).get("creationTimestamp"))
    )


def _status_error(status: int, body: str, path: str) -> AdapterError:
    try:
        message = json.loads(body).get("message") or body
    except ValueError:
        message = body
    kind = {
        401: ErrorKind.FORBIDDEN,
        403: ErrorKind.FORBIDDEN,
        404: ErrorKind.NOT_FOUND,
        409: ErrorKind.CONFLICT,
        410: ErrorKind.CONFLICT,
        422: ErrorKind.BAD_INPUT,
    }.get(status, ErrorKind.BACKEND)
    if status >= 500:
        kind = ErrorKind.UNREACHABLE
    return AdapterError(kind, f"{path}: HTTP {status}: {str(message).strip()[:200]}", developer_detail=body[:2000])


def _line_batches(raw) -> Iterator[list[bytes]]:
    """Complete lines of a streamed urllib3 response, one list per network chunk."""
    pending = b""
    for chunk in raw.stream(65536, decode_content=True):
        if not chunk:
            continue
        pending += chunk
        *complete, pending = pending.split(b"\n")
        lines = [line for line in complete if line]
        if lines:
            yield lines
    if pending:
        yield [pending]


def _lines(raw) -> Iterator[bytes]:
    for batch in _line_batches(raw):
        yield from batch


def _until_dropped(lines: Iterator[bytes]) -> Iterator[bytes]:
    """Lines until the connection drops; a drop mid-stream is the end of this watch.

    The caller resumes from the last resourceVersion it saw, so a dropped connection
    loses nothing and repeats nothing; only a failure to reconnect is an error.
    """
    try:
        yield from lines
    except (urllib3_exceptions.HTTPError, OSError):
        return


def _log_line(replica_name: str, raw: bytes) -> LogLine:
    ts, text = split_timestamp(raw.decode("utf-8", errors="replace").rstrip("\r"))
    return LogLine(ts=ts, replica=replica_name, stream=Stream.STDOUT, text=text)


def parse_cpu(value: str) -> float:
    """Kubernetes CPU quantity → cores (``250m`` → 0.25, ``1200000n`` → 0.0012)."""
    text = str(value).strip()
    units = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        return 0.0


def parse_bytes(value: str) -> float:
    """Kubernetes memory quantity → bytes (``128Mi``, ``1G``, ``512Ki``)."""
    text = str(value).strip()
    units = {
        "Ki": 1024,
        "Mi": 1024**2,
        "Gi": 1024**3,
        "Ti": 1024**4,
        "k": 1e3,
        "K": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
    }
    for suffix in ("Ki", "Mi", "Gi", "Ti", "k", "K", "M", "G", "T"):
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * units[suffix]
            except ValueError:
                return 0.0
    try:
        return float(text)
    except ValueError:
        return 0.0
