"""The Home Assistant add-on (deploy/home-assistant/), checked offline against the add-on format.

What Home Assistant's Supervisor would check or do, done here without one: config.yaml's
keys and their documented defaults, the options against their schema, the Supervisor's
security rating (reimplemented from ``supervisor/addons/utils.py`` ``rating_security``),
the Dockerfile's base, labels and healthcheck, the s6 service scripts, translations and
images. Then the add-on's own code for real: ``/data/options.json`` files in a temporary
directory turned into a config the console loads, kubeconfigs in 0600 files, the
generated config driving ``watchfloor status`` against the embedded Kubernetes emulator,
and the served console refusing every peer but the ingress proxy over real HTTP.

Format reference: https://developers.home-assistant.io/docs/add-ons/configuration,
/presentation (ingress: "accepts only connections from 172.30.32.2"), /security.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from console import ha_addon
from console.config import ConfigError, load_config
from console.ha_addon import INGRESS_PEER, INGRESS_PORT, IngressServer, config_from_options, peer_allowed, prepare
from console.serve import console_command

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = ROOT / "deploy" / "home-assistant"
ADDON = REPOSITORY / "watchfloor"
SERVICE = ADDON / "rootfs" / "etc" / "s6-overlay" / "s6-rc.d" / "watchfloor"

# Every optional key of config.yaml with the default the add-on docs give it. Setting a key
# to its default says nothing and is what the add-on linter flags.
DOCUMENTED_DEFAULTS: dict[str, Any] = {
    "startup": "application",
    "boot": "auto",
    "host_network": False,
    "host_ipc": False,
    "host_dbus": False,
    "host_pid": False,
    "host_uts": False,
    "hassio_role": "default",
    "hassio_api": False,
    "homeassistant_api": False,
    "docker_api": False,
    "full_access": False,
    "apparmor": True,
    "audio": False,
    "video": False,
    "gpio": False,
    "usb": False,
    "uart": False,
    "udev": False,
    "devicetree": False,
    "kernel_modules": False,
    "stdin": False,
    "legacy": False,
    "timeout": 10,
    "tmpfs": False,
    "auth_api": False,
    "ingress": False,
    "ingress_port": 8099,
    "ingress_entry": "/",
    "ingress_stream": False,
    "panel_icon": "mdi:puzzle",
    "panel_admin": True,
    "backup": "hot",
    "advanced": False,
    "stage": "stable",
    "init": True,
    "realtime": False,
    "journald": False,
}

# Keys that widen what the add-on may touch on the Home Assistant host.
PRIVILEGE_KEYS = (
    "docker_api",
    "full_access",
    "privileged",
    "devices",
    "host_network",
    "host_ipc",
    "host_dbus",
    "host_pid",
    "host_uts",
    "hassio_api",
    "homeassistant_api",
    "hassio_role",
    "auth_api",
    "kernel_modules",
    "gpio",
    "usb",
    "uart",
    "udev",
    "video",
    "audio",
    "realtime",
    "journald",
    "ports",
)

# The capabilities the Supervisor's rating counts against an add-on (supervisor/addons/utils.py).
_RATED_CAPABILITIES = frozenset(
    {"BPF", "CHECKPOINT_RESTORE", "DAC_READ_SEARCH", "NET_ADMIN", "NET_RAW", "PERFMON"}
    | {"SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO"}
)


def security_rating(config: Mapping[str, Any], *, apparmor_profile: bool = False) -> int:
    """The Supervisor's security rating of an add-on, 1 (avoid) to 8, from its config.yaml.

    Our reimplementation of ``rating_security`` in home-assistant/supervisor
    (``supervisor/addons/utils.py``): start at 5; AppArmor off -1, own profile +1;
    ingress +2, else Home Assistant login (``auth_api``) +1; signed (``codenotary``) +1;
    a rated capability or kernel modules -1; Supervisor role manager -1, admin -2; host
    network -1; host PID namespace -2; host UTS namespace with SYS_ADMIN -1; Docker API
    or full hardware access: 1, whatever else. Clamped to 1..8 (it was 1..6 before the
    Supervisor counted signatures; the docs still say "6 is very secure").

    Args:
        config: The parsed config.yaml.
        apparmor_profile: The add-on ships an ``apparmor.txt``.
    """
    rating = 5
    if config.get("apparmor", True) is False:
        rating -= 1
    elif apparmor_profile:
        rating += 1
    if config.get("ingress", False):
        rating += 2
    elif config.get("auth_api", False):
        rating += 1
    if config.get("codenotary"):
        rating += 1
    privileged = set(config.get("privileged") or [])
    if privileged & _RATED_CAPABILITIES or config.get("kernel_modules", False):
        rating -= 1
    rating -= {"manager": 1, "admin": 2}.get(config.get("hassio_role", "default"), 0)
    if config.get("host_network", False):
        rating -= 1
    if config.get("host_pid", False):
        rating -= 2
    if config.get("host_uts", False) and "SYS_ADMIN" in privileged:
        rating -= 1
    if config.get("docker_api", False) or config.get("full_access", False):
        rating = 1
    return max(1, min(8, rating))


def _schema_problems(value: Any, schema: Any, where: str = "options") -> list[str]:
    """What the Supervisor's option validation would refuse, for the schema types used here.

    Types: ``str``, ``bool``, ``int``, ``port``, ``match(REGEX)``, ``list(a|b)``; a
    trailing ``?`` makes a key optional; a one-item list of a mapping is a list of
    such mappings. Keys not in the schema are refused, as the Supervisor does.
    """
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where} must be a mapping"]
        problems = [f"{where}.{key} is not in the schema" for key in value if key not in schema]
        for key, kind in schema.items():
            optional = isinstance(kind, str) and kind.endswith("?")
            if key not in value:
                if not optional:
                    problems.append(f"{where}.{key} is required")
                continue
            problems += _schema_problems(value[key], kind.rstrip("?") if isinstance(kind, str) else kind, f"{where}.{key}")
        return problems
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where} must be a list"]
        return [problem for index, item in enumerate(value) for problem in _schema_problems(item, schema[0], f"{where}[{index}]")]
    if schema == "bool":
        return [] if isinstance(value, bool) else [f"{where} must be a bool"]
    if schema == "str":
        return [] if isinstance(value, str) else [f"{where} must be a str"]
    if schema in ("int", "port"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where} must be an int"]
    if match := re.fullmatch(r"match\((.*)\)", schema):
        return [] if isinstance(value, str) and re.fullmatch(match[1], value) else [f"{where} does not match {match[1]}"]
    if match := re.fullmatch(r"list\((.*)\)", schema):
        return [] if value in match[1].split("|") else [f"{where} is not one of {match[1]}"]
    raise AssertionError(f"schema type {schema!r} at {where} is not one this test knows: teach _schema_problems")


def _config() -> dict[str, Any]:
    return yaml.safe_load((ADDON / "config.yaml").read_text(encoding="utf-8"))


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the add-on's Dockerfile, continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ADDON / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, rest = text.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for keyword, rest in _dockerfile_instructions():
        if keyword == "LABEL":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                labels[key] = value
    return labels


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    assert zlib.crc32(data[12:29]) & 0xFFFFFFFF == struct.unpack(">I", data[29:33])[0], f"{path.name}: IHDR CRC"
    return struct.unpack(">II", data[16:24])


# --- a kubeconfig, options files ------------------------------------------------------------

_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
SECRET_MARKER = "s3cr3t-token-value-7f9c"


def _kubeconfig(context: str = "prod-eu", server: str = "https://k8s.example.net:6443", *, user: dict | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "prod", "cluster": {"server": server, "certificate-authority-data": _CA}}],
            "users": [{"name": "ops", "user": user or {"token": SECRET_MARKER}}],
            "contexts": [{"name": context, "context": {"cluster": "prod", "user": "ops"}}],
            "current-context": context,
        }
    )


def _options(*environments: dict[str, Any], **top: Any) -> dict[str, Any]:
    """Options as the Supervisor writes them: config.yaml's defaults, then what the user set."""
    options = dict(_config()["options"])
    options.update(top)
    options["environments"] = list(environments)
    return options


