"""The Kubernetes API emulator, exercised over real HTTP with the official client.

These tests hold the emulator to what a real API server does for the requests the
Kubernetes adapter makes; when one fails, fix the emulator, never the client call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from adapters.demo import DemoCluster
from adapters.demo.emulator import KubernetesEmulator

ROOT = Path(__file__).resolve().parent.parent


# --- helpers --------------------------------------------------------------------------


@pytest.fixture
def emulator():
    """A bare API server: no controller, so objects stay exactly as written."""
    with KubernetesEmulator(controller=False, seed=1) as emu:
        yield emu


@pytest.fixture
def api(emulator):
    api_client = emulator.api_client()
    yield api_client
    api_client.close()


def raw(emu: KubernetesEmulator, path: str, method: str = "GET", body: object = None, content_type: str = "application/json"):
    """One request without the client: (status, headers, parsed or text body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emu.base_url + path, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        status, headers = error.code, error.headers
    try:
        return status, headers, json.loads(text)
    except ValueError:
        return status, headers, text


def make_pod(name: str, labels: dict[str, str] | None = None, node: str | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="registry.demo/app:1.0")], node_name=node),
    )


def make_deployment(name: str, image: str = "registry.demo/shop/web:1.0", replicas: int = 2, sidecar: bool = False) -> client.V1Deployment:
    containers = [client.V1Container(name=name, image=image)]
    if sidecar:
        containers.append(client.V1Container(name="proxy", image="registry.demo/envoy:1.30"))
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": name}), spec=client.V1PodSpec(containers=containers)),
        ),
    )


def collect(stream, count: int) -> list[dict]:
    """The first ``count`` events of a watch stream; the stream is closed after."""
    events = []
    try:
        for event in stream:
            events.append(event)
            if len(events) >= count:
                break
    finally:
        stream.close()
    return events


def eventually(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# --- discovery ------------------------------------------------------------------------


def test_discovery_documents_deserialize_into_the_client_models(api):
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "coordination.k8s.io", "metrics.k8s.io"} <= groups
    core = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {"pods", "pods/log", "pods/status", "events", "namespaces", "services"} <= core
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert {"deployments", "deployments/status", "deployments/scale", "replicasets", "statefulsets", "daemonsets"} <= set(apps)
    assert apps["deployments/scale"].kind == "Scale"
    assert client.CoordinationV1Api(api).get_api_resources().resources[0].name == "leases"


def test_kubeconfig_loads_with_the_official_loader(emulator, tmp_path):
    path = emulator.kubeconfig(tmp_path / "kubeconfig", context_name="lab", namespace="default")

    api_client = config.new_client_from_config(config_file=str(path), context="lab")
    try:
        names = [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]
    finally:
        api_client.close()

    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


# --- CRUD -----------------------------------------------------------------------------


def test_create_get_list_replace_delete_round_trip(emulator, api):
    core = client.CoreV1Api(api)

    created = core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"a": "1"}))
    fetched = core.read_namespaced_config_map("settings", "default")
    fetched.data["a"] = "2"
    replaced = core.replace_namespaced_config_map("settings", "default", fetched)
    listed = core.list_namespaced_config_map("default")
    deleted = core.delete_namespaced_config_map("settings", "default")

    assert created.metadata.uid and created.metadata.creation_timestamp and created.metadata.resource_version
    assert fetched.metadata.uid == created.metadata.uid
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert [c.data for c in listed.items] == [{"a": "2"}]
    assert deleted["status"] == "Success"  # the 1.37 client types this response as a plain object
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("settings", "default")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["reason"] == "NotFound"


def test_lists_carry_kind_api_version_and_resource_version(emulator, api):
    client.CoreV1Api(api).create_namespaced_pod("default", make_pod("one"))

    for path, kind in (("/api/v1/pods", "PodList"), ("/api/v1/namespaces/default/pods", "PodList"), ("/apis/apps/v1/deployments", "DeploymentList")):
        status, _, body = raw(emulator, path)
        assert status == 200
        assert body["kind"] == kind
        assert body["apiVersion"] in ("v1", "apps/v1")
        assert int(body["metadata"]["resourceVersion"]) > 0


