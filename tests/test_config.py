"""Config loading: located errors for every kind of mistake, paths, secrets, and fuzzing.

The table tests write real files and go through ``load_config``, because the
file name and line number in the message are the contract.
"""

from __future__ import annotations

import math
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console import locations
from console.config import (
    Config,
    ConfigError,
    ConfigProblem,
    DockerEnvironmentConfig,
    KubernetesEnvironmentConfig,
    PrometheusConfig,
    default_config,
    is_reference,
    load_config,
    parse_config,
    resolve_reference,
)
from console.yaml_source import MAX_BYTES, parse_yaml

# --- helpers ------------------------------------------------------------------------


def write(directory: Path, content: str | bytes, name: str = "config.yaml") -> Path:
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


# --- one row per class of mistake -------------------------------------------------
# (id, file content, expected line, expected field, words the message or hint must hold)

ERROR_CASES = [
    (
        "wrong type: bool",
        "theme: dark\nread_only: maybe\n",
        2,
        "read_only",
        ["true or false", "'maybe'"],
    ),
    (
        "wrong type: number, nested",
        "environments:\n  - kind: docker\n    name: local\n    prometheus:\n      url: http://prom:9090\n"
        "      timeout: 5s\n",
        6,
        "environments[0].prometheus.timeout",
        ["must be a number", "timeout: 5"],
    ),
    (
        "wrong type: list expected",
        "secrets: API_TOKEN\n",
        1,
        "secrets",
        ["must be a list", "secrets: [API_TOKEN"],
    ),
    (
        "wrong type: mapping expected",
        "environments:\n  - kind: docker\n    name: a\n    prometheus: http://prom:9090\n",
        4,
        "environments[0].prometheus",
        ["must be a mapping", "url: http://HOST:9090"],
    ),
    (
        "number out of range",
        "environments:\n  - kind: docker\n    name: a\n    prometheus: {url: 'http://p:9090', timeout: -1}\n",
        4,
        "environments[0].prometheus.timeout",
        ["greater than 0"],
    ),
    (
        "unknown key with suggestion",
        "environments:\n  - kind: docker\n    name: local\n    hosst: tcp://10.0.0.5:2375\n",
        4,
        "environments[0].hosst",
        ["unknown key 'hosst'", "did you mean 'host'"],
    ),
    (
        "unknown top-level key with suggestion",
        "theme: dark\nlog_levle: debug\n",
        2,
        "log_levle",
        ["unknown key 'log_levle'", "did you mean 'log_level'"],
    ),
    (
        "key of the other environment kind",
        "environments:\n  - kind: docker\n    name: a\n    namespaces: [web]\n",
        4,
        "environments[0].namespaces",
        ["unknown key 'namespaces'", "only to kind: kubernetes"],
    ),
    (
        "literal: theme",
        "theme: color-blind\n",
        1,
        "theme",
        ["not a valid theme", "use one of: dark, light, high-contrast, colour-blind", "did you mean 'colour-blind'"],
    ),
    (
        "literal: log level",
        "log_level: verbose\n",
        1,
        "log_level",
        ["use one of: debug, info, warning, error"],
    ),
    (
        "bad URL scheme",
        "environments:\n  - kind: kubernetes\n    name: k\n    prometheus:\n      url: ftp://prom:9090\n",
        5,
        "environments[0].prometheus.url",
        ["scheme 'ftp'", "http:// or https://"],
    ),
    (
        "URL with credentials",
        "environments:\n  - kind: kubernetes\n    name: k\n    prometheus:\n      url: https://admin:s3cret@prom\n",
        5,
        "environments[0].prometheus.url",
        ["credentials", "bearer_token: ${PROMETHEUS_TOKEN}"],
    ),
    (
        "host without scheme",
        "environments:\n  - kind: docker\n    name: a\n    host: 10.0.0.5:2375\n",
        4,
        "environments[0].host",
        ["no scheme", "write host: tcp://10.0.0.5:2375"],
    ),
    (
        "tcp host without port",
        "environments:\n  - kind: docker\n    name: a\n  - kind: docker\n    name: b\n    host: tcp://engine\n",
        6,
        "environments[1].host",
        ["needs a host name and a port", "write host: tcp://HOST:PORT"],
    ),
    (
        "unix host with relative path",
        "environments:\n  - {kind: docker, name: a, host: 'unix://var/run/docker.sock'}\n",
        2,
        "environments[0].host",
        ["absolute socket path", "unix:///var/run/docker.sock"],
    ),
    (
        "http host",
        "environments:\n  - kind: docker\n    name: a\n    host: https://engine:2376\n",
        4,
        "environments[0].host",
        ["scheme 'https' is not supported", "tcp://HOST:PORT"],
    ),
    (
        "tls with a non-tcp host",
        "environments:\n  - kind: docker\n    name: a\n    host: ssh://me@engine\n    tls_verify: true\n",
        5,
        "environments[0].tls_verify",
        ["only to tcp:// hosts"],
    ),
    (
        "missing kind",
        "environments:\n  - name: prod\n    host: tcp://engine:2376\n",
        2,
        "environments[0]",
        ["no 'kind'", "add kind: docker or kind: kubernetes"],
    ),
    (
        "unknown kind",
        "environments:\n  - name: prod\n    kind: k8s\n",
        3,
        "environments[0].kind",
        ["unknown environment kind 'k8s'", "kind: kubernetes"],
    ),
    (
        "environment is not a mapping",
        "environments:\n  - kind: docker\n    name: a\n  - prod\n",
        4,
        "environments[1]",
        ["must be a mapping"],
    ),
    (
        "missing name points at the mapping",
        "theme: dark\nenvironments:\n  - kind: docker\n    host: tcp://engine:2376\n",
        3,
        "environments[0].name",
        ["missing required key 'name'", "add name: prod"],
    ),
    (
        "environment name pattern",
        "environments:\n  - kind: docker\n    name: Prod EU\n",
        3,
        "environments[0].name",
        ["^[a-z0-9][a-z0-9_.-]{0,62}$", "name: prod-eu"],
    ),
    (
        "duplicate environment name",
        "environments:\n  - kind: docker\n    name: prod\n  - kind: kubernetes\n    name: prod\n",
        5,
        "environments[1].name",
        ["'prod' is already used by environments[0]"],
    ),
    (
        "namespace name",
        "environments:\n  - kind: kubernetes\n    name: k\n    namespaces:\n      - web\n      - Bad_NS\n",
        6,
        "environments[0].namespaces[1]",
        ["not a Kubernetes namespace name"],
    ),
    (
        "namespaces as a bare string",
        "environments:\n  - kind: kubernetes\n    name: k\n    namespaces: web\n",
        4,
        "environments[0].namespaces",
        ["must still be a list"],
    ),
    (
        "secret names, not values",
        "secrets:\n  - API_TOKEN\n  - hunter 2\n",
        3,
        "secrets[1]",
        ["not an environment variable name"],
    ),
    (
        "duplicate key",
        "theme: dark\nlog_level: info\ntheme: light\n",
        3,
        "theme",
        ["duplicate key 'theme'", "first written on line 1"],
    ),
    (
        "duplicate key inside an environment",
        "environments:\n  - kind: docker\n    name: a\n    host: tcp://x:1\n    host: tcp://y:1\n",
        5,
        "environments[0].host",
        ["duplicate key 'host'", "line 4"],
    ),
    (
        "YAML syntax error",
        "environments:\n  - kind: docker\n   name: a\n",
        3,
        "(syntax)",
        ["indentation"],
    ),
    (
        "tab indentation",
        "theme: dark\nenvironments:\n\t- kind: docker\n",
        3,
        "(syntax)",
        ["spaces, not tabs"],
    ),
    (
        "unclosed quote",
        'theme: "dark\nlog_level: info\n',
        3,
        "(syntax)",
        ["quot"],
    ),
    (
        "a value YAML cannot construct",
        "theme: dark\nruns: 2024-13-45\n",
        2,
        "(syntax)",
        ["2024-13-45", "month"],
    ),
    (
        "python tags are refused",
        "theme: !!python/object/apply:os.system ['true']\n",
        1,
        "(syntax)",
        ["tag"],
    ),
    (
        "recursive alias",
        "secrets: &s [*s]\n",
        1,
        "(syntax)",
        ["recursive"],
    ),
    (
        "alias bomb",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
        5,
        "(syntax)",
        ["aliases expand to more than"],
    ),
    (
        "nesting too deep",
        "secrets: " + "[" * 500 + "]" * 500 + "\n",
        1,
        "(syntax)",
        ["nested more than"],
    ),
    (
        "not UTF-8",
        b"theme: dark\nlog_level: caf\xe9\n",
        2,
        "(file)",
        ["not UTF-8", "0xe9", "save the file as UTF-8"],
    ),
    (
        "UTF-16",
        "theme: dark\n".encode("utf-16"),
        1,
        "(file)",
        ["UTF-16"],
    ),
    (
        "empty file",
        "",
        1,
        "(document)",
        ["empty"],
    ),
    (
        "comments only",
        "# nothing here yet\n",
        1,
        "(document)",
        ["empty"],
    ),
    (
        "top-level list",
        "- kind: docker\n  name: a\n",
        1,
        "(document)",
        ["top level must be a mapping", "a list"],
    ),
    (
        "top-level scalar",
        "dark\n",
        1,
        "(document)",
        ["top level must be a mapping", "'dark'"],
    ),
    (
        "two documents",
        "theme: dark\n---\ntheme: light\n",
        2,
        "(syntax)",
        ["one document per file"],
    ),
    (
        "NUL byte",
        "theme: dark\x00\n",
        1,
        "(syntax)",
        ["not allowed"],
    ),
]


