"""Find, read and validate runbook files; errors read exactly like config errors.

Built-in runbooks ship in the ``runbooks`` package; user runbooks come from the
config's ``runbooks_dir`` and replace a built-in of the same ``name``. A broken
file is reported (``file:line:col: field: message (fix: …)``) and never hides the
other runbooks.

No Textual here: headless commands import this module.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from console.runbook.schema import (
    _STEP_MODELS,
    GATE_TYPES,
    PLUGIN_STEP_TAG,
    STEP_KINDS,
    Param,
    Runbook,
    RunbookInvalid,
    did_you_mean,
    step_model,
)
from console.yaml_source import (
    DOCUMENT_FIELD,
    FILE_FIELD,
    MAX_BYTES,
    SYNTAX_FIELD,
    ConfigError,
    ConfigProblem,
    YamlDocument,
    format_path,
    parse_yaml,
    printable,
)

__all__ = [
    "LoadedRunbook",
    "RunbookSet",
    "builtin_runbooks_dir",
    "load_runbook",
    "load_runbook_file",
    "load_runbooks",
    "parse_runbook",
    "problems_from_runbook_error",
]

RUNBOOK_SUFFIXES = (".yaml", ".yml")

Source = Literal["builtin", "user"]


@dataclass(frozen=True)
class LoadedRunbook:
    """A validated runbook and where it came from.

    Attributes:
        runbook: The runbook.
        path: Its file.
        sha256: Hex SHA-256 of the file's bytes, so a journal names exactly the
            text that ran.
        source: ``builtin`` or ``user``.
        replaces: The built-in file this user runbook overrides, if any.
    """

    runbook: Runbook
    path: Path
    sha256: str
    source: Source
    replaces: Path | None = None

    @property
    def name(self) -> str:
        return self.runbook.name

    @property
    def ref(self) -> str:
        """``name@sha256``, as the journal records it."""
        return f"{self.runbook.name}@{self.sha256}"


@dataclass(frozen=True)
class RunbookSet:
    """Every runbook that loaded, and what was wrong with the files that did not.

    Attributes:
        runbooks: By name, sorted by name.
        problems: Located problems of the files that were skipped.
    """

    runbooks: dict[str, LoadedRunbook] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)

    def get(self, name: str) -> LoadedRunbook | None:
        return self.runbooks.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.runbooks

    def __iter__(self):  # noqa: ANN204
        return iter(self.runbooks.values())

    def __len__(self) -> int:
        return len(self.runbooks)


def builtin_runbooks_dir() -> Path:
    """The directory of the built-in runbooks (package data of ``runbooks``)."""
    return Path(str(importlib.resources.files("runbooks")))


# --- loading ------------------------------------------------------------------------------


def parse_runbook(source: str | bytes, *, file: str = "<runbook>") -> Runbook:
    """Parse and validate runbook text.

    Args:
        source: YAML text, or bytes that should be UTF-8.
        file: Name to put in problems.

    Raises:
        ConfigError: With every problem found, each located.
    """
    try:
        document = parse_yaml(source, file)
    except ConfigError as exc:
        text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
        raise ConfigError(_explain_unquoted_templates(exc.problems, text)) from None
    return _validate(document)


def _read(path: Path) -> bytes:
    def fail(message: str, hint: str) -> ConfigError:
        return ConfigError([ConfigProblem(str(path), None, None, FILE_FIELD, message, hint)])

    try:
        with open(path, "rb") as stream:
            # One byte past the limit, so parse_yaml reports an oversized file.
            return stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise fail("no such file", "check the runbook's path, or 'watchfloor runbook list' for names") from None
    except IsADirectoryError:
        raise fail("this is a directory, not a file", "name the runbook's YAML file") from None
    except PermissionError:
        raise fail("permission denied", "make the file readable by this user") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"cannot read the file: {printable(reason, 200)}", "check the path") from None


def load_runbook_file(path: Path | str, source: Source = "user") -> LoadedRunbook:
    """Read and validate one runbook file.

    Raises:
        ConfigError: With every problem found.
    """
    path = Path(path)
    raw = _read(path)
    runbook = parse_runbook(raw, file=str(path))
    return LoadedRunbook(runbook, path, hashlib.sha256(raw).hexdigest(), source)


def load_runbook(path: Path | str) -> Runbook:
    """Read and validate one runbook file.

    Raises:
        ConfigError: With every problem found.
    """
    return load_runbook_file(path).runbook


def _runbook_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in RUNBOOK_SUFFIXES and not path.name.startswith(".") and not path.is_dir()
    )


def _load_dir(directory: Path, source: Source, problems: list[ConfigProblem]) -> dict[str, LoadedRunbook]:
    found: dict[str, LoadedRunbook] = {}
    try:
        files = _runbook_files(directory)
    except FileNotFoundError:
        problems.append(
            ConfigProblem(str(directory), None, None, "runbooks_dir", "no such directory", "create it, or fix runbooks_dir")
        )
        return found
    except NotADirectoryError:
        problems.append(
            ConfigProblem(
                str(directory), None, None, "runbooks_dir", "this is a file, not a directory", "name the directory"
            )
        )
        return found
    except OSError as exc:
        problems.append(
            ConfigProblem(
                str(directory), None, None, "runbooks_dir", f"cannot list the directory: {exc.strerror}", "check it"
            )
        )
        return found
    for path in files:
        try:
            loaded = load_runbook_file(path, source)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        earlier = found.get(loaded.name)
        if earlier is not None:
            problems.append(
                ConfigProblem(
                    str(path),
                    1,
                    1,
                    "name",
                    f"runbook name '{loaded.name}' is already used by {earlier.path.name}; this file was skipped",
                    "give each runbook file its own name:",
                )
            )
            continue
        found[loaded.name] = loaded
    return found


def load_runbooks(builtin_dir: Path | None = None, user_dir: Path | None = None) -> RunbookSet:
    """Load the built-in runbooks, then the user's, which replace built-ins by name.

    Args:
        builtin_dir: Where the built-ins are; `builtin_runbooks_dir` when None.
        user_dir: The config's ``runbooks_dir``, or None.

    Returns:
        Every runbook that loaded, and the problems of every file that did not.
    """
    problems: list[ConfigProblem] = []
    runbooks = _load_dir(builtin_dir or builtin_runbooks_dir(), "builtin", problems)
    if user_dir is not None:
        for name, loaded in _load_dir(Path(user_dir), "user", problems).items():
            replaced = runbooks.get(name)
            if replaced is not None:
                loaded = LoadedRunbook(loaded.runbook, loaded.path, loaded.sha256, "user", replaced.path)
            runbooks[name] = loaded
    return RunbookSet(dict(sorted(runbooks.items())), problems)


def _validate(document: YamlDocument) -> Runbook:
    if document.data is None:
        raise ConfigError(
            [
                ConfigProblem(
                    document.file,
                    1,
                    1,
                    DOCUMENT_FIELD,
                    "the runbook file is empty",
                    "start it with name:, title: and steps:",
                )
            ]
        )
    try:
        return Runbook.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_runbook_error(exc, document)) from None


def _explain_unquoted_templates(problems: list[ConfigProblem], text: str) -> list[ConfigProblem]:
    lines = text.splitlines()
    out = []
    for problem in problems:
        line = lines[problem.line - 1] if problem.line and 0 < problem.line <= len(lines) else ""
        if problem.field == SYNTAX_FIELD and re.search(r":\s*\[?\s*\{\{", line):
            problem = ConfigProblem(
                problem.file,
                problem.line,
                problem.column,
                problem.field,
                "a value starting with {{ reads as a YAML mapping, not as a placeholder",
                'quote it: key: "{{ name }}"',
            )
        out.append(problem)
    return out


# --- translating pydantic errors ----------------------------------------------------------

_EXAMPLES = {
    "name": "name: deploy",
    "title": "title: Deploy a new image",
    "description": "description: what this runbook is for",
    "progress_deadline": "progress_deadline: 15m",
    "params": "params: followed by one 'NAME: {type: str}' per param",
    "steps": "steps: followed by one '- id: NAME' item per step",
    "type": "type: str",
    "default": "default: VALUE",
    "help": "help: one line about the param",
    "choices": "choices: [first, second]",
    "required": "required: true",
    "id": "id: a-short-name (unique in this runbook)",
    "kind": "kind: action",
    "timeout": "timeout: 5m",
    "on_fail": "on_fail: abort",
    "verb": "verb: deploy",
    "image": 'image: "{{ image }}"',
    "strategy": "strategy: auto",
    "to_revision": "to_revision: 3",
    "replicas": 'replicas: "{{ replicas }}"',
    "expect": "expect: healthy",
    "within": "within: 2m",
    "stable_for": "stable_for: 10s",
    "duration": "duration: 30s",
    "skippable": "skippable: false",
    "instructions": "instructions: | followed by Markdown",
    "checklist": "checklist: [first thing, second thing]",
    "prompt": "prompt: Continue?",
    "run": "run: ./scripts/check.sh",
    "shell": "shell: /bin/sh",
}


def _example(name: str) -> str:
    return _EXAMPLES.get(name, f"{name}: VALUE")


def _show(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{printable(value, 60)}'"
    if isinstance(value, (int, float)):
        return printable(repr(value), 60)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__} value"


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """The error location as a path in the file: pydantic's union tags removed."""
    path: list[Any] = []
    for part in loc:
        if part == "[key]":
            break  # the key itself is wrong; its mark is the entry's
        is_key = isinstance(data, dict) and part in data
        if not is_key and isinstance(data, dict):
            # pydantic reports a YAML key like 1 or null as "1" / "None".
            real = next((key for key in data if str(key) == str(part)), None)
            if real is not None:
                part, is_key = real, True
        if isinstance(part, str) and (part in _STEP_MODELS or part == PLUGIN_STEP_TAG) and not is_key:
            continue  # the step model pydantic picked ("action", "gate:health")
        path.append(part)
        if is_key:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            data = None
    return tuple(path)