def _write_options(directory: Path, options: dict[str, Any]) -> Path:
    problems = _schema_problems(options, _config()["schema"])
    assert not problems, f"the test's options would not pass the Supervisor: {problems}"
    path = directory / "options.json"
    path.write_text(json.dumps(options), encoding="utf-8")
    return path


@pytest.fixture
def addon_dirs(tmp_path: Path) -> dict[str, Path]:
    """``/data`` and ``/config`` of an add-on, as empty temporary directories."""
    dirs = {"data": tmp_path / "data", "config": tmp_path / "addon_config"}
    for directory in dirs.values():
        directory.mkdir()
    return dirs


def _prepare(addon_dirs: dict[str, Path], options: dict[str, Any]) -> ha_addon.Prepared:
    return prepare(_write_options(addon_dirs["data"], options), addon_dirs["data"], addon_config_dir=addon_dirs["config"])


def _dir_arguments(addon_dirs: dict[str, Path]) -> list[str]:
    return ["--data-dir", str(addon_dirs["data"]), "--addon-config-dir", str(addon_dirs["config"])]


def _problems(addon_dirs: dict[str, Path], options: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        _prepare(addon_dirs, options)
    return [str(problem) for problem in raised.value.problems]


# --- config.yaml ---------------------------------------------------------------------------


def test_config_yaml_has_the_required_keys_and_the_package_version() -> None:
    config = _config()

    assert {"name", "version", "slug", "description", "arch"} <= set(config)
    assert config["slug"] == ADDON.name
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{config["version"]}"' in pyproject, "the add-on's version follows the package's"


def test_config_yaml_targets_amd64_and_aarch64_with_its_own_init() -> None:
    config = _config()

    assert sorted(config["arch"]) == ["aarch64", "amd64"]
    assert config["init"] is False, "s6-overlay v3 is the init: Docker's would stop it starting"


def test_config_yaml_serves_only_through_ingress_on_the_port_the_addon_listens_on() -> None:
    config = _config()

    assert config["ingress"] is True
    assert config.get("ingress_port", DOCUMENTED_DEFAULTS["ingress_port"]) == INGRESS_PORT
    assert "ports" not in config and "webui" not in config, "no host port: ingress is the only way in"
    assert ha_addon.INGRESS_PEER == "172.30.32.2"


def test_config_yaml_sets_no_key_to_its_documented_default() -> None:
    config = _config()

    redundant = {key: value for key, value in config.items() if key in DOCUMENTED_DEFAULTS and value == DOCUMENTED_DEFAULTS[key]}

    assert not redundant, f"keys set to their default: {redundant}"


def test_config_yaml_asks_for_no_access_to_the_home_assistant_host() -> None:
    config = _config()

    assert not [key for key in PRIVILEGE_KEYS if key in config]
    assert all(entry.get("read_only", True) for entry in config.get("map", [])), "folders are mapped read-only"


def test_security_rating_of_the_addon_is_at_least_6() -> None:
    config = _config()

    rating = security_rating(config, apparmor_profile=(ADDON / "apparmor.txt").exists())

    assert rating >= 6
    assert rating == 7, "5, +2 for ingress; no AppArmor profile of its own, unsigned"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"docker_api": True}, 1),
        ({"full_access": True}, 1),
        ({"privileged": ["NET_ADMIN"]}, 6),
        ({"privileged": ["SYS_ADMIN"], "host_uts": True}, 5),
        ({"host_network": True}, 6),
        ({"host_pid": True}, 5),
        ({"hassio_role": "admin"}, 5),
        ({"apparmor": False}, 6),
        ({"ingress": False}, 5),
        ({"ingress": False, "auth_api": True}, 6),
        ({"privileged": ["SYS_TIME"]}, 7),
    ],
)
def test_security_rating_drops_for_each_privilege_a_variant_would_ask_for(change: dict[str, Any], expected: int) -> None:
    variant = {**_config(), **change}

    assert security_rating(variant) == expected


