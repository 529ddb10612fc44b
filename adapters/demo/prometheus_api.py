"""The demo's Prometheus: simulated request metrics of the emulated pods, over Prometheus's HTTP API.

:class:`DemoPrometheus` serves, on 127.0.0.1, the part of Prometheus's HTTP API that
:class:`adapters.prometheus.PrometheusSource` uses, for each demo environment under its
own path prefix (``http://127.0.0.1:<port>/demo-staging``), so the console's
sparklines, Prometheus gates and alerts panel work in ``--demo`` through the production
code path. **Every number is simulated**: buildinfo says so, every series carries
``simulated="true"``, and every alert's description says so.

Endpoints (GET, and POST with a form body where Prometheus takes one):
``/api/v1/status/buildinfo``, ``/api/v1/query``, ``/api/v1/query_range``,
``/api/v1/alerts``, ``/-/ready``, ``/-/healthy``. Answers use Prometheus's JSON
envelope; a query the endpoint cannot evaluate is HTTP 400 ``bad_data`` naming what is
unsupported (:mod:`adapters.demo.promql` lists the PromQL subset).

Metrics — every ``scrape_interval`` (5 s; 5 s × ``time_scale`` under
:class:`~adapters.demo.DemoCluster`) the emulator's pods are read in-process, and
each Running, Ready pod of a ReplicaSet (a Deployment's or an Argo Rollout's) is
"scraped":

- ``http_requests_total{code}`` — counter; ``code`` is ``200``, ``404``, ``500`` or
  ``503`` (all four from the pod's first scrape, so an error ratio is 0, not empty);
- ``http_request_duration_seconds_bucket{le}`` (Prometheus's default buckets,
  0.005 … 10, ``+Inf``), ``http_request_duration_seconds_sum``,
  ``http_request_duration_seconds_count``.

Labels on every series: ``namespace``, ``workload`` (the Deployment's name without a
``-canary``, ``-green`` or ``-blue`` suffix), ``pod``, ``track`` (``canary`` for a
``-canary`` Deployment, a pod labelled ``track: canary`` or a Rollout's non-stable
ReplicaSet; else ``stable``), ``version`` (the image tag), ``simulated="true"``.

Traffic: each workload gets a steady demand (web ≈ 60 req/s, api-like ≈ 35, worker ≈ 4,
others ≈ 10) with a slow 10-minute swell and per-scrape noise, split evenly over its
serving pods (so a canary of 1 pod beside 3 stable ones takes 25 %; Service selectors
are not modelled). Per pod, by image tag:

============================  =========  =====================================
image tag ends in             5xx share  latency (median, p95)
============================  =========  =====================================
(anything else)               ≈ 0.2 %    30–60 ms, ≈ 2.5 × median
``-errors``, ``-broken``      ≈ 32 %     4 × normal, long tail
``-slow``                     ≈ 0.4 %    ≈ 0.9 s, ≈ 2 s
``-oom``/``-flaky`` pods      ≈ 1 %      1.3 × normal
============================  =========  =====================================

A ``-broken`` pod crash-loops (:mod:`adapters.demo.kubelet`), so it is rarely Ready
and rarely scraped: its gate sees little or no data (inconclusive), while its health
fails. ``-errors`` serves and fails a Prometheus gate. Noise is seeded per pod and per
scrape (deterministic for a seed). Pods present in the first 20 scrapes get
``backfill`` seconds (10 min) of history, so the demo opens with full sparklines.

History: one ring of at most ``history`` samples (361: 30 min at 5 s) per series;
a pod that stops serving gets a staleness marker, and its series are forgotten once
their last sample leaves the ring's span. Memory is bounded by pods × series × ring.

Alerts, evaluated after every scrape (``for`` in scrape intervals, 30 s and 1 min at
5 s), labels ``alertname``, ``namespace``, ``workload``, ``track``, ``severity``:

- ``HighErrorRatio`` (critical): 5xx share of a workload's track over ``[1m]`` > 5 %
  for 6 intervals — pending before that;
- ``HighLatencyP95`` (warning): p95 latency over ``[1m]`` > 1 s for 12 intervals.

Named queries for the demo environments are in :data:`NAMED_QUERIES`
(``adapters.prometheus.named_query`` templates; it fills and escapes
``{workload}``/``{namespace}``)::

    request rate (req/s):
        sum(rate(http_requests_total{namespace="{namespace}",workload="{workload}"}[1m]))
    error ratio (0–1):
        sum(rate(http_requests_total{namespace="{namespace}",workload="{workload}",code=~"5.."}[1m]))
          / sum(rate(http_requests_total{namespace="{namespace}",workload="{workload}"}[1m]))
    p95 latency (s):
        histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{namespace}",workload="{workload}"}[1m])))

For a canary gate, :data:`CANARY_GATE_QUERIES` has the same with ``track="canary"``.
A workload with no serving pod gives an empty result (a gate's *inconclusive*); do not
add ``or vector(0)`` to the error ratio, or a canary that never serves would pass.

Nothing here imports Textual or the Kubernetes client; the server runs in its own
thread and event loop and reads each emulator's store through
:meth:`KubernetesEmulator.call <adapters.demo.emulator.KubernetesEmulator.call>`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import random
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from adapters.demo.kubelet import FAULT_ANNOTATION, behaviour_of
from adapters.demo.logs import flavour_of
from adapters.demo.promql import (
    MATRIX,
    SCALAR,
    STRING,
    Labels,
    MemoryTSDB,
    Query,
    QueryError,
    format_value,
    parse_duration,
)
from adapters.demo.resources import PODS, REPLICASETS, by_kind
from adapters.wire import parse_rfc3339

if TYPE_CHECKING:
    from adapters.demo.emulator import KubernetesEmulator
    from adapters.demo.store import ObjectStore

__all__ = ["CANARY_GATE_QUERIES", "NAMED_QUERIES", "DemoPrometheus", "PodView", "RequestSimulator", "serving_pods"]

log = logging.getLogger("watchfloor.demo.prometheus")

SCRAPE_INTERVAL = 5.0
HISTORY = 361
"""Samples per series: 30 minutes at the 5-second scrape interval."""
BACKFILL = 600.0
WARMUP_SCRAPES = 20
"""Pods first seen within this many scrapes of the start get backfilled history."""
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)
CODES = ("200", "404", "500", "503")
MAX_POINTS = 11_000
VERSION = "watchfloor-demo (simulated data)"
SUFFIXES = ("-canary", "-green", "-blue")

_SELECT = 'namespace="{namespace}",workload="{workload}"'
NAMED_QUERIES: dict[str, str] = {
    "request rate": f"sum(rate(http_requests_total{{{_SELECT}}}[1m]))",
    "error ratio": f'sum(rate(http_requests_total{{{_SELECT},code=~"5.."}}[1m])) / sum(rate(http_requests_total{{{_SELECT}}}[1m]))',
    "p95 latency": f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{_SELECT}}}[1m])))",
}
"""Sparkline queries (request rate in req/s, error ratio 0–1, p95 latency in s) with placeholders."""
CANARY_GATE_QUERIES: dict[str, str] = {
    name: query.replace(_SELECT, _SELECT + ',track="canary"') for name, query in NAMED_QUERIES.items()
}
"""The same, for the canary's pods only: what a canary runbook's Prometheus gates measure."""

# Requests per second a whole workload of each flavour serves, and its median latency.
_DEMAND = {"web": 60.0, "api": 35.0, "worker": 4.0, "app": 10.0, "db": 10.0, "agent": 2.0}
_MEDIAN = {"web": 0.03, "api": 0.06, "worker": 0.02, "app": 0.05, "db": 0.01, "agent": 0.01}


@dataclass(frozen=True, slots=True)
class PodView:
    """What the simulator needs of one serving pod (a copy: the store's dicts stay on its loop)."""

    namespace: str
    pod: str
    uid: str
    workload: str
    track: str
    version: str
    flavour: str
    behaviour: str
    restarts: int


@dataclass(frozen=True, slots=True)
class Profile:
    """How a pod's requests go: share of 5xx, and a log-normal latency."""

    error_share: float
    median: float
    sigma: float

    @classmethod
    def of(cls, pod: PodView) -> Profile:
        median = _MEDIAN.get(pod.flavour, 0.05)
        if pod.behaviour in ("errors", "broken"):
            return cls(0.32, median * 4, 0.9)
        if pod.behaviour == "slow":
            return cls(0.004, 0.9, 0.45)
        if pod.behaviour in ("oom", "flaky"):
            return cls(0.01, median * 1.3, 0.6)
        return cls(0.002, median, 0.55)


# --- reading the emulator -------------------------------------------------------------------


def _image_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1].split("@", 1)[0]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _controller(meta: dict[str, Any]) -> dict[str, Any] | None:
    owners = meta.get("ownerReferences") or []
    return next((o for o in owners if o.get("controller")), owners[0] if owners else None)


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def workload_of(name: str) -> str:
    """The workload a Deployment belongs to: its name without a canary or colour suffix."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def serving_pods(store: ObjectStore) -> list[PodView]:
    """The pods that serve requests now: Running, Ready, not terminating, owned by a ReplicaSet.

    Runs on the emulator's loop (through ``KubernetesEmulator.call``).
    """
    rollouts = by_kind("argoproj.io/v1alpha1", "Rollout")
    views = []
    for pod in store.objects(PODS):
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") or not _ready(pod):
            continue
        owner = _controller(meta)
        if owner is None or owner.get("kind") != "ReplicaSet":
            continue  # StatefulSets (the database) and DaemonSets (agents) serve no HTTP here
        namespace = meta.get("namespace", "")
        labels = meta.get("labels") or {}
        replicaset = store.find(REPLICASETS, namespace, owner.get("name", ""))
        top = _controller(replicaset["metadata"]) if replicaset else None
        name = top.get("name", "") if top else owner.get("name", "").rsplit("-", 1)[0]
        canary = name.endswith("-canary") or labels.get("track") == "canary"
        if top is not None and top.get("kind") == "Rollout" and rollouts is not None and not canary:
            rollout = store.find(rollouts, namespace, name)
            stable = ((rollout or {}).get("status") or {}).get("stableRS")
            pod_hash = labels.get("rollouts-pod-template-hash")
            canary = bool(stable and pod_hash and pod_hash != stable)
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        main = containers[0]
        image = main.get("image", "")
        tag = _image_tag(image)
        behaviour = "errors" if tag.endswith("-errors") else behaviour_of(image, (meta.get("annotations") or {}).get(FAULT_ANNOTATION))
        restarts = sum(s.get("restartCount", 0) for s in (pod.get("status") or {}).get("containerStatuses") or [])
        views.append(
            PodView(
                namespace=namespace,
                pod=meta.get("name", ""),
                uid=meta.get("uid", ""),
                workload=workload_of(name),
                track="canary" if canary else "stable",
                version=tag,
                flavour=flavour_of(image, main.get("name", "")),
                behaviour=behaviour,
                restarts=restarts,
            )
        )
    return views


# --- the simulation --------------------------------------------------------------------------


@dataclass
class _PodState:
    """One pod's counters and the label sets of its series (built once)."""

    view: PodView
    last_t: float
    requests: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CODES, 0.0))
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    total_seconds: float = 0.0
    series: dict[str, Labels] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = {
            "namespace": self.view.namespace,
            "pod": self.view.pod,
            "simulated": "true",
            "track": self.view.track,
            "version": self.view.version,
            "workload": self.view.workload,
        }

        def labels(name: str, **extra: str) -> Labels:
            return tuple(sorted({**base, "__name__": name, **extra}.items()))

        for code in CODES:
            self.series[f"code:{code}"] = labels("http_requests_total", code=code)
        for bound in BUCKETS:
            # ``le`` as Go's client library writes it: 0.005, 1, +Inf.
            self.series[f"le:{bound}"] = labels("http_request_duration_seconds_bucket", le=format_value(bound))
        self.series["sum"] = labels("http_request_duration_seconds_sum")
        self.series["count"] = labels("http_request_duration_seconds_count")


