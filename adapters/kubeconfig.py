"""Kubeconfig files read without the kubernetes client.

Two uses, both before or instead of importing the official client (≈ 0.3 s of imports):
the console lists a zero-config Kubernetes environment from the current context, and
``adapters.kube_http`` talks to a cluster with the server, TLS material and
credentials of one context (``resolve_context``).

The rules are the official client's and kubectl's: ``$KUBECONFIG`` may list several
files, merged so that the first file naming a cluster, user or context wins and the
first ``current-context`` set wins; relative file paths in an entry are relative to the
file that holds the entry; inline ``*-data`` wins over the file it replaces, and a
``token`` over a ``tokenFile``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml


class KubeconfigError(Exception):
    """A kubeconfig that cannot give the asked context; the message says what and where."""


def default_kubeconfig() -> Path | None:
    """The first file of ``$KUBECONFIG``, else ``~/.kube/config``, if it exists."""
    return next(iter(kubeconfig_paths(None)), None)


def kubeconfig_paths(explicit: str | os.PathLike | None) -> list[Path]:
    """The existing files a kubeconfig setting names, in merge order.

    ``explicit`` (a config's ``kubeconfig:``) may itself be a path list, as
    ``$KUBECONFIG`` may; without it ``$KUBECONFIG`` is used, else ``~/.kube/config``.
    """
    listed = str(explicit) if explicit is not None else os.environ.get("KUBECONFIG", "")
    candidates = [Path(p).expanduser() for p in listed.split(os.pathsep) if p]
    if not candidates:
        candidates = [Path.home() / ".kube" / "config"]
    return [path for path in candidates if path.is_file()]


def current_context(path: Path) -> str | None:
    """The ``current-context`` of a kubeconfig, or None when unreadable or unset."""
    try:
        document = _read(path)
    except KubeconfigError:
        return None
    context = document.get("current-context")
    return context if isinstance(context, str) and context else None


@dataclass(frozen=True, slots=True)
class ContextAccess:
    """How to reach and authenticate to the cluster of one kubeconfig context."""

    context: str
    server: str
    """The API server's base URL, without a trailing slash (it may carry a path prefix)."""
    sources: tuple[Path, ...]
    """The kubeconfig files read, in merge order."""
    ca_data: bytes | None = None
    """PEM of the certificate authorities to trust; None: the default trust store."""
    insecure: bool = False
    """``insecure-skip-tls-verify``: no certificate check at all."""
    tls_server_name: str | None = None
    proxy_url: str | None = None
    token: str | None = None
    token_file: Path | None = None
    """Read again whenever it changes: projected service-account tokens rotate."""
    client_cert: bytes | None = None
    """PEM of the client certificate (from ``client-certificate`` or its ``-data``)."""
    client_key: bytes | None = None
    username: str | None = None
    password: str | None = None
    plugin: str | None = None
    """``exec`` or ``auth-provider`` when the credentials come from a plugin that only
    the official client knows how to run; None otherwise."""


def resolve_context(kubeconfig: str | os.PathLike | None, context: str | None) -> ContextAccess:
    """The server, TLS material and credentials of ``context`` (None: the current one).

    Raises:
        KubeconfigError: No kubeconfig file, no such context (the message lists the
            ones there are), a context naming a missing cluster, an unreadable
            certificate, key or token file, or undecodable ``*-data``.
    """
    paths = kubeconfig_paths(kubeconfig)
    if not paths:
        where = kubeconfig if kubeconfig is not None else os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise KubeconfigError(f"no kubeconfig file at {where}")
    merged = _merge(paths)
    shown = ", ".join(str(p) for p in paths)
    name = context or merged.current
    if not name:
        raise KubeconfigError(f"no context given and no current-context set in {shown}")
    if name not in merged.contexts:
        known = ", ".join(sorted(merged.contexts)) or "none"
        raise KubeconfigError(f"context {name!r} is not in {shown} (contexts there: {known})")
    entry, _ = merged.contexts[name]
    cluster_name = entry.get("cluster")
    if cluster_name not in merged.clusters:
        raise KubeconfigError(f"context {name!r} names cluster {cluster_name!r}, which is not in {shown}")
    cluster, cluster_base = merged.clusters[cluster_name]
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise KubeconfigError(f"cluster {cluster_name!r} in {shown} has no server")
    user_name = entry.get("user")
    user, user_base = merged.users.get(user_name, ({}, cluster_base)) if user_name else ({}, cluster_base)

    plugin = None
    if isinstance(user.get("auth-provider"), dict) and user["auth-provider"].get("name"):
        plugin = "auth-provider"
    elif user.get("exec") and not (user.get("token") or user.get("tokenFile")):
        # The official client prefers a static token over an exec plugin; so do we.
        plugin = "exec"

    what = f"cluster {cluster_name!r}"
    ca_data = _file_or_data(cluster, "certificate-authority", cluster_base, what)
    whose = f"user {user_name!r}"
    token_file = None
    token = user.get("token") or None
    if token is None and user.get("tokenFile"):
        token_file = _path(user["tokenFile"], user_base)
        token = _read_bytes(token_file, "tokenFile", whose).decode("utf-8", "replace").strip()
    return ContextAccess(
        context=name,
        server=server,
        sources=tuple(paths),
        ca_data=ca_data,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        proxy_url=cluster.get("proxy-url") or None,
        token=str(token) if token is not None else None,
        token_file=token_file,
        client_cert=_file_or_data(user, "client-certificate", user_base, whose),
        client_key=_file_or_data(user, "client-key", user_base, whose),
        username=user.get("username"),
        password=user.get("password"),
        plugin=plugin,
    )


# -- reading and merging -------------------------------------------------------------------


@dataclass
class _Merged:
    current: str | None
    clusters: dict[str, tuple[dict, Path]]
    users: dict[str, tuple[dict, Path]]
    contexts: dict[str, tuple[dict, Path]]
    """name → (entry, the directory its relative paths start from)."""


def _merge(paths: list[Path]) -> _Merged:
    merged = _Merged(None, {}, {}, {})
    for path in paths:
        document = _read(path)
        base = path.resolve().parent
        if not merged.current and isinstance(document.get("current-context"), str):
            merged.current = document["current-context"] or None
        for section, key, into in (
            ("clusters", "cluster", merged.clusters),
            ("users", "user", merged.users),
            ("contexts", "context", merged.contexts),
        ):
            for item in document.get(section) or []:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                # The first file that names an entry wins, as in kubectl.
                into.setdefault(item["name"], (item.get(key) or {}, base))
    return merged


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {error.strerror or error}") from error
    try:
        # Tools (and our demo) often write JSON, which the C JSON parser reads far
        # faster than YAML; anything else is YAML.
        document = json.loads(text) if text.lstrip().startswith("{") else _yaml(text)
    except (ValueError, yaml.YAMLError) as error:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {str(error).splitlines()[0]}") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping")
    return document


def _yaml(text: str):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, the C one when built # nosec B506


def _path(value: object, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _read_bytes(path: Path, field: str, whose: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KubeconfigError(f"{field} of {whose}: cannot read {path}: {error.strerror or error}") from error


def _file_or_data(entry: dict, field: str, base: Path, whose: str) -> bytes | None:
    """``field-data`` (base64) if set, else the file ``field`` names, else None."""
    data = entry.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=False)
        except (binascii.Error, ValueError) as error:
            raise KubeconfigError(f"{field}-data of {whose} is not base64: {error}") from error
    if entry.get(field):
        return _read_bytes(_path(entry[field], base), field, whose)
    return None