def test_security_rating_counts_an_apparmor_profile_and_a_signature_and_stops_at_8() -> None:
    assert security_rating({**_config(), "codenotary": "ops@example.org"}, apparmor_profile=True) == 8
    assert security_rating({"name": "bare", "docker_api": True, "ingress": True}, apparmor_profile=True) == 1


def test_options_match_the_schema_and_every_required_option_has_a_default() -> None:
    config = _config()

    assert set(config["options"]) <= set(config["schema"]), "every option is in the schema"
    assert _schema_problems(config["options"], config["schema"]) == []
    assert "log_level" in config["options"]


def test_the_schema_describes_the_same_environment_fields_the_addon_reads() -> None:
    fields = set(_config()["schema"]["environments"][0])

    assert fields == set(ha_addon._COMMON_KEYS + ha_addon._DOCKER_KEYS + ha_addon._KUBERNETES_KEYS)


def test_translations_name_and_describe_every_option_and_environment_field() -> None:
    schema = _config()["schema"]
    translations = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text(encoding="utf-8"))["configuration"]

    missing = [key for key in schema if not {"name", "description"} <= set(translations.get(key, {}))]
    fields = translations["environments"]["fields"]
    missing += [
        f"environments.{key}" for key in schema["environments"][0] if not {"name", "description"} <= set(fields.get(key, {}))
    ]
    extra = set(translations) - set(schema)

    assert not missing, f"options without a name and description: {missing}"
    assert not extra, f"translations of options that do not exist: {extra}"


