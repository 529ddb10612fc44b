"""A real Prometheus for the tests, and the small HTTP parts around it.

Debian's ``prometheus`` binary runs on a free 127.0.0.1 port with a temporary config,
a temporary TSDB and a rule file, scraping every second. Targets are added while it
runs through ``file_sd_configs`` (a JSON file per target, picked up within a second),
so one Prometheus per session serves every test: a tiny Python ``/metrics`` endpoint,
or a busybox ``web`` test container's ``/cgi-bin/metrics`` on the host network.

Nothing here is mocked. `MetricsEndpoint` is a real HTTP server that Prometheus
scrapes; `AuthProxy` is a real reverse proxy (optionally TLS, optionally demanding a
bearer token) in front of the real Prometheus, standing where an operator's auth
proxy would stand, because Prometheus itself has no bearer-token auth to test with.

A missing binary goes through :func:`tests.backends.backend_unavailable` (skip, or
fail under WATCHFLOOR_REQUIRE_BACKENDS).

Fixtures (import them by name into a test module, or list this module in
``pytest_plugins`` in tests/conftest.py):
    prometheus: session; a running :class:`PrometheusServer`.
    private_prometheus: a second :class:`PrometheusServer` of the test's own, to stop
        and start (outage tests).
    metrics_endpoint: a :class:`MetricsEndpoint` serving :data:`FIXED_METRICS`,
        scraped by ``prometheus`` as job ``fixed``; waits until the first scrape landed.
    scraped_web: :class:`ScrapedWeb`, Compose services of the busybox ``web`` image that
        register themselves with ``prometheus`` and make their own traffic::

            service = scraped_web.up("web:1", replicas=2)    # a ScrapedService
            key = service.key("local")                        # WorkloadKey(env, project, service)
            scraped_web.wait_scraped(service.workload, replicas=2)
            source.instant(scraped_web.error_ratio(service.workload, version="3-errors"))
            service.fail_work(True)                           # every request answers 500

        Each replica runs on the host network with ``PORT=auto`` and the label
        ``watchfloor.port=auto``, so canary and blue-green copies run beside it; it
        writes its file_sd target (labels ``workload``, ``version``) into
        ``prometheus.targets_dir`` and removes it when stopped.
"""

from __future__ import annotations

import http.client
import http.server
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.model import WorkloadKey
from tests.backends import ComposeProjects, backend_unavailable

FIRING_ALERT = "WatchfloorTestFiring"
PENDING_ALERT = "WatchfloorTestPending"
RULES = f"""\
groups:
  - name: watchfloor-test
    rules:
      - alert: {FIRING_ALERT}
        expr: vector(1)
        for: 0s
        labels: {{severity: page, workload: web}}
        annotations: {{summary: "always firing, for the tests"}}
      - alert: {PENDING_ALERT}
        expr: vector(2)
        for: 1h
        labels: {{severity: ticket, workload: api}}
"""
"""One alert that fires at the first evaluation and one that stays pending for an hour."""

