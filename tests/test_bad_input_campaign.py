"""The bad-input campaign (issue 6): hostile input through the real entry points.

Generated config files, runbook files, log lines (raw bytes: invalid UTF-8, escape
sequences, Rich markup), Docker containers (names, labels, env, states) and
Kubernetes objects (pods, workloads, events with missing and odd fields) go through
the same functions the console uses, and must give:

- no crash: the only exception allowed is the documented one (`ConfigError` for
  files); adapters' projections never raise on what a backend can send;
- no interpreted markup or escape sequence: every text that reaches a view is free
  of ESC, C0/C1 controls and bidi controls, and markup in it is shown literally
  (no span, link or click action comes from the data);
- every invalid file rejected with file, line and field.

Each kind has a share of the campaign's examples (`TOTAL_EXAMPLES`, 12,000 by
default; set ``WATCHFLOOR_FUZZ_EXAMPLES`` to run more) and counts the cases it
tried; the counts are printed at the end of the module and recorded in
docs/reliability.md. The Docker and Kubernetes inputs are the dicts those APIs
return: the adapters' functions that turn them into the model are called
directly, because no real engine or API server can be made to send them (Docker
refuses such names; the emulator validates objects), which is the point.
"""

from __future__ import annotations

import io
import os
import re
import struct
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from adapters import docker as docker_adapter
from adapters import kubernetes as kube_adapter
from adapters.wire import parse_rfc3339
from console import status
from console.config import (
    Config,
    ConfigError,
    DockerEnvironmentConfig,
    KubernetesEnvironmentConfig,
    PrometheusConfig,
    load_config,
)
from console.health import aggregate
from console.model import (
    Environment,
    EnvironmentKind,
    EventRecorded,
    LogLine,
    Replica,
    SnapshotReplaced,
)
from console.runbook.loader import builtin_runbooks_dir, load_runbook_file
from console.runbook.schema import Runbook
from console.store import Store
from console.terminal_text import neutralise
from screens.workload import replica_facts
from widgets.log_view import LogView, format_utc_timestamp
from widgets.safe_text import safe_log_text, safe_text
from widgets.workload_table import workload_label

TOTAL_EXAMPLES = int(os.environ.get("WATCHFLOOR_FUZZ_EXAMPLES", "12000"))
"""Cases across the whole campaign; each kind takes its share below."""

SHARES = {
    "config text": 0.12,
    "config data": 0.12,
    "config bytes": 0.04,
    "runbook text": 0.10,
    "runbook data": 0.12,
    "runbook bytes": 0.02,
    "log bytes": 0.14,
    "log view": 0.02,
    "docker containers": 0.14,
    "kubernetes pods": 0.10,
    "kubernetes workloads": 0.08,
}
assert abs(sum(SHARES.values()) - 1.0) < 1e-9

CASES: Counter[str] = Counter()
"""Cases tried per kind in this session."""
CRASHES: Counter[str] = Counter()
"""Unexpected exceptions per kind (each also fails its test)."""


def campaign(kind: str) -> settings:
    return settings(
        max_examples=max(1, round(TOTAL_EXAMPLES * SHARES[kind])),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        database=None,
    )


def tried(kind: str) -> None:
    CASES[kind] += 1


@pytest.fixture(scope="module", autouse=True)
def campaign_report(request: pytest.FixtureRequest):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"bad-input campaign: {sum(CASES.values())} cases, {sum(CRASHES.values())} crashes"]
    lines += [f"  {kind:<22} {CASES[kind]:>6}" for kind in SHARES]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


# --- what "safe on screen" means ----------------------------------------------------

# Never on the terminal: C0 except TAB, DEL, C1, bidi controls, lone surrogates.
FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_CONSOLE = Console(width=400, file=io.StringIO(), color_system="truecolor", force_terminal=True, legacy_windows=False)


def assert_plain_safe(text: str) -> None:
    found = FORBIDDEN.search(text)
    assert found is None, f"{found.group()!r} would reach the terminal in {text!r}"


