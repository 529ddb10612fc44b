"""``watchfloor history --audit``: every write, confirmation, lock break and refusal, with its actor.

The journals come from real runs: the console runs in a child process against the
Kubernetes emulator over real HTTP (the ``cluster`` fixture of test_runbook_cli).
"""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime

from adapters.base import LockHolder
from console.runbook.actor import actor
from tests.test_cli import watchfloor
from tests.test_runbook_cli import WEB, cluster  # noqa: F401 - the fixture

ME = actor().label


def audit(env, *args):
    completed = watchfloor("history", "--audit", "--json", *args, env=env)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_a_deploy_exports_its_confirmation_write_and_lock_with_the_actor(cluster):  # noqa: F811
    _adapter, env, _runs = cluster
    watchfloor(
        "runbook", "run", "deploy", "--env", "cluster", "--workload", "web",
        "--set", "image=registry.test/web:1.1", "--set", "soak=1s", "--yes", env=env, timeout=120,
    )

    records = audit(env)

    events = [r["event"] for r in records]
    assert events[:3] == ["run.started", "lock.acquired", "confirm"]
    assert {"write", "lock.released", "run.finished"} <= set(events)
    keys = {"ts", "run_id", "environment", "workload", "actor", "event", "verb", "answer", "lock_holder", "outcome"}
    assert all(keys <= set(r) for r in records)
    assert all(r["actor"] == ME and r["environment"] == "cluster" and r["workload"] == "shop/web" for r in records)
    confirm = next(r for r in records if r["event"] == "confirm")
    assert (confirm["answer"], confirm["outcome"]) == ("yes (--yes)", "confirmed")
    write = next(r for r in records if r["event"] == "write")
    assert (write["verb"], write["outcome"]) == ("deploy", "succeeded")
    assert ME in next(r for r in records if r["event"] == "lock.acquired")["lock_holder"]
    assert records[-1]["outcome"] == "succeeded"


def test_a_run_refused_by_a_held_lock_is_exported_with_the_holder(cluster):  # noqa: F811
    adapter, env, _runs = cluster
    adapter.acquire_lock(WEB, LockHolder("carol@bastion", "run-elsewhere", 4242, "bastion", datetime.now(UTC)))
    watchfloor("runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", env=env)

    records = audit(env)

    refused = [r for r in records if r["event"] == "run.refused"]
    assert len(refused) == 1
    assert refused[0]["actor"] == ME
    assert "carol@bastion" in refused[0]["outcome"] and refused[0]["outcome"].startswith("refused")
    assert not [r for r in records if r["event"] == "write"], "a refused run wrote nothing"


def test_a_broken_stale_lock_names_who_broke_it_and_whose_it_was(cluster):  # noqa: F811
    adapter, env, _runs = cluster
    adapter.acquire_lock(WEB, LockHolder("dave@gone", "run-dead", 99999, "old-host", datetime.now(UTC), ttl_seconds=1))
    time.sleep(1.5)
    watchfloor(
        "runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", "--break-stale-lock", env=env, timeout=120
    )

    records = audit(env)

    broken = [r for r in records if r["event"] == "lock.broken"]
    assert len(broken) == 1
    assert broken[0]["actor"] == ME
    assert broken[0]["lock_holder"] == "dave@gone (run run-dead)"
    assert broken[0]["outcome"].startswith("broken: ") and "ttl" in broken[0]["outcome"], "why it was broken"


def test_a_write_whose_process_died_mid_call_is_exported_as_unanswered(cluster):  # noqa: F811
    _adapter, env, _runs = cluster
    killed = watchfloor(
        "runbook", "run", "deploy", "--env", "cluster", "--workload", "web",
        "--set", "image=registry.test/web:1.1", "--yes",
        env={**env, "WATCHFLOOR_FAULT_KILL_AFTER": "adapter.call:roll-out"}, timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    records = audit(env)

    writes = [r for r in records if r["event"] == "write"]
    assert [(w["verb"], w["outcome"]) for w in writes] == [("deploy", "unanswered")]


def test_env_and_since_filter_and_the_text_table_names_the_actor(cluster):  # noqa: F811
    _adapter, env, _runs = cluster
    watchfloor("runbook", "run", "restart", "--env", "cluster", "--workload", "web", "--yes", env=env, timeout=120)

    everything = audit(env)
    other_env = audit(env, "--env", "frozen")
    recent = audit(env, "--since", "1h")
    table = watchfloor("history", "--audit", "--env", "cluster", env=env)
    bad_since = watchfloor("history", "--audit", "--since", "soon", env=env)
    runs_since = watchfloor("history", "--since", "1h", "--json", env=env)

    assert everything and other_env == []
    assert recent == everything
    assert table.returncode == 0 and ME in table.stdout and "lock.acquired" in table.stdout
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr
    assert [run["runbook"] for run in json.loads(runs_since.stdout)] == ["restart"], "--since filters runs too"
