"""Real backends for the test suite: the Docker engine, test images, Compose projects, spare dockerds.

Registered as a pytest plugin by ``tests/conftest.py``. Nothing here is mocked:
images are built locally ``FROM scratch`` with the host's static busybox (no registry
is reachable), containers run with ``network_mode="none"`` by default so every one
has its own loopback, and Compose is the real ``docker-compose`` binary.

A missing backend goes through :func:`backend_unavailable`, the one place in the
tests that may skip a test, and only when WATCHFLOOR_REQUIRE_BACKENDS is unset:
``.ci/run`` sets it, turning the same call into a failure, so CI cannot pass by
leaving tests out.

Fixtures:
    docker_engine: session; a ``docker.DockerClient`` for the default engine.
    test_images: session; ``{"web:1": "watchfloor-test/web:1", ...}``, built once.
    container_factory: ``run(image_key, name=None, labels=None, environment=None,
        network_mode="none", **kw) -> Container``; removes its containers at teardown.
    compose_project: ``up(compose_yaml_text, project=None) -> project name``;
        ``docker-compose down`` at teardown.
    private_dockerd: a second, throw-away ``dockerd`` (:class:`PrivateDockerd`).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import hashlib
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import docker
import docker.errors
import pytest
from docker.models.containers import Container

REQUIRE_BACKENDS_ENV = "WATCHFLOOR_REQUIRE_BACKENDS"
IMAGES_DIR = Path(__file__).parent / "images"
BUSYBOX = Path("/bin/busybox")
IMAGE_REPOSITORY = "watchfloor-test"
TEST_LABEL = "watchfloor.test"
CONTEXT_HASH_LABEL = "watchfloor.test.context-hash"
VERSION_LABEL = "org.opencontainers.image.version"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
TEST_KUBECONFIG_ENV = "WATCHFLOOR_TEST_KUBECONFIG"
"""A real cluster's kubeconfig (its current context): tests/test_kubernetes_cluster.py runs
against it as well as against the emulator (.github/workflows/kind-integration.yml)."""
# Flags that keep a dockerd off the host network: no docker0 bridge, no iptables rules.
DOCKERD_NETWORK_FLAGS = ("--storage-driver=vfs", "--bridge=none", "--iptables=false")

T = TypeVar("T")


# --------------------------------------------------------------------------- helpers


def real_cluster_kubeconfig() -> Path | None:
    """The kubeconfig named by ``WATCHFLOOR_TEST_KUBECONFIG``, or None when it is unset."""
    value = os.environ.get(TEST_KUBECONFIG_ENV, "").strip()
    return Path(value) if value else None


def require_backends() -> bool:
    """Whether a missing backend must fail the run (WATCHFLOOR_REQUIRE_BACKENDS is set).

    Returns:
        True when ``WATCHFLOOR_REQUIRE_BACKENDS`` is set to anything but ``""``, ``0``,
        ``false`` or ``no``.
    """
    value = os.environ.get(REQUIRE_BACKENDS_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no")


def backend_unavailable(what: str, detail: str = "") -> NoReturn:
    """Skip the current test, or fail it when WATCHFLOOR_REQUIRE_BACKENDS is set: a backend is missing.

    The only place in the tests allowed to do so (a house check greps for WATCHFLOOR_REQUIRE_BACKENDS).

    Args:
        what: The missing backend, e.g. ``"Docker engine"``.
        detail: Why it is considered missing (the error seen), appended to the message.
    """
    suffix = f" ({detail})" if detail else ""
    if require_backends():
        pytest.fail(f"{what} not available and WATCHFLOOR_REQUIRE_BACKENDS is set{suffix}", pytrace=False)
    pytest.skip(f"{what} not available{suffix}; set WATCHFLOOR_REQUIRE_BACKENDS=1 to fail instead")


def wait_for(check: Callable[[], T], what: str, timeout: float = 10.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    Args:
        check: Called repeatedly; a falsy result means "not yet".
        what: What is awaited, for the error message ("web to become healthy").
        timeout: Seconds before giving up.
        interval: Seconds between polls.

    Returns:
        The first truthy result of ``check``.

    Raises:
        AssertionError: On timeout, naming ``what`` and the last result seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last seen: {result!r}")
        time.sleep(interval)


def container_health(container: Container) -> str | None:
    """The container's current health status (``starting``, ``healthy``, ``unhealthy``), or None.

    Args:
        container: Any container; it is reloaded from the engine first.
    """
    container.reload()
    health = container.attrs.get("State", {}).get("Health")
    return health["Status"] if health else None


def wait_for_health(container: Container, status: str = "healthy", timeout: float = 10.0) -> None:
    """Wait until the engine reports ``status`` for the container's health check.

    Raises:
        AssertionError: On timeout, or when the container exits first; the message carries
            the last health-check outputs and the container's log tail.
    """
    deadline = time.monotonic() + timeout
    while (seen := container_health(container)) != status:
        if container.status == "exited":
            raise AssertionError(f"{container.name} exited while waiting for {status!r}\n{_describe(container)}")
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {container.name} to become {status} "
                f"(still {seen!r})\n{_describe(container)}"
            )
        time.sleep(0.2)


def _describe(container: Container) -> str:
    container.reload()
    health = container.attrs.get("State", {}).get("Health") or {}
    checks = [f"  exit {c.get('ExitCode')}: {c.get('Output', '').strip()}" for c in health.get("Log", [])[-3:]]
    logs = container.logs(tail=10).decode(errors="replace")
    return (
        f"state={container.status} health={health.get('Status')}\n"
        "last health checks:\n" + ("\n".join(checks) or "  (none)") + "\nlog tail:\n" + logs
    )


def _engine_client(base_url: str | None = None, timeout: float = 30) -> docker.DockerClient:
    """A client that negotiates the API version (docker-py's default is newer than Debian's engine)."""
    if base_url is None:
        return docker.from_env(version="auto", timeout=timeout)
    return docker.DockerClient(base_url=base_url, version="auto", timeout=timeout)


# ------------------------------------------------------------------------ docker_engine


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    """A ``docker.DockerClient`` for the default engine (``DOCKER_HOST`` or /var/run/docker.sock)."""
    try:
        client = _engine_client()
        client.ping()
    except docker.errors.DockerException as exc:
        error = str(exc)
    else:
        error = ""
    if error:  # outside the except block, so a failure does not print a chained traceback
        backend_unavailable("Docker engine", error)
    yield client
    client.close()


# -------------------------------------------------------------------------- test_images


@dataclass(frozen=True)
class TestImage:
    """One image built from a context under ``tests/images``."""

    __test__ = False  # not a pytest test class despite the name

    key: str
    """Name used by tests, e.g. ``"web:1"`` or ``"logger"``."""
    context: str
    """Directory under ``tests/images``."""
    build_args: Mapping[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The full tag, e.g. ``watchfloor-test/web:1`` or ``watchfloor-test/logger:latest``."""
        return f"{IMAGE_REPOSITORY}/{self.key}" if ":" in self.key else f"{IMAGE_REPOSITORY}/{self.key}:latest"


