"""Delivery figures (DORA's four keys, durations, satisfaction) from real journal files.

Each case writes crafted journals through the journal API (tests/journal_fixtures.py),
reads them back with ``list_runs`` as the CLI and the screens do, and checks the
figures against docs/delivery-metrics.md.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from console.runbook import list_runs, read_journal, replay
from console.runbook.audit import audit_records
from console.runbook.dora import delivery_report
from console.runbook.feedback import FeedbackRefused, record_feedback
from tests.journal_fixtures import NOW, failed_step, gate_failure, healthy, rollback_seen_healthy, write_run

H = timedelta(hours=1)
D = timedelta(days=1)


def report_of(directory, **options):
    return delivery_report(list_runs(directory), now=NOW, **options)


# Each case: runs as keyword arguments of write_run (start given as an offset from
# NOW), and the overall figures expected.
CASES = {
    "frequency counts deployments in the window only": (
        [dict(start=-1 * D), dict(start=-2 * D), dict(start=-3 * D), dict(start=-40 * D)],
        {"deployments": 3, "per_day": 0.1, "per_week": 0.7},
    ),
    "failed and rolled back deployments are change failures": (
        [dict(start=-1 * D), dict(start=-2 * D, outcome="failed"), dict(start=-3 * D, outcome="rolled_back")],
        {"deployments": 3, "change_failures": 2, "change_failure_rate": 2 / 3, "success_rate": 1 / 3},
    ),
    "a rollback run within the hour reverts the deployment before it": (
        [dict(start=-5 * H), dict(start=-5 * H + timedelta(minutes=31), runbook="rollback", to_version="1.4.0")],
        {"deployments": 1, "change_failures": 1, "rollbacks": 1, "change_failure_rate": 1.0},
    ),
    "a rollback run after the window does not": (
        [dict(start=-5 * H), dict(start=-5 * H + timedelta(minutes=121), runbook="rollback", to_version="1.4.0")],
        {"deployments": 1, "change_failures": 0, "rollbacks": 1, "change_failure_rate": 0.0},
    ),
    "a rollback reverts only the latest deployment of its workload": (
        [
            dict(start=-5 * H),
            dict(start=-5 * H + timedelta(minutes=10), to_version="1.6.0"),
            dict(start=-5 * H + timedelta(minutes=20), workload="shop/api"),
            dict(start=-5 * H + timedelta(minutes=30), runbook="rollback", to_version="1.5.0"),
        ],
        {"deployments": 3, "change_failures": 1},
    ),
    "aborted deployments are attempts, not deployments": (
        [dict(start=-1 * D), dict(start=-2 * D, outcome="aborted")],
        {"deployments": 1, "aborted": 1, "success_rate": 0.5, "change_failure_rate": 0.0},
    ),
    "restart and scale runs are not deployments": (
        [dict(start=-1 * D, runbook="restart", to_version=""), dict(start=-2 * D, runbook="scale", to_version="")],
        {"deployments": 0, "success_rate": None, "change_failure_rate": None, "deploy_median": None},
    ),
    "a canary that recorded a version is a deployment": (
        [dict(start=-1 * D, runbook="canary")],
        {"deployments": 1, "succeeded": 1},
    ),
    "durations are medians of deployments and of rollback runs": (
        [
            dict(start=-1 * D, seconds=60),
            dict(start=-2 * D, seconds=120),
            dict(start=-3 * D, seconds=300),
            dict(start=-4 * D, runbook="rollback", seconds=30),
            dict(start=-5 * D, runbook="rollback", seconds=50),
        ],
        {"deploy_median": timedelta(seconds=120), "rollback_median": timedelta(seconds=40)},
    ),
    "recovery: first failing measurement to the automatic rollback seen healthy": (
        [dict(start=-1 * D, outcome="rolled_back", seconds=200, events=[gate_failure(20), failed_step(50), *rollback_seen_healthy(80)])],
        {"recoveries": 1, "unrecovered": 0, "recovery_median": timedelta(seconds=61)},
    ),
    "recovery: failed step to a later run's first healthy measurement": (
        [
            dict(start=-1 * D, outcome="failed", seconds=100, events=[failed_step(40)]),
            dict(start=-1 * D + timedelta(minutes=10), runbook="rollback", events=[healthy(30), healthy(40)]),
        ],
        {"recoveries": 1, "recovery_median": timedelta(minutes=10, seconds=30 - 40)},
    ),
    "recovery: a failure with no sign of its own starts at the run's end": (
        [
            dict(start=-1 * D, outcome="failed", seconds=100),
            dict(start=-1 * D + timedelta(minutes=5), runbook="restart", to_version="", seconds=60),
        ],
        {"recoveries": 1, "recovery_median": timedelta(minutes=5, seconds=60 - 100)},
    ),
    "a failure nothing healthy followed is unrecovered": (
        [dict(start=-1 * D, outcome="failed", events=[failed_step(40)])],
        {"recoveries": 0, "unrecovered": 1, "recovery_median": None},
    ),
    "satisfaction is thumbs up over answered runs of any runbook": (
        [
            dict(start=-1 * D, feedback="up"),
            dict(start=-2 * D, runbook="restart", to_version="", feedback="up"),
            dict(start=-3 * D, feedback="down"),
            dict(start=-4 * D),
        ],
        {"answered": 3, "satisfied": 2, "satisfaction_rate": 2 / 3},
    ),
}


@pytest.mark.parametrize("runs, expected", list(CASES.values()), ids=list(CASES))
def test_overall_figures(tmp_path, runs, expected):
    # Arrange
    for run in runs:
        write_run(tmp_path, NOW + run.pop("start"), **run)

    # Act
    figures = report_of(tmp_path).overall

    # Assert
    actual = {name: getattr(figures, name) for name in expected}
    assert _rounded(actual) == _rounded(expected)


def _rounded(values: dict) -> dict:
    return {name: round(value, 6) if isinstance(value, float) else value for name, value in values.items()}


def test_each_environment_and_workload_has_its_own_figures(tmp_path):
    write_run(tmp_path, NOW - 1 * D, environment="prod", workload="shop/web")
    write_run(tmp_path, NOW - 2 * D, environment="prod", workload="shop/api", outcome="failed")
    write_run(tmp_path, NOW - 3 * D, environment="staging", workload="shop/web")

    report = report_of(tmp_path)

    assert [(f.label, f.deployments, f.change_failures) for f in report.environments] == [("prod", 2, 1), ("staging", 1, 0)]
    assert [(f.label, f.deployments) for f in report.workloads] == [("prod/shop/api", 1), ("prod/shop/web", 1), ("staging/shop/web", 1)]
    assert report.overall.deployments == 3 and report.workload("prod", "shop/api").change_failure_rate == 1.0


def test_the_daily_series_has_one_point_per_day_oldest_first(tmp_path):
    write_run(tmp_path, NOW - 2 * H, seconds=100)
    write_run(tmp_path, NOW - 3 * H, seconds=300, outcome="failed")
    write_run(tmp_path, NOW - 2 * D)

    days = report_of(tmp_path, window_days=7).overall.days

    assert len(days) == 7 and days[-1].day == NOW.date() and days[0].day == (NOW - 6 * D).date()
    assert [d.deployments for d in days] == [0, 0, 0, 0, 1, 0, 2]
    assert days[-1].change_failures == 1 and days[-1].failure_rate == 0.5
    assert days[-1].deploy_median == timedelta(seconds=200) and days[-3].deploy_median == timedelta(seconds=60)


def test_the_revert_window_is_configurable(tmp_path):
    write_run(tmp_path, NOW - 5 * H)
    write_run(tmp_path, NOW - 5 * H + timedelta(minutes=90), runbook="rollback")

    within_1h = report_of(tmp_path).overall.change_failures
    within_2h = report_of(tmp_path, revert_window=2 * H).overall.change_failures

    assert (within_1h, within_2h) == (0, 1)


def test_a_deploy_refused_by_the_image_policy_before_any_write_is_aborted_not_a_change_failure(tmp_path):
    refused = (1, "policy.refused", "roll-out", {"image": "docker.io/library/nginx:1.25", "rule": "allowed", "reason": "matches none"})
    write_run(tmp_path, NOW - 1 * D, outcome="failed", events=[refused])
    wrote_then_refused = [(1, "adapter.call", "roll-out", {"verb": "deploy", "request": {}}), (2, "policy.refused", "promote", {"rule": "require_digest"})]
    write_run(tmp_path, NOW - 2 * D, outcome="failed", events=wrote_then_refused)

    figures = report_of(tmp_path).overall

    assert (figures.deployments, figures.aborted, figures.change_failures) == (1, 1, 1), "only the run that wrote counts as a failed change"


def test_a_deploy_the_backend_refused_before_acting_is_aborted_but_a_half_done_one_failed(tmp_path):
    request = {"verb": "deploy", "image": "web:2"}
    sent = (1, "adapter.call", "roll-out", {"request": request, "sent": True})
    refused = (2, "adapter.call", "roll-out", {"request": request, "error": {"kind": "not_found", "summary": "web is not a Deployment"}})
    broke = (2, "adapter.call", "roll-out", {"request": request, "error": {"kind": "backend", "summary": "rollout timed out"}})
    write_run(tmp_path, NOW - 1 * D, outcome="rolled_back", events=[sent, refused])
    write_run(tmp_path, NOW - 2 * D, outcome="rolled_back", events=[sent, broke])
    write_run(tmp_path, NOW - 3 * D, outcome="failed", events=[sent])  # sent, never answered

    figures = report_of(tmp_path).overall

    assert (figures.deployments, figures.aborted, figures.change_failures) == (2, 1, 2)


def test_unreadable_and_unfinished_runs_are_left_out(tmp_path):
    write_run(tmp_path, NOW - 1 * D)
    write_run(tmp_path, NOW - 2 * D, outcome=None)
    (tmp_path / "20261120T000000Z-cccccc.jsonl").write_text("not json\n")

    figures = report_of(tmp_path).overall

    assert (figures.deployments, figures.aborted) == (1, 0)


def test_the_json_form_has_the_documented_keys(tmp_path):
    write_run(tmp_path, NOW - 1 * D, feedback="up")

    document = report_of(tmp_path, window_days=3).to_json()

    assert set(document) == {"window_days", "since", "until", "revert_window_seconds", "overall", "environments", "workloads"}
    assert set(document["overall"]) == {
        "environment", "workload", "deployments", "per_day", "per_week", "succeeded", "change_failures", "aborted",
        "rollbacks", "success_rate", "change_failure_rate", "recovery_median_seconds", "recoveries", "unrecovered",
        "deploy_median_seconds", "rollback_median_seconds", "answered", "satisfied", "satisfaction_rate", "daily",
    }
    assert document["overall"]["daily"][1] == {
        "date": "2026-11-25", "deployments": 1, "change_failures": 0, "failure_rate": 0.0, "deploy_median_seconds": 60.0,
    }
    assert document["workloads"][0]["environment"] == "prod" and document["workloads"][0]["workload"] == "shop/web"


# --- the operator's answer in the journal ---------------------------------------------------


def test_feedback_after_the_end_keeps_the_chain_and_the_run_as_it_ended(tmp_path):
    path = write_run(tmp_path, NOW - 1 * D, outcome="rolled_back", seconds=90)
    before = replay(read_journal(path).entries)

    record_feedback(path, "down")

    read = read_journal(path)  # raises JournalCorrupt on a broken chain
    after = replay(read.entries)
    assert read.entries[-1]["event"] == "operator.feedback" and read.entries[-2]["event"] == "run.finished"
    assert (after.outcome, after.finished, after.to_version, after.is_finished) == (before.outcome, before.finished, before.to_version, True)
    assert after.feedback == "down" and after.notes == []
    feedback = [r for r in audit_records(tmp_path) if r.event == "operator.feedback"]
    assert len(feedback) == 1 and feedback[0].answer == "down", "the answer is audited with its value"


def test_feedback_is_refused_for_an_unfinished_run_and_a_second_answer(tmp_path):
    unfinished = write_run(tmp_path, NOW - 2 * D, outcome=None)
    answered = write_run(tmp_path, NOW - 1 * D, feedback="up")

    with pytest.raises(FeedbackRefused, match="not finished"):
        record_feedback(unfinished, "up")
    with pytest.raises(FeedbackRefused, match="answered already"):
        record_feedback(answered, "down")
    with pytest.raises(FeedbackRefused, match="unknown answer"):
        record_feedback(answered, "maybe")

    assert read_journal(unfinished).entries[-1]["event"] == "run.started", "nothing appended to a resumable run"
    assert [r.feedback for r in list_runs(tmp_path)] == ["up", None]


# --- watchfloor history ----------------------------------------------------------------------


@pytest.fixture
def state(tmp_path):
    """A private state dir with journals of two environments, and the CLI's environment."""
    from datetime import UTC, datetime

    runs = tmp_path / "state" / "watchfloor" / "runs"
    runs.mkdir(parents=True)
    now = datetime.now(UTC)
    write_run(runs, now - 1 * D, feedback="up")
    write_run(runs, now - 2 * D, outcome="rolled_back", seconds=90, events=[gate_failure(20), *rollback_seen_healthy(40)])
    write_run(runs, now - 3 * D, environment="staging", workload="shop/api", seconds=200)
    write_run(runs, now - 20 * D, environment="staging", workload="shop/api", seconds=100)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"), "WATCHFLOOR_CONFIG": ""}
    return env


