"""Docker engine adapter: containers grouped into workloads, events, logs, stats; writes.

Containers are grouped by Compose labels (``com.docker.compose.project`` /
``.service``), else by a ``watchfloor.workload`` label, else by their name with a
trailing replica number dropped (``worker-2`` → ``worker``).

The engine is watched, not polled: one events stream per environment, one inspect per
relevant event, one stats stream per container the console is showing.

The write side (deploy, rollback, restart, scale, history, observe) lives in
``adapters/docker_write.py``, canary and blue-green releases in
``adapters/docker_release.py``, run locks in ``adapters/lock_file.py``; the methods here
check read-only first and hand over.
"""

from __future__ import annotations

import os
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests
from docker import errors as docker_errors

from adapters.base import (
    AdapterError,
    ErrorKind,
    LockHolder,
    Observation,
    Progress,
    ReleaseState,
    StopFlag,
    WriteResult,
    on_stop,
    refuse_if_read_only,
)
from adapters import wire
from adapters.docker_host import local_docker_host
from adapters.wire import parse_rfc3339, split_timestamp
from console.model import (
    Change,
    ConnectionChanged,
    ConnectionState,
    Environment,
    Health,
    LogLine,
    Replica,
    ReplicaRemoved,
    ReplicaUpserted,
    Revision,
    Sample,
    SampleAdded,
    SnapshotReplaced,
    Stream,
    WorkloadKey,
)

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
WORKLOAD_LABEL = "watchfloor.workload"
VERSION_LABELS = ("watchfloor.version", "org.opencontainers.image.version")

# Events that change what a container looks like; exec_*, attach, resize and the like
# fire constantly (healthchecks, shells) and change nothing we show.
_RELEVANT_ACTIONS = frozenset(
    {
        "create",
        "start",
        "restart",
        "die",
        "kill",
        "oom",
        "stop",
        "pause",
        "unpause",
        "rename",
        "update",
        "destroy",
    }
)

_REPLICA_SUFFIX = re.compile(r"[-_.]\d+$")
_STATUS_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_STATUS_CODE = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")


