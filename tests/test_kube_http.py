"""The adapter's own HTTP layer (adapters.kube_http) against the emulator over real HTTP.

The emulator speaks plain HTTP and checks no credentials, so where a test needs TLS or
must see what a client sent, a relay sits between the adapter and the emulator: a real
TLS endpoint (asyncio + ssl, certificates made by the ``openssl`` CLI) that forwards
bytes both ways and keeps what the client sent. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from adapters.base import AdapterError, ErrorKind
from adapters.demo.emulator import KubernetesEmulator
from adapters.kube_http import MERGE_PATCH, STRATEGIC_MERGE_PATCH, KubeHTTP, iter_list_items, open_context
from adapters.kubeconfig import resolve_context
from adapters.kubernetes import KubernetesAdapter
from console.model import Environment, EnvironmentKind
from tests.backends import backend_unavailable
from tests.test_kubernetes_adapter import deployment_object

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- fixtures


class Relay:
    """A TCP relay to the emulator, optionally ending TLS, that keeps what clients sent."""

    def __init__(self, target_port: int, tls: ssl.SSLContext | None = None) -> None:
        self.sent = bytearray()
        """Every byte clients sent (request heads and bodies), all connections."""
        self.client_names: list[str] = []
        """Common names of the client certificates presented."""
        self._target = target_port
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(lambda loop, context: None)  # failed handshakes are the point of some tests
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls))
        self.port = self._server.sockets[0].getsockname()[1]
        started.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        for field in peer.get("subject", ()):
            self.client_names += [value for key, value in field if key == "commonName"]
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, keep: bool) -> None:
            try:
                while data := await source.read(65536):
                    if keep:
                        self.sent.extend(data)
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, upstream_writer, True), pump(upstream_reader, writer, False), return_exceptions=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def header_values(self, name: str) -> list[str]:
        pattern = re.compile(rb"^" + re.escape(name.encode()) + rb":\s*(.*?)\r$", re.IGNORECASE | re.MULTILINE)
        return [match.decode() for match in pattern.findall(bytes(self.sent))]

    def close(self) -> None:
        async def shut() -> None:
            self._server.close()
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def emulator():
    with KubernetesEmulator(time_scale=0.05, seed=11, controller=False) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        yield running


@pytest.fixture
def relay(emulator):
    made: list[Relay] = []

    def start(tls: ssl.SSLContext | None = None) -> Relay:
        made.append(Relay(emulator.port, tls))
        return made[-1]

    yield start
    for one in made:
        one.close()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(directory: Path, name: str, subject: str, extensions: str, ca: str = "ca") -> None:
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("req", "-new", *ec, "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-set_serial", str(abs(hash(name)) % 10**9),
        "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=directory,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1, one for the name kube.test only, a
    client certificate (CN alice), and an unrelated CA."""
    if shutil.which("openssl") is None:
        backend_unavailable("openssl CLI", "needed to make test certificates")
    directory = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", *ec, "-days", "2", "-subj", f"/CN=watchfloor {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )
    leaf = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    _issue(directory, "server", "/CN=kube-apiserver", leaf + "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n")
    _issue(directory, "named", "/CN=kube-apiserver", leaf + "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:kube.test\n")
    _issue(directory, "alice", "/CN=alice", leaf + "extendedKeyUsage=clientAuth\n")
    return directory


def server_tls(pki: Path, *, name: str = "server", client_ca: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / f"{name}.crt", pki / f"{name}.key")
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.crt")
    return context


def kubeconfig(path: Path, cluster: dict, user: dict | None = None, context: str = "ctx") -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document))
    return path


def adapter_for(path: Path, context: str = "ctx") -> KubernetesAdapter:
    return KubernetesAdapter(Environment("cluster", EnvironmentKind.KUBERNETES, context), kubeconfig=str(path), context=context)


def pods_seen(adapter: KubernetesAdapter) -> int:
    adapter.connect()
    try:
        return len(adapter.snapshot().replicas)
    finally:
        adapter.close()


# --------------------------------------------------------------------------- credentials


def test_a_token_is_sent_as_a_bearer_header(emulator, relay, tmp_path):
    through = relay()
    path = kubeconfig(tmp_path / "config", {"server": through.url}, {"token": "s3cret"})

    pods_seen(adapter_for(path))

    assert through.header_values("authorization") and set(through.header_values("authorization")) == {"Bearer s3cret"}


