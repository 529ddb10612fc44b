"""Image policy: which images an environment may run, and whether a write pins a digest.

Configured per environment (``image_policy:`` in the config, see docs/security.md)::

    image_policy:
      allowed: ["registry.example.com/team/*", "localhost:5000/**", "watchfloor/*"]
      require_digest: true          # default: the environment's `protected`

An image is compared by its *repository*, normalised the way Docker does it: a first
path component with a ``.`` or ``:`` (or ``localhost``) names the registry, anything
else lives on Docker Hub (``nginx`` is ``docker.io/library/nginx``, ``team/web`` is
``docker.io/team/web``; ``index.docker.io`` is ``docker.io``). In a pattern, ``*``
stands for any text inside one path component and ``**`` for any text across
components, so ``registry.example.com/team/*`` allows ``registry.example.com/team/web``
but not ``registry.example.com/team/sub/web`` nor ``registry.example.com.evil.io/team/web``.

Every decision names the rule that made it, because an operator who is refused needs
to know which line of the config to read (or to ask someone to change).

Pure: no I/O and no Textual. Digest resolution is I/O and lives in
``adapters/image_digest.py``; this module only decides and composes references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.runbook.schema import parse_image_ref
from console.yaml_source import printable

__all__ = [
    "DOCKER_HUB",
    "ImageName",
    "ImagePattern",
    "ImagePolicy",
    "PolicyDecision",
    "digest_for",
    "parse_image",
    "parse_pattern",
    "refusal",
]

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_PATTERN_DOMAIN = re.compile(r"[A-Za-z0-9*](?:[A-Za-z0-9.*-]*[A-Za-z0-9*])?(?::[0-9*]+)?|localhost(?::[0-9*]+)?")
_PATTERN_PATH = re.compile(r"[a-z0-9*](?:[a-z0-9._*-]*[a-z0-9*])?")


def _split_domain(name: str) -> tuple[str, str]:
    """(registry, path) of an image name without tag or digest, by Docker's rule."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, path = first.lower(), rest
    else:
        registry, path = DOCKER_HUB, name
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    return registry, path


@dataclass(frozen=True, slots=True)
class ImageName:
    """An image reference, as written and normalised.

    Attributes:
        text: The reference as the runbook gave it (``nginx:1.25``).
        name: The name as written, without tag and digest (``nginx``).
        registry: The registry host, normalised (``docker.io``, ``localhost:5000``).
        path: The repository path in that registry (``library/nginx``, ``team/web``).
        tag: The tag, when given.
        digest: ``sha256:…``, when given.
    """

    text: str
    name: str
    registry: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """``registry/path``: what patterns are matched against."""
        return f"{self.registry}/{self.path}"

    @property
    def reference(self) -> str:
        """What a registry is asked for: the digest if given, else the tag (``latest`` when none)."""
        return self.digest or self.tag or "latest"

    def pinned(self, digest: str) -> str:
        """This reference with ``digest`` added, keeping the name and tag as written.

        ``registry.example.com/web:1.5`` becomes ``registry.example.com/web:1.5@sha256:…``:
        the tag stays for people (the version column), the digest decides what runs.
        """
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"{printable(digest, 80)!r} is not a sha256 digest")
        return f"{self.name}{f':{self.tag}' if self.tag else ''}@{digest}"


def parse_image(text: str) -> ImageName:
    """Parse and normalise an image reference.

    Raises:
        ValueError: When it is not a valid reference (Docker's grammar, see
            ``console.runbook.schema.parse_image_ref``).
    """
    ref = parse_image_ref(text)
    registry, path = _split_domain(ref.name)
    return ImageName(text=text, name=ref.name, registry=registry, path=path, tag=ref.tag, digest=ref.digest)


def digest_for(image: ImageName, repo_digests: list[str]) -> str | None:
    """The digest of ``image``'s repository among an engine's ``RepoDigests``.

    A local image can carry digests for several repositories (it was pushed to two
    registries, or tagged under another name): only the entry of the same repository
    says what the registry calls this image.

    Args:
        image: The image asked for.
        repo_digests: ``name@sha256:…`` entries, as ``docker image inspect`` lists them.

    Returns:
        The digest, or None when none of the entries is of this repository.
    """
    for entry in repo_digests:
        name, sep, digest = str(entry).rpartition("@")
        if not sep or not _DIGEST.fullmatch(digest):
            continue
        if _split_domain(name) == (image.registry, image.path):
            return digest
    return None


@dataclass(frozen=True, slots=True)
class ImagePattern:
    """One ``allowed`` entry.

    Attributes:
        text: As configured.
        repository: Normalised like an image's repository (``docker.io/library/*``).
    """

    text: str
    repository: str
    regex: re.Pattern[str]

    def matches(self, image: ImageName) -> bool:
        return self.regex.fullmatch(image.repository) is not None