def assert_rendered_safe(renderable: Text) -> None:
    """What Rich would write: no control character from the data, no link or action."""
    assert_plain_safe(renderable.plain.replace("\n", ""))
    for segment in _CONSOLE.render(renderable, _CONSOLE.options):
        if segment.control:
            raise AssertionError(f"a control segment came out of data: {segment!r}")
        assert_plain_safe(segment.text.replace("\n", ""))
        style = segment.style
        if style is not None:
            assert style.link is None, f"a hyperlink came out of data: {style.link!r}"
            assert not style.meta, f"a click action came out of data: {style.meta!r}"


FAR_ZONES = (timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), UTC)


def assert_time_showable(moment: datetime | None) -> None:
    """Views show times in the local zone (events, ages) or UTC (log prefixes): any zone must work."""
    if moment is None:
        return
    for zone in FAR_ZONES:
        moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    format_utc_timestamp(moment)
    assert isinstance(moment.timestamp(), float)


def assert_shown_literally(value: str, shown: Text) -> None:
    """An untrusted value in a cell: exactly its neutralised text, no markup applied."""
    assert shown.plain == neutralise(value, keep_sgr=False)
    assert not shown.spans
    assert_rendered_safe(shown)


# --- hostile text ----------------------------------------------------------------------

HOSTILE_TEXT = [
    "\x1b", "\x1b[", "\x1b[2J", "\x1b[31m", "\x1b[0m", "\x1b]0;owned\x07", "\x1b]8;;http://evil/\x1b\\",
    "\x1b]52;c;cm0gLXJm\x07", "\x1bP1$r\x1b\\", "\x1b(0", "\x1bc", "\x9b2J", "\x9d0;t\x9c", "\x90", "\x85",
    "\x07", "\x08", "\x00", "\x7f", "\r", "\n", "\r\n", "\t", "\u2028", "\u202e", "\u2066", "\ud800", "\udfff",
    "[bold red]", "[/]", "[/bold]", "[link=http://evil]", "[@click=app.quit]", "[b]", "\\[", "[", "]", "$name",
    "${HOME}", "{{ image }}", "%s", "{0}", "e\u0301", "日本", "🇬🇧", "\ufeff", "\u200b", "'", '"', ":", "#", "- ",
]
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=6)), max_size=8
).map("".join)
"""Text a workload controls: escape sequences, markup and odd Unicode, mixed with anything."""

INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]
hostile_bytes = st.lists(
    st.one_of(
        st.sampled_from(INVALID_UTF8),
        st.sampled_from(HOSTILE_TEXT).map(lambda s: s.encode("utf-8", errors="surrogatepass")),
        st.binary(max_size=8),
        st.sampled_from([b"2026-11-25T12:00:00.123456789Z ", b"9999-12-31T23:59:59Z ", b"0002-01-01T00:00:00+23:59 "]),
    ),
    max_size=14,
).map(b"".join)


# --- config files -----------------------------------------------------------------------

CONFIG_FIELDS = sorted(
    set(Config.model_fields)
    | set(DockerEnvironmentConfig.model_fields)
    | set(KubernetesEnvironmentConfig.model_fields)
    | set(PrometheusConfig.model_fields)
)

BASE_CONFIG = """\
theme: dark
log_level: info
runbooks_dir: runbooks
secrets: [API_TOKEN]
environments:
  - kind: docker
    name: local
  - kind: docker
    name: edge
    host: tcp://10.0.0.5:2376
    tls_verify: true
    prometheus:
      url: http://prometheus:9090
      bearer_token: ${PROMETHEUS_TOKEN}
      headers: {X-Scope-OrgID: team-a}
      queries:
        error_ratio: {query: 'sum(rate(x[1m]))', unit: ratio}
  - kind: kubernetes
    name: prod
    context: prod-eu
    namespaces: [web, payments]
    protected: true
"""

YAML_TOKENS = [
    *(f"{name}: " for name in CONFIG_FIELDS),
    "\n", "\n  ", "\n    ", "- ", ": ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: ", "!!int ", "!!binary ",
    "!!python/object/apply:os.system ", "? ", "|\n  ", ">\n  ", "'", '"', "#", "---\n", "...\n", "%YAML 1.1\n",
    "kind: docker", "kind: kubernetes", "name: prod", "tcp://h:1", "http://u:p@h:9090", "${X}", "file:/x",
    "1e400", ".nan", "~", "null", "yes", "0x1F", "2024-13-45",
]


