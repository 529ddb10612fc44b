"""The "maintenance in progress — step 3/7, ~40 s left" estimate: medians of past runs'
step durations read from real journal files, declared times as the fallback, and no
number at all when neither exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.model import WorkloadKey
from console.runbook.actor import Actor
from console.runbook.estimate import (
    SHORT_WIDTH,
    Expectation,
    declared_seconds,
    load_expectation,
    maintenance_sentence,
    maintenance_short,
    maintenance_state,
    remaining_seconds,
)
from console.runbook.journal import Journal, RunHeader
from console.runbook.loader import parse_runbook
from console.runbook.run_view import Phase, RunView, StepState, StepView

RUNBOOK = parse_runbook(
    """
name: release
title: Release
steps:
  - {id: roll-out, kind: action, title: Roll out, verb: restart}
  - {id: soak, kind: wait, title: Soak, duration: 30s}
  - id: errors
    kind: gate
    type: prometheus
    title: Errors
    query: up
    success: "result[0] > 0"
    interval: 10s
    count: 4
    initial_delay: 5s
  - id: latency
    kind: gate
    type: prometheus
    title: Latency
    query: up
    success: "result[0] > 0"
    interval: 10s
    background: true
  - {id: check, kind: manual, title: Check, instructions: look}
"""
)
STEPS = {step.id: step for step in RUNBOOK.steps}
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()
WEB = WorkloadKey("prod", "shop", "web")


def write_run(directory: Path, run_id: str, durations: dict[str, float], *, environment="prod", workload="shop/web",
              outcome: str | None = "succeeded", states: dict[str, str] | None = None, runbook="release") -> None:
    """A journal as the executor leaves it: each step started and finished ``durations`` apart."""
    clock_at = [T0]

    def clock() -> datetime:
        return clock_at[0]

    header = RunHeader(f"{runbook}@abc", environment, workload, Actor("alice", "bastion"))
    with Journal.create(run_id, header, directory, clock=clock) as journal:
        journal.append("run.started", data={"steps": list(durations), "params": {}})
        for step_id, seconds in durations.items():
            journal.append("step.started", step=step_id, data={"kind": "x"})
            clock_at[0] += timedelta(seconds=seconds)
            journal.append("step.finished", step=step_id, data={"state": (states or {}).get(step_id, "passed")})
        if outcome:
            journal.append("run.finished", data={"outcome": outcome, "phase": "Healthy"})


def expected(tmp_path: Path, **where) -> dict[str, float]:
    return dict(load_expectation("release", RUNBOOK.steps, environment="prod", workload="shop/web", directory=tmp_path, **where).seconds)


# -- declared times ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_id", "seconds"),
    [
        ("soak", 30.0),  # a wait: its duration
        ("errors", 35.0),  # initial delay + 3 more intervals for 4 measurements
        ("latency", 0.0),  # a background gate holds nothing up
        ("roll-out", None),  # an action: only history can tell
        ("check", None),  # a human: only history can tell
    ],
)
def test_declared_seconds_come_from_the_step_definition(step_id, seconds):
    assert declared_seconds(STEPS[step_id]) == seconds


# -- history ------------------------------------------------------------------------------


def test_no_history_falls_back_to_declared_times_and_leaves_the_rest_unknown(tmp_path):
    assert expected(tmp_path) == {"soak": 30.0, "errors": 35.0, "latency": 0.0}


def test_the_median_of_this_workloads_past_runs_wins_over_declared_times(tmp_path):
    for n, (roll, soak) in enumerate([(40, 31), (60, 30), (200, 30)]):
        write_run(tmp_path, f"20261120T10000{n}Z-aaaaa{n}", {"roll-out": roll, "soak": soak, "errors": 35, "check": 20})

    seconds = expected(tmp_path)

    assert seconds["roll-out"] == 60.0  # the median, not the mean a slow outlier drags
    assert seconds["soak"] == 30.0 and seconds["check"] == 20.0


def test_this_workloads_runs_are_preferred_to_the_runbook_elsewhere(tmp_path):
    write_run(tmp_path, "20261120T100000Z-aaaaa1", {"roll-out": 10}, workload="shop/api")
    write_run(tmp_path, "20261120T100001Z-aaaaa2", {"roll-out": 90})

    assert expected(tmp_path)["roll-out"] == 90.0


def test_the_runbook_elsewhere_is_the_fallback_when_this_workload_never_ran_it(tmp_path):
    write_run(tmp_path, "20261120T100000Z-aaaaa1", {"roll-out": 10, "check": 5}, environment="staging")
    write_run(tmp_path, "20261120T100001Z-aaaaa2", {"roll-out": 30}, workload="shop/api")

    assert expected(tmp_path)["roll-out"] == 20.0
    assert expected(tmp_path)["check"] == 5.0


@pytest.mark.parametrize(
    ("why", "kwargs"),
    [
        ("unfinished (running or interrupted)", {"outcome": None}),
        ("another runbook", {"runbook": "deploy"}),
        ("the step failed early", {"states": {"roll-out": "failed"}}),
        ("the step was skipped", {"states": {"roll-out": "skipped"}}),
    ],
)
def test_runs_and_steps_that_say_nothing_about_a_normal_duration_are_not_history(tmp_path, why, kwargs):
    write_run(tmp_path, "20261120T100000Z-aaaaa1", {"roll-out": 500}, **kwargs)

    assert "roll-out" not in expected(tmp_path), why


def test_the_run_being_estimated_is_not_its_own_history(tmp_path):
    write_run(tmp_path, "20261120T100000Z-aaaaa1", {"roll-out": 77})

    assert "roll-out" not in expected(tmp_path, exclude="20261120T100000Z-aaaaa1")


def test_a_background_gate_never_counts_its_journaled_span(tmp_path):
    write_run(tmp_path, "20261120T100000Z-aaaaa1", {"latency": 300})

    assert expected(tmp_path)["latency"] == 0.0


def test_a_damaged_journal_is_skipped_not_fatal(tmp_path):
    write_run(tmp_path, "20261120T100000Z-aaaaa1", {"roll-out": 40})
    (tmp_path / "20261120T100001Z-aaaaa2.jsonl").write_text("{not json\n")

    assert expected(tmp_path)["roll-out"] == 40.0


# -- remaining time ------------------------------------------------------------------------


def view(current: int | None, *, elapsed: float = 0.0, states=(), deadline: float | None = None, phase=Phase.PROGRESSING) -> RunView:
    """The release run at step ``current``, which started ``elapsed`` seconds before NOW."""
    steps = []
    for index, step in enumerate(RUNBOOK.steps):
        state = states[index] if index < len(states) else StepState.PENDING
        started = datetime.fromtimestamp(NOW - elapsed, UTC) if index == current else None
        steps.append(StepView(step.id, step.title, step.kind, state, started=started, deadline=deadline if index == current else None))
    return RunView("r", "release", "Release", "prod", WEB, phase=phase, steps=tuple(steps), current=current)


FULL = Expectation({"roll-out": 60.0, "soak": 30.0, "errors": 35.0, "latency": 0.0, "check": 20.0})
DONE, RUN, WAIT = StepState.PASSED, StepState.RUNNING, StepState.WAITING_TIMER


@pytest.mark.parametrize(
    ("case", "run", "expectation", "left"),
    [
        ("before the first step", view(None), FULL, 145.0),
        ("the first step just started", view(0, states=(RUN,)), FULL, 145.0),
        ("20 s into the first step", view(0, elapsed=20, states=(RUN,)), FULL, 125.0),
        ("the current step overran: it counts zero", view(0, elapsed=500, states=(RUN,)), FULL, 85.0),
        ("a wait counts its own countdown", view(1, elapsed=5, states=(DONE, WAIT), deadline=NOW + 12), FULL, 12.0 + 55.0),
        ("a background gate beside the run counts nothing", view(4, elapsed=5, states=(DONE, DONE, DONE, RUN, RUN)), FULL, 15.0),
        ("a step ahead nobody can estimate: no time", view(1, states=(DONE, RUN)), Expectation({"soak": 30.0}), None),
        ("history not read yet: declared times are not enough for an action", view(0, states=(RUN,)), Expectation(), None),
    ],
)
def test_remaining_seconds(case, run, expectation, left):
    assert remaining_seconds(run, expectation, NOW) == left, case


# -- words ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remaining", "sentence", "short"),
    [
        (37.2, "maintenance in progress — step 2/5, ~40 s left", "▶ 2/5 ~40s"),
        (2.0, "maintenance in progress — step 2/5, ~5 s left", "▶ 2/5 ~5s"),
        (61.0, "maintenance in progress — step 2/5, ~2 min left", "▶ 2/5 ~2m"),
        (3900.0, "maintenance in progress — step 2/5, ~1 h 05 min left", "▶ 2/5 ~2h"),
        (0.0, "maintenance in progress — step 2/5, taking longer than expected", "▶ 2/5"),
        (None, "maintenance in progress — step 2/5", "▶ 2/5"),
    ],
)
def test_the_words_for_a_run_in_progress(remaining, sentence, short):
    run = view(1, states=(DONE, RUN))

    assert maintenance_sentence(run, remaining) == sentence
    assert maintenance_short(run, remaining) == short


@pytest.mark.parametrize(
    ("step", "of", "remaining", "short"),
    [
        (10, 12, 40.0, "▶10/12 ~40s"),  # the space goes before the time does
        (10, 12, 3000.0, "▶10/12 ~50m"),
        (100, 120, 40.0, "▶ 100/120"),
    ],
)
def test_the_short_words_fit_the_health_cell_at_80_columns(step, of, remaining, short):
    steps = tuple(StepView(f"s{n}", "", "wait", StepState.PASSED if n < step - 1 else StepState.PENDING) for n in range(of))
    run = RunView("r", "canary", "", "prod", WEB, phase=Phase.PROGRESSING, steps=steps, current=step - 1)

    text = maintenance_short(run, remaining)

    assert text == short
    assert len(text) <= SHORT_WIDTH


def test_a_paused_run_says_paused_and_no_time():
    run = view(1, states=(DONE, RUN), phase=Phase.PAUSED)

    assert maintenance_sentence(run, 40.0) == "maintenance paused — step 2/5"
    assert maintenance_short(run, 40.0) == "paused 2/5"
    assert maintenance_state(run) == "maintenance paused"
