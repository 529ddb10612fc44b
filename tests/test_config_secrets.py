"""A secret written literally into the config: refused when others can read the file,
a warning when only its owner can.

Real files with real modes, read by the real command in a child process; header
references are resolved and sent to a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from console.backends import backends_for
from console.config import ConfigError, load_config
from tests.test_cli import watchfloor

TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
API_KEY = "Zk3q9Lr2Vt8Wm4Xn6Bp1Cs5Dy7"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

PROMETHEUS = """\
environments:
  - kind: kubernetes
    name: prod
    context: prod-eu
    prometheus:
      url: http://127.0.0.1:9
{extra}
"""

# (case, YAML, line, field, secret): every place a literal can still sit.
LITERALS = [
    ("api-key-header", PROMETHEUS.format(extra=f"      headers:\n        X-Api-Key: {API_KEY}"), 8,
     "environments[0].prometheus.headers.X-Api-Key", API_KEY),
    ("token-shaped-header", PROMETHEUS.format(extra=f"      headers:\n        X-Org: {API_KEY}"), 8,
     "environments[0].prometheus.headers.X-Org", API_KEY),
    ("token-in-secrets-list", f"secrets: [API_TOKEN, {TOKEN}]\n", 1, "secrets[1]", TOKEN),
    ("jwt-in-a-title", PROMETHEUS.format(extra=f"      queries:\n        up:\n          query: up\n          title: {JWT}"), 10,
     "environments[0].prometheus.queries.up.title", JWT),
    ("token-in-a-comment", f"# old token: {TOKEN}\ntheme: dark\n", 1, "(comment)", TOKEN),
    ("private-key-in-a-comment", "theme: dark  # -----BEGIN RSA PRIVATE KEY----- MIIEow\n", 1, "(comment)", "MIIEow"),
]


def config_file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    path.chmod(mode)
    return path


def environment(tmp_path: Path, config: Path) -> dict:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "WATCHFLOOR_CONFIG": str(config)}


# Every place with the usual umask-022 mode, and the first one with each way of
# letting others read.
REFUSALS = [(*case, 0o644) for case in LITERALS] + [(*LITERALS[0], 0o640), (*LITERALS[0], 0o604)]


@pytest.mark.parametrize(
    ("case", "text", "line", "field", "secret", "mode"), REFUSALS, ids=[f"{c[0]}-{c[-1]:o}" for c in REFUSALS]
)
def test_a_literal_secret_in_a_file_others_can_read_refuses_to_start(tmp_path, case, text, line, field, secret, mode):
    config = config_file(tmp_path, text, mode)

    started = watchfloor("runbook", "list", env=environment(tmp_path, config))
    checked = watchfloor("check-config", str(config), env=environment(tmp_path, config))

    for completed in (started, checked):
        assert completed.returncode == 2, completed.stderr
        assert f"{config}:{line}: {field}:" in completed.stderr
        assert f"mode {mode:04o}" in completed.stderr and "readable by other users" in completed.stderr
        assert "${VAR}" in completed.stderr and "file:" in completed.stderr
        assert f"chmod 600 {config}" in completed.stderr
        assert secret not in completed.stderr + completed.stdout
    assert "deploy" not in started.stdout, "nothing ran"


@pytest.mark.parametrize(("case", "text", "line", "field", "secret"), LITERALS, ids=[c[0] for c in LITERALS])
def test_a_literal_secret_in_a_private_file_is_a_warning_on_stderr_and_in_the_log(tmp_path, case, text, line, field, secret):
    config = config_file(tmp_path, text, 0o600)
    env = environment(tmp_path, config)

    started = watchfloor("runbook", "list", env=env)

    assert started.returncode == 0, started.stderr
    assert "deploy" in started.stdout
    assert f"watchfloor: warning: {config}:{line}: {field}:" in started.stderr
    assert "${VAR}" in started.stderr
    log = (tmp_path / "state" / "watchfloor" / "watchfloor.log").read_text()
    entries = [json.loads(line) for line in log.splitlines()]
    warning = next(e for e in entries if e["event"] == "config.literal_secret")
    assert (warning["level"], warning["file"], warning["line"], warning["field"]) == ("warning", str(config), line, field)
    assert secret not in started.stderr + started.stdout + log


def test_a_literal_bearer_token_is_refused_even_in_a_private_file(tmp_path):
    config = config_file(tmp_path, PROMETHEUS.format(extra=f"      bearer_token: {TOKEN}"), 0o600)

    completed = watchfloor("check-config", str(config), env=environment(tmp_path, config))

    assert completed.returncode == 2
    assert f"{config}:7" in completed.stderr and "bearer_token" in completed.stderr
    assert TOKEN not in completed.stderr


def test_a_world_readable_bearer_token_says_to_use_a_reference_not_chmod(tmp_path):
    config = config_file(tmp_path, PROMETHEUS.format(extra=f"      bearer_token: {TOKEN}"), 0o644)

    completed = watchfloor("check-config", str(config), env=environment(tmp_path, config))

    assert completed.returncode == 2
    assert f"{config}:7" in completed.stderr and "must be a reference" in completed.stderr
    assert "${PROMETHEUS_TOKEN}" in completed.stderr and "rotate" in completed.stderr
    assert "chmod 600" not in completed.stderr, "a bearer_token takes only references, whatever the mode"
    assert TOKEN not in completed.stderr


def test_a_url_with_a_password_is_refused_without_echoing_it(tmp_path):
    text = PROMETHEUS.replace("http://127.0.0.1:9", "http://admin:hunter2hunter2@127.0.0.1:9").format(extra="")
    config = config_file(tmp_path, text, 0o644)

    completed = watchfloor("check-config", str(config), env=environment(tmp_path, config))

    assert completed.returncode == 2
    assert f"{config}:6:" in completed.stderr and "environments[0].prometheus.url:" in completed.stderr
    assert "credentials" in completed.stderr and "rotate the secret" in completed.stderr
    assert "hunter2" not in completed.stderr


def test_references_names_and_plain_values_pass_in_a_world_readable_file(tmp_path):
    text = PROMETHEUS.format(
        extra=(
            "      bearer_token: ${PROM_TOKEN}\n"
            "      headers:\n"
            "        X-Scope-OrgID: team-a\n"
            "        X-Api-Key: file:api-key.txt\n"
            "        X-Auth-Token: ${AUTH_TOKEN}\n"
            "      queries:\n"
            "        error_ratio:\n"
            "          query: sum(rate(http_requests_total{code=~\"5..\", job=\"{workload}\"}[5m]))\n"
            "          title: Basic availability_ratio_total  # see the on-call token rotation page"
        )
    ) + "secrets: [API_TOKEN, DB_PASSWORD, PROMETHEUS_TOKEN_2025]\nstate_dir: ~/.local/state/watchfloor-0a1b2c3d4e5f6a7b8c9d0e1f\n"
    config = config_file(tmp_path, text, 0o644)

    completed = watchfloor("check-config", str(config), env=environment(tmp_path, config))

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""


def test_a_header_reference_is_sent_resolved_and_a_file_reference_is_relative_to_the_config(tmp_path, monkeypatch):
    seen: list[dict] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server hook's name
            seen.append(dict(self.headers))
            body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        (tmp_path / "tenant.txt").write_text("tenant-from-file\n")
        monkeypatch.setenv("WF_TEST_API_KEY", API_KEY)
        text = (
            "environments:\n  - kind: kubernetes\n    name: prod\n    prometheus:\n"
            f"      url: http://127.0.0.1:{server.server_port}\n"
            "      headers:\n        X-Api-Key: ${WF_TEST_API_KEY}\n        X-Tenant: file:tenant.txt\n"
        )
        config = load_config(config_file(tmp_path, text, 0o644))
        source = backends_for(config)[0].make_prometheus()

        source.instant("up")
        source.close()
    finally:
        server.shutdown()
        server.server_close()

    assert seen and seen[0]["X-Api-Key"] == API_KEY and seen[0]["X-Tenant"] == "tenant-from-file"


def test_a_symbolic_link_is_judged_by_the_file_it_points_to(tmp_path):
    text = f"secrets: [{TOKEN}]\n"
    config = config_file(tmp_path, text, 0o600)
    link = tmp_path / "link.yaml"
    target = tmp_path / "shared.yaml"
    target.write_text(text)
    target.chmod(0o644)
    link.symlink_to(target)

    warnings: list = []
    load_config(config, warnings=warnings)
    with pytest.raises(ConfigError) as refused:
        load_config(link, warnings=warnings)

    assert len(warnings) == 1, "the private file warns"
    assert "mode 0644" in str(refused.value), "a link is judged by the file it points to"
    assert os.stat(link).st_mode & 0o077
