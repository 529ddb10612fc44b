"""Pod log lines, generated on demand from a seeded RNG and the clock, never stored.

A container's log is a pure function of (seed, pod uid, container, run, time): the
lines of any one-second slot come from an RNG seeded with those values, so the same
window reads the same twice, ``tailLines`` can walk backwards slot by slot, and a
followed stream is just "the slots since the last read". Memory does not grow with
how long pods have run or how many streams are open.

What the lines look like depends on the workload's flavour, guessed from the image and
container name: web access logs, JSON API logs, worker job logs (with SGR-coloured
levels, as many real workers print), PostgreSQL-style database logs and a metrics
agent's logfmt. A few percent are error lines. Each run starts with startup lines and
a run that crashed ends with its crash output, which is what ``previous=true`` shows.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

# Lines per second, on average, by flavour.
RATES = {"web": 4.0, "api": 2.0, "worker": 0.7, "db": 0.3, "agent": 0.2, "app": 1.0}
DEFAULT_RETENTION = 3600.0


def flavour_of(image: str, container: str) -> str:
    """Which kind of program a container runs, from its image and name."""
    repo = image.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    for word in (repo, container.lower()):
        if any(w in word for w in ("web", "nginx", "frontend", "ui")):
            return "web"
        if any(w in word for w in ("worker", "job", "queue", "consumer")):
            return "worker"
        if any(w in word for w in ("db", "postgres", "mysql", "redis")):
            return "db"
        if any(w in word for w in ("exporter", "agent", "fluent", "proxy")):
            return "agent"
        if any(w in word for w in ("api", "payments", "orders", "backend")):
            return "api"
    return "app"


def format_timestamp(ts: float) -> str:
    """The kubelet's ``timestamps=true`` prefix: RFC 3339 with nanoseconds."""
    whole = math.floor(ts)
    nanos = int(round((ts - whole) * 1e9))
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


@dataclass(frozen=True)
class Run:
    """One run of a container, the unit a log belongs to.

    Attributes:
        key: Distinguishes runs (the container ID, or the start time).
        image: The image, for the version in startup lines.
        flavour: What the lines look like.
        started: When the run started (epoch seconds).
        finished: When it ended, ``None`` while running.
        exit_code: How it ended, if it did.
        reason: ``Error``, ``OOMKilled``, ``Completed``…
    """

    key: str
    image: str
    flavour: str
    started: float
    finished: float | None = None
    exit_code: int | None = None
    reason: str | None = None


_PATHS = ["/", "/products", "/products/{id}", "/cart", "/checkout", "/static/app.{hash}.js", "/api/search?q={word}", "/healthz"]
_API_PATHS = ["/v1/orders", "/v1/orders/{id}", "/v1/customers/{id}", "/v1/payments", "/v1/inventory/{id}", "/readyz"]
_WORDS = ["shoes", "lamp", "kettle", "socks", "chair", "books", "coffee", "tent"]
_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "kube-probe/1.33",
    "curl/8.8.0",
]
_QUEUES = ["emails", "invoices", "thumbnails", "exports", "webhooks"]
_SGR = {"INFO": "\x1b[32mINFO\x1b[0m", "WARN": "\x1b[33mWARN\x1b[0m", "ERROR": "\x1b[31mERROR\x1b[0m"}


def _version(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _clf_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int((ts % 1) * 1000):03d}Z"


def _line(rng: random.Random, flavour: str, ts: float) -> str:
    error = rng.random() < 0.03
    if flavour == "web":
        path = rng.choice(_PATHS).format(id=rng.randint(1, 9999), hash=f"{rng.getrandbits(32):08x}", word=rng.choice(_WORDS))
        status = rng.choice((500, 502, 504)) if error else rng.choices((200, 304, 301, 404), (85, 8, 3, 4))[0]
        size = 0 if status == 304 else rng.randint(200, 60_000)
        method = "POST" if path in ("/checkout", "/cart") and rng.random() < 0.5 else "GET"
        return (
            f'10.244.{rng.randint(0, 3)}.{rng.randint(2, 250)} - - [{_clf_time(ts)}] "{method} {path} HTTP/1.1" '
            f'{status} {size} "-" "{rng.choice(_AGENTS)}" rt={rng.uniform(0.001, 0.4 if not error else 5.0):.3f}'
        )
    if flavour == "api":
        path = rng.choice(_API_PATHS).format(id=rng.randint(1000, 99999))
        if error:
            return (
                f'{{"ts":"{_iso(ts)}","level":"error","msg":"upstream request failed","path":"{path}",'
                f'"error":"dial tcp 10.96.0.{rng.randint(10, 99)}:5432: i/o timeout","trace_id":"{rng.getrandbits(64):016x}"}}'
            )
        return (
            f'{{"ts":"{_iso(ts)}","level":"info","msg":"request handled","method":"{rng.choice(("GET", "GET", "POST", "PUT"))}",'
            f'"path":"{path}","status":{rng.choice((200, 200, 200, 201, 204, 404))},"duration_ms":{rng.randint(1, 250)},'
            f'"trace_id":"{rng.getrandbits(64):016x}"}}'
        )
    if flavour == "worker":
        job = rng.randint(10_000, 99_999)
        queue = rng.choice(_QUEUES)
        if error:
            return f"{_iso(ts)} {_SGR['ERROR']} job={job} queue={queue} failed: smtp: 421 service not available, will retry"
        if rng.random() < 0.1:
            return f"{_iso(ts)} {_SGR['WARN']} job={job} queue={queue} retrying (attempt {rng.randint(2, 5)}/5)"
        if rng.random() < 0.5:
            return f"{_iso(ts)} {_SGR['INFO']} job={job} queue={queue} started"
        return f"{_iso(ts)} {_SGR['INFO']} job={job} queue={queue} finished in {rng.uniform(0.05, 9):.2f}s"
    if flavour == "db":
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{int((ts % 1) * 1000):03d} UTC"
        pid = rng.randint(100, 9999)
        if error:
            return f"{stamp} [{pid}] ERROR:  canceling statement due to statement timeout"
        if rng.random() < 0.2:
            return f"{stamp} [{pid}] LOG:  checkpoint complete: wrote {rng.randint(5, 900)} buffers ({rng.uniform(0, 5):.1f}%)"
        return f"{stamp} [{pid}] LOG:  duration: {rng.uniform(0.1, 80):.3f} ms  statement: SELECT * FROM orders WHERE id = {rng.randint(1, 99999)}"  # nosec B608 # a simulated log line, no database
    if flavour == "agent":
        level = "error" if error else "info"
        msg = "scrape failed: context deadline exceeded" if error else "Scrape completed"
        return f'ts={_iso(ts)} caller=collector.go:{rng.randint(100, 400)} level={level} msg="{msg}" duration_seconds={rng.uniform(0.001, 0.2):.4f}'
    if error:
        return f"{_iso(ts)} ERROR unexpected response from dependency: 503 Service Unavailable"
    return f"{_iso(ts)} INFO handled request id={rng.getrandbits(48):012x} in {rng.randint(1, 120)}ms"