TEST_IMAGES: tuple[TestImage, ...] = (
    TestImage("web:1", "web", {"VERSION": "1"}),
    TestImage("web:2", "web", {"VERSION": "2"}),
    TestImage("web:2-broken", "web", {"VERSION": "2-broken", "BROKEN": "1"}),
    TestImage("web:3-errors", "web", {"VERSION": "3-errors", "ERRORS": "1"}),
    TestImage("logger", "logger"),
    TestImage("crasher", "crasher"),
)


def _context_hash(image: TestImage, busybox: Path) -> str:
    """Hash of everything that goes into a build: context files, their modes, busybox, build args."""
    digest = hashlib.sha256()
    context = IMAGES_DIR / image.context
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o111).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(hashlib.sha256(busybox.read_bytes()).digest())
    digest.update(repr(sorted(image.build_args.items())).encode())
    return digest.hexdigest()


def _is_static_executable(path: Path) -> bool:
    """True when ``path`` is an ELF executable without a program interpreter (runs in an empty image)."""
    pt_interp = 3
    with path.open("rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF":
            return False
        endian = "<" if header[5] == 1 else ">"
        if header[4] == 2:  # ELF64
            (phoff,) = struct.unpack_from(endian + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x36)
        else:
            (phoff,) = struct.unpack_from(endian + "I", header, 0x1C)
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x2A)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from(endian + "I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def build_test_images(client: docker.DockerClient, busybox: Path = BUSYBOX) -> dict[str, str]:
    """Build every image in :data:`TEST_IMAGES` that is missing or out of date.

    Each build copies the context and ``busybox`` into a temporary directory. An image
    whose ``watchfloor.test.context-hash`` label matches the current context is reused.

    Args:
        client: The engine to build on.
        busybox: A statically linked busybox binary.

    Returns:
        ``{key: tag}``, e.g. ``{"web:1": "watchfloor-test/web:1", "logger": "watchfloor-test/logger:latest"}``.

    Raises:
        RuntimeError: When a build fails; the message holds the build log.
    """
    stale: list[tuple[TestImage, str]] = []
    for image in TEST_IMAGES:
        context_hash = _context_hash(image, busybox)
        try:
            up_to_date = client.images.get(image.tag).labels.get(CONTEXT_HASH_LABEL) == context_hash
        except docker.errors.ImageNotFound:
            up_to_date = False
        if not up_to_date:
            stale.append((image, context_hash))
    if stale:
        # Every Dockerfile step costs a second or more on vfs. The first build fills the layer
        # cache with the steps all images share; the others then run in parallel.
        first, *rest = stale
        _build(client, *first, busybox)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(_build, client, image, context_hash, busybox) for image, context_hash in rest]:
                future.result()
    return {image.key: image.tag for image in TEST_IMAGES}


