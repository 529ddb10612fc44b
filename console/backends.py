"""From configuration to environments and their adapters.

The one place that knows which adapter serves which ``kind``; adding a backend means
adding an adapter module and one entry in ``_FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.base import Adapter
from adapters.docker_host import local_docker_host
from console.config import Config, DockerEnvironmentConfig
from console.model import Environment, EnvironmentKind


@dataclass(frozen=True, slots=True)
class Backend:
    """An environment and a way to make its adapter (adapters are made per thread)."""

    environment: Environment
    make_adapter: Callable[[], Adapter]


def _docker(spec: DockerEnvironmentConfig, read_only: bool) -> Backend:
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

        return DockerAdapter(environment, host=host, tls_verify=spec.tls_verify, cert_path=cert_path)

    return Backend(environment, make_adapter)


_FACTORIES: dict[str, Callable] = {"docker": _docker}


def backends_for(config: Config, *, read_only: bool = False, only: str | None = None) -> list[Backend]:
    """Backends for every configured environment, or the zero-config defaults.

    With no environments configured, the local Docker engine appears as ``local``.

    Args:
        config: The loaded configuration.
        read_only: Force every environment read-only (``--read-only``).
        only: Keep just the environment with this name.
    """
    specs = list(config.environments)
    if not specs:
        specs = [DockerEnvironmentConfig(kind="docker", name="local")]
    backends = []
    for spec in specs:
        factory = _FACTORIES.get(spec.kind)
        if factory is None:
            continue
        backends.append(factory(spec, read_only or config.read_only))
    if only is not None:
        backends = [b for b in backends if b.environment.name == only]
    return backends