def _wildcards(text: str) -> str:
    parts = []
    for piece in re.split(r"(\*\*|\*)", text):
        if piece == "**":
            parts.append(".*")
        elif piece == "*":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(piece))
    return "".join(parts)


def parse_pattern(text: str) -> ImagePattern:
    """Parse one ``allowed`` pattern.

    Raises:
        ValueError: Saying what is wrong; the config loader adds the hint and location.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the pattern is empty")
    if text != text.strip() or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError(f"pattern '{printable(text, 80)}' has spaces or control characters")
    if "@" in text:
        raise ValueError(f"pattern '{printable(text, 80)}' has a digest; patterns name repositories")
    if text.replace("*", "").replace("/", "") == "":
        raise ValueError(f"pattern '{printable(text, 80)}' allows every image; leave 'allowed' out for that")
    components = text.split("/")
    if any(not component for component in components):
        raise ValueError(f"pattern '{printable(text, 80)}' has an empty path component (a leading, trailing or double '/')")
    first = components[0]
    has_domain = len(components) > 1 and ("." in first or ":" in first or first == "localhost")
    path_components = components[1:] if has_domain else components
    if has_domain and not _PATTERN_DOMAIN.fullmatch(first):
        raise ValueError(f"'{printable(first, 80)}' in pattern '{printable(text, 80)}' is not a registry host[:port]")
    for component in path_components:
        if ":" in component:
            raise ValueError(f"pattern '{printable(text, 80)}' has a tag; patterns name repositories, not versions")
        if not _PATTERN_PATH.fullmatch(component):
            raise ValueError(
                f"'{printable(component, 80)}' in pattern '{printable(text, 80)}' is not a repository name "
                "(lowercase letters, digits, '.', '_', '-' and '*')"
            )
    if has_domain:
        registry, path = first.lower(), "/".join(path_components)
    else:
        registry, path = DOCKER_HUB, text
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and len(path.split("/")) == 1 and "**" not in path:
        path = f"library/{path}"  # as Docker reads "nginx": an official image
    repository = f"{registry}/{path}"
    return ImagePattern(text, repository, re.compile(_wildcards(repository)))


def refusal(rule: str, reason: str) -> str:
    """The operator's sentence for a refusal: ``refused by image policy: <rule>: <reason>``."""
    return f"refused by image policy: {rule}: {reason}"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What the policy says about one image.

    Attributes:
        allowed: Whether the image may be written.
        rule: The rule that decided: ``allowed: <pattern>`` that matched, ``allowed``
            (no pattern matched), ``image reference`` (not a valid one), or ``any
            image`` (the environment has no ``allowed`` list).
        reason: A sentence about this image and that rule.
        image: The parsed image (None when it did not parse).
        needs_digest: Allowed, ``require_digest`` is on and the reference has no
            digest: the caller resolves one before writing.
    """

    allowed: bool
    rule: str
    reason: str
    image: ImageName | None
    needs_digest: bool = False

    @property
    def message(self) -> str:
        return refusal(self.rule, self.reason) if not self.allowed else f"allowed by image policy ({self.rule})"


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """An environment's image policy.

    Attributes:
        allowed: Patterns an image's repository must match; None allows every image.
        require_digest: Writes pin ``repo[:tag]@sha256:…``; a tag that cannot be
            resolved is refused.
    """

    allowed: tuple[ImagePattern, ...] | None = None
    require_digest: bool = False

    @classmethod
    def build(cls, allowed: list[str] | tuple[str, ...] | None, *, require_digest: bool) -> ImagePolicy:
        """A policy from configured pattern texts (already validated by the config)."""
        patterns = None if allowed is None else tuple(parse_pattern(text) for text in allowed)
        return cls(patterns, require_digest)

    @classmethod
    def default(cls, *, protected: bool) -> ImagePolicy:
        """An environment without ``image_policy``: any image; protected ones pin digests."""
        return cls(None, require_digest=protected)

    def decide(self, image: str) -> PolicyDecision:
        """Whether ``image`` may be written here, and by which rule."""
        try:
            parsed = parse_image(image)
        except ValueError as error:
            return PolicyDecision(False, "image reference", printable(str(error), 200), None)
        needs_digest = self.require_digest and parsed.digest is None
        if self.allowed is None:
            return PolicyDecision(True, "any image", "no allowed list", parsed, needs_digest)
        for pattern in self.allowed:
            if pattern.matches(parsed):
                return PolicyDecision(True, f"allowed: {pattern.text}", f"{parsed.repository} matches {pattern.text}", parsed, needs_digest)
        listed = ", ".join(pattern.text for pattern in self.allowed)
        return PolicyDecision(False, "allowed", f"{parsed.repository} matches none of {listed}", parsed)

    def describe(self) -> str:
        """One line for logs and the journal."""
        allowed = "any image" if self.allowed is None else ", ".join(p.text for p in self.allowed)
        return f"allowed: {allowed}; require_digest: {'true' if self.require_digest else 'false'}"
