"""Crafted run journals, written through the real journal API (``Journal.create`` /
``append`` with a test clock), for delivery-figure, CLI and History screen tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from console.runbook import Actor, Journal, RunHeader, journal_path, new_run_id
from console.runbook.feedback import record_feedback

ANA = Actor("ana", "bastion-1", None, "/dev/pts/3")
NOW = datetime.fromisoformat("2026-11-26T12:00:00+00:00")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, start: datetime, seconds: float) -> None:
        self.now = start + timedelta(seconds=seconds)


def write_run(
    directory: Path,
    start: datetime,
    *,
    runbook: str = "deploy",
    environment: str = "prod",
    workload: str = "shop/web",
    outcome: str | None = "succeeded",
    seconds: float = 60,
    to_version: str = "1.5.0",
    events: Iterable[tuple[float, str, str | None, dict]] = (),
    feedback: str | None = None,
    by: Actor = ANA,
) -> Path:
    """One run's journal: ``run.started`` at ``start``, then ``events`` as
    (seconds after start, event, step, data), then ``run.finished`` with ``outcome``
    ``seconds`` after start (none when ``outcome`` is None: the run is interrupted),
    then the operator's ``feedback`` (``up``/``down``) a few seconds later."""
    run_id = new_run_id(start)
    clock = Clock(start)
    header = RunHeader(runbook=f"{runbook}@{'ab' * 32}", environment_name=environment, workload=workload, actor=by)
    with Journal.create(run_id, header, directory, clock=clock) as journal:
        journal.append("run.started", data={"params": {}, "steps": [], "from_version": "1.4.0", "to_version": to_version})
        for offset, event, step, data in events:
            clock.at(start, offset)
            journal.append(event, step=step, data=data)
        if outcome is not None:
            clock.at(start, seconds)
            phase = {"succeeded": "Healthy", "rolled_back": "RolledBack", "failed": "Degraded", "aborted": "Aborted"}[outcome]
            journal.append("run.finished", data={"outcome": outcome, "phase": phase, "message": "", "to_version": to_version})
    path = journal_path(run_id, directory)
    if feedback is not None:
        clock.at(start, seconds + 5)
        record_feedback(path, feedback, by=by, clock=clock)
    return path


def gate_failure(offset: float, step: str = "error-rate") -> tuple:
    """A Prometheus measurement with verdict fail."""
    return (offset, "gate.measurement", step, {"query": "rate(errors[1m])", "value": [0.4], "verdict": "fail", "phase": "running"})


def healthy(offset: float, step: str = "healthy") -> tuple:
    """A health-gate measurement that saw the workload healthy."""
    return (offset, "gate.measurement", step, {"observed": {"health": "healthy"}, "pass": True})


def failed_step(offset: float, step: str = "healthy") -> tuple:
    return (offset, "step.finished", step, {"state": "failed", "message": "not healthy within 5m"})


def rollback_seen_healthy(offset: float) -> list[tuple]:
    """The executor's automatic rollback, ending with its health check passed."""
    return [
        (offset, "step.started", "rollback", {"kind": "action", "why": "gate failed"}),
        (offset + 1, "gate.measurement", "rollback", {"observed": {"health": "healthy"}, "pass": True}),
        (offset + 2, "step.finished", "rollback", {"state": "passed", "message": "rolled back"}),
    ]
