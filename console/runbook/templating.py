"""Params from the operator, and placeholders filled in with them (DESIGN §5).

`bind_params` turns ``--set name=value`` text (or a params form) into typed
values; `render` puts those values, plus the built-in names the executor knows
(``workload``, ``environment``, ``current_version``, ``current_image``,
``run_id``, ``actor``), into a runbook's steps.

This is a regular-expression substitution, never ``eval`` and never Jinja: a
value is data, so a ``{{ name }}`` inside a value stays as it is, and values
filled into a command step's ``run`` are shell-quoted.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from console.runbook.schema import (
    BUILTIN_NAMES,
    PLACEHOLDER,
    CommandStep,
    Param,
    Runbook,
    RunbookInvalid,
    coerce_param,
    did_you_mean,
    format_duration,
    parse_duration_value,
    whole_placeholder,
)
from console.yaml_source import format_path, printable

__all__ = ["ParamError", "ParamProblem", "ParamValue", "bind_params", "render", "render_text"]

ParamValue = str | int | None
"""A bound value: int for int params, canonical text (``1m30s``) for durations,
text otherwise, None for an optional param left unset."""


@dataclass(frozen=True)
class ParamProblem:
    """One param the operator has to fix.

    Attributes:
        param: The param's name (or the step field, for a value that made a step
            invalid once filled in).
        message: What is wrong.
        hint: What to type instead.
    """

    param: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{printable(self.param)}: {printable(self.message)} (fix: {printable(self.hint)})"


class ParamError(ValueError):
    """Params that cannot start a run: missing, unknown, or of the wrong type.

    Attributes:
        problems: Every problem found, in the order the params are declared.
    """

    def __init__(self, problems: list[ParamProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def _set_hint(name: str, param: Param) -> str:
    example = {
        "int": "3",
        "duration": "5m",
        "image": "registry.example.com/web:1.5.0",
        "choice": (param.choices or ["VALUE"])[0],
        "str": "VALUE",
    }[param.type]
    if param.type == "choice":
        return f"--set {name}=VALUE with one of: {', '.join(param.choices or [])}"
    return f"--set {name}={example}"


def bind_params(runbook: Runbook, raw: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Check the operator's values against the runbook's params and fill in defaults.

    Args:
        runbook: The runbook to run.
        raw: ``--set`` values by name, as text (ints are accepted too, from a form).

    Returns:
        A value for every declared param, in declaration order: the operator's
        (converted: int, canonical duration text), else the default, else None
        for an optional param.

    Raises:
        ParamError: Listing every unknown name, missing required param and value
            of the wrong type, each with what to type instead.
    """
    problems: list[ParamProblem] = []
    for name in raw:
        if name in runbook.params:
            continue
        shown = printable(str(name), 60)
        if name in BUILTIN_NAMES:
            flag = {"workload": "--workload", "environment": "--env"}.get(name)
            hint = f"use {flag} instead" if flag else "remove it: watchfloor fills it in"
            problems.append(ParamProblem(shown, f"'{shown}' is a built-in name, not a param", hint))
            continue
        takes = ", ".join(runbook.params) or "no params"
        suggestion = did_you_mean(name, runbook.params)
        also = f"did you mean '{suggestion}'? " if suggestion else ""
        problems.append(
            ParamProblem(shown, f"runbook '{runbook.name}' has no param '{shown}'", f"{also}it takes: {takes}")
        )
    values: dict[str, ParamValue] = {}
    for name, param in runbook.params.items():
        if name not in raw or raw[name] is None:
            if param.default is not None:
                values[name] = param.default
            elif param.required:
                about = f" ({param.help})" if param.help else ""
                problems.append(ParamProblem(name, f"missing required param{about}", f"add {_set_hint(name, param)}"))
            else:
                values[name] = None
            continue
        value = raw[name]
        if isinstance(value, str) and not value.strip() and param.type != "str":
            if param.required:
                problems.append(ParamProblem(name, "the value is empty", f"write {_set_hint(name, param)}"))
                continue
            values[name] = param.default
            continue
        try:
            values[name] = coerce_param(param, value.strip() if isinstance(value, str) and param.type != "str" else value)
        except ValueError as exc:
            problems.append(ParamProblem(name, printable(str(exc), 200), f"write {_set_hint(name, param)}"))
    if problems:
        raise ParamError(problems)
    return values


