"""The one error model: each source's class, the incident snippet, and the doc links.

Errors come from the real sources where the source is cheap to run for real: a Docker
adapter pointed at a socket nobody listens on, config and runbook files on disk, a
world-readable config with a literal secret, a real traceback. Runs and gates are the
frozen ``RunView`` an executor publishes (the executor's own tests run them for real;
test_error_panel.py does a real rolled-back run end to end).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, ErrorKind, LockHolder
from adapters.docker import DockerAdapter
from adapters.lock_file import LockConflict
from console.config import load_config, parse_config
from console.errors import (
    TOPICS,
    ErrorClass,
    ErrorContext,
    ErrorReport,
    class_of_kind,
    from_adapter_error,
    from_config_error,
    from_connection,
    from_exception,
    from_gate,
    from_prometheus_connection,
    from_prometheus_error,
    from_refusal,
    from_run,
    from_runbook_problems,
    incident_snippet,
    slug,
)
from console.model import ConnectionState, Environment, EnvironmentKind, WorkloadKey
from console.redact import REDACTED
from console.runbook.executor import RunRefused
from console.runbook.loader import load_runbooks
from console.runbook.run_view import GateView, Phase, RunView, StepState, StepView
from console.runbook.session import RunSetupError
from console.yaml_source import ConfigError

DOC = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"
WEB = WorkloadKey("prod", "shop", "web")
DEAD_SOCKET = "unix:///tmp/wf-errors-no-engine.sock"


def run_view(phase: Phase, message: str, *steps: StepView, **fields) -> RunView:
    return RunView(
        run_id="20261126T010000Z-ab12cd",
        runbook="deploy",
        title="Deploy a new image",
        environment="prod",
        workload=WEB,
        phase=phase,
        message=message,
        steps=steps,
        from_version="1.4.1",
        to_version="1.5.0",
        journal="/state/runs/20261126T010000Z-ab12cd.jsonl",
        **fields,
    )


# --- classification of each source ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ErrorKind.UNREACHABLE, ErrorClass.ENVIRONMENT),
        (ErrorKind.BACKEND, ErrorClass.ENVIRONMENT),
        (ErrorKind.FORBIDDEN, ErrorClass.POLICY),
        (ErrorKind.READ_ONLY, ErrorClass.POLICY),
        (ErrorKind.CONFLICT, ErrorClass.POLICY),
        (ErrorKind.BAD_INPUT, ErrorClass.BAD_INPUT),
        (ErrorKind.NOT_FOUND, ErrorClass.BAD_INPUT),
    ],
)
def test_every_adapter_error_kind_has_a_class(kind, expected):
    assert class_of_kind(kind) is expected
    assert class_of_kind(kind.value) is expected


def test_an_unreachable_docker_engine_is_an_environment_problem_with_its_own_section():
    environment = Environment("far", EnvironmentKind.DOCKER, DEAD_SOCKET)
    with pytest.raises(AdapterError) as caught:
        DockerAdapter(environment, host=DEAD_SOCKET).connect()

    report = from_adapter_error(caught.value, environment_kind=EnvironmentKind.DOCKER)

    assert report.error_class is ErrorClass.ENVIRONMENT
    assert report.anchor == "docker-engine-unreachable"
    assert "wf-errors-no-engine" in report.summary and report.summary.endswith("nothing was changed")
    assert report.developer_detail, "the SDK's exception is kept for developers"


def test_a_lost_environment_says_the_console_retries_and_keeps_the_kind():
    environment = Environment("prod", EnvironmentKind.KUBERNETES, "prod-ctx")
    state = ConnectionState(
        False,
        error="/api/v1/pods: HTTP 403: pods is forbidden",
        since=datetime(2026, 11, 25, 14, 3, 4, tzinfo=UTC),
        kind="forbidden",
        developer_detail='{"kind":"Status","code":403}',
    )

    report = from_connection(environment, state)

    assert report.error_class is ErrorClass.POLICY
    assert report.anchor == "kubernetes-api-401-or-403"
    assert "keeps retrying" in report.summary
    assert "2026-11-25 14:03:04 UTC" in report.admin_detail
    assert report.developer_detail == '{"kind":"Status","code":403}'


def test_a_prometheus_outage_is_a_monitoring_problem_and_a_rejected_query_is_bad_input():
    environment = Environment("prod", EnvironmentKind.KUBERNETES, "ctx", prometheus="http://prom:9090")
    down = from_prometheus_connection(environment, ConnectionState(False, error="connection refused", kind="unreachable"))
    outage = from_prometheus_error(AdapterError(ErrorKind.UNREACHABLE, "cannot reach Prometheus at http://prom:9090"))
    rejected = from_prometheus_error(AdapterError(ErrorKind.BAD_INPUT, "Prometheus rejected the query: parse error"))

    assert down.error_class is ErrorClass.MONITORING and down.anchor == "prometheus-down-or-gate-error"
    assert outage.error_class is ErrorClass.MONITORING
    assert rejected.error_class is ErrorClass.BAD_INPUT


def test_a_config_file_error_is_bad_input_located_by_file_line_and_field():
    with pytest.raises(ConfigError) as caught:
        parse_config("environments:\n  - kind: dockr\n    name: x\n", file="config.yaml")

    report = from_config_error(caught.value)

    assert report.error_class is ErrorClass.BAD_INPUT
    assert report.anchor == "config-file-errors"
    assert report.summary.startswith("config.yaml:2:")
    assert report.summary.endswith("the console did not start")


def test_a_literal_secret_in_a_readable_config_is_a_policy_refusal_that_never_shows_the_secret(tmp_path):
    token = "Zq8xK2mP9vR4tL7wB3nH6jD1"
    config = tmp_path / "config.yaml"
    config.write_text(
        "environments:\n  - kind: docker\n    name: local\n    prometheus:\n      url: http://127.0.0.1:9090\n"
        f"      headers:\n        X-Api-Key: \"{token}\"\n"
    )
    config.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(config)

    report = from_config_error(caught.value)

    assert report.error_class is ErrorClass.POLICY
    assert report.anchor == "literal-secret-in-the-config-refused"
    assert token not in incident_snippet(report, level=2)


def test_runbook_files_that_do_not_load_are_bad_input_and_the_others_still_work(tmp_path):
    (tmp_path / "broken.yaml").write_text("name: broken\nsteps:\n  - {id: a, kind: wait, duration: 5}\n  - {id: a, kind: wait, duration: 5s}\n")
    loaded = load_runbooks(None, tmp_path)

    report = from_runbook_problems(loaded.problems)

    assert "deploy" in loaded.runbooks
    assert report is not None and report.error_class is ErrorClass.BAD_INPUT
    assert report.anchor == "runbook-file-errors"
    assert "broken.yaml" in report.summary and "broken.yaml" in report.admin_detail
    assert from_runbook_problems([]) is None


def test_a_run_rolled_back_after_its_rollout_failed_is_a_deployment_failure_saying_what_was_done():
    view = run_view(
        Phase.ROLLED_BACK,
        "roll-out failed: CrashLoopBackOff (exit 1) — rolled back to 1.4.1",
        StepView("roll-out", "Roll out", "action", StepState.FAILED, "CrashLoopBackOff (exit 1)"),
        StepView("healthy", "Healthy", "gate"),
        StepView("rollback", "Roll back", "action", StepState.PASSED, "web runs 1.4.1"),
        desired=3, updated=1, ready=2,
    )

    report = from_run(view)

    assert report is not None and report.error_class is ErrorClass.DEPLOYMENT
    assert report.summary == "Deploy a new image of shop/web in prod failed: roll-out failed: CrashLoopBackOff (exit 1) — rolled back to 1.4.1"
    assert report.anchor == "health-gate-failed-and-the-run-rolled-back"
    assert "3 desired · 1 updated · 2 ready" in report.admin_detail
    assert report.context.last_steps == ("roll-out: failed — CrashLoopBackOff (exit 1)", "rollback: passed — web runs 1.4.1")
    assert (report.context.run_id, report.context.phase, report.context.versions) == (view.run_id, "RolledBack", "1.4.1 → 1.5.0")


def test_a_run_whose_prometheus_gate_could_not_measure_is_a_monitoring_problem():
    gate = GateView("error_ratio", values=(float("nan"),) * 3, verdicts=("error",) * 3, errors=3, phase="error", message="Prometheus unreachable")
    view = run_view(
        Phase.DEGRADED,
        "errors failed: 3 consecutive errors",
        StepView("errors", "Error ratio under 5 %", "gate", StepState.FAILED, "3 consecutive errors", gate=gate),
    )

    report = from_run(view)
    gate_report = from_gate(view.steps[0])

    assert report.error_class is ErrorClass.MONITORING
    assert "⚠ 3" in report.admin_detail, "the gate's measurements are admin detail"
    assert "left as the run left it" in report.summary
    assert gate_report.error_class is ErrorClass.MONITORING


def test_a_run_stopped_by_the_journal_is_an_environment_problem():
    view = run_view(
        Phase.ABORTED,
        "stopped: [Errno 28] No space left on device — no further change was made",
        StepView("roll-out", "Roll out", "action", StepState.INTERRUPTED, "stopped: the journal could not be written"),
    )

    report = from_run(view)

    assert report.error_class is ErrorClass.ENVIRONMENT and report.anchor == "journal-write-failed"


def test_a_healthy_or_still_going_run_has_no_error():
    assert from_run(run_view(Phase.HEALTHY, "done")) is None
    assert from_run(run_view(Phase.PROGRESSING, "running", StepView("roll-out", "Roll out", "action", StepState.RUNNING))) is None


def test_a_lock_refusal_is_a_policy_refusal_naming_the_holder():
    holder = LockHolder("alice@bastion", "r-1", 4242, "bastion", datetime(2026, 11, 26, 10, 0, 3, tzinfo=UTC), datetime(2026, 11, 26, 10, 0, 3, tzinfo=UTC), 60)
    conflict = LockConflict(WEB, holder, None)
    refused = RunRefused(conflict.summary, holder=holder, kind=conflict.kind)

    report = from_refusal(refused)

    assert report.error_class is ErrorClass.POLICY and report.anchor == "lock-held-or-stale"
    assert "alice@bastion" in report.summary and report.summary.endswith("nothing was changed")
    assert "r-1" in report.admin_detail


def test_an_image_policy_refusal_has_its_own_section():
    refused = RunRefused("refused by image policy: allowed: docker.io/evil/web matches none of registry.example.com/team/*", kind=ErrorKind.BAD_INPUT)

    report = from_refusal(refused)

    assert report.error_class is ErrorClass.POLICY and report.anchor == "image-refused-by-policy"


def test_a_setup_error_that_could_not_reach_the_environment_is_an_environment_problem():
    report = from_refusal(RunSetupError("prod: cannot reach the Kubernetes API", exit_code=4))

    assert report.error_class is ErrorClass.ENVIRONMENT


def test_an_unexpected_exception_is_an_internal_error_with_its_traceback():
    def broken():
        return {}["missing"]

    try:
        broken()
    except KeyError as error:
        report = from_exception(error, context=ErrorContext(environment="prod"))

    assert report.summary.startswith("internal error: KeyError")
    assert report.anchor == "internal-error"
    assert "Traceback (most recent call last)" in report.developer_detail and "in broken" in report.developer_detail


def test_typed_exceptions_keep_their_class_through_from_exception():
    report = from_exception(AdapterError(ErrorKind.FORBIDDEN, "forbidden"))

    assert report.error_class is ErrorClass.POLICY


# --- the incident snippet ------------------------------------------------------------------


def full_report(**context) -> ErrorReport:
    return ErrorReport(
        ErrorClass.DEPLOYMENT,
        "Deploy of shop/web in prod failed: new replicas never became healthy — rolled back to 1.4.1",
        admin_detail="replicas: 3 desired · 1 updated · 2 ready\nweb-7d9f: CrashLoopBackOff",
        developer_detail="PATCH /apis/apps/v1/namespaces/shop/deployments/web\nHTTP 200",
        context=ErrorContext(**context),
        topic="health-gate",
    )


def test_the_snippet_carries_context_error_and_link_as_plain_text():
    report = full_report(
        environment="prod", workload="shop/web", from_version="1.4.1", to_version="1.5.0",
        run_id="r-1", phase="RolledBack", last_steps=("roll-out: failed — CrashLoopBackOff",),
    )

    snippet = incident_snippet(report)

    assert snippet.splitlines() == [
        "watchfloor incident — deployment failure",
        "environment: prod",
        "workload: shop/web",
        "versions: 1.4.1 → 1.5.0",
        "run: r-1",
        "phase: RolledBack",
        "last steps:",
        "  roll-out: failed — CrashLoopBackOff",
        "error: Deploy of shop/web in prod failed: new replicas never became healthy — rolled back to 1.4.1",
        "details (admin):",
        "  replicas: 3 desired · 1 updated · 2 ready",
        "  web-7d9f: CrashLoopBackOff",
        "troubleshooting: docs/troubleshooting.md#health-gate-failed-and-the-run-rolled-back",
    ]


def test_the_snippet_has_the_detail_levels_asked_for():
    report = full_report()

    assert "details (admin)" not in incident_snippet(report, level=0)
    assert "developer details" not in incident_snippet(report, level=1)
    assert "HTTP 200" in incident_snippet(report, level=2)


def test_the_snippet_neutralises_escape_sequences_in_untrusted_text():
    report = full_report(workload="web\x1b]52;c;ZXZpbA==\x07\x1b[2J", environment="prod\nforged: line")

    snippet = incident_snippet(report)

    assert "\x1b" not in snippet and "\x07" not in snippet
    assert "\nforged: line" not in snippet, "a field cannot forge a line of its own"


SECRET_VALUES = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", min_size=12, max_size=40).map(lambda s: "Sx9" + s)
"""Token-like values, prefixed so a value can never occur by chance in the snippet's own words."""

