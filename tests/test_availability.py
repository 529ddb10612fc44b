"""Availability: figures folded from recorded health transitions, the recorder, the CLI.

The figures are pure arithmetic over crafted transition lines (tables below, exact
numbers). The recorder is exercised against the real store fed by the Kubernetes
emulator over HTTP (the production adapter), and writes real files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from adapters.base import StopSignal
from adapters.demo.emulator import KubernetesEmulator
from console.availability import (
    DAY,
    GAP_SECONDS,
    AvailabilityRecorder,
    compact,
    encode,
    figures,
    format_percent,
    format_span,
    health_record,
    load_figures,
    log_path,
    read_records,
    slo_target,
    summary_line,
    timeline_of,
    watch_record,
)
from console.config import ConfigError, load_config
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from console.store import Store
from console.watcher import watch_environment
from tests.backends import wait_for
from tests.test_kubernetes_adapter import deployment_object

H = 3600.0
M = 60.0
NOW = 30 * DAY
ENV = "prod"
WEB = "shop/web"


def on(ts, reason=""):
    return watch_record(ts, ENV, "on", reason)


def off(ts, reason=""):
    return watch_record(ts, ENV, "off", reason)


def alive(ts):
    return watch_record(ts, ENV, "alive")


def to(ts, health, ready=1, old="unknown"):
    return health_record(ts, ENV, WEB, old, health, "", ready)


def beats(start, end, every=60.0):
    """Heartbeats every minute in (start, end): a console that stayed up."""
    ts = start + every
    out = []
    while ts < end:
        out.append(alive(ts))
        ts += every
    return out


def watched(start, end, *lines):
    """A console watching from ``start`` to ``end``, heartbeats included, with ``lines`` in between."""
    records = sorted([on(start), *lines, *beats(start, end), off(end)], key=lambda r: r["ts"])
    return records


# --- figures: exact arithmetic ---------------------------------------------------------------

FIGURE_TABLE = [
    # (id, records, window, expected up, down, degraded, unknown)
    (
        "healthy the whole day",
        lambda: watched(NOW - DAY, NOW, to(NOW - DAY, "healthy")),
        "24h",
        (DAY, 0.0, 0.0, 0.0),
    ),
    (
        "failed for six minutes",
        lambda: watched(NOW - DAY, NOW, to(NOW - DAY, "healthy"), to(NOW - 10 * H, "failed"), to(NOW - 10 * H + 6 * M, "healthy")),
        "24h",
        (DAY - 6 * M, 6 * M, 0.0, 0.0),
    ),
    (
        "progressing counts as up",
        lambda: watched(NOW - DAY, NOW, to(NOW - DAY, "progressing"), to(NOW - DAY + H, "healthy")),
        "24h",
        (DAY, 0.0, 0.0, 0.0),
    ),
    (
        "degraded with a ready replica is up, and degraded",
        lambda: watched(NOW - DAY, NOW, to(NOW - DAY, "healthy"), to(NOW - 2 * H, "degraded", ready=1), to(NOW - H, "healthy")),
        "24h",
        (DAY, 0.0, H, 0.0),
    ),
    (
        "degraded with no ready replica is down",
        lambda: watched(NOW - DAY, NOW, to(NOW - DAY, "healthy"), to(NOW - 2 * H, "degraded", ready=0), to(NOW - H, "healthy")),
        "24h",
        (DAY - H, H, 0.0, 0.0),
    ),
    (
        "unknown health (stopped, removed) is left out",
        lambda: watched(NOW - DAY, NOW, to(NOW - DAY, "healthy"), to(NOW - 4 * H, "unknown"), to(NOW - 3 * H, "failed")),
        "24h",
        (DAY - 4 * H, 3 * H, 0.0, H),
    ),
    (
        "a console that did not run: unknown, then the state is unknown until the next transition",
        lambda: watched(NOW - DAY, NOW - 12 * H, to(NOW - DAY, "healthy"))
        + watched(NOW - 6 * H, NOW, to(NOW - 5 * H, "healthy")),
        "24h",
        (12 * H + 5 * H, 0.0, 0.0, 7 * H),
    ),
    (
        "a crash (no off line): unknown from the last line to the next start",
        lambda: [on(NOW - DAY), to(NOW - DAY, "healthy"), *beats(NOW - DAY, NOW - 12 * H), alive(NOW - 12 * H)]
        + watched(NOW - 2 * H, NOW, to(NOW - 2 * H, "failed")),
        "24h",
        (12 * H, 2 * H, 0.0, 10 * H),
    ),
    (
        "a silent stretch longer than the gap is unknown, the state carries on after it",
        lambda: [on(NOW - DAY), to(NOW - DAY, "healthy"), *beats(NOW - DAY, NOW - 12 * H), alive(NOW - 12 * H)]
        + [*beats(NOW - 11 * H - 60, NOW), alive(NOW - 11 * H), off(NOW)],
        "24h",
        (DAY - H, 0.0, 0.0, H),
    ),
    (
        "the window cuts a state in two",
        lambda: watched(NOW - 2 * DAY, NOW, to(NOW - 2 * DAY, "failed"), to(NOW - DAY + H, "healthy")),
        "24h",
        (DAY - H, H, 0.0, 0.0),
    ),
    (
        "time before the first line is unknown",
        lambda: watched(NOW - 3 * DAY, NOW, to(NOW - 3 * DAY, "healthy")),
        "7d",
        (3 * DAY, 0.0, 0.0, 4 * DAY),
    ),
]


@pytest.mark.parametrize("records, window, expected", [row[1:] for row in FIGURE_TABLE], ids=[row[0] for row in FIGURE_TABLE])
def test_window_tally_splits_time_into_up_down_degraded_unknown(records, window, expected):
    timeline = timeline_of(records())

    tally = figures(timeline, ENV, WEB, NOW).window(window)

    assert (tally.up, tally.down, tally.degraded, tally.unknown) == pytest.approx(expected, abs=1e-6)


def test_availability_leaves_unknown_time_out_of_the_denominator():
    # 12 h watched (6 min failed), 12 h not watched.
    records = watched(NOW - 12 * H, NOW, to(NOW - 12 * H, "healthy"), to(NOW - H, "failed"), to(NOW - H + 6 * M, "healthy"))

    tally = figures(timeline_of(records), ENV, WEB, NOW).window("24h")

    assert tally.availability == pytest.approx((12 * H - 6 * M) / (12 * H))
    assert tally.coverage == pytest.approx(0.5)


def test_error_budget_is_allowed_downtime_minus_downtime_over_30_days():
    # 30 days watched, 20 minutes down; 99.9 % allows 43.2 minutes of 30 days.
    records = watched(NOW - 30 * DAY, NOW, to(NOW - 30 * DAY, "healthy"), to(NOW - DAY, "failed"), to(NOW - DAY + 20 * M, "healthy"))

    budget = figures(timeline_of(records), ENV, WEB, NOW, slo=99.9).budget

    assert budget.window == "30d"
    assert budget.allowed == pytest.approx(43.2 * M)
    assert budget.spent == pytest.approx(20 * M)
    assert budget.left == pytest.approx(23.2 * M)
    assert budget.left_ratio == pytest.approx(23.2 / 43.2)


def test_error_budget_allows_downtime_only_for_known_time():
    # Watched 10 of the 30 days, healthy throughout: 99 % allows 1 % of 10 days.
    records = watched(NOW - 10 * DAY, NOW, to(NOW - 10 * DAY, "healthy"))

    budget = figures(timeline_of(records), ENV, WEB, NOW, slo=99.0).budget

    assert budget.allowed == pytest.approx(0.01 * 10 * DAY)
    assert budget.left_ratio == pytest.approx(1.0)


def test_summary_line_reads_as_the_issue_asks():
    records = watched(
        NOW - 30 * DAY,
        NOW,
        to(NOW - 30 * DAY, "healthy"),
        to(NOW - 3 * DAY, "failed"),
        to(NOW - 3 * DAY + 20 * M, "healthy"),
        to(NOW - 2 * H, "failed"),
        to(NOW - 2 * H + 36, "healthy"),
    )

    line = summary_line(figures(timeline_of(records), ENV, WEB, NOW, slo=99.9))

    # 24h: 36 s of 86400 → 99.958 %; 7d: 1236 s of 604800 → 99.795 %; 30d: 1236 s of 2592000 → 99.952 %.
    # Budget: 2592 s allowed, 1236 s spent, 1356 s (22 min, 52 %) left.
    assert line == "availability 24h 99.95% · 7d 99.79% · 30d 99.95% · SLO 99.9% · budget left 22m (52%)"


def test_summary_line_says_overspent_and_unknown_windows():
    records = watched(NOW - H, NOW, to(NOW - H, "healthy"), to(NOW - 30 * M, "failed"))

    line = summary_line(figures(timeline_of(records), ENV, WEB, NOW, slo=99.5))

    assert line == "availability 24h 50% · 7d 50% · 30d 50% · SLO 99.5% · budget overspent by 29m (-9900%)"


@pytest.mark.parametrize(
    "ratio, text", [(None, "—"), (1.0, "100%"), (0.99999, "99.99%"), (0.9995, "99.95%"), (0.997, "99.7%"), (0.5, "50%"), (0.0, "0%")]
)
def test_percent_is_rounded_down_never_up_to_100(ratio, text):
    assert format_percent(ratio) == text


@pytest.mark.parametrize("seconds, text", [(45, "45s"), (31 * M, "31m"), (3 * H + 12 * M, "3h12m"), (2 * H, "2h"), (2 * DAY + 4 * H, "2d4h")])
def test_budget_spans_read_to_the_minute(seconds, text):
    assert format_span(seconds) == text


@pytest.mark.parametrize(
    "key, expected",
    [
        (WorkloadKey(ENV, "shop", "web"), 99.95),  # GROUP/NAME wins
        (WorkloadKey(ENV, "other", "web"), 99.9),  # then NAME
        (WorkloadKey(ENV, "shop", "api"), 99.5),  # then default
    ],
)
def test_slo_target_prefers_group_name_then_name_then_default(key, expected):
    slos = {"shop/web": 99.95, "web": 99.9, "default": 99.5}

    assert slo_target(slos, key) == expected


def test_no_slo_entry_and_no_default_means_no_target():
    assert slo_target({"api": 99.0}, WorkloadKey(ENV, "shop", "web")) is None


# --- the file ---------------------------------------------------------------------------------


def test_a_torn_last_line_is_skipped_and_earlier_lines_survive(tmp_path):
    path = tmp_path / "prod.jsonl"
    good = [on(NOW - H), to(NOW - H, "healthy")]
    path.write_bytes(b"".join(encode(r) for r in good) + encode(to(NOW - 30 * M, "failed"))[:25])

    records, skipped = read_records(path)

    assert records == good
    assert skipped == 1


def test_recording_after_a_torn_line_does_not_glue_onto_it(tmp_path):
    directory = tmp_path / "availability"
    directory.mkdir()
    path = log_path(directory, ENV)
    path.write_bytes(encode(on(time.time() - 60)) + b'{"ts": 12')
    store = Store([Environment(ENV, EnvironmentKind.KUBERNETES, "ctx")])
    recorder = AvailabilityRecorder(directory, batch=0)

    recorder.start(store, [ENV])
    recorder.stop_soon()
    recorder.join()
    with open(path, "ab") as stream:
        stream.write(encode(off(time.time())))

    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b'{"ts": 12'
    assert json.loads(lines[2])["watch"] == "off"
    assert read_records(path)[1] == 1


def test_compaction_drops_old_lines_and_keeps_the_figures(tmp_path):
    path = tmp_path / "prod.jsonl"
    start = NOW - 40 * DAY
    records = watched(start, NOW, to(start, "healthy"), to(NOW - 35 * DAY, "failed"), to(NOW - 20 * DAY, "healthy"), to(NOW - DAY, "degraded", ready=0), to(NOW - DAY + H, "healthy"))
    path.write_bytes(b"".join(encode(r) for r in records))
    before = figures(timeline_of(records), ENV, WEB, NOW, slo=99.0)

    kept = compact(path, ENV, records, NOW - 31 * DAY)

    on_disk, skipped = read_records(path)
    assert on_disk == kept and skipped == 0
    assert min(r["ts"] for r in on_disk) == NOW - 31 * DAY
    assert len(on_disk) < len(records)
    after = figures(timeline_of(on_disk), ENV, WEB, NOW, slo=99.0)
    assert after.windows == before.windows
    assert after.budget == before.budget


# --- the recorder against a real backend ------------------------------------------------------


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with KubernetesEmulator(time_scale=0.05, seed=21) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=2, image="registry.test/web:1.0"))
        yield running


class Watched:
    """The console's data path without the UI: adapter thread → store → recorder."""

    def __init__(self, emulator, tmp_path: Path, directory: Path, **recorder_options) -> None:
        from adapters.kubernetes import KubernetesAdapter

        kubeconfig = str(emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx"))
        environment = Environment("cluster", EnvironmentKind.KUBERNETES, "ctx")
        self.store = Store([environment])
        self.stop = StopSignal()
        adapter = KubernetesAdapter(environment, kubeconfig=kubeconfig, context="ctx", watch_seconds=5)
        self.thread = threading.Thread(target=watch_environment, args=(adapter, self.store, self.stop), daemon=True)
        self.recorder = AvailabilityRecorder(directory, batch=0.05, refresh=0.2, **recorder_options)

    def __enter__(self) -> Watched:
        self.thread.start()
        self.recorder.start(self.store, ["cluster"])
        return self

    def __exit__(self, *_exc) -> None:
        self.recorder.stop_soon()
        self.recorder.join()
        self.stop.set()
        self.thread.join(10)


def health_lines(path: Path, workload: str) -> list[tuple[str, str]]:
    return [(r["from"], r["to"]) for r in read_records(path)[0] if r.get("workload") == workload]


def test_recorder_writes_transitions_of_a_real_workload_and_survives_a_restart(emulator, tmp_path):
    directory = tmp_path / "availability"
    path = log_path(directory, "cluster")
    web = WorkloadKey("cluster", "shop", "web")

    with Watched(emulator, tmp_path, directory, slos={"cluster": {"default": 99.0}}) as first:
        wait_for(lambda: (health_lines(path, "shop/web") or [("", "")])[-1][1] == "healthy" or None, "web recorded healthy", timeout=30)
        emulator.apply(deployment_object("crash", replicas=1, image="registry.test/crash:1-broken"))
        wait_for(lambda: any(new == "failed" for _, new in health_lines(path, "shop/crash")) or None, "crash recorded failed", timeout=30)
        figures_now = wait_for(lambda: first.recorder.figures_of(web), "figures published")
    first_lines = health_lines(path, "shop/web")
    lines_after_first = read_records(path)[0]
    with Watched(emulator, tmp_path, directory) as second:
        wait_for(lambda: len(health_lines(path, "shop/web")) > len(first_lines) or None, "web recorded again", timeout=30)
        later = wait_for(lambda: second.recorder.figures_of(web), "figures published")

    records = read_records(path)[0]
    watches = [(r["watch"], r["reason"]) for r in records if r.get("watch") in ("on", "off")]
    assert watches == [("on", "console started"), ("off", "console stopped"), ("on", "console started"), ("off", "console stopped")]
    # Only transitions, none per update: web starts (unknown → progressing → healthy),
    # then stays healthy, so the second console writes one line for it.
    assert first_lines[0][0] == "unknown" and first_lines[-1][1] == "healthy"
    assert all(old != new for old, new in first_lines)
    assert health_lines(path, "shop/web")[len(first_lines) :] == [("unknown", "healthy")]
    assert figures_now.window("24h").availability == 1.0 and figures_now.budget.target == 99.0
    assert later.window("24h").availability == 1.0
    assert len(records) > len(lines_after_first)
    crash = load_figures(directory, "cluster", time.time())[0]
    crash_figures = next(item for item in crash if item.workload == "shop/crash")
    assert crash_figures.window("24h").down > 0


def test_a_lost_connection_is_recorded_as_not_watching(emulator, tmp_path):
    directory = tmp_path / "availability"
    path = log_path(directory, "cluster")

    with Watched(emulator, tmp_path, directory):
        wait_for(lambda: health_lines(path, "shop/web") or None, "web recorded", timeout=30)
        emulator.stop()
        wait_for(
            lambda: any(r.get("watch") == "off" and r["reason"].startswith("disconnected") for r in read_records(path)[0]) or None,
            "disconnection recorded",
            timeout=30,
        )

    timeline = timeline_of(read_records(path)[0])
    assert not timeline.watching
    assert timeline.state_at("shop/web", time.time()).health == Health.UNKNOWN.value


def test_a_second_console_does_not_write_the_file_the_first_records(emulator, tmp_path):
    directory = tmp_path / "availability"
    path = log_path(directory, "cluster")

    with Watched(emulator, tmp_path, directory) as first:
        wait_for(lambda: health_lines(path, "shop/web") or None, "web recorded", timeout=30)
        with Watched(emulator, tmp_path, directory) as second:
            wait_for(lambda: second.recorder.figures_of(WorkloadKey("cluster", "shop", "web")), "second reads figures")
            assert second.recorder.recording() == {"cluster": False}
        assert first.recorder.recording() == {"cluster": True}

    ons = [r for r in read_records(path)[0] if r.get("watch") == "on"]
    assert len(ons) == 1


# --- config and command line ------------------------------------------------------------------


def test_a_bad_slo_target_names_file_line_and_field(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("environments:\n  - kind: docker\n    name: local\n    slo:\n      shop/web: 99.9\n      api: 100\n")

    with pytest.raises(ConfigError) as raised:
        load_config(config)

    assert str(raised.value).startswith(f"{config}:6:")
    assert "environments[0].slo.api" in str(raised.value)
    assert "below 100" in str(raised.value)


def _cli(tmp_path, *args):
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "WATCHFLOOR_CONFIG": str(tmp_path / "config.yaml"),
        "DOCKER_HOST": "unix:///nonexistent.sock",
    }
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True, env=env, timeout=60)