def _startup(run: Run) -> list[str]:
    version = _version(run.image)
    name = run.image.rsplit("/", 1)[-1].split(":", 1)[0]
    if run.flavour == "db":
        return [
            "PostgreSQL init process complete; ready for start up.",
            "LOG:  starting PostgreSQL 16.3 on x86_64-pc-linux-gnu",
            "LOG:  listening on IPv4 address \"0.0.0.0\", port 5432",
            "LOG:  database system is ready to accept connections",
        ]
    return [
        f"starting {name} {version}",
        f"config loaded from /etc/{name}/config.yaml (env=production)",
        "listening on 0.0.0.0:8080" if run.flavour in ("web", "api", "app") else "connected to queue broker amqp://rabbitmq:5672",
    ]


def _crash_output(run: Run) -> list[str]:
    name = run.image.rsplit("/", 1)[-1].split(":", 1)[0]
    if run.reason == "OOMKilled":
        return [f"allocating batch buffer for 50000 records ({name})"]
    return [
        f"error: required setting {name.upper().replace('-', '_')}_DB_URL is not set",
        "panic: cannot start without a database connection",
        "",
        "goroutine 1 [running]:",
        "main.main()",
        f"\t/src/cmd/{name}/main.go:42 +0x1d4",
        f"exit status {run.exit_code if run.exit_code is not None else 1}",
    ]


class LogSource:
    """Generates any window of any container's log, deterministically.

    Args:
        seed: Mixed into every slot's RNG; two emulators with different seeds log
            different lines.
        retention: How far back a log reaches, in seconds (a real kubelet rotates
            logs too; this bounds the work of a request without ``tailLines``).
    """

    def __init__(self, seed: int = 0, *, retention: float = DEFAULT_RETENTION) -> None:
        self._seed = seed
        self.retention = retention

    def _slot(self, run: Run, slot: int) -> list[tuple[float, str]]:
        rng = random.Random(f"{self._seed}/{run.key}/{slot}")  # nosec B311 # simulated log text, not secrets
        rate = RATES.get(run.flavour, 1.0)
        # A Poisson-ish count around the flavour's rate, cheap to draw.
        count = int(rate) + (1 if rng.random() < rate - int(rate) else 0)
        if rng.random() < 0.2:
            count += rng.randint(0, max(1, int(rate)))
        offsets = sorted(rng.random() for _ in range(count))
        return [(slot + offset, _line(rng, run.flavour, slot + offset)) for offset in offsets]

    def _fixed_lines(self, run: Run) -> list[tuple[float, str]]:
        lines = [(run.started + 0.001 * (n + 1), text) for n, text in enumerate(_startup(run))]
        if run.finished is not None and run.reason not in (None, "Completed"):
            crash = _crash_output(run)
            lines += [(run.finished - 0.001 * (len(crash) - n), text) for n, text in enumerate(crash)]
        return lines

    def window(self, run: Run, start: float, end: float) -> list[tuple[float, str]]:
        """Every line of ``run`` with ``start <= ts < end``, oldest first."""
        lower = max(start, run.started, end - self.retention)
        upper = end if run.finished is None else min(end, run.finished)
        if upper <= lower:
            return []
        out: list[tuple[float, str]] = []
        steady_from = run.started + 0.01
        steady_to = upper if run.finished is None else min(upper, run.finished - 0.01)
        for slot in range(math.floor(lower), math.floor(upper) + 1):
            for ts, text in self._slot(run, slot):
                if lower <= ts < upper and steady_from <= ts < steady_to:
                    out.append((ts, text))
        out.extend((ts, text) for ts, text in self._fixed_lines(run) if lower <= ts < upper)
        out.sort(key=lambda pair: pair[0])
        return out

    def tail(self, run: Run, end: float, count: int, since: float | None = None) -> list[tuple[float, str]]:
        """The last ``count`` lines before ``end`` (not before ``since``), oldest first."""
        if count <= 0:
            return []
        lower = max(run.started, end - self.retention, since or 0.0)
        upper = end if run.finished is None else min(end, run.finished)
        collected: list[tuple[float, str]] = []
        window_end = upper
        # Walk back in growing windows so a long tail costs few passes.
        step = max(1.0, count / RATES.get(run.flavour, 1.0))
        while window_end > lower and len(collected) < count:
            window_start = max(lower, window_end - step)
            collected = self.window(run, window_start, window_end) + collected
            window_end = window_start
            step *= 2
        return collected[-count:]