SECRET_SHAPES = st.sampled_from(
    [
        "DB_PASSWORD={}",
        "api_key: {}",
        '"token": "{}"',
        "Authorization: Bearer {}",
        "postgres://app:{}@db:5432/shop",
        "https://prom.example/api?access_token={}",
        "--client-secret={}",
    ]
)
CONTEXT_FIELDS = ("environment", "workload", "from_version", "to_version", "run_id", "phase", "last_steps", "summary", "admin_detail", "developer_detail")
NOISE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(CONTEXT_FIELDS), shape=SECRET_SHAPES, secret=SECRET_VALUES, before=NOISE, after=NOISE, level=st.integers(0, 2))
def test_a_secret_in_any_field_never_reaches_the_snippet(field, shape, secret, before, after, level):
    value = f"{before} {shape.format(secret)} {after}"
    context = {"environment": "prod", "workload": "shop/web"}
    report_fields = {}
    if field == "last_steps":
        context["last_steps"] = ("roll-out: passed", value)
    elif field in ("summary", "admin_detail", "developer_detail"):
        report_fields[field] = value
    else:
        context[field] = value
    report = ErrorReport(
        ErrorClass.DEPLOYMENT,
        report_fields.pop("summary", "Deploy failed"),
        context=ErrorContext(**context),
        **report_fields,
    )

    snippet = incident_snippet(report, level=level)

    assert secret not in snippet


