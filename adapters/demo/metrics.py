"""``metrics.k8s.io/v1beta1`` objects: plausible pod and node usage that varies over time.

Usage is a function of the pod, the container and the clock (a slow sine per container
plus noise that changes every ``RESOLUTION`` seconds, as metrics-server's samples do),
so nothing is stored. A container that will be OOMKilled climbs towards its memory
limit while it runs. CPU is reported in nanocores (``n``) and memory in ``Ki``, the
units metrics-server uses.
"""

from __future__ import annotations

import math
import random
import zlib
from typing import Any

from adapters.demo.kubelet import FAULT_ANNOTATION, behaviour_of
from adapters.demo.logs import flavour_of
from adapters.demo.objects import parse_time, rfc3339

RESOLUTION = 15.0
WINDOW = "15s"

# (millicores, MiB) a container of each flavour idles around.
_BASE = {
    "web": (120, 180),
    "api": (90, 240),
    "worker": (260, 380),
    "db": (70, 520),
    "agent": (15, 40),
    "app": (50, 120),
}


def _memory_limit_mib(container: dict[str, Any]) -> float | None:
    value = (container.get("resources", {}).get("limits") or {}).get("memory")
    if not isinstance(value, str):
        return None
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1 / 1048.576, "M": 1 / 1.048576, "G": 953.67}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            try:
                return float(value[: -len(suffix)]) * factor
            except ValueError:
                return None
    try:
        return float(value) / 1_048_576
    except ValueError:
        return None


def container_usage(pod: dict[str, Any], container: dict[str, Any], status: dict[str, Any], now: float) -> tuple[int, int]:
    """``(nanocores, KiB)`` used by one running container at ``now``."""
    uid = pod["metadata"].get("uid", "")
    name = container.get("name", "")
    image = container.get("image", "")
    cpu_m, mem_mib = _BASE[flavour_of(image, name)]
    phase = (zlib.crc32(f"{uid}/{name}".encode()) % 1000) / 1000
    bucket = math.floor(now / RESOLUTION)
    rng = random.Random(f"{uid}/{name}/{bucket}")  # nosec B311 # simulated metrics, not secrets
    wave = math.sin(2 * math.pi * (now / 300.0 + phase))
    cpu = cpu_m * (1 + 0.35 * wave + rng.uniform(-0.15, 0.15))
    memory = mem_mib * (1 + 0.06 * math.sin(2 * math.pi * (now / 900.0 + phase)) + rng.uniform(-0.02, 0.02))
    annotations = pod["metadata"].get("annotations") or {}
    behaviour = behaviour_of(image, annotations.get(FAULT_ANNOTATION))
    # Only the flaky pod that the kubelet made crash (it has restarted) leaks memory.
    if behaviour == "oom" or (behaviour == "flaky" and status.get("restartCount", 0) > 0):
        started = parse_time((status.get("state", {}).get("running") or {}).get("startedAt")) or now
        limit = _memory_limit_mib(container) or mem_mib * 2
        memory = min(limit * 0.99, memory + (limit - memory) * min(1.0, (now - started) / 3.0))
    return max(1, int(cpu * 1_000_000)), max(1, int(memory * 1024))


def pod_metrics(pod: dict[str, Any], now: float) -> dict[str, Any] | None:
    """The ``PodMetrics`` of a pod, or ``None`` if none of its containers run."""
    statuses = {s.get("name"): s for s in pod.get("status", {}).get("containerStatuses") or []}
    containers = []
    for container in pod.get("spec", {}).get("containers", []):
        status = statuses.get(container.get("name"))
        if not status or "running" not in (status.get("state") or {}):
            continue
        cpu, memory = container_usage(pod, container, status, now)
        containers.append({"name": container["name"], "usage": {"cpu": f"{cpu}n", "memory": f"{memory}Ki"}})
    if not containers:
        return None
    meta = pod["metadata"]
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "creationTimestamp": rfc3339(now),
            "labels": meta.get("labels") or {},
        },
        "timestamp": rfc3339(math.floor(now / RESOLUTION) * RESOLUTION),
        "window": WINDOW,
        "containers": containers,
    }


def node_metrics(node: dict[str, Any], pods: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """The ``NodeMetrics`` of a node: its pods' usage plus the system's own."""
    name = node["metadata"]["name"]
    cpu_n = 250_000_000
    memory_ki = 1_200 * 1024
    for pod in pods:
        if pod.get("spec", {}).get("nodeName") != name:
            continue
        metrics = pod_metrics(pod, now)
        for container in (metrics or {}).get("containers", []):
            cpu_n += int(container["usage"]["cpu"][:-1])
            memory_ki += int(container["usage"]["memory"][:-2])
    return {
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": name, "creationTimestamp": rfc3339(now), "labels": node["metadata"].get("labels") or {}},
        "timestamp": rfc3339(math.floor(now / RESOLUTION) * RESOLUTION),
        "window": WINDOW,
        "usage": {"cpu": f"{cpu_n}n", "memory": f"{memory_ki}Ki"},
    }
