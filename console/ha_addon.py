"""The Home Assistant add-on: its options turned into a watchfloor config, and the console served to ingress.

Home Assistant's Supervisor writes what the user set on the add-on's Configuration tab
to ``/data/options.json`` (shape: ``deploy/home-assistant/watchfloor/config.yaml``,
``schema``). :func:`prepare` turns it into an ordinary watchfloor config under
``/data/watchfloor/`` and validates it with :func:`console.config.load_config`, the same
loader the console uses, so an option the console would refuse stops the add-on with a
message naming the option. Secrets stay references: a kubeconfig pasted into the
options is written to its own file, mode 0600 in a 0700 directory, and the config names
that file; the config itself never holds it.

The console is then served by textual-serve on the ingress port (:data:`INGRESS_PORT`).
Home Assistant asks that port to accept only the Supervisor's ingress proxy,
:data:`INGRESS_PEER`, and to treat what it forwards as authenticated: the add-on has no
host port, and :class:`IngressServer` answers 403 to every other peer on the add-on
network (another add-on, say), whatever headers it sends.

Run by the add-on's s6 service (``python -m console.ha_addon serve --host 0.0.0.0``);
``check`` writes and validates the config without serving.
No Textual here: only the consoles the server starts import it.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from console.config import ENVIRONMENT_NAME_PATTERN, Config, ConfigError, ConfigProblem, load_config
from console.serve import ConsoleServer, console_command
from console.yaml_source import printable

__all__ = [
    "ADDON_CONFIG_DIR",
    "DATA_DIR",
    "INGRESS_PEER",
    "INGRESS_PORT",
    "OPTIONS_FILE",
    "IngressServer",
    "Prepared",
    "config_from_options",
    "main",
    "peer_allowed",
    "prepare",
]

INGRESS_PORT = 8099
"""The port ingress proxies to: the Supervisor's default ``ingress_port``, which config.yaml leaves unset."""
INGRESS_PEER = "172.30.32.2"
"""The Supervisor's address on the add-on network, the only peer ingress traffic comes from."""
OPTIONS_FILE = Path("/data/options.json")
DATA_DIR = Path("/data")
"""The add-on's persistent volume (kept across restarts and updates, included in backups)."""
ADDON_CONFIG_DIR = Path("/config")
"""Where the Supervisor mounts the add-on's own folder of ``/addon_configs`` (``map: addon_config``, read-only)."""

OPTIONS_SHOWN = "add-on options"
"""How problems name where the mistake is: the Configuration tab, not the generated file."""

_NAME = re.compile(ENVIRONMENT_NAME_PATTERN[1:-1])
_DOCKER_KEYS = ("host", "tls_verify", "cert_path")
_KUBERNETES_KEYS = ("kubeconfig", "context", "namespaces")
_COMMON_KEYS = ("name", "kind", "protected", "read_only")
_FLATTEN_HINT = (
    "paste a self-contained kubeconfig: kubectl config view --minify --flatten --context NAME "
    "(certificates embedded as *-data, no file paths)"
)


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` made.

    Attributes:
        config_path: The generated config file (mode 0600).
        config: It, validated.
        warnings: Things that work but deserve the user's attention, one line each.
    """

    config_path: Path
    config: Config
    warnings: list[str]


def _problem(where: str, message: str, hint: str) -> ConfigProblem:
    return ConfigProblem(OPTIONS_SHOWN, None, None, where, message, hint)


@dataclass
class _Findings:
    """What reading the options found: problems stop the add-on, warnings go to its log."""

    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def problem(self, where: str, message: str, hint: str) -> None:
        self.problems.append(_problem(where, message, hint))


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` so that only the owner can ever read it, replacing ``path`` atomically.

    The temporary file is created 0600 (and chmod-ed, since ``open``'s mode passes
    through the umask and an existing file keeps its mode), so the secret is never in a
    file others could read, not even for a moment; ``os.replace`` also drops an older
    file's wider mode along with the file.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        os.fchmod(descriptor, 0o600)
        stream.write(text)
        stream.flush()
        os.fsync(descriptor)
    os.replace(temporary, path)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode passes through the umask, and the directory may be older
    return path


