"""The run journal: durable, hash-chained, tamper-evident, crash-tolerant, replayable."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.redact import REDACTED
from console.runbook import (
    GENESIS,
    Actor,
    Journal,
    JournalBusy,
    JournalCorrupt,
    RunHeader,
    actor,
    journal_path,
    list_runs,
    new_run_id,
    read_journal,
    replay,
)
from console.runbook.journal import FIELDS

ANA = Actor("ana", "bastion-1", "10.0.0.5 50000 22", "/dev/pts/3")
BEN = Actor("ben", "bastion-2", None, None)
START = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


def header(**overrides: object) -> RunHeader:
    fields = {
        "runbook": "deploy@" + "ab" * 32,
        "environment_name": "prod",
        "workload": "shop/web",
        "actor": ANA,
        "service_version": "1.4.1",
    }
    fields.update(overrides)
    return RunHeader(**fields)  # type: ignore[arg-type]


class Clock:
    """A clock the test moves: journal timestamps become exact expectations."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def deploy_run(directory: Path, run_id: str = "20261126T013000Z-aaaaaa", *, finish: bool = True) -> Path:
    """Write the journal of a deploy that succeeded (or stopped during its gate)."""
    clock = Clock()
    with Journal.create(run_id, header(), directory, clock=clock) as journal:
        journal.append(
            "run.started",
            data={"params": {"image": "web:1.5.0"}, "steps": ["confirm", "deploy", "healthy"], "from_version": "1.4.1",
                  "to_version": "1.5.0"},
        )
        journal.append("lock.acquired", data={"holder": {"holder": "ana@bastion-1"}})
        journal.append("step.started", step="confirm", data={"attempt": 1})
        journal.append("step.finished", step="confirm", data={"state": "passed"})
        journal.append("step.started", step="deploy", data={"attempt": 1})
        journal.append("adapter.call", step="deploy", data={"verb": "deploy", "request": {"image": "web:1.5.0"}})
        clock.advance(20)
        journal.append("adapter.call", step="deploy", data={"verb": "deploy", "result": {"to_version": "1.5.0"}})
        journal.append("step.finished", step="deploy", data={"state": "passed"}, service_version="1.5.0")
        journal.append("step.started", step="healthy", data={"attempt": 1})
        journal.append("gate.measurement", step="healthy", data={"ready": 3, "desired": 3})
        if finish:
            clock.advance(10)
            journal.append("step.finished", step="healthy", data={"state": "passed"})
            journal.append("phase.changed", data={"phase": "Healthy", "message": "3/3 ready"})
            journal.append("lock.released")
            journal.append(
                "run.finished", data={"outcome": "succeeded", "phase": "Healthy"}, deployment_status="succeeded"
            )
    return journal_path(run_id, directory)


# --- format and chain --------------------------------------------------------------------


def test_entries_carry_every_field_in_order_and_chain_by_the_hash_of_the_previous_line(tmp_path: Path) -> None:
    path = deploy_run(tmp_path)

    lines = path.read_bytes().splitlines(keepends=True)
    entries = [json.loads(line) for line in lines]

    assert [list(entry) for entry in entries] == [list(FIELDS)] * len(entries)
    assert [entry["seq"] for entry in entries] == list(range(1, len(entries) + 1))
    assert entries[0]["prev"] == GENESIS
    for line, entry in zip(lines, entries[1:]):
        assert entry["prev"] == hashlib.sha256(line).hexdigest()
    assert entries[0]["ts"] == "2026-11-26T01:30:00.000Z"
    assert entries[0]["actor"] == {"user": "ana", "host": "bastion-1", "ssh_client": "10.0.0.5 50000 22",
                                   "tty": "/dev/pts/3"}
    assert entries[0]["deployment_id"] == "20261126T013000Z-aaaaaa"


def test_status_fields_stay_in_force_until_changed(tmp_path: Path) -> None:
    path = deploy_run(tmp_path)

    entries = read_journal(path).entries

    versions = [entry["service_version"] for entry in entries]
    assert versions[:7] == ["1.4.1"] * 7 and versions[7:] == ["1.5.0"] * (len(entries) - 7)
    assert entries[-1]["deployment_status"] == "succeeded"
    assert entries[-2]["deployment_status"] == "pending"


