"""Benchmark: time to the first complete frame with 500 containers, against ``docker ps -a``.

The issue: "500 containers on the real engine (created, not necessarily running), time
from process start to first complete frame, as a ratio to ``docker ps -a --format json``
measured in the same run. Target ≤ 1.5×."

Setup: ``--containers`` containers are created (``docker create``, never started) from
``watchfloor-test/logger`` with ``network_mode=none`` and the label
``watchfloor.bench=startup``, eight at a time. Half of them are replicas of ten Compose
services (``com.docker.compose.project=bench``, ``.service=svc0``…``svc9``) named
``wf-bench-NNN``; the other half are plain containers named ``wf-bench-NNN-solo``. The
``-solo`` suffix is deliberate: the Docker adapter groups unlabelled containers by name
with a trailing replica number dropped, so 250 plain ``wf-bench-NNN`` would fold into
one workload and the table would hold 11 rows; this way each plain container is its
own workload and the table holds about 260 rows, as on a busy host. Containers left by
an earlier ``--keep`` run are reused when they match the plan; all of them are removed
at the end (also on Ctrl-C or error) unless ``--keep`` is given. Other containers on the
engine stay, and count, since the console shows them too.

Measured, each in a fresh process, in rotating order so drift hits every side alike:

- **baseline**: wall time of ``docker ps -a --format json``, stdout piped and read
  to EOF;
- **first frame**: from ``time.time()`` just before ``subprocess.Popen`` of this
  script with ``--child`` until the child has painted its first complete frame. The
  child builds ``WatchfloorApp`` from ``backends_for(default_config())`` and runs it
  headless at 160x48. A frame is complete when the ``local`` environment is connected
  (the "connecting" banner is gone), the store holds the expected number of workloads
  (the parent counts them from the engine's list just before the spawn, with the
  adapter's own grouping) and the main screen's ``WorkloadTable`` has that many rows;
  this is checked after every ``tick()`` and before every paint, and the time is taken
  when the first paint of that state has been encoded to terminal text (which the
  headless driver skips, so the child does it). Inspections the watcher makes after
  the snapshot are not waited for;
- **import only**: the same spawn, but the child only imports ``console.app``;
  "first frame − import" is what the app costs once Python and the imports are done;
- **python start**: the same spawn, reporting at once (interpreter and this script);
- **reference, bare Textual app**: the same spawn, a plain ``App`` with a header, a
  footer and a ``DataTable`` that gets as many rows of nine ``Text`` cells on mount as
  the console will show, timed to its first paint with every row: roughly the floor
  any Textual console with such a table starts from, without Docker, store or styles.

The children get a pseudo-terminal sized 160x48 as stdin, as in a real terminal:
Rich asks the terminal for its size on every ``Console.options`` and that lookup
takes a slower path when no standard stream is a terminal. CPU is the user+system
time of the spawned process (the engine's own work is not in it), a figure that the
machine's load moves less than wall time. The child also reports when each phase
ended (imports, backends, app built, first paint, snapshot in the store, widgets
complete, frame); their medians show where the time goes. One warm-up round runs first
and is not counted. When the target is missed, one more child runs under pyinstrument
(cProfile if it is not installed); the heaviest functions are printed and the full
report is saved under the temp dir.

Usage::

    .venv/bin/python benchmarks/startup_500.py [--containers 500] [--runs 7] [--keep]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENV = "local"
SIZE = (160, 48)
TARGET = 1.5
IMAGE = "watchfloor-test/logger"
BENCH_LABEL = "watchfloor.bench"
BENCH_VALUE = "startup"
NAME_PREFIX = "wf-bench-"
COMPOSE_PROJECT = "bench"
COMPOSE_SERVICES = 10
CHILD_TIMEOUT = 60.0
"""Seconds a child may take to reach its frame before it reports what it saw and exits."""
APP_CODE = tuple(f"{ROOT}/{package}/" for package in ("console", "screens", "widgets", "adapters", "themes"))
"""Where our own code lives, for the profile's "our functions" list."""

PHASES = (
    ("main", "python up, the child's code starts"),
    ("imported", "imports done (console.app …)"),
    ("backends", "backends built (imports the docker SDK)"),
    ("app_built", "WatchfloorApp constructed"),
    ("first_paint", "first paint (start-up batch over)"),
    ("snapshot_applied", "snapshot in the store (watch thread)"),
    ("ui_complete", "widgets hold every workload (tick or mount)"),
    ("frame", "complete frame painted"),
)


