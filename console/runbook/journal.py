"""The run journal: one append-only, fsynced, hash-chained JSON Lines file per run (DESIGN §5).

File: ``runs_dir()/<run_id>.jsonl``, mode 0600. Each line is one JSON object with
these keys, in this order::

    seq, ts, run_id, deployment_id, runbook, environment_name, workload,
    service_version, deployment_status, actor, event, step, data, error_context, prev

- ``seq`` counts from 1 and equals the line number.
- ``ts`` is RFC 3339 UTC with milliseconds (``2026-11-26T01:30:00.123Z``).
- ``runbook`` is ``name@sha256`` of the runbook file's bytes.
- ``actor`` is ``{user, host, ssh_client, tty}`` of whoever caused the entry.
- ``prev`` is the hex SHA-256 of the previous line's exact bytes *including its
  terminating newline*; the first entry's ``prev`` is `GENESIS` (64 zeros), so the
  field always has the same shape.
- ``data`` and ``error_context`` are redacted (`console.redact.redact_data`).

Durability: `Journal.append` writes the whole line with one ``write``, then
``fsync``s the file before it returns, so a caller that proceeds after ``append``
knows the entry is on disk. The directory is fsynced once, when the file is
created, so the file's name survives a power loss too. A crash mid-write leaves
at most one torn final line (no trailing newline); `read_journal` reports it and
`Journal.open_existing` cuts it off before appending again. Any other damage is
`JournalCorrupt`, naming the line.

One writer at a time: a `Journal` holds an exclusive ``flock`` on its file for as
long as it is open, so a second process cannot resume a run that is still live
(`JournalBusy`), and `list_runs` can tell live runs from interrupted ones.

Data conventions (what `replay` reads; the executor writes them):

===================  ========================================================
event                data
===================  ========================================================
run.started          ``params``, ``steps`` (ids in order), ``from_version``,
                     ``to_version``, ``title``
lock.*               ``holder`` (LockHolder.to_json())
step.started         ``attempt`` (1, 2, … on retry), ``kind``
adapter.call         before the write: ``verb``, ``request``; after it:
                     ``verb``, ``result`` or ``error``
gate.measurement     free-form; the last one per step is kept
operator.<verb>      ``reason`` or ``text`` (``operator.note``: ``text``)
operator.feedback    ``answer`` (``up`` or ``down``), ``question``: the
                     operator's answer after the run ended, appended after
                     ``run.finished`` (see console/runbook/feedback.py)
phase.changed        ``phase``, ``message``
step.finished        ``state`` (passed, failed, skipped, …), ``message``
run.finished         ``outcome``, ``phase``, ``message``, ``from_version``,
                     ``to_version``
policy.refused       ``image``, ``rule`` (the image policy rule that refused it),
                     ``reason``, ``outcome`` (see console/image_policy.py)
image.resolved       ``requested`` (as the runbook wrote it), ``digest``,
                     ``image`` (the pinned reference written), ``source``
===================  ========================================================
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import math
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console import locations
from console.redact import redact_data
from console.runbook.actor import Actor, actor
from console.yaml_source import printable

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; single-writer is then unchecked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "EVENTS",
    "FEEDBACK_ANSWERS",
    "FIELDS",
    "GENESIS",
    "AdapterCallRecord",
    "Journal",
    "JournalBusy",
    "JournalCorrupt",
    "JournalProblem",
    "JournalRead",
    "Note",
    "RunHeader",
    "RunRecord",
    "RunSummary",
    "StepRecord",
    "journal_path",
    "list_runs",
    "new_run_id",
    "read_journal",
    "replay",
]

GENESIS = "0" * 64
"""``prev`` of the first entry."""

FIELDS: tuple[str, ...] = (
    "seq",
    "ts",
    "run_id",
    "deployment_id",
    "runbook",
    "environment_name",
    "workload",
    "service_version",
    "deployment_status",
    "actor",
    "event",
    "step",
    "data",
    "error_context",
    "prev",
)

EVENTS: tuple[str, ...] = (
    "run.started",
    "lock.acquired",
    "lock.released",
    "lock.broken",
    "step.started",
    "adapter.call",
    "gate.measurement",
    "phase.changed",
    "step.finished",
    "run.finished",
    "policy.refused",
    "image.resolved",
)
"""Known events; any ``operator.<verb>`` is accepted as well."""

_OPERATOR_EVENT = re.compile(r"operator\.[a-z][a-z0-9_-]{0,31}")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_STATUS_FIELDS = frozenset({"service_version", "deployment_status"})
SUFFIX = ".jsonl"


class JournalCorrupt(Exception):
    """A journal was changed or damaged after it was written.

    Attributes:
        path: The journal file.
        line: 1-based line where the damage was found (None for the whole file).
        reason: What is wrong.
    """

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


class JournalBusy(Exception):
    """Another process has this journal open (the run is live there)."""


@dataclass(frozen=True)
class JournalProblem:
    """Something tolerated while reading a journal (a torn final line).

    Attributes:
        line: 1-based line of the problem.
        message: What was found and what was done about it.
        offset: Byte offset where the tolerated part starts.
        length: Its length in bytes.
    """

    line: int
    message: str
    offset: int = 0
    length: int = 0

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class JournalRead:
    """A verified journal.

    Attributes:
        path: The file read.
        entries: Every complete entry, in order; the chain is verified.
        problems: Tolerated damage (at most one torn final line).
        valid_bytes: Length of the verified prefix; a writer resuming the run
            truncates the file to this.
        last_hash: SHA-256 of the last complete line (`GENESIS` when none): the
            next entry's ``prev``.
    """

    path: Path
    entries: list[dict[str, Any]]
    problems: list[JournalProblem]
    valid_bytes: int
    last_hash: str = GENESIS


@dataclass(frozen=True)
class RunHeader:
    """What every entry of a run repeats: which runbook, where, on what, by whom.

    Attributes:
        runbook: ``name@sha256`` (`LoadedRunbook.ref`).
        environment_name: The environment the run writes to.
        workload: The workload's label (``NAME`` or ``GROUP/NAME``).
        actor: Who started the run; `Journal.append` can name another actor per
            entry (an operator taking over).
        deployment_id: Correlates the journal with structured logs; the run id
            when None.
        service_version: The version serving now; entries carry the latest value.
        deployment_status: ``pending``, ``progressing``, ``succeeded`` … as the run
            goes; entries carry the latest value.
    """

    runbook: str
    environment_name: str
    workload: str
    actor: Actor = field(default_factory=actor)
    deployment_id: str | None = None
    service_version: str = ""
    deployment_status: str = "pending"


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by start time: ``20261126T013000Z-ab12cd``.

    Args:
        now: The start time (UTC); the current time when None.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def journal_path(run_id: str, directory: Path | None = None) -> Path:
    """Where a run's journal is.

    Args:
        run_id: The run id (from `new_run_id`, or typed by an operator for
            ``runbook resume``).
        directory: The runs directory; `console.locations.runs_dir` when None.

    Raises:
        ValueError: For a run id that is not a plain name (it must never reach
            outside the runs directory).
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"{printable(str(run_id), 60)!r} is not a run id (letters, digits, '-' and '_', "
            "as listed by 'watchfloor history')"
        )
    base = Path(directory) if directory is not None else locations.runs_dir()
    return base / f"{run_id}{SUFFIX}"


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of ``value``: what the journal can store of it."""
    if depth > 50:
        return "…"
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # Prometheus answers NaN and ±Inf, which strict JSON cannot hold.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, depth + 1)
    if isinstance(value, datetime):
        return _timestamp(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return _jsonable(to_json(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), depth + 1)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(item, depth + 1) for item in value), key=repr)
    return str(value)


def _encode(entry: dict[str, Any]) -> bytes:
    # ASCII-only: no raw newline, line separator or escape sequence can reach the
    # file, so one entry is always exactly one line and `cat` is safe.
    return (json.dumps(entry, ensure_ascii=True, separators=(",", ":"), allow_nan=False) + "\n").encode("ascii")


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(fd: int, path: Path) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JournalBusy(f"{path} is open in another watchfloor process: the run is still live there") from None


class Journal:
    """An open run journal that entries are appended to.

    Use `create` for a new run and `open_existing` to resume one; close it (or use
    it as a context manager) when the run is over, which releases the
    single-writer lock. `append` is thread-safe.

    Attributes:
        path: The journal file.
        run_id: The run.
        header: The run's fixed fields and the current actor.
        repairs: What `open_existing` had to cut off (a torn final line).
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        run_id: str,
        header: RunHeader,
        *,
        seq: int,
        last_hash: str,
        redact_values: Iterable[str],
        clock: Callable[[], datetime] | None,
        repairs: list[JournalProblem] | None = None,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.header = header
        self.repairs = repairs or []
        self._fd: int | None = fd
        self._seq = seq
        self._last_hash = last_hash
        self._status = {"service_version": header.service_version, "deployment_status": header.deployment_status}
        self._redact_values = tuple(redact_values)
        self._clock = clock or _now
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        run_id: str,
        header: RunHeader,
        directory: Path | None = None,
        *,
        redact_values: Iterable[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> Journal:
        """Create the journal of a new run; the first entry appended should be ``run.started``.

        Args:
            run_id: From `new_run_id`.
            header: The run's fixed fields.
            directory: The runs directory; `console.locations.runs_dir` when None.
            redact_values: Values declared secret in the config (``secrets:``),
                hidden wherever they appear.
            clock: Returns the time for ``ts`` (tests); UTC now when None.

        Raises:
            FileExistsError: When this run id already has a journal.
            ValueError: For a run id that is not a plain name.
        """
        path = journal_path(run_id, directory)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            _lock(fd, path)
            _fsync_directory(path.parent)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, run_id, header, seq=0, last_hash=GENESIS, redact_values=redact_values, clock=clock)

    @classmethod
    def open_existing(
        cls,
        path: Path | str,
        *,
        as_actor: Actor | None = None,
        redact_values: Iterable[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> Journal:
        """Open a run's journal to resume it: the chain and ``seq`` continue.

        A torn final line (the previous process died while writing it) is cut
        off and described in `repairs`; nothing after it was ever acted on,
        because `append` had not returned.

        Args:
            path: The journal file (`journal_path`).
            as_actor: Who resumes; the current process's identity when None.
            redact_values: As for `create`.
            clock: As for `create`.

        Raises:
            FileNotFoundError: When there is no such journal.
            JournalBusy: When another process still has it open.
            JournalCorrupt: When it is damaged beyond a torn final line, or empty.
        """
        path = Path(path)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        try:
            _lock(fd, path)
            read = read_journal(path)
            if not read.entries:
                raise JournalCorrupt(path, None, "the journal has no entries: the run never started")
            if read.problems:
                os.ftruncate(fd, read.valid_bytes)
                os.fsync(fd)
            first, last = read.entries[0], read.entries[-1]
            header = RunHeader(
                runbook=str(first.get("runbook", "")),
                environment_name=str(first.get("environment_name", "")),
                workload=str(first.get("workload", "")),
                actor=as_actor or actor(),
                deployment_id=first.get("deployment_id"),
                service_version=str(last.get("service_version") or ""),
                deployment_status=str(last.get("deployment_status") or ""),
            )
        except BaseException:
            os.close(fd)
            raise
        return cls(
            path,
            fd,
            str(first["run_id"]),
            header,
            seq=int(last["seq"]),
            last_hash=read.last_hash,
            redact_values=redact_values,
            clock=clock,
            repairs=list(read.problems),
        )

    @property
    def seq(self) -> int:
        """``seq`` of the last entry written (0 before the first)."""
        return self._seq

    @property
    def closed(self) -> bool:
        return self._fd is None

    def append(
        self,
        event: str,
        *,
        step: str | None = None,
        data: Mapping[str, Any] | None = None,
        error_context: Any = None,
        actor: Actor | None = None,
        **status: str,
    ) -> dict[str, Any]:
        """Write one entry and make it durable before returning.

        Args:
            event: One of `EVENTS` or ``operator.<verb>``.
            step: The step id the entry is about, if any.
            data: Facts about the event (see the module's table); redacted.
            error_context: What went wrong, for failures; redacted.
            actor: Who caused it, when not the header's actor (an operator verb
                given from another session).
            **status: New ``service_version`` and/or ``deployment_status``; they
                stay in force for later entries.

        Returns:
            The entry as written.

        Raises:
            ValueError: For an unknown event or status field.
            OSError: When the entry could not be written and synced (disk full);
                the file is then cut back to its previous length, so the journal
                stays valid, and the caller must not proceed.
        """
        if event not in EVENTS and not _OPERATOR_EVENT.fullmatch(event):
            raise ValueError(f"unknown journal event {event!r} (known: {', '.join(EVENTS)}, operator.<verb>)")
        unknown = set(status) - _STATUS_FIELDS
        if unknown:
            raise ValueError(f"unknown status field(s) {', '.join(sorted(unknown))}; use {', '.join(_STATUS_FIELDS)}")
        clean_data = redact_data(_jsonable(dict(data or {})), self._redact_values)
        clean_error = redact_data(_jsonable(error_context), self._redact_values) if error_context is not None else None
        who = actor or self.header.actor
        with self._lock:
            if self._fd is None:
                raise ValueError(f"journal {self.path} is closed")
            new_status = {**self._status, **{key: str(value) for key, value in status.items()}}
            entry = {
                "seq": self._seq + 1,
                "ts": _timestamp(self._clock()),
                "run_id": self.run_id,
                "deployment_id": self.header.deployment_id or self.run_id,
                "runbook": self.header.runbook,
                "environment_name": self.header.environment_name,
                "workload": self.header.workload,
                "service_version": new_status["service_version"],
                "deployment_status": new_status["deployment_status"],
                "actor": who.to_json(),
                "event": event,
                "step": step,
                "data": clean_data,
                "error_context": clean_error,
                "prev": self._last_hash,
            }
            line = _encode(entry)
            self._write_durably(line)
            self._seq += 1
            self._last_hash = _digest(line)
            self._status = new_status
        return entry

    def _write_durably(self, line: bytes) -> None:
        fd = self._fd
        assert fd is not None
        size = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except BaseException:
            # A partial line in the middle of the file would be corruption; cut it
            # so that the next append (or a resume) continues a valid chain.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            raise

    def close(self) -> None:
        """Release the file and its single-writer lock (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - a safety net, not the protocol
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def read_journal(path: Path | str) -> JournalRead:
    """Read a journal and verify its chain.

    Args:
        path: The journal file.

    Returns:
        The entries and any tolerated problem: one torn final line, which is
        ignored (the process died while writing it, before acting on it).

    Raises:
        FileNotFoundError: When there is no such file.
        JournalCorrupt: For any other damage: a line that is not JSON, a missing
            field, a ``seq`` out of order, a ``prev`` that does not match (a line
            was changed, removed or inserted), another run's entry.
    """
    path = Path(path)
    raw = path.read_bytes()
    *complete, torn = raw.split(b"\n")
    entries: list[dict[str, Any]] = []
    expected_prev = GENESIS
    run_id: str | None = None
    offset = 0
    for number, line in enumerate(complete, start=1):
        entry = _parse_line(path, number, line)
        if entry["seq"] != number:
            raise JournalCorrupt(path, number, f"seq is {entry['seq']}, expected {number}: a line was removed or inserted")
        if entry["prev"] != expected_prev:
            if number == 1:
                reason = "the first entry's prev is not the genesis value: the start of the journal is missing"
            else:
                reason = (
                    f"prev does not match the hash of line {number - 1}: line {number - 1} (or this line's prev) "
                    "was changed after it was written"
                )
            raise JournalCorrupt(path, number, reason)
        if run_id is None:
            run_id = entry["run_id"]
        elif entry["run_id"] != run_id:
            raise JournalCorrupt(path, number, f"entry of another run ({printable(entry['run_id'], 60)}) in this journal")
        expected_prev = _digest(line + b"\n")
        offset += len(line) + 1
        entries.append(entry)
    problems = []
    if torn:
        problems.append(
            JournalProblem(
                len(complete) + 1,
                f"the last line is incomplete ({len(torn)} bytes, no newline): the process stopped while writing "
                "it, before acting on it; it was ignored",
                offset,
                len(torn),
            )
        )
    return JournalRead(path, entries, problems, offset, expected_prev)


def _parse_line(path: Path, number: int, line: bytes) -> dict[str, Any]:
    if not line:
        raise JournalCorrupt(path, number, "empty line")
    try:
        entry = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise JournalCorrupt(path, number, "the line is not UTF-8 (bytes were changed)") from None
    except ValueError as exc:
        raise JournalCorrupt(path, number, f"the line is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(entry, dict):
        raise JournalCorrupt(path, number, "the line is not a JSON object")
    missing = [name for name in FIELDS if name not in entry]
    if missing:
        raise JournalCorrupt(path, number, f"missing field(s): {', '.join(missing)}")
    for name, kind in (("seq", int), ("prev", str), ("run_id", str), ("event", str), ("ts", str)):
        if not isinstance(entry[name], kind) or isinstance(entry[name], bool):
            raise JournalCorrupt(path, number, f"field {name} has the wrong type")
    return entry


# --- replay ----------------------------------------------------------------------------


@dataclass
class AdapterCallRecord:
    """The last adapter write of a step, as far as the journal knows.

    Attributes:
        verb: deploy, rollback, restart, scale, …
        request: What was about to be sent (journaled before sending).
        result: What the adapter returned, if it returned.
        error: The error it raised, if it raised.
        requested_seq: ``seq`` of the request entry.
        answered_seq: ``seq`` of the result or error entry.
    """

    verb: str
    request: Any = None
    result: Any = None
    error: Any = None
    requested_seq: int | None = None
    answered_seq: int | None = None

    @property
    def unanswered(self) -> bool:
        """The request was journaled but no answer: the write may or may not have happened."""
        return self.requested_seq is not None and self.answered_seq is None


@dataclass
class StepRecord:
    """What the journal says about one step.

    Attributes:
        id: The step id.
        state: ``pending`` (never started), ``interrupted`` (started, never
            finished), or the ``state`` its last ``step.finished`` recorded.
        attempts: How many times it was started.
        started: When it was last started.
        finished: When it last finished (None while interrupted).
        message: The last ``step.finished`` message.
        last_call: Its last adapter write, if any.
        last_measurement: Its last ``gate.measurement`` data, if any.
        measurements: How many measurements it recorded.
    """

    id: str
    state: str = "pending"
    attempts: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    message: str = ""
    last_call: AdapterCallRecord | None = None
    last_measurement: Any = None
    measurements: int = 0


@dataclass(frozen=True)
class Note:
    """An ``operator.note``, or the reason given with another operator verb."""

    ts: datetime | None
    actor: Actor
    event: str
    text: str
    step: str | None = None


@dataclass
class RunRecord:
    """A run rebuilt from its journal (for resume, history and DORA figures).

    Attributes:
        run_id, deployment_id, runbook (``name@sha256``), environment_name,
        workload: From the entries.
        started_by: The actor of the first entry.
        started, finished: Times of the first entry and of ``run.finished``.
        params: ``run.started``'s params.
        steps: One record per step id, in the runbook's order (``run.started``'s
            ``steps``), then any others in the order they appear.
        phase, phase_message: From the last ``phase.changed``.
        outcome: From ``run.finished`` (None while unfinished).
        from_version, to_version: From ``run.started``, updated by ``run.finished``.
        service_version, deployment_status: The last entry's.
        notes: Operator notes and the reasons given with operator verbs.
        operator_events: Every ``operator.*`` entry, in order.
        lock_held: A lock was acquired and not released or broken since.
        first_failure: When the run first saw something fail: a Prometheus
            measurement with verdict ``fail`` or a ``step.finished`` ``failed``.
        first_healthy: When the run first saw the workload healthy: a passed
            health measurement, a passed gate step or rollback step.
        rollback_healthy: The same, counting only the automatic rollback step
            (the run put the old version back and saw it healthy).
        feedback: The operator's answer after the run (``up``/``down``), if any.
        feedback_by: Who answered (``user@host``).
        last_seq: ``seq`` of the last entry.
    """

    run_id: str
    deployment_id: str
    runbook: str
    environment_name: str
    workload: str
    started_by: Actor
    started: datetime | None
    finished: datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    phase: str = "Pending"
    phase_message: str = ""
    outcome: str | None = None
    from_version: str = ""
    to_version: str = ""
    service_version: str = ""
    deployment_status: str = ""
    notes: list[Note] = field(default_factory=list)
    operator_events: list[dict[str, Any]] = field(default_factory=list)
    lock_held: bool = False
    last_seq: int = 0
    first_failure: datetime | None = None
    first_healthy: datetime | None = None
    rollback_healthy: datetime | None = None
    feedback: str | None = None
    feedback_by: str = ""
    refused: bool = False
    """Something refused this run's change: the image policy (``policy.refused``), or a
    write the backend turned down before acting (an ``adapter.call`` error of a refusal
    kind: bad input, not found, forbidden, read-only, conflict)."""
    wrote: bool = False
    """A write may have taken effect: one returned a result, failed in a way that may
    have left part of it done, or was sent and never answered (a crash)."""

    @property
    def refused_unwritten(self) -> bool:
        """Refused before any write took effect: nothing changed, whatever the outcome."""
        return self.refused and not self.wrote

    @property
    def runbook_name(self) -> str:
        return self.runbook.partition("@")[0]

    @property
    def is_finished(self) -> bool:
        return self.outcome is not None

    @property
    def interrupted(self) -> list[StepRecord]:
        """Steps started and never finished: resume must ask what to do with each."""
        return [step for step in self.steps.values() if step.state == "interrupted"]

    @property
    def duration(self) -> timedelta | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


_ROLLBACK_STEP = "rollback"
"""The step id the executor journals its automatic rollback under (executor.ROLLBACK_STEP)."""

FEEDBACK_ANSWERS = ("up", "down")
"""``operator.feedback`` answers: 👍 and 👎."""


def _healthy(record: RunRecord, step_id: str | None, ts: datetime | None) -> None:
    if ts is None:
        return
    record.first_healthy = record.first_healthy or ts
    if step_id == _ROLLBACK_STEP:
        record.rollback_healthy = record.rollback_healthy or ts


def replay(entries: list[dict[str, Any]]) -> RunRecord:
    """Rebuild a run from its (verified) entries.

    Args:
        entries: `JournalRead.entries`.

    Returns:
        The run as the journal records it.

    Raises:
        ValueError: When there are no entries.
    """
    if not entries:
        raise ValueError("an empty journal holds no run")
    first = entries[0]
    record = RunRecord(
        run_id=_text(first.get("run_id")),
        deployment_id=_text(first.get("deployment_id")),
        runbook=_text(first.get("runbook")),
        environment_name=_text(first.get("environment_name")),
        workload=_text(first.get("workload")),
        started_by=Actor.from_json(first.get("actor")),
        started=_parse_ts(first.get("ts")),
    )

    def step_record(step_id: str) -> StepRecord:
        if step_id not in record.steps:
            record.steps[step_id] = StepRecord(step_id)
        return record.steps[step_id]

    kinds: dict[str, str] = {}

    for entry in entries:
        event = entry.get("event")
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        step_id = entry.get("step") if isinstance(entry.get("step"), str) else None
        ts = _parse_ts(entry.get("ts"))
        if event == "run.started":
            record.params = dict(data.get("params") or {})
            for declared in data.get("steps") or []:
                if isinstance(declared, str):
                    step_record(declared)
            record.from_version = _text(data.get("from_version")) or record.from_version
            record.to_version = _text(data.get("to_version")) or record.to_version
        elif event == "lock.acquired":
            record.lock_held = True
        elif event in ("lock.released", "lock.broken"):
            record.lock_held = False
        elif event == "step.started" and step_id:
            kinds[step_id] = _text(data.get("kind"))
            step = step_record(step_id)
            step.state = "interrupted"  # until its step.finished says otherwise
            step.attempts += 1
            step.started = ts
            step.finished = None
            step.message = ""
        elif event == "step.finished" and step_id:
            step = step_record(step_id)
            step.state = _text(data.get("state")) or "passed"
            step.finished = ts
            step.message = _text(data.get("message"))
            if step.state == "failed":
                record.first_failure = record.first_failure or ts
            elif step.state == "passed" and (kinds.get(step_id) == "gate" or step_id == _ROLLBACK_STEP):
                _healthy(record, step_id, ts)
        elif event == "policy.refused":
            record.refused = True
        elif event == "adapter.call" and step_id:
            step = step_record(step_id)
            request = data.get("request")
            verb = _text(data.get("verb")) or _text(request.get("verb") if isinstance(request, dict) else None)
            # The answer repeats the request beside its result, error or skip.
            if "result" in data or "error" in data or "skipped" in data:
                call = step.last_call
                if call is None or call.answered_seq is not None:
                    call = step.last_call = AdapterCallRecord(verb, request=request)
                call.result = data.get("result")
                call.error = data.get("error")
                call.answered_seq = entry.get("seq")
                if "result" in data or ("error" in data and not _refusal(data["error"])):
                    record.wrote = True
                elif "error" in data:
                    record.refused = True
            else:
                step.last_call = AdapterCallRecord(verb, request=request, requested_seq=entry.get("seq"))
        elif event == "gate.measurement" and step_id:
            step = step_record(step_id)
            step.last_measurement = data
            step.measurements += 1
            if data.get("verdict") == "fail":
                record.first_failure = record.first_failure or ts
            elif data.get("pass") is True or data.get("verdict") == "pass":
                _healthy(record, step_id, ts)
        elif event == "phase.changed":
            record.phase = _text(data.get("phase")) or record.phase
            record.phase_message = _text(data.get("message"))
        elif event == "run.finished":
            record.outcome = _text(data.get("outcome")) or "unknown"
            record.phase = _text(data.get("phase")) or record.phase
            record.phase_message = _text(data.get("message")) or record.phase_message
            record.from_version = _text(data.get("from_version")) or record.from_version
            record.to_version = _text(data.get("to_version")) or record.to_version
            record.finished = ts
        elif event == "operator.feedback" and data.get("answer") in FEEDBACK_ANSWERS:
            # After run.finished, so it never changes the outcome, times or versions.
            record.operator_events.append(entry)
            record.feedback = data["answer"]
            record.feedback_by = Actor.from_json(entry.get("actor")).label
        elif isinstance(event, str) and event.startswith("operator."):
            record.operator_events.append(entry)
            text = _text(data.get("text")) or _text(data.get("reason"))
            if text:
                record.notes.append(Note(ts, Actor.from_json(entry.get("actor")), event, text, step_id))
        record.service_version = _text(entry.get("service_version"))
        record.deployment_status = _text(entry.get("deployment_status"))
        record.last_seq = entry.get("seq") if isinstance(entry.get("seq"), int) else record.last_seq
    if any(step.last_call is not None and step.last_call.answered_seq is None for step in record.steps.values()):
        record.wrote = True  # sent, never answered: it may have happened
    return record


_REFUSAL_KINDS = frozenset({"bad_input", "not_found", "forbidden", "read_only", "conflict"})
"""``adapters.base.ErrorKind`` values of a write the backend refused before acting."""


def _refusal(error: object) -> bool:
    return isinstance(error, dict) and error.get("kind") in _REFUSAL_KINDS


# --- history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """One run, for ``watchfloor history`` and DORA figures.

    Attributes:
        run_id: The run.
        runbook: The runbook's name.
        runbook_ref: ``name@sha256``.
        environment_name, workload: Where it ran.
        actor: ``user@host`` of whoever started it.
        started, finished: Start and end (finished None while unfinished).
        outcome: ``succeeded``, ``rolled_back``, ``failed``, ``aborted``; None
            while unfinished.
        phase: The last phase.
        from_version, to_version: What was serving before, and what the run
            deployed.
        duration: finished - started, when finished.
        live: Another process has the journal open right now (the run is going
            on); unfinished and not live means interrupted (resumable).
        path: The journal.
        first_failure, first_healthy, rollback_healthy, feedback, feedback_by, refused_unwritten:
            As in `RunRecord` (for delivery figures, console/runbook/dora.py).
        problem: Why the journal could not be read, when it could not (the other
            fields are then mostly empty).
    """

    run_id: str
    runbook: str
    runbook_ref: str
    environment_name: str
    workload: str
    actor: str
    started: datetime | None
    finished: datetime | None
    outcome: str | None
    phase: str
    from_version: str
    to_version: str
    duration: timedelta | None
    live: bool
    path: Path
    problem: str | None = None
    first_failure: datetime | None = None
    first_healthy: datetime | None = None
    rollback_healthy: datetime | None = None
    feedback: str | None = None
    feedback_by: str = ""
    refused_unwritten: bool = False

    @property
    def status(self) -> str:
        """The outcome, else ``running`` or ``interrupted``, else ``unreadable``."""
        if self.problem is not None:
            return "unreadable"
        return self.outcome or ("running" if self.live else "interrupted")


def _is_live(path: Path) -> bool:
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def _run_started_from_id(run_id: str) -> datetime | None:
    try:
        return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _summary(path: Path) -> RunSummary:
    run_id = path.name[: -len(SUFFIX)]
    live = _is_live(path)
    try:
        read = read_journal(path)
        if not read.entries:
            raise JournalCorrupt(path, None, "no entries: the run never started")
        record = replay(read.entries)
    except (OSError, JournalCorrupt) as exc:
        return RunSummary(
            run_id, "", "", "", "", "", _run_started_from_id(run_id), None, None, "", "", "", None, live, path, str(exc)
        )
    return RunSummary(
        run_id=record.run_id or run_id,
        runbook=record.runbook_name,
        runbook_ref=record.runbook,
        environment_name=record.environment_name,
        workload=record.workload,
        actor=record.started_by.label,
        started=record.started,
        finished=record.finished,
        outcome=record.outcome,
        phase=record.phase,
        from_version=record.from_version,
        to_version=record.to_version,
        duration=record.duration,
        live=live,
        path=path,
        first_failure=record.first_failure,
        first_healthy=record.first_healthy,
        rollback_healthy=record.rollback_healthy,
        feedback=record.feedback,
        feedback_by=record.feedback_by,
        refused_unwritten=record.refused_unwritten,
    )


def list_runs(directory: Path | None = None) -> list[RunSummary]:
    """Every run that has a journal, newest first.

    A damaged journal is listed with its `RunSummary.problem` instead of hiding
    the others.

    Args:
        directory: The runs directory; `console.locations.runs_dir` when None.
    """
    base = Path(directory) if directory is not None else locations.runs_dir()
    try:
        paths = [p for p in base.iterdir() if p.name.endswith(SUFFIX) and _RUN_ID.fullmatch(p.name[: -len(SUFFIX)])]
    except FileNotFoundError:
        return []
    summaries = [_summary(path) for path in paths]
    oldest = datetime.min.replace(tzinfo=UTC)
    summaries.sort(key=lambda s: (s.started or oldest, s.run_id), reverse=True)
    return summaries
