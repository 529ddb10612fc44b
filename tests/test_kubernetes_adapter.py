"""The Kubernetes adapter against the embedded emulator over real HTTP (DESIGN §8).

No real API server can be installed here; the emulator is the real component for
these tests, and the adapter is never weakened to suit it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import kubernetes.client
import pytest
import urllib3

from adapters.base import StopSignal
from adapters.demo import DemoCluster
from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from console.log_feed import LogRequest, open_feed
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from console.store import Store
from console.watcher import Backoff, StatsManager, watch_environment
from tests.backends import wait_for


def pod_object(name: str, namespace: str = "shop", *, labels=None, status=None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": "main", "image": f"registry.test/{name}:1.0"}]},
        "status": status or {"phase": "Running", "startTime": "2026-01-01T00:00:00Z", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def deployment_object(name: str, namespace: str = "shop", *, replicas: int = 2, image: str | None = None) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image or f"registry.test/{name}:1.0"}]},
            },
        },
    }


@pytest.fixture
def emulator(tmp_path):
    with KubernetesEmulator(time_scale=0.05, seed=3) as running:
        for namespace in ("shop", "other"):
            running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        yield running


def adapter_for(emulator, tmp_path, *, namespaces="all", name="cluster", context="ctx") -> KubernetesAdapter:
    kubeconfig = emulator.kubeconfig(tmp_path / f"{name}.kubeconfig", context_name=context)
    environment = Environment(name, EnvironmentKind.KUBERNETES, context)
    return KubernetesAdapter(environment, kubeconfig=str(kubeconfig), context=context, namespaces=namespaces, watch_seconds=5)


class Watching:
    def __init__(self, adapter: KubernetesAdapter) -> None:
        self.adapter = adapter
        self.store = Store([adapter.environment])
        self.stop = StopSignal()
        self.thread = threading.Thread(
            target=watch_environment,
            args=(adapter, self.store, self.stop),
            kwargs={"backoff": Backoff(0.2, 1.0)},
            daemon=True,
        )
        self.thread.start()
        wait_for(lambda: self.store.connection(adapter.environment.name).connected, "watch connected")

    def workload(self, namespace: str, name: str):
        return self.store.workload(WorkloadKey(self.adapter.environment.name, namespace, name))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def watching():
    made = []

    def start(adapter):
        watcher = Watching(adapter)
        made.append(watcher)
        return watcher

    yield start
    for watcher in made:
        watcher.close()


def test_deployment_rollout_shows_progressing_then_healthy(emulator, tmp_path, watching):
    watcher = watching(adapter_for(emulator, tmp_path))

    emulator.apply(deployment_object("web", replicas=3))

    wait_for(lambda: (w := watcher.workload("shop", "web")) and w.desired == 3, "deployment seen")
    healthy = wait_for(lambda: (w := watcher.workload("shop", "web")) and w.health is Health.HEALTHY and w, "healthy", timeout=20)
    assert healthy.kind == "Deployment" and healthy.ready == 3 and healthy.version == "1.0"


def test_broken_image_crash_loops_and_says_so(emulator, tmp_path, watching):
    watcher = watching(adapter_for(emulator, tmp_path))

    emulator.apply(deployment_object("pay", replicas=1, image="registry.test/pay:2.0-broken"))

    failed = wait_for(lambda: (w := watcher.workload("shop", "pay")) and "CrashLoopBackOff" in w.reason and w, "crash loop", timeout=20)
    assert failed.health in (Health.FAILED, Health.DEGRADED)
    replica = watcher.store.replicas(failed.key)[0]
    assert replica.restarts >= 1


def test_crafted_pods_each_show_their_reason(emulator, tmp_path, watching):
    crafted = {
        "pending": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]},
        "pull": {"phase": "Pending", "containerStatuses": [{"name": "main", "restartCount": 0, "ready": False, "image": "x", "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]},
        "evicted": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"},
    }
    emulator = KubernetesEmulator(time_scale=0.05, controller=False)
    with emulator:
        emulator.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        core = kubernetes.client.CoreV1Api(emulator.api_client())
        for name, status in crafted.items():
            # Status is a subresource: a create ignores it, as a real API server does.
            emulator.apply(pod_object(name))
            core.patch_namespaced_pod_status(name, "shop", {"status": status})
        watcher = watching(adapter_for(emulator, tmp_path))

        reasons = {name: watcher.workload("shop", name).reason for name in crafted}

    assert "Unschedulable: 0/3 nodes are available" in reasons["pending"]
    assert "ImagePullBackOff" in reasons["pull"]
    assert "Evicted: low on memory" in reasons["evicted"]


def test_dropped_watch_resumes_without_relisting_or_duplicates(emulator, tmp_path, watching):
    emulator.apply(deployment_object("web", replicas=2))
    watcher = watching(adapter_for(emulator, tmp_path))
    wait_for(lambda: (w := watcher.workload("shop", "web")) and w.health is Health.HEALTHY, "healthy", timeout=20)
    lists_before = emulator.request_count("list")

    emulator.drop_watches()
    emulator.apply(deployment_object("api", replicas=1))

    wait_for(lambda: (w := watcher.workload("shop", "api")) and w.health is Health.HEALTHY, "change after the drop", timeout=20)
    assert emulator.request_count("list") == lists_before
    assert len(watcher.store.replicas(WorkloadKey("cluster", "shop", "web"))) == 2


def test_expired_resource_version_relists_and_catches_up(emulator, tmp_path, watching):
    watcher = watching(adapter_for(emulator, tmp_path))
    lists_before = emulator.request_count("list")

    emulator.expire_watches()
    emulator.drop_watches()
    emulator.apply(deployment_object("late", replicas=1))

    wait_for(lambda: watcher.workload("shop", "late"), "object created around the 410", timeout=20)
    assert emulator.request_count("list") > lists_before


def test_a_short_5xx_blip_is_ridden_out_without_a_disconnect(emulator, tmp_path, watching):
    watcher = watching(adapter_for(emulator, tmp_path))

    emulator.fail_for(1.0, status=503)
    emulator.drop_watches()
    time.sleep(1.5)
    emulator.apply(deployment_object("after", replicas=1))

    wait_for(lambda: watcher.workload("shop", "after"), "change after the blip", timeout=15)
    assert watcher.store.connection("cluster").connected


def test_a_5xx_storm_is_a_state_and_recovered_with_backoff(emulator, tmp_path, watching):
    watcher = watching(adapter_for(emulator, tmp_path))

    emulator.fail_for(8.0, status=503)
    emulator.drop_watches()

    lost = wait_for(lambda: (c := watcher.store.connection("cluster")) and not c.connected and c, "disconnected", timeout=15)
    assert lost.retry_at is not None and "503" in lost.error
    wait_for(lambda: watcher.store.connection("cluster").connected, "reconnected after the storm", timeout=30)


def test_steady_state_makes_no_list_calls(emulator, tmp_path, watching):
    emulator.apply(deployment_object("web", replicas=2))
    watcher = watching(adapter_for(emulator, tmp_path))
    wait_for(lambda: (w := watcher.workload("shop", "web")) and w.health is Health.HEALTHY, "settled", timeout=20)
    emulator.reset_request_counts()

    time.sleep(3)

    assert emulator.request_count("list") == 0
    assert watcher.adapter.list_calls == len(watcher.adapter._scopes()) * 6


def test_namespaces_limit_what_is_watched(emulator, tmp_path, watching):
    emulator.apply(deployment_object("web", "shop", replicas=1))
    emulator.apply(deployment_object("hidden", "other", replicas=1))
    watcher = watching(adapter_for(emulator, tmp_path, namespaces=["shop"]))

    wait_for(lambda: watcher.workload("shop", "web"), "shop workload")
    time.sleep(0.5)

    assert watcher.workload("other", "hidden") is None


def test_two_clusters_side_by_side(tmp_path, watching):
    with DemoCluster(tmp_path, time_scale=0.05) as demo:
        watchers = {}
        for name, endpoint in demo.endpoints.items():
            environment = Environment(name, EnvironmentKind.KUBERNETES, endpoint.context)
            adapter = KubernetesAdapter(environment, kubeconfig=str(endpoint.kubeconfig_path), context=endpoint.context)
            watchers[name] = watching(adapter)

        versions = {
            name: wait_for(lambda w=w, name=name: (x := w.workload("shop", "web")) and x.version, f"{name} web")
            for name, w in watchers.items()
        }

    assert versions == {"demo-staging": "1.5.0", "demo-prod": "1.4.2"}


def test_logs_follow_and_previous_of_a_crashed_container(emulator, tmp_path, watching):
    adapter = adapter_for(emulator, tmp_path)
    watcher = watching(adapter)
    emulator.apply(deployment_object("web", replicas=1))
    emulator.apply(deployment_object("pay", replicas=1, image="registry.test/pay:2.0-broken"))
    web = wait_for(lambda: (w := watcher.workload("shop", "web")) and w.health is Health.HEALTHY and w, "web up", timeout=20)
    pay = wait_for(lambda: (w := watcher.workload("shop", "pay")) and w.restarts >= 1 and w, "pay restarted", timeout=20)
    make = lambda: adapter_for(emulator, tmp_path)  # noqa: E731 - one adapter per stream thread

    feed = open_feed(make, watcher.store.replicas(web.key), LogRequest(follow=True, tail=5))
    lines = wait_for(lambda: feed.take() or None, "followed web lines", timeout=10)
    feed.close()
    crashed = watcher.store.replicas(pay.key)[0]
    reader = make()
    reader.connect()
    previous = [line for batch in reader.logs(crashed, follow=False, tail=20, previous=True) for line in batch]
    reader.close()

    assert lines and all(line.ts is not None for line in lines)
    assert previous, "the crashed container's last output"


def test_metrics_become_samples_and_a_missing_api_is_a_note(emulator, tmp_path, watching):
    emulator.apply(deployment_object("web", replicas=1))
    watcher = watching(adapter_for(emulator, tmp_path))
    web = wait_for(lambda: (w := watcher.workload("shop", "web")) and w.health is Health.HEALTHY and w, "web up", timeout=20)
    manager = StatsManager("cluster", lambda: adapter_for(emulator, tmp_path), watcher.store)
    manager_stop = StopSignal()
    thread = threading.Thread(target=manager.run, args=(manager_stop,), daemon=True)
    thread.start()
    try:
        cpu, memory = wait_for(lambda: u if None not in (u := watcher.store.workload_usage(web.key)) else None, "samples", timeout=20)
        emulator.set_metrics_enabled(False)
        note = wait_for(lambda: watcher.store.metrics_note("cluster"), "no-metrics note", timeout=30)
    finally:
        manager_stop.set()
        thread.join(5)

    assert cpu > 0 and memory > 0
    assert "no metrics API" in note


def test_events_reach_the_store_newest_first(emulator, tmp_path, watching):
    watcher = watching(adapter_for(emulator, tmp_path))

    emulator.apply(deployment_object("web", replicas=1))

    events = wait_for(lambda: watcher.store.events(WorkloadKey("cluster", "shop", "web")), "events for web", timeout=20)
    assert {e.reason for e in events} & {"ScalingReplicaSet", "Scheduled", "Pulled", "Started", "Created"}
    stamps = [e.ts for e in events if e.ts]
    assert stamps == sorted(stamps, reverse=True)


EXPECTED_REASONS = {
    "Running": (Health.HEALTHY, "Running, Ready"),
    "RunningNotReady": (None, "Running, not Ready"),
    "Unschedulable": (Health.FAILED, "Unschedulable"),
    "ContainerCreating": (Health.PROGRESSING, "ContainerCreating"),
    "CrashLoopBackOff": (Health.FAILED, "CrashLoopBackOff (exit"),
    "OOMKilled": (Health.FAILED, "OOMKilled"),
    "ImagePullBackOff": (Health.FAILED, "ImagePullBackOff"),
    "ErrImagePull": (Health.FAILED, "ErrImagePull"),
    "CreateContainerConfigError": (Health.FAILED, "CreateContainerConfigError"),
    "InitCrashLoopBackOff": (Health.FAILED, "init container"),
    "Evicted": (Health.FAILED, "Evicted"),
    "Completed": (Health.UNKNOWN, "Completed"),
}


def test_every_health_reason_from_kubelet_shaped_pods_over_http(tmp_path, watching):
    from adapters.demo.crafted import REASONS, crafted_pod, pod_status

    with KubernetesEmulator(time_scale=0.05, controller=False) as emulator:
        emulator.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        core = kubernetes.client.CoreV1Api(emulator.api_client())
        for reason in REASONS:
            name = reason.lower()
            core.create_namespaced_pod("shop", crafted_pod(name, "shop", {"app": name}, init_container=reason.startswith("Init")))
            core.patch_namespaced_pod_status(name, "shop", {"status": pod_status(reason)})
        watcher = watching(adapter_for(emulator, tmp_path))

        seen = {reason: watcher.store.replicas(WorkloadKey("cluster", "shop", reason.lower()))[0] for reason in REASONS}

    assert set(REASONS) == set(EXPECTED_REASONS)
    for reason, replica in seen.items():
        health, words = EXPECTED_REASONS[reason]
        assert words in replica.reason, (reason, replica.reason)
        if health is not None:
            assert replica.health is health, (reason, replica.health, replica.reason)


def test_metrics_find_their_pods_in_the_store_without_listing_pods(emulator, tmp_path, watching):
    emulator.apply(deployment_object("web", replicas=2))
    watcher = watching(adapter_for(emulator, tmp_path))
    web = wait_for(lambda: (w := watcher.workload("shop", "web")) and w.health is Health.HEALTHY and w, "web up", timeout=20)
    emulator.reset_request_counts()
    manager = StatsManager("cluster", lambda: adapter_for(emulator, tmp_path), watcher.store)
    manager_stop = StopSignal()
    thread = threading.Thread(target=manager.run, args=(manager_stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: None not in watcher.store.workload_usage(web.key), "samples for both pods", timeout=20)
    finally:
        manager_stop.set()
        thread.join(5)

    assert emulator.request_count("list", "pods.metrics.k8s.io") >= 1
    assert emulator.request_count("list", "pods") == 0


def test_a_big_pod_list_is_kept_item_by_item_never_whole(tmp_path):
    padding = "x" * 20_000
    with KubernetesEmulator(time_scale=0.05, controller=False) as emulator:
        emulator.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        for number in range(300):
            pod = pod_object(f"big-{number:03d}")
            pod["metadata"]["annotations"] = {"example.com/padding": padding}
            emulator.apply(pod)
        listed = urllib3.PoolManager().request("GET", emulator.base_url + "/api/v1/pods").data
        kubeconfig = emulator.kubeconfig(tmp_path / "config", context_name="ctx")
        # Measured in a process of its own: the emulator's allocations must not count.
        code = (
            "import json, tracemalloc\n"
            "from adapters.kubernetes import KubernetesAdapter\n"
            "from console.model import Environment, EnvironmentKind\n"
            f"adapter = KubernetesAdapter(Environment('e', EnvironmentKind.KUBERNETES, 'ctx'), kubeconfig={str(kubeconfig)!r}, context='ctx')\n"
            "adapter.connect()\n"
            "tracemalloc.start()\n"
            "replicas = len(adapter.snapshot().replicas)\n"
            "print(json.dumps({'replicas': replicas, 'peak': tracemalloc.get_traced_memory()[1]}))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, cwd=Path(__file__).resolve().parent.parent
        )

    measured = json.loads(result.stdout)
    assert len(listed) > 6_000_000 and measured["replicas"] == 300
    assert measured["peak"] < len(listed) / 4, (measured["peak"], len(listed))


def test_stopping_a_quiet_watch_returns_at_once_instead_of_waiting_for_the_server(emulator, tmp_path):
    # Quitting the console sets the stop flag on the UI thread: it once waited for the
    # next byte of an idle watch stream (58 s seen), freezing the screen on quit.
    adapter = adapter_for(emulator, tmp_path)
    adapter._watch_seconds = 240
    watcher = Watching(adapter)
    time.sleep(0.5)  # the watches are open and idle

    started = time.monotonic()
    watcher.stop.set()
    set_took = time.monotonic() - started
    watcher.thread.join(10)

    assert set_took < 5, f"stop.set() blocked for {set_took:.1f}s"
    assert not watcher.thread.is_alive()
