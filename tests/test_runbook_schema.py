"""Runbook schema: round trips, located errors for every kind of mistake, params, templating.

Invalid runbooks are written to real files and loaded with ``load_runbook``,
because the file name, line and field in the message are the contract.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from console.durations import parse_duration
from console.runbook import (
    BUILTIN_NAMES,
    ParamError,
    Runbook,
    bind_params,
    format_duration,
    load_runbook,
    parse_image_ref,
    parse_runbook,
    render,
    render_text,
    runbook_to_yaml,
)
from console.runbook.schema import STRATEGIES, FailurePolicy
from console.yaml_source import ConfigError

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies -----------------------------------------------------------------------

_path_component = st.from_regex(r"[a-z0-9]{1,6}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,6}){0,2}", fullmatch=True)
_domain = st.from_regex(
    r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,8}[a-zA-Z0-9])(?:\.[a-z0-9]{1,8}){0,2}(?::[0-9]{1,5})?", fullmatch=True
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)
_digest = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda hexes: f"sha256:{hexes}")


@st.composite
def image_refs(draw: st.DrawFn) -> str:
    """Image references Docker accepts, built from its grammar."""
    path = draw(st.lists(_path_component, min_size=1, max_size=3))
    name = "/".join(path)
    if draw(st.booleans()):
        domain = draw(_domain)
        # Docker reads a first part without '.', ':' or uppercase as a path, which
        # must then be lowercase — the path grammar already is.
        name = f"{domain}/{name}"
    ref = name
    if draw(st.booleans()):
        ref += f":{draw(_tag)}"
    if draw(st.booleans()):
        ref += f"@{draw(_digest)}"
    return ref


_plain_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), max_size=30
)
_choice_text = _plain_text.filter(lambda t: t and t == t.strip() and t.isprintable())
_durations = st.one_of(
    st.integers(0, 10**6),
    st.integers(0, 10**8).map(lambda ms: format_duration(timedelta(milliseconds=ms))),
    st.sampled_from(["30s", "5m", "1h30m", "2d", "250ms", "90s", "0"]),
)
_slugs = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,15}", fullmatch=True)
_param_names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(lambda n: n not in BUILTIN_NAMES)


@st.composite
def params(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    names = draw(st.lists(_param_names, max_size=5, unique=True))
    declared: dict[str, dict[str, Any]] = {}
    for name in names:
        kind = draw(st.sampled_from(["str", "int", "duration", "image", "choice"]))
        param: dict[str, Any] = {"type": kind}
        if draw(st.booleans()):
            param["help"] = draw(_plain_text)
        if kind == "choice":
            if draw(st.booleans()):
                param["choices"] = draw(st.lists(st.sampled_from(STRATEGIES), min_size=1, unique=True))
            else:
                param["choices"] = draw(st.lists(_choice_text, min_size=1, max_size=4, unique=True))
        default = draw(
            st.one_of(
                st.none(),
                {
                    "str": _plain_text,
                    "int": st.integers(1, 10**6),  # fits replicas and to_revision too
                    "duration": _durations,
                    "image": image_refs(),
                    "choice": st.sampled_from(param.get("choices") or [""]),
                }[kind],
            )
        )
        if default is not None:
            param["default"] = default
        elif draw(st.booleans()):
            param["required"] = False
        declared[name] = param
    return declared


def _text_with_placeholders(names: list[str]) -> st.SearchStrategy[str]:
    pieces = st.one_of(_plain_text, st.sampled_from(names).map(lambda n: f"{{{{ {n} }}}}"))
    return st.lists(pieces, max_size=4).map("".join)


def _typed(declared: dict[str, dict[str, Any]], needs: str, literal: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A literal, or a placeholder naming a declared param that may fill a field of this type."""

    def fits(param: dict[str, Any]) -> bool:
        if needs == "strategy":
            return param["type"] == "choice" and set(param["choices"]) <= set(STRATEGIES)
        if needs == "revision":
            return param["type"] == "int"  # to_revision may stay unset
        return param["type"] == needs and ("default" in param or param.get("required", True))

    usable = [name for name, param in declared.items() if fits(param)]
    if not usable:
        return literal
    return st.one_of(literal, st.sampled_from(usable).map(lambda n: f"{{{{ {n} }}}}"))


