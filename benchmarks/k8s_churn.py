"""Benchmark: the console under 200 pod changes/s, against the official client's watch.

The issue: "200 pod changes/s for 60 s: input latency p95 ≤ 50 ms, CPU ≤ 25% of one
core."

Cluster: the embedded emulator (``adapters.demo.emulator``) in this process with its
control plane off (``controller=False``), so the only changes are the benchmark's: 40
Deployments of 25 pods in four namespaces (``team-00`` … ``team-03``), each with its
ReplicaSet, written directly with the status a settled cluster has (Deployments 25/25
available, pods Running and Ready). A kubeconfig (context ``bench``) points at it.

Churn: a driver thread in this process changes ``--rate`` pods a second (200) through
the pods' ``status`` subresource (a merge patch of the whole status, as a kubelet
writes it), four every 20 ms, visiting the pods in a fixed shuffled order. Each change
adds one to the container's ``restartCount`` (with ``lastState.terminated`` filled
in) and sets the ``Ready`` and ``ContainersReady`` conditions to False on every fourth
restart of that pod and to True otherwise, so about a quarter of the pods are not
Ready at any time and health, ready counts, restarts and reasons all move.

Measured, per run, over a window of ``--seconds`` (60) after 2 s of churn:

- **watchfloor**: a fresh child process (this script with ``--child-app``) runs
  ``WatchfloorApp`` headless at 160x48 against the emulator, its backends built the
  way the console builds a ``kind: kubernetes`` environment; every paint is encoded to
  terminal text, as a terminal driver would (the headless driver skips it). While the
  churn runs, a "keyboard" thread in the child posts a key through the driver
  (``down`` down the workload table, then ``up`` back, and so on), 100 ms after the
  previous one or as soon as the previous one was handled if that took longer, and
  measures **key latency** from posting the event to the table's cursor action having
  run (and, for reference, to the first paint after that action). Moving the cursor
  is what an operator does, so it brings its real consequences: the detail pane
  follows the selection (at once for a lone move, with the table's next repaint while
  the keys run) and the selected workload's log tail opens once the cursor rests;
- **CPU**: user+system time of the whole child (every thread: UI, watch threads, the
  metrics poller) over the window, from ``/proc/<pid>/stat``, as a percentage of one
  core; the child also reports each thread's share (``/proc/self/task``) and the time
  its garbage collections took (``gc.callbacks``: CPU of the thread that collected, part
  of the process's CPU, and the longest pause, which stops every thread);
- **staleness**: from the moment the driver's patch returned in the emulator to the
  moment the change is in the console's store (the watch thread applied it) and on
  screen (a paint after the tick that put it in the table), p50/p95, over every
  change made in the window (``Rst`` is the workload's restart total, so each change
  is identifiable there);
- **baseline**: in the same window and churn, a second child runs the official
  client's ``watch.Watch().stream(CoreV1Api.list_pod_for_all_namespaces)``, decoding
  every event into ``V1Pod`` models and doing nothing else: its CPU and its
  staleness (patch → event decoded). The ratio printed is watchfloor CPU / raw watch
  CPU.

Both children run at the same time on the same churn, so they also compete with each
other and with the emulator for the machine's cores; the emulator's and driver's own
CPU (this process) is printed too. Each figure is the median over ``--runs`` runs
(each with fresh children; the cluster is reused). When a target is missed, one more
shorter run (15 s, no baseline) profiles the child's UI thread and watch worker with
pyinstrument. The children's plumbing (pseudo-terminal, report lines) and the profile
summaries are imported from ``startup_500.py`` beside this file.

Usage::

    .venv/bin/python benchmarks/k8s_churn.py [--seconds 60] [--rate 200] [--pods 1000] [--runs 3] [--no-tail]

``--no-tail`` is a diagnostic: the child never opens the main screen's log tail of the
selected workload (``MainScreen._open_tail`` does nothing), which separates what the
tail's streams cost the keyboard from what the churn itself costs.
"""

# The children import the console; the module level stays cheap and shared.
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from startup_500 import SIZE, _emit, _pseudo_terminal  # noqa: E402 - beside this file, found through HERE

