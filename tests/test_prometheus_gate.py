"""Prometheus gates in runs: a real Prometheus scraping a real endpoint, the workload on
the Kubernetes emulator over HTTP, the journal a real file.

The limit and verdict combinations themselves are table-tested in test_analysis.py;
here each is seen through a whole run: what the step ends as, what the run does
next, what the journal and the run view hold.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from adapters.prometheus import PrometheusSource
from console.model import NamedQuery
from console.runbook.executor import RunExecutor, RunOptions
from console.runbook.journal import Journal, RunHeader, new_run_id, read_journal
from console.runbook.actor import actor
from console.runbook.loader import load_runbook_file
from console.runbook.run_view import Phase, StepState
from console.runbook.templating import bind_params, render
from tests.backends import wait_for
from tests.prometheus_backend import (  # noqa: F401 - fixtures are found by name in this module
    MetricsEndpoint,
    metrics_endpoint,
    private_prometheus,
    prometheus,
)
from tests.test_runbook_executor import WEB, _Loaded, adapter, emulator, in_thread  # noqa: F401


def gate_run(adapter, tmp_path: Path, text: str, *, source, queries=(), params=None, interactive=False) -> RunExecutor:
    path = tmp_path / "runbook.yaml"
    path.write_text(text)
    loaded = load_runbook_file(path)
    values = bind_params(loaded.runbook, params or {})
    observed = adapter.observe(WEB)
    run_id = new_run_id()
    builtins = {
        "workload": WEB.name,
        "environment": adapter.environment.name,
        "current_version": observed.version,
        "current_image": observed.image,
        "run_id": run_id,
        "actor": "tester@host",
    }
    journal = Journal.create(
        run_id, RunHeader(runbook=loaded.ref, environment_name="cluster", workload=WEB.label, actor=actor()), tmp_path
    )
    return RunExecutor(
        _Loaded(render(loaded.runbook, {**builtins, **values})),
        values,
        adapter=adapter,
        environment=adapter.environment,
        key=WEB,
        journal=journal,
        options=RunOptions(auto_answer=True, interactive=interactive, poll_seconds=0.2),
        prometheus=source,
        queries=queries,
    )


def measurements(executor: RunExecutor) -> list[dict]:
    return [e["data"] for e in read_journal(executor.journal.path).entries if e["event"] == "gate.measurement"]


def source_of(server):
    return lambda: PrometheusSource(server.url, timeout=2.0)


GATE = """\
name: gated
title: Gated
steps:
  - id: ratio
    kind: gate
    type: prometheus
    query: '{query}'
    success: "{success}"
    interval: 200ms
    count: {count}
    {extra}
