"""The runbook file format: pydantic models, image references, durations (DESIGN §5).

A runbook looks like this::

    name: deploy
    title: Deploy a new image
    description: Roll out an image, then watch the workload become healthy.
    progress_deadline: 15m
    params:
      image: {type: image, help: "Image to run, e.g. registry/web:1.5.0"}
      strategy: {type: choice, choices: [auto, rolling, recreate], default: auto}
    steps:
      - id: confirm
        kind: confirm
        prompt: "Deploy {{ image }} to {{ workload }} in {{ environment }}?"
      - id: deploy
        kind: action
        verb: deploy
        image: "{{ image }}"
        strategy: "{{ strategy }}"
        on_fail: rollback
      - id: healthy
        kind: gate
        type: health
        within: 2m
        stable_for: 10s
        on_fail: rollback

Step string fields may hold ``{{ name }}`` placeholders naming a declared param or
one of `BUILTIN_NAMES`. Fields of other types (``replicas``, ``to_revision``,
``strategy``, durations) may instead be exactly one placeholder, whose param must
have a matching type. Everything about placeholders is checked when the file is
loaded; :mod:`console.runbook.templating` fills them in at run time.

Only ``{{ identifier }}`` is a placeholder: ``{{.State.Health}}`` (a Go template in
a ``docker inspect`` command) is left alone.

Extending (issue D): add a verb to `ActionVerb`, or a gate model with its own
``type`` literal to `_STEP_MODELS` under the tag ``gate:<type>``.

Pure pydantic: no Textual, no adapters.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import typing
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from console.durations import parse_duration

__all__ = [
    "ACTION_VERBS",
    "BUILTIN_NAMES",
    "FAILURE_ACTIONS",
    "GATE_TYPES",
    "PARAM_TYPES",
    "PLACEHOLDER",
    "STEP_KINDS",
    "STRATEGIES",
    "ActionStep",
    "CommandStep",
    "ConfirmStep",
    "FailurePolicy",
    "HealthGateStep",
    "PrometheusGateStep",
    "ImageRef",
    "ManualStep",
    "Param",
    "PluginStep",
    "Runbook",
    "RunbookInvalid",
    "Step",
    "WaitStep",
    "format_duration",
    "parse_image_ref",
    "placeholder_names",
    "runbook_to_yaml",
    "whole_placeholder",
]

# --- names ----------------------------------------------------------------------------

SLUG_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
_SLUG = re.compile(SLUG_PATTERN)
PARAM_NAME_PATTERN = r"[a-z_][a-z0-9_]{0,62}"
_PARAM_NAME = re.compile(PARAM_NAME_PATTERN)

BUILTIN_NAMES: tuple[str, ...] = (
    "workload",
    "environment",
    "current_version",
    "current_image",
    "run_id",
    "actor",
)
"""Placeholders every runbook may use; the executor supplies their values."""

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")
"""``{{ name }}``. Names with dots or dashes match too, so that ``{{ image-tag }}``
is reported as a bad name instead of silently staying in the text."""

_WHOLE_PLACEHOLDER = re.compile(r"\s*\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}\s*")


def placeholder_names(text: str) -> list[str]:
    """Names of the ``{{ name }}`` placeholders in ``text``, in order, with repeats."""
    return PLACEHOLDER.findall(text)


def whole_placeholder(value: object) -> str | None:
    """The name if ``value`` is exactly one placeholder (spaces around allowed), else None."""
    if isinstance(value, str):
        match = _WHOLE_PLACEHOLDER.fullmatch(value)
        if match:
            return match.group(1)
    return None


# --- problems raised by validators ------------------------------------------------------


@dataclass(frozen=True)
class Complaint:
    """One thing wrong, relative to where the validator that found it sits."""

    loc: tuple[str | int, ...]
    message: str
    hint: str


class RunbookInvalid(ValueError):
    """A validator's complaints; the loader turns each into a located problem.

    pydantic keeps this exception in the error's ``ctx["error"]``, which is how the
    loader gets the locations and hints back out.
    """

    def __init__(self, complaints: list[Complaint]) -> None:
        super().__init__("; ".join(c.message for c in complaints))
        self.complaints = complaints

    @classmethod
    def one(cls, message: str, hint: str, loc: tuple[str | int, ...] = ()) -> RunbookInvalid:
        return cls([Complaint(loc, message, hint)])


def _show(value: object, limit: int = 60) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return repr(text) if not text.isprintable() else f"'{text}'"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__} value"


def did_you_mean(value: object, choices: typing.Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``value``, if one is close enough to suggest."""
    if not isinstance(value, str):
        return None
    found = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --- durations ----------------------------------------------------------------------------


