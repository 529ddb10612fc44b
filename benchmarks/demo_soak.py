"""Soak: the demo running for N minutes with the console attached and a log view following.

One process, as ``watchfloor --demo`` runs: the two emulated clusters, the console
(headless, 160x48) watching both through the real Kubernetes adapter, and the logs
screen following ``demo-staging/shop/web``. Every minute it samples:

- **request latency**: 10 small lists (``/api/v1/namespaces/shop/pods``) against the
  staging emulator with the official client, median and p95;
- **RSS** of the process (emulators + console), from /proc/self/status;
- lines held by the log view and the store's workload count (sanity).

Baseline, measured in the same run: the first sample (start). Printed: start, end and
end/start ratios — flat is the target (issue B: "flat latency and bounded memory").

Usage::

    .venv/bin/python benchmarks/demo_soak.py [--minutes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import kubernetes.client  # noqa: E402

from adapters.demo import DemoCluster  # noqa: E402
from console.app import WatchfloorApp  # noqa: E402
from console.backends import backends_for, demo_config  # noqa: E402
from console.model import WorkloadKey  # noqa: E402
from screens.logs import LogsScreen  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def list_latency_ms(api: kubernetes.client.CoreV1Api, count: int = 10) -> tuple[float, float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        api.list_namespaced_pod("shop", _preload_content=False).read()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


async def soak(minutes: float) -> list[dict]:
    samples: list[dict] = []
    with DemoCluster() as demo:
        config = demo_config(demo)
        app = WatchfloorApp(backends_for(config), demo=True)
        staging = demo.emulators["demo-staging"]
        api = kubernetes.client.CoreV1Api(staging.api_client())
        key = WorkloadKey("demo-staging", "shop", "web")
        async with app.run_test(headless=True, size=(160, 48)) as pilot:
            deadline = time.monotonic() + 30
            while app.store.workload(key) is None and time.monotonic() < deadline:
                await pilot.pause(0.2)
            app.show_logs(key)
            await pilot.pause(2)
            screen = app.screen
            assert isinstance(screen, LogsScreen), "logs screen did not open"
            started = time.monotonic()
            end = started + minutes * 60
            next_sample = started
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    p50, p95 = await asyncio.to_thread(list_latency_ms, api)
                    sample = {
                        "minute": round((now - started) / 60, 1),
                        "list_p50_ms": p50,
                        "list_p95_ms": p95,
                        "rss_mib": rss_mib(),
                        "log_lines": screen.view.line_count,
                        "workloads": len(app.store.workloads()),
                        "emulator": staging.stats(),
                    }
                    samples.append(sample)
                    print(
                        f"  t={sample['minute']:5.1f} min  list p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                        f"RSS {sample['rss_mib']:6.1f} MiB  log lines {sample['log_lines']:,}  workloads {sample['workloads']}",
                        file=sys.stderr,
                        flush=True,
                    )
                    next_sample += 60
                if now >= end:
                    break
                await pilot.pause(1.0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    args = parser.parse_args()
    samples = asyncio.run(soak(args.minutes))
    first, last = samples[0], samples[-1]
    load = os.getloadavg()[0]
    print(f"demo_soak: {args.minutes:g} min, console attached (160x48 headless), logs screen following demo-staging/shop/web")
    print(f"machine: {os.cpu_count()} CPU, Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {load:.1f}")
    print(f"{'':24}{'start':>10}{'end':>10}{'end/start':>11}")
    for label, field in (("list p50 (ms)", "list_p50_ms"), ("list p95 (ms)", "list_p95_ms"), ("RSS (MiB)", "rss_mib")):
        ratio = last[field] / first[field] if first[field] else float("nan")
        print(f"{label:24}{first[field]:10.2f}{last[field]:10.2f}{ratio:10.2f}×")
    print(f"log view lines at the end: {last['log_lines']:,}; samples: {len(samples)}")
    print(f"emulator bookkeeping at the end: {last['emulator']}")


if __name__ == "__main__":
    main()
