"""A Kubernetes API emulator on aiohttp, for the demo and for tests.

:class:`KubernetesEmulator` serves, over real HTTP on 127.0.0.1, the subset of the
Kubernetes API that watchfloor's Kubernetes adapter and runbooks use, faithfully
enough that the official ``kubernetes`` client works against it unmodified:

- discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>[/<version>]``;
- core/v1 pods, events, namespaces, nodes, services, configmaps; apps/v1 deployments,
  replicasets, statefulsets, daemonsets; coordination.k8s.io/v1 leases — namespaced
  and all-namespaces;
- list (label selectors with equality, set and existence clauses; field selectors;
  ``limit``/``continue``), watch (``resourceVersion``, ``timeoutSeconds``,
  ``allowWatchBookmarks``, ``sendInitialEvents``; 410 Expired beyond the history),
  get, create, replace, the three patch types, delete (graceful for pods),
  deletecollection, the ``status`` and ``scale`` subresources, ``pods/log`` (plain
  text; ``follow``, ``tailLines``, ``sinceSeconds``, ``sinceTime``, ``timestamps``,
  ``limitBytes``, ``container``, ``previous``);
- ``metrics.k8s.io/v1beta1`` pods and nodes, which can be switched off;
- ``argoproj.io/v1alpha1`` rollouts (Argo Rollouts' CRD: list, watch, get, create,
  patch, delete and the ``status`` subresource), when switched on; with
  ``argo_controller`` a simulated Argo controller (:mod:`adapters.demo.argo`) runs
  canary Rollouts through their steps, without it they are only stored and a test
  writes their status as Argo would.

The server runs in its own thread with its own event loop, so a synchronous caller (a
test, the console's ``--demo``) starts it and talks to it like to a remote cluster. A
simulated control plane (:mod:`adapters.demo.controller`) runs in the same loop.

Fault-injection hooks (latency, failures, 5xx storms, expired and dropped watches) and
request counters are thread-safe and may be called from any thread.

Memory is bounded by design: objects, a fixed-size history per resource, and one
cursor per open watch. Nothing is recorded per request except a counter per (verb,
resource) pair.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from adapters.demo import metrics as demo_metrics
from adapters.demo import resources as res
from adapters.demo.controller import Controller
from adapters.demo.kubelet import Node
from adapters.demo.logs import LogSource, Run, flavour_of, format_timestamp
from adapters.demo.objects import parse_time, rfc3339
from adapters.demo.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from adapters.demo.resources import NAMESPACES, NODES, PODS, ResourceType
from adapters.demo.selectors import FieldSelector, LabelSelector, SelectorError
from adapters.demo.store import DEFAULT_HISTORY_LIMIT, ApiError, ObjectStore, Watch, dump

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger("watchfloor.demo.emulator")

T = TypeVar("T")

# A watch without timeoutSeconds ends after this long, like the API server's
# --min-request-timeout (1800 s, randomised up to twice that there).
DEFAULT_WATCH_TIMEOUT = 1800.0
DEFAULT_BOOKMARK_INTERVAL = 60.0
LOG_FOLLOW_INTERVAL = 0.25
_WATCH_BATCH = 500

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    502: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_TRUE = ("1", "true", "True")


def _status_response(error: ApiError) -> web.Response:
    headers = {"Retry-After": "1"} if error.code in (429, 503) else None
    return web.Response(status=error.code, body=dump(error.status()), content_type="application/json", headers=headers)


def _json_response(body: bytes | dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, body=body if isinstance(body, bytes) else dump(body), content_type="application/json")


def _event_line(type_: str, raw: bytes) -> bytes:
    return b'{"type":"' + type_.encode() + b'","object":' + raw + b"}\n"


def write_kubeconfig(path: str | Path, contexts: list[tuple[str, str, str | None]], current: str | None = None) -> Path:
    """Write a kubeconfig with one cluster, user and context per entry (no auth).

    Args:
        path: Where to write it (parent directories are created).
        contexts: ``(context name, server URL, default namespace or None)`` entries.
        current: The ``current-context``; the first entry's by default.

    Returns:
        The path written. The file is JSON, which is valid YAML and what
        ``kubernetes.config.load_kube_config`` reads.
    """
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": current or contexts[0][0],
    }
    for name, server, namespace in contexts:
        config["clusters"].append({"name": name, "cluster": {"server": server}})
        # The emulator asks for no credentials; an empty token keeps every client happy.
        config["users"].append({"name": name, "user": {"token": "demo"}})  # nosec B105 # the emulator checks no credentials
        context: dict[str, Any] = {"cluster": name, "user": name}
        if namespace:
            context["namespace"] = namespace
        config["contexts"].append({"name": name, "context": context})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


@dataclass
class _Route:
    """Where a request goes, parsed from its path."""

    kind: str  # "discovery" | "collection" | "object" | "subresource" | "metrics" | "health"
    rt: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    document: dict[str, Any] | None = None
    metrics_plural: str | None = None


class _Faults:
    """Injected faults, shared between the caller's thread and the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency = 0.0
        self._fail_remaining = 0
        self._fail_status = 500
        self._fail_verbs: frozenset[str] | None = None
        self._fail_resources: frozenset[str] | None = None
        self._storm_until = 0.0
        self._storm_status = 503

    def fail_next(self, count: int, status: int, verbs: frozenset[str] | None, resources: frozenset[str] | None) -> None:
        with self._lock:
            self._fail_remaining = count
            self._fail_status = status
            self._fail_verbs = verbs
            self._fail_resources = resources

    def storm(self, seconds: float, status: int) -> None:
        with self._lock:
            self._storm_until = time.monotonic() + seconds
            self._storm_status = status

    def clear(self) -> None:
        with self._lock:
            self.latency = 0.0
            self._fail_remaining = 0
            self._storm_until = 0.0

    def take(self, verb: str, resource: str) -> int | None:
        """The status code to fail this request with, if any (consumes one failure)."""
        with self._lock:
            if self._storm_until and time.monotonic() < self._storm_until:
                return self._storm_status
            if self._fail_remaining > 0:
                if self._fail_verbs is not None and verb not in self._fail_verbs:
                    return None
                if self._fail_resources is not None and resource not in self._fail_resources:
                    return None
                self._fail_remaining -= 1
                return self._fail_status
        return None