def test_a_token_file_is_read_again_when_it_rotates(emulator, relay, tmp_path):
    through = relay()
    token = tmp_path / "token"
    token.write_text("first\n")
    path = kubeconfig(tmp_path / "config", {"server": through.url}, {"tokenFile": "token"})
    http = open_context(str(path), "ctx")

    http.request("GET", "/version").read()
    token.write_text("second\n")
    # A rotation is seen by its new modification time; make it differ even on a
    # file system with coarse timestamps.
    stamp = token.stat().st_mtime_ns + 2_000_000_000
    os.utime(token, ns=(stamp, stamp))
    http.request("GET", "/version").read()
    http.close()

    assert through.header_values("authorization") == ["Bearer first", "Bearer second"]


def test_basic_auth_is_sent_for_a_username_and_password(emulator, relay, tmp_path):
    through = relay()
    path = kubeconfig(tmp_path / "config", {"server": through.url}, {"username": "ops", "password": "pa:ss"})

    pods_seen(adapter_for(path))

    assert set(through.header_values("authorization")) == {"Basic " + base64.b64encode(b"ops:pa:ss").decode()}


def test_exec_credentials_come_from_the_official_loader(emulator, relay, tmp_path):
    through = relay()
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": "from-exec"}}
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
            "interactiveMode": "Never",
        }
    }
    path = kubeconfig(tmp_path / "config", {"server": through.url}, user)

    pods_seen(adapter_for(path))

    assert set(through.header_values("authorization")) == {"Bearer from-exec"}


def test_a_static_token_context_never_imports_the_kubernetes_client(emulator, tmp_path):
    path = kubeconfig(tmp_path / "config", {"server": emulator.base_url}, {"token": "t"})
    code = (
        "import sys\n"
        "from adapters.kubernetes import KubernetesAdapter\n"
        "from console.model import Environment, EnvironmentKind\n"
        f"adapter = KubernetesAdapter(Environment('e', EnvironmentKind.KUBERNETES, 'ctx'), kubeconfig={str(path)!r}, context='ctx')\n"
        "adapter.connect()\n"
        "adapter.snapshot()\n"
        "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))\n"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)

    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- TLS


def test_a_ca_file_verifies_the_server(emulator, relay, pki, tmp_path):
    emulator.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [{"name": "m", "image": "x:1"}]}})
    through = relay(server_tls(pki))
    shutil.copy(pki / "ca.crt", tmp_path / "ca.crt")
    path = kubeconfig(tmp_path / "config", {"server": through.url, "certificate-authority": "ca.crt"}, {"token": "t"})

    assert pods_seen(adapter_for(path)) == 1


def test_inline_ca_data_verifies_the_server(emulator, relay, pki, tmp_path):
    through = relay(server_tls(pki))
    ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
    path = kubeconfig(tmp_path / "config", {"server": through.url, "certificate-authority-data": ca})

    assert pods_seen(adapter_for(path)) == 0


def test_a_server_signed_by_another_ca_is_refused(emulator, relay, pki, tmp_path):
    through = relay(server_tls(pki))
    path = kubeconfig(tmp_path / "config", {"server": through.url, "certificate-authority": str(pki / "other-ca.crt")})
    adapter = adapter_for(path)

    with pytest.raises(AdapterError) as caught:
        adapter.connect()

    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.admin_detail + caught.value.developer_detail


def test_insecure_skip_tls_verify_connects_without_a_ca(emulator, relay, pki, tmp_path):
    through = relay(server_tls(pki, name="named"))
    path = kubeconfig(tmp_path / "config", {"server": through.url, "insecure-skip-tls-verify": True})

    assert pods_seen(adapter_for(path)) == 0


def test_tls_server_name_is_the_name_verified(emulator, relay, pki, tmp_path):
    through = relay(server_tls(pki, name="named"))
    cluster = {"server": through.url, "certificate-authority": str(pki / "ca.crt")}
    wrong = kubeconfig(tmp_path / "wrong", cluster)
    right = kubeconfig(tmp_path / "right", cluster | {"tls-server-name": "kube.test"})

    with pytest.raises(AdapterError):
        adapter_for(wrong).connect()
    assert pods_seen(adapter_for(right)) == 0


@pytest.mark.parametrize("form", ["files", "inline data"])
def test_a_client_certificate_authenticates(emulator, relay, pki, tmp_path, form):
    through = relay(server_tls(pki, client_ca=True))
    if form == "files":
        user = {"client-certificate": str(pki / "alice.crt"), "client-key": str(pki / "alice.key")}
    else:
        user = {
            "client-certificate-data": base64.b64encode((pki / "alice.crt").read_bytes()).decode(),
            "client-key-data": base64.b64encode((pki / "alice.key").read_bytes()).decode(),
        }
    path = kubeconfig(tmp_path / "config", {"server": through.url, "certificate-authority": str(pki / "ca.crt")}, user)

    pods_seen(adapter_for(path))

    assert set(through.client_names) == {"alice"}