def test_create_conflicts_and_stale_replace_are_409(emulator, api):
    coordination = client.CoordinationV1Api(api)
    lease = client.V1Lease(metadata=client.V1ObjectMeta(name="deploy-lock"), spec=client.V1LeaseSpec(holder_identity="alice@bastion", lease_duration_seconds=30))
    first = coordination.create_namespaced_lease("default", lease)

    with pytest.raises(ApiException) as duplicate:
        coordination.create_namespaced_lease("default", lease)
    taken = coordination.read_namespaced_lease("deploy-lock", "default")
    taken.spec.holder_identity = "bob@laptop"
    coordination.replace_namespaced_lease("deploy-lock", "default", taken)
    first.spec.holder_identity = "carol@ci"
    with pytest.raises(ApiException) as stale:
        coordination.replace_namespaced_lease("deploy-lock", "default", first)

    assert duplicate.value.status == 409 and json.loads(duplicate.value.body)["reason"] == "AlreadyExists"
    assert stale.value.status == 409 and json.loads(stale.value.body)["reason"] == "Conflict"
    assert coordination.read_namespaced_lease("deploy-lock", "default").spec.holder_identity == "bob@laptop"


def test_malformed_and_invalid_bodies_are_refused_with_status_objects(emulator):
    not_json = urllib.request.Request(
        emulator.base_url + "/api/v1/namespaces/default/pods", data=b"{nope", method="POST", headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(not_json, timeout=5)
    status, _, no_containers = raw(emulator, "/api/v1/namespaces/default/pods", "POST", {"metadata": {"name": "p"}, "spec": {}})
    _, _, bad_selector = raw(
        emulator,
        "/apis/apps/v1/namespaces/default/deployments",
        "POST",
        {
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            },
        },
    )
    _, _, missing_namespace = raw(emulator, "/api/v1/namespaces/nowhere/pods", "POST", make_pod("p").to_dict(serialize=True))

    assert bad.value.code == 400 and json.loads(bad.value.read())["kind"] == "Status"
    assert status == 422 and no_containers["reason"] == "Invalid"
    assert no_containers["details"]["causes"][0]["field"] == "spec.containers"
    assert bad_selector["code"] == 422 and "selector" in bad_selector["message"]
    assert missing_namespace["code"] == 404 and missing_namespace["message"] == 'namespaces "nowhere" not found'


def test_list_applies_label_selectors_on_the_server(emulator, api):
    core = client.CoreV1Api(api)
    for name, labels in (("web-1", {"app": "web", "tier": "front"}), ("web-2", {"app": "web"}), ("api-1", {"app": "api", "tier": "back"}), ("job-1", {})):
        core.create_namespaced_pod("default", make_pod(name, labels))

    def names(selector: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("default", label_selector=selector).items]

    assert names("app=web") == ["web-1", "web-2"]
    assert names("app==api") == ["api-1"]
    assert names("app!=web") == ["api-1", "job-1"]
    assert names("app in (web, api),tier") == ["api-1", "web-1"]
    assert names("app notin (web)") == ["api-1", "job-1"]
    assert names("!tier") == ["job-1", "web-2"]
    with pytest.raises(ApiException) as bad:
        names("app in web")
    assert bad.value.status == 400


def test_list_applies_field_selectors_on_the_server(emulator, api):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", make_pod("a"))
    core.create_namespaced_pod("default", make_pod("b"))
    core.patch_namespaced_pod_status("b", "default", {"status": {"phase": "Running"}})
    pod_a = core.read_namespaced_pod("a", "default")
    core.create_namespaced_event(
        "default",
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="a.1"),
            involved_object=client.V1ObjectReference(kind="Pod", name="a", namespace="default", uid=pod_a.metadata.uid),
            reason="Tested",
            message="hello",
            type="Normal",
        ),
    )

    running = core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    by_name = core.list_namespaced_pod("default", field_selector="metadata.name=a,metadata.namespace=default").items
    events = core.list_namespaced_event("default", field_selector="involvedObject.name=a,involvedObject.kind=Pod").items

    assert [p.metadata.name for p in running] == ["b"]
    assert [p.metadata.name for p in by_name] == ["a"]
    assert [e.reason for e in events] == ["Tested"]
    with pytest.raises(ApiException) as unsupported:
        core.list_namespaced_pod("default", field_selector="spec.hostname=x")
    assert unsupported.value.status == 400 and "field label not supported" in unsupported.value.body


