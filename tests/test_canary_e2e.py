"""The built-in ``canary`` runbook end to end on the real Docker engine, judged by a real
Prometheus.

The service is the busybox ``web`` test image on the host network with ``PORT=auto``:
each replica picks its own port, registers itself with the session Prometheus
(file_sd) under its ``workload`` and ``version`` and sends itself steady traffic. A good
canary (``web:2``) passes every error-ratio gate and is promoted; a bad one
(``web:3-errors``, whose every request answers 500) fails its first gate, the canary is
removed and the stable replicas were never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.docker import DockerAdapter
from adapters.prometheus import PrometheusSource
from console.model import Environment, EnvironmentKind, Health
from console.runbook.actor import actor
from console.runbook.executor import RunExecutor, RunOptions
from console.runbook.journal import Journal, RunHeader, new_run_id, read_journal
from console.runbook.loader import load_runbook_file
from console.runbook.run_view import Phase, StepState
from console.runbook.templating import bind_params, render
from tests.backends import wait_for
from tests.prometheus_backend import prometheus, scraped_web  # noqa: F401 - fixtures

pytestmark = pytest.mark.docker

CANARY = Path(__file__).resolve().parent.parent / "runbooks" / "canary.yaml"
WEB2 = "watchfloor-test/web:2"
ERRORS = "watchfloor-test/web:3-errors"
FAST = {"interval": "2s", "measurements": "2", "warmup": "6s", "health_timeout": "60s"}


class _Loaded:
    def __init__(self, runbook) -> None:
        self.runbook = runbook


@pytest.fixture
def adapter(docker_engine, tmp_path):
    environment = Environment(name="local", kind=EnvironmentKind.DOCKER, target="")
    adapter = DockerAdapter(environment, state_dir=tmp_path / "state")
    adapter.connect()
    yield adapter
    adapter.close()


def canary_run(adapter, key, tmp_path: Path, image: str, prometheus_url: str) -> RunExecutor:
    loaded = load_runbook_file(CANARY, source="builtin")
    values = bind_params(loaded.runbook, {"image": image, **FAST})
    observed = adapter.observe(key)
    run_id = new_run_id()
    (tmp_path / "runs").mkdir(exist_ok=True)
    builtins = {
        "workload": key.name,
        "environment": "local",
        "current_version": observed.version,
        "current_image": observed.image,
        "run_id": run_id,
        "actor": "tester@host",
    }
    journal = Journal.create(
        run_id, RunHeader(runbook=loaded.ref, environment_name="local", workload=key.label, actor=actor()), tmp_path / "runs"
    )
    return RunExecutor(
        _Loaded(render(loaded.runbook, {**builtins, **values})),
        values,
        adapter=adapter,
        environment=adapter.environment,
        key=key,
        journal=journal,
        options=RunOptions(auto_answer=True, interactive=False, poll_seconds=0.5),
        prometheus=lambda: PrometheusSource(prometheus_url, timeout=3.0),
    )


def containers(engine, service) -> dict[str, tuple[str, str, str]]:
    """Every container of the service's project: id → (name, image, started at)."""
    found = engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={service.project}"})
    return {c.id: (c.name, c.attrs["Config"]["Image"], c.attrs["State"]["StartedAt"]) for c in found}


def test_a_good_canary_passes_every_gate_and_is_promoted(adapter, scraped_web, docker_engine, tmp_path):
    service = scraped_web.up("web:1", replicas=2)
    key = service.key("local")
    wait_for(lambda: adapter.observe(key).health == Health.HEALTHY or None, "web:1 healthy", timeout=60)
    scraped_web.wait_scraped(service.workload, replicas=2)

    view = canary_run(adapter, key, tmp_path, WEB2, scraped_web.prometheus.url).run()

    assert view.phase is Phase.HEALTHY, (view.message, [(s.id, s.state.value, s.message) for s in view.steps])
    gates = [s for s in view.steps if s.gate is not None and not s.gate.background]
    assert len(gates) == 3 and all(s.state is StepState.PASSED for s in gates)
    assert all(s.gate.passed == 2 and s.gate.failed == 0 for s in gates)
    observed = adapter.observe(key)
    assert (observed.image, observed.ready, observed.desired) == (WEB2, 2, 2)
    assert adapter.release_state(key).kind == ""
    running = docker_engine.containers.list(filters={"label": f"com.docker.compose.project={service.project}"})
    assert len(running) == 2 and all(c.attrs["Config"]["Image"] == WEB2 for c in running)  # the old ones are kept stopped
    entries = read_journal(Path(view.journal)).entries
    measured = [e["data"] for e in entries if e["event"] == "gate.measurement" and e["step"] == "errors-10"]
    assert measured and all(m["verdict"] == "pass" and m["value"][0] < 0.05 for m in measured)


def test_a_canary_that_answers_500_fails_its_first_gate_and_is_removed_with_stable_untouched(
    adapter, scraped_web, docker_engine, tmp_path
):
    service = scraped_web.up("web:1", replicas=2)
    key = service.key("local")
    wait_for(lambda: adapter.observe(key).health == Health.HEALTHY or None, "web:1 healthy", timeout=60)
    scraped_web.wait_scraped(service.workload, replicas=2)
    before = containers(docker_engine, service)

    view = canary_run(adapter, key, tmp_path, ERRORS, scraped_web.prometheus.url).run()

    assert view.phase is Phase.ROLLED_BACK, (view.message, [(s.id, s.state.value, s.message) for s in view.steps])
    first_gate = next(s for s in view.steps if s.id == "errors-10")
    assert first_gate.state is StepState.FAILED
    assert first_gate.gate.failed == 1 and first_gate.gate.values[-1] > 0.5
    assert all(s.state is StepState.PENDING for s in view.steps if s.id in ("weight-25", "promote"))
    assert adapter.release_state(key).kind == ""
    observed = adapter.observe(key)
    assert (observed.image, observed.ready, observed.desired) == ("watchfloor-test/web:1", 2, 2)
    assert containers(docker_engine, service) == before  # same containers, never restarted, no canary left
    assert "canary" in view.message
