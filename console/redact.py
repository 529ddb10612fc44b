"""Hide secrets in everything watchfloor shows, logs, journals or copies (DESIGN §7).

The rules err on the side of hiding: a value that merely looks secret is replaced
by `REDACTED`, because an operator can always look at the source, while a token
shown on a shared screen or written to a journal cannot be taken back.

Three kinds of evidence are used:

- the *name* a value is stored under (environment variable, label, JSON key, query
  parameter, ``NAME=value`` in a log line), judged by `is_secret_name`;
- the *shape* of the text: credentials in URLs, ``Bearer`` tokens, JWTs, PEM
  private-key blocks;
- values *declared* secret in configuration (``extra_values``).

Pure Python, no Textual or Rich import: headless commands, the journal and the
structured logger use it too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "declare_secret_values",
    "is_secret_name",
    "redact_data",
    "redact_pairs",
    "redact_text",
    "redact_url",
]

REDACTED = "•••••"
"""What a hidden value is replaced with; the same whatever its length."""

MIN_EXTRA_VALUE_LENGTH = 4
"""Declared secret values shorter than this are ignored: replacing every "a" or
"yes" in the text would hide everything and protect nothing."""

# Whole name tokens (after splitting, lower-cased) that make a name secret.
_SECRET_TOKENS = frozenset(
    {
        "token", "tokens", "secret", "secrets",
        "password", "passwords", "passwd", "pass", "pwd", "passphrase",
        "key", "keys", "apikey", "privatekey",
        "credential", "credentials", "creds",
        "auth", "authorization",
        "dsn", "cookie", "cookies", "session", "sessions",
        "jwt", "bearer", "signature", "sig",
    }
)
# Tokens that end like this are secret too, for names written as one word
# ("APIKEY", "clientsecret", "authtoken"). "key" is deliberately not a suffix:
# "hotkey" and "monkey" are not secrets.
_SECRET_SUFFIXES = (
    "token", "tokens", "secret", "secrets", "password", "passwd", "passphrase",
    "credential", "credentials",
    "apikey", "accesskey", "secretkey", "privatekey", "signingkey", "encryptionkey",
)
# Secret word sequences, looked for in the name with its separators removed.
_SECRET_PHRASES = ("connectionstring",)
# Names that contain a secret token but are well known not to be secret: the shell
# keeps the working directory in PWD.
_NOT_SECRET = frozenset({"pwd", "oldpwd"})

# Lower-case substrings at least one of which occurs in every secret name, URL
# credential, bearer token, JWT and PEM key that the rules below can find. Text
# containing none of them is returned after only the `extra_values` pass.
_TRIGGERS = (
    "token", "secret", "pass", "pwd", "key", "cred", "auth", "dsn", "cookie",
    "session", "jwt", "bearer", "sig", "connection", "eyj", "://",
)

_NAME_SPLIT = re.compile(r"[^A-Za-z0-9]+")
# camelCase and ACRONYMWord boundaries: "apiKey" -> api, Key; "APIKey" -> API, Key.
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def is_secret_name(name: str) -> bool:
    """Tell whether a value stored under this name should be hidden.

    The rule: the name is split into words at every character that is not an ASCII
    letter or digit (``_``, ``-``, ``.``, ``/``, ``:``, spaces, brackets...) and at
    camelCase boundaries (``apiKey``, ``APIKey``), then lower-cased; each part is
    also taken whole, so odd casing (``aPi_KeY``) does not hide a word. The name
    is secret when

    - a word is one of token(s), secret(s), password(s), passwd, pass, pwd,
      passphrase, key(s), apikey, privatekey, credential(s), creds, auth,
      authorization, dsn, cookie(s), session(s), jwt, bearer, signature, sig; or
    - a word ends with token, secret, password, passwd, passphrase, credential,
      apikey, accesskey, secretkey, privatekey, signingkey or encryptionkey
      (``AUTHTOKEN``, ``clientsecret``); or
    - the name without its separators contains ``connectionstring``;

    except for exactly ``PWD`` and ``OLDPWD``, which the shell uses for paths.
    Case never matters. So ``API_KEY``, ``apiKey``, ``AWS_SECRET_ACCESS_KEY``,
    ``DB_PASS``, ``MYSQL_PWD``, ``Authorization``, ``SENTRY_DSN`` and
    ``ConnectionString`` are secret; ``KEYBOARD_LAYOUT``, ``hotkey``, ``MONKEY``,
    ``PATH``, ``PWD`` and ``NODE_VERSION`` are not. Certificates are public, so
    ``TLS_CERT`` is not secret, while ``TLS_KEY`` is. Names that merely mention
    a secret (``PASSWORD_MIN_LENGTH``, ``SESSION_TIMEOUT``) are hidden too: the
    rule prefers hiding a harmless value to showing a secret.

    Args:
        name: An environment variable, label, header, JSON key or query parameter
            name.

    Returns:
        True when values under this name must be redacted.
    """
    # Names repeat (env vars, JSON keys, logfmt keys), so answers are cached; only
    # short names, so that hostile log lines cannot fill memory.
    if len(name) <= _CACHED_NAME_LENGTH:
        return _is_secret_name_cached(name)
    return _is_secret_name(name)


_CACHED_NAME_LENGTH = 64


def _is_secret_name(name: str) -> bool:
    if name.strip().lower() in _NOT_SECRET:
        return False
    parts = [part for part in _NAME_SPLIT.split(name) if part]
    # Each part whole as well as split at camelCase: "aPi_KeY" is odd camelCase
    # but still API_KEY in odd case.
    words = [part.lower() for part in parts]
    words += [word.lower() for part in parts for word in _NAME_WORDS.findall(part)]
    for word in words:
        if word in _SECRET_TOKENS or word.endswith(_SECRET_SUFFIXES):
            return True
    squashed = "".join(parts).lower()
    return any(phrase in squashed for phrase in _SECRET_PHRASES)


_is_secret_name_cached = functools.lru_cache(maxsize=4096)(_is_secret_name)


# scheme://userinfo@ — userinfo runs to the last '@' before the host, because
# people do write unencoded '@' in passwords.
# The scheme length is capped so a long run of letters costs linear, not quadratic,
# time.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://)(?P<userinfo>[^\s/?#\"'<>]+)@"
)
# Where an unquoted value ends, shared by query parameters and assignments so that
# redacting twice changes nothing.
_BARE_VALUE_END = r"""\s,;&"'<>(){}\[\]"""
# ?name=value, &name=value and #name=value (OAuth implicit flow puts tokens in the
# fragment).
_QUERY_PARAM = re.compile(
    rf"(?P<lead>[?&#])(?P<name>[^=&#\s\"'<>?]+)=(?P<value>[^#{_BARE_VALUE_END}]*)"
)
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-.~%]{20,}")