def _namespaces(text: str) -> str | list[str]:
    # One text field in the options UI: "all", or names separated by commas or spaces.
    names = [name for name in re.split(r"[,\s]+", text.strip()) if name]
    if len(names) == 1 and names[0].lower() == "all":
        return "all"
    return names


def _environment(
    index: int, item: Any, kubeconfig_dir: Path, addon_config_dir: Path, found: _Findings
) -> dict[str, Any] | None:
    """One environment of the config from one entry of the options, or None when it is unusable."""
    where = f"environments[{index}]"
    if not isinstance(item, Mapping):
        found.problem(where, "each environment must be a set of fields", "give name, kind and the fields of that kind")
        return None
    name, kind = item.get("name"), item.get("kind")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        # The name becomes a file name: nothing but the documented characters, no "../".
        found.problem(
            f"{where}.name",
            f"environment name {printable(repr(name), 60)} is not allowed: it must match {ENVIRONMENT_NAME_PATTERN}",
            "use lowercase letters, digits, '.', '_' and '-', e.g. name: prod",
        )
        return None
    if kind not in ("docker", "kubernetes"):
        found.problem(
            f"{where}.kind",
            f"kind must be docker or kubernetes, got {printable(repr(kind), 40)}",
            "set kind: docker or kind: kubernetes",
        )
        return None
    own, other, other_kind = (
        (_DOCKER_KEYS, _KUBERNETES_KEYS, "kubernetes") if kind == "docker" else (_KUBERNETES_KEYS, _DOCKER_KEYS, "docker")
    )
    for key in item:
        if key in other:
            found.problem(f"{where}.{key}", f"{key} applies only to kind: {other_kind} environments", f"remove {key} here")
        elif key not in own and key not in _COMMON_KEYS:
            found.problem(f"{where}.{printable(str(key), 40)}", "unknown field", f"allowed here: {', '.join(_COMMON_KEYS + own)}")
    environment: dict[str, Any] = {"kind": kind, "name": name}
    for key in ("protected", "read_only"):
        if item.get(key) is not None:
            environment[key] = item[key]
    if kind == "docker":
        return _docker(where, item, environment, addon_config_dir, found)
    return _kubernetes(where, item, environment, kubeconfig_dir, found)


def _docker(
    where: str, item: Mapping[str, Any], environment: dict[str, Any], addon_config_dir: Path, found: _Findings
) -> dict[str, Any] | None:
    host = item.get("host")
    tls_hint = "set host: tcp://HOST:2376 with tls_verify: true and cert_path (see the add-on's documentation)"
    if not host:
        found.problem(
            f"{where}.host",
            "a docker environment needs host: the add-on has no access to Home Assistant's own Docker engine",
            tls_hint,
        )
        return None
    if isinstance(host, str) and not host.startswith("tcp://"):
        # unix:// and npipe:// name nothing inside the add-on; ssh:// would need keys and
        # an ssh client the image does not have.
        found.problem(f"{where}.host", "the add-on reaches Docker engines over tcp:// only", tls_hint)
        return None
    environment["host"] = host
    if item.get("tls_verify") is not None:
        environment["tls_verify"] = item["tls_verify"]
    if item.get("cert_path"):
        # Relative to the add-on's own folder in /addon_configs, where the user can put files.
        environment["cert_path"] = str(addon_config_dir / str(item["cert_path"]))
    if not environment.get("tls_verify"):
        found.warnings.append(
            f"{where} ({environment['name']}): {host} without tls_verify: anyone on the network path can read and "
            "drive that Docker engine; enable TLS on the engine and set tls_verify and cert_path"
        )
    return environment