def test_repository_yaml_names_the_repository_and_holds_the_addon_one_level_down() -> None:
    repository = yaml.safe_load((REPOSITORY / "repository.yaml").read_text(encoding="utf-8"))

    assert repository["name"] and repository["maintainer"]
    assert [p.parent.name for p in REPOSITORY.glob("*/config.yaml")] == ["watchfloor"]


def test_the_addon_ships_its_documents_and_images_of_the_recommended_sizes() -> None:
    for name in ("DOCS.md", "README.md", "CHANGELOG.md"):
        assert (ADDON / name).read_text(encoding="utf-8").strip(), f"{name} is empty"

    assert f"## {_config()['version']}" in (ADDON / "CHANGELOG.md").read_text(encoding="utf-8")
    assert _png_size(ADDON / "icon.png") == (128, 128)
    assert _png_size(ADDON / "logo.png") == (250, 100)


# --- Dockerfile and the s6 service ----------------------------------------------------------


def test_dockerfile_builds_from_a_pinned_home_assistant_python_base() -> None:
    froms = [rest for keyword, rest in _dockerfile_instructions() if keyword == "FROM"]

    assert len(froms) == 1
    # Named outright: a FROM $BUILD_FROM would take whatever the Supervisor passes.
    assert re.fullmatch(r"ghcr\.io/home-assistant/base-python:3\.\d+-alpine3\.\d+(@sha256:[0-9a-f]{64})?", froms[0]), froms[0]


def test_dockerfile_labels_the_image_as_this_addon() -> None:
    labels = _labels()
    arguments = [rest for keyword, rest in _dockerfile_instructions() if keyword == "ARG"]
    build_version = next(argument for argument in arguments if argument.startswith("BUILD_VERSION="))

    assert labels["io.hass.type"] == "addon"
    assert labels["io.hass.version"] == "${BUILD_VERSION}"
    assert build_version == f"BUILD_VERSION={_config()['version']}"
    assert labels["io.hass.arch"] == "${BUILD_ARCH}"
    assert labels["io.hass.name"] and labels["io.hass.description"]