class DockerAdapter:
    """One Docker engine as one environment."""

    def __init__(
        self,
        environment: Environment,
        *,
        host: str | None = None,
        tls_verify: bool = False,
        cert_path: str | None = None,
        timeout: float = 10.0,
        state_dir: Path | None = None,
    ) -> None:
        """An adapter for one engine; nothing is contacted until ``connect()``.

        Args:
            environment: The environment this engine is.
            host: Engine URL; the local engine when None.
            tls_verify: Verify the engine's TLS certificate.
            cert_path: Directory with ``cert.pem``, ``key.pem``, ``ca.pem``.
            timeout: Seconds per API call.
            state_dir: watchfloor's state directory (the config's ``state_dir``); run
                locks go in its ``locks`` directory. ``$XDG_STATE_HOME/watchfloor`` when None.
        """
        self.environment = environment
        self.host = host or local_docker_host()
        self._tls_verify = tls_verify
        self._cert_path = cert_path
        self._timeout = timeout
        self._state_dir = state_dir
        self._api: docker.APIClient | None = None
        self._writes = None
        self._releases = None
        self._locks = None

    # -- connection ---------------------------------------------------------------

    def connect(self) -> None:
        """Open a client and ping the engine."""
        self.close()
        try:
            tls = self._tls_config()
            api = docker.APIClient(
                base_url=self.host,
                timeout=self._timeout,
                tls=tls,
                use_ssh_client=self.host.startswith("ssh://"),
                version="auto",
            )
            api.ping()
        except Exception as error:  # noqa: BLE001 - every failure here means "unreachable"
            raise self._unreachable(error) from error
        self._api = api

    def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            try:
                api.close()
            except Exception:  # noqa: BLE001 - closing a dead client may fail # nosec B110
                pass

    def _tls_config(self):
        if not (self._tls_verify or self._cert_path):
            return False
        cert_dir = self._cert_path or os.path.expanduser("~/.docker")
        return docker.tls.TLSConfig(
            client_cert=(os.path.join(cert_dir, "cert.pem"), os.path.join(cert_dir, "key.pem")),
            ca_cert=os.path.join(cert_dir, "ca.pem") if self._tls_verify else None,
            verify=self._tls_verify,
        )

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            raise AdapterError(
                ErrorKind.UNREACHABLE,
                f"Docker engine {self.host} is not connected",
            )
        return self._api

    def _unreachable(self, error: Exception) -> AdapterError:
        return AdapterError(
            ErrorKind.UNREACHABLE,
            f"cannot reach the Docker engine at {self.host}",
            admin_detail=_first_line(error),
            developer_detail=repr(error),
        )

    def _translate(self, error: Exception, doing: str) -> AdapterError:
        if isinstance(error, AdapterError):
            return error
        if isinstance(error, docker_errors.NotFound):
            return AdapterError(ErrorKind.NOT_FOUND, f"{doing}: not found", developer_detail=repr(error))
        if isinstance(error, docker_errors.APIError):
            return AdapterError(
                ErrorKind.BACKEND,
                f"{doing}: the engine refused ({error.status_code})",
                admin_detail=_first_line(error.explanation or error),
                developer_detail=repr(error),
            )
        return self._unreachable(error)

    # -- read side ----------------------------------------------------------------

    def snapshot(self, *, detailed: bool = False) -> SnapshotReplaced:
        """Every container: one list call, summarised; ``detailed`` inspects each too.

        The summary lacks restart counts and OOM kills; the watch fills those in after
        the first frame, a headless ``status`` asks for ``detailed``.
        """
        try:
            summaries = self.api.containers(all=True)
        except Exception as error:  # noqa: BLE001
            raise self._translate(error, "list containers") from error
        env = self.environment.name
        replicas = tuple(r for r in (replica_from_summary(env, s) for s in summaries) if not is_retained(r))
        if detailed and replicas:
            with ThreadPoolExecutor(max_workers=8) as pool:
                inspected = list(pool.map(lambda r: self.inspect(r.id), replicas))
            replicas = tuple(r for r in inspected if r is not None and not is_retained(r))
        return SnapshotReplaced(env=env, replicas=replicas, kinds=_kinds(replicas))

    def inspect(self, container_id: str) -> Replica | None:
        """The full picture of one container, or None when it is gone."""
        try:
            data = self.api.inspect_container(container_id)
        except docker_errors.NotFound:
            return None
        except Exception as error:  # noqa: BLE001
            raise self._translate(error, f"inspect {container_id[:12]}") from error
        return replica_from_inspect(self.environment.name, data)

    def watch(self, stop: StopFlag) -> Iterator[Change]:
        """Snapshot, then every container change the engine reports.

        The events stream opens before the snapshot so nothing between the two is lost;
        then containers the list only summarised are inspected for restart counts and
        OOM kills. Ends when the engine closes the stream (it died or restarted).
        """
        env = self.environment.name
        try:
            events = self.api.events(decode=True, filters={"type": "container"})
        except Exception as error:  # noqa: BLE001
            raise self._translate(error, "watch events") from error
        on_stop(stop, events.close)
        try:
            snapshot = self.snapshot()
            yield snapshot
            yield ConnectionChanged(env, ConnectionState(True, since=datetime.now(UTC)))
            for replica in snapshot.replicas:
                if stop.is_set():
                    return
                if replica.state == "created":
                    continue  # never started: no restarts, no OOM, nothing to add
                detailed = self.inspect(replica.id)
                if detailed is not None and detailed != replica:
                    yield ReplicaUpserted(detailed)
            for event in events:
                if stop.is_set():
                    return
                change = self._change_for(event)
                if change is not None:
                    yield change
        except (requests.exceptions.RequestException, OSError, docker_errors.APIError) as error:
            if stop.is_set():
                return
            raise self._translate(error, "watch events") from error
        finally:
            events.close()

    def _change_for(self, event: dict) -> Change | None:
        action = (event.get("Action") or event.get("status") or "").split(":", 1)[0]
        container_id = event.get("id") or (event.get("Actor") or {}).get("ID")
        if not container_id:
            return None
        if action == "destroy":
            return ReplicaRemoved(self.environment.name, container_id)
        if action not in _RELEVANT_ACTIONS and action != "health_status":
            return None
        replica = self.inspect(container_id)
        if replica is None or is_retained(replica):
            return ReplicaRemoved(self.environment.name, container_id)
        return ReplicaUpserted(replica)

    def stats(self, replica: Replica, stop: StopFlag) -> Iterator[Change]:
        """CPU (percent of one core) and memory (bytes) about once a second."""
        env = self.environment.name
        try:
            stream = self.api.stats(replica.id, stream=True, decode=True)
        except docker_errors.NotFound:
            return
        except Exception as error:  # noqa: BLE001
            raise self._translate(error, f"stats of {replica.name}") from error
        on_stop(stop, getattr(stream, "close", lambda: None))
        try:
            for frame in stream:
                if stop.is_set():
                    return
                parsed = parse_stats(frame)
                if parsed is None:
                    continue
                ts, cpu, memory = parsed
                if cpu is not None:
                    yield SampleAdded(env, replica.id, "cpu", Sample(ts, cpu))
                if memory is not None:
                    yield SampleAdded(env, replica.id, "memory", Sample(ts, memory))
        except (requests.exceptions.RequestException, OSError, ValueError, docker_errors.APIError):
            # A stats stream ends when its container stops or the engine goes; the
            # events stream reports that, so here it is simply the end of samples.
            return

    def logs(
        self,
        replica: Replica,
        *,
        follow: bool,
        since: datetime | None = None,
        tail: int | None = None,
        stop: StopFlag | None = None,
        container: str | None = None,
        previous: bool = False,
    ) -> Iterator[list[LogLine]]:
        """Batches of lines with stdout and stderr told apart, oldest first.

        ``container`` and ``previous`` do not apply to Docker: a container is one
        process, and its log already holds the runs before a restart.

        The SDK's ``logs()`` merges the two streams, so this reads the engine's
        multiplexed frames itself (8-byte header: stream id, size).
        """
        try:
            tty = bool(self.api.inspect_container(replica.id)["Config"].get("Tty"))
            params: dict[str, object] = {
                "stdout": 1,
                "stderr": 1,
                "timestamps": 1,
                "follow": 1 if follow else 0,
                "tail": "all" if tail is None else str(max(0, tail)),
            }
            if since is not None:
                params["since"] = f"{since.timestamp():.9f}"
            response = self.api.get(
                f"{self.api.base_url}/containers/{replica.id}/logs",
                params=params,
                stream=True,
                timeout=None if follow else self._timeout,
            )
            if response.status_code == 404:
                return
            response.raise_for_status()
        except docker_errors.NotFound:
            return
        except Exception as error:  # noqa: BLE001
            raise self._translate(error, f"logs of {replica.name}") from error
        on_stop(stop, response.close)
        reader = _FrameReader(response.raw, tty=tty)
        try:
            for stream_id, chunk in reader.frames():
                if stop is not None and stop.is_set():
                    return
                lines = reader.lines(stream_id, chunk)
                if lines:
                    yield [_log_line(replica.name, sid, raw) for sid, raw in lines]
            tail_lines = reader.flush()
            if tail_lines:
                yield [_log_line(replica.name, sid, raw) for sid, raw in tail_lines]
        except (requests.exceptions.RequestException, OSError, ValueError, AttributeError):
            # The container went away or the stream was closed under us: end of logs.
            return
        finally:
            response.close()


    # -- write side (adapters/docker_write.py) -------------------------------------

    def deploy(
        self,
        key: WorkloadKey,
        image: str,
        *,
        strategy: str = "auto",
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Run ``image`` in place of the workload's containers (rolling, or recreate where host ports forbid it)."""
        refuse_if_read_only(self.environment, "deploy", key)
        return self._writer().deploy(
            key, image, strategy=strategy, timeout=timeout, change_cause=change_cause, progress=progress, stop=stop
        )

    def rollback(
        self,
        key: WorkloadKey,
        to_revision: int | None = None,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Serve the previous revision (or ``to_revision``) again, from its retained containers where kept."""
        refuse_if_read_only(self.environment, "rollback", key)
        return self._writer().rollback(key, to_revision, timeout=timeout, progress=progress, stop=stop)

    def restart(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Restart each container in turn, waiting for it to be healthy before the next."""
        refuse_if_read_only(self.environment, "restart", key)
        return self._writer().restart(key, timeout=timeout, progress=progress, stop=stop)

    def scale(
        self,
        key: WorkloadKey,
        replicas: int,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Add clones of the newest container, or remove the newest ones, until ``replicas`` run."""
        refuse_if_read_only(self.environment, "scale", key)
        return self._writer().scale(key, replicas, timeout=timeout, progress=progress, stop=stop)

    def history(self, key: WorkloadKey) -> list[Revision]:
        """Revisions known from the labels of the workload's containers, oldest first."""
        return self._writer().history(key)

    def observe(self, key: WorkloadKey) -> Observation:
        """The workload's live state, inspected now."""
        return self._writer().observe(key)

    def acquire_lock(self, key: WorkloadKey, holder: LockHolder) -> LockHolder:
        """Take the workload's run lock file; ``ErrorKind.CONFLICT`` naming the holder (and "stale") if taken."""
        refuse_if_read_only(self.environment, "lock", key)
        return self._lock_files().acquire(key, holder)

    def renew_lock(self, key: WorkloadKey, holder: LockHolder) -> None:
        refuse_if_read_only(self.environment, "lock", key)
        self._lock_files().renew(key, holder)

    def release_lock(self, key: WorkloadKey, holder: LockHolder) -> None:
        self._lock_files().release(key, holder)

    def lock_holder(self, key: WorkloadKey) -> LockHolder | None:
        return self._lock_files().holder(key)

    def break_lock(self, key: WorkloadKey) -> LockHolder | None:
        refuse_if_read_only(self.environment, "break the lock of", key)
        return self._lock_files().break_lock(key)

    # -- releases (adapters/docker_release.py) ---------------------------------------

    def canary_start(
        self,
        key: WorkloadKey,
        image: str,
        weight: int,
        *,
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Start canary replicas of ``image`` beside the stable ones, ``weight`` % of all (nearest achievable)."""
        refuse_if_read_only(self.environment, "canary start", key)
        return self._releaser().canary_start(
            key, image, weight, timeout=timeout, change_cause=change_cause, progress=progress, stop=stop
        )

    def canary_set_weight(
        self,
        key: WorkloadKey,
        weight: int,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Add or remove canary replicas so they are nearest ``weight`` % of all."""
        refuse_if_read_only(self.environment, "canary weight change", key)
        return self._releaser().canary_set_weight(key, weight, timeout=timeout, progress=progress, stop=stop)

    def canary_promote(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Roll the stable replicas to the canary's image, then remove the canary."""
        refuse_if_read_only(self.environment, "canary promote", key)
        return self._releaser().canary_promote(
            key, timeout=timeout, change_cause=change_cause, progress=progress, stop=stop
        )

    def canary_abort(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Remove the canary replicas; stable is left untouched."""
        refuse_if_read_only(self.environment, "canary abort", key)
        return self._releaser().canary_abort(key, timeout=timeout, progress=progress, stop=stop)

    def bluegreen_deploy(
        self,
        key: WorkloadKey,
        image: str,
        *,
        timeout: float = 300.0,
        change_cause: str = "",
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Start the idle colour with ``image``, one replica per live one, and wait until it is healthy."""
        refuse_if_read_only(self.environment, "blue-green deploy", key)
        return self._releaser().bluegreen_deploy(
            key, image, timeout=timeout, change_cause=change_cause, progress=progress, stop=stop
        )

    def bluegreen_switch(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Make the idle colour live; the old colour is stopped and kept."""
        refuse_if_read_only(self.environment, "blue-green switch", key)
        return self._releaser().bluegreen_switch(key, timeout=timeout, progress=progress, stop=stop)

    def bluegreen_switch_back(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Start the kept colour's containers again and stop (and keep) the other one."""
        refuse_if_read_only(self.environment, "blue-green switch back", key)
        return self._releaser().bluegreen_switch_back(key, timeout=timeout, progress=progress, stop=stop)

    def bluegreen_scale_down(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Remove the kept colour's stopped containers (its revision stays in the history)."""
        refuse_if_read_only(self.environment, "blue-green scale down", key)
        return self._releaser().bluegreen_scale_down(key, timeout=timeout, progress=progress, stop=stop)

    def bluegreen_abort(
        self,
        key: WorkloadKey,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Before a switch: remove the idle colour; live is left untouched."""
        refuse_if_read_only(self.environment, "blue-green abort", key)
        return self._releaser().bluegreen_abort(key, timeout=timeout, progress=progress, stop=stop)

    def release_state(self, key: WorkloadKey) -> ReleaseState:
        """The canary or blue-green release under way on ``key``, inspected now."""
        return self._releaser().release_state(key)

    def _releaser(self):
        if self._releases is None:
            from adapters.docker_release import DockerReleases

            self._releases = DockerReleases(self)
        return self._releases

    def _writer(self):
        if self._writes is None:
            # Imported here: docker_write builds on this module's helpers.
            from adapters.docker_write import DockerWrites

            self._writes = DockerWrites(self)
        return self._writes

    def _lock_files(self):
        if self._locks is None:
            from adapters.lock_file import LockFiles
            from console.locations import state_dir

            try:
                directory = state_dir(self._state_dir) / "locks"
            except OSError as error:
                raise AdapterError(
                    ErrorKind.BACKEND,
                    "cannot use the state directory for run locks",
                    admin_detail=str(error),
                    developer_detail=repr(error),
                ) from error
            self._locks = LockFiles(directory)
        return self._locks


# -- translating the engine's words into the model ---------------------------------


def workload_key(env: str, name: str, labels: dict[str, str]) -> WorkloadKey:
    """Which workload a container belongs to."""
    project = labels.get(COMPOSE_PROJECT)
    service = labels.get(COMPOSE_SERVICE)
    if project and service:
        return WorkloadKey(env, project, service)
    if labels.get(WORKLOAD_LABEL):
        return WorkloadKey(env, "", labels[WORKLOAD_LABEL])
    base = _RETAINED_SUFFIX.sub("", name) or name
    return WorkloadKey(env, "", _REPLICA_SUFFIX.sub("", base) or base)


_RETAINED_SUFFIX = re.compile(r"-rev\d+(?:-[0-9a-f]{6})?$")
"""What a deploy appends to a container it keeps stopped for rollback (adapters.docker_write)."""


def is_retained(replica: Replica) -> bool:
    """A stopped container a deploy kept for instant rollback: not a replica of anything.

    Docker cannot relabel a container, so the name is the only marker; a running one of
    that name is a new replica mid-deploy and counts.
    """
    return not replica.running and _RETAINED_SUFFIX.search(replica.name) is not None


def replica_health(
    state: str,
    *,
    health_status: str | None,
    exit_code: int | None,
    oom_killed: bool = False,
    restarts: int = 0,
    error: str = "",
    health_output: str = "",
) -> tuple[Health, str]:
    """A container's health and the sentence that explains it, in Docker's words."""
    if state == "running":
        if health_status == "unhealthy":
            detail = f": {health_output}" if health_output else ""
            return Health.DEGRADED, f"unhealthy (health check failing{detail})"
        if health_status == "starting":
            return Health.PROGRESSING, "starting (health check pending)"
        return Health.HEALTHY, "running" + (" (healthy)" if health_status == "healthy" else "")
    if state == "restarting":
        code = f" (exit {exit_code})" if exit_code is not None else ""
        return Health.FAILED, f"restarting{code}, {restarts} restarts"
    if state == "exited":
        if oom_killed:
            return Health.FAILED, "OOMKilled"
        if exit_code:
            return Health.FAILED, f"exited with code {exit_code}" + (f": {error}" if error else "")
        return Health.UNKNOWN, "exited (0), stopped"
    if state == "dead":
        return Health.FAILED, "dead" + (f": {error}" if error else "")
    if state == "paused":
        return Health.DEGRADED, "paused"
    if state == "created":
        return Health.UNKNOWN, "created, not started"
    if state == "removing":
        return Health.PROGRESSING, "being removed"
    return Health.UNKNOWN, state or "unknown state"


def replica_from_summary(env: str, summary: dict) -> Replica:
    """A replica from one entry of ``GET /containers/json`` (no restart count, no OOM flag)."""
    labels = summary.get("Labels") or {}
    names = summary.get("Names") or [summary.get("Id", "")[:12]]
    name = names[0].lstrip("/")
    state = summary.get("State") or ""
    status = summary.get("Status") or ""
    health_match = _STATUS_HEALTH.search(status)
    health_status = None
    if health_match:
        health_status = {"health: starting": "starting"}.get(health_match.group(1), health_match.group(1))
    code_match = _STATUS_CODE.match(status)
    exit_code = int(code_match.group(1)) if code_match else None
    health, reason = replica_health(state, health_status=health_status, exit_code=exit_code)
    image = summary.get("Image") or ""
    created = summary.get("Created")
    return Replica(
        workload=workload_key(env, name, labels),
        id=summary.get("Id", ""),
        name=name,
        state=state,
        health=health,
        reason=reason,
        image=image,
        version=image_version(image, labels),
        created_at=datetime.fromtimestamp(created, UTC) if created else None,
        exit_code=exit_code,
        labels=tuple(sorted(labels.items())),
    )


def replica_from_inspect(env: str, data: dict) -> Replica:
    """A replica from ``GET /containers/{id}/json``: the full picture."""
    config = data.get("Config") or {}
    state_info = data.get("State") or {}
    labels = config.get("Labels") or {}
    name = (data.get("Name") or data.get("Id", "")[:12]).lstrip("/")
    state = state_info.get("Status") or ""
    health_info = state_info.get("Health") or {}
    health_log = health_info.get("Log") or []
    health_output = (health_log[-1].get("Output") or "").strip().splitlines() if health_log else []
    restarts = int(data.get("RestartCount") or 0)
    exit_code = state_info.get("ExitCode")
    health, reason = replica_health(
        state,
        health_status=health_info.get("Status"),
        exit_code=exit_code if state in ("exited", "restarting", "dead") else None,
        oom_killed=bool(state_info.get("OOMKilled")),
        restarts=restarts,
        error=state_info.get("Error") or "",
        health_output=health_output[-1] if health_output else "",
    )
    image = config.get("Image") or ""
    env_pairs = []
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        env_pairs.append((key, value))
    return Replica(
        workload=workload_key(env, name, labels),
        id=data.get("Id", ""),
        name=name,
        state=state,
        health=health,
        reason=reason,
        image=image,
        version=image_version(image, labels),
        restarts=restarts,
        started_at=parse_rfc3339(state_info.get("StartedAt")) if state in ("running", "restarting", "paused") else None,
        created_at=parse_rfc3339(data.get("Created")),
        host_or_node=(data.get("HostConfig") or {}).get("NetworkMode") or "",
        exit_code=exit_code if state in ("exited", "restarting", "dead") else None,
        labels=tuple(sorted(labels.items())),
        env=tuple(env_pairs),
    )


def image_version(image: str, labels: dict[str, str]) -> str:
    """A version label, else the image tag, else a short digest."""
    return wire.image_version(image, labels, VERSION_LABELS)


def parse_stats(frame: dict) -> tuple[float, float | None, float | None] | None:
    """(epoch seconds, CPU percent of one core, memory bytes) from one stats frame."""
    read = parse_rfc3339(frame.get("read"))
    if read is None or read.year < 2000:
        return None
    cpu_stats = frame.get("cpu_stats") or {}
    pre = frame.get("precpu_stats") or {}
    cpu = None
    try:
        cpu_delta = cpu_stats["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cpu_stats["system_cpu_usage"] - pre["system_cpu_usage"]
        cpus = cpu_stats.get("online_cpus") or len(cpu_stats["cpu_usage"].get("percpu_usage") or [1])
        if system_delta > 0 and cpu_delta >= 0:
            cpu = cpu_delta / system_delta * cpus * 100.0
    except (KeyError, TypeError):
        cpu = None
    memory = None
    mem = frame.get("memory_stats") or {}
    if "usage" in mem:
        inner = mem.get("stats") or {}
        cache = inner.get("inactive_file", inner.get("total_inactive_file", 0)) or 0
        memory = float(max(0, mem["usage"] - cache))
    return read.timestamp(), cpu, memory


def _kinds(replicas: tuple[Replica, ...]) -> tuple[tuple[WorkloadKey, str], ...]:
    kinds: dict[WorkloadKey, str] = {}
    for replica in replicas:
        kinds.setdefault(replica.workload, "service" if replica.workload.group else "container")
    return tuple(kinds.items())


def _log_line(replica_name: str, stream_id: int, raw: bytes) -> LogLine:
    ts, text = split_timestamp(raw.decode("utf-8", errors="replace"))
    return LogLine(
        ts=ts,
        replica=replica_name,
        stream=Stream.STDERR if stream_id == 2 else Stream.STDOUT,
        text=text.rstrip("\r"),
    )


class _FrameReader:
    """Reads Docker's multiplexed log stream into (stream id, line) pairs."""

    def __init__(self, raw, *, tty: bool) -> None:
        self._raw = raw
        self._tty = tty
        self._partial: dict[int, bytes] = {}

    def frames(self) -> Iterator[tuple[int, bytes]]:
        read = self._raw.read
        if self._tty:
            while True:
                chunk = self._raw.read1(65536) if hasattr(self._raw, "read1") else read(4096)
                if not chunk:
                    return
                yield 1, chunk
        while True:
            header = _read_exact(read, 8)
            if header is None:
                return
            stream_id, size = struct.unpack(">BxxxL", header)
            payload = _read_exact(read, size) if size else b""
            if payload is None:
                return
            yield stream_id, payload

    def lines(self, stream_id: int, chunk: bytes) -> list[tuple[int, bytes]]:
        data = self._partial.pop(stream_id, b"") + chunk
        parts = data.split(b"\n")
        if parts[-1]:
            self._partial[stream_id] = parts[-1]
        return [(stream_id, part) for part in parts[:-1]]

    def flush(self) -> list[tuple[int, bytes]]:
        left = [(sid, data) for sid, data in self._partial.items() if data]
        self._partial.clear()
        return left


def _read_exact(read, size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""
