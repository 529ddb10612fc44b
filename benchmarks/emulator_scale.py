"""Benchmark: the Kubernetes emulator at 5,000 pods, and what each open watch costs.

Measured, in this order, in one process (the emulator runs in-process, as in
``watchfloor --demo``):

1. **Build**: ``--deployments`` Deployments × ``--replicas`` pods created through the
   simulated controller (ReplicaSets, scheduling, kubelet lifecycle, events), timed
   until every Deployment reports all replicas available.
2. **RSS**: the process's resident memory before the emulator starts, with the
   emulator idle, and at 5,000 running pods; the difference is what the emulator costs.
3. **List latency**: ``GET /api/v1/pods`` (all namespaces, every pod) over HTTP with
   a keep-alive connection, bytes only (the server's cost), median and p95 of
   ``--rounds``; then the same list through the official client with decoding into
   its models (what an adapter pays), median of a few; then a small selector list.
4. **Watch fan-out**: ``--watchers`` watches on all pods are opened from a child
   process (so their reading does not share this process's CPU); ``--changes`` pod
   changes are written, and the emulator process's CPU time and the wall time until
   every watcher has seen the last change are reported, for 1 watcher and for N, so
   the per-watcher cost per event can be read off.

Usage::

    .venv/bin/python benchmarks/emulator_scale.py [--deployments 200] [--replicas 25] [--watchers 20] [--changes 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WATCHER_CHILD = r"""
import asyncio, sys, time
port, count, target = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
async def one(i, ready, done):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/v1/pods?watch=1&resourceVersion={sys.argv[4]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    ready.append(i)
    needle = f'"tick":"{target}"'.encode()
    while True:
        line = await reader.readline()
        if not line:
            return
        if needle in line:
            done[i] = time.time()
            writer.close()
            return
async def main():
    ready, done = [], {}
    tasks = [asyncio.create_task(one(i, ready, done)) for i in range(count)]
    while len(ready) < count:
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    await asyncio.gather(*tasks)
    print("DONE", max(done.values()), flush=True)
asyncio.run(main())
"""


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--time-scale", type=float, default=0.05)
    args = parser.parse_args()

    from kubernetes import client

    from adapters.demo.emulator import KubernetesEmulator
    from adapters.demo.resources import DEPLOYMENTS, PODS

    rss_before = rss_mb()
    # Events are capped (2,000 by default) whatever the pod count; keep the default.
    emulator = KubernetesEmulator(time_scale=args.time_scale, seed=5)
    emulator.start()
    time.sleep(0.5)
    rss_idle = rss_mb()
    total = args.deployments * args.replicas
    print(f"emulator at {emulator.base_url}; building {args.deployments} deployments x {args.replicas} = {total} pods")

    def create_all() -> None:
        store = emulator.store
        for n in range(args.deployments):
            name = f"svc{n:03d}"
            store.create(
                DEPLOYMENTS,
                {
                    "metadata": {"name": name, "labels": {"app": name}},
                    "spec": {
                        "replicas": args.replicas,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name, "team": f"t{n % 7}"}},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "app",
                                        "image": f"registry.demo/bench/svc{n % 10}:1.{n % 4}.0",
                                        "ports": [{"containerPort": 8080}],
                                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                                    }
                                ]
                            },
                        },
                    },
                },
                "default",
            )

    started = time.perf_counter()
    emulator.call(create_all)

    def available() -> int:
        return sum(
            1
            for d in emulator.store.objects(DEPLOYMENTS)
            if (d.get("status") or {}).get("availableReplicas") == args.replicas
        )

    while emulator.call(available) < args.deployments:
        time.sleep(0.25)
        if time.perf_counter() - started > 600:
            raise SystemExit("gave up waiting for the deployments")
    build = time.perf_counter() - started
    pods = emulator.call(emulator.store.count, PODS)
    time.sleep(1.0)
    rss_full = rss_mb()
    print(f"build: {pods} pods ready in {build:.1f} s")
    print(f"RSS: before emulator {rss_before:.0f} MB, emulator idle {rss_idle:.0f} MB, at {pods} pods {rss_full:.0f} MB "
          f"(emulator at {pods} pods: {rss_full - rss_before:.0f} MB)")
    stats = emulator.stats()
    print(f"history: pods {stats['resources']['pods']['history']}, events objects {stats['resources']['events']['objects']}")

    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=60)
    timings, size = [], 0
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        connection.request("GET", "/api/v1/pods")
        body = connection.getresponse().read()
        timings.append(time.perf_counter() - t0)
        size = len(body)
    print(f"list all {pods} pods over HTTP (bytes only, {size / 1e6:.1f} MB): median {statistics.median(timings) * 1e3:.0f} ms, "
          f"p95 {percentile(timings, 0.95) * 1e3:.0f} ms")
    small = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        connection.request("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dsvc007")
        connection.getresponse().read()
        small.append(time.perf_counter() - t0)
    print(f"list {args.replicas} pods by label selector among {pods}: median {statistics.median(small) * 1e3:.1f} ms")
    with emulator.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        decoded = []
        for _ in range(3):
            t0 = time.perf_counter()
            items = core.list_pod_for_all_namespaces().items
            decoded.append(time.perf_counter() - t0)
        print(f"list all {len(items)} pods through the official client, decoded into models: median {statistics.median(decoded):.2f} s")

    # --- watch fan-out ---
    def churn(start: int, count: int) -> None:
        store = emulator.store
        names = sorted(p["metadata"]["name"] for p in store.objects(PODS, "default"))[:500]
        for n in range(start, start + count):
            pod = store.get_copy(PODS, "default", names[n % len(names)])
            pod["metadata"].setdefault("annotations", {})["tick"] = str(n)
            store.write(PODS, pod)

    results = {}
    offset = 0
    for watchers in (1, args.watchers):
        version = json.loads(_get(connection, "/api/v1/namespaces/default/pods?limit=1"))["metadata"]["resourceVersion"]
        last = offset + args.changes - 1
        child = subprocess.Popen(
            [sys.executable, "-c", WATCHER_CHILD, str(emulator.port), str(watchers), str(last), version],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
        time.sleep(0.3)
        cpu0, wall0 = time.process_time(), time.time()
        for start in range(offset, offset + args.changes, 100):
            emulator.call(churn, start, 100)
        write_cpu = time.process_time() - cpu0
        line = child.stdout.readline().split()
        child.wait(timeout=120)
        cpu = time.process_time() - cpu0
        results[watchers] = (float(line[1]) - wall0, cpu, write_cpu)
        offset += args.changes
        print(f"{watchers:3d} watcher(s), {args.changes} pod changes: all delivered after {results[watchers][0]:.2f} s; "
              f"emulator process CPU {cpu:.2f} s (writes alone {write_cpu:.2f} s)")
    (_, cpu_one, _), (_, cpu_many, _) = results[1], results[args.watchers]
    per = (cpu_many - cpu_one) / (args.watchers - 1) / args.changes * 1e6
    print(f"fan-out: about {per:.0f} µs of emulator CPU per event per extra watcher")
    emulator.stop()


def _get(connection: http.client.HTTPConnection, path: str) -> bytes:
    connection.request("GET", path)
    return connection.getresponse().read()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