def test_an_intact_journal_verifies(tmp_path: Path) -> None:
    path = deploy_run(tmp_path)

    read = read_journal(path)

    assert len(read.entries) == 14 and read.problems == []
    assert read.valid_bytes == path.stat().st_size


def test_the_journal_file_is_private(tmp_path: Path) -> None:
    path = deploy_run(tmp_path)

    assert path.stat().st_mode & 0o777 == 0o600


def test_every_append_is_fsynced_before_it_returns_and_the_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on ``os.fsync``: power loss cannot be simulated here, so the test
    checks the calls that make an entry survive one, and that each happens while
    the entry is on its way out, before ``append`` returns."""
    # Arrange
    synced: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        real_fsync(fd)
        kind = "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"
        synced.append((kind, os.fstat(fd).st_size))

    monkeypatch.setattr(os, "fsync", spy)

    # Act
    journal = Journal.create("20261126T013000Z-aaaaaa", header(), tmp_path)
    after_create = list(synced)
    sizes = []
    for n in range(3):
        journal.append("operator.note", data={"text": f"note {n}"})
        sizes.append(journal.path.stat().st_size)
        assert synced[-1] == ("file", sizes[-1])  # synced with the whole entry, before returning
    journal.close()

    # Assert
    assert after_create == [("dir", after_create[0][1])]
    assert [size for kind, size in synced if kind == "file"] == sizes


def test_secrets_in_data_and_error_context_are_redacted(tmp_path: Path) -> None:
    with Journal.create("r1", header(), tmp_path, redact_values=["hunter2-declared"]) as journal:
        journal.append(
            "adapter.call",
            step="deploy",
            data={"verb": "deploy", "request": {"env": {"DB_PASSWORD": "s3cret"}, "url": "https://u:pw@reg.example"}},
            error_context={"detail": "login failed with hunter2-declared", "token": "abc"},
        )

    text = (tmp_path / "r1.jsonl").read_text()

    assert "s3cret" not in text and ":pw@" not in text and "hunter2-declared" not in text and '"abc"' not in text
    assert REDACTED.encode("unicode_escape").decode() in text or REDACTED in text


def test_unknown_events_are_refused_and_any_operator_verb_accepted(tmp_path: Path) -> None:
    with Journal.create("r1", header(), tmp_path) as journal:
        with pytest.raises(ValueError, match="unknown journal event"):
            journal.append("step.exploded")
        entry = journal.append("operator.promote-full", data={"reason": "error rate flat for 10 minutes"})

    assert entry["event"] == "operator.promote-full"


def test_concurrent_appends_keep_one_unbroken_chain(tmp_path: Path) -> None:
    journal = Journal.create("r1", header(), tmp_path)

    def note(worker: int) -> None:
        for n in range(25):
            journal.append("operator.note", data={"text": f"{worker}/{n}"})

    threads = [threading.Thread(target=note, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()

    assert len(read_journal(journal.path).entries) == 100


def test_a_failed_write_leaves_the_journal_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy on ``os.write`` that writes half the line, then fails like a full
    disk: filling a real disk from a test is neither safe nor quick."""
    journal = Journal.create("r1", header(), tmp_path)
    journal.append("run.started")
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        journal.append("step.started", step="deploy")
    monkeypatch.undo()
    journal.append("step.started", step="deploy")
    journal.close()

    read = read_journal(journal.path)
    assert [entry["event"] for entry in read.entries] == ["run.started", "step.started"] and read.problems == []


# --- damage ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_changed_byte_anywhere_but_the_last_line_is_detected_and_located(
    tmp_path: Path, data: st.DataObject
) -> None:
    # Arrange
    path = tmp_path / "20261126T013000Z-aaaaaa.jsonl"
    if not path.exists():
        deploy_run(tmp_path)
    original = path.read_bytes()
    lines = original.splitlines(keepends=True)
    line = data.draw(st.integers(1, len(lines) - 1), label="line")
    start = sum(len(text) for text in lines[: line - 1])
    offset = data.draw(st.integers(start, start + len(lines[line - 1]) - 1), label="offset")
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[offset]), label="byte")
    damaged = bytearray(original)
    damaged[offset] = new_byte
    path.write_bytes(bytes(damaged))

    # Act
    try:
        with pytest.raises(JournalCorrupt) as caught:
            read_journal(path)
    finally:
        path.write_bytes(original)

    # Assert
    error = caught.value
    assert error.line == line or (error.line == line + 1 and f"line {line}" in error.reason)
    assert str(error).startswith(f"{path}:{error.line}: ")