def test_limit_and_continue_page_through_a_list(emulator, api):
    core = client.CoreV1Api(api)
    for n in range(7):
        core.create_namespaced_pod("default", make_pod(f"p{n}"))

    pages, token = [], None
    while True:
        page = core.list_namespaced_pod("default", limit=3, _continue=token)
        pages.append([p.metadata.name for p in page.items])
        token = page.metadata._continue
        if not token:
            break

    assert pages == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]


# --- patch ------------------------------------------------------------------------------


def test_strategic_merge_patch_changes_one_container_and_bumps_generation(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment("web", sidecar=True))

    patched = apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.demo/shop/web:2.0"}]}}}}
    )
    annotated = apps.patch_namespaced_deployment("web", "default", {"metadata": {"annotations": {"kubernetes.io/change-cause": "deploy 2.0"}}})

    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"web": "registry.demo/shop/web:2.0", "proxy": "registry.demo/envoy:1.30"}
    assert patched.metadata.generation == 2
    assert annotated.metadata.generation == 2  # metadata changes are not spec changes


def test_merge_patch_replaces_lists_and_json_patch_edits_paths(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment("web", sidecar=True))

    status, _, merged = raw(
        emulator,
        "/apis/apps/v1/namespaces/default/deployments/web",
        "PATCH",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.demo/shop/web:3.0"}]}}}},
        content_type="application/merge-patch+json",
    )
    jsoned = apps.patch_namespaced_deployment("web", "default", [{"op": "replace", "path": "/spec/replicas", "value": 5}])
    _, _, failed_test = raw(
        emulator,
        "/apis/apps/v1/namespaces/default/deployments/web",
        "PATCH",
        [{"op": "test", "path": "/spec/replicas", "value": 1}],
        content_type="application/json-patch+json",
    )

    assert status == 200 and [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["web"]
    assert jsoned.spec.replicas == 5
    assert failed_test["code"] == 422


def test_patch_with_stale_resource_version_is_a_conflict(emulator, api):
    core = client.CoreV1Api(api)
    pod = core.create_namespaced_pod("default", make_pod("a"))
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"x": "1"}}})

    with pytest.raises(ApiException) as conflict:
        core.patch_namespaced_pod("a", "default", {"metadata": {"resourceVersion": pod.metadata.resource_version, "labels": {"x": "2"}}})

    assert conflict.value.status == 409


def test_status_subresource_is_separate_from_the_main_resource(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment("web"))

    apps.patch_namespaced_deployment_status("web", "default", {"status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}})
    ignored = apps.patch_namespaced_deployment("web", "default", {"status": {"readyReplicas": 99}, "spec": {"replicas": 3}})
    via_status = apps.read_namespaced_deployment_status("web", "default")

    assert ignored.status.ready_replicas == 1 and ignored.spec.replicas == 3
    assert via_status.status.replicas == 2


def test_scale_subresource_reads_and_patches_replicas(emulator, api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", make_deployment("web", replicas=2))

    before = apps.read_namespaced_deployment_scale("web", "default")
    after = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})

    assert before.spec.replicas == 2 and before.status.selector == "app=web"
    assert after.spec.replicas == 4
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4


def test_pods_on_a_node_are_deleted_gracefully(emulator, api):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", make_pod("bound", node="demo-node-1"))
    core.create_namespaced_pod("default", make_pod("unbound"))

    terminating = core.delete_namespaced_pod("bound", "default")
    core.delete_namespaced_pod("unbound", "default")
    names_now = [p.metadata.name for p in core.list_namespaced_pod("default").items]
    time.sleep(1.2)

    assert terminating.metadata.deletion_timestamp is not None
    assert names_now == ["bound"]
    assert core.list_namespaced_pod("default").items == []


# --- watch ------------------------------------------------------------------------------


def test_watch_from_a_version_sees_exactly_the_changes_after_it(emulator, api):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", make_pod("before"))
    start = core.list_namespaced_pod("default").metadata.resource_version
    expected = []
    for n in range(5):
        pod = core.create_namespaced_pod("default", make_pod(f"p{n}"))
        expected.append(("ADDED", f"p{n}", pod.metadata.resource_version))
    patched = core.patch_namespaced_pod("p1", "default", {"metadata": {"labels": {"touched": "yes"}}})
    expected.append(("MODIFIED", "p1", patched.metadata.resource_version))
    core.delete_namespaced_pod("p2", "default")
    expected.append(("DELETED", "p2", None))

    seen = collect(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=start, timeout_seconds=5), len(expected))
    middle = expected[2][2]
    rest = collect(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=middle, timeout_seconds=5), len(expected) - 3)

    got = [(e["type"], e["object"].metadata.name, e["object"].metadata.resource_version) for e in seen]
    assert [(t, n) for t, n, _ in got] == [(t, n) for t, n, _ in expected]
    assert [rv for _, _, rv in got][:-1] == [rv for _, _, rv in expected][:-1]
    versions = [int(rv) for _, _, rv in got]
    assert versions == sorted(set(versions))  # increasing, no duplicates
    assert [(e["type"], e["object"].metadata.name) for e in rest] == [(t, n) for t, n, _ in expected[3:]]


