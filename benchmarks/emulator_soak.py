"""Soak benchmark: the demo clusters under a steady load for N minutes; flat is the target.

Starts :class:`adapters.demo.DemoCluster` at real speed (``time_scale`` 1.0) in this
process and keeps, for the whole run:

- one watch per environment on the pods of every namespace, through the official
  client (``Watch().stream(list_pod_for_all_namespaces)``), resumed from its last
  resourceVersion whenever it ends (and relisted on 410), as an adapter does;
- one ``log?follow=true`` stream on a ``web`` pod in staging, reopened on another
  ``web`` pod when the rollout replaces it;
- churn: a rollout of ``web`` every ``--rollout-every`` seconds, alternating the
  environments and two image tags (pods are created, become ready, old ones go);
- a probe once a second: a ``list`` of the ``shop`` pods and a ``get`` of a
  Deployment in each environment, timed.

It prints request latency p50/p95 of the probes in the first and the last minute, the
process RSS at the start (after seeding and the first rollouts) and at the end, with
the ratio end/start, and the emulators' own counters (history sizes, open streams,
events kept). The emulators run in this process, as in ``watchfloor --demo``, so the
RSS includes the client side too.

Usage::

    .venv/bin/python benchmarks/emulator_soak.py [--minutes 2] [--rollout-every 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rollout-every", type=float, default=10.0)
    args = parser.parse_args()

    from kubernetes import client, config, watch
    from kubernetes.client.exceptions import ApiException

    from adapters.demo import DemoCluster

    stop = threading.Event()
    received = {"events": 0, "log_lines": 0, "relists": 0, "rewatches": 0, "log_reopens": 0}
    demo = DemoCluster()
    endpoints = demo.start()
    clients = {env: config.new_client_from_config(config_file=str(ep.kubeconfig_path), context=ep.context) for env, ep in endpoints.items()}

    def watcher(env: str) -> None:
        core = client.CoreV1Api(clients[env])
        version = core.list_pod_for_all_namespaces().metadata.resource_version
        while not stop.is_set():
            stream = watch.Watch().stream(core.list_pod_for_all_namespaces, resource_version=version, timeout_seconds=30, allow_watch_bookmarks=True)
            try:
                for event in stream:
                    if event["type"] == "BOOKMARK":
                        version = event["raw_object"]["metadata"]["resourceVersion"]
                        continue
                    received["events"] += 1
                    version = event["object"].metadata.resource_version
                    if stop.is_set():
                        break
                received["rewatches"] += 1
            except ApiException as error:
                if error.status == 410:
                    received["relists"] += 1
                    version = core.list_pod_for_all_namespaces().metadata.resource_version
                else:
                    raise
            finally:
                stream.close()

    def follower() -> None:
        core = client.CoreV1Api(clients["demo-staging"])
        while not stop.is_set():
            pods = [p for p in core.list_namespaced_pod("shop", label_selector="app=web").items if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
            if not pods:
                time.sleep(0.5)
                continue
            try:
                response = core.read_namespaced_pod_log(pods[0].metadata.name, "shop", follow=True, tail_lines=10, _preload_content=False)
            except ApiException:
                time.sleep(0.5)  # the pod went away between the list and the log request
                continue
            try:
                for chunk in response.stream(4096):
                    received["log_lines"] += chunk.count(b"\n")
                    if stop.is_set():
                        break
            finally:
                response.release_conn()
                response.close()
            received["log_reopens"] += 1

    def roller() -> None:
        tags = ["1.5.0", "1.5.1"]
        n = 0
        while not stop.wait(args.rollout_every):
            env = list(clients)[n % 2]
            tag = tags[(n // 2) % 2]
            client.AppsV1Api(clients[env]).patch_namespaced_deployment(
                "web", "shop", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": f"registry.demo/shop/web:{tag}-soak{n}"}]}}}}
            )
            n += 1

    threads = [threading.Thread(target=watcher, args=(env,), daemon=True) for env in clients]
    threads += [threading.Thread(target=follower, daemon=True), threading.Thread(target=roller, daemon=True)]
    for thread in threads:
        thread.start()

    probes = {env: (client.CoreV1Api(c), client.AppsV1Api(c)) for env, c in clients.items()}
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    duration = args.minutes * 60
    time.sleep(5)  # seeding done, first pods up: the start of the measurement
    rss_start = rss_mb()
    print(f"demo up: {', '.join(f'{env} {ep.base_url}' for env, ep in endpoints.items())}; RSS at start {rss_start:.1f} MB")
    while time.monotonic() - started < duration:
        tick = time.monotonic()
        for core, apps in probes.values():
            t0 = time.perf_counter()
            core.list_namespaced_pod("shop")
            samples.append((tick - started, time.perf_counter() - t0))
            t0 = time.perf_counter()
            apps.read_namespaced_deployment("web", "shop")
            samples.append((tick - started, time.perf_counter() - t0))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    rss_end = rss_mb()
    stop.set()
    window = min(60.0, duration / 2)
    first = [s for t, s in samples if t < window + 5]
    last = [s for t, s in samples if t >= duration - window]
    print(f"ran {duration / 60:.1f} min; {len(samples)} probe requests")
    print(f"probe latency first {window:.0f} s: p50 {statistics.median(first) * 1e3:.1f} ms, p95 {percentile(first, 0.95) * 1e3:.1f} ms")
    print(f"probe latency last  {window:.0f} s: p50 {statistics.median(last) * 1e3:.1f} ms, p95 {percentile(last, 0.95) * 1e3:.1f} ms")
    print(f"p50 ratio end/start {statistics.median(last) / statistics.median(first):.2f}, "
          f"p95 ratio {percentile(last, 0.95) / percentile(first, 0.95):.2f}")
    print(f"RSS start {rss_start:.1f} MB, end {rss_end:.1f} MB, ratio end/start {rss_end / rss_start:.3f}")
    print(f"watch events received {received['events']}, watch re-opens {received['rewatches']}, relists {received['relists']}, "
          f"log lines followed {received['log_lines']}, log re-opens {received['log_reopens']}")
    for env, emulator in demo.emulators.items():
        stats = emulator.stats()
        history = {k: v["history"] for k, v in stats["resources"].items() if v["history"]}
        print(f"{env}: resourceVersion {stats['resource_version']}, history {history}, streams {stats['streams']}, "
              f"events kept {stats['resources']['events']['objects']}, controller {stats['controller']}")
        print(f"{env}: requests {sum(emulator.request_counts().values())}, by verb/resource {dict(sorted(emulator.request_counts().items()))}")
    for api_client in clients.values():
        api_client.close()
    demo.stop()


if __name__ == "__main__":
    main()