def _stochastic_round(value: float, rng: random.Random) -> int:
    whole = math.floor(value)
    return int(whole) + (1 if rng.random() < value - whole else 0)


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    if x == math.inf:
        return 1.0
    return 0.5 * (1 + math.erf((math.log(x) - math.log(median)) / (sigma * math.sqrt(2))))


class RequestSimulator:
    """The request metrics of one environment's pods, written into a :class:`MemoryTSDB`.

    Args:
        db: Where the series go.
        seed: Seeds the noise (with each pod's uid and the scrape's slot).
        interval: Seconds between scrapes.
        backfill: Seconds of history invented for the pods of the first scrapes.
    """

    def __init__(self, db: MemoryTSDB, *, seed: int = 0, interval: float = SCRAPE_INTERVAL, backfill: float = BACKFILL) -> None:
        self.db = db
        self.seed = seed
        self.interval = interval
        self.backfill = min(backfill, (db.capacity - 1) * interval)
        self.scrapes = 0
        self._pods: dict[str, _PodState] = {}
        self._backfilled: set[str] = set()  # grows only during the warm-up scrapes

    def scrape(self, t: float, pods: list[PodView] | None) -> None:
        """Record one scrape at ``t`` of the pods serving now (None: the cluster did not answer)."""
        self.scrapes += 1
        serving = {p.uid: p for p in pods or ()}
        for uid in list(self._pods):
            state = self._pods[uid]
            current = serving.get(uid)
            if current is None:
                for labels in state.series.values():
                    self.db.mark_stale(labels, t)
                del self._pods[uid]
            elif current.restarts != state.view.restarts:
                del self._pods[uid]  # the container restarted: its counters start again from 0
        per_workload = Counter((p.namespace, p.workload) for p in serving.values())
        for uid, view in serving.items():
            share = 1 / per_workload[(view.namespace, view.workload)]
            state = self._pods.get(uid)
            if state is None:
                state = self._pods[uid] = _PodState(view, t - self.interval)
                # Only a pod's first appearance: one that restarts in the warm-up starts from 0.
                if self.scrapes <= WARMUP_SCRAPES and self.backfill > 0 and uid not in self._backfilled:
                    self._backfilled.add(uid)
                    steps = int(self.backfill / self.interval)
                    state.last_t = t - (steps + 1) * self.interval
                    for k in range(steps, 0, -1):
                        self._advance(state, t - k * self.interval, share)
            self._advance(state, t, share)
        self.db.drop_older_than(t - (self.db.capacity - 1) * self.interval)

    def _advance(self, state: _PodState, t: float, share: float) -> None:
        view = state.view
        dt = max(0.0, t - state.last_t)
        state.last_t = t
        slot = round(t / self.interval)
        rng = random.Random(f"{self.seed}/{view.uid}/{slot}")  # nosec B311 # simulated metrics, not secrets
        phase = (zlib.crc32(f"{view.namespace}/{view.workload}".encode()) % 1000) / 1000
        swell = math.sin(2 * math.pi * (t / 600.0 + phase))
        rate = _DEMAND.get(view.flavour, 10.0) * (1 + 0.2 * swell) * share * (1 + rng.uniform(-0.08, 0.08))
        expected = rate * dt
        profile = Profile.of(view)
        errors = min(0.95, profile.error_share * (1 + rng.uniform(-0.3, 0.3)))
        counts = {
            "500": _stochastic_round(expected * errors * 0.8, rng),
            "503": _stochastic_round(expected * errors * 0.2, rng),
            "404": _stochastic_round(expected * 0.015, rng),
        }
        counts["200"] = max(0, _stochastic_round(expected, rng) - sum(counts.values()))
        total = sum(counts.values())
        for code, n in counts.items():
            state.requests[code] += n
        # Spread this scrape's requests over the buckets by the latency distribution,
        # largest remainders first, so the +Inf bucket equals the requests served.
        median = profile.median * (1 + 0.12 * swell)
        cdf = [_lognormal_cdf(bound, median, profile.sigma) for bound in BUCKETS]
        shares = [cdf[0]] + [cdf[i] - cdf[i - 1] for i in range(1, len(cdf))]
        exact = [total * s for s in shares]
        whole = [math.floor(x) for x in exact]
        left = total - sum(whole)
        order = sorted(range(len(exact)), key=lambda i: exact[i] - whole[i] + rng.random() * 0.5, reverse=True)
        for i in order[:left]:
            whole[i] += 1
        running = 0
        for i, n in enumerate(whole):
            running += n
            state.buckets[i] += running
        mean = median * math.exp(profile.sigma**2 / 2)
        state.total_seconds += total * mean * (1 + rng.uniform(-0.05, 0.05))
        append = self.db.append
        for code in CODES:
            append(state.series[f"code:{code}"], t, state.requests[code])
        for bound, value in zip(BUCKETS, state.buckets, strict=True):
            append(state.series[f"le:{bound}"], t, value)
        append(state.series["sum"], t, state.total_seconds)
        append(state.series["count"], t, state.buckets[-1])


