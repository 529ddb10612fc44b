"""``--metrics-port``: the exporter over a store fed by the Kubernetes emulator.

Scraped twice: with a plain HTTP client (parsed by prometheus_client's own parser), and
by Debian's real Prometheus, whose query then returns the value.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.metrics_exporter import ConsoleCollector, MetricsExporter
from console.model import WorkloadKey
from console.runbook.run_view import Phase, RunView
from tests.backends import wait_for
from tests.prometheus_backend import prometheus  # noqa: F401 - fixture
from tests.test_availability import Watched, emulator  # noqa: F401 - fixture

WEB = WorkloadKey("cluster", "shop", "web")


def finished_run(run_id: str, runbook: str, phase: Phase) -> RunView:
    return RunView(run_id, runbook, runbook, "cluster", WEB, phase=phase)


@pytest.fixture
def exported(emulator, tmp_path):  # noqa: F811 - the fixture imported above
    """A store watching the emulator, recording availability, exported on a free loopback port."""
    runs = [
        finished_run("r1", "deploy", Phase.HEALTHY),
        finished_run("r2", "deploy", Phase.HEALTHY),
        finished_run("r3", "deploy", Phase.ROLLED_BACK),
        RunView("r4", "restart", "restart", "cluster", WEB, phase=Phase.PROGRESSING),
    ]
    with Watched(emulator, tmp_path, tmp_path / "availability", slos={"cluster": {"shop/web": 99.9}}) as watched:
        wait_for(lambda: watched.recorder.figures_of(WEB), "availability figures of web", timeout=30)
        collector = ConsoleCollector(watched.store, availability=watched.recorder, runs=lambda: runs, started_at=1000.0)
        exporter = MetricsExporter(collector, port=0)
        try:
            yield exporter
        finally:
            exporter.close()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def test_a_scrape_shows_health_connection_availability_budget_and_runs(exported):
    samples = scrape(exported.url)

    assert value(samples, "watchfloor_up") == 1
    assert value(samples, "watchfloor_environment_connected", env="cluster") == 1
    assert value(samples, "watchfloor_workload_health", env="cluster", workload="shop/web", state="healthy") == 1
    assert value(samples, "watchfloor_workload_health", env="cluster", workload="shop/web", state="failed") == 0
    assert value(samples, "watchfloor_workload_availability_ratio", env="cluster", workload="shop/web", window="24h") == 1.0
    assert value(samples, "watchfloor_slo_target_ratio", env="cluster", workload="shop/web") == pytest.approx(0.999)
    assert value(samples, "watchfloor_slo_error_budget_remaining_ratio", env="cluster", workload="shop/web", window="30d") == 1.0
    assert value(samples, "watchfloor_availability_recording", env="cluster") == 1
    assert value(samples, "watchfloor_runs_total", runbook="deploy", outcome="succeeded") == 2
    assert value(samples, "watchfloor_runs_total", runbook="deploy", outcome="rolled_back") == 1
    assert not any(name == "watchfloor_runs_total" and ("runbook", "restart") in labels for name, labels in samples)
    assert value(samples, "process_resident_memory_bytes") > 0


def test_the_exporter_listens_on_loopback_by_default(exported):
    assert exported.host == "127.0.0.1"
    assert exported.url == f"http://127.0.0.1:{exported.port}/metrics"


def test_prometheus_scrapes_the_console_and_a_query_returns_the_value(exported, prometheus):  # noqa: F811
    target = prometheus.scrape(f"127.0.0.1:{exported.port}", labels={"job": "watchfloor"})
    try:
        result = prometheus.wait_for_result(
            'watchfloor_workload_health{job="watchfloor",env="cluster",workload="shop/web",state="healthy"}', timeout=30
        )
        ratio = prometheus.wait_for_result('watchfloor_workload_availability_ratio{job="watchfloor",window="7d"}', timeout=30)
    finally:
        prometheus.unscrape(target)

    assert float(result[0]["value"][1]) == 1.0
    assert ratio[0]["metric"]["workload"] == "shop/web" and float(ratio[0]["value"][1]) == 1.0


def test_console_refuses_a_metrics_port_already_in_use(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    (tmp_path / "config.yaml").write_text("environments:\n  - kind: docker\n    name: local\n")
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "WATCHFLOOR_CONFIG": str(tmp_path / "config.yaml"),
        "DOCKER_HOST": "unix:///nonexistent.sock",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "console", "--metrics-port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        taken.close()

    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_metrics_port_belongs_to_the_console_not_to_a_subcommand(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "console", "--metrics-port", "9464", "status"], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert "--metrics-port applies to the console itself" in result.stderr