def _build(client: docker.DockerClient, image: TestImage, context_hash: str, busybox: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="wf-build-") as tmp:
        context = Path(tmp) / image.context
        shutil.copytree(IMAGES_DIR / image.context, context)
        shutil.copy2(busybox, context / "busybox")
        try:
            client.images.build(
                path=str(context),
                tag=image.tag,
                buildargs=dict(image.build_args),
                labels={TEST_LABEL: "1", CONTEXT_HASH_LABEL: context_hash},
                network_mode="none",
                pull=False,
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as exc:
            log = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log)
            raise RuntimeError(f"building {image.tag} from tests/images/{image.context} failed: {exc}\n{log}") from exc


@pytest.fixture(scope="session")
def test_images(docker_engine: docker.DockerClient) -> dict[str, str]:
    """The test images, built once per session: ``{"web:1": "watchfloor-test/web:1", ...}``.

    Keys: ``web:1``, ``web:2``, ``web:2-broken``, ``web:3-errors`` (every ``/cgi-bin/work``
    answers 500), ``logger``, ``crasher``.
    """
    if not BUSYBOX.is_file():
        backend_unavailable("busybox-static", f"{BUSYBOX} is missing")
    if not _is_static_executable(BUSYBOX):
        backend_unavailable("busybox-static", f"{BUSYBOX} is dynamically linked; install busybox-static")
    return build_test_images(docker_engine)


# -------------------------------------------------------------------- container_factory


