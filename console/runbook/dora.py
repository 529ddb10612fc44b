"""Delivery figures from run journals (DESIGN §5): DORA's four keys, durations, satisfaction.

Pure: it takes ``RunSummary`` values (``journal.list_runs``) and a clock, and knows
nothing of files or Textual. The definitions are written out, with the JSON field
list, in docs/delivery-metrics.md; this module is their one implementation (the
``history`` CLI, the History screens and the tests all read them from here).

In short, over a window of days ending now:

- a *deployment* is a finished run that changed what serves: the ``deploy``
  runbook or any runbook that recorded a ``to_version`` (canary, blue-green …),
  but not a ``rollback`` run, and not one that ended ``aborted`` (it was refused,
  or stopped before it changed anything — counted apart as ``aborted``);
- a deployment is a *change failure* when it ended ``failed`` or ``rolled_back``,
  or when a ``rollback`` run of the same workload started within the revert window
  (default 1 h) after it finished, before any other deployment of that workload;
- *recovery* runs from the failure's first sign (a Prometheus measurement with
  verdict ``fail`` or a failed step; else the deployment's end) to the workload's
  next healthy sign (its own automatic rollback seen healthy, else a later run's
  first passed health measurement or gate, or a later run that succeeded);
- durations are run durations (start → ``run.finished``); medians everywhere;
- *satisfaction* is 👍 over answered, from ``operator.feedback`` (feedback.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median

DEFAULT_WINDOW_DAYS = 30
DEFAULT_REVERT_WINDOW = timedelta(hours=1)
DEPLOYING_RUNBOOKS = frozenset({"deploy"})
REVERTING_RUNBOOKS = frozenset({"rollback"})
FAILED = frozenset({"failed", "rolled_back"})


def is_rollback(run) -> bool:
    """A run of a rollback runbook: it puts an earlier version back."""
    return run.runbook in REVERTING_RUNBOOKS


def is_deployment(run) -> bool:
    """A run that ships a change: ``deploy``, or any runbook that recorded a ``to_version``."""
    return not is_rollback(run) and (run.runbook in DEPLOYING_RUNBOOKS or bool(run.to_version))


def _finished(run) -> bool:
    return getattr(run, "problem", None) is None and run.outcome is not None and run.finished is not None


@dataclass(frozen=True, slots=True)
class _Judged:
    """One finished run with what the whole history says about it."""

    run: object
    kind: str
    """``deployment``, ``rollback`` or ``other``."""
    counted: bool
    """A deployment or rollback that did not end aborted."""
    failure: bool = False
    reverted: bool = False
    recovery: timedelta | None = None


def _aborted(run) -> bool:
    """Ended aborted, or refused (by the image policy, or by the backend) before any
    write took effect: either way it changed nothing — an attempt, not a failed change."""
    return run.outcome == "aborted" or bool(getattr(run, "refused_unwritten", False))


def _workload(run) -> tuple[str, str]:
    return run.environment_name, run.workload


def _judge(runs: Sequence, revert_window: timedelta) -> list[_Judged]:
    """Classify every finished run, attributing reverts and recoveries per workload."""
    finished = sorted((r for r in runs if _finished(r)), key=lambda r: (r.started or r.finished, r.run_id))
    by_workload: dict[tuple[str, str], list] = {}
    for run in finished:
        by_workload.setdefault(_workload(run), []).append(run)
    reverted: set[str] = set()
    for history in by_workload.values():
        last_deployment = None
        for run in history:
            if is_deployment(run) and not _aborted(run):
                last_deployment = run
            elif is_rollback(run) and not _aborted(run) and last_deployment is not None:
                started = run.started or run.finished
                if last_deployment.outcome == "succeeded" and started - last_deployment.finished <= revert_window:
                    reverted.add(last_deployment.run_id)
                last_deployment = None  # one rollback reverts one deployment
    judged = []
    for run in finished:
        kind = "deployment" if is_deployment(run) else "rollback" if is_rollback(run) else "other"
        counted = kind != "other" and not _aborted(run)
        failure = kind == "deployment" and counted and (run.outcome in FAILED or run.run_id in reverted)
        recovery = _recovery(run, by_workload[_workload(run)]) if failure else None
        judged.append(_Judged(run, kind, counted, failure, run.run_id in reverted, recovery))
    return judged


def _recovery(failed, history: Sequence) -> timedelta | None:
    start = failed.first_failure or failed.finished
    ends = []
    if failed.rollback_healthy is not None and failed.rollback_healthy >= start:
        ends.append(failed.rollback_healthy)
    for later in history:
        if later is failed or (later.started or later.finished) < (failed.started or failed.finished):
            continue
        if later.first_healthy is not None and later.first_healthy >= start:
            ends.append(later.first_healthy)
        if later.outcome == "succeeded" and later.finished >= start:
            ends.append(later.finished)
    return min(ends) - start if ends else None


def _median(values: Iterable[timedelta | None]) -> timedelta | None:
    seconds = [v.total_seconds() for v in values if v is not None]
    return timedelta(seconds=median(seconds)) if seconds else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One UTC day of a scope: the points of the sparklines."""

    day: date
    deployments: int = 0
    change_failures: int = 0
    deploy_median: timedelta | None = None

    @property
    def failure_rate(self) -> float | None:
        return _rate(self.change_failures, self.deployments)

    def to_json(self) -> dict:
        return {
            "date": self.day.isoformat(),
            "deployments": self.deployments,
            "change_failures": self.change_failures,
            "failure_rate": self.failure_rate,
            "deploy_median_seconds": _seconds(self.deploy_median),
        }