def test_dockerfile_installs_offline_from_the_wheelhouse() -> None:
    runs = " ".join(rest for keyword, rest in _dockerfile_instructions() if keyword == "RUN")

    assert "--no-index" in runs and "--find-links /tmp/wheels watchfloor" in runs
    assert (ADDON / ".gitignore").read_text(encoding="utf-8").split() == ["wheels/"]


def test_dockerfile_has_a_healthcheck_on_the_ingress_port() -> None:
    healthchecks = [rest for keyword, rest in _dockerfile_instructions() if keyword == "HEALTHCHECK"]

    assert len(healthchecks) == 1
    assert f"http://127.0.0.1:{INGRESS_PORT}/" in healthchecks[0]
    assert "--fail" not in healthchecks[0], "a 403 to this loopback peer still means the server answers"


def _healthcheck_command(port: int) -> str:
    rest = next(rest for keyword, rest in _dockerfile_instructions() if keyword == "HEALTHCHECK")
    command = rest.split(" CMD ", 1)[1]
    return command.replace(f":{INGRESS_PORT}/", f":{port}/")


def test_s6_service_is_a_longrun_in_the_user_bundle() -> None:
    assert (SERVICE / "type").read_text(encoding="utf-8").strip() == "longrun"
    assert (SERVICE.parent / "user" / "contents.d" / "watchfloor").exists()