class _Stream:
    """An open watch or log stream, so it can be dropped or ended from outside."""

    __slots__ = ("request", "watch", "stop", "kind")

    def __init__(self, request: web.Request, kind: str, watch: Watch | None = None) -> None:
        self.request = request
        self.kind = kind
        self.watch = watch
        self.stop = False


class KubernetesEmulator:
    """An in-process Kubernetes API server emulator with a simulated control plane.

    Args:
        host: Address to bind (keep it on loopback).
        port: Port to bind; 0 picks a free one.
        time_scale: Multiplies every simulated duration (pod start-up, crash back-off,
            progress deadlines, deletion grace); 0.05 runs twenty times faster.
        seed: Seeds generated names and log lines, for reproducible runs.
        history_limit: Events kept per resource for resuming watches.
        controller: Run the simulated control plane (controllers, scheduler, kubelet).
            Without it the emulator is a plain object store, as for crafted-object tests.
        metrics: Serve ``metrics.k8s.io`` (switch with :meth:`set_metrics_enabled`).
        argo_rollouts: Serve Argo Rollouts' ``rollouts`` resource, as a cluster with
            its CRD installed does (most clusters do not: off by default).
        argo_controller: With ``argo_rollouts``, also run the simulated Argo Rollouts
            controller (:mod:`adapters.demo.argo`); off, a test plays Argo's part.
        bookmark_interval: Seconds between BOOKMARK events on quiet watches that ask
            for them (the real server sends one about every minute).
        watch_timeout: Length of a watch that gives no ``timeoutSeconds``.
        node_count: Simulated nodes.
        event_ttl: Seconds an Event lives after its last update.
        max_events: Most Events kept.
        log_retention: How far back pod logs reach, in seconds.

    Example:
        >>> with KubernetesEmulator(time_scale=0.1) as emulator:  # doctest: +SKIP
        ...     emulator.kubeconfig("/tmp/kubeconfig")
        ...     api = kubernetes.client.CoreV1Api(emulator.api_client())
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        seed: int | None = None,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        controller: bool = True,
        metrics: bool = True,
        argo_rollouts: bool = False,
        argo_controller: bool = False,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        watch_timeout: float = DEFAULT_WATCH_TIMEOUT,
        node_count: int = 3,
        event_ttl: float = 3600.0,
        max_events: int = 2000,
        log_retention: float = 3600.0,
    ) -> None:
        self.host = host
        self.port = port
        self.time_scale = time_scale
        self.seed = seed
        self.history_limit = history_limit
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self._with_controller = controller
        self._metrics_enabled = metrics
        self.argo_rollouts = argo_rollouts
        self._argo_controller = argo_rollouts and argo_controller
        self._node_count = node_count
        self._event_ttl = event_ttl
        self._max_events = max_events
        self._faults = _Faults()
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._counts_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._streams: set[_Stream] = set()
        self._closing = False
        self.store: ObjectStore | None = None
        self.controller: Controller | None = None
        self.logs = LogSource(seed or 0, retention=log_retention)
        self.nodes = [Node(f"demo-node-{n}", f"172.18.0.{n + 1}", n) for n in range(1, node_count + 1)]
        self._base_url: str | None = None

    # --- lifecycle ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started.

        Raises:
            RuntimeError: Not started.
        """
        if self._base_url is None:
            raise RuntimeError("the emulator is not running")
        return self._base_url

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._base_url is not None

    def start(self) -> str:
        """Start serving in a background thread.

        Returns:
            The base URL, e.g. ``http://127.0.0.1:38211``.
        """
        if self._base_url is not None:
            return self._base_url
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

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
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"k8s-emulator-{self.port or 'auto'}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._loop = None
            self._thread = None
            raise RuntimeError("the Kubernetes emulator failed to start") from failure[0]
        assert self._base_url is not None
        return self._base_url

    def stop(self) -> None:
        """Stop serving; open watches and log streams end. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
        except (concurrent.futures.TimeoutError, RuntimeError) as error:
            log.warning("emulator shutdown was not clean: %r", error)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._loop = None
        self._thread = None
        self._base_url = None

    def __enter__(self) -> KubernetesEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _startup(self) -> None:
        self._closing = False
        self.store = ObjectStore(history_limit=self.history_limit, time_scale=self.time_scale, seed=self.seed)
        self._bootstrap()
        if self._with_controller:
            self.controller = Controller(
                self.store,
                self.nodes,
                time_scale=self.time_scale,
                seed=self.seed,
                event_ttl=self._event_ttl,
                max_events=self._max_events,
                argo_rollouts=self._argo_controller,
            )
            self.controller.start()
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that hangs up on a watch or log stream frees
        # its handler at once instead of at the next write.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._base_url = f"http://{self.host}:{self.port}"

    async def _shutdown(self) -> None:
        self._closing = True
        for stream in list(self._streams):
            stream.stop = True
            if stream.watch:
                stream.watch.wake.set()
        if self.controller:
            self.controller.stop()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    def _bootstrap(self) -> None:
        """The objects every cluster has: system namespaces and the nodes."""
        assert self.store is not None
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(NAMESPACES, {"metadata": {"name": name}})
        boot = rfc3339()
        for node in self.nodes:
            capacity = {"cpu": "4", "memory": "16318480Ki", "pods": "110", "ephemeral-storage": "102687672Ki"}
            self.store.create(
                NODES,
                {
                    "metadata": {
                        "name": node.name,
                        "labels": {
                            "kubernetes.io/hostname": node.name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "node.kubernetes.io/instance-type": "demo.large",
                            "topology.kubernetes.io/zone": f"demo-{'abc'[(node.subnet - 1) % 3]}",
                        },
                    },
                    "spec": {"podCIDR": f"10.244.{node.subnet}.0/24", "podCIDRs": [f"10.244.{node.subnet}.0/24"]},
                    "status": {
                        "capacity": capacity,
                        "allocatable": {**capacity, "memory": "16216080Ki"},
                        "conditions": [
                            {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m, "lastHeartbeatTime": boot, "lastTransitionTime": boot}
                            for t, r, m in (
                                ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                                ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                                ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"),
                            )
                        ]
                        + [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "KubeletReady",
                                "message": "kubelet is posting ready status",
                                "lastHeartbeatTime": boot,
                                "lastTransitionTime": boot,
                            }
                        ],
                        "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "Hostname", "address": node.name}],
                        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                        "nodeInfo": {
                            "machineID": f"{node.subnet:032x}",
                            "systemUUID": f"00000000-0000-0000-0000-{node.subnet:012x}",
                            "bootID": f"00000000-0000-0000-0000-{node.subnet:012x}",
                            "kernelVersion": "6.1.0-demo-amd64",
                            "osImage": "Debian GNU/Linux 12 (bookworm)",
                            "containerRuntimeVersion": "containerd://1.7.20",
                            "kubeletVersion": res.VERSION_INFO["gitVersion"],
                            "kubeProxyVersion": res.VERSION_INFO["gitVersion"],
                            "operatingSystem": "linux",
                            "architecture": "amd64",
                        },
                    },
                },
            )

    # --- running code on the loop -------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the emulator's loop and return its result.

        The store and controller are single-threaded; this is how another thread reads
        or changes them directly (seeding, tests).

        Raises:
            RuntimeError: Not started.
            Exception: Whatever ``fn`` raises.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("the emulator is not running")
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj``, or replace it if it exists (thread-safe).

        The resource is found from ``apiVersion`` and ``kind``. Returns a copy of the
        stored object.

        Raises:
            ApiError: The object is refused.
            ValueError: Unknown kind.
        """
        rt = res.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise ValueError(f"the emulator does not serve {obj.get('apiVersion')}/{obj.get('kind')}")

        def apply_now() -> dict[str, Any]:
            assert self.store is not None
            meta = obj.get("metadata") or {}
            namespace = meta.get("namespace", "default") if rt.namespaced else None
            if self.store.find(rt, namespace, meta.get("name", "")) is None:
                return json.loads(dump(self.store.create(rt, obj, namespace)))
            body = json.loads(dump(obj))
            body["metadata"].pop("resourceVersion", None)
            return json.loads(dump(self.store.replace(rt, namespace, meta["name"], body)))

        return self.call(apply_now)

    def get_object(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """A copy of one stored object, or ``None`` (thread-safe)."""
        rt = res.by_kind(api_version, kind)
        if rt is None:
            raise ValueError(f"the emulator does not serve {api_version}/{kind}")
        assert self.store is not None
        return self.call(self.store.get_copy, rt, namespace if rt.namespaced else None, name)

    def patch_object(
        self, api_version: str, kind: str, name: str, patch: dict[str, Any], namespace: str | None = None, *, strategic: bool = True
    ) -> dict[str, Any]:
        """Patch one stored object directly (thread-safe), like a client's PATCH."""
        rt = res.by_kind(api_version, kind)
        if rt is None:
            raise ValueError(f"the emulator does not serve {api_version}/{kind}")
        content_type = "application/strategic-merge-patch+json" if strategic else "application/merge-patch+json"
        assert self.store is not None
        store = self.store
        return self.call(
            lambda: json.loads(dump(store.patch(rt, namespace if rt.namespaced else None, name, content_type, patch)))
        )

    # --- fault injection and counters (thread-safe) -------------------------------

    def inject_latency(self, seconds: float) -> None:
        """Delay every response by ``seconds`` (0 to stop). Watches delay their start."""
        self._faults.latency = max(0.0, seconds)

    def fail_next(
        self,
        count: int,
        status: int = 500,
        *,
        verbs: set[str] | None = None,
        resources: set[str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests with a ``Status`` failure of ``status``.

        Args:
            count: How many requests fail.
            status: The HTTP status (500, 503, 429 with ``Retry-After``, 410, 403…).
            verbs: Only requests with these verbs (``list``, ``watch``, ``get``…) count.
            resources: Only requests for these resources (``pods``, ``deployments``,
                ``pods/log``…) count.
        """
        self._faults.fail_next(count, status, frozenset(verbs) if verbs else None, frozenset(resources) if resources else None)

    def fail_for(self, seconds: float, status: int = 503) -> None:
        """A storm: answer every request with ``status`` for ``seconds``."""
        self._faults.storm(seconds, status)

    def clear_faults(self) -> None:
        """Stop every injected fault (latency, failures, storm)."""
        self._faults.clear()

    def expire_watches(self) -> int:
        """Make every resourceVersion handed out so far too old for a new watch.

        The next watch that resumes from one gets ``410 Expired``; a client that then
        relists gets a fresh version and recovers. Open watches are not affected.

        Returns:
            The new current resourceVersion.
        """
        assert self.store is not None
        return self.call(self.store.compact)

    def drop_watches(self, *, abort: bool = True) -> int:
        """End every open watch connection now.

        Args:
            abort: Cut the TCP connection mid-stream (a network failure: the client
                sees a broken chunked response). ``False`` ends each stream cleanly,
                as when the server's watch timeout expires.

        Returns:
            How many watches were dropped.
        """

        def drop() -> int:
            dropped = 0
            for stream in list(self._streams):
                if stream.kind != "watch":
                    continue
                dropped += 1
                stream.stop = True
                if abort:
                    transport = stream.request.transport
                    if transport is not None:
                        transport.abort()
                if stream.watch:
                    stream.watch.wake.set()
            return dropped

        return self.call(drop)

    def set_metrics_enabled(self, enabled: bool) -> None:
        """Serve ``metrics.k8s.io`` or not (as on a cluster without metrics-server)."""
        self._metrics_enabled = enabled

    @property
    def metrics_enabled(self) -> bool:
        """Whether ``metrics.k8s.io`` is served."""
        return self._metrics_enabled

    def request_counts(self) -> dict[tuple[str, str], int]:
        """Requests served so far, by ``(verb, resource)``.

        Verbs are the API server's (``list``, ``watch``, ``get``, ``create``,
        ``update``, ``patch``, ``delete``, ``deletecollection``); resources are plural
        names with any subresource (``pods``, ``pods/log``, ``deployments/scale``),
        ``pods.metrics.k8s.io`` for metrics and ``discovery`` for discovery documents.
        """
        with self._counts_lock:
            return dict(self._counts)

    def request_count(self, verb: str | None = None, resource: str | None = None) -> int:
        """The number of requests matching ``verb`` and/or ``resource``."""
        with self._counts_lock:
            return sum(
                n for (v, r), n in self._counts.items() if (verb is None or v == verb) and (resource is None or r == resource)
            )

    def reset_request_counts(self) -> None:
        """Start counting from zero."""
        with self._counts_lock:
            self._counts.clear()

    def stats(self) -> dict[str, Any]:
        """What must stay bounded: history and watches per resource, open streams,
        the controller's bookkeeping, the counters' size."""
        assert self.store is not None

        def collect() -> dict[str, Any]:
            assert self.store is not None
            stats = self.store.stats()
            stats["streams"] = {
                "watch": sum(1 for s in self._streams if s.kind == "watch"),
                "log": sum(1 for s in self._streams if s.kind == "log"),
            }
            stats["controller"] = self.controller.stats() if self.controller else {}
            with self._counts_lock:
                stats["counter_keys"] = len(self._counts)
            return stats

        return self.call(collect)

    def kubeconfig(self, path: str | Path, context_name: str = "demo", namespace: str | None = None) -> Path:
        """Write a kubeconfig for this emulator (no auth) and return its path.

        ``kubernetes.config.load_kube_config(config_file=path, context=context_name)``
        then points the official client here.
        """
        return write_kubeconfig(path, [(context_name, self.base_url, namespace)])

    def api_client(self) -> ApiClient:
        """An official-client ``ApiClient`` configured for this emulator."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.base_url
        return client.ApiClient(configuration)

    # --- HTTP -----------------------------------------------------------------------

    def _count(self, verb: str, resource: str) -> None:
        with self._counts_lock:
            self._counts[(verb, resource)] += 1

    def _route(self, path: str) -> _Route:
        parts = [p for p in path.split("/") if p]
        not_found = ApiError(404, "NotFound", "the server could not find the requested resource")
        if not parts:
            return _Route("discovery", document={"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]})
        if parts[0] in ("healthz", "livez", "readyz"):
            return _Route("health")
        if parts == ["version"]:
            return _Route("discovery", document=dict(res.VERSION_INFO))
        if parts[0] == "api":
            if len(parts) == 1:
                return _Route("discovery", document=res.api_versions(f"{self.host}:{self.port}"))
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return _Route("discovery", document=res.api_group_list(metrics=self._metrics_enabled, rollouts=self.argo_rollouts))
            if len(parts) == 2:
                document = res.api_group(parts[1], metrics=self._metrics_enabled, rollouts=self.argo_rollouts)
                if document is None:
                    raise not_found
                return _Route("discovery", document=document)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found
        if group == res.ARGO_GROUP and not self.argo_rollouts:
            raise not_found
        if group == res.METRICS_GROUP:
            if not self._metrics_enabled or version != res.METRICS_VERSION:
                raise not_found
            if not rest:
                return _Route("discovery", document=res.api_resource_list(group, version, metrics=True))
            namespace = None
            if rest[0] == "namespaces" and len(rest) >= 3:
                namespace, rest = rest[1], rest[2:]
            if rest[0] not in ("pods", "nodes") or len(rest) > 2 or (rest[0] == "nodes" and namespace):
                raise not_found
            return _Route("metrics", namespace=namespace, name=rest[1] if len(rest) == 2 else None, metrics_plural=rest[0])
        if not rest:
            document = res.api_resource_list(group, version)
            if document is None:
                raise not_found
            return _Route("discovery", document=document)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and res.lookup(group, version, rest[2]) is not None:
            namespace, rest = rest[1], rest[2:]
        rt = res.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise not_found
        if namespace is not None and not rt.namespaced:
            raise not_found
        if len(rest) == 1:
            return _Route("collection", rt=rt, namespace=namespace)
        if rt.namespaced and namespace is None:
            raise not_found
        if len(rest) == 2:
            return _Route("object", rt=rt, namespace=namespace, name=rest[1])
        if rest[2] not in rt.subresources:
            raise not_found
        return _Route("subresource", rt=rt, namespace=namespace, name=rest[1], subresource=rest[2])

    @staticmethod
    def _verb(route: _Route, method: str, query: Any) -> tuple[str, str]:
        if route.kind in ("discovery", "health"):
            return "get", "discovery"
        if route.kind == "metrics":
            return ("get" if route.name else "list"), f"{route.metrics_plural}.{res.METRICS_GROUP}"
        assert route.rt is not None
        resource = route.rt.plural if route.subresource is None else f"{route.rt.plural}/{route.subresource}"
        if route.kind == "collection":
            verb = {
                "GET": "watch" if query.get("watch") in _TRUE else "list",
                "POST": "create",
                "DELETE": "deletecollection",
            }.get(method, method.lower())
        else:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
        return verb, resource

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            route = self._route(request.path)
        except ApiError as error:
            self._count(request.method.lower(), "unknown")
            return _status_response(error)
        verb, resource = self._verb(route, request.method, request.query)
        self._count(verb, resource)
        if self._faults.latency:
            await asyncio.sleep(self._faults.latency)
        injected = self._faults.take(verb, resource)
        if injected is not None:
            return _status_response(
                ApiError(injected, _REASONS.get(injected, "InternalError"), f"injected failure ({injected}) for {verb} {resource}")
            )
        try:
            if request.query.get("dryRun"):
                raise ApiError.bad_request("dryRun is not supported by the demo emulator")
            return await self._dispatch(request, route, verb)
        except ApiError as error:
            return _status_response(error)
        except SelectorError as error:
            return _status_response(ApiError.bad_request(str(error)))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as error:  # answered as a 500 Status, and logged: it is our bug
            log.exception("emulator failed on %s %s", request.method, request.path_qs)
            return _status_response(ApiError(500, "InternalError", f"emulator error: {error!r}"))

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as error:
            raise ApiError.bad_request(f"the body of the request is not valid JSON: {error}") from None

    async def _dispatch(self, request: web.Request, route: _Route, verb: str) -> web.StreamResponse:
        method = request.method
        if route.kind == "health":
            return web.Response(text="ok", content_type="text/plain")
        if route.kind == "discovery":
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return _json_response(route.document or {})
        if route.kind == "metrics":
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return self._metrics(request, route)
        store = self.store
        assert store is not None and route.rt is not None
        rt = route.rt
        query = request.query
        if route.kind == "collection":
            if verb == "watch":
                return await self._watch(request, route)
            if verb == "list":
                return self._list(route, query)
            if verb == "create":
                if rt.namespaced and route.namespace is None:
                    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
                created = store.create(rt, await self._body(request), route.namespace)
                return _json_response(store.get_raw(rt, route.namespace, created["metadata"]["name"]), status=201)
            if verb == "deletecollection":
                labels = LabelSelector.parse(query.get("labelSelector"))
                fields = FieldSelector.parse(query.get("fieldSelector"), rt)
                raws, _, _, _ = store.list(rt, route.namespace, labels, fields)
                for raw in raws:
                    meta = json.loads(raw)["metadata"]
                    try:
                        store.delete(rt, meta.get("namespace"), meta["name"])
                    except ApiError as error:
                        log.debug("deletecollection skipped %s: %s", meta["name"], error.message)
                return _json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        assert route.name is not None
        if route.kind == "object":
            if verb == "get":
                return _json_response(store.get_raw(rt, route.namespace, route.name))
            if verb == "update":
                obj = store.replace(rt, route.namespace, route.name, await self._body(request))
                return _json_response(store.get_raw(rt, route.namespace, obj["metadata"]["name"]))
            if verb == "patch":
                obj = store.patch(rt, route.namespace, route.name, _content_type(request), await self._body(request))
                return _json_response(store.get_raw(rt, route.namespace, obj["metadata"]["name"]))
            if verb == "delete":
                return await self._delete(request, route)
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        # subresources
        if route.subresource == "log":
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return await self._log(request, route)
        if route.subresource == "status":
            if verb == "get":
                return _json_response(store.get_raw(rt, route.namespace, route.name))
            if verb == "update":
                obj = store.replace(rt, route.namespace, route.name, await self._body(request), subresource="status")
            elif verb == "patch":
                obj = store.patch(rt, route.namespace, route.name, _content_type(request), await self._body(request), subresource="status")
            else:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return _json_response(store.get_raw(rt, route.namespace, obj["metadata"]["name"]))
        if route.subresource == "scale":
            return _json_response(await self._scale(request, route, verb))
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _list(self, route: _Route, query: Any) -> web.Response:
        store = self.store
        assert store is not None and route.rt is not None
        rt = route.rt
        labels = LabelSelector.parse(query.get("labelSelector"))
        fields = FieldSelector.parse(query.get("fieldSelector"), rt)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise ApiError.bad_request(f"invalid limit: {query.get('limit')!r}") from None
        version = query.get("resourceVersion")
        if query.get("resourceVersionMatch") == "Exact" and version and version.isdigit():
            if int(version) != store.resource_version:
                raise ApiError.expired(f"too old resource version: {version} ({store.resource_version})")
        raws, rv, token, remaining = store.list(rt, route.namespace, labels, fields, limit=limit, continue_token=query.get("continue"))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        head = (
            b'{"kind":"' + rt.list_kind.encode() + b'","apiVersion":"' + rt.api_version.encode() + b'","metadata":' + dump(meta) + b',"items":['
        )
        return _json_response(head + b",".join(raws) + b"]}")

    async def _delete(self, request: web.Request, route: _Route) -> web.Response:
        store = self.store
        assert store is not None and route.rt is not None and route.name is not None
        rt = route.rt
        options = await self._body(request) or {}
        if not isinstance(options, dict):
            raise ApiError.bad_request("DeleteOptions must be an object")
        query = request.query
        grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        propagation = options.get("propagationPolicy", query.get("propagationPolicy"))
        if options.get("orphanDependents") is True:
            propagation = "Orphan"
        preconditions = options.get("preconditions") or {}
        try:
            grace_seconds = None if grace is None else int(grace)
        except ValueError:
            raise ApiError.bad_request(f"invalid gracePeriodSeconds: {grace!r}") from None
        obj, gone = store.delete(
            rt,
            route.namespace,
            route.name,
            grace_seconds=grace_seconds,
            propagation=propagation,
            precondition_uid=preconditions.get("uid"),
            precondition_version=preconditions.get("resourceVersion"),
        )
        if rt.delete_returns_object or not gone:
            return _json_response(obj)
        return _json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": route.name, "group": rt.group, "kind": rt.plural, "uid": obj["metadata"].get("uid")},
            }
        )

    async def _scale(self, request: web.Request, route: _Route, verb: str) -> dict[str, Any]:
        store = self.store
        assert store is not None and route.rt is not None and route.name is not None
        rt = route.rt
        obj = store.get(rt, route.namespace, route.name)

        def as_scale(target: dict[str, Any]) -> dict[str, Any]:
            meta = target["metadata"]
            selector = target.get("spec", {}).get("selector", {}).get("matchLabels") or {}
            return {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta.get("namespace"),
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                    "creationTimestamp": meta.get("creationTimestamp"),
                },
                "spec": {"replicas": target.get("spec", {}).get("replicas", 0)},
                "status": {
                    "replicas": (target.get("status") or {}).get("replicas", 0),
                    "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
                },
            }

        scale = as_scale(obj)
        if verb == "get":
            return scale
        body = await self._body(request)
        if verb == "patch":
            content_type = _content_type(request)
            try:
                if content_type == "application/json-patch+json":
                    new_scale = json_patch(scale, body)
                elif content_type == "application/strategic-merge-patch+json":
                    new_scale = strategic_merge_patch(scale, body)
                else:
                    new_scale = merge_patch(scale, body)
            except PatchError as error:
                raise ApiError(422, "Invalid", f"Scale {route.name!r} is invalid: {error}") from None
        elif verb == "update":
            new_scale = body
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if not isinstance(new_scale, dict):
            raise ApiError.bad_request("Scale must be an object")
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{route.name}" is invalid: spec.replicas: Invalid value: {replicas!r}')
        expect = (new_scale.get("metadata") or {}).get("resourceVersion")
        if expect and expect != obj["metadata"]["resourceVersion"]:
            raise ApiError.conflict(rt, route.name)
        copy = store.get_copy(rt, route.namespace, route.name)
        assert copy is not None
        copy["spec"]["replicas"] = replicas
        return as_scale(store.write(rt, copy, subresource="spec"))

    # --- watch ----------------------------------------------------------------------

    async def _watch(self, request: web.Request, route: _Route) -> web.StreamResponse:
        store = self.store
        assert store is not None and route.rt is not None
        rt = route.rt
        query = request.query
        labels = LabelSelector.parse(query.get("labelSelector"))
        fields = FieldSelector.parse(query.get("fieldSelector"), rt)
        bookmarks = query.get("allowWatchBookmarks") in _TRUE
        initial_end = query.get("sendInitialEvents") in _TRUE
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else self.watch_timeout
        except ValueError:
            raise ApiError.bad_request(f"invalid timeoutSeconds: {query.get('timeoutSeconds')!r}") from None
        version = query.get("resourceVersion")
        if initial_end:
            if not bookmarks:
                raise ApiError(422, "Invalid", "sendInitialEvents requires allowWatchBookmarks=true")
            version = None  # sendInitialEvents always starts from the current state
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            watch, initial = store.open_watch(rt, route.namespace, labels, fields, version)
        except ApiError as error:
            # Like the API server: a 200 stream carrying one ERROR event, then the end.
            await response.write(_event_line("ERROR", dump(error.status())))
            await response.write_eof()
            return response
        stream = _Stream(request, "watch", watch)
        self._streams.add(stream)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            for start in range(0, len(initial), _WATCH_BATCH):
                await response.write(b"".join(_event_line("ADDED", raw) for raw in initial[start : start + _WATCH_BATCH]))
            if initial_end:
                await response.write(_event_line("BOOKMARK", self._bookmark(rt, watch.caught_up_version(), initial_end=True)))
            while not stream.stop and not self._closing:
                now = loop.time()
                if now >= deadline:
                    break
                wait = deadline - now
                if bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                if not watch.wake.is_set():
                    try:
                        await asyncio.wait_for(watch.wake.wait(), timeout=wait)
                    except TimeoutError:
                        pass
                if stream.stop or self._closing:
                    break
                try:
                    events = watch.take(limit=_WATCH_BATCH)
                except ApiError as error:
                    await response.write(_event_line("ERROR", dump(error.status())))
                    break
                if events:
                    await response.write(b"".join(_event_line(type_, raw) for type_, raw in events))
                elif bookmarks and loop.time() >= next_bookmark:
                    await response.write(_event_line("BOOKMARK", self._bookmark(rt, watch.caught_up_version())))
                    next_bookmark = loop.time() + self.bookmark_interval
        except (ConnectionResetError, ConnectionError):
            return response
        finally:
            watch.close()
            self._streams.discard(stream)
        if request.transport is not None and not request.transport.is_closing():
            try:
                await response.write_eof()
            except ConnectionError:
                pass
        return response

    @staticmethod
    def _bookmark(rt: ResourceType, version: int, *, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(version)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return dump({"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})

    # --- logs -----------------------------------------------------------------------

    def _run_for(self, pod: dict[str, Any], container_name: str, previous: bool) -> Run:
        """The container run a log request reads, from the pod's status.

        Raises:
            ApiError: 400 with the kubelet's wording when there is no such run.
        """
        name = pod["metadata"]["name"]
        spec = next(c for c in pod["spec"]["containers"] + (pod["spec"].get("initContainers") or []) if c["name"] == container_name)
        statuses = (pod.get("status") or {}).get("containerStatuses", []) + ((pod.get("status") or {}).get("initContainerStatuses") or [])
        status = next((s for s in statuses if s.get("name") == container_name), None)
        image = spec.get("image", "")
        flavour = flavour_of(image, container_name)
        state = (status or {}).get("state") or {}
        last = ((status or {}).get("lastState") or {}).get("terminated")

        def from_terminated(terminated: dict[str, Any]) -> Run:
            started = parse_time(terminated.get("startedAt")) or time.time()
            finished = parse_time(terminated.get("finishedAt")) or started
            return Run(
                key=terminated.get("containerID") or terminated.get("startedAt") or name,
                image=image,
                flavour=flavour,
                started=started,
                finished=max(finished, started + 0.05),
                exit_code=terminated.get("exitCode"),
                reason=terminated.get("reason"),
            )

        if previous:
            if last:
                return from_terminated(last)
            raise ApiError.bad_request(f'previous terminated container "{container_name}" in pod "{name}" not found')
        if "running" in state:
            running = state["running"]
            started = parse_time(running.get("startedAt")) or time.time()
            return Run(key=(status or {}).get("containerID") or running.get("startedAt") or name, image=image, flavour=flavour, started=started)
        if "terminated" in state:
            return from_terminated(state["terminated"])
        if last:
            # A container waiting to restart: its latest instance is the one that crashed.
            return from_terminated(last)
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason", "ContainerCreating")
        if reason in ("ErrImagePull", "ImagePullBackOff"):
            raise ApiError.bad_request(f'container "{container_name}" in pod "{name}" is waiting to start: trying and failing to pull image')
        raise ApiError.bad_request(f'container "{container_name}" in pod "{name}" is waiting to start: {reason}')

    async def _log(self, request: web.Request, route: _Route) -> web.StreamResponse:
        store = self.store
        assert store is not None and route.name is not None
        query = request.query
        pod = store.get(PODS, route.namespace, route.name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        init_names = [c["name"] for c in pod["spec"].get("initContainers") or []]
        container = query.get("container")
        if not container:
            if len(names) != 1:
                raise ApiError.bad_request(
                    f"a container name must be specified for pod {route.name}, choose one of: [{' '.join(names)}]"
                    + (f" or one of the init containers: [{' '.join(init_names)}]" if init_names else "")
                )
            container = names[0]
        elif container not in names + init_names:
            raise ApiError.bad_request(f"container {container} is not valid for pod {route.name}")
        previous = query.get("previous") in _TRUE
        follow = query.get("follow") in _TRUE
        timestamps = query.get("timestamps") in _TRUE
        try:
            tail = int(query["tailLines"]) if query.get("tailLines") not in (None, "") else None
            since_seconds = int(query["sinceSeconds"]) if query.get("sinceSeconds") else None
            limit_bytes = int(query["limitBytes"]) if query.get("limitBytes") else None
        except ValueError as error:
            raise ApiError.bad_request(f"invalid log option: {error}") from None
        since_time = parse_time(query.get("sinceTime")) if query.get("sinceTime") else None
        run = self._run_for(pod, container, previous)
        now = time.time()
        since = since_time if since_time is not None else (now - since_seconds if since_seconds is not None else None)
        if tail is not None and tail >= 0:
            lines = self.logs.tail(run, now, tail, since)
        else:
            lines = self.logs.window(run, since or 0.0, now)

        def render(batch: list[tuple[float, str]]) -> bytes:
            if timestamps:
                return "".join(f"{format_timestamp(ts)} {text}\n" for ts, text in batch).encode()
            return "".join(f"{text}\n" for _, text in batch).encode()

        body = render(lines)
        if limit_bytes is not None:
            body = body[:limit_bytes]
        if not follow or previous or run.finished is not None:
            return web.Response(body=body, content_type="text/plain", charset="utf-8")
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        stream = _Stream(request, "log")
        self._streams.add(stream)
        sent = len(body)
        cursor = now
        try:
            if body:
                await response.write(body)
            while not stream.stop and not self._closing and (limit_bytes is None or sent < limit_bytes):
                await asyncio.sleep(LOG_FOLLOW_INTERVAL)
                current = store.find(PODS, route.namespace, route.name)
                if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
                    break
                try:
                    now_run = self._run_for(current, container, False)
                except ApiError:
                    now_run = None
                end = time.time()
                if now_run is None or now_run.key != run.key or now_run.finished is not None:
                    # The container this stream follows has exited: send its last words.
                    chunk = render(self.logs.window(self._ended(current, container, run, end), cursor, math.inf))
                    if chunk:
                        await response.write(chunk)
                    break
                chunk = render(self.logs.window(run, cursor, end))
                cursor = end
                if chunk:
                    if limit_bytes is not None:
                        chunk = chunk[: max(0, limit_bytes - sent)]
                    sent += len(chunk)
                    await response.write(chunk)
        except (ConnectionResetError, ConnectionError):
            return response
        finally:
            self._streams.discard(stream)
        if request.transport is not None and not request.transport.is_closing():
            try:
                await response.write_eof()
            except ConnectionError:
                pass
        return response

    @staticmethod
    def _ended(pod: dict[str, Any], container: str, run: Run, fallback: float) -> Run:
        """``run`` with its end filled in from the pod's status (or ``fallback``)."""
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        status = next((s for s in statuses if s.get("name") == container), {})
        for terminated in ((status.get("state") or {}).get("terminated"), (status.get("lastState") or {}).get("terminated")):
            if terminated and terminated.get("containerID") == run.key:
                finished = parse_time(terminated.get("finishedAt")) or fallback
                return Run(run.key, run.image, run.flavour, run.started, max(finished, run.started + 0.05), terminated.get("exitCode"), terminated.get("reason"))
        return Run(run.key, run.image, run.flavour, run.started, fallback)

    # --- metrics --------------------------------------------------------------------

    def _metrics(self, request: web.Request, route: _Route) -> web.Response:
        store = self.store
        assert store is not None
        now = time.time()
        labels = LabelSelector.parse(request.query.get("labelSelector"))
        if route.metrics_plural == "nodes":
            nodes = [n for n in store.objects(NODES) if labels.matches(n["metadata"].get("labels"))]
            pods = list(store.objects(PODS))
            if route.name:
                node = next((n for n in nodes if n["metadata"]["name"] == route.name), None)
                if node is None:
                    raise ApiError(404, "NotFound", f'nodemetrics.metrics.k8s.io "{route.name}" not found')
                return _json_response(demo_metrics.node_metrics(node, pods, now))
            items = [demo_metrics.node_metrics(n, pods, now) for n in sorted(nodes, key=lambda n: n["metadata"]["name"])]
            return _json_response({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
        if route.name:
            pod = store.find(PODS, route.namespace, route.name)
            metrics = demo_metrics.pod_metrics(pod, now) if pod else None
            if metrics is None:
                raise ApiError(404, "NotFound", f'podmetrics.metrics.k8s.io "{route.namespace}/{route.name}" not found')
            return _json_response(metrics)
        pods = sorted(
            (p for p in store.objects(PODS, route.namespace) if labels.matches(p["metadata"].get("labels"))),
            key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"]),
        )
        items = [m for m in (demo_metrics.pod_metrics(p, now) for p in pods) if m is not None]
        return _json_response({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})


def _content_type(request: web.Request) -> str:
    return (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()


__all__ = ["KubernetesEmulator", "write_kubeconfig"]