@pytest.mark.parametrize(
    ("content", "line", "field", "words"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_names_file_line_and_field(
    tmp_path: Path, content: str | bytes, line: int, field: str, words: list[str]
) -> None:
    path = write(tmp_path, content)
    problems = problems_of(path)
    matching = [p for p in problems if p.field == field]
    assert matching, f"no problem for {field!r} in:\n" + "\n".join(map(str, problems))
    problem = matching[0]
    assert problem.file == str(path)
    assert problem.line == line, str(problem)
    text = str(problem)
    assert text.startswith(f"{path}:{line}:")
    assert f": {field}: " in text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    assert "(fix: " in text


def test_all_problems_reported_at_once_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "theme: blue\n"
        "environments:\n"
        "  - kind: docker\n"
        "    name: a\n"
        "    hosst: x\n"
        "  - kind: kubernetes\n"
        "    namespaces: all\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert [(p.line, p.field) for p in problems] == [
        (1, "theme"),
        (5, "environments[0].hosst"),
        (6, "environments[1].name"),
    ]
    assert str(caught.value).splitlines() == [str(p) for p in problems]


def test_duplicate_name_reported_alongside_other_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "environments:\n  - kind: docker\n    name: prod\n    stats: often\n  - kind: kubernetes\n    name: prod\n",
    )
    assert [(p.line, p.field) for p in problems_of(path)] == [(4, "environments[0].stats"), (6, "environments[1].name")]


