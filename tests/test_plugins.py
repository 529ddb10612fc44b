"""Plugins: backends and step kinds from another distribution, found through entry points.

The example plugin (tests/plugins/watchfloor_example) is installed for real: the
fixture writes its ``.dist-info`` with an ``entry_points.txt`` into a temporary
directory on ``sys.path`` (and on ``PYTHONPATH`` for the child processes), which is
what pip leaves behind, so ``importlib.metadata`` discovers it as it would any
installed distribution. Runs go against the Kubernetes emulator over real HTTP; the
``http_check`` step checks a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters.demo.emulator import KubernetesEmulator
from adapters.kubernetes import KubernetesAdapter
from console import plugins
from console.config import ConfigError, parse_config
from console.model import Environment, EnvironmentKind, Health, WorkloadKey
from console.runbook.journal import read_journal
from console.runbook.loader import parse_runbook
from tests.backends import wait_for
from tests.test_cli import watchfloor
from tests.test_kubernetes_adapter import deployment_object

PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugins"
ENTRY_POINTS = """\
[watchfloor.adapters]
jsonfile = watchfloor_example.adapter:JsonFileAdapter
broken_import = watchfloor_example.broken:Adapter

[watchfloor.steps]
http_check = watchfloor_example.steps:http_check
broken_import = watchfloor_example.broken:step
"""


@pytest.fixture
def example_plugin(tmp_path, monkeypatch):
    """The example plugin installed as a distribution; yields the PYTHONPATH for children."""
    site = tmp_path / "site"
    dist_info = site / "watchfloor_example-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: watchfloor-example\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(site))
    plugins.discover.cache_clear()
    yield os.pathsep.join([str(site), str(PLUGIN_SOURCE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    plugins.discover.cache_clear()


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [str(problem) for problem in caught.value.problems]


# --- discovery ----------------------------------------------------------------------------


def test_installed_plugins_are_discovered_by_kind(example_plugin) -> None:
    found = plugins.discover()

    assert set(found.adapters) == {"jsonfile"}
    assert set(found.steps) == {"http_check"}
    assert found.adapters["jsonfile"].__name__ == "JsonFileAdapter"


def test_a_plugin_that_fails_to_import_is_reported_not_raised(example_plugin) -> None:
    found = plugins.discover()

    broken = {(p.group, p.name): p for p in found.problems}
    assert set(broken) == {("watchfloor.adapters", "broken_import"), ("watchfloor.steps", "broken_import")}
    problem = broken[("watchfloor.adapters", "broken_import")]
    assert problem.distribution == "watchfloor-example"
    assert "ModuleNotFoundError" in problem.message


def test_builtins_load_beside_a_broken_plugin(example_plugin) -> None:
    config = parse_config("environments:\n  - kind: docker\n    name: local\n  - kind: jsonfile\n    name: files\n    path: /x.json\n")

    assert [e.kind for e in config.environments] == ["docker", "jsonfile"]


def test_config_naming_the_broken_plugin_says_why_it_cannot_be_used(example_plugin) -> None:
    found = problems("environments:\n  - kind: broken_import\n    name: x\n")

    assert len(found) == 1
    assert "<config>:2:5: environments[0].kind: unknown environment kind 'broken_import'" in found[0]
    assert "installed plugins: jsonfile" in found[0]
    assert "failed to load: ModuleNotFoundError" in found[0]


def test_unknown_kind_names_the_installed_plugins(example_plugin) -> None:
    found = problems("environments:\n  - kind: jsonfiles\n    name: x\n")

    assert "did you mean kind: jsonfile?" in found[0]
    assert "use kind: docker or kind: kubernetes or kind: jsonfile" in found[0]


def test_plugin_environment_keys_are_checked_by_the_plugins_model(example_plugin) -> None:
    missing = problems("environments:\n  - kind: jsonfile\n    name: files\n")
    unknown = problems("environments:\n  - kind: jsonfile\n    name: files\n    path: /x.json\n    pth: /y\n")

    assert "environments[0].path: Field required (checked by the jsonfile plugin)" in missing[0]
    assert unknown[0].startswith("<config>:5:5: environments[0].pth: Extra inputs are not permitted")


def test_plugin_environment_options_reach_the_factory(example_plugin, tmp_path) -> None:
    from console.backends import backends_for

    config = parse_config(f"environments:\n  - kind: jsonfile\n    name: files\n    path: {tmp_path / 'w.json'}\n")

    backend = backends_for(config)[0]

    assert backend.environment.kind is EnvironmentKind("jsonfile")
    assert backend.environment.kind.value == "jsonfile"
    assert backend.environment.target == f"file {tmp_path / 'w.json'}"
    assert backend.make_adapter().path == tmp_path / "w.json"


# --- the plugin backend in the product ----------------------------------------------------------


def test_status_shows_a_plugin_environments_workloads(example_plugin, tmp_path) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "workloads": [
                    {
                        "group": "shop",
                        "name": "web",
                        "version": "1.2",
                        "replicas": [{"name": "web-1", "health": "healthy"}, {"name": "web-2", "health": "healthy"}],
                    }
                ]
            }
        )
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"environments:\n  - kind: jsonfile\n    name: files\n    path: {inventory}\n")

    completed = watchfloor(
        "status", "--json", env={"PYTHONPATH": example_plugin, "WATCHFLOOR_CONFIG": str(config), "XDG_STATE_HOME": str(tmp_path / "state")}
    )

    assert completed.returncode == 0, completed.stderr
    environment = json.loads(completed.stdout)["environments"][0]
    assert (environment["name"], environment["kind"], environment["connected"]) == ("files", "jsonfile", True)
    [web] = environment["workloads"]
    assert (web["group"], web["name"], web["health"], web["ready"], web["version"]) == ("shop", "web", "healthy", 2, "1.2")


# --- the plugin step -----------------------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def health_server():
    """A real HTTP server on 127.0.0.1; ``set(status)`` changes what it answers."""
    handler = type("Handler", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz", lambda status: setattr(handler, "status", status)
    server.shutdown()
    server.server_close()


SMOKE_RUNBOOK = """\
name: smoke
title: Smoke test over HTTP
params:
  url: {type: str}