@st.composite
def mutated_text(draw: st.DrawFn, base: str) -> str:
    """``base`` with a few lines dropped, repeated, re-indented or spliced with hostile tokens."""
    lines = base.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["drop", "repeat", "indent", "dedent", "splice", "splice"]))
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
            token = draw(st.one_of(st.sampled_from(YAML_TOKENS), hostile_text))
            lines[index] = lines[index][:column] + token + lines[index][column:]
    return "".join(lines)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    hostile_text,
    st.sampled_from(["docker", "kubernetes", "all", "dark", "tcp://h:2375", "http://p:9090", "${TOKEN}", "prod", "5m"]),
)


def _paths(node: object, at: tuple = ()) -> list[tuple]:
    paths = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += _paths(value, (*at, index))
    return paths


def _replaced(node: object, path: tuple, edit: str, value: object, key: object) -> object:
    """A copy of ``node`` with one edit at ``path``: set, drop, or add a key/item."""
    if not path:
        if edit == "add" and isinstance(node, dict):
            return {**node, key: value}
        if edit == "add" and isinstance(node, list):
            return [*node, value]
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        copy = dict(node)
        if edit == "drop" and not rest:
            del copy[head]
        else:
            copy[head] = _replaced(node[head], rest, edit, value, key)
        return copy
    copy = list(node)
    if edit == "drop" and not rest:
        del copy[head]
    else:
        copy[head] = _replaced(node[head], rest, edit, value, key)
    return copy


def mutated_data(base: object, keys: list[str]) -> st.SearchStrategy[object]:
    """``base`` (plain YAML data) with one to four edits anywhere in it: a value
    replaced by hostile data, a key or item dropped, a key or item added."""
    paths = _paths(base)
    children = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.sampled_from(keys), hostile_text), inner, max_size=3)
        ),
        max_leaves=6,
    )
    edit = st.tuples(
        st.sampled_from(paths), st.sampled_from(["set", "set", "drop", "add"]), children, st.one_of(st.sampled_from(keys), hostile_text)
    )

    def apply(edits: list[tuple]) -> object:
        data = base
        for path, kind, value, key in edits:
            try:
                data = _replaced(data, path, kind, value, key)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier edit removed or replaced this path
        return data

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def dump(data: object) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8", errors="surrogatepass")


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-input")


def assert_rejected_with_file_line_and_field(error: ConfigError, path: Path) -> None:
    assert error.problems, "a rejection must say what is wrong"
    for problem in error.problems:
        assert problem.file == str(path)
        assert problem.line is not None and problem.line >= 1, f"no line: {problem}"
        assert problem.column is None or problem.column >= 1
        assert problem.field, f"no field: {problem}"
        assert problem.message and problem.hint
        assert_plain_safe(str(problem))
        assert_shown_literally(str(problem), safe_text(str(problem)))


def check_config_file(path: Path, kind: str) -> None:
    tried(kind)
    try:
        config = load_config(path)
    except ConfigError as error:
        assert_rejected_with_file_line_and_field(error, path)
    except Exception:
        CRASHES[kind] += 1
        raise
    else:
        assert isinstance(config, Config)


@campaign("config text")
@given(text=st.one_of(mutated_text(BASE_CONFIG), st.lists(st.sampled_from(YAML_TOKENS) | hostile_text, max_size=30).map("".join)))
def test_config_text_is_loaded_or_rejected_with_file_line_and_field(fuzz_dir: Path, text: str) -> None:
    path = fuzz_dir / "config-text.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))

    check_config_file(path, "config text")


@campaign("config data")
@given(data=mutated_data(yaml.safe_load(BASE_CONFIG), CONFIG_FIELDS))
def test_config_data_is_loaded_or_rejected_with_file_line_and_field(fuzz_dir: Path, data: object) -> None:
    path = fuzz_dir / "config-data.yaml"
    path.write_bytes(dump(data))

    check_config_file(path, "config data")


@campaign("config bytes")
@given(raw=st.one_of(hostile_bytes, st.binary(max_size=300), mutated_text(BASE_CONFIG).map(lambda t: t.encode("utf-16", errors="surrogatepass"))))
def test_config_bytes_are_loaded_or_rejected_with_file_line_and_field(fuzz_dir: Path, raw: bytes) -> None:
    path = fuzz_dir / "config-bytes.yaml"
    path.write_bytes(raw)

    check_config_file(path, "config bytes")