@st.composite
def steps(draw: st.DrawFn, declared: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    names = [*declared, *BUILTIN_NAMES]
    text = _text_with_placeholders(names)
    count = draw(st.integers(1, 6))
    ids = draw(st.lists(_slugs, min_size=count, max_size=count, unique=True))
    made = []
    for step_id in ids:
        kind = draw(st.sampled_from(["action", "gate", "wait", "manual", "confirm", "command"]))
        step: dict[str, Any] = {"id": step_id, "kind": kind}
        if kind == "action":
            verb = draw(st.sampled_from(["deploy", "rollback", "restart", "scale"]))
            step["verb"] = verb
            if verb == "deploy":
                step["image"] = draw(_typed(declared, "image", image_refs()))
                if draw(st.booleans()):
                    step["strategy"] = draw(_typed(declared, "strategy", st.sampled_from(STRATEGIES)))
            elif verb == "scale":
                step["replicas"] = draw(_typed(declared, "int", st.integers(0, 500)))
            elif verb == "rollback" and draw(st.booleans()):
                step["to_revision"] = draw(_typed(declared, "revision", st.integers(1, 500)))
        elif kind == "gate":
            step["type"] = "health"
            if draw(st.booleans()):
                step["within"] = draw(_typed(declared, "duration", _durations))
            if draw(st.booleans()):
                step["stable_for"] = draw(_typed(declared, "duration", _durations))
        elif kind == "wait":
            step["duration"] = draw(_typed(declared, "duration", _durations))
            if draw(st.booleans()):
                step["skippable"] = draw(st.booleans())
        elif kind == "manual":
            step["instructions"] = "Do it. " + draw(text)
            step["checklist"] = draw(st.lists(text, max_size=3))
        elif kind == "confirm":
            step["prompt"] = draw(text)
        else:
            step["run"] = draw(text)
            if draw(st.booleans()):
                step["shell"] = draw(st.sampled_from(["/bin/sh", "/bin/bash"]))
        if draw(st.booleans()):
            step["title"] = draw(text)
        if draw(st.booleans()):
            step["timeout"] = draw(_durations)
        on_fail = draw(st.sampled_from(["abort", "rollback", "pause", "continue", "goto", None]))
        if on_fail == "goto":
            step["on_fail"] = f"goto:{draw(st.sampled_from(ids))}"
        elif on_fail is not None:
            step["on_fail"] = on_fail
        made.append(step)
    return made


@st.composite
def runbook_data(draw: st.DrawFn) -> dict[str, Any]:
    declared = draw(params())
    data: dict[str, Any] = {"name": draw(_slugs), "title": draw(_plain_text.filter(bool))}
    if draw(st.booleans()):
        data["description"] = draw(_plain_text)
    if draw(st.booleans()):
        data["progress_deadline"] = draw(_durations)
    if declared:
        data["params"] = declared
    data["steps"] = draw(steps(declared))
    return data


def write(directory: Path, data: Any, name: str = "runbook.yaml") -> Path:
    path = directory / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list:
    with pytest.raises(ConfigError) as caught:
        load_runbook(path)
    return caught.value.problems


# --- round trips ------------------------------------------------------------------------


@PROPERTY
@given(runbook_data())
def test_valid_runbooks_survive_a_trip_through_yaml(data: dict[str, Any]) -> None:
    # Arrange
    runbook = Runbook.model_validate(data)

    # Act
    again = parse_runbook(runbook_to_yaml(runbook), file="roundtrip.yaml")

    # Assert
    assert again == runbook


@PROPERTY
@given(st.integers(0, 10**10))
def test_durations_are_written_back_as_text_that_parses_to_the_same_value(milliseconds: int) -> None:
    value = timedelta(milliseconds=milliseconds)

    text = format_duration(value)

    assert parse_duration(text) == value


# --- invalid runbooks: located, never a traceback ---------------------------------------

BASE = {
    "name": "deploy",
    "title": "Deploy",
    "params": {"image": {"type": "image"}, "replicas": {"type": "int", "default": 2}},
    "steps": [
        {"id": "confirm", "kind": "confirm", "prompt": "Deploy {{ image }}?"},
        {"id": "roll-out", "kind": "action", "verb": "deploy", "image": "{{ image }}", "on_fail": "rollback"},
        {"id": "healthy", "kind": "gate", "type": "health", "within": "2m", "on_fail": "rollback"},
        {"id": "soak", "kind": "wait", "duration": "30s"},
    ],
}


def _mutations(data: dict[str, Any]) -> st.SearchStrategy[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """(what, path of the field the error must name, mutated data) for one valid runbook."""
    count = len(data["steps"])
    index = st.integers(0, count - 1)

    def copy() -> dict[str, Any]:
        return yaml.safe_load(yaml.safe_dump(data))

    def set_in_step(what: str, key: str, value: Any) -> st.SearchStrategy:
        def apply(i: int) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
            mutated = copy()
            mutated["steps"][i][key] = value
            return what, ("steps", i, key), mutated

        return index.map(apply)

    def duplicate_id() -> st.SearchStrategy:
        def apply(pair: tuple[int, int]) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
            first, second = sorted(pair)
            mutated = copy()
            mutated["steps"][second]["id"] = mutated["steps"][first]["id"]
            return "duplicate id", ("steps", second, "id"), mutated

        return st.tuples(index, index).filter(lambda p: p[0] != p[1]).map(apply)

    def bad_image() -> st.SearchStrategy:
        def apply(ref: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
            mutated = copy()
            mutated["steps"].append({"id": "zz-deploy", "kind": "action", "verb": "deploy", "image": ref})
            return "bad image", ("steps", count, "image"), mutated

        return st.sampled_from(["Web:1.0", "web:", "web:-1", "web@sha256:abc", "web app:1", "/web", "web//x"]).map(
            apply
        )

    def bad_param_type() -> st.SearchStrategy:
        mutated = copy()
        mutated.setdefault("params", {})["zz_param"] = {"type": "float"}
        return st.just(("bad param type", ("params", "zz_param", "type"), mutated))

    options = [
        set_in_step("wrong type", "id", ["a", "list"]),
        set_in_step("unknown kind", "kind", "deplyo"),
        set_in_step("bad goto", "on_fail", "goto:no-such-step-zz"),
        set_in_step("bad on_fail", "on_fail", "explode"),
        set_in_step("unknown template name", "title", "Go {{ no_such_name_zz }}"),
        set_in_step("bad duration", "timeout", "5 minutes"),
        set_in_step("unknown key", "colour", "red"),
        bad_image(),
        bad_param_type(),
    ]
    if count > 1:
        options.append(duplicate_id())
    return st.one_of(options)


@PROPERTY
@given(st.one_of(st.just(BASE), runbook_data()).flatmap(_mutations))
def test_invalid_runbooks_are_reported_with_file_line_and_field(
    tmp_path_factory: pytest.TempPathFactory, mutation: tuple[str, tuple[Any, ...], dict[str, Any]]
) -> None:
    # Arrange
    what, field_path, data = mutation
    path = write(tmp_path_factory.mktemp("rb"), data)
    lines = path.read_text(encoding="utf-8").splitlines()
    expected_field = "".join(
        f"[{part}]" if isinstance(part, int) else (f".{part}" if n else part) for n, part in enumerate(field_path)
    )

    # Act
    problems = problems_of(path)

    # Assert
    matching = [p for p in problems if p.field == expected_field]
    assert matching, f"{what}: no problem names {expected_field}: {[str(p) for p in problems]}"
    problem = matching[0]
    assert problem.file == str(path)
    assert problem.line is not None and problem.column is not None
    assert f"{field_path[-1]}:" in lines[problem.line - 1], (what, str(problem))
    assert str(problem).startswith(f"{path}:{problem.line}:{problem.column}: {expected_field}: ")


_yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["name", "title", "steps", "params", "id", "kind", "verb", "type", "on_fail", "image"]),
                st.text(max_size=8),
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


@PROPERTY
@given(_yaml_values)
def test_any_yaml_gives_a_runbook_or_located_problems_never_a_traceback(data: Any) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)

    try:
        parse_runbook(text, file="fuzz.yaml")
    except ConfigError as exc:
        problems = exc.problems
    else:
        return

    assert problems
    for problem in problems:
        assert problem.file == "fuzz.yaml"
        assert problem.message and problem.hint


ERROR_CASES = [
    (
        "step kind misspelt",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: actoin\n",
        5,
        "steps[0].kind",
        ["did you mean kind: action"],
    ),
    (
        "gate type unknown",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: gate\n    type: smoke\n",
        6,
        "steps[0].type",
        ["unknown gate type 'smoke'", "type: health"],
    ),
    (
        "prometheus gate without a query",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: gate\n    type: prometheus\n    success: result < 1\n",
        4,
        "steps[0].query",
        ["missing required key 'query'"],
    ),
    (
        "prometheus gate condition that does not parse",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: gate\n    type: prometheus\n    query: up\n    success: result[0] <\n",
        8,
        "steps[0].success",
        ["condition", "e.g. result[0] < 0.05"],
    ),
    (
        "prometheus gate with nothing to decide it",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: gate\n    type: prometheus\n    query: up\n",
        4,
        "steps[0].success",
        ["needs success or failure"],
    ),
    (
        "canary weight out of range",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: action\n    verb: canary.start\n    image: web:2\n    weight: 150\n",
        8,
        "steps[0].weight",
        ["percentage from 1 to 100"],
    ),
    (
        "verb needs its field",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: action\n    verb: scale\n",
        4,
        "steps[0]",
        ["verb: scale needs replicas"],
    ),
    (
        "field of another verb",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: action\n    verb: restart\n    image: web:1\n",
        7,
        "steps[0].image",
        ["image applies only to verb: deploy"],
    ),
    (
        "typed placeholder of the wrong type",
        "name: x\ntitle: X\nparams:\n  n: {type: str}\nsteps:\n  - id: a\n    kind: action\n    verb: scale\n"
        '    replicas: "{{ n }}"\n',
        9,
        "steps[0].replicas",
        ["type: str", "type: int"],
    ),
    (
        "placeholder misspelt",
        'name: x\ntitle: X\nparams:\n  image: {type: image}\nsteps:\n  - id: a\n    kind: confirm\n'
        '    prompt: "Deploy {{ imgae }}?"\n',
        8,
        "steps[0].prompt",
        ["unknown name 'imgae'", "did you mean {{ image }}"],
    ),
    (
        "unquoted placeholder",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: action\n    verb: deploy\n    image: {{ image }}\n",
        7,
        "(syntax)",
        ['quote it: key: "{{ name }}"'],
    ),
    (
        "param shadows a built-in",
        "name: x\ntitle: X\nparams:\n  workload: {type: str}\nsteps:\n  - id: a\n    kind: confirm\n    prompt: ok\n",
        4,
        "params.workload",
        ["built-in"],
    ),
    (
        "choice without choices",
        "name: x\ntitle: X\nparams:\n  c: {type: choice}\nsteps:\n  - id: a\n    kind: confirm\n    prompt: ok\n",
        4,
        "params.c.choices",
        ["needs choices"],
    ),
    (
        "default of the wrong type",
        "name: x\ntitle: X\nparams:\n  n: {type: int, default: many}\nsteps:\n  - id: a\n    kind: confirm\n"
        "    prompt: ok\n",
        4,
        "params.n.default",
        ["'many' is not a whole number"],
    ),
    (
        "param default that cannot fill its field",
        "name: x\ntitle: X\nparams:\n  n: {type: int, default: -1}\nsteps:\n  - id: a\n    kind: action\n"
        '    verb: scale\n    replicas: "{{ n }}"\n',
        9,
        "steps[0].replicas",
        ["default -1", "0 or more"],
    ),
    (
        "choice that cannot be typed",
        "name: x\ntitle: X\nparams:\n  c:\n    type: choice\n    choices: [ok, ' padded']\nsteps:\n"
        "  - id: a\n    kind: confirm\n    prompt: ok\n",
        6,
        "params.c.choices[1]",
        ["spaces around it"],
    ),
    (
        "empty title",
        "name: x\ntitle: ''\nsteps:\n  - id: a\n    kind: confirm\n    prompt: ok\n",
        2,
        "title",
        ["title is empty"],
    ),
    (
        "goto to nowhere",
        "name: x\ntitle: X\nsteps:\n  - id: check\n    kind: confirm\n    prompt: ok\n    on_fail: goto:chek\n",
        7,
        "steps[0].on_fail",
        ["no step with that id", "did you mean goto:check"],
    ),
    (
        "no steps",
        "name: x\ntitle: X\nsteps: []\n",
        3,
        "steps",
        ["at least one step"],
    ),
    (
        "not a mapping",
        "- just\n- a list\n",
        1,
        "(document)",
        ["must be a mapping"],
    ),
    (
        "manual step that says nothing",
        "name: x\ntitle: X\nsteps:\n  - id: a\n    kind: manual\n",
        4,
        "steps[0]",
        ["instructions or a checklist"],
    ),
]


@pytest.mark.parametrize(
    ("content", "line", "field", "words"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_each_kind_of_mistake_is_located_and_says_how_to_fix_it(
    tmp_path: Path, content: str, line: int, field: str, words: list[str]
) -> None:
    path = write(tmp_path, content)

    problems = problems_of(path)

    problem = next((p for p in problems if p.field == field), None)
    assert problem is not None, [str(p) for p in problems]
    assert problem.line == line
    for word in words:
        assert word in str(problem)


def test_an_empty_file_is_reported_as_such(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")

    problems = problems_of(path)

    assert [p.message for p in problems] == ["the runbook file is empty"]


def test_semantic_mistakes_are_all_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ntitle: X\nsteps:\n"
        "  - {id: a, kind: confirm, prompt: '{{ nope }}'}\n"
        "  - {id: a, kind: confirm, prompt: ok, on_fail: 'goto:b'}\n",
    )

    problems = problems_of(path)

    assert {p.field for p in problems} == {"steps[0].prompt", "steps[1].id", "steps[1].on_fail"}


# --- image references -----------------------------------------------------------------------


@PROPERTY
@given(image_refs())
def test_docker_image_references_are_accepted_and_split_losslessly(ref: str) -> None:
    parsed = parse_image_ref(ref)

    assert str(parsed) == ref
    assert parsed.digest is None or ref.endswith(f"@{parsed.digest}")


@PROPERTY
@given(
    image_refs(),
    st.sampled_from(
        [
            ("upper-case path", lambda r: r.split("@")[0].split(":")[0] + "X"),
            ("space", lambda r: r + " x"),
            ("empty tag", lambda r: r.split("@")[0].split(":")[0].rstrip("/") + ":"),
            ("tag starting with '-'", lambda r: r.split("@")[0].split(":")[0] + ":-x"),
            ("short digest", lambda r: r.split("@")[0] + "@sha256:" + "a" * 63),
            ("double slash", lambda r: r.split("@")[0].split(":")[0] + "//x"),
            ("trailing slash", lambda r: r.split("@")[0].split(":")[0] + "/"),
            ("tag too long", lambda r: r.split("@")[0].split(":")[0] + ":" + "a" * 129),
        ]
    ),
)
def test_malformed_image_references_are_rejected_with_an_example(ref: str, mutation: tuple[str, Any]) -> None:
    _, mutate = mutation
    bad = mutate(ref)
    # A port ("host:5000/web") can make a cut at ':' land inside the domain.
    assume(":" not in bad.split("/")[0] or "/" in bad)

    with pytest.raises(ValueError, match="image reference|Docker allows"):
        parse_image_ref(bad)


def test_the_version_of_an_image_is_its_tag_or_short_digest() -> None:
    assert parse_image_ref("localhost:5000/team/web:1.5.0").version == "1.5.0"
    assert parse_image_ref("web@sha256:" + "ab" * 32).version == "sha256:abababababab"
    assert parse_image_ref("web").version == "latest"


# --- failure policy -------------------------------------------------------------------------


def test_on_fail_parses_into_an_action_and_a_target() -> None:
    assert FailurePolicy.parse("goto:roll-back") == FailurePolicy("goto", "roll-back")
    assert FailurePolicy.parse("pause") == FailurePolicy("pause")
    assert str(FailurePolicy.parse("goto:x")) == "goto:x"


# --- params ---------------------------------------------------------------------------------

PARAMS_RUNBOOK = parse_runbook(
    """
name: p
title: P
params:
  image: {type: image, help: Image to deploy}
  replicas: {type: int, default: 2}
  soak: {type: duration, default: 90}
  strategy: {type: choice, choices: [auto, rolling, recreate], default: auto}
  to_revision: {type: int, required: false}
  note: {type: str, required: false}
steps:
  - id: confirm
    kind: confirm
    prompt: "Deploy {{ image }} to {{ workload }} ({{ note }})?"
  - id: deploy
    kind: action
    verb: deploy
    image: "{{ image }}"
    strategy: "{{ strategy }}"
  - id: scale
    kind: action
    verb: scale
    replicas: "{{ replicas }}"
  - id: back
    kind: action
    verb: rollback
    to_revision: "{{ to_revision }}"
  - id: wait
    kind: wait
    duration: "{{ soak }}"
  - id: check
    kind: command
    run: "docker inspect --format '{{.State.Health.Status}}' {{ workload }}"
""",
    file="params.yaml",
)


def test_params_are_converted_by_type_and_defaults_filled_in() -> None:
    values = bind_params(PARAMS_RUNBOOK, {"image": "web:1.5.0", "replicas": "3", "soak": "120s"})

    assert values == {
        "image": "web:1.5.0",
        "replicas": 3,
        "soak": "2m",
        "strategy": "auto",
        "to_revision": None,
        "note": None,
    }


def test_every_param_mistake_is_reported_with_the_flag_to_type() -> None:
    with pytest.raises(ParamError) as caught:
        bind_params(PARAMS_RUNBOOK, {"replicas": "three", "strategy": "rolin", "imgae": "web:1", "soak": "soon"})

    by_param = {problem.param: problem for problem in caught.value.problems}
    assert set(by_param) == {"imgae", "image", "replicas", "strategy", "soak"}
    assert "did you mean 'image'" in str(by_param["imgae"])
    assert "missing required param (Image to deploy)" in str(by_param["image"])
    assert "--set image=" in str(by_param["image"])
    assert "--set replicas=3" in str(by_param["replicas"])
    assert "did you mean 'rolling'" in str(by_param["strategy"])
    assert "--set soak=5m" in str(by_param["soak"])


def test_built_in_names_cannot_be_set_as_params() -> None:
    with pytest.raises(ParamError, match="use --workload instead"):
        bind_params(PARAMS_RUNBOOK, {"image": "web:1", "workload": "api"})


def test_an_image_param_is_checked_like_docker_does() -> None:
    with pytest.raises(ParamError, match="lowercase"):
        bind_params(PARAMS_RUNBOOK, {"image": "Web:1"})


# --- rendering --------------------------------------------------------------------------------

BUILTINS = {
    "workload": "web",
    "environment": "prod",
    "current_version": "1.4.1",
    "current_image": "web:1.4.1",
    "run_id": "20261126T013000Z-ab12cd",
    "actor": "ana@bastion",
}


def test_render_fills_text_and_gives_typed_fields_their_types() -> None:
    values = {**bind_params(PARAMS_RUNBOOK, {"image": "web:1.5.0", "to_revision": "4"}), **BUILTINS}

    rendered = render(PARAMS_RUNBOOK, values)

    assert rendered.step("confirm").prompt == "Deploy web:1.5.0 to web ()?"
    assert rendered.step("deploy").image == "web:1.5.0"
    assert rendered.step("deploy").strategy == "auto"
    assert rendered.step("scale").replicas == 2
    assert rendered.step("back").to_revision == 4
    assert rendered.step("wait").duration == timedelta(seconds=90)


def test_an_unset_optional_revision_renders_as_none() -> None:
    values = {**bind_params(PARAMS_RUNBOOK, {"image": "web:1"}), **BUILTINS}

    rendered = render(PARAMS_RUNBOOK, values)

    assert rendered.step("back").to_revision is None


def test_values_are_data_a_placeholder_inside_a_value_stays_as_typed() -> None:
    values = {**bind_params(PARAMS_RUNBOOK, {"image": "web:1", "note": "{{ image }}"}), **BUILTINS}

    rendered = render(PARAMS_RUNBOOK, values)

    assert rendered.step("confirm").prompt == "Deploy web:1 to web ({{ image }})?"


def test_values_in_a_command_are_shell_quoted_and_go_templates_left_alone() -> None:
    values = {**bind_params(PARAMS_RUNBOOK, {"image": "web:1"}), **BUILTINS, "workload": "web; rm -rf /"}

    rendered = render(PARAMS_RUNBOOK, values)

    assert rendered.step("check").run == "docker inspect --format '{{.State.Health.Status}}' 'web; rm -rf /'"


def test_render_names_a_placeholder_without_a_value() -> None:
    with pytest.raises(ParamError, match="no value for {{ workload }}"):
        render_text("restart {{ workload }}", {})


def test_a_text_param_that_makes_a_bad_image_is_refused_at_render() -> None:
    runbook = parse_runbook(
        "name: x\ntitle: X\nparams:\n  tag: {type: str}\nsteps:\n"
        '  - {id: d, kind: action, verb: deploy, image: "web:{{ tag }}"}\n'
    )

    with pytest.raises(ParamError, match="not a valid image reference"):
        render(runbook, {**bind_params(runbook, {"tag": "1.0 beta"}), **BUILTINS})


@PROPERTY
@given(runbook_data())
def test_rendering_a_valid_runbook_leaves_no_declared_placeholder(data: dict[str, Any]) -> None:
    # Arrange
    runbook = Runbook.model_validate(data)
    raw = {}
    for name, param in runbook.params.items():
        if param.required:
            raw[name] = {
                "str": "text",
                "int": "3",
                "duration": "5m",
                "image": "web:1.0",
                "choice": (param.choices or [""])[0],
            }[param.type]
    values = {**bind_params(runbook, raw), **BUILTINS}

    # Act
    rendered = render(runbook, values)

    # Assert
    dumped = yaml.safe_dump(rendered.model_dump(mode="json"))
    for name in [*runbook.params, *BUILTIN_NAMES]:
        assert f"{{{{ {name} }}}}" not in dumped
