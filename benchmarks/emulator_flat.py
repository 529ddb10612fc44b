"""Benchmark: does a small list get slower the more requests the emulator has served?

The protocol the kmock measurement used (issue 3): time 20 tiny lists through the
official client at the start, then again after the emulator has served N more
requests. kmock went from 0.04 s to 0.56 s after 660 requests because it recorded
every request; the emulator records none, so the ratio should stay near 1.0 however
large N gets. Requests are a mix of get, list-with-selector and merge patch.

Usage::

    .venv/bin/python benchmarks/emulator_flat.py [--checkpoints 660 5000 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[660, 5000, 20000])
    parser.add_argument("--repeats", type=int, default=5, help="20-list batches per measurement (median reported)")
    args = parser.parse_args()

    from kubernetes import client

    from adapters.demo.emulator import KubernetesEmulator

    with KubernetesEmulator(controller=False) as emulator, emulator.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        for name in ("a", "b"):
            core.create_namespaced_pod(
                "default",
                client.V1Pod(
                    metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="registry.demo/app:1")]),
                ),
            )

        def twenty_lists() -> float:
            batches = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                for _ in range(20):
                    core.list_namespaced_pod("default")
                batches.append(time.perf_counter() - started)
            return statistics.median(batches)

        twenty_lists()  # warm-up
        start = twenty_lists()
        print(f"20 tiny lists at the start: {start:.3f} s")
        served = 0
        for checkpoint in args.checkpoints:
            while served < checkpoint:
                kind = served % 3
                if kind == 0:
                    core.read_namespaced_pod("a", "default")
                elif kind == 1:
                    core.list_namespaced_pod("default", label_selector="app=b")
                else:
                    core.patch_namespaced_pod("b", "default", {"metadata": {"annotations": {"n": str(served)}}})
                served += 1
            now = twenty_lists()
            print(f"20 tiny lists after {served:6d} more requests: {now:.3f} s  (ratio {now / start:.2f})")
        stats = emulator.stats()
        print(f"requests counted: {sum(emulator.request_counts().values())} in {stats['counter_keys']} counters; "
              f"pod history {stats['resources']['pods']['history']} of {stats['history_limit']}")


if __name__ == "__main__":
    main()
