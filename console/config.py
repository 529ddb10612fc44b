"""The config file: pydantic models, loading, and errors an operator can act on.

A config looks like this (every key optional; with no file at all the console
discovers the local Docker engine and the current kube context)::

    theme: dark
    environments:
      - kind: docker
        name: local                       # no host: the engine the docker SDK finds
      - kind: docker
        name: edge
        host: ssh://deploy@edge-1.example.com
        protected: true
      - kind: kubernetes
        name: prod
        context: prod-eu
        namespaces: [web, payments]
        protected: true
        prometheus:
          url: https://prometheus.example.com
          bearer_token: ${PROMETHEUS_TOKEN}   # a reference, never the token

Validation failures are reported as :class:`ConfigProblem` values, one per
mistake, each with file, line, column, the setting's dotted path and a hint.
Secrets are references (``${VAR}`` or ``file:/path``) resolved at use time by
:func:`resolve_reference`; the config never holds a secret's value, and error
messages never echo one.

No Textual here: headless commands import this module.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from console.redact import is_secret_name
from console.yaml_source import (
    DOCUMENT_FIELD,
    ConfigError,
    ConfigProblem,
    YamlDocument,
    format_path,
    load_yaml,
    parse_yaml,
    printable,
)

__all__ = [
    "LOG_LEVELS",
    "THEMES",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DockerEnvironmentConfig",
    "EnvironmentConfig",
    "ImagePolicyConfig",
    "KubernetesEnvironmentConfig",
    "NamedQueryConfig",
    "PluginEnvironmentConfig",
    "PrometheusConfig",
    "default_config",
    "is_reference",
    "load_config",
    "parse_config",
    "problems_from_validation_error",
    "resolve_reference",
]

ENVIRONMENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
_ENVIRONMENT_NAME = re.compile(ENVIRONMENT_NAME_PATTERN[1:-1])  # fullmatch: "$" accepts a trailing "\n"
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_PREFIX = "file:"
_MAX_SECRET_BYTES = 64 * 1024

Theme = Literal["dark", "light", "high-contrast", "colour-blind"]
LogLevel = Literal["debug", "info", "warning", "error"]
THEMES: tuple[str, ...] = typing.get_args(Theme)
"""Valid ``theme`` values, for ``--theme`` validation."""
LOG_LEVELS: tuple[str, ...] = typing.get_args(LogLevel)
DOCKER_HOST_SCHEMES = ("unix", "tcp", "ssh", "npipe")


class _Invalid(ValueError):
    """A validator's complaint, with a hint and optionally a finer location.

    pydantic keeps the exception in the error's ``ctx["error"]``, which is how
    the translator below gets the hint back out.
    """

    def __init__(self, message: str, hint: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.loc = loc


def _show(value: object, limit: int = 60) -> str:
    """A short, printable description of a value from the file, for messages."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{printable(value, limit)}'"
    if isinstance(value, (int, float)):
        return printable(repr(value), limit)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "a list"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__} value"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-_.")[:63]
    return slug or "prod"


# --- reusable field types ---------------------------------------------------------