def test_problem_format() -> None:
    problem = ConfigProblem("c.yaml", 3, 5, "environments[1].host", "bad host", "write host: tcp://HOST:PORT")
    assert str(problem) == "c.yaml:3:5: environments[1].host: bad host (fix: write host: tcp://HOST:PORT)"
    assert str(ConfigProblem("c.yaml", None, None, "(file)", "no such file", "create it")) == (
        "c.yaml: (file): no such file (fix: create it)"
    )


def test_problem_text_is_one_printable_line() -> None:
    # Keys come from the file: an escape sequence in one must not reach the terminal.
    with pytest.raises(ConfigError) as caught:
        parse_config('"\\e[2Jevil\\nkey": 1\n', file="c.yaml")
    text = str(caught.value)
    assert "\x1b" not in text and "\n" not in text
    assert "\\x1b[2Jevil\\nkey" in text


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "environments:\n  - kind: docker\n    name: a\n    prometheus:\n      url: http://p:9090\n"
            "      bearer_token: glpat-SECRETSECRET\n"
            "  - kind: docker\n    name: b\n    prometheus:\n      url: http://p:9090\n      bearer_token: [glpat-LIST]\n"
            "  - kind: docker\n    name: c\n    prometheus: {url: 'https://bob:hunter2@p:9090'}\n",
            file="c.yaml",
        )
    text = str(caught.value)
    assert "SECRETSECRET" not in text and "glpat-LIST" not in text and "hunter2" not in text
    assert len(caught.value.problems) == 3


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    (problem,) = problems_of(path)
    assert (problem.file, problem.line, problem.field) == (str(path), None, "(file)")
    assert "no such file" in str(problem)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path)
    assert "directory" in problem.message


def test_huge_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "# " + "x" * MAX_BYTES + "\n")
    (problem,) = problems_of(path)
    assert problem.field == "(file)"
    assert "limit is 1 MiB" in problem.message