def test_a_removed_line_is_detected(tmp_path: Path) -> None:
    path = deploy_run(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4] + lines[5:]))

    with pytest.raises(JournalCorrupt, match="removed or inserted") as caught:
        read_journal(path)

    assert caught.value.line == 5


def test_a_torn_last_line_is_tolerated_and_reported(tmp_path: Path) -> None:
    path = deploy_run(tmp_path, finish=False)
    intact = path.stat().st_size
    with open(path, "ab") as stream:
        stream.write(b'{"seq":11,"ts":"2026-11-26T01:31:00.000Z","run_id":"20261126T0')

    read = read_journal(path)

    assert len(read.entries) == 10
    (problem,) = read.problems
    assert problem.line == 11 and "incomplete" in problem.message
    assert read.valid_bytes == intact


def test_resuming_cuts_a_torn_line_and_continues_the_chain(tmp_path: Path) -> None:
    path = deploy_run(tmp_path, finish=False)
    with open(path, "ab") as stream:
        stream.write(b'{"seq":11,"ts":"2026-11-')

    journal = Journal.open_existing(path, as_actor=BEN)
    entry = journal.append("operator.resume", data={"reason": "took over from ana"})
    journal.close()

    read = read_journal(path)
    assert read.problems == [] and len(read.entries) == 11
    assert entry["seq"] == 11 and entry["actor"]["user"] == "ben"
    assert journal.repairs and journal.repairs[0].line == 11
    assert entry["service_version"] == "1.5.0"  # the state the journal had reached


def test_a_live_journal_cannot_be_opened_by_a_second_writer(tmp_path: Path) -> None:
    with Journal.create("r1", header(), tmp_path) as journal:
        journal.append("run.started")

        with pytest.raises(JournalBusy):
            Journal.open_existing(journal.path)