def test_history_lists_the_runs_then_the_figures_per_scope(state):
    from tests.test_cli import watchfloor

    completed = watchfloor("history", env=state)

    assert completed.returncode == 0, completed.stderr
    runs, _, figures = completed.stdout.partition("\n\n")
    assert len(runs.splitlines()) == 4 and "rolled_back" in runs
    lines = figures.splitlines()
    assert lines[0].startswith("delivery figures, last 30d")
    assert [line.split()[0] for line in lines[2:7]] == ["all", "prod", "staging", "prod/shop/web", "staging/shop/api"]
    assert lines[2].split()[2:6] == ["4", "0.1", "0.9", "75%"], "deploys, /day, /week, success"
    assert lines[-1].startswith("deployments/day ")


def test_history_figures_json_follows_env_workload_and_since(state):
    from tests.test_cli import watchfloor

    whole = watchfloor("history", "--figures", "--json", env=state)
    scoped = watchfloor("history", "--figures", "--json", "--env", "staging", "--workload", "api", "--since", "7d", env=state)
    runs = watchfloor("history", "--json", "--workload", "web", env=state)

    assert whole.returncode == scoped.returncode == runs.returncode == 0, (whole.stderr, scoped.stderr)
    document = json.loads(whole.stdout)
    assert document["window_days"] == 30 and document["overall"]["deployments"] == 4
    assert document["overall"]["satisfaction_rate"] == 1.0 and document["overall"]["recoveries"] == 1
    assert [w["workload"] for w in document["workloads"]] == ["shop/web", "shop/api"]
    narrow = json.loads(scoped.stdout)
    assert narrow["window_days"] == 7 and len(narrow["overall"]["daily"]) == 7
    assert narrow["overall"]["deployments"] == 1 and [e["environment"] for e in narrow["environments"]] == ["staging"]
    assert {run["workload"] for run in json.loads(runs.stdout)} == {"shop/web"}, "--json stays the runs list"


def test_history_refuses_a_since_that_is_not_a_duration(state):
    from tests.test_cli import watchfloor

    completed = watchfloor("history", "--figures", "--since", "last tuesday", env=state)

    assert completed.returncode == 2 and "--since" in completed.stderr
