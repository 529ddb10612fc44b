"""Aggregate replica health into workload health, with one sentence a human reads.

Backend adapters decide each replica's health from their own words (Docker state and
healthcheck, pod phase and container statuses); this module is the one place that
turns a set of replicas into a workload's verdict, so Docker and Kubernetes agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from adapters.wire import image_version
from console.model import Health, Replica, Workload, WorkloadKey, WorkloadSpec


def aggregate(
    key: WorkloadKey,
    replicas: Iterable[Replica],
    *,
    kind: str = "service",
    desired: int | None = None,
    spec: WorkloadSpec | None = None,
) -> Workload:
    """Build a workload's row from its replicas.

    Rules, worst first:
    - no replicas: *unknown* (or *failed* when some are desired);
    - every replica failed: *failed*;
    - any replica failed or degraded: *degraded* (some still serve);
    - any replica progressing: *progressing*;
    - only stopped replicas (exited 0, created): *unknown* "stopped";
    - otherwise *healthy*.

    Args:
        key: The workload's identity.
        replicas: Its replicas, any order.
        kind: Backend kind word shown in the table.
        desired: Replicas wanted, when the backend knows it (Kubernetes spec); Docker
            has no desired count, so the number of containers stands in.
        spec: The backend's own view of the workload: a rollout under way makes a
            healthy-looking workload *progressing*; a stuck rollout (a condition such
            as ProgressDeadlineExceeded) makes it *degraded* at least.
    """
    members = sorted(replicas, key=lambda r: r.name)
    if spec is not None:
        kind, desired = spec.kind, spec.desired
    want = len(members) if desired is None else desired
    ready = sum(1 for r in members if r.health is Health.HEALTHY)
    restarts = sum(r.restarts for r in members)
    canaries = [r for r in members if _is_canary(r)]
    # The version is what the stable replicas run: a canary beside them is named in the reason.
    stable = [r for r in members if not _is_canary(r)] or members
    newest = max(stable, key=lambda r: r.created_at.timestamp() if r.created_at else 0.0, default=None)
    image = newest.image if newest else ""
    version = newest.version if newest else ""
    created = min((r.created_at for r in members if r.created_at), default=None)
    health, reason = _verdict(members, want)
    if canaries and len(canaries) < len(members) and health is Health.HEALTHY:
        reason = f"canary {canaries[0].version}: {len(canaries)} of {len(members)} replicas"
    if spec is not None:
        health, reason = _with_spec(health, reason, spec, bool(members))
        if spec.image:
            # What the workload is meant to run, not whichever replica started last:
            # mid-rollout the old replicas are newer than nothing.
            image = spec.image
            version = image_version(spec.image, {}, ())
    return Workload(
        key=key,
        kind=kind,
        desired=want,
        ready=ready,
        health=health,
        reason=reason,
        version=version,
        image=image,
        restarts=restarts,
        created_at=created,
        revision=spec.revision if spec is not None else None,
        backend_status=spec.backend_status if spec is not None else "",
    )


def _is_canary(replica: Replica) -> bool:
    labels = dict(replica.labels)
    return labels.get("watchfloor.track") == "canary" or labels.get("track") == "canary"


def _with_spec(health: Health, reason: str, spec: WorkloadSpec, has_replicas: bool) -> tuple[Health, str]:
    if spec.problem and health is not Health.FAILED:
        return Health.DEGRADED, spec.problem
    if spec.rollout and health in (Health.HEALTHY, Health.PROGRESSING, Health.UNKNOWN):
        return Health.PROGRESSING, spec.rollout
    if spec.desired == 0 and not has_replicas:
        return Health.HEALTHY, "scaled to 0"
    return health, reason


def _verdict(members: list[Replica], want: int) -> tuple[Health, str]:
    if not members:
        if want:
            return Health.FAILED, f"0/{want} replicas exist"
        return Health.UNKNOWN, "no replicas"
    counts = Counter(r.health for r in members)
    total = len(members)
    worst = max(members, key=lambda r: r.health.severity)
    if counts[Health.FAILED] == total:
        return Health.FAILED, _sentence(worst, counts[Health.FAILED], total, "failed")
    bad = counts[Health.FAILED] + counts[Health.DEGRADED]
    if bad:
        return Health.DEGRADED, _sentence(worst, bad, total, "not healthy")
    if counts[Health.PROGRESSING]:
        return Health.PROGRESSING, _sentence(worst, counts[Health.PROGRESSING], total, "starting")
    if counts[Health.UNKNOWN] == total:
        return Health.UNKNOWN, _sentence(worst, total, total, "stopped")
    if counts[Health.UNKNOWN]:
        stopped = counts[Health.UNKNOWN]
        return Health.DEGRADED, _sentence(worst, stopped, total, "not running")
    if want > total:
        return Health.DEGRADED, f"{total}/{want} replicas exist"
    noun = "replica" if total == 1 else "replicas"
    return Health.HEALTHY, f"{total}/{total} {noun} healthy"


def _sentence(example: Replica, count: int, total: int, what: str) -> str:
    detail = example.reason or example.state
    return f"{count}/{total} {what}: {example.name} {detail}"
