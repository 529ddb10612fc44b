"""Packaging (issue 7): the wheel, the container image, the Kubernetes manifests, the CI examples.

The wheel is built offline and installed into a fresh venv; the image is built from
deploy/Dockerfile on a real engine and started; the manifests are read into the
official client's models. What stands in for what cannot exist here (a registry, the
pinned base image) is described in tests/packaging_support.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import docker
import pytest
import yaml

from tests.backends import PrivateDockerd, backend_unavailable, wait_for_health
from tests.packaging_support import (
    PACKAGES,
    ROOT,
    base_image_tag,
    build_wheel,
    build_wheelhouse,
    python_rootfs,
)

DEPLOY = ROOT / "deploy"
WORKFLOWS = ROOT / ".github" / "workflows"
BUILTIN_RUNBOOKS = sorted(p.stem for p in (ROOT / "runbooks").glob("*.yaml"))


def _clean_env(tmp: Path) -> dict[str, str]:
    """An environment with nothing of the work tree on the import path and fresh XDG dirs."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "WATCHFLOOR_CONFIG")}
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_STATE_HOME=str(tmp / "state"), HOME=str(tmp))
    return env


# -- the wheel --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    scratch = tmp_path_factory.mktemp("wheel")
    return build_wheel(scratch / "dist", scratch)


def test_the_wheel_holds_every_module_stylesheet_and_runbook_of_the_six_packages(wheel):
    expected = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.suffix in (".py", ".tcss", ".yaml") and "__pycache__" not in path.parts
    }

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))

    assert expected - names == set(), "left out of the wheel"
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == set(PACKAGES)
    assert "watchfloor = console.cli:run" in entry_points


