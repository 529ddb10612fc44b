"""No secret survives in any output channel (issue 6, DESIGN §7).

hypothesis places secrets — values of secret-named env vars and labels, passwords
in URLs, tokens in query strings, bearer tokens, JWTs, ``NAME=value`` in log
lines, Kubernetes env records, values under secret keys, and values declared in
the config's ``secrets:`` — inside arbitrary JSON-like structures, log lines and
container env and labels, and pushes them through every channel the console
writes to:

- the views: the workload screen's labels/env pane (`screens.workload.replica_facts`),
  and the reasons and event messages the replica table, workload table and
  workload panel show, as the store holds them;
- the structured log file (`console.structured_log`), read back as bytes;
- a run journal (`console.runbook.journal`), written to disk and read back as bytes;
- ``status --json`` and its text form (`console.status`), the copied status;
- the ``runbook run --json`` document (`RunView.to_json`);
- the headless ``logs`` line path (redact, then neutralise).

The secret's text must appear in none of them. Filler text is drawn without
digits and every secret has one, so a secret can only appear where it was put.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console import status
from console.model import (
    Environment,
    EnvironmentKind,
    EventRecorded,
    Health,
    Replica,
    ReplicaUpserted,
    SnapshotReplaced,
    WorkloadKey,
)
from console.redact import declare_secret_values, redact_text
from console.runbook.journal import Journal, RunHeader, new_run_id
from console.runbook.run_view import Phase, RunView, StepState, StepView
from console.store import Store
from console.structured_log import configure
from console.terminal_text import neutralise
from screens.workload import replica_facts

EXAMPLES = max(50, int(os.environ.get("WATCHFLOOR_FUZZ_EXAMPLES", "12000")) // 40)
CAMPAIGN = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    database=None,
)

# --- secrets and where they hide ---------------------------------------------------------

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"
FILLER = st.text(alphabet=string.ascii_letters + " -_./:,[]", max_size=12)
"""Harmless text: no digit, so it can never contain a secret by chance."""


@st.composite
def secret_values(draw: st.DrawFn) -> str:
    """A token: 12-40 characters, letters and at least one digit."""
    body = draw(st.text(alphabet=TOKEN_ALPHABET, min_size=10, max_size=38))
    return draw(st.sampled_from(string.ascii_letters)) + body + draw(st.sampled_from(string.digits))


SECRET_WORDS = ["PASSWORD", "password", "Token", "SECRET", "api_key", "ApiKey", "PRIVATE_KEY", "credentials", "dsn", "AUTH", "passwd", "session"]
PLAIN_WORDS = ["DB", "GITHUB", "aws", "app", "Slack", "webhook", "db.prod", "x"]


@st.composite
def secret_names(draw: st.DrawFn) -> str:
    """A name that marks its value secret: DB_PASSWORD, githubToken, app.api_key …"""
    before = draw(st.lists(st.sampled_from(PLAIN_WORDS), max_size=2))
    after = draw(st.lists(st.sampled_from(PLAIN_WORDS), max_size=1))
    separator = draw(st.sampled_from(["_", ".", "-", "/"]))
    return separator.join([*before, draw(st.sampled_from(SECRET_WORDS)), *after])


def jwt_from(secret: str) -> str:
    return f"eyJhbGciOiJIUzI1NiJ9.{secret}.{secret[::-1]}"


@st.composite
def secret_in_text(draw: st.DrawFn, secret: str) -> str:
    """Free text that carries `secret` in a shape the console must recognise."""
    name = draw(secret_names())
    host = draw(st.sampled_from(["db.example.com", "registry:5000", "10.0.0.5"]))
    shape = draw(
        st.sampled_from(
            [
                f"{name}={secret}",
                f"{name}: {secret}",
                f'"{name}": "{secret}"',
                f"{name}='{secret}'",
                f"--{name.lower()}={secret}",
                f"postgres://app:{secret}@{host}/shop",
                # A bare user part is hidden only when it looks like a token (20+
                # characters): "git@" and "deploy@" stay readable.
                f"https://{secret if len(secret) >= 20 else 'x-access-token:' + secret}@github.com/org/repo.git",
                f"https://{host}/callback?{name}={secret}&page=two",
                f"Authorization: Bearer {secret}",
                f"curl -H 'authorization: bearer {secret}' https://{host}/",
                f"token {jwt_from(secret)} expired",
            ]
        )
    )
    return draw(FILLER) + " " + shape + " " + draw(FILLER)


@st.composite
def placed_secret(draw: st.DrawFn) -> tuple[str, dict]:
    """One secret and the places it was put: env, labels, a log line, a JSON structure."""
    secret = draw(secret_values())
    declared = draw(st.booleans())
    if declared:
        # Declared in the config (secrets: [NAME]): no shape gives it away.
        text = f"{draw(FILLER)} connecting with {secret} {draw(FILLER)}"
        leaf: object = text
        env_pair = (draw(st.sampled_from(PLAIN_WORDS)), secret)
    else:
        text = draw(secret_in_text(secret))
        leaf = draw(
            st.sampled_from(
                [
                    text,
                    {draw(secret_names()): secret},
                    {"name": draw(secret_names()), "value": secret},
                    {"env": [{"name": draw(secret_names()), "value": secret}]},
                    {draw(secret_names()): {"user": "bob", "nested": [secret]}},
                    {"kind": "Secret", "data": {draw(FILLER): secret}},
                ]
            )
        )
        env_pair = (draw(secret_names()), secret)
    return secret, {"declared": declared, "text": text, "leaf": leaf, "env": env_pair}


def json_like(leaf: object) -> st.SearchStrategy[object]:
    """An arbitrary JSON-like structure with `leaf` somewhere inside it."""
    filler = st.recursive(
        st.one_of(st.none(), st.booleans(), FILLER),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(FILLER, inner, max_size=3)),
        max_leaves=6,
    )

    def wrap(depth_keys: list[str | None], siblings: dict) -> object:
        node = leaf
        for key in depth_keys:
            node = [node] if key is None else {**siblings, key: node}
        return node

    return st.builds(wrap, st.lists(st.one_of(st.none(), FILLER), max_size=4), st.dictionaries(FILLER, filler, max_size=2))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[str], list[str], list[dict]]:
    placed = draw(st.lists(placed_secret(), min_size=1, max_size=3))
    secrets = [secret for secret, _ in placed]
    declared = [secret for secret, where in placed if where["declared"]]
    places = [{**where, "structure": draw(json_like(where["leaf"]))} for _, where in placed]
    return secrets, declared, places


# --- the channels ------------------------------------------------------------------------


@pytest.fixture
def declared_secrets() -> Iterator[None]:
    yield
    declare_secret_values(())


@pytest.fixture
def structured_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("structlog") / "watchfloor.log"
    configure(path, "debug")
    yield path
    structlog.reset_defaults()


def replica_with(places: list[dict], number: int) -> Replica:
    key = WorkloadKey("prod", "shop", "web")
    return Replica(
        workload=key,
        id=f"replica-{number}",
        name=f"web-{number}",
        state="running",
        health=Health.DEGRADED,
        reason=" | ".join(p["text"] for p in places),
        image="registry.example.com/web:1.4.1",
        version="1.4.1",
        labels=tuple(p["env"] for p in places),
        env=tuple(p["env"] for p in places),
    )


def view_text(places: list[dict]) -> str:
    return replica_facts(replica_with(places, 1)).plain


def filled_store(places: list[dict]) -> Store:
    store = Store([Environment("prod", EnvironmentKind.KUBERNETES, "prod-eu")])
    store.apply(SnapshotReplaced("prod", (replica_with(places, 1),)))
    store.apply(ReplicaUpserted(replica_with(places, 2)))
    for place in places:
        store.apply(EventRecorded(WorkloadKey("prod", "shop", "web"), None, "Warning", "BackOff", place["text"]))
    store.drain()
    return store


def table_and_panel_text(store: Store) -> str:
    """What the replica table, the workload table and the workload panel show."""
    key = WorkloadKey("prod", "shop", "web")
    shown = [r.reason for r in store.replicas(key)] + [w.reason for w in store.workloads()]
    shown += [f"{e.reason} {e.message}" for e in store.events(key)]
    return "\n".join(shown)


def status_outputs(store: Store) -> str:
    document = status.as_json(store)
    return json.dumps(document) + "\n" + status.as_text(document)


def journal_bytes(places: list[dict], directory: Path) -> bytes:
    run_id = new_run_id()
    header = RunHeader(runbook="deploy@abc", environment_name="prod", workload="shop/web")
    with Journal.create(run_id, header, directory=directory) as journal:
        journal.append("run.started", data={"params": [p["structure"] for p in places]})
        for place in places:
            journal.append("adapter.call", step="deploy", data={"response": place["structure"], "text": place["text"]})
            journal.append("step.finished", step="deploy", error_context={"error": place["text"], "detail": place["leaf"]})
    return (directory / f"{run_id}.jsonl").read_bytes()


def structured_log_bytes(places: list[dict], path: Path) -> bytes:
    logger = structlog.get_logger("watchfloor.test")
    for place in places:
        logger.info(place["text"], error_context=place["structure"], environment_name="prod", env=dict([place["env"]]))
    return path.read_bytes()


def run_json(places: list[dict]) -> str:
    steps = tuple(
        StepView(id=f"step-{n}", title="Deploy", kind="action", state=StepState.FAILED, message=place["text"])
        for n, place in enumerate(places)
    )
    view = RunView(
        run_id="20261126T013000Z-ab12cd",
        runbook="deploy",
        title="Deploy",
        environment="prod",
        workload=WorkloadKey("prod", "shop", "web"),
        phase=Phase.ROLLED_BACK,
        message=places[0]["text"],
        steps=steps,
    )
    return json.dumps(view.to_json())


def headless_log_lines(places: list[dict]) -> str:
    return "\n".join(neutralise(redact_text(place["text"]), keep_sgr=False) for place in places)


def assert_hidden(secrets: list[str], output: str | bytes, channel: str) -> None:
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    for secret in secrets:
        assert secret not in text, f"{channel} shows the secret {secret!r}"


@CAMPAIGN
@given(scenario=scenarios())
def test_no_secret_survives_in_any_output_channel(
    scenario: tuple[list[str], list[str], list[dict]],
    tmp_path_factory: pytest.TempPathFactory,
    structured_log: Path,
    declared_secrets: None,
) -> None:
    secrets, declared, places = scenario
    declare_secret_values(declared)

    store = filled_store(places)

    outputs = {
        "the workload screen's labels and env": view_text(places),
        "the replica and workload tables and the events pane": table_and_panel_text(store),
        "status --json and status text": status_outputs(store),
        "the journal file": journal_bytes(places, tmp_path_factory.mktemp("runs")),
        "the structured log file": structured_log_bytes(places, structured_log),
        "runbook run --json": run_json(places),
        "watchfloor logs": headless_log_lines(places),
    }

    for channel, output in outputs.items():
        assert_hidden(secrets, output, channel)


def test_declared_values_are_hidden_only_once_declared(declared_secrets: None) -> None:
    line = "connecting with Zq93kfLmA01 to the database"
    assert redact_text(line) == line

    declare_secret_values(["Zq93kfLmA01", "", "abc"])

    assert redact_text(line) == "connecting with ••••• to the database"
    assert redact_text("abc") == "abc"  # too short to hide without hiding everything


def test_the_config_secrets_are_declared_when_a_command_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, declared_secrets: None) -> None:
    from console import cli

    config = tmp_path / "config.yaml"
    config.write_text(f"secrets: [DEPLOY_TOKEN]\nstate_dir: {tmp_path / 'state'}\n", encoding="utf-8")
    monkeypatch.setenv("DEPLOY_TOKEN", "Zq93kfLmA01-deploy")

    cli.main(["--config", str(config), "history", "--json"])

    assert redact_text("pushing with Zq93kfLmA01-deploy") == "pushing with •••••"


def test_a_reason_quoting_a_password_reaches_the_views_redacted() -> None:
    # Found by the campaign: reasons went from the backend to the tables unredacted.
    place = {"text": "unhealthy: curl postgres://app:Zq93kfLmA01@db/shop refused", "env": ("A", "b")}

    store = filled_store([place])

    assert "Zq93kfLmA01" not in table_and_panel_text(store)
    assert "postgres://app:•••••@db/shop" in table_and_panel_text(store)


def test_the_run_json_document_is_redacted() -> None:
    # Found by the campaign: `runbook run --json` printed step messages as they were.
    document = run_json([{"text": "pull failed: https://bot:Zq93kfLmA01@registry/web"}])

    assert "Zq93kfLmA01" not in document
