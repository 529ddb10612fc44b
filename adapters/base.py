"""The one protocol every backend adapter implements, and its error family.

Adapters are synchronous: the console calls them only from thread workers, so they
may block (DESIGN §2). They never import Textual; they speak ``console.model``.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from console.model import Change, Environment, Health, LogLine, Replica, Revision, SnapshotReplaced, WorkloadKey


class ErrorKind(str, enum.Enum):
    """What sort of trouble, so the UI can say the right thing and link the right doc."""

    UNREACHABLE = "unreachable"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    BAD_INPUT = "bad_input"
    READ_ONLY = "read_only"
    BACKEND = "backend"


class AdapterError(Exception):
    """A backend call failed. Carries text for each reader: operator, admin, developer."""

    def __init__(
        self,
        kind: ErrorKind,
        summary: str,
        *,
        admin_detail: str = "",
        developer_detail: str = "",
    ) -> None:
        super().__init__(summary)
        self.kind = kind
        self.summary = summary
        self.admin_detail = admin_detail
        self.developer_detail = developer_detail


class StopFlag(Protocol):
    """Anything with ``is_set()`` — a ``threading.Event`` or a ``StopSignal``."""

    def is_set(self) -> bool: ...


class StopSignal(threading.Event):
    """A stop flag that can also interrupt a blocking read.

    A stream that blocks in ``recv`` never looks at a flag, so adapters register a
    callback (usually the response's ``close``) that runs when the signal is set.
    """

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list = []
        self._callbacks_lock = threading.Lock()

    def on_set(self, callback) -> None:
        """Run ``callback()`` when the signal is set (at once if it already is)."""
        with self._callbacks_lock:
            if not self.is_set():
                self._callbacks.append(callback)
                return
        _quietly(callback)

    def set(self) -> None:
        super().set()
        for callback in self._take_callbacks():
            _quietly(callback)

    def set_soon(self) -> None:
        """Set the flag now; run the callbacks in a short-lived thread.

        Closing a streamed HTTP response waits for its reader's ``recv`` to return,
        which the UI thread must never do.
        """
        super().set()
        callbacks = self._take_callbacks()
        if callbacks:
            threading.Thread(target=lambda: [_quietly(c) for c in callbacks], name="stop", daemon=True).start()

    def _take_callbacks(self) -> list:
        with self._callbacks_lock:
            callbacks, self._callbacks = self._callbacks, []
        return callbacks


def _quietly(callback) -> None:
    try:
        callback()
    except Exception:  # noqa: BLE001 - closing an already-broken stream may fail; nothing to do # nosec B110
        pass


def on_stop(stop: StopFlag | None, callback) -> None:
    """Register ``callback`` on ``stop`` when it supports interruption."""
    if isinstance(stop, StopSignal):
        stop.on_set(callback)


@runtime_checkable
class Adapter(Protocol):
    """Read side of a backend, one instance per environment (DESIGN §4)."""

    environment: Environment

    def connect(self) -> None:
        """Open the client and check the backend answers; raise AdapterError if not."""

    def close(self) -> None:
        """Release connections; streams in other threads end soon after."""

    def snapshot(self, *, detailed: bool = False) -> SnapshotReplaced:
        """The full current state of the environment.

        ``detailed`` asks for everything the backend can tell (restart counts, OOM
        kills) even where that costs one call per replica.
        """

    def watch(self, stop: StopFlag) -> Iterator[Change]:
        """Yield changes as the backend reports them until ``stop`` is set or the stream ends.

        Ending (or raising AdapterError) means the connection was lost; the caller
        reconnects with backoff and takes a fresh snapshot.
        """

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
        """Yield batches of log lines of one replica, oldest first.

        ``container`` picks one container of a multi-container replica; ``previous``
        asks for the instance before the last restart. Backends without either ignore
        them (Docker keeps a restarted container's earlier output in the same log).
        """

    def stats(self, replica: Replica, stop: StopFlag) -> Iterator[Change]:
        """Yield CPU and memory samples for one running replica until stopped."""


# --- Write side (DESIGN §4, issue C) ---------------------------------------------------

Progress = Callable[[str], None]
"""Called with one human sentence at each visible step of a write ("2/3 new replicas ready")."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did, in a shape the journal stores as the ``adapter.call`` result."""

    verb: str
    """deploy, rollback, restart, scale."""
    workload: WorkloadKey
    message: str
    """One sentence for the operator: "web now runs 1.5.0 (revision 4), 3/3 ready"."""
    from_version: str = ""
    to_version: str = ""
    revision: int | None = None
    """The revision the workload is at after the write, where the backend numbers them."""
    strategy: str = ""
    """rolling or recreate (Docker deploys), "" elsewhere."""
    detail: dict[str, Any] = field(default_factory=dict)
    """JSON-able facts for the journal: container ids started/stopped, patches sent."""

    def to_json(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "workload": self.workload.label,
            "message": self.message,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "revision": self.revision,
            "strategy": self.strategy,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Observation:
    """The live state of one workload, which a resumed run compares with its journal."""

    workload: WorkloadKey
    exists: bool
    image: str = ""
    version: str = ""
    revision: int | None = None
    desired: int = 0
    updated: int = 0
    """Replicas running the current template/image."""
    ready: int = 0
    available: int = 0
    health: Health = Health.UNKNOWN
    reason: str = ""
    rollout_complete: bool = True
    """False while a rollout is under way (old and new replicas both present)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload.label,
            "exists": self.exists,
            "image": self.image,
            "version": self.version,
            "revision": self.revision,
            "desired": self.desired,
            "updated": self.updated,
            "ready": self.ready,
            "available": self.available,
            "health": self.health.value,
            "reason": self.reason,
            "rollout_complete": self.rollout_complete,
        }


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or asks for) a workload's run lock."""

    holder: str
    """actor identity, "user@host"."""
    run_id: str
    pid: int
    host: str
    started: datetime
    renewed: datetime | None = None
    """Last renewal; a lock not renewed for its ttl is stale."""
    ttl_seconds: int = 60

    def to_json(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "run_id": self.run_id,
            "pid": self.pid,
            "host": self.host,
            "started": self.started.isoformat(),
            "renewed": self.renewed.isoformat() if self.renewed else None,
            "ttl_seconds": self.ttl_seconds,
        }


@runtime_checkable
class WritableAdapter(Adapter, Protocol):
    """Write side of a backend. Every method refuses with ``ErrorKind.READ_ONLY`` when
    ``environment.read_only`` is set — checked here, in the adapter, not only in the UI.

    Writes block until the backend reached the asked state or failed; they raise
    ``AdapterError`` (never anything else) and, when a deploy fails, leave the old
    version serving (Docker removes the new replicas; Kubernetes leaves rolling back
    to the runbook's ``on_fail``).
    """

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
        """Run ``image`` in place of the workload's current image."""

    def rollback(
        self,
        key: WorkloadKey,
        to_revision: int | None = None,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult:
        """Go back to the previous revision (or ``to_revision``) as a new revision."""

    def restart(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult: ...

    def scale(
        self,
        key: WorkloadKey,
        replicas: int,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
        stop: StopFlag | None = None,
    ) -> WriteResult: ...

    def history(self, key: WorkloadKey) -> list[Revision]:
        """Revisions of a workload, oldest first."""

    def observe(self, key: WorkloadKey) -> Observation:
        """The workload's live state, read fresh from the backend (never from a cache)."""

    def acquire_lock(self, key: WorkloadKey, holder: LockHolder) -> LockHolder:
        """Take the workload's run lock; raise ``ErrorKind.CONFLICT`` naming the holder if taken."""

    def renew_lock(self, key: WorkloadKey, holder: LockHolder) -> None: ...

    def release_lock(self, key: WorkloadKey, holder: LockHolder) -> None:
        """Give the lock back if ``holder`` still holds it; do nothing otherwise."""

    def lock_holder(self, key: WorkloadKey) -> LockHolder | None: ...

    def break_lock(self, key: WorkloadKey) -> LockHolder | None:
        """Remove the lock whoever holds it; return who held it (the caller journals this)."""


# --- Progressive releases (issue D) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleaseState:
    """A canary or blue-green release on one workload, read fresh from the backend.

    Canary: ``stable_*`` is the workload as it was, ``new_*`` the canary replicas
    (Docker: containers labelled ``watchfloor.track=canary``; Kubernetes: the
    ``<name>-canary`` Deployment, or an Argo ``Rollout``'s canary). Blue-green:
    ``stable_*`` is the colour taking traffic (``live``), ``new_*`` the other one.
    """

    workload: WorkloadKey
    kind: str
    """"canary", "blue-green", or "" when no release is under way."""
    stable_image: str = ""
    new_image: str = ""
    stable_replicas: int = 0
    new_replicas: int = 0
    """Desired replicas of each side."""
    new_ready: int = 0
    weight: int = 0
    """Canary: the achieved share of replicas on the new image, in percent."""
    live: str = ""
    """Blue-green: the colour the service selects ("blue"/"green")."""
    idle_scaled_up: bool = False
    """Blue-green: the colour not taking traffic still has replicas (instant switch back)."""
    phase: str = ""
    """The backend's own word where it has one (an Argo Rollout's phase and step)."""
    message: str = ""
    """One sentence: "canary 1.5.0: 1 of 4 replicas (25 %), 1 ready"."""

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload.label,
            "kind": self.kind,
            "stable_image": self.stable_image,
            "new_image": self.new_image,
            "stable_replicas": self.stable_replicas,
            "new_replicas": self.new_replicas,
            "new_ready": self.new_ready,
            "weight": self.weight,
            "live": self.live,
            "idle_scaled_up": self.idle_scaled_up,
            "phase": self.phase,
            "message": self.message,
        }


def canary_replicas(stable: int, weight: int) -> int:
    """Canary replicas K beside ``stable`` ones so K/(stable+K) is nearest ``weight`` %.

    At least one (a canary of nothing measures nothing) while ``weight`` > 0; ties go to
    the smaller K (less exposure). ``weight`` >= 100 means as many as stable.
    """
    if weight <= 0:
        return 0
    if weight >= 100 or stable <= 0:
        return max(stable, 1)
    best, best_error = 1, abs(1 / (stable + 1) - weight / 100)
    for k in range(2, stable * 100 + 1):
        error = abs(k / (stable + k) - weight / 100)
        if error < best_error - 1e-12:
            best, best_error = k, error
        elif k / (stable + k) > weight / 100:
            break
    return best


def achieved_weight(stable: int, canary: int) -> int:
    """The percentage of replicas on the canary, rounded."""
    total = stable + canary
    return round(100 * canary / total) if total else 0


@runtime_checkable
class ReleaseAdapter(Protocol):
    """Canary and blue-green verbs. Same contract as `WritableAdapter`: each refuses on
    a read-only environment, blocks until the backend reached the asked state (new
    replicas ready, health-gated) or failed, raises only ``AdapterError``, and returns a
    `WriteResult` whose ``detail`` holds the facts a resume needs (replica ids, the
    achieved weight, the colours)."""

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
        """Start canary replicas of ``image`` beside the stable ones at ``weight`` %
        (nearest achievable; the message says what was achieved)."""

    def canary_set_weight(
        self, key: WorkloadKey, weight: int, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult: ...

    def canary_promote(
        self, key: WorkloadKey, *, timeout: float = 300.0, change_cause: str = "", progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        """Roll the stable replicas to the canary's image (health-gated), then remove the canary."""

    def canary_abort(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        """Remove the canary replicas; stable is left untouched. No canary: a no-op result."""

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
        """Start the idle colour with ``image`` and as many replicas as live has, wait until ready."""

    def bluegreen_switch(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        """Send traffic to the idle colour; the old colour stays up (Kubernetes) or
        stopped but kept (Docker), so a switch back is quick."""

    def bluegreen_switch_back(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        """Undo the last switch: traffic back to the previous colour."""

    def bluegreen_scale_down(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        """Scale the colour not taking traffic to zero (its definition is kept for a later rollback)."""

    def bluegreen_abort(
        self, key: WorkloadKey, *, timeout: float = 300.0, progress: Progress | None = None, stop: StopFlag | None = None
    ) -> WriteResult:
        """Before a switch: remove the idle colour's new replicas; live is left untouched."""

    def release_state(self, key: WorkloadKey) -> ReleaseState:
        """The release under way on ``key`` (``kind == ""`` when none), read fresh."""


def refuse_if_read_only(environment: Environment, verb: str, key: WorkloadKey) -> None:
    """The adapter-layer guard every write calls first."""
    if environment.read_only:
        raise AdapterError(
            ErrorKind.READ_ONLY,
            f"{verb} of {key.label} refused: {environment.name} is read-only",
            admin_detail="the environment has read_only: true, or watchfloor runs with --read-only",
        )


__all__ = [
    "Adapter",
    "LockHolder",
    "Observation",
    "Progress",
    "ReleaseAdapter",
    "ReleaseState",
    "achieved_weight",
    "canary_replicas",
    "WritableAdapter",
    "WriteResult",
    "refuse_if_read_only",
    "AdapterError",
    "ErrorKind",
    "StopFlag",
    "StopSignal",
    "WorkloadKey",
    "on_stop",
]
