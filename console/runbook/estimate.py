"""How long a run has left, from how long the same steps took in past runs.

While a run is going on, the workload's row and the status bar say so: "maintenance in
progress — step 3/7, ~40 s left". The time is the median duration of each remaining
step id over finished past runs of the same runbook — of the same environment and
workload when there are any, else of that runbook anywhere — minus what the current
step has already used (never below zero). A step no past run finished falls back to
what its definition declares (a wait's duration, a Prometheus gate's measurements
× interval); a step with neither leaves the run without a time ("step 3/7"): no made-up
number.

Reading the journals is I/O (`load_expectation`, called in a worker when a run
starts); everything else here is pure and cheap enough to run on every UI tick.
No Textual.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from statistics import median
from types import MappingProxyType

from console.runbook.run_view import Phase, RunView, StepState

HISTORY_RUNS = 20
"""Newest finished runs read per scope (this workload, the runbook anywhere): recent
runs say more about today's cluster, and the read stays bounded as journals pile up."""
SHORT_WIDTH = 11
"""Columns `maintenance_short` may use: the workload table's Health cell (13) less the health glyph and a space."""
COUNTED_STATES = frozenset({"passed"})
"""Step outcomes whose duration is a fair sample: a failed gate or a skipped wait ends
early, and an interrupted step never ended."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """How long each step of one run is expected to take, decided when the run starts.

    Attributes:
        seconds: Step id → expected seconds; a step that is absent has no estimate.
        runs: How many finished past runs the medians were taken from.
    """

    seconds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    runs: int = 0


@dataclass(frozen=True, slots=True)
class _PastRun:
    """One finished past run, as far as the estimate needs it."""

    environment: str
    workload: str
    steps: Mapping[str, float]
    """Step id → seconds, for the steps that passed."""


def declared_seconds(step) -> float | None:
    """What a step's definition says it takes, when it says; None when only history can tell.

    A background gate takes nothing from the run's time: it measures beside later steps.
    """
    kind = getattr(step, "kind", None)
    if kind == "wait":
        return _seconds(getattr(step, "duration", None))
    if kind == "gate" and getattr(step, "type", None) == "prometheus":
        if getattr(step, "background", False):
            return 0.0
        delay = _seconds(getattr(step, "initial_delay", None)) or 0.0
        interval = _seconds(getattr(step, "interval", None))
        count = getattr(step, "count", None)
        if interval is None:
            return delay  # one measurement
        if isinstance(count, int) and count >= 1:
            # The first measurement comes after the initial delay, each later one an interval on.
            return delay + (count - 1) * interval
    return None


def past_run(record) -> _PastRun | None:
    """The step durations of a finished run (a `journal.RunRecord`); None while unfinished."""
    if not record.is_finished:
        return None
    steps = {}
    for step in record.steps.values():
        if step.state in COUNTED_STATES and step.started and step.finished and step.finished >= step.started:
            steps[step.id] = (step.finished - step.started).total_seconds()
    return _PastRun(record.environment_name, record.workload, MappingProxyType(steps))


def expect(steps: Sequence, past: Iterable[_PastRun], *, environment: str, workload: str) -> Expectation:
    """Each step's expected seconds: this workload's median, else the runbook's, else the declared time.

    Args:
        steps: The run's (rendered) runbook steps, with ``id`` and ``kind``.
        past: Finished past runs of the same runbook (`past_run`).
        environment: The run's environment name.
        workload: The run's workload label.
    """
    past = list(past)
    here = [run for run in past if (run.environment, run.workload) == (environment, workload)]
    seconds: dict[str, float] = {}
    for step in steps:
        declared = declared_seconds(step)
        if getattr(step, "background", False):
            # Its journaled duration spans the steps it ran beside; counting it would count them twice.
            seconds[step.id] = 0.0
            continue
        for scope in (here, past):
            samples = [run.steps[step.id] for run in scope if step.id in run.steps]
            if samples:
                seconds[step.id] = float(median(samples))
                break
        else:
            if declared is not None:
                seconds[step.id] = declared
    return Expectation(MappingProxyType(seconds), runs=len(past))


def load_expectation(
    runbook: str,
    steps: Sequence,
    *,
    environment: str,
    workload: str,
    directory: Path | None = None,
    exclude: str | None = None,
    limit: int = HISTORY_RUNS,
) -> Expectation:
    """Read past runs' journals and `expect` from them (I/O: call it in a worker thread).

    Args:
        runbook: The runbook's name.
        steps: The run's runbook steps.
        environment, workload: Where the run goes on.
        directory: The runs directory; the state dir's when None.
        exclude: The run being estimated (its own journal is never history).
        limit: Newest finished runs read per scope.
    """
    from console.runbook.journal import JournalCorrupt, list_runs, read_journal, replay

    finished = [
        run for run in list_runs(directory)
        if run.runbook == runbook and run.outcome and run.problem is None and run.run_id != exclude
    ]
    here = [run for run in finished if (run.environment_name, run.workload) == (environment, workload)][:limit]
    chosen = {run.run_id: run for run in here + finished[:limit]}
    past = []
    for run in chosen.values():
        try:
            entries = read_journal(run.path).entries
        except (OSError, JournalCorrupt):
            continue  # a journal damaged since it was listed is no history
        if entries and (one := past_run(replay(entries))) is not None:
            past.append(one)
    return expect(steps, past, environment=environment, workload=workload)


def remaining_seconds(view: RunView, expectation: Expectation, now: float) -> float | None:
    """Seconds the run still needs, or None when any step ahead has no estimate.

    The current step counts its expected time minus the time it has run (not below
    zero); a wait counting down counts its own countdown, which is exact. Steps ahead
    count their expected time; finished steps and background gates nothing.

    Args:
        view: The run as it is now.
        expectation: From `load_expectation` when the run started.
        now: Epoch seconds.
    """
    total = 0.0
    current = view.current
    for index, step in enumerate(view.steps):
        if step.state.finished or (index != current and step.state is StepState.RUNNING):
            continue  # done, or a background gate measuring beside the run
        if current is not None and index < current:
            continue  # passed over by a goto
        if index == current and step.state is StepState.WAITING_TIMER and step.deadline is not None:
            total += max(0.0, step.deadline - now)
            continue
        expected = expectation.seconds.get(step.id)
        if expected is None:
            return None
        if index == current and step.started is not None:
            expected = max(0.0, expected - (now - step.started.timestamp()))
        total += expected
    return total


def _left(seconds: float, *, short: bool) -> str:
    """``~40 s`` / ``~40s``: rounded up, coarser as it grows (an estimate, not a clock)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        value = max(5, math.ceil(seconds / 5) * 5)
        return f"~{value}s" if short else f"~{value} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"~{minutes}m" if short else f"~{minutes} min"
    if short:
        return f"~{math.ceil(seconds / 3600)}h"  # a table cell has no room for minutes
    hours, minutes = divmod(minutes, 60)
    return f"~{hours} h {minutes:02d} min"