def _check_path_text(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise _Invalid("the path is empty", "write a path, or remove the key")
        if not value.isprintable():
            raise _Invalid("the path contains control characters", "write a plain path")
    return value


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    try:
        value = value.expanduser()
    except RuntimeError:
        raise _Invalid(
            f"cannot expand '~' in {_show(str(value))}: no such user or no home directory",
            "write an absolute path",
        ) from None
    base_dir = (info.context or {}).get("base_dir")
    if base_dir is not None and not value.is_absolute():
        # Relative to the config file, not to wherever watchfloor was started.
        value = Path(base_dir) / value
    return value


ConfigPath = Annotated[Path, BeforeValidator(_check_path_text), AfterValidator(_resolve_path)]
"""A filesystem path: ``~`` expanded, relative paths resolved against the config file's directory."""


def _lowercase(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _none_as_empty_list(value: Any) -> Any:
    # "environments:" with nothing under it is YAML null; people mean "none yet".
    return [] if value is None else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- models -----------------------------------------------------------------------


_QUERY_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class NamedQueryConfig(_Model):
    """One named PromQL query of an environment: a sparkline in the detail pane, and a
    name a runbook gate may use (``query: error_ratio``).

    Attributes:
        query: PromQL with ``{workload}``, ``{namespace}`` and ``{service}``
            placeholders, filled in (escaped) per workload.
        unit: What the value is in: ``""``, ``%``/``ratio``, ``s``, ``req/s``, ``B`` …
        title: A short label for the sparkline; the query's name when empty.
    """

    query: Annotated[str, Field(min_length=1)]
    unit: str = ""
    title: str = ""


class PrometheusConfig(_Model):
    """The Prometheus server that feeds an environment's sparklines and gates.

    Attributes:
        url: Base URL, http or https, without credentials (trailing ``/`` removed).
        bearer_token: A reference to the token, ``${VAR}`` or ``file:/path``.
        timeout: Seconds per request.
        verify_tls: Check the server's certificate.
        headers: Extra request headers (a tenant header for Mimir, say). A value
            may be a reference (``${VAR}``, ``file:``), resolved at use time: an
            API-key header is written that way, never literally.
        queries: Named queries, by name: the detail pane's metric sparklines, in
            this order, and names runbook gates may use.
        simulated: The server's data is simulated (set for the embedded demo); the
            console labels it so.
    """

    url: str
    bearer_token: str | None = None
    timeout: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    verify_tls: bool = True
    headers: dict[str, str] = {}
    queries: dict[str, NamedQueryConfig] = {}
    simulated: bool = False

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for name, text in value.items():
            if not name or not all(33 <= ord(ch) < 127 and ch != ":" for ch in name):
                raise _Invalid(f"header name {_show(name)} is not a valid HTTP header name", "write e.g. X-Scope-OrgID: team-a")
            if name.lower() in ("authorization", "proxy-authorization", "cookie"):
                # A credential in a header would sit in the config in plain text.
                raise _Invalid(
                    f"header {printable(name, 40)} carries credentials and may not be set here",
                    "write bearer_token: ${PROMETHEUS_TOKEN} instead",
                )
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
                raise _Invalid(f"header {printable(name, 40)} has control characters", "write the value on one line")
        # file: references are relative to the config file, like every other path in it.
        return {name: _resolve_file_reference(text, info) if is_reference(text) else text for name, text in value.items()}

    @field_validator("queries")
    @classmethod
    def _query_names(cls, value: dict[str, NamedQueryConfig]) -> dict[str, NamedQueryConfig]:
        for name in value:
            if not _QUERY_NAME.fullmatch(name):
                raise _Invalid(
                    f"query name {_show(name)} is not allowed",
                    "use lowercase letters, digits and '_', e.g. error_ratio",
                )
        return value

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        example = "write url: http://HOST:9090"
        if not value.strip() or not value.isprintable() or any(ch.isspace() for ch in value):
            raise _Invalid(f"{_show(value)} is not a URL (empty, or has spaces)", example)
        if "://" not in value:
            raise _Invalid(f"{_show(value)} has no scheme", f"write url: http://{printable(value, 60)}")
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise _Invalid(f"{_show(value)} is not a valid URL: {exc}", example) from None
        if parts.scheme.lower() not in ("http", "https"):
            raise _Invalid(f"URL scheme '{printable(parts.scheme, 20)}' is not supported", "use http:// or https://")
        if not parts.hostname:
            raise _Invalid(f"{_show(value)} has no host name", example)
        if parts.username is not None or parts.password is not None:
            # Never echo the URL: it holds a credential.
            raise _Invalid(
                "the URL contains credentials (user:password@); secrets may not be stored in the config",
                "remove them from the URL and write bearer_token: ${PROMETHEUS_TOKEN}",
            )
        if parts.query or parts.fragment:
            raise _Invalid(f"{_show(value)} has a query or fragment", "give only the base URL, e.g. http://HOST:9090")
        if port == 0:
            raise _Invalid(f"{_show(value)} has port 0", example)
        return value.rstrip("/")

    @field_validator("bearer_token")
    @classmethod
    def _token_is_reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not is_reference(value):
            # Deliberately no echo of the value: it may well be the token itself.
            raise _Invalid(
                "bearer_token must be a reference to the token, not the token itself",
                "write bearer_token: ${PROMETHEUS_TOKEN} (and export it) or bearer_token: file:/path/to/token",
            )
        return _resolve_file_reference(value, info)


def _resolve_file_reference(value: str, info: ValidationInfo) -> str:
    if not value.startswith(_FILE_PREFIX):
        return value
    path = _resolve_path(Path(value[len(_FILE_PREFIX) :]), info)
    return f"{_FILE_PREFIX}{path}"


class ImagePolicyConfig(_Model):
    """Which images an environment may run, and whether writes pin a digest (docs/security.md).

    Attributes:
        allowed: Repository patterns (``registry.example.com/team/*``,
            ``localhost:5000/**``, ``watchfloor/*``); ``*`` is any text inside one
            path component, ``**`` any text across them. None (the key left out)
            allows every image.
        require_digest: A write resolves the tag to its digest, runs
            ``repo:tag@sha256:…`` and journals it; an image whose digest cannot be
            resolved is refused. None (left out) means the environment's ``protected``.
    """

    allowed: list[str] | None = None
    require_digest: bool | None = None

    @field_validator("allowed")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise _Invalid(
                "allowed is an empty list: every image would be refused",
                "list patterns such as allowed: [\"registry.example.com/team/*\"], or remove the key to allow any image "
                "(read_only: true is the way to stop every write)",
            )
        # Imported here: the runbook grammar it builds on is not needed to start the console.
        from console.image_policy import parse_pattern

        for index, text in enumerate(value):
            try:
                parse_pattern(text)
            except ValueError as error:
                raise _Invalid(
                    str(error),
                    "write a repository pattern such as registry.example.com/team/* or localhost:5000/**",
                    loc=(index,),
                ) from None
        return value

    def policy(self, *, protected: bool):
        """The effective ``console.image_policy.ImagePolicy`` of an environment."""
        from console.image_policy import ImagePolicy

        require = protected if self.require_digest is None else self.require_digest
        return ImagePolicy.build(self.allowed, require_digest=require)


def _validate_slo(value: Any) -> Any:
    # Checked before pydantic's dict[str, float], whose errors would name neither the
    # workload nor what a target looks like.
    hint = 'write slo: {"shop/web": 99.9, default: 99.5} (percent, per workload NAME or GROUP/NAME)'
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"slo must be a mapping of workload to target percent, got {_show(value)}", hint)
    for key, target in value.items():
        if not isinstance(key, str) or not key.strip() or not key.isprintable() or key.count("/") > 1:
            raise _Invalid(f"slo key {_show(key)} is not a workload name", hint, loc=(key,))
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target):
            raise _Invalid(
                f"the SLO target of {printable(key, 60)} must be a percentage such as 99.9, got {_show(target)}",
                hint,
                loc=(key,),
            )
        if not 0 < target < 100:
            raise _Invalid(
                f"the SLO target of {printable(key, 60)} must be above 0 and below 100 (percent), got {_show(target)}",
                "100% leaves no error budget at all; write e.g. 99.9",
                loc=(key,),
            )
    return {key: float(target) for key, target in value.items()}