ENV = "bench"
CONTEXT = "bench"
NAMESPACES = 4
PODS_PER_DEPLOYMENT = 25
KEY_INTERVAL = 0.1
KEY_TIMEOUT = 10.0
"""A key not handled within this long counts as this long (a lower bound) and the next is pressed."""
WARM_UP = 2.0
"""Seconds of churn before the window opens (watch streams, caches and the first ticks settle)."""
DRIVER_STEP = 0.02
GRACE = 3.0
"""Seconds the children keep noting what arrives after the window, for the changes made late in it."""
PROFILE_SECONDS = 15.0
"""Window of the extra, profiled run when a target is missed."""
TARGET_P95_MS = 50.0
TARGET_CPU_PERCENT = 25.0
READY_TIMEOUT = 60.0
T0 = "2026-11-25T08:00:00Z"
"""Creation and start time of every object: a cluster that has been up for a while."""


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _control_lines(fd: int, handlers: dict) -> None:
    """Read commands (``start``, ``end``, ``stop``) from the parent's pipe and run their handlers."""
    with os.fdopen(fd, "r") as control:
        for line in control:
            handler = handlers.get(line.strip())
            if handler is not None:
                handler()


def _thread_cpu() -> dict[int, float]:
    """CPU seconds of each thread of this process, by native thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return times


# --------------------------------------------------------------------------- children


def child_app(kubeconfig: str, workloads: int, pods: int, control_fd: int, out: str, profile: str | None, no_tail: bool) -> None:
    """The console headless against the emulator, a keyboard, and notes of what reached the store and the screen."""
    from textual import events
    from textual.worker import get_current_worker

    from console.app import WatchfloorApp
    from console.backends import Backend, backends_for
    from console.config import Config, KubernetesEnvironmentConfig
    from console.store import Store
    from screens.main import MainScreen
    from widgets.workload_table import WorkloadTable

    if no_tail:
        # Diagnostic (--no-tail): the selected workload's log tail is never opened.
        MainScreen._open_tail = lambda self: None
    config = Config(
        environments=[KubernetesEnvironmentConfig(kind="kubernetes", name=ENV, kubeconfig=kubeconfig, context=CONTEXT)]
    )
    thread_roles: dict[int, str] = {threading.main_thread().native_id: "UI (main thread)"}
    """Native thread id → what the thread does, for the CPU breakdown."""

    def labelled(backend: Backend) -> Backend:
        def make_adapter():
            try:
                group = get_current_worker().group
            except Exception:  # noqa: BLE001 - not in a worker
                group = "other"
            thread_roles.setdefault(threading.get_native_id(), {"watch": "watch worker (adapter → store)", "stats": "metrics poller"}.get(group, group))
            return backend.make_adapter()

        return Backend(backend.environment, make_adapter)

    backends = [labelled(b) for b in backends_for(config)]
    recording = threading.Event()
    stored: list[tuple[str, int, float]] = []
    """(pod name, restart count, time.time()) as each pod change reached the store."""
    shown: list[tuple[str, int, float]] = []
    """(namespace/workload, restart total, time.time()) as each workload change was painted."""
    latencies: list[float] = []
    painted_latencies: list[float] = []
    gc_pauses: list[tuple[float, float]] = []
    """(wall seconds, CPU seconds of the collecting thread) of each garbage collection in
    the window: a collection stops every thread, and runs in whichever one triggered it."""
    gc_began = [0.0, 0.0]

    def note_gc(phase: str, _info: dict) -> None:
        if phase == "start":
            gc_began[:] = time.perf_counter(), time.thread_time()
        elif recording.is_set():
            gc_pauses.append((time.perf_counter() - gc_began[0], time.thread_time() - gc_began[1]))

    import gc

    gc.callbacks.append(note_gc)
    profiling: dict = {"want": False, "watch": None, "watch_done": False, "ui": None}
    """The profile run's profilers; ``want`` follows the parent's start/stop."""

    class NotingStore(Store):
        def apply_many(self, changes) -> None:
            changes = tuple(changes)
            super().apply_many(changes)
            now = time.time()
            for change in changes:
                replica = getattr(change, "replica", None)
                if replica is not None:
                    stored.append((replica.name, replica.restarts, now))
            if profile:
                _profile_watch_thread()

    def _profile_watch_thread() -> None:
        # pyinstrument profiles the thread that starts it: start and stop it here, in the
        # watch thread, when the parent's start/stop has flipped the flag.
        if profiling["watch_done"]:
            return
        if profiling["want"] and profiling["watch"] is None:
            profiling["watch"] = _start_thread_profiler()
        elif not profiling["want"] and profiling["watch"] is not None:
            _save_profile(profiling["watch"], profile + ".watch")  # type: ignore[operator]
            profiling["watch_done"] = True

    store = NotingStore(b.environment for b in backends)
    posts: list[float] = []
    """``perf_counter()`` when each key was posted, in order."""
    actions: list[float] = []
    """``perf_counter()`` when each key's cursor action had run, in order."""
    key_done = threading.Event()
    awaiting_paint: list[int] = []
    """Keys (by index) whose action has run and that no paint has shown yet."""

    class ChurnApp(WatchfloorApp):
        ready_sent = False

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.pending: dict = {}
            """Workload → restart total the table got at a tick, not yet painted."""

        def tick(self):
            delta = super().tick()
            screen = self.screen
            if isinstance(screen, MainScreen) and screen.is_mounted:
                table = screen.query_one(WorkloadTable)
                for key in delta.workloads:
                    row = table._rows.get(key)
                    if row is not None:
                        self.pending[key] = row.workload.restarts
                if not self.ready_sent and self._shows_everything(screen, table):
                    self.ready_sent = True
                    self._hook_keys(table)
                    _emit("READY\n")
            return delta

        def _shows_everything(self, screen, table) -> bool:
            if not self.store.connection(ENV).connected or screen.query_one("#env-banner").display:
                return False
            # Not "every pod Ready": a later run starts on a cluster the churn left a quarter unready.
            return table.row_count == workloads and len(self.store.all_replicas()) == pods

        def _hook_keys(self, table) -> None:
            # Instance attributes shadow the methods, so the key bindings call these.
            for name in ("action_cursor_down", "action_cursor_up"):
                original = getattr(table, name)

                def timed(original=original) -> None:
                    original()
                    actions.append(time.perf_counter())
                    awaiting_paint.append(len(actions) - 1)
                    key_done.set()

                setattr(table, name, timed)

        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            if renderable is None or self._batch_count:
                return
            render = getattr(renderable, "render_segments", None)
            if render is not None and self.is_headless:
                render(self.console)
            if awaiting_paint:
                now = time.perf_counter()
                if recording.is_set():
                    painted_latencies.extend(now - posts[index] for index in awaiting_paint)
                awaiting_paint.clear()
            if self.pending:
                now = time.time()
                for key, restarts in self.pending.items():
                    shown.append((f"{key.group}/{key.name}", restarts, now))
                self.pending = {}

    app = ChurnApp(backends, store=store)

    def keyboard() -> None:
        recording.wait()
        step, direction, pressed = 0, "down", len(actions)
        next_press = time.perf_counter()
        while recording.is_set():
            delay = next_press - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if not recording.is_set():
                break
            key_done.clear()
            posted = time.perf_counter()
            posts.append(posted)
            app._driver.send_message(events.Key(direction, None))
            pressed += 1
            # Wait for this key's action (not a late one of an earlier key), however long.
            deadline = posted + KEY_TIMEOUT
            while len(actions) < pressed and time.perf_counter() < deadline:
                key_done.wait(max(0.0, deadline - time.perf_counter()))
                key_done.clear()
            if recording.is_set():
                latencies.append(actions[pressed - 1] - posted if len(actions) >= pressed else KEY_TIMEOUT)
            step += 1
            if step % (workloads - 1) == 0:
                direction = "up" if direction == "down" else "down"
            next_press = max(next_press + KEY_INTERVAL, time.perf_counter())

    cpu_at_start: dict[int, float] = {}
    process_at_start = [0.0]

    def start_ui_profiler() -> None:
        profiling["ui"] = _start_thread_profiler()

    def start() -> None:
        cpu_at_start.update(_thread_cpu())
        process_at_start[0] = sum(os.times()[:2])
        if profile:
            profiling["want"] = True
            app.call_from_thread(start_ui_profiler)
        recording.set()

    window: dict = {"threads": {}}

    def end() -> None:
        """The window is over: stop the keyboard, take each thread's CPU, save the profiles."""
        recording.clear()
        cpu_at_end = _thread_cpu()
        process_used = sum(os.times()[:2]) - process_at_start[0]
        names = {t.native_id: t.name for t in threading.enumerate()}
        per_thread: dict[str, float] = {}
        for tid, seconds in cpu_at_end.items():
            used = seconds - cpu_at_start.get(tid, 0.0)
            role = thread_roles.get(tid) or _role_from_name(names.get(tid, "exited thread"))
            per_thread[role] = per_thread.get(role, 0.0) + used
        # Threads that ended inside the window (log tails, connection helpers) are gone
        # from /proc/self/task; the process total still holds their time.
        per_thread["threads that ended in the window"] = max(0.0, process_used - sum(per_thread.values()))
        window["threads"] = per_thread
        if profile:
            profiling["want"] = False  # the watch thread saves its profile at its next change
            ui_profiler = profiling["ui"]
            if ui_profiler:
                app.call_from_thread(lambda: _save_profile(ui_profiler, profile))
        _emit("ENDED\n")

    def stop() -> None:
        """The grace period is over too: hand over what was noted, exit."""
        result = {
            "latencies": list(latencies),
            "painted": list(painted_latencies),
            "stored": list(stored),
            "shown": list(shown),
            "threads": window["threads"],
            "gc": list(gc_pauses),
        }
        Path(out).write_text(json.dumps(result))
        _emit("DONE\n")
        os._exit(0)

    threading.Thread(target=_control_lines, args=(control_fd, {"start": start, "end": end, "stop": stop}), daemon=True).start()
    threading.Thread(target=keyboard, name="keyboard", daemon=True).start()
    app.run(headless=True, size=SIZE)
    _emit("GONE the app exited\n")
    os._exit(4)