# --- alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertRule:
    """An alerting rule: ``expr`` holding for ``hold`` scrape intervals fires."""

    name: str
    expr: str
    hold: int
    severity: str
    summary: str  # str.format with the alert's labels and {value}


RULES = (
    AlertRule(
        "HighErrorRatio",
        'sum by (namespace, workload, track) (rate(http_requests_total{code=~"5.."}[1m]))'
        " / sum by (namespace, workload, track) (rate(http_requests_total[1m])) > 0.05",
        6,
        "critical",
        "{workload} ({track}): {value:.1%} of requests fail with 5xx",
    ),
    AlertRule(
        "HighLatencyP95",
        "histogram_quantile(0.95, sum by (namespace, workload, track, le) "
        "(rate(http_request_duration_seconds_bucket[1m]))) > 1",
        12,
        "warning",
        "{workload} ({track}): p95 latency {value:.2f} s",
    ),
)


@dataclass
class _ActiveAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    active_at: float
    value: float
    state: str = "pending"


class AlertEvaluator:
    """Pending and firing alerts of :data:`RULES` on one environment's series."""

    def __init__(self, db: MemoryTSDB, interval: float, rules: tuple[AlertRule, ...] = RULES) -> None:
        self.db = db
        self.interval = interval
        self.rules = rules
        self.active: dict[tuple[str, Labels], _ActiveAlert] = {}

    def evaluate(self, t: float) -> None:
        """Evaluate every rule at ``t``, as Prometheus's rule manager does each interval."""
        for rule in self.rules:
            seen = set()
            for labels, value in Query(rule.expr, self.db).instant(t):  # type: ignore[union-attr, misc]
                key = (rule.name, labels)
                seen.add(key)
                alert = self.active.get(key)
                label_map = dict(labels)
                if alert is None:
                    alert = self.active[key] = _ActiveAlert(
                        labels={"alertname": rule.name, **label_map, "severity": rule.severity},
                        annotations={"description": "Simulated data from the watchfloor demo, not a real measurement."},
                        active_at=t,
                        value=value,
                    )
                alert.value = value
                # Re-rendered at each evaluation, as Prometheus does, so the summary shows the latest value.
                alert.annotations["summary"] = rule.summary.format(value=value, **{"workload": "", "track": "", **label_map})
                if alert.state == "pending" and t - alert.active_at >= rule.hold * self.interval - 1e-6:
                    alert.state = "firing"
            for key in [k for k in self.active if k[0] == rule.name and k not in seen]:
                del self.active[key]  # resolved

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "labels": alert.labels,
                "annotations": alert.annotations,
                "state": alert.state,
                "activeAt": datetime.fromtimestamp(alert.active_at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "value": f"{alert.value:e}",
            }
            for _, alert in sorted(self.active.items())
        ]