def _position(view: RunView) -> str:
    """``3/7`` (the run view's "step 3/7" without the word)."""
    return view.position.removeprefix("step ")


def maintenance_state(view: RunView) -> str:
    """"maintenance in progress" or "maintenance paused": what a run going on means for its workload."""
    return "maintenance paused" if view.phase is Phase.PAUSED else "maintenance in progress"


def maintenance_sentence(view: RunView, remaining: float | None) -> str:
    """The status bar's words for a run going on: "maintenance in progress — step 3/7, ~40 s left"."""
    if view.phase is Phase.PAUSED or remaining is None:
        return f"{maintenance_state(view)} — {view.position}"
    if remaining < 1:
        return f"{maintenance_state(view)} — {view.position}, taking longer than expected"
    return f"{maintenance_state(view)} — {view.position}, {_left(remaining, short=False)} left"


def maintenance_short(view: RunView, remaining: float | None) -> str:
    """The same in at most `SHORT_WIDTH` columns, for the workload table at 80 columns: "▶ 3/7 ~40s".

    ``▶`` marks a run, as in the status bar; a paused run says so instead of a time.
    """
    position = _position(view)
    if view.phase is Phase.PAUSED:
        candidates = [f"paused {position}", "paused"]
    elif remaining is None or remaining < 1:
        candidates = [f"▶ {position}"]
    else:
        left = _left(remaining, short=True)
        candidates = [f"▶ {position} {left}", f"▶{position} {left}", f"▶ {position}"]
    return next((text for text in candidates if len(text) <= SHORT_WIDTH), candidates[-1])


def _seconds(value) -> float | None:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)):
        return float(value)
    return None  # an unrendered placeholder says nothing yet


__all__ = [
    "Expectation",
    "declared_seconds",
    "expect",
    "load_expectation",
    "maintenance_sentence",
    "maintenance_short",
    "maintenance_state",
    "past_run",
    "remaining_seconds",
]
