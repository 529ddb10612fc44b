"""Benchmark: log ingestion into the logs screen, against Textual's own `Log` widget.

Runs headless (``App.run_test``). For each run, a producer thread pushes N synthetic
120-character lines into a real `LogFeed` as fast as it can, while the UI drains the
feed every 100 ms and a "keyboard" presses ``t`` every ~50 ms. Measured:

- **lines/s displayed**: N / time from the first push until the view holds the
  N-th line;
- **keypress latency**: from posting the key event to the action having run (the
  toggled state is visible to the app), p50 and p95;
- **drain time**: how long one UI tick spends moving a batch into the view;
- **RSS growth**: resident memory after ingestion (ring full at 100,000 lines) minus
  before it.

The baseline, measured in the same process and run, is Textual's `Log` widget
(``Log(max_lines=100_000)``) fed the same way with ``write_lines`` — STYLE
convention 6's recommendation for logs. Every figure printed is the median over the
runs; ratios are watchfloor / baseline.

Usage::

    .venv/bin/python benchmarks/log_ingest.py [--lines 200000] [--runs 3] [--size 160x48] [--paced 20000]

Two producer scenarios: flat out (a pure-Python thread that never blocks, so it
competes with the UI for the GIL the whole time; keypress latency there is mostly
GIL hand-over) and paced at 20,000 lines/s (the target rate, with the producer
sleeping between batches as a stream thread blocks on its socket).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.binding import Binding  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import Log  # noqa: E402

from console.log_feed import LogFeed, LogRequest  # noqa: E402
from console.model import LogLine, Stream  # noqa: E402
from screens.logs import LogsScreen  # noqa: E402

RING = 100_000
BATCH = 1_000
KEY_INTERVAL = 0.05
T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def produce(feed: LogFeed, total: int, started: threading.Event, rate: float | None) -> None:
    """Push ``total`` unique 120-char lines from two replicas, in batches.

    With ``rate`` None, flat out; otherwise paced to ``rate`` lines/s, sleeping
    between batches the way a stream thread waits on its socket.
    """
    started.set()
    batch_size = BATCH if rate is None else max(1, int(rate / 100))
    began = time.perf_counter()
    for first in range(0, total, batch_size):
        if rate is not None:
            delay = began + first / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        batch = []
        for number in range(first, min(total, first + batch_size)):
            text = f"{number:09d} INFO request handled path=/api/v1/orders/{number % 9973:05d} status=200 user=u{number % 97:02d} "
            batch.append(
                LogLine(
                    T0 + timedelta(microseconds=number),
                    "web-1" if number & 1 else "web-2",
                    Stream.STDERR if number % 50 == 0 else Stream.STDOUT,
                    text.ljust(120, "x"),
                )
            )
        feed.push(batch)


class BenchSource:
    """A `LogSource` handing out one `LogFeed` the benchmark's producer fills."""

    title = "bench/web"
    replica_count = 2

    def __init__(self) -> None:
        self.feed = LogFeed(max_pending=1_000_000)

    def open(self, request: LogRequest) -> LogFeed:
        return self.feed


class LogBaselineScreen(Screen[None]):
    """The baseline: Textual's `Log`, drained from the same feed every 100 ms."""

    BINDINGS = [Binding("t", "toggle", "Toggle")]

    def __init__(self, feed: LogFeed) -> None:
        super().__init__()
        self.feed = feed
        self.appended_count = 0
        self.toggled = False

    def compose(self) -> ComposeResult:
        yield Log(max_lines=RING)

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        self.set_interval(0.1, self.drain)

    def drain(self) -> None:
        batch = self.feed.take()
        if batch:
            self.query_one(Log).write_lines([line.text for line in batch])
            self.appended_count += len(batch)

    def action_toggle(self) -> None:
        self.toggled = not self.toggled
        self.query_one(Log).refresh()


class BenchApp(App[None]):
    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.animation_level = "none"
        self._bench_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self._bench_screen)


@dataclass
class RunResult:
    lines_per_second: float
    latencies: list[float] = field(default_factory=list)
    drain_times: list[float] = field(default_factory=list)
    rss_growth: int = 0
    held: int = 0


