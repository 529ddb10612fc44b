"""The store coalesces changes and reports only what changed since the last drain."""

from __future__ import annotations

import threading

from console.model import (
    ConnectionChanged,
    ConnectionState,
    Health,
    ReplicaRemoved,
    ReplicaUpserted,
    Sample,
    SampleAdded,
    SnapshotReplaced,
    WorkloadKey,
)
from console.store import Store
from tests.factories import docker_environment, replica

WEB = WorkloadKey("local", "shop", "web")
API = WorkloadKey("local", "shop", "api")


def make_store() -> Store:
    store = Store([docker_environment()])
    store.drain()
    return store


def test_snapshot_creates_workloads_and_reports_them_once():
    store = make_store()

    store.apply(SnapshotReplaced("local", (replica("web-1"), replica("api-1", workload="api"))))
    first = store.drain()
    second = store.drain()

    assert first.workloads == {WEB, API}
    assert not second


def test_replica_change_marks_only_its_workload():
    store = make_store()
    store.apply(SnapshotReplaced("local", (replica("web-1"), replica("api-1", workload="api"))))
    store.drain()

    store.apply(ReplicaUpserted(replica("web-1", health=Health.DEGRADED, reason="unhealthy")))
    delta = store.drain()

    assert delta.workloads == {WEB}
    assert store.workload(WEB).health is Health.DEGRADED


def test_identical_upsert_reports_nothing():
    store = make_store()
    store.apply(SnapshotReplaced("local", (replica("web-1"),)))
    store.drain()

    store.apply(ReplicaUpserted(replica("web-1")))

    assert not store.drain()


def test_last_replica_removed_removes_the_workload():
    store = make_store()
    store.apply(SnapshotReplaced("local", (replica("web-1"),)))
    store.drain()

    store.apply(ReplicaRemoved("local", "id-local-web-1"))
    delta = store.drain()

    assert delta.removed == {WEB}
    assert store.workload(WEB) is None


def test_new_snapshot_drops_replicas_that_vanished_while_disconnected():
    store = make_store()
    store.apply(SnapshotReplaced("local", (replica("web-1"), replica("api-1", workload="api"))))
    store.drain()

    store.apply(SnapshotReplaced("local", (replica("web-1"),)))
    delta = store.drain()

    assert delta.removed == {API}
    assert [w.key for w in store.workloads()] == [WEB]


def test_connection_state_change_is_reported_per_environment():
    store = make_store()

    store.apply(ConnectionChanged("local", ConnectionState(False, error="engine down")))
    delta = store.drain()

    assert delta.environments == {"local"}
    assert store.connection("local").error == "engine down"


def test_samples_are_bounded_ring_buffers_and_summed_per_workload():
    store = Store([docker_environment()], sample_window=5)
    store.apply(SnapshotReplaced("local", (replica("web-1"), replica("web-2"))))
    for second in range(10):
        store.apply(SampleAdded("local", "id-local-web-1", "cpu", Sample(float(second), 1.0)))
        store.apply(SampleAdded("local", "id-local-web-2", "cpu", Sample(float(second), 2.0)))

    delta = store.drain()

    assert WEB in delta.metrics
    assert len(store.series("id-local-web-1", "cpu")) == 5
    assert [s.value for s in store.workload_series(WEB, "cpu")] == [3.0] * 5
    assert store.workload_usage(WEB) == (3.0, None)


def test_concurrent_writers_lose_nothing():
    store = make_store()

    def writer(n: int) -> None:
        for i in range(200):
            store.apply(ReplicaUpserted(replica(f"w{n}-{i}", workload=f"w{n}")))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(w.desired for w in store.workloads()) == [200] * 4


def test_a_spec_without_replicas_is_a_workload_and_goes_when_the_spec_goes():
    from console.model import WorkloadSpec, WorkloadSpecRemoved, WorkloadSpecUpserted

    store = make_store()
    spec = WorkloadSpec(WEB, "Deployment", desired=0)

    store.apply(WorkloadSpecUpserted(spec))
    added = store.drain()
    store.apply(WorkloadSpecRemoved(WEB))
    removed = store.drain()

    assert added.workloads == {WEB}
    assert removed.removed == {WEB}


def test_snapshot_specs_replace_the_environments_specs():
    from console.model import WorkloadSpec

    store = make_store()
    store.apply(SnapshotReplaced("local", (), specs=(WorkloadSpec(WEB, "Deployment", 1), WorkloadSpec(API, "Deployment", 1))))
    store.drain()

    store.apply(SnapshotReplaced("local", (), specs=(WorkloadSpec(WEB, "Deployment", 1),)))
    delta = store.drain()

    assert delta.removed == {API}


def test_events_are_kept_newest_first_and_bounded():
    from console.model import EventRecorded
    from console.store import EVENTS_PER_WORKLOAD

    store = make_store()
    for n in range(EVENTS_PER_WORKLOAD + 5):
        store.apply(EventRecorded(WEB, None, "Normal", "Pulled", f"event {n}"))

    delta = store.drain()
    events = store.events(WEB)

    assert WEB in delta.events
    assert len(events) == EVENTS_PER_WORKLOAD
    assert events[0].message == f"event {EVENTS_PER_WORKLOAD + 4}"