def _role_from_name(name: str) -> str:
    if name.startswith(f"watch-{ENV}-"):
        return f"watch stream: {name.removeprefix(f'watch-{ENV}-')}"
    if name.startswith("logs-"):
        return "log tail streams (selected workload)"
    if name.startswith("ThreadPoolExecutor"):
        return "other worker threads"
    return name


def _start_thread_profiler():
    from pyinstrument import Profiler

    # async_mode disabled: profile the whole thread, not one task's context.
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    return profiler


def _save_profile(profiler, path: str) -> None:
    from startup_500 import _stop_profiler

    _stop_profiler(profiler, path)


def child_watch(kubeconfig: str, pods: int, control_fd: int, out: str) -> None:
    """The baseline: the official client's watch of every pod, decoded into models, nothing else."""
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(config_file=kubeconfig, context=CONTEXT)
    core = client.CoreV1Api(api_client)
    seen: list[tuple[str, int, float]] = []
    recording = threading.Event()

    def stop() -> None:
        Path(out).write_text(json.dumps({"seen": list(seen)}))
        _emit("DONE\n")
        os._exit(0)

    threading.Thread(target=_control_lines, args=(control_fd, {"start": recording.set, "stop": stop}), daemon=True).start()
    count = 0
    for event in watch.Watch().stream(core.list_pod_for_all_namespaces, timeout_seconds=3600):
        count += 1
        if count == pods:
            _emit("READY\n")
        elif count > pods:
            pod = event["object"]
            statuses = pod.status.container_statuses or []
            seen.append((pod.metadata.name, statuses[0].restart_count if statuses else 0, time.time()))
    _emit("GONE the watch ended\n")
    os._exit(4)