def format_duration(value: timedelta) -> str:
    """The shortest text `console.durations.parse_duration` reads back as ``value``.

    Sub-millisecond parts are dropped (durations are typed in whole milliseconds at
    most). ``timedelta(0)`` is ``0s``.
    """
    total_ms = round(value.total_seconds() * 1000)
    if total_ms <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, total_ms = divmod(total_ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_duration_value(value: object) -> timedelta:
    """A duration from a YAML value: ``30s``, ``5m``, ``1h30m``, or a number of seconds.

    Raises:
        RunbookInvalid: For anything else, with a hint.
    """
    hint = "write a duration such as 30s, 5m or 1h30m"
    if isinstance(value, bool) or value is None:
        raise RunbookInvalid.one(f"{_show(value)} is not a duration", hint)
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise RunbookInvalid.one("a duration cannot be negative", hint)
        return value
    if isinstance(value, int):
        if value < 0:
            raise RunbookInvalid.one(f"{value} is negative; a duration cannot be", hint)
        return timedelta(seconds=value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except (ValueError, OverflowError):
            raise RunbookInvalid.one(f"{_show(value)} is not a duration", hint) from None
    raise RunbookInvalid.one(f"{_show(value)} is not a duration", hint)


def _duration_or_placeholder(value: object) -> object:
    if whole_placeholder(value) is not None:
        return value
    return parse_duration_value(value)


def _serialize_duration(value: timedelta | str) -> str:
    return format_duration(value) if isinstance(value, timedelta) else value


Duration = Annotated[timedelta, BeforeValidator(parse_duration_value), PlainSerializer(_serialize_duration)]
"""A duration typed as ``30s``/``5m``/``1h30m`` or seconds; written back in that form."""

TemplatedDuration = Annotated[
    Union[timedelta, str],  # noqa: UP007 (a str here is always a placeholder)
    BeforeValidator(_duration_or_placeholder),
    PlainSerializer(_serialize_duration),
]
"""A duration, or one ``{{ name }}`` placeholder naming a duration param."""


# --- image references ----------------------------------------------------------------------

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
_IMAGE_REF = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?",
    re.ASCII,  # \w must not accept non-ASCII letters in tags
)
MAX_IMAGE_NAME = 255


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way Docker does: ``name[:tag][@sha256:…]``."""

    name: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def version(self) -> str:
        """What an operator calls the version: the tag, else the short digest, else ``latest``."""
        if self.tag is not None:
            return self.tag
        if self.digest is not None:
            return self.digest[: len("sha256:") + 12]
        return "latest"


def parse_image_ref(text: str) -> ImageRef:
    """Split and validate an image reference by Docker's grammar.

    ``name`` is ``[domain[:port]/]path[/path…]`` with lowercase path components
    (``registry.example.com:5000/team/web``), ``tag`` is up to 128 of
    ``[A-Za-z0-9_.-]`` not starting with ``.`` or ``-``, and ``digest`` is
    ``sha256:`` plus 64 lowercase hex digits.

    Raises:
        ValueError: Saying what is wrong and what a valid reference looks like.
    """
    example = "write it as name[:tag][@sha256:digest], e.g. registry.example.com/web:1.5.0"
    if not isinstance(text, str) or not text:
        raise ValueError(f"{_show(text)} is not an image reference ({example})")
    match = _IMAGE_REF.fullmatch(text)
    if match is None:
        if any(ch.isspace() for ch in text):
            reason = "it contains spaces"
        elif "@" in text and not re.search(rf"@{_DIGEST}$", text):
            reason = "the digest must be sha256: followed by 64 lowercase hex digits"
        elif any(ch.isupper() for ch in text.split("@")[0].split(":")[0].rsplit("/", 1)[-1]):
            reason = "repository names must be lowercase"
        else:
            reason = "it does not follow Docker's name[:tag][@digest] grammar"
        raise ValueError(f"{_show(text)} is not a valid image reference: {reason} ({example})")
    name = match.group("name")
    if len(name) > MAX_IMAGE_NAME:
        raise ValueError(f"image name is {len(name)} characters; Docker allows at most {MAX_IMAGE_NAME}")
    return ImageRef(name, match.group("tag"), match.group("digest"))


def _image_or_template(value: object) -> object:
    if isinstance(value, str) and PLACEHOLDER.search(value):
        return value  # checked again once rendered
    if not isinstance(value, str):
        return value  # pydantic's own type error says "must be text"
    try:
        parse_image_ref(value)
    except ValueError as exc:
        raise RunbookInvalid.one(str(exc), "write an image reference such as registry.example.com/web:1.5.0") from None
    return value


# --- params ---------------------------------------------------------------------------------

ParamType = Literal["str", "int", "duration", "image", "choice"]
PARAM_TYPES: tuple[str, ...] = typing.get_args(ParamType)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Model):
    """A value the operator supplies when starting a run (``--set name=value``).

    Attributes:
        type: ``str``, ``int``, ``duration`` (kept as canonical text such as
            ``1m30s``), ``image`` (a Docker image reference) or ``choice``.
        default: Used when the operator gives no value; checked against ``type``.
        help: One line shown in the params form and in ``runbook show``.
        choices: The allowed values of a ``choice`` param (required there, and
            only there).
        required: Whether the run needs a value; defaults to true exactly when
            there is no default. A param that is not required and has no default
            is None (an empty string inside text).
    """

    type: ParamType = "str"
    default: str | int | None = None
    help: str = ""
    choices: list[str] | None = None
    required: bool = True

    @model_validator(mode="before")
    @classmethod
    def _required_follows_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        data.setdefault("required", data.get("default") is None)
        kind, default = data.get("type", "str"), data.get("default")
        if kind in PARAM_TYPES and default is not None and not isinstance(default, bool):
            # Stored canonical (a duration default of 90 becomes "1m30s") so that
            # dumping and loading again gives an equal model. A value that does
            # not convert is left for the checks below to report.
            with contextlib.suppress(ValueError, TypeError):
                data["default"] = _coerce(kind, data.get("choices"), default)
        return data

    @field_validator("default", mode="before")
    @classmethod
    def _default_is_scalar(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise RunbookInvalid.one(
                f"default is {_show(value)}; params are text, numbers or durations",
                "quote it to make it text: default: \"true\"",
            )
        if isinstance(value, float):
            raise RunbookInvalid.one(f"default is {_show(value)}; int params are whole numbers", "write e.g. default: 3")
        if isinstance(value, (dict, list)):
            raise RunbookInvalid.one(f"default is {_show(value)}; it must be one value", "write e.g. default: 3")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        complaints: list[Complaint] = []
        if self.type == "choice":
            if not self.choices:
                complaints.append(
                    Complaint(("choices",), "a choice param needs choices", "add choices: [first, second]")
                )
            elif len(set(self.choices)) != len(self.choices):
                complaints.append(Complaint(("choices",), "choices are repeated", "list each choice once"))
            for index, choice in enumerate(self.choices or []):
                # A choice must be typeable as --set NAME=CHOICE.
                if not choice or choice != choice.strip() or not choice.isprintable():
                    complaints.append(
                        Complaint(
                            ("choices", index),
                            f"choice {_show(choice)} is empty, has spaces around it or control characters",
                            "write a short word, e.g. rolling",
                        )
                    )
        elif self.choices is not None:
            complaints.append(
                Complaint(("choices",), f"choices apply only to type: choice, not type: {self.type}", "remove choices")
            )
        if self.default is not None and not complaints:
            try:
                coerce_param(self, self.default)
            except ValueError as exc:
                complaints.append(Complaint(("default",), str(exc), _param_example(self)))
        if self.required and self.default is not None:
            complaints.append(
                Complaint(
                    ("required",),
                    "a param with a default is never missing, so it cannot be required",
                    "remove required: true, or remove the default",
                )
            )
        if complaints:
            raise RunbookInvalid(complaints)
        return self


def _param_example(param: Param) -> str:
    return {
        "int": "write a whole number, e.g. 3",
        "duration": "write a duration such as 30s, 5m or 1h30m",
        "image": "write an image reference such as registry.example.com/web:1.5.0",
        "choice": f"use one of: {', '.join(param.choices or [])}",
        "str": "write some text",
    }[param.type]


def coerce_param(param: Param, value: object) -> str | int:
    """Check and convert one param value (from YAML or from ``--set``) by its type.

    Returns:
        ``int`` for int params, canonical text for durations (``1m30s``), the
        value itself otherwise.

    Raises:
        ValueError: Saying what is wrong, without a hint (callers add their own).
    """
    return _coerce(param.type, param.choices, value)


def _coerce(kind: str, choices: list[str] | None, value: object) -> str | int:
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"{_show(value)} is not a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
            return int(value)
        raise ValueError(f"{_show(value)} is not a whole number")
    if kind == "duration":
        try:
            return format_duration(parse_duration_value(value))
        except RunbookInvalid:
            raise ValueError(f"{_show(value)} is not a duration (use e.g. 30s, 5m, 1h30m)") from None
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is not text")
    if kind == "image":
        parse_image_ref(value)
        return value
    if kind == "choice":
        choices = [choice for choice in choices if isinstance(choice, str)] if isinstance(choices, list) else []
        if value not in choices:
            suggestion = did_you_mean(value, choices)
            also = f" (did you mean '{suggestion}'?)" if suggestion else ""
            raise ValueError(f"{_show(value)} is not one of {', '.join(choices)}{also}")
    return value


# --- failure policy -------------------------------------------------------------------------

FAILURE_ACTIONS: tuple[str, ...] = ("abort", "rollback", "pause", "continue", "goto")


@dataclass(frozen=True)
class FailurePolicy:
    """A parsed ``on_fail``: what the executor does when a step fails.

    Attributes:
        action: ``abort``, ``rollback``, ``pause``, ``continue`` or ``goto``.
        target: The step id to go to, for ``goto``.
    """

    action: Literal["abort", "rollback", "pause", "continue", "goto"]
    target: str | None = None

    @classmethod
    def parse(cls, text: str) -> FailurePolicy:
        """Parse ``abort`` … ``goto:<id>``; raises `RunbookInvalid` for anything else."""
        hint = "write on_fail: abort, rollback, pause, continue or goto:<step id>"
        if not isinstance(text, str):
            raise RunbookInvalid.one(f"on_fail is {_show(text)}", hint)
        action, colon, target = text.partition(":")
        action = action.strip()
        if action == "goto":
            target = target.strip()
            if not target:
                raise RunbookInvalid.one("goto needs a step id", "write on_fail: goto:<step id>")
            return cls("goto", target)
        if colon or action not in FAILURE_ACTIONS:
            suggestion = did_you_mean(action, FAILURE_ACTIONS)
            also = f"did you mean '{suggestion}'? " if suggestion else ""
            raise RunbookInvalid.one(f"{_show(text)} is not a valid on_fail", also + hint)
        return cls(action)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"goto:{self.target}" if self.action == "goto" else self.action


def _check_on_fail(value: object) -> object:
    return str(FailurePolicy.parse(value))  # type: ignore[arg-type]


OnFail = Annotated[str, BeforeValidator(_check_on_fail)]


def _check_slug(value: object, what: str) -> object:
    if isinstance(value, str) and not _SLUG.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")[:63] or "step-1"
        raise RunbookInvalid.one(
            f"{what} {_show(value)} is not allowed: use lowercase letters, digits, '-' and '_' "
            "(starting with a letter or digit, at most 63)",
            f"e.g. {suggestion}",
        )
    return value


StepId = Annotated[str, BeforeValidator(lambda v: _check_slug(v, "step id"))]


def _check_param_name(value: str) -> str:
    if not _PARAM_NAME.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "name"
        if suggestion[0].isdigit():
            suggestion = f"p_{suggestion}"
        raise RunbookInvalid.one(
            f"param name {_show(value)} is not allowed: use lowercase letters, digits and '_', starting with a letter",
            f"e.g. {suggestion} (written {{{{ {suggestion} }}}} and --set {suggestion}=…)",
        )
    if value in BUILTIN_NAMES:
        raise RunbookInvalid.one(
            f"'{value}' is a built-in name that every runbook gets; a param cannot replace it", "rename the param"
        )
    return value


ParamName = Annotated[str, AfterValidator(_check_param_name)]
RunbookName = Annotated[str, BeforeValidator(lambda v: _check_slug(v, "runbook name"))]


# --- steps ------------------------------------------------------------------------------------

ActionVerb = Literal[
    "deploy",
    "rollback",
    "restart",
    "scale",
    "canary.start",
    "canary.set_weight",
    "canary.promote",
    "canary.abort",
    "bluegreen.deploy",
    "bluegreen.switch",
    "bluegreen.switch_back",
    "bluegreen.scale_down",
    "bluegreen.abort",
]
ACTION_VERBS: tuple[str, ...] = typing.get_args(ActionVerb)
Strategy = Literal["auto", "rolling", "recreate"]
STRATEGIES: tuple[str, ...] = typing.get_args(Strategy)


def _int_or_placeholder(value: object) -> object:
    if whole_placeholder(value) is not None:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise RunbookInvalid.one(f"{_show(value)} is not a whole number", 'write a number, or a param: "{{ name }}"')
    return value


def _strategy_or_placeholder(value: object) -> object:
    if whole_placeholder(value) is not None or value in STRATEGIES:
        return value
    suggestion = did_you_mean(value, STRATEGIES)
    also = f"did you mean '{suggestion}'? " if suggestion else ""
    raise RunbookInvalid.one(
        f"{_show(value)} is not a deploy strategy", f"{also}use one of: {', '.join(STRATEGIES)}, or a choice param"
    )


TemplatedInt = Annotated[Union[int, str], BeforeValidator(_int_or_placeholder)]  # noqa: UP007
TemplatedStrategy = Annotated[str, BeforeValidator(_strategy_or_placeholder)]
ImageText = Annotated[str, BeforeValidator(_image_or_template)]


class _StepBase(_Model):
    """Fields every step has.

    Attributes:
        id: Stable within the runbook (journals and ``goto`` refer to it).
        title: What the step list shows; the id when empty.
        timeout: How long the step may take before it fails; None is no limit of
            its own (the run's progress deadline still applies).
        on_fail: ``abort``, ``rollback``, ``pause``, ``continue`` or ``goto:<id>``.
    """

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("title",)
    """String fields (or lists of strings) that may hold placeholders anywhere."""
    TYPED_FIELDS: ClassVar[dict[str, str]] = {}
    """Non-string fields that may be one placeholder, and the param type it needs."""

    id: StepId
    title: str = ""
    timeout: Duration | None = None
    on_fail: OnFail = "abort"

    @property
    def label(self) -> str:
        """The title, or the id when there is none."""
        return self.title or self.id

    @property
    def failure_policy(self) -> FailurePolicy:
        """``on_fail``, parsed."""
        return FailurePolicy.parse(self.on_fail)


# Which action fields each verb takes (and which it requires).
_VERB_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "deploy": (frozenset({"image", "strategy"}), frozenset({"image"})),
    "rollback": (frozenset({"to_revision"}), frozenset()),
    "restart": (frozenset(), frozenset()),
    "scale": (frozenset({"replicas"}), frozenset({"replicas"})),
    "canary.start": (frozenset({"image", "weight"}), frozenset({"image", "weight"})),
    "canary.set_weight": (frozenset({"weight"}), frozenset({"weight"})),
    "bluegreen.deploy": (frozenset({"image"}), frozenset({"image"})),
}
_VERB_EXAMPLES = {
    "weight": 'weight: 25',
    "image": 'image: "{{ image }}"',
    "replicas": 'replicas: "{{ replicas }}"',
    "to_revision": "to_revision: 3",
    "strategy": "strategy: auto",
}


class ActionStep(_StepBase):
    """One adapter write.

    Attributes:
        verb: ``deploy``, ``rollback``, ``restart``, ``scale``; canary:
            ``canary.start``, ``canary.set_weight``, ``canary.promote``,
            ``canary.abort``; blue-green: ``bluegreen.deploy``, ``bluegreen.switch``,
            ``bluegreen.switch_back``, ``bluegreen.scale_down``, ``bluegreen.abort``.
        image: The image to deploy (deploy, canary.start, bluegreen.deploy; required there).
        strategy: ``auto``, ``rolling`` or ``recreate`` (deploy only).
        to_revision: The revision to roll back to; None is the previous one
            (rollback only).
        replicas: The replica count (scale only, required there).
        weight: Percent of replicas on the canary, 1–100 (canary.start and
            canary.set_weight; the nearest achievable is used and reported).
    """

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "image")
    TYPED_FIELDS: ClassVar[dict[str, str]] = {"replicas": "int", "to_revision": "int", "strategy": "strategy", "weight": "int"}

    kind: Literal["action"]
    verb: ActionVerb
    image: ImageText | None = None
    strategy: TemplatedStrategy = "auto"
    to_revision: TemplatedInt | None = None
    replicas: TemplatedInt | None = None
    weight: TemplatedInt | None = None

    @model_validator(mode="after")
    def _fields_match_verb(self) -> ActionStep:
        allowed, required = _VERB_FIELDS.get(self.verb, (frozenset(), frozenset()))
        complaints: list[Complaint] = []
        for name in sorted(required):
            if getattr(self, name) is None:
                complaints.append(
                    Complaint((), f"verb: {self.verb} needs {name}", f"add {_VERB_EXAMPLES[name]} to this step")
                )
        for name in ("image", "to_revision", "replicas", "strategy", "weight"):
            is_set = name in self.model_fields_set and getattr(self, name) is not None
            if is_set and name not in allowed:
                users = [verb for verb, (fields, _) in _VERB_FIELDS.items() if name in fields]
                complaints.append(
                    Complaint(
                        (name,),
                        f"{name} applies only to verb: {' or '.join(users)}, not verb: {self.verb}",
                        f"remove {name}",
                    )
                )
        for name in ("replicas", "to_revision"):
            value = getattr(self, name)
            if isinstance(value, int) and value < (0 if name == "replicas" else 1):
                bound = "0 or more" if name == "replicas" else "1 or more"
                complaints.append(Complaint((name,), f"{name} must be {bound}, got {value}", f"write e.g. {name}: 1"))
        if isinstance(self.weight, int) and not 1 <= self.weight <= 100:
            complaints.append(
                Complaint(("weight",), f"weight is a percentage from 1 to 100, got {self.weight}", "write e.g. weight: 25")
            )
        if complaints:
            raise RunbookInvalid(complaints)
        return self


class HealthGateStep(_StepBase):
    """Wait for the workload to be healthy, then require it to stay healthy.

    Attributes:
        type: ``health`` (see `PrometheusGateStep` for ``prometheus``).
        expect: The health to reach; only ``healthy`` for now.
        within: How long the workload may take to become healthy.
        stable_for: How long it must then stay healthy without a break.
    """

    TYPED_FIELDS: ClassVar[dict[str, str]] = {"within": "duration", "stable_for": "duration"}

    kind: Literal["gate"]
    type: Literal["health"] = "health"
    expect: Literal["healthy"] = "healthy"
    within: TemplatedDuration = timedelta(minutes=5)
    stable_for: TemplatedDuration = timedelta(0)


def _condition_text(value: object) -> object:
    """Parse a gate condition at load time; placeholders stand in as 0 until rendered."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RunbookInvalid.one(f"{_show(value)} is not a condition", "write e.g. success: result[0] < 0.05")
    from console.runbook.analysis import ConditionSyntaxError, parse_condition

    try:
        parse_condition(PLACEHOLDER.sub("0", value))
    except ConditionSyntaxError as error:
        raise RunbookInvalid.one(
            f"condition: {error}",
            "conditions compare result[0] (or result) with numbers, joined by and/or, e.g. result[0] < 0.05",
        ) from None
    return value


ConditionText = Annotated[Union[str, None], BeforeValidator(_condition_text)]  # noqa: UP007


class PrometheusGateStep(_StepBase):
    """Measure a PromQL query until the gate is decided, Argo Rollouts' AnalysisRun style.

    The query may use ``{{ param }}`` placeholders and, inside label values,
    ``{workload}``, ``{namespace}``, ``{service}``, ``{version}`` (the version being
    rolled out) and ``{track}``; or it may be the name of one of the environment's
    named queries (``query: error_ratio``). See `console.runbook.analysis` for the
    verdicts and limits.

    Attributes:
        query: PromQL, or a named query of the environment.
        success: Condition a good result meets (``result[0] < 0.05``).
        failure: Condition a bad result meets.
        interval: Time between measurements; None takes one measurement.
        count: Measurements to take; None with an interval is until the run ends
            (a background gate) or until a limit decides.
        initial_delay: Time before the first measurement.
        failure_limit: Failed measurements tolerated (-1: off).
        inconclusive_limit: Inconclusive measurements tolerated.
        consecutive_error_limit: Errors in a row tolerated (Prometheus down counts here).
        consecutive_success: Passes in a row that pass the gate early.
        background: Keep measuring across later steps; a failure then interrupts
            whatever step runs and applies this gate's ``on_fail``.
        unit: Unit of the value, for the run screen (``ratio``, ``s``, ``req/s``).
    """

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "query", "success", "failure")
    TYPED_FIELDS: ClassVar[dict[str, str]] = {
        "interval": "duration",
        "initial_delay": "duration",
        "count": "int",
    }

    kind: Literal["gate"]
    type: Literal["prometheus"]
    query: Annotated[str, Field(min_length=1)]
    success: ConditionText = None
    failure: ConditionText = None
    interval: TemplatedDuration | None = None
    count: TemplatedInt | None = None
    initial_delay: TemplatedDuration = timedelta(0)
    failure_limit: int = Field(default=0, ge=-1)
    inconclusive_limit: int = Field(default=0, ge=0)
    consecutive_error_limit: int = Field(default=4, ge=0)
    consecutive_success: int | None = Field(default=None, ge=0)
    background: bool = False
    unit: str = ""

    @model_validator(mode="after")
    def _decidable(self) -> PrometheusGateStep:
        complaints: list[Complaint] = []
        if self.success is None and self.failure is None:
            complaints.append(Complaint(("success",), "a prometheus gate needs success or failure", "add e.g. success: result[0] < 0.05"))
        if self.failure_limit == -1 and not self.consecutive_success:
            complaints.append(
                Complaint(("failure_limit",), "failure_limit -1 switches failures off, and nothing else decides the gate", "set consecutive_success: 3")
            )
        if isinstance(self.count, int) and self.count < 0:
            complaints.append(Complaint(("count",), f"count must be 0 or more, got {self.count}", "write e.g. count: 5"))
        if self.background and self.interval is None:
            complaints.append(Complaint(("interval",), "a background gate measures repeatedly and needs an interval", "add interval: 30s"))
        if self.background and self.on_fail.startswith("goto:"):
            complaints.append(
                Complaint(("on_fail",), "a background gate fails in the middle of another step and cannot goto", "use on_fail: rollback, abort, pause or continue")
            )
        if complaints:
            raise RunbookInvalid(complaints)
        return self


class WaitStep(_StepBase):
    """A timed pause with a countdown.

    Attributes:
        duration: How long to wait.
        skippable: Whether the operator may skip the rest of the wait.
    """

    TYPED_FIELDS: ClassVar[dict[str, str]] = {"duration": "duration"}

    kind: Literal["wait"]
    duration: TemplatedDuration
    skippable: bool = True


class ManualStep(_StepBase):
    """Something the operator does by hand, then confirms.

    Attributes:
        instructions: Markdown shown to the operator.
        checklist: Items the operator ticks before the step passes.
    """

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "instructions", "checklist")

    kind: Literal["manual"]
    instructions: str = ""
    checklist: list[str] = []

    @model_validator(mode="after")
    def _says_something(self) -> ManualStep:
        if not self.instructions.strip() and not self.checklist:
            raise RunbookInvalid.one(
                "a manual step needs instructions or a checklist",
                "add instructions: | followed by what the operator should do",
            )
        return self


