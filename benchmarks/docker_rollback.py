"""Benchmark: Docker rollback and deploy through the adapter, against the raw docker CLI.

The issue (C): "Docker rollback of a small service: from confirmation to the previous
version healthy, as a ratio to the floor measured in the same run with the raw docker
CLI (start the old container, wait for healthy). Target ≤ 1.2×; absolute ≤ 10 s.
Deploy overhead vs the same sequence of raw docker CLI calls: ≤ 1.2×."

The service is one ``watchfloor-test/web`` container (busybox httpd, health check every
second) with ``network_mode=none``, named ``wf-bench-rb-<n>-web``. Every measurement gets a
fresh service so no side inherits a warmer state from the other:

- **rollback, watchfloor**: service at ``web:1``, deployed to ``web:2`` with the
  adapter (so ``web:1`` is retained, stopped); then the clock runs from the call to
  ``DockerAdapter.rollback(key)`` (the operator confirmed) until (a) the progress
  callback says the old replica is ready and (b) the call returns (new one stopped,
  names swapped, old revisions pruned);
- **rollback, docker CLI floor**: the same set-up; then ``docker start <old>``,
  ``docker inspect -f {{.State.Health.Status}} <old>`` in a loop without sleeping until
  it says ``healthy`` (a), then ``docker stop <new>`` (b);
- **deploy, watchfloor**: service at ``web:1``; ``DockerAdapter.deploy(key, web:2)``
  (inspect, clone, create, start, wait healthy, stop the old one, rename both);
- **deploy, docker CLI**: service at ``web:1``; ``docker create --network none
  web:2``, ``docker start``, the same inspect loop, ``docker stop <old>``.

Sides alternate within each round (the order flips every round) so drift hits both;
one warm-up round is not counted. Figures are medians; ratios are watchfloor / CLI.

Usage::

    .venv/bin/python benchmarks/docker_rollback.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from adapters.docker import DockerAdapter  # noqa: E402
from console.model import Environment, EnvironmentKind, WorkloadKey  # noqa: E402
from tests.backends import build_test_images  # noqa: E402

PREFIX = "wf-bench-rb-"
TARGET_RATIO = 1.2
TARGET_ROLLBACK_SECONDS = 10.0


def docker_cli(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def wait_healthy_cli(container: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while docker_cli("inspect", "-f", "{{.State.Health.Status}}", container) != "healthy":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{container} not healthy after {timeout:g}s")


class Bench:
    def __init__(self, client: docker.DockerClient, images: dict[str, str], state_dir: Path) -> None:
        self.client = client
        self.images = images
        self.adapter = DockerAdapter(
            Environment(name="local", kind=EnvironmentKind.DOCKER, target=""), state_dir=state_dir
        )
        self.adapter.connect()
        self.serial = 0

    def fresh_service(self) -> tuple[str, WorkloadKey]:
        """A healthy web:1 container of its own workload; returns (container id, key)."""
        self.serial += 1
        name = f"{PREFIX}{self.serial}-web"  # not "-<n>": the adapter would drop a trailing replica number
        container = self.client.containers.run(self.images["web:1"], name=name, network_mode="none", detach=True)
        wait_healthy_cli(container.id)
        return container.id, WorkloadKey("local", "", name)

    def deployed_service(self) -> tuple[str, str, WorkloadKey]:
        """web:1 deployed to web:2 with the adapter: (retained old id, serving new id, key)."""
        old_id, key = self.fresh_service()
        result = self.adapter.deploy(key, self.images["web:2"])
        return old_id, result.detail["started"][0], key

    # -- the four sides: each returns (seconds to healthy, seconds in total) --------

    def rollback_watchfloor(self) -> tuple[float, float]:
        _, _, key = self.deployed_service()
        healthy_at: list[float] = []

        def progress(line: str) -> None:
            if line.endswith("replicas ready") and not healthy_at:
                healthy_at.append(time.perf_counter())

        started = time.perf_counter()
        result = self.adapter.rollback(key, progress=progress)
        ended = time.perf_counter()
        assert result.detail["instant"], "the benchmark measures rollback to a retained container"
        return healthy_at[0] - started, ended - started

    def rollback_cli(self) -> tuple[float, float]:
        old_id, new_id, _ = self.deployed_service()
        started = time.perf_counter()
        docker_cli("start", old_id)
        wait_healthy_cli(old_id)
        healthy = time.perf_counter()
        docker_cli("stop", new_id)
        ended = time.perf_counter()
        return healthy - started, ended - started

    def deploy_watchfloor(self) -> tuple[float, float]:
        _, key = self.fresh_service()
        healthy_at: list[float] = []

        def progress(line: str) -> None:
            if line.endswith("replicas ready") and not healthy_at:
                healthy_at.append(time.perf_counter())

        started = time.perf_counter()
        self.adapter.deploy(key, self.images["web:2"], progress=progress)
        ended = time.perf_counter()
        return healthy_at[0] - started, ended - started

    def deploy_cli(self) -> tuple[float, float]:
        old_id, key = self.fresh_service()
        started = time.perf_counter()
        new_id = docker_cli("create", "--name", f"{key.name}-new", "--network", "none", self.images["web:2"])
        docker_cli("start", new_id)
        wait_healthy_cli(new_id)
        healthy = time.perf_counter()
        docker_cli("stop", old_id)
        ended = time.perf_counter()
        return healthy - started, ended - started

    def cleanup(self) -> None:
        for container in self.client.containers.list(all=True, filters={"name": PREFIX}):
            container.remove(force=True, v=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured rounds (default 7, at least 5)")
    args = parser.parse_args()
    client = docker.from_env(version="auto", timeout=60)
    images = build_test_images(client)
    with tempfile.TemporaryDirectory(prefix="wf-bench-state-") as state:
        bench = Bench(client, images, Path(state))
        bench.cleanup()
        sides = {
            "rollback watchfloor": bench.rollback_watchfloor,
            "rollback cli": bench.rollback_cli,
            "deploy watchfloor": bench.deploy_watchfloor,
            "deploy cli": bench.deploy_cli,
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        try:
            for round_number in range(args.runs + 1):
                order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
                for name in order:
                    measured = sides[name]()
                    if round_number > 0:  # round 0 warms caches and the engine
                        samples[name].append(measured)
                    bench.cleanup()
                print(f"round {round_number}/{args.runs} done", file=sys.stderr)
        finally:
            bench.cleanup()
            bench.adapter.close()
    report(samples, args.runs)
    return 0


def report(samples: dict[str, list[tuple[float, float]]], runs: int) -> None:
    def median(name: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[name]) * 1000

    print(f"\nmedian of {runs} runs, ms\n")
    print("| | to healthy | total | ratio to healthy | ratio total |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for verb in ("rollback", "deploy"):
        ours, floor = f"{verb} watchfloor", f"{verb} cli"
        print(f"| {floor} (floor) | {median(floor, 0):.0f} | {median(floor, 1):.0f} | 1.00× | 1.00× |")
        print(
            f"| {ours} | {median(ours, 0):.0f} | {median(ours, 1):.0f} "
            f"| {median(ours, 0) / median(floor, 0):.2f}× | {median(ours, 1) / median(floor, 1):.2f}× |"
        )
    rollback_ratio = median("rollback watchfloor", 1) / median("rollback cli", 1)
    deploy_ratio = median("deploy watchfloor", 1) / median("deploy cli", 1)
    rollback_seconds = median("rollback watchfloor", 1) / 1000
    print()
    verdict = "met" if rollback_ratio <= TARGET_RATIO else "MISSED"
    print(f"rollback ≤ {TARGET_RATIO}×: {verdict} ({rollback_ratio:.2f}×)")
    print(
        f"rollback ≤ {TARGET_ROLLBACK_SECONDS:g} s: "
        f"{'met' if rollback_seconds <= TARGET_ROLLBACK_SECONDS else 'MISSED'} ({rollback_seconds:.2f} s)"
    )
    print(f"deploy ≤ {TARGET_RATIO}×: {'met' if deploy_ratio <= TARGET_RATIO else 'MISSED'} ({deploy_ratio:.2f}×)")
    print("\nper run (to healthy / total, ms):")
    for name, values in samples.items():
        print(f"  {name:20} " + "  ".join(f"{a * 1000:.0f}/{b * 1000:.0f}" for a, b in values))


if __name__ == "__main__":
    sys.exit(main())
