"""Benchmark: first complete frame with 5,000 Kubernetes pods, against the official client's list.

The issue: "5,000 pods across 200 deployments in the emulator: time from start to
first complete frame, as a ratio to the raw client's list + decode of the same pods in
the same run. Target ≤ 1.3× and < 1 s. Memory RSS at 5,000 pods ≤ 200 MB."

Cluster: the embedded emulator (``adapters.demo.emulator``) runs in this process with
its simulated control plane on (``controller=True``, ``time_scale=0.05``), so the
objects are what the controllers and the kubelet write, not hand-made ones: 200
Deployments of 25 replicas in ten namespaces (``team-00`` … ``team-09``), which the
controller turns into 200 ReplicaSets and 5,000 pods (about 2.4 KB of JSON each) and
up to 2,000 Events. The run starts once every Deployment reports 25/25 available and
the controller is idle; after that nothing changes in the cluster. A kubeconfig for
the emulator (context ``bench``) is written to a temporary directory.

Measured, each in a fresh process, in rotating order so drift hits every side alike:

- **baseline**: from ``time.time()`` just before ``subprocess.Popen`` until a child
  has done ``import kubernetes``, loaded the kubeconfig and
  ``CoreV1Api(api_client).list_pod_for_all_namespaces()`` has returned: the official
  client's list and its decode into ``V1Pod`` models. The child also reports the
  in-process time of that call alone, its RSS with the 5,000 models held, and (after
  the timed part) the same list read as raw JSON (``_preload_content=False`` and
  ``json.loads``; the adapter decodes the same JSON item by item as it arrives);
- **first frame**: the same spawn of this script with ``--child``, which builds the
  backends the way the console does for a ``kind: kubernetes`` environment
  (``backends_for(Config(environments=[KubernetesEnvironmentConfig(...)]))``) and runs
  ``WatchfloorApp`` headless at 160x48. A frame is complete when the ``bench``
  environment is connected (the banner is gone), the store holds every workload and
  every pod, and the main screen's ``WorkloadTable`` has a row per workload; this is
  checked after every ``tick()`` and before every paint, and the time is taken once
  that paint has been encoded to terminal text (the headless driver skips that, so
  the child does it). The child reports its RSS (``VmRSS``) at that moment, keeps
  running (watches open, metrics polled) and reports it again 10 s later;
- **import only**: the child imports ``console.app`` and ``adapters.kubernetes`` (what
  the frame needs: the adapter talks HTTP through ``adapters.kube_http`` and never
  imports the ``kubernetes`` client for a token or certificate context) and reports;
- **python start**: the child reports at once;
- **reference, bare Textual app**: a plain ``App`` with a header, footer and a
  ``DataTable`` given one row of nine ``Text`` cells per workload on mount, timed to
  its first paint (``startup_500.child_floor``): the floor any Textual console with
  such a table starts from;
- **reference, floor with the data**: the same bare app while a thread, started
  before anything else is imported, fetches the 5,000 pods with ``urllib3`` and
  decodes them with ``json.loads``; timed to the first paint after both are done.
  Nothing any console could skip: the floor for this frame on this machine.

Children get a pseudo-terminal sized 160x48 as stdin, as in a terminal. CPU is the
user+system time of the spawned process (the emulator's work is not in it). The first
frame child reports when each phase ended, including the watch thread's lists of each
resource, so their medians show where the time goes. One warm-up round runs first and
is not counted. When a target is missed, one more child runs under pyinstrument, with
one profiler on the main (UI) thread and one on the watch thread from its start to
"connected"; the heaviest functions of both are printed and the full reports saved
under the temp dir.

The process plumbing (pseudo-terminal, report lines, profiler summary, the Textual
reference child) is imported from ``startup_500.py`` beside this file.

Usage::

    .venv/bin/python benchmarks/k8s_startup_5000.py [--deployments 200] [--replicas 25] [--runs 5]
"""