@dataclass(frozen=True, slots=True)
class DeliveryFigures:
    """The figures of one scope: every environment, one environment, or one workload.

    Attributes:
        environment: The environment, None for all of them.
        workload: The workload's label (``NAME`` or ``GROUP/NAME``), None for all.
        window_days: Days the window spans (it ends at ``until``).
        until: The end of the window (now).
        deployments: Deployments that finished in the window (not aborted, not rollbacks).
        succeeded: Of those, the ones that succeeded and were not reverted.
        change_failures: Of those, the ones that failed, rolled back or were reverted.
        aborted: Deployment runs that ended aborted (refused, or stopped by an operator).
        rollbacks: Rollback runs (not aborted).
        recovery_median: Median failed-deployment recovery time; None with none recovered.
        recoveries: Change failures that recovered.
        unrecovered: Change failures with no healthy sign after them yet.
        deploy_median: Median duration of the deployments.
        rollback_median: Median duration of the rollback runs.
        answered: Runs (of any runbook) whose operator answered the question.
        satisfied: Of those, the 👍 answers.
        days: One `DayFigures` per UTC day of the window, oldest first.
    """

    environment: str | None
    workload: str | None
    window_days: int
    until: datetime
    deployments: int = 0
    succeeded: int = 0
    change_failures: int = 0
    aborted: int = 0
    rollbacks: int = 0
    recovery_median: timedelta | None = None
    recoveries: int = 0
    unrecovered: int = 0
    deploy_median: timedelta | None = None
    rollback_median: timedelta | None = None
    answered: int = 0
    satisfied: int = 0
    days: tuple[DayFigures, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        if self.environment is None:
            return "all environments"
        return self.environment if self.workload is None else f"{self.environment}/{self.workload}"

    @property
    def per_day(self) -> float:
        return self.deployments / self.window_days

    @property
    def per_week(self) -> float:
        return self.deployments * 7 / self.window_days

    @property
    def success_rate(self) -> float | None:
        """Succeeded (and kept) over every attempt, aborted ones included."""
        return _rate(self.succeeded, self.deployments + self.aborted)

    @property
    def change_failure_rate(self) -> float | None:
        return _rate(self.change_failures, self.deployments)

    @property
    def satisfaction_rate(self) -> float | None:
        return _rate(self.satisfied, self.answered)

    def line(self) -> str:
        """One line for a screen header: the four keys, durations and satisfaction."""
        return (
            f"{self.deployments} deployments in {self.window_days}d ({self.per_day:.1f}/day, {self.per_week:.1f}/week) · "
            f"change failure rate {percent(self.change_failure_rate)} · success {percent(self.success_rate)} · "
            f"recovery {short(self.recovery_median)} · deploy {short(self.deploy_median)} · "
            f"rollback {short(self.rollback_median)} · satisfaction {percent(self.satisfaction_rate)}"
            f"{f' of {self.answered}' if self.answered else ''}"
        )

    def to_json(self) -> dict:
        """The stable JSON form (docs/delivery-metrics.md lists every key)."""
        return {
            "environment": self.environment,
            "workload": self.workload,
            "deployments": self.deployments,
            "per_day": round(self.per_day, 3),
            "per_week": round(self.per_week, 3),
            "succeeded": self.succeeded,
            "change_failures": self.change_failures,
            "aborted": self.aborted,
            "rollbacks": self.rollbacks,
            "success_rate": self.success_rate,
            "change_failure_rate": self.change_failure_rate,
            "recovery_median_seconds": _seconds(self.recovery_median),
            "recoveries": self.recoveries,
            "unrecovered": self.unrecovered,
            "deploy_median_seconds": _seconds(self.deploy_median),
            "rollback_median_seconds": _seconds(self.rollback_median),
            "answered": self.answered,
            "satisfied": self.satisfied,
            "satisfaction_rate": self.satisfaction_rate,
            "daily": [day.to_json() for day in self.days],
        }


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Figures for every scope: overall, per environment, per workload (sorted by name)."""

    overall: DeliveryFigures
    environments: tuple[DeliveryFigures, ...]
    workloads: tuple[DeliveryFigures, ...]
    since: datetime
    revert_window: timedelta

    def workload(self, environment: str, workload: str) -> DeliveryFigures | None:
        return next((f for f in self.workloads if (f.environment, f.workload) == (environment, workload)), None)

    def to_json(self) -> dict:
        overall = self.overall
        return {
            "window_days": overall.window_days,
            "since": _iso(self.since),
            "until": _iso(overall.until),
            "revert_window_seconds": self.revert_window.total_seconds(),
            "overall": overall.to_json(),
            "environments": [f.to_json() for f in self.environments],
            "workloads": [f.to_json() for f in self.workloads],
        }


def delivery_report(
    runs: Iterable,
    *,
    now: datetime,
    window_days: int = DEFAULT_WINDOW_DAYS,
    revert_window: timedelta = DEFAULT_REVERT_WINDOW,
) -> DeliveryReport:
    """Delivery figures of every scope from the runs' summaries.

    Args:
        runs: ``RunSummary`` values, all of them (runs before the window still
            decide reverts and recoveries of runs inside it).
        now: The end of the window.
        window_days: Days the window spans (at least 1).
        revert_window: How soon after a deployment a rollback run makes it a change failure.
    """
    window_days = max(1, int(window_days))
    since = now - timedelta(days=window_days)
    judged = [j for j in _judge(list(runs), revert_window) if since <= j.run.finished <= now]
    environments = sorted({j.run.environment_name for j in judged})
    workloads = sorted({_workload(j.run) for j in judged})

    def figures(environment: str | None, workload: str | None) -> DeliveryFigures:
        chosen = [
            j for j in judged
            if (environment is None or j.run.environment_name == environment) and (workload is None or j.run.workload == workload)
        ]
        return _aggregate(chosen, environment, workload, window_days, now)

    return DeliveryReport(
        overall=figures(None, None),
        environments=tuple(figures(env, None) for env in environments),
        workloads=tuple(figures(env, name) for env, name in workloads),
        since=since,
        revert_window=revert_window,
    )


def _aggregate(judged: list[_Judged], environment, workload, window_days: int, now: datetime) -> DeliveryFigures:
    deployments = [j for j in judged if j.kind == "deployment" and j.counted]
    failures = [j for j in deployments if j.failure]
    rollbacks = [j for j in judged if j.kind == "rollback" and j.counted]
    answered = [j for j in judged if j.run.feedback is not None]
    first_day = (now - timedelta(days=window_days - 1)).astimezone(UTC).date()
    days = []
    for offset in range(window_days):
        day = first_day + timedelta(days=offset)
        on_day = [j for j in deployments if j.run.finished.astimezone(UTC).date() == day]
        days.append(
            DayFigures(
                day,
                deployments=len(on_day),
                change_failures=sum(1 for j in on_day if j.failure),
                deploy_median=_median(j.run.duration for j in on_day),
            )
        )
    return DeliveryFigures(
        environment=environment,
        workload=workload,
        window_days=window_days,
        until=now,
        deployments=len(deployments),
        succeeded=sum(1 for j in deployments if not j.failure and j.run.outcome == "succeeded"),
        change_failures=len(failures),
        aborted=sum(1 for j in judged if j.kind == "deployment" and not j.counted),
        rollbacks=len(rollbacks),
        recovery_median=_median(j.recovery for j in failures),
        recoveries=sum(1 for j in failures if j.recovery is not None),
        unrecovered=sum(1 for j in failures if j.recovery is None),
        deploy_median=_median(j.run.duration for j in deployments),
        rollback_median=_median(j.run.duration for j in rollbacks),
        answered=len(answered),
        satisfied=sum(1 for j in answered if j.run.feedback == "up"),
        days=tuple(days),
    )


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def short(duration: timedelta | None) -> str:
    """``42s``, ``17m``, ``3h05m``; ``-`` for none."""
    if duration is None:
        return "-"
    seconds = int(duration.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


SPARK_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values) -> str:
    """Block characters for a text sparkline; zero is the lowest bar."""
    values = [v or 0 for v in values]
    top = max(values, default=0)
    if top <= 0:
        return SPARK_BARS[0] * len(values)
    return "".join(SPARK_BARS[min(len(SPARK_BARS) - 1, round(v / top * (len(SPARK_BARS) - 1)))] for v in values)


def _seconds(duration: timedelta | None) -> float | None:
    return None if duration is None else duration.total_seconds()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
