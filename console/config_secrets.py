"""Find secrets written literally into a config file, and decide what that costs.

The config holds references to secrets (``${VAR}``, ``file:/path``), never the
secrets. Fields that exist only to carry a credential (``bearer_token``) already
refuse anything but a reference, whatever the file. This module looks for the
places a literal secret can still sit:

- a value under a key named like a credential: a Prometheus header such as
  ``X-Api-Key`` or ``Private-Token``, or ``bearer_token`` itself;
- a URL with ``user:password@`` anywhere (Prometheus ``url``, Docker ``host``);
- text with the shape of a credential anywhere, comments included: a PEM private
  key, a JWT, ``Bearer <token>``/``Basic <token>``, or a provider token with a
  well-known prefix (``ghp_``, ``glpat-``, ``xoxb-``, ``AKIA…``, ``sk_live_`` …);
- a header value or a ``secrets:`` entry that looks like a random token (long,
  letters and digits, mixed case or long hex) — ``secrets:`` lists variable
  *names*, and a token pasted there would sit in the file in clear.

What happens then depends on who else can read the file (`check_file`): group- or
world-readable (``st_mode & 0o077``) means the secret is already exposed to other
accounts on the host, so the console refuses to start; a 0600 file is readable only
by its owner, who could read the secret anyway, so that is a warning. (A literal
``bearer_token`` or URL password is refused by validation in any file; in a file
others can read, its hint also says to rotate the secret.) Messages give
file:line, the field, what is wrong and the fix; they never contain the value.

No Textual here: headless commands import this module.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.redact import is_secret_name
from console.yaml_source import ConfigProblem, YamlDocument, YamlPath, format_path

__all__ = ["SecretCheck", "SecretFinding", "check_file", "find_literal_secrets", "is_private", "looks_like_token", "merge_refusals"]

_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_FILE_PREFIX = "file:"

# Shapes that are credentials wherever they appear. Deliberately narrow: a match in
# a group-readable file stops the console, so a false alarm must be rare.
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("a JWT", re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")),

    ("a URL with a password", re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s/?#@:]*:[^\s/?#@]+@")),
    (
        "a provider token",
        re.compile(
            r"(?<![A-Za-z0-9])(?:"
            r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_\-]{20,}"
            r"|xox[abposr]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}"
            r"|[sr]k_live_[A-Za-z0-9]{16,}|sk-[A-Za-z0-9_\-]{32,}|AIza[0-9A-Za-z_\-]{35}"
            r"|npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_\-]{50,}"
            r")"
        ),
    ),
)
# "Basic availability_ratio" in a title is words; a credential mixes case or has digits.
_HTTP_CREDENTIAL = re.compile(r"(?i)\b(?:bearer|basic)\s+(?P<token>[A-Za-z0-9\-._~+/]{12,}=*)")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~+/=]{20,}")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_COMMENT = re.compile(r"(?:^|\s)#")


@dataclass(frozen=True)
class SecretFinding:
    """One literal secret in a config file (its value is not kept).

    Attributes:
        line: 1-based line, None when unknown.
        field: Dotted path of the setting (``environments[0].prometheus.headers.X-Api-Key``),
            or ``(comment)`` for a credential in a comment.
        what: What was found, in words (``a value under a credential name``).
    """

    line: int | None
    field: str
    what: str


def looks_like_token(text: str) -> bool:
    """Whether a bare value has the shape of a random token.

    Twenty or more token characters with a digit and either both letter cases or
    32+ hex digits. Variable names (``PROMETHEUS_TOKEN_2025``), tenant ids
    (``team-a``) and words do not qualify.
    """
    if not _TOKEN_CHARS.fullmatch(text) or not any(ch.isdigit() for ch in text):
        return False
    mixed_case = any(ch.islower() for ch in text) and any(ch.isupper() for ch in text)
    if not (mixed_case or _HEX.fullmatch(text)):
        return False
    # Random text carries about 4+ bits per character; "AbcAbcAbc1..." does not.
    counts = {ch: text.count(ch) for ch in set(text)}
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return entropy >= 3.0


def _is_reference(value: str) -> bool:
    return bool(_ENV_REFERENCE.fullmatch(value)) or (
        value.startswith(_FILE_PREFIX) and bool(value[len(_FILE_PREFIX) :].strip())
    )


def _shape(text: str) -> str | None:
    for what, pattern in _SHAPES:
        if pattern.search(text):
            return what
    for match in _HTTP_CREDENTIAL.finditer(text):
        token = match["token"]
        if any(ch.isdigit() for ch in token) or (token.lower() != token and token.upper() != token):
            return "an HTTP credential (Bearer/Basic)"
    return None


def _strings(data: Any, path: YamlPath = ()) -> Iterator[tuple[YamlPath, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, path + (index,))
    elif isinstance(data, str):
        yield path, data


def _judge(path: YamlPath, value: str) -> str | None:
    if not value.strip() or _is_reference(value):
        return None
    key = path[-1] if path else None
    parent = path[-2] if len(path) >= 2 else None
    if path[:1] == ("secrets",):
        # It lists variable names, so "secrets" is not a credential name here.
        return "a value shaped like a token where a variable name belongs" if looks_like_token(value) else _shape(value)
    if isinstance(key, str) and is_secret_name(key):
        return "a value under a credential name"
    if parent == "headers" and looks_like_token(value):
        return "a header value shaped like a token"
    return _shape(value)


def find_literal_secrets(document: YamlDocument, text: str | None = None) -> list[SecretFinding]:
    """Every place the config holds a secret's value instead of a reference to it.

    Args:
        document: The parsed config.
        text: The file's text, to look in comments too; None skips comments.

    Returns:
        The findings in line order, at most one per setting.
    """
    findings: list[SecretFinding] = []
    lines_with_values: set[int] = set()
    for path, value in _strings(document.data):
        what = _judge(path, value)
        if what is None:
            continue
        mark = document.mark(path)
        line = mark[0] if mark else None
        findings.append(SecretFinding(line, format_path(path), what))
        if line is not None:
            lines_with_values.update(range(line, line + value.count("\n") + 1))
    for number, line_text in enumerate((text or "").splitlines(), start=1):
        comment = _COMMENT.search(line_text)
        if comment is None or number in lines_with_values:
            continue
        what = _shape(line_text[comment.start() :])
        if what is not None:
            findings.append(SecretFinding(number, "(comment)", f"{what} in a comment"))
    findings.sort(key=lambda f: (f.line is None, f.line or 0))
    return findings


def is_private(path: Path) -> bool:
    """Whether only the owner may read the file (no group or other permission bits).

    Symbolic links are followed: the file that is read is the one that counts.
    """
    return stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def _refusal_hint(finding: SecretFinding, file: str) -> str:
    reference = "put the secret in an environment variable or a file and write ${VAR} or file:/path here"
    if finding.field.endswith("bearer_token") or "URL" in finding.what:
        # These settings take only references; chmod alone would not make them valid.
        fix = reference
    else:
        fix = f"{reference}; or, if it must stay in the file, chmod 600 {file}"
    return f"{fix}. Others could read it: rotate the secret"


@dataclass(frozen=True)
class SecretCheck:
    """What `check_file` found.

    Attributes:
        refusals: Problems that stop the console (the file is readable by others).
        warnings: Problems to show and log (the file is private).
    """

    refusals: list[ConfigProblem]
    warnings: list[ConfigProblem]


def check_file(path: Path, document: YamlDocument, text: str | None) -> SecretCheck:
    """Judge the literal secrets in a config file by who else can read it.

    Args:
        path: The config file (its mode is what matters).
        document: The parsed file.
        text: The file's text (for comments).

    Returns:
        Refusals when the file is group- or world-readable and holds a literal
        secret, else warnings; one problem per finding, each with the fix.
    """
    findings = find_literal_secrets(document, text)
    if not findings:
        return SecretCheck([], [])
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o077  # cannot tell who may read it: assume the worst
    shown = document.file
    if mode & 0o077:
        return SecretCheck(
            [
                ConfigProblem(
                    shown,
                    finding.line,
                    None,
                    finding.field,
                    f"{finding.what} is written in the config, and the file is readable by other users "
                    f"(mode {mode:04o}); watchfloor does not start with a secret others can read",
                    _refusal_hint(finding, shown),
                )
                for finding in findings
            ],
            [],
        )
    return SecretCheck(
        [],
        [
            ConfigProblem(
                shown,
                finding.line,
                None,
                finding.field,
                f"{finding.what} is written in the config (the file is private, mode {mode:04o}, so this is a warning)",
                "write ${VAR} or file:/path instead, so the secret is not copied along with the config",
            )
            for finding in findings
        ],
    )


def merge_refusals(problems: list[ConfigProblem], refusals: list[ConfigProblem]) -> list[ConfigProblem]:
    """Validation problems plus refusals, one problem per setting, in file order.

    Where validation already rejects the setting (a literal ``bearer_token``, a URL
    with a password) its own message stays, and the hint gains what the refusal
    adds: others could read the secret, so rotate it.
    """
    merged = list(problems)
    for refusal in refusals:
        index = next((i for i, p in enumerate(merged) if p.field == refusal.field), None)
        if index is None:
            merged.append(refusal)
        else:
            found = merged[index]
            merged[index] = dataclasses.replace(
                found, hint=f"{found.hint}; the file is readable by other users: rotate the secret"
            )
    merged.sort(key=lambda p: (p.line is None, p.line or 0, p.column or 0))
    return merged