class ConfirmStep(_StepBase):
    """A yes/no question; "no" fails the step (so ``on_fail`` decides what follows).

    Attributes:
        prompt: The question.
    """

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "prompt")

    kind: Literal["confirm"]
    prompt: str


class CommandStep(_StepBase):
    """A shell command, shown before it runs; only when the config allows command steps.

    Values filled into ``run`` are shell-quoted, so a param cannot inject a
    second command.

    Attributes:
        run: The command line.
        shell: The shell that runs it.
    """

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "run")

    kind: Literal["command"]
    run: str
    shell: str = "/bin/sh"


_STEP_MODELS: dict[str, type[_StepBase]] = {
    "action": ActionStep,
    "gate:health": HealthGateStep,
    "gate:prometheus": PrometheusGateStep,
    "wait": WaitStep,
    "manual": ManualStep,
    "confirm": ConfirmStep,
    "command": CommandStep,
}
"""Step model by tag: the step's ``kind``, or ``gate:<type>`` for gates."""

STEP_KINDS: tuple[str, ...] = tuple(dict.fromkeys(tag.split(":")[0] for tag in _STEP_MODELS))
GATE_TYPES: tuple[str, ...] = tuple(tag.split(":")[1] for tag in _STEP_MODELS if tag.startswith("gate:"))