# The child half of this script runs inside the measurement, so the module level
# imports only what both halves need and is cheap; the rest is imported where used.
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from startup_500 import (  # noqa: E402 - beside this file, found through HERE
    SIZE,
    _children_cpu,
    _emit,
    _pseudo_terminal,
    _start_profiler,
    _stop_profiler,
    child_bare,
    child_floor,
    profile_summary,
)

ENV = "bench"
CONTEXT = "bench"
NAMESPACES = 10
TARGET_RATIO = 1.3
TARGET_SECONDS = 1.0
TARGET_RSS_BYTES = 200e6
"""200 MB, read strictly (10^6 bytes); the table prints MiB."""
RSS_LATER = 10.0
"""Seconds after the frame when the child reads its RSS again."""
CHILD_TIMEOUT = 60.0
"""Seconds a child may take to reach its frame before it reports what it saw and exits."""

PHASES = (
    ("main", "python up, the child's code starts"),
    ("imported", "imports done (console.app, pydantic config …)"),
    ("backends", "Config + backends_for"),
    ("app_built", "WatchfloorApp constructed"),
    ("first_paint", "first paint (start-up batch over)"),
    ("watch_thread", "watch thread starts (worker picked up)"),
    ("client_ready", "kubeconfig read, /version answered"),
    ("listed_replicasets", "listed replicasets"),
    ("listed_deployments", "listed deployments"),
    ("listed_statefulsets", "listed statefulsets"),
    ("listed_daemonsets", "listed daemonsets"),
    ("listed_pods", "listed pods (5,000, decoded and kept as they arrive)"),
    ("listed_events", "listed events"),
    ("snapshot_applied", "snapshot built and in the store"),
    ("connected", "events seeded, connected"),
    ("ui_complete", "widgets hold every workload (tick)"),
    ("frame", "complete frame painted"),
    ("first_samples", "first metrics batch in the store"),
)


# --------------------------------------------------------------------------- child


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child_import_only() -> None:
    """Import what the first frame needs (the adapter and its HTTP layer, no kubernetes client), report, exit."""
    import console.app  # noqa: F401
    import adapters.kubernetes  # noqa: F401

    done = time.time()
    _emit(f"PHASES {json.dumps({'rss': rss_bytes()})}\nREPORT {done!r}\n")
    os._exit(0)


def child_floor_with_data(kubeconfig: str, rows: int, pods: int) -> None:
    """The floor for this frame: a bare Textual app with a ``rows``-row table, while a
    thread lists the pods with urllib3 and ``json.loads``; reported at the first paint
    after both are done."""
    import threading

    decoded = threading.Event()
    app_box: list = []

    def fetch() -> None:
        import urllib3

        from adapters.kubeconfig import resolve_context

        server = resolve_context(kubeconfig, CONTEXT).server
        items = json.loads(urllib3.PoolManager().request("GET", server + "/api/v1/pods").data)["items"]
        if len(items) != pods:
            _emit(f'NO_FRAME {{"pods": {len(items)}, "expected": {pods}}}\n')
            os._exit(3)
        decoded.set()
        if app_box:
            app_box[0].call_from_thread(app_box[0].refresh)

    threading.Thread(target=fetch, daemon=True).start()

    from rich.text import Text
    from textual.app import App
    from textual.widgets import DataTable, Footer, Header

    class FloorApp(App):
        def compose(self):
            yield Header()
            yield DataTable(cursor_type="row")
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            for label in ("Health", "Workload", "Ready", "Version", "Rst", "Age", "CPU", "Mem", "Reason"):
                table.add_column(Text(label), key=label)
            for number in range(rows):
                cells = ("healthy", f"team-00/svc-{number:03d}", "25/25", "1.0.0", "0", "3m", "-", "-", "")
                table.add_row(*(Text(cell) for cell in cells), key=str(number))

        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            if renderable is not None and not self._batch_count:
                render = getattr(renderable, "render_segments", None)
                if render is not None:
                    render(self.console)
                if decoded.is_set() and self.query_one(DataTable).row_count == rows:
                    _emit(f"REPORT {time.time()!r}\n")
                    os._exit(0)

    app = FloorApp()
    app_box.append(app)
    app.run(headless=True, size=SIZE)
    os._exit(4)


