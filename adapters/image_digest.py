"""Digest resolution: which manifest digest an image tag names right now (I/O).

Two sources, used by the run executor when an environment's image policy has
``require_digest`` (``console/image_policy.py`` decides; this module only asks):

- a Docker engine's local image: ``RepoDigests`` from ``docker image inspect`` (what
  the engine would run; an image pulled from or pushed to a registry carries the
  registry's digest there);
- a registry, over the Docker Registry HTTP API v2 (what a Kubernetes node would
  pull): ``HEAD /v2/<repository>/manifests/<tag>`` with the manifest media types in
  ``Accept``, answered with ``Docker-Content-Digest``. A registry that leaves that
  header out is asked with ``GET`` and the manifest's bytes are hashed, which is the
  digest by definition.

Registries on a loopback address are tried over HTTPS, then plain HTTP, as Docker
treats ``127.0.0.0/8`` as an insecure registry by default; every other registry is
HTTPS only, with certificate checks. Registries that ask for credentials (Docker Hub
among them, which wants an anonymous token) are not resolved: the error says so and
what to do instead (pull the image on the engine, or pin ``@sha256:…`` in the runbook).

Every failure is an ``AdapterError``: ``NOT_FOUND`` (no such tag), ``FORBIDDEN``
(credentials needed), ``UNREACHABLE`` (no answer), ``BACKEND`` (anything else).
No Textual here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

import urllib3

from adapters.base import AdapterError, ErrorKind

__all__ = ["MANIFEST_MEDIA_TYPES", "local_repo_digests", "registry_digest"]

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""Index types first: a multi-platform tag resolves to its index, as ``docker pull`` and
the kubelet pin it, not to one platform's manifest."""

_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_DOCKER_HUB_API = "registry-1.docker.io"


def local_repo_digests(api, reference: str) -> list[str] | None:
    """The ``RepoDigests`` of an image on a Docker engine.

    Args:
        api: A connected ``docker.APIClient``.
        reference: The image as the runbook names it (``registry.example.com/web:1.5``).

    Returns:
        The ``name@sha256:…`` entries (empty for an image that was built here and
        never pushed or pulled), or None when the engine has no such image.

    Raises:
        AdapterError: The engine did not answer, or refused.
    """
    import docker.errors
    import requests

    try:
        data = api.inspect_image(reference)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as error:
        raise AdapterError(
            ErrorKind.BACKEND,
            f"the engine refused to inspect {reference} ({error.status_code})",
            admin_detail=str(error.explanation or error)[:300],
            developer_detail=repr(error),
        ) from error
    except (requests.RequestException, OSError) as error:
        raise AdapterError(ErrorKind.UNREACHABLE, "the Docker engine did not answer", developer_detail=repr(error)) from error
    return [str(entry) for entry in data.get("RepoDigests") or []]


def _loopback(host: str) -> bool:
    name = (urllib3.util.parse_url(f"http://{host}").host or "").strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_digest(registry: str, repository: str, reference: str, *, timeout: float = 10.0) -> str:
    """Ask a registry which digest ``repository:reference`` names.

    Args:
        registry: The registry host[:port], normalised (``docker.io`` for Docker Hub).
        repository: The path in the registry (``team/web``, ``library/nginx``).
        reference: A tag (or a digest, which is then confirmed to exist).
        timeout: Seconds for connecting and for reading.

    Returns:
        ``sha256:…``.

    Raises:
        AdapterError: See the module docstring for the kinds.
    """
    host = _DOCKER_HUB_API if registry == "docker.io" else registry
    schemes = ("https", "http") if _loopback(host) else ("https",)
    pool = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=3),
    )
    headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES), "User-Agent": "watchfloor"}
    try:
        last_error: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{host}/v2/{repository}/manifests/{reference}"
            try:
                response = pool.request("HEAD", url, headers=headers)
                if response.status == 200 and not response.headers.get("Docker-Content-Digest"):
                    response = pool.request("GET", url, headers=headers, preload_content=False)
                    try:
                        body = response.read(_MAX_MANIFEST_BYTES + 1, decode_content=False)
                    finally:
                        response.release_conn()
                    if len(body) > _MAX_MANIFEST_BYTES:
                        raise AdapterError(ErrorKind.BACKEND, f"registry {registry} sent a manifest over 4 MiB for {repository}:{reference}")
                    return _answer(response, registry, repository, reference, computed=f"sha256:{hashlib.sha256(body).hexdigest()}")
                return _answer(response, registry, repository, reference)
            except urllib3.exceptions.HTTPError as error:
                last_error = error  # on loopback, HTTPS may be a plain-HTTP registry: try that next
        reason = getattr(last_error, "reason", None) or last_error
        raise AdapterError(
            ErrorKind.UNREACHABLE,
            f"registry {registry} did not answer",
            admin_detail=str(reason)[:300],
            developer_detail=repr(last_error),
        )
    finally:
        pool.clear()


def _answer(response, registry: str, repository: str, reference: str, *, computed: str | None = None) -> str:
    what = f"{repository}:{reference}" if not reference.startswith("sha256:") else f"{repository}@{reference}"
    status = response.status
    if status == 200:
        digest = computed or str(response.headers.get("Docker-Content-Digest") or "")
        if not _DIGEST.fullmatch(digest):
            raise AdapterError(ErrorKind.BACKEND, f"registry {registry} answered for {what} without a sha256 digest")
        return digest
    if status == 404:
        raise AdapterError(ErrorKind.NOT_FOUND, f"registry {registry} has no {what}")
    if status in (401, 403):
        raise AdapterError(
            ErrorKind.FORBIDDEN,
            f"registry {registry} wants credentials to read {repository}; watchfloor resolves digests anonymously",
            admin_detail="pull the image on the engine first (its digest is then known locally), "
            "or pin the digest in the runbook (image@sha256:…)",
        )
    raise AdapterError(ErrorKind.BACKEND, f"registry {registry} answered {status} for {what}")