class PluginStep(_StepBase):
    """A step of a kind an installed plugin provides (a ``watchfloor.steps`` entry point, docs/plugins.md).

    Its own keys sit beside ``id``, ``title``, ``timeout`` and ``on_fail`` and are
    checked by the plugin's ``config_model`` when it has one. Text values may hold
    ``{{ name }}`` placeholders.

    Attributes:
        kind: The plugin's step kind (the entry point's name).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str

    @property
    def TEXT_FIELDS(self) -> tuple[str, ...]:  # type: ignore[override]  # noqa: N802 (the base's ClassVar name)
        """``title`` and every text value (or list of texts) among the plugin's keys."""
        extra = self.model_extra or {}
        texts = [
            name
            for name, value in extra.items()
            if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ]
        return ("title", *texts)

    def plugin_options(self) -> Any:
        """The plugin's own keys: its ``config_model`` instance, or a dict when it has none."""
        from console.plugins import step_runner, validate_options

        return validate_options(step_runner(self.kind), dict(self.model_extra or {}))

    @model_validator(mode="after")
    def _plugin_accepts_options(self, info: ValidationInfo) -> PluginStep:
        from pydantic import ValidationError

        try:
            self.plugin_options()
        except ValidationError as error:
            extra = self.model_extra or {}
            rendered = (info.context or {}).get("rendered")
            complaints = [
                Complaint(tuple(item["loc"]), f"{item['msg']} (checked by the {self.kind} plugin)", f"see the {self.kind} plugin's documentation")
                for item in error.errors(include_url=False)
                # A key written with a "{{ param }}" is checked once the value is filled in.
                if rendered or not (item["loc"] and placeholder_names(str(extra.get(item["loc"][0], ""))))
            ]
            if complaints:
                raise RunbookInvalid(complaints) from None
        return self