def child_baseline(kubeconfig: str, pods: int) -> None:
    """The official client: load the kubeconfig, list every pod into V1Pod models."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kubeconfig, context=CONTEXT)
    core = client.CoreV1Api(api_client)
    began = time.perf_counter()
    listed = core.list_pod_for_all_namespaces()
    call = time.perf_counter() - began
    done = time.time()
    if len(listed.items) != pods:
        _emit(f'NO_FRAME {{"pods": {len(listed.items)}, "expected": {pods}}}\n')
        os._exit(3)
    report = {"call": call, "rss": rss_bytes(), "cpu_report": time.process_time()}
    _emit(f"PHASES {json.dumps(report)}\nREPORT {done!r}\n")
    # Outside the timed part: the same list as the adapter reads it (raw JSON).
    del listed
    began = time.perf_counter()
    response = core.list_pod_for_all_namespaces(_preload_content=False)
    items = json.loads(response.data)["items"]
    raw = time.perf_counter() - began
    _emit(f"EXTRA {json.dumps({'raw': raw, 'raw_items': len(items)})}\n")
    os._exit(0)


def child_first_frame(kubeconfig: str, workloads: int, pods: int, profile: str | None) -> None:
    """Run the console headless against the emulator; report its first complete frame and RSS."""
    profiler = _start_profiler(profile)
    phases: dict[str, float] = {}
    """Wall clock (``time.time()``) when each phase ended."""
    cpu: dict[str, float] = {}
    """This process's CPU seconds (all threads) when each phase ended."""

    def mark(phase: str) -> None:
        if phase not in phases:
            cpu[phase] = time.process_time()
            phases[phase] = time.time()

    mark("main")

    import threading

    from textual.worker import get_current_worker

    from console.app import WatchfloorApp
    from console.backends import Backend, backends_for
    from console.config import Config, KubernetesEnvironmentConfig
    from console.store import Store
    from screens.main import MainScreen
    from widgets.workload_table import WorkloadTable

    mark("imported")
    config = Config(
        environments=[KubernetesEnvironmentConfig(kind="kubernetes", name=ENV, kubeconfig=kubeconfig, context=CONTEXT)]
    )
    backends = backends_for(config)
    mark("backends")

    watch_profile = {"profiler": None}

    def instrumented(backend: Backend) -> Backend:
        """The same backend, its watcher's adapter noting when it connected and listed."""

        def make_adapter():
            adapter = backend.make_adapter()
            try:
                watcher = get_current_worker().group == "watch"
            except Exception:  # noqa: BLE001 - not in a worker: not the watcher
                watcher = False
            if not watcher:
                return adapter
            mark("watch_thread")
            if profile:
                watch_profile["profiler"] = _start_profiler(profile + ".watch")
            connect, list_ = adapter.connect, adapter._stream_list

            def timed_connect() -> None:
                connect()
                mark("client_ready")

            def timed_list(resource, scope, take):
                # Every list goes through here; the pods' items are kept as they arrive.
                result = list_(resource, scope, take)
                mark(f"listed_{resource.plural}")
                return result

            adapter.connect = timed_connect
            adapter._stream_list = timed_list
            return adapter

        return Backend(backend.environment, make_adapter)

    backends = [instrumented(b) for b in backends]

    class TimedStore(Store):
        """The plain store, noting when the snapshot, the connection and the first samples arrive."""

        def apply_many(self, changes) -> None:
            changes = tuple(changes)
            super().apply_many(changes)
            for change in changes:
                kind = type(change).__name__
                if kind == "SnapshotReplaced":
                    mark("snapshot_applied")
                elif kind == "ConnectionChanged" and change.state.connected:
                    mark("connected")
                    watcher_profiler = watch_profile["profiler"]
                    if watcher_profiler is not None and "watch_profiled" not in phases:
                        # Stopped in the thread that started it (pyinstrument profiles per thread).
                        phases["watch_profiled"] = time.time()
                        _stop_profiler(watcher_profiler, profile + ".watch")  # type: ignore[operator]
                elif kind == "SampleAdded":
                    mark("first_samples")

    store = TimedStore(b.environment for b in backends)

    def finish() -> None:
        if profiler is not None and profile:
            _stop_profiler(profiler, profile)
        report = {"wall": phases, "cpu": cpu, "rss": rss_bytes(), "cpu_report": cpu["frame"]}
        _emit(f"PHASES {json.dumps(report)}\nREPORT {phases['frame']!r}\n")

        def later() -> None:
            _emit(f"RSS_LATER {rss_bytes()}\n")
            os._exit(0)

        threading.Timer(0.0 if profile else RSS_LATER, later).start()

    class FirstFrameApp(WatchfloorApp):
        """The console, plus a note of its first complete frame."""

        complete = False
        reported = False

        def tick(self):
            delta = super().tick()
            self._check_complete()
            return delta

        def _check_complete(self) -> bool:
            if not self.complete and self._shows_everything():
                self.complete = True
                mark("ui_complete")
            return self.complete

        def _shows_everything(self) -> bool:
            # What the widgets hold, not only what the store holds: the watch thread fills
            # the store, the UI fills the widgets at its ticks.
            screen = self.screen
            if not isinstance(screen, MainScreen) or not screen.is_mounted:
                return False
            if not self.store.connection(ENV).connected or screen.query_one("#env-banner").display:
                return False
            if screen.query_one(WorkloadTable).row_count != workloads:
                return False
            shown = self.store.workloads(ENV)
            return len(shown) == workloads and sum(w.ready for w in shown) == pods

        def _display(self, screen, renderable) -> None:
            if renderable is None or self._batch_count:
                # Textual drops these: nothing to show, or inside a batch (start-up is one).
                super()._display(screen, renderable)
                return
            complete = isinstance(screen, MainScreen) and self._check_complete()
            super()._display(screen, renderable)
            if self.is_headless and not self.reported:
                render = getattr(renderable, "render_segments", None)
                if render is not None:
                    render(self.console)
            mark("first_paint")
            if complete and not self.reported:
                self.reported = True
                mark("frame")
                finish()

    def give_up() -> None:
        seen = {
            "expected": workloads,
            "connected": store.connection(ENV).connected,
            "workloads": len(store.workloads(ENV)),
            "phases": sorted(phases),
        }
        _emit(f"NO_FRAME {json.dumps(seen)}\n")
        os._exit(3)

    watchdog = threading.Timer(CHILD_TIMEOUT, give_up)
    watchdog.daemon = True
    watchdog.start()
    app = FirstFrameApp(backends, store=store)
    mark("app_built")
    app.run(headless=True, size=SIZE)
    _emit('NO_FRAME {"reason": "the app exited"}\n')
    os._exit(4)