def _kubernetes(
    where: str, item: Mapping[str, Any], environment: dict[str, Any], kubeconfig_dir: Path, found: _Findings
) -> dict[str, Any] | None:
    content = item.get("kubeconfig")
    if not isinstance(content, str) or not content.strip():
        message = "a kubernetes environment needs kubeconfig: the add-on has none of its own"
        found.problem(f"{where}.kubeconfig", message, _FLATTEN_HINT)
        return None
    path = kubeconfig_dir / f"{environment['name']}.yaml"
    _write_private(path, content if content.endswith("\n") else content + "\n")
    environment["kubeconfig"] = str(path)
    if item.get("context"):
        environment["context"] = item["context"]
    if isinstance(item.get("namespaces"), str) and item["namespaces"].strip():
        environment["namespaces"] = _namespaces(item["namespaces"])

    from adapters.kubeconfig import KubeconfigError, resolve_context

    try:
        access = resolve_context(path, environment.get("context"))
    except KubeconfigError as error:
        # The adapter's message names the file, field and context, never the content.
        found.problem(f"{where}.kubeconfig", printable(str(error), 300), _FLATTEN_HINT)
        return None
    if access.plugin is not None:
        found.warnings.append(
            f"{where} ({environment['name']}): the kubeconfig gets credentials from an {access.plugin} plugin, which the "
            "add-on image does not contain; use a service-account token or a client certificate instead"
        )
    return environment


def config_from_options(
    options: Any, data_dir: Path, *, addon_config_dir: Path = ADDON_CONFIG_DIR
) -> tuple[dict[str, Any], list[str]]:
    """The watchfloor config the options describe, writing each kubeconfig to its private file.

    Kubeconfig files of environments no longer in the options are deleted, so a removed
    cluster's credentials do not stay behind.

    Args:
        options: ``/data/options.json``, parsed.
        data_dir: The add-on's persistent directory (``/data``).
        addon_config_dir: Where relative ``cert_path`` values start.

    Returns:
        The config as plain data (what the YAML file will hold), and warnings.

    Raises:
        ConfigError: With every problem found in the options.
    """
    if not isinstance(options, Mapping):
        raise ConfigError([_problem("(document)", "options.json is not a JSON object", "save the add-on's options again")])
    found = _Findings()
    root = data_dir / "watchfloor"
    kubeconfig_dir = _private_dir(root / "kubeconfigs")
    config: dict[str, Any] = {"state_dir": str(root / "state")}
    for key in ("log_level", "theme", "read_only"):
        if options.get(key) is not None:
            config[key] = options[key]
    items = options.get("environments") or []
    if not isinstance(items, list):
        found.problem("environments", "environments must be a list", "add one entry per Docker engine or cluster")
        items = []
    environments = [_environment(i, item, kubeconfig_dir, addon_config_dir, found) for i, item in enumerate(items)]
    config["environments"] = [environment for environment in environments if environment is not None]
    kept = {f"{environment['name']}.yaml" for environment in config["environments"] if "kubeconfig" in environment}
    for stale in kubeconfig_dir.iterdir():
        if stale.name not in kept:
            stale.unlink()
    if found.problems:
        raise ConfigError(found.problems)
    if not config["environments"]:
        found.warnings.append("no environments configured: add Docker engines or clusters on the add-on's Configuration tab")
    return config, found.warnings


def prepare(
    options_file: Path = OPTIONS_FILE, data_dir: Path = DATA_DIR, *, addon_config_dir: Path = ADDON_CONFIG_DIR
) -> Prepared:
    """Read the options, write ``<data_dir>/watchfloor/config.yaml`` (0600) and validate it.

    Raises:
        ConfigError: The options cannot be read or describe a config the console
            refuses; every problem names the option, never a secret's value.
    """
    try:
        options = json.loads(options_file.read_text(encoding="utf-8"))
    except OSError as error:
        message = f"cannot read {options_file}: {error.strerror or error}"
        raise ConfigError([_problem("(file)", message, "restart the add-on")]) from None
    except ValueError as error:
        message = f"{options_file} is not JSON: {error}"
        raise ConfigError([_problem("(file)", message, "save the add-on's options again")]) from None
    data, warnings = config_from_options(options, data_dir, addon_config_dir=addon_config_dir)
    path = _private_dir(data_dir / "watchfloor") / "config.yaml"
    header = "# Written by the watchfloor add-on from its options at every start: edit the options, not this file.\n"
    _write_private(path, header + yaml.safe_dump(data, sort_keys=False))
    try:
        config = load_config(path)
    except ConfigError as error:
        raise ConfigError([_problem(p.field, p.message, p.hint) for p in error.problems]) from None
    return Prepared(path, config, warnings)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return address


