"""The image policy in real runs: a real registry (Debian's docker-registry), the real
Docker engine, and the Kubernetes emulator over real HTTP.

Through the executor (Kubernetes) and through ``watchfloor runbook run`` headless
(Kubernetes and Docker): patterns allow and refuse, ``require_digest`` pins the
registry's digest and journals it, protected environments require it by default, an
unresolvable tag is refused with a clear sentence, and every refusal (including runs
refused before they had a journal) is in ``history --audit --json`` with its actor.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from adapters.demo.emulator import KubernetesEmulator
from console.image_policy import ImagePolicy
from console.runbook.actor import actor
from console.runbook.executor import RunExecutor, RunOptions
from console.runbook.journal import Journal, RunHeader, new_run_id, read_journal
from console.runbook.loader import load_runbook_file
from console.runbook.run_view import Outcome, StepState
from console.runbook.templating import bind_params, render
from tests.backends import wait_for_health
from tests.registry_backend import pushed, registry  # noqa: F401 - fixtures
from tests.test_cli import watchfloor
from tests.test_kubernetes_adapter import deployment_object
from tests.test_runbook_executor import BUILTIN, WEB, connect

ME = actor().label


def journal_of(executor) -> list[dict]:
    return read_journal(executor.journal.path).entries


def deploy_run(adapter, tmp_path, image: str, policy: ImagePolicy | None) -> RunExecutor:
    """The built-in deploy runbook as prepare_run sets it up, with ``policy`` as the
    config would give it (None: the environment has no image_policy)."""
    loaded = load_runbook_file(BUILTIN / "deploy.yaml", source="builtin")
    values = bind_params(loaded.runbook, {"image": image, "soak": "1s"})
    observed = adapter.observe(WEB)
    run_id = new_run_id()
    builtins = {
        "workload": WEB.name, "environment": adapter.environment.name, "current_version": observed.version,
        "current_image": observed.image, "run_id": run_id, "actor": ME,
    }
    journal = Journal.create(run_id, RunHeader(runbook=loaded.ref, environment_name="cluster", workload=WEB.label), tmp_path)
    return RunExecutor(
        SimpleNamespace(runbook=render(loaded.runbook, {**builtins, **values})),
        values,
        adapter=adapter,
        environment=adapter.environment,
        key=WEB,
        journal=journal,
        options=RunOptions(auto_answer=True, interactive=False, poll_seconds=0.2),
        image_policy=policy,
    )


@pytest.fixture
def emulator():
    with KubernetesEmulator(time_scale=0.05, seed=5) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=2, image="registry.test/web:1.0"))
        yield running


# -- the executor, against the Kubernetes emulator ---------------------------------------------


def test_require_digest_deploys_the_registrys_digest_and_journals_it(emulator, tmp_path, registry, pushed):  # noqa: F811
    image = pushed("web:1", "team/web", "1.1")
    adapter = connect(emulator, tmp_path)
    policy = ImagePolicy.build([f"{registry.host}/team/*"], require_digest=True)
    try:
        executor = deploy_run(adapter, tmp_path, image.reference, policy)

        view = executor.run()

        running = adapter.observe(WEB).image
    finally:
        adapter.close()
    assert view.outcome == Outcome.SUCCEEDED, view.message
    assert running == f"{image.reference}@{image.digest}"
    assert view.to_version == "1.1", "the tag stays the version people read"
    resolved = [e for e in journal_of(executor) if e["event"] == "image.resolved"]
    assert [(e["data"]["requested"], e["data"]["digest"]) for e in resolved] == [(image.reference, image.digest)]
    assert resolved[0]["data"]["source"] == f"registry {registry.host}"
    calls = [e for e in journal_of(executor) if e["event"] == "adapter.call"]
    assert calls[0]["data"]["request"]["image"] == running, "the pinned reference is what was sent"


def test_an_image_outside_the_allowed_patterns_is_refused_before_anything_is_written(emulator, tmp_path):
    adapter = connect(emulator, tmp_path)
    policy = ImagePolicy.build(["registry.example.com/team/*"], require_digest=False)
    try:
        executor = deploy_run(adapter, tmp_path, "registry.test/web:1.1", policy)

        view = executor.run()

        running = adapter.observe(WEB).image
        lock = adapter.lock_holder(WEB)
    finally:
        adapter.close()
    assert view.outcome == Outcome.FAILED
    assert view.message == (
        "refused by image policy: allowed: registry.test/web matches none of registry.example.com/team/*"
    )
    assert running == "registry.test/web:1.0" and lock is None
    events = [e["event"] for e in journal_of(executor)]
    assert "adapter.call" not in events and "lock.acquired" not in events and "operator.confirm" not in events
    refused = next(e for e in journal_of(executor) if e["event"] == "policy.refused")
    assert (refused["data"]["rule"], refused["data"]["image"], refused["step"]) == ("allowed", "registry.test/web:1.1", "roll-out")
    assert refused["actor"]["user"] == actor().user


def test_a_tag_the_registry_does_not_have_is_refused_saying_it_cannot_resolve_the_digest(emulator, tmp_path, registry):  # noqa: F811
    adapter = connect(emulator, tmp_path)
    policy = ImagePolicy.build(None, require_digest=True)
    missing = f"{registry.host}/team/web:9.9"
    try:
        executor = deploy_run(adapter, tmp_path, missing, policy)

        view = executor.run()

        running = adapter.observe(WEB).image
    finally:
        adapter.close()
    assert view.outcome == Outcome.FAILED
    assert view.message == (
        f"refused by image policy: require_digest: cannot resolve digest of {missing}: "
        f"registry {registry.host} has no team/web:9.9"
    )
    assert next(s for s in view.steps if s.id == "roll-out").state == StepState.FAILED
    assert running == "registry.test/web:1.0"
    entries = journal_of(executor)
    assert not [e for e in entries if e["event"] == "adapter.call"], "nothing was written"
    assert [e["data"]["rule"] for e in entries if e["event"] == "policy.refused"] == ["require_digest"]


def test_a_protected_environment_pins_digests_without_being_told(emulator, tmp_path, registry, pushed):  # noqa: F811
    image = pushed("web:1", "team/web", "1.2")
    adapter = connect(emulator, tmp_path, protected=True)
    try:
        executor = deploy_run(adapter, tmp_path, image.reference, None)

        view = executor.run()

        running = adapter.observe(WEB).image
    finally:
        adapter.close()
    assert view.outcome == Outcome.SUCCEEDED, view.message
    assert running == f"{image.reference}@{image.digest}"


# -- headless, through the CLI ------------------------------------------------------------------


@pytest.fixture
def guarded(emulator, tmp_path, registry):  # noqa: F811
    """A config with a guarded Kubernetes environment (patterns + require_digest), a
    protected one with no image_policy, and a read-only one; all on the emulator."""
    kubeconfig = emulator.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx")
    common = f"    kind: kubernetes\n    kubeconfig: {kubeconfig}\n    context: ctx\n    namespaces: [shop]\n"
    config = tmp_path / "config.yaml"
    config.write_text(
        "environments:\n"
        f"  - name: guarded\n{common}"
        "    image_policy:\n"
        f"      allowed: ['{registry.host}/team/*', 'registry.example.com/**']\n"
        "      require_digest: true\n"
        f"  - name: prod\n{common}    protected: true\n"
        f"  - name: frozen\n{common}    read_only: true\n"
    )
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "WATCHFLOOR_CONFIG": str(config),
    }


def run_deploy(env, environment: str, image: str, workload: str = "web"):
    completed = watchfloor(
        "runbook", "run", "deploy", "--env", environment, "--workload", workload,
        "--set", f"image={image}", "--set", "soak=1s", "--yes", "--json", env=env, timeout=120,
    )
    return completed, json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None


def audit(env) -> list[dict]:
    completed = watchfloor("history", "--audit", "--json", env=env)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_cli_deploy_allowed_by_pattern_runs_the_pinned_digest(guarded, registry, pushed):  # noqa: F811
    image = pushed("web:1", "team/web", "2.0")

    completed, document = run_deploy(guarded, "guarded", image.reference)

    assert completed.returncode == 0, completed.stderr
    assert (document["outcome"], document["to_version"]) == ("succeeded", "2.0")
    resolved = [json.loads(line) for line in open(document["journal"]) if '"image.resolved"' in line]
    assert resolved[0]["data"]["image"] == f"{image.reference}@{image.digest}"


def test_cli_refused_image_exits_1_with_the_rule_and_is_in_the_audit_export(guarded, registry):  # noqa: F811
    completed, document = run_deploy(guarded, "guarded", "docker.io/library/nginx:1.25")

    records = audit(guarded)

    assert completed.returncode == 1
    assert document["outcome"] == "failed"
    assert f"refused by image policy: allowed: docker.io/library/nginx matches none of {registry.host}/team/*" in completed.stderr
    refused = [r for r in records if r["event"] == "policy.refused"]
    assert len(refused) == 1
    assert (refused[0]["verb"], refused[0]["answer"], refused[0]["actor"]) == ("allowed", "docker.io/library/nginx:1.25", ME)
    assert refused[0]["outcome"].startswith("refused: docker.io/library/nginx matches none of")
    assert not [r for r in records if r["event"] == "write"]


def test_cli_protected_environment_refuses_a_tag_it_cannot_resolve(guarded, registry):  # noqa: F811
    missing = f"{registry.host}/team/web:0.0-missing"

    completed, document = run_deploy(guarded, "prod", missing)

    assert completed.returncode == 1
    assert document["outcome"] == "failed"
    assert [s["state"] for s in document["steps"]] == ["passed", "failed", "pending"]
    assert f"refused by image policy: require_digest: cannot resolve digest of {missing}" in completed.stderr


def test_runs_refused_before_they_had_a_journal_are_in_the_audit_export(guarded):
    read_only = watchfloor("runbook", "run", "restart", "--env", "frozen", "--workload", "web", "--yes", env=guarded)
    unknown = watchfloor("runbook", "run", "restart", "--env", "guarded", "--workload", "nope", "--yes", env=guarded)

    records = audit(guarded)
    history = json.loads(watchfloor("history", "--json", env=guarded).stdout)

    assert (read_only.returncode, unknown.returncode) == (2, 2)
    refused = sorted((r for r in records if r["event"] == "run.refused"), key=lambda r: r["environment"])
    assert [(r["environment"], r["workload"], r["actor"]) for r in refused] == [("frozen", "web", ME), ("guarded", "nope", ME)]
    assert "read-only" in refused[0]["outcome"] and "no workload named 'nope'" in refused[1]["outcome"]
    assert all(r["outcome"].startswith("refused: ") for r in refused)
    assert {run["status"] for run in history} == {"aborted"}, "a refused run never started: aborted, not failed"


# -- Docker: the engine's own digest ------------------------------------------------------------


@pytest.fixture
def docker_guarded(tmp_path, registry):  # noqa: F811
    config = tmp_path / "config.yaml"
    config.write_text(
        "environments:\n"
        "  - name: local\n"
        "    kind: docker\n"
        f"    image_policy: {{allowed: ['{registry.host}/**', 'watchfloor-test/*'], require_digest: true}}\n"
    )
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "WATCHFLOOR_CONFIG": str(config),
    }


@pytest.fixture
def replaced_too(docker_engine):
    """Removes the replicas a deploy made in place of a test's container (container_factory
    only knows the ones it made): ``replaced_too(name)`` registers a workload."""
    names: list[str] = []
    yield names.append
    for name in names:
        for container in docker_engine.containers.list(all=True, filters={"label": f"watchfloor.workload={name}"}):
            container.remove(force=True, v=True)


@pytest.mark.docker
def test_docker_deploy_pins_the_digest_the_engine_knows(docker_engine, container_factory, pushed, docker_guarded, replaced_too):  # noqa: F811
    old = container_factory("web:1", name="web", network_mode="none")
    replaced_too(old.name)
    wait_for_health(old, "healthy", timeout=20)
    image = pushed("web:2", "team/web", "2")

    completed, document = run_deploy(docker_guarded, "local", image.reference, workload=old.name)

    assert completed.returncode == 0, completed.stderr
    current = docker_engine.containers.get(old.name)
    assert current.attrs["Config"]["Image"] == f"{image.reference}@{image.digest}"
    assert document["to_version"] == "2"
    resolved = [json.loads(line) for line in open(document["journal"]) if '"image.resolved"' in line]
    assert resolved[0]["data"]["source"] == "engine"


@pytest.mark.docker
def test_docker_image_built_here_and_never_pushed_is_refused_and_nothing_changes(docker_engine, container_factory, test_images, docker_guarded):
    old = container_factory("web:1", name="web", network_mode="none")
    wait_for_health(old, "healthy", timeout=20)

    completed, document = run_deploy(docker_guarded, "local", test_images["web:2"], workload=old.name)

    assert completed.returncode == 1, completed.stderr
    assert document["outcome"] == "failed"
    assert "refused by image policy: require_digest: cannot resolve digest of watchfloor-test/web:2" in completed.stderr
    assert "never pushed" in completed.stderr
    assert docker_engine.containers.get(old.name).id == old.id


def test_a_resume_refused_by_a_read_only_environment_is_in_the_audit_export(guarded):
    ran = watchfloor("runbook", "run", "restart", "--env", "guarded", "--workload", "web", "--yes", "--json", env=guarded, timeout=120)
    run_id = json.loads(ran.stdout)["run_id"]

    resumed = watchfloor("runbook", "resume", run_id, "--read-only", env=guarded)
    records = audit(guarded)

    assert ran.returncode == 0, ran.stderr
    assert resumed.returncode == 2 and "read-only" in resumed.stderr
    refused = [r for r in records if r["event"] == "run.refused"]
    assert [(r["environment"], r["workload"], r["actor"]) for r in refused] == [("guarded", "shop/web", ME)]
    assert f"cannot resume run {run_id}" in refused[0]["outcome"]
