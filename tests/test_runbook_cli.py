"""``watchfloor runbook …`` and ``watchfloor history`` as a pipeline runs them.

The console runs in a child process against the Kubernetes emulator (in this test
process) over real HTTP. The crash tests SIGKILL the child right after a chosen
journal entry is on disk (``WATCHFLOOR_FAULT_KILL_AFTER``), then resume the run.
"""

from __future__ import annotations

import json
import signal

import pytest

from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from console.runbook.journal import read_journal
from tests.backends import wait_for
from tests.test_cli import watchfloor
from tests.test_kubernetes_adapter import deployment_object

WEB = WorkloadKey("cluster", "shop", "web")


@pytest.fixture
def cluster(tmp_path):
    with KubernetesEmulator(time_scale=0.05, seed=11) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=2, image="registry.test/web:1.0"))
        kubeconfig = running.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx")
        config = tmp_path / "config.yaml"
        config.write_text(
            "environments:\n"
            "  - name: cluster\n"
            "    kind: kubernetes\n"
            f"    kubeconfig: {kubeconfig}\n"
            "    context: ctx\n"
            "    namespaces: [shop]\n"
            "  - name: frozen\n"
            "    kind: kubernetes\n"
            f"    kubeconfig: {kubeconfig}\n"
            "    context: ctx\n"
            "    namespaces: [shop]\n"
            "    read_only: true\n"
        )
        adapter = KubernetesAdapter(
            Environment("cluster", EnvironmentKind.KUBERNETES, "ctx"), kubeconfig=str(kubeconfig), context="ctx"
        )
        adapter.connect()
        wait_for(lambda: adapter.observe(WEB).health == Health.HEALTHY or None, "web healthy", timeout=20)
        env = {
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "WATCHFLOOR_CONFIG": str(config),
        }
        yield adapter, env, tmp_path / "state" / "watchfloor" / "runs"
        adapter.close()


def run_json(*args, env, timeout=120):
    completed = watchfloor(*args, env=env, timeout=timeout)
    document = json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None
    return completed, document


def test_run_deploy_succeeds_with_exit_0_and_the_documented_json(cluster):
    adapter, env, _runs = cluster

    completed, document = run_json(
        "runbook", "run", "deploy", "--env", "cluster", "--workload", "shop/web",
        "--set", "image=registry.test/web:1.1", "--set", "soak=1s", "--yes", "--json", env=env,
    )

    assert completed.returncode == 0, completed.stderr
    assert {"run_id", "runbook", "environment", "workload", "outcome", "phase", "from_version", "to_version", "journal", "steps"} <= set(document)
    assert document["outcome"] == "succeeded" and document["phase"] == "Healthy"
    assert (document["from_version"], document["to_version"]) == ("1.0", "1.1")
    assert [s["id"] for s in document["steps"]] == ["confirm", "roll-out", "healthy"]
    assert all({"id", "state", "started", "finished"} <= set(s) for s in document["steps"])
    assert "roll-out: passed" in completed.stderr, "progress lines go to stderr"
    assert adapter.observe(WEB).image == "registry.test/web:1.1"


def test_run_deploy_of_a_broken_image_exits_1_rolled_back(cluster):
    adapter, env, _runs = cluster

    completed, document = run_json(
        "runbook", "run", "deploy", "--env", "cluster", "--workload", "web",
        "--set", "image=registry.test/web:1.1-broken", "--yes", "--json", env=env,
    )

    assert completed.returncode == 1, completed.stderr
    assert document["outcome"] == "rolled_back"
    assert adapter.observe(WEB).image == "registry.test/web:1.0"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--set", "image=not a ref!"), "image"),
        (("--set", "colour=blue", "--set", "image=registry.test/web:2"), "colour"),
        ((), "image"),
    ],
    ids=["bad-image", "unknown-param", "missing-param"],
)
def test_bad_input_exits_2_naming_the_problem(cluster, args, words):
    _adapter, env, _runs = cluster

    completed = watchfloor("runbook", "run", "deploy", "--env", "cluster", "--workload", "web", "--yes", *args, env=env)

    assert completed.returncode == 2
    assert words in completed.stderr


def test_unknown_workload_and_read_only_environment_exit_2(cluster):
    _adapter, env, _runs = cluster

    missing = watchfloor("runbook", "run", "restart", "--env", "cluster", "--workload", "nope", "--yes", env=env)
    frozen = watchfloor("runbook", "run", "restart", "--env", "frozen", "--workload", "web", "--yes", env=env)

    assert missing.returncode == 2 and "no workload named 'nope'" in missing.stderr
    assert frozen.returncode == 2 and "read-only" in frozen.stderr


