"""The embedded demo: two emulated Kubernetes clusters with a simulated control plane.

:class:`DemoCluster` starts one :class:`~adapters.demo.emulator.KubernetesEmulator` per
demo environment (``demo-staging`` and ``demo-prod``, two clusters as an operator would
have), seeds each with the demo shop (:mod:`adapters.demo.seed`) and writes one
kubeconfig with a context per environment. The real Kubernetes adapter then talks to
them over HTTP on 127.0.0.1, so the demo runs the production code path. A
:class:`~adapters.demo.prometheus_api.DemoPrometheus` beside them serves simulated
request metrics of their pods over Prometheus's HTTP API, one base URL per environment.
Both clusters serve Argo Rollouts' CRD and run a simulated Argo controller
(:mod:`adapters.demo.argo`); staging holds one canary Rollout, ``shop/checkout``.

Example:
    >>> with DemoCluster() as demo:  # doctest: +SKIP
    ...     for env, endpoint in demo.endpoints.items():
    ...         print(env, endpoint.base_url, endpoint.context, endpoint.prometheus_url)

Nothing here imports Textual; the emulator needs only aiohttp and the standard library.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from adapters.demo.emulator import KubernetesEmulator, write_kubeconfig
from adapters.demo.prometheus_api import SCRAPE_INTERVAL, DemoPrometheus
from adapters.demo.seed import ENVIRONMENTS, MONITORING, NAMESPACE, seed_demo


class DemoEndpoint(NamedTuple):
    """How to reach one demo environment.

    Attributes:
        base_url: The emulator's URL (``http://127.0.0.1:<port>``).
        kubeconfig_path: A kubeconfig holding a context for every demo environment.
        context: This environment's context in it (the environment's name).
        prometheus_url: The environment's simulated Prometheus
            (``http://127.0.0.1:<port>/<environment>``), or "" when the cluster was
            started without one.
    """

    base_url: str
    kubeconfig_path: Path
    context: str
    prometheus_url: str = ""


class DemoCluster:
    """Both demo environments, started and stopped together.

    Args:
        directory: Where to write the kubeconfig; a temporary directory (removed on
            :meth:`stop`) if not given.
        time_scale: Passed to each emulator (1.0 for the demo, smaller in tests).
        seed: Base seed; each environment gets its own derived seed so their logs differ.
        history_limit: Watch history per resource. The demo holds ~30 pods, so 1,000
            events (minutes of its churn) is plenty to resume from, and it caps the
            history at a few MB per cluster instead of ~100 MB at the 10,000 default.
        prometheus: Also serve simulated request metrics (:mod:`adapters.demo.prometheus_api`),
            scraped every 5 s × ``time_scale`` (at least 0.1 s).
        **emulator_options: Any other :class:`KubernetesEmulator` argument
            (``argo_rollouts`` and ``argo_controller`` default to on here).

    Attributes:
        NAMESPACES: The namespaces the demo's workloads live in, per environment.
        PROTECTED: Environments an operator must confirm by typing their name.
    """

    NAMESPACES: dict[str, tuple[str, ...]] = {env: (NAMESPACE, MONITORING) for env in ENVIRONMENTS}
    PROTECTED: frozenset[str] = frozenset({"demo-prod"})

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        time_scale: float = 1.0,
        seed: int = 7,
        history_limit: int = 1_000,
        prometheus: bool = True,
        **emulator_options: Any,
    ) -> None:
        self._own_directory = directory is None
        self._directory = Path(directory) if directory is not None else None
        emulator_options.setdefault("argo_rollouts", True)
        emulator_options.setdefault("argo_controller", True)
        self.emulators: dict[str, KubernetesEmulator] = {
            env: KubernetesEmulator(time_scale=time_scale, seed=seed + n, history_limit=history_limit, **emulator_options)
            for n, env in enumerate(ENVIRONMENTS)
        }
        self.prometheus: DemoPrometheus | None = (
            DemoPrometheus(self.emulators, scrape_interval=max(0.1, SCRAPE_INTERVAL * time_scale), seed=seed)
            if prometheus
            else None
        )
        self.endpoints: dict[str, DemoEndpoint] = {}

    @property
    def kubeconfig_path(self) -> Path:
        """The kubeconfig with one context per environment.

        Raises:
            RuntimeError: Not started.
        """
        if not self.endpoints:
            raise RuntimeError("the demo cluster is not running")
        return next(iter(self.endpoints.values())).kubeconfig_path

    def start(self) -> dict[str, DemoEndpoint]:
        """Start and seed both environments.

        Returns:
            ``{environment: DemoEndpoint}``.
        """
        if self.endpoints:
            return self.endpoints
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="watchfloor-demo-"))
        try:
            urls = {}
            for env, emulator in self.emulators.items():
                urls[env] = emulator.start()
                seed_demo(emulator, env)
            path = write_kubeconfig(
                self._directory / "kubeconfig",
                [(env, url, NAMESPACE) for env, url in urls.items()],
                current=ENVIRONMENTS[0],
            )
            metrics = self.prometheus.start() if self.prometheus is not None else {}
        except BaseException:
            self.stop()
            raise
        self.endpoints = {env: DemoEndpoint(url, path, env, metrics.get(env, "")) for env, url in urls.items()}
        return self.endpoints

    def stop(self) -> None:
        """Stop the metrics, both emulators, and remove the temporary kubeconfig, if it was ours."""
        if self.prometheus is not None:
            self.prometheus.stop()
        for emulator in self.emulators.values():
            emulator.stop()
        self.endpoints = {}
        if self._own_directory and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> DemoCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = ["DemoCluster", "DemoEndpoint", "DemoPrometheus", "KubernetesEmulator", "seed_demo", "write_kubeconfig"]