"""


def gate_text(*, query='wf_test_ratio{job="fixed",workload="{workload}"}', success="result[0] < 0.5", count=3, extra=""):
    return GATE.format(query=query, success=success, count=count, extra=extra)


def test_a_gate_whose_condition_holds_passes_after_count_measurements_each_journaled(adapter, tmp_path, prometheus, metrics_endpoint):
    executor = gate_run(adapter, tmp_path, gate_text(), source=source_of(prometheus))

    view = executor.run()

    assert view.phase is Phase.HEALTHY, (view.message, view.steps[0])
    step = view.steps[0]
    assert step.state is StepState.PASSED
    assert (step.gate.passed, step.gate.failed, step.gate.errors) == (3, 0, 0)
    assert step.gate.threshold == 0.5
    assert step.gate.values == (0.25, 0.25, 0.25)
    assert 'workload="web"' in step.gate.query
    journaled = measurements(executor)
    assert [m["verdict"] for m in journaled] == ["pass", "pass", "pass"]
    assert journaled[0]["value"] == [0.25]


def test_a_failed_measurement_past_the_failure_limit_fails_the_step_and_the_run(adapter, tmp_path, prometheus, metrics_endpoint):
    executor = gate_run(adapter, tmp_path, gate_text(success="result[0] < 0.1", extra="failure_limit: 1"), source=source_of(prometheus))

    view = executor.run()

    assert view.phase is Phase.DEGRADED
    step = view.steps[0]
    assert step.state is StepState.FAILED
    assert step.gate.failed == 2  # one tolerated, the second decides
    assert "failure_limit (1)" in step.message


def test_an_empty_result_is_inconclusive_not_failed(adapter, tmp_path, prometheus, metrics_endpoint):
    executor = gate_run(adapter, tmp_path, gate_text(query='wf_test_ratio{workload="nobody"}'), source=source_of(prometheus))

    view = executor.run()

    step = view.steps[0]
    assert step.state is StepState.INCONCLUSIVE
    assert (step.gate.inconclusive, step.gate.failed) == (1, 0)
    assert measurements(executor)[0]["verdict"] == "inconclusive"


def test_prometheus_down_is_an_error_that_counts_toward_the_error_limit_not_a_failure(adapter, tmp_path, private_prometheus):
    private_prometheus.stop()
    executor = gate_run(adapter, tmp_path, gate_text(extra="consecutive_error_limit: 2"), source=source_of(private_prometheus))

    view = executor.run()

    step = view.steps[0]
    assert step.state is StepState.FAILED
    assert step.message.startswith("error:")
    assert (step.gate.errors, step.gate.failed) == (3, 0)
    journaled = measurements(executor)
    assert [m["verdict"] for m in journaled] == ["error"] * 3
    assert all(m["value"] is None for m in journaled)


def test_an_environment_without_prometheus_gives_errors_that_say_so(adapter, tmp_path):
    executor = gate_run(adapter, tmp_path, gate_text(extra="consecutive_error_limit: 0"), source=None)

    view = executor.run()

    assert view.steps[0].state is StepState.FAILED
    assert "no Prometheus" in measurements(executor)[0]["message"]


def test_a_named_query_of_the_environment_is_used_by_name(adapter, tmp_path, prometheus, metrics_endpoint):
    queries = (NamedQuery("ratio", 'wf_test_ratio{job="fixed",workload="{workload}"}', unit="ratio"),)
    executor = gate_run(adapter, tmp_path, gate_text(query="ratio", count=1), source=source_of(prometheus), queries=queries)

    view = executor.run()

    assert view.steps[0].state is StepState.PASSED
    assert view.steps[0].gate.unit == "ratio"
    assert view.steps[0].gate.values == (0.25,)


@pytest.fixture
def switchable(prometheus):
    """A metric of this test's own that the test turns bad while a run goes on."""
    # A job of its own: the previous test's endpoint may still be scraped for a second.
    job = f"switch-{secrets.token_hex(4)}"
    endpoint = MetricsEndpoint('wf_switch 0.01\n')
    endpoint.job = job
    target = prometheus.scrape(endpoint.address, labels={"job": job})
    prometheus.wait_for_result(f'wf_switch{{job="{job}"}}', lambda result: len(result) == 1)
    yield endpoint
    prometheus.unscrape(target)
    endpoint.close()


BACKGROUND = """\
name: background
title: Background
steps:
  - id: deploy
    kind: action
    verb: deploy
    image: registry.test/web:2.0
  - id: watch
    kind: gate
    type: prometheus
    query: 'wf_switch{job="JOB"}'
    success: "result[0] < 0.05"
    interval: 300ms
    background: true
    on_fail: rollback
  - id: soak
    kind: wait
    duration: 40s
"""


def test_a_background_gate_that_fails_interrupts_a_later_step_and_applies_its_on_fail(adapter, tmp_path, prometheus, switchable):
    executor = gate_run(adapter, tmp_path, BACKGROUND.replace("JOB", switchable.job), source=source_of(prometheus))
    thread = in_thread(executor)
    wait_for(lambda: executor.view.current == 2 or None, "the soak wait", timeout=30)
    assert executor.view.steps[1].state is StepState.RUNNING

    switchable.text = "wf_switch 0.5\n"
    thread.join(timeout=60)

    view = executor.view
    assert view.phase is Phase.ROLLED_BACK
    assert view.steps[1].state is StepState.FAILED
    assert view.steps[2].state is StepState.CANCELLED
    assert adapter.observe(WEB).image == "registry.test/web:1.0"
    assert any(m["verdict"] == "fail" for m in measurements(executor))


def test_a_background_gate_still_passing_when_the_run_ends_is_stopped_successful(adapter, tmp_path, prometheus, switchable):
    text = BACKGROUND.replace("duration: 40s", "duration: 1500ms").replace("JOB", switchable.job)

    view = gate_run(adapter, tmp_path, text, source=source_of(prometheus)).run()

    assert view.phase is Phase.HEALTHY
    assert view.steps[1].state is StepState.PASSED
    assert view.steps[1].gate.passed >= 2


def test_promote_ends_a_running_gate_early_and_the_run_goes_on(adapter, tmp_path, prometheus, metrics_endpoint):
    executor = gate_run(adapter, tmp_path, gate_text(count=500), source=source_of(prometheus), interactive=True)
    thread = in_thread(executor)
    wait_for(lambda: (executor.view.steps[0].gate and executor.view.steps[0].gate.passed >= 1) or None, "a measurement", timeout=20)

    executor.send("promote", actor="oncall")
    thread.join(timeout=20)

    view = executor.view
    assert view.phase is Phase.HEALTHY
    assert view.steps[0].state is StepState.SKIPPED
    assert "promoted by oncall" in view.steps[0].message
    assert any(e["event"] == "operator.promote" for e in read_journal(executor.journal.path).entries)
