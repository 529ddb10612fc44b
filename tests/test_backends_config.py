"""From configuration to environments: zero-config discovery and configured clusters."""

from __future__ import annotations

from console.backends import backends_for
from console.config import default_config, parse_config
from console.model import EnvironmentKind


def test_zero_config_shows_local_docker_and_the_current_kube_context(monkeypatch, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: arn:aws:eks:eu/Prod Cluster\ncontexts: []\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))

    backends = backends_for(default_config())

    kinds = [(b.environment.name, b.environment.kind) for b in backends]
    assert kinds == [("local", EnvironmentKind.DOCKER), ("arn-aws-eks-eu-prod-cluster", EnvironmentKind.KUBERNETES)]


def test_zero_config_without_a_kubeconfig_is_docker_only(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))

    assert [b.environment.name for b in backends_for(default_config())] == ["local"]


def test_configured_clusters_keep_their_order_protection_and_namespaces():
    config = parse_config(
        "environments:\n"
        "  - {name: prod-eu, kind: kubernetes, context: prod-eu, namespaces: [shop], protected: true}\n"
        "  - {name: staging-eu, kind: kubernetes, context: staging-eu}\n"
        "  - {name: local, kind: docker}\n"
    )

    backends = backends_for(config, read_only=True)

    assert [b.environment.name for b in backends] == ["prod-eu", "staging-eu", "local"]
    assert backends[0].environment.protected and backends[0].environment.target == "prod-eu (shop)"
    assert all(b.environment.read_only for b in backends)
    adapter = backends[0].make_adapter()
    assert adapter.namespaces == ["shop"] and adapter.context == "prod-eu"
