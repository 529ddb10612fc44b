"""The image policy's pure part: parsing and normalising references, matching patterns,
deciding with the rule that decided, and the config that builds it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.config import ConfigError, parse_config
from console.image_policy import ImagePolicy, digest_for, parse_image, parse_pattern

DIGEST = "sha256:" + "ab" * 32

component = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
hub_first = st.from_regex(r"[a-z0-9]{1,8}(?:[_-][a-z0-9]{1,8}){0,2}", fullmatch=True)
"""A first component that Docker does not read as a registry (no '.', no ':')."""
host = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port else ""),
    st.lists(st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True), min_size=2, max_size=3),
    st.one_of(st.none(), st.integers(1, 65535)),
)
registry = st.one_of(host, st.just("localhost:5000"), st.just("localhost"))
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
digest = st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True)


@st.composite
def refs(draw, with_registry=None):
    named = draw(st.booleans()) if with_registry is None else with_registry
    path = "/".join(draw(st.lists(component, min_size=1, max_size=3)))
    name = f"{draw(registry)}/{path}" if named else f"{draw(hub_first)}/{path}" if draw(st.booleans()) else draw(hub_first)
    text = name
    if draw(st.booleans()):
        text += f":{draw(tag)}"
    if draw(st.booleans()):
        text += f"@{draw(digest)}"
    return text


@pytest.mark.parametrize(
    ("text", "repository", "tag"),
    [
        ("nginx", "docker.io/library/nginx", None),
        ("nginx:1.25", "docker.io/library/nginx", "1.25"),
        ("team/web:2", "docker.io/team/web", "2"),
        ("docker.io/nginx:1", "docker.io/library/nginx", "1"),
        ("index.docker.io/team/web", "docker.io/team/web", None),
        ("localhost/web:1", "localhost/web", "1"),
        ("localhost:5000/team/web:1", "localhost:5000/team/web", "1"),
        ("Registry.Example.com/team/web:1", "registry.example.com/team/web", "1"),
    ],
)
def test_references_normalise_the_way_docker_reads_them(text, repository, tag):
    image = parse_image(text)

    assert (image.repository, image.tag) == (repository, tag)


@given(refs())
def test_any_reference_parses_and_its_pinned_form_parses_back_to_the_same_repository(text):
    image = parse_image(text)

    pinned = parse_image(image.pinned(DIGEST))

    assert pinned.repository == image.repository
    assert pinned.tag == image.tag and pinned.digest == DIGEST
    assert pinned.name == image.name, "the name is kept as written"


@given(refs(with_registry=False))
def test_a_name_without_a_registry_lives_on_docker_hub(text):
    image = parse_image(text)

    assert image.registry == "docker.io"
    assert image.path.count("/") >= 1, "a single name is an official image (library/)"


@given(refs(with_registry=True))
def test_a_registry_wide_pattern_allows_its_images_and_no_other_registry(text):
    image = parse_image(text)
    policy = ImagePolicy.build([f"{image.registry}/**"], require_digest=False)
    elsewhere = ImagePolicy.build([f"other.example.org/{image.path}"], require_digest=False)

    assert policy.decide(text).allowed
    assert not elsewhere.decide(text).allowed


@given(refs(with_registry=True), component)
def test_one_star_stays_inside_one_path_component(text, extra):
    image = parse_image(text)
    parent, _, _ = image.repository.rpartition("/")
    policy = ImagePolicy.build([f"{parent}/*"], require_digest=False)

    assert policy.decide(text).allowed
    assert not policy.decide(f"{image.name}/{extra}").allowed, "one level deeper is not allowed by *"


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("registry.example.com/team/web:1.5", True),
        ("registry.example.com/team/sub/web:1.5", False),
        ("registry.example.com.evil.io/team/web:1.5", False),
        ("registry.example.com/other/web:1.5", False),
        ("localhost:5000/anything/deep/web", True),
        ("localhost:5001/web", False),
        ("watchfloor/console:1", True),
        ("docker.io/watchfloor/console:1", True),
        ("nginx:1.25", False),
    ],
)
def test_patterns_allow_what_they_name_and_nothing_else(image, allowed):
    policy = ImagePolicy.build(["registry.example.com/team/*", "localhost:5000/**", "watchfloor/*"], require_digest=False)

    decision = policy.decide(image)

    assert decision.allowed is allowed


def test_a_decision_names_the_pattern_that_allowed_or_the_rule_that_refused():
    policy = ImagePolicy.build(["registry.example.com/team/*", "localhost:5000/**"], require_digest=True)

    allowed = policy.decide("localhost:5000/web:2")
    refused = policy.decide("nginx:1.25")
    pinned = policy.decide(f"localhost:5000/web@{DIGEST}")

    assert (allowed.allowed, allowed.rule, allowed.needs_digest) == (True, "allowed: localhost:5000/**", True)
    assert refused.message == (
        "refused by image policy: allowed: docker.io/library/nginx matches none of "
        "registry.example.com/team/*, localhost:5000/**"
    )
    assert pinned.allowed and not pinned.needs_digest, "a digest given in the runbook needs no resolving"


def test_without_a_policy_any_image_goes_and_protected_environments_pin_digests():
    assert not ImagePolicy.default(protected=False).decide("nginx").needs_digest
    assert ImagePolicy.default(protected=True).decide("nginx").needs_digest
    assert ImagePolicy.default(protected=True).decide("nginx").allowed


def test_the_repo_digest_of_the_same_repository_is_picked_among_others():
    other = "sha256:" + "cd" * 32
    entries = [f"127.0.0.1:5000/team/web@{other}", f"nginx@{DIGEST}"]

    assert digest_for(parse_image("docker.io/library/nginx:1"), entries) == DIGEST
    assert digest_for(parse_image("127.0.0.1:5000/team/web:1"), entries) == other
    assert digest_for(parse_image("127.0.0.1:5000/team/api:1"), entries) is None


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("registry.example.com/web:1.*", "tag"),
        ("registry.example.com/web@sha256:x", "digest"),
        ("**", "every image"),
        ("registry.example.com//web", "empty path component"),
        ("Team/Web", "repository name"),
        ("a b", "spaces"),
    ],
)
def test_bad_patterns_are_refused_saying_why(pattern, words):
    with pytest.raises(ValueError, match=words):
        parse_pattern(pattern)


def test_config_builds_the_policy_and_defaults_require_digest_to_protected():
    config = parse_config(
        "environments:\n"
        "  - {kind: docker, name: dev}\n"
        "  - {kind: docker, name: prod, protected: true}\n"
        "  - kind: kubernetes\n"
        "    name: stage\n"
        "    protected: true\n"
        "    image_policy: {allowed: ['localhost:5000/**'], require_digest: false}\n"
    )

    dev, prod, stage = (env.image_policy.policy(protected=env.protected) for env in config.environments)

    assert (dev.allowed, dev.require_digest) == (None, False)
    assert (prod.allowed, prod.require_digest) == (None, True)
    assert [p.text for p in stage.allowed] == ["localhost:5000/**"] and not stage.require_digest


def test_config_errors_name_file_line_and_field():
    source = (
        "environments:\n"
        "  - kind: docker\n"
        "    name: prod\n"
        "    image_policy:\n"
        "      allowed:\n"
        "        - registry.example.com/team/*\n"
        "        - registry.example.com/web:1.5\n"
        "      require_digest: sometimes\n"
    )

    with pytest.raises(ConfigError) as raised:
        parse_config(source, file="config.yaml")

    shown = [str(problem) for problem in raised.value.problems]
    assert shown[0].startswith("config.yaml:7:") and "environments[0].image_policy.allowed[1]" in shown[0] and "tag" in shown[0]
    assert shown[1].startswith("config.yaml:8:") and "environments[0].image_policy.require_digest" in shown[1]


def test_an_empty_allowed_list_is_a_config_error_not_a_silent_freeze():
    with pytest.raises(ConfigError, match="every image would be refused"):
        parse_config("environments:\n  - {kind: docker, name: prod, image_policy: {allowed: []}}\n")
