"""The simulated control plane behind the emulator, seen through the official client:
rollouts, crash loops, deadlines, StatefulSets, DaemonSets, garbage collection, logs."""

from __future__ import annotations

import re
import threading
import time

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from adapters.demo.controller import REVISION, fnv32a, safe_encode, template_hash
from adapters.demo.emulator import KubernetesEmulator
from tests.backends import wait_for as shared_wait_for

# Twenty times faster than life: a pod is ready in about 75 ms.
TIME_SCALE = 0.05


@pytest.fixture
def emulator():
    with KubernetesEmulator(time_scale=TIME_SCALE, seed=11) as emu:
        yield emu


@pytest.fixture
def api(emulator):
    api_client = emulator.api_client()
    yield api_client
    api_client.close()


def wait_for(probe, timeout: float = 8.0, interval: float = 0.03):
    """The suite's ``wait_for`` with this file's tighter polling."""
    return shared_wait_for(probe, "the emulator's state", timeout=timeout, interval=interval)


def deployment(name: str, image: str, replicas: int = 3, *, deadline: int = 600, containers: list | None = None) -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            progress_deadline_seconds=deadline,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=containers or [client.V1Container(name=name, image=image)]),
            ),
        ),
    )


def conditions(dep: client.V1Deployment) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in (dep.status.conditions or [])}


def rollout_done(apps: client.AppsV1Api, name: str, replicas: int):
    def probe():
        dep = apps.read_namespaced_deployment(name, "default")
        status = dep.status
        done = (
            status.observed_generation == dep.metadata.generation
            and status.updated_replicas == replicas
            and status.available_replicas == replicas
            and status.replicas == replicas
            and conditions(dep).get("Progressing") == ("True", "NewReplicaSetAvailable")
        )
        return dep if done else None

    return probe


def pod_by_prefix(core: client.CoreV1Api, prefix: str) -> client.V1Pod | None:
    pods = [p for p in core.list_namespaced_pod("default").items if p.metadata.name.startswith(prefix) and not p.metadata.deletion_timestamp]
    return pods[0] if pods else None


def test_template_hash_is_encoded_like_the_real_controller():
    # rand.SafeEncodeString maps decimal digits onto "4…9bcdf".
    assert safe_encode("0123456789") == "456789bcdf"
    assert fnv32a(b"") == 0x811C9DC5
    assert re.fullmatch(r"[456789bcdf]{6,10}", template_hash({"spec": {"containers": [{"name": "a", "image": "b"}]}}))