def test_a_secret_is_replaced_where_it_stood_so_the_snippet_keeps_its_shape():
    report = full_report(environment="prod", workload="shop/web", run_id="r-1 DB_PASSWORD=Sx9hunter2hunter2")

    snippet = incident_snippet(report)

    assert f"run: r-1 DB_PASSWORD={REDACTED}" in snippet.splitlines()


def test_declared_secret_values_are_hidden_too():
    report = full_report(environment="prod", workload="shop/web-hunter2-tenant")

    assert "hunter2-tenant" not in incident_snippet(report, extra_values=["hunter2-tenant"])


# --- the troubleshooting guide has a section for every link --------------------------------


def doc_anchors() -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", DOC.read_text(encoding="utf-8"), re.MULTILINE)}


@pytest.mark.parametrize("error_class", list(ErrorClass))
def test_every_error_class_has_its_section_in_the_troubleshooting_guide(error_class):
    assert error_class.anchor in doc_anchors()


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_concrete_error_has_its_section_in_the_troubleshooting_guide(topic):
    report = ErrorReport(ErrorClass.ENVIRONMENT, "x", topic=topic)

    assert report.anchor in doc_anchors()
    assert report.doc_link == f"docs/troubleshooting.md#{report.anchor}"


def test_the_guide_is_linked_from_the_readme_and_the_user_guide():
    root = DOC.parent.parent

    assert "(docs/troubleshooting.md)" in (root / "README.md").read_text(encoding="utf-8")
    assert "(troubleshooting.md)" in (root / "docs" / "user-guide.md").read_text(encoding="utf-8")


def test_collected_messages_report_the_last_as_summary_and_all_as_admin_detail():
    from console.errors import from_messages

    nothing = from_messages([], what="a log stream broke")
    report = from_messages(["web-1: gone", "web-2: cannot reach the API"], what="a log stream broke", done="the other streams go on")

    assert nothing is None
    assert report.summary == "a log stream broke: web-2: cannot reach the API — the other streams go on"
    assert report.admin_detail == "web-1: gone\nweb-2: cannot reach the API"
    assert report.error_class is ErrorClass.ENVIRONMENT
