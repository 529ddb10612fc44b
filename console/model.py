"""The domain model: pure, frozen data shared by adapters, the store and the UI.

Nothing here does I/O or imports Textual, so adapters and headless commands can use
it freely (DESIGN §1, §3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Health(str, enum.Enum):
    """How a replica or workload is doing, Argo Rollouts style: an enum plus a sentence."""

    HEALTHY = "healthy"
    PROGRESSING = "progressing"
    DEGRADED = "degraded"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        """Sort key: the worse the health, the higher the number."""
        return _SEVERITY[self]


_SEVERITY = {
    Health.HEALTHY: 0,
    Health.UNKNOWN: 1,
    Health.PROGRESSING: 2,
    Health.DEGRADED: 3,
    Health.FAILED: 4,
}


class EnvironmentKind(str, enum.Enum):
    DOCKER = "docker"
    KUBERNETES = "kubernetes"

    @classmethod
    def _missing_(cls, value: object) -> EnvironmentKind | None:
        # Plugin backends (watchfloor.adapters entry points, console/plugins.py) add kinds
        # at run time. A pseudo-member keeps `.value` and `is EnvironmentKind.DOCKER`
        # working wherever a kind is shown or compared, without a member per plugin here.
        if not isinstance(value, str) or not value.isidentifier() or not value.islower():
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return cls._value2member_map_.setdefault(value, member)


@dataclass(frozen=True, slots=True)
class Environment:
    """One place an operator deploys to: a Docker engine or a Kubernetes context."""

    name: str
    kind: EnvironmentKind
    target: str
    """Where it lives, for people: an engine URL or a kube context."""
    protected: bool = False
    read_only: bool = False
    prometheus: str | None = None


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """A named PromQL query of an environment (config ``prometheus.queries``)."""

    name: str
    query: str
    """PromQL with ``{workload}``/``{namespace}``/``{service}`` placeholders."""
    unit: str = ""
    title: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ")


@dataclass(frozen=True, slots=True)
class WorkloadKey:
    """Identifies a workload inside its environment."""

    env: str
    group: str
    """Compose project, namespace, or "" for plain containers."""
    name: str

    @property
    def label(self) -> str:
        return f"{self.group}/{self.name}" if self.group else self.name


@dataclass(frozen=True, slots=True)
class Replica:
    """One container or pod of a workload."""

    workload: WorkloadKey
    id: str
    """Backend identity (container id, pod uid); stable for the replica's life."""
    name: str
    state: str
    """The backend's word for where it is: running, exited, restarting, created …"""
    health: Health
    reason: str
    """A sentence in the backend's words: "unhealthy: health check failed", "OOMKilled"."""
    image: str
    version: str
    restarts: int = 0
    started_at: datetime | None = None
    created_at: datetime | None = None
    host_or_node: str = ""
    exit_code: int | None = None
    labels: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    """Environment variables as the backend reports them (redact before showing)."""
    containers: tuple[str, ...] = ()
    """Container names inside the replica (a pod may have several; Docker: none)."""

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting")


@dataclass(frozen=True, slots=True)
class Workload:
    """A Compose service, a container group, a Deployment, StatefulSet or DaemonSet."""

    key: WorkloadKey
    kind: str
    desired: int
    ready: int
    health: Health
    reason: str
    version: str
    image: str
    restarts: int = 0
    created_at: datetime | None = None
    revision: int | None = None
    backend_status: str = ""
    """See ``WorkloadSpec.backend_status``."""

    @property
    def env(self) -> str:
        return self.key.env

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def group(self) -> str:
        return self.key.group


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """What the backend says a workload should be, where it says so (Kubernetes).

    Docker has no such object: a Docker workload is just its containers.
    """

    key: WorkloadKey
    kind: str
    """Deployment, StatefulSet, DaemonSet."""
    desired: int
    revision: int | None = None
    rollout: str | None = None
    """A sentence while a rollout is under way ("2/3 updated, 1/3 available"), else None."""
    problem: str | None = None
    """A condition that says the rollout is stuck (ProgressDeadlineExceeded …), else None."""
    image: str = ""
    backend_status: str = ""
    """The backend's own account where it has one beyond replicas (an Argo Rollout's
    strategy, phase, step and weight), for the detail pane."""


@dataclass(frozen=True, slots=True)
class Revision:
    workload: WorkloadKey
    number: int
    image: str
    created_at: datetime | None
    change_cause: str = ""