# --- runbook files ------------------------------------------------------------------------

BUILTIN_RUNBOOKS = {path.name: path.read_text(encoding="utf-8") for path in sorted(builtin_runbooks_dir().glob("*.yaml"))}
RUNBOOK_KEYS = sorted(
    {key for text in BUILTIN_RUNBOOKS.values() for key in re.findall(r"^\s*-?\s*([a-z_]+):", text, re.MULTILINE)}
)


def check_runbook_file(path: Path, kind: str) -> None:
    tried(kind)
    try:
        loaded = load_runbook_file(path)
    except ConfigError as error:
        assert_rejected_with_file_line_and_field(error, path)
    except Exception:
        CRASHES[kind] += 1
        raise
    else:
        assert isinstance(loaded.runbook, Runbook)


@campaign("runbook text")
@given(name=st.sampled_from(sorted(BUILTIN_RUNBOOKS)), data=st.data())
def test_runbook_text_is_loaded_or_rejected_with_file_line_and_field(fuzz_dir: Path, name: str, data: st.DataObject) -> None:
    text = data.draw(mutated_text(BUILTIN_RUNBOOKS[name]))
    path = fuzz_dir / "runbook-text.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))

    check_runbook_file(path, "runbook text")


@campaign("runbook data")
@given(mutated=st.one_of(*(mutated_data(yaml.safe_load(text), RUNBOOK_KEYS) for text in BUILTIN_RUNBOOKS.values())))
def test_runbook_data_is_loaded_or_rejected_with_file_line_and_field(fuzz_dir: Path, mutated: object) -> None:
    path = fuzz_dir / "runbook-data.yaml"
    path.write_bytes(dump(mutated))

    check_runbook_file(path, "runbook data")


@campaign("runbook bytes")
@given(raw=st.one_of(hostile_bytes, st.binary(max_size=300)))
def test_runbook_bytes_are_loaded_or_rejected_with_file_line_and_field(fuzz_dir: Path, raw: bytes) -> None:
    path = fuzz_dir / "runbook-bytes.yaml"
    path.write_bytes(raw)

    check_runbook_file(path, "runbook bytes")


# --- log lines -------------------------------------------------------------------------------


def docker_frames(chunks: list[tuple[int, bytes]]) -> bytes:
    """Docker's multiplexed log stream: an 8-byte header (stream, size) per chunk."""
    return b"".join(struct.pack(">BxxxL", stream_id, len(chunk)) + chunk for stream_id, chunk in chunks)


def docker_log_lines(raw: io.BufferedIOBase, *, tty: bool) -> list[LogLine]:
    # The adapter's own reading loop, minus the HTTP response around it.
    reader = docker_adapter._FrameReader(raw, tty=tty)
    pairs = []
    for stream_id, chunk in reader.frames():
        pairs += reader.lines(stream_id, chunk)
    pairs += reader.flush()
    return [docker_adapter._log_line("web-1", stream_id, data) for stream_id, data in pairs]


def assert_log_line_safe(line: LogLine) -> None:
    shown = safe_log_text(line.text)
    assert shown.plain == neutralise(line.text, keep_sgr=False)
    assert "\n" not in shown.plain
    assert_rendered_safe(shown)
    # The headless `logs` command: no escape at all when stdout is not a terminal.
    assert_plain_safe(neutralise(line.text, keep_sgr=False))
    coloured = neutralise(line.text, keep_sgr=True)
    for match in re.finditer("\x1b", coloured):
        assert re.match(r"\x1b\[[0-9;:]*m", coloured[match.start():]), f"a non-SGR escape kept in {coloured!r}"


@campaign("log bytes")
@given(chunks=st.lists(st.tuples(st.sampled_from([1, 2]), hostile_bytes), max_size=5), tty=st.booleans())
def test_log_bytes_reach_the_screen_without_escapes_or_markup(chunks: list[tuple[int, bytes]], tty: bool) -> None:
    tried("log bytes")
    raw = b"".join(chunk for _, chunk in chunks) if tty else docker_frames(chunks)

    try:
        docker_lines = docker_log_lines(io.BytesIO(raw), tty=tty)
        kube_lines = [kube_adapter._log_line("web-1", part) for part in raw.split(b"\n") if part]
    except Exception:
        CRASHES["log bytes"] += 1
        raise

    for line in docker_lines + kube_lines:
        assert isinstance(line.text, str)
        assert_log_line_safe(line)
        assert_time_showable(line.ts)