def test_a_journal_survives_sigkill_at_any_moment(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from console.runbook import Journal, RunHeader, Actor
        journal = Journal.create("r1", RunHeader("deploy@x", "prod", "web", Actor("a", "h")), {str(tmp_path)!r})
        journal.append("run.started")
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            journal.append("gate.measurement", step="healthy", data={{"n": n, "pad": "x" * 20000}})
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    time.sleep(0.3)

    process.send_signal(signal.SIGKILL)
    process.wait()

    read = read_journal(tmp_path / "r1.jsonl")
    assert len(read.entries) > 2 and len(read.problems) <= 1
    resumed = Journal.open_existing(tmp_path / "r1.jsonl")  # the lock died with the process
    resumed.append("operator.resume")
    resumed.close()
    assert read_journal(tmp_path / "r1.jsonl").problems == []


# --- replay -------------------------------------------------------------------------------------


def test_replay_rebuilds_a_finished_run(tmp_path: Path) -> None:
    record = replay(read_journal(deploy_run(tmp_path)).entries)

    assert record.outcome == "succeeded" and record.phase == "Healthy" and record.is_finished
    assert list(record.steps) == ["confirm", "deploy", "healthy"]
    assert {step.state for step in record.steps.values()} == {"passed"}
    assert record.steps["deploy"].last_call is not None and not record.steps["deploy"].last_call.unanswered
    assert record.steps["healthy"].last_measurement == {"ready": 3, "desired": 3}
    assert (record.from_version, record.to_version) == ("1.4.1", "1.5.0")
    assert record.duration == timedelta(seconds=30)
    assert record.started_by == ANA and not record.lock_held


def test_replay_marks_a_started_but_unfinished_step_interrupted(tmp_path: Path) -> None:
    record = replay(read_journal(deploy_run(tmp_path, finish=False)).entries)

    assert [step.id for step in record.interrupted] == ["healthy"]
    assert record.outcome is None and record.lock_held
    assert record.steps["confirm"].state == "passed"


def test_replay_tells_whether_an_adapter_write_was_sent_but_never_answered(tmp_path: Path) -> None:
    with Journal.create("r1", header(), tmp_path) as journal:
        journal.append("run.started", data={"steps": ["deploy"]})
        journal.append("step.started", step="deploy")
        journal.append("adapter.call", step="deploy", data={"verb": "deploy", "request": {"image": "web:2"}})

    record = replay(read_journal(tmp_path / "r1.jsonl").entries)

    call = record.steps["deploy"].last_call
    assert record.steps["deploy"].state == "interrupted"
    assert call is not None and call.unanswered and call.request == {"image": "web:2"} and call.verb == "deploy"


def test_replay_keeps_operator_notes_with_who_wrote_them(tmp_path: Path) -> None:
    with Journal.create("r1", header(), tmp_path) as journal:
        journal.append("run.started")
        journal.append("operator.note", data={"text": "error rate is flat"}, actor=BEN)
        journal.append("operator.skip", step="soak", data={"reason": "hotfix, soaked in staging"})

    record = replay(read_journal(tmp_path / "r1.jsonl").entries)

    assert [(note.actor.user, note.event, note.text) for note in record.notes] == [
        ("ben", "operator.note", "error rate is flat"),
        ("ana", "operator.skip", "hotfix, soaked in staging"),
    ]


def test_a_retried_step_counts_its_attempts(tmp_path: Path) -> None:
    with Journal.create("r1", header(), tmp_path) as journal:
        for state in ("failed", "passed"):
            journal.append("step.started", step="healthy")
            journal.append("step.finished", step="healthy", data={"state": state})

    record = replay(read_journal(tmp_path / "r1.jsonl").entries)

    assert (record.steps["healthy"].attempts, record.steps["healthy"].state) == (2, "passed")


# --- runs ----------------------------------------------------------------------------------------


def test_run_ids_sort_by_start_time() -> None:
    earlier = new_run_id(START)
    later = new_run_id(START + timedelta(seconds=1))

    assert earlier.startswith("20261126T013000Z-") and len(earlier) == len("20261126T013000Z-ab12cd")
    assert earlier < later


def test_a_run_id_cannot_name_a_path_outside_the_runs_directory(tmp_path: Path) -> None:
    for bad in ("../etc/passwd", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="not a run id"):
            journal_path(bad, tmp_path)


def test_list_runs_is_newest_first_and_names_unreadable_journals(tmp_path: Path) -> None:
    # Arrange
    for minutes, run_id in ((0, "20261126T013000Z-aaaaaa"), (5, "20261126T013500Z-bbbbbb")):
        clock = Clock(START + timedelta(minutes=minutes))
        with Journal.create(run_id, header(), tmp_path, clock=clock) as journal:
            journal.append("run.started", data={"from_version": "1.4.1", "to_version": "1.5.0"})
            clock.advance(42)
            journal.append("run.finished", data={"outcome": "rolled_back"})
    (tmp_path / "20261126T020000Z-cccccc.jsonl").write_text("not json\n")
    live = Journal.create("20261126T013200Z-dddddd", header(), tmp_path, clock=Clock(START + timedelta(minutes=2)))
    live.append("run.started")

    # Act
    runs = list_runs(tmp_path)
    live.close()

    # Assert
    assert [run.run_id for run in runs] == [
        "20261126T020000Z-cccccc",
        "20261126T013500Z-bbbbbb",
        "20261126T013200Z-dddddd",
        "20261126T013000Z-aaaaaa",
    ]
    assert [run.status for run in runs] == ["unreadable", "rolled_back", "running", "rolled_back"]
    assert "not valid JSON" in (runs[0].problem or "")
    assert runs[1].duration == timedelta(seconds=42) and runs[1].runbook == "deploy"
    assert (runs[1].from_version, runs[1].to_version, runs[1].actor) == ("1.4.1", "1.5.0", "ana@bastion-1")


def test_an_unfinished_run_nobody_holds_is_interrupted(tmp_path: Path) -> None:
    deploy_run(tmp_path, finish=False)

    (run,) = list_runs(tmp_path)

    assert run.status == "interrupted" and run.outcome is None


def test_the_actor_names_user_host_ssh_client_and_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_CLIENT", "192.0.2.7 51234 22")

    me = actor()

    assert me.user and me.host and me.ssh_client == "192.0.2.7 51234 22"
    assert me.tty is None or me.tty.startswith("/dev/")
    assert me.label == f"{me.user}@{me.host}"
