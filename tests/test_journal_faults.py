"""A write it cannot record is a write it does not make (issue E, fault 5).

Disk full is the kernel's own ENOSPC: the journal's file descriptor is pointed at
``/dev/full`` mid-run (``dup2``), so the next entry fails exactly as on a full disk. An
unusable state dir is a path under a regular file (root ignores permission bits, so
a read-only directory would not refuse us here).
"""

from __future__ import annotations

import os

from console.runbook.journal import read_journal
from console.runbook.run_view import Phase, StepState
from tests.backends import wait_for
from tests.test_cli import watchfloor
from tests.test_runbook_cli import cluster  # noqa: F401 - fixture
from tests.test_runbook_executor import WEB, adapter, emulator, in_thread, make_run  # noqa: F401

WAIT_THEN_DEPLOY = """\
name: wait-then-deploy
title: Wait, then deploy
steps:
  - id: wait
    kind: wait
    duration: 3s
  - id: deploy
    kind: action
    verb: deploy
    image: registry.test/web:2.0
"""


def test_a_full_disk_stops_the_run_before_its_next_write_and_says_so(adapter, tmp_path):
    executor = make_run(adapter, tmp_path, WAIT_THEN_DEPLOY)
    thread = in_thread(executor)
    wait_for(lambda: executor.view.current == 0 and executor.view.steps[0].state is StepState.WAITING_TIMER or None, "the wait", timeout=20)
    written = read_journal(executor.journal.path).entries
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, executor.journal._fd)  # every later write of this journal: ENOSPC
    os.close(full)

    thread.join(timeout=30)

    view = executor.view
    assert view.phase is Phase.ABORTED
    assert "No space left on device" in view.message and "no further change was made" in view.message
    assert view.steps[1].state is StepState.PENDING
    assert adapter.observe(WEB).image == "registry.test/web:1.0", "the deploy was never sent"
    after = read_journal(executor.journal.path)
    assert not after.problems and after.entries == written, "what was on disk stays valid and complete"
    assert adapter.lock_holder(WEB) is None, "the lock is not left behind for its ttl"


def test_a_state_dir_that_cannot_hold_journals_refuses_the_run_before_any_change(cluster, tmp_path):
    adapter, env, _runs = cluster
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be")
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text() + f"state_dir: {blocker / 'state'}\n")

    completed = watchfloor(
        "runbook", "run", "deploy", "--env", "cluster", "--workload", "web", "--set", "image=registry.test/web:1.1", "--yes",
        env=env, timeout=60,
    )

    assert completed.returncode == 2, completed.stderr
    assert "cannot create the run's journal" in completed.stderr and "did not start" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert adapter.observe(WEB).image == "registry.test/web:1.0"
