"""Run the demo clusters in the foreground: ``python -m adapters.demo``.

Prints each environment's URL and the kubeconfig to use (``kubectl --kubeconfig …
--context demo-prod get pods`` works), then serves until interrupted. Useful to poke
at the emulator by hand, or to keep its memory out of a process being measured:
``--scale 200x25`` instead serves one cluster ("bench") with 200 Deployments of 25
pods in namespace ``bench``, for the 5,000-pod benchmarks.
"""

from __future__ import annotations

import argparse
import logging
import signal
import tempfile
import threading
from pathlib import Path

from adapters.demo import DemoCluster
from adapters.demo.emulator import KubernetesEmulator
from adapters.demo.resources import DEPLOYMENTS, NAMESPACES


def _serve_scale(deployments: int, replicas: int, directory: str | None, time_scale: float, stop: threading.Event) -> None:
    with KubernetesEmulator(time_scale=time_scale, seed=5) as emulator:

        def create() -> None:
            store = emulator.store
            store.create(NAMESPACES, {"metadata": {"name": "bench"}})
            for n in range(deployments):
                name = f"svc{n:03d}"
                template = {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": f"registry.demo/bench/svc{n % 10}:1.{n % 4}.0"}]},
                }
                store.create(
                    DEPLOYMENTS,
                    {"metadata": {"name": name}, "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template}},
                    "bench",
                )

        emulator.call(create)
        path = emulator.kubeconfig(Path(directory or tempfile.mkdtemp(prefix="watchfloor-bench-")) / "kubeconfig", "bench", "bench")
        print(f"bench: {emulator.base_url}  (kubeconfig {path}, context bench; {deployments * replicas} pods coming up)", flush=True)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m adapters.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--directory", help="where to write the kubeconfig (default: a temporary directory)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies simulated durations (default 1.0)")
    parser.add_argument("--verbose", action="store_true", help="log the emulator's debug messages")
    parser.add_argument("--scale", metavar="DEPLOYMENTSxREPLICAS", help="serve one bench cluster of that size instead of the demo")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.scale:
        deployments, _, replicas = args.scale.partition("x")
        _serve_scale(int(deployments), int(replicas or 1), args.directory, args.time_scale, stop)
        return
    with DemoCluster(args.directory, time_scale=args.time_scale) as demo:
        for env, endpoint in demo.endpoints.items():
            print(
                f"{env}: {endpoint.base_url}  (kubeconfig {endpoint.kubeconfig_path}, context {endpoint.context}; "
                f"simulated Prometheus {endpoint.prometheus_url})",
                flush=True,
            )
        stop.wait()


if __name__ == "__main__":
    main()