# --- the HTTP server -------------------------------------------------------------------------


@dataclass
class _Environment:
    name: str
    emulator: KubernetesEmulator
    db: MemoryTSDB
    simulator: RequestSimulator
    alerts: AlertEvaluator


class _BadParameter(Exception):
    pass


def _parse_time(name: str, text: str | None, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        moment = parse_rfc3339(text)
        if moment is None:
            raise _BadParameter(f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp') from None
        return moment.timestamp()
    if not math.isfinite(value):
        raise _BadParameter(f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp')
    return value


def _parse_step(text: str | None) -> float:
    if not text:
        raise _BadParameter('invalid parameter "step": cannot parse "" to a valid duration')
    try:
        value = float(text)
    except ValueError:
        try:
            return parse_duration(text)
        except QueryError:
            raise _BadParameter(f'invalid parameter "step": cannot parse "{text}" to a valid duration') from None
    if not math.isfinite(value):
        raise _BadParameter(f'invalid parameter "step": cannot parse "{text}" to a valid duration')
    return value


def _success(data: Any) -> web.Response:
    return web.json_response({"status": "success", "data": data})


def _error(error_type: str, message: str, status: int) -> web.Response:
    return web.json_response({"status": "error", "errorType": error_type, "error": message}, status=status)


def _vector_json(vector: Any, t: float) -> list[dict[str, Any]]:
    return [{"metric": dict(labels), "value": [t, format_value(v)]} for labels, v in vector]


def _matrix_json(matrix: Any) -> list[dict[str, Any]]:
    return [{"metric": dict(labels), "values": [[ts, format_value(v)] for ts, v in points]} for labels, points in matrix]


class DemoPrometheus:
    """Simulated request metrics of the demo's emulated clusters, over Prometheus's HTTP API.

    Args:
        emulators: ``{environment: emulator}``; each must be started before :meth:`start`.
        scrape_interval: Seconds between scrapes (and rule evaluations).
        seed: Seeds the simulated noise; each environment derives its own.
        history: Samples kept per series.
        backfill: Seconds of history invented for the pods present at the start.
        host: Address to bind; keep it on loopback.

    Example:
        >>> prometheus = DemoPrometheus({"demo-staging": emulator})  # doctest: +SKIP
        >>> urls = prometheus.start()  # {"demo-staging": "http://127.0.0.1:41234/demo-staging"}
    """

    def __init__(
        self,
        emulators: Mapping[str, KubernetesEmulator],
        *,
        scrape_interval: float = SCRAPE_INTERVAL,
        seed: int = 7,
        history: int = HISTORY,
        backfill: float = BACKFILL,
        host: str = "127.0.0.1",
    ) -> None:
        if not scrape_interval > 0:
            raise ValueError(f"scrape_interval must be above 0, got {scrape_interval!r}")
        self.scrape_interval = float(scrape_interval)
        self.host = host
        self.environments: dict[str, _Environment] = {}
        for n, (name, emulator) in enumerate(emulators.items()):
            db = MemoryTSDB(history)
            self.environments[name] = _Environment(
                name,
                emulator,
                db,
                RequestSimulator(db, seed=seed * 1000 + n, interval=self.scrape_interval, backfill=backfill),
                AlertEvaluator(db, self.scrape_interval),
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._scraper: asyncio.Task[None] | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``; each environment is under ``/<environment>``.

        Raises:
            RuntimeError: Not started.
        """
        if self._base_url is None:
            raise RuntimeError("the demo Prometheus is not running")
        return self._base_url

    def url(self, environment: str) -> str:
        """The Prometheus base URL of one environment (what ``PrometheusSource`` takes)."""
        if environment not in self.environments:
            raise KeyError(environment)
        return f"{self.base_url}/{environment}"

    def start(self) -> dict[str, str]:
        """Take a first scrape, then serve and scrape in a background thread.

        Returns:
            ``{environment: base URL}``.
        """
        if self._base_url is None:
            ready = threading.Event()
            failure: list[BaseException] = []
            loop = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(loop)
                try:
                    loop.run_until_complete(self._startup())
                except BaseException as error:  # reported to start()'s caller below
                    failure.append(error)
                    ready.set()
                    loop.close()
                    return
                ready.set()
                try:
                    loop.run_forever()
                finally:
                    loop.run_until_complete(loop.shutdown_default_executor())
                    loop.close()

            self._loop = loop
            self._thread = threading.Thread(target=run, name="demo-prometheus", daemon=True)
            self._thread.start()
            ready.wait()
            if failure:
                self._loop = self._thread = None
                raise RuntimeError("the demo Prometheus failed to start") from failure[0]
        return {name: self.url(name) for name in self.environments}

    def stop(self) -> None:
        """Stop serving and scraping. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
        except (concurrent.futures.TimeoutError, RuntimeError) as error:
            log.warning("demo Prometheus shutdown was not clean: %r", error)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._loop = self._thread = None
        self._base_url = None

    def __enter__(self) -> DemoPrometheus:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- inside the server's loop -------------------------------------------------------------

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{environment}/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        await self._scrape_all()
        self._scraper = asyncio.get_running_loop().create_task(self._scrape_forever())
        self._base_url = f"http://{self.host}:{port}"

    async def _shutdown(self) -> None:
        if self._scraper is not None:
            self._scraper.cancel()
            try:
                await self._scraper
            except asyncio.CancelledError:
                pass
            self._scraper = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape_forever(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.scrape_interval
            delay = due - loop.time()
            if delay < 0:  # fell behind (a long query, a busy machine): skip, do not bunch up
                due = loop.time()
                delay = 0
            await asyncio.sleep(delay)
            await self._scrape_all()

    async def _scrape_all(self) -> None:
        loop = asyncio.get_running_loop()
        for env in self.environments.values():
            emulator = env.emulator
            try:
                pods = await loop.run_in_executor(None, lambda: emulator.call(lambda: serving_pods(emulator.store)))  # type: ignore[arg-type]
            except Exception as error:  # the cluster is down: its series go stale, as a failed scrape makes them
                log.debug("scrape of %s failed: %r", env.name, error)
                pods = None
            t = round(time.time(), 3)
            env.simulator.scrape(t, pods)
            try:
                env.alerts.evaluate(t)
            except QueryError as error:  # a rule hitting a limit must not stop the scrapes
                log.warning("alert rules of %s failed: %s", env.name, error)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        env = self.environments.get(request.match_info["environment"])
        tail = request.match_info["tail"]
        if env is None:
            return web.Response(status=404, text="404 page not found\n")
        if tail in ("-/ready", "-/healthy"):
            return web.Response(text=f"Prometheus Server is {'Ready' if tail == '-/ready' else 'Healthy'} (simulated).\n")
        if not tail.startswith("api/v1/"):
            return web.Response(status=404, text="404 page not found\n")
        endpoint = tail[len("api/v1/") :]
        if request.method not in ("GET", "POST") or (request.method == "POST" and endpoint not in ("query", "query_range")):
            return _error("bad_data", f"method {request.method} not allowed", 405)
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        try:
            if endpoint == "status/buildinfo":
                return _success(
                    {
                        "version": VERSION,
                        "revision": "simulated",
                        "branch": "demo",
                        "buildUser": "watchfloor",
                        "buildDate": "",
                        "goVersion": "none (a Python simulation)",
                    }
                )
            if endpoint == "alerts":
                return _success({"alerts": env.alerts.as_json()})
            if endpoint == "query":
                return self._query(env, params)
            if endpoint == "query_range":
                return self._query_range(env, params)
        except _BadParameter as error:
            return _error("bad_data", str(error), 400)
        except QueryError as error:
            return _error(error.error_type, str(error), error.status)
        except Exception as error:  # a bug here must answer, not take the server down
            log.exception("demo Prometheus failed on %s", request.path_qs)
            return _error("internal", f"the demo endpoint failed: {type(error).__name__}", 500)
        return web.Response(status=404, text="404 page not found\n")

    @staticmethod
    def _query(env: _Environment, params: dict[str, str]) -> web.Response:
        t = round(_parse_time("time", params.get("time"), time.time()), 3)
        query = Query(params.get("query", ""), env.db)
        value = query.instant(t)
        if query.type == SCALAR:
            return _success({"resultType": "scalar", "result": [t, format_value(value)]})  # type: ignore[arg-type]
        if query.type == STRING:
            return _success({"resultType": "string", "result": [t, value]})
        if query.type == MATRIX:
            return _success({"resultType": "matrix", "result": _matrix_json(value)})
        return _success({"resultType": "vector", "result": _vector_json(value, t)})

    @staticmethod
    def _query_range(env: _Environment, params: dict[str, str]) -> web.Response:
        start = _parse_time("start", params.get("start"), math.nan)
        end = _parse_time("end", params.get("end"), math.nan)
        if math.isnan(start):
            raise _BadParameter('invalid parameter "start": cannot parse "" to a valid timestamp')
        if math.isnan(end):
            raise _BadParameter('invalid parameter "end": cannot parse "" to a valid timestamp')
        step = _parse_step(params.get("step"))
        if end < start:
            raise _BadParameter('invalid parameter "end": end timestamp must not be before start time')
        if step <= 0:
            raise _BadParameter(
                'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer'
            )
        if (end - start) / step > MAX_POINTS:
            raise _BadParameter(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
            )
        query = Query(params.get("query", ""), env.db)
        return _success({"resultType": "matrix", "result": _matrix_json(query.range(start, end, step))})