def test_too_many_values(tmp_path: Path) -> None:
    path = write(tmp_path, "secrets: [" + "A," * 60_000 + "A]\n")
    (problem,) = problems_of(path)
    assert "more than 50000 values" in problem.message


# --- valid configs ----------------------------------------------------------------

FULL_CONFIG = """\
# every setting, once
theme: High-Contrast
log_level: DEBUG
runbooks_dir: runbooks
allow_command_steps: true
read_only: false
state_dir: ~/wf-state
secrets: [API_TOKEN, DB_PASSWORD]
demo: false
environments:
  - kind: docker
    name: local
  - &edge
    kind: docker
    name: edge
    host: tcp://10.0.0.5:2376
    tls_verify: true
    cert_path: certs/edge
    protected: true
    read_only: true
    stats: false
    prometheus:
      url: https://prometheus.example.com/
      bearer_token: ${PROMETHEUS_TOKEN}
      timeout: 2.5
      verify_tls: false
  - <<: *edge
    name: edge-2
    host: tcp://10.0.0.6:2376
  - kind: docker
    name: bastion
    host: ssh://deploy@bastion.example.com:2222
  - kind: docker
    name: sock
    host: unix:///run/user/1000/docker.sock
  - kind: kubernetes
    name: prod.eu_1
    kubeconfig: /etc/kube/config
    context: prod-eu
    namespaces: [web, payments]
    protected: true
    prometheus:
      url: http://127.0.0.1:9090
      bearer_token: file:secrets/prom-token
  - kind: kubernetes
    name: dev
"""


def test_full_config(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_CONFIG)
    config = load_config(path)

    assert config.theme == "high-contrast"
    assert config.log_level == "debug"
    assert config.runbooks_dir == tmp_path / "runbooks"  # relative to the config file
    assert config.state_dir == Path("~/wf-state").expanduser()
    assert config.allow_command_steps is True
    assert config.secrets == ["API_TOKEN", "DB_PASSWORD"]
    assert [e.name for e in config.environments] == ["local", "edge", "edge-2", "bastion", "sock", "prod.eu_1", "dev"]

    local, edge, edge2, bastion, sock, prod, dev = config.environments
    assert local == DockerEnvironmentConfig(kind="docker", name="local")
    assert local.host is None and local.stats is True and local.prometheus is None
    assert isinstance(edge, DockerEnvironmentConfig)
    assert edge.cert_path == tmp_path / "certs" / "edge"
    assert edge.prometheus == PrometheusConfig(
        url="https://prometheus.example.com",
        bearer_token="${PROMETHEUS_TOKEN}",
        timeout=2.5,
        verify_tls=False,
    )
    assert (edge2.host, edge2.protected, edge2.stats) == ("tcp://10.0.0.6:2376", True, False)  # merged from &edge
    assert bastion.host == "ssh://deploy@bastion.example.com:2222"
    assert sock.host == "unix:///run/user/1000/docker.sock"
    assert isinstance(prod, KubernetesEnvironmentConfig)
    assert prod.kubeconfig == Path("/etc/kube/config")
    assert prod.namespaces == ["web", "payments"]
    assert prod.prometheus is not None
    assert prod.prometheus.bearer_token == f"file:{tmp_path / 'secrets' / 'prom-token'}"
    assert isinstance(dev, KubernetesEnvironmentConfig)
    assert (dev.namespaces, dev.kubeconfig, dev.context) == ("all", None, None)

    # Round trip: what the config holds, written back out, loads to the same config.
    again = write(tmp_path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), "again.yaml")
    assert load_config(again) == config
    assert Config.model_validate(config.model_dump()) == config


def test_models_are_frozen() -> None:
    config = parse_config("theme: light\n")
    with pytest.raises(Exception):
        config.theme = "dark"  # type: ignore[misc]


def test_defaults() -> None:
    config = default_config()
    assert config == Config()
    assert config.environments == []
    assert (config.theme, config.log_level, config.read_only, config.demo) == ("dark", "info", False, False)
    assert config.allow_command_steps is False


def test_empty_sections_mean_none_yet() -> None:
    config = parse_config("environments:\nsecrets:\n")
    assert config.environments == [] and config.secrets == []


def test_relative_paths_without_a_base_stay_relative() -> None:
    assert parse_config("runbooks_dir: rb\n").runbooks_dir == Path("rb")