# --------------------------------------------------------------------------- cluster


def build_cluster(deployments: int, seed: int):
    """The emulator without a control plane, holding a settled cluster written directly."""
    import random

    from adapters.demo.emulator import KubernetesEmulator
    from adapters.demo.resources import DEPLOYMENTS, NAMESPACES as NAMESPACE_RT, PODS, REPLICASETS

    emulator = KubernetesEmulator(seed=seed, controller=False)
    emulator.start()
    replicas = PODS_PER_DEPLOYMENT
    rng = random.Random(seed)

    def create_all() -> list[dict]:
        store = emulator.store
        assert store is not None
        made = []
        for number in range(NAMESPACES):
            store.create(NAMESPACE_RT, {"metadata": {"name": f"team-{number:02d}"}})
        for number in range(deployments):
            namespace, name = f"team-{number % NAMESPACES:02d}", f"svc-{number:03d}"
            image = f"registry.bench/{name}:1.{number % 7}.{number % 3}"
            pod_hash = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(10))
            labels = {"app": name, "app.kubernetes.io/part-of": "bench"}
            template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": image}]}}
            full = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "updatedReplicas": replicas}
            deployment = store.create(
                DEPLOYMENTS,
                {
                    "metadata": {"name": name, "labels": labels, "annotations": {"deployment.kubernetes.io/revision": "1"}},
                    "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
                    "status": {
                        **full,
                        "observedGeneration": 1,
                        "conditions": [
                            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                        ],
                    },
                },
                namespace,
            )
            rs_labels = {**labels, "pod-template-hash": pod_hash}
            replicaset = store.create(
                REPLICASETS,
                {
                    "metadata": {
                        "name": f"{name}-{pod_hash}",
                        "labels": rs_labels,
                        "annotations": {"deployment.kubernetes.io/revision": "1"},
                        "ownerReferences": [_owner(deployment)],
                    },
                    "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": {"app": name, "pod-template-hash": pod_hash}},
                        "template": {**template, "metadata": {"labels": rs_labels}},
                    },
                    "status": {**full, "fullyLabeledReplicas": replicas, "observedGeneration": 1},
                },
                namespace,
            )
            for index in range(replicas):
                pod_name = f"{name}-{pod_hash}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
                store.create(
                    PODS,
                    {
                        "metadata": {"name": pod_name, "labels": rs_labels, "ownerReferences": [_owner(replicaset)]},
                        "spec": {"containers": [{"name": "main", "image": image}], "nodeName": f"demo-node-{index % 3 + 1}"},
                        "status": pod_status(image, pod_name, 0, True),
                    },
                    namespace,
                )
                made.append({"namespace": namespace, "name": pod_name, "workload": f"{namespace}/{name}", "image": image})
        return made

    return emulator, emulator.call(create_all)


