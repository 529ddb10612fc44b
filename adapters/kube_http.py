"""The Kubernetes API over plain urllib3, configured from a kubeconfig context.

Why not the official client: importing it costs ≈ 0.3 s before the first request, and
the adapter uses none of its models (it reads raw JSON). This module does what the
client's kubeconfig loader and REST layer do for the common cases — server URL (with a
path prefix), CA file or data, ``insecure-skip-tls-verify``, ``tls-server-name``,
``proxy-url``, bearer token or token file, client certificate and key (files or
inline), basic auth — over one ``PoolManager`` per cluster.

Credentials that come from a plugin (``exec``, ``auth-provider``) are the official
loader's job: only then is the ``kubernetes`` package imported, its loader runs the
plugin, and every request asks its configuration for a fresh token (it refreshes
expiring ones).
"""

from __future__ import annotations

import codecs
import json
import os
import ssl
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import urllib3

from adapters.kubeconfig import ContextAccess, KubeconfigError, resolve_context

Timeout = float | tuple[float | None, float | None] | None
"""Seconds for the whole request, or (connect, read) as the official client takes them."""

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

POOL_SIZE = 32
"""Connections kept per cluster: one per open watch (six resources per namespace) plus
requests beside them. More are opened when needed; only the extra ones are not kept."""


