"""Fixture data builders for unit, pilot and snapshot tests (pure data, no backend)."""

from __future__ import annotations

from datetime import UTC, datetime

from console.model import Environment, EnvironmentKind, Health, Replica, WorkloadKey

FIXED_TIME = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def replica(
    name: str,
    *,
    env: str = "local",
    group: str = "shop",
    workload: str = "web",
    health: Health = Health.HEALTHY,
    state: str = "running",
    reason: str = "running (healthy)",
    image: str = "shop/web:1.4.2",
    version: str = "1.4.2",
    restarts: int = 0,
    replica_id: str | None = None,
    env_vars: tuple[tuple[str, str], ...] = (),
    labels: tuple[tuple[str, str], ...] = (),
) -> Replica:
    return Replica(
        workload=WorkloadKey(env, group, workload),
        id=replica_id or f"id-{env}-{name}",
        name=name,
        state=state,
        health=health,
        reason=reason,
        image=image,
        version=version,
        restarts=restarts,
        started_at=FIXED_TIME,
        created_at=FIXED_TIME,
        env=env_vars,
        labels=labels,
    )


def docker_environment(name: str = "local", **kw) -> Environment:
    return Environment(name=name, kind=EnvironmentKind.DOCKER, target="unix:///var/run/docker.sock", **kw)