SloTargets = Annotated[dict[str, float], BeforeValidator(_validate_slo)]
"""Availability targets in percent by workload (``NAME``, ``GROUP/NAME``, ``default``);
see docs/availability.md."""


def _validate_environment_name(value: str) -> str:
    if not _ENVIRONMENT_NAME.fullmatch(value):
        raise _Invalid(
            f"environment name {_show(value)} is not allowed: it must match {ENVIRONMENT_NAME_PATTERN}",
            "use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, "
            f"at most 63 characters, e.g. name: {_slug(value)}",
        )
    return value


EnvironmentName = Annotated[str, AfterValidator(_validate_environment_name)]


def _validate_docker_host(value: str | None) -> str | None:
    if value is None:
        return None
    if not value or not value.isprintable() or any(ch.isspace() for ch in value):
        raise _Invalid(f"host {_show(value)} is empty or has spaces", "write host: tcp://HOST:PORT")
    if "://" not in value:
        bare = printable(value, 60)
        if value.startswith("/"):
            hint = f"write host: unix://{bare}"
        else:
            hint = f"write host: tcp://{bare}" if ":" in value else f"write host: tcp://{bare}:2376"
        raise _Invalid(f"host {_show(value)} has no scheme (unix://, tcp://, ssh:// or npipe://)", hint)
    scheme, _, rest = value.partition("://")
    if scheme not in DOCKER_HOST_SCHEMES:
        if scheme.lower() in ("http", "https"):
            hint = "write host: tcp://HOST:PORT (add tls_verify: true for TLS)"
        else:
            hint = "use unix://, tcp://, ssh:// or npipe://, e.g. host: tcp://HOST:PORT"
        raise _Invalid(f"host scheme '{printable(scheme, 20)}' is not supported", hint)
    if scheme == "unix":
        if not rest.startswith("/"):
            raise _Invalid(
                f"host {_show(value)} needs an absolute socket path (three slashes)",
                "write host: unix:///var/run/docker.sock",
            )
        return value
    if scheme == "npipe":
        if not rest.strip("/"):
            raise _Invalid(f"host {_show(value)} names no pipe", "write host: npipe:////./pipe/docker_engine")
        return value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise _Invalid(f"host {_show(value)} is not valid: {exc}", "write host: tcp://HOST:PORT") from None
    if parts.password is not None:
        raise _Invalid(
            "the host contains a password; secrets may not be stored in the config",
            "remove it: ssh:// uses your SSH agent or keys",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _Invalid(f"host {_show(value)} has a path", f"write host: {scheme}://HOST:PORT")
    if scheme == "tcp":
        if not parts.hostname or port is None or port == 0:
            raise _Invalid(f"host {_show(value)} needs a host name and a port", "write host: tcp://HOST:PORT")
        if parts.username is not None:
            raise _Invalid(f"host {_show(value)} has a user name; tcp:// takes none", "write host: tcp://HOST:PORT")
    elif scheme == "ssh":
        if not parts.hostname:
            raise _Invalid(f"host {_show(value)} needs a host name", "write host: ssh://USER@HOST")
        if port == 0:
            raise _Invalid(f"host {_show(value)} has port 0", "write host: ssh://USER@HOST:22")
    return value


class DockerEnvironmentConfig(_Model):
    """A Docker engine; containers are grouped by Compose project and service.

    Attributes:
        kind: Always ``docker``.
        name: Unique environment name (``^[a-z0-9][a-z0-9_.-]{0,62}$``).
        host: ``unix://``, ``tcp://HOST:PORT``, ``ssh://[USER@]HOST`` or
            ``npipe://``; None is the engine the docker SDK finds from its
            environment (``DOCKER_HOST`` or the default socket).
        tls_verify: Verify the engine's certificate (tcp:// only).
        cert_path: Directory with ``ca.pem``, ``cert.pem``, ``key.pem`` (tcp:// only).
        protected: Writes need the environment name typed.
        read_only: Every write is impossible.
        prometheus: Metrics source, if any.
        stats: Stream container stats for visible containers.
        image_policy: Allowed image repositories and ``require_digest``.
        slo: Availability targets in percent by workload (docs/availability.md).
    """

    kind: Literal["docker"]
    name: EnvironmentName
    host: Annotated[str | None, AfterValidator(_validate_docker_host)] = None
    tls_verify: bool = False
    cert_path: ConfigPath | None = None
    protected: bool = False
    read_only: bool = False
    prometheus: PrometheusConfig | None = None
    stats: bool = True
    image_policy: ImagePolicyConfig = ImagePolicyConfig()
    slo: SloTargets = {}

    @model_validator(mode="after")
    def _tls_needs_tcp(self) -> DockerEnvironmentConfig:
        if self.host is None or self.host.startswith("tcp://"):
            return self
        for key, is_set in (("tls_verify", self.tls_verify), ("cert_path", self.cert_path is not None)):
            if is_set:
                raise _Invalid(
                    f"{key} applies only to tcp:// hosts, but host is {_show(self.host)}",
                    f"remove {key}, or use host: tcp://HOST:PORT",
                    loc=(key,),
                )
        return self


def _validate_namespaces(value: Any) -> Any:
    # Checked here, before pydantic's union of list[str] and "all", whose two
    # failed branches would otherwise make two confusing errors.
    hint = "write namespaces: all, or a list such as namespaces: [default, web]"
    if isinstance(value, str):
        if value.lower() == "all":
            return "all"
        raise _Invalid(f"namespaces is {_show(value)}: a single name must still be a list", hint)
    if not isinstance(value, list):
        raise _Invalid(f"namespaces must be 'all' or a list of names, got {_show(value)}", hint)
    if not value:
        raise _Invalid("namespaces is an empty list: nothing would be watched", hint)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _Invalid(
                f"namespaces[{index}] must be a namespace name, got {_show(item)}", "quote it: - \"NAME\"", loc=(index,)
            )
        if not _NAMESPACE.fullmatch(item):
            raise _Invalid(
                f"{_show(item)} is not a Kubernetes namespace name",
                "use lowercase letters, digits and '-', at most 63 characters",
                loc=(index,),
            )
    return value


class KubernetesEnvironmentConfig(_Model):
    """A Kubernetes cluster context, watched in some or all namespaces.

    Attributes:
        kind: Always ``kubernetes``.
        name: Unique environment name (``^[a-z0-9][a-z0-9_.-]{0,62}$``).
        kubeconfig: kubeconfig file; None is the client's default
            (``$KUBECONFIG`` or ``~/.kube/config``).
        context: Context in the kubeconfig; None is its current context.
        namespaces: ``"all"`` or the namespaces to watch.
        protected: Writes need the environment name typed.
        read_only: Every write is impossible.
        prometheus: Metrics source, if any.
        image_policy: Allowed image repositories and ``require_digest``.
        slo: Availability targets in percent by workload (docs/availability.md).
    """

    kind: Literal["kubernetes"]
    name: EnvironmentName
    kubeconfig: ConfigPath | None = None
    context: str | None = None
    namespaces: Annotated[list[str] | Literal["all"], BeforeValidator(_validate_namespaces)] = "all"
    protected: bool = False
    read_only: bool = False
    prometheus: PrometheusConfig | None = None
    image_policy: ImagePolicyConfig = ImagePolicyConfig()
    slo: SloTargets = {}

    @field_validator("context")
    @classmethod
    def _context_text(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or not value.isprintable()):
            raise _Invalid("context is empty or has control characters", "write context: NAME, or remove the key")
        return value


class PluginEnvironmentConfig(_Model):
    """An environment served by an installed plugin (a ``watchfloor.adapters`` entry point, docs/plugins.md).

    Attributes:
        kind: The plugin's kind (the entry point's name).
        name: Unique environment name (``^[a-z0-9][a-z0-9_.-]{0,62}$``).
        protected: Writes need the environment name typed.
        read_only: Every write is impossible.
        prometheus: Metrics source, if any.
    """

    # The plugin's own keys sit beside these; its config_model checks them.
    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    name: EnvironmentName
    protected: bool = False
    read_only: bool = False
    prometheus: PrometheusConfig | None = None

    @model_validator(mode="after")
    def _plugin_accepts_options(self) -> PluginEnvironmentConfig:
        self.plugin_options()
        return self

    def plugin_options(self) -> Any:
        """The plugin's own keys: its ``config_model`` instance, or a dict when it has none."""
        from console.plugins import adapter_factory, validate_options

        try:
            return validate_options(adapter_factory(self.kind), dict(self.model_extra or {}))
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = tuple(first["loc"])
            raise _Invalid(
                f"{printable(first['msg'], 200)} (checked by the {self.kind} plugin)",
                f"see the {self.kind} plugin's documentation for its keys",
                loc=where,
            ) from None


def _environment_tag(value: Any) -> str | None:
    # Built-in kinds pick their model; a kind an installed plugin serves picks the plugin
    # model; anything else stays itself and is reported as an unknown kind.
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if isinstance(value, PluginEnvironmentConfig):
        return "plugin"
    if not isinstance(kind, str) or kind in ("docker", "kubernetes"):
        return kind
    from console.plugins import adapter_factory

    return "plugin" if adapter_factory(kind) is not None else kind


EnvironmentConfig = Annotated[
    Union[  # noqa: UP007 (pydantic tags need Union)
        Annotated[DockerEnvironmentConfig, Tag("docker")],
        Annotated[KubernetesEnvironmentConfig, Tag("kubernetes")],
        Annotated[PluginEnvironmentConfig, Tag("plugin")],
    ],
    Discriminator(_environment_tag),
]
"""One environment; the ``kind`` key picks the model (an installed plugin's kind: the plugin's)."""


class Config(_Model):
    """The whole config file.

    Attributes:
        environments: Environments to show; empty means discover the local engine
            and the current kube context.
        theme: ``dark``, ``light``, ``high-contrast`` or ``colour-blind``.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        runbooks_dir: Directory of user runbooks, beside the built-in ones.
        allow_command_steps: Allow runbook ``command`` steps to run shell commands.
        read_only: Every write in every environment is impossible.
        state_dir: Where journals and logs go, instead of ``$XDG_STATE_HOME/watchfloor``.
        secrets: Names of environment variables whose values are redacted everywhere.
        demo: Run against the embedded demo cluster.
    """

    environments: Annotated[list[EnvironmentConfig], BeforeValidator(_none_as_empty_list)] = []
    theme: Annotated[Theme, BeforeValidator(_lowercase)] = "dark"
    log_level: Annotated[LogLevel, BeforeValidator(_lowercase)] = "info"
    runbooks_dir: ConfigPath | None = None
    allow_command_steps: bool = False
    read_only: bool = False
    state_dir: ConfigPath | None = None
    secrets: Annotated[list[str], BeforeValidator(_none_as_empty_list)] = []
    demo: bool = False

    @field_validator("environments")
    @classmethod
    def _unique_names(cls, value: list[Any]) -> list[Any]:
        first: dict[str, int] = {}
        for index, environment in enumerate(value):
            if environment.name in first:
                raise _Invalid(
                    f"environment name '{environment.name}' is already used by environments[{first[environment.name]}]",
                    "give each environment a different name",
                    loc=(index, _environment_tag(environment), "name"),  # pydantic's form: the union tag precedes the field
                )
            first[environment.name] = index
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            if not _ENV_VAR_NAME.fullmatch(name):
                raise _Invalid(
                    f"{_show(name)} is not an environment variable name",
                    "list variable names, not values, e.g. secrets: [API_TOKEN, DB_PASSWORD]",
                    loc=(index,),
                )
        return value


def default_config() -> Config:
    """The config used when there is no config file.

    Returns:
        A config with no environments; the app then discovers the local Docker
        engine and the current kube context.
    """
    return Config()


# --- loading ------------------------------------------------------------------------


def load_config(path: Path, *, warnings: list[ConfigProblem] | None = None) -> Config:
    """Read, parse and validate a config file.

    Relative paths in the file are resolved against the file's directory, and
    ``~`` is expanded. A secret written literally into the file (not as ``${VAR}``
    or ``file:``) stops the load when the file is group- or world-readable, and is
    a warning when the file is private (see :mod:`console.config_secrets`).

    Args:
        path: The config file (see :func:`console.locations.config_path`).
        warnings: Receives the warnings (literal secrets in a private file); the
            caller shows and logs them.

    Returns:
        The validated config.

    Raises:
        ConfigError: With every problem found (all validation errors and literal
            secrets in a file others can read at once; a YAML error stops at the
            first).
    """
    from console.config_secrets import check_file, merge_refusals

    path = Path(path)
    document = load_yaml(path)
    try:
        # load_yaml has just read it, so it is small and UTF-8; comments need the text.
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        text = None
    secrets = check_file(path, document, text)
    try:
        config = _validate(document, path.expanduser().absolute().parent)
    except ConfigError as error:
        raise ConfigError(merge_refusals(error.problems, secrets.refusals)) from None
    if secrets.refusals:
        raise ConfigError(secrets.refusals)
    if warnings is not None:
        warnings.extend(secrets.warnings)
    return config


def parse_config(source: str | bytes, *, file: str = "<config>", base_dir: Path | None = None) -> Config:
    """Parse and validate config text (for ``check-config`` on stdin, and tests).

    Args:
        source: YAML text, or bytes that should be UTF-8.
        file: Name to put in problems.
        base_dir: Directory that relative paths are resolved against; None
            leaves them relative.

    Returns:
        The validated config.

    Raises:
        ConfigError: With every problem found.
    """
    return _validate(parse_yaml(source, file), base_dir)


def _validate(document: YamlDocument, base_dir: Path | None) -> Config:
    data = document.data
    if data is None:
        raise ConfigError(
            [
                ConfigProblem(
                    document.file,
                    1,
                    1,
                    DOCUMENT_FIELD,
                    "the config file is empty",
                    "add settings such as 'environments:', or delete the file to use the defaults",
                )
            ]
        )
    try:
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, document, Config)
        # The model's own duplicate-name check only runs once every environment
        # is valid; report duplicates now rather than on the operator's next try.
        reported = {problem.field for problem in problems}
        problems += [p for p in _duplicate_names(document) if p.field not in reported]
        problems.sort(key=lambda p: (p.line is None, p.line or 0, p.column or 0))
        raise ConfigError(problems) from None