def test_yaml_marks() -> None:
    document = parse_yaml("a: 1\nlist:\n  - x\n  - {k: v}\n", "f.yaml")
    assert document.data == {"a": 1, "list": ["x", {"k": "v"}]}
    assert document.marks[("a",)] == (1, 1)
    assert document.marks[("list", 0)] == (3, 5)
    assert document.marks[("list", 1, "k")] == (4, 6)
    assert document.mark(("list", 1, "missing", 3)) == (4, 5)  # nearest ancestor: the item


# --- config file location -----------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("WATCHFLOOR_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return tmp_path


def test_explicit_config_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = clean_env / "xdg-config" / "watchfloor" / "config.yaml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("theme: dark\n")
    monkeypatch.setenv("WATCHFLOOR_CONFIG", str(clean_env / "from-env.yaml"))
    assert locations.config_path(str(clean_env / "explicit.yaml")) == clean_env / "explicit.yaml"


def test_env_var_beats_xdg(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = clean_env / "xdg-config" / "watchfloor" / "config.yaml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("theme: dark\n")
    monkeypatch.setenv("WATCHFLOOR_CONFIG", str(clean_env / "from-env.yaml"))
    # Returned even though it does not exist: the loader then says so.
    assert locations.config_path(None) == clean_env / "from-env.yaml"


def test_xdg_config_used_when_it_exists(clean_env: Path) -> None:
    xdg = clean_env / "xdg-config" / "watchfloor" / "config.yaml"
    assert locations.config_path(None) is None
    xdg.parent.mkdir(parents=True)
    xdg.write_text("theme: dark\n")
    assert locations.config_path(None) == xdg
    assert locations.default_config_path() == xdg


def test_empty_env_var_is_ignored(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHFLOOR_CONFIG", "")
    assert locations.config_path(None) is None


def test_tilde_in_explicit_path(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(clean_env))
    assert locations.config_path("~/wf.yaml") == clean_env / "wf.yaml"


def test_state_dirs_are_private(clean_env: Path) -> None:
    state = locations.state_dir()
    assert state == clean_env / "xdg-state" / "watchfloor"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((clean_env / "xdg-state").stat().st_mode) == 0o700
    runs = locations.runs_dir()
    assert runs == state / "runs" and stat.S_IMODE(runs.stat().st_mode) == 0o700
    assert locations.log_file() == state / "watchfloor.log"
    assert locations.state_dir(clean_env / "custom") == clean_env / "custom"
    assert locations.runs_dir(clean_env / "custom") == clean_env / "custom" / "runs"


def test_headless_modules_do_not_import_textual() -> None:
    code = (
        "import sys, console.config, console.locations, console.yaml_source; "
        "sys.exit('textual' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1]).returncode == 0


# --- secret references --------------------------------------------------------------


def test_is_reference() -> None:
    assert is_reference("${PROM_TOKEN}")
    assert is_reference("file:/run/secrets/token")
    assert not is_reference("hunter2")
    assert not is_reference("${not a name}")
    assert not is_reference("file:")
    assert not is_reference(None)


def test_resolve_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WF_TEST_TOKEN", "s3cret")
    assert resolve_reference("${WF_TEST_TOKEN}") == "s3cret"
    monkeypatch.delenv("WF_TEST_TOKEN")
    with pytest.raises(ConfigError) as caught:
        resolve_reference("${WF_TEST_TOKEN}", field="environments[0].prometheus.bearer_token", file="c.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("c.yaml", "environments[0].prometheus.bearer_token")
    assert "WF_TEST_TOKEN is not set" in str(problem)


def test_resolve_file_reference(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  s3cret\n")
    assert resolve_reference(f"file:{token}") == "s3cret"
    with pytest.raises(ConfigError) as caught:
        resolve_reference(f"file:{tmp_path / 'missing'}")
    assert "cannot read secret file" in str(caught.value)
    token.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError):
        resolve_reference(f"file:{token}")


def test_literals_pass_through() -> None:
    assert resolve_reference("plain value") == "plain value"


# --- fuzzing ------------------------------------------------------------------------

FIELD_NAMES = sorted(
    set(Config.model_fields)
    | set(DockerEnvironmentConfig.model_fields)
    | set(KubernetesEnvironmentConfig.model_fields)
    | set(PrometheusConfig.model_fields)
)

YAML_TOKENS = [
    *(f"{name}: " for name in FIELD_NAMES),
    "\n", "\n  ", "\n    ", "- ", ": ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: ", "!!int ", "!!binary ",
    "!!python/object:os.system ", "? ", "|\n  ", ">\n  ", "'", '"', "#", "---\n", "...\n", "%YAML 1.1\n", "\t",
    "kind: docker", "kind: kubernetes", "name: prod", "tcp://h:1", "http://p:9090", "${X}", "file:/x",
    "2024-13-45", "0x1F", "1e400", ".nan", "~", "null", "yes", "\\", "\x00", "\x1b[31m", "\ud800", "\u2028",
]

yamlish_text = st.lists(st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=4)), max_size=40).map("".join)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["docker", "kubernetes", "all", "dark", "tcp://h:2375", "http://p:9090", "${TOKEN}", "prod"]),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8), st.integers(), st.booleans())


