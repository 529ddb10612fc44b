"""The Kubernetes write side against the embedded emulator over real HTTP (DESIGN §8).

The emulator's simulated controller turns Deployments into ReplicaSets and pods the
way the real one does (revisions, rollbacks reusing old ReplicaSets, crash loops for
``*-broken`` images), so these tests exercise the adapter's real requests.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from adapters.base import AdapterError, ErrorKind, LockHolder
from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from tests.test_kubernetes_adapter import deployment_object

WEB = WorkloadKey("cluster", "shop", "web")


@pytest.fixture
def emulator():
    with KubernetesEmulator(time_scale=0.05, seed=5) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=2, image="registry.test/web:1.0"))
        yield running


def make_adapter(emulator, tmp_path, *, read_only: bool = False) -> KubernetesAdapter:
    kubeconfig = emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx")
    environment = Environment("cluster", EnvironmentKind.KUBERNETES, "ctx", read_only=read_only)
    adapter = KubernetesAdapter(environment, kubeconfig=str(kubeconfig), context="ctx", watch_seconds=5)
    adapter.connect()
    return adapter


@pytest.fixture
def adapter(emulator, tmp_path):
    adapter = make_adapter(emulator, tmp_path)
    wait_healthy(adapter, "registry.test/web:1.0")
    yield adapter
    adapter.close()


def wait_healthy(adapter, image: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    observation = None
    while time.monotonic() < deadline:
        observation = adapter.observe(WEB)
        if observation.health == Health.HEALTHY and observation.image == image and observation.rollout_complete:
            return observation
        time.sleep(0.1)
    raise AssertionError(f"web never became healthy on {image}: {observation}")


def holder(run_id: str, who: str = "alice@bastion") -> LockHolder:
    return LockHolder(holder=who, run_id=run_id, pid=os.getpid(), host="bastion", started=datetime.now(UTC))


def test_deploy_patches_the_image_records_the_cause_and_follows_the_rollout(adapter):
    said: list[str] = []

    result = adapter.deploy(WEB, "registry.test/web:1.1", change_cause="ticket 42", progress=said.append, timeout=30)

    observation = adapter.observe(WEB)
    assert observation.image == "registry.test/web:1.1"
    assert observation.health == Health.HEALTHY and observation.rollout_complete
    assert result.revision == 2 and result.to_version == "1.1" and result.from_version == "1.0"
    history = adapter.history(WEB)
    assert [(r.number, r.image) for r in history] == [(1, "registry.test/web:1.0"), (2, "registry.test/web:1.1")]
    assert history[-1].change_cause == "ticket 42"
    assert said and said[-1].startswith("rollout complete")


def test_deploy_of_a_crash_looping_image_fails_fast_naming_the_reason(adapter):
    started = time.monotonic()

    with pytest.raises(AdapterError) as caught:
        adapter.deploy(WEB, "registry.test/web:1.1-broken", timeout=60)

    assert "CrashLoopBackOff" in caught.value.summary
    assert time.monotonic() - started < 30, "fail fast, not at the timeout"
    assert adapter.observe(WEB).health == Health.FAILED


def test_rollback_copies_the_previous_template_forward_as_a_new_revision(adapter):
    adapter.deploy(WEB, "registry.test/web:1.1", timeout=30)

    result = adapter.rollback(WEB, timeout=30)

    observation = wait_healthy(adapter, "registry.test/web:1.0")
    assert observation.revision == 3
    assert result.to_version == "1.0" and result.from_version == "1.1"
    assert adapter.history(WEB)[-1].change_cause == "rollback to revision 1"


def test_rollback_with_no_earlier_revision_is_not_found(adapter):
    with pytest.raises(AdapterError) as caught:
        adapter.rollback(WEB, timeout=10)

    assert caught.value.kind == ErrorKind.NOT_FOUND


def test_rollback_to_a_chosen_revision(adapter):
    adapter.deploy(WEB, "registry.test/web:1.1", timeout=30)
    adapter.deploy(WEB, "registry.test/web:1.2", timeout=30)

    adapter.rollback(WEB, to_revision=2, timeout=30)

    assert wait_healthy(adapter, "registry.test/web:1.1").revision == 4


def test_scale_and_restart_settle(adapter):
    scaled = adapter.scale(WEB, 3, timeout=30)
    restarted = adapter.restart(WEB, timeout=30)

    observation = adapter.observe(WEB)
    assert observation.desired == 3 and observation.ready == 3
    assert "2 → 3" in scaled.message
    assert restarted.revision == 2, "a restart is a new template, hence a new revision"


def test_a_second_lock_is_refused_naming_the_holder_and_release_frees_it(adapter):
    first = adapter.acquire_lock(WEB, holder("run-1"))

    with pytest.raises(AdapterError) as caught:
        adapter.acquire_lock(WEB, holder("run-2", who="bob@laptop"))

    assert caught.value.kind == ErrorKind.CONFLICT
    assert "alice@bastion" in caught.value.summary and "run-1" in caught.value.summary
    adapter.release_lock(WEB, first)
    assert adapter.lock_holder(WEB) is None
    adapter.acquire_lock(WEB, holder("run-2", who="bob@laptop"))
    assert adapter.lock_holder(WEB).run_id == "run-2"


def test_release_by_someone_else_leaves_the_lock_and_break_returns_the_holder(adapter):
    adapter.acquire_lock(WEB, holder("run-1"))

    adapter.release_lock(WEB, holder("run-9"))
    broken = adapter.break_lock(WEB)

    assert broken is not None and broken.run_id == "run-1"
    assert adapter.lock_holder(WEB) is None


@pytest.mark.parametrize(
    "write",
    [
        lambda a: a.deploy(WEB, "registry.test/web:9"),
        lambda a: a.rollback(WEB),
        lambda a: a.restart(WEB),
        lambda a: a.scale(WEB, 5),
        lambda a: a.acquire_lock(WEB, holder("run-x")),
        lambda a: a.break_lock(WEB),
    ],
    ids=["deploy", "rollback", "restart", "scale", "lock", "break_lock"],
)
def test_a_read_only_environment_refuses_every_write_in_the_adapter(emulator, tmp_path, write):
    adapter = make_adapter(emulator, tmp_path, read_only=True)
    try:
        before = adapter.observe(WEB)

        with pytest.raises(AdapterError) as caught:
            write(adapter)

        assert caught.value.kind == ErrorKind.READ_ONLY
        after = adapter.observe(WEB)
        assert (after.image, after.desired, after.revision) == (before.image, before.desired, before.revision)
    finally:
        adapter.close()


def test_deploy_fails_on_progress_deadline_exceeded(emulator, tmp_path):
    slow = deployment_object("slowpoke", replicas=1, image="registry.test/slowpoke:1.0")
    slow["spec"]["progressDeadlineSeconds"] = 6  # × time_scale 0.05: 0.3 s, and -slow pods take 1 s to be Ready
    emulator.apply(slow)
    adapter = make_adapter(emulator, tmp_path)
    key = WorkloadKey("cluster", "shop", "slowpoke")
    try:
        deadline = time.monotonic() + 20
        while adapter.observe(key).health != Health.HEALTHY and time.monotonic() < deadline:
            time.sleep(0.1)

        with pytest.raises(AdapterError) as caught:
            adapter.deploy(key, "registry.test/slowpoke:2.0-slow", timeout=60)

        assert "ProgressDeadlineExceeded" in caught.value.summary
    finally:
        adapter.close()