class Stream(str, enum.Enum):
    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a replica wrote. ``text`` is untrusted: never markup, never raw."""

    ts: datetime | None
    replica: str
    """Replica name, used as the line prefix in merged views."""
    stream: Stream
    text: str


@dataclass(frozen=True, slots=True)
class Sample:
    ts: float
    """Seconds since the epoch."""
    value: float


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """Whether an environment's backend answers, and if not, since when and what next."""

    connected: bool
    error: str | None = None
    since: datetime | None = None
    retry_at: float | None = None
    """Monotonic time of the next attempt, when disconnected."""
    detail: str = ""
    kind: str = ""
    """The failure's ``adapters.base.ErrorKind`` value ("" when unknown), for the error panel."""
    developer_detail: str = ""


# --- Prometheus: metric series, alerts and deploy markers (issue D) ----------------------

ALERT_WORKLOAD_LABELS = ("workload", "deployment", "service", "container")
"""Alert labels that name the workload an alert is about (any one equal to its name)."""


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One named query's sparkline for one workload: points over the sparkline window.

    ``points`` keep Prometheus's values as they are (NaN included, oldest first); the
    widget decides how to draw what is not a number.
    """

    key: WorkloadKey
    query: str
    """The `NamedQuery` name."""
    points: tuple[Sample, ...] = ()
    note: str | None = None
    """Why the series is empty or partial ("no data", a rejected query, "3 series …")."""


@dataclass(frozen=True, slots=True)
class Alert:
    """A pending or firing Prometheus alert of an environment's Prometheus.

    Labels and annotations are untrusted text: shown through ``widgets.safe_text``.
    """

    env: str
    name: str
    state: str
    """``firing`` or ``pending``."""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    active_at: datetime | None = None
    value: float = float("nan")

    def label(self, name: str) -> str:
        return next((value for key, value in self.labels if key == name), "")

    def annotation(self, name: str) -> str:
        return next((value for key, value in self.annotations if key == name), "")

    @property
    def severity(self) -> str:
        return self.label("severity")

    @property
    def summary(self) -> str:
        return self.annotation("summary") or self.annotation("description") or self.annotation("message")

    @property
    def workload_names(self) -> tuple[str, ...]:
        """Values of the labels that name a workload, without repeats."""
        return tuple(dict.fromkeys(v for k, v in self.labels if k in ALERT_WORKLOAD_LABELS and v))

    def matches(self, key: WorkloadKey) -> bool:
        """The alert is about this workload: a workload label names it, and the
        ``namespace`` label, where the alert has one, is the workload's group."""
        if key.env != self.env or key.name not in self.workload_names:
            return False
        namespace = self.label("namespace")
        return not namespace or namespace == key.group


@dataclass(frozen=True, slots=True)
class DeployMarker:
    """A moment a run changed what serves, from a run journal: drawn on every sparkline."""

    ts: float
    """Seconds since the epoch."""
    verb: str
    """deploy, rollback, canary.promote, bluegreen.switch, or ``finished``."""
    run_id: str
    detail: str = ""
    """The run's outcome for ``finished``; the version deployed where known."""


# --- Changes: what adapters yield from watch(); pure data crossing threads -------------


@dataclass(frozen=True, slots=True)
class ReplicaUpserted:
    replica: Replica


@dataclass(frozen=True, slots=True)
class ReplicaRemoved:
    env: str
    replica_id: str


@dataclass(frozen=True, slots=True)
class SnapshotReplaced:
    """The full set of replicas of an environment, after a (re)list."""

    env: str
    replicas: tuple[Replica, ...]
    kinds: tuple[tuple[WorkloadKey, str], ...] = ()
    """Workload kind per key, where the backend knows it (Deployment, service …)."""
    specs: tuple[WorkloadSpec, ...] | None = None
    """Every workload spec, where the backend has them; None leaves specs untouched."""


@dataclass(frozen=True, slots=True)
class WorkloadSpecUpserted:
    spec: WorkloadSpec


@dataclass(frozen=True, slots=True)
class WorkloadSpecRemoved:
    key: WorkloadKey


@dataclass(frozen=True, slots=True)
class EventRecorded:
    """A backend event about a workload (Kubernetes Events), newest kept."""

    key: WorkloadKey
    ts: datetime | None
    type: str
    """Normal or Warning."""
    reason: str
    message: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class SampleAdded:
    env: str
    replica_id: str
    metric: str
    """"cpu" (percent of one core) or "memory" (bytes)."""
    sample: Sample


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    env: str
    state: ConnectionState


Change = (
    ReplicaUpserted
    | ReplicaRemoved
    | SnapshotReplaced
    | SampleAdded
    | ConnectionChanged
    | WorkloadSpecUpserted
    | WorkloadSpecRemoved
    | EventRecorded
)


@dataclass(slots=True)
class EnvironmentView:
    """What the store knows of one environment at a moment (mutable, owned by the store)."""

    environment: Environment
    connection: ConnectionState = field(default_factory=lambda: ConnectionState(False))