def test_watch_without_version_starts_with_the_current_state(emulator, api):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", make_pod("a"))
    core.create_namespaced_pod("default", make_pod("b"))

    events = collect(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=2), 2)

    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "a"), ("ADDED", "b")]


def test_label_selector_watch_sees_relabelled_objects_leave_and_enter(emulator, api):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", make_pod("a", {"app": "web"}))
    start = core.list_namespaced_pod("default").metadata.resource_version
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"app": "api"}}})
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"app": "web"}}})

    events = collect(
        watch.Watch().stream(core.list_namespaced_pod, "default", label_selector="app=web", resource_version=start, timeout_seconds=3), 2
    )

    assert [e["type"] for e in events] == ["DELETED", "ADDED"]


def test_quiet_watches_get_bookmarks_and_initial_events_end(api):
    with KubernetesEmulator(controller=False, bookmark_interval=0.2) as emu, emu.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod("default", make_pod("a"))
        version = core.list_namespaced_pod("default").metadata.resource_version

        w = watch.Watch()
        bookmark = collect(
            w.stream(core.list_namespaced_pod, "default", resource_version=version, allow_watch_bookmarks=True, timeout_seconds=3), 1
        )[0]
        initial = collect(
            watch.Watch().stream(
                core.list_namespaced_pod, "default", allow_watch_bookmarks=True, send_initial_events=True,
                resource_version_match="NotOlderThan", timeout_seconds=3,
            ),
            2,
        )

    assert bookmark["type"] == "BOOKMARK"
    assert int(bookmark["raw_object"]["metadata"]["resourceVersion"]) >= int(version)
    assert w.resource_version == bookmark["raw_object"]["metadata"]["resourceVersion"]
    assert [e["type"] for e in initial] == ["ADDED", "BOOKMARK"]
    assert initial[1]["raw_object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_version_older_than_the_history_gets_410_expired():
    with KubernetesEmulator(controller=False, history_limit=10) as emu, emu.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        start = core.list_namespaced_pod("default").metadata.resource_version
        for n in range(15):
            core.create_namespaced_pod("default", make_pod(f"p{n}"))
        status, _, stream_body = raw(emu, f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={start}&timeoutSeconds=1")

        with pytest.raises(ApiException) as expired:
            collect(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=start), 1)
        fresh = core.list_namespaced_pod("default").metadata.resource_version
        core.create_namespaced_pod("default", make_pod("late"))
        recovered = collect(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=fresh, timeout_seconds=3), 1)

    assert status == 200 and stream_body["type"] == "ERROR"
    assert stream_body["object"]["code"] == 410 and stream_body["object"]["reason"] == "Expired"
    assert expired.value.status == 410
    assert recovered[0]["object"].metadata.name == "late"


def test_expire_watches_makes_the_next_resume_410_and_a_relist_recovers(emulator, api):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", make_pod("a"))
    seen = core.list_namespaced_pod("default").metadata.resource_version

    emulator.expire_watches()
    with pytest.raises(ApiException) as expired:
        collect(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=seen, timeout_seconds=2), 1)
    relisted = core.list_namespaced_pod("default").metadata.resource_version
    core.create_namespaced_pod("default", make_pod("b"))
    after = collect(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=relisted, timeout_seconds=3), 1)

    assert expired.value.status == 410
    assert after[0]["object"].metadata.name == "b"


# --- faults and counters ----------------------------------------------------------------