def environment_like(children: st.SearchStrategy[object]) -> st.SearchStrategy[dict[object, object]]:
    # Mostly-plausible environments, so the fuzzer reaches the model validators
    # and not only "unknown key".
    return st.builds(
        lambda kind, name, rest: {"kind": kind, "name": name, **rest},
        st.sampled_from(["docker", "kubernetes", "podman"]),
        st.one_of(st.sampled_from(["prod", "dev", "Bad Name"]), scalars),
        st.dictionaries(st.sampled_from(FIELD_NAMES), children, max_size=4),
    )


nested_data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
        environment_like(children),
    ),
    max_leaves=8,
)
top_level = st.one_of(
    nested_data,
    st.dictionaries(st.sampled_from(FIELD_NAMES), nested_data, max_size=6),
    st.builds(lambda envs: {"environments": envs}, st.lists(st.one_of(environment_like(nested_data), nested_data), max_size=4)),
)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_loads_or_fails_cleanly(path: Path) -> None:
    try:
        config = load_config(path)
    except ConfigError as error:
        assert error.problems
        text = str(error)
        text.encode("utf-8")  # no lone surrogates reach the terminal
        assert len(text.splitlines()) == len(error.problems)
        for problem in error.problems:
            assert problem.file == str(path)
            assert problem.field
            assert problem.message and problem.hint
            assert problem.line is None or problem.line >= 1
            assert problem.column is None or problem.column >= 1
    else:
        assert isinstance(config, Config)


FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(text=yamlish_text)
def test_fuzz_yamlish_text(fuzz_dir: Path, text: str) -> None:
    path = fuzz_dir / "text.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    check_loads_or_fails_cleanly(path)


@st.composite
def mutated_full_config(draw: st.DrawFn) -> str:
    """The valid full config with a few lines dropped, repeated, re-indented or spliced."""
    lines = FULL_CONFIG.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["drop", "repeat", "indent", "dedent", "splice"]))
        if edit == "drop":
            del lines[index]
        elif edit == "repeat":
            lines.insert(index, lines[index])
        elif edit == "indent":
            lines[index] = "  " + lines[index]
        elif edit == "dedent":
            lines[index] = lines[index][2:]
        else:
            column = draw(st.integers(0, len(lines[index])))
            token = draw(st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=3)))
            lines[index] = lines[index][:column] + token + lines[index][column:]
        if not lines:
            break
    return "".join(lines)


@FUZZ
@given(text=mutated_full_config())
def test_fuzz_near_valid_config(fuzz_dir: Path, text: str) -> None:
    path = fuzz_dir / "mutated.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    check_loads_or_fails_cleanly(path)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_fuzz_bytes(fuzz_dir: Path, raw: bytes) -> None:
    path = fuzz_dir / "bytes.yaml"
    path.write_bytes(raw)
    check_loads_or_fails_cleanly(path)


@FUZZ
@given(data=top_level)
def test_fuzz_nested_data(fuzz_dir: Path, data: object) -> None:
    path = fuzz_dir / "data.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8", errors="surrogatepass")
    check_loads_or_fails_cleanly(path)


def test_fuzz_strategies_reach_valid_configs() -> None:
    # Guard against a fuzzer that only ever produces errors: the valid corner exists.
    assert isinstance(parse_config(yaml.safe_dump({"environments": [{"kind": "docker", "name": "prod"}]})), Config)
    assert math.isfinite(PrometheusConfig(url="http://p:1").timeout)