def _duplicate_names(document: YamlDocument) -> list[ConfigProblem]:
    environments = document.data.get("environments") if isinstance(document.data, dict) else None
    if not isinstance(environments, list):
        return []
    first: dict[str, int] = {}
    problems = []
    for index, environment in enumerate(environments):
        name = environment.get("name") if isinstance(environment, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            problems.append(
                document.problem(
                    ("environments", index, "name"),
                    f"environment name '{printable(name, 60)}' is already used by environments[{first[name]}]",
                    "give each environment a different name",
                )
            )
        else:
            first[name] = index
    return problems


# --- translating pydantic errors --------------------------------------------------

_EXAMPLES = {
    "kind": "kind: docker",
    "name": "name: prod",
    "host": "host: tcp://HOST:PORT",
    "tls_verify": "tls_verify: true",
    "cert_path": "cert_path: ~/.docker/certs",
    "protected": "protected: true",
    "read_only": "read_only: true",
    "stats": "stats: false",
    "prometheus": "prometheus: followed by an indented 'url: http://HOST:9090'",
    "url": "url: http://HOST:9090",
    "bearer_token": "bearer_token: ${PROMETHEUS_TOKEN}",  # nosec B105 # an example reference
    "timeout": "timeout: 5 (seconds)",
    "verify_tls": "verify_tls: false",
    "kubeconfig": "kubeconfig: ~/.kube/config",
    "context": "context: my-cluster",
    "namespaces": "namespaces: [default, web] or namespaces: all",
    "environments": "environments: followed by one '- kind: docker' item per environment",
    "theme": "theme: dark",
    "log_level": "log_level: info",
    "runbooks_dir": "runbooks_dir: ~/runbooks",
    "allow_command_steps": "allow_command_steps: true",
    "state_dir": "state_dir: ~/.local/state/watchfloor",
    "secrets": "secrets: [API_TOKEN, DB_PASSWORD]",
    "demo": "demo: true",
    "image_policy": "image_policy: followed by an indented 'allowed: [\"registry.example.com/team/*\"]'",
    "allowed": 'allowed: ["registry.example.com/team/*", "localhost:5000/**"]',
    "require_digest": "require_digest: true",
    "slo": 'slo: {"shop/web": 99.9, default: 99.5}',
}

# Values whose text must never appear in a message.
_SECRET_FIELDS = frozenset({"bearer_token"})


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    annotation = _unwrap(annotation)
    return typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()


def _union_member(annotation: Any, tag: Any) -> Any:
    if tag == "plugin":
        return PluginEnvironmentConfig
    for member in typing.get_args(annotation):
        member = _unwrap(member)  # Annotated[Model, Tag(...)]
        if _is_model(member):
            for model_field in member.model_fields.values():
                if tag in _literal_values(model_field.annotation):
                    return member
    return None


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any, Any]:
    """Follow a pydantic error location through the model.

    Returns:
        The data path (union tags, which pydantic puts in ``loc``, removed), the
        annotation at that location and the annotation of its parent (None where
        unknown).
    """
    path: list[Any] = []
    annotation: Any = model
    parent: Any = None
    for part in loc:
        annotation = _unwrap(annotation)
        if typing.get_origin(annotation) in (Union, types.UnionType) and isinstance(part, str):
            # pydantic names the union member it tried (a tag like "docker" or
            # "list[str]"); that is not a key in the file. Indexes are real data.
            annotation = _union_member(annotation, part)
            continue
        parent = annotation
        path.append(part)
        if _is_model(annotation) and isinstance(part, str) and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
        elif typing.get_origin(annotation) is list and isinstance(part, int):
            annotation = typing.get_args(annotation)[0]
        else:
            annotation = None
    return tuple(path), _unwrap(annotation), _unwrap(parent)


