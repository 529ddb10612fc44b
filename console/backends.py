"""From configuration to environments and their adapters.

The one place that knows which adapter serves which ``kind``; adding a backend means
adding an adapter module and one entry in ``_FACTORIES``, or installing a
``watchfloor.adapters`` plugin (console/plugins.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.base import Adapter, AdapterError, ErrorKind
from adapters.docker_host import local_docker_host
from console.config import (
    Config,
    ConfigError,
    DockerEnvironmentConfig,
    ImagePolicyConfig,
    KubernetesEnvironmentConfig,
    NamedQueryConfig,
    PluginEnvironmentConfig,
    PrometheusConfig,
    resolve_reference,
)
from console.model import Environment, EnvironmentKind, NamedQuery


@dataclass(frozen=True, slots=True)
class Backend:
    """An environment and a way to make its adapter (adapters are made per thread)."""

    environment: Environment
    make_adapter: Callable[[], Adapter]
    make_prometheus: Callable[[], object] | None = None
    """A new ``adapters.prometheus.PrometheusSource`` for the environment's Prometheus;
    None when it has none. Raises ``AdapterError`` (BAD_INPUT) when its token
    reference cannot be resolved."""
    queries: tuple[NamedQuery, ...] = ()
    """The environment's named queries, in config order."""
    metrics_simulated: bool = False
    """The Prometheus data is simulated (the demo)."""
    make_image_policy: Callable[[], object] | None = None
    """The environment's ``console.image_policy.ImagePolicy``, built when a run starts
    (the runbook grammar it needs costs ~80 ms, not paid before the first frame); None
    leaves it to the executor's default: any image, protected environments pin digests."""


def _prometheus(spec: PrometheusConfig | None, environment_name: str) -> dict:
    """Backend fields for an environment's Prometheus (none when it has none)."""
    if spec is None:
        return {}

    def make_prometheus():
        from adapters.prometheus import PrometheusSource

        token = None
        if spec.bearer_token:
            try:
                token = resolve_reference(spec.bearer_token, field=f"{environment_name}.prometheus.bearer_token")
            except ConfigError as error:
                problem = error.problems[0] if getattr(error, "problems", None) else None
                summary = problem.message if problem else "the Prometheus token cannot be read"
                raise AdapterError(ErrorKind.BAD_INPUT, f"Prometheus of {environment_name}: {summary}") from None
        headers = {}
        for name, value in spec.headers.items():
            try:
                headers[name] = resolve_reference(value, field=f"{environment_name}.prometheus.headers.{name}")
            except ConfigError as error:
                problem = error.problems[0] if getattr(error, "problems", None) else None
                summary = problem.message if problem else f"header {name} cannot be read"
                raise AdapterError(ErrorKind.BAD_INPUT, f"Prometheus of {environment_name}: {summary}") from None
        return PrometheusSource(spec.url, headers=headers, bearer_token=token, verify_tls=spec.verify_tls, timeout=spec.timeout)

    queries = tuple(NamedQuery(name, q.query, q.unit, q.title) for name, q in spec.queries.items())
    return {"make_prometheus": make_prometheus, "queries": queries, "metrics_simulated": spec.simulated}


def _docker(spec: DockerEnvironmentConfig, read_only: bool, state_dir: Path | None = None) -> Backend:
    host = spec.host or local_docker_host()
    environment = Environment(
        name=spec.name,
        kind=EnvironmentKind.DOCKER,
        target=host,
        protected=spec.protected,
        read_only=read_only or spec.read_only,
        prometheus=str(spec.prometheus.url) if spec.prometheus else None,
    )
    cert_path = str(spec.cert_path) if spec.cert_path else None

    def make_adapter() -> Adapter:
        # Imported here, in the worker thread, so the docker SDK is not on the path to
        # the first frame.
        from adapters.docker import DockerAdapter

        return DockerAdapter(
            environment, host=host, tls_verify=spec.tls_verify, cert_path=cert_path, state_dir=state_dir
        )

    return Backend(
        environment,
        make_adapter,
        make_image_policy=lambda: spec.image_policy.policy(protected=spec.protected),
        **_prometheus(spec.prometheus, spec.name),
    )


