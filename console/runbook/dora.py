"""DORA figures from run journals (DESIGN §5): how often, how safely, how fast back.

Pure: it takes ``RunSummary`` values (``journal.list_runs``) and a clock. Only runs
that change what serves count as deployments: ``deploy`` and ``rollback`` runbooks,
or any runbook that recorded a ``to_version``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

DEPLOYING_RUNBOOKS = frozenset({"deploy", "rollback"})
FAILED = frozenset({"failed", "rolled_back"})


@dataclass(frozen=True, slots=True)
class DoraFigures:
    window_days: int
    deployments: int
    per_day: float
    """Deployment frequency: finished deployments per day over the window."""
    change_failure_rate: float | None
    """Failed or rolled-back deployments over all finished deployments; None with none."""
    success_rate: float | None
    recovery_median: timedelta | None
    """Failed-deployment recovery time: from a failed deployment to the next succeeded
    one of the same workload, median; None when nothing failed and recovered."""

    def line(self) -> str:
        def percent(value: float | None) -> str:
            return "-" if value is None else f"{value * 100:.0f}%"

        recovery = "-" if self.recovery_median is None else _short(self.recovery_median)
        return (
            f"{self.deployments} deployments in {self.window_days}d ({self.per_day:.1f}/day) · "
            f"change failure rate {percent(self.change_failure_rate)} · success {percent(self.success_rate)} · "
            f"recovery {recovery}"
        )


def is_deployment(run) -> bool:
    return run.runbook in DEPLOYING_RUNBOOKS or bool(run.to_version)


def dora(runs: Iterable, *, now: datetime, window_days: int = 30) -> DoraFigures:
    since = now - timedelta(days=window_days)
    finished = sorted(
        (r for r in runs if is_deployment(r) and r.outcome and r.finished and r.finished >= since),
        key=lambda r: r.finished,
    )
    total = len(finished)
    failed = [r for r in finished if r.outcome in FAILED]
    succeeded = [r for r in finished if r.outcome == "succeeded"]
    recoveries: list[timedelta] = []
    for failure in failed:
        later = [
            r for r in succeeded
            if (r.environment_name, r.workload) == (failure.environment_name, failure.workload) and r.finished > failure.finished
        ]
        if later:
            recoveries.append(later[0].finished - failure.finished)
    counted = [r for r in finished if r.outcome != "aborted"]
    return DoraFigures(
        window_days=window_days,
        deployments=total,
        per_day=total / window_days,
        change_failure_rate=(len(failed) / len(counted)) if counted else None,
        success_rate=(len(succeeded) / len(counted)) if counted else None,
        recovery_median=timedelta(seconds=median(d.total_seconds() for d in recoveries)) if recoveries else None,
    )


def _short(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
