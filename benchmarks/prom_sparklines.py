"""Benchmark: Prometheus sparkline refresh of ~50 series while the operator types.

The issue: "Sparkline refresh of 50 series does not block input (p95 keypress ≤ 50 ms)
and issues at most one range query per series per step; benchmark it and record it."

Prometheus: Debian's ``prometheus`` on a loopback port (started as the tests start it,
``tests/prometheus_backend.PrometheusServer``: scrape and rule evaluation every second),
scraping a generated ``/metrics`` endpoint in this process: for each workload a
request counter, an error counter and a latency histogram that move every second.

Cluster: the embedded Kubernetes emulator in this process, control plane off, with
``--workloads`` (25) settled Deployments of one pod (``k8s_churn.build_cluster``), so
the console has rows to show and nothing else moves.

Console: a fresh child process runs ``WatchfloorApp`` headless at 160x48 (every paint
encoded to terminal text, as in ``k8s_churn.py``) with one Kubernetes environment whose
Prometheus has three named queries (request rate, error ratio, p95 latency); the
sparkline step is ``--step`` (2 s: seven times more refreshes than the default 15 s, so
a minute holds 30 of them). The poller polls the selected workload and the rows in
view: the number of series per step is printed (≈ 50: the rows in view × 3 queries).
A "keyboard" thread posts ``down``/``up`` every 100 ms (down the table and back, so
rows scroll into view and out) and measures **key latency**, posting the key to the
table's cursor action having run, as ``k8s_churn.py`` does.

Counted at the Prometheus side: every request goes through a counting reverse proxy
(``tests/prometheus_counting.CountingProxy``) in this process; **range queries per
series per step** is the highest number of range queries with the same query text
and the same step-aligned ``end`` over the window (target ≤ 1), and the mean is the
window's range queries over (series × steps).

Baseline, same run: the raw adapter, ``PrometheusSource.range`` in this process
(through the same proxy), for the same query texts one after the other, (a) over the
whole sparkline window and (b) over one new step (what the poller asks after its first
fetch); the child reports how long each of its polls took (wall, and CPU of the
poller thread), for the ratio. The child's wall time includes waiting for the GIL
while the UI thread handles keys and paints: that wait is the price of not blocking
input, and the CPU figure shows the poller's own work.

Usage::

    .venv/bin/python benchmarks/prom_sparklines.py [--seconds 60] [--runs 3] [--step 2] [--workloads 25]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from k8s_churn import _control_lines, _percentile, machine, process_cpu  # noqa: E402 - beside this file
from startup_500 import SIZE, _emit, _pseudo_terminal  # noqa: E402

ENV = "bench"
CONTEXT = "bench"
KEY_INTERVAL = 0.1
KEY_TIMEOUT = 10.0
TARGET_P95_MS = 50.0
TARGET_PER_SERIES_STEP = 1
READY_TIMEOUT = 90.0
WARM_UP = 20.0
"""Seconds of scraped data before the first run (rates need two scrapes, the histogram more)."""
QUERIES = {
    "request_rate": ('sum(rate(bench_requests_total{workload="{workload}"}[30s]))', "req/s", "Requests"),
    "error_ratio": (
        'sum(rate(bench_errors_total{workload="{workload}"}[30s])) / sum(rate(bench_requests_total{workload="{workload}"}[30s]))',
        "",
        "Errors",
    ),
    "p95_latency": (
        'histogram_quantile(0.95, sum by (le) (rate(bench_latency_seconds_bucket{workload="{workload}"}[30s])))',
        "s",
        "p95",
    ),
}
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)


# --------------------------------------------------------------------------- metrics


class GeneratedMetrics:
    """The ``/metrics`` text of ``workloads`` services, advanced every second in a thread."""

    def __init__(self, names: list[str], endpoint) -> None:
        self.names = names
        self.endpoint = endpoint
        self.totals = {name: [0, 0, [0] * (len(BUCKETS) + 1)] for name in names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-generator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(1.0):
            tick += 1
            lines = ["# TYPE bench_requests_total counter", "# TYPE bench_errors_total counter", "# TYPE bench_latency_seconds histogram"]
            for number, name in enumerate(self.names):
                totals = self.totals[name]
                requests = 20 + (tick * (number + 3)) % 17
                totals[0] += requests
                totals[1] += (requests // 10) if (tick // 20 + number) % 5 == 0 else 0
                for index in range(len(BUCKETS) + 1):
                    # Cumulative buckets: most requests fast, a share slower, moving with time.
                    totals[2][index] += requests * (index + 1 + (tick + number) % 3) // (len(BUCKETS) + 3)
                totals[2][-1] = max(totals[2][-1], totals[0])
                lines.append(f'bench_requests_total{{workload="{name}"}} {totals[0]}')
                lines.append(f'bench_errors_total{{workload="{name}"}} {totals[1]}')
                cumulative = 0
                for index, le in enumerate(BUCKETS):
                    cumulative = max(cumulative, min(totals[2][index], totals[0]))
                    lines.append(f'bench_latency_seconds_bucket{{workload="{name}",le="{le}"}} {cumulative}')
                lines.append(f'bench_latency_seconds_bucket{{workload="{name}",le="+Inf"}} {totals[0]}')
                lines.append(f'bench_latency_seconds_count{{workload="{name}"}} {totals[0]}')
            self.endpoint.text = "\n".join(lines) + "\n"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


# --------------------------------------------------------------------------- child


def child_app(kubeconfig: str, prometheus_url: str, step: float, workloads: int, control_fd: int, out: str) -> None:
    """The console headless, its keyboard, and how long each metrics poll took."""
    from textual import events

    import console.app as console_app
    from console import metrics_poller
    from console.app import WatchfloorApp
    from console.backends import backends_for
    from console.config import Config, KubernetesEnvironmentConfig, NamedQueryConfig, PrometheusConfig
    from screens.main import MainScreen
    from widgets.metric_panel import MetricPanel
    from widgets.workload_table import WorkloadTable

    metrics_poller.STEP_SECONDS = step
    recording = threading.Event()
    polls: list[tuple[float, int, int, float]] = []
    """(seconds, range queries sent, series wanted, CPU seconds of the poller thread) of each poll in the window."""
    pollers: list = []

    class TimedPoller(metrics_poller.MetricsPoller):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            pollers.append(self)

        def poll(self, source, now: float) -> None:
            sent = self.range_queries
            began, began_cpu = time.perf_counter(), time.thread_time()
            try:
                super().poll(source, now)
            finally:
                if recording.is_set():
                    polls.append(
                        (
                            time.perf_counter() - began,
                            self.range_queries - sent,
                            len(self.wanted) * len(self.queries),
                            time.thread_time() - began_cpu,
                        )
                    )

    console_app.MetricsPoller = TimedPoller
    queries = {name: NamedQueryConfig(query=q, unit=unit, title=title) for name, (q, unit, title) in QUERIES.items()}
    config = Config(
        environments=[
            KubernetesEnvironmentConfig(
                kind="kubernetes",
                name=ENV,
                kubeconfig=kubeconfig,
                context=CONTEXT,
                prometheus=PrometheusConfig(url=prometheus_url, queries=queries),
            )
        ]
    )
    latencies: list[float] = []
    posts: list[float] = []
    actions: list[float] = []
    key_done = threading.Event()

    class BenchApp(WatchfloorApp):
        ready_sent = False

        def tick(self):
            delta = super().tick()
            screen = self.screen
            if not self.ready_sent and isinstance(screen, MainScreen) and screen.is_mounted:
                table = screen.query_one(WorkloadTable)
                panel = screen.query_one(MetricPanel)
                if table.row_count == workloads and panel.data.series and all(s and s.points for s in panel.data.series):
                    self.ready_sent = True
                    for name in ("action_cursor_down", "action_cursor_up"):
                        original = getattr(table, name)

                        def timed(original=original) -> None:
                            original()
                            actions.append(time.perf_counter())
                            key_done.set()

                        setattr(table, name, timed)
                    _emit("READY\n")
            return delta

        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            if renderable is None or self._batch_count:
                return
            render = getattr(renderable, "render_segments", None)
            if render is not None and self.is_headless:
                render(self.console)

    app = BenchApp(backends_for(config), config=config)

    def keyboard() -> None:
        recording.wait()
        step_count, direction, pressed = 0, "down", len(actions)
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
            deadline = posted + KEY_TIMEOUT
            while len(actions) < pressed and time.perf_counter() < deadline:
                key_done.wait(max(0.0, deadline - time.perf_counter()))
                key_done.clear()
            if recording.is_set():
                latencies.append(actions[pressed - 1] - posted if len(actions) >= pressed else KEY_TIMEOUT)
            step_count += 1
            if step_count % (workloads - 1) == 0:
                direction = "up" if direction == "down" else "down"
            next_press = max(next_press + KEY_INTERVAL, time.perf_counter())

    def start() -> None:
        recording.set()

    def end() -> None:
        recording.clear()
        _emit("ENDED\n")

    def stop() -> None:
        poller = pollers[0] if pollers else None
        Path(out).write_text(
            json.dumps(
                {
                    "latencies": latencies,
                    "polls": polls,
                    "most_per_step": poller.most_queries_in_a_step() if poller else -1,
                    "series_held": app.store.series_count(),
                }
            )
        )
        _emit("DONE\n")
        os._exit(0)

    threading.Thread(target=_control_lines, args=(control_fd, {"start": start, "end": end, "stop": stop}), daemon=True).start()
    threading.Thread(target=keyboard, name="keyboard", daemon=True).start()
    app.run(headless=True, size=SIZE)
    _emit("GONE the app exited\n")
    os._exit(4)


class Child:
    """This script as a child (``--child-app``) with a control pipe and a results file."""

    def __init__(self, args: list[str], out: Path) -> None:
        import subprocess
        import tempfile

        self.out = out
        read_end, self._control = os.pipe()
        self._pty = _pseudo_terminal()
        self._errors = tempfile.TemporaryFile()
        command = [sys.executable, str(Path(__file__).resolve()), "--child-app", *args, "--control-fd", str(read_end), "--out", str(out)]
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
        raise RuntimeError(f"child: no {word} within {timeout:.0f} s (exit {self.process.poll()}):\n{detail}")

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


# --------------------------------------------------------------------------- parent


def query_texts(names: list[str], count: int) -> list[str]:
    """The PromQL the poller sends for the first ``count`` series (workload order, then query order)."""
    from adapters.prometheus import named_query

    texts = []
    for name in names:
        for template, _unit, _title in QUERIES.values():
            texts.append(named_query(template, workload=name, namespace="", service=name))
    return texts[:count]


def baseline(url: str, texts: list[str], step: float, window: float, repeats: int = 5) -> dict:
    """Seconds for the raw adapter to answer every text once: full window, and one new step."""
    from adapters.prometheus import PrometheusSource

    source = PrometheusSource(url)
    full, one_step = [], []
    for _ in range(repeats):
        end = int(time.time() // step) * step
        began = time.perf_counter()
        for text in texts:
            source.range(text, end - window, end, step)
        full.append(time.perf_counter() - began)
        began = time.perf_counter()
        for text in texts:
            source.range(text, end, end, step)
        one_step.append(time.perf_counter() - began)
    source.close()
    return {"full": statistics.median(full), "step": statistics.median(one_step)}


def one_run(kubeconfig: str, proxy, step: float, workloads: int, seconds: float, workdir: Path, number: int) -> dict:
    child = Child(
        ["--kubeconfig", kubeconfig, "--prometheus", proxy.url, "--step", str(step), "--workloads", str(workloads)],
        workdir / f"app-{number}.json",
    )
    try:
        child.expect("READY", READY_TIMEOUT)
        time.sleep(2 * step)  # the first fetches of the rows in view are behind us
        window_start = time.time()
        first_request = len(proxy.requests)
        cpu_before = child.cpu()
        child.send("start")
        time.sleep(seconds)
        elapsed = time.time() - window_start
        cpu_used = child.cpu() - cpu_before
        requests = proxy.requests[first_request:]
        child.send("end")
        child.expect("ENDED", 30)
        result = child.finish()
    except BaseException:
        child.kill()
        raise
    ranges = [r for r in requests if r.path.endswith("/api/v1/query_range") and r.at <= window_start + elapsed]
    per_series_step: dict[tuple[str, int], int] = {}
    for r in ranges:
        key = (r.params["query"], round(float(r.params["end"]) / step))
        per_series_step[key] = per_series_step.get(key, 0) + 1
    series = statistics.median([p[2] for p in result["polls"]]) if result["polls"] else 0
    return {
        "seconds": elapsed,
        "latencies": result["latencies"],
        "polls": result["polls"],
        "most_per_step_wire": max(per_series_step.values(), default=0),
        "most_per_step_poller": result["most_per_step"],
        "range_queries": len(ranges),
        "series": series,
        "queries_per_step": len(ranges) / (elapsed / step),
        "distinct_series": len({r.params["query"] for r in ranges}),
        "alerts_requests": sum(1 for r in requests if r.path.endswith("/api/v1/alerts")),
        "cpu": cpu_used / elapsed * 100,
        "series_held": result["series_held"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured window")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--step", type=float, default=2.0, help="sparkline step in seconds (the console's default is 15)")
    parser.add_argument("--workloads", type=int, default=25)
    parser.add_argument("--child-app", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--prometheus", help=argparse.SUPPRESS)
    parser.add_argument("--control-fd", type=int, default=-1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_app:
        child_app(args.kubeconfig, args.prometheus, args.step, args.workloads, args.control_fd, args.out)

    import shutil
    import tempfile

    import k8s_churn

    from console.metrics_poller import WINDOW_SECONDS
    from tests.prometheus_backend import MetricsEndpoint, PrometheusServer
    from tests.prometheus_counting import CountingProxy

    binary = shutil.which("prometheus")
    if binary is None:
        sys.exit("prometheus is not on PATH (Debian's prometheus; scripts/setup-backends installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="wf-prom-sparklines-"))
    load_before = os.getloadavg()[0]
    # One pod per Deployment: the rows are what matters here, not pod churn.
    k8s_churn.PODS_PER_DEPLOYMENT = 1
    emulator, _pods = k8s_churn.build_cluster(args.workloads, seed=50)
    names = [f"svc-{n:03d}" for n in range(args.workloads)]
    server = PrometheusServer(binary, workdir / "prometheus")
    endpoint = MetricsEndpoint("")
    generator = GeneratedMetrics(names, endpoint)
    proxy = None
    try:
        server.start()
        server.scrape(endpoint.address, labels={"job": "bench"})
        proxy = CountingProxy(server.url)
        kubeconfig = str(emulator.kubeconfig(workdir / "kubeconfig", context_name=CONTEXT))
        server.wait_for_result('bench_requests_total{job="bench"}', timeout=30)
        time.sleep(WARM_UP)
        runs = []
        baselines = []
        for number in range(args.runs):
            runs.append(one_run(kubeconfig, proxy, args.step, args.workloads, args.seconds, workdir, number))
            run = runs[-1]
            # Through the same proxy as the console: both pay its hop.
            baselines.append(baseline(proxy.url, query_texts(names, int(run["series"]) or 50), args.step, WINDOW_SECONDS))
            print(
                f"  run {number + 1}/{args.runs}: {run['series']:.0f} series, key p95 "
                f"{_percentile(run['latencies'], 0.95) * 1000:.1f} ms, most range queries per series per step "
                f"{run['most_per_step_wire']} (wire) / {run['most_per_step_poller']} (poller)",
                file=sys.stderr,
                flush=True,
            )
    finally:
        generator.stop()
        if proxy is not None:
            proxy.close()
        endpoint.close()
        server.stop()
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def median_of(metric) -> float:
        return statistics.median(metric(run) for run in runs)

    def ms(values: list[float], fraction: float) -> float:
        return _percentile(values, fraction) * 1000

    key_p50 = median_of(lambda r: ms(r["latencies"], 0.5))
    key_p95 = median_of(lambda r: ms(r["latencies"], 0.95))
    most_wire = max(r["most_per_step_wire"] for r in runs)
    most_poller = max(r["most_per_step_poller"] for r in runs)
    def boundary(r) -> list:
        return [p for p in r["polls"] if p[1] >= r["series"] * 0.8]

    def scrolled(r) -> list:
        return [p for p in r["polls"] if 0 < p[1] < r["series"] * 0.8]

    poll_full_steps = median_of(lambda r: ms([p[0] for p in boundary(r)], 0.5))
    poll_full_cpu = median_of(lambda r: ms([p[3] for p in boundary(r)], 0.5))
    poll_scrolled = median_of(lambda r: ms([p[0] for p in scrolled(r)], 0.5))
    raw_step = statistics.median(b["step"] for b in baselines) * 1000
    raw_full = statistics.median(b["full"] for b in baselines) * 1000
    series = median_of(lambda r: r["series"])
    print(
        f"prom_sparklines: {series:.0f} series ({args.workloads} workloads, the rows in view × {len(QUERIES)} named "
        f"queries), sparkline step {args.step:g} s, window {WINDOW_SECONDS / 60:.0f} min, {args.seconds:.0f} s measured, "
        f"terminal {SIZE[0]}x{SIZE[1]} headless (paints encoded), a key every {KEY_INTERVAL * 1000:.0f} ms; median of {args.runs} runs"
    )
    print("Prometheus: Debian's binary on loopback, scraping a generated endpoint every second; counted by a proxy in front of it")
    print(machine(load_before))
    print()
    print(f"{'(median of the runs)':<58}{'value':>12}")
    for label, value in (
        ("series polled per step", series),
        ("key latency p50, ms: post → action ran", key_p50),
        ("key latency p95, ms: post → action ran", key_p95),
        ("key latency max, ms", median_of(lambda r: ms(r["latencies"], 1.0))),
        ("keys pressed in the window", median_of(lambda r: len(r["latencies"]))),
        ("range queries in the window", median_of(lambda r: r["range_queries"])),
        ("range queries per step (new rows scrolled in add theirs)", median_of(lambda r: r["queries_per_step"])),
        ("distinct series queried in the window", median_of(lambda r: r["distinct_series"])),
        ("alerts requests in the window", median_of(lambda r: r["alerts_requests"])),
        ("console CPU, % of one core (whole process)", median_of(lambda r: r["cpu"])),
        ("metric series held in the store", median_of(lambda r: r["series_held"])),
    ):
        print(f"{label:<58}{value:>12.2f}")
    print()
    print(f"{'one refresh of every series, ms':<46}{'watchfloor':>12}{'raw range':>12}{'ratio':>9}")
    print(f"{'  at a step boundary (every series), wall':<46}{poll_full_steps:>12.1f}{raw_step:>12.1f}{poll_full_steps / raw_step:>8.2f}×")
    print(f"{'  at a step boundary, poller thread CPU':<46}{poll_full_cpu:>12.1f}{'-':>12}{'-':>9}")
    print(f"{'  a row scrolled into view (its 3 series), wall':<46}{poll_scrolled:>12.1f}{'-':>12}{'-':>9}")
    print(f"{'  raw range over the whole window (reference)':<46}{'-':>12}{raw_full:>12.1f}{'-':>9}")
    print()
    verdicts = [
        (f"key latency p95 ≤ {TARGET_P95_MS:.0f} ms", key_p95 <= TARGET_P95_MS, f"{key_p95:.1f} ms"),
        (
            f"≤ {TARGET_PER_SERIES_STEP} range query per series per step",
            most_wire <= TARGET_PER_SERIES_STEP and most_poller <= TARGET_PER_SERIES_STEP,
            f"most seen: {most_wire} at Prometheus, {most_poller} counted by the poller",
        ),
    ]
    for label, met, value in verdicts:
        print(f"target: {label} — {'met' if met else 'MISSED'} ({value})")


if __name__ == "__main__":
    main()