class LogViewApp:
    """Built lazily so that importing this module does not start Textual."""

    @staticmethod
    def make():
        from textual.app import App

        class _App(App[None]):
            def compose(self):
                yield LogView(show_replica=True)

        return _App()


async def test_log_lines_from_bytes_render_in_the_log_view_without_escapes_or_markup() -> None:
    app = LogViewApp.make()
    async with app.run_test(size=(100, 10)) as pilot:
        view = pilot.app.query_one(LogView)
        await pilot.pause()

        @campaign("log view")
        @given(raw=hostile_bytes, replica=hostile_text, stderr=st.booleans())
        def check(raw: bytes, replica: str, stderr: bool) -> None:
            tried("log view")
            line = docker_adapter._log_line(replica, 2 if stderr else 1, raw)
            view.clear()
            view.append([line])
            for strip in [*view.line_strips(0), *(view.render_line(y) for y in range(10))]:
                for segment in strip:
                    assert_plain_safe(segment.text)
                    if segment.style is not None:
                        assert segment.style.link is None
                        assert not segment.style.meta

        check()


# --- Docker containers --------------------------------------------------------------------

DOCKER_STATES = ["running", "exited", "restarting", "dead", "paused", "created", "removing", ""]
LABEL_NAMES = [
    "com.docker.compose.project", "com.docker.compose.service", "watchfloor.workload", "watchfloor.track",
    "org.opencontainers.image.version", "version", "API_TOKEN", "db.password",
]
label_names = st.one_of(st.sampled_from(LABEL_NAMES), hostile_text)
labels = st.one_of(st.none(), st.dictionaries(label_names, hostile_text, max_size=5))
env_items = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["PATH", "DB_PASSWORD", "API_KEY", "URL"]) | hostile_text, hostile_text),
        hostile_text,
    ),
    max_size=5,
)
timestamps = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z", "2026-11-25T12:00:00.123456789Z", "2026-11-25T12:00:00+02:00", "2026-02-30T00:00:00Z",
            "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59", "0002-01-01T00:00:00+23:59", "2026-11-25T12:00:00.5+99:99",
        ]
    ),
    hostile_text,
)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


docker_inspect = st.fixed_dictionaries(
    {},
    optional={
        "Id": st.text(alphabet="0123456789abcdef", max_size=64),
        "Name": st.builds(lambda s: "/" + s, hostile_text),
        "RestartCount": maybe(st.integers(0, 2**31)),
        "Created": timestamps,
        "HostConfig": maybe(st.fixed_dictionaries({}, optional={"NetworkMode": maybe(hostile_text)})),
        "Config": maybe(
            st.fixed_dictionaries(
                {}, optional={"Labels": labels, "Env": maybe(env_items), "Image": maybe(st.one_of(hostile_text, st.sampled_from(["web:1.4", "r/web@sha256:" + "a" * 64, "sha256:" + "b" * 64])))}
            )
        ),
        "State": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "Status": maybe(st.one_of(st.sampled_from(DOCKER_STATES), hostile_text)),
                    "ExitCode": maybe(st.integers(-(2**31), 2**31)),
                    "OOMKilled": st.booleans(),
                    "Error": maybe(hostile_text),
                    "StartedAt": timestamps,
                    "Health": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "Status": maybe(st.sampled_from(["healthy", "unhealthy", "starting", "none"]) | hostile_text),
                                "Log": maybe(st.lists(st.fixed_dictionaries({}, optional={"Output": maybe(hostile_text)}), max_size=2)),
                            },
                        )
                    ),
                },
            )
        ),
    },
)
docker_summary = st.fixed_dictionaries(
    {},
    optional={
        "Id": st.text(alphabet="0123456789abcdef", max_size=64),
        "Names": maybe(st.lists(st.builds(lambda s: "/" + s, hostile_text), min_size=1, max_size=2)),
        "Labels": labels,
        "State": maybe(st.one_of(st.sampled_from(DOCKER_STATES), hostile_text)),
        "Status": maybe(
            st.one_of(
                hostile_text,
                st.builds(lambda c, s: f"Exited ({c}) {s}", st.integers(-(10**30), 10**30), hostile_text),
                st.sampled_from(["Up 3 minutes (healthy)", "Up 1 second (health: starting)", "Up 2 hours (unhealthy)"]),
            )
        ),
        "Image": maybe(hostile_text),
        "Created": maybe(st.integers(0, 2**32)),
    },
)

