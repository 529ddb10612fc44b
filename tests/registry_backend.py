"""A real image registry for the tests: Debian's ``docker-registry`` (distribution v2).

It runs on a free 127.0.0.1 port with a temporary config and storage directory, plain
HTTP (Docker treats 127.0.0.0/8 as an insecure registry by default, so the engine
pushes to it without TLS). Test images are pushed to it with the real engine; their
digests come back from the engine's ``RepoDigests``.

A missing binary goes through :func:`tests.backends.backend_unavailable` (skip, or
fail under WATCHFLOOR_REQUIRE_BACKENDS).

Fixtures (import them by name into a test module):
    registry: session; a running :class:`RegistryServer`.
    pushed: ``push(image_key, repository, tag) -> PushedImage``; pushes a test image
        (``"web:1"``) as ``127.0.0.1:PORT/<repository>:<tag>`` and untags it from the
        engine at teardown (the registry's copy stays for the session).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.backends import backend_unavailable
from tests.prometheus_backend import free_port


class RegistryServer:
    """One ``docker-registry serve`` process on 127.0.0.1."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.directory = directory
        self.config = directory / "config.yml"
        self.log = directory / "registry.log"
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {directory / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([self.binary, "serve", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer within {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    binary = shutil.which("docker-registry")
    if binary is None:
        backend_unavailable("docker-registry", "install the Debian package docker-registry (scripts/setup-backends does)")
    server = RegistryServer(binary, tmp_path_factory.mktemp("registry"))
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class PushedImage:
    """A test image in the registry.

    Attributes:
        reference: ``127.0.0.1:PORT/<repository>:<tag>``.
        digest: ``sha256:…`` the registry knows it by.
    """

    reference: str
    digest: str

    @property
    def repository(self) -> str:
        return self.reference.rpartition(":")[0]


@pytest.fixture
def pushed(docker_engine: docker.DockerClient, test_images: dict[str, str], registry: RegistryServer) -> Iterator[Callable[..., PushedImage]]:
    made: list[PushedImage] = []

    def push(image_key: str, repository: str, tag: str) -> PushedImage:
        target = f"{registry.host}/{repository}"
        docker_engine.api.tag(test_images[image_key], target, tag)
        for line in docker_engine.api.push(target, tag, stream=True, decode=True):
            if line.get("error"):
                raise RuntimeError(f"push of {target}:{tag} failed: {line['error']}")
        digests = docker_engine.api.inspect_image(f"{target}:{tag}").get("RepoDigests") or []
        digest = next(entry.rpartition("@")[2] for entry in digests if entry.startswith(f"{target}@"))
        image = PushedImage(f"{target}:{tag}", digest)
        made.append(image)
        return image

    yield push
    for image in made:
        for reference in (image.reference, f"{image.repository}@{image.digest}"):
            try:
                docker_engine.api.remove_image(reference)
            except docker.errors.APIError:
                pass  # already untagged (a test removed it, or two pushes share a digest reference)