class KubeHTTP:
    """Requests to one cluster's API server: auth, TLS and proxy set up once."""

    def __init__(
        self,
        access: ContextAccess,
        *,
        authorization: Callable[[], str | None] | None = None,
    ) -> None:
        """Set up the connection pool for ``access``.

        Args:
            access: The context's server, TLS material and credentials.
            authorization: Gives the ``Authorization`` header value per request; by
                default it is built from ``access`` (token, token file, basic auth).

        Raises:
            KubeconfigError: The CA, client certificate or key is unusable, or the
                proxy URL's scheme is not supported.
        """
        self.access = access
        self.host = access.server
        """The server's base URL, as requests are made to it."""
        self._authorization = authorization or _static_authorization(access)
        self._headers = {"Accept": "application/json", "User-Agent": "watchfloor"}
        pool_options: dict = {"num_pools": 4, "maxsize": POOL_SIZE}
        if self.host.startswith("https:"):
            pool_options["ssl_context"] = _ssl_context(access)
            if access.tls_server_name:
                pool_options["server_hostname"] = access.tls_server_name
        self._pool = _pool(access.proxy_url, pool_options)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | Iterable[tuple[str, object]] | None = None,
        body: object = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request; the response is returned unread, whatever its status.

        Args:
            method: GET, POST, PUT, PATCH, DELETE.
            path: Path below the server URL, e.g. ``/api/v1/namespaces/shop/pods``.
            query: Query parameters; None values are left out.
            body: A JSON-able object (sent as JSON) or bytes sent as they are.
            content_type: Of the body; ``application/json`` unless given (a PATCH
                names its patch type, e.g. ``STRATEGIC_MERGE_PATCH``).
            headers: Extra headers.
            timeout: Seconds, or (connect, read); None waits for ever (log follows).

        Raises:
            urllib3.exceptions.HTTPError, OSError: The server could not be reached or
                the connection broke before the response head arrived.
        """
        url = self.host + path
        pairs = query.items() if isinstance(query, Mapping) else (query or ())
        encoded = urlencode([(k, v) for k, v in pairs if v is not None])
        if encoded:
            url += "?" + encoded
        send = dict(self._headers)
        authorization = self._authorization()
        if authorization:
            send["Authorization"] = authorization
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            send["Content-Type"] = content_type or "application/json"
        if headers:
            send.update(headers)
        return self._pool.request(
            method, url, body=payload, headers=send, preload_content=False, timeout=_timeout(timeout)
        )

    def close(self) -> None:
        """Close the pooled connections (streams in other threads end with an error)."""
        self._pool.clear()


def open_context(kubeconfig: str | os.PathLike | None, context: str | None) -> KubeHTTP:
    """A ``KubeHTTP`` for a kubeconfig context (None: the current context).

    Raises:
        KubeconfigError: The kubeconfig cannot give that context (see ``resolve_context``),
            or its credential plugin failed.
    """
    access = resolve_context(kubeconfig, context)
    if access.plugin is None:
        return KubeHTTP(access)
    return _through_official_loader(access)


# -- credentials ---------------------------------------------------------------------------


def _static_authorization(access: ContextAccess) -> Callable[[], str | None]:
    if access.token is not None and access.token_file is None:
        header = f"Bearer {access.token}"
        return lambda: header
    if access.token_file is not None:
        return _TokenFile(access.token_file, access.token or "").header
    if access.username is not None and access.password is not None:
        header = urllib3.util.make_headers(basic_auth=f"{access.username}:{access.password}")["authorization"]
        return lambda: header
    return lambda: None


class _TokenFile:
    """A bearer token file, read again when it changes (kubelets rotate projected tokens)."""

    def __init__(self, path: Path, token: str) -> None:
        self._path = path
        self._token = token
        try:
            self._stamp = path.stat().st_mtime_ns
        except OSError:
            self._stamp = 0

    def header(self) -> str | None:
        try:
            stamp = self._path.stat().st_mtime_ns
            if stamp != self._stamp:
                self._token = self._path.read_text(encoding="utf-8").strip()
                self._stamp = stamp
        except OSError:
            # Mid-rotation the file may be briefly missing: keep the token we have.
            pass
        return f"Bearer {self._token}" if self._token else None


def _through_official_loader(access: ContextAccess) -> KubeHTTP:
    """Let the official client's loader run the exec/auth-provider plugin.

    Its configuration then gives TLS files and, per request, the token (refreshed
    by the loader's hook when it expires).
    """
    from kubernetes import client as kube_client  # noqa: PLC0415 - only plugins pay for this import
    from kubernetes import config as kube_config  # noqa: PLC0415

    configuration = kube_client.Configuration()
    try:
        kube_config.load_kube_config(
            config_file=os.pathsep.join(str(p) for p in access.sources),
            context=access.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except Exception as error:  # noqa: BLE001 - the plugin's failure, in its words
        raise KubeconfigError(f"{access.plugin} credentials of context {access.context!r}: {error}") from error

    def read(path: str | None, what: str) -> bytes | None:
        if not path:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise KubeconfigError(f"{what} {path}: {error.strerror or error}") from error

    loaded = replace(
        access,
        server=str(configuration.host).rstrip("/"),
        ca_data=read(configuration.ssl_ca_cert, "certificate-authority"),
        insecure=not configuration.verify_ssl,
        tls_server_name=getattr(configuration, "tls_server_name", None) or access.tls_server_name,
        proxy_url=configuration.proxy or access.proxy_url,
        client_cert=read(configuration.cert_file, "client-certificate"),
        client_key=read(configuration.key_file, "client-key"),
        token=None,
        token_file=None,
        username=None,
        password=None,
    )

    def authorization() -> str | None:
        return (configuration.auth_settings().get("BearerToken") or {}).get("value")

    return KubeHTTP(loaded, authorization=authorization)


# -- TLS, proxies, timeouts ----------------------------------------------------------------


def _ssl_context(access: ContextAccess) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if access.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        # The kubeconfig asked for no verification; a warning per request would only
        # scribble over the console.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    elif access.ca_data is not None:
        context = ssl.create_default_context(cadata=_pem_or_der(access.ca_data, "certificate-authority"))
    else:
        _add_certifi(context)
    if access.client_cert is not None or access.client_key is not None:
        _load_client_pair(context, access)
    return context


def _pem_or_der(data: bytes, what: str) -> str | bytes:
    if b"-----BEGIN" in data:
        try:
            return data.decode("ascii")
        except UnicodeDecodeError as error:
            raise KubeconfigError(f"{what} is not PEM text") from error
    return data


def _add_certifi(context: ssl.SSLContext) -> None:
    # The official client trusts certifi's bundle when no CA is given; trusting the
    # system store too keeps clusters behind corporate CAs reachable.
    try:
        import certifi  # noqa: PLC0415
    except ImportError:
        return
    try:
        context.load_verify_locations(cafile=certifi.where())
    except (OSError, ssl.SSLError):
        pass


def _load_client_pair(context: ssl.SSLContext, access: ContextAccess) -> None:
    if access.client_cert is None or access.client_key is None:
        missing = "client-key" if access.client_key is None else "client-certificate"
        raise KubeconfigError(f"context {access.context!r}: a client certificate needs its key ({missing} is missing)")
    # ssl loads certificate chains from files only: write them to a private directory,
    # load, and remove them at once.
    with tempfile.TemporaryDirectory(prefix="watchfloor-tls-") as private:
        cert = Path(private) / "client.crt"
        key = Path(private) / "client.key"
        for path, data in ((cert, access.client_cert), (key, access.client_key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        try:
            context.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as error:
            raise KubeconfigError(f"context {access.context!r}: client certificate or key unusable: {error}") from error


def _pool(proxy_url: str | None, options: dict) -> urllib3.PoolManager:
    if not proxy_url:
        return urllib3.PoolManager(**options)
    scheme = proxy_url.split("://", 1)[0].lower() if "://" in proxy_url else "http"
    if scheme in ("http", "https"):
        return urllib3.ProxyManager(proxy_url, **options)
    if scheme.startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager  # noqa: PLC0415
        except ImportError as error:
            raise KubeconfigError(f"proxy-url {proxy_url}: SOCKS proxies need the PySocks package") from error
        return SOCKSProxyManager(proxy_url, **options)
    raise KubeconfigError(f"proxy-url {proxy_url}: unsupported scheme {scheme!r}")


def _timeout(timeout: Timeout) -> urllib3.Timeout:
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(connect=timeout, read=timeout)


# -- list bodies, decoded as they arrive ---------------------------------------------------


def iter_list_items(chunks: Iterable[bytes], fields: dict) -> Iterator[dict]:
    """The ``items`` of a Kubernetes list body, one decoded object at a time.

    ``json.loads`` of a 5,000-pod list holds every pod's dicts at once (≈ 48 MiB for
    12.7 MB of JSON) before the caller keeps a few fields of each; this hands over
    each item as soon as its bytes have arrived, so the caller can keep what it needs
    and let the rest go, and decoding overlaps the transfer.

    Args:
        chunks: The body, in pieces split anywhere (``response.stream()``).
        fields: Filled with the other top-level fields (``metadata`` with the list's
            ``resourceVersion``, ``kind`` …) as they are read; complete once the
            iterator is exhausted.

    Raises:
        ValueError: The body is not a JSON object (or ends early).
    """
    text = _JsonText(chunks)
    text.expect("{")
    first = True
    while text.peek() != "}":
        if not first:
            text.expect(",")
        first = False
        text.peek()
        key = text.value()
        if not isinstance(key, str):
            raise ValueError("a JSON object key is not a string")
        text.expect(":")
        if key == "items" and text.peek() == "[":
            text.pos += 1
            if text.peek() == "]":
                text.pos += 1
                continue
            while True:
                text.peek()
                yield text.value()
                if text.peek() == "]":
                    text.pos += 1
                    break
                text.expect(",")
        else:
            text.peek()
            fields[key] = text.value()
    text.pos += 1
    if text.peek():
        raise ValueError("data after the end of the JSON object")


_DECODER = json.JSONDecoder()
_BLANK = " \t\r\n"


class _JsonText:
    """A growing window on a JSON text that arrives in byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._decode = codecs.getincrementaldecoder("utf-8")().decode
        self._ended = False
        self.text = ""
        self.pos = 0

    def _more(self) -> bool:
        """Append the next piece of text (dropping what was consumed); False at the end."""
        if self._ended:
            return False
        piece = ""
        for chunk in self._chunks:
            piece = self._decode(chunk)
            if piece:
                break
        else:
            self._ended = True
            piece = self._decode(b"", final=True)
            if not piece:
                return False
        self.text = self.text[self.pos :] + piece
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character, not consumed; "" at the end of the text."""
        while True:
            text, pos, end = self.text, self.pos, len(self.text)
            while pos < end and text[pos] in _BLANK:
                pos += 1
            self.pos = pos
            if pos < end:
                return text[pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise ValueError(f"expected {char!r} in the JSON text, found {found or 'its end'!r}")
        self.pos += 1

    def value(self):
        """Decode the JSON value at the current position (after ``peek``)."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                if self._more():
                    continue
                raise
            # A number at the very end of the window may go on in the next chunk.
            if end == len(self.text) and self._more():
                continue
            self.pos = end
            return value