def _looks_like_token(value: str) -> bool:
    # A user name put where a token goes ("https://<token>@github.com"): long,
    # letters and digits mixed. "git", "postgres" and "deploy" stay visible.
    return (
        _TOKEN_LIKE.fullmatch(value) is not None
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


def _hide_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"]
    user, colon, password = userinfo.partition(":")
    if _looks_like_token(user):
        user = REDACTED
    if colon and password:
        password = REDACTED
    return f"{scheme}{user}{colon}{password}@"


def _hide_query_value(match: re.Match[str]) -> str:
    if match["value"] and is_secret_name(match["name"]):
        return f"{match['lead']}{match['name']}={REDACTED}"
    return match[0]


def redact_url(text: str) -> str:
    """Hide credentials in every URL in the text.

    ``scheme://user:password@host`` keeps the user and hides the password
    (``scheme://user:•••••@host``); a user part that looks like a token (20 or more
    URL-safe characters mixing letters and digits, as in
    ``https://<token>@github.com``) is hidden too. Query and fragment parameters
    whose names are secret-like (`is_secret_name`) keep their name and lose their
    value: ``?token=abc&page=2`` becomes ``?token=•••••&page=2``.

    Args:
        text: Any text; URLs are found wherever they are.

    Returns:
        The text with URL credentials replaced by `REDACTED`.
    """
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(_hide_userinfo, text)
    if "=" in text:
        text = _QUERY_PARAM.sub(_hide_query_value, text)
    return text


_PEM_PRIVATE_KEY = re.compile(
    r"(?P<begin>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)"
    r"(?:.*?(?P<end>-----END [A-Z0-9 ]*PRIVATE KEY-----)|.*)",
    re.DOTALL,
)
# "Bearer Bearer <token>" is a common client bug; the token follows the last
# "bearer". (A lookahead, not a repetition: "bearer bearer bearer ..." would make a
# repetition quadratic.)
_BEARER = re.compile(
    r"(?P<scheme>\bbearer\s+)(?!bearer\b)[A-Za-z0-9\-._~+/=]+", re.IGNORECASE
)
# JWTs start with a base64url '{"' header, which is "eyJ".
_JWT = re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
# NAME=value, NAME: value, "NAME": "value", NAME='value', --name=value, name => value,
# and JSON escaped inside a JSON string (\"NAME\":\"value\"), common in log
# lines. Separators stay on one line: "password:" at the end of a YAML line must not
# take the next line's first word.
#
# Names and values are matched separately, and a value only after a secret name:
# then every character is looked at a bounded number of times, and a hostile line
# ("a=a=a=...", "a1a1a1...") cannot make redaction quadratic. For the same reason a
# name starts only where a run of name characters starts (the lookbehind sits after
# the first character so the regex engine can still skip to candidate characters)
# and is taken whole (possessive; no separator character can be part of a name).
# Brackets ("user[password]") are allowed only in pairs after the first run, so
# that a name can start right after a bracket an unquoted value stopped at.
_NAME_CHARS = r"A-Za-z0-9_.\-/"
_ASSIGNMENT_NAME = re.compile(
    rf"""(?P<name>[{_NAME_CHARS}](?<![{_NAME_CHARS}].)[{_NAME_CHARS}]*+
                  (?:\[[{_NAME_CHARS}]*+\])*+)
        (?P<sep>(?:\\*["'])?[ \t]*[:=]>?[ \t]*)""",
    re.VERBOSE,
)
# A quoted string (escaped quotes, as in JSON inside JSON, included), or an unquoted
# run that may start with HTTP auth schemes ("Authorization: Basic dXNl...").
_ASSIGNMENT_VALUE = re.compile(
    rf"""(?P<open>\\+["'])(?:(?!(?P=open))[^\n])*(?P=open)?
      | (?P<open_double>")(?:[^"\\\n]|\\.)*"?
      | (?P<open_single>')[^'\n]*'?
      | (?P<scheme>(?:(?i:basic|bearer|digest|token|negotiate|ntlm)[ \t]+)+)?
        [^{_BARE_VALUE_END}]+""",
    re.VERBOSE,
)


def _hide_pem(match: re.Match[str]) -> str:
    return f"{match['begin']}{REDACTED}{match['end'] or ''}"


def _redact_assignments(text: str) -> str:
    # After a name that is not secret, scanning resumes right after its separator:
    # its value may hold assignments of its own ("opts=password=x",
    # 'args="--token=x"').
    out: list[str] = []
    position = 0
    search_name = _ASSIGNMENT_NAME.search
    match_value = _ASSIGNMENT_VALUE.match
    while (name_match := search_name(text, position)) is not None:
        value_start = name_match.end()
        if not is_secret_name(name_match["name"]):
            out.append(text[position:value_start])
            position = value_start
            continue
        value = match_value(text, value_start)
        if value is None:  # "password:" with nothing after it on the line
            out.append(text[position:value_start])
            position = value_start
            continue
        out.append(text[position:value_start])
        quote = value["open"] or value["open_double"] or value["open_single"]
        if quote:
            closed = len(value[0]) > len(quote) and value[0].endswith(quote)
            out.append(f"{quote}{REDACTED}{quote if closed else ''}")
        else:
            out.append(f"{value['scheme'] or ''}{REDACTED}")
        position = value.end()
    out.append(text[position:])
    return "".join(out)


def _redact_extra_values(text: str, values: Iterable[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def _redact_shapes(text: str, lowered: str | None = None) -> str:
    if lowered is None:
        lowered = text.lower()
    if "PRIVATE KEY-----" in text:
        text = _PEM_PRIVATE_KEY.sub(_hide_pem, text)
    text = redact_url(text)
    # Assignments before bearer tokens: in "Bearer TOKEN: x" the bearer rule would
    # take "TOKEN" for the credential and leave x for nobody to find.
    if ":" in text or "=" in text:
        text = _redact_assignments(text)
    if "bearer" in lowered:
        text = _BEARER.sub(rf"\g<scheme>{REDACTED}", text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    return text


_declared: tuple[str, ...] = ()
"""Values declared secret for this whole process (`declare_secret_values`)."""


def declare_secret_values(values: Iterable[str]) -> None:
    """Hide these values everywhere from now on: every `redact_text`,
    `redact_pairs` and `redact_data` call treats them as if passed in
    ``extra_values``.

    The config's ``secrets:`` names environment variables; their values are known
    only once the config is loaded, long after the journal, the structured logger
    and the views were written, so they are declared once here rather than passed
    through every caller. A later call replaces the earlier set.

    Args:
        values: The secret values; empty ones and ones shorter than
            `MIN_EXTRA_VALUE_LENGTH` are ignored.
    """
    global _declared
    _declared = tuple(_usable(values))


def _usable(values: Iterable[str]) -> list[str]:
    return sorted(
        {v for v in values if isinstance(v, str) and len(v) >= MIN_EXTRA_VALUE_LENGTH},
        key=len,
        reverse=True,  # longest first, so a value containing another goes whole
    )


def redact_text(text: str, extra_values: Iterable[str] = ()) -> str:
    """Hide secrets in free text: a log line, an event message, an error.

    Applies, in order: literal replacement of each of `extra_values` and of the
    values given to `declare_secret_values` (values of fewer than
    `MIN_EXTRA_VALUE_LENGTH` characters are ignored); PEM private-key
    bodies; `redact_url`; assignments whose name is secret-like
    (`is_secret_name`) in the forms ``NAME=value``, ``NAME: value``,
    ``"NAME": "value"``, ``NAME='value'``, ``name => value`` and JSON escaped
    inside a JSON string, where an HTTP auth scheme is kept
    (``Authorization: Basic •••••``); ``Bearer <token>`` anywhere; JWTs. Names
    and quotes stay, so the text keeps its shape.

    Text containing none of a few trigger substrings (``key``, ``token``, ``pass``,
    ``://``...) skips everything but the `extra_values` pass.

    Args:
        text: Untrusted or sensitive text.
        extra_values: Values declared secret in configuration.

    Returns:
        The text with every secret it can recognise replaced by `REDACTED`.
    """
    if extra_values:
        text = _redact_extra_values(text, _usable((*_declared, *extra_values)))
    elif _declared:
        text = _redact_extra_values(text, _declared)
    lowered = text.lower()
    for trigger in _TRIGGERS:
        if trigger in lowered:
            return _redact_shapes(text, lowered)
    return text


def redact_pairs(
    pairs: Iterable[tuple[str, str]], extra_values: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Hide secrets in name/value pairs such as environment variables and labels.

    A value whose name is secret-like (`is_secret_name`) becomes `REDACTED`
    whatever it is, even empty, so not even its length or emptiness shows; any
    other value goes through `redact_text` (it may hold a URL with a password).

    Args:
        pairs: ``(name, value)`` pairs.
        extra_values: Values declared secret in configuration.

    Returns:
        The pairs, in order, with values redacted.
    """
    extra = tuple(extra_values)
    return [
        (name, REDACTED if is_secret_name(name) else redact_text(value, extra))
        for name, value in pairs
    ]


def redact_data(obj: Any, extra_values: Iterable[str] = ()) -> Any:
    """Hide secrets in JSON-like data: command output, journal entries, copied status.

    Walks dicts (any `Mapping`), lists and tuples. Strings go through
    `redact_text`, dict keys included. Everything under a secret-like key
    (`is_secret_name`) is hidden: every string and number in it, however deeply
    nested, becomes `REDACTED` (``{"credentials": {"user": "bob"}}`` hides
    ``bob``), while keys, ``None`` and booleans stay so the structure can still be
    read. Two shapes common in Docker and Kubernetes output are recognised too:

    - name/value records, ``{"name": "DB_PASSWORD", "value": "..."}`` (Kubernetes
      env) or ``{"Key": ..., "Value": ...}`` (tags): the value is hidden when the
      name is secret-like;
    - Kubernetes Secrets, ``{"kind": "Secret", "data": {...}}``: all of ``data`` and
      ``stringData`` is hidden, whatever the keys.

    Other objects are returned as they are.

    Args:
        obj: The data; it is not modified.
        extra_values: Values declared secret in configuration.

    Returns:
        A redacted copy: dicts for mappings, lists for lists, tuples for tuples.
    """
    return _redact_data(obj, tuple(extra_values), False)


_RECORD_NAME_KEYS = frozenset({"name", "key"})
_RECORD_VALUE_KEY = "value"
_K8S_SECRET_PAYLOAD_KEYS = frozenset({"data", "stringdata"})


def _secret_keys_of(mapping: Mapping[Any, Any]) -> set[Any]:
    """The keys of `mapping` whose values are secret by name or by context."""
    secret_keys: set[Any] = set()
    record_is_secret = False
    is_k8s_secret = False
    for key, value in mapping.items():
        if not isinstance(key, str):
            continue
        if is_secret_name(key):
            secret_keys.add(key)
        folded = key.lower()
        if folded in _RECORD_NAME_KEYS and isinstance(value, str) and is_secret_name(value):
            record_is_secret = True
        elif folded == "kind" and value == "Secret":
            is_k8s_secret = True
    for key in mapping:
        if not isinstance(key, str):
            continue
        folded = key.lower()
        if (record_is_secret and folded == _RECORD_VALUE_KEY) or (
            is_k8s_secret and folded in _K8S_SECRET_PAYLOAD_KEYS
        ):
            secret_keys.add(key)
    return secret_keys


def _redact_data(obj: Any, extra: tuple[str, ...], secret: bool) -> Any:
    if isinstance(obj, str):
        return REDACTED if secret else redact_text(obj, extra)
    if isinstance(obj, Mapping):
        secret_keys = _secret_keys_of(obj)
        return {
            (redact_text(key, extra) if isinstance(key, str) else key): _redact_data(
                value, extra, secret or key in secret_keys
            )
            for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [_redact_data(item, extra, secret) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_redact_data(item, extra, secret) for item in obj)
    if secret and isinstance(obj, (int, float, bytes)) and not isinstance(obj, bool):
        return REDACTED
    return obj