def _real_path(path: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    # pydantic reports a key like YAML's null or 1.5 as the string "None" or
    # "1.5"; find the key the file really has, so its line can be looked up.
    real: list[Any] = []
    for part in path:
        if isinstance(data, dict) and part not in data:
            part = next((key for key in data if str(key) == str(part)), part)
        real.append(part)
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            data = None
    return tuple(real)


def _example(name: str) -> str:
    return _EXAMPLES.get(name, f"{name}: VALUE")


def _other_kind_owner(key: str, model: Any) -> str | None:
    for other in (DockerEnvironmentConfig, KubernetesEnvironmentConfig):
        if other is not model and key in other.model_fields:
            return typing.get_args(other.model_fields["kind"].annotation)[0]
    return None


def _did_you_mean(value: Any, choices: list[str]) -> str | None:
    if not isinstance(value, str):
        return None
    matches = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _translate(error: Any, document: YamlDocument, model: type[BaseModel]) -> ConfigProblem:
    kind = error["type"]
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    value = error.get("input")
    cause = ctx.get("error")
    if kind == "value_error" and isinstance(cause, _Invalid):
        loc = loc + cause.loc
    path, annotation, parent = _walk(model, loc)
    path = _real_path(path, document.data)
    name = next((part for part in reversed(path) if isinstance(part, str)), "value")
    secret = name in _SECRET_FIELDS or is_secret_name(name)
    shown = "a value (not shown: it may be a secret)" if secret else _show(value)
    field_name = format_path(path)

    def at(message: str, hint: str, where: tuple[Any, ...] = path) -> ConfigProblem:
        return document.problem(where, message, hint, field=field_name)

    if kind == "value_error" and isinstance(cause, _Invalid):
        return at(cause.message, cause.hint)
    if kind == "missing":
        where = " to this environment" if parent in (DockerEnvironmentConfig, KubernetesEnvironmentConfig) else ""
        # The key is absent, so point at the mapping that lacks it.
        return at(f"missing required key '{name}'", f"add {_example(name)}{where}", path[:-1])
    if kind in ("extra_forbidden", "invalid_key"):
        key = path[-1] if path else value
        allowed = list(parent.model_fields) if _is_model(parent) else []
        if key is None:
            message = "an empty (null) key is not a setting name"
        elif kind == "invalid_key" or not isinstance(key, str):
            message = f"key {_show(key)} is not a setting name"
        else:
            message = f"unknown key '{printable(key, 60)}'"
        owner = _other_kind_owner(key, parent) if isinstance(key, str) else None
        suggestion = _did_you_mean(key, allowed)
        if owner is not None:
            hint = f"'{key}' applies only to kind: {owner} environments; remove it here"
        elif suggestion is not None:
            hint = f"did you mean '{suggestion}'? (allowed here: {', '.join(allowed)})"
        else:
            hint = f"remove it; allowed here: {', '.join(allowed)}" if allowed else "remove it"
        return at(message, hint)
    if kind == "union_tag_not_found":
        if not isinstance(value, dict):
            return at(
                f"each environment must be a mapping, got {shown}",
                "write '- kind: docker' and indent the other keys (name:, host: …) under it",
            )
        return at("this environment has no 'kind'", "add kind: docker or kind: kubernetes")
    if kind == "union_tag_invalid":
        from console.plugins import ADAPTER_GROUP, describe_kinds, discover

        tags = [t for t in re.findall(r"'([^']*)'", str(ctx.get("expected_tags", ""))) if t != "plugin"]
        tags += sorted(discover().adapters)
        tag = value.get("kind") if isinstance(value, dict) else ctx.get("tag")
        suggestion = _did_you_mean(tag, tags)
        if isinstance(tag, str) and tag.lower() in ("k8s", "kube"):
            suggestion = "kubernetes"
        hint = " or ".join(f"kind: {t}" for t in tags)
        hint = f"did you mean kind: {suggestion}? use {hint}" if suggestion else f"use {hint}"
        if suggestion is None:
            hint += f" ({describe_kinds(ADAPTER_GROUP, tag)})"
        kind_path = path + ("kind",)
        if isinstance(tag, str):
            message = f"unknown environment kind {_show(tag)}"
        else:
            message = f"kind must be docker or kubernetes, got {_show(tag)}"
        return document.problem(kind_path, message, hint, field=format_path(kind_path))
    if kind == "literal_error":
        allowed = [str(v) for v in _literal_values(annotation)] or re.findall(r"'([^']*)'", str(ctx.get("expected")))
        suggestion = _did_you_mean(value, allowed)
        hint = f"use one of: {', '.join(allowed)}"
        if suggestion is not None:
            hint = f"did you mean '{suggestion}'? {hint}"
        return at(f"{shown} is not a valid {name}", hint)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if not path:
            return at(
                f"the top level must be a mapping of settings, got {shown}",
                "start the file with keys such as 'environments:' and 'theme:'",
            )
        if path[0] == "environments" and len(path) == 2:
            return at(
                f"each environment must be a mapping, got {shown}",
                "write '- kind: docker' and indent the other keys (name:, host: …) under it",
            )
        return at(f"{name} must be a mapping, got {shown}", f"write {_example(name)}")
    if kind == "list_type":
        return at(f"{name} must be a list, got {shown}", f"write {_example(name)}")
    if kind in ("bool_type", "bool_parsing"):
        return at(f"{name} must be true or false, got {shown}", f"write {name}: true or {name}: false")
    if kind in ("string_type", "string_sub_type"):
        return at(f"{name} must be text, got {shown}", f"write {_example(name)} (quote it if in doubt)")
    if kind in ("float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        return at(f"{name} must be a number, got {shown}", f"write {_example(name)}")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"):
        bound = {
            "greater_than": f"greater than {ctx.get('gt')}",
            "greater_than_equal": f"at least {ctx.get('ge')}",
            "less_than": f"less than {ctx.get('lt')}",
            "less_than_equal": f"at most {ctx.get('le')}",
            "finite_number": "a finite number",
        }[kind]
        if isinstance(value, float) and not math.isfinite(value):
            bound = "a finite number"
        return at(f"{name} must be {bound}, got {shown}", f"write {_example(name)}")
    if kind in ("path_type", "path_parsing"):
        return at(f"{name} must be a file path, got {shown}", f"write {_example(name)}")
    if kind == "value_error":
        return at(printable(str(cause) if cause is not None else error["msg"], 200), f"write {_example(name)}")
    # Anything not foreseen still gets a location and pydantic's own words.
    return at(f"{name}: {printable(error['msg'], 200)}", f"write {_example(name)}")


def problems_from_validation_error(
    error: ValidationError, document: YamlDocument, model: type[BaseModel]
) -> list[ConfigProblem]:
    """Translate a pydantic error into located, actionable problems.

    Args:
        error: What ``model.model_validate(document.data)`` raised.
        document: The parsed file, for positions.
        model: The model that was validated (runbook models can reuse this).

    Returns:
        One problem per error, in file order, without repeats.
    """
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        problem = _translate(item, document, model)
        if problem not in problems:
            problems.append(problem)
    problems.sort(key=lambda p: (p.line is None, p.line or 0, p.column or 0))
    return problems


# --- secret references ------------------------------------------------------------


def is_reference(value: object) -> bool:
    """Whether a value refers to a secret instead of holding it.

    Args:
        value: Anything.

    Returns:
        True for ``${VAR}`` (a valid variable name) and ``file:PATH``.
    """
    if not isinstance(value, str):
        return False
    if _ENV_REFERENCE.fullmatch(value):
        return True
    return value.startswith(_FILE_PREFIX) and bool(value[len(_FILE_PREFIX) :].strip())


def resolve_reference(value: str, *, field: str = "reference", file: str = "<config>") -> str:
    """Turn a secret reference into the secret, at the moment it is needed.

    Args:
        value: ``${VAR}``, ``file:/path`` (contents, stripped), or any other
            string, which is returned unchanged.
        field: Setting the reference came from, for the problem
            (``environments[1].prometheus.bearer_token``).
        file: Config file it came from, for the problem.

    Returns:
        The secret (or ``value`` itself when it is not a reference).

    Raises:
        ConfigError: When the variable is unset or empty, or the file cannot be
            read, is not UTF-8, is over 64 KiB or is empty. The message never
            contains the secret.
    """

    def fail(message: str, hint: str) -> ConfigError:
        return ConfigError([ConfigProblem(file, None, None, field, message, hint)])

    match = _ENV_REFERENCE.fullmatch(value)
    if match:
        name = match.group(1)
        secret = os.environ.get(name)
        if secret is None:
            raise fail(f"environment variable {name} is not set", f"export {name}=… before starting watchfloor")
        if not secret.strip():
            raise fail(f"environment variable {name} is empty", f"export {name} with the secret's value")
        return secret
    if not value.startswith(_FILE_PREFIX) or not value[len(_FILE_PREFIX) :].strip():
        return value
    shown_path = printable(value[len(_FILE_PREFIX) :], 200)
    try:
        path = Path(value[len(_FILE_PREFIX) :]).expanduser()
        with open(path, "rb") as stream:
            raw = stream.read(_MAX_SECRET_BYTES + 1)
    except (OSError, ValueError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"cannot read secret file {shown_path}: {reason}", "fix the path after 'file:'")
    if len(raw) > _MAX_SECRET_BYTES:
        raise fail(f"secret file {shown_path} is over 64 KiB", "point file: at the file holding only the secret")
    try:
        secret = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise fail(f"secret file {shown_path} is not UTF-8 text", "save the secret as UTF-8 text")
    if not secret:
        raise fail(f"secret file {shown_path} is empty", "write the secret into the file")
    return secret