# --------------------------------------------------------------------------- child


def _emit(text: str) -> None:
    # Straight to fd 1: Textual redirects sys.stdout while the app runs.
    os.write(1, text.encode())


def child_bare() -> None:
    """Report at once: the interpreter and this script's own few imports."""
    _emit(f"REPORT {time.time()!r}\n")
    os._exit(0)


def child_import_only() -> None:
    """Import what the console imports, report, exit."""
    import console.app  # noqa: F401

    _emit(f"REPORT {time.time()!r}\n")
    os._exit(0)


def child_floor(rows: int) -> None:
    """The Textual floor: a bare app whose DataTable gets ``rows`` rows of nine cells on mount.

    No store, no Docker, no theme, no CSS of ours: what any Textual app with such a
    table pays to get its first frame out.
    """
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
                cells = ("unknown", f"bench/svc{number}", "0/1", "latest", "0", "3m", "-", "-", "created, not started")
                table.add_row(*(Text(cell) for cell in cells), key=str(number))

        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            if renderable is not None and not self._batch_count:
                render = getattr(renderable, "render_segments", None)
                if render is not None:
                    render(self.console)
                if self.query_one(DataTable).row_count == rows:
                    _emit(f"REPORT {time.time()!r}\n")
                    os._exit(0)

    FloorApp().run(headless=True, size=SIZE)
    os._exit(4)


def _start_profiler(path: str | None):
    if not path:
        return None
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        return profiler
    profiler = Profiler(interval=0.001)
    profiler.start()
    return profiler


def _stop_profiler(profiler, path: str) -> None:
    """Write the full report to ``path`` and a summary for the parent to ``path.json``."""
    if hasattr(profiler, "output_text"):
        session = profiler.stop()
        Path(path).write_text(profiler.output_text(unicode=True, color=False, show_all=True))
        summary = _pyinstrument_summary(session.root_frame())
    else:
        import pstats

        profiler.disable()
        with open(path, "w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(80)
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        own: dict[str, float] = {}
        ours: dict[str, float] = {}
        for (file, line, function), (_, _, tottime, cumtime, _) in stats.items():
            where = f"{function} ({file}:{line})"
            own[where] = tottime
            if file.startswith(APP_CODE):
                ours[where] = cumtime
        summary = {"self": own, "ours": ours}
    Path(path + ".json").write_text(json.dumps(summary))


def _pyinstrument_summary(root) -> dict[str, dict[str, float]]:
    """Self time per function, and inclusive time of our own functions (outermost calls only).

    pyinstrument keeps a function's own time in a synthetic ``[self]`` child; that time
    belongs to the parent.
    """
    own: dict[str, float] = {}
    ours: dict[str, float] = {}

    def where(frame) -> str:
        return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"

    stack = [(root, frozenset())] if root is not None else []
    while stack:
        frame, active = stack.pop()
        owner = frame.parent if frame.is_synthetic and frame.parent is not None else frame
        own_time = frame.time - sum(child.time for child in frame.children)
        if own_time > 0:
            own[where(owner)] = own.get(where(owner), 0.0) + own_time
        name = where(frame)
        path = frame.file_path or ""
        if not frame.is_synthetic and name not in active and path.startswith(APP_CODE):
            ours[name] = ours.get(name, 0.0) + frame.time
        stack.extend((child, active | {name}) for child in frame.children)
    return {"self": own, "ours": ours}


def child_first_frame(expected: int, profile: str | None) -> None:
    """Run the console headless and report when its first complete frame was painted."""
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

    from console.app import WatchfloorApp
    from console.backends import backends_for
    from console.config import default_config
    from console.store import Store
    from screens.main import MainScreen
    from widgets.workload_table import WorkloadTable

    mark("imported")
    backends = backends_for(default_config())
    mark("backends")

    class TimedStore(Store):
        """The plain store, noting when the snapshot arrives and counting later inspections."""

        upserts = 0

        def apply_many(self, changes) -> None:
            changes = tuple(changes)
            super().apply_many(changes)
            for change in changes:
                kind = type(change).__name__
                if kind == "SnapshotReplaced":
                    mark("snapshot_applied")
                elif kind == "ReplicaUpserted" and "frame" not in phases:
                    TimedStore.upserts += 1

    store = TimedStore(b.environment for b in backends)

    def finish() -> None:
        if profiler is not None and profile:
            _stop_profiler(profiler, profile)
        report = {"wall": phases, "cpu": cpu, "upserts": TimedStore.upserts}
        _emit(f"PHASES {json.dumps(report)}\nREPORT {phases['frame']!r}\n")
        os._exit(0)

    class FirstFrameApp(WatchfloorApp):
        """The console, plus a note of its first complete frame."""

        complete = False

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
            # the store, the UI fills the widgets (mount's full_sync, then ticks).
            screen = self.screen
            if not isinstance(screen, MainScreen) or not screen.is_mounted:
                return False
            if not self.store.connection(ENV).connected or screen.query_one("#env-banner").display:
                return False
            rows = screen.query_one(WorkloadTable).row_count
            return rows == expected and len(self.store.workloads(ENV)) == expected

        def _display(self, screen, renderable) -> None:
            if renderable is None or self._batch_count:
                # Textual drops these: nothing to show, or inside a batch (start-up is one).
                super()._display(screen, renderable)
                return
            complete = isinstance(screen, MainScreen) and self._check_complete()
            super()._display(screen, renderable)
            if self.is_headless:
                render = getattr(renderable, "render_segments", None)
                if render is not None:
                    render(self.console)
            mark("first_paint")
            if complete:
                mark("frame")
                finish()

    def give_up() -> None:
        seen = {"expected": expected, "connected": store.connection(ENV).connected, "workloads": len(store.workloads(ENV))}
        _emit(f"NO_FRAME {json.dumps(seen)}\n")
        os._exit(3)

    import threading

    watchdog = threading.Timer(CHILD_TIMEOUT, give_up)
    watchdog.daemon = True
    watchdog.start()
    app = FirstFrameApp(backends, store=store)
    mark("app_built")
    app.run(headless=True, size=SIZE)
    _emit('NO_FRAME {"reason": "the app exited"}\n')
    os._exit(4)


# --------------------------------------------------------------------------- engine


def plan(count: int) -> list[tuple[str, dict[str, str]]]:
    """Names and labels of the benchmark containers: half Compose replicas, half plain."""
    compose = count // 2
    planned = []
    for number in range(count):
        labels = {BENCH_LABEL: BENCH_VALUE}
        if number < compose:
            labels["com.docker.compose.project"] = COMPOSE_PROJECT
            labels["com.docker.compose.service"] = f"svc{number % COMPOSE_SERVICES}"
            name = f"{NAME_PREFIX}{number:03d}"
        else:
            name = f"{NAME_PREFIX}{number:03d}-solo"
        planned.append((name, labels))
    return planned


def bench_containers(client) -> list[dict]:
    return client.api.containers(all=True, filters={"label": f"{BENCH_LABEL}={BENCH_VALUE}"})


def remove_bench_containers(client) -> int:
    from concurrent.futures import ThreadPoolExecutor

    ids = [c["Id"] for c in bench_containers(client)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda cid: client.api.remove_container(cid, force=True), ids))
    return len(ids)