def test_fail_next_answers_status_failures_then_recovers(emulator, api):
    core = client.CoreV1Api(api)
    emulator.fail_next(2, status=500, verbs={"list"}, resources={"pods"})

    core.read_namespace("default")  # not a pod list: not failed
    failures = []
    for _ in range(3):
        try:
            core.list_namespaced_pod("default")
            failures.append(None)
        except ApiException as error:
            failures.append((error.status, json.loads(error.body)["reason"]))

    assert failures == [(500, "InternalError"), (500, "InternalError"), None]


def test_injected_503_and_429_carry_retry_after(emulator):
    emulator.fail_next(2, status=503)
    unavailable = raw(emulator, "/api/v1/pods")
    emulator.fail_next(1, status=429)
    throttled = raw(emulator, "/api/v1/pods")

    assert (unavailable[0], unavailable[1]["Retry-After"], unavailable[2]["reason"]) == (503, "1", "ServiceUnavailable")
    assert (throttled[0], throttled[2]["reason"]) == (429, "TooManyRequests")


def test_a_5xx_storm_lasts_its_duration(emulator):
    emulator.fail_for(0.4, status=500)
    during, _, body = raw(emulator, "/api/v1/pods")
    time.sleep(0.5)
    after, _, _ = raw(emulator, "/api/v1/pods")

    assert (during, body["reason"]) == (500, "InternalError")
    assert after == 200


def test_injected_latency_delays_responses(emulator):
    raw(emulator, "/api/v1/pods")
    emulator.inject_latency(0.3)
    started = time.perf_counter()
    raw(emulator, "/api/v1/pods")
    slow = time.perf_counter() - started
    emulator.inject_latency(0)
    started = time.perf_counter()
    raw(emulator, "/api/v1/pods")
    fast = time.perf_counter() - started

    assert slow >= 0.3 and fast < 0.2


@pytest.mark.parametrize("abort", [True, False])
def test_drop_watches_ends_open_watches_and_the_client_can_resume(emulator, api, abort):
    core = client.CoreV1Api(api)
    version = core.list_namespaced_pod("default").metadata.resource_version
    outcome: dict[str, object] = {}

    def watcher() -> None:
        response = core.list_namespaced_pod("default", watch=True, resource_version=version, _preload_content=False)
        try:
            outcome["body"] = response.read()
        except Exception as error:  # a cut connection surfaces as a protocol error
            outcome["error"] = error
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=watcher)
    thread.start()
    assert eventually(lambda: emulator.stats()["streams"]["watch"] == 1)
    core.create_namespaced_pod("default", make_pod("a"))

    dropped = emulator.drop_watches(abort=abort)
    thread.join(timeout=5)
    resumed = collect(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=version, timeout_seconds=2), 1)

    assert dropped == 1 and "ended" in outcome
    # Cut: the client sees a broken stream. Ended cleanly: the body is complete JSON lines.
    if abort:
        assert "error" in outcome
    else:
        assert all(json.loads(line)["type"] == "ADDED" for line in outcome["body"].splitlines())
    assert resumed[0]["object"].metadata.name == "a"
    assert eventually(lambda: emulator.stats()["streams"]["watch"] == 0)  # closed client side, freed server side


def test_request_counts_show_no_lists_while_a_watch_carries_the_changes(emulator, api):
    core = client.CoreV1Api(api)
    version = core.list_namespaced_pod("default").metadata.resource_version
    emulator.reset_request_counts()
    received = []

    def watcher() -> None:
        for event in watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=version, timeout_seconds=3):
            received.append(event["object"].metadata.name)
            if len(received) == 5:
                break

    thread = threading.Thread(target=watcher)
    thread.start()
    for n in range(5):
        core.create_namespaced_pod("default", make_pod(f"p{n}"))
    thread.join(timeout=5)
    counts = emulator.request_counts()

    assert received == [f"p{n}" for n in range(5)]
    assert counts.get(("list", "pods"), 0) == 0
    assert counts[("watch", "pods")] == 1 and counts[("create", "pods")] == 5
    assert emulator.request_count(verb="create") == 5


# --- metrics ----------------------------------------------------------------------------