PLUGIN_STEP_TAG = "plugin"
"""The union tag of `PluginStep` (not a key in the file)."""


def step_tag(value: Any) -> str | None:
    """The union tag of a step, from raw data or a model (None when there is no kind)."""
    if isinstance(value, dict):
        kind, gate_type = value.get("kind"), value.get("type", "health")
    else:
        kind, gate_type = getattr(value, "kind", None), getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    if kind == "gate":
        return f"gate:{gate_type}" if isinstance(gate_type, str) else "gate:?"
    if isinstance(value, PluginStep):
        return PLUGIN_STEP_TAG
    if kind not in STEP_KINDS:
        from console.plugins import step_runner

        if step_runner(kind) is not None:
            return PLUGIN_STEP_TAG
    return kind


def step_model(value: Any) -> type[_StepBase] | None:
    """The model a raw step would be validated with, if its kind (and type) are known."""
    tag = step_tag(value)
    return _STEP_MODELS.get(tag) if tag else None


Step = Annotated[
    Union[  # noqa: UP007 (pydantic tags need Union)
        Annotated[ActionStep, Tag("action")],
        Annotated[HealthGateStep, Tag("gate:health")],
        Annotated[PrometheusGateStep, Tag("gate:prometheus")],
        Annotated[WaitStep, Tag("wait")],
        Annotated[ManualStep, Tag("manual")],
        Annotated[ConfirmStep, Tag("confirm")],
        Annotated[CommandStep, Tag("command")],
        Annotated[PluginStep, Tag(PLUGIN_STEP_TAG)],
    ],
    Discriminator(step_tag, custom_error_type="step_kind", custom_error_message="unknown step kind"),
]
"""One step; ``kind`` (and ``type`` for gates) picks the model."""