# --------------------------------------------------------------------------- cluster


def build_cluster(deployments: int, replicas: int, seed: int):
    """Start the emulator with its control plane and create the Deployments; returns it running."""
    from adapters.demo.emulator import KubernetesEmulator
    from adapters.demo.resources import DEPLOYMENTS, NAMESPACES as NAMESPACE_RT

    emulator = KubernetesEmulator(time_scale=0.05, seed=seed, controller=True)
    emulator.start()

    def create_all() -> None:
        store = emulator.store
        assert store is not None
        for number in range(NAMESPACES):
            store.create(NAMESPACE_RT, {"metadata": {"name": f"team-{number:02d}"}})
        for number in range(deployments):
            name = f"svc-{number:03d}"
            labels = {"app": name, "app.kubernetes.io/part-of": "bench"}
            container = {
                "name": "main",
                "image": f"registry.bench/{name}:1.{number % 7}.{number % 3}",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            }
            store.create(
                DEPLOYMENTS,
                {
                    "metadata": {"name": name, "labels": labels},
                    "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                    },
                },
                f"team-{number % NAMESPACES:02d}",
            )

    emulator.call(create_all)
    return emulator


def wait_settled(emulator, deployments: int, replicas: int, timeout: float = 240.0) -> float:
    """Wait until every Deployment is fully available and the controller is idle; returns seconds waited."""
    from adapters.demo.resources import DEPLOYMENTS, PODS

    began = time.monotonic()

    def settled() -> bool:
        store = emulator.store
        done = 0
        for deployment in store.objects(DEPLOYMENTS):
            status = deployment.get("status") or {}
            if (
                status.get("availableReplicas") == replicas
                and status.get("updatedReplicas") == replicas
                and status.get("replicas") == replicas
                and status.get("observedGeneration") == deployment["metadata"].get("generation")
            ):
                done += 1
        if done != deployments or store.count(PODS) != deployments * replicas:
            return False
        return emulator.controller.stats()["dirty"] == 0

    while not emulator.call(settled):
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"the emulator did not settle within {timeout:.0f} s")
        time.sleep(0.5)
    time.sleep(1.0)  # the last status writes reach the history; nothing changes after this
    return time.monotonic() - began


