"""Replica health from Docker's words, and workload health from its replicas."""

from __future__ import annotations

import pytest

from adapters.docker import replica_health
from console.health import aggregate
from console.model import Health, WorkloadKey
from tests.factories import replica

KEY = WorkloadKey("local", "shop", "web")


@pytest.mark.parametrize(
    ("state", "kwargs", "health", "words"),
    [
        ("running", {"health_status": "healthy", "exit_code": None}, Health.HEALTHY, "healthy"),
        ("running", {"health_status": None, "exit_code": None}, Health.HEALTHY, "running"),
        ("running", {"health_status": "starting", "exit_code": None}, Health.PROGRESSING, "starting"),
        ("running", {"health_status": "unhealthy", "exit_code": None, "health_output": "boom"}, Health.DEGRADED, "unhealthy (health check failing: boom)"),
        ("restarting", {"health_status": None, "exit_code": 1, "restarts": 5}, Health.FAILED, "restarting (exit 1), 5 restarts"),
        ("exited", {"health_status": None, "exit_code": 137, "oom_killed": True}, Health.FAILED, "OOMKilled"),
        ("exited", {"health_status": None, "exit_code": 3}, Health.FAILED, "exited with code 3"),
        ("exited", {"health_status": None, "exit_code": 0}, Health.UNKNOWN, "exited (0), stopped"),
        ("dead", {"health_status": None, "exit_code": None, "error": "driver failed"}, Health.FAILED, "dead: driver failed"),
        ("paused", {"health_status": None, "exit_code": None}, Health.DEGRADED, "paused"),
        ("created", {"health_status": None, "exit_code": None}, Health.UNKNOWN, "created, not started"),
    ],
)
def test_replica_health_uses_dockers_words(state, kwargs, health, words):
    verdict, reason = replica_health(state, **kwargs)

    assert verdict is health
    assert words in reason


def test_workload_with_all_replicas_healthy_is_healthy():
    workload = aggregate(KEY, [replica("web-1"), replica("web-2")])

    assert (workload.health, workload.ready, workload.desired) == (Health.HEALTHY, 2, 2)
    assert workload.reason == "2/2 replicas healthy"


def test_one_unhealthy_replica_makes_the_workload_degraded_and_names_it():
    sick = replica("web-2", health=Health.DEGRADED, reason="unhealthy (health check failing)")

    workload = aggregate(KEY, [replica("web-1"), sick])

    assert workload.health is Health.DEGRADED
    assert workload.ready == 1
    assert "web-2" in workload.reason and "unhealthy" in workload.reason


def test_single_unhealthy_container_is_degraded_not_failed():
    workload = aggregate(KEY, [replica("web-1", health=Health.DEGRADED, reason="unhealthy")])

    assert workload.health is Health.DEGRADED


def test_every_replica_failed_makes_the_workload_failed():
    crashed = [replica(f"web-{i}", health=Health.FAILED, state="exited", reason="exited with code 3") for i in (1, 2)]

    workload = aggregate(KEY, crashed)

    assert workload.health is Health.FAILED
    assert "2/2 failed" in workload.reason


def test_starting_replica_makes_the_workload_progressing():
    workload = aggregate(KEY, [replica("web-1"), replica("web-2", health=Health.PROGRESSING, reason="starting")])

    assert workload.health is Health.PROGRESSING


def test_only_stopped_replicas_is_unknown_stopped():
    workload = aggregate(KEY, [replica("web-1", health=Health.UNKNOWN, state="exited", reason="exited (0), stopped")])

    assert workload.health is Health.UNKNOWN
    assert "stopped" in workload.reason


def test_missing_replicas_against_desired_is_degraded():
    workload = aggregate(KEY, [replica("web-1")], desired=3)

    assert workload.health is Health.DEGRADED
    assert workload.reason == "1/3 replicas exist"


def test_no_replicas_and_none_desired_is_unknown():
    assert aggregate(KEY, []).health is Health.UNKNOWN


def test_restarts_are_summed_and_newest_image_wins():
    old = replica("web-1", restarts=2, image="shop/web:1.4.1", version="1.4.1")
    workload = aggregate(KEY, [old, replica("web-2", restarts=1)])

    assert workload.restarts == 3
    assert workload.version in ("1.4.1", "1.4.2")


def _spec(**kw):
    from console.model import WorkloadSpec

    return WorkloadSpec(key=KEY, kind="Deployment", desired=kw.pop("desired", 2), **kw)


def test_rollout_under_way_makes_healthy_replicas_progressing_with_its_sentence():
    spec = _spec(rollout="rollout: 1/2 updated, 2/2 ready, 1/2 available")

    workload = aggregate(KEY, [replica("web-1"), replica("web-2")], spec=spec)

    assert workload.health is Health.PROGRESSING
    assert workload.reason == "rollout: 1/2 updated, 2/2 ready, 1/2 available"
    assert workload.kind == "Deployment"


def test_stuck_rollout_is_degraded_with_the_condition():
    spec = _spec(problem="ProgressDeadlineExceeded: ReplicaSet web-7d9 has timed out progressing")

    workload = aggregate(KEY, [replica("web-1"), replica("web-2")], spec=spec)

    assert workload.health is Health.DEGRADED
    assert workload.reason.startswith("ProgressDeadlineExceeded")


def test_crash_looping_new_pods_stay_degraded_during_a_rollout():
    spec = _spec(rollout="rollout: 1/2 updated")
    crashing = replica("web-2", health=Health.FAILED, reason="CrashLoopBackOff (exit 1, 4 restarts)")

    workload = aggregate(KEY, [replica("web-1"), crashing], spec=spec)

    assert workload.health is Health.DEGRADED
    assert "CrashLoopBackOff" in workload.reason


def test_deployment_scaled_to_zero_is_healthy():
    workload = aggregate(KEY, [], spec=_spec(desired=0))

    assert (workload.health, workload.reason) == (Health.HEALTHY, "scaled to 0")


def test_desired_comes_from_the_spec():
    workload = aggregate(KEY, [replica("web-1")], spec=_spec(desired=3))

    assert (workload.ready, workload.desired, workload.health) == (1, 3, Health.DEGRADED)


def test_a_canary_beside_stable_replicas_keeps_the_stable_version_and_is_named_in_the_reason():
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    old = datetime(2026, 11, 26, tzinfo=UTC)
    stable = [replace(replica(f"web-{i}"), created_at=old) for i in range(3)]
    canary = replace(
        replica("web-canary-1", image="shop/web:1.5.0", version="1.5.0", labels=(("watchfloor.track", "canary"),)),
        created_at=old + timedelta(minutes=5),
    )

    workload = aggregate(KEY, [*stable, canary])

    assert workload.version == "1.4.2"
    assert workload.health is Health.HEALTHY
    assert workload.reason == "canary 1.5.0: 1 of 4 replicas"