def ensure_image(client) -> None:
    import docker.errors

    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        from tests.backends import build_test_images

        print(f"building the test images ({IMAGE} is missing) …", file=sys.stderr, flush=True)
        build_test_images(client)


def set_up_containers(client, count: int) -> str:
    """Create the planned containers, or reuse an identical set; says which."""
    from concurrent.futures import ThreadPoolExecutor

    planned = plan(count)
    existing = {c["Names"][0].lstrip("/") for c in bench_containers(client)}
    if existing == {name for name, _ in planned}:
        return f"reused {count} existing benchmark containers"
    if existing:
        remove_bench_containers(client)
    host_config = client.api.create_host_config(network_mode="none")

    def create(item: tuple[str, dict[str, str]]) -> None:
        name, labels = item
        client.api.create_container(IMAGE, name=name, labels=labels, host_config=host_config)

    began = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=8)
    try:
        list(pool.map(create, planned))
    finally:
        # On Ctrl-C, creations not yet started are dropped; the caller removes the rest.
        pool.shutdown(cancel_futures=True)
    return f"created {count} containers in {time.perf_counter() - began:.1f} s"


def expected_workloads(client) -> tuple[int, int]:
    """(workloads, containers) the ``local`` environment shows now, by the adapter's own grouping."""
    from adapters.docker import replica_from_summary

    summaries = client.api.containers(all=True)
    return len({replica_from_summary(ENV, s).workload for s in summaries}), len(summaries)


# --------------------------------------------------------------------------- runs


