"""Headless ``watchfloor logs ENV/WORKLOAD``: lines to stdout, neutralised and redacted."""

from __future__ import annotations

import sys
import time
from datetime import datetime

from adapters.base import AdapterError
from console.backends import Backend
from console.log_feed import LogRequest, open_feed
from console.redact import redact_text
from console.terminal_text import neutralise, strip_sgr


def find_workload(replicas, target: str):
    """Replicas of the workload named ``NAME`` or ``GROUP/NAME``; (matches, error)."""
    group, _, name = target.rpartition("/")
    keys = {r.workload for r in replicas if r.workload.name == name and (not group or r.workload.group == group)}
    if not keys:
        return [], f"no workload named {target!r}"
    if len(keys) > 1:
        options = ", ".join(sorted(k.label for k in keys))
        return [], f"{target!r} is ambiguous; say GROUP/NAME: {options}"
    key = keys.pop()
    return sorted((r for r in replicas if r.workload == key), key=lambda r: r.name), None


def print_logs(backend: Backend, target: str, *, follow: bool, since: datetime | None, tail: int | None) -> int:
    adapter = backend.make_adapter()
    try:
        adapter.connect()
        snapshot = adapter.snapshot()
    except AdapterError as error:
        print(f"watchfloor: {backend.environment.name}: {error.summary}", file=sys.stderr)
        return 3
    finally:
        adapter.close()
    replicas, problem = find_workload(snapshot.replicas, target)
    if problem:
        print(f"watchfloor: {backend.environment.name}: {problem}", file=sys.stderr)
        return 2
    feed = open_feed(backend.make_adapter, replicas, LogRequest(follow=follow, since=since, tail=tail))
    colour = sys.stdout.isatty()
    prefix = len(replicas) > 1
    try:
        while True:
            batch = feed.take()
            for line in batch:
                text = neutralise(redact_text(line.text), keep_sgr=colour)
                if not colour:
                    text = strip_sgr(text)
                head = f"{line.replica} | " if prefix else ""
                sys.stdout.write(f"{head}{text}\n")
            sys.stdout.flush()
            status = feed.status()
            if status.ended and not feed.pending():
                for error in status.errors:
                    print(f"watchfloor: {error}", file=sys.stderr)
                return 0
            if not batch:
                time.sleep(0.05)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    finally:
        feed.close()
