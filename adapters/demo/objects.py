"""What the API server does to an object besides storing it: defaulting and validation.

Defaulting fills the fields the real server fills (``restartPolicy``,
``terminationMessagePath``, a Deployment's ``strategy``…) so that objects read back
look like a cluster's and so that template hashes are computed over the same defaulted
templates as the real controller. Validation rejects, with ``422 Invalid`` and a cause
per field, what the official client's models could not read back: an object the
emulator accepted must always deserialize.
"""

from __future__ import annotations

import ipaddress
import random
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from adapters.demo.resources import (
    DAEMONSETS,
    DEPLOYMENTS,
    EVENTS,
    NAMESPACES,
    PODS,
    REPLICASETS,
    ROLLOUTS,
    SERVICES,
    STATEFULSETS,
    ResourceType,
)

# The alphabet of k8s.io/apimachinery/pkg/util/rand: no vowels, no look-alikes, so
# generated names never spell words.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def rfc3339(ts: float | None = None) -> str:
    """A ``metav1.Time``: RFC 3339 in UTC to the second, as the server writes it."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(ts: float | None = None) -> str:
    """A ``metav1.MicroTime``: RFC 3339 in UTC to the microsecond."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch for an RFC 3339 timestamp, ``None`` if absent or bad."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def new_uid() -> str:
    """A fresh ``metadata.uid``."""
    return str(uuid.uuid4())


def random_suffix(rng: random.Random, length: int = 5) -> str:
    """The random tail of a generated name (``web-5d4f7b9c6-x7kqz``)."""
    return "".join(rng.choice(SAFE_ALPHABET) for _ in range(length))


class Invalid(Exception):
    """An object the server refuses (``422 Invalid``), with one cause per field."""

    def __init__(self, kind: str, name: str, causes: list[tuple[str, str]]) -> None:
        self.kind = kind
        self.name = name
        self.causes = causes
        detail = "; ".join(f"{field}: {message}" for field, message in causes)
        super().__init__(f'{kind} "{name}" is invalid: {detail}')


# --- defaulting ---------------------------------------------------------------------


