"""The resource types the emulator serves, and the discovery documents built from them.

Each :class:`ResourceType` carries what the generic REST handlers need to know about a
resource: where it lives (group, version, plural), whether it is namespaced, which
subresources it has and which field selectors the real API server accepts for it.
Everything else in the emulator is driven from :data:`RESOURCE_TYPES`, so serving one
more resource is one more entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

FieldGetter = Callable[[dict[str, Any]], str]


def _path(*keys: str) -> FieldGetter:
    """A field-selector getter reading a nested value; absent fields read as ``""``."""

    def get(obj: dict[str, Any]) -> str:
        value: Any = obj
        for key in keys:
            if not isinstance(value, dict):
                return ""
            value = value.get(key)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


_META_FIELDS: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: how it is addressed, and what the server does with it.

    Attributes:
        group: API group, ``""`` for the core group.
        version: API version within the group.
        plural: The resource name in URLs (``pods``).
        kind: The object kind (``Pod``).
        namespaced: Whether objects live in a namespace.
        singular: Singular name for discovery.
        short_names: kubectl short names for discovery.
        subresources: Subresources served (``status``, ``scale``, ``log``).
        has_generation: Whether spec changes bump ``metadata.generation``.
        fields: Field-selector labels accepted for this resource, with getters.
        delete_returns_object: The real server answers DELETE of pods with the pod
            and of most other kinds with a ``Status``; this says which.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    has_generation: bool = False
    fields: dict[str, FieldGetter] = field(default_factory=dict)
    delete_returns_object: bool = False

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """The kind of a list of these objects (``PodList``)."""
        return f"{self.kind}List"

    @property
    def key(self) -> str:
        """A short unique name, ``plural.group`` (``deployments.apps``, ``pods``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def field_getters(self) -> dict[str, FieldGetter]:
        """Every field-selector label this resource accepts."""
        return {**_META_FIELDS, **self.fields}


def _resource(group: str, version: str, plural: str, kind: str, **kwargs: Any) -> ResourceType:
    kwargs.setdefault("singular", kind.lower())
    return ResourceType(group=group, version=version, plural=plural, kind=kind, **kwargs)


PODS = _resource(
    "",
    "v1",
    "pods",
    "Pod",
    short_names=("po",),
    subresources=("status", "log"),
    delete_returns_object=True,
    fields={
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
)
EVENTS = _resource(
    "",
    "v1",
    "events",
    "Event",
    short_names=("ev",),
    fields={
        "involvedObject.kind": _path("involvedObject", "kind"),
        "involvedObject.namespace": _path("involvedObject", "namespace"),
        "involvedObject.name": _path("involvedObject", "name"),
        "involvedObject.uid": _path("involvedObject", "uid"),
        "involvedObject.apiVersion": _path("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _path("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
)
NAMESPACES = _resource(
    "",
    "v1",
    "namespaces",
    "Namespace",
    namespaced=False,
    short_names=("ns",),
    subresources=("status",),
    fields={"status.phase": _path("status", "phase")},
    delete_returns_object=True,
)
NODES = _resource(
    "",
    "v1",
    "nodes",
    "Node",
    namespaced=False,
    short_names=("no",),
    subresources=("status",),
    fields={"spec.unschedulable": _path("spec", "unschedulable")},
)
SERVICES = _resource("", "v1", "services", "Service", short_names=("svc",), subresources=("status",))
CONFIGMAPS = _resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",))
DEPLOYMENTS = _resource(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    short_names=("deploy",),
    subresources=("status", "scale"),
    has_generation=True,
)
REPLICASETS = _resource(
    "apps",
    "v1",
    "replicasets",
    "ReplicaSet",
    short_names=("rs",),
    subresources=("status", "scale"),
    has_generation=True,
    fields={"status.replicas": _path("status", "replicas")},
)
STATEFULSETS = _resource(
    "apps",
    "v1",
    "statefulsets",
    "StatefulSet",
    short_names=("sts",),
    subresources=("status", "scale"),
    has_generation=True,
)
DAEMONSETS = _resource(
    "apps",
    "v1",
    "daemonsets",
    "DaemonSet",
    short_names=("ds",),
    subresources=("status",),
    has_generation=True,
)
LEASES = _resource("coordination.k8s.io", "v1", "leases", "Lease")
ARGO_GROUP = "argoproj.io"
ROLLOUTS = _resource(
    ARGO_GROUP,
    "v1alpha1",
    "rollouts",
    "Rollout",
    short_names=("ro",),
    subresources=("status",),
    has_generation=True,
)
"""Argo Rollouts' custom resource, served as its CRD declares it (status subresource,
generation bumped by spec changes) when the emulator is told the cluster has Argo
Rollouts; the simulated Argo controller (:mod:`adapters.demo.argo`) runs them where the
emulator is told to."""

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    PODS,
    EVENTS,
    NAMESPACES,
    NODES,
    SERVICES,
    CONFIGMAPS,
    DEPLOYMENTS,
    REPLICASETS,
    STATEFULSETS,
    DAEMONSETS,
    LEASES,
    ROLLOUTS,
)

METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"

# group -> version -> plural -> type; the core group is "".
_BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (rt.group, rt.version, rt.plural): rt for rt in RESOURCE_TYPES
}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``group/version/plural``, if any."""
    return _BY_PATH.get((group, version, plural))


_BY_KIND: dict[tuple[str, str], ResourceType] = {(rt.api_version, rt.kind): rt for rt in RESOURCE_TYPES}


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource holding objects of ``apiVersion``/``kind``, if served."""
    return _BY_KIND.get((api_version, kind))


def groups() -> list[tuple[str, str]]:
    """Every (group, version) served, core first, in a stable order."""
    seen: dict[tuple[str, str], None] = {}
    for rt in RESOURCE_TYPES:
        seen[(rt.group, rt.version)] = None
    return list(seen)


# --- discovery documents ------------------------------------------------------------

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
}


def _api_resource(
    name: str, kind: str, namespaced: bool, verbs: Iterable[str], singular: str = "", **extra: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": sorted(verbs),
    }
    doc.update(extra)
    return doc


def api_resource_list(group: str, version: str, *, metrics: bool = False) -> dict[str, Any] | None:
    """The ``APIResourceList`` for ``/api/v1`` or ``/apis/<group>/<version>``.

    Args:
        group: The API group (``""`` for core).
        version: The version within it.
        metrics: Whether ``metrics.k8s.io`` is switched on (only used for that group).

    Returns:
        The document, or ``None`` when nothing is served there.
    """
    group_version = f"{group}/{version}" if group else version
    resources: list[dict[str, Any]] = []
    if group == METRICS_GROUP and version == METRICS_VERSION:
        if not metrics:
            return None
        resources = [
            _api_resource("nodes", "NodeMetrics", False, ["get", "list"], "nodemetrics"),
            _api_resource("pods", "PodMetrics", True, ["get", "list"], "podmetrics"),
        ]
    else:
        for rt in RESOURCE_TYPES:
            if (rt.group, rt.version) != (group, version):
                continue
            extra: dict[str, Any] = {}
            if rt.short_names:
                extra["shortNames"] = list(rt.short_names)
            resources.append(_api_resource(rt.plural, rt.kind, rt.namespaced, ALL_VERBS, rt.singular, **extra))
            for sub in rt.subresources:
                if sub == "scale":
                    resources.append(
                        _api_resource(
                            f"{rt.plural}/scale",
                            "Scale",
                            rt.namespaced,
                            _SUBRESOURCE_VERBS[sub],
                            group="autoscaling",
                            version="v1",
                        )
                    )
                elif sub == "log":
                    resources.append(_api_resource(f"{rt.plural}/log", "Pod", rt.namespaced, ["get"]))
                else:
                    resources.append(
                        _api_resource(f"{rt.plural}/{sub}", rt.kind, rt.namespaced, _SUBRESOURCE_VERBS[sub])
                    )
        if not resources:
            return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def api_group_list(*, metrics: bool, rollouts: bool = True) -> dict[str, Any]:
    """The ``APIGroupList`` served at ``/apis`` (the core group is not listed there).

    ``rollouts`` says whether Argo Rollouts' group is installed.
    """
    entries: list[dict[str, Any]] = []
    named = [(g, v) for g, v in groups() if g and (rollouts or g != ARGO_GROUP)]
    if metrics:
        named.append((METRICS_GROUP, METRICS_VERSION))
    for group, version in named:
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        entries.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": entries}


def api_group(group: str, *, metrics: bool, rollouts: bool = True) -> dict[str, Any] | None:
    """The ``APIGroup`` document served at ``/apis/<group>``."""
    for entry in api_group_list(metrics=metrics, rollouts=rollouts)["groups"]:
        if entry["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None


def api_versions(server_address: str) -> dict[str, Any]:
    """The ``APIVersions`` document served at ``/api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0-watchfloor-demo",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-23T00:00:00Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