# --- the runbook -------------------------------------------------------------------------------


class Runbook(_Model):
    """A runbook file.

    Attributes:
        name: The name runbooks are run by (``watchfloor runbook run NAME``); a
            user runbook with a built-in's name replaces it.
        title: One line for lists and the run screen's header.
        description: What it is for and when to use it (Markdown).
        progress_deadline: The longest the whole run may go without a step
            finishing; None is no deadline.
        params: Declared params, in the order the form shows them.
        steps: The steps, run in order (``goto`` jumps).
    """

    name: RunbookName
    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    progress_deadline: Duration | None = None
    params: dict[ParamName, Param] = {}
    steps: Annotated[list[Step], Field(min_length=1)]

    @field_validator("params", mode="before")
    @classmethod
    def _no_params(cls, value: Any) -> Any:
        return {} if value is None else value  # "params:" with nothing under it

    @model_validator(mode="after")
    def _steps_hang_together(self, info: ValidationInfo) -> Runbook:
        complaints: list[Complaint] = []
        first: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            if step.id in first:
                complaints.append(
                    Complaint(
                        ("steps", index, "id"),
                        f"step id '{step.id}' is already used by steps[{first[step.id]}]",
                        "give every step its own id (journals and goto refer to it)",
                    )
                )
            else:
                first[step.id] = index
        for index, step in enumerate(self.steps):
            policy = step.failure_policy
            if policy.action == "goto" and policy.target not in first:
                suggestion = did_you_mean(policy.target, first)
                also = f"did you mean goto:{suggestion}? " if suggestion else ""
                complaints.append(
                    Complaint(
                        ("steps", index, "on_fail"),
                        f"on_fail goes to step '{policy.target}', but there is no step with that id",
                        f"{also}step ids here: {', '.join(first)}",
                    )
                )
        if not (info.context or {}).get("rendered"):
            complaints.extend(self._placeholder_complaints())
        if complaints:
            raise RunbookInvalid(complaints)
        return self

    def _placeholder_complaints(self) -> list[Complaint]:
        known = {*self.params, *BUILTIN_NAMES}
        names_hint = ", ".join([*self.params, *BUILTIN_NAMES])
        complaints: list[Complaint] = []
        for index, step in enumerate(self.steps):
            for field_name in step.TEXT_FIELDS:
                value = getattr(step, field_name)
                items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
                for item_index, text in items:
                    if not isinstance(text, str):
                        continue
                    loc: tuple[str | int, ...] = ("steps", index, field_name)
                    if item_index is not None:
                        loc += (item_index,)
                    for name in placeholder_names(text):
                        if name in known:
                            continue
                        suggestion = did_you_mean(name, known)
                        also = f"did you mean {{{{ {suggestion} }}}}? " if suggestion else ""
                        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                            message = f"'{name}' in {{{{ {name} }}}} is not a name: names have letters, digits and '_'"
                        else:
                            message = f"unknown name '{name}' in {{{{ {name} }}}}"
                        hint = f"{also}declare it under params:, or use one of: {names_hint}"
                        complaints.append(Complaint(loc, message, hint))
            for field_name, needs in step.TYPED_FIELDS.items():
                name = whole_placeholder(getattr(step, field_name))
                if name is None:
                    continue
                complaint = self._typed_placeholder_complaint(name, needs, field_name)
                if complaint is not None:
                    complaints.append(Complaint(("steps", index, field_name), *complaint))
        return complaints

    def _typed_placeholder_complaint(self, name: str, needs: str, field_name: str) -> tuple[str, str] | None:
        param = self.params.get(name)
        wanted = {"int": "type: int", "duration": "type: duration", "strategy": "type: choice"}[needs]
        if param is None:
            known = [n for n, p in self.params.items() if _fits(p, needs)]
            also = f" (params that fit: {', '.join(known)})" if known else ""
            return (
                f"{{{{ {name} }}}} must name a param declared with {wanted}{also}",
                f"declare {name} under params: with {wanted}, or write a literal value",
            )
        if not _fits(param, needs):
            if needs == "strategy":
                return (
                    f"param '{name}' fills {field_name}, so it must be a choice among {', '.join(STRATEGIES)}",
                    f"declare it as type: choice with choices drawn from {', '.join(STRATEGIES)}",
                )
            return (
                f"param '{name}' is type: {param.type} but {field_name} needs {wanted}",
                f"declare {name} with {wanted}",
            )
        minimum = {"replicas": 0, "to_revision": 1}.get(field_name)
        if minimum is not None and isinstance(param.default, int) and param.default < minimum:
            return (
                f"param '{name}' has default {param.default}, but {field_name} must be {minimum} or more",
                f"give {name} a default of {minimum} or more",
            )
        if field_name in ("replicas", "duration") and not param.required and param.default is None:
            return (
                f"param '{name}' is optional with no default, but {field_name} needs a value",
                f"give {name} a default, or remove required: false",
            )
        return None

    def step(self, step_id: str) -> _StepBase:
        """The step with this id.

        Raises:
            KeyError: When there is none.
        """
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def step_index(self, step_id: str) -> int:
        """Position of the step with this id (for ``goto``).

        Raises:
            KeyError: When there is none.
        """
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                return index
        raise KeyError(step_id)