def test_deployment_gets_a_replicaset_and_ready_pods(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", "registry.demo/shop/web:1.5.0"))

    dep = wait_for(rollout_done(apps, "web", 3))
    [rs] = apps.list_namespaced_replica_set("default").items
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    events = core.list_namespaced_event("default").items

    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.metadata.annotations[REVISION] == "1" and dep.metadata.annotations[REVISION] == "1"
    assert rs.metadata.owner_references[0].uid == dep.metadata.uid and rs.metadata.owner_references[0].controller
    assert len(pods) == 3
    for pod in pods:
        assert re.fullmatch(rf"web-{pod_hash}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", pod.metadata.name)
        assert pod.metadata.labels == {"app": "web", "pod-template-hash": pod_hash}
        assert pod.metadata.owner_references[0].name == rs.metadata.name
        assert pod.spec.node_name in {"demo-node-1", "demo-node-2", "demo-node-3"}
        assert pod.status.phase == "Running" and pod.status.pod_ip.startswith("10.244.")
        assert {c.type: c.status for c in pod.status.conditions} == {
            "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True", "ContainersReady": "True", "PodScheduled": "True",
        }
        assert pod.status.container_statuses[0].ready and pod.status.container_statuses[0].state.running.started_at
    assert conditions(dep) == {"Available": ("True", "MinimumReplicasAvailable"), "Progressing": ("True", "NewReplicaSetAvailable")}
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started", "SuccessfulCreate", "ScalingReplicaSet"} <= {e.reason for e in events}
    scheduled = next(e for e in events if e.reason == "Scheduled")
    assert scheduled.involved_object.kind == "Pod" and scheduled.source.component == "default-scheduler"


def test_pods_pass_through_pending_and_container_creating(api):
    with KubernetesEmulator(time_scale=1.0, seed=2) as emu, emu.api_client() as api_client:
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        apps.create_namespaced_deployment("default", deployment("web", "registry.demo/shop/web:1.0", replicas=1))
        seen: set[tuple[str, str | None, bool]] = set()

        def record():
            for pod in core.list_namespaced_pod("default").items:
                status = (pod.status.container_statuses or [None])[0]
                waiting = status.state.waiting.reason if status and status.state.waiting else None
                seen.add((pod.status.phase, waiting, bool(status and status.ready)))
                if status and status.ready:
                    return True
            return False

        wait_for(record, timeout=5, interval=0.02)

    assert ("Pending", None, False) in seen
    assert ("Pending", "ContainerCreating", False) in seen
    assert ("Running", None, True) in seen


def test_image_change_rolls_out_a_new_replicaset_as_revision_2(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", "registry.demo/shop/web:1.4.2"))
    first = wait_for(rollout_done(apps, "web", 3))

    apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.demo/shop/web:1.5.0"}]}}}}
    )
    done = wait_for(rollout_done(apps, "web", 3))
    replicasets = {rs.metadata.annotations[REVISION]: rs for rs in apps.list_namespaced_replica_set("default").items}
    events = [e.message for e in client.CoreV1Api(api).list_namespaced_event("default").items if e.reason == "ScalingReplicaSet"]

    assert done.metadata.generation == 2 and done.status.observed_generation == 2
    assert done.metadata.annotations[REVISION] == "2"
    assert set(replicasets) == {"1", "2"}
    assert replicasets["1"].spec.replicas == 0 and (replicasets["1"].status.replicas or 0) == 0
    assert replicasets["2"].spec.replicas == 3
    assert replicasets["2"].spec.template.spec.containers[0].image.endswith(":1.5.0")
    assert replicasets["1"].metadata.name != replicasets["2"].metadata.name
    assert first.metadata.uid == done.metadata.uid
    assert any(m.startswith(f"Scaled down replica set {replicasets['1'].metadata.name}") for m in events)


def test_rolling_update_never_drops_below_min_available(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", "registry.demo/shop/web:1.0", replicas=4))
    wait_for(rollout_done(apps, "web", 4))
    lowest_ready = [4]
    highest_total = [4]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            pods = [p for p in core.list_namespaced_pod("default").items if not p.metadata.deletion_timestamp]
            ready = sum(1 for p in pods if p.status.container_statuses and p.status.container_statuses[0].ready)
            lowest_ready[0] = min(lowest_ready[0], ready)
            highest_total[0] = max(highest_total[0], len(pods))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.demo/shop/web:2.0"}]}}}})
    wait_for(rollout_done(apps, "web", 4))
    stop.set()
    sampler.join()

    # 25% of 4: maxUnavailable 1, maxSurge 1.
    assert lowest_ready[0] >= 3
    assert highest_total[0] <= 5


def test_rollback_to_an_old_template_reuses_its_replicaset(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", "registry.demo/shop/web:1"))
    wait_for(rollout_done(apps, "web", 3))
    patch = lambda tag: {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": f"registry.demo/shop/web:{tag}"}]}}}}
    apps.patch_namespaced_deployment("web", "default", patch("2"))
    wait_for(rollout_done(apps, "web", 3))
    original = next(rs for rs in apps.list_namespaced_replica_set("default").items if rs.metadata.annotations[REVISION] == "1")

    apps.patch_namespaced_deployment("web", "default", patch("1"))
    done = wait_for(rollout_done(apps, "web", 3))
    replicasets = apps.list_namespaced_replica_set("default").items
    reused = next(rs for rs in replicasets if rs.metadata.name == original.metadata.name)

    assert len(replicasets) == 2
    assert reused.metadata.annotations[REVISION] == "3"
    assert reused.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert done.metadata.annotations[REVISION] == "3"


def test_revision_history_limit_keeps_only_that_many_old_replicasets(emulator, api):
    apps = client.AppsV1Api(api)
    dep = deployment("web", "registry.demo/shop/web:0", replicas=1)
    dep.spec.revision_history_limit = 2
    apps.create_namespaced_deployment("default", dep)
    for tag in range(1, 5):
        wait_for(rollout_done(apps, "web", 1))
        apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": f"registry.demo/shop/web:{tag}"}]}}}})
    wait_for(rollout_done(apps, "web", 1))

    revisions = wait_for(lambda: (r := sorted(int(rs.metadata.annotations[REVISION]) for rs in apps.list_namespaced_replica_set("default").items)) == [3, 4, 5] and r)

    assert revisions == [3, 4, 5]


def test_broken_image_crash_loops_and_the_rollout_exceeds_its_deadline(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", deployment("payments", "registry.demo/shop/payments:2.0.3", replicas=2, deadline=30))
    wait_for(rollout_done(apps, "payments", 2))

    apps.patch_namespaced_deployment(
        "payments", "default", {"spec": {"template": {"spec": {"containers": [{"name": "payments", "image": "registry.demo/shop/payments:2.1.0-broken"}]}}}}
    )

    def crash_looping():
        for pod in core.list_namespaced_pod("default", label_selector="app=payments").items:
            status = (pod.status.container_statuses or [None])[0]
            if status and status.image.endswith("-broken") and status.state.waiting and status.state.waiting.reason == "CrashLoopBackOff":
                return pod
        return None

    pod = wait_for(crash_looping)
    container = pod.status.container_statuses[0]
    stuck = wait_for(lambda: (d := apps.read_namespaced_deployment("payments", "default")) and conditions(d)["Progressing"][1] == "ProgressDeadlineExceeded" and d)
    old_pods = [p for p in core.list_namespaced_pod("default", label_selector="app=payments").items if not p.status.container_statuses[0].image.endswith("-broken")]
    backoffs = [e for e in core.list_namespaced_event("default", field_selector=f"involvedObject.name={pod.metadata.name}").items if e.reason == "BackOff"]

    assert container.restart_count > 0 and not container.ready
    assert container.last_state.terminated.exit_code == 1 and container.last_state.terminated.reason == "Error"
    assert "back-off" in container.state.waiting.message
    assert pod.status.phase == "Running"
    assert conditions(stuck)["Progressing"] == ("False", "ProgressDeadlineExceeded")
    assert conditions(stuck)["Available"] == ("True", "MinimumReplicasAvailable")
    assert stuck.status.updated_replicas == 1 and stuck.status.available_replicas == 2
    assert len(old_pods) == 2  # maxUnavailable 0 of 2: the old pods keep serving
    assert backoffs and backoffs[0].type == "Warning"


@pytest.mark.parametrize(
    ("tag", "waiting", "terminated"),
    [("3.0-oom", "CrashLoopBackOff", ("OOMKilled", 137)), ("3.0-badimage", "ImagePullBackOff", None)],
)
def test_faulty_images_show_the_kubelets_reasons(emulator, api, tag, waiting, terminated):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", deployment("worker", f"registry.demo/shop/worker:{tag}", replicas=1))
    reasons: set[str] = set()

    def reached():
        pod = pod_by_prefix(core, "worker-")
        status = (pod.status.container_statuses or [None])[0] if pod else None
        if status and status.state.waiting:
            reasons.add(status.state.waiting.reason)
            if status.state.waiting.reason == waiting:
                return pod, status
        return None

    pod, status = wait_for(reached)

    if terminated:
        assert (status.last_state.terminated.reason, status.last_state.terminated.exit_code) == terminated
        assert status.restart_count >= 1
    else:
        assert "ErrImagePull" in reasons
        assert pod.status.phase == "Pending" and status.image_id == ""


def test_slow_images_take_longer_to_become_ready(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("fast", "registry.demo/shop/api:1", replicas=1))
    apps.create_namespaced_deployment("default", deployment("slow", "registry.demo/shop/api:1-slow", replicas=1))
    started = time.monotonic()

    wait_for(rollout_done(apps, "fast", 1))
    fast = time.monotonic() - started
    wait_for(rollout_done(apps, "slow", 1))
    slow = time.monotonic() - started

    assert slow > 20 * TIME_SCALE * 0.9 and slow > 3 * fast


def test_scaling_through_the_scale_subresource_changes_the_pods(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("api", "registry.demo/shop/api:1", replicas=2))
    wait_for(rollout_done(apps, "api", 2))

    apps.patch_namespaced_deployment_scale("api", "default", {"spec": {"replicas": 4}})
    wait_for(rollout_done(apps, "api", 4))
    apps.patch_namespaced_deployment_scale("api", "default", {"spec": {"replicas": 1}})
    done = wait_for(rollout_done(apps, "api", 1))

    assert wait_for(lambda: len(client.CoreV1Api(api).list_namespaced_pod("default").items) == 1)
    assert done.spec.replicas == 1


def test_deleting_a_deployment_collects_its_replicasets_and_pods(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", "registry.demo/shop/web:1", replicas=2))
    wait_for(rollout_done(apps, "web", 2))

    status = apps.delete_namespaced_deployment("web", "default")

    assert status["status"] == "Success"  # typed as a plain object by the 1.37 client
    assert wait_for(lambda: not apps.list_namespaced_replica_set("default").items and not core.list_namespaced_pod("default").items)


def test_statefulset_pods_are_numbered_and_created_in_order(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_stateful_set(
        "default",
        client.V1StatefulSet(
            metadata=client.V1ObjectMeta(name="db"),
            spec=client.V1StatefulSetSpec(
                replicas=3,
                service_name="db",
                selector=client.V1LabelSelector(match_labels={"app": "db"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "db"}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="postgres", image="registry.demo/postgres:16")]),
                ),
            ),
        ),
    )

    sts = wait_for(lambda: (s := apps.read_namespaced_stateful_set("db", "default")).status.ready_replicas == 3 and s)
    pods = sorted(core.list_namespaced_pod("default").items, key=lambda p: p.metadata.name)

    assert [p.metadata.name for p in pods] == ["db-0", "db-1", "db-2"]
    assert [p.metadata.creation_timestamp for p in pods] == sorted(p.metadata.creation_timestamp for p in pods)
    assert pods[1].metadata.labels["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert sts.status.current_revision == sts.status.update_revision and sts.status.updated_replicas == 3


def test_daemonset_runs_one_pod_per_node(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_daemon_set(
        "default",
        client.V1DaemonSet(
            metadata=client.V1ObjectMeta(name="node-exporter"),
            spec=client.V1DaemonSetSpec(
                selector=client.V1LabelSelector(match_labels={"app": "node-exporter"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "node-exporter"}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="exporter", image="registry.demo/node-exporter:1.8")]),
                ),
            ),
        ),
    )

    ds = wait_for(lambda: (d := apps.read_namespaced_daemon_set("node-exporter", "default")).status.number_ready == 3 and d)
    nodes = sorted(p.spec.node_name for p in core.list_namespaced_pod("default").items)

    assert nodes == ["demo-node-1", "demo-node-2", "demo-node-3"]
    assert ds.status.desired_number_scheduled == 3 and ds.status.number_misscheduled == 0


def test_a_client_that_writes_pod_status_takes_over_from_the_kubelet(emulator, api):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(
        "default",
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="crafted"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="registry.demo/app:1")], node_name="demo-node-1"),
        ),
    )
    crafted = {
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "app", "image": "registry.demo/app:1", "imageID": "", "ready": False, "restartCount": 0,
                    "state": {"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "db" not found'}},
                }
            ],
        }
    }

    core.patch_namespaced_pod_status("crafted", "default", crafted)
    time.sleep(30 * TIME_SCALE)
    pod = core.read_namespaced_pod("crafted", "default")

    assert pod.status.container_statuses[0].state.waiting.reason == "CreateContainerConfigError"