ENVIRONMENTS = (
    Environment("local", EnvironmentKind.DOCKER, "unix:///var/run/docker.sock"),
    Environment("prod", EnvironmentKind.KUBERNETES, "prod-eu"),
)


def assert_views_safe(store: Store, replicas: list[Replica]) -> None:
    """Every place these replicas and their workloads are shown or printed is safe."""
    for replica in replicas:
        assert_time_showable(replica.started_at)
        assert_time_showable(replica.created_at)
        for value in (replica.name, replica.state, replica.reason, replica.image, replica.version):
            assert_shown_literally(value, safe_text(value))
        assert_rendered_safe(replica_facts(replica))
    for workload in store.workloads():
        assert_time_showable(workload.created_at)
        assert_rendered_safe(workload_label(workload.key.label, True, "firing", {}))
        for value in (workload.version, workload.reason, workload.image):
            assert_shown_literally(value, safe_text(value))
    document = status.as_json(store)
    assert_plain_safe(status.as_text(document).replace("\n", ""))


@campaign("docker containers")
@given(inspected=st.lists(docker_inspect, max_size=2), summaries=st.lists(docker_summary, max_size=2))
def test_docker_containers_with_hostile_names_and_labels_are_shown_literally(
    inspected: list[dict], summaries: list[dict]
) -> None:
    tried("docker containers")
    store = Store(ENVIRONMENTS)

    try:
        replicas = [docker_adapter.replica_from_inspect("local", data) for data in inspected]
        replicas += [docker_adapter.replica_from_summary("local", data) for data in summaries]
        # Container ids are the store's keys; generated ones may repeat.
        replicas = list({r.id: r for r in replicas}.values())
        store.apply(SnapshotReplaced("local", tuple(replicas), kinds=docker_adapter._kinds(tuple(replicas))))
        store.drain()
        for key in {r.workload for r in replicas}:
            aggregate(key, [r for r in replicas if r.workload == key])
    except Exception:
        CRASHES["docker containers"] += 1
        raise

    assert_views_safe(store, replicas)


# --- Kubernetes objects -------------------------------------------------------------------