def expected_counts(kubeconfig: str) -> tuple[int, int, int]:
    """(workloads, pods, events) the ``bench`` environment shows, by the adapter's own grouping."""
    from adapters.kubernetes import KubernetesAdapter
    from console.model import Environment, EnvironmentKind

    adapter = KubernetesAdapter(Environment(ENV, EnvironmentKind.KUBERNETES, CONTEXT), kubeconfig=kubeconfig, context=CONTEXT)
    adapter.connect()
    try:
        snapshot = adapter.snapshot()
        events = len(adapter._json("/api/v1/events", {}).get("items") or [])
    finally:
        adapter.close()
    keys = {r.workload for r in snapshot.replicas} | {s.key for s in snapshot.specs or ()}
    return len(keys), len(snapshot.replicas), events


# --------------------------------------------------------------------------- runs


class Sample:
    """One spawned process: wall seconds until it reported, its CPU seconds, what it said."""

    def __init__(self, wall: float, cpu: float, report: dict | None = None, spawned: float = 0.0) -> None:
        report = report or {}
        self.wall = wall
        self.cpu = report.get("cpu_report", cpu)
        """CPU seconds until the report: the child's own count when it keeps running after it."""
        self.phases: dict[str, float] = {k: v - spawned for k, v in report.get("wall", {}).items()}
        """Seconds after the spawn when each phase ended."""
        self.phase_cpu: dict[str, float] = report.get("cpu", {})
        """The child's CPU seconds when each phase ended."""
        self.rss: int = report.get("rss", 0)
        self.rss_later: int = report.get("rss_later", 0)
        self.call: float = report.get("call", 0.0)
        self.raw: float = report.get("raw", 0.0)


