"""Per-workload run locks as files in the state directory (DESIGN §5, for Docker).

A Docker engine has no lease object, so the lock that stops two operators deploying
the same workload at once is a file, ``<state_dir>/locks/<env>.<group>.<name>.lock``,
holding ``LockHolder.to_json()``. It serialises runs started on this machine (the
bastion operators share); consoles on other machines keep their own state directory
and do not see it.

A lock is *stale* when its holder's process is gone (same host, pid dead) or when it
was not renewed for its ttl. Acquiring never breaks a stale lock by itself: it raises
a conflict that says "stale", so the UI or CLI can offer to break it with a
confirmation that is journaled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from adapters.base import AdapterError, ErrorKind, LockHolder
from console.model import WorkloadKey

GUARD_NAME = ".guard"
SUFFIX = ".lock"


class LockConflict(AdapterError):
    """``ErrorKind.CONFLICT``: someone else holds the lock. Carries who, and whether it looks stale."""

    def __init__(self, key: WorkloadKey, holder: LockHolder, stale_reason: str | None) -> None:
        summary = f"{key.label} is locked by {describe(holder)}"
        if stale_reason:
            summary += f"; the lock looks stale ({stale_reason}) and may be broken"
        super().__init__(
            ErrorKind.CONFLICT,
            summary,
            admin_detail=json.dumps(holder.to_json(), sort_keys=True),
        )
        self.holder = holder
        """Who holds the lock."""
        self.stale_reason = stale_reason
        """Why the lock looks abandoned, or None when its holder seems alive."""


def describe(holder: LockHolder) -> str:
    """One phrase naming a holder: "alice@bastion (run r-1, pid 4242 on bastion) since 2026-11-26 10:00:03 UTC"."""
    started = holder.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{holder.holder} (run {holder.run_id}, pid {holder.pid} on {holder.host}) since {started}"


def holder_from_json(data: dict) -> LockHolder:
    """The inverse of ``LockHolder.to_json()``; raises ValueError (or KeyError, TypeError) on bad data."""
    renewed = data.get("renewed")
    return LockHolder(
        holder=str(data["holder"]),
        run_id=str(data["run_id"]),
        pid=int(data["pid"]),
        host=str(data["host"]),
        started=_aware(datetime.fromisoformat(data["started"])),
        renewed=_aware(datetime.fromisoformat(renewed)) if renewed else None,
        ttl_seconds=int(data.get("ttl_seconds", 60)),
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


class LockFiles:
    """The lock files of one state directory.

    Every change happens under an ``flock`` on ``<directory>/.guard``, so acquire,
    renew, release and break of processes on this machine never interleave; the lock
    file itself is created by hard-linking a fully written temporary file, which is
    atomic and fails if the lock exists (O_CREAT|O_EXCL on the lock path would leave an
    empty lock file behind if the process died before writing it).
    """

    def __init__(
        self,
        directory: Path,
        *,
        hostname: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._hostname = hostname or socket.gethostname()
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- the protocol's verbs -------------------------------------------------------

    def acquire(self, key: WorkloadKey, holder: LockHolder) -> LockHolder:
        """Take the lock, or raise :class:`LockConflict` naming whoever has it.

        The same holder (run id, pid and host) acquiring again just renews it.
        """
        written = _renewed(holder, self._clock())
        with self._guard():
            path = self.path_for(key)
            current = self._read(path)
            if current is not None:
                if _same(current, holder):
                    self._replace(path, written)
                    return written
                raise LockConflict(key, current, self.stale_reason(current))
            try:
                self._create(path, written)
            except FileExistsError:
                # Only a process not using the guard (another version) can get here.
                current = self._read(path) or written
                raise LockConflict(key, current, self.stale_reason(current)) from None
        return written

    def renew(self, key: WorkloadKey, holder: LockHolder) -> LockHolder:
        """Push the lock's ``renewed`` time forward; raise CONFLICT if ``holder`` lost it."""
        with self._guard():
            path = self.path_for(key)
            current = self._read(path)
            if current is None:
                raise AdapterError(
                    ErrorKind.CONFLICT,
                    f"the lock on {key.label} is gone: someone broke it while run {holder.run_id} held it",
                )
            if not _same(current, holder):
                raise LockConflict(key, current, self.stale_reason(current))
            written = _renewed(current, self._clock())
            self._replace(path, written)
        return written

    def release(self, key: WorkloadKey, holder: LockHolder) -> None:
        """Remove the lock if ``holder`` still holds it; otherwise leave it alone."""
        with self._guard():
            path = self.path_for(key)
            current = self._read(path)
            if current is not None and _same(current, holder):
                path.unlink(missing_ok=True)

    def holder(self, key: WorkloadKey) -> LockHolder | None:
        """Who holds the lock now, or None."""
        return self._read(self.path_for(key))

    def break_lock(self, key: WorkloadKey) -> LockHolder | None:
        """Remove the lock whoever holds it; return who did."""
        with self._guard():
            path = self.path_for(key)
            current = self._read(path)
            path.unlink(missing_ok=True)
        return current

    def stale_reason(self, holder: LockHolder) -> str | None:
        """Why ``holder``'s lock looks abandoned, or None when it looks alive."""
        if holder.host == self._hostname and not pid_alive(holder.pid):
            return f"pid {holder.pid} on {holder.host} is gone"
        last = holder.renewed or holder.started
        idle = (self._clock() - last).total_seconds()
        if idle > holder.ttl_seconds:
            return f"not renewed for {idle:.0f} s, ttl {holder.ttl_seconds} s"
        return None

    # -- files ---------------------------------------------------------------------

    def path_for(self, key: WorkloadKey) -> Path:
        """The lock file of a workload; names are escaped so no two keys share a file."""
        parts = (key.env, key.group or "-", key.name)
        return self.directory / (".".join(_escape(part) for part in parts) + SUFFIX)

    def _read(self, path: Path) -> LockHolder | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise AdapterError(
                ErrorKind.BACKEND, f"cannot read the lock file {path}", developer_detail=repr(error)
            ) from error
        try:
            return holder_from_json(json.loads(text))
        except (ValueError, KeyError, TypeError):
            # Held by nobody we can name: report it so, and let its age make it stale.
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            return LockHolder(
                holder="unknown (unreadable lock file)",
                run_id="?",
                pid=0,
                host="?",
                started=modified,
                ttl_seconds=0,
            )

    def _create(self, path: Path, holder: LockHolder) -> None:
        temporary = self._write_temporary(holder)
        try:
            os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        self._sync_directory()

    def _replace(self, path: Path, holder: LockHolder) -> None:
        temporary = self._write_temporary(holder)
        try:
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._sync_directory()

    def _write_temporary(self, holder: LockHolder) -> Path:
        temporary = self.directory / f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (json.dumps(holder.to_json(), sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return temporary

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.directory / GUARD_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise AdapterError(
                ErrorKind.BACKEND,
                f"cannot use the lock directory {self.directory}",
                admin_detail=str(error),
                developer_detail=repr(error),
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock


def _same(a: LockHolder, b: LockHolder) -> bool:
    return (a.run_id, a.pid, a.host) == (b.run_id, b.pid, b.host)


def _renewed(holder: LockHolder, now: datetime) -> LockHolder:
    return dataclasses.replace(holder, renewed=now)


def _escape(part: str) -> str:
    # quote() leaves "." alone; it separates the parts, so it is escaped too.
    return quote(part, safe="-_").replace(".", "%2E")