K8S_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"]
WAITING_REASONS = ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "ContainerCreating"]
k8s_name = st.one_of(st.sampled_from(["web", "web-7d4b9c-x2x", "api"]), hostile_text)
k8s_text = maybe(hostile_text)
k8s_int = maybe(st.integers(-(2**31), 2**31))
metadata = st.fixed_dictionaries(
    {},
    optional={
        "name": k8s_name,
        "namespace": st.sampled_from(["web", "default"]) | hostile_text,
        "uid": st.sampled_from(["u1", "u2", "u3", "u4"]) | hostile_text,
        "labels": maybe(st.dictionaries(label_names | st.sampled_from(["app.kubernetes.io/version", "track"]), hostile_text, max_size=4)),
        "annotations": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "deployment.kubernetes.io/revision": st.one_of(
                        hostile_text, st.sampled_from(["3", "²", "٣", "", "-1", "99999999999999999999"])
                    ),
                    "kubernetes.io/change-cause": hostile_text,
                },
            )
        ),
        "creationTimestamp": timestamps,
        "deletionTimestamp": timestamps,
        "generation": k8s_int,
        "ownerReferences": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "kind": st.sampled_from(["ReplicaSet", "StatefulSet", "DaemonSet", "Job", "Deployment"]) | hostile_text,
                        "name": k8s_name,
                        "uid": st.sampled_from(["u1", "u2", "rs1"]) | hostile_text,
                    },
                ),
                max_size=2,
            )
        ),
    },
)
container_state = st.fixed_dictionaries(
    {},
    optional={
        "waiting": maybe(st.fixed_dictionaries({}, optional={"reason": maybe(st.sampled_from(WAITING_REASONS) | hostile_text), "message": k8s_text})),
        "terminated": maybe(st.fixed_dictionaries({}, optional={"exitCode": k8s_int, "reason": maybe(st.sampled_from(["OOMKilled", "Error"]) | hostile_text)})),
        "running": maybe(st.fixed_dictionaries({}, optional={"startedAt": timestamps})),
    },
)
container_status = st.fixed_dictionaries(
    {},
    optional={
        "name": k8s_text,
        "restartCount": k8s_int,
        "ready": st.booleans(),
        "state": maybe(container_state),
        "lastState": maybe(container_state),
    },
)
k8s_env = st.lists(
    st.one_of(
        st.fixed_dictionaries({"name": st.sampled_from(["DB_PASSWORD", "PATH", "API_TOKEN"]) | hostile_text}, optional={"value": hostile_text}),
        st.fixed_dictionaries({"name": hostile_text, "valueFrom": st.sampled_from([{"secretKeyRef": {"name": "s", "key": "k"}}, {"fieldRef": {}}])}),
    ),
    max_size=3,
)
pod_spec = st.fixed_dictionaries(
    {},
    optional={
        "nodeName": k8s_text,
        "containers": maybe(
            st.lists(st.fixed_dictionaries({}, optional={"name": k8s_name, "image": hostile_text, "env": maybe(k8s_env)}), max_size=2)
        ),
    },
)
condition = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["Ready", "PodScheduled", "Progressing", "ReplicaFailure", "Available"]) | hostile_text,
        "status": st.sampled_from(["True", "False", "Unknown"]) | hostile_text,
        "reason": maybe(st.sampled_from(["Unschedulable", "ProgressDeadlineExceeded"]) | hostile_text),
        "message": k8s_text,
    },
)
pod = st.fixed_dictionaries(
    {},
    optional={
        "metadata": maybe(metadata),
        "spec": maybe(pod_spec),
        "status": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "phase": maybe(st.sampled_from(K8S_PHASES) | hostile_text),
                    "reason": k8s_text,
                    "message": k8s_text,
                    "startTime": timestamps,
                    "conditions": maybe(st.lists(condition, max_size=3)),
                    "containerStatuses": maybe(st.lists(container_status, max_size=2)),
                    "initContainerStatuses": maybe(st.lists(container_status, max_size=1)),
                },
            )
        ),
    },
)
workload_object = st.fixed_dictionaries(
    {"kind": st.sampled_from(["Deployment", "StatefulSet", "DaemonSet"])},
    optional={
        "metadata": maybe(metadata),
        "spec": maybe(
            st.fixed_dictionaries(
                {}, optional={"replicas": k8s_int, "template": maybe(st.fixed_dictionaries({}, optional={"spec": maybe(pod_spec)}))}
            )
        ),
        "status": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    **{
                        name: k8s_int
                        for name in (
                            "observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                            "desiredNumberScheduled", "updatedNumberScheduled", "numberReady", "numberAvailable",
                            "currentNumberScheduled",
                        )
                    },
                    "updateRevision": k8s_text,
                    "currentRevision": k8s_text,
                    "conditions": maybe(st.lists(condition, max_size=3)),
                },
            )
        ),
    },
)
replicaset = st.fixed_dictionaries({"kind": st.just("ReplicaSet")}, optional={"metadata": maybe(metadata)})
event = st.fixed_dictionaries(
    {},
    optional={
        "involvedObject": maybe(
            st.fixed_dictionaries(
                {}, optional={"kind": st.sampled_from(["Pod", "ReplicaSet", "Deployment", "Node"]) | hostile_text, "name": k8s_name, "namespace": st.sampled_from(["web"]) | hostile_text}
            )
        ),
        "type": maybe(st.sampled_from(["Normal", "Warning"]) | hostile_text),
        "reason": k8s_text,
        "message": k8s_text,
        "count": k8s_int,
        "lastTimestamp": timestamps,
        "eventTime": timestamps,
    },
)
RESOURCE_OF = {"Deployment": kube_adapter.DEPLOYMENTS, "StatefulSet": kube_adapter.STATEFULSETS, "DaemonSet": kube_adapter.DAEMONSETS}
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def apply_watch_events(events: list[tuple[object, str, dict]]) -> tuple[Store, list[EventRecorded]]:
    """Feed objects to the adapter's cluster state as a watch would, and the changes to a store."""
    state = kube_adapter._ClusterState("prod")
    store = Store(ENVIRONMENTS)
    recorded = []
    for resource, event_type, obj in events:
        for change in state.apply(resource, event_type, obj, NOW):
            if isinstance(change, EventRecorded):
                recorded.append(change)
            store.apply(change)
    store.apply(state.snapshot(NOW))
    store.drain()
    return store, recorded