# --- logs -------------------------------------------------------------------------------


def running_pod(apps: client.AppsV1Api, core: client.CoreV1Api, name: str, image: str, **kwargs) -> client.V1Pod:
    apps.create_namespaced_deployment("default", deployment(name, image, replicas=1, **kwargs))
    wait_for(rollout_done(apps, name, 1))
    return pod_by_prefix(core, f"{name}-")


def test_pod_log_is_plain_text_and_respects_tail_and_timestamps(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    pod = running_pod(apps, core, "web", "registry.demo/shop/web:1.5.0")
    time.sleep(1.2)

    tail = core.read_namespaced_pod_log(pod.metadata.name, "default", tail_lines=3).splitlines()
    everything = core.read_namespaced_pod_log(pod.metadata.name, "default")
    stamped = core.read_namespaced_pod_log(pod.metadata.name, "default", tail_lines=2, timestamps=True)
    recent = core.read_namespaced_pod_log(pod.metadata.name, "default", since_seconds=1)

    assert "starting web" not in recent and len(recent.splitlines()) < len(everything.splitlines())
    assert isinstance(everything, str) and not everything.lstrip().startswith("{")
    assert "starting web 1.5.0" in everything
    # Generated on demand, yet stable: the tail read first is a run of the full log read after.
    lines = everything.splitlines()
    assert len(tail) == 3
    start = lines.index(tail[0])
    assert lines[start : start + 3] == tail
    assert len(stamped.splitlines()) == 2
    for line in stamped.splitlines():
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", line)


def test_pod_log_follow_streams_new_lines(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    pod = running_pod(apps, core, "web", "registry.demo/shop/web:1.5.0")

    response = core.read_namespaced_pod_log(pod.metadata.name, "default", follow=True, tail_lines=0, _preload_content=False)
    lines: list[str] = []
    started = time.monotonic()
    for chunk in response.stream(1024):
        lines += chunk.decode().splitlines()
        if len(lines) >= 5 or time.monotonic() - started > 8:
            break
    response.release_conn()
    response.close()

    assert len(lines) >= 5
    assert all('HTTP/1.1"' in line for line in lines)
    assert wait_for(lambda: emulator.stats()["streams"]["log"] == 0)


def test_previous_log_shows_the_last_crash(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", deployment("payments", "registry.demo/shop/payments:2.1.0-broken", replicas=1))
    pod = wait_for(lambda: (p := pod_by_prefix(core, "payments-")) and p.status.container_statuses and p.status.container_statuses[0].restart_count >= 1 and p)

    previous = core.read_namespaced_pod_log(pod.metadata.name, "default", previous=True)
    healthy = running_pod(apps, core, "web", "registry.demo/shop/web:1")
    with pytest.raises(ApiException) as none_before:
        core.read_namespaced_pod_log(healthy.metadata.name, "default", previous=True)

    assert "panic: cannot start without a database connection" in previous
    assert previous.rstrip().endswith("exit status 1")
    assert none_before.value.status == 400 and "previous terminated container" in none_before.value.body


def test_log_requests_are_refused_as_the_kubelet_refuses_them(emulator, api):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    two = [client.V1Container(name="app", image="registry.demo/shop/api:1"), client.V1Container(name="proxy", image="registry.demo/envoy:1")]
    pod = running_pod(apps, core, "api", "unused", containers=two)
    apps.create_namespaced_deployment("default", deployment("ghost", "registry.demo/ghost:1-badimage", replicas=1))
    ghost = wait_for(lambda: (p := pod_by_prefix(core, "ghost-")) and p.status.container_statuses and p)

    with pytest.raises(ApiException) as which:
        core.read_namespaced_pod_log(pod.metadata.name, "default")
    proxy = core.read_namespaced_pod_log(pod.metadata.name, "default", container="proxy", tail_lines=1)
    with pytest.raises(ApiException) as waiting:
        core.read_namespaced_pod_log(ghost.metadata.name, "default")

    assert which.value.status == 400 and "choose one of: [app proxy]" in which.value.body
    assert proxy.count("\n") == 1
    assert waiting.value.status == 400 and "is waiting to start" in waiting.value.body