async def run_once(kind: str, total: int, size: tuple[int, int], rate: float | None = None) -> RunResult:
    """One ingestion run of ``kind`` ("watchfloor" or "log")."""
    source = BenchSource()
    if kind == "watchfloor":
        screen: Screen = LogsScreen(source, max_lines=RING, clock=time.monotonic)

        def appended() -> int:
            return screen.view.appended_count

        def state() -> bool:
            return screen.view.show_timestamps

        def held() -> int:
            return screen.view.line_count
    else:
        screen = LogBaselineScreen(source.feed)

        def appended() -> int:
            return screen.appended_count

        def state() -> bool:
            return screen.toggled

        def held() -> int:
            return screen.query_one(Log).line_count

    result = RunResult(0.0)
    drain_name = "_drain" if kind == "watchfloor" else "drain"
    untimed_drain = getattr(screen, drain_name)

    def timed_drain() -> None:
        began = time.perf_counter()
        untimed_drain()
        result.drain_times.append(time.perf_counter() - began)

    # An instance attribute shadows the method, so the screen's interval calls this.
    setattr(screen, drain_name, timed_drain)
    app = BenchApp(screen)
    async with app.run_test(size=size) as pilot:
        while app.screen is not screen:
            await pilot.pause(0.01)
        await pilot.pause(0.2)
        result.drain_times.clear()
        gc.collect()
        rss_before = rss_bytes()

        started = threading.Event()
        producer = threading.Thread(target=produce, args=(source.feed, total, started, rate), daemon=True)
        began = time.perf_counter()
        producer.start()
        started.wait()
        next_key = time.perf_counter() + KEY_INTERVAL
        while appended() < total:
            now = time.perf_counter()
            if now >= next_key:
                before = state()
                pressed = time.perf_counter()
                app._driver.send_message(events.Key("t", "t"))
                while state() == before:
                    await asyncio.sleep(0.001)
                result.latencies.append(time.perf_counter() - pressed)
                next_key = time.perf_counter() + KEY_INTERVAL
            else:
                await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - began
        producer.join()
        await pilot.pause(0.3)
        gc.collect()
        result.rss_growth = rss_bytes() - rss_before
        result.held = held()
        result.lines_per_second = total / elapsed
    return result


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summarise(results: list[RunResult]) -> dict[str, float]:
    return {
        "lines/s": statistics.median(r.lines_per_second for r in results),
        "key p50 ms": statistics.median(percentile(r.latencies, 0.5) for r in results) * 1000,
        "key p95 ms": statistics.median(percentile(r.latencies, 0.95) for r in results) * 1000,
        "drain p50 ms": statistics.median(percentile(r.drain_times, 0.5) for r in results) * 1000,
        "drain max ms": statistics.median(max(r.drain_times, default=0.0) for r in results) * 1000,
        "RSS growth MiB": statistics.median(r.rss_growth for r in results) / 2**20,
        "lines held": statistics.median(r.held for r in results),
        "key presses": statistics.median(len(r.latencies) for r in results),
    }


def run_in_child(kind: str, total: int, size: str, rate: float | None) -> RunResult:
    """One run in a fresh interpreter, so RSS growth is not hidden by an earlier run's freed memory."""
    command = [sys.executable, __file__, "--child", kind, "--lines", str(total), "--size", size]
    if rate is not None:
        command += ["--paced", str(rate)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return RunResult(**json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="160x48", help="terminal size, WxH")
    parser.add_argument("--paced", type=float, default=None, help="lines/s of the paced scenario (default 20000); 0 skips it")
    parser.add_argument("--child", choices=("watchfloor", "log"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = tuple(int(part) for part in args.size.split("x"))

    if args.child:
        rate = args.paced or None  # a child without --paced runs flat out
        result = asyncio.run(run_once(args.child, args.lines, size, rate))  # type: ignore[arg-type]
        print(json.dumps(asdict(result)))
        return

    if args.paced is None:
        args.paced = 20_000
    scenarios: list[tuple[str, float | None]] = [("flat out", None)]
    if args.paced:
        scenarios.append((f"paced at {args.paced:,.0f} lines/s", args.paced))
    print(f"log ingest: {args.lines:,} lines of 120 chars, ring {RING:,}, terminal {args.size}, median of {args.runs} runs")
    print("baseline: textual.widgets.Log(max_lines=100_000).write_lines, same feed, same 100 ms drain")
    print("each run in a fresh process; ratio = watchfloor / baseline")
    for title, rate in scenarios:
        runs: dict[str, list[RunResult]] = {"watchfloor": [], "log": []}
        for _ in range(args.runs):
            for kind in ("watchfloor", "log"):
                runs[kind].append(run_in_child(kind, args.lines, args.size, rate))
        ours = summarise(runs["watchfloor"])
        base = summarise(runs["log"])
        print()
        print(f"producer {title}")
        print(f"{'metric':<16}{'watchfloor':>14}{'Log baseline':>14}{'ratio':>10}")
        for metric in ours:
            ratio = ours[metric] / base[metric] if base[metric] else float("nan")
            print(f"{metric:<16}{ours[metric]:>14,.1f}{base[metric]:>14,.1f}{ratio:>10.2f}")


if __name__ == "__main__":
    main()
