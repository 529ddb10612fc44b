"""The emulator must run for hours: 20,000+ changes and requests later, its history and
per-connection state are still within their caps and a small list is as fast as at
the start. (kmock slowed linearly because it recorded every request; this guards that
nothing of the sort creeps in.)"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time

from kubernetes import client, watch

from adapters.demo.emulator import KubernetesEmulator
from adapters.demo.resources import PODS

HISTORY_LIMIT = 1_000
CHANGES = 20_000
REQUESTS = 3_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def pod_body(name: str) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": "churn", "shard": name[-1]}},
        "spec": {
            "nodeName": "demo-node-1",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.demo/shop/api:2.3.1",
                    "env": [{"name": f"SETTING_{n}", "value": "x" * 40} for n in range(10)],
                }
            ],
        },
    }


def median_list_seconds(connection: http.client.HTTPConnection, rounds: int = 20) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        connection.request("GET", "/api/v1/namespaces/small/pods?labelSelector=app%3Dsmall")
        body = connection.getresponse().read()
        timings.append(time.perf_counter() - started)
        assert json.loads(body)["items"]
    return statistics.median(timings)


def test_history_and_connection_state_stay_bounded_and_lists_stay_fast():
    with KubernetesEmulator(controller=False, history_limit=HISTORY_LIMIT) as emu, emu.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="small")))
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="churn")))
        for n in range(5):
            core.create_namespaced_pod("small", client.V1Pod(
                metadata=client.V1ObjectMeta(name=f"small-{n}", labels={"app": "small"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="registry.demo/app:1")]),
            ))
        for n in range(50):
            emu.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "churn", **pod_body(f"churn-{n}")["metadata"]}, "spec": pod_body(f"churn-{n}")["spec"]})
        connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
        baseline_version = core.list_namespaced_pod("churn").metadata.resource_version

        # A watcher that keeps up, through the official client…
        received: list[int] = []
        stop = threading.Event()

        failures: list[BaseException] = []

        def consume() -> None:
            stream = watch.Watch().stream(
                core.list_namespaced_pod, "churn", resource_version=baseline_version, timeout_seconds=120, deserialize=False
            )
            try:
                for event in stream:
                    received.append(int(event["object"]["metadata"]["resourceVersion"]))
                    if stop.is_set():
                        break
            except Exception as error:  # reported by the assertions below
                failures.append(error)
            finally:
                stream.close()

        consumer = threading.Thread(target=consume)
        consumer.start()
        # …and one that never reads: it must cost a stalled socket, not a growing buffer.
        stalled = socket.create_connection(("127.0.0.1", emu.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(f"GET /api/v1/namespaces/churn/pods?watch=1&resourceVersion={baseline_version} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        median_list_seconds(connection, rounds=5)  # warm up the connection and code paths
        # Measured with both watches open and idle, as the end is measured.
        start_latency = median_list_seconds(connection)

        def churn(start: int, count: int) -> int:
            store = emu.store
            last = 0
            for n in range(start, start + count):
                pod = store.get_copy(PODS, "churn", f"churn-{n % 50}")
                pod["metadata"].setdefault("annotations", {})["tick"] = str(n)
                last = int(store.write(PODS, pod)["metadata"]["resourceVersion"])
            return last

        rss_samples = []
        last_version = 0
        requests_done = 0
        # Small slices, so the loop serves the watches between them as it would under a
        # steady stream of changes.
        slices = 200
        for batch in range(slices):
            last_version = emu.call(churn, batch * (CHANGES // slices), CHANGES // slices)
            for n in range(REQUESTS // slices):
                if n % 3 == 0:
                    connection.request("GET", f"/api/v1/namespaces/churn/pods/churn-{n % 50}")
                elif n % 3 == 1:
                    connection.request("GET", "/api/v1/namespaces/churn/pods?labelSelector=shard%3D7")
                else:
                    connection.request(
                        "PATCH",
                        f"/api/v1/namespaces/small/pods/small-{n % 5}",
                        body=json.dumps({"metadata": {"annotations": {"n": str(n)}}}),
                        headers={"Content-Type": "application/merge-patch+json"},
                    )
                response = connection.getresponse()
                response.read()
                assert response.status == 200
                requests_done += 1
            if batch in (slices // 4 - 1, slices - 1):
                rss_samples.append(rss_bytes())
        deadline = time.monotonic() + 20
        while (not received or received[-1] < last_version) and time.monotonic() < deadline:
            time.sleep(0.05)
        end_latency = median_list_seconds(connection)
        stop.set()
        stats = emu.stats()
        stalled.close()
        core.create_namespaced_pod("churn", client.V1Pod(
            metadata=client.V1ObjectMeta(name="wake-the-consumer"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="registry.demo/app:1")]),
        ))
        consumer.join(timeout=10)
        connection.close()
        deadline = time.monotonic() + 5
        while emu.stats()["streams"]["watch"] and time.monotonic() < deadline:
            time.sleep(0.05)
        after = emu.stats()
        counts = emu.request_counts()

    # Caps hold: history per resource, watches, counters.
    assert all(r["history"] <= HISTORY_LIMIT for r in stats["resources"].values())
    assert stats["resources"]["pods"]["history"] == HISTORY_LIMIT
    assert stats["resources"]["pods"]["watches"] == 2 and stats["streams"]["watch"] == 2
    assert after["streams"]["watch"] == 0 and after["resources"]["pods"]["watches"] == 0
    assert stats["counter_keys"] <= 10 and sum(counts.values()) >= requests_done + 40
    # The watcher that kept up saw every change, in order, once.
    assert not failures
    tail = [rv for rv in received if rv <= last_version]
    assert tail == sorted(set(tail)) and len(tail) == CHANGES
    # Memory is flat once the history is full: 15,000 more changes, no real growth
    # (an unbounded history would hold ~15,000 pods of ~1.5 KB more: > 20 MB).
    assert rss_samples[1] - rss_samples[0] < 8 * 1024 * 1024
    # And a small list costs what it cost at the start.
    print(f"list median start {start_latency * 1e3:.2f} ms, end {end_latency * 1e3:.2f} ms; rss growth {(rss_samples[1] - rss_samples[0]) / 1e6:.1f} MB")
    assert end_latency <= 2 * start_latency, (start_latency, end_latency)