@campaign("kubernetes pods")
@given(
    objects=st.lists(
        st.one_of(
            st.tuples(st.just(kube_adapter.PODS), st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), pod),
            st.tuples(st.just(kube_adapter.REPLICASETS), st.sampled_from(["ADDED", "DELETED"]), replicaset),
            st.tuples(st.just(kube_adapter.EVENTS), st.just("ADDED"), event),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_kubernetes_pods_with_missing_and_odd_fields_are_shown_literally(objects: list[tuple[object, str, dict]]) -> None:
    tried("kubernetes pods")

    try:
        store, recorded = apply_watch_events(objects)
    except Exception:
        CRASHES["kubernetes pods"] += 1
        raise

    assert_views_safe(store, store.all_replicas())
    for change in recorded:
        assert_time_showable(change.ts)
        assert_shown_literally(change.reason, safe_text(change.reason))
        assert_shown_literally(change.message, safe_text(change.message))


@campaign("kubernetes workloads")
@given(
    objects=st.lists(workload_object, min_size=1, max_size=2),
    pods=st.lists(pod, max_size=2),
    deleted=st.booleans(),
)
def test_kubernetes_workloads_with_missing_and_odd_fields_are_shown_literally(
    objects: list[dict], pods: list[dict], deleted: bool
) -> None:
    tried("kubernetes workloads")
    events = [(RESOURCE_OF[obj["kind"]], "ADDED", obj) for obj in objects]
    events += [(kube_adapter.PODS, "ADDED", obj) for obj in pods]
    if deleted:
        events.append((RESOURCE_OF[objects[0]["kind"]], "DELETED", objects[0]))

    try:
        store, _ = apply_watch_events(events)
        specs = [kube_adapter.workload_spec("prod", obj) for obj in objects]
        for spec in specs:
            aggregate(spec.key, store.replicas(spec.key), spec=spec)
    except Exception:
        CRASHES["kubernetes workloads"] += 1
        raise

    assert_views_safe(store, store.all_replicas())
    for spec in specs:
        for value in (spec.rollout or "", spec.problem or "", spec.key.label):
            assert_shown_literally(value, safe_text(value))


# --- crashes the campaign found, kept as plain regressions --------------------------------


@pytest.mark.parametrize("annotation", ["²", "٣", "3\n", "-1", ""])
def test_a_deployment_revision_annotation_that_is_not_a_plain_number_is_no_revision(annotation: str) -> None:
    # Found by the campaign: "²".isdigit() is true, int("²") raises, and the watch died.
    obj = {"kind": "Deployment", "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": annotation}}}

    spec = kube_adapter.workload_spec("prod", obj)

    assert spec.revision is None


def test_a_deployment_revision_annotation_of_ascii_digits_is_the_revision() -> None:
    obj = {"kind": "Deployment", "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "12"}}}

    assert kube_adapter.workload_spec("prod", obj).revision == 12


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59", "0001-01-01T12:00:00+01:00"])
def test_a_time_too_close_to_the_calendar_s_end_is_no_time(value: str) -> None:
    # Found by the campaign: a Kubernetes Event stamped 9999-12-31T23:59:59Z parsed
    # fine and then overflowed when the workload panel showed it in local time.
    assert parse_rfc3339(value) is None


def test_times_inside_the_calendar_still_parse() -> None:
    assert parse_rfc3339("9999-12-29T00:00:00Z") == datetime(9999, 12, 29, tzinfo=UTC)
    assert parse_rfc3339("0002-01-01T00:00:00+23:59") is not None