class Sample:
    """One spawned process: wall seconds until it reported, its CPU seconds, its phases."""

    def __init__(self, wall: float, cpu: float, report: dict | None = None, spawned: float = 0.0) -> None:
        self.wall = wall
        self.cpu = cpu
        report = report or {}
        self.phases: dict[str, float] = {k: v - spawned for k, v in report.get("wall", {}).items()}
        """Seconds after the spawn when each phase ended."""
        self.phase_cpu: dict[str, float] = report.get("cpu", {})
        """The child's CPU seconds when each phase ended."""
        self.upserts: int = report.get("upserts", 0)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_docker_ps() -> Sample:
    import subprocess

    cpu = _children_cpu()
    began = time.perf_counter()
    process = subprocess.Popen(["docker", "ps", "-a", "--format", "json"], stdout=subprocess.PIPE)
    out, _ = process.communicate()
    elapsed = time.perf_counter() - began
    if process.returncode != 0 or not out:
        raise RuntimeError(f"docker ps failed (exit {process.returncode})")
    return Sample(elapsed, _children_cpu() - cpu)


def _pseudo_terminal() -> tuple[int, int]:
    """A pty pair whose window is ``SIZE``: the child's stdin, as in a terminal."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    return controller, terminal


def spawn_child(mode: str, expected: int = 0, profile: str | None = None) -> Sample:
    """Spawn this script as a child; time from spawn to its report, its CPU, its phases."""
    import subprocess
    import tempfile
    import threading

    command = [sys.executable, str(Path(__file__).resolve()), mode, "--expect", str(expected)]
    if profile:
        command += ["--profile", profile]
    controller, terminal = _pseudo_terminal()
    try:
        with tempfile.TemporaryFile() as errors:
            cpu = _children_cpu()
            spawned = time.time()
            process = subprocess.Popen(command, stdin=terminal, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT)
            killer = threading.Timer(CHILD_TIMEOUT + 30, process.kill)
            killer.start()
            try:
                report: dict = {}
                reported = None
                for raw in process.stdout:  # type: ignore[union-attr]
                    word, _, rest = raw.decode(errors="replace").strip().partition(" ")
                    if word == "PHASES":
                        report = json.loads(rest)
                    elif word == "REPORT":
                        reported = float(rest)
                        break
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


def first_frame(client, profile: str | None = None, attempts: int = 3) -> Sample:
    """One first-frame measurement; retried when containers came or went on the engine meanwhile."""
    for attempt in range(attempts):
        expected, _ = expected_workloads(client)
        try:
            return spawn_child("--child", expected, profile)
        except RuntimeError as error:
            if attempt == attempts - 1:
                raise
            print(f"  (run repeated: {error})", file=sys.stderr, flush=True)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- report


def machine(load_before: float) -> str:
    import platform
    import subprocess
    from datetime import UTC, datetime

    import textual

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    docker = subprocess.run(
        ["docker", "version", "--format", "engine {{.Server.Version}}, CLI {{.Client.Version}}"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (
        f"machine: {os.cpu_count()} × {cpu}, Python {platform.python_version()}, textual {textual.__version__}, "
        f"Docker {docker}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f} (1 min, before → after)"
    )


def import_breakdown(top: int = 5, runs: int = 3) -> list[str]:
    """``python -X importtime``: where the console's import time goes, by package and by module.

    Imports ``console.app`` and then ``adapters.docker`` (what ``backends_for`` pulls in
    lazily); self times per module, median of ``runs``, summed per top-level package.
    """
    import statistics
    import subprocess

    seen: dict[str, list[int]] = {}
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import console.app; import adapters.docker"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
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


def profile_summary(path: str, top: int = 10) -> list[str]:
    summary = json.loads(Path(path + ".json").read_text())
    lines = ["  self time:"]
    for where, seconds in sorted(summary["self"].items(), key=lambda item: item[1], reverse=True)[:top]:
        lines.append(f"    {seconds * 1000:>7.0f} ms  {where}")
    lines.append("  our functions, inclusive (outermost calls):")
    for where, seconds in sorted(summary["ours"].items(), key=lambda item: item[1], reverse=True)[:top]:
        lines.append(f"    {seconds * 1000:>7.0f} ms  {where}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--containers", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the benchmark containers on the engine")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile when the target is missed")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-import", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_bare:
        child_bare()
    if args.child_floor:
        child_floor(args.expect)
    if args.child_import:
        child_import_only()
    if args.child:
        child_first_frame(args.expect, args.profile)

    import statistics
    import tempfile

    import docker

    client = docker.from_env(max_pool_size=16)
    try:
        ensure_image(client)
        print(set_up_containers(client, args.containers), file=sys.stderr, flush=True)
        workloads, containers = expected_workloads(client)
        load_before = os.getloadavg()[0]

        # Warm-up (page cache, .pyc files, the engine's own caches): not counted.
        time_docker_ps()
        spawn_child("--child-import")
        first_frame(client)

        samples: dict[str, list[Sample]] = {"ps": [], "frame": [], "import": [], "bare": [], "floor": []}
        for run in range(args.runs):
            order = list(samples)
            for kind in order[run % len(order) :] + order[: run % len(order)]:
                if kind == "ps":
                    samples[kind].append(time_docker_ps())
                elif kind == "frame":
                    samples[kind].append(first_frame(client))
                else:
                    samples[kind].append(spawn_child(f"--child-{kind}", workloads))
            print(
                f"  run {run + 1}/{args.runs}: "
                + ", ".join(f"{kind} {values[-1].wall * 1000:.0f} ms" for kind, values in samples.items()),
                file=sys.stderr,
                flush=True,
            )

        base = statistics.median(s.wall for s in samples["ps"])
        import_median = statistics.median(s.wall for s in samples["import"])
        import_cpu = statistics.median(s.cpu for s in samples["import"])

        def row(label: str, walls: list[float], cpus: list[float]) -> str:
            median = statistics.median(walls)
            return (
                f"{label:<42}{median * 1000:>8.0f}{min(walls) * 1000:>8.0f}{max(walls) * 1000:>8.0f}"
                f"{median / base:>8.2f}×{statistics.median(cpus) * 1000:>8.0f}"
            )

        def column(kind: str, field: str) -> list[float]:
            return [getattr(s, field) for s in samples[kind]]

        ratio = statistics.median(column("frame", "wall")) / base
        print(
            f"startup_500: spawn → first complete frame, {args.containers} created containers "
            f"({containers} on the engine, {workloads} workloads in `{ENV}`), "
            f"terminal {SIZE[0]}x{SIZE[1]} headless, median of {args.runs} runs"
        )
        print("baseline: `docker ps -a --format json`, stdout piped and read to EOF")
        print(machine(load_before))
        print()
        print(f"{'(ms)':<42}{'median':>8}{'min':>8}{'max':>8}{'÷ base':>9}{'CPU':>8}")
        print(row("docker ps -a --format json (baseline)", column("ps", "wall"), column("ps", "cpu")))
        print(row("watchfloor first complete frame", column("frame", "wall"), column("frame", "cpu")))
        print(row("  python start only", column("bare", "wall"), column("bare", "cpu")))
        print(row("  python + import console.app", column("import", "wall"), column("import", "cpu")))
        print(
            row(
                "  first frame − median import-only",
                [w - import_median for w in column("frame", "wall")],
                [c - import_cpu for c in column("frame", "cpu")],
            )
        )
        print(row(f"reference: bare Textual app, {workloads}-row table", column("floor", "wall"), column("floor", "cpu")))
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"target: first frame ≤ {TARGET}× baseline — {verdict} ({ratio:.2f}×)")
        print()
        print("where the time goes (reported by the child, median ms; Δ = since the line above):")
        print(f"  {'phase ended':<46}{'wall':>7}{'Δ':>7}{'CPU':>8}{'Δ':>7}")
        # In the order they happen; the watch thread's snapshot runs alongside the UI's start-up.
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
        upserts = statistics.median(s.upserts for s in samples["frame"])
        print(f"  (inspections the watcher applied before the frame, median: {upserts:.0f})")
        print()
        print("import time (python -X importtime -c 'import console.app; import adapters.docker', median of 3):")
        print("\n".join(import_breakdown()))

        if ratio > TARGET and not args.no_profile:
            tool = "pyinstrument"
            try:
                import pyinstrument  # noqa: F401
            except ImportError:
                tool = "cProfile"
            report = str(Path(tempfile.gettempdir()) / f"startup_500.{tool}.txt")
            profiled = first_frame(client, profile=report)
            print()
            print(
                f"profile of one more child ({tool}, main thread, {profiled.wall * 1000:.0f} ms with the profiler on; "
                f"full report {report}):"
            )
            print("\n".join(profile_summary(report)))
    finally:
        if args.keep:
            print(f"kept the benchmark containers (label {BENCH_LABEL}={BENCH_VALUE})", file=sys.stderr)
        else:
            print(f"removed {remove_bench_containers(client)} benchmark containers", file=sys.stderr)


if __name__ == "__main__":
    main()
