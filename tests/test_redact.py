"""Secrets never reach a view, log, journal entry or copied status (DESIGN §7)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from console import redact
from console.redact import (
    REDACTED,
    is_secret_name,
    redact_data,
    redact_pairs,
    redact_text,
    redact_url,
)

# --- is_secret_name -----------------------------------------------------------------

SECRET_NAMES = [
    "TOKEN", "GITHUB_TOKEN", "auth_token", "AUTHTOKEN", "accessToken", "X-Auth-Token",
    "SECRET", "CLIENT_SECRET", "clientSecret", "AWS_SECRET_ACCESS_KEY",
    "PASSWORD", "DB_PASSWORD", "postgresPassword", "PASSWD", "DB_PASS", "MYSQL_PWD",
    "PASSPHRASE", "API_KEY", "apiKey", "APIKey", "APIKEY", "x-api-key", "ACCESS_KEY",
    "PRIVATE_KEY", "TLS_KEY", "ssh.key", "config/key", "CREDENTIALS", "gcp-credential",
    "AUTH", "Authorization", "proxy-authorization", "SENTRY_DSN", "CONNECTION_STRING",
    "ConnectionString", "COOKIE", "Set-Cookie", "SESSION", "session_id", "JWT",
    "user[password]", "signature", "sig",
]
ORDINARY_NAMES = [
    "PATH", "HOME", "PWD", "OLDPWD", "pwd", "KEYBOARD_LAYOUT", "keyboard_layout",
    "MONKEY", "HOTKEY", "hotkey", "NODE_VERSION", "TLS_CERT", "ca.crt", "HOSTNAME",
    "LANG", "replicas", "image", "app.kubernetes.io/name", "PASSTHROUGH", "BYPASS",
    "AUTHOR", "KEYNOTE", "DESIGN", "TOKENIZERS",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_recognised(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize("name", ["api_key", "Api_Key", "API_KEY", "aPi_KeY"])
def test_secret_names_ignore_case(name: str) -> None:
    assert is_secret_name(name)


# --- redact_url ---------------------------------------------------------------------

URL_CASES = [
    ("password hidden, user kept", "postgres://admin:hunter22@db:5432/app",
     f"postgres://admin:{REDACTED}@db:5432/app"),
    ("unencoded at sign in password", "redis://u:p@ss@cache:6379",
     f"redis://u:{REDACTED}@cache:6379"),
    ("empty user with password", "redis://:s3cret@cache", f"redis://:{REDACTED}@cache"),
    ("token as user name hidden", "https://ghp_0123456789abcdefghijABCDEFGHIJ@github.com/o/r",
     f"https://{REDACTED}@github.com/o/r"),
    ("token user with dummy password hidden",
     "https://0123456789abcdefghijKLMN:x-oauth-basic@github.com",
     f"https://{REDACTED}:{REDACTED}@github.com"),
    ("plain user name kept", "ssh://git@github.com/o/r", "ssh://git@github.com/o/r"),
    ("secret query parameter hidden", "https://h/cb?page=2&access_token=abc123&x=1",
     f"https://h/cb?page=2&access_token={REDACTED}&x=1"),
    ("secret in fragment hidden", "https://h/cb#id_token=abc123",
     f"https://h/cb#id_token={REDACTED}"),
    ("ordinary query kept", "https://h/search?q=key+lime&sort=asc",
     "https://h/search?q=key+lime&sort=asc"),
    ("several urls in one line", "from http://a:b1@x to http://c:d2@y",
     f"from http://a:{REDACTED}@x to http://c:{REDACTED}@y"),
    ("url without credentials untouched", "https://example.com:8443/a@b",
     "https://example.com:8443/a@b"),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [pytest.param(*case[1:], id=case[0]) for case in URL_CASES]
)
def test_redact_url(raw: str, expected: str) -> None:
    assert redact_url(raw) == expected
    assert redact_text(raw) == expected


# --- redact_text --------------------------------------------------------------------

TEXT_CASES = [
    ("env assignment", "DB_PASSWORD=hunter22 PATH=/usr/bin",
     f"DB_PASSWORD={REDACTED} PATH=/usr/bin"),
    ("yaml style", "api_key: abc123", f"api_key: {REDACTED}"),
    ("json style keeps quotes", '{"password": "hunter22", "user": "bob"}',
     f'{{"password": "{REDACTED}", "user": "bob"}}'),
    ("json with escaped quote in value", r'{"token":"a\"b","n":1}',
     f'{{"token":"{REDACTED}","n":1}}'),
    ("single quoted", "secret='s p a c e s'", f"secret='{REDACTED}'"),
    ("json escaped inside a json log line", r'{"msg":"{\"password\":\"hunter22\",\"n\":1}"}',
     r'{"msg":"{\"password\":\"' + REDACTED + r'\",\"n\":1}"}'),
    ("ruby hash arrow", 'password => "hunter22"', f'password => "{REDACTED}"'),
    ("cli flag", "--password=hunter22 --verbose", f"--password={REDACTED} --verbose"),
    ("nested in an ordinary value", "opts=password=abc", f"opts=password={REDACTED}"),
    ("nested in a quoted ordinary value", 'args="--token=xyz other"',
     f'args="--token={REDACTED} other"'),
    ("bearer anywhere", "calling with Bearer abc.def-ghi now",
     f"calling with Bearer {REDACTED} now"),
    ("doubled bearer prefix", "Bearer Bearer abc", f"Bearer Bearer {REDACTED}"),
    ("bearer followed by an assignment", "Bearer TOKEN: abc", f"Bearer {REDACTED}: {REDACTED}"),
    ("authorization basic keeps scheme", "Authorization: Basic dXNlcjpwYXNz",
     f"Authorization: Basic {REDACTED}"),
    ("authorization bearer keeps scheme", "authorization: bearer abc",
     f"authorization: bearer {REDACTED}"),
    ("jwt anywhere", "got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ok",
     f"got {REDACTED} ok"),
    ("pem private key body",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nnext",
     f"-----BEGIN RSA PRIVATE KEY-----{REDACTED}-----END RSA PRIVATE KEY-----\nnext"),
    ("yaml key at end of line does not take the next line", "password:\n  hint",
     "password:\n  hint"),
    ("ordinary assignments untouched",
     "PATH=/usr/bin HOME=/root PWD=/srv KEYBOARD_LAYOUT=us MONKEY=1 HOTKEY=f1 NODE_VERSION=20",
     "PATH=/usr/bin HOME=/root PWD=/srv KEYBOARD_LAYOUT=us MONKEY=1 HOTKEY=f1 NODE_VERSION=20"),
    ("prose untouched", "Deploy of web to prod failed: rolled back to 1.4.1",
     "Deploy of web to prod failed: rolled back to 1.4.1"),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [pytest.param(*case[1:], id=case[0]) for case in TEXT_CASES]
)
def test_redact_text(raw: str, expected: str) -> None:
    assert redact_text(raw) == expected


def test_declared_values_are_hidden_wherever_they_occur() -> None:
    assert redact_text("conn to s3cr3tvalue ok", ["s3cr3tvalue"]) == f"conn to {REDACTED} ok"


def test_declared_values_longest_first() -> None:
    assert redact_text("abcdefgh", ["abcd", "abcdefgh"]) == REDACTED


def test_short_declared_values_are_ignored() -> None:
    assert redact_text("a b c yes", ["a", "yes", ""]) == "a b c yes"


def test_clean_text_is_returned_as_the_same_object() -> None:
    line = "2024-05-01T12:00:00Z INFO web-7d4b9 GET /api/v1/items?page=2 200 12ms"
    assert redact_text(line) is line


# --- redact_pairs and redact_data ---------------------------------------------------


def test_redact_pairs_hides_values_of_secret_names_and_keeps_the_rest() -> None:
    pairs = [
        ("PATH", "/usr/bin"),
        ("PWD", "/srv/app"),
        ("DB_PASSWORD", "hunter22"),
        ("EMPTY_TOKEN", ""),
        ("DATABASE_URL", "postgres://app:hunter22@db/app"),
        ("KEYBOARD_LAYOUT", "us"),
    ]
    assert redact_pairs(pairs) == [
        ("PATH", "/usr/bin"),
        ("PWD", "/srv/app"),
        ("DB_PASSWORD", REDACTED),
        ("EMPTY_TOKEN", REDACTED),
        ("DATABASE_URL", f"postgres://app:{REDACTED}@db/app"),
        ("KEYBOARD_LAYOUT", "us"),
    ]


def test_redact_data_hides_everything_under_a_secret_key_but_keeps_the_shape() -> None:
    data = {
        "image": "nginx:1.25",
        "replicas": 3,
        "credentials": {"user": "bob", "pin": 1234, "enabled": True, "note": None},
        "tokens": ["abc", "def"],
        "env": ["API_KEY=abc123", "PATH=/bin"],
    }
    assert redact_data(data) == {
        "image": "nginx:1.25",
        "replicas": 3,
        "credentials": {"user": REDACTED, "pin": REDACTED, "enabled": True, "note": None},
        "tokens": [REDACTED, REDACTED],
        "env": [f"API_KEY={REDACTED}", "PATH=/bin"],
    }


def test_redact_data_hides_kubernetes_env_records_by_their_name() -> None:
    env = [{"name": "DB_PASSWORD", "value": "hunter22"}, {"name": "PATH", "value": "/bin"}]
    assert redact_data(env) == [
        {"name": "DB_PASSWORD", "value": REDACTED},
        {"name": "PATH", "value": "/bin"},
    ]


def test_redact_data_hides_kubernetes_secret_payloads() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "web"}, "data": {"tls.crt": "LS0t"}}
    assert redact_data(secret) == {
        "kind": "Secret", "metadata": {"name": "web"}, "data": {"tls.crt": REDACTED},
    }


def test_redact_data_keeps_types_and_does_not_modify_its_input() -> None:
    data = {"a": ("x", ["y"]), "password": "p"}
    assert redact_data(data) == {"a": ("x", ["y"]), "password": REDACTED}
    assert data == {"a": ("x", ["y"]), "password": "p"}


# --- properties ---------------------------------------------------------------------

secrets = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=8,
    max_size=40,
)
secret_names = st.sampled_from(SECRET_NAMES)
filler = st.text(max_size=40)
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=10), children, max_size=3),
    ),
    max_leaves=5,
)


@st.composite
def secret_in_text(draw: st.DrawFn) -> tuple[str, str, tuple[str, ...]]:
    """A secret in one of the shapes redact_text must recognise, inside random text."""
    secret = draw(secrets)
    name = draw(secret_names)
    extra: tuple[str, ...] = ()
    shape = draw(st.sampled_from(
        ["assign", "colon", "json", "escaped-json", "quoted", "url", "token-url", "query", "bearer",
         "authorization", "declared"]
    ))
    if shape == "assign":
        core = f"{name}={secret}"
    elif shape == "colon":
        core = f"{name}: {secret}"
    elif shape == "json":
        core = json.dumps({name: secret})
    elif shape == "escaped-json":
        core = json.dumps(json.dumps({name: secret, "n": 1}))
    elif shape == "quoted":
        core = f"{name}='{secret}'"
    elif shape == "url":
        scheme = draw(st.sampled_from(["https", "postgres", "redis", "amqp", "git+ssh"]))
        core = f"{scheme}://{draw(st.sampled_from(['u', 'admin', '']))}:{secret}@host:5432/db"
    elif shape == "token-url":
        secret = draw(
            secrets.filter(lambda s: len(s) >= 20 and not s.isalpha() and not s.isdigit())
        )
        core = f"https://{secret}@github.com/org/repo.git"
    elif shape == "query":
        core = f"https://h/p?x=1&{name}={secret}&y=2"
    elif shape == "bearer":
        core = f"Bearer {secret}"
    elif shape == "authorization":
        core = f"Authorization: {draw(st.sampled_from(['Basic', 'Bearer', 'Token']))} {secret}"
    else:
        core = draw(filler) + secret + draw(filler)
        extra = (secret,)
    sep = draw(st.sampled_from([" ", "\n", "\t", ", "]))
    text = f"{draw(filler)}{sep}{core}{sep}{draw(filler)}"
    assume(text.count(secret) == 1)  # not also in a name or the filler
    return text, secret, extra


@settings(max_examples=1000)
@given(secret_in_text())
def test_secrets_in_text_never_survive(case: tuple[str, str, tuple[str, ...]]) -> None:
    text, secret, extra = case
    assert secret not in redact_text(text, extra)


@st.composite
def secret_in_data(draw: st.DrawFn) -> tuple[Any, str, tuple[str, ...]]:
    """A secret placed somewhere in random JSON-like data."""
    secret = draw(secrets)
    name = draw(secret_names)
    extra: tuple[str, ...] = ()
    shape = draw(st.sampled_from(["key", "nested-under-key", "env-record", "text", "declared"]))
    if shape == "key":
        node: Any = {name: secret}
    elif shape == "nested-under-key":
        node = {name: {draw(st.text(max_size=10)): [draw(json_values), secret]}}
    elif shape == "env-record":
        node = {"name": name, "value": secret}
    elif shape == "text":
        node = draw(st.sampled_from([
            f"{name}={secret}", f"Bearer {secret}", f"https://u:{secret}@h/",
            f"https://h/?{name}={secret}",
        ]))
    else:
        node = draw(filler) + secret + draw(filler)
        extra = (secret,)
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            siblings = draw(st.lists(json_values, max_size=3))
            siblings.insert(draw(st.integers(0, len(siblings))), node)
            node = tuple(siblings) if draw(st.booleans()) else siblings
        else:
            mapping = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
            # Landing on a sibling's key replaces it, which is fine.
            mapping[draw(st.text(max_size=10))] = node
            node = mapping
    assume(json.dumps(node).count(secret) == 1)
    return node, secret, extra


@settings(max_examples=1000)
@given(secret_in_data())
def test_secrets_in_data_never_survive(case: tuple[Any, str, tuple[str, ...]]) -> None:
    data, secret, extra = case
    assert secret not in json.dumps(redact_data(data, extra))
    assert secret not in json.dumps(redact_data(data, extra), ensure_ascii=False)


@settings(max_examples=1000)
@given(
    st.lists(st.tuples(st.sampled_from(SECRET_NAMES), secrets), max_size=5),
    st.lists(
        st.tuples(st.sampled_from(ORDINARY_NAMES), st.text(alphabet="abcxyz/ ._-", max_size=10)),
        max_size=5,
    ),
)
def test_redact_pairs_hides_secret_names_only(
    secret_pairs: list[tuple[str, str]], ordinary_pairs: list[tuple[str, str]]
) -> None:
    out = redact_pairs(secret_pairs + ordinary_pairs)
    assert [value for _, value in out[: len(secret_pairs)]] == [REDACTED] * len(secret_pairs)
    assert out[len(secret_pairs):] == ordinary_pairs


TEXT_FRAGMENTS = [
    "token", "TOKEN=", "password: ", '"secret": "', "Bearer ", "bearer\t", "Authorization: Basic ",
    "https://", "u:p@", "?access_token=", "&", "#", "=", ":", '"', "'", " ", "\n", "eyJabcd.",
    "eyJhbGciOi.eyJzdWIiOi.", "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
    "key", "KEYBOARD", "pwd", "PWD=", "session", "dsn", "sig", "[", "]", "{", "}", "/",
]
text_with_triggers = st.lists(
    st.one_of(st.text(max_size=10), st.sampled_from(TEXT_FRAGMENTS)), max_size=15
).map("".join)


@settings(max_examples=1000)
@given(text_with_triggers)
def test_fast_path_never_skips_a_redaction(text: str) -> None:
    assert redact_text(text) == redact._redact_shapes(text)


@settings(max_examples=1000)
@given(text_with_triggers)
def test_redact_text_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


HOSTILE_LENGTH = 100_000
HOSTILE_LINES = {
    "chained assignments": "key " + "a=" * (HOSTILE_LENGTH // 2),
    "one long name": "key=1 " + "a1" * (HOSTILE_LENGTH // 2) + "://@",
    "bracket runs": "token " + "[a" * (HOSTILE_LENGTH // 2),
    "long scheme-like run": "a" * HOSTILE_LENGTH + "://x@y key",
    "jwt-like runs": "eyJ-" * (HOSTILE_LENGTH // 4),
    "repeated bearer": "bearer " * (HOSTILE_LENGTH // 7),
    "unterminated quotes": "secret " + 'a="' * (HOSTILE_LENGTH // 3),
    "repeated pem headers": "-----BEGIN PRIVATE KEY-----" * (HOSTILE_LENGTH // 27),
}


@pytest.mark.parametrize("line", HOSTILE_LINES.values(), ids=HOSTILE_LINES.keys())
def test_hostile_lines_take_linear_time(line: str) -> None:
    # Linear rules take ~0.1 s here; a quadratic one takes tens of seconds.
    started = time.perf_counter()
    redact_text(line)
    assert time.perf_counter() - started < 3.0