def _text_of(value: ParamValue | timedelta) -> str:
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return format_duration(value)
    return str(value)


def render_text(text: str, values: Mapping[str, Any], *, shell_quote: bool = False) -> str:
    """Fill ``{{ name }}`` placeholders in one string.

    One pass: text that a value brings in is never searched for placeholders.

    Args:
        text: Text from a runbook.
        values: Bound params plus built-ins; None fills in as an empty string.
        shell_quote: Quote each value for a POSIX shell (command steps).

    Returns:
        The text with every placeholder replaced.

    Raises:
        ParamError: When a placeholder's name has no value.
    """
    missing: list[str] = []

    def fill(match: Any) -> str:
        name = match.group(1)
        if name not in values:
            missing.append(name)
            return match.group(0)
        filled = _text_of(values[name])
        return shlex.quote(filled) if shell_quote else filled

    result = PLACEHOLDER.sub(fill, text)
    if missing:
        raise ParamError(
            [
                ParamProblem(name, f"no value for {{{{ {name} }}}}", "bind params with bind_params and pass the built-ins")
                for name in dict.fromkeys(missing)
            ]
        )
    return result


def _typed_value(name: str, values: Mapping[str, Any], needs: str) -> Any:
    if name not in values:
        raise ParamError(
            [ParamProblem(name, f"no value for {{{{ {name} }}}}", "bind params with bind_params before rendering")]
        )
    value = values[name]
    if needs == "duration" and value is not None:
        return parse_duration_value(value)
    return value


def _field_default(step: Any, field_name: str) -> Any:
    # An optional param left unset means "as if the field were not written".
    return type(step).model_fields[field_name].default


def render(runbook: Runbook, values: Mapping[str, Any]) -> Runbook:
    """The runbook with every placeholder in its steps filled in.

    Args:
        runbook: A loaded runbook (its placeholders were checked at load time).
        values: `bind_params`' result plus the built-ins (`BUILTIN_NAMES`).

    Returns:
        An equal runbook except that step fields hold values: ``replicas`` and
        ``to_revision`` are ints (or None), durations are timedeltas, text has
        no placeholders left (other than ones a value brought in). A field filled
        by an optional param that was left unset gets the field's default
        (``strategy: auto``, ``to_revision`` None: the previous revision).

    Raises:
        ParamError: When a name has no value, or a value makes a step invalid
            (a ``str`` param that does not make a valid image reference).
    """
    steps = []
    for index, step in enumerate(runbook.steps):
        update: dict[str, Any] = {}
        quote = isinstance(step, CommandStep)
        for field_name in step.TEXT_FIELDS:
            value = getattr(step, field_name)
            if isinstance(value, list):
                update[field_name] = [render_text(item, values) for item in value]
            elif isinstance(value, str):
                update[field_name] = render_text(value, values, shell_quote=quote and field_name == "run")
        for field_name, needs in step.TYPED_FIELDS.items():
            name = whole_placeholder(getattr(step, field_name))
            if name is not None:
                try:
                    value = _typed_value(name, values, needs)
                    update[field_name] = _field_default(step, field_name) if value is None else value
                except RunbookInvalid as exc:
                    raise ParamError([ParamProblem(name, str(exc), "give it a duration such as 5m")]) from None
        if not update:
            steps.append(step)
            continue
        data = {**step.model_dump(exclude_unset=True), **update}
        try:
            steps.append(type(step).model_validate(data, context={"rendered": True}))
        except ValidationError as exc:
            raise ParamError(_problems_after_render(exc, step.id, index)) from None
    return runbook.model_copy(update={"steps": steps})


def _problems_after_render(exc: ValidationError, step_id: str, index: int) -> list[ParamProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        where = format_path(("steps", index, *error["loc"]))
        if isinstance(cause, RunbookInvalid):
            for complaint in cause.complaints:
                problems.append(
                    ParamProblem(
                        format_path(("steps", index, *error["loc"], *complaint.loc)),
                        f"step '{step_id}': {complaint.message}",
                        complaint.hint,
                    )
                )
        else:
            problems.append(ParamProblem(where, f"step '{step_id}': {error['msg']}", "check the params' values"))
    return problems