def _fits(param: Param, needs: str) -> bool:
    if needs == "int":
        return param.type == "int"
    if needs == "duration":
        return param.type == "duration"
    return param.type == "choice" and bool(param.choices) and set(param.choices) <= set(STRATEGIES)


def runbook_to_yaml(runbook: Runbook) -> str:
    """The runbook as YAML that loads back into an equal model (``runbook show``, tests).

    Defaults are left out; durations are written as ``5m``-style text.
    """
    data = runbook.model_dump(mode="json", exclude_defaults=True)
    for name, param in runbook.params.items():
        dumped_param = data.get("params", {}).get(name)
        if dumped_param is not None and param.required == (param.default is None):
            dumped_param.pop("required", None)  # implied by the default, so noise
    steps = []
    for step, dumped in zip(runbook.steps, data["steps"]):
        # kind (and a gate's type) first, even where it is a default: it says
        # what the rest of the step means.
        head = {"id": step.id, "kind": step.kind}
        if step.kind == "gate":
            head["type"] = step.type  # type: ignore[union-attr]
        steps.append({**head, **{key: value for key, value in dumped.items() if key not in head}})
    data["steps"] = steps
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Safe dumping, except that Unicode line breaks are always escaped.

    PyYAML writes NEL, LS and PS raw inside single-quoted scalars, and the reader
    then folds them into spaces: the text would not survive a round trip.
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if any(ch in value for ch in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)
