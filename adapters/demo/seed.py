"""What the demo clusters hold: a small shop in two environments.

Each cluster has a ``shop`` namespace with ``web``, ``api``, ``worker`` and
``payments`` Deployments, a ``db`` StatefulSet and Services, plus a ``node-exporter``
DaemonSet in ``monitoring``. The two environments differ the way real ones do:

- ``demo-staging`` runs ``web`` 1.5.0 (one revision ahead of prod: drift) and is in
  the middle of a failed ``payments`` rollout to ``2.1.0-broken``: the new ReplicaSet's
  pod crash-loops while the two old pods keep serving, until the rollout passes its
  progress deadline.
- ``demo-staging`` also runs ``checkout`` as an Argo Rollout (4 replicas; canary steps
  setWeight 25 → pause → setWeight 50 → pause), which the simulated Argo
  controller (:mod:`adapters.demo.argo`) takes through its steps when its image changes.
- ``demo-prod`` runs ``web`` 1.4.2 and has one ``worker`` replica that is OOMKilled over
  and over (the others are fine): a degraded workload, not a failed one.

Rollout history is seeded as it would look on a cluster: the previous revision's
ReplicaSet exists (revision 1, scaled to 0, or still serving for the stuck rollout)
and the controller makes the current one revision 2. Nothing waits: seeding is a few
object creations, and the controller brings pods up from there.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.demo.controller import POD_TEMPLATE_HASH, REVISION, template_hash
from adapters.demo.emulator import KubernetesEmulator
from adapters.demo.kubelet import FAULT_ANNOTATION
from adapters.demo.objects import default_pod_spec
from adapters.demo.resources import DAEMONSETS, DEPLOYMENTS, NAMESPACES, REPLICASETS, ROLLOUTS, SERVICES, STATEFULSETS

ENVIRONMENTS = ("demo-staging", "demo-prod")
NAMESPACE = "shop"
MONITORING = "monitoring"
REGISTRY = "registry.demo"
CHANGE_CAUSE = "kubernetes.io/change-cause"


def _container(name: str, image: str, *, port: int | None = 8080, cpu: str = "100m", memory: str = "128Mi", limit: str = "256Mi") -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}},
    }
    if port:
        container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": port}, "periodSeconds": 5}
    return container


def _template(app: str, containers: list[dict[str, Any]], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"app": app, "app.kubernetes.io/part-of": "shop"}}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"containers": containers}}


def _deployment(app: str, replicas: int, template: dict[str, Any], cause: str, *, deadline: int = 600) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": app,
            "namespace": NAMESPACE,
            "labels": {"app": app, "app.kubernetes.io/part-of": "shop"},
            "annotations": {CHANGE_CAUSE: cause},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": template,
            "progressDeadlineSeconds": deadline,
            "revisionHistoryLimit": 10,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        },
    }


def _previous_replicaset(deployment: dict[str, Any], template: dict[str, Any], replicas: int, cause: str) -> dict[str, Any]:
    """The ReplicaSet an earlier revision of ``deployment`` left behind."""
    template = json.loads(json.dumps(template))
    default_pod_spec(template["spec"], template=True)
    pod_hash = template_hash(template)
    template["metadata"]["labels"][POD_TEMPLATE_HASH] = pod_hash
    meta = deployment["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {
                REVISION: "1",
                CHANGE_CAUSE: cause,
                "deployment.kubernetes.io/desired-replicas": str(deployment["spec"]["replicas"]),
                "deployment.kubernetes.io/max-replicas": str(deployment["spec"]["replicas"] + 1),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**deployment["spec"]["selector"]["matchLabels"], POD_TEMPLATE_HASH: pod_hash}},
            "template": template,
        },
    }


def _rollout(app: str, replicas: int, template: dict[str, Any], cause: str) -> dict[str, Any]:
    """A canary Argo Rollout without traffic routing: replica counts weigh the traffic.

    The same object as the Deployment but for its kind and strategy.
    """
    rollout = _deployment(app, replicas, template, cause)
    rollout.update(apiVersion="argoproj.io/v1alpha1", kind="Rollout")
    rollout["spec"]["strategy"] = {
        "canary": {
            "maxSurge": "25%",
            "maxUnavailable": "25%",
            "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}],
        }
    }
    return rollout


def _service(name: str, port: int, target: int, *, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"app": name},
        "ports": [{"name": "http" if target == 8080 else "tcp", "port": port, "targetPort": target, "protocol": "TCP"}],
    }
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}}, "spec": spec}


def _plan(environment: str) -> dict[str, Any]:
    staging = environment == "demo-staging"
    shop = f"{REGISTRY}/shop"
    return {
        "web": {
            "replicas": 3,
            "previous": ("1.4.2" if staging else "1.4.1", "deploy web 1.4.2 (#398)" if staging else "deploy web 1.4.1 (#371)"),
            "current": ("1.5.0" if staging else "1.4.2", "deploy web 1.5.0 (#412)" if staging else "deploy web 1.4.2 (#398)"),
        },
        "api": {"replicas": 2, "current": ("2.3.1", "deploy api 2.3.1 (#405)")},
        "worker": {
            "replicas": 2,
            "current": ("3.1.4", "deploy worker 3.1.4 (#401)"),
            "fault": None if staging else "flaky",
            "memory": ("256Mi", "384Mi"),
        },
        "payments": {
            "replicas": 2,
            "previous": ("2.0.3", "deploy payments 2.0.3 (#388)") if staging else None,
            "current": ("2.1.0-broken", "deploy payments 2.1.0 (#414)") if staging else ("2.0.3", "deploy payments 2.0.3 (#388)"),
            # The failed rollout stays visible as progressing for two minutes, then
            # turns into ProgressDeadlineExceeded, as on a cluster.
            "deadline": 120,
            "keep_previous": True,
        },
        "_registry": shop,
    }


def seed_demo(emulator: KubernetesEmulator, environment: str = "demo-staging") -> None:
    """Fill a running emulator with the demo shop of one environment.

    Args:
        emulator: A started emulator (with its controller, for pods to appear).
        environment: ``demo-staging`` or ``demo-prod``.

    Raises:
        ValueError: Unknown environment.
    """
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown demo environment {environment!r}; choose one of {', '.join(ENVIRONMENTS)}")
    plan = _plan(environment)
    shop = plan.pop("_registry")

    def seed() -> None:
        store = emulator.store
        assert store is not None
        for namespace in (NAMESPACE, MONITORING):
            store.create(NAMESPACES, {"metadata": {"name": namespace, "labels": {"watchfloor.demo/environment": environment}}})
        for app, item in plan.items():
            version, cause = item["current"]
            fault = item.get("fault")
            request, limit = item.get("memory", ("128Mi", "256Mi"))
            template = _template(
                app,
                [_container(app, f"{shop}/{app}:{version}", memory=request, limit=limit)],
                {FAULT_ANNOTATION: fault} if fault else None,
            )
            deployment = store.create(
                DEPLOYMENTS, _deployment(app, item["replicas"], template, cause, deadline=item.get("deadline", 600)), NAMESPACE
            )
            previous = item.get("previous")
            if previous:
                old_version, old_cause = previous
                old_template = _template(app, [_container(app, f"{shop}/{app}:{old_version}", memory=request, limit=limit)])
                # Created in the same loop turn as the Deployment, so the controller's
                # first pass already sees it and makes the current template revision 2.
                store.create(
                    REPLICASETS,
                    _previous_replicaset(deployment, old_template, item["replicas"] if item.get("keep_previous") else 0, old_cause),
                    NAMESPACE,
                )
        services = [("web", 80, 8080, False), ("api", 80, 8080, False), ("payments", 80, 8080, False), ("db", 5432, 5432, True)]
        if environment == "demo-staging" and emulator.argo_rollouts:
            template = _template("checkout", [_container("checkout", f"{shop}/checkout:3.2.0")])
            store.create(ROLLOUTS, _rollout("checkout", 4, template, "deploy checkout 3.2.0 (#409)"), NAMESPACE)
            services.append(("checkout", 80, 8080, False))
        for name, port, target, headless in services:
            store.create(SERVICES, _service(name, port, target, headless=headless), NAMESPACE)
        db_template = _template("db", [_container("postgres", f"{shop}/postgres:16.3", port=5432, cpu="250m", memory="512Mi", limit="1Gi")])
        db_template["spec"]["containers"][0].pop("readinessProbe")
        store.create(
            STATEFULSETS,
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "db", "namespace": NAMESPACE, "labels": {"app": "db", "app.kubernetes.io/part-of": "shop"}},
                "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": db_template},
            },
            NAMESPACE,
        )
        exporter = _container("node-exporter", f"{REGISTRY}/monitoring/node-exporter:1.8.2", port=9100, cpu="10m", memory="32Mi", limit="64Mi")
        exporter.pop("readinessProbe")
        store.create(
            DAEMONSETS,
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "node-exporter", "namespace": MONITORING, "labels": {"app": "node-exporter"}},
                "spec": {
                    "selector": {"matchLabels": {"app": "node-exporter"}},
                    "template": {"metadata": {"labels": {"app": "node-exporter"}}, "spec": {"containers": [exporter]}},
                },
            },
            MONITORING,
        )

    emulator.call(seed)