def _write_history(tmp_path, env, records):
    directory = tmp_path / "state" / "watchfloor" / "availability"
    directory.mkdir(parents=True, exist_ok=True)
    log_path(directory, env).write_bytes(b"".join(encode(r) for r in records))


def test_availability_command_prints_figures_and_fails_on_an_overspent_budget(tmp_path):
    now = time.time()
    (tmp_path / "config.yaml").write_text(
        f"environments:\n  - kind: docker\n    name: {ENV}\n    slo: {{shop/web: 99.9}}\n"
    )
    _write_history(tmp_path, ENV, watched(now - 2 * H, now - 60, to(now - 2 * H, "healthy"), to(now - H, "failed"), to(now - H + 6 * M, "healthy")))

    result = _cli(tmp_path, "availability", "--json")

    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    (environment,) = document["environments"]
    (workload,) = environment["workloads"]
    assert (workload["group"], workload["name"], workload["health"]) == ("shop", "web", "unknown")
    day = workload["windows"]["24h"]
    assert day["down_seconds"] == pytest.approx(6 * M, abs=0.01)
    assert day["availability"] == pytest.approx(1 - 6 * M / (2 * H - 60), abs=1e-6)
    assert workload["slo"] == 99.9 and workload["budget"]["left_seconds"] < 0
    text = _cli(tmp_path, "availability")
    assert "shop/web" in text.stdout and "budget overspent by" in text.stdout