FIXED_METRICS = """\
# HELP wf_test_ratio A gauge that never changes.
# TYPE wf_test_ratio gauge
wf_test_ratio{workload="web"} 0.25
wf_test_ratio{workload="api"} 0.75
# TYPE wf_test_not_a_number gauge
wf_test_not_a_number{workload="web"} NaN
# TYPE wf_test_infinite gauge
wf_test_infinite{workload="web"} +Inf
"""
"""What `metrics_endpoint` serves: two ratios, a NaN and an infinity."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- Prometheus


class PrometheusServer:
    """Debian's prometheus on a free loopback port, its files in ``directory``.

    ``stop()`` and ``start()`` keep the port, config and TSDB, like a restart.
    """

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        """Base URL for the adapter."""
        self.targets_dir = directory / "targets"
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / "prometheus.log"
        (directory / "rules.yml").write_text(RULES)
        (directory / "prometheus.yml").write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "rule_files: [rules.yml]\n"
            "scrape_configs:\n"
            "  - job_name: watchfloor-test\n"
            "    file_sd_configs:\n"
            f"      - files: ['{self.targets_dir}/*.json']\n"
            "        refresh_interval: 1s\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until ``/-/ready`` answers 200.

        Raises:
            RuntimeError: It exited or did not get ready in time (with its log tail).
        """
        command = [
            self.binary,
            f"--config.file={self.directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if not self.running:
                raise RuntimeError(f"prometheus exited with {self._process.returncode}:\n{self.log_tail()}")
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"prometheus not ready within {timeout:g}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; waits for it to exit."""
        if not self.running:
            return
        assert self._process is not None
        self._process.terminate()
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- targets

    def scrape(self, address: str, *, labels: dict[str, str] | None = None, metrics_path: str = "/metrics") -> Path:
        """Have Prometheus scrape ``address`` (``127.0.0.1:PORT``) every second.

        Args:
            address: host:port of the target.
            labels: Target labels; ``job`` here replaces the default ``watchfloor-test``.
            metrics_path: Path of the metrics page, e.g. ``/cgi-bin/metrics``.

        Returns:
            The target file; pass it to `unscrape` to stop.
        """
        document = [{"targets": [address], "labels": {**(labels or {}), "__metrics_path__": metrics_path}}]
        path = self.targets_dir / f"{secrets.token_hex(4)}.json"
        # Written beside the watched pattern, then renamed in: Prometheus never reads half a file.
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(document))
        partial.rename(path)
        return path

    def unscrape(self, target_file: Path) -> None:
        target_file.unlink(missing_ok=True)

    # -- queries, for waiting (independent of the adapter under test)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The raw ``data.result`` of an instant query."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["data"]["result"]

    def wait_for_result(
        self, promql: str, check: Callable[[list[dict[str, Any]]], bool] = bool, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """Query until ``check(result)`` holds (by default: until anything matches)."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while True:
            result = self.query(promql)
            if check(result):
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {promql!r}; last result: {result}")
            time.sleep(0.2)


def _prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        backend_unavailable("prometheus", "not on PATH; install Debian's prometheus (scripts/setup-backends)")
    return binary


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """One running Prometheus for the session (scrapes and rules every second)."""
    server = PrometheusServer(_prometheus_binary(), tmp_path_factory.mktemp("prometheus"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    """A started Prometheus of this test alone, free to ``stop()`` and ``start()``."""
    server = PrometheusServer(_prometheus_binary(), tmp_path / "prometheus")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ----------------------------------------------------------------------- small servers


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


class MetricsEndpoint:
    """A real HTTP server on 127.0.0.1 serving ``text`` at ``/metrics`` (Prometheus text format)."""

    def __init__(self, text: str = FIXED_METRICS) -> None:
        self.text = text
        """What the next scrape gets; may be changed at any time."""
        owner = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                body = owner.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="metrics-endpoint", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture(scope="session")
def metrics_endpoint(prometheus: PrometheusServer) -> Iterator[MetricsEndpoint]:
    """`FIXED_METRICS` on a loopback port, scraped by ``prometheus`` as ``job="fixed"``."""
    endpoint = MetricsEndpoint()
    target = prometheus.scrape(endpoint.address, labels={"job": "fixed"})
    try:
        prometheus.wait_for_result('wf_test_ratio{job="fixed"}', lambda result: len(result) == 2)
        yield endpoint
    finally:
        prometheus.unscrape(target)
        endpoint.close()


class AuthProxy:
    """A reverse proxy on 127.0.0.1 in front of ``upstream``, keeping every request's headers.

    Args:
        upstream: Base URL of the server behind it (``http://127.0.0.1:PORT``).
        token: When set, requests without ``Authorization: Bearer <token>`` get a 401
            (as an operator's auth proxy in front of Prometheus does).
        tls: When set, the proxy speaks HTTPS with this server context.
    """

    def __init__(self, upstream: str, *, token: str | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict[str, str]] = []
        """Headers of every request received, oldest first."""
        upstream_parts = urllib.parse.urlsplit(upstream)
        owner = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                headers = {name.lower(): value for name, value in self.headers.items()}
                owner.requests.append(headers)
                if token is not None and headers.get("authorization") != f"Bearer {token}":
                    self._answer(401, b"Unauthorized\n", "text/plain")
                    return
                connection = http.client.HTTPConnection(upstream_parts.hostname, upstream_parts.port, timeout=10)
                try:
                    connection.request("GET", self.path, headers={"Accept": headers.get("accept", "*/*")})
                    response = connection.getresponse()
                    body = response.read()
                except OSError:
                    self._answer(502, b"Bad Gateway\n", "text/plain")
                    return
                finally:
                    connection.close()
                self._answer(response.status, body, response.getheader("Content-Type", "application/json"))

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="auth-proxy", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# ------------------------------------------------------------ self-registering web services


@dataclass(frozen=True)
class ScrapedService:
    """One Compose service brought up by :meth:`ScrapedWeb.up`."""

    project: str
    service: str
    """The Compose service name, also the ``workload`` target label (unique per call)."""
    control_dir: Path
    """Bind-mounted as the replicas' ``CONTROL_DIR``."""

    @property
    def workload(self) -> str:
        return self.service

    def key(self, env: str) -> WorkloadKey:
        """The workload's key in the Docker environment ``env``."""
        return WorkloadKey(env, self.project, self.service)

    def fail_work(self, failing: bool = True) -> None:
        """Make every replica's ``/cgi-bin/work`` answer 500 (or stop doing so), at once."""
        flag = self.control_dir / "fail-work"
        if failing:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)


class ScrapedWeb:
    """Compose services of the ``web`` test image that Prometheus finds by themselves.

    Args:
        prometheus: The Prometheus whose ``targets_dir`` the replicas register in.
        compose_project: The ``compose_project`` fixture (brings projects up and down).
        directory: Where the control directories live.
    """

    PORT_BASE = 20000
    """Below Linux's ephemeral range, where ``free_port()`` ports come from."""

    def __init__(self, prometheus: PrometheusServer, compose_project: ComposeProjects, directory: Path) -> None:
        self.prometheus = prometheus
        self.compose_project = compose_project
        self.directory = directory
        self.services: list[ScrapedService] = []

    def up(
        self,
        image: str = "web:1",
        *,
        replicas: int = 1,
        traffic_rps: int = 5,
        service: str | None = None,
        environment: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> ScrapedService:
        """Bring up a Compose project with one service of ``image`` (a test image key or tag).

        Args:
            image: ``web:1``, ``web:2``, ``web:3-errors`` … or a full tag.
            replicas: Compose ``scale``.
            traffic_rps: Requests per second each replica makes to its own ``/cgi-bin/work``
                (each costs the replica some CPU: about 2 % of a core per request a second).
            service: The service name; a unique ``web-<hex>`` when omitted.
            environment: More environment variables.
            labels: More container labels.

        Returns:
            The service; its containers are healthy-or-starting, not yet necessarily scraped
            (see `wait_scraped`).
        """
        tag = image if "/" in image else f"watchfloor-test/{image}"
        name = service or f"web-{secrets.token_hex(3)}"
        control = self.directory / name
        control.mkdir(parents=True, exist_ok=True)
        env = {
            "PORT": "auto",
            "PORT_BASE": str(self.PORT_BASE),
            "SD_DIR": "/sd",
            "WORKLOAD": name,
            "TRAFFIC_RPS": str(traffic_rps),
            "CONTROL_DIR": "/control",
            **(environment or {}),
        }
        all_labels = {"watchfloor.port": "auto", **(labels or {})}
        compose = (
            'version: "2.4"\n'
            "services:\n"
            f"  {name}:\n"
            f"    image: {tag}\n"
            "    network_mode: host\n"
            f"    scale: {replicas}\n"
            f"    environment: {json.dumps(env)}\n"
            f"    labels: {json.dumps(all_labels)}\n"
            f"    volumes: [{json.dumps(f'{self.prometheus.targets_dir}:/sd')}, {json.dumps(f'{control}:/control')}]\n"
        )
        project = self.compose_project(compose)
        scraped = ScrapedService(project=project, service=name, control_dir=control)
        self.services.append(scraped)
        return scraped

    def wait_scraped(
        self, workload: str, replicas: int = 1, *, version: str | None = None, timeout: float = 30.0
    ) -> None:
        """Wait until Prometheus scrapes ``replicas`` targets of ``workload`` (of ``version``) successfully."""
        selector = f'workload="{workload}"' + (f',version="{version}"' if version is not None else "")
        self.prometheus.wait_for_result(
            f"count(up{{{selector}}} == 1)",
            lambda result: bool(result) and float(result[0]["value"][1]) >= replicas,
            timeout=timeout,
        )

    @staticmethod
    def error_ratio(workload: str, *, version: str | None = None, window: str = "10s") -> str:
        """PromQL: the share of ``/cgi-bin/work`` requests of ``workload`` that answered 500."""
        selector = f'workload="{workload}"' + (f',version="{version}"' if version is not None else "")
        return (
            f'sum(rate(http_requests_total{{{selector},code="500"}}[{window}]))'
            f" / sum(rate(http_requests_total{{{selector}}}[{window}]))"
        )

    def close(self) -> None:
        """Take the projects down (each replica removes its target file as it stops), then
        remove any target file a killed replica left behind."""
        errors = []
        for service in self.services:
            if service.project in self.compose_project.files:
                try:
                    self.compose_project.down(service.project)
                except RuntimeError as error:
                    errors.append(error)
        ours = {service.workload for service in self.services}
        for path in self.prometheus.targets_dir.glob("*.json"):
            try:
                groups = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if any((group.get("labels") or {}).get("workload") in ours for group in groups):
                path.unlink(missing_ok=True)
        if errors:
            raise errors[0]


@pytest.fixture
def scraped_web(prometheus: PrometheusServer, compose_project: ComposeProjects, tmp_path: Path) -> Iterator[ScrapedWeb]:
    """:class:`ScrapedWeb`: self-registering, self-loading ``web`` services scraped by ``prometheus``."""
    web = ScrapedWeb(prometheus, compose_project, tmp_path / "scraped-web")
    try:
        yield web
    finally:
        web.close()
