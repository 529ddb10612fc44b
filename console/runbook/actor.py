"""Who is running a runbook: the identity every journal entry records (DESIGN §5).

On a shared bastion several operators may be logged in as different users, or as
the same one over different SSH connections; user, host, ``SSH_CLIENT`` and tty
together tell them apart in an audit.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

from console.yaml_source import printable

__all__ = ["Actor", "actor"]


@dataclass(frozen=True)
class Actor:
    """An operator's identity.

    Attributes:
        user: The login name.
        host: This machine's host name.
        ssh_client: ``$SSH_CLIENT`` ("client-ip client-port server-port") when
            logged in over SSH, else None.
        tty: The terminal device of stdin, else None (a pipeline, CI).
    """

    user: str
    host: str
    ssh_client: str | None = None
    tty: str | None = None

    @property
    def label(self) -> str:
        """``user@host``, as lock holders and the UI show it."""
        return f"{self.user}@{self.host}"

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "host": self.host, "ssh_client": self.ssh_client, "tty": self.tty}

    @classmethod
    def from_json(cls, data: Any) -> Actor:
        """Read back what `to_json` wrote; missing or odd fields become ``?``/None."""
        if not isinstance(data, dict):
            return cls("?", "?")

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return cls(text("user") or "?", text("host") or "?", text("ssh_client"), text("tty"))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No passwd entry (a container running as an arbitrary uid) and no
        # LOGNAME/USER: the uid is still an identity.
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _tty() -> str | None:
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return os.ttyname(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdin closed or replaced by an object without a descriptor
    return None


def actor() -> Actor:
    """The identity of whoever runs this process.

    Values come from the environment, which the operator controls; they are made
    printable (no escape sequences) but otherwise recorded as found.
    """
    ssh_client = os.environ.get("SSH_CLIENT") or None
    tty = _tty()
    return Actor(
        user=printable(_user(), 64),
        host=printable(socket.gethostname() or "localhost", 253),
        ssh_client=printable(ssh_client, 128) if ssh_client else None,
        tty=printable(tty, 128) if tty else None,
    )