def test_a_run_while_another_holds_the_lock_exits_3_naming_the_holder(cluster):
    adapter, env, _runs = cluster
    from datetime import UTC, datetime

    from adapters.base import LockHolder

    adapter.acquire_lock(WEB, LockHolder("carol@bastion", "run-elsewhere", 4242, "bastion", datetime.now(UTC)))

    completed = watchfloor("runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", env=env)

    assert completed.returncode == 3
    assert "carol@bastion" in completed.stderr and "run-elsewhere" in completed.stderr


def test_an_unreachable_backend_exits_4(tmp_path):
    config = tmp_path / "config.yaml"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    config.write_text(f"environments:\n  - {{name: gone, kind: kubernetes, kubeconfig: {kubeconfig}}}\n")
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "WATCHFLOOR_CONFIG": str(config)}

    completed = watchfloor("runbook", "run", "restart", "--env", "gone", "--workload", "web", "--yes", env=env)

    assert completed.returncode == 4, completed.stderr


def test_list_show_and_history(cluster):
    _adapter, env, _runs = cluster
    watchfloor("runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", env=env, timeout=120)

    listed = watchfloor("runbook", "list", env=env)
    shown = watchfloor("runbook", "show", "deploy", env=env)
    history = watchfloor("history", "--json", env=env)

    assert listed.returncode == 0
    for name in ("deploy", "rollback", "restart", "scale", "incident-triage"):
        assert name in listed.stdout
    assert "roll-out" in shown.stdout and "image" in shown.stdout
    runs = json.loads(history.stdout)
    assert runs[0]["runbook"] == "restart" and runs[0]["outcome"] == "succeeded" and runs[0]["workload"] == "shop/web"


BOUNDARIES = [
    "run.started:",
    "lock.acquired:",
    "step.finished:confirm",
    "step.started:roll-out",
    "adapter.call:roll-out",
    "step.finished:roll-out",
    "step.started:healthy",
    "gate.measurement:healthy",
    "step.finished:healthy",
    "lock.released:",
]


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_deploy_killed_at_any_boundary_resumes_to_the_end_without_applying_anything_twice(cluster, boundary):
    adapter, env, runs = cluster

    killed = watchfloor(
        "runbook", "run", "deploy", "--env", "cluster", "--workload", "web",
        "--set", "image=registry.test/web:1.1", "--set", "soak=1s", "--yes", "--json",
        env={**env, "WATCHFLOOR_FAULT_KILL_AFTER": boundary}, timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    journal = next(runs.glob("*.jsonl"))
    before = read_journal(journal)
    assert not before.problems, "every entry was fsynced before the kill"

    resumed, document = run_json("runbook", "resume", journal.stem, "--yes", "--json", env=env)

    assert resumed.returncode == 0, resumed.stderr
    assert document["outcome"] == "succeeded"
    assert adapter.observe(WEB).image == "registry.test/web:1.1"
    entries = read_journal(journal).entries
    deploy_results = [
        e for e in entries
        if e["event"] == "adapter.call" and e["data"].get("request", {}).get("verb") == "deploy" and "result" in e["data"]
    ]
    assert len(deploy_results) == 1, "the deploy was applied exactly once"
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[-1]["event"] == "run.finished"
    assert adapter.lock_holder(WEB) is None


def test_resume_of_a_finished_run_is_refused(cluster):
    _adapter, env, runs = cluster
    watchfloor("runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", env=env, timeout=120)
    journal = next(runs.glob("*.jsonl"))

    completed = watchfloor("runbook", "resume", journal.stem, "--yes", env=env)

    assert completed.returncode == 2 and "already finished" in completed.stderr




def test_a_stale_lock_is_named_and_broken_only_when_asked_and_journaled(cluster):
    import time
    from datetime import UTC, datetime

    from adapters.base import LockHolder

    adapter, env, runs = cluster
    adapter.acquire_lock(WEB, LockHolder("dave@gone", "run-dead", 99999, "old-host", datetime.now(UTC), ttl_seconds=1))
    time.sleep(1.5)

    refused = watchfloor("runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", env=env)
    broke = watchfloor(
        "runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", "--break-stale-lock", env=env, timeout=120
    )

    assert refused.returncode == 3 and "stale" in refused.stderr and "--break-stale-lock" in refused.stderr
    assert broke.returncode == 0, broke.stderr
    journals = sorted(runs.glob("*.jsonl"))
    entries = read_journal(journals[-1]).entries
    broken = [e for e in entries if e["event"] == "lock.broken"]
    assert broken and broken[0]["data"]["holder"]["holder"] == "dave@gone"