def spawn_child(mode: str, args: list[str], profile: str | None = None) -> Sample:
    """Spawn this script as a child; time from spawn to its report, its CPU, what it reported."""
    import subprocess
    import tempfile
    import threading

    command = [sys.executable, str(Path(__file__).resolve()), mode, *args]
    if profile:
        command += ["--profile", profile]
    controller, terminal = _pseudo_terminal()
    try:
        with tempfile.TemporaryFile() as errors:
            cpu = _children_cpu()
            spawned = time.time()
            process = subprocess.Popen(command, stdin=terminal, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT)
            killer = threading.Timer(CHILD_TIMEOUT + RSS_LATER + 30, process.kill)
            killer.start()
            try:
                report: dict = {}
                reported = None
                for raw in process.stdout:  # type: ignore[union-attr]
                    word, _, rest = raw.decode(errors="replace").strip().partition(" ")
                    if word == "PHASES":
                        report.update(json.loads(rest))
                    elif word == "EXTRA":
                        report.update(json.loads(rest))
                    elif word == "RSS_LATER":
                        report["rss_later"] = int(rest)
                    elif word == "REPORT":
                        reported = float(rest)
                    elif word == "NO_FRAME":
                        raise RuntimeError(f"the child found no complete frame: {rest}")
                process.wait(timeout=30)
            finally:
                killer.cancel()
                if process.poll() is None:
                    process.kill()
                    process.wait()
            if reported is None:
                errors.seek(0)
                detail = errors.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"child {mode} exited {process.returncode} without a report:\n{detail}")
            used = _children_cpu() - cpu
    finally:
        os.close(controller)
        os.close(terminal)
    return Sample(reported - spawned, used, report, spawned)


# --------------------------------------------------------------------------- report


def machine(load_before: float) -> str:
    import platform
    from datetime import UTC, datetime
    from importlib.metadata import version

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        memory = int(info.readline().split()[1]) / 2**20
    return (
        f"machine: {os.cpu_count()} × {cpu}, {memory:.0f} GiB, Python {platform.python_version()}, "
        f"textual {version('textual')}, kubernetes client {version('kubernetes')}, aiohttp {version('aiohttp')} "
        f"(emulator, in the parent process), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f} (1 min, before → after)"
    )