def _default_container(container: dict[str, Any]) -> None:
    image = container.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    if "@" not in tag:
        latest = ":" not in tag or tag.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    else:
        container.setdefault("imagePullPolicy", "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any], *, template: bool) -> None:
    """Fill the pod spec defaults the server applies (to pods and pod templates alike).

    Args:
        spec: The ``PodSpec`` dict, changed in place.
        template: True for a workload's template; pods get admission defaults too.
    """
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _default_container(container)
    if not template:
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault(
            "tolerations",
            [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
        )


def _default_template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"], template=True)


def qos_class(spec: dict[str, Any]) -> str:
    """The pod's QoS class from its containers' requests and limits."""
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    requests = [c.get("resources", {}).get("requests") or {} for c in containers]
    limits = [c.get("resources", {}).get("limits") or {} for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu") and lim.get("memory") and req.get("cpu", lim["cpu"]) == lim["cpu"]
        and req.get("memory", lim["memory"]) == lim["memory"]
        for req, lim in zip(requests, limits)
    )
    return "Guaranteed" if guaranteed else "Burstable"


class ClusterIPAllocator:
    """Hands out service cluster IPs from 10.96.0.0/16, as a real cluster would."""

    def __init__(self) -> None:
        self._next = int(ipaddress.IPv4Address("10.96.0.10"))

    def allocate(self) -> str:
        """The next free address."""
        address = str(ipaddress.IPv4Address(self._next))
        self._next += 1
        return address


def apply_defaults(rt: ResourceType, obj: dict[str, Any], *, creating: bool, ips: ClusterIPAllocator) -> None:
    """Fill server-side defaults on ``obj`` in place.

    Args:
        rt: The resource type.
        obj: The object being written.
        creating: True on create, where the server also resets ``status``.
        ips: Where services get their cluster IP.
    """
    spec = obj.get("spec")
    if rt is PODS and isinstance(spec, dict):
        default_pod_spec(spec, template=False)
        if creating:
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    elif rt is DEPLOYMENTS and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        _default_template(spec)
        if creating:
            obj["status"] = {}
    elif rt is REPLICASETS and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _default_template(spec)
        if creating:
            obj["status"] = {"replicas": 0}
    elif rt is STATEFULSETS and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if update.get("type") == "RollingUpdate":
            update.setdefault("rollingUpdate", {"partition": 0})
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
        )
        _default_template(spec)
        if creating:
            obj["status"] = {"replicas": 0, "availableReplicas": 0}
    elif rt is DAEMONSETS and isinstance(spec, dict):
        spec.setdefault("revisionHistoryLimit", 10)
        update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if update.get("type") == "RollingUpdate":
            update.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        _default_template(spec)
        if creating:
            obj["status"] = {
                "currentNumberScheduled": 0,
                "desiredNumberScheduled": 0,
                "numberMisscheduled": 0,
                "numberReady": 0,
            }
    elif rt is SERVICES and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
            spec["clusterIP"] = ips.allocate()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        if creating:
            obj["status"] = {"loadBalancer": {}}
    elif rt is ROLLOUTS and creating:
        # A CRD with a status subresource drops the status sent with a create.
        obj.pop("status", None)
    elif rt is NAMESPACES:
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        name = obj.get("metadata", {}).get("name")
        if name:
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if creating:
            obj["status"] = {"phase": "Active"}


# --- validation ---------------------------------------------------------------------


def _check_name(name: Any, *, label: bool) -> str | None:
    if not isinstance(name, str) or not name:
        return "Required value: name or generateName is required"
    limit = 63 if label else 253
    pattern = _DNS_LABEL if label else _DNS_SUBDOMAIN
    if len(name) > limit or not pattern.match(name):
        kind = "RFC 1123 label" if label else "RFC 1123 subdomain"
        return (
            f"Invalid value: {name!r}: a lowercase {kind} must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character"
        )
    return None


def _check_containers(spec: Any, path: str, causes: list[tuple[str, str]]) -> None:
    if not isinstance(spec, dict):
        causes.append((path, "Required value"))
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append((f"{path}.containers", "Required value"))
        return
    seen: set[str] = set()
    for n, container in enumerate(containers):
        where = f"{path}.containers[{n}]"
        if not isinstance(container, dict):
            causes.append((where, "Invalid value: must be an object"))
            continue
        name = container.get("name")
        if not isinstance(name, str) or not _DNS_LABEL.match(name or ""):
            causes.append((f"{where}.name", "Required value: a DNS-1123 label"))
        elif name in seen:
            causes.append((f"{where}.name", f"Duplicate value: {name!r}"))
        else:
            seen.add(name)
        if not isinstance(container.get("image"), str) or not container.get("image"):
            causes.append((f"{where}.image", "Required value"))
        for m, port in enumerate(container.get("ports") or []):
            if not isinstance(port, dict) or not isinstance(port.get("containerPort"), int):
                causes.append((f"{where}.ports[{m}].containerPort", "Required value"))


def _check_selector(spec: dict[str, Any], causes: list[tuple[str, str]], *, needs_template: bool) -> None:
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
        return
    template = spec.get("template")
    if not isinstance(template, dict):
        if needs_template:
            causes.append(("spec.template", "Required value"))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            causes.append(
                ("spec.template.metadata.labels", f"Invalid value: {labels!r}: `selector` does not match template `labels`")
            )
            break
    _check_containers(template.get("spec"), "spec.template.spec", causes)


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Refuse what a real API server refuses and the client models could not read.

    Args:
        rt: The resource type.
        obj: The defaulted object about to be stored.
        old: The stored object, on update (for immutable fields).

    Raises:
        Invalid: With one cause per offending field.
    """
    causes: list[tuple[str, str]] = []
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(meta, dict):
        causes.append(("metadata", "Required value"))
    else:
        if problem := _check_name(name, label=rt in (NAMESPACES, SERVICES)):
            causes.append(("metadata.name", problem))
        for key in ("labels", "annotations"):
            value = meta.get(key)
            if value is not None and (
                not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
            ):
                causes.append((f"metadata.{key}", "Invalid value: must be a map of strings"))
    spec = obj.get("spec")
    if rt is PODS:
        _check_containers(spec, "spec", causes)
    elif rt in (DEPLOYMENTS, STATEFULSETS, DAEMONSETS, REPLICASETS):
        if not isinstance(spec, dict):
            causes.append(("spec", "Required value"))
        else:
            _check_selector(spec, causes, needs_template=rt is not REPLICASETS)
            replicas = spec.get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                causes.append(("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
            if old is not None and old.get("spec", {}).get("selector") != spec.get("selector"):
                causes.append(("spec.selector", "Invalid value: field is immutable"))
    elif rt is SERVICES and isinstance(spec, dict):
        for n, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict) or not isinstance(port.get("port"), int):
                causes.append((f"spec.ports[{n}].port", "Required value"))
    elif rt is EVENTS:
        if not isinstance(obj.get("involvedObject"), dict):
            causes.append(("involvedObject", "Required value"))
    if causes:
        raise Invalid(rt.kind, name if isinstance(name, str) else "", causes)