class ContainerFactory:
    """Runs detached test containers and removes them all at teardown.

    Every container is named ``wf-test-<random>-<name or number>`` and labelled
    ``watchfloor.test=1``.
    """

    def __init__(self, client: docker.DockerClient, images: Mapping[str, str]) -> None:
        self.client = client
        self.images = images
        self.prefix = f"wf-test-{secrets.token_hex(4)}"
        """Name prefix shared by this factory's containers."""
        self.containers: list[Container] = []
        """Every container made so far, oldest first."""

    def __call__(
        self,
        image_key: str,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | list[str] | None = None,
        network_mode: str = "none",
        **kw: Any,
    ) -> Container:
        """Run a detached container.

        Args:
            image_key: A key of ``test_images`` (``"web:1"``) or a full tag.
            name: Appended to the unique prefix; a counter when omitted.
            labels: Extra labels; ``watchfloor.test=1`` is always added.
            environment: Environment variables, as a mapping or ``["KEY=value", ...]``.
            network_mode: ``"none"`` (own loopback, the default) or ``"host"``.
            **kw: Passed on to ``client.containers.run`` (``command``, ``restart_policy``, ...).

        Returns:
            The running container.
        """
        if image_key in self.images:
            image = self.images[image_key]
        elif image_key in self.images.values():
            image = image_key
        else:
            raise KeyError(f"unknown test image {image_key!r}; known: {sorted(self.images)}")
        kw.pop("detach", None)
        container_name = f"{self.prefix}-{name or len(self.containers) + 1}"
        try:
            container = self.client.containers.run(
                image,
                name=container_name,
                labels={**(labels or {}), TEST_LABEL: "1"},
                environment=environment if isinstance(environment, list) else dict(environment or {}),
                network_mode=network_mode,
                detach=True,
                **kw,
            )
        except docker.errors.APIError:
            # Created but failed to start: still ours to remove.
            try:
                self.client.containers.get(container_name).remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            raise
        self.containers.append(container)
        return container

    def remove_all(self) -> None:
        """Force-remove every container this factory made (and their anonymous volumes),
        and those a write made from them: a deploy's replacement takes the old name,
        the replaced one a ``-rev<n>`` suffix — both under this factory's prefix."""
        while self.containers:
            container = self.containers.pop()
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        for container in self.client.containers.list(all=True, filters={"name": self.prefix}):
            if container.name.startswith(self.prefix):
                try:
                    container.remove(force=True, v=True)
                except docker.errors.NotFound:
                    pass


@pytest.fixture
def container_factory(docker_engine: docker.DockerClient, test_images: dict[str, str]) -> Iterator[ContainerFactory]:
    """``run(image_key, name=None, labels=None, environment=None, network_mode="none", **kw) -> Container``."""
    factory = ContainerFactory(docker_engine, test_images)
    yield factory
    factory.remove_all()


# ---------------------------------------------------------------------- compose_project

# docker-compose 1.x lower-cases project names and drops everything outside [-_a-z0-9].
_COMPOSE_PROJECT_NAME = re.compile(r"[-_a-z0-9]+")


