"""How a kubeconfig context is resolved without the kubernetes client (adapters.kubeconfig).

Plain files in a temporary directory; the rules are the official client's and kubectl's.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from adapters.base import AdapterError, ErrorKind
from adapters.kubeconfig import KubeconfigError, current_context, default_kubeconfig, resolve_context
from adapters.kubernetes import KubernetesAdapter
from console.model import Environment, EnvironmentKind


def write(path: Path, *, clusters=(), users=(), contexts=(), current: str | None = None) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster} for name, cluster in clusters],
        "users": [{"name": name, "user": user} for name, user in users],
        "contexts": [{"name": name, "context": context} for name, context in contexts],
    }
    if current is not None:
        document["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def one_context(path: Path, *, cluster: dict, user: dict | None = None, name: str = "ctx") -> Path:
    return write(
        path,
        clusters=[("c", cluster)],
        users=[("u", user or {})],
        contexts=[(name, {"cluster": "c", "user": "u"})],
        current=name,
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_current_context_is_used_when_none_is_named(tmp_path):
    path = one_context(tmp_path / "config", cluster={"server": "https://k8s.example:6443/"}, user={"token": "t0k"})

    access = resolve_context(str(path), None)

    assert (access.context, access.server, access.token) == ("ctx", "https://k8s.example:6443", "t0k")
    assert access.plugin is None


def test_relative_file_paths_start_from_the_kubeconfig_directory(tmp_path):
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(b"CA PEM")
    (tmp_path / "pki" / "me.crt").write_bytes(b"CERT PEM")
    (tmp_path / "pki" / "me.key").write_bytes(b"KEY PEM")
    (tmp_path / "pki" / "token").write_text("from-file\n")
    path = one_context(
        tmp_path / "config",
        cluster={"server": "https://k", "certificate-authority": "pki/ca.crt"},
        user={"client-certificate": "pki/me.crt", "client-key": "pki/me.key", "tokenFile": "pki/token"},
    )

    access = resolve_context(str(path), "ctx")

    assert (access.ca_data, access.client_cert, access.client_key) == (b"CA PEM", b"CERT PEM", b"KEY PEM")
    assert access.token == "from-file" and access.token_file == tmp_path / "pki" / "token"


def test_inline_data_wins_over_the_file_it_replaces_and_a_token_over_a_token_file(tmp_path):
    path = one_context(
        tmp_path / "config",
        cluster={"server": "https://k", "certificate-authority": "missing.crt", "certificate-authority-data": b64(b"INLINE CA")},
        user={
            "client-certificate": "missing.crt",
            "client-certificate-data": b64(b"INLINE CERT"),
            "client-key-data": b64(b"INLINE KEY"),
            "token": "inline-token",
            "tokenFile": "missing-token",
        },
    )

    access = resolve_context(str(path), "ctx")

    assert (access.ca_data, access.client_cert, access.client_key) == (b"INLINE CA", b"INLINE CERT", b"INLINE KEY")
    assert access.token == "inline-token" and access.token_file is None


def test_insecure_tls_server_name_and_proxy_are_read(tmp_path):
    path = one_context(
        tmp_path / "config",
        cluster={
            "server": "https://10.0.0.1",
            "insecure-skip-tls-verify": True,
            "tls-server-name": "kube.internal",
            "proxy-url": "http://proxy:3128",
        },
    )

    access = resolve_context(str(path), "ctx")

    assert (access.insecure, access.tls_server_name, access.proxy_url) == (True, "kube.internal", "http://proxy:3128")


@pytest.mark.parametrize(
    ("user", "plugin"),
    [
        ({"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1beta1"}}, "exec"),
        ({"auth-provider": {"name": "oidc", "config": {}}}, "auth-provider"),
        ({"exec": {"command": "aws"}, "token": "static"}, None),
    ],
    ids=["exec", "auth-provider", "a token beats exec"],
)
def test_plugin_credentials_are_flagged_for_the_official_loader(tmp_path, user, plugin):
    path = one_context(tmp_path / "config", cluster={"server": "https://k"}, user=user)

    assert resolve_context(str(path), "ctx").plugin == plugin


def test_kubeconfig_list_is_merged_first_file_wins(tmp_path, monkeypatch):
    first = write(
        tmp_path / "a" / "config",
        clusters=[("shared", {"server": "https://first"})],
        contexts=[("one", {"cluster": "shared"})],
        current="one",
    )
    second = write(
        tmp_path / "b" / "config",
        clusters=[("shared", {"server": "https://second"}), ("own", {"server": "https://own"})],
        contexts=[("two", {"cluster": "shared"}), ("three", {"cluster": "own"})],
        current="three",
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'absent'}:{second}")

    current = resolve_context(None, None)
    two = resolve_context(None, "two")
    three = resolve_context(None, "three")

    assert (current.context, current.server) == ("one", "https://first")
    assert two.server == "https://first"
    assert three.server == "https://own"
    assert default_kubeconfig() == first
    assert current_context(second) == "three"


def test_unknown_context_names_itself_and_the_ones_there_are(tmp_path):
    path = one_context(tmp_path / "config", cluster={"server": "https://k"}, name="staging")

    with pytest.raises(KubeconfigError) as caught:
        resolve_context(str(path), "prod")

    assert "'prod'" in str(caught.value) and "staging" in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("cluster", "user", "words"),
    [
        ({"server": "https://k", "certificate-authority": "nope/ca.crt"}, {}, "certificate-authority"),
        ({"server": "https://k"}, {"client-certificate": "nope.crt", "client-key-data": b64(b"k")}, "client-certificate"),
        ({"server": "https://k"}, {"tokenFile": "nope-token"}, "tokenFile"),
    ],
    ids=["ca file", "client certificate file", "token file"],
)
def test_a_missing_file_is_named_in_the_error(tmp_path, cluster, user, words):
    path = one_context(tmp_path / "config", cluster=cluster, user=user)

    with pytest.raises(KubeconfigError) as caught:
        resolve_context(str(path), "ctx")

    assert words in str(caught.value) and str(tmp_path / "nope") in str(caught.value)


def test_no_kubeconfig_file_at_all_is_an_error(tmp_path):
    with pytest.raises(KubeconfigError) as caught:
        resolve_context(str(tmp_path / "absent"), None)

    assert str(tmp_path / "absent") in str(caught.value)


def test_adapter_turns_a_kubeconfig_problem_into_an_unreachable_error_naming_the_context(tmp_path):
    path = one_context(tmp_path / "config", cluster={"server": "https://k"}, name="staging")
    adapter = KubernetesAdapter(Environment("prod", EnvironmentKind.KUBERNETES, "prod"), kubeconfig=str(path), context="prod")

    with pytest.raises(AdapterError) as caught:
        adapter.connect()

    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert caught.value.summary == "cannot load kubeconfig context prod"
    assert "'prod' is not in" in caught.value.admin_detail and "staging" in caught.value.admin_detail