def peer_allowed(remote: str | None, allowed: Iterable[str]) -> bool:
    """Whether a connection from ``remote`` (the socket's peer address) may be served."""
    address = _address(remote) if remote else None
    return address is not None and address in {_address(peer) for peer in allowed}


class IngressServer(ConsoleServer):
    """The console server, answering only the peers in ``allowed_peers`` (the ingress proxy).

    The check reads the socket's peer address, never a header: ``X-Forwarded-For``
    and friends are whatever the client chose to send.

    Args:
        command: What each browser tab runs (:func:`console.serve.console_command`).
        host: Address to listen on.
        port: Port to listen on.
        allowed_peers: IP addresses that may connect; everyone else gets 403.
    """

    def __init__(
        self, command: str, *, host: str, port: int = INGRESS_PORT, allowed_peers: Iterable[str] = (INGRESS_PEER,)
    ) -> None:
        super().__init__(command, host=host, port=port, title="watchfloor")
        self.allowed_peers = frozenset(allowed_peers)
        """Peer addresses served; every other gets 403."""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        allowed = self.allowed_peers

        @web.middleware
        async def ingress_only(request: web.Request, handler: Any) -> web.StreamResponse:
            if not peer_allowed(request.remote, allowed):
                raise web.HTTPForbidden(text="watchfloor: this add-on answers only Home Assistant ingress\n")
            return await handler(request)

        # First, so that static files and the websocket are behind it too.
        app.middlewares.insert(0, ingress_only)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Say where the console is served and to whom."""
        peers = ", ".join(sorted(self.allowed_peers))
        print(f"watchfloor add-on: serving the console on port {self.port} to {peers} (ingress) only", file=sys.stderr, flush=True)


def _print_problems(error: ConfigError) -> None:
    for problem in error.problems:
        print(f"watchfloor add-on: {problem}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m console.ha_addon serve | check``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m console.ha_addon", description="watchfloor as a Home Assistant add-on")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="write the config from the options and serve the console to ingress")
    check = commands.add_parser("check", help="write and validate the config, print its path")
    for command in (serve, check):
        command.add_argument("--options", type=Path, default=OPTIONS_FILE, help=f"options file (default {OPTIONS_FILE})")
        command.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"persistent directory (default {DATA_DIR})")
        command.add_argument(
            "--addon-config-dir", type=Path, default=ADDON_CONFIG_DIR, help=f"where cert_path starts (default {ADDON_CONFIG_DIR})"
        )
    # No default host: the run script says "every interface" where it can be seen.
    serve.add_argument("--host", required=True, help="address to listen on")
    serve.add_argument("--port", type=int, default=INGRESS_PORT, help=f"port (default {INGRESS_PORT}, the ingress port)")
    args = parser.parse_args(argv)

    try:
        prepared = prepare(args.options, args.data_dir, addon_config_dir=args.addon_config_dir)
    except ConfigError as error:
        _print_problems(error)
        return 2
    for warning in prepared.warnings:
        print(f"watchfloor add-on: warning: {printable(warning)}", file=sys.stderr, flush=True)
    if args.command == "check":
        print(prepared.config_path)
        return 0
    command = console_command(config=str(prepared.config_path), log_level=prepared.config.log_level)
    IngressServer(command, host=args.host, port=args.port).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