def _value_at(path: tuple[Any, ...], data: Any) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _model_at(path: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    if not path:
        return Runbook
    if len(path) == 2 and path[0] == "params":
        return Param
    if len(path) == 2 and path[0] == "steps":
        return step_model(_value_at(path, data))
    return None


def _step_kind_problem(document: YamlDocument, path: tuple[Any, ...], value: Any) -> ConfigProblem:
    kinds = ", ".join(STEP_KINDS)
    if not isinstance(value, dict):
        return document.problem(
            path, f"each step must be a mapping, got {_show(value)}", "write '- id: NAME' and indent kind: … under it"
        )
    kind = value.get("kind")
    if kind is None:
        return document.problem(path, "this step has no kind", f"add kind: with one of: {kinds}")
    if kind == "gate":
        gate_type = value.get("type")
        where = path + ("type",)
        suggestion = did_you_mean(gate_type, GATE_TYPES)
        also = f"did you mean type: {suggestion}? " if suggestion else ""
        return document.problem(
            where, f"unknown gate type {_show(gate_type)}", f"{also}use type: {' or '.join(GATE_TYPES)}"
        )
    from console.plugins import STEP_GROUP, describe_kinds, discover

    suggestion = did_you_mean(kind, [*STEP_KINDS, *discover().steps])
    also = f"did you mean kind: {suggestion}? " if suggestion else ""
    message = f"unknown step kind {_show(kind)}" if isinstance(kind, str) else f"kind must be text, got {_show(kind)}"
    plugins = "" if suggestion else f" ({describe_kinds(STEP_GROUP, kind)})"
    return document.problem(path + ("kind",), message, f"{also}use one of: {kinds}{plugins}")


def _translate(error: Any, document: YamlDocument) -> list[ConfigProblem]:
    kind = error["type"]
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    value = error.get("input")
    cause = ctx.get("error")
    data = document.data
    path = _data_path(loc, data)
    if kind == "value_error" and isinstance(cause, RunbookInvalid):
        return [
            document.problem(path + complaint.loc, complaint.message, complaint.hint) for complaint in cause.complaints
        ]
    if kind == "step_kind":
        return [_step_kind_problem(document, path, value)]
    name = next((str(part) for part in reversed(path) if isinstance(part, str)), "value")
    field_name = format_path(path)

    def at(message: str, hint: str, where: tuple[Any, ...] = path) -> list[ConfigProblem]:
        return [document.problem(where, message, hint, field=field_name)]

    if kind == "missing":
        return at(f"missing required key '{name}'", f"add {_example(name)}", path[:-1])
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], data)
        allowed = list(model.model_fields) if model is not None else []
        key = path[-1] if path else value
        owners = sorted(
            {tag.split(":")[0] for tag, other in _STEP_MODELS.items() if other is not model and key in other.model_fields}
        )
        suggestion = did_you_mean(key, allowed)
        if suggestion is not None:
            hint = f"did you mean '{suggestion}'? (allowed here: {', '.join(allowed)})"
        elif owners and len(path) == 3 and path[0] == "steps":
            hint = f"'{key}' belongs to kind: {' or '.join(owners)} steps; remove it here"
        else:
            hint = f"remove it; allowed here: {', '.join(allowed)}" if allowed else "remove it"
        return at(f"unknown key {_show(key) if not isinstance(key, str) else repr(printable(key, 60))}", hint)
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        suggestion = did_you_mean(value, allowed)
        hint = f"use one of: {', '.join(allowed)}"
        if suggestion is not None:
            hint = f"did you mean '{suggestion}'? {hint}"
        return at(f"{_show(value)} is not a valid {name}", hint)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if not path:
            return at(
                f"a runbook file must be a mapping, got {_show(value)}", "start it with name:, title: and steps:"
            )
        return at(f"{name} must be a mapping, got {_show(value)}", f"write {_example(name)}")
    if kind == "list_type":
        return at(f"{name} must be a list, got {_show(value)}", f"write {_example(name)}")
    if kind == "string_too_short":
        return at(f"{name} is empty", f"write {_example(name)}")
    if kind == "too_short" and name == "steps":
        return at("a runbook needs at least one step", "add a step under steps:")
    if kind in ("bool_type", "bool_parsing"):
        return at(f"{name} must be true or false, got {_show(value)}", f"write {name}: true or {name}: false")
    if kind in ("string_type", "string_sub_type"):
        if loc and loc[-1] == "[key]":
            return at(f"key {_show(value)} is not a name", "use a name such as image_tag")
        return at(f"{name} must be text, got {_show(value)}", f"write {_example(name)} (quote it if in doubt)")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return at(f"{name} must be a whole number, got {_show(value)}", f"write {_example(name)}")
    if kind == "value_error":
        message = str(cause) if cause is not None else error["msg"]
        return at(printable(message, 200), f"write {_example(name)}")
    return at(f"{name}: {printable(error['msg'], 200)}", f"write {_example(name)}")


def problems_from_runbook_error(error: ValidationError, document: YamlDocument) -> list[ConfigProblem]:
    """Translate a pydantic error from `Runbook` validation into located problems.

    Args:
        error: What ``Runbook.model_validate(document.data)`` raised.
        document: The parsed file, for positions.

    Returns:
        One problem per mistake, in file order, without repeats.
    """
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        for problem in _translate(item, document):
            if problem not in problems:
                problems.append(problem)
    problems.sort(key=lambda p: (p.line is None, p.line or 0, p.column or 0))
    return problems
