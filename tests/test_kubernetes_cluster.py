"""The Kubernetes adapter against any cluster: the embedded emulator always, a real one too.

With ``WATCHFLOOR_TEST_KUBECONFIG`` set (.github/workflows/kind-integration.yml sets it to
a kind cluster's), every test here also runs against that kubeconfig's current context,
in a namespace of its own that is deleted afterwards. Nothing here uses an emulator
hook, so what passes on the emulator must pass on a real API server and controller.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterError, ErrorKind, LockHolder
from adapters.demo.emulator import KubernetesEmulator
from adapters.kubeconfig import current_context
from adapters.kubernetes import KubernetesAdapter
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from tests.backends import real_cluster_kubeconfig
from tests.test_kubernetes_adapter import deployment_object


@dataclass
class Cluster:
    """One cluster to test against, with a namespace of its own."""

    kind: str
    kubeconfig: Path
    context: str
    namespace: str
    images: tuple[str, str]
    """Two images that start and stay ready (a real cluster pulls them)."""
    timeout: float
    create: Any = None
    cleanup: list = field(default_factory=list)

    def adapter(self) -> KubernetesAdapter:
        environment = Environment("cluster", EnvironmentKind.KUBERNETES, self.context)
        adapter = KubernetesAdapter(
            environment, kubeconfig=str(self.kubeconfig), context=self.context, namespaces=[self.namespace], watch_seconds=5
        )
        adapter.connect()
        return adapter


def _emulator(tmp_path: Path) -> Iterator[Cluster]:
    with KubernetesEmulator(time_scale=0.05, seed=11) as emulator:
        namespace = "wf-cluster-test"
        emulator.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        yield Cluster(
            kind="emulator",
            kubeconfig=emulator.kubeconfig(tmp_path / "emulator.kubeconfig", context_name="emulator"),
            context="emulator",
            namespace=namespace,
            images=("registry.test/web:1.0", "registry.test/web:1.1"),
            timeout=30.0,
            create=emulator.apply,
        )


def _real(kubeconfig: Path) -> Iterator[Cluster]:
    from kubernetes import client, config

    context = current_context(kubeconfig)
    api = config.new_client_from_config(config_file=str(kubeconfig), context=context)
    namespace = f"wf-test-{secrets.token_hex(4)}"

    def create(document: dict) -> None:
        model = api.deserialize(json.dumps(document), f"V1{document['kind']}", "application/json")
        if document["kind"] == "Namespace":
            client.CoreV1Api(api).create_namespace(model)
        else:
            client.AppsV1Api(api).create_namespaced_deployment(document["metadata"]["namespace"], model)

    create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        yield Cluster(
            kind="real",
            kubeconfig=kubeconfig,
            context=context or "",
            namespace=namespace,
            images=("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.10"),
            timeout=180.0,
            create=create,
        )
    finally:
        client.CoreV1Api(api).delete_namespace(namespace)
        api.close()


_KINDS = ["emulator"] + (["real"] if real_cluster_kubeconfig() is not None else [])


@pytest.fixture(params=_KINDS)
def cluster(request, tmp_path) -> Iterator[Cluster]:
    if request.param == "emulator":
        yield from _emulator(tmp_path)
    else:
        kubeconfig = real_cluster_kubeconfig()
        assert kubeconfig is not None and kubeconfig.is_file(), f"WATCHFLOOR_TEST_KUBECONFIG={kubeconfig} is no file"
        yield from _real(kubeconfig)


@pytest.fixture
def web(cluster) -> Iterator[tuple[Cluster, KubernetesAdapter, WorkloadKey]]:
    """A two-replica Deployment ``web`` running the first image, and an adapter watching its namespace."""
    cluster.create(deployment_object("web", cluster.namespace, replicas=2, image=cluster.images[0]))
    adapter = cluster.adapter()
    key = WorkloadKey("cluster", cluster.namespace, "web")
    _until(lambda: (o := adapter.observe(key)).health is Health.HEALTHY and o.ready == 2, cluster.timeout, "web healthy")
    yield cluster, adapter, key
    adapter.close()


def _until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        time.sleep(0.2)


def test_a_deployment_is_seen_with_its_pods_healthy(web):
    cluster, adapter, key = web

    snapshot = adapter.snapshot()

    replicas = [r for r in snapshot.replicas if r.workload == key]
    assert len(replicas) == 2
    assert all(r.health is Health.HEALTHY for r in replicas)
    observed = adapter.observe(key)
    assert (observed.image, observed.desired, observed.ready) == (cluster.images[0], 2, 2)


def test_a_deploy_then_a_rollback_return_to_the_first_image_at_a_new_revision(web):
    cluster, adapter, key = web

    deployed = adapter.deploy(key, cluster.images[1], change_cause="cluster test", timeout=cluster.timeout)
    rolled_back = adapter.rollback(key, timeout=cluster.timeout)

    observed = adapter.observe(key)
    assert deployed.to_version and adapter.history(key)
    assert rolled_back.to_version == deployed.from_version
    assert (observed.image, observed.revision, observed.rollout_complete) == (cluster.images[0], 3, True)


def test_the_run_lock_is_a_lease_a_second_holder_cannot_take_until_it_is_released(web):
    _, adapter, key = web
    first = LockHolder(holder="alice@bastion", run_id="run-a", pid=os.getpid(), host="bastion", started=datetime.now(UTC))
    second = LockHolder(holder="bob@bastion", run_id="run-b", pid=os.getpid(), host="bastion", started=datetime.now(UTC))

    adapter.acquire_lock(key, first)
    with pytest.raises(AdapterError) as refused:
        adapter.acquire_lock(key, second)
    adapter.release_lock(key, first)
    adapter.acquire_lock(key, second)

    assert refused.value.kind is ErrorKind.CONFLICT and "alice@bastion" in refused.value.summary
    assert adapter.lock_holder(key).run_id == "run-b"
    adapter.release_lock(key, second)