def test_availability_command_refuses_an_unknown_environment(tmp_path):
    (tmp_path / "config.yaml").write_text(f"environments:\n  - kind: docker\n    name: {ENV}\n")

    result = _cli(tmp_path, "availability", "--env", "nope")

    assert result.returncode == 2
    assert "no environment named 'nope'" in result.stderr


def test_gap_is_longer_than_two_heartbeats():
    # A console that writes a heartbeat a minute is never taken for a dead one.
    assert GAP_SECONDS > 2 * 60


# --- in the console ---------------------------------------------------------------------------


async def test_the_history_screen_shows_the_workload_availability_line(emulator, tmp_path):
    from adapters.kubernetes import KubernetesAdapter
    from console.app import WatchfloorApp
    from console.backends import Backend
    from widgets.availability_line import AvailabilityLine

    kubeconfig = str(emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx"))
    environment = Environment("cluster", EnvironmentKind.KUBERNETES, "ctx")
    backend = Backend(environment, lambda: KubernetesAdapter(environment, kubeconfig=kubeconfig, context="ctx", watch_seconds=5))
    directory = tmp_path / "availability"
    recorder = AvailabilityRecorder(directory, slos={"cluster": {"default": 99.5}}, batch=0.05, refresh=0.2)
    web = WorkloadKey("cluster", "shop", "web")
    app = WatchfloorApp([backend], availability=recorder)

    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 30
        while recorder.figures_of(web) is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
        app.show_history(web)
        line = None
        while time.monotonic() < deadline:
            await pilot.pause(0.1)
            found = app.screen.query(AvailabilityLine)
            if found and found.first().display:
                line = found.first()
                break
        assert line is not None, "the availability line never showed"
        text = str(line.render())
    recorder.join()

    assert text.startswith("availability 24h 100% · 7d 100% · 30d 100% · SLO 99.5% · budget left")
    watches = [r["watch"] for r in read_records(log_path(directory, "cluster"))[0] if r.get("watch") in ("on", "off")]
    assert watches == ["on", "off"]