class ComposeProjects:
    """Brings Compose projects up with the real ``docker-compose`` and down again at teardown."""

    def __init__(self, binary: str, directory: Path, client: docker.DockerClient) -> None:
        self.binary = binary
        self.directory = directory
        self.client = client
        self.files: dict[str, Path] = {}
        """Compose file of every project brought up, by project name."""

    def __call__(self, compose_yaml_text: str, project: str | None = None) -> str:
        """Write the Compose file and run ``docker-compose -p <project> -f <file> up -d``.

        Calling it again with the same project rewrites the file and runs ``up -d``
        again (how a test changes an image version, say).

        Args:
            compose_yaml_text: A Compose file, format version "2.4".
            project: Project name, used as is; a unique ``wf-test-<random>`` when omitted.

        Returns:
            The project name, also the value of each container's ``com.docker.compose.project`` label.
        """
        if project is None:
            project = f"wf-test-{secrets.token_hex(4)}"
        if not _COMPOSE_PROJECT_NAME.fullmatch(project):
            raise ValueError(f"compose project name {project!r} must match [-_a-z0-9]+ (compose rewrites it otherwise)")
        compose_file = self.directory / project / "docker-compose.yml"
        compose_file.parent.mkdir(parents=True, exist_ok=True)
        compose_file.write_text(compose_yaml_text)
        self.files[project] = compose_file
        self.run(project, "up", "-d", timeout=180)
        return project

    def run(self, project: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``docker-compose -p <project> -f <its file> <args>``.

        Raises:
            RuntimeError: When it exits non-zero or times out; the message holds its output.
        """
        command = [self.binary, "--ansi", "never", "-p", project, "-f", str(self.files[project]), *args]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{' '.join(command)} timed out after {timeout:g}s:\n{exc.stderr or ''}") from exc
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def down(self, project: str) -> None:
        """``docker-compose down -v --remove-orphans``; on failure remove its containers directly, then raise."""
        try:
            self.run(project, "down", "-v", "--remove-orphans", "--timeout", "2", timeout=120)
        except RuntimeError:
            leftovers = self.client.containers.list(all=True, filters={"label": f"{COMPOSE_PROJECT_LABEL}={project}"})
            for container in leftovers:
                container.remove(force=True, v=True)
            raise
        finally:
            self.files.pop(project, None)

    def down_all(self) -> None:
        """Take down every project brought up; raises the first failure after trying them all."""
        errors = []
        for project in list(self.files):
            try:
                self.down(project)
            except RuntimeError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def compose_project(
    tmp_path: Path, docker_engine: docker.DockerClient, test_images: dict[str, str]
) -> Iterator[ComposeProjects]:
    """``up(compose_yaml_text, project=None) -> project_name`` using the real docker-compose."""
    binary = shutil.which("docker-compose")
    if binary is None:
        backend_unavailable("docker-compose", "not on PATH; install Debian's docker-compose")
    projects = ComposeProjects(binary, tmp_path / "compose", docker_engine)
    yield projects
    projects.down_all()


# ---------------------------------------------------------------------- private_dockerd

_MNT_DETACH = 2


class PrivateDockerd:
    """A second dockerd with its own data root, exec root and socket, for outage tests.

    Lives in a short directory under /tmp because unix socket paths (its own, and
    containerd's under the exec root) are limited to 108 bytes.
    """

    def __init__(self, root: Path, log_path: Path, dockerd: str) -> None:
        self.root = root
        """Directory holding everything of this daemon."""
        self.log_path = log_path
        """dockerd's output, appended to across restarts."""
        self.host = f"unix://{root}/docker.sock"
        """Its ``DOCKER_HOST`` URL."""
        self.extra_hosts: list[str] = []
        """More ``--host`` addresses (e.g. ``tcp://127.0.0.1:PORT``), used from the next start."""
        self.storage_driver = "vfs"
        """``vfs`` works everywhere; ``overlay2`` copies no layer but needs overlay mounts. From the next start."""
        self._dockerd = dockerd
        self._process: subprocess.Popen[bytes] | None = None
        (root / "daemon.json").write_text("{}\n")  # never pick up the host's /etc/docker/daemon.json

    @property
    def pid(self) -> int | None:
        """dockerd's process id while it runs."""
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        """Whether the dockerd process is alive (not whether it answers yet)."""
        return self._process is not None and self._process.poll() is None

    def client(self, timeout: float = 10) -> docker.DockerClient:
        """A new client for this daemon (the caller closes it)."""
        return _engine_client(self.host, timeout=timeout)

    def answers(self) -> bool:
        """Whether the API answers a ping right now."""
        try:
            client = _engine_client(self.host, timeout=2)
        except docker.errors.DockerException:
            return False
        try:
            return bool(client.ping())
        except docker.errors.DockerException:
            return False
        finally:
            client.close()

    def start(self, timeout: float = 60) -> None:
        """Start dockerd with the same roots and wait until it answers.

        Raises:
            RuntimeError: If it is already running, exits, or does not answer in time
                (the message holds the tail of its log).
        """
        if self.running:
            raise RuntimeError(f"private dockerd {self.host} is already running (pid {self.pid})")
        self._forget_dead_containerd()
        command = [
            self._dockerd,
            f"--config-file={self.root}/daemon.json",
            f"--data-root={self.root}/data",
            f"--exec-root={self.root}/exec",
            f"--pidfile={self.root}/docker.pid",
            f"--host={self.host}",
            *(f"--host={extra}" for extra in self.extra_hosts),
            *(flag for flag in DOCKERD_NETWORK_FLAGS if not flag.startswith("--storage-driver=")),
            f"--storage-driver={self.storage_driver}",
            "--ip-masq=false",
            "--shutdown-timeout=3",  # containers get 3 s on stop(), not 15
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if not self.running:
                raise RuntimeError(f"private dockerd exited with {self._process.returncode}:\n{self._log_tail()}")
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError(f"private dockerd did not answer within {timeout:g}s:\n{self._log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (dockerd stops its containers), SIGKILL after ``timeout`` s; waits for exit."""
        if not self.running:
            return
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, like a crash: containers keep running under their shims until the next start."""
        if not self.running:
            return
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=30)

    def load_image(self, tag: str) -> None:
        """Copy an image from the default engine into this one (``docker save | docker load``)."""
        main, private = _engine_client(), self.client(timeout=60)
        try:
            private.images.load(b"".join(main.images.get(tag).save(named=tag)))
        finally:
            main.close()
            private.close()

    def close(self) -> None:
        """Stop the daemon and everything it left behind, then delete its directory."""
        if not self.running and self._leftover_pids():
            # Killed with containers running: a fresh start reaps them, a clean stop removes the rest.
            try:
                self.start()
            except RuntimeError:
                pass
        self.stop()
        for pid in self._leftover_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def _forget_dead_containerd(self, timeout: float = 10) -> None:
        """Drop the pid file of a containerd that died with a killed dockerd.

        That containerd gets SIGKILL when dockerd dies, but until it is reaped it is a
        zombie, which dockerd takes for a live containerd: it would wait on a socket nobody
        serves and give up with "timeout waiting for containerd to start".
        """
        pid_file = self.root / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + timeout
        while _process_state(pid) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.05)
        if _process_state(pid) in (None, "Z"):
            pid_file.unlink(missing_ok=True)

    def _leftover_pids(self) -> list[int]:
        """Processes whose command line names this daemon's directory (containerd shims)."""
        pids = []
        needle = str(self.root).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def _unmount_all(self) -> None:
        """Detach dockerd's mounts under the directory (its data root is bind-mounted onto itself)."""
        libc = ctypes.CDLL(None, use_errno=True)
        mount_points = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mount_point = line.split()[4].encode().decode("unicode_escape")
            if mount_point == str(self.root) or mount_point.startswith(f"{self.root}/"):
                mount_points.append(mount_point)
        for mount_point in sorted(mount_points, key=len, reverse=True):
            libc.umount2(mount_point.encode(), _MNT_DETACH)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _process_state(pid: int) -> str | None:
    """The state letter of a process (``R``, ``S``, ``Z`` for a zombie, ...), or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


@pytest.fixture
def private_dockerd(tmp_path: Path) -> Iterator[PrivateDockerd]:
    """A started :class:`PrivateDockerd` (``.host``, ``.start()``, ``.stop()``, ``.kill()``, ``.load_image(tag)``)."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        backend_unavailable("dockerd", "not on PATH; install Debian's docker.io")
    if os.geteuid() != 0:
        backend_unavailable("a private dockerd", "starting dockerd needs root")
    daemon = PrivateDockerd(Path(tempfile.mkdtemp(prefix="wfd-", dir="/tmp")), tmp_path / "dockerd.log", dockerd)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.close()