def test_the_wheel_installed_in_a_fresh_venv_runs_and_lists_the_built_in_runbooks(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--quiet", str(wheel)],
        check=True, timeout=120,
    )
    # The dependencies come from the test environment, as a plain path entry: the work
    # tree's editable install (a .pth file there) is not processed, so only the wheel
    # can provide watchfloor's own packages.
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = _clean_env(tmp_path)

    helped = subprocess.run([str(venv / "bin" / "watchfloor"), "--help"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    listed = subprocess.run(
        [str(venv / "bin" / "watchfloor"), "runbook", "list", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )

    assert helped.returncode == 0, helped.stderr
    assert "runbook" in helped.stdout and "status" in helped.stdout
    assert listed.returncode == 0, listed.stderr
    runbooks = json.loads(listed.stdout)
    assert sorted(r["name"] for r in runbooks if r["source"] == "builtin") == BUILTIN_RUNBOOKS
    assert all(Path(r["path"]).is_relative_to(site) for r in runbooks), "read from the installed wheel"


def test_the_project_metadata_installs_the_console_script_for_pipx_and_uv():
    project = _toml(ROOT / "pyproject.toml")

    assert project["project"]["scripts"] == {"watchfloor": "console.cli:run"}
    assert project["project"]["requires-python"] == ">=3.11"
    assert "textual-serve" in " ".join(project["project"]["dependencies"]), "serve runs from a plain install"


def _toml(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text())


# -- the container image ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_engine(tmp_path_factory):
    """An engine to build on: a private dockerd with overlay2 when overlay mounts work here.

    The shared test engine uses vfs, which copies the whole root filesystem for every
    build step: the image (about 290 MB) took over 6 minutes there on this 2-core
    machine, against about a minute on overlay2. Where overlay2 cannot start, the
    shared engine builds it, slowly.
    """
    dockerd = shutil.which("dockerd")
    private = None
    if dockerd is not None and os.geteuid() == 0:
        private = PrivateDockerd(Path(tempfile.mkdtemp(prefix="wfp-", dir="/tmp")), tmp_path_factory.mktemp("dockerd") / "dockerd.log", dockerd)
        private.storage_driver = "overlay2"
        try:
            private.start()
        except RuntimeError:
            private.close()
            private = None
    if private is not None:
        client = private.client(timeout=600)
        yield client
        client.close()
        private.close()
        return
    try:
        client = docker.DockerClient(timeout=900)
        client.ping()
    except docker.errors.DockerException as error:
        backend_unavailable("Docker engine", str(error))
    yield client
    client.close()


@pytest.fixture(scope="module")
def python_base(image_engine, tmp_path_factory) -> str:
    """The stand-in for the pinned python:3.11-slim base, imported from the host's Python."""
    tag = base_image_tag()
    try:
        image_engine.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    tar = tmp_path_factory.mktemp("base") / "rootfs.tar"
    python_rootfs(tar, [Path(sysconfig.get_path("purelib")), Path(sysconfig.get_path("platlib"))])
    repository, _, version = tag.partition(":")
    with tar.open("rb") as data:
        image_engine.api.import_image_from_data(data.read(), repository=repository, tag=version)
    return tag


@pytest.fixture(scope="module")
def image(image_engine, python_base, tmp_path_factory):
    """deploy/Dockerfile built from a wheelhouse, on the stand-in base; removed afterwards."""
    scratch = tmp_path_factory.mktemp("image")
    build_wheelhouse(scratch / "wheelhouse", scratch)
    tag = f"watchfloor-test/watchfloor:{secrets.token_hex(4)}"
    started = time.monotonic()
    try:
        built, _ = image_engine.images.build(
            path=str(scratch / "wheelhouse"),
            dockerfile=str(DEPLOY / "Dockerfile"),
            buildargs={"BASE": python_base},
            tag=tag,
            network_mode="none",
            rm=True,
            forcerm=True,
        )
    except docker.errors.BuildError as error:
        log = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in error.build_log)
        raise AssertionError(f"deploy/Dockerfile did not build:\n{log[-6000:]}") from error
    print(f"image built in {time.monotonic() - started:.0f} s")
    yield built
    image_engine.images.remove(built.id, force=True)
    image_engine.images.prune(filters={"dangling": True})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.docker
def test_the_image_runs_as_a_non_root_user_with_a_healthcheck_and_no_build_inputs_left(image, image_engine):
    config = image.attrs["Config"]
    files = image_engine.containers.run(
        image.id,
        entrypoint=["python", "-c", "import os; print(os.getuid(), os.path.exists('/wheels'), os.access('/opt/watchfloor', os.W_OK))"],
        command=[],
        network_mode="none",
        remove=True,
    ).decode()

    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert config["Entrypoint"] == ["watchfloor"] and config["Cmd"][:1] == ["serve"]
    assert files.split() == ["10001", "False", "False"], "non-root, no wheelhouse, the install not writable"
    secret_named = [e for e in config["Env"] if re.search(r"TOKEN|SECRET|PASSWORD|KEY", e.split("=", 1)[0])]
    assert secret_named == []
    history = " ".join(h.get("CreatedBy", "") for h in image.history())
    assert not re.search(r"TOKEN|SECRET|PASSWORD", history), "no secret in any layer's command"


@pytest.mark.docker
def test_the_image_lists_the_built_in_runbooks_from_its_installed_wheel(image, image_engine):
    listed = image_engine.containers.run(image.id, command=["runbook", "list", "--json"], network_mode="none", remove=True)

    runbooks = json.loads(listed)
    assert sorted(r["name"] for r in runbooks) == BUILTIN_RUNBOOKS
    assert all(r["path"].startswith("/opt/watchfloor/lib/") for r in runbooks)


@pytest.mark.docker
def test_the_container_serves_the_console_and_its_healthcheck_reports_healthy(image, image_engine):
    port = _free_port()
    check = image.attrs["Config"]["Healthcheck"]
    container = image_engine.containers.run(
        image.id,
        command=["serve", "--host", "127.0.0.1", "--port", str(port)],
        environment={"WATCHFLOOR_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/"},
        # The image's own check command, polled every second instead of every 10 s.
        healthcheck={"test": check["Test"], "interval": 1_000_000_000, "timeout": 3_000_000_000, "retries": 3, "start_period": 0},
        network_mode="host",
        detach=True,
    )
    try:
        wait_for_health(container, "healthy", timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            page = response.read().decode()
        container.reload()
        running = container.status
    finally:
        logs = container.logs().decode(errors="replace")
        container.remove(force=True)

    assert running == "running", logs
    assert "<html" in page.lower() and "ws" in page, "the textual-serve page"


# -- Kubernetes manifests ------------------------------------------------------------------------------

_KINDS = {
    "Namespace": "V1Namespace",
    "ServiceAccount": "V1ServiceAccount",
    "ConfigMap": "V1ConfigMap",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
    "ClusterRole": "V1ClusterRole",
    "Role": "V1Role",
    "ClusterRoleBinding": "V1ClusterRoleBinding",
    "RoleBinding": "V1RoleBinding",
}
READ_VERBS = {"get", "list", "watch"}


def _manifests() -> dict[tuple[str, str], tuple[Path, dict]]:
    found = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found[(document["kind"], document["metadata"]["name"])] = (path, document)
    return found


def _model(document: dict):
    """The document read into the official client's model (unknown kinds and bad fields raise)."""
    import kubernetes.client
    from kubernetes.client import ApiClient

    model = _KINDS[document["kind"]]
    return ApiClient().deserialize(json.dumps(document), model, "application/json"), getattr(kubernetes.client, model)


def test_every_manifest_reads_into_the_official_clients_model_and_the_kustomization_lists_them():
    manifests = _manifests()
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())

    for (kind, name), (path, document) in manifests.items():
        model, cls = _model(document)
        assert isinstance(model, cls), f"{path.name}: {kind}/{name}"
        # A field the model does not know is dropped by deserialize: round-trip to catch typos.
        again = kubernetes_to_dict(model)
        assert _without_empty(again) == _without_empty(document), f"{path.name}: {kind}/{name} has fields the model does not know"
    listed = set(kustomization["resources"])
    assert listed == {p.name for p, _ in manifests.values()} - {"rbac-deployer.yaml"}, "the deployer role is opt-in"


def kubernetes_to_dict(model) -> dict:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(model)


def _without_empty(value):
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def _rules(kind: str, name: str) -> list:
    path, document = _manifests()[(kind, name)]
    model, _ = _model(document)
    return model.rules


def test_the_read_only_role_may_only_get_list_and_watch_and_never_read_secrets():
    rules = _rules("ClusterRole", "watchfloor-viewer")

    verbs = {verb for rule in rules for verb in rule.verbs}
    resources = {(group, resource) for rule in rules for group in rule.api_groups for resource in rule.resources}
    assert verbs <= READ_VERBS
    assert ("", "secrets") not in resources
    assert {("", "pods"), ("", "pods/log"), ("", "events"), ("apps", "deployments"), ("apps", "replicasets")} <= resources
    assert not any("*" in (rule.verbs + rule.resources + rule.api_groups) for rule in rules)


def test_the_deployer_role_adds_only_the_writes_the_runbooks_make():
    rules = _rules("ClusterRole", "watchfloor-deployer")

    writes = {
        (group, resource): set(rule.verbs) - READ_VERBS
        for rule in rules
        for group in rule.api_groups
        for resource in rule.resources
        if set(rule.verbs) - READ_VERBS
    }
    assert writes == {
        ("apps", "deployments"): {"create", "patch", "delete"},
        ("apps", "statefulsets"): {"patch"},
        ("apps", "daemonsets"): {"patch"},
        ("", "services"): {"patch"},
        ("coordination.k8s.io", "leases"): {"create", "patch", "delete"},
        ("argoproj.io", "rollouts"): {"patch"},
        ("argoproj.io", "rollouts/status"): {"patch"},
    }
    assert all(set(rule.verbs).isdisjoint(READ_VERBS) for rule in rules), "reads come from the viewer role"
    assert not any("*" in (rule.verbs + rule.resources + rule.api_groups) for rule in rules)


def test_the_bindings_give_each_role_to_the_consoles_service_account_only():
    manifests = _manifests()
    account = next(name for kind, name in manifests if kind == "ServiceAccount")

    bindings = [(k, n) for k, n in manifests if k.endswith("Binding")]
    for key in bindings:
        model, _ = _model(manifests[key][1])
        assert [(s.kind, s.name) for s in model.subjects] == [("ServiceAccount", account)], key
        assert model.role_ref.name in ("watchfloor-viewer", "watchfloor-deployer")
    assert ("RoleBinding", "watchfloor-deployer") in manifests, "the opt-in deployer binding is shipped"


def test_the_deployment_runs_non_root_read_only_with_probes_and_the_service_stays_in_cluster():
    manifests = _manifests()
    deployment, _ = _model(manifests[("Deployment", "watchfloor")][1])
    service, _ = _model(manifests[("Service", "watchfloor")][1])

    pod = deployment.spec.template.spec
    (container,) = pod.containers
    assert pod.security_context.run_as_non_root is True and pod.security_context.run_as_user == 10001
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.readiness_probe.http_get.port == container.liveness_probe.http_get.port == "http"
    assert container.args[:1] == ["serve"] and "--read-only" in container.args
    assert re.search(r"@sha256:[0-9a-f]{64}$|:[0-9][^:]*$", container.image), "a pinned image"
    assert pod.service_account_name == "watchfloor"
    assert service.spec.type == "ClusterIP", "no authentication: never exposed outside the cluster by default"


# -- Compose and the workflows ----------------------------------------------------------------------


def test_the_compose_file_is_valid_and_serves_the_console_on_loopback_beside_a_sample_app(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        backend_unavailable("docker-compose", "not on PATH; install Debian's docker-compose")
    # Laid out as in the repository, with the wheelhouse its build context expects.
    (tmp_path / "deploy").mkdir()
    (tmp_path / "dist" / "wheelhouse").mkdir(parents=True)
    shutil.copy(DEPLOY / "compose.yaml", tmp_path / "deploy" / "compose.yaml")

    checked = subprocess.run(
        [binary, "-f", str(tmp_path / "deploy" / "compose.yaml"), "config"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "DOCKER_GID": "999"},
    )

    assert checked.returncode == 0, checked.stderr
    services = yaml.safe_load(checked.stdout)["services"]

    console = services["watchfloor"]
    assert console["command"][:1] == ["serve"] and "--host" in console["command"]
    assert all(str(p).startswith("127.0.0.1:") for p in console["ports"]), "published on loopback only"
    assert any(str(v).startswith("/var/run/docker.sock:/var/run/docker.sock:ro") for v in console["volumes"])
    assert console["build"]["context"] == str(tmp_path / "dist" / "wheelhouse")
    assert console["read_only"] is True and console["cap_drop"] == ["ALL"]
    assert len(services) >= 2, "a sample app beside it"


def test_the_deploy_example_workflow_maps_every_runbook_exit_code_to_pass_or_fail():
    workflow = yaml.safe_load((WORKFLOWS / "deploy-example.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    run = "\n".join(s.get("run", "") for s in steps)

    assert "watchfloor runbook run" in run and "--json" in run
    for code in ("0", "1", "2", "3", "4"):
        assert re.search(rf"^\s*{code}\)", run, re.MULTILINE), f"exit code {code} is handled"


def test_the_kind_workflow_points_the_kubernetes_tests_at_the_cluster_it_creates():
    workflow = yaml.safe_load((WORKFLOWS / "kind-integration.yml").read_text())
    text = (WORKFLOWS / "kind-integration.yml").read_text()

    assert "WATCHFLOOR_TEST_KUBECONFIG" in text and "kind create cluster" in text
    assert "WATCHFLOOR_REQUIRE_BACKENDS" in text, "a missing backend fails the run"
    assert workflow["jobs"]