def test_a_missing_client_key_file_is_a_clear_error(pki, tmp_path):
    user = {"client-certificate": str(pki / "alice.crt"), "client-key": str(tmp_path / "gone.key")}
    path = kubeconfig(tmp_path / "config", {"server": "https://127.0.0.1:1", "certificate-authority": str(pki / "ca.crt")}, user)

    with pytest.raises(AdapterError) as caught:
        adapter_for(path).connect()

    assert caught.value.summary == "cannot load kubeconfig context ctx"
    assert "client-key" in caught.value.admin_detail and str(tmp_path / "gone.key") in caught.value.admin_detail


# --------------------------------------------------------------------------- writes


def test_post_patch_and_delete_with_json_bodies(emulator, tmp_path):
    emulator.apply(deployment_object("web", replicas=2))
    http = KubeHTTP(resolve_context(str(emulator.kubeconfig(tmp_path / "config", context_name="ctx")), "ctx"))
    leases = "/apis/coordination.k8s.io/v1/namespaces/shop/leases"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"}, "spec": {"holderIdentity": "alice"}}

    created = http.request("POST", leases, body=lease)
    patched = http.request("PATCH", f"{leases}/lock", body={"spec": {"holderIdentity": "bob"}}, content_type=MERGE_PATCH)
    scaled = http.request(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/web",
        body={"spec": {"replicas": 5}, "metadata": {"annotations": {"kubernetes.io/change-cause": "scale"}}},
        content_type=STRATEGIC_MERGE_PATCH,
    )
    deleted = http.request("DELETE", f"{leases}/lock")
    gone = http.request("GET", f"{leases}/lock")
    http.close()

    assert created.status == 201
    assert patched.status == 200 and json.loads(patched.read())["spec"]["holderIdentity"] == "bob"
    web = json.loads(scaled.read())
    assert web["spec"]["replicas"] == 5 and web["metadata"]["annotations"]["kubernetes.io/change-cause"] == "scale"
    assert deleted.status == 200 and gone.status == 404


def test_adapter_request_decodes_json_and_raises_the_api_error_kinds(emulator, tmp_path):
    adapter = adapter_for(emulator.kubeconfig(tmp_path / "config", context_name="ctx"))
    adapter.connect()
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
    try:
        created = adapter.request("POST", "/api/v1/namespaces/shop/configmaps", body=config_map)
        with pytest.raises(AdapterError) as duplicate:
            adapter.request("POST", "/api/v1/namespaces/shop/configmaps", body=config_map)
        with pytest.raises(AdapterError) as missing:
            adapter.request("GET", "/api/v1/namespaces/shop/configmaps/absent")
    finally:
        adapter.close()

    assert created["data"] == {"a": "1"}
    assert duplicate.value.kind is ErrorKind.CONFLICT
    assert missing.value.kind is ErrorKind.NOT_FOUND


# --------------------------------------------------------------------------- list bodies


def test_list_items_decode_the_same_wherever_the_body_is_split():
    body = json.dumps(
        {
            "kind": "PodList",
            "items": [{"metadata": {"name": "ä-ß-😀"}, "n": 12345}, {"x": [1, 2.5e3, None, True]}, {}],
            "metadata": {"resourceVersion": "987654"},
            "count": 42,
        },
        ensure_ascii=False,
        separators=(", ", ": "),
    ).encode("utf-8")
    expected = json.loads(body)

    for cut in range(1, len(body)):
        fields: dict = {}
        items = list(iter_list_items([body[:cut], b"", body[cut:]], fields))

        assert items == expected["items"], cut
        assert fields == {"kind": "PodList", "metadata": {"resourceVersion": "987654"}, "count": 42}, cut


@pytest.mark.parametrize(
    ("body", "items"),
    [(b'{"items": [], "metadata": {}}', []), (b'{"items": null}', []), (b'{"metadata": {}}', [])],
    ids=["empty", "null", "absent"],
)
def test_list_without_items_yields_none(body, items):
    assert list(iter_list_items([body], {})) == items


@pytest.mark.parametrize("body", [b'{"items": [{"a": 1}', b'{"items": [1 2]}', b"[]", b'{"a": 1} x', b"<html>"])
def test_a_broken_list_body_is_a_value_error(body):
    with pytest.raises(ValueError):
        list(iter_list_items([body], {}))