steps:
  - id: check
    kind: http_check
    url: "{{ url }}"
    expect_status: 200
    timeout: 5s
"""


@pytest.fixture
def cluster(tmp_path, example_plugin):
    with KubernetesEmulator(time_scale=0.05, seed=11) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        running.apply(deployment_object("web", replicas=1, image="registry.test/web:1.0"))
        kubeconfig = running.kubeconfig(tmp_path / "cluster.kubeconfig", context_name="ctx")
        runbooks = tmp_path / "runbooks"
        runbooks.mkdir()
        (runbooks / "smoke.yaml").write_text(SMOKE_RUNBOOK)
        config = tmp_path / "config.yaml"
        config.write_text(
            f"runbooks_dir: {runbooks}\n"
            "environments:\n"
            f"  - {{name: cluster, kind: kubernetes, kubeconfig: {kubeconfig}, context: ctx, namespaces: [shop]}}\n"
        )
        adapter = KubernetesAdapter(Environment("cluster", EnvironmentKind.KUBERNETES, "ctx"), kubeconfig=str(kubeconfig), context="ctx")
        adapter.connect()
        wait_for(lambda: adapter.observe(WorkloadKey("cluster", "shop", "web")).health == Health.HEALTHY or None, "web healthy", timeout=20)
        adapter.close()
        yield {
            "PYTHONPATH": example_plugin,
            "WATCHFLOOR_CONFIG": str(config),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
        }


def _run_smoke(env: dict, url: str):
    completed = watchfloor(
        "runbook", "run", "smoke", "--env", "cluster", "--workload", "shop/web", "--set", f"url={url}", "--yes", "--json",
        env=env, timeout=120,
    )
    document = json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None
    return completed, document


def test_runbook_with_a_plugin_step_runs_it_and_journals_it(cluster, health_server) -> None:
    url, _set_status = health_server

    completed, document = _run_smoke(cluster, url)

    assert completed.returncode == 0, completed.stderr
    assert document["outcome"] == "succeeded"
    assert [(s["id"], s["state"]) for s in document["steps"]] == [("check", "passed")]
    entries = read_journal(Path(document["journal"])).entries
    started = next(e for e in entries if e["event"] == "step.started" and e["step"] == "check")
    calls = [e["data"] for e in entries if e["event"] == "adapter.call" and e["step"] == "check"]
    finished = next(e for e in entries if e["event"] == "step.finished" and e["step"] == "check")
    assert started["data"]["kind"] == "http_check"
    assert calls[0]["request"] == {"verb": "plugin:http_check", "options": {"url": url, "expect_status": 200}}
    assert calls[-1]["result"] == {"message": f"GET {url} answered 200"}
    assert finished["data"]["state"] == "passed"


def test_a_failing_plugin_step_fails_the_run_with_its_sentence(cluster, health_server) -> None:
    url, set_status = health_server
    set_status(503)

    completed, document = _run_smoke(cluster, url)

    assert completed.returncode == 1, completed.stderr
    assert document["outcome"] == "failed"
    assert f"GET {url} answered 503, expected 200" in document["message"]


def test_plugin_step_keys_are_checked_when_the_runbook_loads(example_plugin) -> None:
    text = SMOKE_RUNBOOK.replace("expect_status: 200", "expect_status: lots")

    with pytest.raises(ConfigError) as caught:
        parse_runbook(text, file="smoke.yaml")

    [problem] = caught.value.problems
    assert str(problem).startswith("smoke.yaml:9:5: steps[0].expect_status: Input should be a valid integer")
    assert "checked by the http_check plugin" in str(problem)


def test_unknown_step_kind_suggests_the_plugin_kind(example_plugin) -> None:
    text = SMOKE_RUNBOOK.replace("kind: http_check", "kind: http_chek")

    with pytest.raises(ConfigError) as caught:
        parse_runbook(text, file="smoke.yaml")

    assert "did you mean kind: http_check?" in str(caught.value.problems[0])
