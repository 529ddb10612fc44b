"""Lock files in a real directory, taken by real processes (adapters/lock_file.py)."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.base import AdapterError, ErrorKind, LockHolder
from adapters.lock_file import LockConflict, LockFiles
from console.model import WorkloadKey

KEY = WorkloadKey("prod", "shop", "web")
HOST = socket.gethostname()


def _holder(run_id: str, *, user: str = "alice", pid: int | None = None, host: str = HOST, **kw) -> LockHolder:
    return LockHolder(
        holder=f"{user}@{host}",
        run_id=run_id,
        pid=os.getpid() if pid is None else pid,
        host=host,
        started=kw.pop("started", datetime.now(UTC)),
        **kw,
    )


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def locks(tmp_path: Path) -> LockFiles:
    return LockFiles(tmp_path / "locks")


def test_second_acquirer_gets_a_conflict_naming_the_first(locks):
    first = _holder("run-1", user="alice")
    locks.acquire(KEY, first)

    with pytest.raises(LockConflict) as caught:
        locks.acquire(KEY, _holder("run-2", user="bob"))

    error = caught.value
    assert error.kind is ErrorKind.CONFLICT
    assert f"alice@{HOST}" in error.summary
    assert "run-1" in error.summary and f"pid {os.getpid()} on {HOST}" in error.summary
    assert first.started.strftime("%Y-%m-%d %H:%M:%S") in error.summary
    assert error.stale_reason is None and "stale" not in error.summary
    assert error.holder.run_id == "run-1"


def test_lock_file_holds_the_holder_as_json_readable_only_by_its_owner(locks):
    holder = _holder("run-1")

    written = locks.acquire(KEY, holder)

    path = locks.path_for(KEY)
    assert json.loads(path.read_text()) == written.to_json()
    assert written.renewed is not None
    assert path.stat().st_mode & 0o777 == 0o600
    assert locks.holder(KEY) == written


def test_same_holder_acquiring_again_renews_instead_of_conflicting(locks):
    holder = _holder("run-1")
    first = locks.acquire(KEY, holder)

    again = locks.acquire(KEY, holder)

    assert again.run_id == "run-1"
    assert again.renewed >= first.renewed


def test_lock_of_a_dead_process_on_this_host_is_reported_stale_but_not_broken(locks):
    dead = _dead_pid()
    locks.acquire(KEY, _holder("run-1", pid=dead))

    with pytest.raises(LockConflict) as caught:
        locks.acquire(KEY, _holder("run-2", user="bob"))

    assert "stale" in caught.value.summary
    assert caught.value.stale_reason == f"pid {dead} on {HOST} is gone"
    assert locks.holder(KEY).run_id == "run-1"


def test_lock_not_renewed_within_its_ttl_is_stale_even_on_another_host(tmp_path):
    LockFiles(tmp_path).acquire(KEY, _holder("run-1", host="other-bastion", pid=1, ttl_seconds=60))
    five_minutes_later = LockFiles(tmp_path, clock=lambda: datetime.now(UTC) + timedelta(seconds=300))

    with pytest.raises(LockConflict) as caught:
        five_minutes_later.acquire(KEY, _holder("run-2"))

    assert caught.value.stale_reason.startswith("not renewed for 300 s")
    assert "ttl 60 s" in caught.value.summary


def test_live_holder_on_another_host_within_ttl_is_not_stale(locks):
    remote = _holder("run-1", host="other-bastion", pid=1, ttl_seconds=60)

    assert locks.stale_reason(locks.acquire(KEY, remote)) is None


def test_break_lock_returns_the_old_holder_and_frees_the_lock(locks):
    locks.acquire(KEY, _holder("run-1", pid=_dead_pid()))

    broken = locks.break_lock(KEY)
    mine = locks.acquire(KEY, _holder("run-2"))

    assert broken.run_id == "run-1"
    assert locks.holder(KEY) == mine
    assert locks.break_lock(WorkloadKey("prod", "shop", "never-locked")) is None


def test_release_by_someone_else_leaves_the_lock_in_place(locks):
    holder = _holder("run-1")
    locks.acquire(KEY, holder)

    locks.release(KEY, _holder("run-2"))
    still_held = locks.holder(KEY)
    locks.release(KEY, holder)

    assert still_held.run_id == "run-1"
    assert locks.holder(KEY) is None


def test_renew_after_the_lock_was_broken_is_a_conflict(locks):
    holder = _holder("run-1")
    locks.acquire(KEY, holder)
    locks.break_lock(KEY)

    with pytest.raises(AdapterError) as caught:
        locks.renew(KEY, holder)

    assert caught.value.kind is ErrorKind.CONFLICT
    assert "broke" in caught.value.summary


def test_renew_moves_the_renewed_time_forward(locks):
    holder = _holder("run-1")
    first = locks.acquire(KEY, holder)

    renewed = locks.renew(KEY, holder)

    assert renewed.renewed >= first.renewed
    assert locks.holder(KEY).renewed == renewed.renewed


def test_unreadable_lock_file_is_held_by_unknown_and_stale(locks):
    locks.directory.mkdir(parents=True)
    locks.path_for(KEY).write_text("{not json")

    with pytest.raises(LockConflict) as caught:
        locks.acquire(KEY, _holder("run-2"))

    assert caught.value.holder.holder.startswith("unknown")
    assert "stale" in caught.value.summary


def test_keys_that_join_alike_get_different_files(locks):
    a = WorkloadKey("prod", "a.b", "c")
    b = WorkloadKey("prod", "a", "b.c")
    plain = WorkloadKey("prod", "", "c/../../x")

    locks.acquire(a, _holder("run-a"))
    locks.acquire(b, _holder("run-b"))
    locks.acquire(plain, _holder("run-p"))

    assert locks.path_for(a) != locks.path_for(b)
    assert locks.path_for(plain).parent == locks.directory
    assert {locks.holder(k).run_id for k in (a, b, plain)} == {"run-a", "run-b", "run-p"}


def _race(directory: str, run_id: str, start, results) -> None:
    start.wait()
    try:
        LockFiles(Path(directory)).acquire(KEY, _holder(run_id))
    except LockConflict:
        results.put(("lost", run_id))
    else:
        results.put(("won", run_id))


def test_of_many_processes_racing_for_one_lock_exactly_one_wins(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    racers = [
        context.Process(target=_race, args=(str(tmp_path / "locks"), f"run-{i}", start, results)) for i in range(6)
    ]
    for racer in racers:
        racer.start()

    start.set()
    outcomes = [results.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join(30)

    winners = [run for outcome, run in outcomes if outcome == "won"]
    assert len(winners) == 1
    assert LockFiles(tmp_path / "locks").holder(KEY).run_id == winners[0]
