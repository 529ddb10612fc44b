"""Label and field selectors, parsed and matched the way the API server does it.

Label selectors accept the full string syntax of ``k8s.io/apimachinery/pkg/labels``:
``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a`` (exists), ``!a``
(does not exist), ``a>1`` and ``a<1``, joined by commas. Field selectors accept ``=``,
``==`` and ``!=`` on the field labels a resource declares; anything else is rejected
with the server's own wording, so a client bug shows up here as it would on a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from adapters.demo.resources import ResourceType


class SelectorError(ValueError):
    """A selector string the API server would refuse (answered with 400 BadRequest)."""


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this clause."""
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op in ("=", "in"):
            return present and value in self.values
        if op in ("!=", "notin"):
            return not present or value not in self.values
        if op == "exists":
            return present
        if op == "!":
            return not present
        if not present:
            return False
        try:
            number = int(value or "")
        except ValueError:
            return False
        bound = int(next(iter(self.values)))
        return number > bound if op == ">" else number < bound


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_KEY_RE = re.compile(rf"^{_KEY}$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")
_SET_RE = re.compile(r"^\s*(?P<key>[^\s!=<>(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*(?P<key>[^\s!=<>(),]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s,()]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>[^\s!=<>(),]+)\s*$")


def _split_clauses(selector: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    clauses: list[str] = []
    depth = 0
    current: list[str] = []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            clauses.append("".join(current))
            current = []
        else:
            current.append(char)
    clauses.append("".join(current))
    return [c for c in clauses if c.strip()]


def _check_key(key: str) -> str:
    if not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(f"unable to parse requirement: invalid label value: {value!r}")
    return value


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        labels = labels or {}
        for requirement in self.requirements:
            if not requirement.matches(labels):
                return False
        return True

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements

    @classmethod
    def parse(cls, selector: str | None) -> LabelSelector:
        """Parse the string form used in ``?labelSelector=``.

        Raises:
            SelectorError: The string is not a valid selector.
        """
        if not selector or not selector.strip():
            return cls()
        requirements: list[Requirement] = []
        for clause in _split_clauses(selector):
            if match := _SET_RE.match(clause):
                values = [v.strip() for v in match["values"].split(",")]
                requirements.append(
                    Requirement(
                        _check_key(match["key"]), match["op"], frozenset(_check_value(v) for v in values)
                    )
                )
            elif match := _CMP_RE.match(clause):
                op = "=" if match["op"] == "==" else match["op"]
                value = match["value"]
                if op in (">", "<") and not re.fullmatch(r"-?\d+", value):
                    raise SelectorError(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {value!r}")
                requirements.append(Requirement(_check_key(match["key"]), op, frozenset({_check_value(value)})))
            elif match := _EXISTS_RE.match(clause):
                requirements.append(Requirement(_check_key(match["key"]), "!" if match["neg"] else "exists"))
            else:
                raise SelectorError(f"unable to parse requirement: {clause.strip()!r}")
        return cls(tuple(requirements))

    @classmethod
    def from_match_labels(cls, match_labels: Mapping[str, str] | None, match_expressions: list | None = None) -> LabelSelector:
        """Build from the structured ``spec.selector`` of a workload."""
        requirements = [Requirement(k, "=", frozenset({v})) for k, v in (match_labels or {}).items()]
        for expr in match_expressions or []:
            op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(expr.get("operator", ""))
            if op is None:
                raise SelectorError(f"{expr.get('operator')!r} is not a valid label selector operator")
            requirements.append(Requirement(expr.get("key", ""), op, frozenset(expr.get("values") or ())))
        return cls(tuple(requirements))



@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: ``(label, operator, value)`` clauses, all of which must hold.

    Objects' selectable fields are kept as a tuple in the order of
    :meth:`ResourceType.field_getters` (a dict per stored version cost too much at
    5,000 pods), so each clause also records its label's position in that tuple.
    """

    clauses: tuple[tuple[str, str, str], ...] = ()
    positions: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.clauses

    def matches(self, fields: tuple[str, ...]) -> bool:
        """Whether an object whose selectable field values are ``fields`` is selected."""
        for (_, op, value), position in zip(self.clauses, self.positions):
            if (fields[position] == value) != (op == "="):
                return False
        return True

    @classmethod
    def parse(cls, selector: str | None, resource: ResourceType) -> FieldSelector:
        """Parse ``?fieldSelector=`` against the labels ``resource`` supports.

        Raises:
            SelectorError: Bad syntax, or a field label the resource does not support
                (the server answers ``field label not supported: …``).
        """
        if not selector or not selector.strip():
            return cls()
        supported = list(resource.field_getters())
        clauses: list[tuple[str, str, str]] = []
        for clause in _split_clauses(selector):
            match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", clause)
            if not match:
                raise SelectorError(f"invalid selector: {selector!r}; can't understand {clause.strip()!r}")
            label, op, value = match.groups()
            if label not in supported:
                raise SelectorError(f"field label not supported: {label}")
            clauses.append((label, "!=" if op == "!=" else "=", value))
        return cls(tuple(clauses), tuple(supported.index(label) for label, _, _ in clauses))