def _owner(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_status(image: str, name: str, restarts: int, ready: bool) -> dict:
    """A Running pod's status as a kubelet writes it, after ``restarts`` restarts."""
    flag = "True" if ready else "False"
    container = {
        "name": "main",
        "state": {"running": {"startedAt": T0}},
        "lastState": {},
        "ready": ready,
        "restartCount": restarts,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
        "started": True,
        "containerID": f"containerd://{hashlib.sha256(f'{name}/{restarts}'.encode()).hexdigest()}",
    }
    if restarts:
        container["lastState"] = {
            "terminated": {"exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T0, "containerID": f"containerd://{restarts:064x}"}
        }
    return {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": T0},
            {"type": "Ready", "status": flag, "lastTransitionTime": T0},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": T0},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": T0},
        ],
        "hostIP": "172.18.0.2",
        "podIP": "10.244.1.10",
        "startTime": T0,
        "qosClass": "BestEffort",
        "containerStatuses": [container],
    }


class Churn:
    """What the churn has done so far, kept across runs (restart counts only grow).

    Attributes:
        changes: ``(pod, restarts, workload, workload restart total, time.time())`` of
            every change, taken in the emulator's loop just after the write.
    """

    def __init__(self, pods: list[dict], seed: int) -> None:
        import random

        self.order = list(pods)
        random.Random(seed).shuffle(self.order)
        self.restarts = {p["name"]: 0 for p in pods}
        self.totals = {p["workload"]: 0 for p in pods}
        self.changes: list[tuple[str, int, str, int, float]] = []
        self.failures = 0
        self.next = 0


class Driver(threading.Thread):
    """Changes ``rate`` pods a second through the status subresource until halted."""

    def __init__(self, emulator, churn: Churn, rate: float) -> None:
        super().__init__(name="churn-driver", daemon=True)
        self.emulator = emulator
        self.churn = churn
        self.rate = rate
        self._halt = threading.Event()

    def run(self) -> None:
        from adapters.demo.resources import PODS
        from adapters.demo.store import ApiError

        store = self.emulator.store
        churn = self.churn

        def apply(batch: list[dict]) -> None:
            for pod in batch:
                restarts = churn.restarts[pod["name"]] + 1
                status = pod_status(pod["image"], pod["name"], restarts, ready=restarts % 4 != 0)
                try:
                    store.patch(PODS, pod["namespace"], pod["name"], "application/merge-patch+json", {"status": status}, subresource="status")
                except ApiError:
                    churn.failures += 1
                    continue
                churn.restarts[pod["name"]] = restarts
                churn.totals[pod["workload"]] += 1
                churn.changes.append((pod["name"], restarts, pod["workload"], churn.totals[pod["workload"]], time.time()))

        began = time.monotonic()
        done = 0
        while not self._halt.is_set():
            due = int((time.monotonic() - began) * self.rate) - done
            if due > 0:
                batch = [churn.order[(churn.next + i) % len(churn.order)] for i in range(due)]
                churn.next += due
                done += due
                self.emulator.call(apply, batch)
            self._halt.wait(DRIVER_STEP)

    def halt(self) -> None:
        self._halt.set()
        if self.ident is not None:
            self.join(10)


# --------------------------------------------------------------------------- runs