def import_breakdown(statement: str, top: int = 5, runs: int = 3) -> list[str]:
    """``python -X importtime``: self times per module (median of ``runs``), summed per top-level package."""
    import statistics
    import subprocess

    seen: dict[str, list[int]] = {}
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, cwd=ROOT)
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            self_us, _, name = line.removeprefix("import time:").split("|")
            seen.setdefault(name.strip(), []).append(int(self_us))
    modules = {name: statistics.median(values) for name, values in seen.items()}
    packages: dict[str, float] = {}
    for name, us in modules.items():
        packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0) + us

    def ranked(table: dict[str, float]) -> str:
        best = sorted(table.items(), key=lambda item: item[1], reverse=True)[:top]
        return ", ".join(f"{name} {us / 1000:.0f}" for name, us in best) + " ms"

    return [
        f"  all imports: {sum(modules.values()) / 1000:.0f} ms (self times summed)",
        f"  by package:  {ranked(packages)}",
        f"  by module:   {ranked(modules)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=25, help="pods per Deployment")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--no-profile", action="store_true", help="skip the profile when a target is missed")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-import", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-floor-data", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--pods", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_bare:
        child_bare()
    if args.child_floor:
        child_floor(args.expect)
    if args.child_floor_data:
        child_floor_with_data(args.kubeconfig, args.expect, args.pods)
    if args.child_import:
        child_import_only()
    if args.child_baseline:
        child_baseline(args.kubeconfig, args.pods)
    if args.child:
        child_first_frame(args.kubeconfig, args.expect, args.pods, args.profile)

    import statistics
    import tempfile

    import shutil

    began = time.monotonic()
    emulator = build_cluster(args.deployments, args.replicas, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="wf-k8s-startup-"))
    try:
        waited = wait_settled(emulator, args.deployments, args.replicas)
        print(
            f"emulator: {args.deployments} Deployments × {args.replicas} replicas created and settled "
            f"in {time.monotonic() - began:.1f} s ({waited:.1f} s waiting for the controller)",
            file=sys.stderr,
            flush=True,
        )
        kubeconfig = str(emulator.kubeconfig(workdir / "kubeconfig", context_name=CONTEXT))
        workloads, pods, events = expected_counts(kubeconfig)
        if pods != args.deployments * args.replicas:
            raise RuntimeError(f"the adapter sees {pods} pods, not {args.deployments * args.replicas}")
        child_args = ["--kubeconfig", kubeconfig, "--expect", str(workloads), "--pods", str(pods)]
        load_before = os.getloadavg()[0]

        # Warm-up (page cache, .pyc files, the emulator's first requests): not counted.
        spawn_child("--child-baseline", child_args)
        spawn_child("--child-import", child_args)
        spawn_child("--child", child_args)

        kinds = ("baseline", "frame", "import", "bare", "floor", "floor_data")
        samples: dict[str, list[Sample]] = {kind: [] for kind in kinds}
        modes = {
            "baseline": "--child-baseline",
            "frame": "--child",
            "import": "--child-import",
            "bare": "--child-bare",
            "floor": "--child-floor",
            "floor_data": "--child-floor-data",
        }
        for run in range(args.runs):
            order = list(kinds)
            for kind in order[run % len(order) :] + order[: run % len(order)]:
                samples[kind].append(spawn_child(modes[kind], child_args))
            print(
                f"  run {run + 1}/{args.runs}: "
                + ", ".join(f"{kind} {values[-1].wall * 1000:.0f} ms" for kind, values in samples.items()),
                file=sys.stderr,
                flush=True,
            )

        def column(kind: str, field: str) -> list[float]:
            return [getattr(s, field) for s in samples[kind]]

        base = statistics.median(column("baseline", "wall"))
        frame = statistics.median(column("frame", "wall"))
        import_median = statistics.median(column("import", "wall"))
        import_cpu = statistics.median(column("import", "cpu"))
        ratio = frame / base
        rss = statistics.median(column("frame", "rss")) / 2**20
        rss_later = statistics.median(column("frame", "rss_later")) / 2**20

        def row(label: str, walls: list[float], cpus: list[float] | None) -> str:
            median = statistics.median(walls)
            used = f"{statistics.median(cpus) * 1000:>8.0f}" if cpus is not None else f"{'-':>8}"
            return (
                f"{label:<46}{median * 1000:>8.0f}{min(walls) * 1000:>8.0f}{max(walls) * 1000:>8.0f}"
                f"{median / base:>8.2f}×{used}"
            )

        print(
            f"k8s_startup_5000: spawn → first complete frame, {pods} pods in {workloads} workloads "
            f"({args.deployments} Deployments × {args.replicas}, {NAMESPACES} namespaces, {events} Events), "
            f"terminal {SIZE[0]}x{SIZE[1]} headless, median of {args.runs} runs"
        )
        print(
            "cluster: embedded emulator in this process, controller on (time_scale 0.05), objects written by its "
            "controllers and kubelet, settled (no changes during the runs)"
        )
        print("baseline: fresh process, `import kubernetes`, kubeconfig, CoreV1Api(api_client).list_pod_for_all_namespaces()")
        print(machine(load_before))
        print()
        print(f"{'(ms)':<46}{'median':>8}{'min':>8}{'max':>8}{'÷ base':>9}{'CPU':>8}")
        print(row("official client list + decode (baseline)", column("baseline", "wall"), column("baseline", "cpu")))
        print(row("  of which the call alone (in-process)", column("baseline", "call"), None))
        print(row("  same list as raw JSON (json.loads), in-proc.", column("baseline", "raw"), None))
        print(row("watchfloor first complete frame", column("frame", "wall"), column("frame", "cpu")))
        print(row("  python start only", column("bare", "wall"), column("bare", "cpu")))
        print(row("  python + imports (console.app, adapter)", column("import", "wall"), column("import", "cpu")))
        print(
            row(
                "  first frame − median import-only",
                [w - import_median for w in column("frame", "wall")],
                [c - import_cpu for c in column("frame", "cpu")],
            )
        )
        print(row(f"reference: bare Textual app, {workloads}-row table", column("floor", "wall"), column("floor", "cpu")))
        print(row("  + urllib3 list and json.loads of the pods", column("floor_data", "wall"), column("floor_data", "cpu")))
        floor = statistics.median(column("floor_data", "wall"))
        print(
            f"  first frame − that floor: {(frame - floor) * 1000:.0f} ms "
            f"({frame / floor:.2f}× the floor)"
        )
        print()
        base_rss = statistics.median(column("baseline", "rss")) / 2**20
        print(f"{'RSS (MiB)':<46}{'median':>8}{'min':>8}{'max':>8}")
        for label, kind, field in (
            ("watchfloor at the first complete frame", "frame", "rss"),
            (f"watchfloor {RSS_LATER:.0f} s later (watching, metrics polled)", "frame", "rss_later"),
            ("python + imports only (no data)", "import", "rss"),
            ("baseline with 5,000 V1Pod models held", "baseline", "rss"),
        ):
            values = [v / 2**20 for v in column(kind, field)]
            print(f"{label:<46}{statistics.median(values):>8.0f}{min(values):>8.0f}{max(values):>8.0f}")
        print()
        verdicts = [
            (f"first frame ≤ {TARGET_RATIO}× baseline", ratio <= TARGET_RATIO, f"{ratio:.2f}×"),
            (f"first frame < {TARGET_SECONDS:.0f} s", frame < TARGET_SECONDS, f"{frame * 1000:.0f} ms"),
            (f"RSS at {pods:,} pods ≤ {TARGET_RSS_BYTES / 1e6:.0f} MB", max(rss, rss_later) * 2**20 <= TARGET_RSS_BYTES,
             f"{rss * 2**20 / 1e6:.0f} MB at the frame, {rss_later * 2**20 / 1e6:.0f} MB {RSS_LATER:.0f} s later"),
        ]
        for label, met, value in verdicts:
            print(f"target: {label} — {'met' if met else 'MISSED'} ({value})")
        print()
        print("where the time goes (reported by the child, median ms after the spawn; Δ = since the line above):")
        print(f"  {'phase ended':<46}{'wall':>7}{'Δ':>7}{'CPU':>8}{'Δ':>7}")
        medians = []
        for key, label in PHASES:
            walls = [s.phases[key] for s in samples["frame"] if key in s.phases]
            cpus = [s.phase_cpu[key] for s in samples["frame"] if key in s.phase_cpu]
            if walls and cpus:
                medians.append((statistics.median(walls) * 1000, statistics.median(cpus) * 1000, label))
        previous_wall = previous_cpu = 0.0
        for wall, used, label in sorted(medians):
            print(f"  {label:<46}{wall:>7.0f}{wall - previous_wall:>7.0f}{used:>8.0f}{used - previous_cpu:>7.0f}")
            previous_wall, previous_cpu = wall, used
        print("  (UI and watch thread run side by side: CPU is the whole process's, both threads)")
        print()
        statement = "import console.app; import adapters.kubernetes"
        print(f"import time (python -X importtime -c '{statement}', median of 3):")
        print("\n".join(import_breakdown(statement)))

        missed = not all(met for _, met, _ in verdicts)
        if missed and not args.no_profile:
            tool = "pyinstrument"
            try:
                import pyinstrument  # noqa: F401
            except ImportError:
                tool = "cProfile"
            report = str(Path(tempfile.gettempdir()) / f"k8s_startup_5000.{tool}.txt")
            profiled = spawn_child("--child", child_args, profile=report)
            print()
            print(
                f"profile of one more child ({tool}, {profiled.wall * 1000:.0f} ms to the frame with the profilers on; "
                f"full reports {report} and {report}.watch):"
            )
            print(" main (UI) thread, start → frame:")
            print("\n".join(profile_summary(report)))
            if Path(report + ".watch.json").exists():
                print(" watch thread, its start → connected:")
                print("\n".join(profile_summary(report + ".watch")))
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