def _kubernetes(spec: KubernetesEnvironmentConfig, read_only: bool, state_dir: Path | None = None) -> Backend:
    # state_dir is unused: Kubernetes run locks are Leases in the cluster.
    kubeconfig = str(spec.kubeconfig) if spec.kubeconfig else None
    namespaces = spec.namespaces
    where = spec.context or "current context"
    if namespaces != "all":
        where += f" ({', '.join(namespaces)})"
    environment = Environment(
        name=spec.name,
        kind=EnvironmentKind.KUBERNETES,
        target=where,
        protected=spec.protected,
        read_only=read_only or spec.read_only,
        prometheus=str(spec.prometheus.url) if spec.prometheus else None,
    )

    def make_adapter() -> Adapter:
        from adapters.kubernetes import KubernetesAdapter

        return KubernetesAdapter(environment, kubeconfig=kubeconfig, context=spec.context, namespaces=namespaces)

    return Backend(
        environment,
        make_adapter,
        make_image_policy=lambda: spec.image_policy.policy(protected=spec.protected),
        **_prometheus(spec.prometheus, spec.name),
    )


def _plugin(spec: PluginEnvironmentConfig, read_only: bool, state_dir: Path | None = None) -> Backend:
    """An environment whose adapter an installed ``watchfloor.adapters`` plugin makes (docs/plugins.md)."""
    from console.plugins import adapter_factory

    factory = adapter_factory(spec.kind)
    options = spec.plugin_options()
    describe = getattr(factory, "describe", None)
    environment = Environment(
        name=spec.name,
        kind=EnvironmentKind(spec.kind),
        target=str(describe(options)) if describe else f"{spec.kind} plugin",
        protected=spec.protected,
        read_only=read_only or spec.read_only,
        prometheus=str(spec.prometheus.url) if spec.prometheus else None,
    )
    return Backend(environment, lambda: factory(environment, options), **_prometheus(spec.prometheus, spec.name))


_FACTORIES: dict[str, Callable] = {"docker": _docker, "kubernetes": _kubernetes}


def demo_config(demo) -> Config:
    """The config for a started ``adapters.demo.DemoCluster``: one environment per cluster."""
    from adapters.demo.prometheus_api import NAMED_QUERIES

    units = {"request rate": ("req/s", "requests"), "error ratio": ("ratio", "errors"), "p95 latency": ("s", "p95")}
    queries = {
        name.replace(" ", "_"): NamedQueryConfig(query=query, unit=units.get(name, ("", ""))[0], title=units.get(name, ("", ""))[1])
        for name, query in NAMED_QUERIES.items()
    }
    environments = [
        KubernetesEnvironmentConfig(
            kind="kubernetes",
            name=name,
            kubeconfig=endpoint.kubeconfig_path,
            context=endpoint.context,
            namespaces=list(demo.NAMESPACES[name]),
            protected=name in demo.PROTECTED,
            # The demo has no registry: its images have no digest to pin, and the demo
            # must work out of the box, protected environment included.
            image_policy=ImagePolicyConfig(require_digest=False),
            prometheus=(
                PrometheusConfig(url=endpoint.prometheus_url, queries=queries, simulated=True)
                if getattr(endpoint, "prometheus_url", "")
                else None
            ),
        )
        for name, endpoint in demo.endpoints.items()
    ]
    return Config(environments=environments, demo=True)


def zero_config_specs() -> list:
    """With no config: the local engine as ``local``, plus the kubeconfig's current context."""
    from adapters.kubeconfig import current_context, default_kubeconfig

    specs: list = [DockerEnvironmentConfig(kind="docker", name="local")]
    kubeconfig = default_kubeconfig()
    context = current_context(kubeconfig) if kubeconfig else None
    if context:
        name = _environment_name(context)
        specs.append(KubernetesEnvironmentConfig(kind="kubernetes", name=name, kubeconfig=kubeconfig, context=context))
    return specs


def _environment_name(context: str) -> str:
    # Context names are free text (ARNs, user@cluster); environment names are not.
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in context.lower()).strip("-._")
    name = (cleaned or "kubernetes")[:63]
    return name if name != "local" else "local-k8s"


def backends_for(config: Config, *, read_only: bool = False, only: str | None = None) -> list[Backend]:
    """Backends for every configured environment, or the zero-config defaults.

    With no environments configured, the local Docker engine appears as ``local`` and
    the kubeconfig's current context (if there is a kubeconfig) beside it.

    Args:
        config: The loaded configuration.
        read_only: Force every environment read-only (``--read-only``).
        only: Keep just the environment with this name.
    """
    specs = list(config.environments) or zero_config_specs()
    backends = []
    for spec in specs:
        factory = _plugin if isinstance(spec, PluginEnvironmentConfig) else _FACTORIES.get(spec.kind)
        if factory is None:
            continue
        backends.append(factory(spec, read_only or config.read_only, config.state_dir))
    if only is not None:
        backends = [b for b in backends if b.environment.name == only]
    return backends