def test_metrics_api_is_served_and_can_be_switched_off():
    with KubernetesEmulator(time_scale=0.05, seed=3) as emu, emu.api_client() as api_client:
        apps = client.AppsV1Api(api_client)
        custom = client.CustomObjectsApi(api_client)
        apps.create_namespaced_deployment("default", make_deployment("web", replicas=2))
        deadline = time.monotonic() + 5
        items = []
        while time.monotonic() < deadline and len(items) < 2:
            items = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods")["items"]
            time.sleep(0.05)
        nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]

        emu.set_metrics_enabled(False)
        groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
        with pytest.raises(ApiException) as gone:
            custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods")

    usage = items[0]["containers"][0]["usage"]
    assert len(items) == 2 and items[0]["kind"] == "PodMetrics"
    assert usage["cpu"].endswith("n") and usage["memory"].endswith("Ki")
    assert int(usage["cpu"][:-1]) > 0 and int(usage["memory"][:-2]) > 0
    assert len(nodes) == 3 and nodes[0]["usage"]["cpu"].endswith("n")
    assert "metrics.k8s.io" not in groups
    assert gone.value.status == 404


# --- the demo ---------------------------------------------------------------------------


def test_demo_cluster_serves_two_seeded_environments_through_one_kubeconfig():
    with DemoCluster(time_scale=0.05) as demo:
        endpoints = demo.endpoints
        images = {}
        for env, (base_url, kubeconfig_path, context, _prometheus_url) in endpoints.items():
            api_client = config.new_client_from_config(config_file=str(kubeconfig_path), context=context)
            try:
                deployments = client.AppsV1Api(api_client).list_namespaced_deployment("shop").items
                client.AppsV1Api(api_client).list_namespaced_stateful_set("shop")
                client.AppsV1Api(api_client).list_namespaced_daemon_set("monitoring")
            finally:
                api_client.close()
            images[env] = {d.metadata.name: d.spec.template.spec.containers[0].image.rsplit(":", 1)[1] for d in deployments}
            assert base_url.startswith("http://127.0.0.1:")
        path = demo.kubeconfig_path
        assert path.exists()
    assert not path.exists()
    assert set(endpoints) == {"demo-staging", "demo-prod"}
    assert endpoints["demo-staging"].base_url != endpoints["demo-prod"].base_url
    assert images["demo-staging"] == {"web": "1.5.0", "api": "2.3.1", "worker": "3.1.4", "payments": "2.1.0-broken"}
    assert images["demo-prod"]["web"] == "1.4.2"


def test_the_demo_package_never_imports_textual():
    code = "import sys, adapters.demo, adapters.demo.seed; print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)

    assert result.stdout.strip() == "False"


def test_crafted_pod_statuses_read_back_with_the_backends_words():
    from adapters.demo.crafted import REASONS, crafted_pod, pod_status

    with KubernetesEmulator(time_scale=0.05) as emu, emu.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        for n, reason in enumerate(REASONS):
            name = f"crafted-{n}"
            core.create_namespaced_pod("default", crafted_pod(name, init_container=reason == "InitCrashLoopBackOff", node=None if reason == "Unschedulable" else "demo-node-1"))
            core.patch_namespaced_pod_status(name, "default", {"status": pod_status(reason)})
        time.sleep(0.5)  # long enough for the simulated kubelet to have meddled, if it would
        pods = {p.metadata.name: p for p in core.list_namespaced_pod("default").items}

    def words(pod: client.V1Pod) -> set[str]:
        found = {pod.status.phase, pod.status.reason}
        for status in (pod.status.container_statuses or []) + (pod.status.init_container_statuses or []):
            for state in (status.state, status.last_state):
                if state and state.waiting:
                    found.add(state.waiting.reason)
                if state and state.terminated:
                    found.add(state.terminated.reason)
        for condition in pod.status.conditions or []:
            found.add(condition.reason)
        return found

    expected = {
        "Running": "Running", "RunningNotReady": "ContainersNotReady", "Unschedulable": "Unschedulable",
        "ContainerCreating": "ContainerCreating", "CrashLoopBackOff": "CrashLoopBackOff", "OOMKilled": "OOMKilled",
        "ImagePullBackOff": "ImagePullBackOff", "ErrImagePull": "ErrImagePull", "CreateContainerConfigError": "CreateContainerConfigError",
        "InitCrashLoopBackOff": "ContainersNotInitialized", "Evicted": "Evicted", "Completed": "Completed",
    }
    for n, reason in enumerate(REASONS):
        assert expected[reason] in words(pods[f"crafted-{n}"]), reason