@pytest.mark.parametrize("script", ["run", "finish"])
def test_s6_scripts_are_executable_with_a_shebang(script: str) -> None:
    path = SERVICE / script

    assert path.stat().st_mode & stat.S_IXUSR
    assert path.read_text(encoding="utf-8").startswith("#!/command/with-contenv bashio\n")
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_run_script_serves_the_console_module_on_every_interface_of_the_addon() -> None:
    text = (SERVICE / "run").read_text(encoding="utf-8")
    command = shlex.split(text[text.index("exec ") :].replace("\\\n", " "))

    assert command[:5] == ["exec", "/opt/watchfloor/bin/python", "-m", "console.ha_addon", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "--port" not in command, f"the default, {INGRESS_PORT}, is the ingress port"
    assert command[command.index("--options") + 1] == "/data/options.json"


def test_finish_script_halts_the_addon_when_the_server_fails() -> None:
    text = (SERVICE / "finish").read_text(encoding="utf-8")

    assert "/run/s6/basedir/bin/halt" in text and "-ne 256" in text


# --- options.json → config ------------------------------------------------------------------


def test_default_options_make_a_config_the_console_loads(addon_dirs: dict[str, Path]) -> None:
    prepared = _prepare(addon_dirs, _options())

    config = load_config(prepared.config_path)
    assert config.environments == []
    assert config.log_level == "info"
    assert config.state_dir == addon_dirs["data"] / "watchfloor" / "state"
    assert any("no environments" in warning for warning in prepared.warnings)


def test_options_become_docker_and_kubernetes_environments(addon_dirs: dict[str, Path]) -> None:
    options = _options(
        {"name": "nas", "kind": "docker", "host": "tcp://nas.lan:2376", "tls_verify": True, "cert_path": "docker/nas"}
        | {"protected": True},
        {"name": "prod", "kind": "kubernetes", "kubeconfig": _kubeconfig(), "context": "prod-eu"}
        | {"namespaces": "web, payments", "read_only": True},
        log_level="debug",
        theme="light",
        read_only=True,
    )

    config = load_config(_prepare(addon_dirs, options).config_path)

    nas, prod = config.environments
    assert (nas.kind, nas.host, nas.tls_verify, nas.protected) == ("docker", "tcp://nas.lan:2376", True, True)
    assert nas.cert_path == addon_dirs["config"] / "docker" / "nas"
    assert (prod.kind, prod.context, prod.namespaces, prod.read_only) == ("kubernetes", "prod-eu", ["web", "payments"], True)
    assert (config.log_level, config.theme, config.read_only) == ("debug", "light", True)


def test_a_kubeconfig_option_lands_in_a_0600_file_the_config_only_references(addon_dirs: dict[str, Path]) -> None:
    prepared = _prepare(addon_dirs, _options({"name": "prod", "kind": "kubernetes", "kubeconfig": _kubeconfig()}))

    kubeconfig = Path(prepared.config.environments[0].kubeconfig)
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(kubeconfig.parent.stat().st_mode) == 0o700
    assert yaml.safe_load(kubeconfig.read_text(encoding="utf-8")) == yaml.safe_load(_kubeconfig())
    assert stat.S_IMODE(prepared.config_path.stat().st_mode) == 0o600
    assert SECRET_MARKER not in prepared.config_path.read_text(encoding="utf-8")


def test_a_kubeconfig_left_readable_by_others_is_replaced_by_a_0600_one(addon_dirs: dict[str, Path]) -> None:
    old = addon_dirs["data"] / "watchfloor" / "kubeconfigs" / "prod.yaml"
    old.parent.mkdir(parents=True)
    old.write_text("stale\n")
    old.chmod(0o644)

    _prepare(addon_dirs, _options({"name": "prod", "kind": "kubernetes", "kubeconfig": _kubeconfig()}))

    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert SECRET_MARKER in old.read_text(encoding="utf-8")


def test_removing_an_environment_deletes_its_kubeconfig(addon_dirs: dict[str, Path]) -> None:
    both = _options(
        {"name": "prod", "kind": "kubernetes", "kubeconfig": _kubeconfig()},
        {"name": "stage", "kind": "kubernetes", "kubeconfig": _kubeconfig("stage")},
    )
    _prepare(addon_dirs, both)

    _prepare(addon_dirs, _options({"name": "prod", "kind": "kubernetes", "kubeconfig": _kubeconfig()}))

    assert sorted(p.name for p in (addon_dirs["data"] / "watchfloor" / "kubeconfigs").iterdir()) == ["prod.yaml"]


@pytest.mark.parametrize(
    ("environment", "field", "words"),
    [
        ({"name": "nas", "kind": "docker"}, "environments[0].host", "needs host"),
        ({"name": "nas", "kind": "docker", "host": "ssh://ops@nas.lan"}, "environments[0].host", "tcp:// only"),
        ({"name": "nas", "kind": "docker", "host": "tcp://nas.lan"}, "environments[0].host", "needs a host name and a port"),
        (
            {"name": "nas", "kind": "docker", "host": "tcp://nas.lan:2376", "kubeconfig": "x"},
            "environments[0].kubeconfig",
            "only to kind: kubernetes",
        ),
        ({"name": "prod", "kind": "kubernetes"}, "environments[0].kubeconfig", "needs kubeconfig"),
        (
            {"name": "prod", "kind": "kubernetes", "kubeconfig": _kubeconfig(), "context": "other"},
            "environments[0].kubeconfig",
            "'other' is not in",
        ),
        (
            {"name": "prod", "kind": "kubernetes", "kubeconfig": _kubeconfig(), "namespaces": "Web"},
            "environments[0].namespaces[0]",
            "not a Kubernetes namespace",
        ),
    ],
)
def test_a_mistake_in_the_options_names_the_option(addon_dirs: dict[str, Path], environment: dict, field: str, words: str) -> None:
    problems = _problems(addon_dirs, _options(environment))

    assert len(problems) == 1
    assert problems[0].startswith(f"add-on options: {field}: "), problems[0]
    assert words in problems[0]


def test_a_kubeconfig_that_is_not_yaml_is_refused_without_echoing_it(addon_dirs: dict[str, Path]) -> None:
    pasted = f"token: [{SECRET_MARKER}\n  : : :"

    problems = _problems(addon_dirs, _options({"name": "prod", "kind": "kubernetes", "kubeconfig": pasted}))

    assert "not valid YAML" in problems[0]
    assert SECRET_MARKER not in "\n".join(problems)


def test_a_kubeconfig_pointing_at_files_asks_for_a_flattened_one(addon_dirs: dict[str, Path]) -> None:
    with_paths = _kubeconfig(user={"client-certificate": "ops.crt", "client-key": "ops.key"})

    problems = _problems(addon_dirs, _options({"name": "prod", "kind": "kubernetes", "kubeconfig": with_paths}))

    assert "cannot read" in problems[0] and "--flatten" in problems[0]


def test_an_environment_name_cannot_leave_the_kubeconfig_directory(addon_dirs: dict[str, Path], tmp_path: Path) -> None:
    options = _options()
    options["environments"] = [{"name": "../../escape", "kind": "kubernetes", "kubeconfig": _kubeconfig()}]
    (addon_dirs["data"] / "options.json").write_text(json.dumps(options))

    with pytest.raises(ConfigError) as raised:
        prepare(addon_dirs["data"] / "options.json", addon_dirs["data"], addon_config_dir=addon_dirs["config"])

    assert raised.value.problems[0].field == "environments[0].name"
    assert not list(tmp_path.rglob("escape*"))


def test_options_that_are_not_a_json_object_stop_the_addon_with_a_problem(addon_dirs: dict[str, Path]) -> None:
    garbled = addon_dirs["data"] / "options.json"
    garbled.write_text("{not json", encoding="utf-8")

    with pytest.raises(ConfigError) as not_json:
        prepare(garbled, addon_dirs["data"], addon_config_dir=addon_dirs["config"])
    with pytest.raises(ConfigError) as not_object:
        config_from_options(["environments"], addon_dirs["data"], addon_config_dir=addon_dirs["config"])

    assert "is not JSON" in not_json.value.problems[0].message
    assert not_object.value.problems[0].message == "options.json is not a JSON object"


def test_plain_tcp_and_credential_plugins_are_warned_about(addon_dirs: dict[str, Path]) -> None:
    plugin = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws", "args": ["eks", "get-token"]}}
    options = _options(
        {"name": "nas", "kind": "docker", "host": "tcp://nas.lan:2375"},
        {"name": "eks", "kind": "kubernetes", "kubeconfig": _kubeconfig(user=plugin)},
    )

    warnings = _prepare(addon_dirs, options).warnings

    assert any("nas" in w and "tls_verify" in w for w in warnings)
    assert any("eks" in w and "exec plugin" in w for w in warnings)


def test_check_command_exits_2_with_the_problem_on_stderr_and_0_with_the_config_path(addon_dirs: dict[str, Path]) -> None:
    command = [sys.executable, "-m", "console.ha_addon", "check", *_dir_arguments(addon_dirs)]
    bad = _write_options(addon_dirs["data"], _options({"name": "nas", "kind": "docker"}))

    refused = subprocess.run([*command, "--options", str(bad)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    good = _write_options(addon_dirs["data"], _options())
    accepted = subprocess.run([*command, "--options", str(good)], capture_output=True, text=True, cwd=ROOT, timeout=60)

    assert refused.returncode == 2
    assert "add-on options: environments[0].host:" in refused.stderr
    assert accepted.returncode == 0
    assert accepted.stdout.strip() == str(addon_dirs["data"] / "watchfloor" / "config.yaml")


def test_the_generated_config_watches_a_cluster_through_the_pasted_kubeconfig(addon_dirs: dict[str, Path], tmp_path: Path) -> None:
    from adapters.demo import DemoCluster

    with DemoCluster(tmp_path / "demo", time_scale=0.05, prometheus=False) as demo:
        endpoint = demo.endpoints["demo-staging"]
        pasted = endpoint.kubeconfig_path.read_text(encoding="utf-8")
        staging = {"name": "staging", "kind": "kubernetes", "kubeconfig": pasted, "context": endpoint.context, "namespaces": "shop"}
        prepared = _prepare(addon_dirs, _options(staging))
        status = subprocess.run(
            [sys.executable, "-m", "console", "--config", str(prepared.config_path), "status", "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            env={**os.environ, "WATCHFLOOR_CONFIG": ""},
        )

    assert status.returncode in (0, 1), status.stderr
    environment = json.loads(status.stdout)["environments"][0]
    assert environment["name"] == "staging" and environment["connected"] is True
    assert {"web"} <= {w["name"] for w in environment["workloads"] if w["group"] == "shop"}


# --- who the served console answers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        ("172.30.32.2", True),
        ("::ffff:172.30.32.2", True),
        ("172.30.32.3", False),
        ("172.30.33.5", False),
        ("127.0.0.1", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_only_the_ingress_proxy_is_an_allowed_peer(remote: str | None, allowed: bool) -> None:
    assert peer_allowed(remote, [INGRESS_PEER]) is allowed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def addon_server(addon_dirs: dict[str, Path], tmp_path: Path) -> Iterator[int]:
    """``python -m console.ha_addon serve`` on a loopback port, as the run script starts it; yields the port."""
    port = _free_port()
    options = _write_options(addon_dirs["data"], _options())
    log = (tmp_path / "addon.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "console.ha_addon", "serve", "--host", "127.0.0.1", "--port", str(port), "--options", str(options)]
        + _dir_arguments(addon_dirs),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "addon.log").read_text(errors="replace")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the add-on server did not listen within 30 s"
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        # Whatever of its session is left (a console a tab started) goes too.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
        log.close()


async def test_the_served_console_refuses_every_peer_but_the_ingress_proxy(addon_server: int) -> None:
    base = f"http://127.0.0.1:{addon_server}"
    async with aiohttp.ClientSession() as client:
        statuses = []
        for path in ("/", "/static/js/textual.js"):
            forged = {"X-Forwarded-For": INGRESS_PEER, "X-Ingress-Path": "/api/hassio_ingress/x"}
            async with client.get(base + path, headers=forged) as response:
                statuses.append(response.status)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(base + "/ws")

    assert statuses == [403, 403], "a forged X-Forwarded-For changes nothing: the socket's peer counts"
    assert refused.value.status == 403


def test_the_dockerfile_healthcheck_passes_while_the_server_answers_and_fails_when_it_does_not(addon_server: int) -> None:
    while_serving = subprocess.run(["sh", "-c", _healthcheck_command(addon_server)], capture_output=True, timeout=30)
    nothing_there = subprocess.run(["sh", "-c", _healthcheck_command(_free_port())], capture_output=True, timeout=30)

    assert while_serving.returncode == 0, "a 403 from the server is still an answer"
    assert nothing_there.returncode == 1


async def test_the_ingress_proxy_gets_the_console_page_under_its_prefix(tmp_path: Path) -> None:
    # 127.0.0.1 stands in for 172.30.32.2: the test client can only connect from loopback.
    port = _free_port()
    server = IngressServer(console_command(demo=True), host="127.0.0.1", port=port, allowed_peers=["127.0.0.1"])
    runner = web.AppRunner(await server._make_app())
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{port}/", headers={"X-Ingress-Path": "/api/hassio_ingress/abc"}) as response:
                status, page = response.status, await response.text()
            async with client.get(f"http://127.0.0.1:{port}/static/js/textual.js") as asset:
                asset_status = asset.status
    finally:
        await runner.cleanup()

    assert status == 200 and asset_status == 200
    assert 'src="/api/hassio_ingress/abc/static/js/textual.js"' in page