def process_cpu(pid: int) -> float:
    """User+system CPU seconds of every thread of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Child:
    """A spawned child with a control pipe and a results file."""

    def __init__(self, mode: str, args: list[str], out: Path, profile: str | None = None) -> None:
        import subprocess
        import tempfile

        self.out = out
        read_end, self._control = os.pipe()
        self._pty = _pseudo_terminal()
        self._errors = tempfile.TemporaryFile()
        command = [sys.executable, str(Path(__file__).resolve()), mode, *args, "--control-fd", str(read_end), "--out", str(out)]
        if profile:
            command += ["--profile", profile]
        self.process = subprocess.Popen(
            command, stdin=self._pty[1], stdout=subprocess.PIPE, stderr=self._errors, cwd=ROOT, pass_fds=(read_end,)
        )
        os.close(read_end)

    def expect(self, word: str, timeout: float) -> None:
        import select

        stdout = self.process.stdout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = stdout.readline().decode(errors="replace").strip()  # type: ignore[union-attr]
            if not line:
                break
            if line.split(" ", 1)[0] == word:
                return
        self.kill()
        self._errors.seek(0)
        detail = self._errors.read().decode(errors="replace")[-3000:]
        raise RuntimeError(f"{self.process.args[2]}: no {word} within {timeout:.0f} s (exit {self.process.poll()}):\n{detail}")

    def send(self, command: str) -> None:
        os.write(self._control, f"{command}\n".encode())

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def finish(self) -> dict:
        self.send("stop")
        self.expect("DONE", 30)
        self.process.wait(timeout=30)
        self.close()
        return json.loads(self.out.read_text())

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.close()

    def close(self) -> None:
        for fd in (self._control, *self._pty):
            try:
                os.close(fd)
            except OSError:
                pass


def staleness(patched: list[tuple[str, int, float]], observed: list[tuple[str, int, float]]) -> tuple[list[float], int]:
    """Seconds from each patch to the first observation of its value or a later one, and how many were never seen.

    ``patched`` and ``observed`` hold ``(identity, counter, time)``; counters only grow
    per identity, so an observation of ``n`` shows every change up to ``n``.
    """
    seen: dict[str, list[tuple[int, float]]] = {}
    for identity, counter, when in observed:
        seen.setdefault(identity, []).append((counter, when))
    delays, missing = [], 0
    cursor: dict[str, int] = {}
    for identity, counter, when in sorted(patched, key=lambda item: item[1]):
        history = seen.get(identity, [])
        index = cursor.get(identity, 0)
        while index < len(history) and history[index][0] < counter:
            index += 1
        cursor[identity] = index
        if index < len(history):
            delays.append(history[index][1] - when)
        else:
            missing += 1
    return delays, missing


def one_run(
    emulator,
    churn: Churn,
    rate: float,
    kubeconfig: str,
    workloads: int,
    pods: int,
    seconds: float,
    workdir: Path,
    number: int,
    profile: str | None = None,
    no_tail: bool = False,
) -> dict:
    """Start both children, churn, measure the window; returns the run's figures."""
    import resource

    common = ["--kubeconfig", kubeconfig, "--expect", str(workloads), "--pods", str(pods)]
    app = Child("--child-app", common + (["--no-tail"] if no_tail else []), workdir / f"app-{number}.json", profile)
    watcher = None
    driver = Driver(emulator, churn, rate)
    try:
        app.expect("READY", READY_TIMEOUT)
        if profile is None:
            watcher = Child("--child-watch", common, workdir / f"watch-{number}.json")
            watcher.expect("READY", READY_TIMEOUT)
        driver.start()
        time.sleep(WARM_UP)
        window_start = time.time()
        first_change = len(churn.changes)
        app_cpu, watch_cpu = app.cpu(), watcher.cpu() if watcher else 0.0
        own = resource.getrusage(resource.RUSAGE_SELF)
        app.send("start")
        if watcher:
            watcher.send("start")
        time.sleep(seconds)
        elapsed = time.time() - window_start
        app_used = app.cpu() - app_cpu
        watch_used = (watcher.cpu() - watch_cpu) if watcher else 0.0
        own_now = resource.getrusage(resource.RUSAGE_SELF)
        window_changes = churn.changes[first_change:]
        app.send("end")
        app.expect("ENDED", 300 if profile else 30)
        # Changes made late in the window reach the store and the screen after it ends:
        # the children keep noting them for a grace period before "stop".
        time.sleep(GRACE)
        app_result = app.finish()
        watch_result = watcher.finish() if watcher else {"seen": []}
    except BaseException:
        app.kill()
        if watcher:
            watcher.kill()
        raise
    finally:
        driver.halt()
    per_pod = [(name, restarts, when) for name, restarts, _, _, when in window_changes]
    per_workload = [(workload, total, when) for _, _, workload, total, when in window_changes]
    store_delays, store_missing = staleness(per_pod, app_result["stored"])
    screen_delays, screen_missing = staleness(per_workload, app_result["shown"])
    watch_delays, watch_missing = staleness(per_pod, [tuple(x) for x in watch_result["seen"]])
    return {
        "seconds": elapsed,
        "changes": len(window_changes),
        "app_cpu": app_used / elapsed * 100,
        "watch_cpu": watch_used / elapsed * 100,
        "own_cpu": (own_now.ru_utime + own_now.ru_stime - own.ru_utime - own.ru_stime) / elapsed * 100,
        "latencies": app_result["latencies"],
        "painted": app_result["painted"],
        "threads": {role: used / elapsed * 100 for role, used in app_result["threads"].items()},
        "gc": app_result["gc"],
        "store": store_delays,
        "store_missing": store_missing,
        "screen": screen_delays,
        "screen_missing": screen_missing,
        "watch": watch_delays,
        "watch_missing": watch_missing,
    }


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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured window")
    parser.add_argument("--rate", type=float, default=200.0, help="pod changes per second")
    parser.add_argument("--pods", type=int, default=1000, help="pods in the cluster (25 per Deployment)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=200)
    parser.add_argument("--no-profile", action="store_true", help="skip the profile when a target is missed")
    parser.add_argument(
        "--no-tail", action="store_true", help="diagnostic: never open the main screen's log tail of the selected workload"
    )
    parser.add_argument("--child-app", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-watch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--control-fd", type=int, default=-1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_app:
        child_app(args.kubeconfig, args.expect, args.pods, args.control_fd, args.out, args.profile, args.no_tail)
    if args.child_watch:
        child_watch(args.kubeconfig, args.pods, args.control_fd, args.out)

    import statistics
    import tempfile

    import shutil

    deployments = max(1, args.pods // PODS_PER_DEPLOYMENT)
    emulator, pods = build_cluster(deployments, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="wf-k8s-churn-"))
    try:
        kubeconfig = str(emulator.kubeconfig(workdir / "kubeconfig", context_name=CONTEXT))
        churn = Churn(pods, args.seed)
        load_before = os.getloadavg()[0]
        runs = []
        for number in range(args.runs):
            runs.append(
                one_run(emulator, churn, args.rate, kubeconfig, deployments, len(pods), args.seconds, workdir, number, no_tail=args.no_tail)
            )
            run = runs[-1]
            print(
                f"  run {number + 1}/{args.runs}: {run['changes'] / run['seconds']:.0f} changes/s, "
                f"key p95 {_percentile(run['latencies'], 0.95) * 1000:.1f} ms, "
                f"CPU {run['app_cpu']:.1f}% (raw watch {run['watch_cpu']:.1f}%)",
                file=sys.stderr,
                flush=True,
            )

        def median_of(metric) -> float:
            return statistics.median(metric(run) for run in runs)

        def ms(values: list[float], fraction: float) -> float:
            return _percentile(values, fraction) * 1000

        app_cpu = median_of(lambda r: r["app_cpu"])
        watch_cpu = median_of(lambda r: r["watch_cpu"])
        key_p50 = median_of(lambda r: ms(r["latencies"], 0.5))
        key_p95 = median_of(lambda r: ms(r["latencies"], 0.95))
        print(
            f"k8s_churn: {args.rate:.0f} pod changes/s (status subresource: restartCount +1, Ready flipped on every "
            f"4th restart) over {len(pods)} pods in {deployments} Deployments, window {args.seconds:.0f} s after "
            f"{WARM_UP:.0f} s of churn, terminal {SIZE[0]}x{SIZE[1]} headless (paints encoded), a key every "
            f"{KEY_INTERVAL * 1000:.0f} ms; median of {args.runs} runs"
        )
        print(
            "cluster: embedded emulator in this process, controller off, metrics.k8s.io on; "
            "baseline: watch.Watch().stream(CoreV1Api.list_pod_for_all_namespaces) in a child, same window"
        )
        if args.no_tail:
            print("DIAGNOSTIC RUN (--no-tail): the main screen's log tail of the selected workload is never opened")
        print(machine(load_before))
        print()

        def line(label: str, ours: float, theirs: float | None = None) -> None:
            if theirs is None:
                print(f"{label:<46}{ours:>12.1f}{'-':>12}{'-':>9}")
            else:
                ratio = ours / theirs if theirs else float("nan")
                print(f"{label:<46}{ours:>12.1f}{theirs:>12.1f}{ratio:>8.2f}×")

        print(f"{'(median of the runs)':<46}{'watchfloor':>12}{'raw watch':>12}{'ratio':>9}")
        line("CPU, % of one core (whole process)", app_cpu, watch_cpu)
        for label, fraction in (("p50", 0.5), ("p95", 0.95)):
            line(
                f"staleness {label}, ms: patch → store / decoded",
                median_of(lambda r, f=fraction: ms(r["store"], f)),
                median_of(lambda r, f=fraction: ms(r["watch"], f)),
            )
        for label, fraction in (("p50", 0.5), ("p95", 0.95)):
            line(f"staleness {label}, ms: patch → painted", median_of(lambda r, f=fraction: ms(r["screen"], f)))
        line("key latency p50, ms: post → action ran", key_p50)
        line("key latency p95, ms: post → action ran", key_p95)
        line("key latency max, ms", median_of(lambda r: ms(r["latencies"], 1.0)))
        line("key → painted p50, ms: post → paint after it", median_of(lambda r: ms(r["painted"], 0.5)))
        line("key → painted p95, ms", median_of(lambda r: ms(r["painted"], 0.95)))
        line("keys pressed in the window", median_of(lambda r: len(r["latencies"])))
        line("changes/s made in the window", median_of(lambda r: r["changes"] / r["seconds"]))
        print(
            f"changes never seen by the end of the grace period ({GRACE:.0f} s): store "
            f"{median_of(lambda r: r['store_missing']):.0f}, painted {median_of(lambda r: r['screen_missing']):.0f}, "
            f"raw watch {median_of(lambda r: r['watch_missing']):.0f}"
        )
        print(f"emulator + driver (this process): {median_of(lambda r: r['own_cpu']):.1f}% of a core")
        print(
            "garbage collection in watchfloor: "
            f"{median_of(lambda r: sum(cpu for _, cpu in r['gc']) / r['seconds'] * 100):.1f}% of a core "
            f"({median_of(lambda r: len(r['gc']) / r['seconds']):.0f} collections/s, longest pause "
            f"{median_of(lambda r: max((wall for wall, _ in r['gc']), default=0.0) * 1000):.0f} ms)"
        )
        print()
        print("watchfloor CPU by thread (% of one core, median):")
        roles = sorted({role for run in runs for role in run["threads"]})
        shares = {role: statistics.median(run["threads"].get(role, 0.0) for run in runs) for role in roles}
        for role, share in sorted(shares.items(), key=lambda item: item[1], reverse=True):
            if share >= 0.05:
                print(f"  {role:<42}{share:>8.1f}")
        print()
        verdicts = [
            (f"key latency p95 ≤ {TARGET_P95_MS:.0f} ms", key_p95 <= TARGET_P95_MS, f"{key_p95:.1f} ms"),
            (f"CPU ≤ {TARGET_CPU_PERCENT:.0f}% of one core", app_cpu <= TARGET_CPU_PERCENT, f"{app_cpu:.1f}%"),
        ]
        for label, met, value in verdicts:
            print(f"target: {label} — {'met' if met else 'MISSED'} ({value})")

        if not all(met for _, met, _ in verdicts) and not args.no_profile:
            from startup_500 import profile_summary

            report = str(Path(tempfile.gettempdir()) / "k8s_churn.pyinstrument.txt")
            window = min(PROFILE_SECONDS, args.seconds)
            profiled = one_run(
                emulator, churn, args.rate, kubeconfig, deployments, len(pods), window, workdir, args.runs, profile=report, no_tail=args.no_tail
            )
            print()
            print(
                f"profile: one more run of {window:.0f} s without the baseline, pyinstrument on the UI thread and the watch "
                f"worker ({profiled['app_cpu']:.1f}% CPU with the profilers on; full reports {report} and {report}.watch):"
            )
            print(" UI thread:")
            print("\n".join(profile_summary(report)))
            if Path(report + ".watch.json").exists():
                print(" watch worker (adapter → store):")
                print("\n".join(profile_summary(report + ".watch")))
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
