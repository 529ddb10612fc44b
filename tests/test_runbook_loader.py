"""Runbook loading: the built-ins, user overrides, and broken files that hide nothing."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from console.runbook import (
    ActionStep,
    ConfirmStep,
    HealthGateStep,
    ManualStep,
    bind_params,
    builtin_runbooks_dir,
    load_runbook_file,
    load_runbooks,
    render,
)
from console.yaml_source import ConfigError

BUILTINS = {
    "workload": "web",
    "environment": "prod",
    "current_version": "1.4.1",
    "current_image": "registry.example.com/web:1.4.1",
    "run_id": "20261126T013000Z-ab12cd",
    "actor": "ana@bastion",
}
SAMPLE_PARAMS = {
    "deploy": {"image": "registry.example.com/web:1.5.0"},
    "scale": {"replicas": "3"},
    "canary": {"image": "registry.example.com/web:1.5.0"},
    "blue-green": {"image": "registry.example.com/web:1.5.0"},
}

USER_DEPLOY = """\
name: deploy
title: Deploy, our way
params:
  image: {type: image}
steps:
  - id: deploy
    kind: action
    verb: deploy
    image: "{{ image }}"
"""


# --- built-ins --------------------------------------------------------------------------


def test_every_builtin_runbook_loads_without_problems() -> None:
    loaded = load_runbooks()

    assert loaded.problems == []
    assert set(loaded.runbooks) == {"deploy", "rollback", "restart", "scale", "incident-triage", "canary", "blue-green"}
    assert all(runbook.source == "builtin" for runbook in loaded)


@pytest.mark.parametrize("name", ["deploy", "rollback", "restart", "scale", "incident-triage", "canary", "blue-green"])
def test_every_builtin_runbook_renders_with_the_params_it_asks_for(name: str) -> None:
    runbook = load_runbooks().runbooks[name].runbook
    values = {**bind_params(runbook, SAMPLE_PARAMS.get(name, {})), **BUILTINS}

    rendered = render(runbook, values)

    assert "{{" not in repr(rendered.model_dump())


def test_the_builtin_deploy_confirms_deploys_then_gates_with_rollback_on_failure() -> None:
    runbook = load_runbooks().runbooks["deploy"].runbook
    values = {**bind_params(runbook, SAMPLE_PARAMS["deploy"]), **BUILTINS}

    confirm, deploy, gate = render(runbook, values).steps

    assert isinstance(confirm, ConfirmStep)
    assert isinstance(deploy, ActionStep) and deploy.verb == "deploy" and deploy.on_fail == "rollback"
    assert deploy.image == "registry.example.com/web:1.5.0"
    assert isinstance(gate, HealthGateStep) and gate.on_fail == "rollback"
    assert (gate.within, gate.stable_for) == (timedelta(minutes=2), timedelta(seconds=10))


def test_incident_triage_branches_past_the_rollback_when_the_operator_declines() -> None:
    runbook = load_runbooks().runbooks["incident-triage"].runbook

    decide = runbook.step("decide-rollback")
    health = runbook.step("health-check")
    after_decide = runbook.steps[runbook.step_index("decide-rollback") + 1]

    assert isinstance(runbook.steps[0], ManualStep) and runbook.steps[0].checklist
    assert health.failure_policy.target == "decide-rollback"
    assert isinstance(after_decide, ActionStep) and after_decide.verb == "rollback"
    assert decide.failure_policy.target == "wrap-up"
    assert isinstance(runbook.step("wrap-up"), ManualStep)


def test_builtin_runbooks_ship_as_package_data() -> None:
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    directory = builtin_runbooks_dir()

    assert (directory / "__init__.py").exists() and sorted(directory.glob("*.yaml"))
    assert '"*.yaml"' in pyproject and '"runbooks"' in pyproject and '"console.runbook"' in pyproject


def test_loading_runbooks_does_not_import_textual() -> None:
    code = "import sys, console.runbook; console.runbook.load_runbooks(); print('textual' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"


# --- user runbooks ------------------------------------------------------------------------


def test_a_user_runbook_replaces_the_builtin_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "deploy.yaml").write_text(USER_DEPLOY, encoding="utf-8")

    loaded = load_runbooks(user_dir=tmp_path)

    deploy = loaded.runbooks["deploy"]
    assert deploy.source == "user"
    assert deploy.runbook.title == "Deploy, our way"
    assert deploy.replaces == builtin_runbooks_dir() / "deploy.yaml"
    assert loaded.runbooks["rollback"].source == "builtin"


def test_a_broken_user_runbook_is_reported_and_hides_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\ntitle: B\nsteps:\n  - id: a\n    kind: wiat\n", "utf-8")
    (tmp_path / "mine.yaml").write_text(USER_DEPLOY.replace("name: deploy", "name: mine"), encoding="utf-8")

    loaded = load_runbooks(user_dir=tmp_path)

    assert "mine" in loaded and "deploy" in loaded and "broken" not in loaded
    (problem,) = loaded.problems
    assert str(problem).startswith(f"{tmp_path / 'broken.yaml'}:5:5: steps[0].kind: unknown step kind 'wiat'")


def test_two_user_files_with_one_name_keep_the_first_and_report_the_second(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(USER_DEPLOY, encoding="utf-8")
    (tmp_path / "b.yml").write_text(USER_DEPLOY.replace("our way", "their way"), encoding="utf-8")

    loaded = load_runbooks(user_dir=tmp_path)

    assert loaded.runbooks["deploy"].path == tmp_path / "a.yaml"
    assert [p.file for p in loaded.problems] == [str(tmp_path / "b.yml")]
    assert "already used by a.yaml" in loaded.problems[0].message


def test_a_missing_runbooks_dir_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    loaded = load_runbooks(user_dir=tmp_path / "nope")

    assert "deploy" in loaded
    assert [(p.field, p.message) for p in loaded.problems] == [("runbooks_dir", "no such directory")]


def test_a_runbook_is_identified_by_the_hash_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(USER_DEPLOY, encoding="utf-8")

    loaded = load_runbook_file(path)

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.sha256 == digest
    assert loaded.ref == f"deploy@{digest}"


def test_a_missing_runbook_file_reads_like_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_runbook_file(tmp_path / "missing.yaml")

    assert str(caught.value).startswith(f"{tmp_path / 'missing.yaml'}: (file): no such file (fix: ")


def test_builtins_can_be_loaded_from_a_copy_of_the_directory(tmp_path: Path) -> None:
    shutil.copytree(builtin_runbooks_dir(), tmp_path / "builtin", ignore=shutil.ignore_patterns("__pycache__"))

    loaded = load_runbooks(builtin_dir=tmp_path / "builtin")

    assert len(loaded) == len(list(builtin_runbooks_dir().glob("*.yaml"))) == 7 and loaded.problems == []
